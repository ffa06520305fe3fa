/*
 * motion.c - describing the video of a motion photo (motion.h).
 *
 * Boxes per ISO/IEC 14496-12: moov (8.2.1) holds mvhd (8.2.2: timescale and
 * duration, 32- or 64-bit by version) and trak boxes, whose mdia holds an
 * hdlr (8.4.3) naming the track's handler type.
 */
#include <string.h>

#include "../../io.h"
#include "../../report.h"
#include "box.h"
#include "motion.h"

#define MAX_BOXES 4096 /* boxes visited in one video, at every level */

/* Reads the box header at off, inside [off, end). 1 when a box was read,
 * 0 when the bytes there are not a box that fits, < 0 on a read error. */
static int header(um_job *job, uint64_t off, uint64_t end, uint32_t *type, uint64_t *size, uint32_t *hdr)
{
    uint8_t h[16];
    if (end - off < 8)
        return 0;
    UM_TRY(um_read_at(job, off, h, 8));
    uint64_t s = um_be32(h);
    *type = um_be32(h + 4);
    *hdr = 8;
    if (s == 1) {
        if (end - off < 16)
            return 0;
        UM_TRY(um_read_at(job, off + 8, h + 8, 8));
        s = um_be64(h + 8);
        *hdr = 16;
    } else if (s == 0) {
        s = end - off;
    }
    if (s < *hdr || s > end - off)
        return 0;
    *size = s;
    return 1;
}

/* Walks the children of [off, end) down to depth 3 (moov/trak/mdia). */
static int walk(um_job *job, uint64_t off, uint64_t end, int depth, unsigned *budget, um_motion *m)
{
    while (off < end) {
        uint32_t type, hdr;
        uint64_t size;
        int rc = header(job, off, end, &type, &size, &hdr);
        if (rc <= 0)
            return rc;
        if (++*budget > MAX_BOXES)
            return 0;
        uint64_t body = off + hdr, bend = off + size;
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
    uint32_t type, hdr;
    uint64_t size;
    unsigned budget = 0;
    memset(m, 0, sizeof(*m));
    int rc = header(job, off, end, &type, &size, &hdr);
    if (rc <= 0 || type != UM_FOURCC('f', 't', 'y', 'p'))
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
