/*
 * jpeg.c - JPEG (ITU-T T.81, JFIF 1.02, EXIF 2.32 APP1, ICC.1 Annex B).
 *
 * Pass 1 walks the marker segments (B.1.1.2) and the entropy-coded data
 * after each SOS to the next marker, building a list of segments and
 * reporting each on the job. Pass 2 writes the keep-list:
 *   kept as is:  SOI, SOFn, DHT, DQT, DAC, DRI, DNL, DHP, EXP, SOS with its
 *                entropy-coded data (RSTn and fill bytes untouched), EOI,
 *                APP14 Adobe (CMYK/YCCK colour transform);
 *   rewritten:   APP0 JFIF without its thumbnail; the ICC profile (APP2,
 *                possibly in several chunks) neutralised (icc.h), or dropped
 *                with UNMETA_ICC_STRIP; EXIF reduced to Orientation when it
 *                is not 1 (or the image rotated losslessly on request);
 *   dropped:     every other APPn (EXIF, XMP, Extended XMP, MPF, FlashPix,
 *                Photoshop/IPTC, Ducky...), COM, JFXX thumbnails, stray
 *                bytes between segments, and everything after EOI.
 * Any other marker (JPEG-LS, reserved codes) is refused: libjpeg refuses
 * them too, so nothing renderable is lost, and nothing unknown passes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <turbojpeg.h>

#include "../io.h"
#include "../plan.h"
#include "../report.h"
#include "common/exif.h"
#include "common/icc.h"
#include "common/xmp.h"
#include "format.h"

enum seg_class {
    SEG_KEEP,        /* copy as is */
    SEG_ECS,         /* entropy-coded data: copy as is */
    SEG_DROP,
    SEG_JFIF,        /* APP0 JFIF: copy, without thumbnail */
    SEG_ICC,         /* APP2 ICC_PROFILE chunk */
    SEG_EXIF,        /* APP1 Exif */
};

typedef struct seg {
    uint64_t start;  /* first byte (first fill 0xFF before a marker) */
    uint64_t end;    /* one past the last byte */
    uint64_t body;   /* first byte after the length field */
    uint8_t marker;  /* 0 for entropy-coded data */
    uint8_t cls;
    uint8_t icc_seq; /* SEG_ICC: chunk number */
    int block;       /* SEG_ICC: its block in the report */
} seg;

typedef struct jpeg {
    um_job *job;
    seg *segs;
    size_t nsegs, cap;
    int orientation;          /* from the first EXIF, 0 if none */
    int exif_seen;
    int jfif_seen, adobe_seen;
    int sof_seen, sos_seen;
    uint8_t sof_marker;
    uint8_t *icc;             /* reassembled profile */
    size_t icc_len;
    uint32_t icc_chunks;      /* count declared by the chunks */
    int icc_block;
    uint64_t dropped_bytes;   /* stray bytes between segments */
} jpeg;

static int probe(const uint8_t *p, size_t n)
{
    return n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF ? 100 : 0;
}

static int add_seg(jpeg *j, uint64_t start, uint64_t end, uint64_t body, uint8_t marker, int cls)
{
    if (j->nsegs == j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 64;
        seg *s = um_realloc(j->job, j->segs, cap * sizeof(*s));
        if (!s)
            return j->job->err;
        j->segs = s;
        j->cap = cap;
    }
    seg *s = &j->segs[j->nsegs++];
    memset(s, 0, sizeof(*s));
    s->start = start;
    s->end = end;
    s->body = body;
    s->marker = marker;
    s->cls = (uint8_t)cls;
    return 0;
}

static int starts(const uint8_t *p, size_t n, const char *sig, size_t k)
{
    return n >= k && memcmp(p, sig, k) == 0;
}

/* Classifies one APPn/COM segment whose body (up to 64 KiB) is in b[0..n). */
static int classify_app(jpeg *j, seg *s, const uint8_t *b, size_t n)
{
    um_job *job = j->job;
    uint8_t m = s->marker;
    uint64_t len = s->end - s->start;
    char kind[48];
    int blk;

    if (m == 0xE0 && starts(b, n, "JFIF\0", 5)) {
        if (j->jfif_seen || n < 14) {
            blk = um_report_block(job, "APP0 JFIF (duplicate or short)", s->start, len, UNMETA_ACTION_REMOVE);
            UM_TRY(blk);
            s->cls = SEG_DROP;
            return 0;
        }
        j->jfif_seen = 1;
        int thumb = b[12] || b[13];
        blk = um_report_block(job, "APP0 JFIF", s->start, len, thumb ? UNMETA_ACTION_REWRITE : UNMETA_ACTION_KEEP);
        UM_TRY(blk);
        if (thumb)
            UM_TRY(um_report_finding(job, blk, UNMETA_CAT_EMBEDDED, "JFIFThumbnail", "%ux%u pixels", b[12], b[13]));
        s->cls = SEG_JFIF;
        return 0;
    }
    if (m == 0xE0 && starts(b, n, "JFXX\0", 5)) {
        blk = um_report_block(job, "APP0 JFXX", s->start, len, UNMETA_ACTION_REMOVE);
        UM_TRY(blk);
        UM_TRY(um_report_finding(job, blk, UNMETA_CAT_EMBEDDED, "JFXXThumbnail", "%zu bytes", n));
        s->cls = SEG_DROP;
        return 0;
    }
    if (m == 0xE1 && starts(b, n, "Exif\0", 5) && n >= 6) {
        um_exif_info info;
        blk = um_report_block(job, "APP1 Exif", s->start, len, UNMETA_ACTION_REMOVE);
        UM_TRY(blk);
        UM_TRY(um_exif_scan(job, blk, b + 6, n - 6, &info));
        if (!j->exif_seen) {
            j->exif_seen = 1;
            j->orientation = info.orientation;
            s->cls = SEG_EXIF;
            if (info.orientation > 1)
                um_report_block_action(job, blk, UNMETA_ACTION_REWRITE);
        } else {
            s->cls = SEG_DROP;
        }
        return 0;
    }
    if (m == 0xE1 && starts(b, n, "http://ns.adobe.com/xap/1.0/\0", 29)) {
        blk = um_report_block(job, "APP1 XMP", s->start, len, UNMETA_ACTION_REMOVE);
        UM_TRY(blk);
        UM_TRY(um_xmp_scan(job, blk, b + 29, n - 29));
        s->cls = SEG_DROP;
        return 0;
    }
    if (m == 0xE1 && starts(b, n, "http://ns.adobe.com/xmp/extension/\0", 35)) {
        blk = um_report_block(job, "APP1 Extended XMP", s->start, len, UNMETA_ACTION_REMOVE);
        UM_TRY(blk);
        UM_TRY(um_xmp_scan(job, blk, b + 35, n - 35));
        s->cls = SEG_DROP;
        return 0;
    }
    if (m == 0xE2 && starts(b, n, "ICC_PROFILE\0", 12) && n >= 14) {
        /* ICC.1 Annex B.4: sequence number (1-based) and count of chunks. */
        uint8_t seq = b[12], count = b[13];
        blk = um_report_block(job, "APP2 ICC_PROFILE", s->start, len,
                              job->ctx->icc_mode == UNMETA_ICC_STRIP ? UNMETA_ACTION_REMOVE : UNMETA_ACTION_REWRITE);
        UM_TRY(blk);
        if (j->icc_chunks == 0) {
            j->icc_chunks = count;
            j->icc_block = blk;
        }
        if (seq == 0 || count == 0 || count != j->icc_chunks || seq > count) {
            UM_TRY(um_report_note(job, "ICC profile chunk %u of %u is inconsistent; the profile is dropped", seq, count));
            j->icc_chunks = 0xFFFFFFFF; /* poisoned: dropped */
        }
        s->cls = SEG_ICC;
        s->icc_seq = seq;
        s->block = blk;
        return 0;
    }
    if (m == 0xEE && starts(b, n, "Adobe", 5) && !j->adobe_seen) {
        j->adobe_seen = 1;
        blk = um_report_block(job, "APP14 Adobe", s->start, len, UNMETA_ACTION_KEEP);
        UM_TRY(blk);
        s->cls = SEG_KEEP;
        return 0;
    }
    if (m == 0xFE) {
        blk = um_report_block(job, "COM", s->start, len, UNMETA_ACTION_REMOVE);
        UM_TRY(blk);
        char text[160];
        size_t k = n < sizeof(text) - 1 ? n : sizeof(text) - 1;
        memcpy(text, b, k);
        text[k] = '\0';
        UM_TRY(um_report_finding(job, blk, UNMETA_CAT_PEOPLE, "Comment", "%s", text));
        s->cls = SEG_DROP;
        return 0;
    }

    /* Every other application segment: named for the report, dropped. */
    const char *what = "segment";
    int cat = UNMETA_CAT_OTHER;
    if (m == 0xE2 && starts(b, n, "MPF\0", 4)) {
        what = "MPF";
        cat = UNMETA_CAT_EMBEDDED;
    } else if (m == 0xE2 && starts(b, n, "FPXR", 4)) {
        what = "FlashPix";
    } else if (m == 0xED && starts(b, n, "Photoshop 3.0\0", 14)) {
        what = "Photoshop/IPTC";
        cat = UNMETA_CAT_PEOPLE;
    } else if (m == 0xEC && starts(b, n, "Ducky", 5)) {
        what = "Ducky";
    } else if (m == 0xEE) {
        what = "Adobe (duplicate)";
    }
    char sig[13];
    size_t k = 0;
    for (; k < n && k < 12 && b[k] >= 0x20 && b[k] < 0x7f; k++)
        sig[k] = (char)b[k];
    sig[k] = '\0';
    snprintf(kind, sizeof(kind), m == 0xFE ? "COM" : "APP%d %s", m - 0xE0, k ? sig : what);
    blk = um_report_block(job, kind, s->start, len, UNMETA_ACTION_REMOVE);
    UM_TRY(blk);
    UM_TRY(um_report_finding(job, blk, cat, what, "%llu bytes", (unsigned long long)(s->end - s->body)));
    s->cls = SEG_DROP;
    return 0;
}

/* Scans entropy-coded data from off to the next marker that is neither a
 * stuffed 0xFF00 nor RSTn (F.1.2.3, B.1.1.5). Returns the offset of that
 * marker's 0xFF (fill bytes before it stay in the data run). */
static int scan_ecs(jpeg *j, uint64_t off, uint64_t *marker_at)
{
    um_job *job = j->job;
    uint64_t size = um_reader_size(job->in);
    for (;;) {
        uint64_t f;
        uint8_t next;
        UM_TRY(um_reader_find(job, off, size, 0xFF, &f));
        if (f + 1 >= size)
            return um_fail(job, UNMETA_E_TRUNCATED, "JPEG: the image data ends without an EOI marker");
        UM_TRY(um_read_at(job, f + 1, &next, 1));
        if (next == 0x00 || (next >= 0xD0 && next <= 0xD7) || next == 0xFF) {
            off = f + 1 + (next != 0xFF);
            continue;
        }
        *marker_at = f;
        return 0;
    }
}

static int is_sof(uint8_t m)
{
    return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
}

/* Pass 1: the segment list and the report. */
static int walk(jpeg *j)
{
    um_job *job = j->job;
    uint64_t size = um_reader_size(job->in);
    uint64_t pos = 2;
    uint8_t hdr[4];

    UM_TRY(um_report_block(job, "SOI", 0, 2, UNMETA_ACTION_KEEP));
    UM_TRY(add_seg(j, 0, 2, 2, 0xD8, SEG_KEEP));
    for (;;) {
        if (pos >= size)
            return um_fail(job, UNMETA_E_TRUNCATED, "JPEG: the file ends before the EOI marker");
        uint8_t c;
        UM_TRY(um_read_at(job, pos, &c, 1));
        if (c != 0xFF) {
            /* Stray bytes between segments: decoders skip them; so do we,
             * and they are not copied. */
            uint64_t f;
            UM_TRY(um_reader_find(job, pos, size, 0xFF, &f));
            int blk = um_report_block(job, "stray bytes", pos, f - pos, UNMETA_ACTION_REMOVE);
            UM_TRY(blk);
            UM_TRY(um_report_finding(job, blk, UNMETA_CAT_OTHER, "StrayBytes", "%llu bytes between segments",
                                     (unsigned long long)(f - pos)));
            j->dropped_bytes += f - pos;
            pos = f;
            continue;
        }
        uint64_t start = pos;
        /* Fill bytes: any number of 0xFF before the marker code (B.1.1.2). */
        do {
            if (++pos >= size)
                return um_fail(job, UNMETA_E_TRUNCATED, "JPEG: the file ends inside a marker");
            UM_TRY(um_read_at(job, pos, &c, 1));
        } while (c == 0xFF);
        uint8_t m = c;
        pos++;
        if (m == 0x00 || m == 0xD8)
            return um_fail(job, UNMETA_E_MALFORMED, "JPEG: unexpected %s at byte %llu",
                           m ? "second SOI" : "stuffed byte outside image data", (unsigned long long)start);
        if (m == 0xD9) {
            if (!j->sos_seen)
                return um_fail(job, UNMETA_E_MALFORMED, "JPEG: EOI before any image data");
            UM_TRY(um_report_block(job, "EOI", start, pos - start, UNMETA_ACTION_KEEP));
            UM_TRY(add_seg(j, start, pos, pos, m, SEG_KEEP));
            if (pos < size) {
                /* A trailer: MPF secondary images, motion-photo videos,
                 * vendor blocks. Named for the report, never copied. */
                uint8_t t[12] = { 0 };
                size_t tn = size - pos < sizeof(t) ? (size_t)(size - pos) : sizeof(t);
                UM_TRY(um_read_at(job, pos, t, tn));
                const char *what = "data";
                if (tn >= 3 && t[0] == 0xFF && t[1] == 0xD8 && t[2] == 0xFF)
                    what = "JPEG image (MPF secondary image or preview)";
                else if (tn >= 8 && memcmp(t + 4, "ftyp", 4) == 0)
                    what = "MP4 video (motion photo)";
                int allzero = 1;
                for (size_t i = 0; i < tn; i++)
                    allzero &= t[i] == 0;
                if (allzero)
                    what = "padding";
                int blk = um_report_block(job, "trailer", pos, size - pos, UNMETA_ACTION_REMOVE);
                UM_TRY(blk);
                UM_TRY(um_report_finding(job, blk, UNMETA_CAT_EMBEDDED, "Trailer", "%s, %llu bytes after EOI", what,
                                         (unsigned long long)(size - pos)));
            }
            return 0;
        }
        if ((m >= 0xD0 && m <= 0xD7) || m == 0x01) {
            /* RSTn outside image data, TEM: no length, no content. */
            UM_TRY(um_report_block(job, m == 0x01 ? "TEM" : "RST", start, pos - start, UNMETA_ACTION_KEEP));
            UM_TRY(add_seg(j, start, pos, pos, m, SEG_KEEP));
            continue;
        }
        if (size - pos < 2)
            return um_fail(job, UNMETA_E_TRUNCATED, "JPEG: the file ends inside the length of marker 0x%02X at byte %llu",
                           m, (unsigned long long)start);
        UM_TRY(um_read_at(job, pos, hdr, 2));
        uint16_t len = um_be16(hdr);
        if (len < 2)
            return um_fail(job, UNMETA_E_MALFORMED, "JPEG: marker 0x%02X at byte %llu has length %u",
                           m, (unsigned long long)start, len);
        uint64_t end = pos + len;
        if (end > size)
            return um_fail(job, UNMETA_E_TRUNCATED, "JPEG: marker 0x%02X at byte %llu runs past the end of the file",
                           m, (unsigned long long)start);
        uint64_t body = pos + 2;
        pos = end;
        if ((m >= 0xE0 && m <= 0xEF) || m == 0xFE) {
            UM_TRY(add_seg(j, start, end, body, m, SEG_DROP));
            uint8_t *b = NULL;
            UM_TRY(um_read_block(job, body, end - body, "a JPEG segment", &b));
            int rc = classify_app(j, &j->segs[j->nsegs - 1], b, (size_t)(end - body));
            free(b);
            UM_TRY(rc);
            continue;
        }
        const char *name = NULL;
        if (is_sof(m)) {
            /* A second frame header is only legal in hierarchical mode,
             * where the later frames are differential (B.3). */
            int differential = m == 0xC5 || m == 0xC6 || m == 0xC7 || m == 0xCD || m == 0xCE || m == 0xCF;
            if (j->sof_seen && !differential)
                return um_fail(job, UNMETA_E_MALFORMED, "JPEG: second frame header at byte %llu",
                               (unsigned long long)start);
            j->sof_seen = 1;
            if (!j->sof_marker)
                j->sof_marker = m;
            name = "SOF";
            if (len < 8)
                return um_fail(job, UNMETA_E_MALFORMED, "JPEG: frame header too short");
        } else {
            switch (m) {
            case 0xC4: name = "DHT"; break;
            case 0xCC: name = "DAC"; break;
            case 0xDB: name = "DQT"; break;
            case 0xDD: name = "DRI"; break;
            case 0xDC: name = "DNL"; break;
            case 0xDE: name = "DHP"; break;
            case 0xDF: name = "EXP"; break;
            case 0xDA: name = "SOS"; break;
            default:
                return um_fail(job, UNMETA_E_UNSUPPORTED, "JPEG: marker 0x%02X at byte %llu is not one unmeta (or libjpeg) can render",
                               m, (unsigned long long)start);
            }
        }
        UM_TRY(um_report_block(job, name, start, end - start, UNMETA_ACTION_KEEP));
        UM_TRY(add_seg(j, start, end, body, m, SEG_KEEP));
        if (m == 0xDA) {
            if (!j->sof_seen)
                return um_fail(job, UNMETA_E_MALFORMED, "JPEG: scan before the frame header");
            j->sos_seen = 1;
            uint64_t mk = 0;
            UM_TRY(scan_ecs(j, pos, &mk));
            UM_TRY(add_seg(j, pos, mk, pos, 0, SEG_ECS));
            pos = mk;
        }
        UM_TRY(um_job_check_cancel(job));
    }
}

/* Drops a profile that cannot be reassembled or read: every chunk is
 * removed, and since its bytes were never understood (a device header may
 * sit in them) they count as a finding, so `check` never calls such a file
 * clean. */
static int drop_icc(jpeg *j, const char *why)
{
    um_job *job = j->job;
    uint64_t bytes = 0;
    for (size_t i = 0; i < j->nsegs; i++) {
        seg *s = &j->segs[i];
        if (s->cls != SEG_ICC)
            continue;
        um_report_block_action(job, s->block, UNMETA_ACTION_REMOVE);
        bytes += s->end - s->body;
    }
    free(j->icc);
    j->icc = NULL;
    j->icc_len = 0;
    return um_report_finding(job, j->icc_block, UNMETA_CAT_OTHER, "ICCProfile", "unusable profile (%s), %llu bytes",
                             why, (unsigned long long)bytes);
}

/* Reassembles the ICC profile from its chunks and neutralises it. With
 * UNMETA_ICC_STRIP it is still read, so the report names what it held,
 * then left out. */
static int build_icc(jpeg *j)
{
    um_job *job = j->job;
    if (j->icc_chunks == 0)
        return 0;
    if (j->icc_chunks == 0xFFFFFFFF)
        return drop_icc(j, "inconsistent chunk numbers");
    uint64_t total = 0;
    for (uint32_t seq = 1; seq <= j->icc_chunks; seq++) {
        int found = 0;
        for (size_t i = 0; i < j->nsegs; i++) {
            seg *s = &j->segs[i];
            if (s->cls != SEG_ICC || s->icc_seq != seq)
                continue;
            if (found) {
                UM_TRY(um_report_note(job, "ICC profile chunk %u appears twice; the profile is dropped", seq));
                return drop_icc(j, "a repeated chunk");
            }
            found = 1;
            total += s->end - s->body - 14;
        }
        if (!found) {
            UM_TRY(um_report_note(job, "ICC profile chunk %u of %u is missing; the profile is dropped", seq, j->icc_chunks));
            return drop_icc(j, "a missing chunk");
        }
    }
    if (total > job->ctx->limits.max_block)
        return um_fail(job, UNMETA_E_LIMIT, "JPEG: ICC profile of %llu bytes exceeds the block limit (UNMETA_OPT_MAX_BLOCK_SIZE)",
                       (unsigned long long)total);
    j->icc = um_malloc(job, (size_t)total);
    if (!j->icc)
        return job->err;
    size_t o = 0;
    for (uint32_t seq = 1; seq <= j->icc_chunks; seq++)
        for (size_t i = 0; i < j->nsegs; i++) {
            seg *s = &j->segs[i];
            if (s->cls == SEG_ICC && s->icc_seq == seq) {
                size_t n = (size_t)(s->end - s->body - 14);
                UM_TRY(um_read_at(job, s->body + 14, j->icc + o, n));
                o += n;
            }
        }
    int changed;
    int rc = um_icc_neutralise(job, j->icc_block, j->icc, o, &changed);
    if (rc == UNMETA_E_MALFORMED) {
        /* A profile no colour engine could use either: drop it, say so.
         * The failure is not the operation's: clear it. */
        job->err = 0;
        UM_TRY(um_report_note(job, "the ICC profile is malformed and was dropped: %s", job->ctx->errmsg));
        job->ctx->errmsg[0] = '\0';
        return drop_icc(j, "malformed");
    }
    UM_TRY(rc);
    if (job->ctx->icc_mode == UNMETA_ICC_STRIP) {
        free(j->icc);
        j->icc = NULL;
        return 0;
    }
    if (!changed)
        um_report_block_action(job, j->icc_block, UNMETA_ACTION_KEEP);
    j->icc_len = o;
    return 0;
}

/* Writes the ICC profile as APP2 chunks of at most 65519 bytes of data. */
static int emit_icc(jpeg *j)
{
    const size_t max = 65535 - 2 - 14;
    size_t count = (j->icc_len + max - 1) / max;
    if (count > 255)
        return um_fail(j->job, UNMETA_E_LIMIT, "JPEG: ICC profile too large for APP2 chunks");
    for (size_t i = 0, o = 0; i < count; i++) {
        size_t n = j->icc_len - o < max ? j->icc_len - o : max;
        uint8_t *h = um_plan_reserve(j->job, 4 + 14);
        if (!h)
            return j->job->err;
        h[0] = 0xFF;
        h[1] = 0xE2;
        um_put_be16(h + 2, (uint16_t)(2 + 14 + n));
        memcpy(h + 4, "ICC_PROFILE\0", 12);
        h[16] = (uint8_t)(i + 1);
        h[17] = (uint8_t)count;
        UM_TRY(um_plan_data(j->job, j->icc + o, n));
        o += n;
    }
    return 0;
}

static int emit_orientation(jpeg *j)
{
    uint8_t *exif = NULL;
    size_t n = 0;
    UM_TRY(um_exif_minimal(j->job, j->orientation, 1, &exif, &n));
    uint8_t h[4] = { 0xFF, 0xE1, 0, 0 };
    um_put_be16(h + 2, (uint16_t)(n + 2));
    int rc = um_plan_data(j->job, h, 4);
    if (rc >= 0)
        rc = um_plan_data(j->job, exif, n);
    free(exif);
    return rc;
}

/* Pass 2: the keep-list, in input order. */
static int emit(jpeg *j, int with_orientation)
{
    um_job *job = j->job;
    int icc_done = 0;
    for (size_t i = 0; i < j->nsegs; i++) {
        seg *s = &j->segs[i];
        switch (s->cls) {
        case SEG_KEEP:
        case SEG_ECS:
            UM_TRY(um_plan_copy(job, s->start, s->end - s->start));
            break;
        case SEG_JFIF: {
            /* JFIF 1.02: identifier, version, units, densities, then the
             * thumbnail size and pixels, which we leave out. */
            uint8_t h[18];
            UM_TRY(um_read_at(job, s->body, h + 4, 12));
            h[0] = 0xFF;
            h[1] = 0xE0;
            um_put_be16(h + 2, 16);
            h[16] = 0;
            h[17] = 0;
            UM_TRY(um_plan_data(job, h, sizeof(h)));
            break;
        }
        case SEG_ICC:
            if (!icc_done && j->icc)
                UM_TRY(emit_icc(j));
            icc_done = 1;
            break;
        case SEG_EXIF:
            if (with_orientation && j->orientation > 1)
                UM_TRY(emit_orientation(j));
            break;
        default:
            break;
        }
    }
    return 0;
}

/* EXIF Orientation -> the lossless transform that displays the same. */
static int orientation_op(int o)
{
    switch (o) {
    case 2: return TJXOP_HFLIP;
    case 3: return TJXOP_ROT180;
    case 4: return TJXOP_VFLIP;
    case 5: return TJXOP_TRANSPOSE;
    case 6: return TJXOP_ROT90;
    case 7: return TJXOP_TRANSVERSE;
    case 8: return TJXOP_ROT270;
    default: return TJXOP_NONE;
    }
}

/* Rotates the stripped image losslessly (perfect transforms only). Returns
 * 1 when done, 0 when it is not possible (the caller keeps the tag). */
static int apply_orientation(jpeg *j)
{
    um_job *job = j->job;
    uint8_t *src = NULL;
    size_t n = 0;
    unsigned char *dst = NULL;
    unsigned long dst_len = 0;
    int done = 0, rc = 0;
    UM_TRY(emit(j, 0));
    UM_TRY(um_plan_to_memory(job, &src, &n));
    /* libjpeg-turbo allocates with malloc; only its handle is a fault point. */
    tjhandle h = um_fault_hit() ? NULL : tjInitTransform();
    if (!h) {
        free(src);
        return um_fail(job, UNMETA_E_NOMEM, "JPEG: out of memory starting libjpeg-turbo");
    }
    tjtransform xf;
    memset(&xf, 0, sizeof(xf));
    xf.op = orientation_op(j->orientation);
    xf.options = TJXOPT_PERFECT;
    if (j->sof_marker == 0xC2 || j->sof_marker == 0xC6 || j->sof_marker == 0xCA || j->sof_marker == 0xCE)
        xf.options |= TJXOPT_PROGRESSIVE;
    if (tjTransform(h, src, (unsigned long)n, 1, &dst, &dst_len, &xf, 0) == 0) {
        um_plan_reset(job);
        UM_TRY_GOTO(rc, um_plan_data(job, dst, (size_t)dst_len), out);
        UM_TRY_GOTO(rc, um_report_note(job, "orientation %d applied to the pixels losslessly", j->orientation), out);
        done = 1;
    } else {
        UM_TRY_GOTO(rc, um_report_note(job, "orientation %d cannot be applied losslessly (%s); a minimal "
                                       "Orientation tag is kept instead", j->orientation, tjGetErrorStr2(h)), out);
    }
out:
    tjFree(dst);
    tjDestroy(h);
    free(src);
    return rc < 0 ? rc : done;
}

static int run(um_job *job)
{
    jpeg j;
    int rc;
    memset(&j, 0, sizeof(j));
    j.job = job;
    UM_TRY_GOTO(rc, walk(&j), done);
    if (!j.sos_seen) {
        rc = um_fail(job, UNMETA_E_MALFORMED, "JPEG: no image data");
        goto done;
    }
    UM_TRY_GOTO(rc, build_icc(&j), done);
    if (j.orientation > 1 && job->ctx->apply_orientation && um_job_writing(job)) {
        UM_TRY_GOTO(rc, apply_orientation(&j), done);
        if (rc == 1) {
            rc = 0;
            goto done;
        }
        um_plan_reset(job);
    }
    rc = emit(&j, 1);
done:
    free(j.segs);
    free(j.icc);
    return rc;
}

const um_format um_format_jpeg = {
    .name = "jpeg",
    .mime = "image/jpeg",
    .ext = "jpg",
    .probe = probe,
    .run = run,
};
