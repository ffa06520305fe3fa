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
    int recursive;          /* -r: walk folders */
    int follow_symlinks;    /* --follow-symlinks */
    int include_clean;      /* --include-clean: also offer *.clean.* files found by the walk */
    int jobs;               /* worker threads; 0: online CPUs */
    int progress;           /* -1: when stderr is a terminal; 0: never; 1: always */
    const long long *limits; /* CLI_LIMITS values for unmeta_ctx_set_option; 0: the default */
    int no_sandbox;         /* --no-sandbox: do not confine the process (cli/sandbox.h) */
} batch_opts;

/* --max-block-size, --max-depth, --max-items, --max-memory, --max-inflate:
 * the values are indexed like cli_limit_keys (main.c); 0 keeps the default. */
#define CLI_LIMITS 5
/* Applies the limits given to ctx; returns -1, or the index of the value the
 * library refused. */
int cli_apply_limits(unmeta_ctx *ctx, const long long *limits);

/* Strips every file named or found under the folders named; prints the
 * summary on stderr. Returns 0 when nothing was refused or failed, else 2. */
int batch_strip(const batch_opts *o, char **args, int nargs);

/* A JSON string on stdout (main.c); file names that are not UTF-8 stay valid JSON. */
/* NAME.EXT -> NAME.clean.EXT beside the input (cli/main.c). */
char *cli_clean_name(const char *in);
void cli_put_json_string(const char *s);

#endif
