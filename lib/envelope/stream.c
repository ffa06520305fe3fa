/*
 * stream.c - the age payload (age spec, "Payload"): STREAM, 64 KiB
 * plaintext chunks sealed with ChaCha20-Poly1305-IETF under the nonce
 * 11-byte big-endian counter ‖ last-chunk flag.
 *
 * Chunks are independent once the payload key is known, so they are sealed
 * and opened on a few worker threads. The calling thread stays the only one
 * that touches the job, the reader and the sink: it reads a batch of chunks
 * into a slot with one read, hands the slot to the workers, and writes the
 * slots back in order, each with one write. A worker only turns a slot's
 * input buffer into its output buffer (no copy besides the cipher's own)
 * and notes the first chunk that failed authentication. Memory is bounded
 * by the slots: two per worker, each two buffers of STREAM_BATCH chunks.
 * While it waits for the oldest slot, the calling thread works on queued
 * slots itself.
 * The output is the same byte for byte whatever the number of threads:
 * every chunk gets the nonce of its place in the stream, and slots are
 * written in stream order.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "io.h"
#include "envelope/envelope.h"
#include "envelope/private.h"

#ifdef UNMETA_HAVE_SODIUM
#include <sodium.h>

#define STREAM_BATCH      16u   /* chunks per slot: 1 MiB read and written at once */
#define STREAM_MAX_AUTO   4     /* threads when the context leaves it to the library */

void um_env_chunk_nonce(uint8_t nonce[12], uint64_t counter, int last)
{
    nonce[0] = nonce[1] = nonce[2] = 0;
    for (int i = 0; i < 8; i++)
        nonce[10 - i] = (uint8_t)(counter >> (8 * i));
    nonce[11] = last ? 1 : 0;
}

int um_env_payload_fail(um_job *job, const char *what, uint64_t chunk)
{
    return um_fail(job, UNMETA_E_CRYPTO, "payload: %s (chunk %llu)", what, (unsigned long long)chunk);
}

static int chunk_fail(um_job *job, uint64_t i, uint64_t n)
{
    return um_env_payload_fail(job, i + 1 == n ? "the final chunk failed authentication (altered, truncated or missing)"
                                               : "a chunk failed authentication (altered, reordered or truncated)", i);
}

int um_env_open_chunk(um_job *job, um_env_secrets *sec, uint64_t base, uint64_t i, uint64_t n, uint64_t last_clen,
                      size_t *len)
{
    uint8_t nonce[12];
    size_t clen = i + 1 == n ? (size_t)last_clen : AGE_CCHUNK;
    um_aead a;
    UM_TRY(um_read_at(job, base + i * AGE_CCHUNK, sec->chunk, clen));
    um_env_chunk_nonce(nonce, i, i + 1 == n);
    um_aead_init(&a);
    int rc = um_aead_open(&a, sec->chunk, sec->chunk, clen, nonce, sec->payload_key);
    um_aead_free(&a);
    if (rc != 0)
        return chunk_fail(job, i, n);
    *len = clen - AGE_TAG;
    return 0;
}

int um_env_write_out(um_job *job, unmeta_sink *dst, const uint8_t *p, size_t n)
{
    if (!n)
        return 0;
    int rc = um_sink_write(dst, p, n);
    return rc < 0 ? um_fail(job, rc, "%s", um_sink_error(dst)) : 0;
}

int um_env_threads(const unmeta_ctx *ctx)
{
    if (ctx->threads > 0)
        return ctx->threads; /* 1..UM_THREADS_MAX, as unmeta_ctx_set_option() allows */
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > STREAM_MAX_AUTO ? STREAM_MAX_AUTO : (int)n;
}

/* ---- the pipeline ------------------------------------------------------ */

enum { SLOT_FREE, SLOT_QUEUED, SLOT_BUSY, SLOT_DONE };

typedef struct slot {
    uint8_t *in, *out;           /* STREAM_BATCH * AGE_CCHUNK bytes each, locked memory */
    uint64_t first;              /* the stream index of the slot's first chunk */
    uint32_t count;              /* chunks in the slot */
    size_t in_len, out_len;
    int bad;                     /* open: a chunk failed authentication */
    uint32_t bad_at;             /* ... the first such, counted from `first` */
    int state;                   /* SLOT_*, under the pipe's lock */
} slot;

typedef struct pipe_s {
    int sealing;
    const uint8_t *key;          /* the payload key (read only while workers run) */
    uint64_t nchunks;            /* chunks in the whole stream */
    slot *slots;
    uint32_t nslots;
    uint64_t queued;             /* slots handed out so far: the next to queue is slots[queued % nslots] */
    uint64_t taken;              /* slots a worker has taken */
    int stop;
    pthread_mutex_t lock;
    pthread_cond_t work;         /* a slot was queued, or stop */
    pthread_cond_t done;         /* a slot is done */
    pthread_t *tids;
    int nthreads;
    um_aead own;                 /* the calling thread's cipher context */
} pipe_s;

/* Seals or opens every chunk of a slot, in->out, with the calling
 * thread's cipher context a. Touches only the slot and a. */
static void crypt_slot(const pipe_s *p, slot *s, um_aead *a)
{
    size_t ip = 0, op = 0;
    s->bad = 0;
    for (uint32_t j = 0; j < s->count; j++) {
        uint64_t i = s->first + j;
        int last = i + 1 == p->nchunks;
        uint8_t nonce[12];
        size_t n;
        um_env_chunk_nonce(nonce, i, last);
        if (p->sealing) {
            size_t m = last ? s->in_len - ip : AGE_CHUNK;
            um_aead_seal(a, s->out + op, s->in + ip, m, nonce, p->key);
            ip += m;
            n = m + AGE_TAG;
        } else {
            size_t c = last ? s->in_len - ip : AGE_CCHUNK;
            if (c < AGE_TAG || um_aead_open(a, s->out + op, s->in + ip, c, nonce, p->key) != 0) {
                s->bad = 1;
                s->bad_at = j;
                break;
            }
            ip += c;
            n = c - AGE_TAG;
        }
        op += n;
    }
    s->out_len = op;
}

static void *worker(void *arg)
{
    pipe_s *p = arg;
    um_aead a;
    um_aead_init(&a);
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stop && p->taken == p->queued)
            pthread_cond_wait(&p->work, &p->lock);
        if (p->stop)
            break;
        slot *s = &p->slots[p->taken++ % p->nslots];
        s->state = SLOT_BUSY;
        pthread_mutex_unlock(&p->lock);
        crypt_slot(p, s, &a);
        pthread_mutex_lock(&p->lock);
        s->state = SLOT_DONE;
        pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    um_aead_free(&a);
    return NULL;
}

static void pipe_stop(pipe_s *p)
{
    if (p->nthreads) {
        pthread_mutex_lock(&p->lock);
        p->stop = 1;
        pthread_cond_broadcast(&p->work);
        pthread_mutex_unlock(&p->lock);
        for (int t = 0; t < p->nthreads; t++)
            pthread_join(p->tids[t], NULL);
        p->nthreads = 0;
    }
}

static void pipe_free(pipe_s *p)
{
    pipe_stop(p);
    if (p->tids) {
        pthread_cond_destroy(&p->work);
        pthread_cond_destroy(&p->done);
        pthread_mutex_destroy(&p->lock);
    }
    free(p->tids);
    if (p->slots) {
        for (uint32_t k = 0; k < p->nslots; k++) {
            if (p->slots[k].in)
                sodium_free(p->slots[k].in);
            if (p->slots[k].out)
                sodium_free(p->slots[k].out);
        }
        free(p->slots);
    }
    um_aead_free(&p->own);
}

/* Slots and, when more than one thread is asked for and the stream has
 * more than one batch, the workers. A worker that cannot be started only
 * means fewer threads; none at all, that the calling thread does the work. */
static int pipe_init(um_job *job, pipe_s *p, int sealing, const uint8_t *key, uint64_t nchunks)
{
    uint64_t nbatches = (nchunks + STREAM_BATCH - 1) / STREAM_BATCH;
    int want = um_env_threads(job->ctx);
    memset(p, 0, sizeof(*p));
    um_aead_init(&p->own);
    p->sealing = sealing;
    p->key = key;
    p->nchunks = nchunks;
    if (nbatches < 2)
        want = 1;
    p->nslots = want > 1 ? 2u * (uint32_t)want : 1u;
    if ((uint64_t)p->nslots > nbatches)
        p->nslots = nbatches ? (uint32_t)nbatches : 1u;
    p->slots = um_calloc(job, p->nslots, sizeof(slot));
    if (!p->slots)
        return job->err;
    size_t per = (size_t)(nchunks < STREAM_BATCH ? nchunks : STREAM_BATCH) * AGE_CCHUNK;
    for (uint32_t k = 0; k < p->nslots; k++) {
        p->slots[k].in = um_env_secret_malloc(per);
        p->slots[k].out = um_env_secret_malloc(per);
        if (!p->slots[k].in || !p->slots[k].out)
            return um_fail(job, UNMETA_E_NOMEM, "out of memory for the chunk buffers");
    }
    if (want < 2)
        return 0;
    p->tids = um_calloc(job, (size_t)want, sizeof(pthread_t));
    if (!p->tids)
        return job->err;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    for (int t = 0; t < want; t++) {
        if (pthread_create(&p->tids[t], NULL, worker, p) != 0)
            break;
        p->nthreads++;
    }
    return 0;
}

/* Hands a filled slot to the workers, or does it here without any. */
static void pipe_queue(pipe_s *p, slot *s)
{
    if (!p->nthreads) {
        crypt_slot(p, s, &p->own);
        s->state = SLOT_DONE;
        return;
    }
    pthread_mutex_lock(&p->lock);
    s->state = SLOT_QUEUED;
    p->queued++;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->lock);
}

/* Waits for slot s; meanwhile the calling thread works on queued slots
 * itself rather than sleep (on a busy machine it is one more thread that
 * gets a share of the CPUs). */
static void pipe_wait(pipe_s *p, slot *s)
{
    if (!p->nthreads)
        return;
    pthread_mutex_lock(&p->lock);
    while (s->state != SLOT_DONE) {
        if (p->taken < p->queued) {
            slot *o = &p->slots[p->taken++ % p->nslots];
            o->state = SLOT_BUSY;
            pthread_mutex_unlock(&p->lock);
            crypt_slot(p, o, &p->own);
            pthread_mutex_lock(&p->lock);
            o->state = SLOT_DONE;
            continue;
        }
        pthread_cond_wait(&p->done, &p->lock);
    }
    pthread_mutex_unlock(&p->lock);
}

/* The calling thread's loop: fill slots in stream order while some are
 * free, then take back the oldest, in order. `fill` reads batch b into the
 * slot's input; `drain` consumes its output. */
typedef int (*fill_fn)(um_job *job, void *user, slot *s);
typedef int (*drain_fn)(um_job *job, void *user, slot *s);

static int pipe_run(um_job *job, pipe_s *p, uint64_t first, fill_fn fill, drain_fn drain, void *user)
{
    uint64_t nbatches = (p->nchunks - first + STREAM_BATCH - 1) / STREAM_BATCH;
    uint64_t filled = 0, drained = 0;
    const uint32_t nslots = p->nslots;
    if (!nslots) /* pipe_init makes at least one */
        return um_fail(job, UNMETA_E_STATE, "payload: no chunk buffers");
    while (drained < nbatches) {
        while (filled < nbatches && filled - drained < nslots) {
            slot *s = &p->slots[filled % nslots];
            s->first = first + filled * STREAM_BATCH;
            s->count = (uint32_t)(p->nchunks - s->first < STREAM_BATCH ? p->nchunks - s->first : STREAM_BATCH);
            s->state = SLOT_FREE;
            UM_TRY(fill(job, user, s));
            pipe_queue(p, s);
            filled++;
        }
        slot *s = &p->slots[drained % nslots];
        pipe_wait(p, s);
        UM_TRY(drain(job, user, s));
        drained++;
        UM_TRY(um_job_check_cancel(job));
    }
    return 0;
}

/* ---- sealing ----------------------------------------------------------- */

typedef struct seal_run {
    uint64_t total;              /* plaintext bytes in the stream */
    um_env_fill_fn fill;
    void *user;
    unmeta_sink *dst;
} seal_run;

static int seal_fill(um_job *job, void *user, slot *s)
{
    seal_run *r = user;
    uint64_t pos = s->first * AGE_CHUNK;
    uint64_t end = pos + (uint64_t)s->count * AGE_CHUNK;
    if (end > r->total)
        end = r->total;
    s->in_len = (size_t)(end - pos);
    return r->fill(job, r->user, pos, s->in, s->in_len);
}

static int seal_drain(um_job *job, void *user, slot *s)
{
    seal_run *r = user;
    return um_env_write_out(job, r->dst, s->out, s->out_len);
}

int um_env_stream_seal(um_job *job, const uint8_t key[32], unmeta_sink *dst, uint64_t total, um_env_fill_fn fill,
                       void *user)
{
    /* An empty stream is one empty final chunk (age spec). */
    uint64_t nchunks = total ? (total + AGE_CHUNK - 1) / AGE_CHUNK : 1;
    seal_run r = { total, fill, user, dst };
    pipe_s p;
    int rc = pipe_init(job, &p, 1, key, nchunks);
    if (rc >= 0)
        rc = pipe_run(job, &p, 0, seal_fill, seal_drain, &r);
    pipe_free(&p);
    return rc < 0 ? rc : 0;
}

/* ---- opening ----------------------------------------------------------- */

typedef struct open_run {
    uint64_t base;               /* the offset of chunk 0 in the input */
    uint64_t nchunks;
    uint64_t last_clen;          /* ciphertext bytes of the final chunk */
    um_env_emit_fn emit;
    void *user;
} open_run;

static int open_fill(um_job *job, void *user, slot *s)
{
    open_run *r = user;
    uint64_t end = s->first + s->count;
    s->in_len = (size_t)(end == r->nchunks ? (s->count - 1) * (uint64_t)AGE_CCHUNK + r->last_clen
                                           : (uint64_t)s->count * AGE_CCHUNK);
    return um_read_at(job, r->base + s->first * AGE_CCHUNK, s->in, s->in_len);
}

static int open_drain(um_job *job, void *user, slot *s)
{
    open_run *r = user;
    if (s->bad) {
        /* The chunks before it were authenticated: released as they would
         * be one by one (a path output is removed all the same). */
        UM_TRY(r->emit(job, r->user, s->first, s->out, (size_t)s->bad_at * AGE_CHUNK));
        return chunk_fail(job, s->first + s->bad_at, r->nchunks);
    }
    return r->emit(job, r->user, s->first, s->out, s->out_len);
}

int um_env_stream_open(um_job *job, const uint8_t key[32], uint64_t base, uint64_t first, uint64_t nchunks,
                       uint64_t last_clen, um_env_emit_fn emit, void *user)
{
    if (first >= nchunks)
        return 0;
    open_run r = { base, nchunks, last_clen, emit, user };
    pipe_s p;
    int rc = pipe_init(job, &p, 0, key, nchunks - first);
    p.nchunks = nchunks;
    if (rc >= 0)
        rc = pipe_run(job, &p, first, open_fill, open_drain, &r);
    pipe_free(&p);
    return rc < 0 ? rc : 0;
}

#endif /* UNMETA_HAVE_SODIUM */
