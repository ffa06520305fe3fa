/*
 * callback_test.c - callback sinks and sources that fail, through the public
 * API only (include/unmeta.h).
 *
 * For each input (a PNG with a tEXt canary built here, plus any files named
 * on the command line: tests/iofault_test.py passes one per format):
 *  - a write callback that fails at byte k, for every k of the output (a
 *    stride of them for outputs over 2 KiB), seekable or not, in one call
 *    or a few bytes a call: the strip fails with UNMETA_E_IO and a message;
 *    a callback that never reaches its failing byte gives the normal output;
 *  - a read callback that returns one byte a call and fails at byte k, with
 *    and without seek, into a path sink: the strip fails with UNMETA_E_IO and
 *    the folder stays empty (no output, no temporary file), or, when that
 *    byte is never read, gives the normal output;
 *  - one-byte reads and short writes that never fail give the normal output.
 *
 * Prints one line per failed check and 'N passed, N failed'; exits non-zero
 * when anything failed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "unmeta.h"

static int passed, failed;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (cond) {                                                        \
            passed++;                                                      \
        } else {                                                           \
            failed++;                                                      \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
        }                                                                  \
    } while (0)

/* ---- a PNG built here ---------------------------------------------------- */

static size_t put_chunk(unsigned char *p, const char *type, const void *data, uint32_t n)
{
    p[0] = (unsigned char)(n >> 24), p[1] = (unsigned char)(n >> 16), p[2] = (unsigned char)(n >> 8), p[3] = (unsigned char)n;
    memcpy(p + 4, type, 4);
    if (n)
        memcpy(p + 8, data, n);
    uint32_t crc = (uint32_t)crc32(0, p + 4, n + 4);
    p[8 + n] = (unsigned char)(crc >> 24), p[9 + n] = (unsigned char)(crc >> 16);
    p[10 + n] = (unsigned char)(crc >> 8), p[11 + n] = (unsigned char)crc;
    return 12 + (size_t)n;
}

/* A 16x16 RGB PNG with a tEXt Comment canary (PNG spec 11.3.4.3). */
static unsigned char *make_png(size_t *len)
{
    unsigned char raw[16 * (1 + 16 * 3)], z[2048];
    for (int y = 0; y < 16; y++) {
        raw[y * 49] = 0;
        for (int x = 0; x < 48; x++)
            raw[y * 49 + 1 + x] = (unsigned char)(x * 5 + y * 11);
    }
    uLongf zn = sizeof(z);
    if (compress(z, &zn, raw, sizeof(raw)) != Z_OK)
        return NULL;
    unsigned char *p = malloc(4096);
    if (!p)
        return NULL;
    static const unsigned char sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    static const unsigned char ihdr[13] = { 0, 0, 0, 16, 0, 0, 0, 16, 8, 2, 0, 0, 0 };
    static const char text[] = "Comment\0CANARY-CALLBACK-PNG";
    size_t o = 0;
    memcpy(p, sig, 8);
    o = 8;
    o += put_chunk(p + o, "IHDR", ihdr, 13);
    o += put_chunk(p + o, "tEXt", text, sizeof(text) - 1);
    o += put_chunk(p + o, "IDAT", z, (uint32_t)zn);
    o += put_chunk(p + o, "IEND", NULL, 0);
    *len = o;
    return p;
}

/* ---- callbacks ----------------------------------------------------------- */

typedef struct mem_io {
    const unsigned char *in;   /* source */
    size_t in_len;
    unsigned char *out;        /* sink */
    size_t cap, len;
    size_t pos;                /* current position (source or sink) */
    size_t fail_at;            /* the byte whose transfer fails; SIZE_MAX: never */
    size_t max_call;           /* most bytes one call moves */
    int failed_once;
} mem_io;

static int64_t cb_read(void *buf, uint64_t size, void *user)
{
    mem_io *m = user;
    size_t n = size < m->max_call ? (size_t)size : m->max_call;
    if (m->pos >= m->in_len)
        return 0;
    if (n > m->in_len - m->pos)
        n = m->in_len - m->pos;
    if (m->fail_at >= m->pos && m->fail_at < m->pos + n) {
        if (m->fail_at == m->pos) {
            m->failed_once = 1;
            return -1;
        }
        n = m->fail_at - m->pos; /* deliver what comes before the bad byte */
    }
    memcpy(buf, m->in + m->pos, n);
    m->pos += n;
    return (int64_t)n;
}

static int64_t cb_write(const void *buf, uint64_t size, void *user)
{
    mem_io *m = user;
    size_t n = size < m->max_call ? (size_t)size : m->max_call;
    if (m->fail_at >= m->pos && m->fail_at < m->pos + n) {
        if (m->fail_at == m->pos) {
            m->failed_once = 1;
            return -1;
        }
        n = m->fail_at - m->pos;
    }
    if (m->pos + n > m->cap) {
        size_t cap = (m->pos + n) * 2;
        unsigned char *q = realloc(m->out, cap);
        if (!q)
            return -1;
        memset(q + m->cap, 0, cap - m->cap);
        m->out = q;
        m->cap = cap;
    }
    memcpy(m->out + m->pos, buf, n);
    m->pos += n;
    if (m->pos > m->len)
        m->len = m->pos;
    return (int64_t)n;
}

static int64_t cb_seek_in(int64_t off, int32_t whence, void *user)
{
    mem_io *m = user;
    int64_t base = whence == 0 ? 0 : whence == 1 ? (int64_t)m->pos : (int64_t)m->in_len;
    if (whence < 0 || whence > 2 || base + off < 0)
        return -1;
    m->pos = (size_t)(base + off);
    return (int64_t)m->pos;
}

static int64_t cb_seek_out(int64_t off, int32_t whence, void *user)
{
    mem_io *m = user;
    int64_t base = whence == 0 ? 0 : whence == 1 ? (int64_t)m->pos : (int64_t)m->len;
    if (whence < 0 || whence > 2 || base + off < 0)
        return -1;
    m->pos = (size_t)(base + off);
    return (int64_t)m->pos;
}

/* ---- the checks ---------------------------------------------------------- */

static char tmpdir[64];

static int folder_empty(void)
{
    DIR *d = opendir(tmpdir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    if (d)
        closedir(d);
    return n == 0;
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    unsigned char *p = NULL;
    long sz;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (sz = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        p = malloc((size_t)sz + 1);
        if (p && fread(p, 1, (size_t)sz, f) != (size_t)sz) {
            free(p);
            p = NULL;
        }
        *n = (size_t)sz;
    }
    fclose(f);
    return p;
}

/* The points to fail at: every byte of a small stream, a stride of a big
 * one (with both ends). */
static size_t next_k(size_t k, size_t len)
{
    size_t stride = len <= 2048 ? 1 : len / 700;
    if (k + 1 >= len || k < 8)
        return k + 1;
    return k + stride < len - 1 ? k + stride : len - 1;
}

/* Strips into a callback sink that never fails: the reference for a sink
 * that cannot seek (a Matroska muxer writes a streaming layout there). */
static unsigned char *stream_ref(unmeta_ctx *ctx, const unsigned char *in, size_t in_len, size_t *len)
{
    mem_io m;
    memset(&m, 0, sizeof(m));
    m.fail_at = SIZE_MAX;
    m.max_call = SIZE_MAX;
    unmeta_io_callbacks cb = UNMETA_IO_CALLBACKS_INIT;
    cb.write = cb_write;
    unmeta_source *src = NULL;
    unmeta_sink *dst = NULL;
    int32_t rc = unmeta_source_new_memory(&src, in, in_len);
    if (rc == 0)
        rc = unmeta_sink_new_callbacks(&dst, &cb, &m);
    if (rc == 0)
        rc = unmeta_strip(NULL, ctx, src, dst);
    unmeta_sink_free(dst);
    unmeta_source_free(src);
    *len = m.len;
    if (rc != 0) {
        free(m.out);
        return NULL;
    }
    return m.out;
}

static void sweep_writes(unmeta_ctx *ctx, const char *name, const unsigned char *in, size_t in_len,
                         const unsigned char *seek_ref, size_t seek_ref_len)
{
    size_t stream_len = 0;
    unsigned char *stream = stream_ref(ctx, in, in_len, &stream_len);
    CHECK(stream != NULL, "%s: a strip into a callback sink without seek failed: %s", name, unmeta_ctx_last_error(ctx));
    if (!stream)
        return;
    for (int variant = 0; variant < 4; variant++) {
        int seekable = variant & 1;
        size_t max_call = variant & 2 ? 7 : SIZE_MAX;
        const unsigned char *ref = seekable ? seek_ref : stream;
        size_t ref_len = seekable ? seek_ref_len : stream_len;
        for (size_t k = 0; k <= ref_len; k = next_k(k, ref_len + 1)) {
            mem_io m;
            memset(&m, 0, sizeof(m));
            m.fail_at = k;
            m.max_call = max_call;
            unmeta_io_callbacks cb = UNMETA_IO_CALLBACKS_INIT;
            cb.write = cb_write;
            cb.seek = seekable ? cb_seek_out : NULL;
            unmeta_source *src = NULL;
            unmeta_sink *dst = NULL;
            if (unmeta_source_new_memory(&src, in, in_len) < 0 || unmeta_sink_new_callbacks(&dst, &cb, &m) < 0) {
                CHECK(0, "cannot create a source or sink");
                return;
            }
            int32_t rc = unmeta_strip(NULL, ctx, src, dst);
            if (k >= ref_len && !m.failed_once) {
                CHECK(rc == 0 && m.len == ref_len && memcmp(m.out, ref, ref_len) == 0,
                      "%s: a write callback failing past the end (byte %zu of %zu, variant %d): rc %d, %zu bytes",
                      name, k, ref_len, variant, (int)rc, m.len);
            } else if (!m.failed_once) {
                /* A seekable sink may be written in another order; a byte never written
                 * at its place k cannot fail. Then the output is still the normal one. */
                CHECK(rc == 0 && m.len == ref_len && memcmp(m.out, ref, ref_len) == 0,
                      "%s: write fault at %zu never hit, yet rc %d", name, k, (int)rc);
            } else {
                const char *msg = unmeta_ctx_last_error(ctx);
                CHECK(rc == UNMETA_E_IO && msg && strstr(msg, "write"),
                      "%s: write callback failing at byte %zu (variant %d): rc %d (%s), message '%s'", name, k,
                      variant, (int)rc, unmeta_strerror(rc), msg ? msg : "");
            }
            unmeta_sink_free(dst);
            unmeta_source_free(src);
            free(m.out);
        }
    }
    free(stream);
}

static void sweep_reads(unmeta_ctx *ctx, const char *name, const unsigned char *in, size_t in_len,
                        const unsigned char *ref, size_t ref_len)
{
    char out[128];
    snprintf(out, sizeof(out), "%s/out", tmpdir);
    for (int seekable = 0; seekable < 2; seekable++) {
        for (size_t k = 0; k <= in_len; k = next_k(k, in_len + 1)) {
            mem_io m;
            memset(&m, 0, sizeof(m));
            m.in = in;
            m.in_len = in_len;
            m.fail_at = k < in_len ? k : SIZE_MAX;
            m.max_call = 1;
            unmeta_io_callbacks cb = UNMETA_IO_CALLBACKS_INIT;
            cb.read = cb_read;
            cb.seek = seekable ? cb_seek_in : NULL;
            unmeta_source *src = NULL;
            unmeta_sink *dst = NULL;
            if (unmeta_source_new_callbacks(&src, &cb, &m) < 0 || unmeta_sink_new_path(&dst, out, 0644) < 0) {
                CHECK(0, "cannot create a source or sink");
                return;
            }
            int32_t rc = unmeta_strip(NULL, ctx, src, dst);
            unmeta_sink_free(dst);
            unmeta_source_free(src);
            if (!m.failed_once) {
                size_t n = 0;
                unsigned char *got = slurp(out, &n);
                CHECK(rc == 0 && got && n == ref_len && memcmp(got, ref, n) == 0,
                      "%s: one-byte reads (%s, fault at %zu never hit): rc %d, output %s", name,
                      seekable ? "seekable" : "spooled", k, (int)rc, got ? "differs" : "missing");
                free(got);
                unlink(out);
            } else {
                const char *msg = unmeta_ctx_last_error(ctx);
                CHECK(rc == UNMETA_E_IO && msg && strstr(msg, "read"),
                      "%s: read callback failing at byte %zu (%s): rc %d (%s), message '%s'", name, k,
                      seekable ? "seekable" : "spooled", (int)rc, unmeta_strerror(rc), msg ? msg : "");
                CHECK(folder_empty(), "%s: a read failing at byte %zu left a file beside the output", name, k);
            }
            CHECK(seekable || k >= in_len || m.failed_once, "%s: a spooled source never read byte %zu", name, k);
        }
    }
}

static void test_input(unmeta_ctx *ctx, const char *name, const unsigned char *in, size_t in_len)
{
    void *ref = NULL;
    uint64_t ref_len = 0;
    int32_t rc = unmeta_strip_memory(&ref, &ref_len, ctx, in, in_len);
    if (rc == UNMETA_E_FEATURE) {
        printf("skip %s: %s\n", name, unmeta_ctx_last_error(ctx));
        return;
    }
    CHECK(rc == 0, "%s: the reference strip failed: %s", name, unmeta_ctx_last_error(ctx));
    if (rc != 0)
        return;
    sweep_writes(ctx, name, in, in_len, ref, (size_t)ref_len);
    sweep_reads(ctx, name, in, in_len, ref, (size_t)ref_len);
    unmeta_free(ref);
    printf("%s: %zu bytes in, %llu out\n", name, in_len, (unsigned long long)ref_len);
}

int main(int argc, char **argv)
{
    unmeta_ctx *ctx = NULL;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/unmeta-cbtest-XXXXXX");
    if (!mkdtemp(tmpdir) || unmeta_ctx_new(&ctx) < 0) {
        fprintf(stderr, "cannot set up\n");
        return 1;
    }
    size_t png_len = 0;
    unsigned char *png = make_png(&png_len);
    CHECK(png != NULL, "cannot build the PNG");
    if (png)
        test_input(ctx, "built-in PNG", png, png_len);
    free(png);
    for (int i = 1; i < argc; i++) {
        size_t n = 0;
        unsigned char *p = slurp(argv[i], &n);
        CHECK(p != NULL, "cannot read %s", argv[i]);
        if (p)
            test_input(ctx, argv[i], p, n);
        free(p);
    }
    unmeta_ctx_free(ctx);
    rmdir(tmpdir);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
