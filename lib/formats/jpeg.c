/*
 * jpeg.c - JPEG (ITU-T T.81, JFIF 1.02, EXIF 2.32 APP1, ICC.1 Annex B,
 * CIPA DC-007 MPF, Adobe gain map 1.0, ISO 21496-1).
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
 *   dropped:     every other APPn (EXIF, XMP, Extended XMP, FlashPix,
 *                Photoshop/IPTC, Ducky...), COM, JFXX thumbnails, stray
 *                bytes between segments.
 * After EOI, the images the primary's MPF index lists are read (an index
 * whose images fall outside the trailer, overlap or are not JPEGs is
 * refused when the file shows a gain map, else the whole trailer goes). An
 * HDR gain map (named by a Container directory item of its length, or by
 * its own hdrgm or Apple XMP, or its ISO 21496-1 block) is walked and
 * cleaned like a primary, but keeps no EXIF and only its rendering
 * parameters: an XMP packet rebuilt from its hdrgm numbers (Apple: the
 * auxiliary type, HDRGainMap version and headroom) and its ISO 21496-1
 * block cut to the length its flags give. The primary then gets an MPF
 * index of exactly itself and its gain maps (input byte order, entry
 * attributes and renumbered dependent images kept, no attribute IFDs), a
 * minimal XMP with hdrgm:Version and the Container directory when the
 * input had them, and its ISO 21496-1 version block. Every other MPF image
 * and every byte no image claims (motion-photo MP4s, Samsung's SEFT
 * trailer, padding) is removed and reported; a video is described by
 * common/motion.h. With UNMETA_OPT_KEEP_MOTION a motion photo's video is
 * kept instead, found by structure (keep_video(), keep_samsung()), cleaned
 * by the MP4 rules (motion.h) and appended last, with the XMP or the
 * Samsung trailer that points at it rebuilt.
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
#include "common/motion.h"
#include "common/xmp.h"
#include "format.h"

enum seg_class {
    SEG_KEEP,        /* copy as is */
    SEG_ECS,         /* entropy-coded data: copy as is */
    SEG_DROP,
    SEG_JFIF,        /* APP0 JFIF: copy, without thumbnail */
    SEG_ICC,         /* APP2 ICC_PROFILE chunk */
    SEG_EXIF,        /* APP1 Exif */
    SEG_XMP,         /* APP1 XMP: the rebuilt gain-map packet goes in place of the first */
    SEG_MPF,         /* APP2 MPF of the primary: rebuilt in place */
    SEG_ISO_VER,     /* APP2 ISO 21496-1 of the primary: its version only */
};

#define ISO_SIG "urn:iso:std:iso:ts:21496:-1"  /* with its NUL: 28 bytes */
#define ISO_SIG_LEN 28
#define MAX_SEMANTICS 16                        /* Container directory items read */

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
    /* Where the image lies: the primary from 0 to the end of the file, a
     * gain map in the range its MPF entry gives. */
    uint64_t base, limit;
    uint64_t eoi_end;         /* one past the EOI marker */
    int secondary;            /* a gain map: keeps its rendering parameters only */
    uint16_t width, height;   /* from the frame header */
    /* The primary's multi-picture structure (CIPA DC-007) and gain-map XMP. */
    int mpf_seen;
    uint64_t mpf_body;        /* "MPF\0" in the input */
    uint32_t mpf_len;
    int mpf_block;
    char gm_version[24];      /* hdrgm:Version of the primary's XMP */
    char sem[MAX_SEMANTICS][16]; /* its Container directory, in order */
    uint64_t sem_len[MAX_SEMANTICS];
    int xmp_minimal;          /* the XMP is exactly what strip writes */
    int nsem;
    int xmp_seen;
    uint8_t iso_version[4];   /* ISO 21496-1 version block of the primary */
    int iso_seen;
    int iso_block, xmp_block;
    /* A gain map's rebuilt XMP packet and its ISO 21496-1 parameters. */
    char *gm_xmp;
    size_t gm_xmp_len;
    uint8_t *iso;
    size_t iso_len;
    /* The primary's kept gain maps (see trailer()). */
    struct gainmap *gms;
    size_t ngms;
    uint32_t mp_attr;         /* the primary's MP Entry attribute */
    uint16_t mp_dep1, mp_dep2; /* and its dependent images, renumbered */
    int mpf_le;               /* the MPF's byte order */
    uint8_t *mpf_out;         /* the reserved MPF segment, filled after the primary is planned */
    uint64_t mpf_out_at;      /* its output offset */
    /* A motion photo's video, kept with UNMETA_OPT_KEEP_MOTION. */
    um_xmp_motion mp;         /* the primary's GCamera flags */
    um_motion_video *video;   /* the cleaned MP4, appended last */
    uint64_t video_len;       /* its output size */
    uint64_t xmp_video_len;   /* what the rebuilt XMP gives: from the video's start to the end of the file */
    int sef;                  /* the video goes in a rebuilt Samsung SEFT trailer */
    uint32_t sef_version;     /* the input's SEFH version */
    uint8_t sef_type[4];      /* the MotionPhoto_Data entry's type word */
    uint8_t sef_head[4];      /* and its data block's first four bytes */
} jpeg;

/* One image the MPF index lists after the primary. */
typedef struct mp_entry {
    uint32_t attr;            /* individual image attribute: flags, format, type */
    uint32_t size, off;       /* as declared (off from the MPF TIFF header) */
    uint16_t dep1, dep2;      /* dependent image entry numbers, 1-based, 0 none */
    uint64_t at;              /* absolute offset in the input */
    uint32_t index;           /* 1-based, in the order the index lists it */
    uint32_t out_index;       /* 1-based in the output's MPF, 0 when removed */
} mp_entry;

typedef struct gainmap {
    jpeg img;
    uint32_t attr;
    uint16_t dep1, dep2;      /* renumbered for the output's MPF */
    uint64_t out_len;
} gainmap;

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

/* Reads the gain-map part of an image's first XMP packet: a gain map's
 * rendering parameters, rebuilt; a primary's hdrgm:Version and Container
 * directory. A packet that is exactly what strip writes (a stripped file)
 * is "minimal": kept, with nothing to report. */
static int gainmap_xmp(jpeg *j, int blk, const uint8_t *p, size_t n)
{
    um_job *job = j->job;
    char *x = NULL;
    size_t xn = 0;
    if (j->secondary) {
        UM_TRY(um_xmp_gainmap(job, p, n, &j->gm_xmp, &j->gm_xmp_len));
        if (j->gm_xmp)
            um_report_block_action(job, blk, UNMETA_ACTION_REWRITE);
        j->xmp_minimal = j->gm_xmp && j->gm_xmp_len == n && memcmp(j->gm_xmp, p, n) == 0;
        if (j->xmp_minimal)
            um_report_block_action(job, blk, UNMETA_ACTION_KEEP);
        return 0;
    }
    UM_TRY(um_xmp_gainmap_version(job, p, n, j->gm_version));
    j->nsem = um_xmp_container(p, n, j->sem, j->sem_len, MAX_SEMANTICS);
    if (job->ctx->keep_motion)
        UM_TRY(um_xmp_motion_read(job, p, n, &j->mp));
    int container = 0, gms = 0, motion = j->mp.motion || j->mp.micro;
    uint64_t lengths[MAX_SEMANTICS], video_len = j->mp.micro_offset;
    for (int i = 0; i < j->nsem; i++) {
        if (strcmp(j->sem[i], "GainMap") == 0) {
            container = 1;
            lengths[gms++] = j->sem_len[i];
        }
        if (strcmp(j->sem[i], "MotionPhoto") == 0)
            video_len = j->sem_len[i];
    }
    if (!j->gm_version[0] && !container && !motion)
        return 0;
    UM_TRY(um_xmp_gainmap_primary(job, j->gm_version, container, lengths, (size_t)gms, motion ? &j->mp : NULL,
                                  video_len, &x, &xn));
    j->xmp_minimal = xn == n && memcmp(x, p, n) == 0;
    free(x);
    return 0;
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
        if (!j->exif_seen && !j->secondary) {
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
        s->cls = j->xmp_seen ? SEG_DROP : SEG_XMP;
        if (s->cls == SEG_XMP) {
            j->xmp_seen = 1;
            j->xmp_block = blk;
            UM_TRY(gainmap_xmp(j, blk, b + 29, n - 29));
        }
        if (!j->xmp_minimal || s->cls == SEG_DROP)
            UM_TRY(um_xmp_scan(job, blk, b + 29, n - 29));
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
    if (m == 0xE2 && starts(b, n, ISO_SIG "\0", ISO_SIG_LEN) && !j->iso_seen) {
        /* ISO 21496-1: in the primary, a version block (minimum and writer
         * version, 16 bits each); in a gain map, the rendering parameters,
         * all numbers, kept to the length their flags give. */
        j->iso_seen = 1;
        const uint8_t *d = b + ISO_SIG_LEN;
        size_t dn = n - ISO_SIG_LEN;
        if (!j->secondary) {
            blk = um_report_block(job, "APP2 ISO 21496-1 version", s->start, len,
                                  dn == 4 ? UNMETA_ACTION_KEEP : UNMETA_ACTION_REWRITE);
            UM_TRY(blk);
            j->iso_block = blk;
            if (dn < 4)
                return um_fail(job, UNMETA_E_MALFORMED, "JPEG: ISO 21496-1 block at byte %llu has no version",
                               (unsigned long long)s->start);
            memcpy(j->iso_version, d, 4);
            s->cls = SEG_ISO_VER;
            return 0;
        }
        if (dn < 5)
            return um_fail(job, UNMETA_E_MALFORMED, "JPEG: ISO 21496-1 gain-map metadata at byte %llu is cut short",
                           (unsigned long long)s->start);
        size_t channels = d[4] & 0x80 ? 3 : 1;
        size_t need = d[4] & 0x08 ? 5 + 12 + 20 * channels : 5 + 16 + 40 * channels;
        if (dn < need)
            return um_fail(job, UNMETA_E_MALFORMED, "JPEG: ISO 21496-1 gain-map metadata at byte %llu is cut short",
                           (unsigned long long)s->start);
        blk = um_report_block(job, "APP2 ISO 21496-1 gain map", s->start, len,
                              dn == need ? UNMETA_ACTION_KEEP : UNMETA_ACTION_REWRITE);
        UM_TRY(blk);
        j->iso = um_malloc(job, need);
        if (!j->iso)
            return job->err;
        memcpy(j->iso, d, need);
        j->iso_len = need;
        s->cls = SEG_ISO_VER;
        return 0;
    }
    if (m == 0xE2 && starts(b, n, "MPF\0", 4) && !j->secondary && !j->mpf_seen) {
        /* Read in trailer(); rebuilt or dropped there. */
        j->mpf_seen = 1;
        j->mpf_body = s->body;
        j->mpf_len = (uint32_t)n;
        blk = um_report_block(job, "APP2 MPF", s->start, len, UNMETA_ACTION_REMOVE);
        UM_TRY(blk);
        j->mpf_block = blk;
        s->cls = SEG_MPF;
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

/* The byte after an 0xFF in entropy-coded data: a stuffed zero, RSTn or a
 * fill byte keep the data going (F.1.2.3, B.1.1.5); anything else is a marker. */
static int ends_ecs(uint8_t next)
{
    return !(next == 0x00 || (next >= 0xD0 && next <= 0xD7) || next == 0xFF);
}

/* Looked at in place per step: in steps, so that a file held in memory still
 * polls progress and cancellation (in um_reader_find) between them. */
#define ECS_STEP (256u << 10)

/* Scans entropy-coded data from off to the next marker that is neither a
 * stuffed 0xFF00 nor RSTn. Returns the offset of that marker's 0xFF (fill
 * bytes before it stay in the data run). Entropy-coded data holds a stuffed
 * 0xFF00 every few hundred bytes, so the bytes after each 0xFF are read in
 * place in the reader's window rather than by a call per 0xFF. */
static int scan_ecs(jpeg *j, uint64_t off, uint64_t *marker_at)
{
    um_job *job = j->job;
    uint64_t size = j->limit;
    for (;;) {
        uint64_t f;
        const uint8_t *p;
        size_t avail, i = 0;
        uint8_t next;
        UM_TRY(um_reader_find(job, off, size, 0xFF, &f));
        if (f + 1 >= size)
            return um_fail(job, UNMETA_E_TRUNCATED, "JPEG: the image data ends without an EOI marker");
        UM_TRY(um_reader_peek(job, f, &p, &avail));
        if (avail > size - f)
            avail = (size_t)(size - f);
        if (avail > ECS_STEP)
            avail = ECS_STEP;
        /* p[i] is an 0xFF while i < avail. */
        while (i + 1 < avail) {
            next = p[i + 1];
            if (ends_ecs(next)) {
                *marker_at = f + i;
                return 0;
            }
            i += 1u + (next != 0xFF);
            const uint8_t *q = i < avail ? memchr(p + i, 0xFF, avail - i) : NULL;
            if (!q) {
                i = avail;
                break;
            }
            i = (size_t)(q - p);
        }
        if (i >= avail) {
            off = f + avail;
            continue;
        }
        /* An 0xFF ends the window: its next byte comes from the next one. */
        if (f + i + 1 >= size)
            return um_fail(job, UNMETA_E_TRUNCATED, "JPEG: the image data ends without an EOI marker");
        UM_TRY(um_read_at(job, f + i + 1, &next, 1));
        if (ends_ecs(next)) {
            *marker_at = f + i;
            return 0;
        }
        off = f + i + 1 + (next != 0xFF);
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
    uint64_t size = j->limit;
    uint64_t pos = j->base + 2;
    uint8_t hdr[4];

    UM_TRY(um_report_block(job, "SOI", j->base, 2, UNMETA_ACTION_KEEP));
    UM_TRY(add_seg(j, j->base, j->base + 2, j->base + 2, 0xD8, SEG_KEEP));
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
            j->eoi_end = pos;
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
            if (!j->width) {
                uint8_t f[5];
                UM_TRY(um_read_at(job, body, f, 5));
                j->height = um_be16(f + 1);
                j->width = um_be16(f + 3);
            }
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

/* Writes an APPn segment: signature sig[0..k) then data d[0..n). */
static int emit_app(um_job *job, uint8_t marker, const char *sig, size_t k, const void *d, size_t n)
{
    uint8_t h[4] = { 0xFF, marker, 0, 0 };
    if (2 + k + n > 0xFFFF)
        return um_fail(job, UNMETA_E_LIMIT, "JPEG: a rebuilt APP%d segment does not fit in 64 KiB", marker - 0xE0);
    um_put_be16(h + 2, (uint16_t)(2 + k + n));
    UM_TRY(um_plan_data(job, h, 4));
    UM_TRY(um_plan_data(job, sig, k));
    return um_plan_data(job, d, n);
}

/* The rebuilt XMP: a gain map's rendering parameters, or the primary's
 * hdrgm:Version and Container directory when gain maps are kept. */
static int emit_xmp(jpeg *j)
{
    static const char sig[] = "http://ns.adobe.com/xap/1.0/";
    if (j->secondary) {
        if (!j->gm_xmp)
            return 0;
        return emit_app(j->job, 0xE1, sig, sizeof(sig), j->gm_xmp, j->gm_xmp_len);
    }
    int container = 0;
    for (int i = 0; i < j->nsem; i++)
        container |= strcmp(j->sem[i], "GainMap") == 0;
    int motion = j->video && (j->mp.motion || j->mp.micro);
    if (!motion && (!j->ngms || (!j->gm_version[0] && !container)))
        return 0;
    uint64_t lengths[MAX_SEMANTICS];
    size_t n = 0;
    for (; n < j->ngms && n < MAX_SEMANTICS; n++)
        lengths[n] = j->gms[n].out_len;
    char *x = NULL;
    size_t xn = 0;
    const char *ver = j->ngms ? j->gm_version : "";
    if (!j->ngms)
        container = 0;
    UM_TRY(um_xmp_gainmap_primary(j->job, ver, container, lengths, n, motion ? &j->mp : NULL,
                                  j->xmp_video_len, &x,
                                  &xn));
    int rc = emit_app(j->job, 0xE1, sig, sizeof(sig), x, xn);
    free(x);
    return rc;
}

/* MPF (CIPA DC-007 5.2): "MPF\0", a TIFF header, the MP Index IFD with
 * MPFVersion, NumberOfImages and the MP Entry list, next IFD 0. */
#define MPF_IFD_ENTRIES 3
static size_t mpf_size(size_t images)
{
    return 4 + 8 + 2 + 12 * MPF_IFD_ENTRIES + 4 + 16 * images;
}

/* Reserves the MPF segment; fill_mpf() writes it once offsets are known. */
static int emit_mpf(jpeg *j)
{
    size_t n = mpf_size(j->ngms + 1);
    if (2 + n > 0xFFFF)
        return um_fail(j->job, UNMETA_E_LIMIT, "JPEG: an MPF index of %zu images does not fit in one segment",
                       j->ngms + 1);
    j->mpf_out_at = um_plan_size(j->job);
    j->mpf_out = um_plan_reserve(j->job, 4 + n);
    return j->mpf_out ? 0 : j->job->err;
}

/* Writes the reserved MPF segment, in the input's byte order, once the
 * primary's output length and the gain maps' are known. MP Entry offsets
 * count from the TIFF header (5.2.3.3.3); the first image's is 0. */
static void fill_mpf(jpeg *j, uint64_t primary_len)
{
    uint8_t *p = j->mpf_out;
    int le = j->mpf_le;
    size_t images = j->ngms + 1, n = mpf_size(images);
    void (*p16)(uint8_t *, uint16_t) = le ? um_put_le16 : um_put_be16;
    void (*p32)(uint8_t *, uint32_t) = le ? um_put_le32 : um_put_be32;
    p[0] = 0xFF;
    p[1] = 0xE2;
    um_put_be16(p + 2, (uint16_t)(2 + n));
    memcpy(p + 4, "MPF\0", 4);
    uint8_t *t = p + 8;
    memcpy(t, le ? "II\x2A\0" : "MM\0\x2A", 4);
    p32(t + 4, 8);
    p16(t + 8, MPF_IFD_ENTRIES);
    uint8_t *e = t + 10;
    uint32_t entries_at = 8 + 2 + 12 * MPF_IFD_ENTRIES + 4;
    p16(e, 0xB000); p16(e + 2, 7); p32(e + 4, 4); memcpy(e + 8, "0100", 4);
    e += 12;
    p16(e, 0xB001); p16(e + 2, 4); p32(e + 4, 1); p32(e + 8, (uint32_t)images);
    e += 12;
    p16(e, 0xB002); p16(e + 2, 7); p32(e + 4, (uint32_t)(16 * images)); p32(e + 8, entries_at);
    e += 12;
    p32(e, 0); /* no MP Attribute IFDs: they hold nothing a renderer reads */
    uint8_t *m = t + entries_at;
    p32(m, j->mp_attr);
    p32(m + 4, (uint32_t)primary_len);
    p32(m + 8, 0);
    p16(m + 12, j->mp_dep1);
    p16(m + 14, j->mp_dep2);
    uint64_t at = primary_len, tiff_at = j->mpf_out_at + 8;
    for (size_t i = 0; i < j->ngms; i++) {
        gainmap *g = &j->gms[i];
        m += 16;
        p32(m, g->attr);
        p32(m + 4, (uint32_t)g->out_len);
        p32(m + 8, (uint32_t)(at - tiff_at));
        p16(m + 12, g->dep1);
        p16(m + 14, g->dep2);
        at += g->out_len;
    }
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
        case SEG_XMP:
            UM_TRY(emit_xmp(j));
            break;
        case SEG_MPF:
            if (j->ngms)
                UM_TRY(emit_mpf(j));
            break;
        case SEG_ISO_VER:
            if (j->secondary)
                UM_TRY(emit_app(job, 0xE2, ISO_SIG, ISO_SIG_LEN, j->iso, j->iso_len));
            else if (j->ngms)
                UM_TRY(emit_app(job, 0xE2, ISO_SIG, ISO_SIG_LEN, j->iso_version, 4));
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

/* ---- after the primary's EOI: MPF images, gain maps, motion photos ---- */

#define MAX_PEEK 256 /* segments looked at before a secondary image's scan */

/* Whether the JPEG at [at, end) names itself a gain map before its first
 * scan: its first XMP packet holds what um_xmp_gainmap() keeps (the one
 * walk() rebuilds), or an ISO 21496-1 block is there. The same test on the
 * output must answer the same. Reads without reporting; anything
 * unreadable answers "no" (walk() judges). */
static int peek_gainmap(jpeg *j, uint64_t at, uint64_t end, int *is_gm)
{
    um_job *job = j->job;
    uint64_t pos = at + 2;
    int xmp_seen = 0;
    *is_gm = 0;
    for (int i = 0; i < MAX_PEEK && end - pos >= 4; i++) {
        uint8_t h[4];
        UM_TRY(um_read_at(job, pos, h, 4));
        if (h[0] != 0xFF)
            return 0;
        if (h[1] == 0xFF) {
            pos++;
            continue;
        }
        if (h[1] == 0xDA || h[1] == 0xD9)
            return 0;
        if ((h[1] >= 0xD0 && h[1] <= 0xD7) || h[1] == 0x01) {
            pos += 2;
            continue;
        }
        uint16_t len = um_be16(h + 2);
        if (len < 2 || len > end - pos - 2)
            return 0;
        if ((h[1] == 0xE1 || h[1] == 0xE2) && len > 2) {
            uint8_t *b = NULL;
            UM_TRY(um_read_block(job, pos + 4, len - 2u, "a JPEG segment", &b));
            size_t n = len - 2u;
            if (h[1] == 0xE1 && starts(b, n, "http://ns.adobe.com/xap/1.0/\0", 29) && !xmp_seen) {
                xmp_seen = 1;
                if (um_xmp_gainmap_named(b + 29, n - 29))
                    *is_gm = 1;
            }
            if (h[1] == 0xE2 && starts(b, n, ISO_SIG "\0", ISO_SIG_LEN))
                *is_gm = 1;
            free(b);
        }
        pos += 2u + len;
    }
    return 0;
}

static const char *mp_type_name(uint32_t attr)
{
    switch (attr & 0xFFFFFF) {
    case 0x030000: return "Baseline MP primary image";
    case 0x010001: return "large thumbnail (VGA)";
    case 0x010002: return "large thumbnail (full HD)";
    case 0x020001: return "multi-frame panorama";
    case 0x020002: return "multi-frame disparity";
    case 0x020003: return "multi-frame multi-angle";
    default: return "image";
    }
}

static int cmp_entry(const void *a, const void *b)
{
    const mp_entry *x = a, *y = b;
    return x->at < y->at ? -1 : x->at > y->at;
}

static uint16_t renumber(const mp_entry *e, size_t n, uint16_t dep)
{
    for (size_t i = 0; dep && i < n; i++)
        if (e[i].index == dep)
            return (uint16_t)e[i].out_index;
    return 0;
}

/* Reads the MP Index IFD (CIPA DC-007 5.2.3) into a fresh array sorted by
 * offset, the primary's entry first. An inconsistent index (offsets outside
 * the trailer, overlapping images, an image that is not a JPEG) is named in
 * why[] and lists nothing; the caller decides whether that fails. */
static int read_mpf(jpeg *j, mp_entry **out, size_t *count, char why[160])
{
    um_job *job = j->job;
    uint64_t size = j->limit;
    uint8_t *b = NULL;
    mp_entry *e = NULL;
    int rc = 0;
    *out = NULL;
    *count = 0;
    UM_TRY(um_read_block(job, j->mpf_body, j->mpf_len, "the MPF segment", &b));
    const uint8_t *t = b + 4;
    size_t tn = j->mpf_len - 4;
    uint64_t tiff_at = j->mpf_body + 4;
    if (tn < 8 || !((t[0] == 'I' && t[1] == 'I') || (t[0] == 'M' && t[1] == 'M'))) {
        snprintf(why, 160, "the MPF segment has no TIFF header");
        goto done;
    }
    int le = t[0] == 'I';
    j->mpf_le = le;
#define R16(p) (le ? um_le16(p) : um_be16(p))
#define R32(p) (le ? um_le32(p) : um_be32(p))
    uint32_t ifd = R32(t + 4);
    if (R16(t + 2) != 42 || ifd > tn || tn - ifd < 2) {
        snprintf(why, 160, "the MPF index is outside its segment");
        goto done;
    }
    uint16_t nent = R16(t + ifd);
    if ((uint64_t)nent * 12 + 6 > tn - ifd) {
        snprintf(why, 160, "the MPF index runs past its segment");
        goto done;
    }
    uint32_t images = 0, list = 0, list_len = 0;
    int have_count = 0, have_list = 0;
    for (uint16_t i = 0; i < nent; i++) {
        const uint8_t *d = t + ifd + 2 + 12 * (size_t)i;
        uint16_t tag = R16(d);
        if (tag == 0xB001) {
            images = R32(d + 8);
            have_count = 1;
        } else if (tag == 0xB002) {
            list_len = R32(d + 4);
            list = R32(d + 8);
            have_list = 1;
        }
    }
    if (!have_count && !have_list)
        goto done; /* an index that lists nothing: nothing to keep */
    if (!have_count || !have_list || images == 0 || list_len != 16ull * images || list > tn || tn - list < list_len) {
        snprintf(why, 160, "the MPF index does not list its %u images consistently", images);
        goto done;
    }
    e = um_calloc(job, images, sizeof(*e));
    if (!e) {
        rc = job->err;
        goto done;
    }
    for (uint32_t i = 0; i < images; i++) {
        const uint8_t *d = t + list + 16 * (size_t)i;
        UM_TRY_GOTO(rc, um_job_count_item(job, "MPF images"), done);
        e[i].attr = R32(d);
        e[i].size = R32(d + 4);
        e[i].off = R32(d + 8);
        e[i].dep1 = R16(d + 12);
        e[i].dep2 = R16(d + 14);
        e[i].index = i + 1;
        if (i == 0) {
            if (e[i].off != 0) {
                snprintf(why, 160, "the first MPF image does not start at offset 0");
                goto done;
            }
            e[i].at = 0;
            continue;
        }
        e[i].at = tiff_at + e[i].off;
        if (e[i].off == 0 || e[i].at < j->eoi_end || e[i].size < 4 || e[i].at > size || size - e[i].at < e[i].size) {
            snprintf(why, 160, "MPF image %u (%u bytes at offset %u) lies outside the trailer",
                         i + 1, e[i].size, e[i].off);
            goto done;
        }
    }
#undef R16
#undef R32
    qsort(e + 1, images - 1, sizeof(*e), cmp_entry);
    for (uint32_t i = 1; i < images; i++) {
        if (i > 1 && e[i].at < e[i - 1].at + e[i - 1].size) {
            snprintf(why, 160, "MPF images overlap at byte %llu", (unsigned long long)e[i].at);
            goto done;
        }
        uint8_t sig[3];
        UM_TRY_GOTO(rc, um_read_at(job, e[i].at, sig, 3), done);
        if (sig[0] != 0xFF || sig[1] != 0xD8 || sig[2] != 0xFF) {
            snprintf(why, 160, "MPF image at byte %llu is not a JPEG", (unsigned long long)e[i].at);
            goto done;
        }
    }
    *out = e;
    *count = images;
    e = NULL;
done:
    free(b);
    free(e);
    return rc;
}

/* Samsung's trailer (as exiftool reads it): the file ends with a directory
 * "SEFH", version, count, then 12-byte entries (type, distance back from
 * the directory to the entry's data, size), its length and "SEFT". Each
 * data block is 16-bit zero, 16-bit type, 32-bit name length, name, data.
 * Returns 1 with the region it covers and the video it holds, if any. */
static int samsung_trailer(jpeg *j, uint64_t from, uint64_t *start, uint64_t *video, uint64_t *video_end,
                           uint32_t *entries)
{
    um_job *job = j->job;
    uint64_t size = j->limit;
    uint8_t tail[8];
    *video = *video_end = 0;
    *entries = 0;
    if (size - from < 8 + 12)
        return 0;
    UM_TRY(um_read_at(job, size - 8, tail, 8));
    if (memcmp(tail + 4, "SEFT", 4) != 0)
        return 0;
    uint32_t dlen = um_le32(tail);
    if (dlen < 12 || dlen > size - from - 8 || dlen > job->ctx->limits.max_block)
        return 0;
    uint64_t dir = size - 8 - dlen;
    uint8_t *d = NULL;
    UM_TRY(um_read_block(job, dir, dlen, "the Samsung trailer directory", &d));
    uint32_t count = um_le32(d + 8);
    uint64_t first = dir;
    int ok = memcmp(d, "SEFH", 4) == 0 && count <= (dlen - 12) / 12;
    for (uint32_t i = 0; ok && i < count; i++) {
        const uint8_t *en = d + 12 + 12 * (size_t)i;
        uint32_t noff = um_le32(en + 4), bsize = um_le32(en + 8);
        if (noff > dir - from || bsize > noff || bsize < 8) {
            ok = 0;
            break;
        }
        uint64_t at = dir - noff;
        if (at < first)
            first = at;
        uint8_t bh[8 + 16];
        int rc = um_read_at(job, at, bh, sizeof(bh) <= bsize ? sizeof(bh) : 8);
        if (rc < 0) {
            free(d);
            return rc;
        }
        uint32_t nlen = um_le32(bh + 4);
        if (nlen == 16 && bsize >= sizeof(bh) && memcmp(bh + 8, "MotionPhoto_Data", 16) == 0) {
            *video = at + 8 + 16;
            *video_end = at + bsize;
            j->sef_version = um_le32(d + 4);
            memcpy(j->sef_type, en, 4);
            memcpy(j->sef_head, bh, 4);
        }
    }
    free(d);
    if (!ok)
        return 0;
    *start = first;
    *entries = count;
    return 1;
}

/* Reports bytes [a, b) after EOI that no MPF entry claims: removed. */
static int report_trailer(jpeg *j, uint64_t a, uint64_t b)
{
    um_job *job = j->job;
    if (a >= b)
        return 0;
    uint64_t sam = 0, video = 0, video_end = 0;
    uint32_t entries = 0;
    int is_sam = 0;
    if (b == j->limit) {
        is_sam = samsung_trailer(j, a, &sam, &video, &video_end, &entries);
        UM_TRY(is_sam);
    }
    uint64_t end = is_sam ? sam : b;
    if (a < end) {
        uint8_t t[12] = { 0 };
        size_t tn = end - a < sizeof(t) ? (size_t)(end - a) : sizeof(t);
        UM_TRY(um_read_at(job, a, t, tn));
        int allzero = 1;
        for (size_t i = 0; i < tn; i++)
            allzero &= t[i] == 0;
        int blk = um_report_block(job, "trailer", a, end - a, UNMETA_ACTION_REMOVE);
        UM_TRY(blk);
        if (tn >= 8 && memcmp(t + 4, "ftyp", 4) == 0) {
            UM_TRY(um_motion_report(job, blk, a, end));
        } else {
            const char *what = "data";
            if (tn >= 3 && t[0] == 0xFF && t[1] == 0xD8 && t[2] == 0xFF)
                what = "JPEG image (not listed by an MPF index)";
            else if (allzero)
                what = "padding";
            UM_TRY(um_report_finding(job, blk, UNMETA_CAT_EMBEDDED, "Trailer", "%s, %llu bytes after EOI", what,
                                     (unsigned long long)(end - a)));
        }
    }
    if (is_sam) {
        int blk = um_report_block(job, "trailer Samsung SEFT", sam, b - sam, UNMETA_ACTION_REMOVE);
        UM_TRY(blk);
        UM_TRY(um_report_finding(job, blk, UNMETA_CAT_EMBEDDED, "SamsungTrailer", "%u entries, %llu bytes", entries,
                                 (unsigned long long)(b - sam)));
        if (video)
            UM_TRY(um_motion_report(job, blk, video, video_end));
    }
    return 0;
}

/* The rebuilt Samsung trailer: the MotionPhoto_Data block (its input's
 * first four bytes, the name's length, the name, the cleaned MP4), then a
 * SEFH directory of that one entry, its length and "SEFT". */
#define SEF_BLOCK_HEAD (8 + 16)
#define SEF_DIR (12 + 12)

/* Keeps the video of a Samsung motion photo (UNMETA_OPT_KEEP_MOTION): the
 * MP4 is the MotionPhoto_Data entry of the SEFT directory at the file's
 * end (found by samsung_trailer(), never by the XMP). When the XMP also
 * names it (Google flags, as One UI writes), its length must lead from the
 * end of the file to that MP4's first byte, else the file is refused. */
static int keep_samsung(jpeg *j, uint64_t pos, uint64_t sam, uint64_t video, uint64_t video_end, uint32_t entries,
                        uint64_t xmp_len)
{
    um_job *job = j->job;
    uint64_t size = j->limit;
    if ((j->mp.motion || j->mp.micro) && xmp_len != size - video)
        return um_fail(job, UNMETA_E_MALFORMED, "JPEG: the XMP gives the motion photo video a length of %llu bytes, "
                       "but the Samsung trailer's MotionPhoto_Data starts %llu bytes before the end of the file",
                       (unsigned long long)xmp_len, (unsigned long long)(size - video));
    UM_TRY(report_trailer(j, pos, sam));
    int blk = um_report_block(job, "trailer Samsung SEFT", sam, size - sam, UNMETA_ACTION_REWRITE);
    UM_TRY(blk);
    UM_TRY(um_report_finding(job, blk, UNMETA_CAT_EMBEDDED, "SamsungTrailer", "%u entries, %llu bytes; only "
                             "MotionPhoto_Data kept", entries, (unsigned long long)(size - sam)));
    UM_TRY(um_motion_report(job, blk, video, video_end));
    UM_TRY(um_motion_video_open(&j->video, job, "JPEG motion photo", video, video_end, video));
    j->video_len = um_motion_video_size(j->video);
    j->xmp_video_len = j->video_len + SEF_DIR + 8;
    if (j->video_len + SEF_BLOCK_HEAD > 0xFFFFFFFFu)
        return um_fail(job, UNMETA_E_LIMIT, "JPEG: a motion photo video over 4 GiB does not fit a Samsung trailer");
    j->sef = 1;
    return um_report_note(job, "motion photo video kept (--keep-motion), cleaned as an MP4 in a rebuilt Samsung "
                          "trailer: %llu bytes", (unsigned long long)j->video_len);
}

/* Appends the kept video: the MP4, or the rebuilt Samsung trailer. */
static int emit_video(jpeg *j)
{
    um_job *job = j->job;
    if (!j->sef)
        return um_motion_video_emit(j->video, um_plan_size(job));
    uint8_t h[SEF_BLOCK_HEAD], d[SEF_DIR + 8];
    uint32_t block = (uint32_t)(j->video_len + SEF_BLOCK_HEAD);
    memcpy(h, j->sef_head, 4);
    um_put_le32(h + 4, 16);
    memcpy(h + 8, "MotionPhoto_Data", 16);
    UM_TRY(um_plan_data(job, h, sizeof(h)));
    UM_TRY(um_motion_video_emit(j->video, um_plan_size(job)));
    memcpy(d, "SEFH", 4);
    um_put_le32(d + 4, j->sef_version);
    um_put_le32(d + 8, 1);
    memcpy(d + 12, j->sef_type, 4);
    um_put_le32(d + 16, block); /* from the directory back to the block */
    um_put_le32(d + 20, block);
    um_put_le32(d + 24, SEF_DIR);
    memcpy(d + 28, "SEFT", 4);
    return um_plan_data(job, d, sizeof(d));
}

/* Keeps the video of a Google motion photo (UNMETA_OPT_KEEP_MOTION): the
 * XMP gives its length from the end of the file (the Container directory's
 * MotionPhoto item, or the legacy MicroVideoOffset); the MP4's own boxes
 * must start there and tile the rest of the file exactly, and bytes after
 * the last image must be that MP4 (or padding before it), else the file is
 * refused: offsets the XMP gives alone are never trusted. */
static int keep_video(jpeg *j, uint64_t pos)
{
    um_job *job = j->job;
    uint64_t len = 0, size = j->limit, sam = 0, video = 0, video_end = 0;
    uint32_t entries = 0;
    int items = 0;
    if (j->mp.micro) {
        len = j->mp.micro_offset;
    } else {
        for (int i = 0; i < j->nsem; i++)
            if (strcmp(j->sem[i], "MotionPhoto") == 0) {
                len = j->sem_len[i];
                items++;
            }
        if (items != 1)
            return um_fail(job, UNMETA_E_MALFORMED, "JPEG: GCamera:MotionPhoto is set but the Container directory "
                           "has %d MotionPhoto items; the video cannot be kept", items);
    }
    int is_sam = samsung_trailer(j, pos, &sam, &video, &video_end, &entries);
    UM_TRY(is_sam);
    if (is_sam && video)
        return keep_samsung(j, pos, sam, video, video_end, entries, len);
    if (is_sam)
        return um_fail(job, UNMETA_E_MALFORMED, "JPEG: the XMP names a motion photo but the Samsung trailer holds no "
                       "MotionPhoto_Data; the video cannot be kept");
    if (len == 0 || len > size - pos)
        return um_fail(job, UNMETA_E_MALFORMED, "JPEG: the XMP gives the motion photo video a length of %llu bytes, "
                       "but %llu bytes follow the last image", (unsigned long long)len,
                       (unsigned long long)(size - pos));
    uint64_t at = size - len;
    uint8_t h[8];
    if (len < 8)
        return um_fail(job, UNMETA_E_MALFORMED, "JPEG: the motion photo video of %llu bytes is too short",
                       (unsigned long long)len);
    UM_TRY(um_read_at(job, at, h, 8));
    if (memcmp(h + 4, "ftyp", 4) != 0)
        return um_fail(job, UNMETA_E_MALFORMED, "JPEG: the XMP puts the motion photo video at byte %llu, where no MP4 "
                       "starts", (unsigned long long)at);
    if (at > pos) {
        uint8_t f[8];
        UM_TRY(um_read_at(job, pos, f, 8 <= at - pos ? 8 : (size_t)(at - pos)));
        if (at - pos >= 8 && memcmp(f + 4, "ftyp", 4) == 0)
            return um_fail(job, UNMETA_E_MALFORMED, "JPEG: an MP4 starts at byte %llu but the XMP puts the motion "
                           "photo video at byte %llu", (unsigned long long)pos, (unsigned long long)at);
        UM_TRY(report_trailer(j, pos, at));
    }
    int blk = um_report_block(job, "MotionPhoto video", at, len, UNMETA_ACTION_REWRITE);
    UM_TRY(blk);
    UM_TRY(um_motion_report(job, blk, at, size));
    UM_TRY(um_motion_video_open(&j->video, job, "JPEG motion photo", at, size, at));
    j->video_len = um_motion_video_size(j->video);
    j->xmp_video_len = j->video_len;
    return um_report_note(job, "motion photo video kept (--keep-motion), cleaned as an MP4: %llu bytes",
                          (unsigned long long)j->video_len);
}

static void free_image(jpeg *j)
{
    free(j->segs);
    free(j->icc);
    free(j->gm_xmp);
    free(j->iso);
}

/* What follows the primary's EOI. The images its MPF index lists are read;
 * gain maps (named by the Container directory, or by their own hdrgm or
 * Apple XMP, or ISO 21496-1 metadata) are walked and kept, cleaned like a
 * primary; every other image, and every byte no image claims, is removed. */
static int trailer(jpeg *j)
{
    um_job *job = j->job;
    mp_entry *e = NULL;
    size_t n = 0;
    int rc = 0;
    uint64_t pos = j->eoi_end;
    char why[160] = "";
    if (j->mpf_seen)
        UM_TRY(read_mpf(j, &e, &n, why));
    if (why[0]) {
        /* Without a gain map to keep, the index only led to images that
         * are removed anyway: remove everything after EOI, as for a file
         * without MPF. With one, guessing where it lies is not safe. */
        int hint = j->gm_version[0] || j->iso_seen;
        for (int i = 0; i < j->nsem; i++)
            hint |= strcmp(j->sem[i], "GainMap") == 0;
        if (hint)
            return um_fail(job, UNMETA_E_MALFORMED, "JPEG: %s, in a file with a gain map", why);
        UM_TRY(um_report_note(job, "the MPF index is inconsistent (%s); every image after EOI is removed", why));
    }
    if (n > 1) {
        j->gms = um_calloc(job, n - 1, sizeof(*j->gms));
        if (!j->gms) {
            rc = job->err;
            goto done;
        }
        j->mp_attr = e[0].attr;
    }
    for (size_t i = 1; i < n; i++) {
        mp_entry *x = &e[i];
        int gm = 0;
        UM_TRY_GOTO(rc, peek_gainmap(j, x->at, x->at + x->size, &gm), done);
        /* A Container item names a gain map by its length: the order of
         * its items need not be the MPF index's. */
        for (int k = 0; k < j->nsem; k++)
            if (strcmp(j->sem[k], "GainMap") == 0 && j->sem_len[k] == x->size)
                gm = 1;
        UM_TRY_GOTO(rc, report_trailer(j, pos, x->at), done);
        pos = x->at + x->size;
        if (!gm) {
            int blk = um_report_block(job, "MPF image", x->at, x->size, UNMETA_ACTION_REMOVE);
            UM_TRY_GOTO(rc, blk, done);
            UM_TRY_GOTO(rc, um_report_finding(job, blk, UNMETA_CAT_EMBEDDED, "MPFImage", "%s (type 0x%06X), %u bytes",
                                              mp_type_name(x->attr), x->attr & 0xFFFFFF, x->size), done);
            continue;
        }
        gainmap *g = &j->gms[j->ngms++];
        x->out_index = (uint32_t)j->ngms + 1;
        g->attr = x->attr;
        g->img.job = job;
        g->img.secondary = 1;
        g->img.base = x->at;
        g->img.limit = x->at + x->size;
        int blk = um_report_block(job, "GainMap", x->at, x->size, UNMETA_ACTION_REWRITE);
        UM_TRY_GOTO(rc, blk, done);
        UM_TRY_GOTO(rc, walk(&g->img), done);
        UM_TRY_GOTO(rc, build_icc(&g->img), done);
        if (g->img.eoi_end < g->img.limit) {
            int pb = um_report_block(job, "GainMap padding", g->img.eoi_end, g->img.limit - g->img.eoi_end,
                                     UNMETA_ACTION_REMOVE);
            UM_TRY_GOTO(rc, pb, done);
            UM_TRY_GOTO(rc, um_report_finding(job, pb, UNMETA_CAT_EMBEDDED, "Trailer", "%llu bytes after the gain "
                                              "map's EOI", (unsigned long long)(g->img.limit - g->img.eoi_end)), done);
        }
        UM_TRY_GOTO(rc, um_report_note(job, "gain map JPEG %ux%u at byte %llu kept (HDR rendering), with its "
                                       "rendering parameters only; MPF and XMP rebuilt", g->img.width,
                                       g->img.height, (unsigned long long)x->at), done);
    }
    if (job->ctx->keep_motion && !j->secondary && (j->mp.motion || j->mp.micro)) {
        UM_TRY_GOTO(rc, keep_video(j, pos), done);
    } else if (job->ctx->keep_motion && !j->secondary) {
        uint64_t sam = 0, video = 0, video_end = 0;
        uint32_t entries = 0;
        int is_sam = samsung_trailer(j, pos, &sam, &video, &video_end, &entries);
        UM_TRY_GOTO(rc, is_sam, done);
        if (is_sam && video)
            UM_TRY_GOTO(rc, keep_samsung(j, pos, sam, video, video_end, entries, 0), done);
        else
            UM_TRY_GOTO(rc, report_trailer(j, pos, j->limit), done);
    } else
        UM_TRY_GOTO(rc, report_trailer(j, pos, j->limit), done);
    /* Dependent image entry numbers (1-based, in the index's order) of
     * the kept images, renumbered; a removed image's number becomes 0. */
    if (n) {
        e[0].out_index = 1;
        j->mp_dep1 = renumber(e, n, e[0].dep1);
        j->mp_dep2 = renumber(e, n, e[0].dep2);
    }
    for (size_t i = 1, k = 0; i < n; i++)
        if (e[i].out_index) {
            j->gms[k].dep1 = renumber(e, n, e[i].dep1);
            j->gms[k].dep2 = renumber(e, n, e[i].dep2);
            k++;
        }
done:
    free(e);
    return rc;
}

/* The output length of a gain map, planned on a discarding plan, so that
 * the primary's XMP and MPF can give it before it is written. */
static int measure(jpeg *g, uint64_t *len)
{
    um_job *job = g->job;
    um_plan *real = job->plan, *tmp = NULL;
    int rc = um_plan_new(&tmp, 1);
    if (rc < 0)
        return um_fail(job, rc, "JPEG: out of memory measuring a gain map");
    job->plan = tmp;
    rc = emit(g, 0);
    *len = um_plan_size(job);
    job->plan = real;
    um_plan_free(tmp);
    return rc;
}

static int run(um_job *job)
{
    jpeg j;
    int rc;
    memset(&j, 0, sizeof(j));
    j.job = job;
    j.limit = um_reader_size(job->in);
    UM_TRY_GOTO(rc, walk(&j), done);
    if (!j.sos_seen) {
        rc = um_fail(job, UNMETA_E_MALFORMED, "JPEG: no image data");
        goto done;
    }
    UM_TRY_GOTO(rc, build_icc(&j), done);
    UM_TRY_GOTO(rc, trailer(&j), done);
    if (j.ngms) {
        um_report_block_action(job, j.mpf_block, UNMETA_ACTION_REWRITE);
        if (j.xmp_seen && (j.gm_version[0] || j.nsem))
            um_report_block_action(job, j.xmp_block, j.xmp_minimal ? UNMETA_ACTION_KEEP : UNMETA_ACTION_REWRITE);
        for (size_t i = 0; i < j.ngms; i++)
            UM_TRY_GOTO(rc, measure(&j.gms[i].img, &j.gms[i].out_len), done);
    } else {
        if (j.iso_seen)
            um_report_block_action(job, j.iso_block, UNMETA_ACTION_REMOVE);
        if (j.xmp_minimal && !(j.video && (j.mp.motion || j.mp.micro))) /* gain-map XMP without a gain map: removed */
            UM_TRY_GOTO(rc, um_xmp_scan(job, j.xmp_block, NULL, 0), done);
    }
    if (j.video && j.xmp_seen && (j.mp.motion || j.mp.micro))
        um_report_block_action(job, j.xmp_block, j.xmp_minimal ? UNMETA_ACTION_KEEP : UNMETA_ACTION_REWRITE);
    if (j.orientation > 1 && job->ctx->apply_orientation && um_job_writing(job) && j.ngms) {
        /* Rotating the primary alone would misalign its gain map. */
        UM_TRY_GOTO(rc, um_report_note(job, "orientation %d is not applied to the pixels of an image with a gain "
                                       "map; a minimal Orientation tag is kept instead", j.orientation), done);
    } else if (j.orientation > 1 && job->ctx->apply_orientation && um_job_writing(job)) {
        UM_TRY_GOTO(rc, apply_orientation(&j), done);
        if (rc == 1) {
            rc = j.video ? emit_video(&j) : 0;
            goto done;
        }
        um_plan_reset(job);
    }
    UM_TRY_GOTO(rc, emit(&j, 1), done);
    if (j.ngms) {
        uint64_t primary_len = um_plan_size(job), total = primary_len;
        for (size_t i = 0; i < j.ngms; i++)
            total += j.gms[i].out_len;
        if (total > 0xFFFFFFFFu) {
            rc = um_fail(job, UNMETA_E_LIMIT, "JPEG: an image with a gain map over 4 GiB cannot be indexed by MPF");
            goto done;
        }
        for (size_t i = 0; i < j.ngms; i++) {
            uint64_t before = um_plan_size(job);
            UM_TRY_GOTO(rc, emit(&j.gms[i].img, 0), done);
            if (um_plan_size(job) - before != j.gms[i].out_len) {
                rc = um_fail(job, UNMETA_E_STATE, "JPEG: a gain map's planned length changed");
                goto done;
            }
        }
        if (j.mpf_out)
            fill_mpf(&j, primary_len);
    }
    if (j.video)
        rc = emit_video(&j);
done:
    um_motion_video_free(j.video);
    for (size_t i = 0; i < j.ngms; i++)
        free_image(&j.gms[i].img);
    free(j.gms);
    free_image(&j);
    return rc;
}

const um_format um_format_jpeg = {
    .name = "jpeg",
    .mime = "image/jpeg",
    .ext = "jpg",
    .probe = probe,
    .run = run,
};
