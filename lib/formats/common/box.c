/*
 * box.c - the ISO BMFF box walker (box.h), ISO/IEC 14496-12 section 4.2.
 */
#include <string.h>

#include "../../io.h"
#include "../../report.h"
#include "box.h"

const char *um_fourcc_str(uint32_t type, char out[5])
{
    for (int i = 0; i < 4; i++) {
        uint8_t c = (uint8_t)(type >> (24 - 8 * i));
        out[i] = c >= 0x20 && c < 0x7f ? (char)c : '.';
    }
    out[4] = '\0';
    return out;
}

/* Why a header does not fit, for decode()'s message. */
enum { FIT_OK, FIT_SHORT, FIT_SHORT64, FIT_SHORTUUID, FIT_SMALL, FIT_PAST };

/* Decodes a header from h[0..avail) of a box at off that must end by end;
 * b->size is the size read even when it does not fit. */
static int fit(const uint8_t *h, size_t avail, uint64_t off, uint64_t end, um_box *b)
{
    memset(b, 0, sizeof(*b));
    if (avail < 8 || end - off < 8)
        return FIT_SHORT;
    uint64_t size = um_be32(h);
    b->type = um_be32(h + 4);
    b->off = off;
    b->hdr = 8;
    if (size == 1) {
        if (avail < 16 || end - off < 16)
            return FIT_SHORT64;
        size = um_be64(h + 8);
        b->hdr = 16;
    } else if (size == 0) {
        size = end - off; /* 4.2: extends to the end of the enclosing space */
    }
    b->size = size;
    if (b->type == UM_FOURCC('u', 'u', 'i', 'd')) {
        if (avail < (size_t)b->hdr + 16 || end - off < (uint64_t)b->hdr + 16)
            return FIT_SHORTUUID;
        memcpy(b->uuid, h + b->hdr, 16);
        b->hdr += 16;
    }
    if (size < b->hdr)
        return FIT_SMALL;
    if (size > end - off)
        return FIT_PAST;
    return FIT_OK;
}

static int decode(um_job *job, const char *fmt, const uint8_t *h, size_t avail, uint64_t off, uint64_t end,
                  uint64_t where, um_box *b)
{
    char t[5];
    int why = fit(h, avail, off, end, b);
    um_fourcc_str(b->type, t);
    switch (why) {
    case FIT_OK:
        return 0;
    case FIT_SHORT:
        return um_fail(job, UNMETA_E_TRUNCATED, "%s: a box header at byte %llu is cut short", fmt,
                       (unsigned long long)where);
    case FIT_SHORT64:
        return um_fail(job, UNMETA_E_TRUNCATED, "%s: box '%s' at byte %llu: 64-bit size cut short", fmt, t,
                       (unsigned long long)where);
    case FIT_SHORTUUID:
        return um_fail(job, UNMETA_E_TRUNCATED, "%s: 'uuid' box at byte %llu is cut short", fmt,
                       (unsigned long long)where);
    case FIT_SMALL:
        return um_fail(job, UNMETA_E_MALFORMED, "%s: box '%s' at byte %llu has size %llu, smaller than its header",
                       fmt, t, (unsigned long long)where, (unsigned long long)b->size);
    default:
        return um_fail(job, UNMETA_E_TRUNCATED, "%s: box '%s' at byte %llu (%llu bytes) runs past the end of its %s",
                       fmt, t, (unsigned long long)where, (unsigned long long)b->size,
                       end == um_reader_size(job->in) ? "file" : "parent");
    }
}

int um_box_peek(const uint8_t *p, size_t n, size_t pos, um_box *b)
{
    return pos <= n && fit(p + pos, n - pos, pos, n, b) == FIT_OK;
}

int um_box_peek_at(um_job *job, uint64_t off, uint64_t end, um_box *b)
{
    uint8_t h[32];
    if (off > end)
        return 0;
    size_t n = end - off < sizeof(h) ? (size_t)(end - off) : sizeof(h);
    UM_TRY(um_read_at(job, off, h, n));
    return fit(h, n, off, end, b) == FIT_OK;
}

int um_box_read(um_job *job, const char *fmt, uint64_t off, uint64_t end, um_box *b)
{
    uint8_t h[32];
    if (off > end)
        return um_fail(job, UNMETA_E_MALFORMED, "%s: box offset %llu past its parent", fmt, (unsigned long long)off);
    size_t n = end - off < sizeof(h) ? (size_t)(end - off) : sizeof(h);
    UM_TRY(um_read_at(job, off, h, n));
    return decode(job, fmt, h, n, off, end, off, b);
}

int um_box_parse(um_job *job, const char *fmt, const uint8_t *p, size_t n, size_t pos, uint64_t base, um_box *b)
{
    if (pos > n)
        return um_fail(job, UNMETA_E_MALFORMED, "%s: box offset past its parent", fmt);
    return decode(job, fmt, p + pos, n - pos, pos, n, base + pos, b);
}

int um_box_next_top(um_job *job, const char *fmt, uint64_t pos, um_box *b)
{
    uint64_t size = um_reader_size(job->in);
    if (pos >= size)
        return 0;
    if (size - pos < 8) {
        uint8_t z[8];
        UM_TRY(um_read_at(job, pos, z, (size_t)(size - pos)));
        if (!um_all_zero(z, (size_t)(size - pos)))
            return um_fail(job, UNMETA_E_MALFORMED, "%s: %llu stray bytes at the end of the file", fmt,
                           (unsigned long long)(size - pos));
        UM_TRY(um_report_block(job, "padding", pos, size - pos, UNMETA_ACTION_REMOVE));
        return 0;
    }
    UM_TRY(um_box_read(job, fmt, pos, size, b));
    UM_TRY(um_job_check_cancel(job));
    return 1;
}
