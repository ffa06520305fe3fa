/*
 * keys.c - the key material of an envelope: HKDF-SHA-256 (RFC 5869) over
 * libsodium's HMAC, locked memory for secrets, X25519 identities and
 * recipients (keygen), and the unwrapping of a file key from a stanza body.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "io.h"
#include "envelope/private.h"

#ifdef UNMETA_HAVE_SODIUM
#include <sodium.h>

/* ---- availability, shares -------------------------------------------- */

int32_t unmeta_envelope_available(void)
{
    return sodium_init() >= 0;
}

void unmeta_share_wipe(unmeta_share *share)
{
    if (!share || share->struct_size < sizeof(uint32_t))
        return;
    size_t n = share->struct_size < sizeof(*share) ? share->struct_size : sizeof(*share);
    sodium_memzero((uint8_t *)share + sizeof(uint32_t), n - sizeof(uint32_t));
}

/* ---- HKDF-SHA-256 (RFC 5869) ------------------------------------------- */

int um_env_hkdf_sha256(uint8_t *out, size_t out_len, const uint8_t *salt, size_t salt_len,
                       const uint8_t *ikm, size_t ikm_len, const uint8_t *info, size_t info_len)
{
    uint8_t prk[32], t[32];
    crypto_auth_hmacsha256_state st;
    if (out_len > 255 * 32)
        return UNMETA_E_INVALID;
    /* Extract: PRK = HMAC(salt, IKM); an absent salt is HashLen zeros, which
     * HMAC treats exactly like the empty key. */
    static const uint8_t no_salt[1] = { 0 };
    crypto_auth_hmacsha256_init(&st, salt ? salt : no_salt, salt ? salt_len : 0); /* libsodium's args are nonnull */
    if (ikm_len)
        crypto_auth_hmacsha256_update(&st, ikm, ikm_len);
    crypto_auth_hmacsha256_final(&st, prk);
    /* Expand: T(i) = HMAC(PRK, T(i-1) ‖ info ‖ i) */
    size_t done = 0;
    for (uint8_t i = 1; done < out_len; i++) {
        crypto_auth_hmacsha256_init(&st, prk, sizeof(prk));
        if (i > 1)
            crypto_auth_hmacsha256_update(&st, t, sizeof(t));
        if (info_len)
            crypto_auth_hmacsha256_update(&st, info, info_len);
        crypto_auth_hmacsha256_update(&st, &i, 1);
        crypto_auth_hmacsha256_final(&st, t);
        size_t k = out_len - done < sizeof(t) ? out_len - done : sizeof(t);
        memcpy(out + done, t, k);
        done += k;
    }
    sodium_memzero(prk, sizeof(prk));
    sodium_memzero(t, sizeof(t));
    sodium_memzero(&st, sizeof(st));
    return 0;
}

/* libsodium allocates guarded pages itself; the call is a fault point. */
void *um_env_secret_malloc(size_t n)
{
    return um_fault_hit() ? NULL : sodium_malloc(n);
}


void um_env_default_rng(void *buf, size_t n, void *user)
{
    (void)user;
    randombytes_buf(buf, n);
}

int um_env_parse_recipient(uint8_t pk[32], const char *s)
{
    char hrp[16];
    size_t n = 0;
    if (um_bech32_decode(hrp, sizeof(hrp), pk, &n, 32, s) != 0 || strcmp(hrp, AGE_X25519_HRP) != 0 || n != 32)
        return -1;
    return 0;
}

int um_env_parse_identity(uint8_t sk[32], const char *s)
{
    char hrp[32];
    size_t n = 0;
    if (um_bech32_decode(hrp, sizeof(hrp), sk, &n, 32, s) != 0 || strcmp(hrp, AGE_IDENTITY_HRP) != 0 || n != 32) {
        sodium_memzero(sk, 32);
        return -1;
    }
    return 0;
}

int32_t unmeta_keygen(char **identity, char **recipient)
{
    if (!identity || !recipient)
        return UNMETA_E_INVALID;
    *identity = NULL;
    *recipient = NULL;
    if (sodium_init() < 0)
        return UNMETA_E_FEATURE;
    uint8_t *sk = um_env_secret_malloc(32);
    uint8_t pk[32];
    char *id = um_mem_calloc(1, 128), *rc = um_mem_calloc(1, 128);
    int ret = UNMETA_E_NOMEM;
    if (!sk || !id || !rc)
        goto done;
    randombytes_buf(sk, 32);
    crypto_scalarmult_base(pk, sk);
    ret = UNMETA_E_INVALID;
    if (um_bech32_encode(id, 128, AGE_IDENTITY_HRP, sk, 32) != 0 || um_bech32_encode(rc, 128, AGE_X25519_HRP, pk, 32) != 0)
        goto done;
    *identity = id;
    *recipient = rc;
    id = rc = NULL;
    ret = 0;
done:
    if (sk)
        sodium_free(sk);
    unmeta_free_secret(id);
    free(rc);
    return ret;
}

int32_t unmeta_identity_to_recipient(char **recipient, const char *identity)
{
    if (!recipient || !identity)
        return UNMETA_E_INVALID;
    *recipient = NULL;
    if (sodium_init() < 0)
        return UNMETA_E_FEATURE;
    uint8_t *sk = um_env_secret_malloc(32);
    uint8_t pk[32];
    if (!sk)
        return UNMETA_E_NOMEM;
    int ret = UNMETA_E_INVALID;
    if (um_env_parse_identity(sk, identity) == 0) {
        crypto_scalarmult_base(pk, sk);
        char *rc = um_mem_calloc(1, 128);
        ret = UNMETA_E_NOMEM;
        if (rc && um_bech32_encode(rc, 128, AGE_X25519_HRP, pk, 32) == 0) {
            *recipient = rc;
            ret = 0;
        } else {
            free(rc);
        }
    }
    sodium_free(sk);
    return ret;
}

/* The wrapped file key: ChaCha20-Poly1305 under an all-zero nonce (age spec). */
int um_env_unwrap(uint8_t *file_key, const uint8_t *body, const uint8_t key[32])
{
    uint8_t nonce[12] = { 0 };
    unsigned long long n = 0;
    if (crypto_aead_chacha20poly1305_ietf_decrypt(file_key, &n, NULL, body, AGE_FILE_KEY + AGE_TAG, NULL, 0, nonce,
                                                  key) != 0)
        return -1;
    return n == AGE_FILE_KEY ? 0 : -1;
}

#endif /* UNMETA_HAVE_SODIUM */
