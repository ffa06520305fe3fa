/*
 * motion.c - describing the video of a motion photo (motion.h).
 *
 * Boxes per ISO/IEC 14496-12: moov (8.2.1) holds mvhd (8.2.2: timescale and
 * duration, 32- or 64-bit by version) and trak boxes, whose mdia holds an
 * hdlr (8.4.3) naming the track's handler type.
 */
#include <stdlib.h>
#include <string.h>

#include "../../io.h"
#include "../../plan.h"
#include "../../report.h"
#include "box.h"
#include "motion.h"
#include "movie.h"

#define MAX_BOXES 4096 /* boxes visited in one video, at every level */

/* Walks the children of [off, end) down to depth 3 (moov/trak/mdia). */
static int walk(um_job *job, uint64_t off, uint64_t end, int depth, unsigned *budget, um_motion *m)
{
    while (off < end) {
        um_box bx;
        int rc = um_box_peek_at(job, off, end, &bx);
        if (rc <= 0)
            return rc;
        uint32_t type = bx.type;
        if (++*budget > MAX_BOXES)
            return 0;
        uint64_t body = off + bx.hdr, bend = off + bx.size;
        if (depth == 1 && type == UM_FOURCC('m', 'v', 'h', 'd') && bend - body >= 32) {
            uint8_t b[32];
            UM_TRY(um_read_at(job, body, b, 32));
            uint32_t scale = b[0] == 1 ? um_be32(b + 20) : um_be32(b + 12);
            uint64_t dur = b[0] == 1 ? um_be64(b + 24) : um_be32(b + 16);
            if (scale) {
                m->duration_ms = dur / scale * 1000 + dur % scale * 1000 / scale;
                m->valid = 1;
            }
        } else if (depth == 3 && type == UM_FOURCC('h', 'd', 'l', 'r') && bend - body >= 12) {
            uint8_t b[12];
            UM_TRY(um_read_at(job, body, b, 12));
            if (um_be32(b + 8) == UM_FOURCC('s', 'o', 'u', 'n'))
                m->audio = 1;
        } else if ((depth == 0 && type == UM_FOURCC('m', 'o', 'o', 'v')) ||
                   (depth == 1 && type == UM_FOURCC('t', 'r', 'a', 'k')) ||
                   (depth == 2 && type == UM_FOURCC('m', 'd', 'i', 'a'))) {
            UM_TRY(walk(job, body, bend, depth + 1, budget, m));
        }
        off = bend;
    }
    return 0;
}

int um_motion_describe(um_job *job, uint64_t off, uint64_t end, um_motion *m)
{
    um_box b;
    unsigned budget = 0;
    memset(m, 0, sizeof(*m));
    int rc = um_box_peek_at(job, off, end, &b);
    if (rc <= 0 || b.type != UM_FOURCC('f', 't', 'y', 'p'))
        return rc < 0 ? rc : 0;
    return walk(job, off, end, 0, &budget, m);
}

int um_motion_report(um_job *job, int block, uint64_t off, uint64_t end)
{
    um_motion m;
    UM_TRY(um_motion_describe(job, off, end, &m));
    if (!m.valid)
        return um_report_finding(job, block, UNMETA_CAT_EMBEDDED, "MotionPhoto", "motion photo video (unreadable MP4), %llu bytes",
                                 (unsigned long long)(end - off));
    return um_report_finding(job, block, UNMETA_CAT_EMBEDDED, "MotionPhoto", "motion photo video, %llu.%llu s, %s",
                             (unsigned long long)(m.duration_ms / 1000), (unsigned long long)(m.duration_ms % 1000 / 100),
                             m.audio ? "audio" : "no audio");
}

/* ---- keeping the video (UNMETA_OPT_KEEP_MOTION) --------------------------- */

typedef struct vtop {
    um_box b;
    int kind;        /* VT_COPY, VT_MOOV, VT_MDAT */
    uint64_t out;    /* output offset, from the video's first output byte */
} vtop;

enum { VT_COPY, VT_MOOV, VT_MDAT };

struct um_motion_video {
    um_job *job;
    const char *fmt;
    vtop *tops;      /* the kept top-level boxes, in input order */
    size_t ntops, cap;
    um_movie *mv;
    uint64_t size;   /* output size */
    uint64_t out_start, out_base;
    int emitted;
};

void um_motion_video_free(um_motion_video *v)
{
    if (!v)
        return;
    um_movie_free(v->mv);
    free(v->tops);
    free(v);
}

uint64_t um_motion_video_size(const um_motion_video *v)
{
    return v->size;
}

/* Reports a dropped top-level box of the video, reading small ones. */
static int drop_box(um_motion_video *v, const um_box *b)
{
    um_job *job = v->job;
    uint64_t n = b->size - b->hdr;
    char t[5];
    if (n > (1u << 20)) {
        int blk = um_report_block(job, um_fourcc_str(b->type, t), b->off, b->size, UNMETA_ACTION_REMOVE);
        UM_TRY(blk);
        return um_report_finding(job, blk, UNMETA_CAT_OTHER, "Box", "motion photo video: '%s', %llu bytes (not read)",
                                 t, (unsigned long long)n);
    }
    uint8_t *p = NULL;
    UM_TRY(um_read_block(job, b->off + b->hdr, n, "a motion photo video box", &p));
    int rc = um_movie_report_box(job, v->fmt, b, p, (size_t)n, "motion photo video");
    free(p);
    return rc;
}

/* Every kept chunk must lie in one of the video's own mdat boxes: a chunk
 * offset that counts from elsewhere (absolute in the file when the caller
 * expects offsets from the video's first byte) is refused here, with the
 * convention named, rather than copied from the wrong place. */
static int check_chunks(um_motion_video *v, int relative)
{
    um_movie_range *list = NULL;
    size_t n = 0, cap = 0;
    int rc = um_movie_kept(v->mv, &list, &n, &cap);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int inside = 0;
        for (size_t k = 0; !inside && k < v->ntops; k++) {
            const um_box *b = &v->tops[k].b;
            inside = v->tops[k].kind == VT_MDAT && list[i].off >= b->off + b->hdr && list[i].off <= b->off + b->size &&
                     list[i].len <= b->off + b->size - list[i].off;
        }
        if (!inside)
            rc = um_fail(v->job, UNMETA_E_UNSUPPORTED,
                         "%s: a chunk of the motion photo video lies outside its own media data (its offsets must "
                         "count from %s); the video cannot be kept", v->fmt,
                         relative ? "the video's first byte" : "the start of the file");
    }
    free(list);
    return rc;
}

int um_motion_video_open(um_motion_video **out, um_job *job, const char *fmt, uint64_t off, uint64_t end,
                         uint64_t base)
{
    int rc = 0, have_moov = 0, have_mdat = 0;
    size_t moov_i = 0;
    *out = NULL;
    um_motion_video *v = um_calloc(job, 1, sizeof(*v));
    if (!v)
        return job->err;
    v->job = job;
    v->fmt = fmt;
    for (uint64_t pos = off; pos < end;) {
        um_box b;
        char t[5];
        UM_TRY_GOTO(rc, um_box_read(job, fmt, pos, end, &b), fail);
        UM_TRY_GOTO(rc, um_job_check_cancel(job), fail);
        int kind = -1;
        if (pos == off && b.type != UM_FOURCC('f', 't', 'y', 'p')) {
            rc = um_fail(job, UNMETA_E_MALFORMED, "%s: the motion photo video at byte %llu does not start with 'ftyp'",
                         fmt, (unsigned long long)off);
            goto fail;
        }
        switch (b.type) {
        case UM_FOURCC('f', 't', 'y', 'p'):
            if (pos != off) {
                rc = um_fail(job, UNMETA_E_MALFORMED, "%s: a second 'ftyp' in the motion photo video", fmt);
                goto fail;
            }
            kind = VT_COPY;
            break;
        case UM_FOURCC('m', 'o', 'o', 'v'):
            if (have_moov) {
                rc = um_fail(job, UNMETA_E_MALFORMED, "%s: two movie boxes ('moov') in the motion photo video", fmt);
                goto fail;
            }
            have_moov = 1;
            moov_i = v->ntops;
            kind = VT_MOOV;
            break;
        case UM_FOURCC('m', 'd', 'a', 't'):
            have_mdat = 1;
            kind = VT_MDAT;
            break;
        case UM_FOURCC('m', 'o', 'o', 'f'):
        case UM_FOURCC('s', 'i', 'd', 'x'):
        case UM_FOURCC('s', 't', 'y', 'p'):
        case UM_FOURCC('m', 'f', 'r', 'a'):
            rc = um_fail(job, UNMETA_E_UNSUPPORTED,
                         "%s: the motion photo video is fragmented ('%s'); keeping it is not supported", fmt,
                         um_fourcc_str(b.type, t));
            goto fail;
        default:
            UM_TRY_GOTO(rc, drop_box(v, &b), fail);
            break;
        }
        if (kind >= 0) {
            UM_TRY_GOTO(rc, um_grow(job, (void **)&v->tops, &v->cap, v->ntops, sizeof(vtop)), fail);
            v->tops[v->ntops].b = b;
            v->tops[v->ntops].kind = kind;
            v->tops[v->ntops].out = 0;
            v->ntops++;
        }
        pos += b.size;
    }
    if (!have_moov || !have_mdat) {
        rc = um_fail(job, UNMETA_E_MALFORMED, "%s: the motion photo video at byte %llu has no %s", fmt,
                     (unsigned long long)off, have_moov ? "media data ('mdat')" : "movie box ('moov')");
        goto fail;
    }
    UM_TRY_GOTO(rc, um_movie_open(&v->mv, job, fmt, &v->tops[moov_i].b, base, 0), fail);
    UM_TRY_GOTO(rc, check_chunks(v, base == off), fail);
    for (size_t i = 0; i < v->ntops; i++) {
        v->tops[i].out = v->size;
        v->size += v->tops[i].kind == VT_MOOV ? um_movie_size(v->mv) : v->tops[i].b.size;
    }
    *out = v;
    return 0;
fail:
    um_motion_video_free(v);
    return rc;
}

/* Where input byte `in` lands: only bytes of a kept mdat are chunks. */
static int video_map(void *user, uint64_t in, uint64_t *out)
{
    um_motion_video *v = user;
    for (size_t i = 0; i < v->ntops; i++) {
        const vtop *t = &v->tops[i];
        if (t->kind == VT_MDAT && in >= t->b.off + t->b.hdr && in - t->b.off < t->b.size) {
            *out = v->out_start + t->out + (in - t->b.off) - v->out_base;
            return 1;
        }
    }
    return 0;
}

int um_motion_video_emit(um_motion_video *v, uint64_t out_base)
{
    um_job *job = v->job;
    if (v->emitted)
        return um_fail(job, UNMETA_E_STATE, "%s: the motion photo video is emitted twice", v->fmt);
    v->emitted = 1;
    v->out_start = um_plan_size(job);
    v->out_base = out_base;
    if (out_base > v->out_start)
        return um_fail(job, UNMETA_E_STATE, "%s: the motion photo video's offsets count from past its start", v->fmt);
    UM_TRY(um_movie_move_chunks(v->mv, video_map, v));
    size_t zi = 0; /* the tops are in input order, as um_movie_copy_mdat's cursor needs */
    for (size_t i = 0; i < v->ntops; i++) {
        const vtop *t = &v->tops[i];
        if (um_plan_size(job) != v->out_start + t->out)
            return um_fail(job, UNMETA_E_STATE, "%s: the motion photo video's layout changed", v->fmt);
        if (t->kind == VT_MOOV)
            UM_TRY(um_movie_emit(v->mv));
        else if (t->kind == VT_MDAT)
            UM_TRY(um_movie_copy_mdat(v->mv, t->b.off, t->b.size, t->b.hdr, &zi));
        else
            UM_TRY(um_plan_copy(job, t->b.off, t->b.size));
    }
    if (um_plan_size(job) != v->out_start + v->size)
        return um_fail(job, UNMETA_E_STATE, "%s: the motion photo video's size changed", v->fmt);
    return 0;
}
