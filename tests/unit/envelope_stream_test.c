/*
 * envelope_stream_test.c - the threaded chunk stream (lib/envelope/stream.c)
 * gives the same envelope whatever the number of threads, and refuses a
 * damaged one with the same error wherever the damaged chunk is opened.
 *
 * For plaintext sizes around the 64 KiB chunk and the 16-chunk batch
 * boundaries (INFO included, no padding, so the sizes are exact): sealing
 * with 1, 2, 3, 4 and 7 threads and the same random bytes gives identical
 * envelopes, whose length is the age format's; each opens with 1 and 4
 * threads to the content. Then, on a 40-chunk envelope: a flipped byte in
 * chunks 1, 17, 33 and the last, two swapped chunks, the final chunk
 * dropped or its last-chunk flag forged by truncation, are each refused
 * with UNMETA_E_CRYPTO naming the right chunk, and a path output is never
 * left behind. Last, four application threads seal and open at once, each
 * with its own context and its own workers. Run under ThreadSanitizer by
 * .ci/run.
 *
 * First, the chunk cipher (lib/envelope/aead.c) against libsodium's
 * ChaCha20-Poly1305-IETF called directly: the same ciphertext and tag for
 * lengths 0 to 65536, in place and not; each opens the other's output; a
 * flipped bit anywhere, a wrong nonce or key, or a cut tag is refused with
 * the output wiped. When the build has OpenSSL (UM_EXPECT_OPENSSL_AEAD, set
 * by meson) the cipher must be OpenSSL's, so this compares two
 * implementations, not one with itself.
 */
#define _GNU_SOURCE /* strstr on a const message, mkdtemp */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "unmeta.h"
#include "envelope/envelope.h"

#define CHUNK  65536u
#define CCHUNK (CHUNK + 16u)
#define INFO   96u

static int failures;

#define CHECK(cond, ...)                                              \
    do {                                                              \
        if (!(cond)) {                                                \
            failures++;                                               \
            fprintf(stderr, "%s:%d: FAIL %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                             \
            fputc('\n', stderr);                                      \
        }                                                             \
    } while (0)

typedef struct buf {
    uint8_t *p;
    size_t n;
} buf;

static void fixed_rng(void *out, size_t n, void *user)
{
    uint32_t *s = user;
    uint8_t *o = out;
    for (size_t i = 0; i < n; i++) {
        *s = *s * 1664525u + 1013904223u;
        o[i] = (uint8_t)(*s >> 24);
    }
}

static unmeta_ctx *ctx_threads(int threads)
{
    unmeta_ctx *ctx = NULL;
    if (unmeta_ctx_new(&ctx) < 0 || unmeta_ctx_set_option(ctx, UNMETA_OPT_THREADS, threads) < 0) {
        fprintf(stderr, "no context\n");
        exit(1);
    }
    return ctx;
}

static int seal_mem(buf *out, int threads, const uint8_t *in, size_t n, const char *rcp, uint32_t seed)
{
    unmeta_ctx *ctx = ctx_threads(threads);
    unmeta_source *src = NULL;
    unmeta_sink *dst = NULL;
    const void *d;
    uint64_t dn;
    unmeta_seal_params p = UNMETA_SEAL_PARAMS_INIT;
    p.recipients = &rcp;
    p.recipient_count = 1;
    p.flags = UNMETA_SEAL_NO_PAD;
    p.content_type = "application/octet-stream";
    unmeta_source_new_memory(&src, in, n);
    unmeta_sink_new_memory(&dst);
    int rc = um_env_seal_raw(ctx, src, dst, &p, NULL, fixed_rng, &seed);
    out->p = NULL;
    out->n = 0;
    if (rc == 0 && unmeta_sink_memory(&d, &dn, dst) == 0) {
        out->p = malloc(dn ? dn : 1);
        memcpy(out->p, d, dn);
        out->n = dn;
    }
    unmeta_sink_free(dst);
    unmeta_source_free(src);
    unmeta_ctx_free(ctx);
    return rc;
}

/* Opens to memory, or to `path` when given; msg gets the context's message. */
static int open_env(buf *out, int threads, const uint8_t *in, size_t n, const char *id, const char *path, char *msg,
                    size_t msg_size)
{
    unmeta_ctx *ctx = ctx_threads(threads);
    unmeta_source *src = NULL;
    unmeta_sink *dst = NULL;
    const void *d;
    uint64_t dn;
    unmeta_open_params p = UNMETA_OPEN_PARAMS_INIT;
    p.identities = &id;
    p.identity_count = 1;
    unmeta_source_new_memory(&src, in, n);
    if (path)
        unmeta_sink_new_path(&dst, path, 0600);
    else
        unmeta_sink_new_memory(&dst);
    int rc = unmeta_open(NULL, ctx, src, dst, &p);
    if (msg)
        snprintf(msg, msg_size, "%s", unmeta_ctx_last_error(ctx));
    if (out) {
        out->p = NULL;
        out->n = 0;
    }
    if (rc == 0 && out && !path && unmeta_sink_memory(&d, &dn, dst) == 0) {
        out->p = malloc(dn ? dn : 1);
        memcpy(out->p, d, dn);
        out->n = dn;
    }
    unmeta_sink_free(dst);
    unmeta_source_free(src);
    unmeta_ctx_free(ctx);
    return rc;
}

static size_t header_len(const buf *e)
{
    for (size_t i = 0; i + 4 < e->n; i++)
        if (memcmp(e->p + i, "\n---", 4) == 0) {
            const uint8_t *nl = memchr(e->p + i + 1, '\n', e->n - i - 1);
            return nl ? (size_t)(nl - e->p) + 1 : 0;
        }
    return 0;
}

static void test_sizes(const char *id, const char *rcp)
{
    /* plaintext sizes (INFO + content): chunk and batch boundaries, and
     * the smallest, 96 bytes (empty content) */
    static const size_t plain[] = {
        INFO, INFO + 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 16 * CHUNK - 1, 16 * CHUNK, 16 * CHUNK + 1,
        17 * CHUNK, 32 * CHUNK + 5, 40 * CHUNK + 12345,
    };
    static const int threads[] = { 2, 3, 4, 7 };
    for (size_t k = 0; k < sizeof(plain) / sizeof(plain[0]); k++) {
        size_t n = plain[k] - INFO;
        uint8_t *in = malloc(n ? n : 1);
        for (size_t i = 0; i < n; i++)
            in[i] = (uint8_t)(i * 7 + k);
        buf ref, e, o;
        int rc = seal_mem(&ref, 1, in, n, rcp, 42);
        CHECK(rc == 0, "seal %zu with 1 thread: %d", n, rc);
        if (rc != 0) {
            free(in);
            continue;
        }
        /* the age format's length: header, nonce, one tag per chunk (an
         * empty final chunk only for an empty plaintext, never here) */
        size_t chunks = (plain[k] + CHUNK - 1) / CHUNK;
        CHECK(ref.n == header_len(&ref) + 16 + plain[k] + 16 * chunks, "plaintext %zu: envelope of %zu bytes",
              plain[k], ref.n);
        for (size_t t = 0; t < sizeof(threads) / sizeof(threads[0]); t++) {
            rc = seal_mem(&e, threads[t], in, n, rcp, 42);
            CHECK(rc == 0 && e.n == ref.n && memcmp(e.p, ref.p, e.n) == 0,
                  "plaintext %zu: %d threads seal differently from 1 (rc %d)", plain[k], threads[t], rc);
            free(e.p);
        }
        for (int t = 1; t <= 4; t += 3) {
            rc = open_env(&o, t, ref.p, ref.n, id, NULL, NULL, 0);
            CHECK(rc == 0 && o.n == n && memcmp(o.p, in, n) == 0, "plaintext %zu: open with %d threads: %d",
                  plain[k], t, rc);
            free(o.p);
        }
        free(ref.p);
        free(in);
    }
}

/* Opening a damaged copy fails with UNMETA_E_CRYPTO, naming chunk `chunk`
 * (when >= 0), with 1 and 4 threads; a path output never appears. */
static void refused(const char *what, const uint8_t *e, size_t n, const char *id, const char *dir, long chunk,
                    const char *words)
{
    char path[512], msg[512], want[64];
    snprintf(path, sizeof(path), "%s/out.bin", dir);
    snprintf(want, sizeof(want), "(chunk %ld)", chunk);
    for (int t = 1; t <= 4; t += 3) {
        int rc = open_env(NULL, t, e, n, id, NULL, msg, sizeof(msg));
        CHECK(rc == UNMETA_E_CRYPTO, "%s, %d threads: %d %s", what, t, rc, msg);
        CHECK(chunk < 0 || strstr(msg, want), "%s, %d threads: message \"%s\" does not name chunk %ld", what, t, msg,
              chunk);
        CHECK(!words || strstr(msg, words), "%s, %d threads: message \"%s\" lacks \"%s\"", what, t, msg, words);
        rc = open_env(NULL, t, e, n, id, path, NULL, 0);
        struct stat st;
        CHECK(rc == UNMETA_E_CRYPTO && stat(path, &st) != 0, "%s, %d threads, to a path: %d, output %s", what, t, rc,
              stat(path, &st) == 0 ? "left behind" : "absent");
        unlink(path);
    }
}

static void test_damage(const char *id, const char *rcp)
{
    size_t n = 40 * CHUNK + 777 - INFO; /* 41 chunks: 0..40, the last short */
    uint8_t *in = malloc(n);
    for (size_t i = 0; i < n; i++)
        in[i] = (uint8_t)(i * 13);
    buf e;
    if (seal_mem(&e, 4, in, n, rcp, 7) != 0) {
        CHECK(0, "seal for the damage tests");
        free(in);
        return;
    }
    char dir[] = "/tmp/unmeta-stream-XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    size_t base = header_len(&e) + 16;
    uint64_t nchunks = (e.n - base + CCHUNK - 1) / CCHUNK;
    CHECK(nchunks == 41, "41 chunks, not %llu", (unsigned long long)nchunks);
    uint8_t *d = malloc(e.n);
    char what[64];

    /* one flipped byte: in the first batch, on later batches, in the last chunk */
    static const long flip[] = { 1, 15, 16, 17, 33, 39, 40 };
    for (size_t k = 0; k < sizeof(flip) / sizeof(flip[0]); k++) {
        memcpy(d, e.p, e.n);
        d[base + (size_t)flip[k] * CCHUNK + 100] ^= 0x01;
        snprintf(what, sizeof(what), "chunk %ld flipped", flip[k]);
        refused(what, d, e.n, id, dir, flip[k], flip[k] == 40 ? "final chunk" : "a chunk failed");
    }
    /* two chunks swapped: the first of them fails */
    memcpy(d, e.p, e.n);
    memcpy(d + base + 20 * CCHUNK, e.p + base + 30 * CCHUNK, CCHUNK);
    memcpy(d + base + 30 * CCHUNK, e.p + base + 20 * CCHUNK, CCHUNK);
    refused("chunks 20 and 30 swapped", d, e.n, id, dir, 20, "reordered");
    /* a chunk repeated in place of the next */
    memcpy(d, e.p, e.n);
    memcpy(d + base + 18 * CCHUNK, e.p + base + 17 * CCHUNK, CCHUNK);
    refused("chunk 17 repeated", d, e.n, id, dir, 18, NULL);
    /* cut after a full chunk: INFO's length says truncated, before any byte */
    refused("final chunk dropped", e.p, base + 40 * CCHUNK, id, dir, -1, "truncated");
    /* cut inside the last chunk */
    refused("final chunk cut", e.p, e.n - 1, id, dir, 40, NULL);
    rmdir(dir);
    free(d);
    free(e.p);
    free(in);
}

typedef struct app {
    const char *id, *rcp;
    int seed;
    int ok;
} app;

static void *app_thread(void *arg)
{
    app *a = arg;
    size_t n = 20 * CHUNK + (size_t)a->seed;
    uint8_t *in = malloc(n);
    for (size_t i = 0; i < n; i++)
        in[i] = (uint8_t)(i + (size_t)a->seed);
    buf e, o;
    a->ok = seal_mem(&e, 3, in, n, a->rcp, (uint32_t)a->seed) == 0 &&
            open_env(&o, 2, e.p, e.n, a->id, NULL, NULL, 0) == 0 && o.n == n && memcmp(o.p, in, n) == 0;
    if (a->ok) {
        free(e.p);
        free(o.p);
    }
    free(in);
    return NULL;
}

/* Contexts on several application threads at once, each with workers. */
static void test_apps(const char *id, const char *rcp)
{
    pthread_t t[4];
    app a[4];
    for (int k = 0; k < 4; k++) {
        a[k] = (app){ id, rcp, k + 1, 0 };
        if (pthread_create(&t[k], NULL, app_thread, &a[k]) != 0) {
            CHECK(0, "pthread_create");
            return;
        }
    }
    for (int k = 0; k < 4; k++) {
        pthread_join(t[k], NULL);
        CHECK(a[k].ok, "application thread %d", k);
    }
}

/* Threads asked for: 0 is automatic, 1..64, nothing else. */
static void test_option(void)
{
    unmeta_ctx *ctx = ctx_threads(0);
    int64_t v = -1;
    CHECK(unmeta_ctx_get_option(&v, ctx, UNMETA_OPT_THREADS) == 0 && v == 0, "default %lld", (long long)v);
    CHECK(unmeta_ctx_set_option(ctx, UNMETA_OPT_THREADS, 65) == UNMETA_E_INVALID, "65 threads accepted");
    CHECK(unmeta_ctx_set_option(ctx, UNMETA_OPT_THREADS, -1) == UNMETA_E_INVALID, "-1 threads accepted");
    CHECK(unmeta_ctx_set_option(ctx, UNMETA_OPT_THREADS, 3) == 0 && unmeta_ctx_get_option(&v, ctx, UNMETA_OPT_THREADS) == 0 &&
          v == 3, "3 threads: %lld", (long long)v);
    unmeta_ctx_free(ctx);
}

/* The chunk cipher against libsodium's, both ways. */
static void test_aead(void)
{
    static uint8_t in[CHUNK], a[CCHUNK], b[CCHUNK], o[CHUNK];
    uint8_t key[32], nonce[12];
    uint32_t seed = 7;
    const size_t lens[] = { 0, 1, 15, 16, 17, 63, 64, 65, 255, 256, 4095, 4096, 65535, 65536 };
    um_aead c;
    um_aead_init(&c);
    printf("envelope-stream: chunk cipher from %s\n", um_aead_backend(&c));
#ifdef UM_EXPECT_OPENSSL_AEAD
    CHECK(strcmp(um_aead_backend(&c), "openssl") == 0, "built with OpenSSL, yet the cipher is %s", um_aead_backend(&c));
#endif
    fixed_rng(in, sizeof(in), &seed);
    fixed_rng(key, sizeof(key), &seed);
    for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
        size_t n = lens[k];
        unsigned long long m = 0;
        fixed_rng(nonce, sizeof(nonce), &seed);
        crypto_aead_chacha20poly1305_ietf_encrypt(a, &m, in, n, NULL, 0, NULL, nonce, key);
        CHECK(m == n + 16, "libsodium length %llu", m);
        um_aead_seal(&c, b, in, n, nonce, key);
        CHECK(memcmp(a, b, n + 16) == 0, "%zu bytes: not libsodium's ciphertext and tag", n);
        memcpy(b, in, n); /* in place */
        um_aead_seal(&c, b, b, n, nonce, key);
        CHECK(memcmp(a, b, n + 16) == 0, "%zu bytes in place: not libsodium's ciphertext and tag", n);
        CHECK(um_aead_open(&c, o, a, n + 16, nonce, key) == 0 && memcmp(o, in, n) == 0, "%zu bytes: open", n);
        CHECK(um_aead_open(&c, b, b, n + 16, nonce, key) == 0 && memcmp(b, in, n) == 0, "%zu bytes: open in place", n);
        um_aead_seal(&c, b, in, n, nonce, key);
        CHECK(crypto_aead_chacha20poly1305_ietf_decrypt(o, &m, NULL, b, n + 16, NULL, 0, nonce, key) == 0 && m == n &&
              memcmp(o, in, n) == 0, "%zu bytes: libsodium cannot open it", n);
        for (size_t bit = 0; bit < (n + 16) * 8; bit += n > 64 ? 997 : 1) {
            memcpy(b, a, n + 16);
            b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            memset(o, 0xAA, n);
            int rc = um_aead_open(&c, o, b, n + 16, nonce, key);
            size_t z = 0;
            while (z < n && o[z] == 0)
                z++;
            CHECK(rc == -1 && z == n, "%zu bytes, bit %zu flipped: %s", n, bit, rc ? "output not wiped" : "accepted");
        }
        nonce[11] ^= 1; /* the last-chunk flag */
        CHECK(um_aead_open(&c, o, a, n + 16, nonce, key) == -1, "%zu bytes: opened under another nonce", n);
        nonce[11] ^= 1;
        key[0] ^= 1;
        CHECK(um_aead_open(&c, o, a, n + 16, nonce, key) == -1, "%zu bytes: opened under another key", n);
        key[0] ^= 1;
        CHECK(um_aead_open(&c, o, a, n + 15, nonce, key) == -1, "%zu bytes: opened with a cut tag", n);
    }
    CHECK(um_aead_open(&c, o, a, 15, nonce, key) == -1, "shorter than a tag: opened");
    um_aead_free(&c);
}

int main(void)
{
    char *id = NULL, *rcp = NULL;
    if (unmeta_keygen(&id, &rcp) != 0) {
        fprintf(stderr, "keygen failed\n");
        return 1;
    }
    test_aead();
    test_option();
    test_sizes(id, rcp);
    test_damage(id, rcp);
    test_apps(id, rcp);
    unmeta_free_secret(id);
    unmeta_free(rcp);
    if (failures) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    printf("envelope-stream: all passed\n");
    return 0;
}
