/*
 * scrypt.c - the scrypt (passphrase) stanza (age spec, "scrypt recipient
 * stanza"): wrapping the file key under a passphrase, and unwrapping it
 * within the caller's work-factor cap.
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

int um_env_scrypt_wrap(um_job *job, um_env_text *h, um_env_secrets *sec, const uint8_t *pass, uint64_t pass_len,
                       int log_n, um_env_rng_fn rng, void *ru)
{
    uint8_t salt[sizeof(AGE_SCRYPT_LABEL) - 1 + 16], body[AGE_FILE_KEY + AGE_TAG], nonce[12] = { 0 };
    size_t ll = sizeof(AGE_SCRYPT_LABEL) - 1;
    memcpy(salt, AGE_SCRYPT_LABEL, ll);
    rng(salt + ll, 16, ru);
    if (crypto_pwhash_scryptsalsa208sha256_ll(pass, (size_t)pass_len, salt, sizeof(salt), UINT64_C(1) << log_n, 8, 1,
                                              sec->wrap_key, 32) != 0)
        return um_fail(job, UNMETA_E_NOMEM, "scrypt with work factor 2^%d failed (out of memory?)", log_n);
    crypto_aead_chacha20poly1305_ietf_encrypt(body, NULL, sec->stanza_key, AGE_FILE_KEY, NULL, 0, NULL, nonce,
                                              sec->wrap_key);
    UM_TRY(um_env_text_reserve(job, h, 256));
    h->len += (size_t)sprintf(h->p + h->len, "-> scrypt ");
    h->len += um_b64_encode(h->p + h->len, salt + ll, 16);
    h->len += (size_t)sprintf(h->p + h->len, " %d\n", log_n);
    um_env_text_body(h, body, sizeof(body));
    return 0;
}

/* age spec, "scrypt recipient stanza": the work factor is a decimal
 * without leading zeros or signs. */
static int parse_log_n(const um_age_stanza *st, int *log_n)
{
    const char *a = st->args[2];
    size_t n = st->arg_len[2];
    if (n == 0 || n > 2 || a[0] == '0')
        return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (a[i] < '0' || a[i] > '9')
            return -1;
        v = v * 10 + (a[i] - '0');
    }
    *log_n = v;
    return 0;
}

int um_env_scrypt_check(const um_age_stanza *st)
{
    uint8_t salt[16];
    int log_n;
    if (st->nargs != 3 || um_age_arg_b64(salt, 16, st, 1) != 0 || parse_log_n(st, &log_n) != 0 ||
        st->body_len != AGE_FILE_KEY + AGE_TAG)
        return -1;
    return 0;
}

int um_env_scrypt_unwrap(um_job *job, um_env_secrets *sec, const um_age_stanza *st, const unmeta_open_params *p)
{
    uint8_t salt[sizeof(AGE_SCRYPT_LABEL) - 1 + 16];
    size_t ll = sizeof(AGE_SCRYPT_LABEL) - 1;
    int log_n = 0;
    int max = p->max_scrypt_log_n ? p->max_scrypt_log_n : UNMETA_SCRYPT_LOG_N_DEFAULT;
    memcpy(salt, AGE_SCRYPT_LABEL, ll);
    um_age_arg_b64(salt + ll, 16, st, 1);
    parse_log_n(st, &log_n);
    if (!p->passphrase)
        return um_fail(job, UNMETA_E_NOKEY, "no match: the envelope is sealed with a passphrase and none was given");
    if (log_n > max)
        return um_fail(job, UNMETA_E_LIMIT,
                       "header: scrypt work factor 2^%d needs %llu MiB, over the limit of 2^%d "
                       "(raise max_scrypt_log_n to open it)",
                       log_n, log_n < 50 ? (unsigned long long)(UINT64_C(1) << log_n) / 1024 : ~0ull, max);
    if (crypto_pwhash_scryptsalsa208sha256_ll(p->passphrase, (size_t)p->passphrase_len, salt, sizeof(salt),
                                              UINT64_C(1) << log_n, 8, 1, sec->wrap_key, 32) != 0)
        return um_fail(job, UNMETA_E_NOMEM, "scrypt with work factor 2^%d failed (out of memory?)", log_n);
    if (um_env_unwrap(sec->file_key, st->body, sec->wrap_key) != 0)
        return um_fail(job, UNMETA_E_NOKEY, "no match: wrong passphrase (or an altered scrypt stanza)");
    return 0;
}

#endif /* UNMETA_HAVE_SODIUM */
