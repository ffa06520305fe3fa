/*
 * share.c - key-release shares (docs/envelope.md, "Key-release shares"):
 * the unmeta-share stanza written when sealing, and the share fetched,
 * checked and applied to the file key when opening.
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

/* The share's check value: HKDF-SHA-256(IKM = share key, salt = share ID,
 * info "unmeta-share check"), 32 bytes. It tells a wrong share from an
 * altered header and binds the share to its ID. */
static void share_check(uint8_t out[SHARE_CHECK], const uint8_t id[SHARE_ID_BYTES], const uint8_t *key)
{
    um_env_hkdf_sha256(out, SHARE_CHECK, id, SHARE_ID_BYTES, key, UNMETA_SHARE_KEY_LEN,
                       (const uint8_t *)SHARE_CHECK_INFO, sizeof(SHARE_CHECK_INFO) - 1);
}

/* "-> unmeta-share <id>" with the check value as its body; fills sec->share. */
int um_env_share_wrap(um_job *job, um_env_text *h, um_env_secrets *sec, int64_t not_after, um_env_rng_fn rng,
                      void *ru)
{
    uint8_t id[SHARE_ID_BYTES], check[SHARE_CHECK];
    rng(id, sizeof(id), ru);
    memset(&sec->share, 0, sizeof(sec->share));
    sec->share.struct_size = sizeof(sec->share);
    for (size_t i = 0; i < sizeof(id); i++)
        snprintf(sec->share.id + 2 * i, 3, "%02x", id[i]);
    sec->share.not_after = not_after;
    rng(sec->share.key, UNMETA_SHARE_KEY_LEN, ru);
    for (size_t i = 0; i < AGE_FILE_KEY; i++)
        sec->stanza_key[i] = sec->file_key[i] ^ sec->share.key[i];
    share_check(check, id, sec->share.key);
    UM_TRY(um_env_text_reserve(job, h, 256));
    h->len += (size_t)sprintf(h->p + h->len, "-> " SHARE_TYPE " %s\n", sec->share.id);
    um_env_text_body(h, check, sizeof(check));
    return 0;
}

int um_env_share_check_stanza(const um_age_stanza *st)
{
    uint8_t id[SHARE_ID_BYTES];
    if (st->nargs != 2 || um_env_share_id_decode(id, st->args[1], st->arg_len[1]) != 0 || st->body_len != SHARE_CHECK)
        return -1;
    return 0;
}

/* Completes the file key with the key-release share: from the caller, or
 * asked for by ID; checked against the stanza's check value before use. */
int um_env_share_apply(um_job *job, um_env_secrets *sec, const um_age_stanza *st, const unmeta_open_params *p,
                       char id_out[36])
{
    uint8_t id[SHARE_ID_BYTES], check[SHARE_CHECK];
    char hex[UNMETA_SHARE_ID_LEN + 1];
    unmeta_share *sh = &sec->share;
    int rc = 0;
    um_env_share_id_decode(id, st->args[1], st->arg_len[1]); /* validated by um_env_share_check_stanza */
    memcpy(hex, st->args[1], UNMETA_SHARE_ID_LEN);
    hex[UNMETA_SHARE_ID_LEN] = '\0';
    memset(sh, 0, sizeof(*sh));
    sh->struct_size = sizeof(*sh);
    memcpy(sh->id, hex, sizeof(hex));
    if (p->share) {
        if (p->share->struct_size < SHARE_V1_SIZE) {
            rc = um_fail(job, UNMETA_E_INVALID, "open: share struct_size %u is smaller than unmeta_share (%u)",
                         (unsigned)p->share->struct_size, (unsigned)SHARE_V1_SIZE);
            goto done;
        }
        if (strncmp(p->share->id, hex, sizeof(p->share->id)) != 0) {
            rc = um_fail(job, UNMETA_E_NOKEY,
                         "this envelope needs its key-release share (id %s); the share given is for id %.32s", hex,
                         p->share->id);
            goto done;
        }
        memcpy(sh->key, p->share->key, UNMETA_SHARE_KEY_LEN);
    } else if (p->share_fetch) {
        int32_t r = p->share_fetch(sh, p->share_user);
        if (r == UNMETA_E_NOKEY) {
            rc = um_fail(job, UNMETA_E_NOKEY,
                         "this envelope needs its key-release share (id %s), and the share store no longer holds it "
                         "(expired or deleted)", hex);
            goto done;
        }
        if (r != 0) {
            rc = um_fail(job, r < 0 ? r : UNMETA_E_INVALID, "the share store failed to return key-release share %s",
                         hex);
            goto done;
        }
    } else {
        rc = um_fail(job, UNMETA_E_NOKEY, "this envelope needs its key-release share (id %s)", hex);
        goto done;
    }
    share_check(check, id, sh->key);
    if (sodium_memcmp(check, st->body, SHARE_CHECK) != 0) {
        rc = um_fail(job, UNMETA_E_NOKEY, "key-release share %s does not open this envelope (a wrong or damaged share)",
                     hex);
        goto done;
    }
    for (size_t i = 0; i < AGE_FILE_KEY; i++)
        sec->file_key[i] ^= sh->key[i];
    memcpy(id_out, hex, sizeof(hex));
done:
    sodium_memzero(sh, sizeof(*sh));
    return rc;
}

#endif /* UNMETA_HAVE_SODIUM */
