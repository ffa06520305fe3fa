/*
 * envelope_cmd.h - the envelope commands of `unmeta`: keygen, seal, open,
 * share (cli/envelope_cmd.c).
 */
#ifndef UNMETA_CLI_ENVELOPE_CMD_H
#define UNMETA_CLI_ENVELOPE_CMD_H

/* Non-zero when cmd is one of the envelope commands. */
int envelope_is_command(const char *cmd);
/* Runs argv[1] with its options; returns the exit code. */
int envelope_main(int argc, char **argv);

#endif
