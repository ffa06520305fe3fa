/*
 * movie.c - the movie box of ISO BMFF cleaned by the MP4 rules (movie.h):
 * ISO/IEC 14496-12 sections 8.1-8.8, 14496-14, Apple QuickTime File Format,
 * 3GPP TS 26.244.
 *
 * The 'moov' payload is read into memory and parsed as a tree of the boxes
 * needed to play the file; cleaning edits that tree in place (zeroed times,
 * emptied names) or marks boxes dropped, and the writer serialises what is
 * left. Sample data is never read here: the caller streams it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../io.h"
#include "../../plan.h"
#include "../../report.h"
#include "icc.h"
#include "movie.h"
#include "xmp.h"

#define FOURCC UM_FOURCC

/* 1904-01-01 (the QuickTime/ISO epoch) to 1970-01-01, in seconds. */
#define EPOCH_1904 2082844800ull

typedef struct node node;
struct node {
    uint32_t type;
    uint8_t uuid[16];
    uint8_t *data;      /* payload after the header (in the moov buffer, or own) */
    size_t len;
    uint8_t *own;       /* a replaced payload, freed with the tree */
    uint64_t in_off;    /* absolute input offset of the box */
    node *kids;         /* containers only */
    size_t nkids;
    int container;
    int drop;
};

typedef struct track {
    node *trak;
    uint32_t id;
    uint32_t handler;
    uint32_t entry;     /* format of the first sample entry */
    node *stsd, *stco, *co64, *stsc, *stsz, *stz2, *saio, *tref;
    int remove;
    int chapter;        /* referenced by a 'chap' track reference */
} track;

struct um_movie {
    um_job *job;
    const char *fmt;    /* the format, for messages */
    uint64_t base;      /* input byte that chunk offsets count from */
    unsigned flags;     /* UM_MOVIE_* */
    um_box box;         /* the moov box in the input */
    uint8_t *moov;      /* its payload */
    size_t moov_len;
    node root;          /* the moov box */
    track *tracks;
    size_t ntracks, captracks;
    um_movie_range *zero; /* input ranges of removed samples */
    size_t nzero, capzero;
};

/* ---- small helpers ------------------------------------------------------ */

/* Seconds since 1904 as "YYYY-MM-DD hh:mm:ss" (UTC). */
static void fmt_time(uint64_t t, char *out, size_t n)
{
    if (t < EPOCH_1904) {
        snprintf(out, n, "%llu s after 1904-01-01", (unsigned long long)t);
        return;
    }
    uint64_t s = t - EPOCH_1904;
    int64_t days = (int64_t)(s / 86400);
    unsigned sec = (unsigned)(s % 86400);
    /* civil_from_days (H. Hinnant), for days since 1970-01-01. */
    days += 719468;
    int64_t era = days / 146097;
    unsigned doe = (unsigned)(days - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2)
        y++;
    snprintf(out, n, "%04lld-%02u-%02u %02u:%02u:%02u", (long long)y, m, d, sec / 3600, sec / 60 % 60, sec % 60);
}

/* A text value for a finding: at most 160 bytes, NUL-terminated. */
static void text(char *out, size_t cap, const uint8_t *p, size_t n)
{
    size_t k = n < cap - 1 ? n : cap - 1;
    memcpy(out, p, k);
    out[k] = '\0';
}

/* ISO 6709 "+48.8583+002.2945+035.000/" (degrees, DDMM or DDMMSS forms)
 * as decimal degrees. Returns 0 when it does not parse. */
static double iso6709_part(const char **s, int deg_digits, int *ok)
{
    const char *p = *s;
    double sign = 1;
    if (*p == '+' || *p == '-') {
        sign = *p == '-' ? -1 : 1;
        p++;
    } else {
        *ok = 0;
        return 0;
    }
    const char *q = p;
    int ndig = 0;
    while (*q >= '0' && *q <= '9') {
        q++;
        ndig++;
    }
    double ip = 0, frac = 0, scale = 1;
    for (const char *r = p; r < q; r++)
        ip = ip * 10 + (*r - '0');
    if (*q == '.') {
        q++;
        while (*q >= '0' && *q <= '9') {
            scale /= 10;
            frac += (*q - '0') * scale;
            q++;
        }
    }
    double v = ip + frac;
    if (deg_digits > 0 && ndig == deg_digits + 2) {
        double d = (double)(long)(ip / 100);
        v = d + (v - d * 100) / 60;
    } else if (deg_digits > 0 && ndig == deg_digits + 4) {
        double d = (double)(long)(ip / 10000);
        double mi = (double)((long)(ip / 100) % 100);
        v = d + mi / 60 + (v - d * 10000 - mi * 100) / 3600;
    } else if (deg_digits > 0 && ndig != deg_digits) {
        *ok = 0;
    }
    *s = q;
    return sign * v;
}

static int iso6709(const char *s, char *out, size_t n)
{
    int ok = 1;
    double lat = iso6709_part(&s, 2, &ok);
    double lon = ok ? iso6709_part(&s, 3, &ok) : 0;
    if (!ok)
        return 0;
    if (*s == '+' || *s == '-') {
        double alt = iso6709_part(&s, 0, &ok);
        if (ok) {
            snprintf(out, n, "%.6f, %.6f (altitude %.1f m)", lat, lon, alt);
            return 1;
        }
    }
    snprintf(out, n, "%.6f, %.6f", lat, lon);
    return 1;
}

/* The category of a metadata key ("com.apple.quicktime.make", "(c)xyz"). */
static int key_category(const char *k)
{
    char l[96];
    size_t i = 0;
    const char *dot = strrchr(k, '.');
    /* Judge reverse-DNS keys by their last part ("com.apple.quicktime.make"). */
    if (dot && dot[1] && strncmp(k, "com.", 4) == 0)
        k = dot + 1;
    if (strcmp(k, "ISO6709") == 0)
        return UNMETA_CAT_LOCATION;
    for (; i < sizeof(l) - 1 && k[i]; i++)
        l[i] = (char)(k[i] >= 'A' && k[i] <= 'Z' ? k[i] + 32 : k[i]);
    l[i] = '\0';
    if (strstr(l, "location") || strstr(l, "xyz") || strstr(l, "gps") || strstr(l, "loci"))
        return UNMETA_CAT_LOCATION;
    if (strstr(l, "make") || strstr(l, "model") || strstr(l, "mak") || strstr(l, "mod") ||
        strstr(l, "serial") || strstr(l, "lens") || strstr(l, "camera") || strstr(l, "device"))
        return UNMETA_CAT_DEVICE;
    if (strstr(l, "software") || strstr(l, "swr") || strstr(l, "too") || strstr(l, "enc") ||
        strstr(l, "tool") || strstr(l, "firmware"))
        return UNMETA_CAT_SOFTWARE;
    if (strstr(l, "date") || strstr(l, "day") || strstr(l, "time") || strstr(l, "yrrc"))
        return UNMETA_CAT_TIME;
    if (strstr(l, "covr") || strstr(l, "artwork"))
        return UNMETA_CAT_EMBEDDED;
    return UNMETA_CAT_PEOPLE;
}

/* Reports a text value under a key, decoding ISO 6709 locations. */
static int report_text(um_job *job, int blk, const char *key, const uint8_t *p, size_t n)
{
    char v[200], loc[96];
    text(v, sizeof(v), p, n);
    int cat = key_category(key);
    if (cat == UNMETA_CAT_LOCATION && iso6709(v, loc, sizeof(loc)))
        return um_report_finding(job, blk, cat, key, "%s", loc);
    return um_report_finding(job, blk, cat, key, "%s", v);
}

/* ---- reading what udta and meta hold (for the report) ------------------- */

static const uint8_t xmp_uuid[16] = { 0xBE, 0x7A, 0xCF, 0xCB, 0x97, 0xA9, 0x42, 0xE8,
                                      0x9C, 0x71, 0x99, 0x94, 0x91, 0xE3, 0xAF, 0xAC };

static int scan_meta(um_movie *m, int blk, const uint8_t *p, size_t n, uint64_t base, unsigned depth);

/* iTunes-style item list: items named by 4CC (mdir) or by key index (mdta). */
static int scan_ilst(um_movie *m, int blk, const uint8_t *p, size_t n, uint64_t base, const uint8_t **keys,
                     const size_t *klen, size_t nkeys)
{
    um_job *job = m->job;
    size_t pos = 0;
    int found = 0;
    while (pos < n) {
        um_box it;
        UM_TRY(um_box_parse(job, m->fmt, p, n, pos, base, &it));
        UM_TRY(um_job_count_item(job, "metadata item"));
        char key[96], t[5];
        uint32_t idx = it.type;
        if (nkeys && idx >= 1 && idx <= nkeys) {
            text(key, sizeof(key), keys[idx - 1], klen[idx - 1]);
        } else {
            um_fourcc_str(it.type, t);
            if ((it.type >> 24) == 0xA9)
                snprintf(key, sizeof(key), "(c)%s", t + 1);
            else
                snprintf(key, sizeof(key), "%s", t);
        }
        const uint8_t *q = p + pos + it.hdr;
        size_t qn = (size_t)it.size - it.hdr, qpos = 0;
        int item_found = 0;
        while (qpos + 8 <= qn) {
            um_box d;
            UM_TRY(um_box_parse(job, m->fmt, q, qn, qpos, base + pos + it.hdr, &d));
            const uint8_t *v = q + qpos + d.hdr;
            size_t vn = (size_t)d.size - d.hdr;
            if (d.type == FOURCC('d', 'a', 't', 'a') && vn >= 8) {
                uint32_t wk = um_be32(v) & 0xFFFFFF;
                v += 8;
                vn -= 8;
                if (it.type == FOURCC('c', 'o', 'v', 'r') || wk == 13 || wk == 14 || wk == 27)
                    UM_TRY(um_report_finding(job, blk, UNMETA_CAT_EMBEDDED, "CoverArt", "%s image, %zu bytes",
                                             wk == 14 ? "PNG" : wk == 27 ? "BMP" : "JPEG", vn));
                else if (wk == 1 || wk == 2 || wk == 4 || wk == 5)
                    UM_TRY(report_text(job, blk, key, v, vn));
                else
                    UM_TRY(um_report_finding(job, blk, key_category(key), key, "%zu bytes", vn));
                item_found = 1;
            }
            qpos += (size_t)d.size;
        }
        if (!item_found)
            UM_TRY(um_report_finding(job, blk, UNMETA_CAT_OTHER, key, "%zu bytes", qn));
        found = 1;
        pos += (size_t)it.size;
    }
    (void)found;
    return 0;
}

/* A 'meta' box: ISO full box (iTunes, 3GPP) or QuickTime plain box (mdta). */
static int scan_meta(um_movie *m, int blk, const uint8_t *p, size_t n, uint64_t base, unsigned depth)
{
    um_job *job = m->job;
    size_t pos = 0;
    if (n >= 8 && um_be32(p + 4) != FOURCC('h', 'd', 'l', 'r'))
        pos = 4; /* version and flags */
    const uint8_t *keys[256];
    size_t klen[256], nkeys = 0;
    int found = 0;
    if (depth > job->ctx->limits.max_depth)
        return um_fail(job, UNMETA_E_LIMIT, "%s: metadata nested deeper than %u (UNMETA_OPT_MAX_DEPTH)", m->fmt,
                       job->ctx->limits.max_depth);
    /* Two passes: keys first, since ilst may come before it. */
    for (int pass = 0; pass < 2; pass++) {
        size_t i = pos;
        while (i + 8 <= n) {
            um_box b;
            UM_TRY(um_box_parse(job, m->fmt, p, n, i, base, &b));
            const uint8_t *v = p + i + b.hdr;
            size_t vn = (size_t)b.size - b.hdr;
            if (pass == 0 && b.type == FOURCC('k', 'e', 'y', 's') && vn >= 8) {
                /* QTFF Metadata: version/flags, entry count, then key boxes. */
                size_t k = 8;
                while (k + 8 <= vn && nkeys < 256) {
                    uint32_t ks = um_be32(v + k);
                    if (ks < 8 || ks > vn - k)
                        break;
                    keys[nkeys] = v + k + 8;
                    klen[nkeys] = ks - 8;
                    nkeys++;
                    k += ks;
                }
            } else if (pass == 1) {
                char t[5];
                switch (b.type) {
                case FOURCC('h', 'd', 'l', 'r'):
                case FOURCC('k', 'e', 'y', 's'):
                case FOURCC('f', 'r', 'e', 'e'):
                case FOURCC('s', 'k', 'i', 'p'):
                    break;
                case FOURCC('i', 'l', 's', 't'):
                    UM_TRY(scan_ilst(m, blk, v, vn, base + i + b.hdr, keys, klen, nkeys));
                    found |= vn > 0;
                    break;
                case FOURCC('X', 'M', 'P', '_'):
                case FOURCC('x', 'm', 'l', ' '):
                    UM_TRY(um_xmp_scan(job, blk, v, vn));
                    found = 1;
                    break;
                default:
                    if (b.type == FOURCC('u', 'u', 'i', 'd') && memcmp(b.uuid, xmp_uuid, 16) == 0)
                        UM_TRY(um_xmp_scan(job, blk, v, vn));
                    else
                        UM_TRY(um_report_finding(job, blk, UNMETA_CAT_OTHER, "MetaBox", "'%s', %zu bytes",
                                                 um_fourcc_str(b.type, t), vn));
                    found = 1;
                    break;
                }
            }
            i += (size_t)b.size;
        }
    }
    if (!found && n > pos)
        UM_TRY(um_report_finding(job, blk, UNMETA_CAT_OTHER, "MetaBox", "%zu bytes", n));
    return 0;
}

/* A 'udta' box: QuickTime (c)xxx strings, 3GPP strings and loci, meta. */
static int scan_udta(um_movie *m, int blk, const uint8_t *p, size_t n, uint64_t base, unsigned depth)
{
    um_job *job = m->job;
    size_t pos = 0;
    while (pos + 8 <= n) {
        um_box b;
        char t[5], key[16];
        UM_TRY(um_box_parse(job, m->fmt, p, n, pos, base, &b));
        UM_TRY(um_job_count_item(job, "user data item"));
        const uint8_t *v = p + pos + b.hdr;
        size_t vn = (size_t)b.size - b.hdr;
        um_fourcc_str(b.type, t);
        if ((b.type >> 24) == 0xA9)
            snprintf(key, sizeof(key), "(c)%s", t + 1);
        else
            snprintf(key, sizeof(key), "%s", t);
        switch (b.type) {
        case FOURCC('m', 'e', 't', 'a'):
            UM_TRY(scan_meta(m, blk, v, vn, base + pos + b.hdr, depth + 1));
            break;
        case FOURCC('X', 'M', 'P', '_'):
            UM_TRY(um_xmp_scan(job, blk, v, vn));
            break;
        case FOURCC('f', 'r', 'e', 'e'):
        case FOURCC('s', 'k', 'i', 'p'):
            if (!um_all_zero(v, vn))
                UM_TRY(um_report_finding(job, blk, UNMETA_CAT_OTHER, "Padding", "%zu bytes with data", vn));
            break;
        case FOURCC('l', 'o', 'c', 'i'): {
            /* 3GPP TS 26.244 8.10: full box, language, name, role, fixed
             * 16.16 longitude, latitude, altitude, then strings. */
            size_t k = 6;
            while (k < vn && v[k])
                k++;
            k += 2; /* NUL and role */
            if (k + 12 <= vn) {
                double lon = (int32_t)um_be32(v + k) / 65536.0, lat = (int32_t)um_be32(v + k + 4) / 65536.0;
                double alt = (int32_t)um_be32(v + k + 8) / 65536.0;
                UM_TRY(um_report_finding(job, blk, UNMETA_CAT_LOCATION, "loci", "%.6f, %.6f (altitude %.1f m)",
                                         lat, lon, alt));
            } else {
                UM_TRY(um_report_finding(job, blk, UNMETA_CAT_LOCATION, "loci", "%zu bytes", vn));
            }
            break;
        }
        case FOURCC('t', 'i', 't', 'l'):
        case FOURCC('a', 'u', 't', 'h'):
        case FOURCC('c', 'p', 'r', 't'):
        case FOURCC('d', 's', 'c', 'p'):
        case FOURCC('p', 'e', 'r', 'f'):
        case FOURCC('g', 'n', 'r', 'e'):
        case FOURCC('a', 'l', 'b', 'm'):
        case FOURCC('k', 'y', 'w', 'd'):
            /* 3GPP strings: full box, language, UTF-8 string. */
            if (vn > 6)
                UM_TRY(report_text(job, blk, key, v + 6, vn - 6));
            else
                UM_TRY(um_report_finding(job, blk, UNMETA_CAT_PEOPLE, key, "%zu bytes", vn));
            break;
        default:
            if (b.type == FOURCC('u', 'u', 'i', 'd') && memcmp(b.uuid, xmp_uuid, 16) == 0) {
                UM_TRY(um_xmp_scan(job, blk, v, vn));
            } else if ((b.type >> 24) == 0xA9 && vn >= 4 && um_be16(v) <= vn - 4) {
                /* QuickTime international text: size, language, text. */
                UM_TRY(report_text(job, blk, key, v + 4, um_be16(v)));
            } else if (b.type == FOURCC('n', 'a', 'm', 'e')) {
                UM_TRY(report_text(job, blk, "TrackName", v, vn));
            } else {
                UM_TRY(um_report_finding(job, blk, key_category(key) == UNMETA_CAT_PEOPLE ? UNMETA_CAT_OTHER
                                                                                       : key_category(key),
                                         key, "%zu bytes", vn));
            }
            break;
        }
        pos += (size_t)b.size;
    }
    return 0;
}

/* Reports a metadata box (udta, meta, uuid, XMP_...) found at abs; uuid is
 * the box's 16-byte extended type, meaningful for 'uuid' boxes. */
static int report_metadata_box(um_movie *m, uint32_t type, const uint8_t *uuid, const uint8_t *p, size_t n,
                               uint64_t abs, uint64_t size, const char *where)
{
    um_job *job = m->job;
    char kind[64], t[5];
    snprintf(kind, sizeof(kind), "%s %s", where, um_fourcc_str(type, t));
    int blk = um_report_block(job, kind, abs, size, UNMETA_ACTION_REMOVE);
    UM_TRY(blk);
    uint64_t body = abs + (size - n);
    switch (type) {
    case FOURCC('u', 'd', 't', 'a'):
        return scan_udta(m, blk, p, n, body, 1);
    case FOURCC('m', 'e', 't', 'a'):
        return scan_meta(m, blk, p, n, body, 1);
    case FOURCC('X', 'M', 'P', '_'):
        return um_xmp_scan(job, blk, p, n);
    case FOURCC('u', 'u', 'i', 'd'):
        if (memcmp(uuid, xmp_uuid, 16) == 0)
            return um_xmp_scan(job, blk, p, n);
        return um_report_finding(job, blk, UNMETA_CAT_OTHER, "VendorBox",
                                 "uuid %02x%02x%02x%02x-..., %zu bytes", uuid[0], uuid[1], uuid[2], uuid[3], n);
    case FOURCC('f', 'r', 'e', 'e'):
    case FOURCC('s', 'k', 'i', 'p'):
    case FOURCC('w', 'i', 'd', 'e'):
        if (!um_all_zero(p, n))
            return um_report_finding(job, blk, UNMETA_CAT_OTHER, "Padding", "%zu bytes with data", n);
        return 0;
    default:
        return um_report_finding(job, blk, UNMETA_CAT_OTHER, "Box", "'%s', %zu bytes", t, n);
    }
}

/* ---- the moov tree ------------------------------------------------------- */

static int is_container(uint32_t t)
{
    switch (t) {
    case FOURCC('m', 'o', 'o', 'v'):
    case FOURCC('t', 'r', 'a', 'k'):
    case FOURCC('m', 'd', 'i', 'a'):
    case FOURCC('m', 'i', 'n', 'f'):
    case FOURCC('s', 't', 'b', 'l'):
    case FOURCC('d', 'i', 'n', 'f'):
    case FOURCC('e', 'd', 't', 's'):
    case FOURCC('m', 'v', 'e', 'x'):
        return 1;
    default:
        return 0;
    }
}

static void free_tree(node *n)
{
    for (size_t i = 0; i < n->nkids; i++)
        free_tree(&n->kids[i]);
    free(n->kids);
    free(n->own);
    n->kids = NULL;
    n->own = NULL;
    n->nkids = 0;
}

static int parse_kids(um_movie *m, node *n, unsigned depth)
{
    um_job *job = m->job;
    size_t pos = 0, cap = 0;
    if (depth > job->ctx->limits.max_depth)
        return um_fail(job, UNMETA_E_LIMIT, "%s: boxes nested deeper than %u (UNMETA_OPT_MAX_DEPTH)", m->fmt,
                       job->ctx->limits.max_depth);
    n->container = 1;
    while (pos < n->len) {
        um_box b;
        if (n->len - pos < 8) {
            /* QuickTime allows a 32-bit zero terminator in containers. */
            if (n->len - pos == 4 && um_be32(n->data + pos) == 0)
                break;
            return um_fail(job, UNMETA_E_MALFORMED, "%s: %zu stray bytes at the end of a box at byte %llu", m->fmt,
                           n->len - pos, (unsigned long long)n->in_off);
        }
        UM_TRY(um_box_parse(job, m->fmt, n->data, n->len, pos, n->in_off, &b));
        UM_TRY(um_job_count_item(job, "box"));
        UM_TRY(um_grow(job, (void **)&n->kids, &cap, n->nkids, sizeof(node)));
        node *k = &n->kids[n->nkids++];
        memset(k, 0, sizeof(*k));
        k->type = b.type;
        memcpy(k->uuid, b.uuid, 16);
        k->data = n->data + pos + b.hdr;
        k->len = (size_t)b.size - b.hdr;
        /* The absolute offset of this box in the input. */
        k->in_off = (uint64_t)(n->data - m->moov) + pos + m->box.off + m->box.hdr;
        if (is_container(b.type))
            UM_TRY(parse_kids(m, k, depth + 1));
        pos += (size_t)b.size;
    }
    return 0;
}

static node *child(node *n, uint32_t type)
{
    for (size_t i = 0; i < n->nkids; i++)
        if (n->kids[i].type == type && !n->kids[i].drop)
            return &n->kids[i];
    return NULL;
}

static uint64_t node_size(const node *n)
{
    uint64_t s = n->type == FOURCC('u', 'u', 'i', 'd') ? 24 : 8;
    if (!n->container)
        s += n->len;
    else
        for (size_t i = 0; i < n->nkids; i++)
            if (!n->kids[i].drop)
                s += node_size(&n->kids[i]);
    if (s > UINT32_MAX)
        s += 8;
    return s;
}

static uint8_t *write_node(const node *n, uint8_t *o)
{
    uint64_t s = node_size(n);
    if (s > UINT32_MAX) {
        um_put_be32(o, 1);
        um_put_be32(o + 4, n->type);
        um_put_be64(o + 8, s);
        o += 16;
    } else {
        um_put_be32(o, (uint32_t)s);
        um_put_be32(o + 4, n->type);
        o += 8;
    }
    if (n->type == FOURCC('u', 'u', 'i', 'd')) {
        memcpy(o, n->uuid, 16);
        o += 16;
    }
    if (!n->container) {
        if (n->len)
            memcpy(o, n->data, n->len);
        return o + n->len;
    }
    for (size_t i = 0; i < n->nkids; i++)
        if (!n->kids[i].drop)
            o = write_node(&n->kids[i], o);
    return o;
}

/* Zeroes the creation and modification times of mvhd/tkhd/mdhd (8.2.2,
 * 8.3.2, 8.4.2), reporting them. Returns the track ID for tkhd. */
static int zero_times(um_movie *m, node *n, const char *where, uint32_t *track_id)
{
    um_job *job = m->job;
    char t[5];
    um_fourcc_str(n->type, t);
    if (n->len < 4)
        return um_fail(job, UNMETA_E_MALFORMED, "%s: '%s' box too short", m->fmt, t);
    int v1 = n->data[0] == 1;
    size_t need = v1 ? 4 + 8 + 8 + 4 : 4 + 4 + 4 + 4;
    if (n->data[0] > 1 || n->len < need)
        return um_fail(job, UNMETA_E_MALFORMED, "%s: '%s' box of version %u and %zu bytes", m->fmt, t, n->data[0], n->len);
    uint64_t ct = v1 ? um_be64(n->data + 4) : um_be32(n->data + 4);
    uint64_t mt = v1 ? um_be64(n->data + 12) : um_be32(n->data + 8);
    if (track_id)
        *track_id = um_be32(n->data + (v1 ? 20 : 12));
    if (ct || mt) {
        char kind[48], a[40], b[40];
        snprintf(kind, sizeof(kind), "%s %s", where, t);
        int blk = um_report_block(job, kind, n->in_off, n->len + 8, UNMETA_ACTION_REWRITE);
        UM_TRY(blk);
        fmt_time(ct, a, sizeof(a));
        fmt_time(mt, b, sizeof(b));
        if (ct)
            UM_TRY(um_report_finding(job, blk, UNMETA_CAT_TIME, "CreationTime", "%s", a));
        if (mt)
            UM_TRY(um_report_finding(job, blk, UNMETA_CAT_TIME, "ModificationTime", "%s", b));
        memset(n->data + 4, 0, v1 ? 16 : 8);
    }
    return 0;
}

/* Empties a handler name (8.4.3), keeping the box. Returns the handler type. */
static int clear_hdlr(um_movie *m, node *n, const char *where, uint32_t *handler)
{
    um_job *job = m->job;
    if (n->len < 24)
        return um_fail(job, UNMETA_E_MALFORMED, "%s: 'hdlr' box of %zu bytes at byte %llu", m->fmt, n->len,
                       (unsigned long long)n->in_off);
    if (handler)
        *handler = um_be32(n->data + 8);
    const uint8_t *name = n->data + 24;
    size_t nn = n->len - 24;
    int vendor = !um_all_zero(n->data + 12, 4);
    if (um_all_zero(name, nn) && !vendor)
        return 0;
    char kind[48], v[160];
    snprintf(kind, sizeof(kind), "%s hdlr", where);
    int blk = um_report_block(job, kind, n->in_off, n->len + 8, UNMETA_ACTION_REWRITE);
    UM_TRY(blk);
    if (vendor) {
        /* QTFF: the component manufacturer ('appl', a camera maker). */
        UM_TRY(um_report_finding(job, blk, UNMETA_CAT_SOFTWARE, "HandlerVendorID", "%.4s",
                                 (const char *)n->data + 12));
        memset(n->data + 12, 0, 4);
        if (um_all_zero(name, nn))
            return 0;
    }
    /* A QuickTime Pascal string starts with its length. */
    if (name[0] && name[0] == nn - 1)
        text(v, sizeof(v), name + 1, nn - 1);
    else
        text(v, sizeof(v), name, nn);
    UM_TRY(um_report_finding(job, blk, UNMETA_CAT_SOFTWARE, "HandlerName", "%s", v));
    n->own = um_calloc(job, 1, 25);
    if (!n->own)
        return job->err;
    memcpy(n->own, n->data, 24);
    n->data = n->own;
    n->len = 25;
    return 0;
}

/* Compressor names that only name the codec (kept: they reveal nothing). */
static int codec_name(const uint8_t *cn)
{
    static const char *const names[] = {
        "AVC Coding", "HEVC Coding", "H.264", "H.265", "HEVC", "JVT/AVC Coding", "AV1 Coding",
        "MPEG-4 Video", "Photo - JPEG", "Motion JPEG A", "Motion JPEG B", "VP9 Coding", "DV - NTSC", "DV - PAL",
        "DVCPRO - NTSC", "DVCPRO - PAL", "DVCPRO50 - NTSC", "DVCPRO50 - PAL", "DVCPRO HD 1080i60",
        "DVCPRO HD 1080i50", "DVCPRO HD 720p60", "Apple ProRes 422", "Apple ProRes 422 HQ",
        "Apple ProRes 422 LT", "Apple ProRes 422 Proxy", "Apple ProRes 4444", "Apple ProRes 4444 XQ",
        "Apple ProRes RAW", "Apple ProRes RAW HQ", "Animation", "PNG", "None",
    };
    size_t l = cn[0];
    if (l > 31)
        return 0;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i]) == l && memcmp(cn + 1, names[i], l) == 0)
            return um_all_zero(cn + 1 + l, 31 - l);
    return 0;
}

/* Sample descriptions (8.5.2): vendor codes, compressor names, ICC. */
static int clean_stsd(um_movie *m, track *tr)
{
    um_job *job = m->job;
    node *n = tr->stsd;
    if (n->len < 8)
        return um_fail(job, UNMETA_E_MALFORMED, "%s: 'stsd' of track %u too short", m->fmt, tr->id);
    uint32_t count = um_be32(n->data + 4);
    size_t pos = 8;
    for (uint32_t e = 0; e < count && pos < n->len; e++) {
        um_box b;
        UM_TRY(um_box_parse(job, m->fmt, n->data, n->len, pos, n->in_off + 8, &b));
        UM_TRY(um_job_count_item(job, "sample entry"));
        uint8_t *v = n->data + pos + b.hdr;
        size_t vn = (size_t)b.size - b.hdr;
        if (e == 0)
            tr->entry = b.type;
        int video = tr->handler == FOURCC('v', 'i', 'd', 'e') && vn >= 78;
        int sound = tr->handler == FOURCC('s', 'o', 'u', 'n') && vn >= 28;
        int blk = -1;
        char t[5];
        if ((video || sound) && !um_all_zero(v + 12, 4)) {
            /* QTFF: the vendor code of the encoder ('appl', 'FFMP'). */
            char kind[48];
            snprintf(kind, sizeof(kind), "track %u sample entry '%s'", tr->id, um_fourcc_str(b.type, t));
            blk = um_report_block(job, kind, n->in_off + 8 + pos, b.size, UNMETA_ACTION_REWRITE);
            UM_TRY(blk);
            UM_TRY(um_report_finding(job, blk, UNMETA_CAT_SOFTWARE, "VendorID", "%.4s", (const char *)v + 12));
            memset(v + 12, 0, 4);
        }
        if (video && !um_all_zero(v + 42, 32) && !codec_name(v + 42)) {
            char name[40];
            size_t l = v[42] <= 31 ? v[42] : 31;
            text(name, sizeof(name), v + 43, l);
            if (blk < 0) {
                char kind[48];
                snprintf(kind, sizeof(kind), "track %u sample entry '%s'", tr->id, um_fourcc_str(b.type, t));
                blk = um_report_block(job, kind, n->in_off + 8 + pos, b.size, UNMETA_ACTION_REWRITE);
                UM_TRY(blk);
            }
            UM_TRY(um_report_finding(job, blk, UNMETA_CAT_SOFTWARE, "CompressorName", "%s", name));
            memset(v + 42, 0, 32);
        }
        if (video) {
            /* Child boxes of a visual sample entry: 'colr' may hold ICC. */
            size_t k = 78;
            while (k + 8 <= vn) {
                um_box c;
                memset(&c, 0, sizeof(c));
                c.size = um_be32(v + k);
                c.type = um_be32(v + k + 4);
                c.hdr = 8;
                if (c.size < 8 || c.size > vn - k)
                    break; /* codec data is the decoder's business */
                if (c.type == FOURCC('c', 'o', 'l', 'r') && c.size >= c.hdr + 4 &&
                    (um_be32(v + k + c.hdr) == FOURCC('p', 'r', 'o', 'f') ||
                     um_be32(v + k + c.hdr) == FOURCC('r', 'I', 'C', 'C'))) {
                    int b2 = um_report_block(job, "colr ICC profile", n->in_off + 8 + pos + b.hdr + k, c.size,
                                             UNMETA_ACTION_REWRITE);
                    UM_TRY(b2);
                    int changed = 0;
                    UM_TRY(um_icc_neutralise(job, b2, v + k + c.hdr + 4, (size_t)c.size - c.hdr - 4, &changed));
                    if (!changed)
                        um_report_block_action(job, b2, UNMETA_ACTION_KEEP);
                }
                k += (size_t)c.size;
            }
        }
        pos += (size_t)b.size;
    }
    return 0;
}

/* Data references (8.7.2): media in another file is refused. */
static int check_dref(um_movie *m, node *dinf, uint32_t id)
{
    um_job *job = m->job;
    node *dref = child(dinf, FOURCC('d', 'r', 'e', 'f'));
    if (!dref)
        return 0;
    if (dref->len < 8)
        return um_fail(job, UNMETA_E_MALFORMED, "%s: 'dref' of track %u too short", m->fmt, id);
    size_t pos = 8;
    uint32_t count = um_be32(dref->data + 4);
    for (uint32_t e = 0; e < count && pos < dref->len; e++) {
        um_box b;
        UM_TRY(um_box_parse(job, m->fmt, dref->data, dref->len, pos, dref->in_off + 8, &b));
        const uint8_t *v = dref->data + pos + b.hdr;
        size_t vn = (size_t)b.size - b.hdr;
        if (vn < 4 || !(v[3] & 1)) {
            char t[5];
            return um_fail(job, UNMETA_E_UNSUPPORTED,
                           "%s: track %u refers to media in another file ('%s' data reference); unmeta strips "
                           "self-contained files only", m->fmt, id, um_fourcc_str(b.type, t));
        }
        pos += (size_t)b.size;
    }
    return 0;
}

/* Drops a box at movie/track level, reporting what it held. */
static int drop_box(um_movie *m, node *n, const char *where)
{
    n->drop = 1;
    return report_metadata_box(m, n->type, n->uuid, n->data, n->len, n->in_off, node_size(n), where);
}

static int walk_stbl(um_movie *m, track *tr, node *stbl)
{
    for (size_t i = 0; i < stbl->nkids; i++) {
        node *k = &stbl->kids[i];
        switch (k->type) {
        case FOURCC('s', 't', 's', 'd'): tr->stsd = k; break;
        case FOURCC('s', 't', 'c', 'o'): tr->stco = k; break;
        case FOURCC('c', 'o', '6', '4'): tr->co64 = k; break;
        case FOURCC('s', 't', 's', 'c'): tr->stsc = k; break;
        case FOURCC('s', 't', 's', 'z'): tr->stsz = k; break;
        case FOURCC('s', 't', 'z', '2'): tr->stz2 = k; break;
        case FOURCC('s', 'a', 'i', 'o'): tr->saio = k; break;
        case FOURCC('s', 't', 't', 's'):
        case FOURCC('c', 't', 't', 's'):
        case FOURCC('c', 's', 'l', 'g'):
        case FOURCC('s', 't', 's', 's'):
        case FOURCC('s', 't', 'p', 's'):
        case FOURCC('s', 'd', 't', 'p'):
        case FOURCC('s', 'b', 'g', 'p'):
        case FOURCC('s', 'g', 'p', 'd'):
        case FOURCC('s', 'u', 'b', 's'):
        case FOURCC('s', 'a', 'i', 'z'):
        case FOURCC('p', 'a', 'd', 'b'):
        case FOURCC('s', 't', 'd', 'p'):
        case FOURCC('s', 't', 's', 'h'):
            break;
        default:
            UM_TRY(drop_box(m, k, "sample table"));
            break;
        }
    }
    if (!tr->stsd)
        return um_fail(m->job, UNMETA_E_MALFORMED, "%s: track %u has no sample description", m->fmt, tr->id);
    return 0;
}

static int walk_trak(um_movie *m, node *trak)
{
    um_job *job = m->job;
    UM_TRY(um_grow(job, (void **)&m->tracks, &m->captracks, m->ntracks, sizeof(track)));
    track *tr = &m->tracks[m->ntracks++];
    memset(tr, 0, sizeof(*tr));
    tr->trak = trak;
    node *tkhd = child(trak, FOURCC('t', 'k', 'h', 'd'));
    node *mdia = child(trak, FOURCC('m', 'd', 'i', 'a'));
    if (!tkhd || !mdia)
        return um_fail(job, UNMETA_E_MALFORMED, "%s: a track without %s", m->fmt, tkhd ? "'mdia'" : "'tkhd'");
    UM_TRY(zero_times(m, tkhd, "track", &tr->id));
    for (size_t i = 0; i < trak->nkids; i++) {
        node *k = &trak->kids[i];
        switch (k->type) {
        case FOURCC('t', 'k', 'h', 'd'):
        case FOURCC('m', 'd', 'i', 'a'):
        case FOURCC('e', 'd', 't', 's'):
        case FOURCC('t', 'a', 'p', 't'): /* QTFF track aperture dimensions */
        case FOURCC('c', 'l', 'i', 'p'):
        case FOURCC('m', 'a', 't', 't'):
        case FOURCC('l', 'o', 'a', 'd'):
        case FOURCC('t', 'x', 'a', 's'):
            break;
        case FOURCC('t', 'r', 'e', 'f'):
            tr->tref = k;
            break;
        default:
            UM_TRY(drop_box(m, k, "track"));
            break;
        }
    }
    for (size_t i = 0; i < mdia->nkids; i++) {
        node *k = &mdia->kids[i];
        switch (k->type) {
        case FOURCC('m', 'd', 'h', 'd'):
            UM_TRY(zero_times(m, k, "media", NULL));
            break;
        case FOURCC('h', 'd', 'l', 'r'):
            UM_TRY(clear_hdlr(m, k, "media", &tr->handler));
            break;
        case FOURCC('m', 'i', 'n', 'f'):
        case FOURCC('e', 'l', 'n', 'g'):
            break;
        default:
            UM_TRY(drop_box(m, k, "media"));
            break;
        }
    }
    node *minf = child(mdia, FOURCC('m', 'i', 'n', 'f'));
    if (!minf || !tr->handler)
        return um_fail(job, UNMETA_E_MALFORMED, "%s: track %u without %s", m->fmt, tr->id,
                       minf ? "a handler" : "'minf'");
    node *stbl = NULL;
    for (size_t i = 0; i < minf->nkids; i++) {
        node *k = &minf->kids[i];
        switch (k->type) {
        case FOURCC('v', 'm', 'h', 'd'):
        case FOURCC('s', 'm', 'h', 'd'):
        case FOURCC('h', 'm', 'h', 'd'):
        case FOURCC('n', 'm', 'h', 'd'):
        case FOURCC('s', 't', 'h', 'd'):
        case FOURCC('g', 'm', 'h', 'd'):
            break;
        case FOURCC('h', 'd', 'l', 'r'):
            UM_TRY(clear_hdlr(m, k, "data", NULL));
            break;
        case FOURCC('d', 'i', 'n', 'f'):
            UM_TRY(check_dref(m, k, tr->id));
            break;
        case FOURCC('s', 't', 'b', 'l'):
            stbl = k;
            break;
        default:
            UM_TRY(drop_box(m, k, "media information"));
            break;
        }
    }
    if (!stbl)
        return um_fail(job, UNMETA_E_MALFORMED, "%s: track %u has no sample table", m->fmt, tr->id);
    UM_TRY(walk_stbl(m, tr, stbl));
    return clean_stsd(m, tr);
}

static track *find_track(um_movie *m, uint32_t id)
{
    for (size_t i = 0; i < m->ntracks; i++)
        if (m->tracks[i].id == id)
            return &m->tracks[i];
    return NULL;
}

/* Which tracks go: timed metadata, timecode, chapters, unknown handlers. */
static int choose_tracks(um_movie *m)
{
    um_job *job = m->job;
    for (size_t i = 0; i < m->ntracks; i++) {
        track *tr = &m->tracks[i];
        if (!tr->tref)
            continue;
        /* 8.3.3: boxes of track IDs by reference type. */
        size_t pos = 0;
        while (pos + 8 <= tr->tref->len) {
            um_box b;
            UM_TRY(um_box_parse(job, m->fmt, tr->tref->data, tr->tref->len, pos, tr->tref->in_off + 8, &b));
            if (b.type == FOURCC('c', 'h', 'a', 'p'))
                for (size_t k = b.hdr; k + 4 <= b.size; k += 4) {
                    track *c = find_track(m, um_be32(tr->tref->data + pos + k));
                    if (c)
                        c->chapter = 1;
                }
            pos += (size_t)b.size;
        }
    }
    for (size_t i = 0; i < m->ntracks; i++) {
        track *tr = &m->tracks[i];
        const char *why = NULL;
        int cat = UNMETA_CAT_OTHER;
        switch (tr->handler) {
        case FOURCC('v', 'i', 'd', 'e'):
        case FOURCC('s', 'o', 'u', 'n'):
        case FOURCC('s', 'b', 't', 'l'):
        case FOURCC('s', 'u', 'b', 't'):
        case FOURCC('t', 'e', 'x', 't'):
        case FOURCC('c', 'l', 'c', 'p'):
        case FOURCC('a', 'u', 'x', 'v'):
        case FOURCC('p', 'i', 'c', 't'):
            break;
        case FOURCC('m', 'e', 't', 'a'):
        case FOURCC('c', 'a', 'm', 'm'):
            why = "timed metadata";
            break;
        case FOURCC('t', 'm', 'c', 'd'):
            why = "timecode (time of day of the recording)";
            cat = UNMETA_CAT_TIME;
            break;
        default:
            why = "a track of an unknown kind";
            break;
        }
        switch (tr->entry) {
        case FOURCC('m', 'e', 'b', 'x'):
        case FOURCC('m', 'e', 't', 't'):
        case FOURCC('m', 'e', 't', 'x'):
        case FOURCC('g', 'p', 'm', 'd'):
        case FOURCC('c', 'a', 'm', 'm'):
        case FOURCC('r', 't', 'm', 'd'):
            why = "timed metadata";
            break;
        default:
            break;
        }
        if (tr->entry == FOURCC('g', 'p', 'm', 'd') || tr->entry == FOURCC('c', 'a', 'm', 'm') ||
            tr->handler == FOURCC('c', 'a', 'm', 'm'))
            cat = UNMETA_CAT_LOCATION;
        if (!why && tr->chapter) {
            why = "chapter titles";
            cat = UNMETA_CAT_PEOPLE;
        }
        if (!why)
            continue;
        tr->remove = 1;
        tr->trak->drop = 1;
        char kind[48], h[5], e[5];
        snprintf(kind, sizeof(kind), "track %u", tr->id);
        int blk = um_report_block(job, kind, tr->trak->in_off, node_size(tr->trak), UNMETA_ACTION_REMOVE);
        UM_TRY(blk);
        UM_TRY(um_report_finding(job, blk, cat, "Track", "%s: handler '%s', format '%s'", why, um_fourcc_str(tr->handler, h),
                                 um_fourcc_str(tr->entry, e)));
    }
    /* A movie whose kept tracks hold no samples (metadata and cover art
     * only, or tracks without sample tables) has nothing left to show:
     * refused, rather than written as an empty movie. Fragmented movies
     * keep their samples in moof boxes and are not judged here. */
    if (!(m->flags & UM_MOVIE_FRAGMENTED) && !child(&m->root, FOURCC('m', 'v', 'e', 'x'))) {
        uint64_t samples = 0;
        for (size_t i = 0; i < m->ntracks; i++) {
            const track *tr = &m->tracks[i];
            const node *z = tr->stsz ? tr->stsz : tr->stz2;
            /* 8.7.3 sample_count, for tracks that can locate their
             * samples at all (8.7.4 stsc, 8.7.5 stco/co64) */
            const node *co = tr->stco ? tr->stco : tr->co64;
            if (!tr->remove && z && z->len >= 12 && tr->stsc && co && co->len >= 8 && um_be32(co->data + 4) > 0)
                samples += um_be32(z->data + 8);
        }
        if (samples == 0)
            return um_fail(job, UNMETA_E_UNSUPPORTED, "%s: no audio, video or subtitle samples to keep; "
                           "the file holds only metadata (and cover art, if any)", m->fmt);
    }
    return 0;
}

/* Removes references to removed tracks from the kept tracks' tref boxes. */
static int fix_tref(um_movie *m, track *tr)
{
    um_job *job = m->job;
    node *n = tr->tref;
    uint8_t *o = um_malloc(job, n->len ? n->len : 1);
    size_t on = 0, pos = 0;
    int changed = 0;
    if (!o)
        return job->err;
    while (pos + 8 <= n->len) {
        um_box b;
        int rc = um_box_parse(job, m->fmt, n->data, n->len, pos, n->in_off + 8, &b);
        if (rc < 0) {
            free(o);
            return rc;
        }
        size_t start = on;
        on += 8;
        for (size_t k = b.hdr; k + 4 <= b.size; k += 4) {
            uint32_t id = um_be32(n->data + pos + k);
            track *t = find_track(m, id);
            if (t && t->remove) {
                changed = 1;
                continue;
            }
            um_put_be32(o + on, id);
            on += 4;
        }
        if (on == start + 8) {
            on = start; /* no reference left of this type */
            changed = 1;
        } else {
            um_put_be32(o + start, (uint32_t)(on - start));
            um_put_be32(o + start + 4, b.type);
        }
        pos += (size_t)b.size;
    }
    if (!changed) {
        free(o);
        return 0;
    }
    n->own = o;
    n->data = o;
    n->len = on;
    if (on == 0)
        n->drop = 1;
    return 0;
}

/* Appends the chunk ranges of a track to *list (8.7.3-8.7.5). */
static int chunk_ranges(um_movie *m, track *tr, um_movie_range **list, size_t *nlist, size_t *caplist)
{
    um_job *job = m->job;
    node *co = tr->co64 ? tr->co64 : tr->stco;
    node *sz = tr->stsz ? tr->stsz : tr->stz2;
    int wide = tr->co64 != NULL;
    if (!co && !tr->stsc && !sz)
        return 0; /* no samples */
    /* 8.7.3-8.7.5: all or none; with one missing, the track's samples
     * (which a dropped track must have zeroed) cannot be located. */
    if (!co || !tr->stsc || !sz)
        return um_fail(job, UNMETA_E_MALFORMED, "%s: sample table of track %u lacks %s", m->fmt, tr->id,
                       !co ? "stco/co64" : !tr->stsc ? "stsc" : "stsz/stz2");
    if (co->len < 8 || tr->stsc->len < 8 || sz->len < 12)
        return um_fail(job, UNMETA_E_MALFORMED, "%s: sample table of track %u too short", m->fmt, tr->id);
    uint64_t nchunks = um_be32(co->data + 4);
    uint64_t nsc = um_be32(tr->stsc->data + 4);
    if (nchunks > (co->len - 8) / (wide ? 8 : 4) || nsc > (tr->stsc->len - 8) / 12)
        return um_fail(job, UNMETA_E_MALFORMED, "%s: sample table of track %u lists more entries than it holds", m->fmt,
                       tr->id);
    uint32_t const_size = 0, fbits = 32;
    uint64_t nsamples;
    const uint8_t *sizes = sz->data + 12;
    if (tr->stsz) {
        const_size = um_be32(sz->data + 4);
        nsamples = um_be32(sz->data + 8);
        if (!const_size && nsamples > (sz->len - 12) / 4)
            return um_fail(job, UNMETA_E_MALFORMED, "%s: 'stsz' of track %u too short", m->fmt, tr->id);
    } else {
        fbits = sz->data[7];
        nsamples = um_be32(sz->data + 8);
        if ((fbits != 4 && fbits != 8 && fbits != 16) || (nsamples * fbits + 7) / 8 > sz->len - 12)
            return um_fail(job, UNMETA_E_MALFORMED, "%s: 'stz2' of track %u is malformed", m->fmt, tr->id);
    }
    uint64_t sample = 0;
    for (uint64_t e = 0; e < nsc; e++) {
        const uint8_t *s = tr->stsc->data + 8 + 12 * e;
        uint64_t first = um_be32(s), spc = um_be32(s + 4);
        uint64_t last = e + 1 < nsc ? um_be32(s + 12) : nchunks + 1;
        if (first == 0 || last < first || last > nchunks + 1)
            return um_fail(job, UNMETA_E_MALFORMED, "%s: 'stsc' of track %u is out of order", m->fmt, tr->id);
        for (uint64_t c = first; c < last; c++) {
            uint64_t off = wide ? um_be64(co->data + 8 + 8 * (c - 1)) : um_be32(co->data + 8 + 4 * (c - 1));
            uint64_t len = 0;
            if (!um_add_u64(&off, off, m->base))
                return um_fail(job, UNMETA_E_MALFORMED, "%s: chunk offset overflow in track %u", m->fmt, tr->id);
            if (spc > nsamples - sample)
                return um_fail(job, UNMETA_E_MALFORMED, "%s: track %u has more samples in chunks than sizes", m->fmt,
                               tr->id);
            if (tr->stsz && const_size) {
                len = spc * const_size; /* both below 2^32 */
                sample += spc;
            }
            for (uint64_t k = 0; k < spc && !(tr->stsz && const_size); k++, sample++) {
                uint64_t one;
                if (tr->stsz)
                    one = um_be32(sizes + 4 * sample);
                else if (fbits == 16)
                    one = um_be16(sizes + 2 * sample);
                else if (fbits == 8)
                    one = sizes[sample];
                else
                    one = sample & 1 ? sizes[sample / 2] & 15 : sizes[sample / 2] >> 4;
                if (!um_add_u64(&len, len, one))
                    return um_fail(job, UNMETA_E_MALFORMED, "%s: chunk size overflow in track %u", m->fmt, tr->id);
            }
            if (len == 0)
                continue;
            UM_TRY(um_job_count_item(job, "chunk"));
            UM_TRY(um_grow(job, (void **)list, caplist, *nlist, sizeof(um_movie_range)));
            (*list)[*nlist].off = off;
            (*list)[*nlist].len = len;
            (*nlist)++;
        }
    }
    return 0;
}

static int cmp_range(const void *a, const void *b)
{
    const um_movie_range *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

static int walk_moov(um_movie *m)
{
    um_job *job = m->job;
    node *root = &m->root;
    node *mvhd = child(root, FOURCC('m', 'v', 'h', 'd'));
    if (!mvhd)
        return um_fail(job, UNMETA_E_MALFORMED, "%s: the movie has no header ('mvhd')", m->fmt);
    for (size_t i = 0; i < root->nkids; i++) {
        node *k = &root->kids[i];
        switch (k->type) {
        case FOURCC('m', 'v', 'h', 'd'):
            UM_TRY(zero_times(m, k, "movie", NULL));
            break;
        case FOURCC('t', 'r', 'a', 'k'):
            UM_TRY(walk_trak(m, k));
            break;
        case FOURCC('m', 'v', 'e', 'x'):
        case FOURCC('i', 'o', 'd', 's'):
        case FOURCC('p', 's', 's', 'h'):
            break;
        case FOURCC('c', 'm', 'o', 'v'):
            return um_fail(job, UNMETA_E_UNSUPPORTED, "%s: compressed movie header ('cmov') is not supported", m->fmt);
        default:
            UM_TRY(drop_box(m, k, "movie"));
            break;
        }
    }
    UM_TRY(choose_tracks(m));
    um_movie_range *kept = NULL;
    size_t nkept = 0, capkept = 0;
    int rc = 0;
    for (size_t i = 0; i < m->ntracks && rc >= 0; i++) {
        track *tr = &m->tracks[i];
        if (tr->remove)
            rc = chunk_ranges(m, tr, &m->zero, &m->nzero, &m->capzero);
        else if (tr->tref)
            rc = fix_tref(m, tr);
    }
    for (size_t i = 0; i < m->ntracks && rc >= 0 && m->nzero; i++)
        if (!m->tracks[i].remove)
            rc = chunk_ranges(m, &m->tracks[i], &kept, &nkept, &capkept);
    if (rc >= 0 && m->nzero) {
        /* Zeroing must never touch a byte a kept track reads. */
        qsort(m->zero, m->nzero, sizeof(um_movie_range), cmp_range);
        if (nkept) /* no kept track with chunks: kept is still NULL */
            qsort(kept, nkept, sizeof(um_movie_range), cmp_range);
        for (size_t a = 0, b = 0; a < m->nzero && b < nkept;) {
            um_movie_range *z = &m->zero[a], *k = &kept[b];
            if (z->off + z->len <= k->off)
                a++;
            else if (k->off + k->len <= z->off)
                b++;
            else {
                rc = um_fail(job, UNMETA_E_MALFORMED,
                             "%s: samples of a track to remove share bytes %llu.. with a kept track", m->fmt,
                             (unsigned long long)(z->off > k->off ? z->off : k->off));
                break;
            }
        }
    }
    free(kept);
    return rc;
}

/* Moves the chunk offsets of the kept tracks with their data (8.7.5). */
int um_movie_move_chunks(um_movie *m, um_movie_map_fn map, void *user)
{
    um_job *job = m->job;
    int hit;
    for (size_t i = 0; i < m->ntracks; i++) {
        track *tr = &m->tracks[i];
        if (tr->remove)
            continue;
        node *co[2] = { tr->stco, tr->co64 };
        for (int w = 0; w < 2; w++) {
            node *n = co[w];
            if (!n)
                continue;
            size_t es = w ? 8 : 4;
            if (n->len < 8 || um_be32(n->data + 4) > (n->len - 8) / es)
                return um_fail(job, UNMETA_E_MALFORMED, "%s: chunk offset table of track %u too short", m->fmt, tr->id);
            uint32_t count = um_be32(n->data + 4);
            for (uint32_t k = 0; k < count; k++) {
                uint8_t *e = n->data + 8 + es * k;
                uint64_t off = w ? um_be64(e) : um_be32(e), to = 0;
                hit = um_add_u64(&off, off, m->base) ? map(user, off, &to) : 0;
                if (hit < 0)
                    return hit;
                if (!hit)
                    return um_fail(job, UNMETA_E_MALFORMED,
                                   "%s: chunk %u of track %u points at byte %llu, outside the media data", m->fmt, k + 1,
                                   tr->id, (unsigned long long)off);
                if (w)
                    um_put_be64(e, to);
                else if (to > UINT32_MAX)
                    return um_fail(job, UNMETA_E_UNSUPPORTED,
                                   "%s: chunk offsets of track %u would pass 4 GiB ('stco' to 'co64' is not "
                                   "supported)", m->fmt, tr->id);
                else
                    um_put_be32(e, (uint32_t)to);
            }
        }
        if (tr->saio) {
            /* 8.7.9: offsets are absolute in a movie without fragments. */
            node *n = tr->saio;
            size_t p = 4 + ((n->len >= 4 && (n->data[3] & 1)) ? 8 : 0);
            int v1 = n->len >= 1 && n->data[0] == 1;
            size_t es = v1 ? 8 : 4;
            if (n->len < p + 4 || um_be32(n->data + p) > (n->len - p - 4) / es)
                return um_fail(job, UNMETA_E_MALFORMED, "%s: 'saio' of track %u too short", m->fmt, tr->id);
            uint32_t count = um_be32(n->data + p);
            for (uint32_t k = 0; k < count; k++) {
                uint8_t *e = n->data + p + 4 + es * k;
                uint64_t off = v1 ? um_be64(e) : um_be32(e), to = 0;
                hit = um_add_u64(&off, off, m->base) ? map(user, off, &to) : 0;
                if (hit < 0)
                    return hit;
                if (!hit || (!v1 && to > UINT32_MAX))
                    return um_fail(job, UNMETA_E_UNSUPPORTED,
                                   "%s: auxiliary information offsets of track %u cannot be moved", m->fmt, tr->id);
                if (v1)
                    um_put_be64(e, to);
                else
                    um_put_be32(e, (uint32_t)to);
            }
        }
    }
    return 0;
}

/* ---- the API ------------------------------------------------------------ */

int um_movie_open(um_movie **out, um_job *job, const char *fmt, const um_box *b, uint64_t base, unsigned flags)
{
    char what[48];
    int rc;
    *out = NULL;
    um_movie *m = um_calloc(job, 1, sizeof(*m));
    if (!m)
        return job->err;
    m->job = job;
    m->fmt = fmt;
    m->base = base;
    m->flags = flags;
    m->box = *b;
    snprintf(what, sizeof(what), "the %s movie box", fmt);
    UM_TRY_GOTO(rc, um_read_block(job, b->off + b->hdr, b->size - b->hdr, what, &m->moov), fail);
    m->moov_len = (size_t)(b->size - b->hdr);
    m->root.type = FOURCC('m', 'o', 'o', 'v');
    m->root.data = m->moov;
    m->root.len = m->moov_len;
    m->root.in_off = b->off;
    UM_TRY_GOTO(rc, parse_kids(m, &m->root, 1), fail);
    UM_TRY_GOTO(rc, walk_moov(m), fail);
    *out = m;
    return 0;
fail:
    um_movie_free(m);
    return rc;
}

void um_movie_free(um_movie *m)
{
    if (!m)
        return;
    free_tree(&m->root);
    free(m->moov);
    free(m->tracks);
    free(m->zero);
    free(m);
}

const um_movie_range *um_movie_removed(const um_movie *m, size_t *n)
{
    *n = m->nzero;
    return m->zero;
}

int um_movie_kept(um_movie *m, um_movie_range **list, size_t *n, size_t *cap)
{
    for (size_t i = 0; i < m->ntracks; i++)
        if (!m->tracks[i].remove)
            UM_TRY(chunk_ranges(m, &m->tracks[i], list, n, cap));
    return 0;
}

int um_movie_track_removed(const um_movie *m, uint32_t id)
{
    for (size_t i = 0; i < m->ntracks; i++)
        if (m->tracks[i].id == id)
            return m->tracks[i].remove;
    return 0;
}

uint64_t um_movie_size(const um_movie *m)
{
    return node_size(&m->root);
}

int um_movie_emit(um_movie *m)
{
    um_job *job = m->job;
    uint64_t size = node_size(&m->root);
    uint8_t *buf = um_malloc(job, (size_t)size);
    if (!buf)
        return job->err;
    uint8_t *end = write_node(&m->root, buf);
    int rc = (uint64_t)(end - buf) == size ? um_plan_data(job, buf, (size_t)size)
                                           : um_fail(job, UNMETA_E_STATE, "%s: internal size mismatch", m->fmt);
    free(buf);
    return rc;
}

int um_movie_report_box(um_job *job, const char *fmt, const um_box *b, const uint8_t *p, size_t n,
                        const char *where)
{
    um_movie m;
    memset(&m, 0, sizeof(m));
    m.job = job;
    m.fmt = fmt;
    return report_metadata_box(&m, b->type, b->uuid, p, n, b->off, b->size, where);
}

int um_movie_copy_mdat(um_movie *mv, uint64_t off, uint64_t size, uint32_t hdr, size_t *zi)
{
    um_job *job = mv->job;
    static const uint8_t zeros[4096];
    uint64_t pos = off, end = off + size;
    size_t nzero;
    const um_movie_range *zero = um_movie_removed(mv, &nzero);
    UM_TRY(um_plan_copy(job, pos, hdr));
    pos += hdr;
    while (*zi < nzero && zero[*zi].off + zero[*zi].len <= pos)
        (*zi)++;
    for (size_t i = *zi; i < nzero && zero[i].off < end; i++) {
        uint64_t a = zero[i].off > pos ? zero[i].off : pos;
        uint64_t b = zero[i].off + zero[i].len;
        if (b > end)
            b = end;
        if (b <= a)
            continue;
        UM_TRY(um_plan_copy(job, pos, a - pos));
        uint64_t z = b - a;
        if (um_job_writing(job)) {
            if (z > job->ctx->limits.max_memory)
                return um_fail(job, UNMETA_E_LIMIT, "%s: %llu bytes of removed samples in one run", mv->fmt,
                               (unsigned long long)z);
            if (!um_plan_reserve(job, (size_t)z))
                return job->err;
        } else {
            while (z) {
                size_t k = z < sizeof(zeros) ? (size_t)z : sizeof(zeros);
                UM_TRY(um_plan_data(job, zeros, k));
                z -= k;
            }
        }
        pos = b;
    }
    return um_plan_copy(job, pos, end - pos);
}
