/*
 * batch.h - `unmeta strip` over many files: folder walks (-r), worker
 * threads (-j), progress, a summary and one JSON line per file (--json).
 */
#ifndef UNMETA_CLI_BATCH_H
#define UNMETA_CLI_BATCH_H

#include "unmeta.h"

typedef struct batch_opts {
    const char *dir;        /* -d: mirror the inputs under DIR */
    int in_place;           /* --in-place: replace dirty files, leave clean ones untouched */
    int force;              /* -f */
    int json;               /* --json: one line per file on stdout */
    int verbose;            /* -v */
    int icc;                /* UNMETA_ICC_* */
    int apply_orientation;
    int keep_depth;         /* --keep-depth: UNMETA_OPT_KEEP_DEPTH */
    int keep_motion;        /* --keep-motion: UNMETA_OPT_KEEP_MOTION */
    int recursive;          /* -r: walk folders */
    int follow_symlinks;    /* --follow-symlinks */
    int include_clean;      /* --include-clean: also offer *.clean.* files found by the walk */
    int jobs;               /* worker threads; 0: online CPUs */
    int progress;           /* -1: when stderr is a terminal; 0: never; 1: always */
    const long long *limits; /* CLI_LIMITS values for unmeta_ctx_set_option; 0: the default */
    int no_sandbox;         /* --no-sandbox: do not confine the process (cli/sandbox.h) */
    double max_time;        /* --max-time: seconds for one file; 0: no limit */
} batch_opts;

/* --max-block-size, --max-depth, --max-items, --max-memory, --max-inflate,
 * --max-spool, --max-growth: the values are indexed like cli_limit_keys (main.c); 0 keeps
 * the default. */
#define CLI_LIMITS 7
/* Applies the limits given to ctx; returns -1, or the index of the value the
 * library refused. */
int cli_apply_limits(unmeta_ctx *ctx, const long long *limits);

/* The library's message for a failure, with the command-line option that
 * raises the limit it names, if any ("... (UNMETA_OPT_MAX_ITEMS) ..." ->
 * "...; see --max-items"), in buf. */
const char *cli_error_text(char *buf, size_t n, int rc, const char *detail);

/* --max-time: starts this thread's deadline for one file (0: none); the
 * cancel callbacks poll cli_deadline_passed(), and cli_error_text() names
 * the option when a file was abandoned for it. */
void cli_deadline_start(double seconds);
int cli_deadline_passed(void);

/* The absolute form of PATH with every symbolic link of its folders resolved
 * (and of PATH itself when follow is set), also for a path whose last parts
 * do not exist yet; NULL when out of memory. Free it. */
char *cli_canonical(const char *path, int follow);

/* One input of a strip run and where its output goes, for the checks made
 * before any work. key_in: the input's canonical path (NULL when it cannot
 * be read: reported later); key_out: the output's canonical path (NULL for
 * standard output). */
typedef struct cli_target {
    const char *name;       /* as named or walked, for messages */
    const char *out_name;   /* the output as the user would write it, for messages (NULL: key_out) */
    char *key_in;
    char *key_out;
    int repeat;             /* set: the same file, to the same output, as an earlier target */
} cli_target;

/* Refuses (with a message on stderr, returning -1) a run in which two
 * different inputs would be written to one output, or an output would
 * replace an input of the run (its own one included: that is --in-place);
 * marks a file named twice for the same output as a repeat, to be stripped
 * once. With in_place, outputs are the inputs themselves. */
int cli_check_targets(cli_target *t, size_t n, int in_place);

/* Strips every file named or found under the folders named; prints the
 * summary on stderr. Returns 0 when nothing was refused or failed, else 2. */
int batch_strip(const batch_opts *o, char **args, int nargs);

/* A JSON string on stdout (main.c); file names that are not UTF-8 stay valid JSON. */
/* NAME.EXT -> NAME.clean.EXT beside the input (cli/main.c). */
char *cli_clean_name(const char *in);
void cli_put_json_string(const char *s);

#endif
