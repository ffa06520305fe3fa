/*
 * jxl.c - JPEG XL files (ISO/IEC 18181-2, "JPEG XL image coding system -
 * Part 2: File format").
 *
 * A JPEG XL file is either a bare codestream (ISO/IEC 18181-1, starting
 * FF 0A) or a container of ISO BMFF-style boxes (18181-2): the
 * 12-byte signature box 'JXL ', then 'ftyp' (brand 'jxl '), then in any
 * order the level ('jxll'), the codestream (one 'jxlc', or 'jxlp' parts
 * numbered from 0 whose last has the high bit of its index set), a frame
 * index ('jxli', offsets relative to the codestream), metadata ('Exif',
 * 'xml ', 'jumb' JUMBF such as C2PA manifests), Brotli-compressed boxes
 * ('brob': the type of the box it stands for, then Brotli data) and JPEG
 * bitstream reconstruction data ('jbrd').
 *
 * Pass 1 walks the top-level boxes, checking every size against the file,
 * and reports them. Pass 2 copies the keep-list byte for byte in input
 * order, streaming through the plan:
 *   kept as is:  'JXL ', 'ftyp', 'jxll', 'jxlc', every 'jxlp' (index
 *                fields untouched) and 'jxli' (its offsets count in the
 *                codestream, which does not change) when it is exactly a
 *                frame index, with no byte to spare (else dropped: no
 *                decoder needs it to render);
 *   dropped:     'Exif', 'xml ', 'jumb', 'brob', 'jbrd' and every other
 *                box. 'jbrd' describes the original JPEG's markers,
 *                including the Exif and XMP it carried, so it goes with
 *                them: the output still decodes to the same pixels, but no
 *                longer reconstructs the original JPEG file.
 * Orientation is a field of the codestream's image header, so nothing in
 * the removed boxes is needed to display the image. The codestream is
 * never parsed: an ICC profile, when the image has one, is entropy-coded
 * inside it and is kept as it is (not neutralised as in other formats).
 * A bare codestream is copied through unchanged, with a note that it has
 * no container metadata can live in.
 *
 * Refused (UNMETA_E_MALFORMED): a first box other than the 12-byte
 * signature, a second box other than 'ftyp' with brand 'jxl ', a second
 * signature or 'ftyp', no codestream, 'jxlc' together with 'jxlp' or twice,
 * 'jxlp' indices out of sequence or a part after the last, no last part, a
 * codestream that does not start FF 0A, 'jxll' after the codestream, and a
 * 'brob' wrapping a type 18181-2 forbids it to (the signature,
 * 'ftyp', 'jxll', 'jxlc', 'jxlp', 'jxli', 'jbrd', 'brob').
 *
 * Compressed boxes are decoded with libbrotli when the build has it
 * (UM_HAVE_BROTLI), only for the report, streaming and capped by
 * limits.max_inflate and limits.max_block.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef UM_HAVE_BROTLI
#include <brotli/decode.h>
#endif

#include "../io.h"
#include "../plan.h"
#include "../report.h"
#include "common/box.h"
#include "common/exif.h"
#include "common/xmp.h"
#include "format.h"

#define FMT "JPEG XL"
#define FOURCC UM_FOURCC

#define JXLP_LAST 0x80000000u /* 18181-2, jxlp: high bit of the index of the last part */
#define JUMBF_LABELS_MAX 32   /* labels of one JUMBF box named in the report */
#define JUMBF_NAMES_MAX 8     /* names of one JSON content box named in the report */

static const uint8_t signature[12] = { 0, 0, 0, 0x0c, 'J', 'X', 'L', ' ', 0x0d, 0x0a, 0x87, 0x0a };

typedef struct jxl {
    um_job *job;
    uint64_t file_size;
    int jxlc, jxli, jxll;    /* boxes seen */
    uint32_t nparts;         /* 'jxlp' boxes seen */
    int last_part;           /* the last 'jxlp' had the high bit */
    int jbrd;                /* a 'jbrd' was removed */
} jxl;

static int probe(const uint8_t *p, size_t n)
{
    if (n >= sizeof(signature) && memcmp(p, signature, sizeof(signature)) == 0)
        return 100;
    return n >= 2 && p[0] == 0xff && p[1] == 0x0a ? 100 : 0;
}

/* A bare codestream (18181-1): only its signature is checked;
 * it holds no box where metadata could be, so it is written unchanged. */
static int run_codestream(jxl *x)
{
    um_job *job = x->job;
    if (x->file_size <= 2)
        return um_fail(job, UNMETA_E_TRUNCATED, FMT ": a bare codestream of %llu bytes has nothing after its signature",
                       (unsigned long long)x->file_size);
    UM_TRY(um_report_block(job, "codestream", 0, x->file_size, UNMETA_ACTION_KEEP));
    UM_TRY(um_report_note(job, FMT ": a bare codestream (no container) has no metadata boxes; it is written "
                               "unchanged (the codestream itself is not parsed)"));
    return um_plan_copy(job, 0, x->file_size);
}

/* The Exif box (18181-2): a 32-bit offset to the TIFF header, from
 * after the offset field, then the TIFF structure. */
static int scan_exif(um_job *job, int blk, const uint8_t *p, size_t n)
{
    uint32_t skip = n >= 4 ? um_be32(p) : 0;
    if (n < 4 || skip > n - 4)
        return um_report_finding(job, blk, UNMETA_CAT_OTHER, "Exif", "damaged box (%zu bytes)", n);
    um_exif_info info;
    UM_TRY(um_exif_scan(job, blk, p + 4 + skip, n - 4 - skip, &info));
    if (!info.private_tags)
        return um_report_finding(job, blk, UNMETA_CAT_OTHER, "Exif", "rendering tags only, %zu bytes", n);
    return 0;
}

/* The category of a JUMBF label: C2PA assertions name edit history,
 * identities and signers (C2PA 2.1 sections 11 and 18). */
static int label_category(const char *l)
{
    if (strstr(l, "actions") || strstr(l, "ingredient"))
        return UNMETA_CAT_SOFTWARE;
    if (strstr(l, "CreativeWork") || strstr(l, "identity") || strstr(l, "signature") || strstr(l, "cawg"))
        return UNMETA_CAT_PEOPLE;
    if (strstr(l, "exif") || strstr(l, "location"))
        return UNMETA_CAT_LOCATION;
    if (strstr(l, "thumbnail"))
        return UNMETA_CAT_EMBEDDED;
    return UNMETA_CAT_OTHER;
}

/* Names in a JSON content box j[0..n) (C2PA's schema.org CreativeWork and
 * identity assertions list people as {"name": "..."}): each "name" string
 * value, up to JUMBF_NAMES_MAX, as a people finding. A plain scan, not a
 * JSON parser: it only adds to the report of a box removed whole. */
static int scan_json_names(um_job *job, int blk, const uint8_t *j, size_t n)
{
    static const char key[] = "\"name\"";
    int found = 0;
    for (size_t i = 0; i + sizeof(key) - 1 <= n && found < JUMBF_NAMES_MAX; i++) {
        if (memcmp(j + i, key, sizeof(key) - 1) != 0)
            continue;
        size_t k = i + sizeof(key) - 1;
        while (k < n && (j[k] == ' ' || j[k] == '\t' || j[k] == '\r' || j[k] == '\n' || j[k] == ':'))
            k++;
        if (k >= n || j[k] != '"')
            continue;
        const uint8_t *v = j + k + 1, *e = memchr(v, '"', n - k - 1);
        if (!e)
            break;
        UM_TRY(um_report_finding(job, blk, UNMETA_CAT_PEOPLE, "Name", "%.*s", (int)(e - v < 64 ? e - v : 64),
                                 (const char *)v));
        found++;
        i = (size_t)(e - j);
    }
    return 0;
}

/* A JUMBF superbox's contents p[0..n) (ISO/IEC 19566-5 section 6: a 'jumd'
 * description box, whose label follows a 16-byte type and a toggle byte
 * with bit 1 set, then content boxes and nested superboxes). Names each
 * label and the names in JSON content boxes; nested superboxes to
 * limits.max_depth, JUMBF_LABELS_MAX labels. */
static int scan_jumbf(um_job *job, int blk, const uint8_t *p, size_t n, uint64_t base, uint32_t depth, int *labels)
{
    size_t pos = 0;
    if (depth > job->ctx->limits.max_depth)
        return um_report_finding(job, blk, UNMETA_CAT_OTHER, "JUMBF", "nested deeper than %u boxes",
                                 job->ctx->limits.max_depth);
    while (pos < n) {
        /* Peeked rather than parsed: a damaged box inside is a finding
         * (the box is removed whole either way), not an error. */
        um_box b;
        if (!um_box_peek(p, n, pos, &b))
            return um_report_finding(job, blk, UNMETA_CAT_OTHER, "JUMBF", "damaged box at byte %llu",
                                     (unsigned long long)base + pos);
        UM_TRY(um_job_count_item(job, "JUMBF boxes"));
        const uint8_t *c = p + pos + b.hdr;
        size_t cn = (size_t)(b.size - b.hdr);
        if (b.type == FOURCC('j', 'u', 'm', 'd') && cn >= 17 && (c[16] & 0x02)) {
            const uint8_t *l = c + 17, *z = memchr(l, 0, cn - 17);
            size_t ln = z ? (size_t)(z - l) : cn - 17;
            char label[128];
            if (ln >= sizeof(label))
                ln = sizeof(label) - 1;
            memcpy(label, l, ln);
            label[ln] = '\0';
            if ((*labels)++ < JUMBF_LABELS_MAX) {
                int c2pa = depth == 0 && memcmp(c, "c2pa", 4) == 0;
                UM_TRY(um_report_finding(job, blk, depth == 0 ? UNMETA_CAT_EMBEDDED : label_category(label),
                                         depth == 0 ? (c2pa ? "C2PA" : "JUMBF") : "JUMBFLabel", "%s%s",
                                         c2pa ? "manifest store " : "", label));
            }
        } else if (b.type == FOURCC('j', 'u', 'm', 'b')) {
            UM_TRY(scan_jumbf(job, blk, c, cn, base + pos + b.hdr, depth + 1, labels));
        } else if (b.type == FOURCC('j', 's', 'o', 'n')) {
            UM_TRY(scan_json_names(job, blk, c, cn));
        }
        pos += (size_t)b.size;
    }
    return 0;
}

/* Reports what a metadata box's payload p[0..n) holds, by its type. */
static int scan_payload(um_job *job, int blk, uint32_t type, const uint8_t *p, size_t n, uint64_t base)
{
    if (type == FOURCC('E', 'x', 'i', 'f'))
        return scan_exif(job, blk, p, n);
    if (type == FOURCC('x', 'm', 'l', ' '))
        return um_xmp_scan(job, blk, p, n);
    int labels = 0;
    UM_TRY(scan_jumbf(job, blk, p, n, base, 0, &labels));
    if (labels == 0)
        return um_report_finding(job, blk, UNMETA_CAT_EMBEDDED, "JUMBF", "%zu bytes, no label", n);
    return 0;
}

#ifdef UM_HAVE_BROTLI
static void *brotli_alloc(void *opaque, size_t n)
{
    (void)opaque;
    return um_mem_malloc(n);
}

static void brotli_free(void *opaque, void *p)
{
    (void)opaque;
    free(p);
}

/* Decodes the Brotli stream at off (len bytes) of the input, reading it in
 * slices, into at most cap bytes. *out (freed by the caller) holds what was
 * decoded; *whole is 0 when the cap stopped it and -1 when the stream is
 * damaged or ends early. */
static int brotli_decode(um_job *job, uint64_t off, uint64_t len, size_t cap, uint8_t **out, size_t *out_len,
                         int *whole)
{
    uint8_t in[16384];
    uint8_t *buf = NULL;
    size_t have = 0, bcap = 0;
    int rc = 0;
    *out = NULL;
    *out_len = 0;
    *whole = -1;
    BrotliDecoderState *s = BrotliDecoderCreateInstance(brotli_alloc, brotli_free, NULL);
    if (!s)
        return um_fail(job, UNMETA_E_NOMEM, FMT ": out of memory for the Brotli decoder");
    uint64_t pos = 0;
    size_t avail_in = 0;
    const uint8_t *next_in = in;
    for (;;) {
        if (avail_in == 0 && pos < len) {
            size_t k = len - pos < sizeof(in) ? (size_t)(len - pos) : sizeof(in);
            UM_TRY_GOTO(rc, um_read_at(job, off + pos, in, k), done);
            UM_TRY_GOTO(rc, um_job_check_cancel(job), done);
            pos += k;
            avail_in = k;
            next_in = in;
        }
        if (have == bcap) {
            if (bcap >= cap) {
                *whole = 0; /* the cap: enough to say what it is */
                break;
            }
            size_t ncap = bcap ? bcap * 2 : 65536;
            if (ncap > cap)
                ncap = cap;
            uint8_t *nb = um_realloc(job, buf, ncap);
            if (!nb) {
                rc = job->err;
                goto done;
            }
            buf = nb;
            bcap = ncap;
        }
        size_t avail_out = bcap - have;
        uint8_t *next_out = buf + have;
        BrotliDecoderResult r = BrotliDecoderDecompressStream(s, &avail_in, &next_in, &avail_out, &next_out, NULL);
        have = (size_t)(next_out - buf);
        if (r == BROTLI_DECODER_RESULT_SUCCESS) {
            *whole = avail_in == 0 && pos == len ? 1 : -1;
            break;
        }
        if (r == BROTLI_DECODER_RESULT_ERROR) {
            /* The decoder's own allocations fail as errors of the stream:
             * those are the job's out-of-memory, not a damaged box. */
            BrotliDecoderErrorCode e = BrotliDecoderGetErrorCode(s);
            if (e <= BROTLI_DECODER_ERROR_ALLOC_CONTEXT_MODES && e >= BROTLI_DECODER_ERROR_ALLOC_BLOCK_TYPE_TREES) {
                rc = um_fail(job, UNMETA_E_NOMEM, FMT ": out of memory in the Brotli decoder");
                goto done;
            }
            break;
        }
        if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT && pos == len)
            break;
    }
    *out = buf;
    *out_len = have;
    buf = NULL;
done:
    free(buf);
    BrotliDecoderDestroyInstance(s);
    return rc;
}
#endif

/* Reports a removed box with what it holds. Metadata boxes up to
 * limits.max_block are read and scanned; 'brob' boxes are decoded for that
 * when the build has libbrotli. */
static int drop_box(jxl *x, const um_box *b)
{
    um_job *job = x->job;
    uint32_t type = b->type;
    uint64_t poff = b->off + b->hdr, plen = b->size - b->hdr;
    char t[5], inner[5], kind[40];
    um_fourcc_str(type, t);
    if (type == FOURCC('b', 'r', 'o', 'b')) {
        uint8_t h[4];
        UM_TRY(um_read_at(job, poff, h, 4));
        um_fourcc_str(um_be32(h), inner);
        snprintf(kind, sizeof(kind), "brob '%s'", inner);
    } else {
        snprintf(kind, sizeof(kind), "%s", t);
    }
    int blk = um_report_block(job, kind, b->off, b->size, UNMETA_ACTION_REMOVE);
    UM_TRY(blk);

    if (type == FOURCC('j', 'b', 'r', 'd')) {
        x->jbrd = 1;
        return um_report_finding(job, blk, UNMETA_CAT_OTHER, "JPEGReconstruction",
                                 "JPEG bitstream reconstruction data, %llu bytes (the original JPEG's markers)",
                                 (unsigned long long)plen);
    }
    if (type == FOURCC('f', 'r', 'e', 'e') || type == FOURCC('s', 'k', 'i', 'p'))
        return um_report_finding(job, blk, UNMETA_CAT_OTHER, "Padding", "'%s', %llu bytes", t,
                                 (unsigned long long)plen);
    if (type == FOURCC('b', 'r', 'o', 'b')) {
        uint32_t itype = FOURCC(inner[0], inner[1], inner[2], inner[3]);
        int meta = itype == FOURCC('E', 'x', 'i', 'f') || itype == FOURCC('x', 'm', 'l', ' ') ||
                   itype == FOURCC('j', 'u', 'm', 'b');
#ifdef UM_HAVE_BROTLI
        uint64_t cap = job->ctx->limits.max_inflate < job->ctx->limits.max_block ? job->ctx->limits.max_inflate
                                                                                  : job->ctx->limits.max_block;
        if (cap > SIZE_MAX / 2)
            cap = SIZE_MAX / 2;
        uint8_t *d = NULL;
        size_t dn = 0;
        int whole;
        UM_TRY(brotli_decode(job, poff + 4, plen - 4, (size_t)cap, &d, &dn, &whole));
        int rc = um_report_finding(job, blk, UNMETA_CAT_OTHER, "BrotliBox",
                                   "Brotli-compressed '%s' box, %llu bytes, %s%zu bytes decoded%s", inner,
                                   (unsigned long long)plen, whole == 0 ? "first " : "", dn,
                                   whole < 0 ? " (damaged stream)" : "");
        if (rc >= 0 && meta)
            rc = scan_payload(job, blk, itype, d, dn, poff + 4);
        free(d);
        return rc;
#else
        (void)meta;
        return um_report_finding(job, blk, UNMETA_CAT_OTHER, "BrotliBox",
                                 "Brotli-compressed '%s' box (not decoded: built without libbrotli)", inner);
#endif
    }
    int exif = type == FOURCC('E', 'x', 'i', 'f'), xmp = type == FOURCC('x', 'm', 'l', ' '),
        jumb = type == FOURCC('j', 'u', 'm', 'b');
    if (!exif && !xmp && !jumb) {
        if (type == FOURCC('u', 'u', 'i', 'd'))
            return um_report_finding(job, blk, UNMETA_CAT_OTHER, "VendorBox", "uuid %02x%02x%02x%02x-..., %llu bytes",
                                     b->uuid[0], b->uuid[1], b->uuid[2], b->uuid[3], (unsigned long long)plen);
        return um_report_finding(job, blk, UNMETA_CAT_OTHER, "Box", "'%s', %llu bytes", t, (unsigned long long)plen);
    }
    if (plen > job->ctx->limits.max_block)
        return um_report_finding(job, blk, jumb ? UNMETA_CAT_EMBEDDED : UNMETA_CAT_OTHER,
                                 exif ? "Exif" : xmp ? "XMP" : "JUMBF", "%llu bytes (too large to read)",
                                 (unsigned long long)plen);
    uint8_t *p = NULL;
    UM_TRY(um_read_block(job, poff, plen, t, &p));
    int rc;
    if (jumb) {
        /* The box is itself a superbox: walk it from its own header. */
        int labels = 0;
        rc = scan_jumbf(job, blk, p, (size_t)plen, poff, 0, &labels);
        if (rc >= 0 && labels == 0)
            rc = um_report_finding(job, blk, UNMETA_CAT_EMBEDDED, "JUMBF", "%llu bytes, no label",
                                   (unsigned long long)plen);
    } else {
        rc = scan_payload(job, blk, type, p, (size_t)plen, poff);
    }
    free(p);
    return rc;
}

/* Checks that a codestream starts with its signature, FF 0A (18181-1). */
static int codestream_signature(jxl *x, uint64_t off, uint64_t avail, const char *where)
{
    uint8_t s[2];
    if (avail < 2)
        return um_fail(x->job, UNMETA_E_MALFORMED, FMT ": the codestream in '%s' at byte %llu is shorter than "
                       "its signature", where, (unsigned long long)off);
    UM_TRY(um_read_at(x->job, off, s, 2));
    if (s[0] != 0xff || s[1] != 0x0a)
        return um_fail(x->job, UNMETA_E_MALFORMED, FMT ": the codestream in '%s' at byte %llu does not start FF 0A",
                       where, (unsigned long long)off);
    return 0;
}

/* A ULEB128 varint of at most 64 bits at c (18181-2, the Varint of the frame index). */
static uint64_t varint(um_cur *c)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        uint8_t b = um_cur_u8(c);
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    c->bad = 1;
    return 0;
}

/* Whether p[0..n) is exactly a frame index (18181-2, Frame Index box): NF,
 * TNUM, TDEN (non-zero), then NF entries of offset, duration and frame
 * count, nothing after. An index with bytes to spare could carry
 * anything, so only this exact shape is kept. */
static int frame_index_ok(const uint8_t *p, size_t n)
{
    um_cur c = um_cur_make(p, n);
    uint64_t nf = varint(&c);
    um_cur_be32(&c);
    uint32_t tden = um_cur_be32(&c);
    if (c.bad || tden == 0 || nf > n / 3)
        return 0;
    for (uint64_t i = 0; i < nf && !c.bad; i++) {
        varint(&c);
        varint(&c);
        varint(&c);
    }
    return !c.bad && um_cur_left(&c) == 0;
}

/* One top-level box after 'ftyp'. */
static int walk_box(jxl *x, const um_box *b)
{
    um_job *job = x->job;
    uint64_t poff = b->off + b->hdr, plen = b->size - b->hdr;
    char t[5];
    um_fourcc_str(b->type, t);
    switch (b->type) {
    case FOURCC('J', 'X', 'L', ' '):
    case FOURCC('f', 't', 'y', 'p'):
        return um_fail(job, UNMETA_E_MALFORMED, FMT ": a second '%s' box at byte %llu", t, (unsigned long long)b->off);
    case FOURCC('j', 'x', 'l', 'l'):
        /* 18181-2, Level box: one, before the codestream. */
        if (x->jxll || x->jxlc || x->nparts)
            return um_fail(job, UNMETA_E_MALFORMED, FMT ": 'jxll' box at byte %llu %s", (unsigned long long)b->off,
                           x->jxll ? "is a second one" : "comes after the codestream");
        if (plen != 1)
            return um_fail(job, UNMETA_E_MALFORMED, FMT ": 'jxll' box of %llu bytes (1 expected)",
                           (unsigned long long)plen);
        x->jxll = 1;
        UM_TRY(um_report_block(job, "jxll", b->off, b->size, UNMETA_ACTION_KEEP));
        return um_plan_copy(job, b->off, b->size);
    case FOURCC('j', 'x', 'l', 'c'):
        /* 18181-2, codestream boxes: the whole codestream, or parts, never both. */
        if (x->jxlc || x->nparts)
            return um_fail(job, UNMETA_E_MALFORMED, FMT ": 'jxlc' box at byte %llu after %s", (unsigned long long)b->off,
                           x->jxlc ? "another 'jxlc'" : "'jxlp' boxes");
        UM_TRY(codestream_signature(x, poff, plen, "jxlc"));
        x->jxlc = 1;
        UM_TRY(um_report_block(job, "jxlc", b->off, b->size, UNMETA_ACTION_KEEP));
        return um_plan_copy(job, b->off, b->size);
    case FOURCC('j', 'x', 'l', 'p'): {
        uint8_t h[4];
        if (x->jxlc)
            return um_fail(job, UNMETA_E_MALFORMED, FMT ": 'jxlp' box at byte %llu in a file with a 'jxlc' box",
                           (unsigned long long)b->off);
        if (x->last_part)
            return um_fail(job, UNMETA_E_MALFORMED, FMT ": 'jxlp' box at byte %llu after the last part",
                           (unsigned long long)b->off);
        if (plen < 4)
            return um_fail(job, UNMETA_E_MALFORMED, FMT ": 'jxlp' box at byte %llu has no index",
                           (unsigned long long)b->off);
        UM_TRY(um_read_at(job, poff, h, 4));
        uint32_t idx = um_be32(h);
        if ((idx & ~JXLP_LAST) != x->nparts)
            return um_fail(job, UNMETA_E_MALFORMED, FMT ": 'jxlp' box at byte %llu has index %u where %u was expected",
                           (unsigned long long)b->off, idx & ~JXLP_LAST, x->nparts);
        if (x->nparts == 0 && plen - 4 >= 2)
            UM_TRY(codestream_signature(x, poff + 4, plen - 4, "jxlp"));
        x->nparts++;
        x->last_part = (idx & JXLP_LAST) != 0;
        UM_TRY(um_report_block(job, "jxlp", b->off, b->size, UNMETA_ACTION_KEEP));
        return um_plan_copy(job, b->off, b->size);
    }
    case FOURCC('j', 'x', 'l', 'i'): {
        /* The frame index: offsets in the codestream, which is copied
         * whole and unchanged, so they stay right. Kept only when it is
         * nothing but a well-formed index. */
        if (x->jxli)
            return um_fail(job, UNMETA_E_MALFORMED, FMT ": a second 'jxli' box at byte %llu", (unsigned long long)b->off);
        x->jxli = 1;
        int ok = 0;
        if (plen <= job->ctx->limits.max_block) {
            uint8_t *p = NULL;
            UM_TRY(um_read_block(job, poff, plen, "jxli", &p));
            ok = frame_index_ok(p, (size_t)plen);
            free(p);
        }
        if (!ok) {
            int blk = um_report_block(job, "jxli", b->off, b->size, UNMETA_ACTION_REMOVE);
            UM_TRY(blk);
            return um_report_finding(job, blk, UNMETA_CAT_OTHER, "FrameIndex", "not a well-formed frame index, "
                                     "%llu bytes", (unsigned long long)plen);
        }
        UM_TRY(um_report_block(job, "jxli", b->off, b->size, UNMETA_ACTION_KEEP));
        return um_plan_copy(job, b->off, b->size);
    }
    case FOURCC('b', 'r', 'o', 'b'): {
        uint8_t h[4];
        if (plen < 4)
            return um_fail(job, UNMETA_E_MALFORMED, FMT ": 'brob' box at byte %llu has no type",
                           (unsigned long long)b->off);
        UM_TRY(um_read_at(job, poff, h, 4));
        /* 18181-2, Brotli-compressed box: types that may not be compressed. */
        switch (um_be32(h)) {
        case FOURCC('J', 'X', 'L', ' '): case FOURCC('f', 't', 'y', 'p'): case FOURCC('j', 'x', 'l', 'l'):
        case FOURCC('j', 'x', 'l', 'c'): case FOURCC('j', 'x', 'l', 'p'): case FOURCC('j', 'x', 'l', 'i'):
        case FOURCC('j', 'b', 'r', 'd'): case FOURCC('b', 'r', 'o', 'b'): {
            char in[5];
            return um_fail(job, UNMETA_E_MALFORMED, FMT ": 'brob' box at byte %llu wraps a '%s' box, which may not "
                           "be compressed", (unsigned long long)b->off, um_fourcc_str(um_be32(h), in));
        }
        default:
            break;
        }
        return drop_box(x, b);
    }
    default:
        return drop_box(x, b);
    }
}

/* Pass 1 and 2 together: boxes are kept whole, in order, so each is
 * planned as it is met. */
static int run_container(jxl *x)
{
    um_job *job = x->job;
    uint8_t h[12];
    um_box b;
    if (x->file_size < sizeof(signature))
        return um_fail(job, UNMETA_E_TRUNCATED, FMT ": the file ends inside the signature box");
    UM_TRY(um_read_at(job, 0, h, sizeof(h)));
    if (memcmp(h, signature, sizeof(signature)) != 0)
        return um_fail(job, UNMETA_E_MALFORMED, FMT ": the first box is not the 12-byte 'JXL ' signature box");
    UM_TRY(um_report_block(job, "JXL signature", 0, sizeof(signature), UNMETA_ACTION_KEEP));
    UM_TRY(um_plan_copy(job, 0, sizeof(signature)));

    /* 18181-2: 'ftyp' second, brand 'jxl '. */
    int more = um_box_next_top(job, FMT, sizeof(signature), &b);
    UM_TRY(more);
    if (!more || b.type != FOURCC('f', 't', 'y', 'p'))
        return um_fail(job, UNMETA_E_MALFORMED, FMT ": the signature box is not followed by 'ftyp'");
    if (b.size - b.hdr < 8)
        return um_fail(job, UNMETA_E_MALFORMED, FMT ": 'ftyp' box of %llu bytes is too short",
                       (unsigned long long)b.size);
    UM_TRY(um_read_at(job, b.off + b.hdr, h, 4));
    if (memcmp(h, "jxl ", 4) != 0)
        return um_fail(job, UNMETA_E_MALFORMED, FMT ": 'ftyp' brand is not 'jxl '");
    UM_TRY(um_report_block(job, "ftyp", b.off, b.size, UNMETA_ACTION_KEEP));
    UM_TRY(um_plan_copy(job, b.off, b.size));

    uint64_t pos = b.off + b.size;
    for (;;) {
        more = um_box_next_top(job, FMT, pos, &b);
        UM_TRY(more);
        if (!more)
            break;
        UM_TRY(um_job_count_item(job, "boxes"));
        UM_TRY(walk_box(x, &b));
        pos = b.off + b.size;
    }
    if (!x->jxlc && !x->nparts)
        return um_fail(job, UNMETA_E_MALFORMED, FMT ": the file has no codestream ('jxlc' or 'jxlp' box)");
    if (x->nparts && !x->last_part)
        return um_fail(job, UNMETA_E_MALFORMED, FMT ": no 'jxlp' box is marked as the last part");
    if (x->jbrd)
        UM_TRY(um_report_note(job, FMT ": the JPEG reconstruction data ('jbrd') is removed with the metadata it "
                                   "refers to; the image decodes the same, but the original JPEG file can no longer "
                                   "be rebuilt from it"));
    return 0;
}

static int run(um_job *job)
{
    jxl x;
    uint8_t h[2];
    memset(&x, 0, sizeof(x));
    x.job = job;
    x.file_size = um_reader_size(job->in);
    if (x.file_size < 2)
        return um_fail(job, UNMETA_E_TRUNCATED, FMT ": the file is too short for a signature");
    UM_TRY(um_read_at(job, 0, h, 2));
    if (h[0] == 0xff && h[1] == 0x0a)
        return run_codestream(&x);
    return run_container(&x);
}

const um_format um_format_jxl = {
    .name = "jxl",
    .mime = "image/jxl",
    .ext = "jxl",
    .probe = probe,
    .run = run,
};
