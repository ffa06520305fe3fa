/*
 * sandbox.h - the command confines itself once it knows its files
 * (SECURITY.md, "What the command confines").
 *
 * A command describes what it still needs (files it will read, folders it
 * will write into), loads what it would otherwise load lazily (FFmpeg),
 * then calls sandbox_enter(). From there on a parser bug cannot open other
 * files (Landlock), open sockets, run programs, trace or signal other
 * processes (a seccomp allowlist; denied calls fail with EPERM).
 */
#ifndef UNMETA_CLI_SANDBOX_H
#define UNMETA_CLI_SANDBOX_H

typedef struct sandbox sandbox;

/* Rights on a folder given to sandbox_allow_write(). */
#define SANDBOX_REPLACE 1u /* outputs may replace files (in place, -f): fsync of the folder */
#define SANDBOX_MKDIR   2u /* subfolders may be created (-d with -r) */

/* A new description; with enabled 0 (--no-sandbox) every call is a no-op
 * and sandbox_enter() confines nothing. NULL when out of memory.
 * read_only: the command writes no file (inspect, check), so opening a file
 * for writing is refused too. */
sandbox *sandbox_new(int enabled, int read_only);
void sandbox_free(sandbox *s);
/* path may be opened for reading: a file; a folder with `below`, every
 * file under it, else only the folder itself (so that naming a folder
 * still says "Is a directory"). */
void sandbox_allow_read(sandbox *s, const char *path, int below);
/* Files may be created, written, renamed and removed in dir and below. */
void sandbox_allow_write(sandbox *s, const char *dir, unsigned flags);
/* The same for the folder that holds (or will hold) file. */
void sandbox_allow_write_beside(sandbox *s, const char *file, unsigned flags);
/* TCP connections to port may be opened (a key-release service,
 * --share-store URL): sockets and connect in the seccomp filter, connect to
 * that port alone with Landlock ABI >= 4. Without this call the command
 * has no network at all. */
void sandbox_allow_net(sandbox *s, unsigned port);
/* Preloads FFmpeg (when this build has it) so that media files still work
 * confined; idempotent. */
void sandbox_need_media(sandbox *s);
/* Confines the calling thread and the threads it creates later. verbose:
 * say on stderr what is confined. Returns 0, or -1 after saying why the
 * confinement failed (the command must then stop: --no-sandbox runs
 * without). With UNMETA_SANDBOX_SELFTEST=1 in the environment it then tries
 * to read /etc/passwd, create a file in /tmp, open a socket and run a
 * program, and reports each result on stderr (a harmless probe: the file
 * made is removed, the program does not exist). */
int sandbox_enter(sandbox *s, int verbose);

/* What this build and kernel offer, for --version: NULL when the sandbox
 * is available, else a short reason ("built without libseccomp"). */
const char *sandbox_unavailable(void);

#endif
