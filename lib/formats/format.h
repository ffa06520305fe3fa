/*
 * format.h - the interface of a format module.
 *
 * One container family per file under lib/formats/, exporting one const
 * struct um_format; registry.c lists them in a static table (no runtime
 * registration, no mutable globals). Adding a format is one file plus one
 * line in registry.c and one in meson.build.
 *
 * probe() bids on the first bytes of the input (up to UM_PROBE_SIZE, fewer
 * for a short file) and returns a score: 0 for "not mine", 100 for a
 * signature match. The highest bid claims the file; a file no module claims
 * is refused with UNMETA_E_UNSUPPORTED, never copied through.
 *
 * run() parses the whole input through job->in, reports every block and
 * finding on job->report and appends the stripped output to job->plan (see
 * plan.h). It must keep only what is needed to render (keep-list), refuse
 * unknown critical structure, and bound everything by ctx->limits. It does
 * no file I/O, keeps no globals and prints nothing.
 *
 * strip() is for the rare module whose output is not a plan of copies (a
 * remux through libavformat): when present, strip runs it instead of run()
 * and plan execution; it reports like run() and writes through the sink
 * (um_sink_write, um_sink_seek). Inspect and check still use run().
 */
#ifndef UM_FORMAT_H
#define UM_FORMAT_H

#include "../internal.h"

#define UM_PROBE_SIZE 4096 /* enough to see two MPEG audio frames */

typedef struct um_format {
    const char *name;   /* short, lowercase: "jpeg" */
    const char *mime;   /* "image/jpeg" */
    const char *ext;    /* preferred extension without the dot: "jpg" */
    int (*probe)(const uint8_t *head, size_t n);
    int (*run)(um_job *job);
    int (*strip)(um_job *job, unmeta_sink *sink); /* optional, see above */
} um_format;

/* Returns the module with the highest bid, or NULL. */
const um_format *um_format_probe(const uint8_t *head, size_t n);
/* The module that claims an input on ctx: um_format_probe(), or, on a
 * context restricted by um_ctx_force_format(), that module if it bids. */
const um_format *um_format_claim(const unmeta_ctx *ctx, const uint8_t *head, size_t n);
/* The module of that short name, or NULL. */
const um_format *um_format_find(const char *name);
/* For formats recognised only to be refused with a name (camera raws...):
 * a module may return UNMETA_E_UNSUPPORTED with a message naming the format. */

uint32_t um_format_count(void);
const um_format *um_format_at(uint32_t i);

#endif /* UM_FORMAT_H */
