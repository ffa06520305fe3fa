/*
 * text.c - the text encodings of age: base64 (standard alphabet, no
 * padding, canonical) and bech32 keys (BIP 173). No crypto.
 */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "io.h"
#include "envelope/private.h"

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

