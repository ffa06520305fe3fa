/*
 * fuzz_open.c - fuzz target for envelopes (lib/envelope/): the age header
 * parser, the ASCII armor decoder, the INFO parser, and the whole open path with a fixed identity
 * and a fixed passphrase (work factor capped low so scrypt stays fast) and a key-release share store
 * that answers every ID with the share 5a5a...5a (16 bytes).
 *
 * Build: like the other targets, linked with libunmeta_internal and the
 * library's dependencies (libsodium), include dirs include/ and lib/.
 * Seeds: any .age file; `unmeta seal -r age1xmwwc06ly3ee5rytxm9mflaz2u56jjj36s0mypdrwsvlul66mv4q47ryef`
 * makes envelopes this identity opens.
 *
 * Properties, checked on every input (abort() when one breaks):
 *  - a failed open returns a known UNMETA_E_* code with a message, and its
 *    memory sink holds nothing;
 *  - a successful one released exactly info.content_length bytes, says
 *    what it opened (an envelope or a plain age file), is not expired
 *    (UNMETA_OPEN_ALLOW_EXPIRED is not set) and gives a NUL-terminated
 *    content type;
 *  - what it released, sealed again to the same identity, opens to the
 *    same bytes and content type.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unmeta.h"
#include "envelope/envelope.h"

/* The CCTV test identity (recipient age1xmwwc06ly3ee5rytxm9mflaz2u56jjj36s0mypdrwsvlul66mv4q47ryef). */
static const char *const identity[1] = {
    "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0",
};

static const char *const recipient[1] = {
    "age1xmwwc06ly3ee5rytxm9mflaz2u56jjj36s0mypdrwsvlul66mv4q47ryef",
};

#define FUZZ_NOW 1700000000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, int rc, const unmeta_ctx *ctx)
{
    fprintf(stderr, "fuzz_open: property violated: %s (rc=%d: %s)\n", what, rc, ctx ? unmeta_ctx_last_error(ctx) : "");
    abort();
}

#define CHECK(cond, what)        \
    do {                         \
        if (!(cond))             \
            fail(what, rc, ctx); \
    } while (0)

static void open_params(unmeta_open_params *p)
{
    p->identities = identity;
    p->identity_count = 1;
    p->passphrase = (const uint8_t *)"password";
    p->passphrase_len = 8;
    p->max_scrypt_log_n = 10;
    p->now = FUZZ_NOW;
}

/* Seals what an open released to the same identity and opens it again. */
static void round_trip(unmeta_ctx *ctx, const void *plain, uint64_t n, const unmeta_open_info *info)
{
    unmeta_source *src = NULL, *sealed_src = NULL;
    unmeta_sink *sealed = NULL, *again = NULL;
    const void *env = NULL, *out = NULL;
    uint64_t env_size = 0, out_size = 0;
    int rc = 0;
    unmeta_seal_params sp = UNMETA_SEAL_PARAMS_INIT;
    sp.recipients = recipient;
    sp.recipient_count = 1;
    sp.content_type = info->content_type[0] ? info->content_type : NULL;
    CHECK(unmeta_source_new_memory(&src, plain, n) == 0 && unmeta_sink_new_memory(&sealed) == 0, "memory I/O");
    rc = unmeta_seal(ctx, src, sealed, &sp);
    CHECK(rc == 0, "sealing what an envelope released fails");
    CHECK(unmeta_sink_memory(&env, &env_size, sealed) == 0, "reading the sealed envelope");
    CHECK(unmeta_source_new_memory(&sealed_src, env, env_size) == 0 && unmeta_sink_new_memory(&again) == 0,
          "memory I/O");
    unmeta_open_params p = UNMETA_OPEN_PARAMS_INIT;
    unmeta_open_info info2 = UNMETA_OPEN_INFO_INIT;
    open_params(&p);
    rc = unmeta_open(&info2, ctx, sealed_src, again, &p);
    CHECK(rc == 0, "a fresh envelope does not open");
    CHECK(unmeta_sink_memory(&out, &out_size, again) == 0, "reading the reopened content");
    CHECK(info2.kind == UNMETA_ENVELOPE_UNMETA, "a fresh envelope opens as something else");
    CHECK(out_size == n && memcmp(out, plain, (size_t)n) == 0, "seal then open changes the content");
    if (info->content_type[0])
        CHECK(strcmp(info2.content_type, info->content_type) == 0, "seal then open changes the content type");
    unmeta_sink_free(again);
    unmeta_source_free(sealed_src);
    unmeta_sink_free(sealed);
    unmeta_source_free(src);
}

/* A share store: user non-NULL holds a fixed share for every ID, NULL holds none. */
static int32_t fetch(unmeta_share *share, void *user)
{
    if (!user)
        return UNMETA_E_NOKEY;
    memset(share->key, 0x5a, UNMETA_SHARE_KEY_LEN);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char msg[256];

    /* the header parser alone */
    um_age_header h;
    if (um_age_header_parse(&h, data, size, msg, sizeof(msg)) == 0)
        um_age_header_free(&h);

    /* the armor decoder alone */
    uint8_t *dec = NULL;
    size_t dn = 0;
    if (um_age_armor_decode(&dec, &dn, data, size, msg, sizeof(msg)) == 0)
        free(dec);

    /* the INFO parser alone, on input that starts with the magic */
    if (size >= UM_ENV_MAGIC_LEN) {
        uint8_t info[UM_ENV_INFO_SIZE];
        um_env_info ei;
        size_t n = size < UM_ENV_INFO_SIZE - UM_ENV_MAGIC_LEN ? size : UM_ENV_INFO_SIZE - UM_ENV_MAGIC_LEN;
        memcpy(info, UM_ENV_MAGIC, UM_ENV_MAGIC_LEN);
        memcpy(info + UM_ENV_MAGIC_LEN, data, n);
        (void)um_env_info_decode(&ei, info, UM_ENV_MAGIC_LEN + n, msg, sizeof(msg));
    }

    /* the whole open path */
    unmeta_ctx *ctx = NULL;
    unmeta_source *src = NULL;
    unmeta_sink *dst = NULL;
    if (unmeta_ctx_new(&ctx) == 0 && unmeta_source_new_memory(&src, data, size) == 0 &&
        unmeta_sink_new_memory(&dst) == 0) {
        unmeta_open_params p = UNMETA_OPEN_PARAMS_INIT;
        unmeta_open_info info = UNMETA_OPEN_INFO_INIT;
        open_params(&p);
        p.share_fetch = fetch;
        p.share_user = (void *)identity; /* any non-NULL: the store holds the share */
        int rc = unmeta_open(&info, ctx, src, dst, &p);
        const void *out = NULL;
        uint64_t out_size = 0;
        if (rc < 0) {
            CHECK(rc >= UNMETA_E_NOKEY && rc <= UNMETA_E_INVALID, "unknown error code");
            CHECK(unmeta_ctx_last_error(ctx)[0] != '\0', "failure without a message");
            CHECK(unmeta_sink_memory(&out, &out_size, dst) != 0 || out_size == 0, "a failed open left output");
        } else {
            CHECK(rc == 0, "open returned a positive code");
            CHECK(unmeta_sink_memory(&out, &out_size, dst) == 0, "reading the opened content");
            CHECK(info.kind == UNMETA_ENVELOPE_UNMETA || info.kind == UNMETA_ENVELOPE_PLAIN_AGE, "unknown kind");
            CHECK(out_size == info.content_length, "released bytes differ from content_length");
            CHECK(!info.expired && (info.not_after == 0 || info.not_after >= FUZZ_NOW), "opened an expired envelope");
            CHECK(memchr(info.content_type, 0, sizeof(info.content_type)) != NULL, "content type not terminated");
            if (info.kind == UNMETA_ENVELOPE_PLAIN_AGE)
                CHECK(info.not_after == 0 && info.padding_length == 0 && !info.content_type[0],
                      "a plain age file with INFO fields");
            round_trip(ctx, out, out_size, &info);
        }
    }
    unmeta_sink_free(dst);
    unmeta_source_free(src);
    unmeta_ctx_free(ctx);
    return 0;
}
