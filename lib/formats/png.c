/*
 * png.c - PNG (W3C PNG Specification, Third Edition) and APNG.
 *
 * Pass 1 walks the chunks (5.3): length (at most 2^31-1), type (four ASCII
 * letters, 5.4), data and CRC; every chunk's CRC is verified (5.5), so a
 * damaged file is refused, never "repaired" on the way. IHDR must come
 * first and IEND last, PLTE before IDAT, IDAT chunks consecutive (5.6).
 * Pass 2 writes the keep-list in input order:
 *   kept as is:  IHDR, PLTE, IDAT, IEND; tRNS, gAMA, cHRM, sRGB, cICP, mDCv,
 *                cLLi, sBIT, pHYs, bKGD when their length is the one the
 *                specification gives (11.3); APNG acTL, fcTL, fdAT;
 *   rewritten:   iCCP with its profile neutralised (icc.h) and its name
 *                replaced by "ICC profile", or dropped with UNMETA_ICC_STRIP;
 *                eXIf reduced to Orientation when it is not 1, and so is
 *                the EXIF of a "Raw profile type exif" (or APP1) text chunk
 *                when the file has no eXIf (see raw_exif below);
 *   dropped:     tEXt, zTXt, iTXt (XMP included), tIME, eXIf, hIST, sPLT,
 *                oFFs, pCAL, sCAL, dSIG, caBX (C2PA), every other ancillary
 *                chunk, and everything after IEND.
 * An unknown critical chunk (first letter upper case) is refused: a decoder
 * that does not know it cannot render the image (5.4), and neither can we
 * tell what it holds.
 *
 * Compressed text and profiles are inflated at most to
 * min(limits.max_inflate, limits.max_block) bytes; a stream that inflates
 * further (a decompression bomb) refuses the file with UNMETA_E_LIMIT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "../io.h"
#include "../plan.h"
#include "../report.h"
#include "common/exif.h"
#include "common/icc.h"
#include "common/xmp.h"
#include "format.h"

#define PNG_MAX_LEN 0x7FFFFFFFu       /* 5.3: chunk lengths fit 31 bits */
#define ICC_NAME "ICC profile"         /* the neutral profile name we write */
#define ZLEVEL 9                       /* fixed, so a rewrite is reproducible */

static const uint8_t signature[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n' };

enum ent_class {
    ENT_COPY,        /* input range copied as is (adjacent kept chunks merged) */
    ENT_ICCP,        /* the first iCCP: rewritten, copied or dropped */
    ENT_EXIF,        /* the first eXIf: where a minimal one goes */
    ENT_IDAT,        /* the first IDAT run: a minimal eXIf may go before it */
    ENT_RAWEXIF,     /* the raw EXIF profile that decides: a minimal eXIf may go here */
};

typedef struct ent {
    uint64_t start, end;
    uint8_t cls;
} ent;

typedef struct png {
    um_job *job;
    ent *ents;
    size_t nents, cap;
    uint32_t width, height;
    uint8_t depth, ctype;
    uint32_t palette;          /* PLTE entries, 0 if none */
    int ihdr_seen, idat_seen, idat_done, iend_seen;
    char last[5];              /* type of the previous chunk */
    uint64_t idat_start;       /* offset of the first IDAT */
    int orientation;           /* of the first eXIf, 0 if none */
    int exif_seen, exif_after_idat;
    int raw_orientation;       /* of the first readable raw EXIF profile, 0 if none */
    int raw_seen, raw_after_idat;
    int raw_blk;               /* its report block */
    uint64_t raw_pos;          /* its chunk's offset */
    int iccp_seen;
    uint8_t *iccp;             /* the rewritten iCCP chunk (whole), if any */
    size_t iccp_len;
    int iccp_copy;             /* the first iCCP is already neutral: copy it */
} png;

static int probe(const uint8_t *p, size_t n)
{
    return n >= 8 && memcmp(p, signature, 8) == 0 ? 100 : 0;
}

static int is_type(const char *t, const char *name)
{
    return memcmp(t, name, 4) == 0;
}

static int add_ent(png *g, uint64_t start, uint64_t end, int cls)
{
    if (cls == ENT_COPY && g->nents && g->ents[g->nents - 1].cls == ENT_COPY &&
        g->ents[g->nents - 1].end == start) {
        g->ents[g->nents - 1].end = end;
        return 0;
    }
    if (g->nents == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 32;
        ent *e = um_realloc(g->job, g->ents, cap * sizeof(*e));
        if (!e)
            return g->job->err;
        g->ents = e;
        g->cap = cap;
    }
    ent *e = &g->ents[g->nents++];
    e->start = start;
    e->end = end;
    e->cls = (uint8_t)cls;
    return 0;
}

/* 5.5: CRC-32 over the type and data, streamed through the reader so IDAT
 * of any size costs no memory. */
static int check_crc(png *g, uint64_t pos, uint32_t len, const char *type)
{
    um_job *job = g->job;
    uLong crc = crc32(0L, Z_NULL, 0);
    uint64_t off = pos + 4, left = (uint64_t)len + 4;
    while (left) {
        const uint8_t *p;
        size_t avail;
        UM_TRY(um_reader_peek(job, off, &p, &avail));
        if (avail == 0)
            return um_fail(job, UNMETA_E_TRUNCATED, "PNG: chunk '%s' at byte %llu is cut short", type,
                           (unsigned long long)pos);
        size_t n = avail;
        if (n > left)
            n = (size_t)left;
        if (n > 0x40000000u)
            n = 0x40000000u;
        crc = crc32(crc, p, (uInt)n);
        off += n;
        left -= n;
    }
    uint8_t c[4];
    UM_TRY(um_read_at(job, off, c, 4));
    if ((uint32_t)crc != um_be32(c))
        return um_fail(job, UNMETA_E_MALFORMED, "PNG: chunk '%s' CRC mismatch at byte %llu", type,
                       (unsigned long long)pos);
    return 0;
}

/* zlib allocates through the library's allocator. */
static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    return um_mem_calloc(items, size);
}

static void z_free(voidpf opaque, voidpf p)
{
    (void)opaque;
    free(p);
}

/* Inflates a zlib stream into a fresh buffer of at most the inflate limit.
 * Returns 0 with *out set, 1 for a stream that does not inflate (damaged),
 * or UNMETA_E_LIMIT for one that inflates beyond the limit. */
static int inflate_bounded(png *g, const uint8_t *src, size_t n, const char *what, uint64_t at,
                           uint8_t **out, size_t *out_len)
{
    um_job *job = g->job;
    uint64_t limit = job->ctx->limits.max_inflate;
    if (limit > job->ctx->limits.max_block)
        limit = job->ctx->limits.max_block;
    if (limit > SIZE_MAX / 2)
        limit = SIZE_MAX / 2;
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    *out = NULL;
    *out_len = 0;
    zs.zalloc = z_alloc;
    zs.zfree = z_free;
    int zi = inflateInit(&zs);
    if (zi != Z_OK)
        return um_fail(job, zi == Z_MEM_ERROR ? UNMETA_E_NOMEM : UNMETA_E_UNSUPPORTED,
                       zi == Z_MEM_ERROR ? "PNG: out of memory starting zlib" : "PNG: cannot start zlib");
    uint64_t want = (uint64_t)n * 4 + 256; /* n < 2^31: no overflow */
    size_t cap = (size_t)(want > limit ? limit + 1 : want), len = 0;
    uint8_t *buf = um_malloc(job, cap);
    int rc = 0;
    if (!buf) {
        rc = job->err;
        goto done;
    }
    zs.next_in = (Bytef *)(uintptr_t)src;
    /* Chunk data is at most 2^31-1 bytes, so it fits a uInt. */
    zs.avail_in = (uInt)n;
    for (;;) {
        if (len == cap) {
            if (cap > limit) {
                rc = um_fail(job, UNMETA_E_LIMIT,
                             "PNG: %s at byte %llu inflates beyond %llu bytes (UNMETA_OPT_MAX_INFLATE)", what,
                             (unsigned long long)at, (unsigned long long)limit);
                goto done;
            }
            size_t ncap = cap * 2 > limit + 1 ? (size_t)limit + 1 : cap * 2;
            uint8_t *nb = um_realloc(job, buf, ncap);
            if (!nb) {
                rc = job->err;
                goto done;
            }
            buf = nb;
            cap = ncap;
        }
        size_t room = cap - len;
        if (room > 0x40000000u)
            room = 0x40000000u;
        zs.next_out = buf + len;
        zs.avail_out = (uInt)room;
        int z = inflate(&zs, Z_NO_FLUSH);
        len += room - zs.avail_out;
        if (z == Z_STREAM_END)
            break;
        if (z == Z_OK && zs.avail_out == 0)
            continue;
        if (z == Z_OK || z == Z_BUF_ERROR) {
            /* Input used up before the end of the stream. */
            rc = 1;
            goto done;
        }
        if (z == Z_MEM_ERROR) {
            rc = um_fail(job, UNMETA_E_NOMEM, "PNG: out of memory in zlib");
            goto done;
        }
        rc = 1; /* Z_DATA_ERROR, Z_NEED_DICT */
        goto done;
    }
    if (len > limit) {
        rc = um_fail(job, UNMETA_E_LIMIT, "PNG: %s at byte %llu inflates beyond %llu bytes (UNMETA_OPT_MAX_INFLATE)",
                     what, (unsigned long long)at, (unsigned long long)limit);
        goto done;
    }
    *out = buf;
    *out_len = len;
    buf = NULL;
done:
    inflateEnd(&zs);
    free(buf);
    return rc;
}

/* ASCII case-insensitive comparisons (keywords are Latin-1). */
static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int iprefix(const char *s, const char *prefix)
{
    for (; *prefix; s++, prefix++)
        if (lower((unsigned char)*s) != lower((unsigned char)*prefix))
            return 0;
    return 1;
}

static int ieq(const char *a, const char *b)
{
    return strlen(a) == strlen(b) && iprefix(a, b);
}

/* The category of a text chunk by its keyword (11.3.3.2 lists the
 * predefined ones; "date:*" and "exif:*" are what ImageMagick writes). */
static int text_category(const char *kw)
{
    static const char *const people[] = { "Author", "Title", "Description", "Copyright", "Comment",
                                          "Disclaimer", "Artist", "Label", "Keywords", "Subject" };
    for (size_t i = 0; i < sizeof(people) / sizeof(people[0]); i++)
        if (ieq(kw, people[i]))
            return UNMETA_CAT_PEOPLE;
    if (ieq(kw, "Creation Time") || iprefix(kw, "date:") ||
        iprefix(kw, "exif:DateTime") || ieq(kw, "Create-Date") ||
        ieq(kw, "Modify-Date"))
        return UNMETA_CAT_TIME;
    if (ieq(kw, "Software") || ieq(kw, "exif:Software"))
        return UNMETA_CAT_SOFTWARE;
    if (ieq(kw, "Source") || ieq(kw, "exif:Make") || ieq(kw, "exif:Model"))
        return UNMETA_CAT_DEVICE;
    if (iprefix(kw, "exif:GPS"))
        return UNMETA_CAT_LOCATION;
    return UNMETA_CAT_OTHER;
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* "Raw profile type NAME" text (ImageMagick, exiftool): a line with the
 * name, a line with the decimal length, then hex digits. Decodes it into a
 * fresh buffer; returns 0 when the text is not in that form. */
static int raw_profile(png *g, const uint8_t *t, size_t n, uint8_t **out, size_t *out_len)
{
    size_t i = 0, lines = 0;
    uint64_t declared = 0;
    *out = NULL;
    *out_len = 0;
    /* Skip "\nname\n", then read spaces and the length. */
    while (i < n && lines < 2) {
        if (t[i++] == '\n')
            lines++;
    }
    while (i < n && t[i] == ' ')
        i++;
    int digits = 0;
    while (i < n && t[i] >= '0' && t[i] <= '9' && digits < 10) {
        declared = declared * 10 + (uint64_t)(t[i++] - '0');
        digits++;
    }
    if (lines < 2 || digits == 0 || declared == 0 || declared > (n - i) / 2)
        return 0;
    uint8_t *b = um_malloc(g->job, (size_t)declared);
    if (!b)
        return g->job->err;
    size_t k = 0;
    int hi = -1;
    for (; i < n && k < declared; i++) {
        int v = hexval(t[i]);
        if (v < 0)
            continue;
        if (hi < 0) {
            hi = v;
        } else {
            b[k++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    if (k != declared) {
        free(b);
        return 0;
    }
    *out = b;
    *out_len = k;
    return 1;
}

/* A text keyword that names EXIF as a raw profile (ImageMagick writes
 * "exif"; "APP1" holds EXIF or, with the XMP namespace header, XMP). */
static int is_raw_exif(const char *kw)
{
    return ieq(kw, "Raw profile type exif") || ieq(kw, "Raw profile type APP1");
}

/* A raw EXIF profile that cannot be read: it is removed like any text
 * chunk, and the note says that an orientation it may have held is lost
 * (an image that viewers turned by it now shows as stored). */
static int raw_exif_lost(png *g, const char *type, uint64_t pos, const char *why)
{
    return um_report_note(g->job,
                          "the raw EXIF profile in '%s' at byte %llu %s: it was removed, and an orientation it "
                          "may hold is not kept",
                          type, (unsigned long long)pos, why);
}

/* The EXIF of a raw profile (TIFF, "Exif\0\0" in front or not, as exiv2
 * and exiftool read it): reported like an eXIf's, and the first one whose
 * orientation can be read decides the orientation kept when the file has
 * no eXIf (the eXIf chunk wins when both exist, see settle_raw_exif()). */
static int raw_exif(png *g, int blk, const char *type, uint64_t pos, const uint8_t *raw, size_t rn)
{
    um_exif_info info;
    size_t skip = rn >= 6 && memcmp(raw, "Exif\0\0", 6) == 0 ? 6 : 0;
    UM_TRY(um_exif_scan(g->job, blk, raw + skip, rn - skip, &info));
    if (info.damaged && !info.orientation)
        return raw_exif_lost(g, type, pos, "holds damaged EXIF");
    if (g->raw_seen)
        return 0;
    g->raw_seen = 1;
    g->raw_orientation = info.orientation;
    g->raw_blk = blk;
    g->raw_pos = pos;
    g->raw_after_idat = g->idat_seen;
    if (info.orientation > 1 && !g->idat_seen)
        UM_TRY(add_ent(g, pos, pos, ENT_RAWEXIF));
    return 0;
}

/* Names what one text's value holds on block; type and pos name the
 * chunk. */
static int report_text(png *g, int blk, const char *type, uint64_t pos, const char *kw, const uint8_t *t, size_t n)
{
    um_job *job = g->job;
    if (strcmp(kw, "XML:com.adobe.xmp") == 0)
        return um_xmp_scan(job, blk, t, n);
    if (iprefix(kw, "Raw profile type ")) {
        const char *kind = kw + 17;
        uint8_t *raw = NULL;
        size_t rn = 0;
        int is_exif = is_raw_exif(kw);
        int is_xmp = ieq(kind, "xmp");
        if (is_exif || is_xmp) {
            /* The decoded profile is at most half the text, which is
             * bounded by limits.max_block (and max_inflate when it was
             * compressed). */
            int rc = raw_profile(g, t, n, &raw, &rn);
            UM_TRY(rc);
            if (rc == 1) {
                if (is_xmp || (rn >= 29 && memcmp(raw, "http://ns.adobe.com/xap/1.0/\0", 29) == 0)) {
                    size_t skip = is_xmp ? 0 : 29;
                    rc = um_xmp_scan(job, blk, raw + skip, rn - skip);
                } else {
                    rc = raw_exif(g, blk, type, pos, raw, rn);
                }
                free(raw);
                UM_TRY(rc);
            } else if (is_exif) {
                UM_TRY(raw_exif_lost(g, type, pos, "is malformed (its length or hex digits)"));
            }
        }
        return um_report_finding(job, blk, UNMETA_CAT_OTHER, kw, "%zu bytes", n);
    }
    char v[256];
    size_t k = n < sizeof(v) - 1 ? n : sizeof(v) - 1;
    memcpy(v, t, k);
    v[k] = '\0';
    return um_report_finding(job, blk, text_category(kw), kw, "%s", v);
}

/* Reads a keyword (11.3.3.2: 1 to 79 Latin-1 bytes, then a null). Returns
 * its length, or 0 when the data has none. */
static size_t keyword(const uint8_t *d, size_t n, char kw[80])
{
    size_t k = 0;
    while (k < n && k < 80 && d[k])
        k++;
    if (k == 0 || k >= 80 || k >= n)
        return 0;
    for (size_t i = 0; i < k; i++)
        kw[i] = (d[i] >= 0x20 && d[i] < 0x7f) ? (char)d[i] : '.';
    kw[k] = '\0';
    return k;
}

/* A text chunk whose value cannot be reached: one finding, and the note of
 * raw_exif_lost() when it is a raw EXIF profile. */
static int text_unreadable(png *g, int blk, const char *type, uint64_t pos, const char *kw, const char *what,
                           size_t n)
{
    if (is_raw_exif(kw))
        UM_TRY(raw_exif_lost(g, type, pos, "cannot be read (unknown compression or a malformed chunk)"));
    return um_report_finding(g->job, blk, UNMETA_CAT_OTHER, kw, "%s, %zu bytes", what, n);
}

/* tEXt, zTXt, iTXt (11.3.3): reports the keyword and its value. */
static int handle_text(png *g, const char *type, uint64_t pos, const uint8_t *d, size_t n)
{
    um_job *job = g->job;
    char kw[80];
    char kind[112];
    size_t k = keyword(d, n, kw);
    snprintf(kind, sizeof(kind), "%s %s", type, k ? kw : "(no keyword)");
    int blk = um_report_block(job, kind, pos, (uint64_t)n + 12, UNMETA_ACTION_REMOVE);
    UM_TRY(blk);
    if (!k)
        return um_report_finding(job, blk, UNMETA_CAT_OTHER, type, "malformed text chunk, %zu bytes", n);
    const uint8_t *t = d + k + 1;
    size_t tn = n - k - 1;
    int compressed = 0;
    if (is_type(type, "zTXt")) {
        /* Compression method (0), then the zlib stream. */
        if (tn < 1 || t[0] != 0)
            return text_unreadable(g, blk, type, pos, kw, "unknown compression", n);
        t++;
        tn--;
        compressed = 1;
    } else if (is_type(type, "iTXt")) {
        /* Compression flag and method, language tag, translated keyword. */
        if (tn < 2)
            return text_unreadable(g, blk, type, pos, kw, "malformed text chunk", n);
        compressed = t[0];
        int method = t[1];
        t += 2;
        tn -= 2;
        for (int i = 0; i < 2; i++) {
            const uint8_t *z = memchr(t, 0, tn);
            if (!z)
                return text_unreadable(g, blk, type, pos, kw, "malformed text chunk", n);
            tn -= (size_t)(z + 1 - t);
            t = z + 1;
        }
        if (compressed > 1 || (compressed && method != 0))
            return text_unreadable(g, blk, type, pos, kw, "unknown compression", n);
    }
    if (!compressed)
        return report_text(g, blk, type, pos, kw, t, tn);
    uint8_t *text = NULL;
    size_t text_len = 0;
    int rc = inflate_bounded(g, t, tn, type, pos, &text, &text_len);
    UM_TRY(rc);
    if (rc == 1) {
        if (is_raw_exif(kw))
            UM_TRY(raw_exif_lost(g, type, pos, "does not inflate"));
        return um_report_finding(job, blk, text_category(kw), kw, "compressed text that does not inflate, %zu bytes", tn);
    }
    rc = report_text(g, blk, type, pos, kw, text, text_len);
    free(text);
    return rc;
}

/* Builds a whole chunk (length, type, data, CRC) into a fresh buffer. */
static int build_chunk(png *g, const char *type, const uint8_t *a, size_t an, const uint8_t *b, size_t bn,
                       uint8_t **out, size_t *out_len)
{
    if (an > PNG_MAX_LEN || bn > PNG_MAX_LEN - an)
        return um_fail(g->job, UNMETA_E_LIMIT, "PNG: rebuilt '%s' chunk too large", type);
    size_t n = an + bn;
    uint8_t *c = um_malloc(g->job, n + 12);
    if (!c)
        return g->job->err;
    um_put_be32(c, (uint32_t)n);
    memcpy(c + 4, type, 4);
    if (an)
        memcpy(c + 8, a, an);
    if (bn)
        memcpy(c + 8 + an, b, bn);
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, c + 4, (uInt)(n + 4));
    um_put_be32(c + 8 + n, (uint32_t)crc);
    *out = c;
    *out_len = n + 12;
    return 0;
}

/* Profile names that writers use for any profile: renamed like the others,
 * but not worth a finding (they say nothing about the device). */
static int generic_icc_name(const char *kw)
{
    static const char *const names[] = { "ICC profile", "ICC", "ICC_PROFILE", "Photoshop ICC profile",
                                         "Embedded profile", "sRGB", "sRGB IEC61966-2.1",
                                         "sRGB built-in", "Display P3" };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (ieq(kw, names[i]))
            return 1;
    return 0;
}

/* iCCP (11.3.2.3): profile name, null, compression method 0, zlib stream.
 * The first one is kept neutralised; later ones are dropped (libpng
 * ignores them too). */
static int handle_iccp(png *g, uint64_t pos, const uint8_t *d, size_t n)
{
    um_job *job = g->job;
    int strip = job->ctx->icc_mode == UNMETA_ICC_STRIP;
    char kw[80];
    int blk = um_report_block(job, "iCCP", pos, (uint64_t)n + 12,
                              strip || g->iccp_seen ? UNMETA_ACTION_REMOVE : UNMETA_ACTION_REWRITE);
    UM_TRY(blk);
    if (g->iccp_seen)
        return um_report_finding(job, blk, UNMETA_CAT_OTHER, "ICC profile", "a second iCCP chunk, %zu bytes", n);
    g->iccp_seen = 1;
    UM_TRY(add_ent(g, pos, pos + n + 12, ENT_ICCP));
    if (strip)
        return 0;
    size_t k = keyword(d, n, kw);
    if (!k || n < k + 2 || d[k + 1] != 0) {
        um_report_block_action(job, blk, UNMETA_ACTION_REMOVE);
        return um_report_note(job, "the iCCP chunk at byte %llu is malformed and was dropped", (unsigned long long)pos);
    }
    int name_changed = k != strlen(ICC_NAME) || memcmp(d, ICC_NAME, k) != 0;
    if (name_changed && !generic_icc_name(kw))
        UM_TRY(um_report_finding(job, blk, UNMETA_CAT_DEVICE, "ICC ProfileName", "%s", kw));
    const uint8_t *z = d + k + 2;
    size_t zn = n - k - 2;
    uint8_t *prof = NULL;
    size_t plen = 0;
    uint8_t *zout = NULL;
    int rc = inflate_bounded(g, z, zn, "iCCP", pos, &prof, &plen);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        um_report_block_action(job, blk, UNMETA_ACTION_REMOVE);
        return um_report_note(job, "the ICC profile does not inflate and was dropped");
    }
    int changed = 0;
    rc = um_icc_neutralise(job, blk, prof, plen, &changed);
    if (rc == UNMETA_E_MALFORMED) {
        /* A profile no colour engine could use either: drop it, say so. */
        job->err = 0;
        free(prof);
        um_report_block_action(job, blk, UNMETA_ACTION_REMOVE);
        return um_report_note(job, "the ICC profile is malformed and was dropped: %s", job->ctx->errmsg);
    }
    if (rc < 0)
        goto done;
    if (!changed && !name_changed) {
        um_report_block_action(job, blk, UNMETA_ACTION_KEEP);
        g->iccp_copy = 1;
        goto done;
    }
    if (!um_job_writing(job))
        goto done;
    static const char head[] = ICC_NAME; /* with its null */
    uint8_t *hdr = NULL;
    size_t zlen = 0;
    const uint8_t *body = z;
    size_t body_len = zn;
    if (changed) {
        /* Deflate again at a fixed level: the output of a strip does not
         * depend on how the input was compressed. */
        uLong bound = compressBound((uLong)plen);
        zout = um_malloc(job, (size_t)bound);
        if (!zout) {
            rc = job->err;
            goto done;
        }
        uLongf dl = bound;
        if (compress2(zout, &dl, prof, (uLong)plen, ZLEVEL) != Z_OK) {
            rc = um_fail(job, UNMETA_E_NOMEM, "PNG: deflating the ICC profile failed");
            goto done;
        }
        zlen = (size_t)dl;
        body = zout;
        body_len = zlen;
    }
    /* Name, null, method 0, then the stream. */
    hdr = um_malloc(job, sizeof(head) + 1 + body_len);
    if (!hdr) {
        rc = job->err;
        goto done;
    }
    memcpy(hdr, head, sizeof(head));
    hdr[sizeof(head)] = 0;
    memcpy(hdr + sizeof(head) + 1, body, body_len);
    rc = build_chunk(g, "iCCP", hdr, sizeof(head) + 1 + body_len, NULL, 0, &g->iccp, &g->iccp_len);
    free(hdr);
done:
    free(zout);
    free(prof);
    return rc < 0 ? rc : 0;
}

/* eXIf (11.3.6.1): the first one is reported and reduced to Orientation. */
static int handle_exif(png *g, uint64_t pos, const uint8_t *d, size_t n)
{
    um_job *job = g->job;
    um_exif_info info;
    int blk = um_report_block(job, "eXIf", pos, (uint64_t)n + 12, UNMETA_ACTION_REMOVE);
    UM_TRY(blk);
    /* Some writers put the JPEG APP1 "Exif\0\0" header in front. */
    size_t skip = n >= 6 && memcmp(d, "Exif\0\0", 6) == 0 ? 6 : 0;
    UM_TRY(um_exif_scan(job, blk, d + skip, n - skip, &info));
    if (g->exif_seen)
        return 0;
    g->exif_seen = 1;
    g->orientation = info.orientation;
    g->exif_after_idat = g->idat_seen;
    if (info.orientation > 1) {
        um_report_block_action(job, blk, UNMETA_ACTION_REWRITE);
        if (!g->idat_seen)
            UM_TRY(add_ent(g, pos, pos + n + 12, ENT_EXIF));
    }
    return 0;
}

/* The fixed data length of a kept ancillary chunk (11.3), or -1 when it
 * varies; tRNS, sBIT and bKGD depend on the colour type. */
static long fixed_length(png *g, const char *t)
{
    static const struct { const char *type; long len; } fixed[] = {
        { "gAMA", 4 }, { "cHRM", 32 }, { "sRGB", 1 }, { "cICP", 4 }, { "mDCv", 24 }, { "cLLi", 8 },
        { "pHYs", 9 }, { "acTL", 8 }, { "fcTL", 26 },
    };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        if (is_type(t, fixed[i].type))
            return fixed[i].len;
    if (is_type(t, "sBIT")) {
        static const long sbit[7] = { 1, 0, 3, 3, 2, 0, 4 };
        return sbit[g->ctype];
    }
    if (is_type(t, "bKGD")) {
        static const long bkgd[7] = { 2, 0, 6, 1, 2, 0, 6 };
        return bkgd[g->ctype];
    }
    if (is_type(t, "tRNS")) {
        static const long trns[7] = { 2, 0, 6, -1, 0, 0, 0 };
        return trns[g->ctype];
    }
    return -1;
}

static int is_kept_ancillary(const char *t)
{
    static const char *const kept[] = { "tRNS", "gAMA", "cHRM", "sRGB", "cICP", "mDCv", "cLLi",
                                        "sBIT", "pHYs", "bKGD", "acTL", "fcTL", "fdAT" };
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
        if (is_type(t, kept[i]))
            return 1;
    return 0;
}

/* 11.2.1: allowed bit depths per colour type. */
static int ihdr_ok(uint8_t depth, uint8_t ctype)
{
    switch (ctype) {
    case 0: return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
    case 3: return depth == 1 || depth == 2 || depth == 4 || depth == 8;
    case 2: case 4: case 6: return depth == 8 || depth == 16;
    default: return 0;
    }
}

static int handle_ihdr(png *g, uint64_t pos, uint32_t len)
{
    um_job *job = g->job;
    uint8_t h[13];
    if (len != 13)
        return um_fail(job, UNMETA_E_MALFORMED, "PNG: IHDR has %u bytes, not 13", len);
    UM_TRY(um_read_at(job, pos + 8, h, 13));
    g->width = um_be32(h);
    g->height = um_be32(h + 4);
    g->depth = h[8];
    g->ctype = h[9];
    if (g->width == 0 || g->height == 0 || g->width > PNG_MAX_LEN || g->height > PNG_MAX_LEN)
        return um_fail(job, UNMETA_E_MALFORMED, "PNG: image size %ux%u is invalid", g->width, g->height);
    if (!ihdr_ok(g->depth, g->ctype))
        return um_fail(job, UNMETA_E_MALFORMED, "PNG: bit depth %u with colour type %u is invalid", g->depth, g->ctype);
    if (h[10] != 0 || h[11] != 0 || h[12] > 1)
        return um_fail(job, UNMETA_E_MALFORMED, "PNG: unknown compression, filter or interlace method (%u, %u, %u)",
                       h[10], h[11], h[12]);
    g->ihdr_seen = 1;
    return 0;
}

/* Chunks dropped for what they are, with the category of what they hold. */
static const struct { const char *type; int category; const char *what; } named_drops[] = {
    { "hIST", UNMETA_CAT_OTHER, "palette histogram" },
    { "sPLT", UNMETA_CAT_OTHER, "suggested palette" },
    { "oFFs", UNMETA_CAT_OTHER, "image offset" },
    { "pCAL", UNMETA_CAT_OTHER, "pixel calibration" },
    { "sCAL", UNMETA_CAT_OTHER, "physical scale" },
    { "dSIG", UNMETA_CAT_OTHER, "digital signature" },
    { "caBX", UNMETA_CAT_EMBEDDED, "C2PA manifest" },
    { "vpAg", UNMETA_CAT_OTHER, "virtual page" },
    { "iDOT", UNMETA_CAT_DEVICE, "Apple decoding hints" },
};

/* One chunk whose header and CRC are verified. */
static int handle_chunk(png *g, uint64_t pos, uint32_t len, const char *type)
{
    um_job *job = g->job;
    uint64_t end = pos + 12 + (uint64_t)len;
    int is_idat = is_type(type, "IDAT");
    uint8_t *d = NULL;
    int rc = 0;

    /* 5.6: IHDR first. */
    if (!g->ihdr_seen) {
        if (!is_type(type, "IHDR"))
            return um_fail(job, UNMETA_E_MALFORMED, "PNG: the first chunk is '%s', not IHDR", type);
        UM_TRY(handle_ihdr(g, pos, len));
        UM_TRY(um_report_block(job, "IHDR", pos, end - pos, UNMETA_ACTION_KEEP));
        return add_ent(g, pos, end, ENT_COPY);
    }
    if (g->idat_seen && !g->idat_done && !is_idat) {
        /* The IDAT run ended: one report block for all of it. */
        g->idat_done = 1;
        UM_TRY(um_report_block(job, "IDAT", g->idat_start, pos - g->idat_start, UNMETA_ACTION_KEEP));
    }
    if (is_idat) {
        if (g->idat_done)
            return um_fail(job, UNMETA_E_MALFORMED, "PNG: IDAT chunks are not consecutive (byte %llu)",
                           (unsigned long long)pos);
        if (g->ctype == 3 && !g->palette)
            return um_fail(job, UNMETA_E_MALFORMED, "PNG: palette image without PLTE before IDAT");
        if (!g->idat_seen) {
            g->idat_seen = 1;
            g->idat_start = pos;
            return add_ent(g, pos, end, ENT_IDAT);
        }
        /* Later IDATs of the run extend one plan range. */
        g->ents[g->nents - 1].end = end;
        return um_job_check_cancel(job);
    }
    if (is_type(type, "IHDR"))
        return um_fail(job, UNMETA_E_MALFORMED, "PNG: second IHDR at byte %llu", (unsigned long long)pos);
    if (is_type(type, "IEND")) {
        if (!g->idat_seen)
            return um_fail(job, UNMETA_E_MALFORMED, "PNG: IEND before any IDAT");
        if (len != 0)
            return um_fail(job, UNMETA_E_MALFORMED, "PNG: IEND has %u bytes of data", len);
        g->iend_seen = 1;
        UM_TRY(um_report_block(job, "IEND", pos, end - pos, UNMETA_ACTION_KEEP));
        return add_ent(g, pos, end, ENT_COPY);
    }
    if (is_type(type, "PLTE")) {
        /* 11.2.2: 1 to 256 entries, at most 2^depth for colour type 3;
         * none for greyscale; one, before IDAT. */
        if (g->palette || g->idat_seen)
            return um_fail(job, UNMETA_E_MALFORMED, "PNG: %s PLTE at byte %llu",
                           g->palette ? "second" : "late", (unsigned long long)pos);
        if (g->ctype == 0 || g->ctype == 4)
            return um_fail(job, UNMETA_E_MALFORMED, "PNG: PLTE in a greyscale image");
        if (len == 0 || len % 3 || len / 3 > 256 || (g->ctype == 3 && len / 3 > (1u << g->depth)))
            return um_fail(job, UNMETA_E_MALFORMED, "PNG: PLTE of %u bytes is invalid", len);
        g->palette = len / 3;
        UM_TRY(um_report_block(job, "PLTE", pos, end - pos, UNMETA_ACTION_KEEP));
        return add_ent(g, pos, end, ENT_COPY);
    }
    if (type[0] >= 'A' && type[0] <= 'Z')
        return um_fail(job, UNMETA_E_UNSUPPORTED, "PNG: unknown critical chunk '%s' at byte %llu",
                       type, (unsigned long long)pos);

    if (is_kept_ancillary(type)) {
        long want = fixed_length(g, type);
        int ok;
        if (is_type(type, "tRNS") && g->ctype == 3)
            ok = len >= 1 && len <= 256 && (!g->palette || len <= g->palette);
        else if (is_type(type, "fdAT"))
            ok = len >= 4;
        else
            ok = want < 0 || (uint32_t)want == len;
        if (ok && want == 0)
            ok = 0; /* tRNS with an alpha channel: not allowed (11.3.1.1) */
        if (ok) {
            if (is_type(type, "fdAT") || is_type(type, "fcTL")) {
                /* Animation frames: one report block per frame at most. */
                if (!is_type(g->last, "fdAT") || is_type(type, "fcTL"))
                    UM_TRY(um_report_block(job, type, pos, end - pos, UNMETA_ACTION_KEEP));
                else
                    UM_TRY(um_job_check_cancel(job));
            } else {
                UM_TRY(um_report_block(job, type, pos, end - pos, UNMETA_ACTION_KEEP));
            }
            return add_ent(g, pos, end, ENT_COPY);
        }
        int blk = um_report_block(job, type, pos, end - pos, UNMETA_ACTION_REMOVE);
        UM_TRY(blk);
        return um_report_finding(job, blk, UNMETA_CAT_OTHER, type, "malformed chunk of %u bytes", len);
    }

    /* The chunk kinds read into memory, each tested once. */
    int is_text = is_type(type, "tEXt") || is_type(type, "zTXt") || is_type(type, "iTXt");
    int is_iccp = is_type(type, "iCCP"), is_exif = is_type(type, "eXIf");
    int is_time = is_type(type, "tIME"), is_splt = is_type(type, "sPLT");
    if (is_text || is_iccp || is_exif || is_time || is_splt) {
        if (job->ctx->icc_mode == UNMETA_ICC_STRIP && is_iccp)
            return handle_iccp(g, pos, NULL, len);
        UM_TRY(um_read_block(job, pos + 8, len, "a PNG chunk", &d));
    }
    if (is_text) {
        rc = handle_text(g, type, pos, d, len);
    } else if (is_iccp) {
        rc = handle_iccp(g, pos, d, len);
    } else if (is_exif) {
        rc = handle_exif(g, pos, d, len);
    } else if (is_time) {
        /* 11.3.6.2: year (2 bytes), month, day, hour, minute, second. */
        int blk = um_report_block(job, "tIME", pos, end - pos, UNMETA_ACTION_REMOVE);
        rc = blk;
        if (blk >= 0 && len == 7)
            rc = um_report_finding(job, blk, UNMETA_CAT_TIME, "ModifyDate", "%04u-%02u-%02u %02u:%02u:%02u",
                                   um_be16(d), d[2], d[3], d[4], d[5], d[6]);
        else if (blk >= 0)
            rc = um_report_finding(job, blk, UNMETA_CAT_TIME, "ModifyDate", "malformed, %u bytes", len);
    } else if (is_splt) {
        char kw[80];
        int blk = um_report_block(job, "sPLT", pos, end - pos, UNMETA_ACTION_REMOVE);
        rc = blk;
        if (blk >= 0)
            rc = um_report_finding(job, blk, UNMETA_CAT_OTHER, "SuggestedPalette", "%s",
                                   keyword(d, len, kw) ? kw : "(unnamed)");
    } else {
        const char *what = "unknown chunk";
        int cat = UNMETA_CAT_OTHER;
        for (size_t i = 0; i < sizeof(named_drops) / sizeof(named_drops[0]); i++)
            if (is_type(type, named_drops[i].type)) {
                what = named_drops[i].what;
                cat = named_drops[i].category;
            }
        int blk = um_report_block(job, type, pos, end - pos, UNMETA_ACTION_REMOVE);
        rc = blk;
        if (blk >= 0)
            rc = um_report_finding(job, blk, cat, type, "%s, %u bytes", what, len);
    }
    free(d);
    return rc < 0 ? rc : 0;
}

/* Pass 1: every chunk verified, reported and classified. */
static int walk(png *g)
{
    um_job *job = g->job;
    uint64_t size = um_reader_size(job->in);
    uint8_t h[8];
    UM_TRY(um_read_at(job, 0, h, 8));
    if (memcmp(h, signature, 8) != 0)
        return um_fail(job, UNMETA_E_MALFORMED, "PNG: bad signature");
    UM_TRY(add_ent(g, 0, 8, ENT_COPY));
    uint64_t pos = 8;
    while (!g->iend_seen) {
        if (pos + 8 > size)
            return um_fail(job, UNMETA_E_TRUNCATED, "PNG: the file ends at byte %llu, before IEND",
                           (unsigned long long)size);
        UM_TRY(um_read_at(job, pos, h, 8));
        uint32_t len = um_be32(h);
        char type[5];
        for (int i = 0; i < 4; i++) {
            uint8_t c = h[4 + i];
            if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
                return um_fail(job, UNMETA_E_MALFORMED, "PNG: invalid chunk type at byte %llu",
                               (unsigned long long)pos);
            type[i] = (char)c;
        }
        type[4] = '\0';
        if (len > PNG_MAX_LEN)
            return um_fail(job, UNMETA_E_MALFORMED, "PNG: chunk '%s' at byte %llu has length %u",
                           type, (unsigned long long)pos, len);
        if (pos + 12 + len > size)
            return um_fail(job, UNMETA_E_TRUNCATED, "PNG: chunk '%s' at byte %llu runs past the end of the file",
                           type, (unsigned long long)pos);
        UM_TRY(check_crc(g, pos, len, type));
        UM_TRY(handle_chunk(g, pos, len, type));
        memcpy(g->last, type, 5);
        pos += 12 + (uint64_t)len;
    }
    if (pos < size) {
        /* Bytes after IEND: appended files, vendor data. Never copied. */
        uint8_t t[8] = { 0 };
        size_t tn = size - pos < sizeof(t) ? (size_t)(size - pos) : sizeof(t);
        UM_TRY(um_read_at(job, pos, t, tn));
        const char *what = "data";
        if (tn >= 3 && t[0] == 0xFF && t[1] == 0xD8 && t[2] == 0xFF)
            what = "JPEG image";
        else if (tn >= 8 && memcmp(t, signature, 8) == 0)
            what = "PNG image";
        else if (tn >= 8 && memcmp(t + 4, "ftyp", 4) == 0)
            what = "MP4 video";
        else if (tn >= 2 && t[0] == 'P' && t[1] == 'K')
            what = "ZIP archive";
        int blk = um_report_block(job, "trailer", pos, size - pos, UNMETA_ACTION_REMOVE);
        UM_TRY(blk);
        UM_TRY(um_report_finding(job, blk, UNMETA_CAT_EMBEDDED, "Trailer", "%s, %llu bytes after IEND", what,
                                 (unsigned long long)(size - pos)));
    }
    return 0;
}

static int emit_exif(png *g, int orientation)
{
    uint8_t *tiff = NULL, *c = NULL;
    size_t n = 0, cn = 0;
    UM_TRY(um_exif_minimal(g->job, orientation, 0, &tiff, &n));
    int rc = build_chunk(g, "eXIf", tiff, n, NULL, 0, &c, &cn);
    if (rc >= 0)
        rc = um_plan_data(g->job, c, cn);
    free(c);
    free(tiff);
    return rc;
}

/* After pass 1: whether the raw EXIF profile's orientation is kept. An
 * eXIf chunk is the standard place (PNG 3rd ed. 11.3.6.1) and wins when
 * both exist, whatever their order; a different orientation in the raw
 * profile is then named in a note. */
static int settle_raw_exif(png *g)
{
    if (g->raw_orientation < 2)
        return 0;
    if (g->exif_seen) {
        if (g->orientation != g->raw_orientation)
            return um_report_note(g->job,
                                  "the raw EXIF profile at byte %llu gives orientation %d, the eXIf chunk %d: "
                                  "the eXIf chunk's is the one kept",
                                  (unsigned long long)g->raw_pos, g->raw_orientation,
                                  g->orientation > 0 ? g->orientation : 1);
        return 0;
    }
    um_report_block_action(g->job, g->raw_blk, UNMETA_ACTION_REWRITE);
    return 0;
}

/* Pass 2: the keep-list, in input order. */
static int emit(png *g)
{
    um_job *job = g->job;
    for (size_t i = 0; i < g->nents; i++) {
        ent *e = &g->ents[i];
        switch (e->cls) {
        case ENT_IDAT:
            if (g->orientation > 1 && g->exif_after_idat)
                UM_TRY(emit_exif(g, g->orientation));
            else if (!g->exif_seen && g->raw_orientation > 1 && g->raw_after_idat)
                UM_TRY(emit_exif(g, g->raw_orientation));
            UM_TRY(um_plan_copy(job, e->start, e->end - e->start));
            break;
        case ENT_COPY:
            UM_TRY(um_plan_copy(job, e->start, e->end - e->start));
            break;
        case ENT_ICCP:
            if (g->iccp)
                UM_TRY(um_plan_data(job, g->iccp, g->iccp_len));
            else if (g->iccp_copy)
                UM_TRY(um_plan_copy(job, e->start, e->end - e->start));
            break;
        case ENT_EXIF:
            UM_TRY(emit_exif(g, g->orientation));
            break;
        case ENT_RAWEXIF:
            if (!g->exif_seen)
                UM_TRY(emit_exif(g, g->raw_orientation));
            break;
        default:
            break;
        }
    }
    return 0;
}

static int run(um_job *job)
{
    png g;
    int rc;
    memset(&g, 0, sizeof(g));
    g.job = job;
    UM_TRY_GOTO(rc, walk(&g), done);
    UM_TRY_GOTO(rc, settle_raw_exif(&g), done);
    rc = emit(&g);
done:
    free(g.ents);
    free(g.iccp);
    return rc;
}

const um_format um_format_png = {
    .name = "png",
    .mime = "image/png",
    .ext = "png",
    .probe = probe,
    .run = run,
};
