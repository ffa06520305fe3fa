/*
 * movie.h - the movie half of the ISO base media file format (ISO/IEC
 * 14496-12 sections 8.1-8.8, Apple QuickTime File Format), cleaned by the
 * MP4 rules and shared by the MP4/MOV module and the HEIF/AVIF module
 * (image sequences, tracks next to still images).
 *
 * um_movie_open() reads a 'moov' box from the input (bounded by
 * limits.max_block), reports what it holds and cleans it in memory:
 *   rewritten:   mvhd, tkhd, mdhd creation/modification times zeroed; hdlr
 *                names emptied; vendor codes and personal compressor names
 *                of sample entries cleared; ICC profiles neutralised; tref
 *                without references to removed tracks;
 *   dropped:     udta, meta, uuid and every box outside the keep-list at
 *                movie, track, media and sample-table level;
 *   tracks:      timed metadata, timecode, chapter and unknown tracks are
 *                removed; their chunks are listed (um_movie_removed) so the
 *                caller zeroes or drops those bytes; video, audio, subtitle,
 *                auxiliary ('auxv': alpha, depth) and picture tracks stay.
 * It refuses what the rules cannot clean (compressed movies, media in other
 * files, removed samples sharing bytes with kept ones, a movie with no
 * samples left).
 *
 * The caller then lays out its output, moves the chunk offsets with a map
 * from input to output offsets (um_movie_move_chunks) and appends the
 * rebuilt box to the plan (um_movie_emit). The box's size does not depend
 * on the offsets, so um_movie_size() is known before the layout.
 *
 * Offsets: the sample tables count from input byte `base` (0 for a file of
 * its own; the first byte of an MP4 embedded in another file, such as a
 * motion photo's video). Every range this API returns and every offset it
 * hands to the map is absolute in the input; the map returns the value to
 * store, so a caller writing an embedded movie subtracts its own output
 * base there.
 */
#ifndef UM_MOVIE_H
#define UM_MOVIE_H

#include "../../internal.h"
#include "box.h"

typedef struct um_movie um_movie;

typedef struct um_movie_range {
    uint64_t off, len; /* absolute input offsets */
} um_movie_range;

/* The file has movie fragments ('moof'): their samples are not in the
 * sample tables, so a movie with empty tables is not refused. */
#define UM_MOVIE_FRAGMENTED 1u

/* Reads and cleans the 'moov' box b of the input. fmt names the format in
 * messages ("MP4"). On failure *out is NULL and the error is on the job. */
int um_movie_open(um_movie **out, um_job *job, const char *fmt, const um_box *b, uint64_t base, unsigned flags);
void um_movie_free(um_movie *mv);

/* The chunks of the removed tracks, sorted by offset (the bytes to zero or
 * drop; none of them is read by a kept track). */
const um_movie_range *um_movie_removed(const um_movie *mv, size_t *n);
/* Appends the chunks of the kept tracks to *list (unsorted, may overlap:
 * tracks can share bytes). */
int um_movie_kept(um_movie *mv, um_movie_range **list, size_t *n, size_t *cap);
/* 1 when the track of that ID is removed. */
int um_movie_track_removed(const um_movie *mv, uint32_t id);

/* Where the input byte `in` goes: 1 with *out set to the value to store,
 * 0 when the byte is not copied (the movie refuses), negative on error. */
typedef int (*um_movie_map_fn)(void *user, uint64_t in, uint64_t *out);
/* Moves the kept tracks' chunk offsets (stco/co64, 8.7.5) and absolute
 * auxiliary information offsets (saio, 8.7.9). Call once. */
int um_movie_move_chunks(um_movie *mv, um_movie_map_fn map, void *user);

/* The size of the rebuilt 'moov' box, header included. */
uint64_t um_movie_size(const um_movie *mv);
/* Appends the rebuilt 'moov' box to the job's plan. */
int um_movie_emit(um_movie *mv);
/* Appends the input box at off (size bytes, hdr of them header, an 'mdat')
 * to the plan with the removed tracks' samples as zero bytes, so kept
 * chunk offsets inside it stay valid. *zi is a cursor into
 * um_movie_removed(): start it at 0 and pass it on to the next 'mdat' of
 * the same file, in input order. */
int um_movie_copy_mdat(um_movie *mv, uint64_t off, uint64_t size, uint32_t hdr, size_t *zi);

/* Reports a removed metadata box (udta, meta, XMP_, uuid, padding) found
 * outside a movie, at input offset abs with `size` bytes whose last n are
 * p (the payload); `where` prefixes the block's name ("file"). */
int um_movie_report_box(um_job *job, const char *fmt, const um_box *b, const uint8_t *p, size_t n,
                        const char *where);

#endif
