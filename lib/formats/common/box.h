/*
 * box.h - the ISO base media file format box walker (ISO/IEC 14496-12
 * section 4.2), shared by the MP4/MOV and HEIF/AVIF modules.
 *
 * A box is a 32-bit size, a four-character type, a 64-bit size when the
 * 32-bit one is 1, and a 16-byte extended type when the type is 'uuid'.
 * Size 0 means "to the end of the enclosing space" (the file, at top level).
 * Both readers check every size against the space the box must fit in and
 * never trust it otherwise; callers bound depth (limits.max_depth) and
 * count boxes (um_job_count_item) as they descend.
 */
#ifndef UM_BOX_H
#define UM_BOX_H

#include "../../internal.h"

#define UM_FOURCC(a, b, c, d) \
    ((uint32_t)(uint8_t)(a) << 24 | (uint32_t)(uint8_t)(b) << 16 | (uint32_t)(uint8_t)(c) << 8 | (uint8_t)(d))

typedef struct um_box {
    uint32_t type;
    uint8_t uuid[16];  /* extended type when type is 'uuid' */
    uint64_t off;      /* first byte of the header (absolute, or in the buffer) */
    uint64_t size;     /* the whole box, header included */
    uint32_t hdr;      /* header bytes: 8 or 16, plus 16 for 'uuid' */
} um_box;

/* Reads the header of the box at off of the input, which must end by end.
 * `fmt` names the format in messages ("MP4"). */
int um_box_read(um_job *job, const char *fmt, uint64_t off, uint64_t end, um_box *b);

/* The same over memory: the box at p[pos..n). `base` is the absolute offset
 * of p[0] in the input, used only in messages. b->off is relative to p. */
int um_box_parse(um_job *job, const char *fmt, const uint8_t *p, size_t n, size_t pos, uint64_t base, um_box *b);

/* The same checks without failing, for boxes whose damage is a finding
 * rather than an error (inside a block that is removed whole, or where a
 * structure is only recognised): 1 with *b filled when the box at
 * p[pos..n) fits, 0 when it does not. */
int um_box_peek(const uint8_t *p, size_t n, size_t pos, um_box *b);

/* um_box_peek over the input, for the box at off that must end by end:
 * 1, 0, or < 0 when reading fails. */
int um_box_peek_at(um_job *job, uint64_t off, uint64_t end, um_box *b);

/* The next top-level box of the file at pos: 1 with *b filled, or 0 at
 * the end of the file. Fewer than 8 bytes left are the end too when they
 * are zeros (padding some writers leave; reported as a removed block),
 * and UNMETA_E_MALFORMED otherwise. Polls the cancel callback. */
int um_box_next_top(um_job *job, const char *fmt, uint64_t pos, um_box *b);

/* A printable form of a four-character code (non-printable bytes as '.');
 * returns out, for use inside a message. */
const char *um_fourcc_str(uint32_t type, char out[5]);

#endif
