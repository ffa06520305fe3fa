/*
 * info.c - the INFO block that opens an envelope's plaintext, and PADMÉ
 * padding (docs/envelope.md, "Inside"). No crypto.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "io.h"
#include "envelope/private.h"

/* ---- PADMÉ ------------------------------------------------------------- */

static unsigned floor_log2(uint64_t v)
{
    unsigned r = 0;
    while (v >>= 1)
        r++;
    return r;
}

uint64_t um_env_padme(uint64_t len)
{
    if (len < 2)
        return len;
    unsigned e = floor_log2(len);
    unsigned s = floor_log2(e) + 1;
    unsigned low = e > s ? e - s : 0; /* e >= 1, s <= e for e >= 1 */
    uint64_t mask = (UINT64_C(1) << low) - 1;
    uint64_t out;
    if (!um_add_u64(&out, len, mask))
        return 0;
    return out & ~mask;
}

/* ---- INFO -------------------------------------------------------------- */

/* Layout (big-endian), docs/envelope.md:
 *   0  8  magic 89 'u' 'n' 'm' 'e' 't' 'a' 0A
 *   8  2  version (1)
 *  10  2  INFO length (96)
 *  12  4  critical flags
 *  16  4  ignorable flags
 *  20  8  not_after, signed Unix seconds, 0 = none
 *  28  8  created, signed Unix seconds, 0 = not recorded
 *  36  8  content length
 *  44 32  content type, printable ASCII, NUL-padded
 *  76 20  reserved, zero */
void um_env_info_encode(uint8_t out[UM_ENV_INFO_SIZE], const um_env_info *info)
{
    memset(out, 0, UM_ENV_INFO_SIZE);
    memcpy(out, UM_ENV_MAGIC, UM_ENV_MAGIC_LEN);
    um_put_be16(out + 8, UM_ENV_INFO_VERSION);
    um_put_be16(out + 10, UM_ENV_INFO_SIZE);
    um_put_be32(out + 12, info->crit);
    um_put_be32(out + 16, info->flags);
    um_put_be64(out + 20, (uint64_t)info->not_after);
    um_put_be64(out + 28, (uint64_t)info->created);
    um_put_be64(out + 36, info->content_length);
    size_t tl = strnlen(info->content_type, UM_ENV_TYPE_LEN);
    memcpy(out + 44, info->content_type, tl);
}


int um_env_type_valid(const char *t)
{
    size_t n = strlen(t);
    if (n > UM_ENV_TYPE_LEN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)t[i] < 0x21 || (unsigned char)t[i] > 0x7e)
            return 0;
    return 1;
}

int um_env_info_decode(um_env_info *out, const uint8_t *p, size_t n, char *msg, size_t msg_size)
{
    memset(out, 0, sizeof(*out));
    if (n < 12 || memcmp(p, UM_ENV_MAGIC, UM_ENV_MAGIC_LEN) != 0) {
        snprintf(msg, msg_size, "INFO: shorter than its fixed header (%zu bytes)", n);
        return UNMETA_E_MALFORMED;
    }
    uint16_t version = um_be16(p + 8), len = um_be16(p + 10);
    if (version != UM_ENV_INFO_VERSION) {
        snprintf(msg, msg_size, "INFO: version %u is not known to this build (it reads version %u)",
                 version, UM_ENV_INFO_VERSION);
        return UNMETA_E_UNSUPPORTED;
    }
    if (len != UM_ENV_INFO_SIZE) {
        snprintf(msg, msg_size, "INFO: length %u, version 1 has %u", len, UM_ENV_INFO_SIZE);
        return UNMETA_E_MALFORMED;
    }
    if (n < UM_ENV_INFO_SIZE) {
        snprintf(msg, msg_size, "INFO: the plaintext ends after %zu of its %u bytes", n, UM_ENV_INFO_SIZE);
        return UNMETA_E_MALFORMED;
    }
    out->crit = um_be32(p + 12);
    out->flags = um_be32(p + 16);
    out->not_after = (int64_t)um_be64(p + 20);
    out->created = (int64_t)um_be64(p + 28);
    out->content_length = um_be64(p + 36);
    if (out->crit & ~UM_ENV_CRIT_KNOWN) {
        snprintf(msg, msg_size, "INFO: unknown critical flags 0x%08x (made by a newer version?)",
                 (unsigned)(out->crit & ~UM_ENV_CRIT_KNOWN));
        return UNMETA_E_UNSUPPORTED;
    }
    if (out->not_after < 0 || out->created < 0) {
        snprintf(msg, msg_size, "INFO: negative time");
        return UNMETA_E_MALFORMED;
    }
    const uint8_t *t = p + 44;
    size_t tl = 0;
    while (tl < UM_ENV_TYPE_LEN && t[tl])
        tl++;
    for (size_t i = 0; i < UM_ENV_TYPE_LEN; i++) {
        if (i < tl ? (t[i] < 0x21 || t[i] > 0x7e) : t[i] != 0) {
            snprintf(msg, msg_size, "INFO: content type byte %zu is 0x%02x", i, t[i]);
            return UNMETA_E_MALFORMED;
        }
    }
    memcpy(out->content_type, t, tl);
    out->content_type[tl] = '\0';
    for (size_t i = 76; i < UM_ENV_INFO_SIZE; i++)
        if (p[i]) {
            snprintf(msg, msg_size, "INFO: reserved byte %zu is not zero", i);
            return UNMETA_E_MALFORMED;
        }
    return 0;
}

