/*
 * seal.c - unmeta_seal(): INFO, the header with its stanzas and MAC, then
 * the payload INFO ‖ content ‖ zero padding through the chunk stream.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "io.h"
#include "envelope/private.h"
#include "formats/format.h"

#ifdef UNMETA_HAVE_SODIUM
#include <sodium.h>

typedef struct sealer {
    um_job job;
    um_env_secrets *sec;
    um_env_text header;
} sealer;

/* The plaintext of an envelope: INFO ‖ content ‖ zero padding. */
typedef struct plain_stream {
    uint8_t info[UM_ENV_INFO_SIZE];
    uint64_t plain_len;          /* INFO and content */
} plain_stream;

/* Bytes [pos, pos + n) of it; the content is read straight into buf. */
static int plain_fill(um_job *job, void *user, uint64_t pos, uint8_t *buf, size_t n)
{
    const plain_stream *ps = user;
    size_t f = 0;
    while (f < n) {
        uint64_t at = pos + f;
        if (at < UM_ENV_INFO_SIZE) {
            size_t k = UM_ENV_INFO_SIZE - (size_t)at;
            if (k > n - f)
                k = n - f;
            memcpy(buf + f, ps->info + at, k);
            f += k;
        } else if (at < ps->plain_len) {
            uint64_t left = ps->plain_len - at;
            size_t k = left < n - f ? (size_t)left : n - f;
            UM_TRY(um_read_at(job, at - UM_ENV_INFO_SIZE, buf + f, k));
            f += k;
        } else {
            memset(buf + f, 0, n - f);
            f = n;
        }
    }
    return 0;
}

int um_env_seal_raw(unmeta_ctx *ctx, unmeta_source *src, unmeta_sink *dst, const unmeta_seal_params *params,
                    const um_env_info *info_override, um_env_rng_fn rng, void *ru)
{
    sealer s;
    unmeta_seal_params p;
    um_env_info info;
    int rc = 0;
    memset(&s, 0, sizeof(s));
    s.job.ctx = ctx;
    if (!ctx)
        return UNMETA_E_INVALID;
    ctx->errmsg[0] = '\0';
    {
        unmeta_seal_params d = UNMETA_SEAL_PARAMS_INIT;
        if (!src || !dst || !params || um_env_copy_params(&p, &d, sizeof(p), params) < 0) {
            rc = um_ctx_fail(ctx, UNMETA_E_INVALID, "seal: missing source, sink or parameters");
            goto done;
        }
    }
    if (!rng)
        rng = um_env_default_rng;
    if (sodium_init() < 0) {
        rc = um_fail(&s.job, UNMETA_E_FEATURE, "libsodium failed to initialise");
        goto done;
    }
    int use_pass = p.passphrase != NULL;
    if (use_pass == (p.recipient_count > 0)) {
        rc = um_fail(&s.job, UNMETA_E_INVALID, "seal: give recipients or a passphrase (one of the two)");
        goto done;
    }
    if (p.recipient_count && !p.recipients) {
        rc = um_fail(&s.job, UNMETA_E_INVALID, "seal: recipient_count without recipients");
        goto done;
    }
    if (use_pass && p.passphrase_len == 0) {
        rc = um_fail(&s.job, UNMETA_E_INVALID, "seal: empty passphrase");
        goto done;
    }
    int log_n = p.scrypt_log_n ? p.scrypt_log_n : UNMETA_SCRYPT_LOG_N_DEFAULT;
    if (log_n < SCRYPT_LOG_N_MIN || log_n > SCRYPT_LOG_N_SEAL_MAX) {
        rc = um_fail(&s.job, UNMETA_E_INVALID, "seal: scrypt work factor 2^%d outside 2^%d..2^%d", log_n,
                     SCRYPT_LOG_N_MIN, SCRYPT_LOG_N_SEAL_MAX);
        goto done;
    }
    if (p.not_after < 0 || p.flags & ~(uint32_t)(UNMETA_SEAL_NO_PAD | UNMETA_SEAL_RECORD_TIME | UNMETA_SEAL_STRIPPED)) {
        rc = um_fail(&s.job, UNMETA_E_INVALID, "seal: bad expiry or unknown flags");
        goto done;
    }
    if (p.share && p.share->struct_size < SHARE_V1_SIZE) {
        rc = um_fail(&s.job, UNMETA_E_INVALID, "seal: share struct_size %u is smaller than unmeta_share (%u)",
                     (unsigned)p.share->struct_size, (unsigned)SHARE_V1_SIZE);
        goto done;
    }
    if (p.share && use_pass) {
        rc = um_fail(&s.job, UNMETA_E_INVALID,
                     "seal: a key-release share needs X25519 recipients (age allows no stanza beside a scrypt one)");
        goto done;
    }
    UM_TRY_GOTO(rc, um_reader_open(&s.job.in, &s.job, src), done);
    uint64_t content_len = um_reader_size(s.job.in);

    /* INFO */
    memset(&info, 0, sizeof(info));
    if (info_override) {
        info = *info_override;
    } else {
        info.crit = (p.flags & UNMETA_SEAL_NO_PAD) ? 0 : UM_ENV_CRIT_PADDED;
        info.flags = (p.flags & UNMETA_SEAL_STRIPPED) ? UM_ENV_FLAG_STRIPPED : 0;
        info.not_after = p.not_after;
        info.created = (p.flags & UNMETA_SEAL_RECORD_TIME) ? (p.now ? p.now : um_env_system_now()) : 0;
        info.content_length = content_len;
        if (p.content_type) {
            if (!um_env_type_valid(p.content_type)) {
                rc = um_fail(&s.job, UNMETA_E_INVALID, "seal: content type must be 1-32 printable ASCII characters");
                goto done;
            }
            snprintf(info.content_type, sizeof(info.content_type), "%s", p.content_type);
        } else {
            uint8_t head[UM_PROBE_SIZE];
            size_t hn = content_len < sizeof(head) ? (size_t)content_len : sizeof(head);
            UM_TRY_GOTO(rc, um_read_at(&s.job, 0, head, hn), done);
            const um_format *f = hn ? um_format_probe(head, hn) : NULL;
            snprintf(info.content_type, sizeof(info.content_type), "%s", f ? f->mime : "application/octet-stream");
        }
    }
    uint64_t plain_len;
    if (!um_add_u64(&plain_len, UM_ENV_INFO_SIZE, content_len)) {
        rc = um_fail(&s.job, UNMETA_E_LIMIT, "seal: input too large");
        goto done;
    }
    uint64_t total = plain_len;
    if (info.crit & UM_ENV_CRIT_PADDED) {
        total = um_env_padme(plain_len);
        if (total == 0) {
            rc = um_fail(&s.job, UNMETA_E_LIMIT, "seal: input too large to pad");
            goto done;
        }
    }

    s.sec = um_env_secret_malloc(sizeof(um_env_secrets));
    if (!s.sec) {
        rc = um_fail(&s.job, UNMETA_E_NOMEM, "out of memory for secrets");
        goto done;
    }
    rng(s.sec->file_key, AGE_FILE_KEY, ru);
    memcpy(s.sec->stanza_key, s.sec->file_key, AGE_FILE_KEY);

    /* header */
    UM_TRY_GOTO(rc, um_env_text_reserve(&s.job, &s.header, sizeof(AGE_INTRO)), done);
    memcpy(s.header.p, AGE_INTRO, sizeof(AGE_INTRO) - 1);
    s.header.len = sizeof(AGE_INTRO) - 1;
    if (p.share) /* first: the recipient stanzas wrap file key XOR share key */
        UM_TRY_GOTO(rc, um_env_share_wrap(&s.job, &s.header, s.sec, p.not_after, rng, ru), done);
    if (use_pass) {
        UM_TRY_GOTO(rc, um_env_scrypt_wrap(&s.job, &s.header, s.sec, p.passphrase, p.passphrase_len, log_n, rng, ru), done);
    } else {
        for (uint32_t i = 0; i < p.recipient_count; i++) {
            if (!p.recipients[i]) {
                rc = um_fail(&s.job, UNMETA_E_INVALID, "seal: recipient %u is NULL", i);
                goto done;
            }
            UM_TRY_GOTO(rc, um_env_x25519_wrap(&s.job, &s.header, s.sec, p.recipients[i], rng, ru), done);
        }
    }
    UM_TRY_GOTO(rc, um_env_text_reserve(&s.job, &s.header, 64), done);
    memcpy(s.header.p + s.header.len, "---", 3);
    s.header.len += 3;
    {
        uint8_t mac[32];
        um_env_hkdf_sha256(s.sec->mac_key, 32, NULL, 0, s.sec->file_key, AGE_FILE_KEY, (const uint8_t *)"header", 6);
        crypto_auth_hmacsha256(mac, (const uint8_t *)s.header.p, s.header.len, s.sec->mac_key);
        s.header.p[s.header.len++] = ' ';
        s.header.len += um_b64_encode(s.header.p + s.header.len, mac, 32);
        s.header.p[s.header.len++] = '\n';
    }
    {
        uint8_t nonce[16];
        rng(nonce, sizeof(nonce), ru);
        um_env_hkdf_sha256(s.sec->payload_key, 32, nonce, 16, s.sec->file_key, AGE_FILE_KEY,
                           (const uint8_t *)"payload", 7);
        rc = um_sink_write(dst, s.header.p, s.header.len);
        if (rc >= 0)
            rc = um_sink_write(dst, nonce, sizeof(nonce));
        if (rc < 0) {
            rc = um_fail(&s.job, rc, "%s", um_sink_error(dst));
            goto done;
        }
    }

    /* payload: the virtual stream INFO ‖ content ‖ zeros, total bytes */
    {
        plain_stream ps;
        um_env_info_encode(ps.info, &info);
        ps.plain_len = plain_len;
        UM_TRY_GOTO(rc, um_env_stream_seal(&s.job, s.sec->payload_key, dst, total, plain_fill, &ps), done);
    }
    rc = um_sink_commit(dst);
    if (rc < 0)
        rc = um_fail(&s.job, rc, "%s", um_sink_error(dst));
    else if (p.share) {
        /* released only once the envelope is complete; struct_size checked above */
        memcpy(p.share->id, s.sec->share.id, sizeof(p.share->id));
        p.share->not_after = s.sec->share.not_after;
        memcpy(p.share->key, s.sec->share.key, UNMETA_SHARE_KEY_LEN);
    }
done:
    if (rc < 0 && dst)
        um_sink_abort(dst);
    if (s.sec)
        sodium_free(s.sec);
    free(s.header.p);
    um_reader_close(s.job.in);
    return rc < 0 ? rc : 0;
}

int32_t unmeta_seal(unmeta_ctx *ctx, unmeta_source *src, unmeta_sink *dst, const unmeta_seal_params *params)
{
    return um_env_seal_raw(ctx, src, dst, params, NULL, NULL, NULL);
}


#endif /* UNMETA_HAVE_SODIUM */
