/*
 * motion.h - describing the video of a motion photo, for the report.
 *
 * Phones store the few seconds of video of a "motion photo" as a whole MP4
 * file inside the picture: after a JPEG's EOI (Google MotionPhoto and
 * MicroVideo, Samsung's SEFT trailer) or in a top-level HEIF box (Samsung
 * 'mpvd'). The video is removed like any other trailer; this only says
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

#endif
