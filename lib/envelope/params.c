/*
 * params.c - the public parameter structs of seal and open, the small
 * helpers they share (times, share IDs), and the public entry points of a
 * build without libsodium, which all return UNMETA_E_FEATURE.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "io.h"
#include "envelope/private.h"

/* ---- time -------------------------------------------------------------- */

void um_env_fmt_time(char *buf, size_t n, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(buf, n, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(buf, n, "%lld", (long long)t);
}

int64_t um_env_system_now(void)
{
    return (int64_t)time(NULL);
}

/* ---- public parameter structs ------------------------------------------ */

int um_env_copy_params(void *dst, const void *defaults, size_t full, const void *src)
{
    memcpy(dst, defaults, full);
    if (!src)
        return 0;
    uint32_t size;
    memcpy(&size, src, sizeof(size));
    if (size < sizeof(uint32_t))
        return UNMETA_E_INVALID;
    memcpy(dst, src, size < full ? size : full);
    return 0;
}

static int init_params(void *p, uint32_t struct_size, const void *defaults, size_t full)
{
    if (!p || struct_size < sizeof(uint32_t))
        return UNMETA_E_INVALID;
    size_t n = struct_size < full ? struct_size : full;
    memcpy(p, defaults, n);
    uint32_t s = (uint32_t)n;
    memcpy(p, &s, sizeof(s));
    return 0;
}

int32_t unmeta_seal_params_init(unmeta_seal_params *p, uint32_t struct_size)
{
    unmeta_seal_params d = UNMETA_SEAL_PARAMS_INIT;
    return init_params(p, struct_size, &d, sizeof(d));
}

int32_t unmeta_open_params_init(unmeta_open_params *p, uint32_t struct_size)
{
    unmeta_open_params d = UNMETA_OPEN_PARAMS_INIT;
    return init_params(p, struct_size, &d, sizeof(d));
}

int32_t unmeta_open_info_init(unmeta_open_info *info, uint32_t struct_size)
{
    unmeta_open_info d = UNMETA_OPEN_INFO_INIT;
    return init_params(info, struct_size, &d, sizeof(d));
}

int32_t unmeta_share_init(unmeta_share *share, uint32_t struct_size)
{
    unmeta_share d = UNMETA_SHARE_INIT;
    return init_params(share, struct_size, &d, sizeof(d));
}

uint32_t unmeta_share_id_len(void)
{
    return UNMETA_SHARE_ID_LEN;
}

uint32_t unmeta_share_key_len(void)
{
    return UNMETA_SHARE_KEY_LEN;
}

int um_env_share_id_decode(uint8_t out[SHARE_ID_BYTES], const char *s, size_t n)
{
    if (n != UNMETA_SHARE_ID_LEN)
        return -1;
    for (size_t i = 0; i < n; i += 2) {
        int v = 0;
        for (size_t k = 0; k < 2; k++) {
            char c = s[i + k];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0)
                return -1;
            v = v << 4 | d;
        }
        out[i / 2] = (uint8_t)v;
    }
    return 0;
}

void unmeta_free_secret(char *secret)
{
    if (!secret)
        return;
    volatile char *v = secret;
    size_t n = strlen(secret);
    for (size_t i = 0; i < n; i++)
        v[i] = 0;
    free(secret);
}

#ifndef UNMETA_HAVE_SODIUM

/* ---- builds without libsodium ------------------------------------------ */

#define NO_SODIUM "envelopes need libsodium, which this build of libunmeta was made without (-Denvelope=disabled)"

int32_t unmeta_envelope_available(void)
{
    return 0;
}

void unmeta_share_wipe(unmeta_share *share)
{
    if (!share || share->struct_size < sizeof(uint32_t))
        return;
    volatile uint8_t *v = (volatile uint8_t *)share;
    for (size_t i = sizeof(uint32_t); i < share->struct_size && i < sizeof(*share); i++)
        v[i] = 0;
}

int um_env_hkdf_sha256(uint8_t *out, size_t out_len, const uint8_t *salt, size_t salt_len,
                       const uint8_t *ikm, size_t ikm_len, const uint8_t *info, size_t info_len)
{
    return UNMETA_E_FEATURE;
}

int um_env_seal_raw(unmeta_ctx *ctx, unmeta_source *src, unmeta_sink *dst, const unmeta_seal_params *p,
                    const um_env_info *info_override, um_env_rng_fn rng, void *rng_user)
{
    return ctx ? um_ctx_fail(ctx, UNMETA_E_FEATURE, NO_SODIUM) : UNMETA_E_FEATURE;
}

int32_t unmeta_seal(unmeta_ctx *ctx, unmeta_source *src, unmeta_sink *dst, const unmeta_seal_params *p)
{
    if (dst)
        um_sink_abort(dst);
    return ctx ? um_ctx_fail(ctx, UNMETA_E_FEATURE, NO_SODIUM) : UNMETA_E_FEATURE;
}

int32_t unmeta_open(unmeta_open_info *info, unmeta_ctx *ctx, unmeta_source *src, unmeta_sink *dst,
                    const unmeta_open_params *p)
{
    if (dst)
        um_sink_abort(dst);
    return ctx ? um_ctx_fail(ctx, UNMETA_E_FEATURE, NO_SODIUM) : UNMETA_E_FEATURE;
}

int32_t unmeta_keygen(char **identity, char **recipient)
{
    if (identity)
        *identity = NULL;
    if (recipient)
        *recipient = NULL;
    return UNMETA_E_FEATURE;
}

int32_t unmeta_identity_to_recipient(char **recipient, const char *identity)
{
    if (recipient)
        *recipient = NULL;
    return UNMETA_E_FEATURE;
}


#endif /* UNMETA_HAVE_SODIUM */
