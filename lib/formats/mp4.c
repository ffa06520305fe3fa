/*
 * mp4.c - MP4, QuickTime MOV, M4V/M4A and 3GP (ISO/IEC 14496-12 ISO base
 * media file format, 14496-14, Apple QuickTime File Format, 3GPP TS 26.244).
 *
 * Pass 1 walks the top-level boxes through the reader (never reading mdat)
 * and hands the movie box ('moov') to the shared movie layer (common/movie.h,
 * which HEIF image sequences use too): it reads it into memory (bounded by
 * limits.max_block), parses it as a tree of the boxes needed to play the
 * file and cleans it by the rules below. Pass 2 writes:
 *   kept as is:  ftyp, styp, mdat (copied, streamed), moof, sidx, ssix, the
 *                sample tables, edit lists, sample descriptions (codec
 *                configuration), DRM boxes (pssh), iods, mvex;
 *   rewritten:   mvhd, tkhd, mdhd with creation/modification times zeroed
 *                (8.2.2, 8.3.2, 8.4.2; mehd and tfdt are durations/decode
 *                times and stay); every hdlr name emptied to one NUL byte
 *                (8.4.3; an empty QuickTime Pascal string too); the vendor
 *                code of video and sound sample entries zeroed, and the
 *                32-byte compressorname of video sample entries zeroed unless
 *                it is a plain codec name (AVC Coding, HEVC, Apple ProRes...);
 *                ICC profiles in 'colr' 'prof' neutralised in place (icc.h);
 *                stco/co64 (and saio) offsets moved with the data they point
 *                at; tfhd absolute base offsets likewise; tref without
 *                references to removed tracks;
 *   dropped:     udta and meta at movie and track level (iTunes ilst, Apple
 *                keys/mdta such as com.apple.quicktime.location.ISO6709,
 *                (c)xyz, loci, (c)day, (c)too, cover art), XMP_ and every
 *                uuid box, free/skip/wide padding, mfra (optional random
 *                access index of absolute offsets), prft (wall-clock time),
 *                emsg, and any box outside the keep-list;
 *   tracks:      timed metadata tracks are removed (handler 'meta' such as
 *                Apple 'mebx', GoPro 'gpmd', Google 'camm', 'mett'/'metx'
 *                entries, handler 'camm'), timecode tracks ('tmcd': the time
 *                of day of the recording), chapter tracks (referenced by
 *                'chap': titles written by people) and tracks of unknown
 *                handlers; their samples are overwritten with zero bytes in
 *                mdat, so nothing they held stays in the file. Subtitle and
 *                closed-caption tracks (sbtl, subt, text not used as chapters,
 *                clcp) are content the viewer sees and are kept.
 * Audio and video samples are never touched, so a packet checksum is the same
 * before and after. Media in other files (non-self-contained data
 * references), compressed movie boxes (cmov) and fragmented files whose
 * fragments carry a removed track are refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io.h"
#include "../plan.h"
#include "../report.h"
#include "common/box.h"
#include "common/movie.h"
#include "format.h"

#define FMT "MP4"
#define FOURCC UM_FOURCC

typedef struct top {
    um_box b;
    int keep;
    uint64_t out;       /* output offset */
} top;

typedef struct mp4 {
    um_job *job;
    top *tops;
    size_t ntops, captops;
    size_t moov_i;      /* index of moov in tops */
    int have_moov, have_moof, have_sidx;
    um_movie *mv;       /* the cleaned movie (movie.h) */
} mp4;

/* ---- top level ---------------------------------------------------------- */

static int probe(const uint8_t *p, size_t n)
{
    if (n < 12)
        return 0;
    uint32_t t = um_be32(p + 4);
    if (t == FOURCC('f', 't', 'y', 'p')) {
        uint32_t major = um_be32(p + 8);
        switch (major) {
        case FOURCC('h', 'e', 'i', 'c'):
        case FOURCC('h', 'e', 'i', 'x'):
        case FOURCC('h', 'e', 'v', 'c'):
        case FOURCC('h', 'e', 'v', 'x'):
        case FOURCC('h', 'e', 'i', 'm'):
        case FOURCC('h', 'e', 'i', 's'):
        case FOURCC('h', 'e', 'v', 'm'):
        case FOURCC('h', 'e', 'v', 's'):
        case FOURCC('m', 'i', 'f', '1'):
        case FOURCC('m', 'i', 'f', '2'):
        case FOURCC('m', 's', 'f', '1'):
        case FOURCC('a', 'v', 'i', 'f'):
        case FOURCC('a', 'v', 'i', 's'):
        case FOURCC('a', 'v', 'c', 'i'):
        case FOURCC('a', 'v', 'c', 's'):
        case FOURCC('j', 'p', 'e', 'g'):
            return 0; /* HEIF and its relatives: the heif module */
        default:
            return 90;
        }
    }
    /* Old QuickTime files start with a movie, data or padding atom. */
    if (t == FOURCC('m', 'o', 'o', 'v') || t == FOURCC('m', 'd', 'a', 't') || t == FOURCC('f', 'r', 'e', 'e') ||
        t == FOURCC('w', 'i', 'd', 'e') || t == FOURCC('s', 'k', 'i', 'p'))
        return 60;
    return 0;
}

/* Where input offset `off` lands in the output; 0 when it is in no kept
 * data box (the caller refuses). */
static int map_off(void *user, uint64_t off, uint64_t *out)
{
    mp4 *m = user;
    size_t lo = 0, hi = m->ntops;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (m->tops[mid].b.off + m->tops[mid].b.size <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == m->ntops || off < m->tops[lo].b.off || !m->tops[lo].keep || lo == m->moov_i)
        return 0;
    *out = m->tops[lo].out + (off - m->tops[lo].b.off);
    return 1;
}

static int add_top(mp4 *m, const um_box *b, int keep)
{
    UM_TRY(um_grow(m->job, (void **)&m->tops, &m->captops, m->ntops, sizeof(top)));
    m->tops[m->ntops].b = *b;
    m->tops[m->ntops].keep = keep;
    m->tops[m->ntops].out = 0;
    m->ntops++;
    return 0;
}

/* Reads a small box body for the report (padding, vendor boxes). */
static int report_top(mp4 *m, const um_box *b)
{
    um_job *job = m->job;
    uint64_t n = b->size - b->hdr;
    uint8_t *p = NULL;
    if (n > job->ctx->limits.max_block ||
        ((b->type == FOURCC('f', 'r', 'e', 'e') || b->type == FOURCC('s', 'k', 'i', 'p') ||
          b->type == FOURCC('w', 'i', 'd', 'e')) && n > (1u << 20))) {
        char t[5];
        int blk = um_report_block(job, um_fourcc_str(b->type, t), b->off, b->size, UNMETA_ACTION_REMOVE);
        UM_TRY(blk);
        return um_report_finding(job, blk, UNMETA_CAT_OTHER, "Box", "'%s', %llu bytes (not read)", t,
                                 (unsigned long long)n);
    }
    UM_TRY(um_read_block(job, b->off + b->hdr, n, "an MP4 box", &p));
    int rc = um_movie_report_box(job, FMT, b, p, (size_t)n, "file");
    free(p);
    return rc;
}

static int walk_top(mp4 *m)
{
    um_job *job = m->job;
    uint64_t pos = 0;
    char t[5];
    for (;;) {
        um_box b;
        int more = um_box_next_top(job, FMT, pos, &b);
        UM_TRY(more);
        if (!more)
            break;
        int keep = 1, report = 1;
        switch (b.type) {
        case FOURCC('f', 't', 'y', 'p'):
            if (b.size >= 12) {
                uint8_t br[4];
                UM_TRY(um_read_at(job, b.off + 8, br, 4));
                if (um_be32(br) == FOURCC('c', 'r', 'x', ' '))
                    return um_fail(job, UNMETA_E_UNSUPPORTED, FMT ": a Canon CR3 raw image is not supported");
            }
            break;
        case FOURCC('m', 'o', 'o', 'v'):
            if (m->have_moov)
                return um_fail(job, UNMETA_E_MALFORMED, FMT ": two movie boxes ('moov')");
            m->have_moov = 1;
            m->moov_i = m->ntops;
            report = 0;
            break;
        case FOURCC('m', 'o', 'o', 'f'):
            m->have_moof = 1;
            break;
        case FOURCC('s', 'i', 'd', 'x'):
            m->have_sidx = 1;
            break;
        case FOURCC('m', 'd', 'a', 't'):
        case FOURCC('s', 't', 'y', 'p'):
        case FOURCC('s', 's', 'i', 'x'):
            break;
        case FOURCC('m', 'f', 'r', 'a'):
            /* Random access index with absolute offsets; optional. */
            keep = 0;
            UM_TRY(um_report_block(job, "mfra", b.off, b.size, UNMETA_ACTION_REMOVE));
            report = 0;
            break;
        case FOURCC('p', 'r', 'f', 't'): {
            keep = 0;
            int blk = um_report_block(job, "prft", b.off, b.size, UNMETA_ACTION_REMOVE);
            UM_TRY(blk);
            UM_TRY(um_report_finding(job, blk, UNMETA_CAT_TIME, "ProducerReferenceTime", "wall-clock time of capture"));
            report = 0;
            break;
        }
        default:
            keep = 0;
            UM_TRY(report_top(m, &b));
            report = 0;
            break;
        }
        if (keep && report)
            UM_TRY(um_report_block(job, um_fourcc_str(b.type, t), b.off, b.size, UNMETA_ACTION_KEEP));
        UM_TRY(add_top(m, &b, keep));
        pos += b.size;
    }
    if (!m->have_moov)
        return um_fail(job, UNMETA_E_MALFORMED, FMT ": no movie box ('moov')");
    return 0;
}

/* Reads a moof, moves absolute tfhd base offsets (8.8.7), emits it. */
static int emit_moof(mp4 *m, const top *tp)
{
    um_job *job = m->job;
    uint8_t *p = NULL;
    int rc = 0, changed = 0;
    uint64_t n = tp->b.size;
    UM_TRY(um_read_block(job, tp->b.off, n, "an MP4 movie fragment", &p));
    size_t pos = tp->b.hdr;
    while (pos < n) {
        um_box t;
        UM_TRY_GOTO(rc, um_box_parse(job, FMT, p, (size_t)n, pos, tp->b.off, &t), done);
        if (t.type == FOURCC('t', 'r', 'a', 'f')) {
            size_t q = pos + t.hdr;
            while (q < pos + t.size) {
                um_box h;
                UM_TRY_GOTO(rc, um_box_parse(job, FMT, p, (size_t)(pos + t.size), q, tp->b.off, &h), done);
                if (h.type == FOURCC('t', 'f', 'h', 'd')) {
                    uint8_t *v = p + q + h.hdr;
                    size_t vn = (size_t)h.size - h.hdr;
                    if (vn < 8) {
                        rc = um_fail(job, UNMETA_E_MALFORMED, FMT ": 'tfhd' too short");
                        goto done;
                    }
                    uint32_t id = um_be32(v + 4);
                    if (um_movie_track_removed(m->mv, id)) {
                        rc = um_fail(job, UNMETA_E_UNSUPPORTED,
                                     FMT ": movie fragments carry track %u (timed metadata); removing a track from "
                                     "fragments is not supported", id);
                        goto done;
                    }
                    if ((v[3] & 1) && vn < 16) {
                        rc = um_fail(job, UNMETA_E_MALFORMED, FMT ": 'tfhd' too short for its base offset");
                        goto done;
                    }
                    if (v[3] & 1) {
                        uint64_t off = um_be64(v + 8), to;
                        if (!map_off(m, off, &to)) {
                            rc = um_fail(job, UNMETA_E_UNSUPPORTED,
                                         FMT ": a fragment's base offset %llu points outside the media data",
                                         (unsigned long long)off);
                            goto done;
                        }
                        if (to != off) {
                            um_put_be64(v + 8, to);
                            changed = 1;
                        }
                    }
                }
                q += (size_t)h.size;
            }
        }
        pos += (size_t)t.size;
    }
    if (changed)
        rc = um_plan_data(job, p, (size_t)n);
    else
        rc = um_plan_copy(job, tp->b.off, n);
done:
    free(p);
    return rc;
}

static int run(um_job *job)
{
    mp4 m;
    int rc;
    memset(&m, 0, sizeof(m));
    m.job = job;
    UM_TRY_GOTO(rc, walk_top(&m), done);
    UM_TRY_GOTO(rc, um_movie_open(&m.mv, job, FMT, &m.tops[m.moov_i].b, 0, m.have_moof ? UM_MOVIE_FRAGMENTED : 0),
                done);

    /* Layout: the output offset of every kept top-level box. */
    uint64_t out = 0, moov_size = um_movie_size(m.mv);
    int dropped_after_sidx = 0, seen_sidx = 0, inside = 0;
    for (size_t i = 0; i < m.ntops; i++) {
        top *tp = &m.tops[i];
        if (tp->b.type == FOURCC('s', 'i', 'd', 'x'))
            seen_sidx = 1;
        if (!tp->keep) {
            dropped_after_sidx |= seen_sidx;
            continue;
        }
        /* 8.16.3: sidx sizes count every byte of the segments it indexes,
         * so a box dropped between indexed segments would break it. */
        if (dropped_after_sidx && i != m.moov_i)
            inside = 1;
        tp->out = out;
        out += i == m.moov_i ? moov_size : tp->b.size;
    }
    if (inside) {
        rc = um_fail(job, UNMETA_E_UNSUPPORTED, FMT ": a box to remove lies inside the segments a 'sidx' indexes");
        goto done;
    }
    UM_TRY_GOTO(rc, um_movie_move_chunks(m.mv, map_off, &m), done);

    size_t zi = 0;
    for (size_t i = 0; i < m.ntops; i++) {
        top *tp = &m.tops[i];
        if (!tp->keep)
            continue;
        if (i == m.moov_i) {
            UM_TRY_GOTO(rc, um_movie_emit(m.mv), done);
        } else if (tp->b.type == FOURCC('m', 'd', 'a', 't')) {
            UM_TRY_GOTO(rc, um_movie_copy_mdat(m.mv, tp->b.off, tp->b.size, tp->b.hdr, &zi), done);
        } else if (tp->b.type == FOURCC('m', 'o', 'o', 'f')) {
            UM_TRY_GOTO(rc, emit_moof(&m, tp), done);
        } else {
            UM_TRY_GOTO(rc, um_plan_copy(job, tp->b.off, tp->b.size), done);
        }
    }
    rc = 0;
done:
    um_movie_free(m.mv);
    free(m.tops);
    return rc;
}

const um_format um_format_mp4 = {
    .name = "mp4",
    .mime = "video/mp4",
    .ext = "mp4",
    .probe = probe,
    .run = run,
};
