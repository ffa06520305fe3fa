/*
 * envelope.c - expiring encrypted envelopes: age v1 files whose plaintext is
 * INFO ‖ content ‖ zero padding (docs/envelope.md).
 *
 * The outside is the C2SP age v1 format (https://c2sp.org/age): a text
 * header of recipient stanzas (X25519, scrypt) that wrap a 16-byte file key,
 * an HMAC-SHA-256 over the header, then the payload: a 16-byte nonce and the
 * plaintext in 64 KiB chunks sealed with ChaCha20-Poly1305 (STREAM). Any age
 * client can open an envelope; unmeta additionally reads INFO, refuses an
 * expired envelope before releasing a byte, and checks the padding.
 *
 * This is the only file of the library that includes sodium.h. Without
 * libsodium the text encodings, INFO and PADMÉ still build (tests and fuzz
 * targets use them) and every public entry point returns UNMETA_E_FEATURE.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "io.h"
#include "envelope.h"
#include "formats/format.h"

#ifdef UNMETA_HAVE_SODIUM
#include <sodium.h>
#endif

#define AGE_INTRO        "age-encryption.org/v1\n"
#define AGE_X25519_INFO  "age-encryption.org/v1/X25519"
#define AGE_SCRYPT_LABEL "age-encryption.org/v1/scrypt"
#define AGE_CHUNK        65536u                 /* plaintext bytes per STREAM chunk */
#define AGE_TAG          16u
#define AGE_CCHUNK       (AGE_CHUNK + AGE_TAG)  /* ciphertext bytes per full chunk */
#define AGE_FILE_KEY     16u
#define AGE_HEADER_MAX   (1u << 20)             /* refuse headers larger than this */
#define AGE_X25519_HRP   "age"
#define AGE_IDENTITY_HRP "AGE-SECRET-KEY-"
#define SCRYPT_LOG_N_MIN 10
#define SCRYPT_LOG_N_SEAL_MAX 22
#define SCRYPT_LOG_N_OPEN_MAX 30
#define SHARE_TYPE       "unmeta-share"          /* docs/envelope.md, "Key-release shares" */
#define SHARE_CHECK_INFO "unmeta-share check"
#define SHARE_ID_BYTES   16u
#define SHARE_CHECK      32u
/* The fields of unmeta_share version 1: a caller's struct must hold them all. */
#define SHARE_V1_SIZE    (offsetof(unmeta_share, key) + UNMETA_SHARE_KEY_LEN)

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

UM_UNUSED static int type_valid(const char *t)
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

/* ---- base64 (age: standard alphabet, no padding, canonical) ------------ */

static const char b64_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t um_b64_encode(char *out, const uint8_t *in, size_t n)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64_alpha[v >> 18];
        out[o++] = b64_alpha[(v >> 12) & 63];
        out[o++] = b64_alpha[(v >> 6) & 63];
        out[o++] = b64_alpha[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64_alpha[v >> 18];
        out[o++] = b64_alpha[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64_alpha[v >> 18];
        out[o++] = b64_alpha[(v >> 12) & 63];
        out[o++] = b64_alpha[(v >> 6) & 63];
    }
    return o;
}

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

long um_b64_decode(uint8_t *out, const char *in, size_t n)
{
    if (n % 4 == 1 || n > LONG_MAX / 3)
        return -1;
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_val((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* non-canonical: the unused low bits must be zero */
        return -1;
    return (long)o;
}

/* ---- bech32 (BIP 173) -------------------------------------------------- */

static const char b32_alpha[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

static uint32_t b32_polymod_step(uint32_t pre)
{
    uint8_t b = (uint8_t)(pre >> 25);
    return ((pre & 0x1ffffffu) << 5) ^ ((0u - ((b >> 0) & 1u)) & 0x3b6a57b2u) ^ ((0u - ((b >> 1) & 1u)) & 0x26508e6du) ^
           ((0u - ((b >> 2) & 1u)) & 0x1ea119fau) ^ ((0u - ((b >> 3) & 1u)) & 0x3d4233ddu) ^
           ((0u - ((b >> 4) & 1u)) & 0x2a1462b3u);
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static uint32_t b32_hrp_chk(const char *hrp, size_t hl)
{
    uint32_t chk = 1;
    for (size_t i = 0; i < hl; i++)
        chk = b32_polymod_step(chk) ^ ((unsigned)lower((unsigned char)hrp[i]) >> 5);
    chk = b32_polymod_step(chk);
    for (size_t i = 0; i < hl; i++)
        chk = b32_polymod_step(chk) ^ ((unsigned)lower((unsigned char)hrp[i]) & 0x1f);
    return chk;
}

int um_bech32_encode(char *out, size_t out_size, const char *hrp, const uint8_t *data, size_t n)
{
    size_t hl = strlen(hrp);
    size_t n5 = (n * 8 + 4) / 5;
    if (hl == 0 || out_size < hl + 1 + n5 + 6 + 1)
        return -1;
    int upper = hrp[0] >= 'A' && hrp[0] <= 'Z';
    uint32_t chk = b32_hrp_chk(hrp, hl);
    size_t o = 0;
    for (size_t i = 0; i < hl; i++)
        out[o++] = upper ? hrp[i] : (char)lower((unsigned char)hrp[i]);
    out[o++] = '1';
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t i = 0;
    for (size_t k = 0; k < n5; k++) {
        while (bits < 5) {
            acc = acc << 8 | (i < n ? data[i] : 0);
            i++;
            bits += 8;
        }
        bits -= 5;
        unsigned v = (acc >> bits) & 31;
        chk = b32_polymod_step(chk) ^ v;
        out[o++] = b32_alpha[v];
    }
    for (int k = 0; k < 6; k++)
        chk = b32_polymod_step(chk);
    chk ^= 1;
    for (int k = 0; k < 6; k++)
        out[o++] = b32_alpha[(chk >> (5 * (5 - k))) & 31];
    out[o] = '\0';
    if (upper)
        for (size_t k = hl; k < o; k++)
            out[k] = (char)(out[k] >= 'a' && out[k] <= 'z' ? out[k] - 32 : out[k]);
    return 0;
}

int um_bech32_decode(char *hrp_out, size_t hrp_size, uint8_t *data, size_t *n, size_t cap, const char *s)
{
    size_t len = strlen(s);
    int has_lower = 0, has_upper = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 33 || c > 126)
            return -1;
        has_lower |= c >= 'a' && c <= 'z';
        has_upper |= c >= 'A' && c <= 'Z';
    }
    if (has_lower && has_upper)
        return -1;
    const char *sep = strrchr(s, '1');
    if (!sep || sep == s || (size_t)(s + len - sep) < 7)
        return -1;
    size_t hl = (size_t)(sep - s);
    if (hl + 1 > hrp_size)
        return -1;
    uint32_t chk = b32_hrp_chk(s, hl);
    const char *d = sep + 1;
    size_t dl = len - hl - 1;
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < dl; i++) {
        const char *q = strchr(b32_alpha, lower((unsigned char)d[i]));
        if (!q || !*q)
            return -1;
        unsigned v = (unsigned)(q - b32_alpha);
        chk = b32_polymod_step(chk) ^ v;
        if (i + 6 >= dl)
            continue; /* the checksum */
        acc = acc << 5 | v;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return -1;
            data[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (chk != 1 || bits >= 5 || acc != 0)
        return -1;
    memcpy(hrp_out, s, hl);
    hrp_out[hl] = '\0';
    *n = o;
    return 0;
}

/* ---- the age header ---------------------------------------------------- */

static int is_vchar(uint8_t c)
{
    return c >= 0x21 && c <= 0x7e;
}

void um_age_header_free(um_age_header *h)
{
    if (!h)
        return;
    for (uint32_t i = 0; i < h->count; i++)
        free(h->stanzas[i].body);
    free(h->stanzas);
    memset(h, 0, sizeof(*h));
}

/* The header grammar (age spec, "Header"):
 *   header  = "age-encryption.org/v1" LF *stanza "---" SP mac LF
 *   stanza  = "->" 1*(SP arg) LF body
 *   arg     = 1*VCHAR
 *   body    = *(64 base64 chars LF) (0-63 base64 chars) LF
 *   mac     = 43 base64 chars (32 bytes)
 * Base64 is canonical and unpadded. A stanza's body always ends with a
 * line shorter than 64 characters (possibly empty). */
int um_age_header_parse(um_age_header *h, const uint8_t *p, size_t n, char *msg, size_t msg_size)
{
    size_t pos = 0, intro = sizeof(AGE_INTRO) - 1;
    int rc = 0;
    memset(h, 0, sizeof(*h));
    if (n < intro) {
        snprintf(msg, msg_size, "header: ends before the version line");
        return memcmp(p, AGE_INTRO, n) == 0 ? UNMETA_E_TRUNCATED : UNMETA_E_MALFORMED;
    }
    if (memcmp(p, AGE_INTRO, intro) != 0) {
        snprintf(msg, msg_size, "header: not an age v1 file (first line is not \"age-encryption.org/v1\")");
        return UNMETA_E_MALFORMED;
    }
    pos = intro;
    for (;;) {
        const uint8_t *nl = memchr(p + pos, '\n', n - pos);
        if (!nl) {
            snprintf(msg, msg_size, "header: ends inside a line at byte %zu", n);
            rc = UNMETA_E_TRUNCATED;
            goto fail;
        }
        size_t line_end = (size_t)(nl - p), ll = line_end - pos;
        const uint8_t *line = p + pos;
        if (ll >= 3 && memcmp(line, "---", 3) == 0) {
            /* "--- " + 43 base64 characters */
            if (ll != 4 + 43 || line[3] != ' ' || um_b64_decode(h->mac, (const char *)line + 4, 43) != 32) {
                snprintf(msg, msg_size, "header: malformed MAC line at byte %zu", pos);
                rc = UNMETA_E_MALFORMED;
                goto fail;
            }
            h->mac_input_len = pos + 3;
            h->length = line_end + 1;
            return 0;
        }
        if (ll < 3 || memcmp(line, "-> ", 3) != 0) {
            snprintf(msg, msg_size, "header: expected a stanza or the MAC line at byte %zu", pos);
            rc = UNMETA_E_MALFORMED;
            goto fail;
        }
        if (h->count >= UM_AGE_MAX_STANZAS) {
            snprintf(msg, msg_size, "header: more than %u stanzas", UM_AGE_MAX_STANZAS);
            rc = UNMETA_E_LIMIT;
            goto fail;
        }
        um_age_stanza *ns = um_mem_realloc(h->stanzas, (h->count + 1) * sizeof(*ns));
        if (!ns) {
            snprintf(msg, msg_size, "out of memory");
            rc = UNMETA_E_NOMEM;
            goto fail;
        }
        h->stanzas = ns;
        um_age_stanza *st = &h->stanzas[h->count++];
        memset(st, 0, sizeof(*st));
        /* arguments: single spaces between non-empty VCHAR runs */
        size_t i = 3;
        while (i <= ll) {
            size_t start = i;
            while (i < ll && is_vchar(line[i]))
                i++;
            if (i == start || (i < ll && line[i] != ' ')) {
                snprintf(msg, msg_size, "header: stanza line at byte %zu has an empty argument or a bad character", pos);
                rc = UNMETA_E_MALFORMED;
                goto fail;
            }
            if (st->nargs >= UM_AGE_MAX_ARGS) {
                snprintf(msg, msg_size, "header: stanza with more than %u arguments", UM_AGE_MAX_ARGS);
                rc = UNMETA_E_LIMIT;
                goto fail;
            }
            st->args[st->nargs] = (const char *)line + start;
            st->arg_len[st->nargs++] = i - start;
            i++; /* the space, or past the end */
        }
        pos = line_end + 1;
        /* body lines */
        size_t cap = 0;
        for (;;) {
            const uint8_t *bl = memchr(p + pos, '\n', n - pos);
            if (!bl) {
                snprintf(msg, msg_size, "header: ends inside a stanza body at byte %zu", n);
                rc = UNMETA_E_TRUNCATED;
                goto fail;
            }
            size_t bll = (size_t)(bl - (p + pos));
            if (bll > 64) {
                snprintf(msg, msg_size, "header: stanza body line longer than 64 columns at byte %zu", pos);
                rc = UNMETA_E_MALFORMED;
                goto fail;
            }
            if (st->body_len + 48 > cap) {
                cap = cap ? cap * 2 : 64;
                uint8_t *nb = um_mem_realloc(st->body, cap);
                if (!nb) {
                    snprintf(msg, msg_size, "out of memory");
                    rc = UNMETA_E_NOMEM;
                    goto fail;
                }
                st->body = nb;
            }
            /* a full line must hold whole 3-byte groups: 64 chars = 48 bytes */
            long got = um_b64_decode(st->body + st->body_len, (const char *)p + pos, bll);
            if (got < 0) {
                snprintf(msg, msg_size, "header: stanza body at byte %zu is not canonical unpadded base64", pos);
                rc = UNMETA_E_MALFORMED;
                goto fail;
            }
            st->body_len += (size_t)got;
            pos += bll + 1;
            if (bll < 64)
                break;
        }
    }
fail:
    um_age_header_free(h);
    return rc;
}

/* ---- ASCII armor (age spec, "ASCII armor") ------------------------------ */

#define ARMOR_BEGIN "-----BEGIN AGE ENCRYPTED FILE-----"
#define ARMOR_END   "-----END AGE ENCRYPTED FILE-----"

static int is_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Armored: a first line of dashes (after whitespace), or a text that is not
 * binary age and holds a BEGIN line further down (so "garbage before the
 * armor" is named as an armor error, not as "not an age file"). */
int um_age_is_armored(const uint8_t *p, size_t n)
{
    static const char begin_line[] = "\n" ARMOR_BEGIN;
    size_t i = 0;
    while (i < n && is_ws(p[i]))
        i++;
    if (n - i >= 5 && memcmp(p + i, "-----", 5) == 0)
        return 1;
    if (n >= sizeof(AGE_INTRO) - 1 && memcmp(p, AGE_INTRO, sizeof(AGE_INTRO) - 1) == 0)
        return 0;
    for (size_t k = 0; k + sizeof(begin_line) - 1 <= n; k++)
        if (p[k] == '\n' && memcmp(p + k, begin_line, sizeof(begin_line) - 1) == 0)
            return 1;
    return 0;
}

/* Reads one line ending in LF or CRLF (or at the end of the input when
 * last_ok); returns its length, or -1. *next is past the line ending. */
static long armor_line(const uint8_t *p, size_t n, size_t pos, size_t *next, int *eof)
{
    const uint8_t *nl = memchr(p + pos, '\n', n - pos);
    size_t end = nl ? (size_t)(nl - p) : n;
    *eof = !nl;
    *next = nl ? end + 1 : n;
    if (end > pos && p[end - 1] == '\r')
        end--;
    return (long)(end - pos);
}

/* The armor: optional whitespace, the BEGIN line, lines of exactly 64
 * characters of padded, canonical standard base64 and a last line of 1-64,
 * the END line, optional whitespace. Lines end in LF or CRLF. */
int um_age_armor_decode(uint8_t **out, size_t *out_len, const uint8_t *p, size_t n, char *msg, size_t msg_size)
{
    size_t pos = 0, next, bl = sizeof(ARMOR_BEGIN) - 1, el = sizeof(ARMOR_END) - 1;
    int eof = 0;
    *out = NULL;
    *out_len = 0;
    while (pos < n && is_ws(p[pos]))
        pos++;
    long ll = armor_line(p, n, pos, &next, &eof);
    if ((size_t)ll != bl || memcmp(p + pos, ARMOR_BEGIN, bl) != 0 || eof) {
        snprintf(msg, msg_size, "armor: the first line is not \"" ARMOR_BEGIN "\"");
        return UNMETA_E_MALFORMED;
    }
    pos = next;
    uint8_t *buf = um_mem_malloc(n / 4 * 3 + 3);
    char *text = um_mem_malloc(n + 1);
    size_t tl = 0;
    int rc = UNMETA_E_MALFORMED, short_seen = 0;
    if (!buf || !text) {
        snprintf(msg, msg_size, "out of memory");
        rc = UNMETA_E_NOMEM;
        goto done;
    }
    for (;;) {
        if (pos >= n) {
            snprintf(msg, msg_size, "armor: no \"" ARMOR_END "\" line");
            goto done;
        }
        ll = armor_line(p, n, pos, &next, &eof);
        if ((size_t)ll == el && memcmp(p + pos, ARMOR_END, el) == 0)
            break;
        if (eof) {
            snprintf(msg, msg_size, "armor: no \"" ARMOR_END "\" line");
            goto done;
        }
        if (short_seen || ll == 0 || ll > 64) {
            snprintf(msg, msg_size, "armor: line at byte %zu is %s", pos,
                     short_seen ? "after a short line" : ll == 0 ? "empty" : "longer than 64 columns");
            goto done;
        }
        if (ll < 64)
            short_seen = 1;
        memcpy(text + tl, p + pos, (size_t)ll);
        tl += (size_t)ll;
        pos = next;
    }
    pos = next;
    while (pos < n && is_ws(p[pos]))
        pos++;
    if (pos != n) {
        snprintf(msg, msg_size, "armor: data after the END line");
        goto done;
    }
    /* padded base64: a multiple of 4, '=' only as the last one or two */
    size_t pad = 0;
    if (tl % 4 != 0) {
        snprintf(msg, msg_size, "armor: base64 is not padded");
        goto done;
    }
    while (pad < 2 && tl - pad > 0 && text[tl - pad - 1] == '=')
        pad++;
    long got = um_b64_decode(buf, text, tl - pad);
    if (got < 0 || (pad && (tl - pad) % 4 != 4 - pad)) {
        snprintf(msg, msg_size, "armor: invalid or non-canonical base64");
        goto done;
    }
    *out = buf;
    *out_len = (size_t)got;
    buf = NULL;
    rc = 0;
done:
    free(buf);
    free(text);
    return rc;
}

/* ---- time -------------------------------------------------------------- */

UM_UNUSED static void fmt_time(char *buf, size_t n, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(buf, n, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(buf, n, "%lld", (long long)t);
}

/* ---- public parameter structs ------------------------------------------ */

/* Copies a caller's struct of caller_size bytes over defaults. */
UM_UNUSED static int copy_params(void *dst, const void *defaults, size_t full, const void *src)
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

/* A share ID: exactly 32 lowercase hex digits (16 bytes). */
UM_UNUSED static int share_id_decode(uint8_t out[SHARE_ID_BYTES], const char *s, size_t n)
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

#else /* UNMETA_HAVE_SODIUM */

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
static void *secret_malloc(size_t n)
{
    return um_fault_hit() ? NULL : sodium_malloc(n);
}

/* Secrets of one operation, in guarded, locked memory (sodium_malloc:
 * mlock where the system allows it, wiped by sodium_free). */
typedef struct secrets {
    uint8_t file_key[AGE_FILE_KEY];
    uint8_t stanza_key[AGE_FILE_KEY]; /* what the stanzas wrap: the file key, or file key XOR share key */
    unmeta_share share;              /* the key-release share, while it is in use */
    uint8_t payload_key[32];
    uint8_t mac_key[32];
    uint8_t wrap_key[32];
    uint8_t shared[32];
    uint8_t eph[32];
    uint8_t identity[32];
    uint8_t chunk[AGE_CCHUNK];   /* plaintext (and ciphertext) of one chunk */
} secrets;

static void default_rng(void *buf, size_t n, void *user)
{
    (void)user;
    randombytes_buf(buf, n);
}

/* Appends a stanza body, base64 wrapped at 64 columns, ending with a short
 * (possibly empty) line. */
static size_t put_body(char *out, const uint8_t *b, size_t n)
{
    size_t o = 0;
    while (n >= 48) {
        o += um_b64_encode(out + o, b, 48);
        out[o++] = '\n';
        b += 48;
        n -= 48;
    }
    o += um_b64_encode(out + o, b, n);
    out[o++] = '\n';
    return o;
}

static int parse_recipient(uint8_t pk[32], const char *s)
{
    char hrp[16];
    size_t n = 0;
    if (um_bech32_decode(hrp, sizeof(hrp), pk, &n, 32, s) != 0 || strcmp(hrp, AGE_X25519_HRP) != 0 || n != 32)
        return -1;
    return 0;
}

static int parse_identity(uint8_t sk[32], const char *s)
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
    uint8_t *sk = secret_malloc(32);
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
    uint8_t *sk = secret_malloc(32);
    uint8_t pk[32];
    if (!sk)
        return UNMETA_E_NOMEM;
    int ret = UNMETA_E_INVALID;
    if (parse_identity(sk, identity) == 0) {
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

static int64_t system_now(void)
{
    return (int64_t)time(NULL);
}

/* ---- sealing ----------------------------------------------------------- */

typedef struct sealer {
    um_job job;
    secrets *sec;
    char *header;
    size_t header_len, header_cap;
} sealer;

static int header_reserve(sealer *s, size_t more)
{
    if (s->header_len + more <= s->header_cap)
        return 0;
    size_t cap = s->header_cap ? s->header_cap : 1024;
    while (cap < s->header_len + more)
        cap *= 2;
    char *p = um_mem_realloc(s->header, cap);
    if (!p)
        return um_fail(&s->job, UNMETA_E_NOMEM, "out of memory for the header");
    s->header = p;
    s->header_cap = cap;
    return 0;
}

static int add_x25519_stanza(sealer *s, const char *recipient, um_env_rng_fn rng, void *ru)
{
    uint8_t pk[32], share[32], salt[64], body[AGE_FILE_KEY + AGE_TAG], nonce[12] = { 0 };
    secrets *sec = s->sec;
    if (parse_recipient(pk, recipient) != 0)
        return um_fail(&s->job, UNMETA_E_INVALID, "not an X25519 age recipient (age1...): %.80s", recipient);
    rng(sec->eph, 32, ru);
    crypto_scalarmult_base(share, sec->eph);
    if (crypto_scalarmult(sec->shared, sec->eph, pk) != 0)
        return um_fail(&s->job, UNMETA_E_INVALID, "recipient %.80s is a low-order point", recipient);
    memcpy(salt, share, 32);
    memcpy(salt + 32, pk, 32);
    um_env_hkdf_sha256(sec->wrap_key, 32, salt, 64, sec->shared, 32,
                       (const uint8_t *)AGE_X25519_INFO, sizeof(AGE_X25519_INFO) - 1);
    crypto_aead_chacha20poly1305_ietf_encrypt(body, NULL, sec->stanza_key, AGE_FILE_KEY, NULL, 0, NULL, nonce,
                                              sec->wrap_key);
    UM_TRY(header_reserve(s, 256));
    s->header_len += (size_t)sprintf(s->header + s->header_len, "-> X25519 ");
    s->header_len += um_b64_encode(s->header + s->header_len, share, 32);
    s->header[s->header_len++] = '\n';
    s->header_len += put_body(s->header + s->header_len, body, sizeof(body));
    return 0;
}

static int add_scrypt_stanza(sealer *s, const uint8_t *pass, uint64_t pass_len, int log_n, um_env_rng_fn rng,
                             void *ru)
{
    uint8_t salt[sizeof(AGE_SCRYPT_LABEL) - 1 + 16], body[AGE_FILE_KEY + AGE_TAG], nonce[12] = { 0 };
    secrets *sec = s->sec;
    size_t ll = sizeof(AGE_SCRYPT_LABEL) - 1;
    memcpy(salt, AGE_SCRYPT_LABEL, ll);
    rng(salt + ll, 16, ru);
    if (crypto_pwhash_scryptsalsa208sha256_ll(pass, (size_t)pass_len, salt, sizeof(salt), UINT64_C(1) << log_n, 8, 1,
                                              sec->wrap_key, 32) != 0)
        return um_fail(&s->job, UNMETA_E_NOMEM, "scrypt with work factor 2^%d failed (out of memory?)", log_n);
    crypto_aead_chacha20poly1305_ietf_encrypt(body, NULL, sec->stanza_key, AGE_FILE_KEY, NULL, 0, NULL, nonce,
                                              sec->wrap_key);
    UM_TRY(header_reserve(s, 256));
    s->header_len += (size_t)sprintf(s->header + s->header_len, "-> scrypt ");
    s->header_len += um_b64_encode(s->header + s->header_len, salt + ll, 16);
    s->header_len += (size_t)sprintf(s->header + s->header_len, " %d\n", log_n);
    s->header_len += put_body(s->header + s->header_len, body, sizeof(body));
    return 0;
}

/* The share's check value: HKDF-SHA-256(IKM = share key, salt = share ID,
 * info "unmeta-share check"), 32 bytes. It tells a wrong share from an
 * altered header and binds the share to its ID. */
static void share_check(uint8_t out[SHARE_CHECK], const uint8_t id[SHARE_ID_BYTES], const uint8_t *key)
{
    um_env_hkdf_sha256(out, SHARE_CHECK, id, SHARE_ID_BYTES, key, UNMETA_SHARE_KEY_LEN,
                       (const uint8_t *)SHARE_CHECK_INFO, sizeof(SHARE_CHECK_INFO) - 1);
}

/* "-> unmeta-share <id>" with the check value as its body; fills sec->share. */
static int add_share_stanza(sealer *s, int64_t not_after, um_env_rng_fn rng, void *ru)
{
    uint8_t id[SHARE_ID_BYTES], check[SHARE_CHECK];
    secrets *sec = s->sec;
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
    UM_TRY(header_reserve(s, 256));
    s->header_len += (size_t)sprintf(s->header + s->header_len, "-> " SHARE_TYPE " %s\n", sec->share.id);
    s->header_len += put_body(s->header + s->header_len, check, sizeof(check));
    return 0;
}

/* Seals one chunk in place in sec->chunk and writes it. */
static int seal_chunk(sealer *s, unmeta_sink *dst, uint64_t counter, size_t n, int last)
{
    uint8_t nonce[12] = { 0 };
    unsigned long long clen = 0;
    for (int i = 0; i < 8; i++)
        nonce[10 - i] = (uint8_t)(counter >> (8 * i));
    nonce[11] = last ? 1 : 0;
    crypto_aead_chacha20poly1305_ietf_encrypt(s->sec->chunk, &clen, s->sec->chunk, n, NULL, 0, NULL, nonce,
                                              s->sec->payload_key);
    int rc = um_sink_write(dst, s->sec->chunk, (size_t)clen);
    if (rc < 0)
        return um_fail(&s->job, rc, "%s", um_sink_error(dst));
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
        if (!src || !dst || !params || copy_params(&p, &d, sizeof(p), params) < 0) {
            rc = um_ctx_fail(ctx, UNMETA_E_INVALID, "seal: missing source, sink or parameters");
            goto done;
        }
    }
    if (!rng)
        rng = default_rng;
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
        info.created = (p.flags & UNMETA_SEAL_RECORD_TIME) ? (p.now ? p.now : system_now()) : 0;
        info.content_length = content_len;
        if (p.content_type) {
            if (!type_valid(p.content_type)) {
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

    s.sec = secret_malloc(sizeof(secrets));
    if (!s.sec) {
        rc = um_fail(&s.job, UNMETA_E_NOMEM, "out of memory for secrets");
        goto done;
    }
    rng(s.sec->file_key, AGE_FILE_KEY, ru);
    memcpy(s.sec->stanza_key, s.sec->file_key, AGE_FILE_KEY);

    /* header */
    UM_TRY_GOTO(rc, header_reserve(&s, sizeof(AGE_INTRO)), done);
    memcpy(s.header, AGE_INTRO, sizeof(AGE_INTRO) - 1);
    s.header_len = sizeof(AGE_INTRO) - 1;
    if (p.share) /* first: the recipient stanzas wrap file key XOR share key */
        UM_TRY_GOTO(rc, add_share_stanza(&s, p.not_after, rng, ru), done);
    if (use_pass) {
        UM_TRY_GOTO(rc, add_scrypt_stanza(&s, p.passphrase, p.passphrase_len, log_n, rng, ru), done);
    } else {
        for (uint32_t i = 0; i < p.recipient_count; i++) {
            if (!p.recipients[i]) {
                rc = um_fail(&s.job, UNMETA_E_INVALID, "seal: recipient %u is NULL", i);
                goto done;
            }
            UM_TRY_GOTO(rc, add_x25519_stanza(&s, p.recipients[i], rng, ru), done);
        }
    }
    UM_TRY_GOTO(rc, header_reserve(&s, 64), done);
    memcpy(s.header + s.header_len, "---", 3);
    s.header_len += 3;
    {
        uint8_t mac[32];
        um_env_hkdf_sha256(s.sec->mac_key, 32, NULL, 0, s.sec->file_key, AGE_FILE_KEY, (const uint8_t *)"header", 6);
        crypto_auth_hmacsha256(mac, (const uint8_t *)s.header, s.header_len, s.sec->mac_key);
        s.header[s.header_len++] = ' ';
        s.header_len += um_b64_encode(s.header + s.header_len, mac, 32);
        s.header[s.header_len++] = '\n';
    }
    {
        uint8_t nonce[16];
        rng(nonce, sizeof(nonce), ru);
        um_env_hkdf_sha256(s.sec->payload_key, 32, nonce, 16, s.sec->file_key, AGE_FILE_KEY,
                           (const uint8_t *)"payload", 7);
        rc = um_sink_write(dst, s.header, s.header_len);
        if (rc >= 0)
            rc = um_sink_write(dst, nonce, sizeof(nonce));
        if (rc < 0) {
            rc = um_fail(&s.job, rc, "%s", um_sink_error(dst));
            goto done;
        }
    }

    /* payload: the virtual stream INFO ‖ content ‖ zeros, total bytes */
    {
        uint8_t info_bytes[UM_ENV_INFO_SIZE];
        um_env_info_encode(info_bytes, &info);
        uint64_t pos = 0, counter = 0, content_off = 0;
        for (;;) {
            size_t n = total - pos < AGE_CHUNK ? (size_t)(total - pos) : AGE_CHUNK;
            size_t f = 0;
            while (f < n) {
                uint64_t at = pos + f;
                if (at < UM_ENV_INFO_SIZE) {
                    size_t k = UM_ENV_INFO_SIZE - (size_t)at;
                    if (k > n - f)
                        k = n - f;
                    memcpy(s.sec->chunk + f, info_bytes + at, k);
                    f += k;
                } else if (at < plain_len) {
                    uint64_t left = plain_len - at;
                    size_t k = left < n - f ? (size_t)left : n - f;
                    UM_TRY_GOTO(rc, um_read_at(&s.job, content_off, s.sec->chunk + f, k), done);
                    content_off += k;
                    f += k;
                } else {
                    memset(s.sec->chunk + f, 0, n - f);
                    f = n;
                }
            }
            pos += n;
            int last = pos == total;
            UM_TRY_GOTO(rc, seal_chunk(&s, dst, counter, n, last), done);
            if (last)
                break;
            counter++;
            if ((counter & 63) == 0)
                UM_TRY_GOTO(rc, um_job_check_cancel(&s.job), done);
        }
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
    free(s.header);
    um_reader_close(s.job.in);
    return rc < 0 ? rc : 0;
}

int32_t unmeta_seal(unmeta_ctx *ctx, unmeta_source *src, unmeta_sink *dst, const unmeta_seal_params *params)
{
    return um_env_seal_raw(ctx, src, dst, params, NULL, NULL, NULL);
}

/* ---- opening ----------------------------------------------------------- */

static int arg_is(const um_age_stanza *st, uint32_t i, const char *s)
{
    size_t n = strlen(s);
    return st->nargs > i && st->arg_len[i] == n && memcmp(st->args[i], s, n) == 0;
}

/* Decodes a 32-byte share argument strictly. */
static int arg_b64(uint8_t *out, size_t want, const um_age_stanza *st, uint32_t i)
{
    uint8_t tmp[64];
    if (st->arg_len[i] > 86)
        return -1;
    long got = um_b64_decode(tmp, st->args[i], st->arg_len[i]);
    if (got != (long)want)
        return -1;
    memcpy(out, tmp, want);
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

static int unwrap(uint8_t *file_key, const uint8_t *body, const uint8_t key[32])
{
    uint8_t nonce[12] = { 0 };
    unsigned long long n = 0;
    if (crypto_aead_chacha20poly1305_ietf_decrypt(file_key, &n, NULL, body, AGE_FILE_KEY + AGE_TAG, NULL, 0, nonce,
                                                  key) != 0)
        return -1;
    return n == AGE_FILE_KEY ? 0 : -1;
}

/* Finds the key the stanzas wrap (the file key, or its half when
 * *share_st is set: the envelope's key-release share stanza). */
static int unwrap_file_key(um_job *job, secrets *sec, const um_age_header *h, const unmeta_open_params *p,
                           int32_t *kind, const um_age_stanza **share_st)
{
    uint32_t n_scrypt = 0, n_x25519 = 0;
    *share_st = NULL;
    /* Structure first: the age spec's rules for the stanza types we know,
     * whatever keys the caller has. */
    for (uint32_t i = 0; i < h->count; i++) {
        const um_age_stanza *st = &h->stanzas[i];
        if (arg_is(st, 0, "X25519")) {
            uint8_t share[32];
            if (st->nargs != 2 || arg_b64(share, 32, st, 1) != 0 || st->body_len != AGE_FILE_KEY + AGE_TAG)
                return um_fail(job, UNMETA_E_MALFORMED, "header: malformed X25519 stanza %u", i);
            n_x25519++;
        } else if (arg_is(st, 0, "scrypt")) {
            uint8_t salt[16];
            int log_n;
            if (st->nargs != 3 || arg_b64(salt, 16, st, 1) != 0 || parse_log_n(st, &log_n) != 0 ||
                st->body_len != AGE_FILE_KEY + AGE_TAG)
                return um_fail(job, UNMETA_E_MALFORMED, "header: malformed scrypt stanza %u", i);
            n_scrypt++;
        } else if (arg_is(st, 0, SHARE_TYPE)) {
            uint8_t id[SHARE_ID_BYTES];
            if (st->nargs != 2 || share_id_decode(id, st->args[1], st->arg_len[1]) != 0 ||
                st->body_len != SHARE_CHECK)
                return um_fail(job, UNMETA_E_MALFORMED, "header: malformed " SHARE_TYPE " stanza %u", i);
            if (*share_st)
                return um_fail(job, UNMETA_E_MALFORMED, "header: more than one " SHARE_TYPE " stanza");
            *share_st = st;
        }
    }
    if (n_scrypt && h->count != 1)
        return um_fail(job, UNMETA_E_MALFORMED, "header: a scrypt stanza must be the only stanza");

    if (n_scrypt) {
        const um_age_stanza *st = &h->stanzas[0];
        uint8_t salt[sizeof(AGE_SCRYPT_LABEL) - 1 + 16];
        size_t ll = sizeof(AGE_SCRYPT_LABEL) - 1;
        int log_n = 0;
        int max = p->max_scrypt_log_n ? p->max_scrypt_log_n : UNMETA_SCRYPT_LOG_N_DEFAULT;
        memcpy(salt, AGE_SCRYPT_LABEL, ll);
        arg_b64(salt + ll, 16, st, 1);
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
        if (unwrap(sec->file_key, st->body, sec->wrap_key) != 0)
            return um_fail(job, UNMETA_E_NOKEY, "no match: wrong passphrase (or an altered scrypt stanza)");
        *kind = UNMETA_RECIPIENT_SCRYPT;
        return 0;
    }
    for (uint32_t k = 0; k < p->identity_count; k++) {
        if (!p->identities || !p->identities[k])
            return um_fail(job, UNMETA_E_INVALID, "open: identity %u is NULL", k);
        if (parse_identity(sec->identity, p->identities[k]) != 0)
            return um_fail(job, UNMETA_E_INVALID, "open: identity %u is not an X25519 age identity (AGE-SECRET-KEY-1...)", k);
        uint8_t pk[32], salt[64];
        crypto_scalarmult_base(pk, sec->identity);
        for (uint32_t i = 0; i < h->count; i++) {
            const um_age_stanza *st = &h->stanzas[i];
            if (!arg_is(st, 0, "X25519"))
                continue;
            arg_b64(salt, 32, st, 1);
            memcpy(salt + 32, pk, 32);
            if (crypto_scalarmult(sec->shared, sec->identity, salt) != 0)
                return um_fail(job, UNMETA_E_MALFORMED, "header: X25519 stanza %u has a low-order share", i);
            um_env_hkdf_sha256(sec->wrap_key, 32, salt, 64, sec->shared, 32, (const uint8_t *)AGE_X25519_INFO,
                               sizeof(AGE_X25519_INFO) - 1);
            if (unwrap(sec->file_key, st->body, sec->wrap_key) == 0) {
                *kind = UNMETA_RECIPIENT_X25519;
                return 0;
            }
        }
    }
    if (p->passphrase && !p->identity_count)
        return um_fail(job, UNMETA_E_NOKEY, "no match: the envelope is sealed to public keys, not a passphrase; give an identity");
    return um_fail(job, UNMETA_E_NOKEY, "no match: none of the %u identities opens any of the %u X25519 stanzas",
                   p->identity_count, n_x25519);
}

/* Completes the file key with the key-release share: from the caller, or
 * asked for by ID; checked against the stanza's check value before use. */
static int apply_share(um_job *job, secrets *sec, const um_age_stanza *st, const unmeta_open_params *p,
                       char id_out[36])
{
    uint8_t id[SHARE_ID_BYTES], check[SHARE_CHECK];
    char hex[UNMETA_SHARE_ID_LEN + 1];
    unmeta_share *sh = &sec->share;
    int rc = 0;
    share_id_decode(id, st->args[1], st->arg_len[1]); /* validated by unwrap_file_key */
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

static int payload_fail(um_job *job, const char *what, uint64_t chunk)
{
    return um_fail(job, UNMETA_E_CRYPTO, "payload: %s (chunk %llu)", what, (unsigned long long)chunk);
}

/* Decrypts chunk i of n into sec->chunk; *len receives the plaintext size. */
static int open_chunk(um_job *job, secrets *sec, uint64_t base, uint64_t i, uint64_t n, uint64_t last_clen,
                      size_t *len)
{
    uint8_t nonce[12] = { 0 };
    size_t clen = i + 1 == n ? (size_t)last_clen : AGE_CCHUNK;
    unsigned long long plen = 0;
    UM_TRY(um_read_at(job, base + i * AGE_CCHUNK, sec->chunk, clen));
    for (int k = 0; k < 8; k++)
        nonce[10 - k] = (uint8_t)(i >> (8 * k));
    nonce[11] = i + 1 == n ? 1 : 0;
    if (crypto_aead_chacha20poly1305_ietf_decrypt(sec->chunk, &plen, NULL, sec->chunk, clen, NULL, 0, nonce,
                                                  sec->payload_key) != 0)
        return payload_fail(job, i + 1 == n ? "the final chunk failed authentication (altered, truncated or missing)"
                                            : "a chunk failed authentication (altered, reordered or truncated)", i);
    *len = (size_t)plen;
    return 0;
}

static int write_out(um_job *job, unmeta_sink *dst, const uint8_t *p, size_t n)
{
    if (!n)
        return 0;
    int rc = um_sink_write(dst, p, n);
    return rc < 0 ? um_fail(job, rc, "%s", um_sink_error(dst)) : 0;
}

int32_t unmeta_open(unmeta_open_info *info_out, unmeta_ctx *ctx, unmeta_source *src, unmeta_sink *dst,
                    const unmeta_open_params *params)
{
    um_job job;
    unmeta_open_params p;
    unmeta_open_info info = UNMETA_OPEN_INFO_INIT;
    um_age_header h;
    secrets *sec = NULL;
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
        if (!src || !dst || copy_params(&p, &d, sizeof(p), params) < 0) {
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
    sec = secret_malloc(sizeof(secrets));
    if (!sec) {
        rc = um_fail(&job, UNMETA_E_NOMEM, "out of memory for secrets");
        goto done;
    }
    {
        const um_age_stanza *share_st = NULL;
        UM_TRY_GOTO(rc, unwrap_file_key(&job, sec, &h, &p, &info.recipient_kind, &share_st), done);
        if (share_st)
            UM_TRY_GOTO(rc, apply_share(&job, sec, share_st, &p, info.share_id), done);
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
            rc = payload_fail(&job, "no chunks (the file is truncated)", 0);
            goto done;
        }
        nchunks = (pl + AGE_CCHUNK - 1) / AGE_CCHUNK;
        last_clen = pl - (nchunks - 1) * AGE_CCHUNK;
        if (last_clen < AGE_TAG) {
            rc = payload_fail(&job, "the final chunk is shorter than its tag (truncated)", nchunks - 1);
            goto done;
        }
        if (last_clen == AGE_TAG && nchunks > 1) {
            rc = payload_fail(&job, "an empty final chunk after a full one", nchunks - 1);
            goto done;
        }
        plain_total = pl - nchunks * AGE_TAG;
    }

    /* chunk 0, INFO, expiry: all before releasing a byte */
    size_t len = 0;
    UM_TRY_GOTO(rc, open_chunk(&job, sec, off, 0, nchunks, last_clen, &len), done);
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
            rc = payload_fail(&job, plain_total < padded ? "truncated: fewer bytes than INFO declares"
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
            int64_t now = p.now ? p.now : system_now();
            if (now > ei.not_after) {
                char when[64];
                fmt_time(when, sizeof(when), ei.not_after);
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

    /* stream */
    for (uint64_t i = 0;;) {
        const uint8_t *q = sec->chunk + skip;
        size_t n = len - skip;
        size_t k = content_left < n ? (size_t)content_left : n;
        UM_TRY_GOTO(rc, write_out(&job, dst, q, k), done);
        content_left -= k;
        q += k;
        n -= k;
        if (n) {
            /* padding: all zero (n <= pad_left by the length check above) */
            uint8_t acc = 0;
            for (size_t j = 0; j < n; j++)
                acc |= q[j];
            if (acc) {
                rc = um_fail(&job, UNMETA_E_MALFORMED, "INFO: padding is not zero (chunk %llu)", (unsigned long long)i);
                goto done;
            }
            pad_left -= n;
        }
        skip = 0;
        if (++i == nchunks)
            break;
        if ((i & 63) == 0)
            UM_TRY_GOTO(rc, um_job_check_cancel(&job), done);
        UM_TRY_GOTO(rc, open_chunk(&job, sec, off, i, nchunks, last_clen, &len), done);
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
