/*
 * open.c - unmeta_open(): the header, the file key (identities, passphrase,
 * key-release share), the header MAC, INFO and expiry before any byte is
 * released, then the content through the chunk stream.
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

/* Finds the key the stanzas wrap (the file key, or its half when
 * *share_st is set: the envelope's key-release share stanza). */
static int unwrap_file_key(um_job *job, um_env_secrets *sec, const um_age_header *h, const unmeta_open_params *p,
                           int32_t *kind, const um_age_stanza **share_st)
{
    uint32_t n_scrypt = 0, n_x25519 = 0;
    *share_st = NULL;
    /* Structure first: the age spec's rules for the stanza types we know,
     * whatever keys the caller has. */
    for (uint32_t i = 0; i < h->count; i++) {
        const um_age_stanza *st = &h->stanzas[i];
        if (um_age_arg_is(st, 0, "X25519")) {
            if (um_env_x25519_check(st) != 0)
                return um_fail(job, UNMETA_E_MALFORMED, "header: malformed X25519 stanza %u", i);
            n_x25519++;
        } else if (um_age_arg_is(st, 0, "scrypt")) {
            if (um_env_scrypt_check(st) != 0)
                return um_fail(job, UNMETA_E_MALFORMED, "header: malformed scrypt stanza %u", i);
            n_scrypt++;
        } else if (um_age_arg_is(st, 0, SHARE_TYPE)) {
            if (um_env_share_check_stanza(st) != 0)
                return um_fail(job, UNMETA_E_MALFORMED, "header: malformed " SHARE_TYPE " stanza %u", i);
            if (*share_st)
                return um_fail(job, UNMETA_E_MALFORMED, "header: more than one " SHARE_TYPE " stanza");
            *share_st = st;
        }
    }
    if (n_scrypt && h->count != 1)
        return um_fail(job, UNMETA_E_MALFORMED, "header: a scrypt stanza must be the only stanza");

    if (n_scrypt) {
        UM_TRY(um_env_scrypt_unwrap(job, sec, &h->stanzas[0], p));
        *kind = UNMETA_RECIPIENT_SCRYPT;
        return 0;
    }
    int rc = um_env_x25519_unwrap(job, sec, h, p);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        *kind = UNMETA_RECIPIENT_X25519;
        return 0;
    }
    if (p->passphrase && !p->identity_count)
        return um_fail(job, UNMETA_E_NOKEY, "no match: the envelope is sealed to public keys, not a passphrase; give an identity");
    return um_fail(job, UNMETA_E_NOKEY, "no match: none of the %u identities opens any of the %u X25519 stanzas",
                   p->identity_count, n_x25519);
}

/* Where the plaintext goes: the content to the sink, then the padding,
 * which must be zero. */
typedef struct content_out {
    unmeta_sink *dst;
    uint64_t content_left, pad_left;
} content_out;

static int content_emit(um_job *job, void *user, uint64_t chunk, const uint8_t *q, size_t n)
{
    content_out *co = user;
    size_t k = co->content_left < n ? (size_t)co->content_left : n;
    UM_TRY(um_env_write_out(job, co->dst, q, k));
    co->content_left -= k;
    if (n > k) {
        /* padding: all zero (no more than pad_left by the length check) */
        uint8_t acc = 0;
        for (size_t j = k; j < n; j++)
            acc |= q[j];
        if (acc) {
            size_t j = k;
            while (!q[j])
                j++;
            return um_fail(job, UNMETA_E_MALFORMED, "INFO: padding is not zero (chunk %llu)",
                           (unsigned long long)(chunk + j / AGE_CHUNK));
        }
        co->pad_left -= n - k;
    }
    return 0;
}

int32_t unmeta_open(unmeta_open_info *info_out, unmeta_ctx *ctx, unmeta_source *src, unmeta_sink *dst,
                    const unmeta_open_params *params)
{
    um_job job;
    unmeta_open_params p;
    unmeta_open_info info = UNMETA_OPEN_INFO_INIT;
    um_age_header h;
    um_env_secrets *sec = NULL;
    uint8_t *hbuf = NULL, *armored = NULL;
    unmeta_source *armored_src = NULL;
    int rc = 0;
    memset(&job, 0, sizeof(job));
    memset(&h, 0, sizeof(h));
    job.ctx = ctx;
    if (!ctx)
        return UNMETA_E_INVALID;
    ctx->errmsg[0] = '\0';
    {
        unmeta_open_params d = UNMETA_OPEN_PARAMS_INIT;
        if (!src || !dst || um_env_copy_params(&p, &d, sizeof(p), params) < 0) {
            rc = um_ctx_fail(ctx, UNMETA_E_INVALID, "open: missing source or sink, or bad parameters");
            goto done;
        }
    }
    if (info_out && info_out->struct_size < sizeof(uint32_t)) {
        rc = um_ctx_fail(ctx, UNMETA_E_INVALID, "open: info struct_size not set");
        goto done;
    }
    if (p.max_scrypt_log_n < 0 || p.max_scrypt_log_n > SCRYPT_LOG_N_OPEN_MAX || (p.identity_count && !p.identities) ||
        (p.flags & ~(uint32_t)UNMETA_OPEN_ALLOW_EXPIRED)) {
        rc = um_ctx_fail(ctx, UNMETA_E_INVALID, "open: bad parameters");
        goto done;
    }
    if (sodium_init() < 0) {
        rc = um_fail(&job, UNMETA_E_FEATURE, "libsodium failed to initialise");
        goto done;
    }
    UM_TRY_GOTO(rc, um_reader_open(&job.in, &job, src), done);
    uint64_t size = um_reader_size(job.in);

    /* header */
    {
        size_t hn = size < AGE_HEADER_MAX ? (size_t)size : AGE_HEADER_MAX;
        char msg[200];
        hbuf = um_malloc(&job, hn);
        if (!hbuf) {
            rc = job.err;
            goto done;
        }
        UM_TRY_GOTO(rc, um_read_at(&job, 0, hbuf, hn), done);
        if (um_age_is_armored(hbuf, hn)) {
            /* decode the whole file into memory (bounded), then read that */
            uint8_t *text = NULL;
            size_t dn = 0;
            UM_TRY_GOTO(rc, um_read_block(&job, 0, size, "an ASCII-armored age file", &text), done);
            rc = um_age_armor_decode(&armored, &dn, text, (size_t)size, msg, sizeof(msg));
            free(text);
            if (rc < 0) {
                rc = um_fail(&job, rc, "%s", msg);
                goto done;
            }
            UM_TRY_GOTO(rc, unmeta_source_new_memory(&armored_src, armored, dn), done);
            um_reader_close(job.in);
            job.in = NULL;
            UM_TRY_GOTO(rc, um_reader_open(&job.in, &job, armored_src), done);
            size = dn;
            hn = size < AGE_HEADER_MAX ? (size_t)size : AGE_HEADER_MAX;
            UM_TRY_GOTO(rc, um_read_at(&job, 0, hbuf, hn), done);
        }
        rc = um_age_header_parse(&h, hbuf, hn, msg, sizeof(msg));
        if (rc == UNMETA_E_TRUNCATED && hn == AGE_HEADER_MAX)
            rc = um_fail(&job, UNMETA_E_LIMIT, "header: larger than %u bytes", AGE_HEADER_MAX);
        else if (rc < 0)
            rc = um_fail(&job, rc == UNMETA_E_TRUNCATED ? UNMETA_E_MALFORMED : rc, "%s", msg);
        if (rc < 0)
            goto done;
        for (uint32_t i = 0; i < h.count; i++)
            UM_TRY_GOTO(rc, um_job_count_item(&job, "age stanza"), done);
    }
    sec = um_env_secret_malloc(sizeof(um_env_secrets));
    if (!sec) {
        rc = um_fail(&job, UNMETA_E_NOMEM, "out of memory for secrets");
        goto done;
    }
    {
        const um_age_stanza *share_st = NULL;
        UM_TRY_GOTO(rc, unwrap_file_key(&job, sec, &h, &p, &info.recipient_kind, &share_st), done);
        if (share_st)
            UM_TRY_GOTO(rc, um_env_share_apply(&job, sec, share_st, &p, info.share_id), done);
    }
    {
        uint8_t mac[32];
        um_env_hkdf_sha256(sec->mac_key, 32, NULL, 0, sec->file_key, AGE_FILE_KEY, (const uint8_t *)"header", 6);
        crypto_auth_hmacsha256(mac, hbuf, h.mac_input_len, sec->mac_key);
        if (sodium_memcmp(mac, h.mac, 32) != 0) {
            rc = um_fail(&job, UNMETA_E_CRYPTO, "header MAC mismatch: the header was altered");
            goto done;
        }
    }

    /* payload geometry, from the input's size */
    uint64_t off = h.length, nchunks, last_clen, plain_total;
    {
        uint8_t nonce[16];
        if (size - off < 16) {
            /* before any chunk: age (and the CCTV vectors) count it as a header failure */
            rc = um_fail(&job, UNMETA_E_MALFORMED, "header: the payload nonce is missing or short (truncated file)");
            goto done;
        }
        UM_TRY_GOTO(rc, um_read_at(&job, off, nonce, 16), done);
        um_env_hkdf_sha256(sec->payload_key, 32, nonce, 16, sec->file_key, AGE_FILE_KEY, (const uint8_t *)"payload", 7);
        off += 16;
        uint64_t pl = size - off;
        if (pl == 0) {
            rc = um_env_payload_fail(&job, "no chunks (the file is truncated)", 0);
            goto done;
        }
        nchunks = (pl + AGE_CCHUNK - 1) / AGE_CCHUNK;
        last_clen = pl - (nchunks - 1) * AGE_CCHUNK;
        if (last_clen < AGE_TAG) {
            rc = um_env_payload_fail(&job, "the final chunk is shorter than its tag (truncated)", nchunks - 1);
            goto done;
        }
        if (last_clen == AGE_TAG && nchunks > 1) {
            rc = um_env_payload_fail(&job, "an empty final chunk after a full one", nchunks - 1);
            goto done;
        }
        plain_total = pl - nchunks * AGE_TAG;
    }

    /* chunk 0, INFO, expiry: all before releasing a byte */
    size_t len = 0;
    UM_TRY_GOTO(rc, um_env_open_chunk(&job, sec, off, 0, nchunks, last_clen, &len), done);
    uint64_t content_left, pad_left;
    size_t skip;
    if (len >= UM_ENV_MAGIC_LEN && memcmp(sec->chunk, UM_ENV_MAGIC, UM_ENV_MAGIC_LEN) == 0) {
        um_env_info ei;
        char msg[200];
        rc = um_env_info_decode(&ei, sec->chunk, len, msg, sizeof(msg));
        if (rc < 0) {
            rc = um_fail(&job, rc, "%s", msg);
            goto done;
        }
        uint64_t want;
        if (!um_add_u64(&want, UM_ENV_INFO_SIZE, ei.content_length)) {
            rc = um_fail(&job, UNMETA_E_MALFORMED, "INFO: content length overflows");
            goto done;
        }
        uint64_t padded = (ei.crit & UM_ENV_CRIT_PADDED) ? um_env_padme(want) : want;
        if (padded == 0 || plain_total != padded) {
            /* INFO is authenticated, the file's size is not: chunks were
             * cut off or added. Refused before releasing a byte. */
            rc = um_env_payload_fail(&job, plain_total < padded ? "truncated: fewer bytes than INFO declares"
                                                        : "extended: more bytes than INFO declares", nchunks - 1);
            goto done;
        }
        info.kind = UNMETA_ENVELOPE_UNMETA;
        info.not_after = ei.not_after;
        info.created = ei.created;
        info.content_length = ei.content_length;
        info.padding_length = padded - want;
        info.info_flags = ei.flags;
        memcpy(info.content_type, ei.content_type, strlen(ei.content_type) + 1);
        if (ei.not_after) {
            int64_t now = p.now ? p.now : um_env_system_now();
            if (now > ei.not_after) {
                char when[64];
                um_env_fmt_time(when, sizeof(when), ei.not_after);
                if (!(p.flags & UNMETA_OPEN_ALLOW_EXPIRED)) {
                    rc = um_fail(&job, UNMETA_E_EXPIRED, "the envelope expired on %s", when);
                    goto done;
                }
                info.expired = 1;
            }
        }
        content_left = ei.content_length;
        pad_left = info.padding_length;
        skip = UM_ENV_INFO_SIZE;
    } else {
        info.kind = UNMETA_ENVELOPE_PLAIN_AGE;
        info.content_length = plain_total;
        content_left = plain_total;
        pad_left = 0;
        skip = 0;
    }

    /* stream: chunk 0 (already open) then the others, on the workers */
    {
        content_out co = { dst, content_left, pad_left };
        UM_TRY_GOTO(rc, content_emit(&job, &co, 0, sec->chunk + skip, len - skip), done);
        UM_TRY_GOTO(rc, um_env_stream_open(&job, sec->payload_key, off, 1, nchunks, last_clen, content_emit, &co), done);
        content_left = co.content_left;
        pad_left = co.pad_left;
    }
    if (content_left || pad_left) {
        rc = um_fail(&job, UNMETA_E_MALFORMED, "INFO: length mismatch at the end of the payload");
        goto done;
    }
    rc = um_sink_commit(dst);
    if (rc < 0)
        rc = um_fail(&job, rc, "%s", um_sink_error(dst));
done:
    if (rc < 0 && dst)
        um_sink_abort(dst);
    if ((rc >= 0 || rc == UNMETA_E_EXPIRED) && info_out)
        memcpy((uint8_t *)info_out + sizeof(uint32_t), (uint8_t *)&info + sizeof(uint32_t),
               (info_out->struct_size < sizeof(info) ? info_out->struct_size : sizeof(info)) - sizeof(uint32_t));
    if (sec)
        sodium_free(sec);
    um_age_header_free(&h);
    free(hbuf);
    um_reader_close(job.in);
    unmeta_source_free(armored_src);
    free(armored);
    return rc < 0 ? rc : 0;
}


#endif /* UNMETA_HAVE_SODIUM */
