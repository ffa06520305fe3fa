/*
 * unmeta.c - public entry points: versions, errors, contexts and options,
 * and the three operations (strip, inspect, check) that run a job: open the
 * reader, let the format that claims the input run, then execute the plan.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "io.h"
#include "plan.h"
#include "report.h"
#include "formats/format.h"

/* Safe defaults: generous for real photos and videos, small enough that a
 * hostile file cannot make a phone run out of memory. */
#define UM_DEFAULT_MAX_BLOCK   (64u << 20)     /* one metadata block in memory */
#define UM_DEFAULT_MAX_DEPTH   32u
#define UM_DEFAULT_MAX_ITEMS   100000u
#define UM_DEFAULT_MAX_MEMORY  (512ull << 20)  /* whole-image operations */
#define UM_DEFAULT_SPOOL_LIMIT (64ull << 20)
#define UM_DEFAULT_MAX_INFLATE (64ull << 20)
#define UM_DEFAULT_MAX_SPOOL   (4ull << 30)    /* a piped input, memory + temporary file */
/* Stripping only removes, but rebuilt blocks (a re-deflated iCCP, a minimal
 * EXIF, a losslessly rotated JPEG, a remuxed container's index) may be a
 * little larger; a file whose structures point at the same bytes over and
 * over (TIFF strips, HEIF extents) would be copied as many times. */
#define UM_DEFAULT_MAX_GROWTH  (64ull << 20)

/* The progress callback is called when the job has moved on by this much. */
#define UM_PROGRESS_STEP (1u << 20)

uint32_t unmeta_version(void)
{
    return UNMETA_VERSION_NUMBER;
}

const char *unmeta_version_string(void)
{
#define UM_STR_(x) #x
#define UM_STR(x) UM_STR_(x)
    return UM_STR(UNMETA_VERSION_MAJOR) "." UM_STR(UNMETA_VERSION_MINOR) "." UM_STR(UNMETA_VERSION_PATCH);
}

const char *unmeta_strerror(int32_t code)
{
    switch (code) {
    case UNMETA_OK: return "success";
    case UNMETA_E_INVALID: return "invalid argument";
    case UNMETA_E_NOMEM: return "out of memory";
    case UNMETA_E_IO: return "input/output error";
    case UNMETA_E_UNSUPPORTED: return "unsupported format";
    case UNMETA_E_MALFORMED: return "malformed input";
    case UNMETA_E_TRUNCATED: return "truncated input";
    case UNMETA_E_LIMIT: return "a limit was exceeded";
    case UNMETA_E_STATE: return "object used in the wrong state";
    case UNMETA_E_CANCELED: return "operation canceled";
    case UNMETA_E_FEATURE: return "feature not built in";
    case UNMETA_E_EXPIRED: return "envelope expired";
    case UNMETA_E_CRYPTO: return "envelope failed authentication";
    case UNMETA_E_NOKEY: return "no identity, passphrase or key-release share opens the envelope";
    default: return "unknown error";
    }
}

static void set_msg(char *dst, int code, const char *fmt, va_list ap) UM_PRINTF(3, 0);

static void set_msg(char *dst, int code, const char *fmt, va_list ap)
{
    if (fmt)
        vsnprintf(dst, UM_ERRMSG_MAX, fmt, ap);
    else
        snprintf(dst, UM_ERRMSG_MAX, "%s", unmeta_strerror(code));
}

/* um_fail, um_ctx_fail and the allocators have parenthesised names:
 * internal.h defines macros of the same names for the static analyser. */
int (um_ctx_fail)(unmeta_ctx *ctx, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_msg(ctx->errmsg, code, fmt, ap);
    va_end(ap);
    return code;
}

int (um_fail)(um_job *job, int code, const char *fmt, ...)
{
    if (job->err < 0)
        return job->err; /* the first failure is the one the user needs */
    va_list ap;
    va_start(ap, fmt);
    set_msg(job->ctx->errmsg, code, fmt, ap);
    va_end(ap);
    job->err = code;
    return code;
}

int um_job_count_item(um_job *job, const char *what)
{
    if (++job->items > job->ctx->limits.max_items)
        return um_fail(job, UNMETA_E_LIMIT, "more than %u blocks (at %s); raise UNMETA_OPT_MAX_ITEMS",
                       job->ctx->limits.max_items, what);
    if ((job->items & 255) == 0)
        return um_job_check_cancel(job);
    return 0;
}

/* How far the job is, in bytes of the input (see um_progress). */
static uint64_t progress_done(const um_job *job, uint64_t total)
{
    const um_progress *p = &job->prog;
    uint64_t done;
    if (!p->writing) {
        done = p->read < total ? p->read : total;
        if (p->split)
            done /= 2;
    } else {
        uint64_t w = p->written < p->plan ? p->written : p->plan;
        done = p->plan ? p->mark + (uint64_t)((double)(total - p->mark) * ((double)w / (double)p->plan)) : total;
    }
    if (done > total)
        done = total;
    return done > p->last ? done : p->last;
}

static int call_progress(um_job *job, uint64_t done, uint64_t total)
{
    job->prog.last = done;
    job->prog.called = 1;
    if (job->ctx->progress(done, total, job->ctx->progress_user))
        return um_fail(job, UNMETA_E_CANCELED, "canceled");
    return 0;
}

int um_job_check_cancel(um_job *job)
{
    if (job->ctx->cancel && job->ctx->cancel(job->ctx->cancel_user))
        return um_fail(job, UNMETA_E_CANCELED, "canceled");
    if (job->ctx->progress && job->in) {
        uint64_t total = um_reader_size(job->in);
        uint64_t done = progress_done(job, total);
        if (done - job->prog.last >= UM_PROGRESS_STEP)
            return call_progress(job, done, total);
    }
    return 0;
}

int um_job_spool_progress(um_job *job, uint64_t spooled)
{
    if (job->ctx->cancel && job->ctx->cancel(job->ctx->cancel_user))
        return um_fail(job, UNMETA_E_CANCELED, "canceled");
    if (job->ctx->progress && spooled - job->prog.last >= UM_PROGRESS_STEP)
        return call_progress(job, spooled, 0);
    return 0;
}

void um_job_progress_write(um_job *job, uint64_t plan_bytes)
{
    uint64_t total = job->in ? um_reader_size(job->in) : 0;
    job->prog.mark = progress_done(job, total);
    job->prog.plan = plan_bytes;
    job->prog.written = 0;
    job->prog.writing = 1;
}

int um_job_progress_end(um_job *job)
{
    if (!job->ctx->progress || !job->in)
        return 0;
    uint64_t total = um_reader_size(job->in);
    if (job->prog.last == total && job->prog.called)
        return 0; /* the last step already said so */
    return call_progress(job, total, total);
}

void *(um_malloc)(um_job *job, size_t n)
{
    void *p = um_mem_malloc(n);
    if (!p)
        um_fail(job, UNMETA_E_NOMEM, "out of memory (%zu bytes)", n);
    return p;
}

void *(um_calloc)(um_job *job, size_t n, size_t size)
{
    void *p = um_mem_calloc(n, size);
    if (!p)
        um_fail(job, UNMETA_E_NOMEM, "out of memory (%zu x %zu bytes)", n, size);
    return p;
}

void *(um_realloc)(um_job *job, void *old, size_t n)
{
    void *p = um_mem_realloc(old, n);
    if (!p)
        um_fail(job, UNMETA_E_NOMEM, "out of memory (%zu bytes)", n);
    return p;
}

int um_grow(um_job *job, void **p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap : 16;
    while (c <= n) {
        if (c > SIZE_MAX / 2 / size)
            return um_fail(job, UNMETA_E_NOMEM, "out of memory (array of %zu)", n);
        c *= 2;
    }
    void *q = um_realloc(job, *p, c * size);
    if (!q)
        return job->err;
    *p = q;
    *cap = c;
    return 0;
}

int32_t unmeta_ctx_new(unmeta_ctx **out)
{
    if (!out)
        return UNMETA_E_INVALID;
    unmeta_ctx *ctx = um_mem_calloc(1, sizeof(*ctx));
    *out = ctx;
    if (!ctx)
        return UNMETA_E_NOMEM;
    ctx->icc_mode = UNMETA_ICC_KEEP;
    ctx->limits.max_block = UM_DEFAULT_MAX_BLOCK;
    ctx->limits.max_depth = UM_DEFAULT_MAX_DEPTH;
    ctx->limits.max_items = UM_DEFAULT_MAX_ITEMS;
    ctx->limits.max_memory = UM_DEFAULT_MAX_MEMORY;
    ctx->limits.spool_limit = UM_DEFAULT_SPOOL_LIMIT;
    ctx->limits.max_inflate = UM_DEFAULT_MAX_INFLATE;
    ctx->limits.max_spool = UM_DEFAULT_MAX_SPOOL;
    ctx->limits.max_growth = UM_DEFAULT_MAX_GROWTH;
    return 0;
}

void unmeta_ctx_free(unmeta_ctx *ctx)
{
    free(ctx);
}

int32_t unmeta_ctx_set_option(unmeta_ctx *ctx, int32_t key, int64_t v)
{
    if (!ctx)
        return UNMETA_E_INVALID;
    um_limits *l = &ctx->limits;
    switch (key) {
    case UNMETA_OPT_ICC:
        if (v != UNMETA_ICC_KEEP && v != UNMETA_ICC_STRIP)
            break;
        ctx->icc_mode = (int)v;
        return 0;
    case UNMETA_OPT_APPLY_ORIENTATION:
        if (v != 0 && v != 1)
            break;
        ctx->apply_orientation = (int)v;
        return 0;
    case UNMETA_OPT_MAX_BLOCK_SIZE:
        if (v < 1024)
            break;
        l->max_block = (uint64_t)v;
        return 0;
    case UNMETA_OPT_MAX_DEPTH:
        if (v < 1 || v > 100000)
            break;
        l->max_depth = (uint32_t)v;
        return 0;
    case UNMETA_OPT_MAX_ITEMS:
        if (v < 1 || v > 100000000)
            break;
        l->max_items = (uint32_t)v;
        return 0;
    case UNMETA_OPT_MAX_MEMORY:
        if (v < 1024)
            break;
        l->max_memory = (uint64_t)v;
        return 0;
    case UNMETA_OPT_SPOOL_LIMIT:
        if (v < 0)
            break;
        l->spool_limit = (uint64_t)v;
        return 0;
    case UNMETA_OPT_MAX_INFLATE:
        if (v < 1024)
            break;
        l->max_inflate = (uint64_t)v;
        return 0;
    case UNMETA_OPT_MAX_SPOOL:
        if (v < 0)
            break;
        l->max_spool = (uint64_t)v;
        return 0;
    case UNMETA_OPT_MAX_GROWTH:
        if (v < 0)
            break;
        l->max_growth = (uint64_t)v;
        return 0;
    case UNMETA_OPT_KEEP_DEPTH:
        if (v != 0 && v != 1)
            break;
        ctx->keep_depth = (int)v;
        return 0;
    case UNMETA_OPT_KEEP_MOTION:
        if (v != 0 && v != 1)
            break;
        ctx->keep_motion = (int)v;
        return 0;
    case UNMETA_OPT_THREADS:
        if (v < 0 || v > UM_THREADS_MAX)
            break;
        ctx->threads = (int)v;
        return 0;
    default:
        return um_ctx_fail(ctx, UNMETA_E_INVALID, "unknown option %d", (int)key);
    }
    return um_ctx_fail(ctx, UNMETA_E_INVALID, "value %lld out of range for option %d", (long long)v, (int)key);
}

int32_t unmeta_ctx_get_option(int64_t *out, const unmeta_ctx *ctx, int32_t key)
{
    if (!out || !ctx)
        return UNMETA_E_INVALID;
    const um_limits *l = &ctx->limits;
    switch (key) {
    case UNMETA_OPT_ICC: *out = ctx->icc_mode; return 0;
    case UNMETA_OPT_APPLY_ORIENTATION: *out = ctx->apply_orientation; return 0;
    case UNMETA_OPT_MAX_BLOCK_SIZE: *out = (int64_t)l->max_block; return 0;
    case UNMETA_OPT_MAX_DEPTH: *out = l->max_depth; return 0;
    case UNMETA_OPT_MAX_ITEMS: *out = l->max_items; return 0;
    case UNMETA_OPT_MAX_MEMORY: *out = (int64_t)l->max_memory; return 0;
    case UNMETA_OPT_SPOOL_LIMIT: *out = (int64_t)l->spool_limit; return 0;
    case UNMETA_OPT_MAX_INFLATE: *out = (int64_t)l->max_inflate; return 0;
    case UNMETA_OPT_MAX_SPOOL: *out = (int64_t)l->max_spool; return 0;
    case UNMETA_OPT_MAX_GROWTH: *out = (int64_t)l->max_growth; return 0;
    case UNMETA_OPT_KEEP_DEPTH: *out = ctx->keep_depth; return 0;
    case UNMETA_OPT_KEEP_MOTION: *out = ctx->keep_motion; return 0;
    case UNMETA_OPT_THREADS: *out = ctx->threads; return 0;
    default: return UNMETA_E_INVALID;
    }
}

int um_ctx_force_format(unmeta_ctx *ctx, const char *name)
{
    if (!ctx)
        return UNMETA_E_INVALID;
    if (!name) {
        ctx->forced = NULL;
        return 0;
    }
    const um_format *f = um_format_find(name);
    if (!f)
        return um_ctx_fail(ctx, UNMETA_E_INVALID, "no format named '%s'", name);
    ctx->forced = f;
    return 0;
}

const char *unmeta_ctx_last_error(const unmeta_ctx *ctx)
{
    return ctx ? ctx->errmsg : "";
}

int32_t unmeta_ctx_set_cancel(unmeta_ctx *ctx, unmeta_cancel_fn fn, void *user)
{
    if (!ctx)
        return UNMETA_E_INVALID;
    ctx->cancel = fn;
    ctx->cancel_user = user;
    return 0;
}

int32_t unmeta_ctx_set_progress(unmeta_ctx *ctx, unmeta_progress_fn fn, void *user)
{
    if (!ctx)
        return UNMETA_E_INVALID;
    ctx->progress = fn;
    ctx->progress_user = user;
    return 0;
}

int32_t unmeta_io_callbacks_init(unmeta_io_callbacks *cb, uint32_t struct_size)
{
    if (!cb || struct_size < sizeof(uint32_t))
        return UNMETA_E_INVALID;
    unmeta_io_callbacks def = UNMETA_IO_CALLBACKS_INIT;
    memcpy(cb, &def, struct_size < sizeof(def) ? struct_size : sizeof(def));
    cb->struct_size = struct_size < sizeof(def) ? struct_size : (uint32_t)sizeof(def);
    return 0;
}

/* Runs the format that claims src. With sink != NULL the plan is written. */
static int run_job(unmeta_report **report_out, unmeta_ctx *ctx, unmeta_source *src, unmeta_sink *sink)
{
    um_job job;
    int rc;
    memset(&job, 0, sizeof(job));
    job.ctx = ctx;
    if (report_out)
        *report_out = NULL;
    if (!ctx)
        return UNMETA_E_INVALID;
    ctx->errmsg[0] = '\0';
    if (!src)
        return um_ctx_fail(ctx, UNMETA_E_INVALID, "no source");
    UM_TRY_GOTO(rc, um_report_new(&job.report), done);
    UM_TRY_GOTO(rc, um_plan_new(&job.plan, sink == NULL), done);
    UM_TRY_GOTO(rc, um_reader_open(&job.in, &job, src), done);

    uint8_t head[UM_PROBE_SIZE];
    uint64_t size = um_reader_size(job.in);
    size_t n = size < sizeof(head) ? (size_t)size : sizeof(head);
    UM_TRY_GOTO(rc, um_read_at(&job, 0, head, n), done);
    const um_format *fmt = um_format_claim(ctx, head, n);
    if (!fmt) {
        if (n && ctx->forced)
            rc = um_fail(&job, UNMETA_E_UNSUPPORTED, "not a %s file (the only format allowed)", ctx->forced->name);
        else
            rc = um_fail(&job, UNMETA_E_UNSUPPORTED, n == 0 ? "empty input" : "not a format unmeta knows");
        goto done;
    }
    um_report_set_format(job.report, fmt->name);
    /* A strip through a plan reads, then writes: progress has two halves. */
    job.prog.split = sink && !fmt->strip;
    if (sink && fmt->strip) {
        /* A module that writes its output itself (a remux), as it goes: a
         * sink that cannot seek (a pipe) gets the output only once it is
         * whole, through a staging file, like every other format's. */
        unmeta_sink *stage = NULL;
        if (!um_sink_seekable(sink))
            UM_TRY_GOTO(rc, um_sink_new_stage(&job, &stage), done);
        rc = fmt->strip(&job, stage ? stage : sink);
        if (rc >= 0 && job.err < 0)
            rc = job.err;
        if (rc >= 0 && stage)
            rc = um_sink_send_stage(&job, stage, sink);
        if (rc >= 0)
            rc = um_job_progress_end(&job);
        if (rc >= 0)
            rc = um_sink_commit(sink);
        if (rc < 0 && job.err == 0)
            um_fail(&job, rc, "%s", um_sink_error(sink));
        unmeta_sink_free(stage);
        goto done;
    }
    rc = fmt->run(&job);
    if (rc >= 0 && job.err < 0)
        rc = job.err; /* an error latched without being returned */
    if (rc < 0) {
        if (job.err == 0)
            um_fail(&job, rc, NULL);
        goto done;
    }
    if (sink) {
        um_job_progress_write(&job, um_plan_size(&job));
        rc = um_plan_execute(&job, sink);
        if (rc >= 0)
            rc = um_job_progress_end(&job);
        if (rc >= 0)
            rc = um_sink_commit(sink);
        if (rc < 0 && job.err == 0)
            um_fail(&job, rc, "%s", um_sink_error(sink));
    } else {
        rc = um_job_progress_end(&job);
    }
done:
    if (rc < 0 && sink)
        um_sink_abort(sink);
    um_reader_close(job.in);
    um_plan_free(job.plan);
    if (rc >= 0 && report_out) {
        *report_out = job.report;
        job.report = NULL;
    }
    unmeta_report_free(job.report);
    return rc < 0 ? rc : 0;
}

int32_t unmeta_strip(unmeta_report **report, unmeta_ctx *ctx, unmeta_source *src, unmeta_sink *dst)
{
    if (!dst) {
        if (ctx)
            return um_ctx_fail(ctx, UNMETA_E_INVALID, "no sink");
        return UNMETA_E_INVALID;
    }
    return run_job(report, ctx, src, dst);
}

int32_t unmeta_inspect(unmeta_report **report, unmeta_ctx *ctx, unmeta_source *src)
{
    if (!report)
        return ctx ? um_ctx_fail(ctx, UNMETA_E_INVALID, "no report pointer") : UNMETA_E_INVALID;
    return run_job(report, ctx, src, NULL);
}

int32_t unmeta_check(int32_t *dirty, unmeta_ctx *ctx, unmeta_source *src)
{
    unmeta_report *r = NULL;
    if (!dirty)
        return ctx ? um_ctx_fail(ctx, UNMETA_E_INVALID, "no result pointer") : UNMETA_E_INVALID;
    int rc = run_job(&r, ctx, src, NULL);
    *dirty = rc == 0 ? unmeta_report_dirty(r) : 0;
    unmeta_report_free(r);
    return rc;
}

int32_t unmeta_strip_path(unmeta_ctx *ctx, const char *in_path, const char *out_path)
{
    unmeta_source *src = NULL;
    unmeta_sink *dst = NULL;
    int rc;
    if (!ctx || !in_path || !out_path)
        return UNMETA_E_INVALID;
    rc = unmeta_source_new_path(&src, in_path);
    if (rc < 0) {
        um_ctx_fail(ctx, rc, "cannot open %s: %s", in_path, strerror(errno));
        goto done;
    }
    rc = unmeta_sink_new_path(&dst, out_path, -1);
    if (rc < 0) {
        um_ctx_fail(ctx, rc, "cannot write %s", out_path);
        goto done;
    }
    rc = unmeta_strip(NULL, ctx, src, dst);
done:
    unmeta_sink_free(dst);
    unmeta_source_free(src);
    return rc;
}

int32_t unmeta_strip_memory(void **out, uint64_t *out_size, unmeta_ctx *ctx, const void *in, uint64_t in_size)
{
    unmeta_source *src = NULL;
    unmeta_sink *dst = NULL;
    int rc;
    if (!out || !out_size || !ctx || (!in && in_size))
        return UNMETA_E_INVALID;
    *out = NULL;
    *out_size = 0;
    UM_TRY_GOTO(rc, unmeta_source_new_memory(&src, in, in_size), done);
    UM_TRY_GOTO(rc, unmeta_sink_new_memory(&dst), done);
    UM_TRY_GOTO(rc, unmeta_strip(NULL, ctx, src, dst), done);
    const void *data;
    uint64_t size;
    UM_TRY_GOTO(rc, unmeta_sink_memory(&data, &size, dst), done);
    *out = um_mem_malloc((size_t)size);
    if (!*out) {
        rc = um_ctx_fail(ctx, UNMETA_E_NOMEM, "out of memory");
        goto done;
    }
    memcpy(*out, data, (size_t)size);
    *out_size = size;
done:
    unmeta_sink_free(dst);
    unmeta_source_free(src);
    return rc;
}

void unmeta_free(void *p)
{
    free(p);
}

int32_t unmeta_probe(const char **format, unmeta_ctx *ctx, unmeta_source *src)
{
    um_job job;
    uint8_t head[UM_PROBE_SIZE];
    int rc;
    if (!format || !ctx || !src)
        return ctx ? um_ctx_fail(ctx, UNMETA_E_INVALID, "no result pointer or source") : UNMETA_E_INVALID;
    *format = NULL;
    memset(&job, 0, sizeof(job));
    job.ctx = ctx;
    ctx->errmsg[0] = '\0';
    UM_TRY_GOTO(rc, um_reader_open(&job.in, &job, src), done);
    uint64_t size = um_reader_size(job.in);
    size_t n = size < sizeof(head) ? (size_t)size : sizeof(head);
    UM_TRY_GOTO(rc, um_read_at(&job, 0, head, n), done);
    const um_format *fmt = um_format_claim(ctx, head, n);
    *format = fmt ? fmt->name : NULL;
done:
    um_reader_close(job.in);
    return rc < 0 ? rc : 0;
}

uint32_t unmeta_format_count(void)
{
    return um_format_count();
}

const char *unmeta_format_name(uint32_t i)
{
    const um_format *f = um_format_at(i);
    return f ? f->name : NULL;
}
