/*
 * envelope_test.c - known-answer and tamper tests for lib/envelope.c:
 * HKDF-SHA-256 against RFC 5869 (test cases 1-3), PADMÉ, the INFO block
 * byte by byte, strict base64 and bech32, then sealing and opening in
 * memory: expiry at the boundary, every single-byte flip of the header and
 * of the first and last chunks, truncation at every chunk boundary, wrong
 * keys and passphrases, and unknown critical flags, each with its own error.
 */
#define _GNU_SOURCE /* memmem */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unmeta.h"
#include "envelope/envelope.h"

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

static size_t unhex(uint8_t *out, const char *hex)
{
    size_t n = 0;
    for (; hex[0] && hex[1]; hex += 2) {
        unsigned v;
        sscanf(hex, "%2x", &v);
        out[n++] = (uint8_t)v;
    }
    return n;
}

/* ---- RFC 5869 appendix A.1-A.3 ---------------------------------------- */

static void test_hkdf(void)
{
    uint8_t ikm[80], salt[80], info[80], okm[82], want[82];
    size_t n;

    memset(ikm, 0x0b, 22);
    for (int i = 0; i < 13; i++) salt[i] = (uint8_t)i;
    for (int i = 0; i < 10; i++) info[i] = (uint8_t)(0xf0 + i);
    n = unhex(want, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
    CHECK(um_env_hkdf_sha256(okm, 42, salt, 13, ikm, 22, info, 10) == 0 && memcmp(okm, want, n) == 0, "A.1");

    for (int i = 0; i < 80; i++) {
        ikm[i] = (uint8_t)i;
        salt[i] = (uint8_t)(0x60 + i);
        info[i] = (uint8_t)(0xb0 + i);
    }
    n = unhex(want, "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c6"
                    "5e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87");
    CHECK(n == 82 && um_env_hkdf_sha256(okm, 82, salt, 80, ikm, 80, info, 80) == 0 && memcmp(okm, want, 82) == 0,
          "A.2");

    memset(ikm, 0x0b, 22);
    n = unhex(want, "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
    CHECK(um_env_hkdf_sha256(okm, 42, NULL, 0, ikm, 22, NULL, 0) == 0 && memcmp(okm, want, n) == 0, "A.3");
    CHECK(um_env_hkdf_sha256(okm, 255 * 32 + 1, NULL, 0, ikm, 22, NULL, 0) == UNMETA_E_INVALID, "L > 255*HashLen");
}

/* ---- PADMÉ -------------------------------------------------------------- */

static void test_padme(void)
{
    static const struct { uint64_t in, out; } t[] = {
        { 0, 0 },       { 1, 1 },         { 2, 2 },          { 3, 3 },          { 9, 10 },
        { 96, 96 },     { 100, 104 },     { 1000, 1024 },    { 1024, 1024 },    { 1025, 1088 },
        { 65536, 65536 }, { 65537, 67584 }, { 100096, 100352 }, { 1000000, 1015808 },
        { UINT64_C(1) << 40, UINT64_C(1) << 40 }, { (UINT64_C(1) << 40) + 1, (UINT64_C(1) << 40) + (UINT64_C(1) << 34) },
        { UINT64_MAX, 0 },
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        CHECK(um_env_padme(t[i].in) == t[i].out, "padme(%llu) = %llu, want %llu", (unsigned long long)t[i].in,
              (unsigned long long)um_env_padme(t[i].in), (unsigned long long)t[i].out);
    /* at most 12 % overhead, never shorter, idempotent */
    for (uint64_t l = 2; l < 200000; l += 7) {
        uint64_t p = um_env_padme(l);
        CHECK(p >= l && (p - l) * 100 <= l * 12 && um_env_padme(p) == p, "padme(%llu) = %llu", (unsigned long long)l,
              (unsigned long long)p);
    }
}

/* ---- INFO ---------------------------------------------------------------- */

/* docs/envelope.md, "INFO vector 1". */
static const char info_vector1[] =
    "89756e6d6574610a" "0001" "0060" "00000001" "00000001"
    "0000000070000000" "0000000000000000" "00000000000003e8"
    "696d6167652f6a706567000000000000" "00000000000000000000000000000000"
    "0000000000000000000000000000000000000000";

static void test_info(void)
{
    uint8_t want[UM_ENV_INFO_SIZE], got[UM_ENV_INFO_SIZE], bad[UM_ENV_INFO_SIZE];
    char msg[200];
    um_env_info in, out;
    CHECK(unhex(want, info_vector1) == UM_ENV_INFO_SIZE, "vector length");
    memset(&in, 0, sizeof(in));
    in.crit = UM_ENV_CRIT_PADDED;
    in.flags = UM_ENV_FLAG_STRIPPED;
    in.not_after = 0x70000000;
    in.content_length = 1000;
    strcpy(in.content_type, "image/jpeg");
    um_env_info_encode(got, &in);
    CHECK(memcmp(got, want, UM_ENV_INFO_SIZE) == 0, "encode matches vector 1");
    CHECK(um_env_info_decode(&out, want, sizeof(want), msg, sizeof(msg)) == 0 && out.crit == 1 && out.flags == 1 &&
          out.not_after == 0x70000000 && out.created == 0 && out.content_length == 1000 &&
          strcmp(out.content_type, "image/jpeg") == 0, "decode vector 1: %s", msg);

    memcpy(bad, want, sizeof(bad));
    bad[15] |= 0x80; /* unknown critical flag */
    CHECK(um_env_info_decode(&out, bad, sizeof(bad), msg, sizeof(msg)) == UNMETA_E_UNSUPPORTED, "unknown critical");
    memcpy(bad, want, sizeof(bad));
    bad[19] |= 0x80; /* unknown ignorable flag: fine */
    CHECK(um_env_info_decode(&out, bad, sizeof(bad), msg, sizeof(msg)) == 0, "unknown ignorable: %s", msg);
    memcpy(bad, want, sizeof(bad));
    bad[95] = 1; /* reserved */
    CHECK(um_env_info_decode(&out, bad, sizeof(bad), msg, sizeof(msg)) == UNMETA_E_MALFORMED, "reserved byte");
    memcpy(bad, want, sizeof(bad));
    bad[9] = 2; /* version 2 */
    CHECK(um_env_info_decode(&out, bad, sizeof(bad), msg, sizeof(msg)) == UNMETA_E_UNSUPPORTED, "version 2");
    memcpy(bad, want, sizeof(bad));
    bad[11] = 0x50; /* length */
    CHECK(um_env_info_decode(&out, bad, sizeof(bad), msg, sizeof(msg)) == UNMETA_E_MALFORMED, "length");
    memcpy(bad, want, sizeof(bad));
    bad[60] = 'x'; /* text after the NUL of the type */
    CHECK(um_env_info_decode(&out, bad, sizeof(bad), msg, sizeof(msg)) == UNMETA_E_MALFORMED, "type padding");
    memcpy(bad, want, sizeof(bad));
    bad[46] = ' '; /* space in the type */
    CHECK(um_env_info_decode(&out, bad, sizeof(bad), msg, sizeof(msg)) == UNMETA_E_MALFORMED, "type character");
    memcpy(bad, want, sizeof(bad));
    bad[20] = 0x80; /* negative not_after */
    CHECK(um_env_info_decode(&out, bad, sizeof(bad), msg, sizeof(msg)) == UNMETA_E_MALFORMED, "negative time");
    CHECK(um_env_info_decode(&out, want, 95, msg, sizeof(msg)) == UNMETA_E_MALFORMED, "short");
}

/* ---- text encodings ----------------------------------------------------- */

static void test_text(void)
{
    uint8_t b[64];
    char s[128];
    CHECK(um_b64_decode(b, "YQ", 2) == 1 && b[0] == 'a', "YQ");
    CHECK(um_b64_decode(b, "YR", 2) == -1, "non-canonical YR");
    CHECK(um_b64_decode(b, "YQ==", 4) == -1, "padding refused");
    CHECK(um_b64_decode(b, "Y", 1) == -1, "one char");
    CHECK(um_b64_decode(b, "Y-Q", 3) == -1, "bad alphabet");
    CHECK(um_b64_encode(s, (const uint8_t *)"ab", 2) == 3 && memcmp(s, "YWI", 3) == 0, "encode ab");

    /* the CCTV identity and its recipient (age-keygen -y) */
    const char *id = "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0";
    char *r = NULL;
    CHECK(unmeta_identity_to_recipient(&r, id) == 0 && r &&
          strcmp(r, "age1xmwwc06ly3ee5rytxm9mflaz2u56jjj36s0mypdrwsvlul66mv4q47ryef") == 0, "recipient %s", r ? r : "-");
    unmeta_free(r);
    char hrp[32];
    size_t n;
    uint8_t key[32];
    CHECK(um_bech32_decode(hrp, sizeof(hrp), key, &n, 32, id) == 0 && n == 32 && strcmp(hrp, "AGE-SECRET-KEY-") == 0,
          "decode identity");
    CHECK(um_bech32_encode(s, sizeof(s), "AGE-SECRET-KEY-", key, 32) == 0 && strcmp(s, id) == 0, "re-encode identity");
    char mixed[128];
    strcpy(mixed, id);
    mixed[20] = (char)(mixed[20] + 32); /* lowercase one letter */
    CHECK(um_bech32_decode(hrp, sizeof(hrp), key, &n, 32, mixed) == -1, "mixed case");
    strcpy(mixed, id);
    mixed[30] = mixed[30] == 'Q' ? 'P' : 'Q';
    CHECK(um_bech32_decode(hrp, sizeof(hrp), key, &n, 32, mixed) == -1, "checksum");

    char *i2 = NULL, *r2 = NULL, *r3 = NULL;
    CHECK(unmeta_keygen(&i2, &r2) == 0 && strncmp(i2, "AGE-SECRET-KEY-1", 16) == 0 && strncmp(r2, "age1", 4) == 0,
          "keygen");
    CHECK(unmeta_identity_to_recipient(&r3, i2) == 0 && strcmp(r2, r3) == 0, "keygen pair");
    unmeta_free_secret(i2);
    unmeta_free(r2);
    unmeta_free(r3);
}

/* ---- seal and open in memory ------------------------------------------- */

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

static int seal_mem(buf *out, unmeta_ctx *ctx, const uint8_t *in, size_t n, const unmeta_seal_params *p,
                    const um_env_info *override, uint32_t *seed)
{
    unmeta_source *src = NULL;
    unmeta_sink *dst = NULL;
    const void *d;
    uint64_t dn;
    unmeta_source_new_memory(&src, in, n);
    unmeta_sink_new_memory(&dst);
    int rc = um_env_seal_raw(ctx, src, dst, p, override, seed ? fixed_rng : NULL, seed);
    if (rc == 0 && unmeta_sink_memory(&d, &dn, dst) == 0) {
        out->p = malloc(dn);
        memcpy(out->p, d, dn);
        out->n = dn;
    }
    unmeta_sink_free(dst);
    unmeta_source_free(src);
    return rc;
}

static int open_mem(buf *out, unmeta_open_info *info, unmeta_ctx *ctx, const uint8_t *in, size_t n,
                    const unmeta_open_params *p)
{
    unmeta_source *src = NULL;
    unmeta_sink *dst = NULL;
    const void *d;
    uint64_t dn;
    unmeta_source_new_memory(&src, in, n);
    unmeta_sink_new_memory(&dst);
    int rc = unmeta_open(info, ctx, src, dst, p);
    if (out) {
        out->p = NULL;
        out->n = 0;
    }
    if (rc == 0 && out && unmeta_sink_memory(&d, &dn, dst) == 0) {
        out->p = malloc(dn ? dn : 1);
        memcpy(out->p, d, dn);
        out->n = dn;
    }
    unmeta_sink_free(dst);
    unmeta_source_free(src);
    return rc;
}

static size_t header_len(const buf *e)
{
    const uint8_t *m = NULL;
    for (size_t i = 0; i + 4 < e->n; i++)
        if (memcmp(e->p + i, "\n---", 4) == 0) {
            m = e->p + i + 1;
            break;
        }
    return m ? (size_t)((const uint8_t *)memchr(m, '\n', e->n - (size_t)(m - e->p)) - e->p) + 1 : 0;
}

static void test_roundtrip(void)
{
    unmeta_ctx *ctx = NULL;
    unmeta_ctx_new(&ctx);
    char *id = NULL, *rcp = NULL, *id2 = NULL, *rcp2 = NULL;
    unmeta_keygen(&id, &rcp);
    unmeta_keygen(&id2, &rcp2);
    const char *rcps[1] = { rcp };
    const char *ids[1] = { id }, *wrong[1] = { id2 };
    size_t content_n = 70000; /* two chunks once INFO and padding are added */
    uint8_t *content = malloc(content_n);
    for (size_t i = 0; i < content_n; i++)
        content[i] = (uint8_t)(i * 7 + 3);

    const int64_t not_after = 1900000000;
    unmeta_seal_params sp = UNMETA_SEAL_PARAMS_INIT;
    sp.recipients = rcps;
    sp.recipient_count = 1;
    sp.not_after = not_after;
    sp.content_type = "application/x-test";
    buf env = { 0 }, out = { 0 };
    CHECK(seal_mem(&env, ctx, content, content_n, &sp, NULL, NULL) == 0, "seal: %s", unmeta_ctx_last_error(ctx));
    size_t hl = header_len(&env);
    uint64_t plain = um_env_padme(UM_ENV_INFO_SIZE + content_n);
    CHECK(plain == 71680 && env.n == hl + 16 + plain + 2 * 16, "envelope size %zu", env.n);

    unmeta_open_params op = UNMETA_OPEN_PARAMS_INIT;
    op.identities = ids;
    op.identity_count = 1;
    unmeta_open_info info = UNMETA_OPEN_INFO_INIT;

    /* valid at not_after, expired one second later */
    op.now = not_after;
    CHECK(open_mem(&out, &info, ctx, env.p, env.n, &op) == 0, "open at not_after: %s", unmeta_ctx_last_error(ctx));
    CHECK(out.n == content_n && memcmp(out.p, content, content_n) == 0, "content round trip");
    CHECK(info.kind == UNMETA_ENVELOPE_UNMETA && info.not_after == not_after && info.content_length == content_n &&
          info.padding_length == plain - UM_ENV_INFO_SIZE - content_n && !info.expired &&
          info.recipient_kind == UNMETA_RECIPIENT_X25519 && strcmp(info.content_type, "application/x-test") == 0,
          "info");
    free(out.p);
    op.now = not_after + 1;
    CHECK(open_mem(&out, &info, ctx, env.p, env.n, &op) == UNMETA_E_EXPIRED, "expired at not_after + 1");
    CHECK(strstr(unmeta_ctx_last_error(ctx), "2030-03-17") != NULL, "message names the date: %s",
          unmeta_ctx_last_error(ctx));
    CHECK(out.p == NULL, "nothing released when expired");
    op.flags = UNMETA_OPEN_ALLOW_EXPIRED;
    CHECK(open_mem(&out, &info, ctx, env.p, env.n, &op) == 0 && info.expired == 1 && out.n == content_n,
          "allow expired");
    free(out.p);
    op.flags = 0;
    op.now = 1;

    /* wrong key; wrong passphrase; no key */
    unmeta_open_params wp = op;
    wp.identities = wrong;
    CHECK(open_mem(NULL, NULL, ctx, env.p, env.n, &wp) == UNMETA_E_NOKEY, "wrong identity");
    wp.identity_count = 0;
    wp.passphrase = (const uint8_t *)"x";
    wp.passphrase_len = 1;
    CHECK(open_mem(NULL, NULL, ctx, env.p, env.n, &wp) == UNMETA_E_NOKEY, "passphrase for an X25519 envelope");

    /* every single-byte flip of the header, the first and the last chunk */
    size_t c0 = hl + 16, c1 = c0 + 65536 + 16;
    unsigned bad_header = 0, bad_chunk0 = 0, bad_chunk1 = 0;
    for (size_t i = 0; i < env.n; i++) {
        if (i >= hl && i < c0)
            continue; /* the nonce: changes the payload key, caught as chunk 0 */
        env.p[i] ^= 0x01;
        int rc = open_mem(NULL, NULL, ctx, env.p, env.n, &op);
        env.p[i] ^= 0x01;
        if (i < hl)
            bad_header += rc == 0;
        else if (i < c1)
            bad_chunk0 += rc != UNMETA_E_CRYPTO;
        else
            bad_chunk1 += rc != UNMETA_E_CRYPTO;
    }
    CHECK(bad_header == 0, "%u header flips accepted", bad_header);
    CHECK(bad_chunk0 == 0 && bad_chunk1 == 0, "chunk flips not refused as crypto errors: %u, %u", bad_chunk0,
          bad_chunk1);
    for (size_t i = hl; i < c0; i++) {
        env.p[i] ^= 0x80;
        CHECK(open_mem(NULL, NULL, ctx, env.p, env.n, &op) == UNMETA_E_CRYPTO, "nonce flip %zu", i);
        env.p[i] ^= 0x80;
    }

    /* truncation at every chunk boundary and inside each chunk */
    size_t cuts[] = { c0, c0 + 1, c1 - 1, c1, c1 + 1, env.n - 1, env.n - 16, env.n - 17 };
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
        CHECK(open_mem(NULL, NULL, ctx, env.p, cuts[i], &op) == UNMETA_E_CRYPTO, "truncated at %zu: %s", cuts[i],
              unmeta_ctx_last_error(ctx));
    CHECK(open_mem(NULL, NULL, ctx, env.p, hl + 8, &op) == UNMETA_E_MALFORMED, "truncated in the nonce");
    CHECK(open_mem(NULL, NULL, ctx, env.p, hl - 1, &op) == UNMETA_E_MALFORMED, "truncated in the header");

    /* reordered chunks: swap the two (equal-size ones needed: append a copy) */
    {
        uint8_t *sw = malloc(env.n + 65552);
        memcpy(sw, env.p, c1);
        memcpy(sw + c1, env.p + c0, 65552); /* chunk 0 again, as chunk 1 */
        memcpy(sw + c1 + 65552, env.p + c1, env.n - c1);
        CHECK(open_mem(NULL, NULL, ctx, sw, env.n + 65552, &op) == UNMETA_E_CRYPTO, "duplicated chunk");
        free(sw);
    }

    /* unknown critical flag, valid envelope otherwise */
    {
        um_env_info ei;
        buf e2 = { 0 };
        memset(&ei, 0, sizeof(ei));
        ei.crit = UM_ENV_CRIT_PADDED | 0x100;
        ei.content_length = 5;
        CHECK(seal_mem(&e2, ctx, (const uint8_t *)"hello", 5, &sp, &ei, NULL) == 0, "seal raw");
        CHECK(open_mem(NULL, NULL, ctx, e2.p, e2.n, &op) == UNMETA_E_UNSUPPORTED, "unknown critical flag: %s",
              unmeta_ctx_last_error(ctx));
        free(e2.p);
        /* INFO that lies about the length */
        ei.crit = 0;
        ei.content_length = 6;
        CHECK(seal_mem(&e2, ctx, (const uint8_t *)"hello", 5, &sp, &ei, NULL) == 0, "seal raw");
        CHECK(open_mem(NULL, NULL, ctx, e2.p, e2.n, &op) == UNMETA_E_CRYPTO, "length mismatch");
        free(e2.p);
    }

    /* passphrase: right, wrong, work factor over the cap */
    {
        unmeta_seal_params pp = UNMETA_SEAL_PARAMS_INIT;
        pp.passphrase = (const uint8_t *)"correct horse";
        pp.passphrase_len = 13;
        pp.scrypt_log_n = 12;
        pp.flags = UNMETA_SEAL_NO_PAD;
        buf e3 = { 0 };
        CHECK(seal_mem(&e3, ctx, content, 1000, &pp, NULL, NULL) == 0, "seal passphrase");
        CHECK(e3.n == header_len(&e3) + 16 + 96 + 1000 + 16, "no padding");
        unmeta_open_params po = UNMETA_OPEN_PARAMS_INIT;
        po.passphrase = (const uint8_t *)"correct horse";
        po.passphrase_len = 13;
        CHECK(open_mem(&out, &info, ctx, e3.p, e3.n, &po) == 0 && out.n == 1000 &&
              info.recipient_kind == UNMETA_RECIPIENT_SCRYPT && info.padding_length == 0, "open passphrase");
        free(out.p);
        po.passphrase_len = 12;
        CHECK(open_mem(NULL, NULL, ctx, e3.p, e3.n, &po) == UNMETA_E_NOKEY, "wrong passphrase");
        CHECK(strstr(unmeta_ctx_last_error(ctx), "passphrase") != NULL, "says passphrase");
        po.passphrase_len = 13;
        po.max_scrypt_log_n = 11;
        CHECK(open_mem(NULL, NULL, ctx, e3.p, e3.n, &po) == UNMETA_E_LIMIT, "work factor over the cap");
        free(e3.p);
    }

    /* deterministic RNG hook: same seed, same bytes */
    {
        uint32_t s1 = 42, s2 = 42, s3 = 43;
        buf a = { 0 }, b = { 0 }, c = { 0 };
        seal_mem(&a, ctx, content, 100, &sp, NULL, &s1);
        seal_mem(&b, ctx, content, 100, &sp, NULL, &s2);
        seal_mem(&c, ctx, content, 100, &sp, NULL, &s3);
        CHECK(a.n == b.n && memcmp(a.p, b.p, a.n) == 0 && (a.n != c.n || memcmp(a.p, c.p, a.n) != 0), "rng hook");
        free(a.p);
        free(b.p);
        free(c.p);
    }

    /* params struct from an older caller: only struct_size and the first fields */
    {
        unmeta_open_info small;
        unmeta_open_info_init(&small, (uint32_t)offsetof(unmeta_open_info, expired));
        CHECK(small.struct_size == offsetof(unmeta_open_info, expired), "init takes the caller's size");
    }

    free(env.p);
    free(content);
    unmeta_free_secret(id);
    unmeta_free_secret(id2);
    unmeta_free(rcp);
    unmeta_free(rcp2);
    unmeta_ctx_free(ctx);
}

/* ---- key-release shares ------------------------------------------------ */

typedef struct store {
    unmeta_share held;   /* what the "store" holds */
    int present;         /* 0: expired or deleted */
    int calls;
    int32_t fail_with;   /* non-zero: the store is broken */
} store;

static int32_t store_fetch(unmeta_share *share, void *user)
{
    store *st = user;
    st->calls++;
    if (st->fail_with)
        return st->fail_with;
    if (!st->present || strcmp(share->id, st->held.id) != 0)
        return UNMETA_E_NOKEY;
    memcpy(share->key, st->held.key, UNMETA_SHARE_KEY_LEN);
    return 0;
}

/* The seal parameters as a caller built against the version before shares
 * sees them: struct_size ends before the share field. */
static void test_shares(void)
{
    unmeta_ctx *ctx = NULL;
    unmeta_ctx_new(&ctx);
    char *id = NULL, *rcp = NULL, *id2 = NULL, *rcp2 = NULL;
    unmeta_keygen(&id, &rcp);
    unmeta_keygen(&id2, &rcp2);
    const char *rcps[2] = { rcp, rcp2 };
    const char *ids[1] = { id }, *ids2[1] = { id2 };
    const uint8_t content[] = "content released only with the key-release share";
    const size_t content_n = sizeof(content) - 1;

    unmeta_share share = UNMETA_SHARE_INIT;
    unmeta_seal_params sp = UNMETA_SEAL_PARAMS_INIT;
    sp.recipients = rcps;
    sp.recipient_count = 2;
    sp.not_after = 1900000000;
    sp.share = &share;
    buf env = { 0 }, out = { 0 };
    CHECK(seal_mem(&env, ctx, content, content_n, &sp, NULL, NULL) == 0, "seal with share: %s",
          unmeta_ctx_last_error(ctx));
    CHECK(strlen(share.id) == UNMETA_SHARE_ID_LEN && strspn(share.id, "0123456789abcdef") == UNMETA_SHARE_ID_LEN,
          "share id %s", share.id);
    CHECK(share.not_after == 1900000000 && share.struct_size == sizeof(share), "share expiry");
    {
        uint8_t zero[UNMETA_SHARE_KEY_LEN] = { 0 };
        CHECK(memcmp(share.key, zero, sizeof(zero)) != 0, "share key filled");
    }
    char line[80];
    snprintf(line, sizeof(line), "\n-> unmeta-share %s\n", share.id);
    size_t hl = header_len(&env);
    CHECK(hl && memmem(env.p, hl, line, strlen(line)) != NULL, "share stanza in the header");
    CHECK(memmem(env.p, hl, "2030", 4) == NULL, "no cleartext expiry");

    unmeta_open_params op = UNMETA_OPEN_PARAMS_INIT;
    op.identities = ids;
    op.identity_count = 1;
    op.now = 1800000000;
    unmeta_open_info info = UNMETA_OPEN_INFO_INIT;

    /* without the share: the distinct error, nothing released */
    CHECK(open_mem(&out, &info, ctx, env.p, env.n, &op) == UNMETA_E_NOKEY, "open without share");
    char want[120];
    snprintf(want, sizeof(want), "this envelope needs its key-release share (id %s)", share.id);
    CHECK(strstr(unmeta_ctx_last_error(ctx), want) != NULL, "message: %s", unmeta_ctx_last_error(ctx));
    CHECK(out.p == NULL, "nothing released");

    /* with the share given directly, by both recipients */
    op.share = &share;
    CHECK(open_mem(&out, &info, ctx, env.p, env.n, &op) == 0, "open with share: %s", unmeta_ctx_last_error(ctx));
    CHECK(out.n == content_n && memcmp(out.p, content, content_n) == 0, "content");
    CHECK(strcmp(info.share_id, share.id) == 0, "info.share_id %s", info.share_id);
    free(out.p);
    op.identities = ids2;
    CHECK(open_mem(&out, NULL, ctx, env.p, env.n, &op) == 0 && out.n == content_n, "second recipient");
    free(out.p);
    op.identities = ids;

    /* a wrong share: one bit of the key, or the share of another envelope */
    unmeta_share bad = share;
    bad.key[3] ^= 0x10;
    op.share = &bad;
    CHECK(open_mem(&out, NULL, ctx, env.p, env.n, &op) == UNMETA_E_NOKEY &&
          strstr(unmeta_ctx_last_error(ctx), "wrong or damaged share") != NULL, "flipped share key: %s",
          unmeta_ctx_last_error(ctx));
    unmeta_share other = UNMETA_SHARE_INIT;
    {
        buf e2 = { 0 };
        unmeta_seal_params sp2 = sp;
        sp2.share = &other;
        CHECK(seal_mem(&e2, ctx, content, content_n, &sp2, NULL, NULL) == 0, "second envelope");
        CHECK(strcmp(other.id, share.id) != 0 && memcmp(other.key, share.key, 16) != 0, "fresh share");
        free(e2.p);
    }
    op.share = &other;
    CHECK(open_mem(&out, NULL, ctx, env.p, env.n, &op) == UNMETA_E_NOKEY &&
          strstr(unmeta_ctx_last_error(ctx), "the share given is for id") != NULL, "other envelope's share: %s",
          unmeta_ctx_last_error(ctx));
    /* the right key under a forged ID: refused by the check value */
    bad = other;
    memcpy(bad.key, share.key, 16);
    memcpy(bad.id, share.id, sizeof(bad.id));
    bad.key[0] ^= 1;
    op.share = &bad;
    CHECK(open_mem(&out, NULL, ctx, env.p, env.n, &op) == UNMETA_E_NOKEY, "forged share");

    /* through the fetch callback: held, deleted, store broken */
    store st;
    memset(&st, 0, sizeof(st));
    st.held = share;
    st.present = 1;
    op.share = NULL;
    op.share_fetch = store_fetch;
    op.share_user = &st;
    CHECK(open_mem(&out, &info, ctx, env.p, env.n, &op) == 0 && out.n == content_n && st.calls == 1,
          "fetch: %s", unmeta_ctx_last_error(ctx));
    free(out.p);
    st.present = 0; /* the service deleted it at expiry */
    CHECK(open_mem(&out, NULL, ctx, env.p, env.n, &op) == UNMETA_E_NOKEY &&
          strstr(unmeta_ctx_last_error(ctx), "no longer holds it") != NULL, "deleted share: %s",
          unmeta_ctx_last_error(ctx));
    st.present = 1;
    st.fail_with = UNMETA_E_IO;
    CHECK(open_mem(&out, NULL, ctx, env.p, env.n, &op) == UNMETA_E_IO, "store error passed on");
    st.fail_with = 0;
    /* a wrong identity never reaches the store */
    st.calls = 0;
    const char *wrong[1] = { "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0" };
    op.identities = wrong;
    CHECK(open_mem(&out, NULL, ctx, env.p, env.n, &op) == UNMETA_E_NOKEY && st.calls == 0, "no identity, no fetch");
    op.identities = ids;

    /* the header MAC covers the share stanza: change the ID and give the
     * matching "share" anyway, or change the check value */
    {
        uint8_t *at = memmem(env.p, hl, share.id, UNMETA_SHARE_ID_LEN);
        CHECK(at != NULL, "id in header");
        if (at) {
            at[0] = at[0] == 'a' ? 'b' : 'a';
            unmeta_share moved = share;
            moved.id[0] = (char)at[0];
            op.share_fetch = NULL;
            op.share = &moved;
            int rc = open_mem(&out, NULL, ctx, env.p, env.n, &op);
            CHECK(rc == UNMETA_E_NOKEY, "moved id: %d %s", rc, unmeta_ctx_last_error(ctx));
            at[0] = share.id[0];
        }
        op.share = &share;
        unsigned accepted = 0;
        for (size_t i = 0; i < hl; i++) {
            env.p[i] ^= 0x01;
            accepted += open_mem(NULL, NULL, ctx, env.p, env.n, &op) == 0;
            env.p[i] ^= 0x01;
        }
        CHECK(accepted == 0, "%u header flips accepted with the share", accepted);
    }

    /* an older caller: struct_size without the share fields */
    {
        unmeta_seal_params old;
        memset(&old, 0xA5, sizeof(old)); /* garbage past the caller's size must not be read */
        unmeta_seal_params_init(&old, (uint32_t)offsetof(unmeta_seal_params, share));
        old.recipients = rcps;
        old.recipient_count = 1;
        buf e3 = { 0 };
        CHECK(seal_mem(&e3, ctx, content, content_n, &old, NULL, NULL) == 0, "old seal params: %s",
              unmeta_ctx_last_error(ctx));
        CHECK(memmem(e3.p, header_len(&e3), "unmeta-share", 12) == NULL, "no share for old callers");
        unmeta_open_params oo;
        memset(&oo, 0xA5, sizeof(oo));
        unmeta_open_params_init(&oo, (uint32_t)offsetof(unmeta_open_params, share));
        oo.identities = ids;
        oo.identity_count = 1;
        unmeta_open_info oi;
        memset(&oi, 0xA5, sizeof(oi));
        unmeta_open_info_init(&oi, (uint32_t)offsetof(unmeta_open_info, share_id));
        CHECK(open_mem(&out, &oi, ctx, e3.p, e3.n, &oo) == 0 && out.n == content_n, "old open params: %s",
              unmeta_ctx_last_error(ctx));
        CHECK((uint8_t)oi.share_id[0] == 0xA5, "wrote past the caller's info struct");
        free(out.p);
        /* an old open caller on a shared envelope gets the distinct error */
        CHECK(open_mem(&out, NULL, ctx, env.p, env.n, &oo) == UNMETA_E_NOKEY, "old caller, shared envelope");
        free(e3.p);
    }

    /* refusals: a share with a passphrase, a share struct too small */
    {
        unmeta_seal_params pp = UNMETA_SEAL_PARAMS_INIT;
        pp.passphrase = (const uint8_t *)"pw";
        pp.passphrase_len = 2;
        pp.scrypt_log_n = 10;
        pp.share = &other;
        buf e4 = { 0 };
        CHECK(seal_mem(&e4, ctx, content, content_n, &pp, NULL, NULL) == UNMETA_E_INVALID, "share with passphrase");
        unmeta_share tiny;
        unmeta_share_init(&tiny, (uint32_t)offsetof(unmeta_share, key));
        sp.share = &tiny;
        CHECK(seal_mem(&e4, ctx, content, content_n, &sp, NULL, NULL) == UNMETA_E_INVALID, "small share struct");
        sp.share = &share;
        unmeta_share_wipe(&share);
        CHECK(share.struct_size == sizeof(share) && share.id[0] == 0 && share.key[0] == 0 && share.not_after == 0,
              "wipe");
        CHECK(unmeta_share_id_len() == 32 && unmeta_share_key_len() == 16, "sizes");
    }

    /* malformed share stanzas: refused whatever the keys */
    {
        static const char *const stanzas[] = {
            "-> unmeta-share 00112233445566778899aabbccddeeff\nAAAA\n",           /* body 3 bytes */
            "-> unmeta-share 00112233445566778899AABBCCDDEEFF\n"                   /* uppercase ID */
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
            "-> unmeta-share 00112233445566778899aabbccddee\n"                     /* short ID */
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
            "-> unmeta-share 00112233445566778899aabbccddeeff x\n"                 /* extra argument */
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
            "-> unmeta-share 00112233445566778899aabbccddeeff\n"                   /* two share stanzas */
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
            "-> unmeta-share 00112233445566778899aabbccddeeff\n"
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
        };
        for (size_t k = 0; k < sizeof(stanzas) / sizeof(stanzas[0]); k++) {
            size_t sl = strlen(stanzas[k]), intro = 22;
            uint8_t *m = malloc(env.n + sl);
            memcpy(m, env.p, intro);
            memcpy(m + intro, stanzas[k], sl);
            memcpy(m + intro + sl, env.p + intro, env.n - intro);
            int rc = open_mem(NULL, NULL, ctx, m, env.n + sl, &op);
            CHECK(rc == UNMETA_E_MALFORMED, "malformed share stanza %zu: %d %s", k, rc, unmeta_ctx_last_error(ctx));
            free(m);
        }
    }

    free(env.p);
    unmeta_free_secret(id);
    unmeta_free_secret(id2);
    unmeta_free(rcp);
    unmeta_free(rcp2);
    unmeta_ctx_free(ctx);
}

int main(void)
{
    test_hkdf();
    test_padme();
    test_info();
    test_text();
    test_roundtrip();
    test_shares();
    if (failures) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    printf("envelope: all passed\n");
    return 0;
}
