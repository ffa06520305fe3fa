/*
 * aead.c - ChaCha20-Poly1305-IETF for the payload's chunks (RFC 8439, the
 * AEAD age's STREAM uses), from OpenSSL's libcrypto when the build found
 * it (-Dopenssl=auto), else from libsodium.
 *
 * Both compute the same function, so an envelope is the same byte for byte
 * whichever sealed it, and either opens what the other sealed
 * (tests/unit/envelope_stream_test.c checks both ways). The reason for the
 * second library is speed: OpenSSL 3's stitched AVX2 code runs about 1.6x
 * libsodium 1.0.18's per core here (bench/README.md, "Envelopes"), which
 * is what sealing needs to keep up with age. Every other primitive (X25519,
 * HKDF, HMAC, scrypt, random bytes, locked memory) stays libsodium's.
 *
 * A context is one thread's: each worker of stream.c has its own. An
 * OpenSSL call that fails for a reason other than authentication (it
 * cannot, short of an allocation failure inside libcrypto) falls back to
 * libsodium for that chunk, so sealing never fails here. Opening with
 * OpenSSL writes the plaintext before the tag is checked: on a failed
 * check the output is wiped before returning.
 */
#include <string.h>

#include "internal.h"
#include "envelope/envelope.h"

#ifdef UNMETA_HAVE_SODIUM
#include <sodium.h>
#ifdef UM_HAVE_OPENSSL_AEAD
#include <openssl/evp.h>
#endif

#define TAG 16u

void um_aead_init(um_aead *a)
{
    a->evp = NULL;
#ifdef UM_HAVE_OPENSSL_AEAD
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (c && EVP_EncryptInit_ex(c, EVP_chacha20_poly1305(), NULL, NULL, NULL) == 1)
        a->evp = c;
    else
        EVP_CIPHER_CTX_free(c); /* libsodium then */
#endif
}

void um_aead_free(um_aead *a)
{
#ifdef UM_HAVE_OPENSSL_AEAD
    EVP_CIPHER_CTX_free(a->evp); /* cleanses the key it holds */
#endif
    a->evp = NULL;
}

const char *um_aead_backend(const um_aead *a)
{
    return a->evp ? "openssl" : "libsodium";
}

#ifdef UM_HAVE_OPENSSL_AEAD
static int evp_seal(EVP_CIPHER_CTX *c, uint8_t *out, const uint8_t *in, size_t len, const uint8_t nonce[12],
                    const uint8_t key[32])
{
    int n = 0, m = 0;
    if (len > (size_t)INT32_MAX)
        return -1;
    if (EVP_EncryptInit_ex(c, NULL, NULL, key, nonce) != 1 || EVP_EncryptUpdate(c, out, &n, in, (int)len) != 1 ||
        EVP_EncryptFinal_ex(c, out + n, &m) != 1 || (size_t)n + (size_t)m != len ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, TAG, out + len) != 1)
        return -1;
    return 0;
}

/* 0: authentic; -1: not; -2: OpenSSL failed otherwise (try libsodium). */
static int evp_open(EVP_CIPHER_CTX *c, uint8_t *out, const uint8_t *in, size_t clen, const uint8_t nonce[12],
                    const uint8_t key[32])
{
    int n = 0, m = 0;
    size_t len = clen - TAG;
    uint8_t tag[TAG];
    if (len > (size_t)INT32_MAX)
        return -2;
    memcpy(tag, in + len, TAG); /* before out, which may be in, is written */
    if (EVP_DecryptInit_ex(c, NULL, NULL, key, nonce) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, TAG, tag) != 1 ||
        EVP_DecryptUpdate(c, out, &n, in, (int)len) != 1 || (size_t)n != len)
        return -2;
    return EVP_DecryptFinal_ex(c, out + n, &m) == 1 && m == 0 ? 0 : -1;
}
#endif

void um_aead_seal(um_aead *a, uint8_t *out, const uint8_t *in, size_t len, const uint8_t nonce[12],
                  const uint8_t key[32])
{
    unsigned long long n = 0;
#ifdef UM_HAVE_OPENSSL_AEAD
    if (a->evp && evp_seal(a->evp, out, in, len, nonce, key) == 0)
        return;
#else
    (void)a;
#endif
    crypto_aead_chacha20poly1305_ietf_encrypt(out, &n, in, len, NULL, 0, NULL, nonce, key);
}

int um_aead_open(um_aead *a, uint8_t *out, const uint8_t *in, size_t clen, const uint8_t nonce[12],
                 const uint8_t key[32])
{
    unsigned long long n = 0;
    if (clen < TAG)
        return -1;
#ifdef UM_HAVE_OPENSSL_AEAD
    if (a->evp) {
        int rc = evp_open(a->evp, out, in, clen, nonce, key);
        if (rc == 0)
            return 0;
        if (rc == -1) {
            sodium_memzero(out, clen - TAG); /* never leave unauthenticated plaintext behind */
            return -1;
        }
        if (out == in) { /* the input may be overwritten: it cannot be tried again */
            sodium_memzero(out, clen - TAG);
            return -1;
        }
    }
#else
    (void)a;
#endif
    return crypto_aead_chacha20poly1305_ietf_decrypt(out, &n, NULL, in, clen, NULL, 0, nonce, key) == 0 ? 0 : -1;
}

#endif /* UNMETA_HAVE_SODIUM */
