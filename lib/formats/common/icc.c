/*
 * icc.c - neutralising the identifying parts of an ICC profile (icc.h).
 */
#include <string.h>

#include "../../report.h"
#include "icc.h"

#define ICC_HEADER 128

/* A 4-byte signature as text, for the report. */
static void sig_text(char out[5], const uint8_t *p)
{
    for (int i = 0; i < 4; i++)
        out[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '.';
    out[4] = '\0';
}

typedef struct icc_field {
    size_t off, len;
    int category;
    const char *name;
    int is_sig; /* shown as a 4-character signature */
} icc_field;

/* ICC.1:2010 table 17 (profile header). */
static const icc_field fields[] = {
    { 4, 4, UNMETA_CAT_SOFTWARE, "ICC CMMType", 1 },
    { 24, 12, UNMETA_CAT_TIME, "ICC ProfileDateTime", 0 },
    { 40, 4, UNMETA_CAT_DEVICE, "ICC PrimaryPlatform", 1 },
    { 48, 4, UNMETA_CAT_DEVICE, "ICC DeviceManufacturer", 1 },
    { 52, 4, UNMETA_CAT_DEVICE, "ICC DeviceModel", 1 },
    { 56, 8, UNMETA_CAT_DEVICE, "ICC DeviceAttributes", 0 },
    { 80, 4, UNMETA_CAT_SOFTWARE, "ICC ProfileCreator", 1 },
    { 84, 16, UNMETA_CAT_DEVICE, "ICC ProfileID", 0 },
};

/* The tags blanked in place: words about the profile and the device, read
 * by no colour engine. ICC.1:2010 9.2.41 profileDescriptionTag, 9.2.21
 * copyrightTag (often a vendor's: "Copyright (c) 2023 Google Inc."),
 * 9.2.18 deviceMfgDescTag, 9.2.19 deviceModelDescTag. */
static const struct {
    char sig[5];
    const char *name;
} blanked[] = {
    { "desc", "ICC ProfileDescription" },
    { "cprt", "ICC ProfileCopyright" },
    { "dmnd", "ICC DeviceMfgDesc" },
    { "dmdd", "ICC DeviceModelDesc" },
};
#define NBLANKED (sizeof(blanked) / sizeof(blanked[0]))

/* Which of blanked[] a tag signature is, or -1. */
static int blanked_index(const uint8_t *sig)
{
    for (size_t i = 0; i < NBLANKED; i++)
        if (memcmp(sig, blanked[i].sig, 4) == 0)
            return (int)i;
    return -1;
}

/* The text of a tag t[0..len) for the report, as printable ASCII: the
 * ASCII part of 'desc' (textDescriptionType, ICC.1:2001 6.5.17), 'text'
 * (textType, 10.24), the first record of 'mluc' (10.15, UTF-16BE, non-ASCII
 * shown as '?'). Empty when there is none or it lies outside the tag. */
static void tag_text(const uint8_t *t, size_t len, char *out, size_t outlen)
{
    size_t o = 0;
    out[0] = '\0';
    if (len >= 12 && memcmp(t, "desc", 4) == 0) {
        uint32_t n = um_be32(t + 8);
        for (size_t i = 0; i < n && 12 + i < len && t[12 + i] && o + 1 < outlen; i++)
            out[o++] = (t[12 + i] >= 0x20 && t[12 + i] < 0x7f) ? (char)t[12 + i] : '?';
    } else if (len >= 8 && memcmp(t, "text", 4) == 0) {
        for (size_t i = 8; i < len && t[i] && o + 1 < outlen; i++)
            out[o++] = (t[i] >= 0x20 && t[i] < 0x7f) ? (char)t[i] : '?';
    } else if (len >= 28 && memcmp(t, "mluc", 4) == 0 && um_be32(t + 8) > 0 && um_be32(t + 12) >= 12) {
        uint32_t n = um_be32(t + 20), at = um_be32(t + 24);
        if (at <= len && n <= len - at)
            for (size_t i = 0; i + 1 < n && o + 1 < outlen; i += 2) {
                uint16_t c = um_be16(t + at + i);
                if (!c)
                    break;
                out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
            }
    }
    out[o] = '\0';
}

/* Blanks the text of a tag, keeping its type and size so the tag table
 * stays valid: 'desc' (textDescriptionType), 'mluc', 'text' and any other
 * type zeroed after its signature. */
static int blank_text_tag(uint8_t *t, size_t len)
{
    if (len < 8)
        return 0;
    if (memcmp(t, "desc", 4) == 0 && len >= 12) {
        /* sig, reserved, ASCII count, ASCII..., then Unicode and ScriptCode
         * parts: all-zero after the signature is a valid empty description. */
        if (um_all_zero(t + 8, len - 8))
            return 0;
        memset(t + 8, 0, len - 8);
        return 1;
    }
    if (memcmp(t, "mluc", 4) == 0 && len >= 16) {
        /* sig, reserved, record count, record size (12): zero records. */
        if (um_be32(t + 8) == 0 && um_all_zero(t + 16, len - 16))
            return 0;
        memset(t + 8, 0, len - 8);
        um_put_be32(t + 12, 12);
        return 1;
    }
    /* Any other type: zero the body after the type signature. */
    if (um_all_zero(t + 8, len - 8))
        return 0;
    memset(t + 8, 0, len - 8);
    return 1;
}

int um_icc_neutralise(um_job *job, int block, uint8_t *p, size_t n, int *changed)
{
    *changed = 0;
    if (n < ICC_HEADER + 4 || um_be32(p) != n || memcmp(p + 36, "acsp", 4) != 0)
        return um_fail(job, UNMETA_E_MALFORMED, "ICC profile: bad header (size %zu, declared %u)", n,
                       n >= 4 ? um_be32(p) : 0);
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        const icc_field *f = &fields[i];
        if (um_all_zero(p + f->off, f->len))
            continue;
        if (f->is_sig) {
            char s[5];
            sig_text(s, p + f->off);
            UM_TRY(um_report_finding(job, block, f->category, f->name, "%s", s));
        } else if (f->off == 24) {
            const uint8_t *d = p + 24;
            UM_TRY(um_report_finding(job, block, f->category, f->name, "%04u-%02u-%02u %02u:%02u:%02u",
                                     um_be16(d), um_be16(d + 2), um_be16(d + 4), um_be16(d + 6),
                                     um_be16(d + 8), um_be16(d + 10)));
        } else {
            UM_TRY(um_report_finding(job, block, f->category, f->name, "present"));
        }
        memset(p + f->off, 0, f->len);
        *changed = 1;
    }
    /* Tag table (7.3): count, then 12-byte entries of signature, offset, size. */
    uint32_t count = um_be32(p + ICC_HEADER);
    if (count > (n - ICC_HEADER - 4) / 12)
        return um_fail(job, UNMETA_E_MALFORMED, "ICC profile: tag count %u does not fit", count);
    int seen[NBLANKED] = { 0 };
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *e = p + ICC_HEADER + 4 + 12 * i;
        int which = blanked_index(e);
        if (which < 0)
            continue;
        /* Tag signatures are unique (7.3.1); once each also keeps the
         * overlap scan below linear in the tag count. */
        if (seen[which]++)
            return um_fail(job, UNMETA_E_MALFORMED, "ICC profile: tag '%s' appears twice", blanked[which].sig);
        uint32_t off = um_be32(e + 4), len = um_be32(e + 8);
        if (off > n || len > n - off)
            return um_fail(job, UNMETA_E_MALFORMED, "ICC profile: tag outside the profile");
        /* Blanking writes into the tag's data: it must lie past the header
         * and the tag table (7.3.1) and share no byte with a tag that is
         * kept, or blanking would corrupt them. */
        char sig[5], other[5];
        sig_text(sig, e);
        if (off < ICC_HEADER + 4 + 12 * (uint64_t)count)
            return um_fail(job, UNMETA_E_MALFORMED, "ICC profile: tag '%s' lies in the header or the tag table", sig);
        for (uint32_t j = 0; j < count; j++) {
            const uint8_t *o = p + ICC_HEADER + 4 + 12 * j;
            uint32_t ooff = um_be32(o + 4), olen = um_be32(o + 8);
            if (blanked_index(o) < 0 && olen && len &&
                (uint64_t)ooff < (uint64_t)off + len && (uint64_t)off < (uint64_t)ooff + olen) {
                sig_text(other, o);
                return um_fail(job, UNMETA_E_MALFORMED, "ICC profile: tag '%s' shares its data with '%s'", sig,
                               other);
            }
        }
        char text[128];
        tag_text(p + off, len, text, sizeof(text));
        if (blank_text_tag(p + off, len)) {
            UM_TRY(um_report_finding(job, block, UNMETA_CAT_DEVICE, blanked[which].name, "%s",
                                     text[0] ? text : "present"));
            *changed = 1;
        }
    }
    return 0;
}
