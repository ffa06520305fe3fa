/*
 * fuzz_open.c - fuzz target for envelopes (lib/envelope.c): the age header
 * parser, the ASCII armor decoder, the INFO parser, and the whole open path with a fixed identity
 * and a fixed passphrase (work factor capped low so scrypt stays fast) and a key-release share store
 * that answers every ID with the share 5a5a...5a (16 bytes).
 *
 * Build: like the other targets, linked with libunmeta_internal and the
 * library's dependencies (libsodium), include dirs include/ and lib/.
 * Seeds: any .age file; `unmeta seal -r age1xmwwc06ly3ee5rytxm9mflaz2u56jjj36s0mypdrwsvlul66mv4q47ryef`
 * makes envelopes this identity opens.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unmeta.h"
#include "envelope.h"

/* The CCTV test identity (recipient age1xmwwc06ly3ee5rytxm9mflaz2u56jjj36s0mypdrwsvlul66mv4q47ryef). */
static const char *const identity[1] = {
    "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
        p.identities = identity;
        p.identity_count = 1;
        p.passphrase = (const uint8_t *)"password";
        p.passphrase_len = 8;
        p.max_scrypt_log_n = 10;
        p.now = 1700000000;
        p.share_fetch = fetch;
        p.share_user = (void *)identity; /* any non-NULL: the store holds the share */
        (void)unmeta_open(&info, ctx, src, dst, &p);
    }
    unmeta_sink_free(dst);
    unmeta_source_free(src);
    unmeta_ctx_free(ctx);
    return 0;
}
