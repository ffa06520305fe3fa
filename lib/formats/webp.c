/*
 * webp.c - WebP (RFC 9649, "WebP Image Format"; the RIFF container of
 * Google's WebP Container Specification).
 *
 * A WebP file is a RIFF form "WEBP" of chunks (FourCC, LE32 size, payload,
 * a pad byte after an odd payload; RFC 9649 section 2.4). Pass 1 walks every
 * chunk, and the sub-chunks of each animation frame, checking each size
 * against its container, the RIFF size and the real file length, and
 * reports them. Pass 2 writes the keep-list in input order:
 *   kept as is:  VP8, VP8L, ALPH (before a VP8 bitstream), ANIM;
 *   rewritten:   the RIFF header (size), VP8X (ICC/EXIF/XMP flags matching
 *                what is written, reserved bits zero), ANMF (size and
 *                reserved bits, without dropped sub-chunks), ICCP
 *                neutralised (icc.h) or dropped with UNMETA_ICC_STRIP;
 *                EXIF reduced to a chunk holding only Orientation when it
 *                is not 1, written where the spec orders EXIF (after the
 *                image data);
 *   dropped:     EXIF, XMP, every unknown chunk (also inside frames), and
 *                whatever follows the end of the RIFF form.
 * The minimal EXIF is raw TIFF, as libwebp and webpmux write it, unless the
 * input's EXIF began with the JPEG-style "Exif\0\0" identifier (Pillow
 * writes that): readers differ on which form they honour (ImageMagick 6
 * applies the orientation only with the identifier), so the output keeps
 * the form of the input and displays the way the input did everywhere.
 *
 * A first chunk other than VP8, VP8L or VP8X, a chunk out of its place in
 * the order of section 2.7.1.1, or a canvas the image does not match is
 * refused: libwebp refuses them too, so nothing renderable is lost.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io.h"
#include "../plan.h"
#include "../report.h"
#include "common/exif.h"
#include "common/icc.h"
#include "common/xmp.h"
#include "format.h"

/* VP8X flags (RFC 9649 section 2.7). */
#define F_ANIMATION 0x02
#define F_XMP       0x04
#define F_EXIF      0x08
#define F_ALPHA     0x10
#define F_ICC       0x20

#define RIFF_MAX 0xFFFFFFF6u /* largest RIFF size: 2^32 - 10 (section 2.5) */

enum chunk_class {
    CH_DROP,
    CH_KEEP,   /* header and payload copied, pad written as zero */
    CH_VP8X,   /* rebuilt */
    CH_ICCP,   /* neutralised profile */
    CH_ANMF,   /* rebuilt header, then its kept sub-chunks */
};

typedef struct chunk {
    uint64_t off;     /* the chunk header */
    uint32_t size;    /* payload bytes, pad excluded */
    uint8_t cls;
    uint8_t depth;    /* 0 in the RIFF form, 1 inside an ANMF */
    uint32_t out;     /* CH_ANMF: payload size written */
    int blk;          /* ALPH: its report block, in case it is dropped */
} chunk;

typedef struct webp {
    um_job *job;
    chunk *ch;
    size_t n, cap;
    uint64_t file_size;
    uint64_t riff_end;          /* one past the RIFF form */
    int extended;               /* first chunk VP8X */
    uint8_t flags;              /* VP8X flags as read */
    uint32_t canvas_w, canvas_h;
    int seen_iccp, seen_anim, seen_image, exif_seen;
    uint32_t nframes;
    int orientation;            /* of the first EXIF, 0 if none */
    int exif_header;            /* that EXIF began with "Exif\0\0" */
    uint8_t *icc;               /* neutralised profile to write */
    size_t icc_len;
    uint8_t *exif;              /* minimal Orientation TIFF to write */
    size_t exif_len;
    uint64_t out_riff;          /* RIFF size of the output */
} webp;

static int probe(const uint8_t *p, size_t n)
{
    return n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0 ? 100 : 0;
}

/* The FourCC as printable text for messages and block kinds. */
static void fourcc_text(char out[5], const uint8_t cc[4])
{
    for (int i = 0; i < 4; i++)
        out[i] = cc[i] >= 0x20 && cc[i] < 0x7f ? (char)cc[i] : '.';
    out[4] = '\0';
}

static int is_cc(const uint8_t cc[4], const char *s)
{
    return memcmp(cc, s, 4) == 0;
}

static uint32_t le24(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}

static uint64_t padded(uint32_t size)
{
    return 8 + (uint64_t)size + (size & 1);
}

static int add_chunk(webp *w, uint64_t off, uint32_t size, int cls, int depth)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 32;
        chunk *c = um_realloc(w->job, w->ch, cap * sizeof(*c));
        if (!c)
            return w->job->err;
        w->ch = c;
        w->cap = cap;
    }
    chunk *c = &w->ch[w->n++];
    memset(c, 0, sizeof(*c));
    c->off = off;
    c->size = size;
    c->cls = (uint8_t)cls;
    c->depth = (uint8_t)depth;
    return 0;
}

/* Reads the chunk header at pos inside a container ending at end (the RIFF
 * form or an ANMF payload) and checks the chunk fits (section 2.4). The pad
 * byte of the container's last chunk may be missing: libwebp accepts that,
 * and the output writes it. *next is where the following chunk starts. */
static int chunk_at(webp *w, uint64_t pos, uint64_t end, const char *where, uint8_t cc[4], uint32_t *size,
                    uint64_t *next)
{
    um_job *job = w->job;
    uint8_t h[8];
    if (end - pos < 8) {
        if (end > w->file_size)
            return um_fail(job, UNMETA_E_TRUNCATED, "WebP: the file ends inside a chunk header at byte %llu",
                           (unsigned long long)pos);
        return um_fail(job, UNMETA_E_MALFORMED, "WebP: %llu stray bytes at byte %llu, too few for a chunk %s",
                       (unsigned long long)(end - pos), (unsigned long long)pos, where);
    }
    UM_TRY(um_read_at(job, pos, h, 8));
    memcpy(cc, h, 4);
    *size = um_le32(h + 4);
    uint64_t pend = pos + 8 + (uint64_t)*size;
    if (pend > end) {
        char t[5];
        fourcc_text(t, cc);
        if (pend > w->file_size)
            return um_fail(job, UNMETA_E_TRUNCATED, "WebP: chunk '%s' at byte %llu (%u bytes) runs past the end of the file",
                           t, (unsigned long long)pos, *size);
        return um_fail(job, UNMETA_E_MALFORMED, "WebP: chunk '%s' at byte %llu (%u bytes) runs past the end of its %s",
                       t, (unsigned long long)pos, *size, where);
    }
    *next = pend + (*size & 1);
    if (*next > end)
        *next = end; /* the last chunk's pad byte is missing */
    return 0;
}

/* Reads the width and height a VP8 or VP8L bitstream declares (RFC 6386
 * section 9.1; RFC 9649 section 3.2). */
static int bitstream_size(webp *w, const uint8_t cc[4], uint64_t off, uint32_t size, uint32_t *bw, uint32_t *bh)
{
    um_job *job = w->job;
    uint8_t b[10];
    if (is_cc(cc, "VP8 ")) {
        if (size < 10)
            return um_fail(job, UNMETA_E_MALFORMED, "WebP: VP8 bitstream at byte %llu is too short",
                           (unsigned long long)off);
        UM_TRY(um_read_at(job, off + 8, b, 10));
        if (b[0] & 1)
            return um_fail(job, UNMETA_E_MALFORMED, "WebP: VP8 bitstream at byte %llu is not a key frame",
                           (unsigned long long)off);
        if (b[3] != 0x9d || b[4] != 0x01 || b[5] != 0x2a)
            return um_fail(job, UNMETA_E_MALFORMED, "WebP: VP8 bitstream at byte %llu has no start code",
                           (unsigned long long)off);
        /* libwebp bounds the partitions by the end of the file, not of the
         * chunk, so a first partition running past its chunk would decode
         * from the bytes after it, which the output does not have. */
        if ((le24(b) >> 5) > size - 10)
            return um_fail(job, UNMETA_E_MALFORMED, "WebP: VP8 bitstream at byte %llu has a first partition "
                           "larger than its chunk", (unsigned long long)off);
        *bw = um_le16(b + 6) & 0x3fff;
        *bh = um_le16(b + 8) & 0x3fff;
    } else {
        if (size < 5)
            return um_fail(job, UNMETA_E_MALFORMED, "WebP: VP8L bitstream at byte %llu is too short",
                           (unsigned long long)off);
        UM_TRY(um_read_at(job, off + 8, b, 5));
        uint32_t bits = um_le32(b + 1);
        if (b[0] != 0x2f || bits >> 29 != 0)
            return um_fail(job, UNMETA_E_MALFORMED, "WebP: VP8L bitstream at byte %llu has a bad signature or version",
                           (unsigned long long)off);
        *bw = (bits & 0x3fff) + 1;
        *bh = ((bits >> 14) & 0x3fff) + 1;
    }
    if (*bw == 0 || *bh == 0)
        return um_fail(job, UNMETA_E_MALFORMED, "WebP: image at byte %llu has no pixels", (unsigned long long)off);
    return 0;
}

/* Reports a chunk that is dropped: EXIF and XMP are read for the report,
 * anything else is named by its FourCC. use_orientation: this EXIF is one
 * readers honour (VP8X EXIF flag set, first EXIF chunk). */
static int drop_chunk(webp *w, const uint8_t cc[4], uint64_t off, uint32_t size, uint64_t len, int use_orientation)
{
    um_job *job = w->job;
    char t[5], kind[32];
    int blk;
    fourcc_text(t, cc);
    if (is_cc(cc, "EXIF")) {
        um_exif_info info;
        uint8_t *b = NULL;
        blk = um_report_block(job, "EXIF", off, len, UNMETA_ACTION_REMOVE);
        UM_TRY(blk);
        UM_TRY(um_read_block(job, off + 8, size, "a WebP EXIF chunk", &b));
        /* libwebp and webpmux write raw TIFF; some writers (Pillow, older
         * exiftool) prefix the JPEG APP1 "Exif\0\0" identifier. */
        size_t skip = size >= 6 && memcmp(b, "Exif\0\0", 6) == 0 ? 6 : 0;
        int rc = um_exif_scan(job, blk, b + skip, size - skip, &info);
        free(b);
        UM_TRY(rc);
        if (use_orientation) {
            w->orientation = info.orientation;
            w->exif_header = skip != 0;
            if (info.orientation > 1)
                um_report_block_action(job, blk, UNMETA_ACTION_REWRITE);
        }
        return 0;
    }
    if (is_cc(cc, "XMP ")) {
        blk = um_report_block(job, "XMP", off, len, UNMETA_ACTION_REMOVE);
        UM_TRY(blk);
        if (size > job->ctx->limits.max_block) {
            UM_TRY(um_report_finding(job, blk, UNMETA_CAT_OTHER, "XMP", "%u bytes (too large to read)", size));
            return um_report_note(job, "WebP: an XMP chunk of %u bytes was dropped without being read", size);
        }
        uint8_t *b = NULL;
        UM_TRY(um_read_block(job, off + 8, size, "a WebP XMP chunk", &b));
        int rc = um_xmp_scan(job, blk, b, size);
        free(b);
        return rc;
    }
    snprintf(kind, sizeof(kind), "chunk '%s'", t);
    blk = um_report_block(job, kind, off, len, UNMETA_ACTION_REMOVE);
    UM_TRY(blk);
    return um_report_finding(job, blk, UNMETA_CAT_OTHER, "Chunk", "'%s', %u bytes", t, size);
}

/* Reads, checks and neutralises the ICC profile (section 2.7.1.4). */
static int read_iccp(webp *w, uint64_t off, uint32_t size, uint64_t len)
{
    um_job *job = w->job;
    int strip = job->ctx->icc_mode == UNMETA_ICC_STRIP;
    int blk = um_report_block(job, "ICCP", off, len, strip ? UNMETA_ACTION_REMOVE : UNMETA_ACTION_REWRITE);
    UM_TRY(blk);
    if (!(w->flags & F_ICC)) {
        /* Readers ignore a profile the VP8X flags do not announce. */
        UM_TRY(add_chunk(w, off, size, CH_DROP, 0));
        um_report_block_action(job, blk, UNMETA_ACTION_REMOVE);
        return um_report_finding(job, blk, UNMETA_CAT_OTHER, "ICCP", "%u bytes, not announced by VP8X", size);
    }
    uint8_t *p = NULL;
    UM_TRY(um_read_block(job, off + 8, size, "a WebP ICC profile", &p));
    int changed = 0;
    int rc = um_icc_neutralise(job, blk, p, size, &changed);
    if (rc == UNMETA_E_MALFORMED) {
        /* A profile no colour engine could use either: drop it, say so. */
        job->err = 0;
        free(p);
        um_report_block_action(job, blk, UNMETA_ACTION_REMOVE);
        UM_TRY(add_chunk(w, off, size, CH_DROP, 0));
        return um_report_note(job, "WebP: the ICC profile is malformed and was dropped: %s", job->ctx->errmsg);
    }
    if (rc < 0 || strip) {
        free(p);
        UM_TRY(rc);
        return add_chunk(w, off, size, CH_DROP, 0);
    }
    if (!changed)
        um_report_block_action(job, blk, UNMETA_ACTION_KEEP);
    w->icc = p;
    w->icc_len = size;
    return add_chunk(w, off, size, CH_ICCP, 0);
}

/* Walks the sub-chunks of the ANMF chunk at index a (section 2.7.1.2):
 * a 16-byte frame header, an optional ALPH, one VP8 or VP8L bitstream,
 * then unknown chunks, which are dropped. */
static int walk_frame(webp *w, size_t a)
{
    um_job *job = w->job;
    uint64_t off = w->ch[a].off, size = w->ch[a].size;
    uint8_t fh[16];
    if (size < 16)
        return um_fail(job, UNMETA_E_MALFORMED, "WebP: ANMF chunk at byte %llu is too short",
                       (unsigned long long)off);
    UM_TRY(um_read_at(job, off + 8, fh, 16));
    uint64_t fx = 2 * (uint64_t)le24(fh), fy = 2 * (uint64_t)le24(fh + 3);
    uint64_t fw = 1 + (uint64_t)le24(fh + 6), fhh = 1 + (uint64_t)le24(fh + 9);
    if (fx + fw > w->canvas_w || fy + fhh > w->canvas_h)
        return um_fail(job, UNMETA_E_MALFORMED, "WebP: frame at byte %llu (%llux%llu at %llu,%llu) does not fit the %ux%u canvas",
                       (unsigned long long)off, (unsigned long long)fw, (unsigned long long)fhh,
                       (unsigned long long)fx, (unsigned long long)fy, w->canvas_w, w->canvas_h);
    uint64_t end = off + 8 + size, pos = off + 8 + 16;
    uint64_t out = 16;
    int image = 0;
    size_t alph = 0; /* index of a pending ALPH, 0 if none */
    while (pos < end) {
        uint8_t cc[4];
        uint32_t csize;
        uint64_t next;
        UM_TRY(chunk_at(w, pos, end, "ANMF frame", cc, &csize, &next));
        uint64_t len = next - pos;
        if (!image && (is_cc(cc, "VP8 ") || is_cc(cc, "VP8L"))) {
            uint32_t bw, bh;
            UM_TRY(bitstream_size(w, cc, pos, csize, &bw, &bh));
            if (bw != fw || bh != fhh)
                return um_fail(job, UNMETA_E_MALFORMED, "WebP: frame at byte %llu is %llux%llu but its bitstream is %ux%u",
                               (unsigned long long)off, (unsigned long long)fw, (unsigned long long)fhh, bw, bh);
            if (alph && is_cc(cc, "VP8L")) {
                /* Section 2.7.1.3: readers ignore ALPH before VP8L. */
                w->ch[alph].cls = CH_DROP;
                um_report_block_action(job, w->ch[alph].blk, UNMETA_ACTION_REMOVE);
                out -= padded(w->ch[alph].size);
                UM_TRY(um_report_note(job, "WebP: an ALPH chunk before a lossless frame was dropped (readers ignore it)"));
            }
            UM_TRY(um_report_block(job, is_cc(cc, "VP8L") ? "ANMF VP8L" : "ANMF VP8", pos, len, UNMETA_ACTION_KEEP));
            UM_TRY(add_chunk(w, pos, csize, CH_KEEP, 1));
            out += padded(csize);
            image = 1;
        } else if (!image && is_cc(cc, "ALPH")) {
            if (alph)
                return um_fail(job, UNMETA_E_MALFORMED, "WebP: second ALPH chunk in the frame at byte %llu",
                               (unsigned long long)off);
            int blk = um_report_block(job, "ANMF ALPH", pos, len, UNMETA_ACTION_KEEP);
            UM_TRY(blk);
            alph = w->n;
            UM_TRY(add_chunk(w, pos, csize, CH_KEEP, 1));
            w->ch[alph].blk = blk;
            out += padded(csize);
        } else if (!image) {
            char t[5];
            fourcc_text(t, cc);
            return um_fail(job, UNMETA_E_MALFORMED, "WebP: chunk '%s' at byte %llu comes before the frame's image data",
                           t, (unsigned long long)pos);
        } else {
            UM_TRY(drop_chunk(w, cc, pos, csize, len, 0));
            UM_TRY(add_chunk(w, pos, csize, CH_DROP, 1));
        }
        pos = next;
    }
    if (!image)
        return um_fail(job, UNMETA_E_MALFORMED, "WebP: frame at byte %llu has no image data", (unsigned long long)off);
    if (out > RIFF_MAX)
        return um_fail(job, UNMETA_E_LIMIT, "WebP: frame at byte %llu is too large", (unsigned long long)off);
    w->ch[a].out = (uint32_t)out;
    return 0;
}

/* The VP8X chunk (section 2.7): flags and canvas. */
static int read_vp8x(webp *w, uint64_t off, uint32_t size)
{
    um_job *job = w->job;
    uint8_t b[10];
    if (size != 10)
        return um_fail(job, UNMETA_E_MALFORMED, "WebP: VP8X chunk of %u bytes (10 expected)", size);
    UM_TRY(um_read_at(job, off + 8, b, 10));
    w->flags = b[0];
    w->canvas_w = 1 + le24(b + 4);
    w->canvas_h = 1 + le24(b + 7);
    /* "The product of Canvas Width and Canvas Height MUST be at most 2^32 - 1." */
    if ((uint64_t)w->canvas_w * w->canvas_h > 0xFFFFFFFFu)
        return um_fail(job, UNMETA_E_MALFORMED, "WebP: canvas of %ux%u pixels is too large", w->canvas_w, w->canvas_h);
    UM_TRY(um_report_block(job, "VP8X", off, padded(size), UNMETA_ACTION_REWRITE));
    return add_chunk(w, off, size, CH_VP8X, 0);
}

/* One chunk of an extended file after VP8X, in the order section 2.7.1.1
 * gives: ICCP, ANIM, then ALPH + VP8/VP8L or ANMF frames, then EXIF, XMP;
 * unknown chunks anywhere. */
static int walk_extended_chunk(webp *w, const uint8_t cc[4], uint64_t pos, uint32_t size, uint64_t len, size_t *alph)
{
    um_job *job = w->job;
    int anim = (w->flags & F_ANIMATION) != 0;
    int image_data = w->seen_image || w->nframes || *alph;
    char t[5];
    fourcc_text(t, cc);
    if (is_cc(cc, "VP8X"))
        return um_fail(job, UNMETA_E_MALFORMED, "WebP: second VP8X chunk at byte %llu", (unsigned long long)pos);
    if (is_cc(cc, "ICCP")) {
        if (w->seen_iccp || w->seen_anim || image_data)
            return um_fail(job, UNMETA_E_MALFORMED, "WebP: ICCP chunk at byte %llu is %s", (unsigned long long)pos,
                           w->seen_iccp ? "a second profile" : "after the image data");
        w->seen_iccp = 1;
        return read_iccp(w, pos, size, len);
    }
    if (is_cc(cc, "ANIM")) {
        if (!anim || w->seen_anim || image_data)
            return um_fail(job, UNMETA_E_MALFORMED, "WebP: ANIM chunk at byte %llu %s", (unsigned long long)pos,
                           !anim ? "in a still image" : w->seen_anim ? "is a second one" : "after the frames");
        if (size != 6)
            return um_fail(job, UNMETA_E_MALFORMED, "WebP: ANIM chunk of %u bytes (6 expected)", size);
        w->seen_anim = 1;
        UM_TRY(um_report_block(job, "ANIM", pos, len, UNMETA_ACTION_KEEP));
        return add_chunk(w, pos, size, CH_KEEP, 0);
    }
    if (is_cc(cc, "ANMF")) {
        if (!anim || !w->seen_anim)
            return um_fail(job, UNMETA_E_MALFORMED, "WebP: ANMF chunk at byte %llu %s", (unsigned long long)pos,
                           !anim ? "in a still image" : "before the ANIM chunk");
        UM_TRY(um_report_block(job, "ANMF", pos, len, UNMETA_ACTION_KEEP));
        UM_TRY(add_chunk(w, pos, size, CH_ANMF, 0));
        w->nframes++;
        return walk_frame(w, w->n - 1);
    }
    if (is_cc(cc, "ALPH") || is_cc(cc, "VP8 ") || is_cc(cc, "VP8L")) {
        if (anim)
            return um_fail(job, UNMETA_E_MALFORMED, "WebP: chunk '%s' at byte %llu outside a frame of an animation",
                           t, (unsigned long long)pos);
        if (w->seen_image)
            return um_fail(job, UNMETA_E_MALFORMED, "WebP: chunk '%s' at byte %llu after the image data",
                           t, (unsigned long long)pos);
        if (is_cc(cc, "ALPH")) {
            if (*alph)
                return um_fail(job, UNMETA_E_MALFORMED, "WebP: second ALPH chunk at byte %llu", (unsigned long long)pos);
            int blk = um_report_block(job, "ALPH", pos, len, UNMETA_ACTION_KEEP);
            UM_TRY(blk);
            *alph = w->n;
            UM_TRY(add_chunk(w, pos, size, CH_KEEP, 0));
            w->ch[*alph].blk = blk;
            return 0;
        }
        uint32_t bw, bh;
        UM_TRY(bitstream_size(w, cc, pos, size, &bw, &bh));
        if (bw != w->canvas_w || bh != w->canvas_h)
            return um_fail(job, UNMETA_E_MALFORMED, "WebP: the canvas is %ux%u but the image is %ux%u",
                           w->canvas_w, w->canvas_h, bw, bh);
        if (*alph && is_cc(cc, "VP8L")) {
            /* Section 2.7.1.3: readers ignore ALPH before VP8L. */
            w->ch[*alph].cls = CH_DROP;
            um_report_block_action(job, w->ch[*alph].blk, UNMETA_ACTION_REMOVE);
            UM_TRY(um_report_note(job, "WebP: an ALPH chunk before a lossless image was dropped (readers ignore it)"));
        }
        w->seen_image = 1;
        UM_TRY(um_report_block(job, is_cc(cc, "VP8L") ? "VP8L" : "VP8", pos, len, UNMETA_ACTION_KEEP));
        return add_chunk(w, pos, size, CH_KEEP, 0);
    }
    /* EXIF, XMP and unknown chunks. Readers take the first EXIF chunk, and
     * only when VP8X announces it. */
    int first_exif = 0;
    if (is_cc(cc, "EXIF")) {
        first_exif = !w->exif_seen && (w->flags & F_EXIF);
        w->exif_seen = 1;
    }
    UM_TRY(drop_chunk(w, cc, pos, size, len, first_exif));
    return add_chunk(w, pos, size, CH_DROP, 0);
}

/* Pass 1: the chunk list and the report. */
static int walk(webp *w)
{
    um_job *job = w->job;
    uint8_t h[12];
    w->file_size = um_reader_size(job->in);
    if (w->file_size < 12)
        return um_fail(job, UNMETA_E_TRUNCATED, "WebP: the file ends inside the RIFF header");
    UM_TRY(um_read_at(job, 0, h, 12));
    uint32_t riff = um_le32(h + 4);
    if (riff < 4 + 8)
        return um_fail(job, UNMETA_E_MALFORMED, "WebP: RIFF size %u is too small for an image", riff);
    w->riff_end = 8 + (uint64_t)riff;
    if (w->riff_end > w->file_size)
        return um_fail(job, UNMETA_E_TRUNCATED, "WebP: the RIFF size says %llu bytes but the file has %llu",
                       (unsigned long long)w->riff_end, (unsigned long long)w->file_size);
    UM_TRY(um_report_block(job, "RIFF header", 0, 12, UNMETA_ACTION_KEEP));

    uint8_t cc[4];
    uint32_t size;
    uint64_t next, pos = 12;
    UM_TRY(chunk_at(w, pos, w->riff_end, "RIFF form", cc, &size, &next));
    if (is_cc(cc, "VP8X")) {
        w->extended = 1;
        UM_TRY(read_vp8x(w, pos, size));
        pos = next;
        size_t alph = 0;
        while (pos < w->riff_end) {
            UM_TRY(chunk_at(w, pos, w->riff_end, "RIFF form", cc, &size, &next));
            UM_TRY(walk_extended_chunk(w, cc, pos, size, next - pos, &alph));
            pos = next;
        }
        if ((w->flags & F_ANIMATION) ? w->nframes == 0 : !w->seen_image)
            return um_fail(job, UNMETA_E_MALFORMED, "WebP: no image data");
    } else if (is_cc(cc, "VP8 ") || is_cc(cc, "VP8L")) {
        /* The simple format (section 2.6): one bitstream chunk. Nothing
         * after it can be read by a decoder; it is reported and dropped. */
        uint32_t bw, bh;
        UM_TRY(bitstream_size(w, cc, pos, size, &bw, &bh));
        UM_TRY(um_report_block(job, is_cc(cc, "VP8L") ? "VP8L" : "VP8", pos, next - pos, UNMETA_ACTION_KEEP));
        UM_TRY(add_chunk(w, pos, size, CH_KEEP, 0));
        w->seen_image = 1;
        pos = next;
        while (pos < w->riff_end) {
            UM_TRY(chunk_at(w, pos, w->riff_end, "RIFF form", cc, &size, &next));
            UM_TRY(drop_chunk(w, cc, pos, size, next - pos, 0));
            UM_TRY(add_chunk(w, pos, size, CH_DROP, 0));
            pos = next;
        }
    } else {
        char t[5];
        fourcc_text(t, cc);
        return um_fail(job, UNMETA_E_MALFORMED, "WebP: the first chunk is '%s', not VP8, VP8L or VP8X", t);
    }

    if (w->riff_end < w->file_size) {
        uint64_t tl = w->file_size - w->riff_end;
        uint8_t t[16] = { 0 };
        size_t tn = tl < sizeof(t) ? (size_t)tl : sizeof(t);
        UM_TRY(um_read_at(job, w->riff_end, t, tn));
        int allzero = 1;
        for (size_t i = 0; i < tn; i++)
            allzero &= t[i] == 0;
        int blk = um_report_block(job, "trailer", w->riff_end, tl, UNMETA_ACTION_REMOVE);
        UM_TRY(blk);
        UM_TRY(um_report_finding(job, blk, UNMETA_CAT_EMBEDDED, "Trailer", "%s, %llu bytes after the RIFF form",
                                 allzero ? "padding" : "data", (unsigned long long)tl));
    }
    return 0;
}

/* Sizes of what pass 2 writes, and the minimal EXIF chunk. */
static int plan_sizes(webp *w)
{
    um_job *job = w->job;
    if (w->extended && w->orientation > 1) {
        UM_TRY(um_exif_minimal(job, w->orientation, w->exif_header, &w->exif, &w->exif_len));
        if (job->ctx->apply_orientation)
            UM_TRY(um_report_note(job, "WebP: orientation %d cannot be applied without re-encoding; "
                                       "a minimal Orientation tag is kept instead", w->orientation));
    }
    uint64_t total = 4;
    for (size_t i = 0; i < w->n; i++) {
        const chunk *c = &w->ch[i];
        if (c->depth != 0)
            continue;
        switch (c->cls) {
        case CH_KEEP: case CH_VP8X: case CH_ICCP:
            total += padded(c->size);
            break;
        case CH_ANMF:
            total += padded(c->out);
            break;
        default:
            break;
        }
    }
    if (w->exif)
        total += padded((uint32_t)w->exif_len);
    if (total > RIFF_MAX)
        return um_fail(job, UNMETA_E_LIMIT, "WebP: the output would exceed the RIFF size limit");
    w->out_riff = total;
    return 0;
}

static int emit_pad(um_job *job, uint32_t size)
{
    static const uint8_t zero[1] = { 0 };
    return size & 1 ? um_plan_data(job, zero, 1) : 0;
}

static int emit_header(um_job *job, const char *cc, uint32_t size)
{
    uint8_t *h = um_plan_reserve(job, 8);
    if (!h)
        return job->err;
    memcpy(h, cc, 4);
    um_put_le32(h + 4, size);
    return 0;
}

/* Pass 2: the keep-list, in input order, and the EXIF chunk after the
 * image data (section 2.7.1.1). */
static int emit(webp *w)
{
    um_job *job = w->job;
    uint64_t start = um_plan_size(job);
    uint8_t *h = um_plan_reserve(job, 12);
    if (!h)
        return job->err;
    memcpy(h, "RIFF", 4);
    um_put_le32(h + 4, (uint32_t)w->out_riff);
    memcpy(h + 8, "WEBP", 4);
    for (size_t i = 0; i < w->n; i++) {
        const chunk *c = &w->ch[i];
        switch (c->cls) {
        case CH_KEEP:
            UM_TRY(um_plan_copy(job, c->off, 8 + (uint64_t)c->size));
            UM_TRY(emit_pad(job, c->size));
            break;
        case CH_VP8X: {
            uint8_t *v = um_plan_reserve(job, 18);
            if (!v)
                return job->err;
            memcpy(v, "VP8X", 4);
            um_put_le32(v + 4, 10);
            /* Alpha and animation as read; ICC and EXIF as written; XMP
             * never; reserved bits zero (section 2.7). */
            v[8] = (uint8_t)((w->flags & (F_ALPHA | F_ANIMATION)) | (w->icc ? F_ICC : 0) | (w->exif ? F_EXIF : 0));
            UM_TRY(um_read_at(job, c->off + 8 + 4, v + 12, 6));
            break;
        }
        case CH_ICCP:
            UM_TRY(emit_header(job, "ICCP", (uint32_t)w->icc_len));
            UM_TRY(um_plan_data(job, w->icc, w->icc_len));
            UM_TRY(emit_pad(job, (uint32_t)w->icc_len));
            break;
        case CH_ANMF: {
            UM_TRY(emit_header(job, "ANMF", c->out));
            uint8_t *f = um_plan_reserve(job, 16);
            if (!f)
                return job->err;
            UM_TRY(um_read_at(job, c->off + 8, f, 16));
            f[15] &= 0x03; /* reserved bits; blending and disposal kept */
            break;
        }
        default:
            break;
        }
    }
    if (w->exif) {
        UM_TRY(emit_header(job, "EXIF", (uint32_t)w->exif_len));
        UM_TRY(um_plan_data(job, w->exif, w->exif_len));
        UM_TRY(emit_pad(job, (uint32_t)w->exif_len));
    }
    if (um_plan_size(job) - start != 8 + w->out_riff)
        return um_fail(job, UNMETA_E_STATE, "WebP: internal error: wrote %llu bytes, planned %llu",
                       (unsigned long long)(um_plan_size(job) - start), (unsigned long long)(8 + w->out_riff));
    return 0;
}

static int run(um_job *job)
{
    webp w;
    int rc;
    memset(&w, 0, sizeof(w));
    w.job = job;
    UM_TRY_GOTO(rc, walk(&w), done);
    UM_TRY_GOTO(rc, plan_sizes(&w), done);
    rc = emit(&w);
done:
    free(w.ch);
    free(w.icc);
    free(w.exif);
    return rc;
}

const um_format um_format_webp = {
    .name = "webp",
    .mime = "image/webp",
    .ext = "webp",
    .probe = probe,
    .run = run,
};
