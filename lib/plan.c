/*
 * plan.c - the list of copies and new bytes that makes a stripped output,
 * and its execution through a fixed buffer (see plan.h).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "io.h"
#include "plan.h"

#define UM_COPY_BUF (1u << 20)

typedef struct um_op {
    uint64_t off;     /* input offset (copy) */
    uint64_t len;
    uint8_t *data;    /* owned bytes (data), NULL for a copy */
} um_op;

struct um_plan {
    um_op *ops;
    size_t n, cap;
    uint64_t size;    /* output bytes so far */
    int discard;      /* inspect/check: sizes only */
};

int um_plan_new(um_plan **out, int discard)
{
    *out = um_mem_calloc(1, sizeof(**out));
    if (!*out)
        return UNMETA_E_NOMEM;
    (*out)->discard = discard;
    return 0;
}

static void clear_ops(um_plan *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->ops[i].data);
    p->n = 0;
    p->size = 0;
}

void um_plan_free(um_plan *p)
{
    if (!p)
        return;
    clear_ops(p);
    free(p->ops);
    free(p);
}

int um_job_writing(const um_job *job)
{
    return !job->plan->discard;
}

static um_op *push(um_job *job)
{
    um_plan *p = job->plan;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 32;
        um_op *ops = um_realloc(job, p->ops, cap * sizeof(*ops));
        if (!ops)
            return NULL;
        p->ops = ops;
        p->cap = cap;
    }
    um_op *op = &p->ops[p->n++];
    memset(op, 0, sizeof(*op));
    return op;
}

int um_output_grows(um_job *job, uint64_t size)
{
    uint64_t in, cap;
    if (!job->in)
        return 0;
    in = um_reader_size(job->in);
    if (!um_add_u64(&cap, in, job->ctx->limits.max_growth))
        cap = UINT64_MAX;
    if (size > cap)
        return um_fail(job, UNMETA_E_LIMIT,
                       "the output would pass %llu bytes, more than the %llu-byte input and %llu bytes of growth "
                       "(UNMETA_OPT_MAX_GROWTH)", (unsigned long long)size, (unsigned long long)in,
                       (unsigned long long)job->ctx->limits.max_growth);
    return 0;
}

/* Every byte the plan will write is counted here. */
static int grow(um_job *job, uint64_t n)
{
    um_plan *p = job->plan;
    if (!um_add_u64(&p->size, p->size, n))
        return um_fail(job, UNMETA_E_LIMIT, "output too large");
    return um_output_grows(job, p->size);
}

int um_plan_copy(um_job *job, uint64_t off, uint64_t len)
{
    um_plan *p = job->plan;
    uint64_t end;
    if (job->err < 0)
        return job->err;
    if (!um_add_u64(&end, off, len) || end > um_reader_size(job->in))
        return um_fail(job, UNMETA_E_TRUNCATED, "a block at %llu runs past the end of the input",
                       (unsigned long long)off);
    UM_TRY(grow(job, len));
    if (len == 0 || p->discard)
        return 0;
    if (p->n && !p->ops[p->n - 1].data && p->ops[p->n - 1].off + p->ops[p->n - 1].len == off) {
        p->ops[p->n - 1].len += len;
        return 0;
    }
    um_op *op = push(job);
    if (!op)
        return job->err;
    op->off = off;
    op->len = len;
    return 0;
}

uint8_t *um_plan_reserve(um_job *job, size_t n)
{
    if (job->err < 0 || grow(job, n) < 0)
        return NULL;
    uint8_t *d = um_calloc(job, 1, n);
    if (!d)
        return NULL;
    um_op *op = push(job);
    if (!op) {
        free(d);
        return NULL;
    }
    op->data = d;
    op->len = n;
    return d;
}

int um_plan_data(um_job *job, const void *src, size_t n)
{
    if (job->err < 0)
        return job->err;
    if (n == 0)
        return 0;
    if (job->plan->discard)
        return grow(job, n);
    uint8_t *d = um_plan_reserve(job, n);
    if (!d)
        return job->err;
    memcpy(d, src, n);
    return 0;
}

uint64_t um_plan_size(const um_job *job)
{
    return job->plan->size;
}

void um_plan_reset(um_job *job)
{
    clear_ops(job->plan);
}

/* Streams the plan to a writer function. */
static int execute(um_job *job, int (*put)(void *, const void *, size_t), void *dst, unmeta_sink *sink)
{
    um_plan *p = job->plan;
    for (size_t i = 0; i < p->n; i++) {
        um_op *op = &p->ops[i];
        if (op->data) {
            UM_TRY(put(dst, op->data, (size_t)op->len));
            if (sink)
                job->prog.written += op->len;
            continue;
        }
        uint64_t off = op->off, left = op->len;
        if (sink) {
            int64_t k = um_sink_copy_from(job, sink, off, left);
            if (k < 0)
                return job->err < 0 ? job->err : um_fail(job, (int)k, "%s", um_sink_error(sink));
            off += (uint64_t)k;
            left -= (uint64_t)k;
        }
        while (left) {
            const uint8_t *q;
            size_t avail;
            UM_TRY(um_reader_peek(job, off, &q, &avail));
            if (avail == 0)
                return um_fail(job, UNMETA_E_IO, "the input shrank while it was copied");
            if (avail > left)
                avail = (size_t)left;
            if (avail > UM_COPY_BUF)
                avail = UM_COPY_BUF;
            UM_TRY(put(dst, q, avail));
            off += avail;
            left -= avail;
            if (sink) {
                /* A long run (an mdat of gigabytes) polls as it goes. */
                job->prog.written += avail;
                UM_TRY(um_job_check_cancel(job));
            }
        }
        UM_TRY(um_job_check_cancel(job));
    }
    return 0;
}

static int put_sink(void *dst, const void *p, size_t n)
{
    return um_sink_write(dst, p, n);
}

int um_plan_execute(um_job *job, unmeta_sink *sink)
{
    return execute(job, put_sink, sink, sink);
}

typedef struct membuf {
    um_job *job;
    uint8_t *p;
    size_t len, cap;
} membuf;

static int put_mem(void *dst, const void *p, size_t n)
{
    membuf *m = dst;
    memcpy(m->p + m->len, p, n);
    m->len += n;
    return 0;
}

int um_plan_to_memory(um_job *job, uint8_t **out, size_t *out_len)
{
    uint64_t size = job->plan->size;
    *out = NULL;
    *out_len = 0;
    if (size > job->ctx->limits.max_memory || size > SIZE_MAX)
        return um_fail(job, UNMETA_E_LIMIT, "the image needs %llu bytes in memory, more than the %llu-byte limit (UNMETA_OPT_MAX_MEMORY)",
                       (unsigned long long)size, (unsigned long long)job->ctx->limits.max_memory);
    membuf m = { job, um_malloc(job, (size_t)size), 0, (size_t)size };
    if (!m.p)
        return job->err;
    int rc = execute(job, put_mem, &m, NULL);
    if (rc < 0) {
        free(m.p);
        return rc;
    }
    *out = m.p;
    *out_len = m.len;
    return 0;
}
