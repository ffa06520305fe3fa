/*
 * threads_test.c - contexts run in parallel (docs/abi.md: no global mutable
 * state, one context per thread). Each input is first stripped, inspected
 * and checked on one thread, with ICC kept and with ICC stripped; then
 * THREADS threads, each with its own context and its own ICC option, do
 * the same ROUNDS times over all inputs in a different order, half through
 * memory sources and sinks, half through read/seek/write callbacks, and
 * every result (output bytes, JSON report, dirty flag, error code and
 * message) must equal the single-threaded one. Run under ThreadSanitizer in
 * CI (.ci/run), where any data race fails the test.
 *
 * Usage: threads_test FILE|DIR...  (the first PER_DIR regular files up to
 * 1 MiB of each DIR, by name; files the library refuses take part too: their errors must match).
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "unmeta.h"

#define THREADS 8
#define ROUNDS 3
#define MAX_INPUTS 64
#define PER_DIR 6     /* files taken from each DIR, for variety over volume */
#define MAX_FILE (1u << 20)

typedef struct result {
    int32_t rc;
    char msg[512];
    unsigned char *out;
    uint64_t out_size;
    char *json;     /* inspect */
    int32_t dirty;  /* check */
} result;

typedef struct input {
    char path[1024];
    unsigned char *data;
    uint64_t size;
    result ref[2]; /* [icc mode] */
} input;

static input inputs[MAX_INPUTS];
static int ninputs;

typedef struct worker {
    int id;
    int mismatches;
    char first[1024];
} worker;

static int add_file(const char *path)
{
    struct stat st;
    if (ninputs >= MAX_INPUTS || stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_FILE)
        return 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    input *in = &inputs[ninputs];
    in->data = malloc(st.st_size ? (size_t)st.st_size : 1);
    if (!in->data || fread(in->data, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        fclose(f);
        free(in->data);
        return 0;
    }
    fclose(f);
    in->size = (uint64_t)st.st_size;
    snprintf(in->path, sizeof(in->path), "%s", path);
    ninputs++;
    return 1;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_dir(const char *dir)
{
    DIR *d = opendir(dir);
    char *names[256];
    int n = 0;
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d)) && n < 256)
        if (e->d_name[0] != '.')
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof(names[0]), cmp_names);
    int taken = 0;
    for (int i = 0; i < n; i++) {
        char p[1024];
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        if (taken < PER_DIR)
            taken += add_file(p);
        free(names[i]);
    }
}

/* ---- callback I/O over memory ------------------------------------------ */

typedef struct memin {
    const unsigned char *p;
    uint64_t size, pos;
} memin;

typedef struct memout {
    unsigned char *p;
    uint64_t len, cap, pos;
} memout;

static int64_t cb_read(void *buf, uint64_t size, void *user)
{
    memin *m = user;
    uint64_t n = m->size - m->pos < size ? m->size - m->pos : size;
    memcpy(buf, m->p + m->pos, (size_t)n);
    m->pos += n;
    return (int64_t)n;
}

static int64_t cb_seek(int64_t off, int32_t whence, void *user)
{
    memin *m = user;
    int64_t base = whence == 0 ? 0 : whence == 1 ? (int64_t)m->pos : (int64_t)m->size;
    if (off > INT64_MAX - base || base + off < 0)
        return -1;
    m->pos = (uint64_t)(base + off);
    return (int64_t)m->pos;
}

static int64_t cb_write(const void *buf, uint64_t size, void *user)
{
    memout *m = user;
    if (m->pos + size > m->cap) {
        uint64_t cap = m->cap ? m->cap : 4096;
        while (cap < m->pos + size)
            cap *= 2;
        unsigned char *p = realloc(m->p, (size_t)cap);
        if (!p)
            return -1;
        m->p = p;
        m->cap = cap;
    }
    if (m->pos > m->len)
        memset(m->p + m->len, 0, (size_t)(m->pos - m->len));
    memcpy(m->p + m->pos, buf, (size_t)size);
    m->pos += size;
    if (m->pos > m->len)
        m->len = m->pos;
    return (int64_t)size;
}

static int64_t cb_out_seek(int64_t off, int32_t whence, void *user)
{
    memout *m = user;
    int64_t base = whence == 0 ? 0 : whence == 1 ? (int64_t)m->pos : (int64_t)m->len;
    if (off > INT64_MAX - base || base + off < 0)
        return -1;
    m->pos = (uint64_t)(base + off);
    return (int64_t)m->pos;
}

/* ---- one input, one way ------------------------------------------------ */

static void run_one(result *r, unmeta_ctx *ctx, const input *in, int callbacks)
{
    memset(r, 0, sizeof(*r));
    if (callbacks) {
        unmeta_io_callbacks icb = UNMETA_IO_CALLBACKS_INIT, ocb = UNMETA_IO_CALLBACKS_INIT;
        memin mi = { in->data, in->size, 0 };
        memout mo = { NULL, 0, 0, 0 };
        unmeta_source *src = NULL;
        unmeta_sink *dst = NULL;
        icb.read = cb_read;
        icb.seek = cb_seek;
        ocb.write = cb_write;
        ocb.seek = cb_out_seek;
        r->rc = unmeta_source_new_callbacks(&src, &icb, &mi);
        if (r->rc == 0)
            r->rc = unmeta_sink_new_callbacks(&dst, &ocb, &mo);
        if (r->rc == 0)
            r->rc = unmeta_strip(NULL, ctx, src, dst);
        unmeta_sink_free(dst);
        unmeta_source_free(src);
        if (r->rc == 0) {
            r->out = mo.p;
            r->out_size = mo.len;
        } else {
            free(mo.p);
        }
    } else {
        void *out = NULL;
        r->rc = unmeta_strip_memory(&out, &r->out_size, ctx, in->data, in->size);
        r->out = out;
    }
    snprintf(r->msg, sizeof(r->msg), "%s", unmeta_ctx_last_error(ctx));

    unmeta_source *src = NULL;
    unmeta_report *rep = NULL;
    if (unmeta_source_new_memory(&src, in->data, in->size) == 0 && unmeta_inspect(&rep, ctx, src) == 0) {
        char *json = NULL;
        if (unmeta_report_json(&json, rep) == 0) {
            r->json = strdup(json);
            unmeta_free(json);
        }
    }
    unmeta_report_free(rep);
    unmeta_source_free(src);

    src = NULL;
    r->dirty = -1;
    if (unmeta_source_new_memory(&src, in->data, in->size) == 0 && unmeta_check(&r->dirty, ctx, src) != 0)
        r->dirty = -2;
    unmeta_source_free(src);
}

static void free_result(result *r)
{
    unmeta_free(r->out);
    free(r->json);
}

static const char *differs(const result *a, const result *b)
{
    if (a->rc != b->rc)
        return "error code";
    if (a->rc != 0 && strcmp(a->msg, b->msg) != 0)
        return "error message";
    if (a->out_size != b->out_size || (a->out_size && memcmp(a->out, b->out, (size_t)a->out_size) != 0))
        return "output bytes";
    if ((a->json == NULL) != (b->json == NULL) || (a->json && strcmp(a->json, b->json) != 0))
        return "inspect JSON";
    if (a->dirty != b->dirty)
        return "check result";
    return NULL;
}

static void *work(void *arg)
{
    worker *w = arg;
    int icc = w->id & 1;
    unmeta_ctx *ctx = NULL;
    if (unmeta_ctx_new(&ctx) != 0 || unmeta_ctx_set_option(ctx, UNMETA_OPT_ICC, icc) != 0) {
        w->mismatches++;
        snprintf(w->first, sizeof(w->first), "thread %d: no context", w->id);
        unmeta_ctx_free(ctx);
        return NULL;
    }
    for (int round = 0; round < ROUNDS; round++) {
        for (int k = 0; k < ninputs; k++) {
            const input *in = &inputs[(k + w->id * 5 + round) % ninputs];
            result r;
            run_one(&r, ctx, in, (w->id >> 1) & 1);
            const char *what = differs(&r, &in->ref[icc]);
            if (what && w->mismatches++ == 0)
                snprintf(w->first, sizeof(w->first), "thread %d, round %d: %s: %s differs from one thread's",
                         w->id, round, in->path, what);
            free_result(&r);
        }
    }
    unmeta_ctx_free(ctx);
    return NULL;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
            add_dir(argv[i]);
        else if (!add_file(argv[i]))
            fprintf(stderr, "threads: cannot read %s\n", argv[i]);
    }
    if (ninputs == 0) {
        fprintf(stderr, "threads: no inputs\n");
        return 1;
    }

    int ok = 0;
    for (int icc = 0; icc < 2; icc++) {
        unmeta_ctx *ctx = NULL;
        if (unmeta_ctx_new(&ctx) != 0 || unmeta_ctx_set_option(ctx, UNMETA_OPT_ICC, icc) != 0)
            return 1;
        for (int i = 0; i < ninputs; i++) {
            run_one(&inputs[i].ref[icc], ctx, &inputs[i], 0);
            if (icc == 0 && inputs[i].ref[0].rc == 0)
                ok++;
            /* memory and callback I/O agree on one thread first */
            result r;
            run_one(&r, ctx, &inputs[i], 1);
            const char *what = differs(&r, &inputs[i].ref[icc]);
            free_result(&r);
            if (what) {
                fprintf(stderr, "threads: %s: %s differs between memory and callback I/O\n", inputs[i].path, what);
                return 1;
            }
        }
        unmeta_ctx_free(ctx);
    }
    if (ok == 0) {
        fprintf(stderr, "threads: the library refused every input; nothing would be compared\n");
        return 1;
    }

    pthread_t tid[THREADS];
    worker w[THREADS];
    for (int t = 0; t < THREADS; t++) {
        memset(&w[t], 0, sizeof(w[t]));
        w[t].id = t;
        if (pthread_create(&tid[t], NULL, work, &w[t]) != 0) {
            fprintf(stderr, "threads: pthread_create failed\n");
            return 1;
        }
    }
    int bad = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(tid[t], NULL);
        if (w[t].mismatches) {
            fprintf(stderr, "threads: %d mismatches; first: %s\n", w[t].mismatches, w[t].first);
            bad = 1;
        }
    }
    for (int i = 0; i < ninputs; i++) {
        free_result(&inputs[i].ref[0]);
        free_result(&inputs[i].ref[1]);
        free(inputs[i].data);
    }
    if (!bad)
        printf("threads: %d threads x %d rounds x %d inputs (%d stripped, the rest refused) agree with one thread\n",
               THREADS, ROUNDS, ninputs, ok);
    return bad;
}
