/*
 * gif.c - GIF (GIF87a, GIF89a: "Graphics Interchange Format, Version 89a",
 * CompuServe 1990; the numbers below are its sections).
 *
 * A GIF is a header, a logical screen descriptor with an optional global
 * colour table, then a sequence of blocks up to the trailer (0x3B): images
 * (0x2C, section 20-22) and extensions (0x21 + label, section 23-26), whose
 * bodies are chains of data sub-blocks ended by a zero-length block (15).
 * The stream is strictly sequential and nothing refers to an offset, so one
 * pass walks each block, reports it and appends the keep-list to the plan:
 *   kept as is:  header, logical screen descriptor, global colour table;
 *                every image (descriptor, local colour table, LZW minimum
 *                code size and all its data sub-blocks, one copy each);
 *                graphic control extensions (0xF9, exactly 4 data bytes);
 *                the first NETSCAPE2.0 / ANIMEXTS1.0 looping extension when
 *                every sub-block after its identifier is a standard loop
 *                (3 bytes: 1, count) or buffering (5 bytes: 2, size) one;
 *                the trailer;
 *   dropped:     comments (0xFE), plain-text extensions (0x01: no common
 *                decoder draws them), XMP ("XMP DataXMP", stored raw with
 *                a 257-byte "magic trailer" that makes the packet parse as
 *                sub-blocks, XMP part 3, 1.1.2), the ICC profile
 *                ("ICCRGBG1012": dropped in both ICC modes, since browsers
 *                and ImageMagick render GIFs without it and a kept
 *                application extension other than looping is a block a
 *                keep-list writer would not emit; its identifying header
 *                fields are still reported), every other application
 *                extension, non-standard looping extensions, extensions
 *                with an unknown label (decoders skip them, 23.c.iii), and
 *                everything after the trailer.
 * Refused: a header other than GIF87a/GIF89a, a block introducer other
 * than 0x2C/0x21/0x3B (MALFORMED), a chain of sub-blocks or a file that
 * ends before the trailer (TRUNCATED; some decoders show what they read of
 * a truncated GIF, we refuse rather than guess), a graphic control
 * extension of another size, an LZW minimum code size outside 1..11 (no
 * 12-bit LZW decoder can start from it) and a file without any image.
 *
 * Zero-width or zero-height images and logical screens are not forbidden
 * by the specification (20.c and 18.c give no minimum); browsers skip such
 * frames while ImageMagick refuses the file. They are copied unchanged, so
 * the output renders exactly as the input does everywhere, with a note.
 * Image data is copied as it is, without decoding the LZW stream: bytes a
 * writer placed after the end-of-information code survive (a known limit).
 * Sub-blocks are not counted against UNMETA_OPT_MAX_ITEMS (a large
 * animation has hundreds of thousands; each takes at least two bytes of
 * input, so the walk is linear); blocks and frames are.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io.h"
#include "../plan.h"
#include "../report.h"
#include "common/icc.h"
#include "common/xmp.h"
#include "format.h"

#define GIF_TEXT_MAX 160   /* bytes of a comment shown in the report */

/* A chain of data sub-blocks (section 15). */
typedef struct chain {
    uint64_t first;        /* offset of the first size byte */
    uint64_t term;         /* offset of the block terminator (size 0) */
    uint64_t nsub;         /* data sub-blocks before it */
    uint64_t data;         /* data bytes in them */
    uint8_t first_len;     /* size of the first sub-block, 0 if none */
} chain;

typedef struct gif {
    um_job *job;
    uint64_t size;
    uint32_t images;
    int loop_kept;         /* a looping extension was kept already */
} gif;

static int probe(const uint8_t *p, size_t n)
{
    return n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0) ? 100 : 0;
}

/* Walks the sub-blocks starting at off, in the reader's window rather than
 * one read per size byte: image data is most of a GIF. */
static int walk_chain(gif *g, uint64_t off, const char *what, uint64_t start, chain *c)
{
    um_job *job = g->job;
    memset(c, 0, sizeof(*c));
    c->first = off;
    for (;;) {
        const uint8_t *p;
        size_t avail;
        UM_TRY(um_reader_peek(job, off, &p, &avail));
        if (avail == 0)
            return um_fail(job, UNMETA_E_TRUNCATED, "GIF: the %s at byte %llu ends before its block terminator",
                           what, (unsigned long long)start);
        size_t i = 0;
        while (i < avail) {
            uint8_t len = p[i];
            if (len == 0) {
                c->term = off + i;
                return 0;
            }
            if (c->nsub == 0)
                c->first_len = len;
            c->nsub++;
            c->data += len;
            if ((c->nsub & 0xFFFF) == 0)
                UM_TRY(um_job_check_cancel(job));
            i += (size_t)len + 1;
        }
        /* The next size byte lies past the window (or past the end). */
        off += i;
    }
}

/* Copies up to cap data bytes of a chain (the size bytes left out),
 * skipping the first `skip` data sub-blocks. */
static int chain_data(gif *g, const chain *c, uint64_t skip, uint8_t *buf, size_t cap, size_t *n)
{
    um_job *job = g->job;
    uint64_t off = c->first;
    *n = 0;
    for (uint64_t k = 0; off < c->term && *n < cap; k++) {
        uint8_t len;
        UM_TRY(um_read_at(job, off, &len, 1));
        if (k >= skip) {
            size_t take = len < cap - *n ? len : cap - *n;
            UM_TRY(um_read_at(job, off + 1, buf + *n, take));
            *n += take;
        }
        off += (uint64_t)len + 1;
    }
    return 0;
}

/* Text for the report from data bytes: cut, NUL-terminated. */
static void text_of(char *out, size_t outlen, const uint8_t *p, size_t n)
{
    size_t k = n < outlen - 1 ? n : outlen - 1;
    memcpy(out, p, k);
    out[k] = '\0';
}

static int text_finding(gif *g, int blk, const chain *c, uint64_t skip, int cat, const char *name)
{
    uint8_t buf[GIF_TEXT_MAX];
    size_t n;
    char text[GIF_TEXT_MAX + 1];
    UM_TRY(chain_data(g, c, skip, buf, sizeof(buf), &n));
    text_of(text, sizeof(text), buf, n);
    return um_report_finding(g->job, blk, cat, name, "%s%s", text,
                             c->data > n ? "..." : "");
}

/* "XMP DataXMP": the packet is stored raw from the first byte after the
 * identifier to the terminator, ended by the magic trailer 0x01, 0xFF,
 * 0xFE, ..., 0x00 that turns whatever precedes it into a valid chain. */
static int scan_xmp(gif *g, int blk, const chain *c)
{
    um_job *job = g->job;
    uint64_t from = c->first + 1 + 11;
    uint64_t len = c->term > from ? c->term - from : 0;
    uint64_t cap = job->ctx->limits.max_block;
    uint8_t *p = NULL;
    int rc;
    if (len > cap) {
        UM_TRY(um_report_note(job, "the GIF XMP packet of %llu bytes is larger than the block limit; "
                              "only its first %llu bytes were read for the report",
                              (unsigned long long)len, (unsigned long long)cap));
        len = cap;
    }
    UM_TRY(um_read_block(job, from, len, "a GIF XMP packet", &p));
    size_t n = (size_t)len;
    if (n >= 257 && p[n - 257] == 0x01) {
        int magic = 1;
        for (size_t i = 0; i < 256 && magic; i++)
            magic = p[n - 256 + i] == (uint8_t)(0xFF - i);
        if (magic)
            n -= 257;
    }
    rc = um_xmp_scan(job, blk, p, n);
    free(p);
    return rc;
}

/* "ICCRGBG1012": an ICC profile in the data sub-blocks after the
 * identifier. It is dropped; what its header names is reported. */
static int scan_icc(gif *g, int blk, const chain *c)
{
    um_job *job = g->job;
    uint64_t len = c->data - c->first_len;
    UM_TRY(um_report_finding(job, blk, UNMETA_CAT_OTHER, "ICCProfile", "%llu bytes", (unsigned long long)len));
    if (len == 0 || len > job->ctx->limits.max_block)
        return 0;
    uint8_t *p = um_malloc(job, (size_t)len);
    if (!p)
        return job->err;
    size_t n;
    int changed;
    int rc = chain_data(g, c, 1, p, (size_t)len, &n);
    if (rc >= 0) {
        rc = um_icc_neutralise(job, blk, p, n, &changed);
        if (rc == UNMETA_E_MALFORMED) {
            /* Dropped anyway: a malformed profile only gets a note. */
            job->err = 0;
            rc = um_report_note(job, "the GIF ICC profile is malformed: %s", job->ctx->errmsg);
        }
    }
    free(p);
    return rc;
}

/* NETSCAPE2.0 / ANIMEXTS1.0: after the identifier, only sub-blocks
 * {1, loop count (2 bytes)} and {2, buffer size (4 bytes)}. */
static int loop_ext_standard(gif *g, const chain *c, uint16_t *loops)
{
    uint64_t off = c->first + 1 + 11;
    int seen_loop = 0;
    while (off < c->term) {
        uint8_t b[6];
        UM_TRY(um_read_at(g->job, off, b, 2));
        if (b[0] == 3 && b[1] == 1 && !seen_loop) {
            UM_TRY(um_read_at(g->job, off, b, 4));
            *loops = um_le16(b + 2);
            seen_loop = 1;
        } else if (!(b[0] == 5 && b[1] == 2)) {
            return 0;
        }
        off += (uint64_t)b[0] + 1;
    }
    return seen_loop;
}

/* Section 23-26 and unknown labels. start is the 0x21 byte. */
static int extension(gif *g, uint64_t start, uint64_t *next)
{
    um_job *job = g->job;
    uint8_t label;
    chain c;
    char kind[48];
    int blk;

    if (start + 2 >= g->size)
        return um_fail(job, UNMETA_E_TRUNCATED, "GIF: the file ends inside the extension at byte %llu",
                       (unsigned long long)start);
    UM_TRY(um_read_at(job, start + 1, &label, 1));
    UM_TRY(walk_chain(g, start + 2, "extension", start, &c));
    uint64_t end = c.term + 1;
    uint64_t len = end - start;
    *next = end;

    switch (label) {
    case 0xF9: /* Graphic Control Extension (23): 4 bytes, rendering data. */
        if (c.nsub != 1 || c.first_len != 4)
            return um_fail(job, UNMETA_E_MALFORMED,
                           "GIF: graphic control extension at byte %llu is not one 4-byte sub-block",
                           (unsigned long long)start);
        UM_TRY(um_report_block(job, "graphic control", start, len, UNMETA_ACTION_KEEP));
        return um_plan_copy(job, start, len);
    case 0xFE: /* Comment Extension (24). */
        blk = um_report_block(job, "comment", start, len, UNMETA_ACTION_REMOVE);
        UM_TRY(blk);
        if (c.data == 0)
            return 0; /* an empty comment says nothing */
        return text_finding(g, blk, &c, 0, UNMETA_CAT_PEOPLE, "Comment");
    case 0x01: /* Plain Text Extension (25): 12-byte grid, then text. */
        blk = um_report_block(job, "plain text", start, len, UNMETA_ACTION_REMOVE);
        UM_TRY(blk);
        if (c.nsub > 1)
            return text_finding(g, blk, &c, 1, UNMETA_CAT_OTHER, "PlainText");
        return um_report_finding(job, blk, UNMETA_CAT_OTHER, "PlainText", "%llu bytes",
                                 (unsigned long long)c.data);
    case 0xFF: /* Application Extension (26). */
        break;
    default:
        snprintf(kind, sizeof(kind), "extension 0x%02X", label);
        blk = um_report_block(job, kind, start, len, UNMETA_ACTION_REMOVE);
        UM_TRY(blk);
        return um_report_finding(job, blk, UNMETA_CAT_OTHER, "UnknownExtension", "label 0x%02X, %llu bytes",
                                 label, (unsigned long long)c.data);
    }

    uint8_t id[11] = { 0 };
    int has_id = c.nsub > 0 && c.first_len == 11;
    if (has_id)
        UM_TRY(um_read_at(job, c.first + 1, id, 11));
    char name[12];
    size_t k = 0;
    for (; has_id && k < 11; k++)
        name[k] = id[k] >= 0x20 && id[k] < 0x7f ? (char)id[k] : '.';
    name[k] = '\0';

    if (has_id && (memcmp(id, "NETSCAPE2.0", 11) == 0 || memcmp(id, "ANIMEXTS1.0", 11) == 0)) {
        uint16_t loops = 0;
        int ok = loop_ext_standard(g, &c, &loops);
        UM_TRY(ok);
        if (ok)
            snprintf(kind, sizeof(kind), "application %s, loop count %u", name, loops);
        else
            snprintf(kind, sizeof(kind), "application %s", name);
        if (ok && !g->loop_kept) {
            g->loop_kept = 1;
            UM_TRY(um_report_block(job, kind, start, len, UNMETA_ACTION_KEEP));
            return um_plan_copy(job, start, len);
        }
        blk = um_report_block(job, kind, start, len, UNMETA_ACTION_REMOVE);
        UM_TRY(blk);
        return um_report_finding(job, blk, UNMETA_CAT_OTHER, "LoopingExtension", "%s, %llu bytes",
                                 ok ? "a second one" : "non-standard sub-blocks", (unsigned long long)c.data);
    }
    if (has_id && memcmp(id, "XMP DataXMP", 11) == 0) {
        blk = um_report_block(job, "application XMP DataXMP", start, len, UNMETA_ACTION_REMOVE);
        UM_TRY(blk);
        return scan_xmp(g, blk, &c);
    }
    if (has_id && memcmp(id, "ICCRGBG1012", 11) == 0) {
        blk = um_report_block(job, "application ICCRGBG1012", start, len, UNMETA_ACTION_REMOVE);
        UM_TRY(blk);
        return scan_icc(g, blk, &c);
    }
    /* Every other application: ImageMagick's IPTC and Photoshop
     * resources (MGKIPTC0000, MGK8BIM0000), its gamma/profile blocks,
     * editors' private data. */
    int cat = UNMETA_CAT_OTHER;
    if (has_id && (memcmp(id, "MGKIPTC0000", 11) == 0 || memcmp(id, "MGK8BIM0000", 11) == 0))
        cat = UNMETA_CAT_PEOPLE;
    snprintf(kind, sizeof(kind), "application %s", has_id ? name : "(no identifier)");
    blk = um_report_block(job, kind, start, len, UNMETA_ACTION_REMOVE);
    UM_TRY(blk);
    return um_report_finding(job, blk, cat, "ApplicationExtension", "%s, %llu bytes",
                             has_id ? name : "without an identifier", (unsigned long long)c.data);
}

/* Image Descriptor (20), Local Color Table (21), Table Based Image Data
 * (22): copied whole. start is the 0x2C byte. */
static int image(gif *g, uint64_t start, uint64_t *next)
{
    um_job *job = g->job;
    uint8_t d[10];
    uint8_t mcs;
    chain c;

    if (g->size - start <= sizeof(d))
        return um_fail(job, UNMETA_E_TRUNCATED, "GIF: the file ends inside the image descriptor at byte %llu",
                       (unsigned long long)start);
    UM_TRY(um_read_at(job, start, d, sizeof(d)));
    uint16_t w = um_le16(d + 5), h = um_le16(d + 7);
    uint64_t pos = start + 10;
    if (d[9] & 0x80)
        pos += 3u << ((d[9] & 7) + 1);
    if (pos >= g->size)
        return um_fail(job, UNMETA_E_TRUNCATED, "GIF: the file ends inside the local colour table at byte %llu",
                       (unsigned long long)start);
    UM_TRY(um_read_at(job, pos, &mcs, 1));
    if (mcs < 1 || mcs > 11)
        return um_fail(job, UNMETA_E_MALFORMED, "GIF: the image at byte %llu has LZW minimum code size %u",
                       (unsigned long long)start, mcs);
    UM_TRY(walk_chain(g, pos + 1, "image", start, &c));
    uint64_t end = c.term + 1;
    *next = end;
    UM_TRY(um_report_block(job, "image", start, end - start, UNMETA_ACTION_KEEP));
    if (w == 0 || h == 0)
        UM_TRY(um_report_note(job, "GIF: image %u (byte %llu) is %ux%u; it is copied unchanged, "
                              "though some decoders refuse empty images", g->images + 1,
                              (unsigned long long)start, w, h));
    g->images++;
    return um_plan_copy(job, start, end - start);
}

/* Bytes after the trailer: named for the report, never copied. */
static int after_trailer(gif *g, uint64_t pos)
{
    um_job *job = g->job;
    uint64_t n = g->size - pos;
    uint8_t t[8] = { 0 };
    size_t tn = n < sizeof(t) ? (size_t)n : sizeof(t);
    UM_TRY(um_read_at(job, pos, t, tn));
    int blk = um_report_block(job, "after trailer", pos, n, UNMETA_ACTION_REMOVE);
    UM_TRY(blk);
    /* Zero padding (some writers round files up) holds nothing. */
    int zero = 1;
    for (uint64_t off = pos; off < g->size && zero;) {
        const uint8_t *p;
        size_t avail;
        UM_TRY(um_reader_peek(job, off, &p, &avail));
        for (size_t i = 0; i < avail && zero; i++)
            zero = p[i] == 0;
        off += avail;
    }
    if (zero)
        return 0;
    const char *what = "data";
    if (tn >= 3 && t[0] == 0xFF && t[1] == 0xD8 && t[2] == 0xFF)
        what = "JPEG image";
    else if (tn >= 4 && memcmp(t, "PK\3\4", 4) == 0)
        what = "ZIP archive";
    else if (tn >= 4 && memcmp(t, "GIF8", 4) == 0)
        what = "GIF image";
    return um_report_finding(job, blk, UNMETA_CAT_EMBEDDED, "Trailer", "%s, %llu bytes after the GIF trailer",
                             what, (unsigned long long)n);
}

static int run(um_job *job)
{
    gif g;
    uint8_t hdr[13];
    memset(&g, 0, sizeof(g));
    g.job = job;
    g.size = um_reader_size(job->in);

    /* Header (17) and Logical Screen Descriptor (18). */
    if (g.size < sizeof(hdr))
        return um_fail(job, UNMETA_E_TRUNCATED, "GIF: the file ends inside the logical screen descriptor");
    UM_TRY(um_read_at(job, 0, hdr, sizeof(hdr)));
    if (!probe(hdr, sizeof(hdr)))
        return um_fail(job, UNMETA_E_MALFORMED, "GIF: the header is neither GIF87a nor GIF89a");
    uint64_t pos = sizeof(hdr);
    if (hdr[10] & 0x80)
        pos += 3u << ((hdr[10] & 7) + 1); /* Global Color Table (19) */
    if (pos > g.size)
        return um_fail(job, UNMETA_E_TRUNCATED, "GIF: the file ends inside the global colour table");
    UM_TRY(um_report_block(job, "header", 0, pos, UNMETA_ACTION_KEEP));
    UM_TRY(um_plan_copy(job, 0, pos));
    uint16_t sw = um_le16(hdr + 6), sh = um_le16(hdr + 8);
    if (sw == 0 || sh == 0)
        UM_TRY(um_report_note(job, "GIF: the logical screen is %ux%u; it is copied unchanged", sw, sh));

    for (;;) {
        uint8_t b;
        if (pos >= g.size)
            return um_fail(job, UNMETA_E_TRUNCATED, "GIF: the file ends at byte %llu without a trailer",
                           (unsigned long long)g.size);
        UM_TRY(um_read_at(job, pos, &b, 1));
        switch (b) {
        case 0x2C:
            UM_TRY(image(&g, pos, &pos));
            break;
        case 0x21:
            UM_TRY(extension(&g, pos, &pos));
            break;
        case 0x3B: /* Trailer (27). */
            if (g.images == 0)
                return um_fail(job, UNMETA_E_MALFORMED, "GIF: no image before the trailer");
            UM_TRY(um_report_block(job, "trailer", pos, 1, UNMETA_ACTION_KEEP));
            UM_TRY(um_plan_copy(job, pos, 1));
            if (pos + 1 < g.size)
                UM_TRY(after_trailer(&g, pos + 1));
            return 0;
        default:
            return um_fail(job, UNMETA_E_MALFORMED, "GIF: unknown block introducer 0x%02X at byte %llu",
                           b, (unsigned long long)pos);
        }
    }
}

const um_format um_format_gif = {
    .name = "gif",
    .mime = "image/gif",
    .ext = "gif",
    .probe = probe,
    .run = run,
};
