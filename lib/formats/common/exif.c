/*
 * exif.c - walking EXIF for the report, and the minimal Orientation block
 * (exif.h). Tag numbers: EXIF 2.32 (CIPA DC-008-2019) and TIFF 6.0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libexif/exif-data.h>

#include "../../report.h"
#include "exif.h"

#define MAX_IFDS 16      /* IFD0, IFD1, Exif, GPS, Interop and a few chained ones */
#define MAX_ENTRIES 4096 /* entries of one IFD */

typedef struct walker {
    um_job *job;
    int block;
    const uint8_t *p;
    size_t n;
    int le;
    uint32_t seen[MAX_IFDS];
    int nseen;
    um_exif_info *info;
    double gps[8];       /* lat d/m/s, lon d/m/s, altitude */
    int gps_have;        /* bits: 1 lat, 2 lon, 4 alt */
    char lat_ref, lon_ref;
    int alt_below;
} walker;

enum { IFD0, IFD1, IFD_EXIF, IFD_GPS, IFD_INTEROP };

static uint16_t rd16(const walker *w, size_t off) { return w->le ? um_le16(w->p + off) : um_be16(w->p + off); }
static uint32_t rd32(const walker *w, size_t off) { return w->le ? um_le32(w->p + off) : um_be32(w->p + off); }

static const size_t type_size[] = { 0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8, 4 };

typedef struct tag_info {
    int ifd;             /* which IFD it belongs to; -1 any of IFD0/IFD1/Exif */
    uint16_t tag;
    int category;
    const char *name;
} tag_info;

/* Tags worth naming in the report. Everything else that is not rendering
 * data is counted as "other EXIF tags". */
static const tag_info named[] = {
    { -1, 0x010E, UNMETA_CAT_PEOPLE, "ImageDescription" },
    { -1, 0x010F, UNMETA_CAT_DEVICE, "Make" },
    { -1, 0x0110, UNMETA_CAT_DEVICE, "Model" },
    { -1, 0x0131, UNMETA_CAT_SOFTWARE, "Software" },
    { -1, 0x0132, UNMETA_CAT_TIME, "DateTime" },
    { -1, 0x013B, UNMETA_CAT_PEOPLE, "Artist" },
    { -1, 0x013C, UNMETA_CAT_DEVICE, "HostComputer" },
    { -1, 0x8298, UNMETA_CAT_PEOPLE, "Copyright" },
    { -1, 0x9C9B, UNMETA_CAT_PEOPLE, "XPTitle" },
    { -1, 0x9C9C, UNMETA_CAT_PEOPLE, "XPComment" },
    { -1, 0x9C9D, UNMETA_CAT_PEOPLE, "XPAuthor" },
    { -1, 0x9C9E, UNMETA_CAT_PEOPLE, "XPKeywords" },
    { -1, 0x9C9F, UNMETA_CAT_PEOPLE, "XPSubject" },
    { -1, 0x02BC, UNMETA_CAT_OTHER, "XMP" },
    { -1, 0x83BB, UNMETA_CAT_OTHER, "IPTC" },
    { -1, 0xC4A5, UNMETA_CAT_DEVICE, "PrintIM" },
    { -1, 0x9003, UNMETA_CAT_TIME, "DateTimeOriginal" },
    { -1, 0x9004, UNMETA_CAT_TIME, "DateTimeDigitized" },
    { -1, 0x9010, UNMETA_CAT_TIME, "OffsetTime" },
    { -1, 0x9011, UNMETA_CAT_TIME, "OffsetTimeOriginal" },
    { -1, 0x9012, UNMETA_CAT_TIME, "OffsetTimeDigitized" },
    { -1, 0x927C, UNMETA_CAT_DEVICE, "MakerNote" },
    { -1, 0x9286, UNMETA_CAT_PEOPLE, "UserComment" },
    { -1, 0xA420, UNMETA_CAT_DEVICE, "ImageUniqueID" },
    { -1, 0xA430, UNMETA_CAT_PEOPLE, "CameraOwnerName" },
    { -1, 0xA431, UNMETA_CAT_DEVICE, "BodySerialNumber" },
    { -1, 0xA432, UNMETA_CAT_DEVICE, "LensSpecification" },
    { -1, 0xA433, UNMETA_CAT_DEVICE, "LensMake" },
    { -1, 0xA434, UNMETA_CAT_DEVICE, "LensModel" },
    { -1, 0xA435, UNMETA_CAT_DEVICE, "LensSerialNumber" },
    { -1, 0xC62F, UNMETA_CAT_DEVICE, "CameraSerialNumber" },
    { -1, 0xA436, UNMETA_CAT_PEOPLE, "ImageTitle" },
    { -1, 0xA437, UNMETA_CAT_PEOPLE, "Photographer" },
    { -1, 0xA438, UNMETA_CAT_PEOPLE, "ImageEditor" },
    { -1, 0xA439, UNMETA_CAT_SOFTWARE, "CameraFirmware" },
    { -1, 0xA43A, UNMETA_CAT_SOFTWARE, "RAWDevelopingSoftware" },
    { -1, 0xA43B, UNMETA_CAT_SOFTWARE, "ImageEditingSoftware" },
    { -1, 0xA43C, UNMETA_CAT_SOFTWARE, "MetadataEditingSoftware" },
};

/* Tags that only describe how to render (the audit's and unmeta's view). */
static int structural(int ifd, uint16_t tag)
{
    if (ifd == IFD_GPS)
        return 0;
    if (ifd == IFD_INTEROP)
        return 1;
    switch (tag) {
    case 0x0100: case 0x0101: case 0x0102: case 0x0103: case 0x0106: case 0x0111:
    case 0x0112: case 0x0115: case 0x0116: case 0x0117: case 0x011A: case 0x011B:
    case 0x011C: case 0x0128: case 0x0201: case 0x0202: case 0x0211: case 0x0212:
    case 0x0213: case 0x0214: case 0x8769: case 0x8825: case 0xA005: case 0x9000:
    case 0x9101: case 0xA000: case 0xA001: case 0xA002: case 0xA003:
        return 1;
    default:
        return 0;
    }
}

/* Where an entry's value lies in the block (*at) and its length; 0 when it
 * falls outside. An offset, not a pointer, so that "outside" is never NULL. */
static int value_at(const walker *w, size_t entry, uint16_t type, uint32_t count, size_t *at, size_t *len)
{
    if (type == 0 || type >= sizeof(type_size) / sizeof(type_size[0]))
        return 0;
    uint64_t total = (uint64_t)type_size[type] * count;
    if (total > w->n)
        return 0;
    *len = (size_t)total;
    if (total <= 4) {
        *at = entry + 8;
        return 1;
    }
    uint32_t off = rd32(w, entry + 8);
    if (off > w->n || total > w->n - off)
        return 0;
    *at = off;
    return 1;
}

static double rational(const walker *w, const uint8_t *v)
{
    size_t off = (size_t)(v - w->p);
    uint32_t num = rd32(w, off), den = rd32(w, off + 4);
    return den ? (double)num / den : 0.0;
}

/* A printable rendering of a value for the report. */
static void format_value(const walker *w, uint16_t type, uint32_t count, const uint8_t *v, size_t len,
                         char *out, size_t outlen)
{
    size_t o = 0;
    out[0] = '\0';
    if (type == 2 || type == 1 || type == 7) {
        /* ASCII, BYTE, UNDEFINED: text up to the first NUL, else a size. */
        size_t k = 0;
        while (k < len && v[k] && k + 1 < outlen)
            k++;
        int text = k > 0;
        for (size_t i = 0; i < k; i++)
            if (v[i] < 0x20 && v[i] != '\t')
                text = 0;
        if (text && (type == 2 || k * 2 >= len)) {
            memcpy(out, v, k);
            out[k] = '\0';
            /* trim trailing spaces that cameras pad with */
            while (k && out[k - 1] == ' ')
                out[--k] = '\0';
        } else {
            snprintf(out, outlen, "%zu bytes", len);
        }
        return;
    }
    for (uint32_t i = 0; i < count && i < 8 && o + 24 < outlen; i++) {
        size_t off = (size_t)(v - w->p);
        const char *sep = i ? " " : "";
        switch (type) {
        case 3: o += (size_t)snprintf(out + o, outlen - o, "%s%u", sep, rd16(w, off + 2 * i)); break;
        case 4: o += (size_t)snprintf(out + o, outlen - o, "%s%u", sep, rd32(w, off + 4 * i)); break;
        case 5: case 10: o += (size_t)snprintf(out + o, outlen - o, "%s%g", sep, rational(w, v + 8 * i)); break;
        default: o += (size_t)snprintf(out + o, outlen - o, "%s%zu bytes", sep, len); i = count; break;
        }
    }
}

static int gps_entry(walker *w, uint16_t tag, uint16_t type, uint32_t count, const uint8_t *v)
{
    if ((tag == 1 || tag == 3) && type == 2 && count >= 1) {
        if (tag == 1)
            w->lat_ref = (char)v[0];
        else
            w->lon_ref = (char)v[0];
    } else if ((tag == 2 || tag == 4) && type == 5 && count >= 3) {
        double *d = w->gps + (tag == 2 ? 0 : 3);
        for (int i = 0; i < 3; i++)
            d[i] = rational(w, v + 8 * i);
        w->gps_have |= tag == 2 ? 1 : 2;
    } else if (tag == 5 && (type == 1 || type == 7) && count >= 1) {
        w->alt_below = v[0] == 1;
    } else if (tag == 6 && type == 5 && count >= 1) {
        w->gps[6] = rational(w, v);
        w->gps_have |= 4;
    }
    return 0;
}

static int walk_ifd(walker *w, uint32_t off, int ifd, int depth);

static int walk_entries(walker *w, uint32_t off, int ifd, int depth, uint32_t *next)
{
    um_job *job = w->job;
    int others = 0;
    *next = 0;
    if (off < 8 || off > w->n || w->n - off < 2) {
        w->info->damaged = 1;
        return um_report_finding(job, w->block, UNMETA_CAT_OTHER, "EXIF", "damaged structure (IFD outside the block)");
    }
    uint16_t count = rd16(w, off);
    if (count > MAX_ENTRIES || (size_t)count * 12 + 2 > w->n - off) {
        w->info->damaged = 1;
        return um_report_finding(job, w->block, UNMETA_CAT_OTHER, "EXIF", "damaged structure (IFD of %u entries)", count);
    }
    for (uint16_t i = 0; i < count; i++) {
        size_t e = off + 2 + 12 * (size_t)i;
        uint16_t tag = rd16(w, e), type = rd16(w, e + 2);
        uint32_t n = rd32(w, e + 4);
        size_t len = 0, at = 0;
        if (!value_at(w, e, type, n, &at, &len))
            continue; /* a value outside the block: nothing to read, removed anyway */
        const uint8_t *v = w->p + at;
        if (ifd == IFD0 && tag == 0x0112 && type == 3 && n >= 1) {
            uint16_t o = rd16(w, (size_t)(v - w->p));
            w->info->orientation = (o >= 1 && o <= 8) ? o : 0;
        }
        if ((ifd == IFD0 || ifd == IFD1) && (tag == 0x8769 || tag == 0x8825) && (type == 4 || type == 13) && n == 1) {
            UM_TRY(walk_ifd(w, rd32(w, e + 8), tag == 0x8769 ? IFD_EXIF : IFD_GPS, depth + 1));
            continue;
        }
        if (ifd == IFD_EXIF && tag == 0xA005 && (type == 4 || type == 13) && n == 1) {
            UM_TRY(walk_ifd(w, rd32(w, e + 8), IFD_INTEROP, depth + 1));
            continue;
        }
        if (ifd == IFD1 && tag == 0x0202 && (type == 4 || type == 3) && n == 1) {
            uint32_t tlen = type == 4 ? rd32(w, (size_t)(v - w->p)) : rd16(w, (size_t)(v - w->p));
            UM_TRY(um_report_finding(job, w->block, UNMETA_CAT_EMBEDDED, "ThumbnailImage", "%u bytes", tlen));
            continue;
        }
        if (ifd == IFD_GPS) {
            UM_TRY(gps_entry(w, tag, type, n, v));
            if (tag == 0x1D || tag == 7) {
                char buf[96];
                format_value(w, type, n, v, len, buf, sizeof(buf));
                UM_TRY(um_report_finding(job, w->block, UNMETA_CAT_TIME, tag == 7 ? "GPSTimeStamp" : "GPSDateStamp",
                                         "%s", buf));
            }
            continue;
        }
        if (structural(ifd, tag))
            continue;
        w->info->private_tags++;
        const tag_info *t = NULL;
        for (size_t k = 0; k < sizeof(named) / sizeof(named[0]); k++)
            if (named[k].tag == tag)
                t = &named[k];
        if (!t) {
            others++;
            continue;
        }
        char buf[128];
        if (tag == 0x927C || tag == 0x02BC || tag == 0x83BB || tag == 0xC4A5)
            snprintf(buf, sizeof(buf), "%zu bytes", len);
        else if (tag >= 0x9C9B && tag <= 0x9C9F)
            snprintf(buf, sizeof(buf), "%zu bytes of text", len);
        else
            format_value(w, type, n, v, len, buf, sizeof(buf));
        UM_TRY(um_report_finding(job, w->block, t->category, t->name, "%s", buf));
    }
    if (others)
        UM_TRY(um_report_finding(job, w->block, ifd == IFD1 ? UNMETA_CAT_EMBEDDED : UNMETA_CAT_OTHER,
                                 "EXIF tags", "%d more tag%s", others, others == 1 ? "" : "s"));
    if ((size_t)count * 12 + 6 <= w->n - off)
        *next = rd32(w, off + 2 + 12 * (size_t)count);
    return 0;
}

static int walk_ifd(walker *w, uint32_t off, int ifd, int depth)
{
    uint32_t next = 0;
    if (depth > 4 || w->nseen >= MAX_IFDS) {
        w->info->damaged = 1;
        return um_report_finding(w->job, w->block, UNMETA_CAT_OTHER, "EXIF", "damaged structure (too many IFDs)");
    }
    for (int i = 0; i < w->nseen; i++)
        if (w->seen[i] == off) {
            w->info->damaged = 1;
            return um_report_finding(w->job, w->block, UNMETA_CAT_OTHER, "EXIF", "damaged structure (IFD loop)");
        }
    w->seen[w->nseen++] = off;
    UM_TRY(walk_entries(w, off, ifd, depth, &next));
    if (ifd == IFD0 && next) {
        UM_TRY(walk_ifd(w, next, IFD1, depth + 1));
    } else if (ifd == IFD1 && next) {
        return um_report_finding(w->job, w->block, UNMETA_CAT_EMBEDDED, "EXIF", "more images after IFD1");
    }
    return 0;
}

int um_exif_scan(um_job *job, int block, const uint8_t *tiff, size_t n, um_exif_info *info)
{
    walker w;
    memset(&w, 0, sizeof(w));
    memset(info, 0, sizeof(*info));
    w.job = job;
    w.block = block;
    w.p = tiff;
    w.n = n;
    w.info = info;
    if (n < 8 || !((tiff[0] == 'I' && tiff[1] == 'I') || (tiff[0] == 'M' && tiff[1] == 'M'))) {
        info->private_tags = 1;
        info->damaged = 1;
        return um_report_finding(job, block, UNMETA_CAT_OTHER, "EXIF", "damaged structure (%zu bytes)", n);
    }
    w.le = tiff[0] == 'I';
    if (rd16(&w, 2) != 42) {
        info->private_tags = 1;
        info->damaged = 1;
        return um_report_finding(job, block, UNMETA_CAT_OTHER, "EXIF", "damaged structure (bad TIFF magic)");
    }
    UM_TRY(walk_ifd(&w, rd32(&w, 4), IFD0, 0));
    if (w.gps_have & 3) {
        double lat = w.gps[0] + w.gps[1] / 60 + w.gps[2] / 3600;
        double lon = w.gps[3] + w.gps[4] / 60 + w.gps[5] / 3600;
        if (w.lat_ref == 'S')
            lat = -lat;
        if (w.lon_ref == 'W')
            lon = -lon;
        UM_TRY(um_report_finding(job, block, UNMETA_CAT_LOCATION, "GPSPosition", "%.6f, %.6f", lat, lon));
    }
    if (w.gps_have & 4)
        UM_TRY(um_report_finding(job, block, UNMETA_CAT_LOCATION, "GPSAltitude", "%.1f m", w.alt_below ? -w.gps[6] : w.gps[6]));
    return 0;
}

/* libexif allocates through the library's allocator (zeroed, as libexif's
 * own default allocator does). */
static void *exif_alloc(ExifLong n)
{
    return um_mem_calloc(n, 1);
}

static void *exif_realloc(void *p, ExifLong n)
{
    return um_mem_realloc(p, n);
}

static void exif_free(void *p)
{
    free(p);
}

static int built_orientation(const unsigned char *buf, unsigned int n, int orientation)
{
    static const uint8_t head[] = { 'E', 'x', 'i', 'f', 0, 0, 'M', 'M', 0, 0x2a, 0, 0, 0, 8,
                                    0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1 };
    return buf && n == sizeof(head) + 8 && memcmp(buf, head, sizeof(head)) == 0 &&
           um_be16(buf + sizeof(head)) == orientation && um_all_zero(buf + sizeof(head) + 2, 6);
}

int um_exif_minimal(um_job *job, int orientation, int with_header, uint8_t **out, size_t *len)
{
    unsigned char *buf = NULL;
    unsigned int n = 0;
    int rc = 0;
    *out = NULL;
    *len = 0;
    if (orientation < 1 || orientation > 8)
        return um_fail(job, UNMETA_E_INVALID, "internal: orientation %d", orientation);
    ExifMem *mem = exif_mem_new(exif_alloc, exif_realloc, exif_free);
    if (!mem)
        return um_fail(job, UNMETA_E_NOMEM, "out of memory (libexif)");
    ExifData *ed = exif_data_new_mem(mem);
    if (!ed) {
        exif_mem_unref(mem);
        return um_fail(job, UNMETA_E_NOMEM, "out of memory (libexif)");
    }
    /* Only what we add: no mandatory tags filled in, no maker notes. */
    exif_data_unset_option(ed, EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
    exif_data_set_byte_order(ed, EXIF_BYTE_ORDER_MOTOROLA);
    ExifEntry *e = exif_entry_new_mem(mem);
    if (!e) {
        rc = um_fail(job, UNMETA_E_NOMEM, "out of memory (libexif)");
        goto done;
    }
    exif_content_add_entry(ed->ifd[EXIF_IFD_0], e);
    exif_entry_initialize(e, EXIF_TAG_ORIENTATION);
    if (!e->data || e->size < 2) {
        exif_entry_unref(e);
        rc = um_fail(job, UNMETA_E_NOMEM, "out of memory (libexif)");
        goto done;
    }
    exif_set_short(e->data, EXIF_BYTE_ORDER_MOTOROLA, (ExifShort)orientation);
    exif_entry_unref(e);
    exif_data_save_data(ed, &buf, &n);
    /* libexif writes the 6-byte "Exif\0\0" header itself. It does not say
     * when an allocation fails: it leaves the entry out, or the IFD, and
     * returns what it has. Only the exact structure is accepted: header,
     * one IFD0 entry (Orientation, SHORT, 1, value), no next IFD. */
    if (!built_orientation(buf, n, orientation)) {
        rc = um_fail(job, UNMETA_E_NOMEM, "out of memory building the Orientation tag (libexif)");
        goto done;
    }
    size_t skip = with_header ? 0 : 6;
    *out = um_malloc(job, n - skip);
    if (!*out) {
        rc = job->err;
        goto done;
    }
    memcpy(*out, buf + skip, n - skip);
    *len = n - skip;
done:
    exif_mem_free(mem, buf);
    exif_data_unref(ed);
    exif_mem_unref(mem);
    return rc;
}
