/*
 * heif.c - HEIF, HEIC and AVIF still images and image sequences (ISO/IEC
 * 23008-12 High Efficiency Image File Format; ISO/IEC 14496-12 sections 8.11
 * item information, location, references and properties; AV1 Image File
 * Format, including animated AVIF).
 *
 * A HEIF image is a file-level 'meta' box (handler 'pict') that lists items
 * (coded images, grids, overlays, thumbnails, auxiliary images, and metadata
 * items such as Exif and XMP), says where each item's bytes are ('iloc': in
 * the file, usually an 'mdat', or in the meta box's own 'idat') and which
 * properties (codec configuration, size, colour, rotation...) each image has.
 *
 * Pass 1 walks the top-level boxes, reads the meta box (bounded by
 * limits.max_block) and parses hdlr, pitm, iinf, iloc, iref and iprp. Items
 * are kept or removed:
 *   removed:  'Exif' items, 'mime' items (XMP, application/rdf+xml, and any
 *             other MIME content), 'uri ' items, any item that describes
 *             another through a 'cdsc' reference, and items of unknown type
 *             that no image references; auxiliary images rendering does
 *             not need ('auxC' types: depth maps unless
 *             UNMETA_OPT_KEEP_DEPTH, segmentation mattes, unknown types)
 *             and what only they use (their thumbnails, auxiliary images,
 *             grid tiles, properties); their infe, iloc, iref and ipma
 *             entries go, and their bytes are not copied;
 *   kept:     every other image item (coded, 'grid', 'iovl', 'iden', 'tmap'
 *             gain maps, thumbnails, alpha and HDR gain-map auxiliary
 *             images) and every property that renders them; ICC profiles
 *             in 'colr' are neutralised in place (icc.h) or, with
 *             UNMETA_ICC_STRIP, dropped with the ipma property indices
 *             renumbered. User description,
 *             creation and modification time properties ('udes', 'crtt',
 *             'mdft'), padding and unknown properties no association marks
 *             essential are dropped the same way.
 * A file-level 'moov' (image sequences: brands 'msf1', 'avis', 'hevs',
 * 'avio'; alpha tracks 'auxv' referenced by 'auxl', thumbnail tracks, a
 * still's audio track) is cleaned by the MP4 rules through the shared movie
 * layer (common/movie.h): udta/meta dropped, times zeroed, handler and
 * compressor names cleared, timed metadata, timecode and chapter tracks
 * removed. A sequence-only file (no meta) is accepted too.
 *
 * Pass 2 writes ftyp as is, a rebuilt meta (hdlr name emptied, iloc
 * rewritten with absolute offsets, idat holding only kept items' bytes),
 * the rebuilt moov, and one mdat holding every kept item's file extents and
 * every kept track's chunks, copied once each in input order (shared or
 * overlapping extents stay shared); iloc and stco/co64 offsets are both
 * moved to that layout. Removed items' and removed tracks' bytes are not
 * copied. Every other top-level box (free, skip, uuid, unknown) is dropped
 * and reported; so is Samsung's motion-photo 'mpvd' unless
 * UNMETA_OPT_KEEP_MOTION keeps it: then a rebuilt 'mpvd' ends the file,
 * holding its MP4 cleaned by the MP4 rules (common/motion.h), chunk
 * offsets counting from the MP4's first byte as in the input.
 *
 * Refused: fragmented sequences ('moof'), items in other files (data
 * reference index not 0), construction method 2 (item offsets), protected
 * items, extents of length 0 ("the whole resource"), item or track data
 * outside every 'mdat', removed bytes shared with kept ones, whatever the
 * MP4 rules refuse in a 'moov' (compressed movies, media in other files, a
 * movie with no samples left, chunk offsets that would pass 4 GiB in
 * 'stco'), and any structure that breaks the rules it is checked against.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io.h"
#include "../plan.h"
#include "../report.h"
#include "common/box.h"
#include "common/motion.h"
#include "common/exif.h"
#include "common/icc.h"
#include "common/movie.h"
#include "common/xmp.h"
#include "format.h"

#define FMT "HEIF"
#define FOURCC UM_FOURCC

typedef struct extent {
    uint64_t off;  /* absolute in the file (method 0) or in idat (method 1) */
    uint64_t len;
} extent;

typedef struct item {
    uint32_t id;
    uint32_t type;       /* infe item_type */
    size_t infe_off;     /* the infe box in the meta payload */
    size_t infe_size;
    char ctype[96];      /* 'mime' content type */
    char cenc[32];       /* 'mime' content encoding */
    int located;         /* has an iloc entry */
    int method;          /* construction method 0 or 1 */
    size_t first, count; /* its extents in heif.ext */
    uint64_t total;      /* bytes over all extents */
    int describes;       /* from-item of a 'cdsc' reference */
    int linked;          /* in any other reference */
    int aux;             /* from-item of an 'auxl' reference */
    uint32_t auxc;       /* its 'auxC' property (1-based), 0 if none */
    int remove;
    const char *kind;    /* auxiliary kind reported ("DepthMap"), or NULL */
    uint32_t along;      /* removed because item `along` is (0: not so) */
} item;

typedef struct ref {
    uint32_t type;       /* 'dimg', 'thmb', 'auxl'... */
    size_t from, to;     /* indices in heif.items, SIZE_MAX when undeclared */
} ref;

typedef struct child {
    uint32_t type;
    size_t off, size, hdr;  /* in the meta payload */
    int drop;
} child;

typedef struct prop {
    uint32_t type;
    size_t off, size;  /* the whole box in the meta payload */
    size_t hdr;        /* its header size */
    int essential;     /* some association marks it essential */
    int kept_use;      /* associated with an item that stays */
    int gone_use;      /* associated with an item that is removed */
    int drop;
    uint32_t renum;    /* new 1-based index, 0 when dropped */
} prop;

typedef struct range {
    uint64_t off, len, out;
} range;

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

typedef struct heif {
    um_job *job;
    um_box ftyp, meta;
    int have_ftyp, have_meta;
    uint8_t *mb;         /* the meta payload (after its header) */
    size_t mlen;
    uint64_t mbase;      /* absolute offset of mb[0] */
    child *kids;
    size_t nkids, capkids;
    item *items;
    size_t nitems, capitems;
    extent *ext;
    size_t next, capext;
    int iloc_v;
    uint32_t primary;
    size_t idat_off, idat_len;  /* idat payload in mb */
    int have_idat;
    prop *props;
    size_t nprops, capprops;
    size_t ipco_i;              /* index of ipco in kids? (within iprp) */
    range *fr, *ir;             /* kept ranges: file (method 0), idat (1) */
    size_t nfr, capfr, nir, capir;
    uint64_t mdat_total, idat_total;
    um_box *mdats;
    size_t nmdats, capmdats;
    ref *refs;                  /* every (from, to) pair of iref */
    size_t nrefs, caprefs;
    int classified;             /* ipma pass after classify (uses, essential) */
    um_box moov;         /* image sequence or other tracks (movie.h) */
    int have_moov;
    um_box mpvd;         /* Samsung's motion-photo video, kept with UNMETA_OPT_KEEP_MOTION */
    int have_mpvd;
    um_motion_video *video;
    um_movie *mv;
    range *tr;           /* the tracks' chunks, out 1 for removed tracks */
    size_t ntr, captr;
} heif;

/* ---- small helpers ------------------------------------------------------ */

static int put(um_job *job, buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->n + n)
            c *= 2;
        uint8_t *q = um_realloc(job, b->p, c);
        if (!q)
            return job->err;
        b->p = q;
        b->cap = c;
    }
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
    return 0;
}

static int put_uint(um_job *job, buf *b, uint64_t v, unsigned size)
{
    uint8_t t[8];
    for (unsigned i = 0; i < size; i++)
        t[i] = (uint8_t)(v >> (8 * (size - 1 - i)));
    return put(job, b, t, size);
}

/* Starts a box: reserves its 8-byte header; returns where it starts. */
static int box_open(um_job *job, buf *b, uint32_t type, size_t *at)
{
    *at = b->n;
    UM_TRY(put_uint(job, b, 0, 4));
    return put_uint(job, b, type, 4);
}

static int box_close(um_job *job, buf *b, size_t at)
{
    if (b->n - at > UINT32_MAX)
        return um_fail(job, UNMETA_E_LIMIT, FMT ": a rebuilt box passes 4 GiB");
    um_put_be32(b->p + at, (uint32_t)(b->n - at));
    return 0;
}

static item *find_item(heif *h, uint32_t id)
{
    for (size_t i = 0; i < h->nitems; i++)
        if (h->items[i].id == id)
            return &h->items[i];
    return NULL;
}

static child *find_kid(heif *h, uint32_t type)
{
    child *found = NULL;
    for (size_t i = 0; i < h->nkids; i++)
        if (h->kids[i].type == type) {
            if (found)
                return NULL; /* the caller refuses duplicates first */
            found = &h->kids[i];
        }
    return found;
}

/* A variable-size unsigned integer field of iloc (0, 4 or 8 bytes). */
static uint64_t cur_uint(um_cur *c, unsigned size)
{
    switch (size) {
    case 4:
        return um_cur_be32(c);
    case 8:
        return um_cur_be64(c);
    default:
        return 0;
    }
}

static uint32_t cur_id(um_cur *c, int wide)
{
    return wide ? um_cur_be32(c) : um_cur_be16(c);
}

/* A NUL-terminated string at the cursor, copied (cut) to out. */
static void cur_str(um_cur *c, char *out, size_t cap)
{
    size_t k = 0;
    for (;;) {
        if (um_cur_left(c) == 0) {
            c->bad = 1;
            break;
        }
        uint8_t ch = um_cur_u8(c);
        if (!ch)
            break;
        if (k + 1 < cap)
            out[k++] = (char)ch;
    }
    out[k] = '\0';
}

static int is_image_type(uint32_t t)
{
    switch (t) {
    case FOURCC('h', 'v', 'c', '1'):
    case FOURCC('h', 'v', 't', '1'):
    case FOURCC('l', 'h', 'v', '1'):
    case FOURCC('a', 'v', '0', '1'):
    case FOURCC('a', 'v', 'c', '1'):
    case FOURCC('v', 'v', 'c', '1'):
    case FOURCC('j', 'p', 'e', 'g'):
    case FOURCC('j', '2', 'k', '1'):
    case FOURCC('u', 'n', 'c', 'i'):
    case FOURCC('m', 's', 'k', 'i'):
    case FOURCC('g', 'r', 'i', 'd'):
    case FOURCC('i', 'o', 'v', 'l'):
    case FOURCC('i', 'd', 'e', 'n'):
    case FOURCC('t', 'm', 'a', 'p'):
        return 1;
    default:
        return 0;
    }
}

/* Properties that render an image (23008-12 section 6.5, 14496-15, AV1-ISOBMFF,
 * 23001-17): kept whatever the ipma says. */
static int is_render_prop(uint32_t t)
{
    switch (t) {
    case FOURCC('i', 's', 'p', 'e'):
    case FOURCC('p', 'i', 'x', 'i'):
    case FOURCC('c', 'o', 'l', 'r'):
    case FOURCC('h', 'v', 'c', 'C'):
    case FOURCC('l', 'h', 'v', 'C'):
    case FOURCC('a', 'v', '1', 'C'):
    case FOURCC('a', 'v', 'c', 'C'):
    case FOURCC('v', 'v', 'c', 'C'):
    case FOURCC('j', 'p', 'g', 'C'):
    case FOURCC('j', '2', 'k', 'H'):
    case FOURCC('u', 'n', 'c', 'C'):
    case FOURCC('c', 'm', 'p', 'd'):
    case FOURCC('c', 'l', 'a', 'p'):
    case FOURCC('i', 'r', 'o', 't'):
    case FOURCC('i', 'm', 'i', 'r'):
    case FOURCC('p', 'a', 's', 'p'):
    case FOURCC('r', 'l', 'o', 'c'):
    case FOURCC('l', 's', 'e', 'l'):
    case FOURCC('a', '1', 'o', 'p'):
    case FOURCC('a', '1', 'l', 'x'):
    case FOURCC('a', 'u', 'x', 'C'):
    case FOURCC('o', 'i', 'n', 'f'):
    case FOURCC('t', 'o', 'l', 's'):
    case FOURCC('c', 'l', 'l', 'i'):
    case FOURCC('m', 'd', 'c', 'v'):
    case FOURCC('c', 'c', 'l', 'v'):
    case FOURCC('a', 'm', 'v', 'e'):
    case FOURCC('r', 'e', 'v', 'e'):
    case FOURCC('i', 's', 'c', 'l'):
        return 1;
    default:
        return 0;
    }
}

/* ---- top level ---------------------------------------------------------- */

static int report_box(heif *h, const um_box *b, const char *where)
{
    um_job *job = h->job;
    char t[5], kind[48];
    snprintf(kind, sizeof(kind), "%s%s", where, um_fourcc_str(b->type, t));
    int blk = um_report_block(job, kind, b->off, b->size, UNMETA_ACTION_REMOVE);
    UM_TRY(blk);
    uint64_t n = b->size - b->hdr;
    if (b->type == FOURCC('u', 'u', 'i', 'd'))
        return um_report_finding(job, blk, UNMETA_CAT_OTHER, "VendorBox", "uuid %02x%02x%02x%02x-..., %llu bytes",
                                 b->uuid[0], b->uuid[1], b->uuid[2], b->uuid[3], (unsigned long long)n);
    if (b->type == FOURCC('f', 'r', 'e', 'e') || b->type == FOURCC('s', 'k', 'i', 'p')) {
        /* Padding is only worth a finding when it holds something. */
        uint64_t pos = b->off + b->hdr, end = b->off + b->size;
        while (pos < end) {
            const uint8_t *p;
            size_t avail;
            UM_TRY(um_reader_peek(job, pos, &p, &avail));
            if (!avail)
                return um_fail(job, UNMETA_E_TRUNCATED, FMT ": padding at byte %llu is cut short",
                               (unsigned long long)b->off);
            if (avail > end - pos)
                avail = (size_t)(end - pos);
            if (!um_all_zero(p, avail))
                return um_report_finding(job, blk, UNMETA_CAT_OTHER, "Padding", "%llu bytes with data",
                                         (unsigned long long)n);
            pos += avail;
        }
        return 0;
    }
    if (b->type == FOURCC('m', 'p', 'v', 'd')) /* Samsung motion photo: an MP4 */
        return um_motion_report(job, blk, b->off + b->hdr, b->off + b->size);
    return um_report_finding(job, blk, UNMETA_CAT_OTHER, "Box", "'%s', %llu bytes", t, (unsigned long long)n);
}

static int walk_top(heif *h)
{
    um_job *job = h->job;
    uint64_t pos = 0;
    char t[5];
    for (;;) {
        um_box b;
        int more = um_box_next_top(job, FMT, pos, &b);
        UM_TRY(more);
        if (!more)
            break;
        if (pos == 0 && b.type != FOURCC('f', 't', 'y', 'p'))
            return um_fail(job, UNMETA_E_MALFORMED, FMT ": the file does not start with 'ftyp'");
        switch (b.type) {
        case FOURCC('f', 't', 'y', 'p'):
            if (h->have_ftyp)
                return um_fail(job, UNMETA_E_MALFORMED, FMT ": two file type boxes ('ftyp')");
            if (b.size - b.hdr < 8 || (b.size - b.hdr) % 4)
                return um_fail(job, UNMETA_E_MALFORMED, FMT ": 'ftyp' of %llu bytes", (unsigned long long)b.size);
            h->have_ftyp = 1;
            h->ftyp = b;
            UM_TRY(um_report_block(job, "ftyp", b.off, b.size, UNMETA_ACTION_KEEP));
            break;
        case FOURCC('m', 'e', 't', 'a'):
            if (h->have_meta)
                return um_fail(job, UNMETA_E_MALFORMED, FMT ": two file-level 'meta' boxes");
            h->have_meta = 1;
            h->meta = b;
            break;
        case FOURCC('m', 'd', 'a', 't'):
            UM_TRY(um_grow(job, (void **)&h->mdats, &h->capmdats, h->nmdats, sizeof(um_box)));
            h->mdats[h->nmdats++] = b;
            break;
        case FOURCC('m', 'o', 'o', 'v'):
            /* Image sequences, alpha and audio tracks: cleaned by the MP4
             * rules (movie.h) once the meta box is parsed. */
            if (h->have_moov)
                return um_fail(job, UNMETA_E_MALFORMED, FMT ": two movie boxes ('moov')");
            h->have_moov = 1;
            h->moov = b;
            break;
        case FOURCC('m', 'o', 'o', 'f'):
            return um_fail(job, UNMETA_E_UNSUPPORTED,
                           FMT ": fragmented image sequences (a '%s' box) are not supported", um_fourcc_str(b.type, t));
        case FOURCC('m', 'p', 'v', 'd'):
            if (!job->ctx->keep_motion) {
                UM_TRY(report_box(h, &b, ""));
                break;
            }
            /* Kept: the MP4 it holds is cleaned once the rest is parsed. */
            if (h->have_mpvd)
                return um_fail(job, UNMETA_E_MALFORMED, FMT ": two motion-photo boxes ('mpvd')");
            h->have_mpvd = 1;
            h->mpvd = b;
            break;
        default:
            UM_TRY(report_box(h, &b, ""));
            break;
        }
        pos += b.size;
    }
    if (!h->have_meta && !h->have_moov)
        return um_fail(job, UNMETA_E_MALFORMED, FMT ": no file-level 'meta' box");
    return 0;
}

/* ---- the meta box ------------------------------------------------------- */

static int parse_hdlr(heif *h, child *k)
{
    um_job *job = h->job;
    const uint8_t *p = h->mb + k->off + k->hdr;
    size_t n = k->size - k->hdr;
    char t[5];
    if (n < 24)
        return um_fail(job, UNMETA_E_MALFORMED, FMT ": 'hdlr' of %zu bytes", n);
    uint32_t handler = um_be32(p + 8);
    if (handler != FOURCC('p', 'i', 'c', 't'))
        return um_fail(job, UNMETA_E_UNSUPPORTED, FMT ": meta handler '%s' is not an image ('pict')", um_fourcc_str(handler, t));
    if (um_all_zero(p + 24, n - 24) && um_all_zero(p + 12, 12))
        return 0;
    int blk = um_report_block(job, "meta hdlr", h->mbase + k->off, k->size, UNMETA_ACTION_REWRITE);
    UM_TRY(blk);
    char v[160];
    size_t len = 0;
    while (24 + len < n && p[24 + len] && len < sizeof(v) - 1) {
        v[len] = (char)p[24 + len];
        len++;
    }
    v[len] = '\0';
    return um_report_finding(job, blk, UNMETA_CAT_SOFTWARE, "HandlerName", "%s", len ? v : "(reserved bytes set)");
}

static int parse_pitm(heif *h, child *k)
{
    um_cur c = um_cur_make(h->mb + k->off + k->hdr, k->size - k->hdr);
    uint8_t v = um_cur_u8(&c);
    um_cur_skip(&c, 3);
    h->primary = cur_id(&c, v >= 1);
    if (c.bad || v > 1)
        return um_fail(h->job, UNMETA_E_MALFORMED, FMT ": bad 'pitm' box (version %u)", v);
    return 0;
}

/* iinf (14496-12 8.11.6): ItemInfoEntry boxes of version 2 or 3. */
static int parse_iinf(heif *h, child *k)
{
    um_job *job = h->job;
    const uint8_t *p = h->mb + k->off + k->hdr;
    size_t n = k->size - k->hdr;
    um_cur c = um_cur_make(p, n);
    uint8_t v = um_cur_u8(&c);
    um_cur_skip(&c, 3);
    uint32_t count = v == 0 ? um_cur_be16(&c) : um_cur_be32(&c);
    /* Versions above 1 are not defined; some writers use 2 with the
     * 32-bit count of version 1, which readers accept. */
    if (c.bad || v > 2)
        return um_fail(job, UNMETA_E_MALFORMED, FMT ": bad 'iinf' box (version %u)", v);
    size_t pos = c.pos;
    for (uint32_t i = 0; i < count; i++) {
        um_box b;
        char t[5];
        UM_TRY(um_box_parse(job, FMT, p, n, pos, h->mbase + k->off + k->hdr, &b));
        UM_TRY(um_job_count_item(job, "item"));
        if (b.type != FOURCC('i', 'n', 'f', 'e'))
            return um_fail(job, UNMETA_E_MALFORMED, FMT ": '%s' box where an item entry ('infe') belongs",
                           um_fourcc_str(b.type, t));
        um_cur e = um_cur_make(p + pos + b.hdr, (size_t)b.size - b.hdr);
        uint8_t ev = um_cur_u8(&e);
        um_cur_skip(&e, 3);
        if (ev < 2 || ev > 3)
            return um_fail(job, UNMETA_E_UNSUPPORTED, FMT ": item entry of version %u (only 2 and 3 are HEIF)", ev);
        UM_TRY(um_grow(job, (void **)&h->items, &h->capitems, h->nitems, sizeof(item)));
        item *it = &h->items[h->nitems];
        memset(it, 0, sizeof(*it));
        it->id = cur_id(&e, ev == 3);
        uint16_t prot = um_cur_be16(&e);
        it->type = um_cur_be32(&e);
        char name[64];
        cur_str(&e, name, sizeof(name));
        if (it->type == FOURCC('m', 'i', 'm', 'e')) {
            cur_str(&e, it->ctype, sizeof(it->ctype));
            if (!e.bad && um_cur_left(&e))
                cur_str(&e, it->cenc, sizeof(it->cenc));
        }
        if (e.bad)
            return um_fail(job, UNMETA_E_MALFORMED, FMT ": item entry at byte %llu is cut short",
                           (unsigned long long)(h->mbase + k->off + k->hdr + pos));
        if (prot)
            return um_fail(job, UNMETA_E_UNSUPPORTED, FMT ": item %u is protected (encrypted items are not supported)",
                           it->id);
        if (find_item(h, it->id))
            return um_fail(job, UNMETA_E_MALFORMED, FMT ": item %u is declared twice", it->id);
        it->infe_off = k->off + k->hdr + pos;
        it->infe_size = (size_t)b.size;
        h->nitems++;
        pos += (size_t)b.size;
    }
    if (pos != n)
        return um_fail(job, UNMETA_E_MALFORMED, FMT ": %zu stray bytes after the item entries", n - pos);
    return 0;
}

/* iloc (14496-12 8.11.3). */
static int parse_iloc(heif *h, child *k)
{
    um_job *job = h->job;
    um_cur c = um_cur_make(h->mb + k->off + k->hdr, k->size - k->hdr);
    uint8_t v = um_cur_u8(&c);
    um_cur_skip(&c, 3);
    uint8_t a = um_cur_u8(&c), b = um_cur_u8(&c);
    unsigned off_sz = a >> 4, len_sz = a & 15, base_sz = b >> 4, idx_sz = v >= 1 ? b & 15 : 0;
    if (c.bad || v > 2)
        return um_fail(job, UNMETA_E_MALFORMED, FMT ": bad 'iloc' box (version %u)", v);
    unsigned sz[4] = { off_sz, len_sz, base_sz, idx_sz };
    for (int i = 0; i < 4; i++)
        if (sz[i] != 0 && sz[i] != 4 && sz[i] != 8)
            return um_fail(job, UNMETA_E_MALFORMED, FMT ": 'iloc' field size %u (0, 4 or 8 allowed)", sz[i]);
    h->iloc_v = v;
    uint32_t count = v < 2 ? um_cur_be16(&c) : um_cur_be32(&c);
    uint64_t fsize = um_reader_size(job->in);
    for (uint32_t i = 0; i < count && !c.bad; i++) {
        UM_TRY(um_job_count_item(job, "item location"));
        uint32_t id = cur_id(&c, v == 2);
        unsigned method = 0;
        if (v >= 1)
            method = um_cur_be16(&c) & 15;
        uint16_t dref = um_cur_be16(&c);
        uint64_t base = cur_uint(&c, base_sz);
        uint16_t nex = um_cur_be16(&c);
        if (c.bad)
            break;
        item *it = find_item(h, id);
        if (!it)
            return um_fail(job, UNMETA_E_MALFORMED, FMT ": 'iloc' locates item %u, which 'iinf' does not declare", id);
        if (it->located)
            return um_fail(job, UNMETA_E_MALFORMED, FMT ": item %u is located twice", id);
        if (method == 2)
            return um_fail(job, UNMETA_E_UNSUPPORTED,
                           FMT ": item %u is built from other items' data (construction method 2, 'iloc' "
                               "references) which is not supported", id);
        if (method > 2)
            return um_fail(job, UNMETA_E_MALFORMED, FMT ": item %u has construction method %u", id, method);
        if (dref)
            return um_fail(job, UNMETA_E_UNSUPPORTED,
                           FMT ": item %u is stored in another file (data reference %u), which is not supported", id,
                           dref);
        it->located = 1;
        it->method = (int)method;
        it->first = h->next;
        it->count = nex;
        for (uint16_t e = 0; e < nex; e++) {
            UM_TRY(um_job_count_item(job, "item extent"));
            (void)cur_uint(&c, idx_sz);
            uint64_t eo = cur_uint(&c, off_sz), el = cur_uint(&c, len_sz), abs = 0, end = 0;
            if (c.bad)
                break;
            if (el == 0)
                return um_fail(job, UNMETA_E_UNSUPPORTED,
                               FMT ": item %u has an extent of length 0 (\"the whole resource\"), which is not "
                                   "supported", id);
            uint64_t limit = method == 0 ? fsize : h->idat_len;
            if (method == 1 && !h->have_idat)
                return um_fail(job, UNMETA_E_MALFORMED, FMT ": item %u is in 'idat', but there is no 'idat'", id);
            if (!um_add_u64(&abs, base, eo) || !um_add_u64(&end, abs, el) || end > limit)
                return um_fail(job, UNMETA_E_TRUNCATED, FMT ": item %u's data (bytes %llu..%llu of %s) is past its end",
                               id, (unsigned long long)abs, (unsigned long long)(abs + el),
                               method == 0 ? "the file" : "'idat'");
            if (!um_add_u64(&it->total, it->total, el))
                return um_fail(job, UNMETA_E_MALFORMED, FMT ": item %u is too large", id);
            UM_TRY(um_grow(job, (void **)&h->ext, &h->capext, h->next, sizeof(extent)));
            h->ext[h->next].off = abs;
            h->ext[h->next].len = el;
            h->next++;
        }
    }
    if (c.bad)
        return um_fail(job, UNMETA_E_MALFORMED, FMT ": 'iloc' box is cut short");
    return 0;
}

/* References whose from-item only serves its to-items (14496-12 8.11.12,
 * 23008-12 6.4.4 and 6.6.3): a thumbnail, an auxiliary image, metadata.
 * In every other reference the from-item needs its to-items ('dimg' grid
 * tiles and overlay layers, 'base', 'prem'...). */
static int is_subordinate_ref(uint32_t t)
{
    return t == FOURCC('t', 'h', 'm', 'b') || t == FOURCC('a', 'u', 'x', 'l') || t == FOURCC('c', 'd', 's', 'c');
}

/* Calls fn for each reference of iref (14496-12 8.11.12). fn may be NULL
 * (validation). out: when not NULL, the references without removed items
 * are written there (rewriting). */
static int walk_iref(heif *h, child *k, buf *out)
{
    um_job *job = h->job;
    const uint8_t *p = h->mb + k->off + k->hdr;
    size_t n = k->size - k->hdr;
    if (n < 4 || p[0] > 1)
        return um_fail(job, UNMETA_E_MALFORMED, FMT ": bad 'iref' box");
    int wide = p[0] == 1;
    size_t pos = 4;
    if (out)
        UM_TRY(put(job, out, p, 4));
    while (pos < n) {
        um_box b;
        char t[5];
        UM_TRY(um_box_parse(job, FMT, p, n, pos, h->mbase + k->off + k->hdr, &b));
        um_cur c = um_cur_make(p + pos + b.hdr, (size_t)b.size - b.hdr);
        uint32_t from = cur_id(&c, wide);
        uint16_t nto = um_cur_be16(&c);
        if (c.bad || um_cur_left(&c) != (size_t)nto * (wide ? 4 : 2))
            return um_fail(job, UNMETA_E_MALFORMED, FMT ": '%s' reference box of %llu bytes", um_fourcc_str(b.type, t),
                           (unsigned long long)b.size);
        item *fi = find_item(h, from);
        if (!out) {
            UM_TRY(um_job_count_item(job, "item reference"));
            if (b.type == FOURCC('c', 'd', 's', 'c')) {
                if (fi)
                    fi->describes = 1;
            } else {
                if (fi)
                    fi->linked = 1;
                if (fi && b.type == FOURCC('a', 'u', 'x', 'l'))
                    fi->aux = 1;
            }
            for (uint16_t i = 0; i < nto; i++) {
                item *ti = find_item(h, cur_id(&c, wide));
                if (ti && b.type != FOURCC('c', 'd', 's', 'c'))
                    ti->linked = 1;
                /* Each pair is kept (classify_aux), so each is counted. */
                UM_TRY(um_job_count_item(job, "item reference"));
                UM_TRY(um_grow(job, (void **)&h->refs, &h->caprefs, h->nrefs, sizeof(ref)));
                h->refs[h->nrefs].type = b.type;
                h->refs[h->nrefs].from = fi ? (size_t)(fi - h->items) : SIZE_MAX;
                h->refs[h->nrefs].to = ti ? (size_t)(ti - h->items) : SIZE_MAX;
                h->nrefs++;
            }
        } else if (!fi || !fi->remove) {
            size_t at, count_at;
            uint16_t kept = 0;
            UM_TRY(box_open(job, out, b.type, &at));
            UM_TRY(put_uint(job, out, from, wide ? 4 : 2));
            count_at = out->n;
            UM_TRY(put_uint(job, out, 0, 2));
            for (uint16_t i = 0; i < nto; i++) {
                uint32_t id = cur_id(&c, wide);
                item *ti = find_item(h, id);
                if (ti && ti->remove) {
                    /* A thumbnail or auxiliary image of several images
                     * loses the removed one; an auxiliary image another
                     * needs was refused by classify_aux. */
                    if (!is_subordinate_ref(b.type))
                        return um_fail(job, UNMETA_E_UNSUPPORTED,
                                       FMT ": item %u needs removed item %u through a '%s' reference", from, id,
                                       um_fourcc_str(b.type, t));
                    continue;
                }
                UM_TRY(put_uint(job, out, id, wide ? 4 : 2));
                kept++;
            }
            if (kept) {
                um_put_be16(out->p + count_at, kept);
                UM_TRY(box_close(job, out, at));
            } else {
                out->n = at;
            }
        }
        pos += (size_t)b.size;
    }
    return 0;
}

/* ipma (23008-12 9.3.2, 14496-12 8.11.14): validation and essential flags
 * (out NULL), or rewriting without removed items and dropped properties. */
static int walk_ipma(heif *h, const uint8_t *p, size_t n, uint64_t abs, buf *out)
{
    um_job *job = h->job;
    um_cur c = um_cur_make(p, n);
    uint8_t v = um_cur_u8(&c);
    um_cur_skip(&c, 2);
    uint8_t flags = um_cur_u8(&c);
    int big = flags & 1;
    uint32_t count = um_cur_be32(&c);
    if (c.bad || v > 1)
        return um_fail(job, UNMETA_E_MALFORMED, FMT ": bad 'ipma' box at byte %llu", (unsigned long long)abs);
    size_t at = 0, count_at = 0;
    uint32_t written = 0;
    if (out) {
        UM_TRY(box_open(job, out, FOURCC('i', 'p', 'm', 'a'), &at));
        UM_TRY(put(job, out, p, 4));
        count_at = out->n;
        UM_TRY(put_uint(job, out, 0, 4));
    }
    for (uint32_t i = 0; i < count; i++) {
        uint32_t id = cur_id(&c, v >= 1);
        uint8_t na = um_cur_u8(&c);
        const uint8_t *as = um_cur_take(&c, (size_t)na * (big ? 2 : 1));
        if (c.bad)
            return um_fail(job, UNMETA_E_MALFORMED, FMT ": 'ipma' box at byte %llu is cut short",
                           (unsigned long long)abs);
        item *it = find_item(h, id);
        if (!out && !h->classified) {
            UM_TRY(um_job_count_item(job, "property association"));
            for (uint8_t j = 0; j < na; j++) {
                uint32_t a = big ? um_be16(as + 2 * j) : as[j];
                uint32_t idx = a & (big ? 0x7fff : 0x7f);
                if (idx > h->nprops)
                    return um_fail(job, UNMETA_E_MALFORMED, FMT ": item %u is associated with property %u of %zu", id,
                                   idx, h->nprops);
                if (!idx || !it || h->props[idx - 1].type != FOURCC('a', 'u', 'x', 'C'))
                    continue;
                /* 23008-12 6.5.8: one auxiliary type per image. */
                if (it->auxc && it->auxc != idx)
                    return um_fail(job, UNMETA_E_MALFORMED, FMT ": item %u has two auxiliary types ('auxC')", id);
                it->auxc = idx;
            }
            continue;
        }
        if (!out) {
            for (uint8_t j = 0; j < na; j++) {
                uint32_t a = big ? um_be16(as + 2 * j) : as[j];
                uint32_t idx = a & (big ? 0x7fff : 0x7f);
                int ess = (a >> (big ? 15 : 7)) & 1;
                if (!idx)
                    continue;
                /* Only the associations that stay count: a property kept
                 * for an item that is removed would be dropped on a second
                 * pass (strip must be idempotent). */
                if (it && it->remove) {
                    h->props[idx - 1].gone_use = 1;
                } else {
                    h->props[idx - 1].kept_use = 1;
                    if (ess)
                        h->props[idx - 1].essential = 1;
                }
            }
            continue;
        }
        if (it && it->remove)
            continue;
        uint8_t keep[255 * 2];
        uint8_t nk = 0;
        for (uint8_t j = 0; j < na; j++) {
            uint32_t a = big ? um_be16(as + 2 * j) : as[j];
            uint32_t idx = a & (big ? 0x7fff : 0x7f);
            uint32_t ess = a & (big ? 0x8000 : 0x80);
            if (idx) {
                if (h->props[idx - 1].drop)
                    continue;
                idx = h->props[idx - 1].renum;
            }
            if (big)
                um_put_be16(keep + 2 * nk, (uint16_t)(ess | idx));
            else
                keep[nk] = (uint8_t)(ess | idx);
            nk++;
        }
        UM_TRY(put_uint(job, out, id, v >= 1 ? 4 : 2));
        UM_TRY(put_uint(job, out, nk, 1));
        UM_TRY(put(job, out, keep, (size_t)nk * (big ? 2 : 1)));
        written++;
    }
    if (um_cur_left(&c))
        return um_fail(job, UNMETA_E_MALFORMED, FMT ": %zu stray bytes in 'ipma'", um_cur_left(&c));
    if (out) {
        um_put_be32(out->p + count_at, written);
        UM_TRY(box_close(job, out, at));
    }
    return 0;
}

/* Finds ipco and the ipma boxes in iprp; calls walk_ipma on each. */
static int walk_iprp(heif *h, child *k, buf *out)
{
    um_job *job = h->job;
    const uint8_t *p = h->mb + k->off + k->hdr;
    size_t n = k->size - k->hdr, pos = 0;
    uint64_t base = h->mbase + k->off + k->hdr;
    while (pos < n) {
        um_box b;
        char t[5];
        UM_TRY(um_box_parse(job, FMT, p, n, pos, base, &b));
        const uint8_t *v = p + pos + b.hdr;
        size_t vn = (size_t)b.size - b.hdr;
        if (b.type == FOURCC('i', 'p', 'c', 'o')) {
            if (out) {
                size_t at;
                UM_TRY(box_open(job, out, b.type, &at));
                for (size_t i = 0; i < h->nprops; i++)
                    if (!h->props[i].drop)
                        UM_TRY(put(job, out, h->mb + h->props[i].off, h->props[i].size));
                UM_TRY(box_close(job, out, at));
            }
        } else if (b.type == FOURCC('i', 'p', 'm', 'a')) {
            UM_TRY(walk_ipma(h, v, vn, base + pos, out));
        } else if (!out && !h->classified) {
            um_box r = b;
            r.off += base;
            UM_TRY(report_box(h, &r, "iprp "));
        }
        (void)t;
        pos += (size_t)b.size;
    }
    return 0;
}

/* Lists the properties of ipco; decides which to drop once the
 * associations are known (see decide_props). */
static int parse_ipco(heif *h, child *k)
{
    um_job *job = h->job;
    const uint8_t *p = h->mb + k->off + k->hdr;
    size_t n = k->size - k->hdr, pos = 0, ipco = 0, seen = 0;
    uint64_t base = h->mbase + k->off + k->hdr;
    while (pos < n) {
        um_box b;
        UM_TRY(um_box_parse(job, FMT, p, n, pos, base, &b));
        if (b.type == FOURCC('i', 'p', 'c', 'o')) {
            if (seen++)
                return um_fail(job, UNMETA_E_MALFORMED, FMT ": two property containers ('ipco')");
            ipco = pos;
            const uint8_t *v = p + pos + b.hdr;
            size_t vn = (size_t)b.size - b.hdr, q = 0;
            while (q < vn) {
                um_box pb;
                UM_TRY(um_box_parse(job, FMT, v, vn, q, base + pos + b.hdr, &pb));
                UM_TRY(um_job_count_item(job, "item property"));
                UM_TRY(um_grow(job, (void **)&h->props, &h->capprops, h->nprops, sizeof(prop)));
                prop *pr = &h->props[h->nprops++];
                memset(pr, 0, sizeof(*pr));
                pr->type = pb.type;
                pr->off = k->off + k->hdr + pos + b.hdr + q;
                pr->size = (size_t)pb.size;
                pr->hdr = pb.hdr;
                q += (size_t)pb.size;
            }
        }
        pos += (size_t)b.size;
    }
    (void)ipco;
    if (!seen)
        return um_fail(job, UNMETA_E_MALFORMED, FMT ": 'iprp' without a property container ('ipco')");
    if (h->nprops > 0x7fff)
        return um_fail(job, UNMETA_E_LIMIT, FMT ": more than 32767 item properties");
    return 0;
}

/* Neutralises or drops ICC profiles, drops what describes people or times
 * and non-essential unknown properties; numbers the rest. */
static int decide_props(heif *h)
{
    um_job *job = h->job;
    uint32_t next = 1;
    for (size_t i = 0; i < h->nprops; i++) {
        prop *pr = &h->props[i];
        uint8_t *v = h->mb + pr->off + pr->hdr;
        size_t vn = pr->size - pr->hdr;
        char t[5], kind[48];
        um_fourcc_str(pr->type, t);
        snprintf(kind, sizeof(kind), "property '%s'", t);
        uint64_t abs = h->mbase + pr->off;
        if (pr->gone_use && !pr->kept_use) {
            /* Only removed items (an auxiliary image, say) use it: it goes
             * with them, reported as part of them. */
            pr->drop = 1;
        } else if (pr->type == FOURCC('c', 'o', 'l', 'r') && vn >= 4 &&
            (um_be32(v) == FOURCC('p', 'r', 'o', 'f') || um_be32(v) == FOURCC('r', 'I', 'C', 'C'))) {
            if (job->ctx->icc_mode == UNMETA_ICC_STRIP) {
                int blk = um_report_block(job, "ICC profile", abs, pr->size, UNMETA_ACTION_REMOVE);
                UM_TRY(blk);
                UM_TRY(um_report_finding(job, blk, UNMETA_CAT_DEVICE, "ICCProfile", "%zu bytes (dropped)", vn - 4));
                pr->drop = 1;
            } else {
                int changed = 0;
                int blk = um_report_block(job, "ICC profile", abs, pr->size, UNMETA_ACTION_KEEP);
                UM_TRY(blk);
                UM_TRY(um_icc_neutralise(job, blk, v + 4, vn - 4, &changed));
                if (changed)
                    um_report_block_action(job, blk, UNMETA_ACTION_REWRITE);
            }
        } else if (pr->type == FOURCC('u', 'd', 'e', 's')) {
            int blk = um_report_block(job, kind, abs, pr->size, UNMETA_ACTION_REMOVE);
            UM_TRY(blk);
            UM_TRY(um_report_finding(job, blk, UNMETA_CAT_PEOPLE, "UserDescription", "%zu bytes", vn));
            pr->drop = 1;
        } else if (pr->type == FOURCC('c', 'r', 't', 't') || pr->type == FOURCC('m', 'd', 'f', 't')) {
            int blk = um_report_block(job, kind, abs, pr->size, UNMETA_ACTION_REMOVE);
            UM_TRY(blk);
            UM_TRY(um_report_finding(job, blk, UNMETA_CAT_TIME,
                                     pr->type == FOURCC('c', 'r', 't', 't') ? "CreationTime" : "ModificationTime",
                                     "%zu bytes", vn));
            pr->drop = 1;
        } else if (!is_render_prop(pr->type) && !pr->essential) {
            int blk = um_report_block(job, kind, abs, pr->size, UNMETA_ACTION_REMOVE);
            UM_TRY(blk);
            if (!((pr->type == FOURCC('f', 'r', 'e', 'e') || pr->type == FOURCC('s', 'k', 'i', 'p')) &&
                  um_all_zero(v, vn)))
                UM_TRY(um_report_finding(job, blk, UNMETA_CAT_OTHER, "Property", "'%s', %zu bytes", t, vn));
            pr->drop = 1;
        }
        if (!pr->drop)
            pr->renum = next++;
    }
    return 0;
}

/* ---- items -------------------------------------------------------------- */

/* Reads an item's bytes into memory (for the report). */
static int item_bytes(heif *h, const item *it, uint8_t **out)
{
    um_job *job = h->job;
    if (it->total > job->ctx->limits.max_block)
        return um_fail(job, UNMETA_E_LIMIT, FMT ": item %u of %llu bytes is larger than the block limit (UNMETA_OPT_MAX_BLOCK_SIZE)", it->id,
                       (unsigned long long)it->total);
    uint8_t *p = um_malloc(job, it->total ? (size_t)it->total : 1);
    if (!p)
        return job->err;
    size_t at = 0;
    for (size_t i = 0; i < it->count; i++) {
        const extent *e = &h->ext[it->first + i];
        if (it->method == 1) {
            memcpy(p + at, h->mb + h->idat_off + e->off, (size_t)e->len);
        } else {
            int rc = um_read_at(job, e->off, p + at, (size_t)e->len);
            if (rc < 0) {
                free(p);
                return rc;
            }
        }
        at += (size_t)e->len;
    }
    *out = p;
    return 0;
}

static int ci_prefix(const char *s, const char *prefix)
{
    for (; *prefix; s++, prefix++) {
        char a = *s >= 'A' && *s <= 'Z' ? (char)(*s + 32) : *s;
        if (a != *prefix)
            return 0;
    }
    return 1;
}

/* Where an item's first byte is, for the report (0 without data). */
static uint64_t item_off(const heif *h, const item *it)
{
    if (!it->count)
        return 0;
    return it->method == 1 ? h->mbase + h->idat_off + h->ext[it->first].off : h->ext[it->first].off;
}

/* Reports a removed metadata item and what it holds. */
static int report_item(heif *h, const item *it)
{
    um_job *job = h->job;
    char t[5], kind[64];
    int exif = it->type == FOURCC('E', 'x', 'i', 'f');
    int xmp = it->type == FOURCC('m', 'i', 'm', 'e') && ci_prefix(it->ctype, "application/rdf+xml");
    uint64_t off = item_off(h, it);
    if (exif)
        snprintf(kind, sizeof(kind), "Exif item %u", it->id);
    else if (xmp)
        snprintf(kind, sizeof(kind), "XMP item %u", it->id);
    else if (it->type == FOURCC('m', 'i', 'm', 'e'))
        snprintf(kind, sizeof(kind), "mime item %u", it->id);
    else
        snprintf(kind, sizeof(kind), "item %u '%s'", it->id, um_fourcc_str(it->type, t));
    int blk = um_report_block(job, kind, off, it->total, UNMETA_ACTION_REMOVE);
    UM_TRY(blk);
    if ((!exif && !xmp) || it->cenc[0] || it->total > job->ctx->limits.max_block) {
        if (it->type == FOURCC('m', 'i', 'm', 'e'))
            return um_report_finding(job, blk, UNMETA_CAT_OTHER, xmp ? "XMP" : "MimeItem",
                                     "%s%s%s, %llu bytes", it->ctype, it->cenc[0] ? ", encoded as " : "", it->cenc,
                                     (unsigned long long)it->total);
        return um_report_finding(job, blk, UNMETA_CAT_OTHER, exif ? "Exif" : "MetadataItem",
                                 "'%s' item, %llu bytes", um_fourcc_str(it->type, t), (unsigned long long)it->total);
    }
    uint8_t *p = NULL;
    UM_TRY(item_bytes(h, it, &p));
    int rc;
    if (exif) {
        /* 23008-12 A.2.1: a 32-bit offset from after it to the TIFF header
         * (often past an "Exif\0\0" identifier). */
        uint64_t n = it->total;
        uint32_t skip = n >= 4 ? um_be32(p) : 0;
        if (n < 4 || skip > n - 4) {
            rc = um_report_finding(job, blk, UNMETA_CAT_OTHER, "Exif", "damaged item (%llu bytes)",
                                   (unsigned long long)n);
        } else {
            um_exif_info info;
            rc = um_exif_scan(job, blk, p + 4 + skip, (size_t)(n - 4 - skip), &info);
            if (rc >= 0 && !info.private_tags)
                rc = um_report_finding(job, blk, UNMETA_CAT_OTHER, "Exif", "rendering tags only, %llu bytes",
                                       (unsigned long long)n);
        }
    } else {
        rc = um_xmp_scan(job, blk, p, (size_t)it->total);
    }
    free(p);
    return rc;
}

/* Auxiliary image types (23008-12 6.5.8 'auxC'; 23002-7 and 23091-2 URNs;
 * HEVC auxiliary picture ids, 23008-2 F.7.4.3.2; Apple's own URNs). Only
 * what renders is kept: alpha planes and HDR gain maps. Depth maps stay on
 * request (UNMETA_OPT_KEEP_DEPTH); segmentation mattes and every type not
 * listed here are removed, since no renderer needs an auxiliary image it
 * does not know, unless a kept image is derived from it (the gain-map input
 * of a 'tmap', the one way an unknown auxiliary image is drawn). */
enum { AUX_RENDER, AUX_DEPTH, AUX_MATTE };

static const struct {
    const char *urn;
    const char *kind;  /* the finding's name */
    int use;           /* AUX_* */
} aux_types[] = {
    { "urn:mpeg:mpegB:cicp:systems:auxiliary:alpha", "Alpha", AUX_RENDER },
    { "urn:mpeg:hevc:2015:auxid:1", "Alpha", AUX_RENDER },
    { "urn:com:apple:photo:2020:aux:hdrgainmap", "HDRGainMap", AUX_RENDER },
    { "urn:com:samsung:photo:2024:aux:hdrgainmap", "HDRGainMap", AUX_RENDER },
    { "urn:mpeg:mpegB:cicp:systems:auxiliary:depth", "DepthMap", AUX_DEPTH },
    { "urn:mpeg:hevc:2015:auxid:2", "DepthMap", AUX_DEPTH },
    { "urn:com:apple:photo:2018:aux:portraiteffectsmatte", "PortraitEffectsMatte", AUX_MATTE },
    { "urn:com:apple:photo:2019:aux:semanticskinmatte", "SkinMatte", AUX_MATTE },
    { "urn:com:apple:photo:2019:aux:semantichairmatte", "HairMatte", AUX_MATTE },
    { "urn:com:apple:photo:2019:aux:semanticteethmatte", "TeethMatte", AUX_MATTE },
    { "urn:com:apple:photo:2020:aux:semanticskymatte", "SkyMatte", AUX_MATTE },
    { "urn:com:apple:photo:2020:aux:semanticglassesmatte", "GlassesMatte", AUX_MATTE },
    /* Named for the report; removed like any type not needed to render:
     * an edit's undo data and a second thumbnail. */
    { "tag:apple.com,2023:photo:aux:styledeltamap", "StyleDeltaMap", AUX_MATTE },
    { "tag:apple.com,2023:photo:aux:linearthumbnail", "LinearThumbnail", AUX_MATTE },
};

/* The aux_type of property idx ('auxC': version, flags, a NUL-terminated
 * URN, then subtype bytes) into urn. */
static int aux_urn(heif *h, uint32_t idx, char *urn, size_t cap)
{
    const prop *pr = &h->props[idx - 1];
    um_cur c = um_cur_make(h->mb + pr->off + pr->hdr, pr->size - pr->hdr);
    um_cur_skip(&c, 4);
    cur_str(&c, urn, cap);
    if (c.bad)
        return um_fail(h->job, UNMETA_E_MALFORMED, FMT ": auxiliary type property ('auxC') at byte %llu is cut short",
                       (unsigned long long)(h->mbase + pr->off));
    return 0;
}

/* Decides which auxiliary images go (it->kind names them), then what goes
 * with them: the thumbnails, auxiliary images and metadata of a removed
 * image, and the inputs (grid tiles...) of a removed derived image that
 * nothing kept uses. Each round removes one more level, so rounds are
 * bounded by limits.max_depth. */
static int classify_aux(heif *h)
{
    um_job *job = h->job;
    char urn[128], t[5];
    uint8_t *kept_to = NULL, *needed = NULL;
    int rc = 0;
    /* drawn[i]: an image that is neither metadata nor an auxiliary image is
     * derived from item i ('dimg' and the other references in which the
     * from-item needs its to-items). */
    uint8_t *drawn = um_calloc(job, h->nitems ? h->nitems : 1, 1);
    if (!drawn)
        return job->err;
    for (size_t r = 0; r < h->nrefs; r++) {
        const ref *f = &h->refs[r];
        if (f->from == SIZE_MAX || f->to == SIZE_MAX || is_subordinate_ref(f->type))
            continue;
        const item *by = &h->items[f->from];
        if (!by->remove && !by->aux && !by->auxc)
            drawn[f->to] = 1;
    }
    for (size_t i = 0; i < h->nitems; i++) {
        item *it = &h->items[i];
        if (it->remove || (!it->aux && !it->auxc))
            continue;
        urn[0] = '\0';
        if (it->auxc)
            UM_TRY_GOTO(rc, aux_urn(h, it->auxc, urn, sizeof(urn)), done);
        int use = AUX_MATTE;
        it->kind = "AuxiliaryImage";
        for (size_t k = 0; k < sizeof(aux_types) / sizeof(aux_types[0]); k++)
            if (!strcmp(urn, aux_types[k].urn)) {
                use = aux_types[k].use;
                it->kind = aux_types[k].kind;
            }
        if (use == AUX_MATTE && drawn[i] && !strcmp(it->kind, "AuxiliaryImage"))
            use = AUX_RENDER;
        if (use == AUX_RENDER || (use == AUX_DEPTH && job->ctx->keep_depth)) {
            if (use == AUX_DEPTH) {
                /* Kept on request, still a second picture of the scene. */
                int blk = um_report_block(job, "auxiliary image", item_off(h, it), it->total, UNMETA_ACTION_KEEP);
                UM_TRY_GOTO(rc, blk, done);
                UM_TRY_GOTO(rc, um_report_finding(job, blk, UNMETA_CAT_EMBEDDED, it->kind,
                                                  "item %u, %s, %llu bytes (kept)", it->id, urn,
                                                  (unsigned long long)it->total),
                            done);
            }
            it->kind = NULL;
            continue;
        }
        if (it->id == h->primary) {
            rc = um_fail(job, UNMETA_E_UNSUPPORTED, FMT ": the primary item %u is an auxiliary image (%s)", it->id,
                         urn[0] ? urn : "no type");
            goto done;
        }
        it->remove = 1;
        int blk = um_report_block(job, "auxiliary image", item_off(h, it), it->total, UNMETA_ACTION_REMOVE);
        UM_TRY_GOTO(rc, blk, done);
        UM_TRY_GOTO(rc, um_report_finding(job, blk, UNMETA_CAT_EMBEDDED, it->kind, "item %u, %s, %llu bytes", it->id,
                                          urn[0] ? urn : "no type ('auxC')", (unsigned long long)it->total),
                    done);
    }
    for (uint32_t round = 0;; round++) {
        size_t removed = 0;
        free(kept_to);
        free(needed);
        kept_to = um_calloc(job, h->nitems ? h->nitems : 1, 1); /* serves a kept item */
        needed = um_calloc(job, h->nitems ? h->nitems : 1, 1);  /* a kept item needs it */
        if (!kept_to || !needed) {
            rc = job->err;
            goto done;
        }
        for (size_t r = 0; r < h->nrefs; r++) {
            const ref *f = &h->refs[r];
            if (f->from == SIZE_MAX || f->to == SIZE_MAX || f->type == FOURCC('c', 'd', 's', 'c'))
                continue;
            if (is_subordinate_ref(f->type) && !h->items[f->to].remove)
                kept_to[f->from] = 1;
            if (!is_subordinate_ref(f->type) && !h->items[f->from].remove)
                needed[f->to] = 1;
        }
        for (size_t r = 0; r < h->nrefs; r++) {
            const ref *f = &h->refs[r];
            if (f->from == SIZE_MAX || f->to == SIZE_MAX || f->type == FOURCC('c', 'd', 's', 'c'))
                continue;
            /* A thumbnail or auxiliary image of removed images only; an
             * input of a removed image that nothing kept uses. */
            item *x = NULL, *by = NULL;
            if (is_subordinate_ref(f->type) && h->items[f->to].remove && !kept_to[f->from]) {
                x = &h->items[f->from];
                by = &h->items[f->to];
            } else if (!is_subordinate_ref(f->type) && h->items[f->from].remove && !needed[f->to] &&
                       !kept_to[f->to]) {
                x = &h->items[f->to];
                by = &h->items[f->from];
            }
            if (!x || x->remove || x->id == h->primary)
                continue;
            x->remove = 1;
            x->along = by->along ? by->along : by->id;
            removed++;
            char kind[64];
            snprintf(kind, sizeof(kind), "item %u '%s' of item %u", x->id, um_fourcc_str(x->type, t), x->along);
            int blk = um_report_block(job, kind, item_off(h, x), x->total, UNMETA_ACTION_REMOVE);
            UM_TRY_GOTO(rc, blk, done);
            /* Tiles and thumbnails of an auxiliary image are part of it: its
             * finding says what it was; metadata finds its own words. */
            if (!is_image_type(x->type))
                UM_TRY_GOTO(rc, um_report_finding(job, blk, UNMETA_CAT_EMBEDDED, "AuxiliaryData",
                                                  "'%s' item %u of removed item %u, %llu bytes", t, x->id, x->along,
                                                  (unsigned long long)x->total),
                            done);
        }
        if (!removed)
            break;
        if (round >= job->ctx->limits.max_depth) {
            rc = um_fail(job, UNMETA_E_LIMIT, FMT ": items removed with an auxiliary image nest deeper than %u "
                                              "(UNMETA_OPT_MAX_DEPTH)", job->ctx->limits.max_depth);
            goto done;
        }
    }
    /* A kept image must not need a removed one (a matte as a grid tile of
     * the primary image would be): refuse rather than break the picture. */
    for (size_t r = 0; r < h->nrefs; r++) {
        const ref *f = &h->refs[r];
        if (f->from == SIZE_MAX || f->to == SIZE_MAX || is_subordinate_ref(f->type))
            continue;
        const item *a = &h->items[f->from], *b = &h->items[f->to];
        if (!a->remove && b->remove && (b->kind || b->along)) {
            rc = um_fail(job, UNMETA_E_UNSUPPORTED,
                         FMT ": item %u needs item %u through a '%s' reference, and item %u is %s%s that strip "
                             "removes", a->id, b->id, um_fourcc_str(f->type, t), b->id,
                         b->kind ? "an auxiliary image, " : "part of an auxiliary image", b->kind ? b->kind : "");
            goto done;
        }
    }
done:
    free(drawn);
    free(kept_to);
    free(needed);
    return rc;
}

static int classify(heif *h)
{
    um_job *job = h->job;
    char t[5];
    item *pi = find_item(h, h->primary);
    if (!pi)
        return um_fail(job, UNMETA_E_MALFORMED, FMT ": the primary item %u is not declared", h->primary);
    for (size_t i = 0; i < h->nitems; i++) {
        item *it = &h->items[i];
        switch (it->type) {
        case FOURCC('E', 'x', 'i', 'f'):
        case FOURCC('m', 'i', 'm', 'e'):
        case FOURCC('u', 'r', 'i', ' '):
            it->remove = 1;
            break;
        default:
            it->remove = it->describes || (!is_image_type(it->type) && !it->linked && it != pi);
            break;
        }
        if (it->remove && it == pi)
            return um_fail(job, UNMETA_E_UNSUPPORTED, FMT ": the primary item %u is a '%s' metadata item", it->id,
                           um_fourcc_str(it->type, t));
        if (it->remove)
            UM_TRY(report_item(h, it));
    }
    return classify_aux(h);
}

static int cmp_range(const void *a, const void *b)
{
    const range *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off ? 1 : x->len < y->len ? -1 : x->len > y->len;
}

/* True when [off, off+len) lies inside the payload of one 'mdat' box.
 * h->mdats is in file order (the top-level walk), so sorted and disjoint. */
static int in_mdat(const heif *h, uint64_t off, uint64_t len)
{
    size_t lo = 0, hi = h->nmdats;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->mdats[mid].off + h->mdats[mid].size <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == h->nmdats)
        return 0;
    const um_box *b = &h->mdats[lo];
    uint64_t start = b->off + b->hdr, end = b->off + b->size;
    return off >= start && off <= end && len <= end - off;
}

/* Lists the chunks of the movie's tracks once (h->tr), with out 0 for kept
 * tracks and 1 for removed ones. */
static int list_tracks(heif *h)
{
    um_job *job = h->job;
    um_movie_range *k = NULL;
    size_t nk = 0, capk = 0, nz = 0;
    int rc = 0;
    UM_TRY_GOTO(rc, um_movie_kept(h->mv, &k, &nk, &capk), done);
    const um_movie_range *z = um_movie_removed(h->mv, &nz);
    for (size_t i = 0; i < nk + nz; i++) {
        const um_movie_range *x = i < nk ? &k[i] : &z[i - nk];
        UM_TRY_GOTO(rc, um_grow(job, (void **)&h->tr, &h->captr, h->ntr, sizeof(range)), done);
        h->tr[h->ntr].off = x->off;
        h->tr[h->ntr].len = x->len;
        h->tr[h->ntr].out = i >= nk;
        h->ntr++;
    }
done:
    free(k);
    return rc;
}

/* Appends h->tr to *list. */
static int track_ranges(heif *h, range **list, size_t *n, size_t *cap)
{
    for (size_t i = 0; i < h->ntr; i++) {
        UM_TRY(um_grow(h->job, (void **)list, cap, *n, sizeof(range)));
        (*list)[(*n)++] = h->tr[i];
    }
    return 0;
}

/* Merges the extents of kept items (method m) into sorted, disjoint
 * ranges with their output offsets; refuses removed bytes inside them.
 * File extents (method 0) of kept items must lie in an 'mdat': anywhere
 * else (a 'free' or unknown top-level box, the meta box itself) they share
 * bytes with a structure that strip drops and reports as removed, and
 * copying them would carry that structure's bytes into the output. The
 * same holds for removed items: their bytes elsewhere (inside 'ftyp', say)
 * belong to a structure that is kept, and a report that called them
 * removed would be false. With a movie, the file ranges also hold the
 * chunks of the kept tracks, and the removed tracks' chunks are dropped
 * like removed items' bytes: items and tracks may share one 'mdat'. */
static int plan_ranges(heif *h, int m, range **out, size_t *nout, size_t *cap, uint64_t *total)
{
    um_job *job = h->job;
    range *r = NULL, *gone = NULL;
    size_t nr = 0, capr = 0, ng = 0, capg = 0;
    int rc = 0;
    for (size_t i = 0; i < h->nitems; i++) {
        item *it = &h->items[i];
        if (!it->located || it->method != m)
            continue;
        for (size_t e = 0; e < it->count; e++) {
            const extent *x = &h->ext[it->first + e];
            if (m == 0 && !in_mdat(h, x->off, x->len)) {
                rc = um_fail(job, UNMETA_E_UNSUPPORTED,
                             FMT ": item %u has data at bytes %llu..%llu, outside every 'mdat' box", it->id,
                             (unsigned long long)x->off, (unsigned long long)(x->off + x->len));
                goto done;
            }
            range **dst = it->remove ? &gone : &r;
            size_t *nd = it->remove ? &ng : &nr, *cd = it->remove ? &capg : &capr;
            UM_TRY_GOTO(rc, um_grow(job, (void **)dst, cd, *nd, sizeof(range)), done);
            (*dst)[*nd].off = h->ext[it->first + e].off;
            (*dst)[*nd].len = h->ext[it->first + e].len;
            (*dst)[*nd].out = 0;
            (*nd)++;
        }
    }
    if (m == 0) {
        range *t = NULL;
        size_t nt = 0, capt = 0;
        rc = track_ranges(h, &t, &nt, &capt);
        for (size_t i = 0; i < nt && rc >= 0; i++) {
            int gone_ = t[i].out != 0;
            if (!in_mdat(h, t[i].off, t[i].len)) {
                rc = um_fail(job, UNMETA_E_UNSUPPORTED,
                             FMT ": a track has samples at bytes %llu..%llu, outside every 'mdat' box",
                             (unsigned long long)t[i].off, (unsigned long long)(t[i].off + t[i].len));
                break;
            }
            range **dst = gone_ ? &gone : &r;
            size_t *nd = gone_ ? &ng : &nr, *cd = gone_ ? &capg : &capr;
            rc = um_grow(job, (void **)dst, cd, *nd, sizeof(range));
            if (rc >= 0) {
                (*dst)[*nd] = t[i];
                (*dst)[*nd].out = (uint64_t)gone_; /* in gone, 1 marks a track's samples */
                (*nd)++;
            }
        }
        free(t);
        if (rc < 0)
            goto done;
    }
    if (nr)
        qsort(r, nr, sizeof(range), cmp_range);
    *nout = 0;
    uint64_t at = 0;
    for (size_t i = 0; i < nr; i++) {
        if (*nout && r[i].off <= (*out)[*nout - 1].off + (*out)[*nout - 1].len) {
            range *last = &(*out)[*nout - 1];
            uint64_t end = r[i].off + r[i].len;
            if (end > last->off + last->len) {
                at += end - (last->off + last->len);
                last->len = end - last->off;
            }
            continue;
        }
        UM_TRY_GOTO(rc, um_grow(job, (void **)out, cap, *nout, sizeof(range)), done);
        (*out)[*nout] = r[i];
        (*out)[*nout].out = at;
        at += r[i].len;
        (*nout)++;
    }
    /* Both lists sorted, the kept one disjoint: one sweep finds overlaps. */
    if (ng)
        qsort(gone, ng, sizeof(range), cmp_range);
    for (size_t g = 0, i = 0; g < ng && i < *nout;) {
        range *k = &(*out)[i];
        if (gone[g].off + gone[g].len <= k->off) {
            g++;
        } else if (k->off + k->len <= gone[g].off) {
            i++;
        } else {
            rc = um_fail(job, UNMETA_E_MALFORMED, FMT ": %s bytes %llu.. with %s",
                         gone[g].out ? "the samples of a removed track share" : "a removed item shares",
                         (unsigned long long)(gone[g].off > k->off ? gone[g].off : k->off),
                         h->mv ? "kept image or track data" : "kept image data");
            goto done;
        }
    }
    *total = at;
done:
    free(r);
    free(gone);
    return rc;
}

/* The output offset of input offset off in ranges r (it is in one). */
static uint64_t map_off(const range *r, size_t n, uint64_t off)
{
    size_t lo = 0, hi = n;
    while (lo + 1 < hi) {
        size_t mid = (lo + hi) / 2;
        if (r[mid].off <= off)
            lo = mid;
        else
            hi = mid;
    }
    return r[lo].out + (off - r[lo].off);
}

/* Reports bytes of the mdat boxes and idat that no item uses, when they
 * are not zero: what they held is dropped. */
static int report_unused(heif *h)
{
    um_job *job = h->job;
    range *all = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (size_t i = 0; i < h->nitems; i++) {
        item *it = &h->items[i];
        if (!it->located || it->method != 0)
            continue;
        for (size_t e = 0; e < it->count; e++) {
            UM_TRY_GOTO(rc, um_grow(job, (void **)&all, &cap, n, sizeof(range)), done);
            all[n].off = h->ext[it->first + e].off;
            all[n].len = h->ext[it->first + e].len;
            all[n].out = 0;
            n++;
        }
    }
    /* Track samples are used too; the removed tracks' are dropped. */
    UM_TRY_GOTO(rc, track_ranges(h, &all, &n, &cap), done);
    if (n)
        qsort(all, n, sizeof(range), cmp_range);
    for (size_t m = 0; m < h->nmdats; m++) {
        um_box *b = &h->mdats[m];
        uint64_t pos = b->off + b->hdr, end = b->off + b->size, unused = 0;
        int data = 0, dropped = 0; /* removed tracks' samples: rewritten, not unknown data */
        for (size_t i = 0; i < n; i++)
            dropped |= all[i].out && all[i].off < end && all[i].off + all[i].len > pos;
        size_t i = 0;
        while (pos < end) {
            while (i < n && all[i].off + all[i].len <= pos)
                i++;
            if (i < n && all[i].off <= pos) {
                pos = all[i].off + all[i].len;
                continue;
            }
            uint64_t stop = i < n && all[i].off < end ? all[i].off : end;
            unused += stop - pos;
            while (pos < stop && !data) {
                const uint8_t *p;
                size_t avail;
                UM_TRY_GOTO(rc, um_reader_peek(job, pos, &p, &avail), done);
                if (!avail) {
                    rc = um_fail(job, UNMETA_E_TRUNCATED, FMT ": 'mdat' is cut short");
                    goto done;
                }
                if (avail > stop - pos)
                    avail = (size_t)(stop - pos);
                data = !um_all_zero(p, avail);
                pos += avail;
            }
            pos = stop;
        }
        int blk = um_report_block(job, "mdat", b->off, b->size, unused || dropped ? UNMETA_ACTION_REWRITE
                                                                            : UNMETA_ACTION_KEEP);
        UM_TRY_GOTO(rc, blk, done);
        if (data)
            UM_TRY_GOTO(rc, um_report_finding(job, blk, UNMETA_CAT_OTHER, "UnusedData",
                                              "%llu bytes no item uses", (unsigned long long)unused),
                        done);
    }
    if (h->have_idat) {
        uint64_t covered = 0;
        uint8_t *used = um_calloc(job, h->idat_len ? h->idat_len : 1, 1);
        if (!used) {
            rc = job->err;
            goto done;
        }
        for (size_t i = 0; i < h->nitems; i++) {
            item *it = &h->items[i];
            if (!it->located || it->method != 1)
                continue;
            for (size_t e = 0; e < it->count; e++)
                memset(used + h->ext[it->first + e].off, 1, (size_t)h->ext[it->first + e].len);
        }
        int data = 0;
        for (size_t i = 0; i < h->idat_len; i++) {
            covered += used[i];
            data |= !used[i] && h->mb[h->idat_off + i];
        }
        free(used);
        if (data) {
            int blk = um_report_block(job, "idat", h->mbase + h->idat_off - 8, h->idat_len + 8,
                                      UNMETA_ACTION_REWRITE);
            UM_TRY_GOTO(rc, blk, done);
            UM_TRY_GOTO(rc, um_report_finding(job, blk, UNMETA_CAT_OTHER, "UnusedData", "%llu bytes no item uses",
                                              (unsigned long long)(h->idat_len - covered)),
                        done);
        }
    }
done:
    free(all);
    return rc;
}

/* dinf (8.7.1-8.7.2): items all use data reference 0 (this file, checked in
 * parse_iloc), so entries naming other files only say where files were:
 * such a dinf is dropped and reported. */
static int check_dinf(heif *h, child *k)
{
    um_job *job = h->job;
    const uint8_t *p = h->mb + k->off + k->hdr;
    size_t n = k->size - k->hdr, pos = 0;
    uint64_t base = h->mbase + k->off + k->hdr;
    int located = 0;
    while (pos < n) {
        um_box b;
        UM_TRY(um_box_parse(job, FMT, p, n, pos, base, &b));
        const uint8_t *v = p + pos + b.hdr;
        size_t vn = (size_t)b.size - b.hdr, q = 8;
        if (b.type != FOURCC('d', 'r', 'e', 'f') || vn < 8) {
            located = 1;
        } else {
            while (q < vn) {
                um_box e;
                UM_TRY(um_box_parse(job, FMT, v, vn, q, base + pos + b.hdr, &e));
                /* Self-contained: flags bit 1 and no location string. */
                if (e.size - e.hdr != 4 || !(v[q + e.hdr + 3] & 1))
                    located = 1;
                q += (size_t)e.size;
            }
        }
        pos += (size_t)b.size;
    }
    if (!located)
        return 0;
    k->drop = 1;
    int blk = um_report_block(job, "meta dinf", h->mbase + k->off, k->size, UNMETA_ACTION_REMOVE);
    UM_TRY(blk);
    return um_report_finding(job, blk, UNMETA_CAT_OTHER, "DataReference", "names other files, %zu bytes", n);
}

/* grpl (8.18.3): entity groups must not name a removed item. */
static int check_grpl(heif *h, child *k)
{
    um_job *job = h->job;
    const uint8_t *p = h->mb + k->off + k->hdr;
    size_t n = k->size - k->hdr, pos = 0;
    while (pos < n) {
        um_box b;
        char t[5];
        UM_TRY(um_box_parse(job, FMT, p, n, pos, h->mbase + k->off + k->hdr, &b));
        um_cur c = um_cur_make(p + pos + b.hdr, (size_t)b.size - b.hdr);
        um_cur_skip(&c, 8); /* version, flags, group_id */
        uint32_t count = um_cur_be32(&c);
        if (c.bad || count > um_cur_left(&c) / 4)
            return um_fail(job, UNMETA_E_MALFORMED, FMT ": entity group '%s' is cut short", um_fourcc_str(b.type, t));
        for (uint32_t i = 0; i < count; i++) {
            item *it = find_item(h, um_cur_be32(&c));
            if (it && it->remove)
                return um_fail(job, UNMETA_E_UNSUPPORTED, FMT ": entity group '%s' holds removed item %u",
                               um_fourcc_str(b.type, t), it->id);
        }
        pos += (size_t)b.size;
    }
    return 0;
}

/* ---- writing ------------------------------------------------------------ */

/* Writes the meta box: data_start is the output offset of the mdat
 * payload, off_sz the iloc offset field size (4 or 8). */
static int write_meta(heif *h, buf *o, uint64_t data_start, unsigned off_sz)
{
    um_job *job = h->job;
    size_t meta_at;
    unsigned len_sz = 4;
    for (size_t i = 0; i < h->nitems; i++)
        for (size_t e = 0; e < h->items[i].count; e++)
            if (!h->items[i].remove && h->ext[h->items[i].first + e].len > UINT32_MAX)
                len_sz = 8;
    UM_TRY(box_open(job, o, FOURCC('m', 'e', 't', 'a'), &meta_at));
    UM_TRY(put(job, o, h->mb, 4));
    for (size_t ki = 0; ki < h->nkids; ki++) {
        child *k = &h->kids[ki];
        const uint8_t *p = h->mb + k->off + k->hdr;
        size_t at;
        if (k->drop)
            continue;
        switch (k->type) {
        case FOURCC('h', 'd', 'l', 'r'):
            /* 8.4.3: version, pre_defined, handler_type, reserved, name "". */
            UM_TRY(box_open(job, o, k->type, &at));
            UM_TRY(put(job, o, p, 12));
            UM_TRY(put_uint(job, o, 0, 8));
            UM_TRY(put_uint(job, o, 0, 4));
            UM_TRY(put_uint(job, o, 0, 1));
            UM_TRY(box_close(job, o, at));
            break;
        case FOURCC('i', 'i', 'n', 'f'): {
            uint32_t n = 0;
            for (size_t i = 0; i < h->nitems; i++)
                n += !h->items[i].remove;
            UM_TRY(box_open(job, o, k->type, &at));
            UM_TRY(put(job, o, p, 4));
            UM_TRY(put_uint(job, o, n, p[0] == 0 ? 2 : 4));
            for (size_t i = 0; i < h->nitems; i++)
                if (!h->items[i].remove)
                    UM_TRY(put(job, o, h->mb + h->items[i].infe_off, h->items[i].infe_size));
            UM_TRY(box_close(job, o, at));
            break;
        }
        case FOURCC('i', 'l', 'o', 'c'): {
            /* 8.11.3: same version; base_offset_size and index_size 0. */
            uint32_t n = 0;
            int v = h->iloc_v;
            for (size_t i = 0; i < h->nitems; i++)
                n += !h->items[i].remove && h->items[i].located;
            UM_TRY(box_open(job, o, k->type, &at));
            UM_TRY(put_uint(job, o, (uint32_t)v << 24, 4));
            UM_TRY(put_uint(job, o, off_sz << 4 | len_sz, 1));
            UM_TRY(put_uint(job, o, 0, 1));
            UM_TRY(put_uint(job, o, n, v < 2 ? 2 : 4));
            /* Entries in item (iinf) order. */
            for (size_t i = 0; i < h->nitems; i++) {
                item *it = &h->items[i];
                if (it->remove || !it->located)
                    continue;
                UM_TRY(put_uint(job, o, it->id, v < 2 ? 2 : 4));
                if (v >= 1)
                    UM_TRY(put_uint(job, o, (uint64_t)it->method, 2));
                UM_TRY(put_uint(job, o, 0, 2)); /* data_reference_index */
                UM_TRY(put_uint(job, o, it->count, 2));
                for (size_t e = 0; e < it->count; e++) {
                    const extent *x = &h->ext[it->first + e];
                    uint64_t to = it->method == 1 ? map_off(h->ir, h->nir, x->off)
                                                  : data_start + map_off(h->fr, h->nfr, x->off);
                    if (off_sz == 4 && to > UINT32_MAX)
                        return um_fail(job, UNMETA_E_STATE, FMT ": internal offset size mismatch");
                    UM_TRY(put_uint(job, o, to, off_sz));
                    UM_TRY(put_uint(job, o, x->len, len_sz));
                }
            }
            UM_TRY(box_close(job, o, at));
            break;
        }
        case FOURCC('i', 'r', 'e', 'f'): {
            size_t before = o->n;
            UM_TRY(box_open(job, o, k->type, &at));
            UM_TRY(walk_iref(h, k, o));
            if (o->n - at == 12)
                o->n = before; /* no reference left */
            else
                UM_TRY(box_close(job, o, at));
            break;
        }
        case FOURCC('i', 'p', 'r', 'p'):
            UM_TRY(box_open(job, o, k->type, &at));
            UM_TRY(walk_iprp(h, k, o));
            UM_TRY(box_close(job, o, at));
            break;
        case FOURCC('i', 'd', 'a', 't'):
            if (!h->nir)
                break;
            UM_TRY(box_open(job, o, k->type, &at));
            for (size_t i = 0; i < h->nir; i++)
                UM_TRY(put(job, o, h->mb + h->idat_off + h->ir[i].off, (size_t)h->ir[i].len));
            UM_TRY(box_close(job, o, at));
            break;
        default: /* pitm, dinf, grpl: as they are */
            UM_TRY(put(job, o, h->mb + k->off, k->size));
            break;
        }
    }
    return box_close(job, o, meta_at);
}

/* ---- the whole file ----------------------------------------------------- */

static int parse_meta(heif *h)
{
    um_job *job = h->job;
    char t[5];
    uint64_t n = h->meta.size - h->meta.hdr;
    UM_TRY(um_read_block(job, h->meta.off + h->meta.hdr, n, "the HEIF meta box", &h->mb));
    h->mlen = (size_t)n;
    h->mbase = h->meta.off + h->meta.hdr;
    if (h->mlen < 4 || h->mb[0] != 0)
        return um_fail(job, UNMETA_E_MALFORMED, FMT ": bad 'meta' box header");
    size_t pos = 4;
    while (pos < h->mlen) {
        um_box b;
        UM_TRY(um_box_parse(job, FMT, h->mb, h->mlen, pos, h->mbase, &b));
        UM_TRY(um_job_count_item(job, "box"));
        UM_TRY(um_grow(job, (void **)&h->kids, &h->capkids, h->nkids, sizeof(child)));
        child *k = &h->kids[h->nkids++];
        k->type = b.type;
        k->off = pos;
        k->size = (size_t)b.size;
        k->hdr = b.hdr;
        k->drop = 0;
        switch (b.type) {
        case FOURCC('h', 'd', 'l', 'r'):
        case FOURCC('p', 'i', 't', 'm'):
        case FOURCC('i', 'i', 'n', 'f'):
        case FOURCC('i', 'l', 'o', 'c'):
        case FOURCC('i', 'r', 'e', 'f'):
        case FOURCC('i', 'p', 'r', 'p'):
        case FOURCC('i', 'd', 'a', 't'):
        case FOURCC('d', 'i', 'n', 'f'):
        case FOURCC('g', 'r', 'p', 'l'):
            for (size_t i = 0; i + 1 < h->nkids; i++)
                if (h->kids[i].type == b.type)
                    return um_fail(job, UNMETA_E_MALFORMED, FMT ": two '%s' boxes in 'meta'", um_fourcc_str(b.type, t));
            break;
        case FOURCC('i', 'p', 'r', 'o'):
        case FOURCC('f', 'i', 'i', 'n'):
        case FOURCC('i', 'p', 'm', 'c'):
            return um_fail(job, UNMETA_E_UNSUPPORTED, FMT ": '%s' in 'meta' (protected or streamed items) is not "
                                                          "supported", um_fourcc_str(b.type, t));
        default: {
            um_box r = b;
            r.off += h->mbase;
            UM_TRY(report_box(h, &r, "meta "));
            k->drop = 1;
            break;
        }
        }
        pos += (size_t)b.size;
    }
    child *hdlr = find_kid(h, FOURCC('h', 'd', 'l', 'r'));
    child *pitm = find_kid(h, FOURCC('p', 'i', 't', 'm'));
    child *iinf = find_kid(h, FOURCC('i', 'i', 'n', 'f'));
    child *iloc = find_kid(h, FOURCC('i', 'l', 'o', 'c'));
    child *iref = find_kid(h, FOURCC('i', 'r', 'e', 'f'));
    child *iprp = find_kid(h, FOURCC('i', 'p', 'r', 'p'));
    child *idat = find_kid(h, FOURCC('i', 'd', 'a', 't'));
    if (!hdlr || !pitm || !iinf || !iloc || !iprp)
        return um_fail(job, UNMETA_E_MALFORMED, FMT ": 'meta' lacks %s", !hdlr ? "its handler ('hdlr')"
                                                                   : !pitm ? "a primary item ('pitm')"
                                                                   : !iinf ? "item information ('iinf')"
                                                                   : !iloc ? "item locations ('iloc')"
                                                                           : "item properties ('iprp')");
    if (idat) {
        h->have_idat = 1;
        h->idat_off = idat->off + idat->hdr;
        h->idat_len = idat->size - idat->hdr;
    }
    child *dinf = find_kid(h, FOURCC('d', 'i', 'n', 'f'));
    child *grpl = find_kid(h, FOURCC('g', 'r', 'p', 'l'));
    UM_TRY(parse_hdlr(h, hdlr));
    UM_TRY(parse_pitm(h, pitm));
    UM_TRY(parse_iinf(h, iinf));
    UM_TRY(parse_iloc(h, iloc));
    if (iref)
        UM_TRY(walk_iref(h, iref, NULL));
    UM_TRY(parse_ipco(h, iprp));
    UM_TRY(walk_iprp(h, iprp, NULL));
    UM_TRY(classify(h));
    h->classified = 1;
    UM_TRY(walk_iprp(h, iprp, NULL));
    UM_TRY(decide_props(h));
    if (dinf)
        UM_TRY(check_dinf(h, dinf));
    if (grpl)
        UM_TRY(check_grpl(h, grpl));
    return 0;
}

/* The movie's chunk offsets: input offsets in the kept file ranges moved
 * to the output mdat whose payload starts at `start`. */
typedef struct chunk_map {
    const heif *h;
    uint64_t start;
} chunk_map;

static int map_chunk(void *user, uint64_t off, uint64_t *out)
{
    const chunk_map *c = user;
    const range *r = c->h->fr;
    size_t lo = 0, hi = c->h->nfr;
    /* The first range that ends at or after off (an empty chunk may
     * point at the end of one). */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r[mid].off + r[mid].len < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == c->h->nfr || off < r[lo].off)
        return 0;
    *out = c->start + r[lo].out + (off - r[lo].off);
    return 1;
}

static int run(um_job *job)
{
    heif h;
    buf o = { NULL, 0, 0 };
    int rc;
    memset(&h, 0, sizeof(h));
    h.job = job;
    UM_TRY_GOTO(rc, walk_top(&h), done);
    if (h.have_meta)
        UM_TRY_GOTO(rc, parse_meta(&h), done);
    if (h.have_moov) {
        UM_TRY_GOTO(rc, um_movie_open(&h.mv, job, FMT, &h.moov, 0, 0), done);
        UM_TRY_GOTO(rc, list_tracks(&h), done);
    }
    if (h.have_mpvd) {
        /* Samsung's 'mpvd' holds a whole MP4 whose chunk offsets count from
         * its own first byte; the rebuilt box keeps that convention. */
        uint64_t v0 = h.mpvd.off + h.mpvd.hdr, v1 = h.mpvd.off + h.mpvd.size;
        int blk = um_report_block(job, "mpvd", h.mpvd.off, h.mpvd.size, UNMETA_ACTION_REWRITE);
        UM_TRY_GOTO(rc, blk, done);
        UM_TRY_GOTO(rc, um_motion_report(job, blk, v0, v1), done);
        UM_TRY_GOTO(rc, um_motion_video_open(&h.video, job, FMT " motion photo", v0, v1, v0), done);
        UM_TRY_GOTO(rc, um_report_note(job, "motion photo video kept (--keep-motion), cleaned as an MP4 in a rebuilt "
                                       "'mpvd' after the image data: %llu bytes",
                                       (unsigned long long)um_motion_video_size(h.video)), done);
    }
    UM_TRY_GOTO(rc, report_unused(&h), done);
    UM_TRY_GOTO(rc, plan_ranges(&h, 0, &h.fr, &h.nfr, &h.capfr, &h.mdat_total), done);
    UM_TRY_GOTO(rc, plan_ranges(&h, 1, &h.ir, &h.nir, &h.capir, &h.idat_total), done);

    /* Layout: ftyp, meta, moov, mdat. The meta's size depends only on the
     * iloc offset size, so it is built once to measure, then for real; the
     * moov's does not depend on offsets at all. */
    unsigned off_sz = 4;
    uint64_t mdat_hdr = h.mdat_total + 8 > UINT32_MAX ? 16 : 8;
    uint64_t moov_size = h.mv ? um_movie_size(h.mv) : 0;
    if (h.have_meta)
        UM_TRY_GOTO(rc, write_meta(&h, &o, 0, off_sz), done);
    uint64_t start = h.ftyp.size + o.n + moov_size + mdat_hdr;
    if (h.have_meta && start + h.mdat_total > UINT32_MAX) {
        off_sz = 8;
        o.n = 0;
        UM_TRY_GOTO(rc, write_meta(&h, &o, 0, off_sz), done);
        start = h.ftyp.size + o.n + moov_size + mdat_hdr;
    }
    if (h.have_meta) {
        o.n = 0;
        UM_TRY_GOTO(rc, write_meta(&h, &o, start, off_sz), done);
    }
    if (h.ftyp.size + o.n + moov_size + mdat_hdr != start) {
        rc = um_fail(job, UNMETA_E_STATE, FMT ": internal size mismatch");
        goto done;
    }
    if (h.mv) {
        chunk_map cm = { &h, start };
        UM_TRY_GOTO(rc, um_movie_move_chunks(h.mv, map_chunk, &cm), done);
    }
    UM_TRY_GOTO(rc, um_plan_copy(job, h.ftyp.off, h.ftyp.size), done);
    UM_TRY_GOTO(rc, um_plan_data(job, o.p, o.n), done);
    if (h.mv)
        UM_TRY_GOTO(rc, um_movie_emit(h.mv), done);
    if (h.mdat_total) {
        uint8_t hd[16];
        if (mdat_hdr == 16) {
            um_put_be32(hd, 1);
            um_put_be32(hd + 4, FOURCC('m', 'd', 'a', 't'));
            um_put_be64(hd + 8, h.mdat_total + 16);
        } else {
            um_put_be32(hd, (uint32_t)(h.mdat_total + 8));
            um_put_be32(hd + 4, FOURCC('m', 'd', 'a', 't'));
        }
        UM_TRY_GOTO(rc, um_plan_data(job, hd, (size_t)mdat_hdr), done);
        for (size_t i = 0; i < h.nfr; i++)
            UM_TRY_GOTO(rc, um_plan_copy(job, h.fr[i].off, h.fr[i].len), done);
    }
    if (h.video) {
        uint64_t vlen = um_motion_video_size(h.video);
        uint8_t hd[16];
        size_t hn = vlen + 8 > UINT32_MAX ? 16 : 8;
        if (hn == 16) {
            um_put_be32(hd, 1);
            um_put_be32(hd + 4, FOURCC('m', 'p', 'v', 'd'));
            um_put_be64(hd + 8, vlen + 16);
        } else {
            um_put_be32(hd, (uint32_t)(vlen + 8));
            um_put_be32(hd + 4, FOURCC('m', 'p', 'v', 'd'));
        }
        UM_TRY_GOTO(rc, um_plan_data(job, hd, hn), done);
        UM_TRY_GOTO(rc, um_motion_video_emit(h.video, um_plan_size(job)), done);
    }
    rc = 0;
done:
    um_motion_video_free(h.video);
    um_movie_free(h.mv);
    free(h.tr);
    free(o.p);
    free(h.mb);
    free(h.kids);
    free(h.items);
    free(h.ext);
    free(h.props);
    free(h.fr);
    free(h.ir);
    free(h.mdats);
    free(h.refs);
    return rc;
}

static int is_heif_brand(uint32_t b, int major)
{
    switch (b) {
    case FOURCC('h', 'e', 'i', 'c'):
    case FOURCC('h', 'e', 'i', 'x'):
    case FOURCC('h', 'e', 'i', 'm'):
    case FOURCC('h', 'e', 'i', 's'):
    case FOURCC('m', 'i', 'f', '1'):
    case FOURCC('m', 'i', 'f', '2'):
    case FOURCC('a', 'v', 'i', 'f'):
        return 1;
    case FOURCC('h', 'e', 'v', 'c'):
    case FOURCC('h', 'e', 'v', 'm'):
    case FOURCC('h', 'e', 'v', 's'):
    case FOURCC('m', 's', 'f', '1'):
    case FOURCC('a', 'v', 'i', 's'):
    case FOURCC('a', 'v', 'i', 'o'):
        /* Image sequences: only as the major brand, since movies may list
         * them among compatible brands. */
        return major;
    default:
        return 0;
    }
}

/* 23008-12 section 10 brands in 'ftyp' (major or compatible). */
static int probe(const uint8_t *p, size_t n)
{
    if (n < 16 || um_be32(p + 4) != FOURCC('f', 't', 'y', 'p'))
        return 0;
    uint32_t size = um_be32(p);
    if (size < 16)
        return 0;
    if (is_heif_brand(um_be32(p + 8), 1))
        return 100;
    for (size_t i = 16; i + 4 <= size && i + 4 <= n; i += 4)
        if (is_heif_brand(um_be32(p + i), 0))
            return 95;
    return 0;
}

const um_format um_format_heif = {
    .name = "heif",
    .mime = "image/heif",
    .ext = "heic",
    .probe = probe,
    .run = run,
};
