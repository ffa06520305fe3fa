/*
 * stream.c - the age payload (age spec, "Payload"): STREAM, 64 KiB
 * plaintext chunks sealed with ChaCha20-Poly1305-IETF under the nonce
 * 11-byte big-endian counter ‖ last-chunk flag.
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

void um_env_chunk_nonce(uint8_t nonce[12], uint64_t counter, int last)
{
    nonce[0] = nonce[1] = nonce[2] = 0;
    for (int i = 0; i < 8; i++)
        nonce[10 - i] = (uint8_t)(counter >> (8 * i));
    nonce[11] = last ? 1 : 0;
}

int um_env_seal_chunk(um_job *job, um_env_secrets *sec, unmeta_sink *dst, uint64_t counter, size_t n, int last)
{
    uint8_t nonce[12];
    unsigned long long clen = 0;
    um_env_chunk_nonce(nonce, counter, last);
    crypto_aead_chacha20poly1305_ietf_encrypt(sec->chunk, &clen, sec->chunk, n, NULL, 0, NULL, nonce,
                                              sec->payload_key);
    int rc = um_sink_write(dst, sec->chunk, (size_t)clen);
    if (rc < 0)
        return um_fail(job, rc, "%s", um_sink_error(dst));
    return 0;
}

int um_env_payload_fail(um_job *job, const char *what, uint64_t chunk)
{
    return um_fail(job, UNMETA_E_CRYPTO, "payload: %s (chunk %llu)", what, (unsigned long long)chunk);
}

int um_env_open_chunk(um_job *job, um_env_secrets *sec, uint64_t base, uint64_t i, uint64_t n, uint64_t last_clen,
                      size_t *len)
{
    uint8_t nonce[12];
    size_t clen = i + 1 == n ? (size_t)last_clen : AGE_CCHUNK;
    unsigned long long plen = 0;
    UM_TRY(um_read_at(job, base + i * AGE_CCHUNK, sec->chunk, clen));
    um_env_chunk_nonce(nonce, i, i + 1 == n);
    if (crypto_aead_chacha20poly1305_ietf_decrypt(sec->chunk, &plen, NULL, sec->chunk, clen, NULL, 0, nonce,
                                                  sec->payload_key) != 0)
        return um_env_payload_fail(job, i + 1 == n ? "the final chunk failed authentication (altered, truncated or missing)"
                                                   : "a chunk failed authentication (altered, reordered or truncated)", i);
    *len = (size_t)plen;
    return 0;
}

int um_env_write_out(um_job *job, unmeta_sink *dst, const uint8_t *p, size_t n)
{
    if (!n)
        return 0;
    int rc = um_sink_write(dst, p, n);
    return rc < 0 ? um_fail(job, rc, "%s", um_sink_error(dst)) : 0;
}

#endif /* UNMETA_HAVE_SODIUM */
