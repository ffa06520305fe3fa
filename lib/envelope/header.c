/*
 * header.c - the age v1 header parser (stanzas, the MAC line) and the
 * ASCII armor decoder, both strict as the age spec asks. No crypto: the
 * MAC is checked by open.c once a key is known.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "io.h"
#include "envelope/private.h"

/* ---- writing ----------------------------------------------------------- */

int um_env_text_reserve(um_job *job, um_env_text *t, size_t more)
{
    if (t->len + more <= t->cap)
        return 0;
    size_t cap = t->cap ? t->cap : 1024;
    while (cap < t->len + more)
        cap *= 2;
    char *p = um_mem_realloc(t->p, cap);
    if (!p)
        return um_fail(job, UNMETA_E_NOMEM, "out of memory for the header");
    t->p = p;
    t->cap = cap;
    return 0;
}

void um_env_text_body(um_env_text *t, const uint8_t *b, size_t n)
{
    char *out = t->p + t->len;
    size_t o = 0;
    while (n >= 48) {
        o += um_b64_encode(out + o, b, 48);
        out[o++] = '\n';
        b += 48;
        n -= 48;
    }
    o += um_b64_encode(out + o, b, n);
    out[o++] = '\n';
    t->len += o;
}

/* ---- stanza arguments -------------------------------------------------- */

int um_age_arg_is(const um_age_stanza *st, uint32_t i, const char *s)
{
    size_t n = strlen(s);
    return st->nargs > i && st->arg_len[i] == n && memcmp(st->args[i], s, n) == 0;
}

/* Decodes a base64 argument strictly: exactly `want` bytes. */
int um_age_arg_b64(uint8_t *out, size_t want, const um_age_stanza *st, uint32_t i)
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

