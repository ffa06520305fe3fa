/*
 * api_test.c - the public API (include/unmeta.h) as a program using the
 * shared library sees it: contexts and options, versions and error strings,
 * strip through every kind of source and sink (all outputs must be the same
 * bytes), reports and their struct_size rules, check, error paths, limits
 * and cancellation. Only unmeta.h is included: nothing internal.
 *
 * Prints one line per failed check and 'N passed, N failed' at the end;
 * exits non-zero when anything failed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unmeta.h"

static int passed, failed;

#define CHECK(cond)                                                                \
    do {                                                                           \
        if (cond) {                                                                \
            passed++;                                                              \
        } else {                                                                   \
            failed++;                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                          \
    } while (0)

#define CHECK_RC(expr, want)                                                       \
    do {                                                                           \
        int32_t rc_ = (expr);                                                      \
        if (rc_ == (want)) {                                                       \
            passed++;                                                              \
        } else {                                                                   \
            failed++;                                                              \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d\n", __FILE__, __LINE__, #expr, \
                    (int)rc_, unmeta_strerror(rc_), (int)(want));                  \
        }                                                                          \
    } while (0)

/* A 24x16 JPEG (cjpeg -quality 60) to which exiftool added GPS
 * 48.8583 N 2.2945 E, Make "CANARY-API-MAKE" and Orientation 6. */
static const unsigned char tiny_jpeg[] = {
    0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01,
    0x00, 0x01, 0x00, 0x00, 0xff, 0xe1, 0x00, 0xfc, 0x45, 0x78, 0x69, 0x66, 0x00, 0x00, 0x4d, 0x4d,
    0x00, 0x2a, 0x00, 0x00, 0x00, 0x08, 0x00, 0x07, 0x01, 0x0f, 0x00, 0x02, 0x00, 0x00, 0x00, 0x10,
    0x00, 0x00, 0x00, 0x62, 0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x00, 0x00,
    0x01, 0x1a, 0x00, 0x05, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x72, 0x01, 0x1b, 0x00, 0x05,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x7a, 0x01, 0x28, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x01, 0x00, 0x00, 0x02, 0x13, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
    0x88, 0x25, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x82, 0x00, 0x00, 0x00, 0x00,
    0x43, 0x41, 0x4e, 0x41, 0x52, 0x59, 0x2d, 0x41, 0x50, 0x49, 0x2d, 0x4d, 0x41, 0x4b, 0x45, 0x00,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x05, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04, 0x02, 0x03, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x4e, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x05, 0x00, 0x00,
    0x00, 0x03, 0x00, 0x00, 0x00, 0xc4, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x45, 0x00,
    0x00, 0x00, 0x00, 0x04, 0x00, 0x05, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0xdc, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x30, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x33, 0x00, 0x00,
    0x00, 0x01, 0x00, 0x00, 0x02, 0xeb, 0x00, 0x00, 0x00, 0x19, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00,
    0x00, 0x01, 0x00, 0x00, 0x00, 0x11, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xc9, 0x00, 0x00,
    0x00, 0x05, 0xff, 0xdb, 0x00, 0x43, 0x00, 0x0d, 0x09, 0x0a, 0x0b, 0x0a, 0x08, 0x0d, 0x0b, 0x0a,
    0x0b, 0x0e, 0x0e, 0x0d, 0x0f, 0x13, 0x20, 0x15, 0x13, 0x12, 0x12, 0x13, 0x27, 0x1c, 0x1e, 0x17,
    0x20, 0x2e, 0x29, 0x31, 0x30, 0x2e, 0x29, 0x2d, 0x2c, 0x33, 0x3a, 0x4a, 0x3e, 0x33, 0x36, 0x46,
    0x37, 0x2c, 0x2d, 0x40, 0x57, 0x41, 0x46, 0x4c, 0x4e, 0x52, 0x53, 0x52, 0x32, 0x3e, 0x5a, 0x61,
    0x5a, 0x50, 0x60, 0x4a, 0x51, 0x52, 0x4f, 0xff, 0xdb, 0x00, 0x43, 0x01, 0x0e, 0x0e, 0x0e, 0x13,
    0x11, 0x13, 0x26, 0x15, 0x15, 0x26, 0x4f, 0x35, 0x2d, 0x35, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f,
    0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f,
    0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f,
    0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0xff, 0xc0, 0x00, 0x11,
    0x08, 0x00, 0x10, 0x00, 0x18, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01, 0xff,
    0xc4, 0x00, 0x1f, 0x00, 0x00, 0x01, 0x05, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
    0xff, 0xc4, 0x00, 0xb5, 0x10, 0x00, 0x02, 0x01, 0x03, 0x03, 0x02, 0x04, 0x03, 0x05, 0x05, 0x04,
    0x04, 0x00, 0x00, 0x01, 0x7d, 0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41,
    0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1,
    0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19,
    0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44,
    0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64,
    0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84,
    0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2,
    0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9,
    0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7,
    0xd8, 0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3,
    0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xff, 0xc4, 0x00, 0x1f, 0x01, 0x00, 0x03, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03,
    0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0xff, 0xc4, 0x00, 0xb5, 0x11, 0x00, 0x02, 0x01,
    0x02, 0x04, 0x04, 0x03, 0x04, 0x07, 0x05, 0x04, 0x04, 0x00, 0x01, 0x02, 0x77, 0x00, 0x01, 0x02,
    0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71, 0x13, 0x22, 0x32,
    0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0, 0x15, 0x62, 0x72,
    0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26, 0x27, 0x28, 0x29,
    0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53,
    0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73,
    0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a,
    0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8,
    0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6,
    0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe2, 0xe3, 0xe4,
    0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xff,
    0xda, 0x00, 0x0c, 0x03, 0x01, 0x00, 0x02, 0x11, 0x03, 0x11, 0x00, 0x3f, 0x00, 0xd8, 0x8f, 0xc4,
    0xe8, 0x8f, 0x89, 0x46, 0x47, 0xd7, 0x9a, 0xbb, 0x06, 0xb9, 0x1c, 0xe4, 0x15, 0x28, 0x0f, 0x41,
    0xcf, 0xff, 0x00, 0x5e, 0xbc, 0x85, 0x2f, 0xe6, 0x60, 0x0b, 0x31, 0xc8, 0xee, 0x3a, 0x9a, 0xb1,
    0x6d, 0xad, 0x49, 0x0e, 0x14, 0x85, 0x38, 0x39, 0xe7, 0xad, 0x16, 0xe9, 0xb8, 0x43, 0x0f, 0x1d,
    0x5d, 0xec, 0xcf, 0x54, 0x7d, 0x62, 0x38, 0x64, 0x03, 0x78, 0x62, 0x4e, 0x08, 0xa2, 0xbc, 0xba,
    0xe3, 0x5f, 0x76, 0x70, 0x57, 0xf5, 0xa2, 0xa9, 0x24, 0x8d, 0x52, 0x3f, 0xff, 0xd9,
};

static const char *const canary = "CANARY-API-MAKE";

static int contains(const void *hay, size_t n, const char *needle)
{
    return memmem(hay, n, needle, strlen(needle)) != NULL;
}

static char tmpdir[64];

static char *tmp_path(const char *name)
{
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    unsigned char *p = NULL;
    *n = 0;
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    p = malloc(len > 0 ? (size_t)len : 1);
    if (p && fread(p, 1, (size_t)len, f) != (size_t)len) {
        free(p);
        p = NULL;
    } else if (p) {
        *n = (size_t)len;
    }
    fclose(f);
    return p;
}

static int spit(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* Files in the scratch folder whose name contains s. */
static int count_files(const char *s)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, s))
            n++;
    closedir(d);
    return n;
}

static int same(const void *a, size_t an, const void *b, size_t bn)
{
    return an == bn && memcmp(a, b, an) == 0;
}

/* ---- callback I/O ------------------------------------------------------ */

typedef struct memfile {
    const unsigned char *data;
    size_t len, pos;
    size_t chunk;          /* most bytes one read returns (0: no cap) */
    int fail_read;         /* reads fail */
    unsigned char *out;    /* written bytes */
    size_t out_len, out_cap;
    int fail_write;
    int seeks;
} memfile;

static int64_t mf_read(void *buf, uint64_t size, void *user)
{
    memfile *m = user;
    if (m->fail_read)
        return -1;
    size_t n = m->len - m->pos;
    if (n > size)
        n = (size_t)size;
    if (m->chunk && n > m->chunk)
        n = m->chunk;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return (int64_t)n;
}

static int64_t mf_seek(int64_t off, int32_t whence, void *user)
{
    memfile *m = user;
    int64_t base = whence == 0 ? 0 : whence == 1 ? (int64_t)m->pos : (int64_t)m->len;
    int64_t to = base + off;
    m->seeks++;
    if (whence < 0 || whence > 2 || to < 0 || to > (int64_t)m->len)
        return -1;
    m->pos = (size_t)to;
    return to;
}

static int64_t mf_write(const void *buf, uint64_t size, void *user)
{
    memfile *m = user;
    if (m->fail_write)
        return -1;
    if (m->out_len + size > m->out_cap) {
        size_t cap = m->out_cap ? m->out_cap * 2 : 1024;
        while (cap < m->out_len + size)
            cap *= 2;
        unsigned char *p = realloc(m->out, cap);
        if (!p)
            return -1;
        m->out = p;
        m->out_cap = cap;
    }
    memcpy(m->out + m->out_len, buf, (size_t)size);
    m->out_len += (size_t)size;
    return (int64_t)size;
}

/* ---- tests ------------------------------------------------------------- */

static void test_versions_and_errors(void)
{
    char want[32];
    snprintf(want, sizeof(want), "%d.%d.%d", UNMETA_VERSION_MAJOR, UNMETA_VERSION_MINOR, UNMETA_VERSION_PATCH);
    CHECK(unmeta_version() == UNMETA_VERSION_NUMBER);
    CHECK(unmeta_version_string() != NULL && strcmp(unmeta_version_string(), want) == 0);

    const int32_t codes[] = { UNMETA_OK, UNMETA_E_INVALID, UNMETA_E_NOMEM, UNMETA_E_IO, UNMETA_E_UNSUPPORTED,
                              UNMETA_E_MALFORMED, UNMETA_E_TRUNCATED, UNMETA_E_LIMIT, UNMETA_E_STATE,
                              UNMETA_E_CANCELED, UNMETA_E_FEATURE, UNMETA_E_EXPIRED, UNMETA_E_CRYPTO };
    const size_t n = sizeof(codes) / sizeof(codes[0]);
    const char *unknown = unmeta_strerror(-1000);
    CHECK(unknown != NULL && *unknown);
    CHECK(unmeta_strerror(7) != NULL && unmeta_strerror(INT32_MIN) != NULL);
    for (size_t i = 0; i < n; i++) {
        const char *s = unmeta_strerror(codes[i]);
        CHECK(s != NULL && *s);
        CHECK(s && strcmp(s, unknown) != 0);
        for (size_t k = 0; k < i; k++)
            CHECK(s && strcmp(s, unmeta_strerror(codes[k])) != 0); /* each code its own text */
    }

    const int32_t cats[] = { UNMETA_CAT_LOCATION, UNMETA_CAT_DEVICE, UNMETA_CAT_TIME, UNMETA_CAT_PEOPLE,
                             UNMETA_CAT_SOFTWARE, UNMETA_CAT_EMBEDDED, UNMETA_CAT_OTHER };
    for (size_t i = 0; i < sizeof(cats) / sizeof(cats[0]); i++)
        CHECK(strcmp(unmeta_category_name(cats[i]), "unknown") != 0);
    CHECK(strcmp(unmeta_category_name(0), "unknown") == 0 && strcmp(unmeta_category_name(99), "unknown") == 0);
    CHECK(strcmp(unmeta_action_name(UNMETA_ACTION_KEEP), "keep") == 0);
    CHECK(strcmp(unmeta_action_name(UNMETA_ACTION_REMOVE), "remove") == 0);
    CHECK(strcmp(unmeta_action_name(UNMETA_ACTION_REWRITE), "rewrite") == 0);
    CHECK(strcmp(unmeta_action_name(-1), "unknown") == 0);

    uint32_t nf = unmeta_format_count();
    int has_jpeg = 0;
    CHECK(nf >= 1);
    for (uint32_t i = 0; i < nf; i++) {
        const char *name = unmeta_format_name(i);
        CHECK(name != NULL && *name);
        has_jpeg |= name && strcmp(name, "jpeg") == 0;
    }
    CHECK(has_jpeg);
    CHECK(unmeta_format_name(nf) == NULL);
}

static void test_context_and_options(void)
{
    unmeta_ctx *ctx = NULL;
    int64_t v = -5;
    CHECK_RC(unmeta_ctx_new(NULL), UNMETA_E_INVALID);
    CHECK_RC(unmeta_ctx_new(&ctx), UNMETA_OK);
    CHECK(ctx != NULL);
    unmeta_ctx_free(NULL); /* a no-op */
    CHECK(unmeta_ctx_last_error(ctx) != NULL && *unmeta_ctx_last_error(ctx) == '\0');
    CHECK(unmeta_ctx_last_error(NULL) != NULL);

    /* Defaults. */
    CHECK_RC(unmeta_ctx_get_option(&v, ctx, UNMETA_OPT_ICC), UNMETA_OK);
    CHECK(v == UNMETA_ICC_KEEP);
    CHECK_RC(unmeta_ctx_get_option(&v, ctx, UNMETA_OPT_APPLY_ORIENTATION), UNMETA_OK);
    CHECK(v == 0);
    const int32_t limits[] = { UNMETA_OPT_MAX_BLOCK_SIZE, UNMETA_OPT_MAX_DEPTH, UNMETA_OPT_MAX_ITEMS,
                               UNMETA_OPT_MAX_MEMORY, UNMETA_OPT_SPOOL_LIMIT, UNMETA_OPT_MAX_INFLATE,
                               UNMETA_OPT_MAX_SPOOL, UNMETA_OPT_MAX_GROWTH };
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        v = -5;
        CHECK_RC(unmeta_ctx_get_option(&v, ctx, limits[i]), UNMETA_OK);
        CHECK(v > 0);
    }

    /* Valid values round-trip. */
    struct { int32_t key; int64_t value; } good[] = {
        { UNMETA_OPT_ICC, UNMETA_ICC_STRIP }, { UNMETA_OPT_ICC, UNMETA_ICC_KEEP },
        { UNMETA_OPT_APPLY_ORIENTATION, 1 }, { UNMETA_OPT_APPLY_ORIENTATION, 0 },
        { UNMETA_OPT_MAX_BLOCK_SIZE, 1 << 20 }, { UNMETA_OPT_MAX_DEPTH, 8 }, { UNMETA_OPT_MAX_ITEMS, 500 },
        { UNMETA_OPT_MAX_MEMORY, 64 << 20 }, { UNMETA_OPT_SPOOL_LIMIT, 0 }, { UNMETA_OPT_SPOOL_LIMIT, 4096 },
        { UNMETA_OPT_MAX_INFLATE, 1 << 20 }, { UNMETA_OPT_MAX_SPOOL, 0 }, { UNMETA_OPT_MAX_SPOOL, 1 << 20 },
        { UNMETA_OPT_MAX_GROWTH, 0 }, { UNMETA_OPT_MAX_GROWTH, 1 << 20 },
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        CHECK_RC(unmeta_ctx_set_option(ctx, good[i].key, good[i].value), UNMETA_OK);
        CHECK_RC(unmeta_ctx_get_option(&v, ctx, good[i].key), UNMETA_OK);
        CHECK(v == good[i].value);
    }

    /* Invalid values are refused with a message and change nothing. */
    struct { int32_t key; int64_t value; } bad[] = {
        { UNMETA_OPT_ICC, 2 }, { UNMETA_OPT_ICC, -1 }, { UNMETA_OPT_APPLY_ORIENTATION, 2 },
        { UNMETA_OPT_APPLY_ORIENTATION, -1 }, { UNMETA_OPT_MAX_BLOCK_SIZE, 0 }, { UNMETA_OPT_MAX_BLOCK_SIZE, -1 },
        { UNMETA_OPT_MAX_DEPTH, 0 }, { UNMETA_OPT_MAX_ITEMS, 0 }, { UNMETA_OPT_MAX_MEMORY, 10 },
        { UNMETA_OPT_SPOOL_LIMIT, -1 }, { UNMETA_OPT_MAX_INFLATE, 0 }, { UNMETA_OPT_MAX_SPOOL, -1 },
        { UNMETA_OPT_MAX_GROWTH, -1 }, { 0, 1 }, { 99, 1 }, { -3, 1 },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t before = 0, after = 1;
        int known = unmeta_ctx_get_option(&before, ctx, bad[i].key) == 0;
        CHECK_RC(unmeta_ctx_set_option(ctx, bad[i].key, bad[i].value), UNMETA_E_INVALID);
        CHECK(*unmeta_ctx_last_error(ctx) != '\0');
        if (known) {
            unmeta_ctx_get_option(&after, ctx, bad[i].key);
            CHECK(after == before);
        }
    }
    CHECK_RC(unmeta_ctx_get_option(&v, ctx, 99), UNMETA_E_INVALID);
    CHECK_RC(unmeta_ctx_get_option(NULL, ctx, UNMETA_OPT_ICC), UNMETA_E_INVALID);
    CHECK_RC(unmeta_ctx_get_option(&v, NULL, UNMETA_OPT_ICC), UNMETA_E_INVALID);
    CHECK_RC(unmeta_ctx_set_option(NULL, UNMETA_OPT_ICC, 0), UNMETA_E_INVALID);
    CHECK_RC(unmeta_ctx_set_cancel(NULL, NULL, NULL), UNMETA_E_INVALID);
    CHECK_RC(unmeta_ctx_set_cancel(ctx, NULL, NULL), UNMETA_OK);
    CHECK_RC(unmeta_ctx_set_progress(NULL, NULL, NULL), UNMETA_E_INVALID);
    CHECK_RC(unmeta_ctx_set_progress(ctx, NULL, NULL), UNMETA_OK);

    /* struct_size initialisers. */
    unmeta_io_callbacks cb;
    memset(&cb, 0x55, sizeof(cb));
    CHECK_RC(unmeta_io_callbacks_init(&cb, sizeof(cb)), UNMETA_OK);
    CHECK(cb.struct_size == sizeof(cb) && cb.read == NULL && cb.write == NULL && cb.seek == NULL);
    CHECK_RC(unmeta_io_callbacks_init(NULL, sizeof(cb)), UNMETA_E_INVALID);
    CHECK_RC(unmeta_io_callbacks_init(&cb, 2), UNMETA_E_INVALID);
    unmeta_block b;
    unmeta_finding f;
    memset(&b, 0x55, sizeof(b));
    memset(&f, 0x55, sizeof(f));
    CHECK_RC(unmeta_block_init(&b, sizeof(b)), UNMETA_OK);
    CHECK(b.struct_size == sizeof(b) && b.kind == NULL && b.offset == 0 && b.length == 0);
    CHECK_RC(unmeta_finding_init(&f, sizeof(f)), UNMETA_OK);
    CHECK(f.struct_size == sizeof(f) && f.name == NULL && f.value == NULL);
    CHECK_RC(unmeta_block_init(NULL, sizeof(b)), UNMETA_E_INVALID);
    CHECK_RC(unmeta_finding_init(&f, 0), UNMETA_E_INVALID);
    unmeta_ctx_free(ctx);
}

/* The reference output, and the check that one output matches it. */
static void *ref;
static uint64_t ref_len;

static void check_output(const char *how, const void *p, size_t n)
{
    int ok = same(p, n, ref, (size_t)ref_len);
    if (!ok)
        fprintf(stderr, "output via %s differs from unmeta_strip_memory's (%zu vs %llu bytes)\n", how, n,
                (unsigned long long)ref_len);
    CHECK(ok);
}

static void test_strip_every_io(unmeta_ctx *ctx)
{
    unmeta_source *src = NULL;
    unmeta_sink *dst = NULL;
    unmeta_report *rep = NULL;
    const void *data;
    uint64_t len;
    size_t n;
    unsigned char *file;

    /* The reference: unmeta_strip_memory. */
    CHECK_RC(unmeta_strip_memory(&ref, &ref_len, ctx, tiny_jpeg, sizeof(tiny_jpeg)), UNMETA_OK);
    CHECK(ref != NULL && ref_len > 100 && ref_len < sizeof(tiny_jpeg));
    CHECK(ref && !contains(ref, (size_t)ref_len, canary));
    CHECK(ref && memcmp(ref, "\xff\xd8\xff", 3) == 0);
    /* Orientation 6 is kept as a minimal EXIF; GPS and Make are gone. */
    CHECK(ref && contains(ref, (size_t)ref_len, "Exif"));
    int32_t dirty = -1;
    CHECK_RC(unmeta_source_new_memory(&src, ref, ref_len), UNMETA_OK);
    CHECK_RC(unmeta_check(&dirty, ctx, src), UNMETA_OK);
    CHECK(dirty == 0);
    CHECK_RC(unmeta_inspect(&rep, ctx, src), UNMETA_OK);
    CHECK(rep && unmeta_report_finding_count(rep) == 0 && !unmeta_report_dirty(rep));
    unmeta_report_free(rep);
    rep = NULL;
    unmeta_source_free(src);

    /* memory -> memory */
    CHECK_RC(unmeta_source_new_memory(&src, tiny_jpeg, sizeof(tiny_jpeg)), UNMETA_OK);
    CHECK_RC(unmeta_sink_new_memory(&dst), UNMETA_OK);
    CHECK_RC(unmeta_sink_memory(&data, &len, dst), UNMETA_E_STATE); /* nothing written yet */
    CHECK_RC(unmeta_strip(&rep, ctx, src, dst), UNMETA_OK);
    CHECK(rep != NULL);
    CHECK_RC(unmeta_sink_memory(&data, &len, dst), UNMETA_OK);
    check_output("memory->memory", data, (size_t)len);
    /* A sink takes one output; the first stays readable. */
    CHECK_RC(unmeta_strip(NULL, ctx, src, dst), UNMETA_E_STATE);
    CHECK_RC(unmeta_sink_memory(&data, &len, dst), UNMETA_OK);
    check_output("memory sink after a refused reuse", data, (size_t)len);
    CHECK_RC(unmeta_sink_memory(NULL, &len, dst), UNMETA_E_INVALID);
    unmeta_sink_free(dst);
    unmeta_report_free(rep);
    rep = NULL;

    /* memory -> path (explicit mode) */
    const char *out = tmp_path("mem.jpg");
    CHECK_RC(unmeta_sink_new_path(&dst, out, 0640), UNMETA_OK);
    CHECK_RC(unmeta_strip(NULL, ctx, src, dst), UNMETA_OK);
    unmeta_sink_free(dst);
    unmeta_source_free(src);
    file = slurp(out, &n);
    CHECK(file != NULL);
    if (file)
        check_output("memory->path", file, n);
    free(file);
    struct stat st;
    CHECK(stat(out, &st) == 0 && (st.st_mode & 07777) == 0640);

    /* path -> path */
    const char *in = tmp_path("in.jpg");
    CHECK(spit(in, tiny_jpeg, sizeof(tiny_jpeg)) == 0);
    out = tmp_path("path.jpg");
    CHECK_RC(unmeta_source_new_path(&src, in), UNMETA_OK);
    CHECK_RC(unmeta_sink_new_path(&dst, out, -1), UNMETA_OK);
    CHECK_RC(unmeta_strip(NULL, ctx, src, dst), UNMETA_OK);
    unmeta_sink_free(dst);
    /* The same source serves a second job. */
    int32_t d2 = -1;
    CHECK_RC(unmeta_check(&d2, ctx, src), UNMETA_OK);
    CHECK(d2 == 1);
    unmeta_source_free(src);
    file = slurp(out, &n);
    if (file)
        check_output("path->path", file, n);
    CHECK(file != NULL);
    free(file);

    /* unmeta_strip_path */
    out = tmp_path("conv.jpg");
    CHECK_RC(unmeta_strip_path(ctx, in, out), UNMETA_OK);
    file = slurp(out, &n);
    if (file)
        check_output("unmeta_strip_path", file, n);
    CHECK(file != NULL);
    free(file);

    /* fd -> fd */
    int ifd = open(in, O_RDONLY);
    int ofd = open(tmp_path("fd.jpg"), O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK(ifd >= 0 && ofd >= 0);
    CHECK_RC(unmeta_source_new_fd(&src, ifd), UNMETA_OK);
    CHECK_RC(unmeta_sink_new_fd(&dst, ofd), UNMETA_OK);
    CHECK_RC(unmeta_strip(NULL, ctx, src, dst), UNMETA_OK);
    unmeta_sink_free(dst);
    unmeta_source_free(src);
    CHECK(fcntl(ifd, F_GETFD) != -1 && fcntl(ofd, F_GETFD) != -1); /* borrowed: still open */
    close(ifd);
    close(ofd);
    file = slurp(tmp_path("fd.jpg"), &n);
    if (file)
        check_output("fd->fd", file, n);
    CHECK(file != NULL);
    free(file);

    /* a pipe (not seekable: spooled) -> memory */
    int p[2];
    CHECK(pipe(p) == 0);
    CHECK(write(p[1], tiny_jpeg, sizeof(tiny_jpeg)) == (ssize_t)sizeof(tiny_jpeg));
    close(p[1]);
    CHECK_RC(unmeta_source_new_fd(&src, p[0]), UNMETA_OK);
    CHECK_RC(unmeta_sink_new_memory(&dst), UNMETA_OK);
    CHECK_RC(unmeta_strip(NULL, ctx, src, dst), UNMETA_OK);
    CHECK_RC(unmeta_sink_memory(&data, &len, dst), UNMETA_OK);
    check_output("pipe->memory", data, (size_t)len);
    unmeta_sink_free(dst);
    /* The spooled copy serves later jobs: the pipe itself is drained. */
    CHECK_RC(unmeta_check(&d2, ctx, src), UNMETA_OK);
    CHECK(d2 == 1);
    unmeta_source_free(src);
    close(p[0]);

    /* callbacks -> callbacks, with and without seek, in small reads */
    for (int mode = 0; mode < 3; mode++) {
        memfile mi = { tiny_jpeg, sizeof(tiny_jpeg), 0, mode == 2 ? 7 : 0, 0, NULL, 0, 0, 0, 0 };
        memfile mo = { NULL, 0, 0, 0, 0, NULL, 0, 0, 0, 0 };
        unmeta_io_callbacks icb = UNMETA_IO_CALLBACKS_INIT, ocb = UNMETA_IO_CALLBACKS_INIT;
        icb.read = mf_read;
        icb.seek = mode == 0 ? mf_seek : NULL;
        ocb.write = mf_write;
        CHECK_RC(unmeta_source_new_callbacks(&src, &icb, &mi), UNMETA_OK);
        CHECK_RC(unmeta_sink_new_callbacks(&dst, &ocb, &mo), UNMETA_OK);
        CHECK_RC(unmeta_strip(NULL, ctx, src, dst), UNMETA_OK);
        check_output(mode == 0 ? "callbacks with seek" : mode == 1 ? "callbacks without seek (spooled)"
                                                                   : "callbacks without seek, 7-byte reads",
                     mo.out, mo.out_len);
        if (mode == 0)
            CHECK(mi.seeks > 0);
        unmeta_sink_free(dst);
        /* A spooled source is read once and kept for the next job. */
        if (mode != 0) {
            CHECK_RC(unmeta_check(&d2, ctx, src), UNMETA_OK);
            CHECK(d2 == 1);
        }
        unmeta_source_free(src);
        free(mo.out);
    }

    /* memory -> callbacks; callbacks -> path */
    {
        memfile mo = { NULL, 0, 0, 0, 0, NULL, 0, 0, 0, 0 };
        unmeta_io_callbacks ocb = UNMETA_IO_CALLBACKS_INIT;
        ocb.write = mf_write;
        CHECK_RC(unmeta_source_new_memory(&src, tiny_jpeg, sizeof(tiny_jpeg)), UNMETA_OK);
        CHECK_RC(unmeta_sink_new_callbacks(&dst, &ocb, &mo), UNMETA_OK);
        CHECK_RC(unmeta_strip(NULL, ctx, src, dst), UNMETA_OK);
        check_output("memory->callbacks", mo.out, mo.out_len);
        unmeta_sink_free(dst);
        unmeta_source_free(src);
        free(mo.out);

        memfile mi = { tiny_jpeg, sizeof(tiny_jpeg), 0, 0, 0, NULL, 0, 0, 0, 0 };
        unmeta_io_callbacks icb = UNMETA_IO_CALLBACKS_INIT;
        icb.read = mf_read;
        icb.seek = mf_seek;
        out = tmp_path("cb.jpg");
        CHECK_RC(unmeta_source_new_callbacks(&src, &icb, &mi), UNMETA_OK);
        CHECK_RC(unmeta_sink_new_path(&dst, out, 0600), UNMETA_OK);
        CHECK_RC(unmeta_strip(NULL, ctx, src, dst), UNMETA_OK);
        unmeta_sink_free(dst);
        unmeta_source_free(src);
        file = slurp(out, &n);
        if (file)
            check_output("callbacks->path", file, n);
        CHECK(file != NULL);
        free(file);
    }

    /* An older caller's smaller callbacks struct (read only) still works. */
    {
        memfile mi = { tiny_jpeg, sizeof(tiny_jpeg), 0, 0, 0, NULL, 0, 0, 0, 0 };
        unmeta_io_callbacks icb = UNMETA_IO_CALLBACKS_INIT;
        icb.read = mf_read;
        icb.seek = mf_seek; /* beyond struct_size: must be ignored */
        icb.struct_size = (uint32_t)offsetof(unmeta_io_callbacks, write);
        CHECK_RC(unmeta_source_new_callbacks(&src, &icb, &mi), UNMETA_OK);
        CHECK_RC(unmeta_sink_new_memory(&dst), UNMETA_OK);
        CHECK_RC(unmeta_strip(NULL, ctx, src, dst), UNMETA_OK);
        CHECK_RC(unmeta_sink_memory(&data, &len, dst), UNMETA_OK);
        check_output("short callbacks struct", data, (size_t)len);
        CHECK(mi.seeks == 0);
        unmeta_sink_free(dst);
        unmeta_source_free(src);
    }
    CHECK(count_files("unmeta-tmp") == 0);
}

static const unmeta_finding *find(unmeta_finding *all, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++)
        if (all[i].name && strcmp(all[i].name, name) == 0)
            return &all[i];
    return NULL;
}

static void test_reports(unmeta_ctx *ctx)
{
    unmeta_source *src = NULL;
    unmeta_report *rep = NULL, *rep2 = NULL;
    unmeta_sink *dst = NULL;
    CHECK_RC(unmeta_source_new_memory(&src, tiny_jpeg, sizeof(tiny_jpeg)), UNMETA_OK);
    CHECK_RC(unmeta_inspect(&rep, ctx, src), UNMETA_OK);
    CHECK(rep != NULL);
    if (!rep) {
        unmeta_source_free(src);
        return;
    }
    CHECK(strcmp(unmeta_report_format(rep), "jpeg") == 0);
    CHECK(unmeta_report_dirty(rep) == 1);
    uint32_t nb = unmeta_report_block_count(rep), nf = unmeta_report_finding_count(rep);
    CHECK(nb >= 6); /* SOI, APP0, APP1, DQT, SOF, DHT, SOS, EOI at least */
    CHECK(nf >= 2);

    uint64_t end = 0;
    for (uint32_t i = 0; i < nb; i++) {
        unmeta_block b = UNMETA_BLOCK_INIT;
        CHECK_RC(unmeta_report_block(&b, rep, i), UNMETA_OK);
        CHECK(b.kind != NULL && *b.kind);
        CHECK(b.action >= UNMETA_ACTION_KEEP && b.action <= UNMETA_ACTION_REWRITE);
        CHECK(b.offset + b.length <= sizeof(tiny_jpeg));
        CHECK(b.offset >= end); /* in file order, not overlapping */
        end = b.offset + b.length;
        if (i == 0)
            CHECK(b.offset == 0 && b.length == 2 && strcmp(b.kind, "SOI") == 0);
    }
    unmeta_block bad = UNMETA_BLOCK_INIT;
    CHECK_RC(unmeta_report_block(&bad, rep, nb), UNMETA_E_INVALID);
    CHECK_RC(unmeta_report_block(NULL, rep, 0), UNMETA_E_INVALID);
    CHECK_RC(unmeta_report_block(&bad, NULL, 0), UNMETA_E_INVALID);
    bad.struct_size = 2;
    CHECK_RC(unmeta_report_block(&bad, rep, 0), UNMETA_E_INVALID);

    unmeta_finding *all = calloc(nf ? nf : 1, sizeof(*all));
    for (uint32_t i = 0; all && i < nf; i++) {
        all[i].struct_size = sizeof(unmeta_finding);
        CHECK_RC(unmeta_report_finding(&all[i], rep, i), UNMETA_OK);
        CHECK(all[i].name && *all[i].name && all[i].value);
        CHECK(all[i].block < nb);
        CHECK(all[i].category >= UNMETA_CAT_LOCATION && all[i].category <= UNMETA_CAT_OTHER);
    }
    const unmeta_finding *gps = all ? find(all, nf, "GPSPosition") : NULL;
    CHECK(gps != NULL);
    if (gps) {
        CHECK(gps->category == UNMETA_CAT_LOCATION);
        CHECK(strcmp(gps->value, "48.858300, 2.294500") == 0);
        unmeta_block b = UNMETA_BLOCK_INIT;
        CHECK_RC(unmeta_report_block(&b, rep, gps->block), UNMETA_OK);
        CHECK(strcmp(b.kind, "APP1 Exif") == 0 && b.action == UNMETA_ACTION_REWRITE);
    }
    const unmeta_finding *make = all ? find(all, nf, "Make") : NULL;
    CHECK(make != NULL && make->category == UNMETA_CAT_DEVICE && strcmp(make->value, canary) == 0);
    free(all);
    unmeta_finding fbad = UNMETA_FINDING_INIT;
    CHECK_RC(unmeta_report_finding(&fbad, rep, nf), UNMETA_E_INVALID);

    /* struct_size: the library writes only as many bytes as the caller has. */
    {
        union {
            unmeta_block b;
            unsigned char raw[sizeof(unmeta_block) + 32];
        } u;
        const size_t cut = offsetof(unmeta_block, kind);
        memset(u.raw, 0xA5, sizeof(u.raw));
        u.b.struct_size = (uint32_t)cut;
        CHECK_RC(unmeta_report_block(&u.b, rep, 0), UNMETA_OK);
        CHECK(u.b.struct_size == cut);
        CHECK(u.b.action == UNMETA_ACTION_KEEP);
        int untouched = 1;
        for (size_t i = cut; i < sizeof(u.raw); i++)
            untouched &= u.raw[i] == 0xA5;
        CHECK(untouched);

        /* A newer caller's larger struct: only what this library knows. */
        memset(u.raw, 0xA5, sizeof(u.raw));
        u.b.struct_size = (uint32_t)sizeof(u.raw);
        CHECK_RC(unmeta_report_block(&u.b, rep, 0), UNMETA_OK);
        CHECK(u.b.struct_size == sizeof(unmeta_block));
        CHECK(u.b.kind && strcmp(u.b.kind, "SOI") == 0);
        untouched = 1;
        for (size_t i = sizeof(unmeta_block); i < sizeof(u.raw); i++)
            untouched &= u.raw[i] == 0xA5;
        CHECK(untouched);
    }
    {
        union {
            unmeta_finding f;
            unsigned char raw[sizeof(unmeta_finding) + 32];
        } u;
        const size_t cut = offsetof(unmeta_finding, value);
        memset(u.raw, 0x5A, sizeof(u.raw));
        u.f.struct_size = (uint32_t)cut;
        CHECK_RC(unmeta_report_finding(&u.f, rep, 0), UNMETA_OK);
        CHECK(u.f.struct_size == cut && u.f.name != NULL);
        int untouched = 1;
        for (size_t i = cut; i < sizeof(u.raw); i++)
            untouched &= u.raw[i] == 0x5A;
        CHECK(untouched);
    }

    /* Notes. */
    for (uint32_t i = 0; i < unmeta_report_note_count(rep); i++)
        CHECK(unmeta_report_note(rep, i) != NULL);
    CHECK(unmeta_report_note(rep, unmeta_report_note_count(rep)) == NULL);

    /* JSON. */
    char *json = NULL;
    CHECK_RC(unmeta_report_json(&json, rep), UNMETA_OK);
    CHECK(json != NULL);
    if (json) {
        size_t jl = strlen(json);
        CHECK(strncmp(json, "{\"format\":\"jpeg\",\"dirty\":true,\"blocks\":[", 40) == 0);
        CHECK(jl > 0 && json[jl - 1] == '}');
        CHECK(strstr(json, "\"name\":\"GPSPosition\",\"value\":\"48.858300, 2.294500\"") != NULL);
        CHECK(strstr(json, "\"category\":\"location\"") != NULL);
        CHECK(strstr(json, "\"notes\":[") != NULL);
    }
    unmeta_free(json);
    unmeta_free(NULL);
    CHECK_RC(unmeta_report_json(NULL, rep), UNMETA_E_INVALID);
    json = (char *)1;
    CHECK_RC(unmeta_report_json(&json, NULL), UNMETA_E_INVALID);

    /* strip's report describes the same blocks as inspect's. */
    CHECK_RC(unmeta_sink_new_memory(&dst), UNMETA_OK);
    CHECK_RC(unmeta_strip(&rep2, ctx, src, dst), UNMETA_OK);
    CHECK(rep2 && unmeta_report_block_count(rep2) == nb && unmeta_report_finding_count(rep2) == nf);
    unmeta_report_free(rep2);
    unmeta_sink_free(dst);
    unmeta_report_free(rep);

    /* Accessors on NULL are harmless. */
    CHECK(strcmp(unmeta_report_format(NULL), "") == 0);
    CHECK(unmeta_report_block_count(NULL) == 0 && unmeta_report_finding_count(NULL) == 0);
    CHECK(unmeta_report_note_count(NULL) == 0 && unmeta_report_dirty(NULL) == 0);
    CHECK(unmeta_report_note(NULL, 0) == NULL);
    unmeta_report_free(NULL);

    /* check */
    int32_t dirty = -1;
    CHECK_RC(unmeta_check(&dirty, ctx, src), UNMETA_OK);
    CHECK(dirty == 1);
    CHECK_RC(unmeta_check(NULL, ctx, src), UNMETA_E_INVALID);
    CHECK_RC(unmeta_inspect(NULL, ctx, src), UNMETA_E_INVALID);
    unmeta_source_free(src);
}

static void test_error_paths(unmeta_ctx *ctx)
{
    unmeta_source *src = NULL;
    unmeta_sink *dst = NULL;
    unmeta_report *rep = (unmeta_report *)&rep;
    static const char text[] = "this is plain text, not a picture of anything\n";

    /* NULL and bad arguments. */
    CHECK_RC(unmeta_source_new_path(NULL, "x"), UNMETA_E_INVALID);
    CHECK_RC(unmeta_source_new_path(&src, NULL), UNMETA_E_INVALID);
    CHECK_RC(unmeta_source_new_fd(&src, -1), UNMETA_E_INVALID);
    CHECK_RC(unmeta_source_new_memory(&src, NULL, 5), UNMETA_E_INVALID);
    CHECK_RC(unmeta_source_new_memory(NULL, text, 5), UNMETA_E_INVALID);
    CHECK_RC(unmeta_source_new_callbacks(&src, NULL, NULL), UNMETA_E_INVALID);
    unmeta_io_callbacks cb = UNMETA_IO_CALLBACKS_INIT;
    CHECK_RC(unmeta_source_new_callbacks(&src, &cb, NULL), UNMETA_E_INVALID); /* no read */
    CHECK_RC(unmeta_sink_new_callbacks(&dst, &cb, NULL), UNMETA_E_INVALID);   /* no write */
    cb.read = mf_read;
    cb.write = mf_write;
    cb.struct_size = 0;
    CHECK_RC(unmeta_source_new_callbacks(&src, &cb, NULL), UNMETA_E_INVALID);
    CHECK_RC(unmeta_sink_new_callbacks(&dst, &cb, NULL), UNMETA_E_INVALID);
    /* A struct_size that ends inside a function pointer (a binding that
     * adds up field sizes and forgets the padding) holds no whole pointer. */
    cb = (unmeta_io_callbacks)UNMETA_IO_CALLBACKS_INIT;
    cb.read = mf_read;
    cb.write = mf_write;
    cb.struct_size = (uint32_t)offsetof(unmeta_io_callbacks, read) + 4;
    CHECK_RC(unmeta_source_new_callbacks(&src, &cb, NULL), UNMETA_E_INVALID);
    cb.struct_size = (uint32_t)(sizeof(uint32_t) + sizeof(void *));
    if (cb.struct_size < offsetof(unmeta_io_callbacks, read) + sizeof(void *))
        CHECK_RC(unmeta_source_new_callbacks(&src, &cb, NULL), UNMETA_E_INVALID);
    cb.struct_size = (uint32_t)offsetof(unmeta_io_callbacks, write) + 4;
    CHECK_RC(unmeta_sink_new_callbacks(&dst, &cb, NULL), UNMETA_E_INVALID);
    cb.struct_size = (uint32_t)(sizeof(uint32_t) + 2 * sizeof(void *));
    if (cb.struct_size < offsetof(unmeta_io_callbacks, write) + sizeof(void *))
        CHECK_RC(unmeta_sink_new_callbacks(&dst, &cb, NULL), UNMETA_E_INVALID);
    CHECK_RC(unmeta_sink_new_path(&dst, NULL, -1), UNMETA_E_INVALID);
    CHECK_RC(unmeta_sink_new_path(&dst, "", -1), UNMETA_E_INVALID);
    CHECK_RC(unmeta_sink_new_path(&dst, tmp_path("x"), 070000), UNMETA_E_INVALID);
    CHECK_RC(unmeta_sink_new_path(&dst, tmp_path("x"), -2), UNMETA_E_INVALID);
    CHECK_RC(unmeta_sink_new_path(NULL, tmp_path("x"), -1), UNMETA_E_INVALID);
    CHECK_RC(unmeta_sink_new_fd(&dst, -1), UNMETA_E_INVALID);
    CHECK_RC(unmeta_sink_new_memory(NULL), UNMETA_E_INVALID);
    CHECK_RC(unmeta_source_new_path(&src, tmp_path("does-not-exist.jpg")), UNMETA_E_IO);
    CHECK(src == NULL);
    CHECK_RC(unmeta_source_new_path(&src, tmpdir), UNMETA_E_IO); /* a folder */
    CHECK(src == NULL);
    unmeta_source_free(NULL);
    unmeta_sink_free(NULL);

    CHECK_RC(unmeta_source_new_memory(&src, tiny_jpeg, sizeof(tiny_jpeg)), UNMETA_OK);
    CHECK_RC(unmeta_sink_new_memory(&dst), UNMETA_OK);
    CHECK_RC(unmeta_strip(NULL, NULL, src, dst), UNMETA_E_INVALID);
    CHECK_RC(unmeta_strip(NULL, ctx, NULL, dst), UNMETA_E_INVALID);
    CHECK_RC(unmeta_strip(NULL, ctx, src, NULL), UNMETA_E_INVALID);
    CHECK_RC(unmeta_inspect(&rep, NULL, src), UNMETA_E_INVALID);
    CHECK(rep == NULL);
    int32_t dirty = 7;
    CHECK_RC(unmeta_check(&dirty, NULL, src), UNMETA_E_INVALID);
    CHECK_RC(unmeta_strip_path(NULL, "a", "b"), UNMETA_E_INVALID);
    CHECK_RC(unmeta_strip_path(ctx, NULL, "b"), UNMETA_E_INVALID);
    CHECK_RC(unmeta_strip_path(ctx, "a", NULL), UNMETA_E_INVALID);
    void *mem = NULL;
    uint64_t mlen = 0;
    CHECK_RC(unmeta_strip_memory(NULL, &mlen, ctx, tiny_jpeg, sizeof(tiny_jpeg)), UNMETA_E_INVALID);
    CHECK_RC(unmeta_strip_memory(&mem, NULL, ctx, tiny_jpeg, sizeof(tiny_jpeg)), UNMETA_E_INVALID);
    CHECK_RC(unmeta_strip_memory(&mem, &mlen, NULL, tiny_jpeg, sizeof(tiny_jpeg)), UNMETA_E_INVALID);
    CHECK_RC(unmeta_strip_memory(&mem, &mlen, ctx, NULL, 10), UNMETA_E_INVALID);
    /* The sink was not spent by the refused calls. */
    CHECK_RC(unmeta_strip(NULL, ctx, src, dst), UNMETA_OK);
    unmeta_sink_free(dst);
    unmeta_source_free(src);
    dst = NULL;
    src = NULL;

    /* Unsupported input: a clear code and message, no report, no output. */
    CHECK_RC(unmeta_source_new_memory(&src, text, sizeof(text) - 1), UNMETA_OK);
    rep = (unmeta_report *)&rep;
    CHECK_RC(unmeta_inspect(&rep, ctx, src), UNMETA_E_UNSUPPORTED);
    CHECK(rep == NULL);
    CHECK(*unmeta_ctx_last_error(ctx) != '\0');
    CHECK(strstr(unmeta_ctx_last_error(ctx), "not a format") != NULL);
    CHECK_RC(unmeta_check(&dirty, ctx, src), UNMETA_E_UNSUPPORTED);
    const char *out = tmp_path("unsupported.jpg");
    CHECK_RC(unmeta_sink_new_path(&dst, out, -1), UNMETA_OK);
    CHECK_RC(unmeta_strip(NULL, ctx, src, dst), UNMETA_E_UNSUPPORTED);
    unmeta_sink_free(dst);
    unmeta_source_free(src);
    CHECK(access(out, F_OK) != 0);
    CHECK_RC(unmeta_strip_memory(&mem, &mlen, ctx, text, sizeof(text) - 1), UNMETA_E_UNSUPPORTED);
    CHECK(mem == NULL && mlen == 0);

    /* An empty input. */
    CHECK_RC(unmeta_source_new_memory(&src, NULL, 0), UNMETA_OK);
    CHECK_RC(unmeta_check(&dirty, ctx, src), UNMETA_E_UNSUPPORTED);
    CHECK(strstr(unmeta_ctx_last_error(ctx), "empty") != NULL);
    unmeta_source_free(src);

    /* The message is cleared by the next success. */
    CHECK_RC(unmeta_strip_memory(&mem, &mlen, ctx, tiny_jpeg, sizeof(tiny_jpeg)), UNMETA_OK);
    CHECK(*unmeta_ctx_last_error(ctx) == '\0');
    unmeta_free(mem);
    mem = NULL;

    /* A truncated JPEG: TRUNCATED; a path sink leaves nothing, and an
     * existing file at the path stays as it was. */
    out = tmp_path("existing.jpg");
    CHECK(spit(out, "keep me", 7) == 0);
    CHECK_RC(unmeta_source_new_memory(&src, tiny_jpeg, sizeof(tiny_jpeg) - 40), UNMETA_OK);
    CHECK_RC(unmeta_sink_new_path(&dst, out, -1), UNMETA_OK);
    CHECK_RC(unmeta_strip(NULL, ctx, src, dst), UNMETA_E_TRUNCATED);
    CHECK(strstr(unmeta_ctx_last_error(ctx), "JPEG") != NULL);
    unmeta_sink_free(dst);
    unmeta_source_free(src);
    size_t n = 0;
    unsigned char *file = slurp(out, &n);
    CHECK(file && same(file, n, "keep me", 7));
    free(file);

    /* A memory sink holds nothing after a failure. */
    const void *data = NULL;
    uint64_t len = 1;
    CHECK_RC(unmeta_source_new_memory(&src, tiny_jpeg, sizeof(tiny_jpeg) - 40), UNMETA_OK);
    CHECK_RC(unmeta_sink_new_memory(&dst), UNMETA_OK);
    CHECK_RC(unmeta_strip(NULL, ctx, src, dst), UNMETA_E_TRUNCATED);
    CHECK(unmeta_sink_memory(&data, &len, dst) != UNMETA_OK || len == 0);
    unmeta_sink_free(dst);
    unmeta_source_free(src);

    /* Failing callbacks. */
    {
        memfile mi = { tiny_jpeg, sizeof(tiny_jpeg), 0, 0, 1, NULL, 0, 0, 0, 0 };
        memfile mo = { NULL, 0, 0, 0, 0, NULL, 0, 0, 1, 0 };
        unmeta_io_callbacks icb = UNMETA_IO_CALLBACKS_INIT, ocb = UNMETA_IO_CALLBACKS_INIT;
        icb.read = mf_read;
        ocb.write = mf_write;
        CHECK_RC(unmeta_source_new_callbacks(&src, &icb, &mi), UNMETA_OK);
        CHECK_RC(unmeta_sink_new_memory(&dst), UNMETA_OK);
        CHECK_RC(unmeta_strip(NULL, ctx, src, dst), UNMETA_E_IO);
        unmeta_sink_free(dst);
        unmeta_source_free(src);
        mi.fail_read = 0;
        CHECK_RC(unmeta_source_new_memory(&src, tiny_jpeg, sizeof(tiny_jpeg)), UNMETA_OK);
        CHECK_RC(unmeta_sink_new_callbacks(&dst, &ocb, &mo), UNMETA_OK);
        CHECK_RC(unmeta_strip(NULL, ctx, src, dst), UNMETA_E_IO);
        CHECK(*unmeta_ctx_last_error(ctx) != '\0');
        unmeta_sink_free(dst);
        unmeta_source_free(src);
    }

    /* A path sink in a folder that does not exist. */
    CHECK_RC(unmeta_source_new_memory(&src, tiny_jpeg, sizeof(tiny_jpeg)), UNMETA_OK);
    CHECK_RC(unmeta_sink_new_path(&dst, tmp_path("no/such/folder/x.jpg"), -1), UNMETA_OK);
    CHECK_RC(unmeta_strip(NULL, ctx, src, dst), UNMETA_E_IO);
    unmeta_sink_free(dst);
    unmeta_source_free(src);

    /* Limits. */
    unmeta_ctx *lim = NULL;
    CHECK_RC(unmeta_ctx_new(&lim), UNMETA_OK);
    CHECK_RC(unmeta_ctx_set_option(lim, UNMETA_OPT_MAX_ITEMS, 3), UNMETA_OK);
    CHECK_RC(unmeta_strip_memory(&mem, &mlen, lim, tiny_jpeg, sizeof(tiny_jpeg)), UNMETA_E_LIMIT);
    CHECK(strstr(unmeta_ctx_last_error(lim), "MAX_ITEMS") != NULL);
    unmeta_ctx_free(lim);

    CHECK(count_files("unmeta-tmp") == 0);
}

static int cancel_calls, cancel_at;

static int32_t cancel_cb(void *user)
{
    (void)user;
    return ++cancel_calls >= cancel_at;
}

static void test_cancel(unmeta_ctx *ctx)
{
    unmeta_source *src = NULL;
    unmeta_sink *dst = NULL;
    const char *out = tmp_path("canceled.jpg");
    int user = 0;
    CHECK_RC(unmeta_ctx_set_cancel(ctx, cancel_cb, &user), UNMETA_OK);
    CHECK_RC(unmeta_source_new_memory(&src, tiny_jpeg, sizeof(tiny_jpeg)), UNMETA_OK);

    /* Cancel at the first poll, then at each later one, until the strip
     * finishes before it is asked: every canceled run leaves no file. */
    int canceled = 0, finished = 0;
    for (cancel_at = 1; cancel_at < 1000 && !finished; cancel_at++) {
        cancel_calls = 0;
        CHECK_RC(unmeta_sink_new_path(&dst, out, -1), UNMETA_OK);
        int32_t rc = unmeta_strip(NULL, ctx, src, dst);
        unmeta_sink_free(dst);
        if (rc == UNMETA_E_CANCELED) {
            canceled++;
            CHECK(access(out, F_OK) != 0);
            CHECK(strstr(unmeta_ctx_last_error(ctx), "cancel") != NULL);
        } else {
            CHECK_RC(rc, UNMETA_OK);
            finished = 1;
        }
    }
    CHECK(canceled >= 2); /* polled while parsing and while writing */
    CHECK(finished);
    CHECK(count_files("unmeta-tmp") == 0);
    size_t n = 0;
    unsigned char *file = slurp(out, &n);
    if (file)
        check_output("after cancellations", file, n);
    free(file);

    /* The same through a descriptor: a canceled run leaves the file as
     * it was (empty), never a partial image. */
    finished = 0;
    for (cancel_at = 1; cancel_at < 1000 && !finished; cancel_at++) {
        cancel_calls = 0;
        int fd = open(tmp_path("canceled-fd.jpg"), O_RDWR | O_CREAT | O_TRUNC, 0600);
        CHECK(fd >= 0);
        CHECK_RC(unmeta_sink_new_fd(&dst, fd), UNMETA_OK);
        int32_t rc = unmeta_strip(NULL, ctx, src, dst);
        unmeta_sink_free(dst);
        struct stat st;
        CHECK(fstat(fd, &st) == 0);
        if (rc == UNMETA_E_CANCELED) {
            CHECK(st.st_size == 0);
        } else {
            CHECK_RC(rc, UNMETA_OK);
            CHECK(st.st_size == (off_t)ref_len);
            finished = 1;
        }
        close(fd);
    }
    CHECK(finished);

    cancel_at = 1;
    int32_t dirty = -1;
    CHECK_RC(unmeta_check(&dirty, ctx, src), UNMETA_E_CANCELED);
    CHECK_RC(unmeta_ctx_set_cancel(ctx, NULL, NULL), UNMETA_OK);
    CHECK_RC(unmeta_check(&dirty, ctx, src), UNMETA_OK);
    CHECK(dirty == 1);
    unmeta_source_free(src);
}

/* ---- progress and the spool of non-seekable inputs ------------------------------ */

typedef struct prog {
    int calls, spool_calls;
    uint64_t last_done, last_total;
    int backwards;         /* done went down while total was known, or past total */
    int cancel_after;      /* return non-zero at this call (0: never) */
    const char *look_for;  /* a folder: count calls that see an open file in it */
    int saw_file;
} prog;

/* True when this process holds a descriptor on a file in folder dir
 * (an unnamed temporary file reads "DIR/#123 (deleted)"). */
static int fd_in_dir(const char *dir)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int found = 0;
    size_t n = strlen(dir);
    while (d && (e = readdir(d)) != NULL) {
        char link[600], target[600];
        snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
        ssize_t k = readlink(link, target, sizeof(target) - 1);
        if (k <= 0)
            continue;
        target[k] = '\0';
        if (strncmp(target, dir, n) == 0 && target[n] == '/')
            found = 1;
    }
    if (d)
        closedir(d);
    return found;
}

static int32_t prog_cb(uint64_t done, uint64_t total, void *user)
{
    prog *p = user;
    p->calls++;
    if (total == 0) {
        p->spool_calls++;
        if (p->look_for && fd_in_dir(p->look_for))
            p->saw_file = 1;
    } else if (done > total || (p->last_total && done < p->last_done)) {
        p->backwards = 1;
    }
    p->last_done = done;
    p->last_total = total;
    return p->cancel_after && p->calls >= p->cancel_after;
}

/* tiny_jpeg with n more bytes of entropy-coded data before its EOI (no
 * 0xFF among them): not a picture a decoder would accept, but unmeta
 * scans without decoding them, so the strip reads them all and copies them
 * all, which is what progress is about. */
static unsigned char *with_long_scan(size_t n, size_t *len)
{
    size_t head = sizeof(tiny_jpeg) - 2; /* up to the EOI */
    unsigned char *p = malloc(sizeof(tiny_jpeg) + n);
    if (!p)
        return NULL;
    memcpy(p, tiny_jpeg, head);
    for (size_t i = 0; i < n; i++)
        p[head + i] = (unsigned char)(i % 251);
    p[head + n] = 0xFF;
    p[head + n + 1] = 0xD9;
    *len = sizeof(tiny_jpeg) + n;
    return p;
}

/* tiny_jpeg followed by n bytes after its EOI: a trailer strip removes. */
static unsigned char *with_trailer(size_t n, size_t *len)
{
    unsigned char *p = malloc(sizeof(tiny_jpeg) + n);
    if (!p)
        return NULL;
    memcpy(p, tiny_jpeg, sizeof(tiny_jpeg));
    for (size_t i = 0; i < n; i++)
        p[sizeof(tiny_jpeg) + i] = (unsigned char)(i * 7 + 1);
    *len = sizeof(tiny_jpeg) + n;
    return p;
}

static void test_progress(void)
{
    unmeta_ctx *ctx = NULL;
    unmeta_source *src = NULL;
    unmeta_sink *dst = NULL;
    size_t len = 0;
    unsigned char *big = with_long_scan(12u << 20, &len);
    const char *in = tmp_path("progress-in.jpg"), *out = tmp_path("progress-out.jpg");
    CHECK(big && tiny_jpeg[sizeof(tiny_jpeg) - 2] == 0xFF && tiny_jpeg[sizeof(tiny_jpeg) - 1] == 0xD9);
    CHECK(big && spit(in, big, len) == 0);
    CHECK_RC(unmeta_ctx_new(&ctx), UNMETA_OK);

    /* A file: several calls, done never backwards, the last one at the end. */
    prog p = { 0 };
    CHECK_RC(unmeta_ctx_set_progress(ctx, prog_cb, &p), UNMETA_OK);
    CHECK_RC(unmeta_source_new_path(&src, in), UNMETA_OK);
    CHECK_RC(unmeta_sink_new_path(&dst, out, -1), UNMETA_OK);
    CHECK_RC(unmeta_strip(NULL, ctx, src, dst), UNMETA_OK);
    unmeta_sink_free(dst);
    CHECK(p.calls >= 8 && p.calls <= 100);          /* about every MiB */
    CHECK(!p.backwards && p.spool_calls == 0);
    CHECK(p.last_done == len && p.last_total == len);
    size_t n = 0;
    unsigned char *got = slurp(out, &n);
    CHECK(got && n == ref_len + (12u << 20) && !contains(got, n, canary));
    free(got);

    /* inspect reports too, and returning non-zero cancels: no output. */
    unmeta_report *rep = NULL;
    p = (prog){ 0 };
    CHECK_RC(unmeta_inspect(&rep, ctx, src), UNMETA_OK);
    unmeta_report_free(rep);
    CHECK(p.calls >= 1 && p.last_done == len && !p.backwards);
    p = (prog){ 0 };
    p.cancel_after = 2;
    unlink(out);
    CHECK_RC(unmeta_sink_new_path(&dst, out, -1), UNMETA_OK);
    CHECK_RC(unmeta_strip(NULL, ctx, src, dst), UNMETA_E_CANCELED);
    unmeta_sink_free(dst);
    CHECK(access(out, F_OK) != 0 && count_files("unmeta-tmp") == 0);
    unmeta_source_free(src);

    /* Memory in and out: the same calls. */
    p = (prog){ 0 };
    void *mem = NULL;
    uint64_t mlen = 0;
    CHECK_RC(unmeta_strip_memory(&mem, &mlen, ctx, big, len), UNMETA_OK);
    CHECK(mem && mlen == ref_len + (12u << 20));
    CHECK(p.calls >= 4 && !p.backwards && p.last_done == len);
    unmeta_free(mem);
    CHECK_RC(unmeta_ctx_set_progress(ctx, NULL, NULL), UNMETA_OK);
    unmeta_ctx_free(ctx);
    free(big);
}

/* Counts what a callback source hands over. */
typedef struct counted {
    memfile m;
    uint64_t bytes;
} counted;

static int64_t counted_read(void *buf, uint64_t size, void *user)
{
    counted *c = user;
    int64_t k = mf_read(buf, size, &c->m);
    if (k > 0)
        c->bytes += (uint64_t)k;
    return k;
}

/* An input up to 8 MiB is held as it is read: a JPEG's entropy-coded data,
 * scanned for its end and then copied, is read from the source once. A
 * larger one is still stripped, through the sliding window. */
static void test_read_once(void)
{
    unmeta_ctx *ctx = NULL;
    CHECK_RC(unmeta_ctx_new(&ctx), UNMETA_OK);
    const size_t sizes[] = { 0, 5u << 20, (8u << 20) - 1024, 9u << 20, 20u << 20 };
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t len = 0;
        unsigned char *in = with_long_scan(sizes[i], &len);
        CHECK(in != NULL);
        if (!in)
            break;
        counted c = { { in, len, 0, 0, 0, NULL, 0, 0, 0, 0 }, 0 };
        memfile mo = { NULL, 0, 0, 0, 0, NULL, 0, 0, 0, 0 };
        unmeta_io_callbacks icb = UNMETA_IO_CALLBACKS_INIT, ocb = UNMETA_IO_CALLBACKS_INIT;
        unmeta_source *src = NULL;
        unmeta_sink *dst = NULL;
        icb.read = counted_read;
        icb.seek = mf_seek;
        ocb.write = mf_write;
        CHECK_RC(unmeta_source_new_callbacks(&src, &icb, &c), UNMETA_OK);
        CHECK_RC(unmeta_sink_new_callbacks(&dst, &ocb, &mo), UNMETA_OK);
        CHECK_RC(unmeta_strip(NULL, ctx, src, dst), UNMETA_OK);
        CHECK(mo.out_len == ref_len + sizes[i] && !contains(mo.out, mo.out_len, canary));
        if (len <= (8u << 20)) {
            CHECK(c.bytes == len);
            if (c.bytes != len)
                fprintf(stderr, "  %zu-byte input: %llu bytes read\n", len, (unsigned long long)c.bytes);
        } else {
            CHECK(c.bytes > len); /* scanned, then copied: the window slid twice */
        }
        unmeta_sink_free(dst);
        unmeta_source_free(src);
        free(mo.out);
        free(in);
    }
    unmeta_ctx_free(ctx);
}

static void test_spool(void)
{
    unmeta_ctx *ctx = NULL;
    unmeta_source *src = NULL;
    unmeta_sink *dst = NULL;
    size_t len = 0;
    unsigned char *big = with_trailer(6u << 20, &len);
    const char *spool_dir = tmp_path("spool");
    char *old_tmpdir = getenv("TMPDIR") ? strdup(getenv("TMPDIR")) : NULL;
    CHECK(big != NULL && mkdir(spool_dir, 0700) == 0);
    setenv("TMPDIR", spool_dir, 1);
    CHECK_RC(unmeta_ctx_new(&ctx), UNMETA_OK);
    CHECK_RC(unmeta_ctx_set_option(ctx, UNMETA_OPT_SPOOL_LIMIT, 1 << 20), UNMETA_OK);
    unmeta_io_callbacks cb = UNMETA_IO_CALLBACKS_INIT;
    cb.read = mf_read; /* no seek: spooled */

    /* Beyond the memory part: an unnamed file in $TMPDIR, gone with the source. */
    memfile m = { big, len, 0, 100000, 0, NULL, 0, 0, 0, 0 };
    prog p = { 0 };
    p.look_for = spool_dir;
    CHECK_RC(unmeta_ctx_set_progress(ctx, prog_cb, &p), UNMETA_OK);
    CHECK_RC(unmeta_source_new_callbacks(&src, &cb, &m), UNMETA_OK);
    void *data = NULL;
    const void *outp = NULL;
    uint64_t olen = 0;
    CHECK_RC(unmeta_sink_new_memory(&dst), UNMETA_OK);
    CHECK_RC(unmeta_strip(NULL, ctx, src, dst), UNMETA_OK);
    CHECK_RC(unmeta_sink_memory(&outp, &olen, dst), UNMETA_OK);
    CHECK(outp && same(outp, (size_t)olen, ref, (size_t)ref_len));
    unmeta_sink_free(dst);
    CHECK(p.spool_calls >= 3 && p.saw_file);        /* spooled to $TMPDIR, with progress */
    CHECK(p.last_done == len && p.last_total == len && !p.backwards);
    CHECK(count_files("spool") == 1);               /* nothing named in it... */
    DIR *d = opendir(spool_dir);
    int names = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        names += e->d_name[0] != '.';
    if (d)
        closedir(d);
    CHECK(names == 0);
    unmeta_source_free(src);
    CHECK(!fd_in_dir(spool_dir));                   /* ...and nothing held once freed */

    /* Longer than UNMETA_OPT_MAX_SPOOL: refused, the spool released at once,
     * and the half-read stream is not offered again as if it were whole. */
    CHECK_RC(unmeta_ctx_set_option(ctx, UNMETA_OPT_MAX_SPOOL, 3 << 20), UNMETA_OK);
    m.pos = 0;
    CHECK_RC(unmeta_source_new_callbacks(&src, &cb, &m), UNMETA_OK);
    CHECK_RC(unmeta_sink_new_memory(&dst), UNMETA_OK);
    CHECK_RC(unmeta_strip(NULL, ctx, src, dst), UNMETA_E_LIMIT);
    CHECK(strstr(unmeta_ctx_last_error(ctx), "UNMETA_OPT_MAX_SPOOL") != NULL);
    CHECK(!fd_in_dir(spool_dir));
    unmeta_sink_free(dst);
    CHECK_RC(unmeta_ctx_set_option(ctx, UNMETA_OPT_MAX_SPOOL, 1ll << 32), UNMETA_OK);
    int32_t dirty = -1;
    CHECK_RC(unmeta_check(&dirty, ctx, src), UNMETA_E_STATE);
    unmeta_source_free(src);

    /* A spool limit of 0 with a small input: memory only is not needed,
     * everything goes to the file; the result is the same. */
    CHECK_RC(unmeta_ctx_set_option(ctx, UNMETA_OPT_SPOOL_LIMIT, 0), UNMETA_OK);
    m.pos = 0;
    CHECK_RC(unmeta_source_new_callbacks(&src, &cb, &m), UNMETA_OK);
    CHECK_RC(unmeta_strip_memory(&data, &olen, ctx, big, len), UNMETA_OK); /* memory: never spooled */
    unmeta_free(data);
    CHECK_RC(unmeta_sink_new_memory(&dst), UNMETA_OK);
    CHECK_RC(unmeta_strip(NULL, ctx, src, dst), UNMETA_OK);
    CHECK_RC(unmeta_sink_memory(&outp, &olen, dst), UNMETA_OK);
    CHECK(outp && same(outp, (size_t)olen, ref, (size_t)ref_len));
    unmeta_sink_free(dst);
    unmeta_source_free(src);

    if (old_tmpdir)
        setenv("TMPDIR", old_tmpdir, 1);
    else
        unsetenv("TMPDIR");
    free(old_tmpdir);
    rmdir(spool_dir);
    unmeta_ctx_free(ctx);
    free(big);
}

static void test_options_take_effect(void)
{
    unmeta_ctx *ctx = NULL;
    void *out = NULL;
    uint64_t n = 0;
    CHECK_RC(unmeta_ctx_new(&ctx), UNMETA_OK);
    /* 24x16 with 4:2:0 sampling: a 90-degree rotation is a perfect
     * transform, so the pixels turn and no EXIF is left. */
    CHECK_RC(unmeta_ctx_set_option(ctx, UNMETA_OPT_APPLY_ORIENTATION, 1), UNMETA_OK);
    CHECK_RC(unmeta_strip_memory(&out, &n, ctx, tiny_jpeg, sizeof(tiny_jpeg)), UNMETA_OK);
    CHECK(out && !contains(out, (size_t)n, "Exif") && !contains(out, (size_t)n, canary));
    CHECK(out && !same(out, (size_t)n, ref, (size_t)ref_len));
    unmeta_free(out);
    unmeta_ctx_free(ctx);
}

int main(void)
{
    unmeta_ctx *ctx = NULL;
    snprintf(tmpdir, sizeof(tmpdir), "%s", "/tmp/unmeta-api-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_versions_and_errors();
    test_context_and_options();
    if (unmeta_ctx_new(&ctx) != 0) {
        fprintf(stderr, "cannot make a context\n");
        return 1;
    }
    test_strip_every_io(ctx);
    test_reports(ctx);
    test_error_paths(ctx);
    test_cancel(ctx);
    test_progress();
    test_read_once();
    test_spool();
    test_options_take_effect();
    unmeta_ctx_free(ctx);
    unmeta_free(ref);

    /* Clean the scratch folder. */
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        unlink(tmp_path(e->d_name));
    }
    if (d)
        closedir(d);
    rmdir(tmpdir);

    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
