/*
 * x25519.c - the X25519 recipient stanza (age spec, "X25519 recipient
 * stanza"): wrapping the file key to a recipient when sealing, and finding
 * the stanza an identity opens when opening.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "io.h"
#include "envelope/private.h"

#ifdef UNMETA_HAVE_SODIUM
#include <sodium.h>

int um_env_x25519_wrap(um_job *job, um_env_text *h, um_env_secrets *sec, const char *recipient, um_env_rng_fn rng,
                       void *ru)
{
    uint8_t pk[32], share[32], salt[64], body[AGE_FILE_KEY + AGE_TAG], nonce[12] = { 0 };
    if (um_env_parse_recipient(pk, recipient) != 0)
        return um_fail(job, UNMETA_E_INVALID, "not an X25519 age recipient (age1...): %.80s", recipient);
    rng(sec->eph, 32, ru);
    crypto_scalarmult_base(share, sec->eph);
    if (crypto_scalarmult(sec->shared, sec->eph, pk) != 0)
        return um_fail(job, UNMETA_E_INVALID, "recipient %.80s is a low-order point", recipient);
    memcpy(salt, share, 32);
    memcpy(salt + 32, pk, 32);
    um_env_hkdf_sha256(sec->wrap_key, 32, salt, 64, sec->shared, 32,
                       (const uint8_t *)AGE_X25519_INFO, sizeof(AGE_X25519_INFO) - 1);
    crypto_aead_chacha20poly1305_ietf_encrypt(body, NULL, sec->stanza_key, AGE_FILE_KEY, NULL, 0, NULL, nonce,
                                              sec->wrap_key);
    UM_TRY(um_env_text_reserve(job, h, 256));
    h->len += (size_t)sprintf(h->p + h->len, "-> X25519 ");
    h->len += um_b64_encode(h->p + h->len, share, 32);
    h->p[h->len++] = '\n';
    um_env_text_body(h, body, sizeof(body));
    return 0;
}

int um_env_x25519_check(const um_age_stanza *st)
{
    uint8_t share[32];
    if (st->nargs != 2 || um_age_arg_b64(share, 32, st, 1) != 0 || st->body_len != AGE_FILE_KEY + AGE_TAG)
        return -1;
    return 0;
}

int um_env_x25519_unwrap(um_job *job, um_env_secrets *sec, const um_age_header *h, const unmeta_open_params *p)
{
    for (uint32_t k = 0; k < p->identity_count; k++) {
        if (!p->identities || !p->identities[k])
            return um_fail(job, UNMETA_E_INVALID, "open: identity %u is NULL", k);
        if (um_env_parse_identity(sec->identity, p->identities[k]) != 0)
            return um_fail(job, UNMETA_E_INVALID, "open: identity %u is not an X25519 age identity (AGE-SECRET-KEY-1...)", k);
        uint8_t pk[32], salt[64];
        crypto_scalarmult_base(pk, sec->identity);
        for (uint32_t i = 0; i < h->count; i++) {
            const um_age_stanza *st = &h->stanzas[i];
            if (!um_age_arg_is(st, 0, "X25519"))
                continue;
            um_age_arg_b64(salt, 32, st, 1);
            memcpy(salt + 32, pk, 32);
            if (crypto_scalarmult(sec->shared, sec->identity, salt) != 0)
                return um_fail(job, UNMETA_E_MALFORMED, "header: X25519 stanza %u has a low-order share", i);
            um_env_hkdf_sha256(sec->wrap_key, 32, salt, 64, sec->shared, 32, (const uint8_t *)AGE_X25519_INFO,
                               sizeof(AGE_X25519_INFO) - 1);
            if (um_env_unwrap(sec->file_key, st->body, sec->wrap_key) == 0)
                return 1;
        }
    }
    return 0;
}

#endif /* UNMETA_HAVE_SODIUM */
