/*
 * internal.h - what every part of libunmeta shares: the context, the job
 * that one operation runs, error helpers and checked arithmetic.
 *
 * A job is one strip/inspect/check of one input. A format module reads the
 * input through the job's reader (lib/io.h), reports what it finds
 * (lib/report.h) and, for strip, describes the output as a plan: a list of
 * ranges to copy from the input and small buffers of new bytes (lib/plan.h).
 * The plan is executed afterwards, so format code never writes and never
 * holds more than its metadata in memory.
 */
#ifndef UM_INTERNAL_H
#define UM_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unmeta.h"

#if defined(__GNUC__)
#define UM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define UM_UNUSED __attribute__((unused))
#else
#define UM_PRINTF(a, b)
#define UM_UNUSED
#endif

#define UM_ERRMSG_MAX 512

typedef struct um_limits {
    uint64_t max_block;    /* UNMETA_OPT_MAX_BLOCK_SIZE */
    uint32_t max_depth;    /* UNMETA_OPT_MAX_DEPTH */
    uint32_t max_items;    /* UNMETA_OPT_MAX_ITEMS */
    uint64_t max_memory;   /* UNMETA_OPT_MAX_MEMORY */
    uint64_t spool_limit;  /* UNMETA_OPT_SPOOL_LIMIT */
    uint64_t max_inflate;  /* UNMETA_OPT_MAX_INFLATE */
    uint64_t max_spool;    /* UNMETA_OPT_MAX_SPOOL */
    uint64_t max_growth;   /* UNMETA_OPT_MAX_GROWTH */
} um_limits;

#define UM_THREADS_MAX 64 /* UNMETA_OPT_THREADS at most */

struct unmeta_ctx {
    int icc_mode;                 /* UNMETA_ICC_* */
    int apply_orientation;        /* 0 or 1 */
    int keep_depth;               /* UNMETA_OPT_KEEP_DEPTH: 0 or 1 */
    int keep_motion;              /* UNMETA_OPT_KEEP_MOTION: 0 or 1 */
    int threads;                  /* UNMETA_OPT_THREADS: 0 = automatic, else 1..UM_THREADS_MAX */
    um_limits limits;
    unmeta_cancel_fn cancel;
    void *cancel_user;
    unmeta_progress_fn progress;
    void *progress_user;
    char errmsg[UM_ERRMSG_MAX];   /* detail of the last failure */
    const struct um_format *forced; /* only module that may claim an input; NULL: probe all (fuzz targets) */
};

struct um_format;

typedef struct um_reader um_reader;
typedef struct um_plan um_plan;
typedef struct um_report_builder um_report_builder;

/* How far a job is, for the progress callback (unmeta.c). A strip through
 * a plan reads the input (first half of the range), then writes the output
 * (the rest, in proportion to the plan's bytes written); other jobs only
 * read, and their reads cover the whole range. */
typedef struct um_progress {
    uint64_t read;          /* input bytes the reader fetched */
    uint64_t written;       /* output bytes the plan executor wrote */
    uint64_t plan;          /* the plan's size, during the write pass */
    uint64_t mark;          /* done when the write pass began */
    uint64_t last;          /* done at the last call */
    int split;              /* a read pass, then a write pass */
    int writing;            /* in the write pass */
    int called;             /* the callback was called with a known total */
} um_progress;

/* One operation on one input. */
typedef struct um_job {
    unmeta_ctx *ctx;
    um_reader *in;
    um_plan *plan;          /* what strip writes (discarding for inspect/check) */
    unmeta_report *report;  /* always present */
    int err;                /* first fatal error; sticky */
    uint32_t items;         /* blocks seen, against limits.max_items */
    um_progress prog;
} um_job;

/* Records the first error of a job with a detailed message; later errors
 * keep the first message. Returns code, so `return um_fail(...)` works. */
int um_fail(um_job *job, int code, const char *fmt, ...) UM_PRINTF(3, 4);
int um_ctx_fail(unmeta_ctx *ctx, int code, const char *fmt, ...) UM_PRINTF(3, 4);
#ifdef __clang_analyzer__
/* The static analyser (scripts/lint) sees one file at a time and would
 * otherwise follow paths on which um_fail "succeeds": both return a negative
 * code (the one given, or the job's earlier one). Analysis only. */
#define um_fail(job, code, ...) (um_fail((job), (code), __VA_ARGS__), (code))
#define um_ctx_fail(ctx, code, ...) (um_ctx_fail((ctx), (code), __VA_ARGS__), (code))
#endif
/* Counts one more block against limits.max_items. */
int um_job_count_item(um_job *job, const char *what);
/* Polls the cancel callback, and calls the progress callback when the job
 * has moved on by a step since the last call. Cheap: call it often. */
int um_job_check_cancel(um_job *job);
/* Progress while a non-seekable input is spooled (its size unknown). */
int um_job_spool_progress(um_job *job, uint64_t spooled);
/* The write pass of a plan begins (plan bytes to write). */
void um_job_progress_write(um_job *job, uint64_t plan_bytes);
/* The job is done: one last call with done == total. */
int um_job_progress_end(um_job *job);
/* Lets only the module named `name` claim inputs on this context (NULL:
 * all of them again), so that a per-format fuzz target spends every input
 * in one parser. The module still has to bid on the input: what its probe
 * refuses is refused (UNMETA_E_UNSUPPORTED), as it would be without the
 * hook, so a finding is always reachable through the public API. Internal
 * (not exported from the shared library). UNMETA_E_INVALID for an unknown
 * name. */
int um_ctx_force_format(unmeta_ctx *ctx, const char *name);

#define UM_TRY(expr)                 \
    do {                             \
        int um_try_rc_ = (expr);     \
        if (um_try_rc_ < 0)          \
            return um_try_rc_;       \
    } while (0)

#define UM_TRY_GOTO(rc, expr, label) \
    do {                             \
        (rc) = (expr);               \
        if ((rc) < 0)                \
            goto label;              \
    } while (0)

/* Checked arithmetic: return 0 on overflow, 1 when *out holds the result. */
static inline int um_add_u64(uint64_t *out, uint64_t a, uint64_t b)
{
    if (a > UINT64_MAX - b)
        return 0;
    *out = a + b;
    return 1;
}

static inline int um_mul_u64(uint64_t *out, uint64_t a, uint64_t b)
{
    if (a != 0 && b > UINT64_MAX / a)
        return 0;
    *out = a * b;
    return 1;
}

/* Byte order helpers over memory that is known to be long enough. */
static inline uint16_t um_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint16_t um_le16(const uint8_t *p) { return (uint16_t)(p[1] << 8 | p[0]); }
static inline uint32_t um_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint32_t um_le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}
static inline uint64_t um_be64(const uint8_t *p) { return (uint64_t)um_be32(p) << 32 | um_be32(p + 4); }
static inline uint64_t um_le64(const uint8_t *p) { return (uint64_t)um_le32(p + 4) << 32 | um_le32(p); }
static inline void um_put_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void um_put_le16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void um_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void um_put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void um_put_be64(uint8_t *p, uint64_t v) { um_put_be32(p, (uint32_t)(v >> 32)); um_put_be32(p + 4, (uint32_t)v); }

/* Bounds-checked cursor over bytes already in memory (after FFmpeg's
 * bytestream.h): reads past the end return zeros and latch `bad`, so a
 * parser checks once, after a group of reads. */
typedef struct um_cur {
    const uint8_t *base;
    size_t len;
    size_t pos;
    int bad;
} um_cur;

static inline um_cur um_cur_make(const void *p, size_t len)
{
    um_cur c = { (const uint8_t *)p, len, 0, 0 };
    return c;
}
static inline size_t um_cur_left(const um_cur *c) { return c->bad ? 0 : c->len - c->pos; }
static inline const uint8_t *um_cur_take(um_cur *c, size_t n)
{
    if (c->bad || n > c->len - c->pos) {
        c->bad = 1;
        return NULL;
    }
    c->pos += n;
    return c->base + c->pos - n;
}
static inline uint8_t um_cur_u8(um_cur *c) { const uint8_t *p = um_cur_take(c, 1); return p ? p[0] : 0; }
static inline uint16_t um_cur_be16(um_cur *c) { const uint8_t *p = um_cur_take(c, 2); return p ? um_be16(p) : 0; }
static inline uint16_t um_cur_le16(um_cur *c) { const uint8_t *p = um_cur_take(c, 2); return p ? um_le16(p) : 0; }
static inline uint32_t um_cur_be32(um_cur *c) { const uint8_t *p = um_cur_take(c, 4); return p ? um_be32(p) : 0; }
static inline uint32_t um_cur_le32(um_cur *c) { const uint8_t *p = um_cur_take(c, 4); return p ? um_le32(p) : 0; }
static inline uint64_t um_cur_be64(um_cur *c) { const uint8_t *p = um_cur_take(c, 8); return p ? um_be64(p) : 0; }
static inline void um_cur_skip(um_cur *c, size_t n) { (void)um_cur_take(c, n); }
static inline void um_cur_seek(um_cur *c, size_t pos)
{
    if (pos > c->len)
        c->bad = 1;
    else
        c->pos = pos;
}

/* True when p[0..n) holds only zero bytes. */
static inline int um_all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* Makes room for element n of a growing array *p of *cap elements of
 * `size` bytes (doubling, from 16); the error is on the job. */
int um_grow(um_job *job, void **p, size_t *cap, size_t n, size_t size);

/* The one door to the allocator. Every allocation the library makes goes
 * through um_mem_* (code without a job: sources, sinks, reports, envelopes)
 * or um_malloc and friends below (which also put the error on the job), and
 * allocations by a library we call are routed here where it takes an
 * allocator (zlib, libexif). A build with -Dfault_injection=true compiles
 * lib/fault.c, whose um_fault_hit() counts every allocation and makes the
 * n-th one fail (UNMETA_FAIL_ALLOC=n), so tests can reach every
 * out-of-memory path; in a normal build it is a constant 0 and costs
 * nothing. */
#ifdef UM_FAULT_INJECTION
int um_fault_hit(void);
#else
static inline int um_fault_hit(void) { return 0; }
#endif
static inline void *um_mem_malloc(size_t n) { return um_fault_hit() ? NULL : malloc(n ? n : 1); }
static inline void *um_mem_calloc(size_t n, size_t size)
{
    return um_fault_hit() ? NULL : calloc(n ? n : 1, size ? size : 1);
}
static inline void *um_mem_realloc(void *p, size_t n) { return um_fault_hit() ? NULL : realloc(p, n ? n : 1); }
static inline char *um_mem_strndup(const char *s, size_t n)
{
    size_t len = 0;
    while (len < n && s[len])
        len++;
    char *d = um_mem_malloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}
static inline char *um_mem_strdup(const char *s) { return um_mem_strndup(s, SIZE_MAX); }

/* Memory through the context's limits. */
void *um_malloc(um_job *job, size_t n);
void *um_calloc(um_job *job, size_t n, size_t size);
void *um_realloc(um_job *job, void *p, size_t n);
#ifdef __clang_analyzer__
/* For the static analyser, as for um_fail above: a NULL from these means the
 * job holds a negative error. Analysis only. */
static inline void *um_alloc_model_(um_job *job, void *p)
{
    if (!p && job->err >= 0)
        job->err = UNMETA_E_NOMEM;
    return p;
}
#define um_malloc(job, n) um_alloc_model_((job), um_malloc((job), (n)))
#define um_calloc(job, n, size) um_alloc_model_((job), um_calloc((job), (n), (size)))
#define um_realloc(job, p, n) um_alloc_model_((job), um_realloc((job), (p), (n)))
#endif

#endif /* UM_INTERNAL_H */
