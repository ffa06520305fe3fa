/*
 * motion.h - describing the video of a motion photo, for the report.
 *
 * Phones store the few seconds of video of a "motion photo" as a whole MP4
 * file inside the picture: after a JPEG's EOI (Google MotionPhoto and
 * MicroVideo, Samsung's SEFT trailer) or in a top-level HEIF box (Samsung
 * 'mpvd'). The video is removed like any other trailer unless the user
 * keeps it (UNMETA_OPT_KEEP_MOTION, below); this first part only says
 * what it was: its duration (mvhd) and whether a track has sound ('soun'
 * handler). It reads the boxes itself, bounded by the range it is given,
 * and never fails on a malformed video: that one is reported as such.
 */
#ifndef UM_MOTION_H
#define UM_MOTION_H

#include "../../internal.h"

typedef struct um_motion {
    int valid;             /* an MP4 whose moov/mvhd could be read */
    uint64_t duration_ms;  /* mvhd duration, in milliseconds */
    int audio;             /* a track with a 'soun' handler */
} um_motion;

/* Describes the MP4 at [off, end) of the input (ftyp first). Returns 0, or
 * a negative code only when reading the input itself fails. */
int um_motion_describe(um_job *job, uint64_t off, uint64_t end, um_motion *m);

/* Adds the finding "motion photo video, N s, audio" (or "no audio", or
 * "unreadable MP4") to block, for the MP4 at [off, end). */
int um_motion_report(um_job *job, int block, uint64_t off, uint64_t end);

/* Keeping the video (UNMETA_OPT_KEEP_MOTION): the MP4 at [off, end) of the
 * input, found by the caller from the container's own structure, is read
 * box by box: 'ftyp' first, one 'moov', 'mdat' boxes, and nothing past end
 * (the boxes must tile the range exactly). Its movie is cleaned by the MP4
 * rules of movie.h; other top-level boxes (free, skip, udta, meta, uuid...)
 * are dropped and reported; movie fragments and anything the movie layer
 * refuses make the file refused. The output is ftyp, the rebuilt moov, then
 * each mdat with the removed tracks' samples as zero bytes: kept samples
 * are copied byte for byte, streaming, in constant memory.
 *
 * The sample tables count from input byte `base` (off when offsets are
 * relative to the video's first byte, 0 when absolute in the file); emit
 * stores output offsets counting from output byte `out_base` likewise. */
typedef struct um_motion_video um_motion_video;

int um_motion_video_open(um_motion_video **out, um_job *job, const char *fmt, uint64_t off, uint64_t end,
                         uint64_t base);
/* The size of the cleaned MP4, known before it is emitted. */
uint64_t um_motion_video_size(const um_motion_video *v);
/* Appends the cleaned MP4 to the plan at its current end. Call once. */
int um_motion_video_emit(um_motion_video *v, uint64_t out_base);
void um_motion_video_free(um_motion_video *v);

#endif
