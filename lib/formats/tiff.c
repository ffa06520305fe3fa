/*
 * tiff.c - TIFF (TIFF 6.0, Adobe TIFF Technical Notes, TIFF/EP, BigTIFF).
 *
 * Pass 1 walks the main IFD chain (TIFF 6.0 section 2, "Image File
 * Directory"; BigTIFF: 8-byte counts and offsets), one IFD per page, and
 * sorts every entry into the keep-list or the report:
 *   kept:      the tags a reader needs to render the page (keep_tag() below),
 *              byte for byte, and the ICC profile (34675) neutralised
 *              (icc.h) or dropped with UNMETA_ICC_STRIP;
 *   dropped:   everything else, reported: Make, Model, Software, DateTime,
 *              Artist, Copyright, descriptions, the Exif, GPS and Interop
 *              sub-IFDs with their MakerNotes (walked by um_exif_scan on a
 *              compact copy of the dropped entries), XMP (700), IPTC (33723),
 *              Photoshop resources (34377), GeoTIFF keys, SubIFDs (330:
 *              previews and thumbnails) and every private tag.
 * Pass 2 writes a new file in the input's byte order: the header, then for
 * each page its IFD, the IFD's out-of-line values (word-aligned, 6.0
 * section 2) and the page's strips or tiles, copied byte for byte; every
 * offset is recomputed, so nothing of the old layout (and no metadata
 * lying between strips) survives.
 *
 * DNG (and GoPro GPR, a DNG with VC-5 data), recognised by DNGVersion in
 * IFD0 and named "dng" (a second module, um_format_dng, bids on it), goes
 * the same way with more kept: the SubIFDs of the main IFDs, read as pages
 * of their own (the raw image and the previews), the DNG rendering tags
 * (dng_keep_tag()) and its two ICC profiles, neutralised. Its private tags
 * are reported by name (dng_gone[]). A preview JPEG's APPn and COM
 * segments are cut out of its strips (page.cuts), the only image data
 * bytes this file leaves out; raw data is never altered. docs/dng.md.
 *
 * Refused: proprietary camera raw files built on TIFF (CR2, NEF, ARW, ORF,
 * RW2, ...; they need maker data to develop) and Fujifilm RAF, named; old-
 * style JPEG (compression 6), IFD loops, strips or tiles outside the file
 * or overlapping each other or the file's structure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io.h"
#include "../plan.h"
#include "../report.h"
#include "common/exif.h"
#include "common/icc.h"
#include "common/xmp.h"
#include "format.h"

#define MAX_PAGES 4096       /* IFDs in the main chain */
#define MAX_ENTRIES 4096     /* entries of one IFD (libtiff warns well below) */
#define MAX_SUBIFDS 64       /* SubIFDs looked into to recognise a camera raw */
#define SYNTH_DEPTH 3        /* IFD0 -> Exif -> Interop */

/* Field types (6.0 section 2, BigTIFF adds 16-18). */
enum {
    T_BYTE = 1, T_ASCII, T_SHORT, T_LONG, T_RATIONAL, T_SBYTE, T_UNDEFINED, T_SSHORT,
    T_SLONG, T_SRATIONAL, T_FLOAT, T_DOUBLE, T_IFD, T_LONG8 = 16, T_SLONG8, T_IFD8
};

static unsigned type_size(uint16_t type)
{
    static const unsigned sz[] = { 0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8, 4, 0, 0, 8, 8, 8 };
    return type < sizeof(sz) / sizeof(sz[0]) ? sz[type] : 0;
}

/* One entry as found in a file. */
typedef struct rawent {
    uint16_t tag, type;
    uint64_t count;
    uint64_t len;        /* value bytes; 0 with known == 0 for an unknown type */
    int known;           /* the type is one we can size */
    int inl;             /* the value sits in the entry itself */
    uint64_t voff;       /* absolute offset of the value (inline: of the field) */
    uint8_t field[8];    /* the value/offset field as stored */
} rawent;

/* One entry of an output IFD: value bytes in the file's byte order. */
typedef struct kept {
    uint16_t tag, type;
    uint64_t count;
    uint8_t *val;
    size_t len;
} kept;

/* A metadata segment cut out of a preview JPEG strip or tile (DNG). */
typedef struct cut {
    uint64_t chunk;         /* index of the strip or tile */
    uint64_t off, len;      /* absolute input range of the segment */
} cut;

typedef struct page {
    uint64_t ifd_off;
    kept *e;
    size_t n, cap;
    uint64_t *coff, *clen;  /* strips or tiles */
    uint64_t nchunks;
    int tiled;
    uint64_t out_ifd, out_data;  /* layout of the output */
    int parent;             /* page whose SubIFDs (330) hold this one; -1 in the main chain */
    char name[32];          /* "IFD0", "IFD0 SubIFD1": for the report */
    uint64_t *sub;          /* input offsets of the SubIFDs kept (DNG) */
    size_t nsub;
    cut *cuts;              /* in chunk, then offset, order */
    size_t ncuts, cutcap;
} page;

/* What a byte range of the input is, for the overlap check. */
enum { R_STRUCT, R_CHUNK, R_GONE };

typedef struct range {
    uint64_t start, end;
    int chunk;              /* R_CHUNK image data, R_STRUCT structure or a kept value, R_GONE a removed value */
} range;

/* A growing buffer (the compact copy handed to um_exif_scan). */
typedef struct sbuf {
    uint8_t *p;
    size_t len, cap;
} sbuf;

typedef struct tiff {
    um_job *job;
    uint64_t size;
    int le, big;
    unsigned osz;           /* offset size: 4, or 8 in BigTIFF */
    unsigned esz;           /* entry size: 12, or 20 */
    unsigned csz;           /* entry count size: 2, or 8 */
    page *pages;
    size_t npages;
    range *ranges;
    size_t nranges, rcap;
    uint64_t mem;           /* bytes held for the output, against max_memory */
    char make[48];          /* Make of IFD0, to name a camera raw */
    int apply_note;
    int dng;                /* IFD0 holds DNGVersion: a DNG (or GoPro GPR) */
} tiff;

static const char *pname(const tiff *t, unsigned pno)
{
    return t->pages[pno].name;
}

/* ---- byte order ---------------------------------------------------------- */

static uint16_t rd16(const tiff *t, const uint8_t *p) { return t->le ? um_le16(p) : um_be16(p); }
static uint32_t rd32(const tiff *t, const uint8_t *p) { return t->le ? um_le32(p) : um_be32(p); }
static uint64_t rd64(const tiff *t, const uint8_t *p) { return t->le ? um_le64(p) : um_be64(p); }
static uint64_t rdoff(const tiff *t, const uint8_t *p) { return t->big ? rd64(t, p) : rd32(t, p); }

static void wr16(const tiff *t, uint8_t *p, uint16_t v)
{
    if (t->le)
        um_put_le16(p, v);
    else
        um_put_be16(p, v);
}

static void wr32(const tiff *t, uint8_t *p, uint32_t v)
{
    if (t->le)
        um_put_le32(p, v);
    else
        um_put_be32(p, v);
}

static void wr64(const tiff *t, uint8_t *p, uint64_t v)
{
    if (t->le) {
        um_put_le32(p, (uint32_t)v);
        um_put_le32(p + 4, (uint32_t)(v >> 32));
    } else {
        um_put_be64(p, v);
    }
}

static void wroff(const tiff *t, uint8_t *p, uint64_t v)
{
    if (t->big)
        wr64(t, p, v);
    else
        wr32(t, p, (uint32_t)v);
}

/* Element i of an integer array value (BYTE, SHORT, LONG, LONG8, IFD). */
static uint64_t elem(const tiff *t, uint16_t type, const uint8_t *v, uint64_t i)
{
    switch (type) {
    case T_BYTE: return v[i];
    case T_SHORT: return rd16(t, v + 2 * i);
    case T_LONG: case T_IFD: return rd32(t, v + 4 * i);
    case T_LONG8: case T_IFD8: return rd64(t, v + 8 * i);
    default: return 0;
    }
}

static int int_type(uint16_t type)
{
    return type == T_SHORT || type == T_LONG || type == T_LONG8;
}

/* Forgets an error that only concerned a block being dropped anyway (a
 * damaged sub-IFD or profile): it is not the operation's failure. Running
 * out of memory, an I/O error or a cancel is, and is returned: forgetting
 * it would leave the block undescribed. */
static int clear_damage(um_job *job, int rc)
{
    if (rc == UNMETA_E_NOMEM || rc == UNMETA_E_IO || rc == UNMETA_E_CANCELED)
        return rc;
    job->err = 0;
    job->ctx->errmsg[0] = '\0';
    return 0;
}

static uint64_t align2(uint64_t v)
{
    return v + (v & 1);
}

/* ---- probe --------------------------------------------------------------- */

static int probe(const uint8_t *p, size_t n)
{
    if (n < 4)
        return 0;
    if (memcmp(p, "II*\0", 4) == 0 || memcmp(p, "MM\0*", 4) == 0 ||  /* TIFF */
        memcmp(p, "II+\0", 4) == 0 || memcmp(p, "MM\0+", 4) == 0 ||  /* BigTIFF */
        memcmp(p, "IIRO", 4) == 0 || memcmp(p, "IIRS", 4) == 0 ||    /* Olympus ORF */
        memcmp(p, "MMOR", 4) == 0 || memcmp(p, "IIU\0", 4) == 0)      /* Panasonic RW2 */
        return 100;
    if (n >= 16 && memcmp(p, "FUJIFILMCCD-RAW ", 16) == 0)            /* Fujifilm RAF: refused by name */
        return 100;
    return 0;
}

/* DNG: a classic TIFF whose IFD0, when it lies in the probe window, holds
 * DNGVersion (50706). It outbids plain TIFF; a DNG whose IFD0 lies
 * further is claimed by "tiff" and handled the same (reported as "dng"). */
static int probe_dng(const uint8_t *p, size_t n)
{
    int le;
    if (n < 8)
        return 0;
    if (memcmp(p, "II*\0", 4) == 0)
        le = 1;
    else if (memcmp(p, "MM\0*", 4) == 0)
        le = 0;
    else
        return 0;
    uint32_t off = le ? um_le32(p + 4) : um_be32(p + 4);
    if (off < 8 || off > n - 2)
        return 0;
    unsigned cnt = le ? um_le16(p + off) : um_be16(p + off);
    for (unsigned i = 0; i < cnt && (size_t)off + 2 + 12 * (size_t)(i + 1) <= n; i++) {
        const uint8_t *e = p + off + 2 + 12 * (size_t)i;
        if ((le ? um_le16(e) : um_be16(e)) == 50706)
            return 110;
    }
    return 0;
}

/* ---- pass 1: reading ----------------------------------------------------- */

static int add_range(tiff *t, uint64_t start, uint64_t len, int chunk)
{
    if (len == 0)
        return 0;
    if (t->nranges == t->rcap) {
        size_t cap = t->rcap ? t->rcap * 2 : 64;
        range *r = um_realloc(t->job, t->ranges, cap * sizeof(*r));
        if (!r)
            return t->job->err;
        t->ranges = r;
        t->rcap = cap;
    }
    range *r = &t->ranges[t->nranges++];
    r->start = start;
    r->end = start + len;
    r->chunk = chunk;
    return 0;
}

/* Reads the IFD at off into *out (count entries). The table itself is
 * recorded as structure for the overlap check when `record` is set. */
static int read_ifd(tiff *t, uint64_t off, int record, const char *what, rawent **out, size_t *count,
                    uint64_t *next)
{
    um_job *job = t->job;
    uint8_t cb[8];
    uint8_t *tab = NULL;
    *out = NULL;
    *count = 0;
    if (off < (t->big ? 16u : 8u) || off >= t->size)
        return um_fail(job, UNMETA_E_MALFORMED, "TIFF: %s at byte %llu is outside the file", what,
                       (unsigned long long)off);
    UM_TRY(um_read_at(job, off, cb, t->csz));
    uint64_t n = t->big ? rd64(t, cb) : rd16(t, cb);
    if (n == 0)
        return um_fail(job, UNMETA_E_MALFORMED, "TIFF: %s at byte %llu has no entries", what,
                       (unsigned long long)off);
    if (n > MAX_ENTRIES)
        return um_fail(job, UNMETA_E_LIMIT, "TIFF: %s at byte %llu has %llu entries (at most %u)", what,
                       (unsigned long long)off, (unsigned long long)n, MAX_ENTRIES);
    uint64_t tlen = n * t->esz + t->osz;
    UM_TRY(um_read_block(job, off + t->csz, tlen, "a TIFF IFD", &tab));
    if (record) {
        int rc = add_range(t, off, t->csz + tlen, record == 2 ? R_GONE : R_STRUCT);
        if (rc < 0) {
            free(tab);
            return rc;
        }
    }
    rawent *es = um_calloc(job, (size_t)n, sizeof(*es));
    if (!es) {
        free(tab);
        return job->err;
    }
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *p = tab + i * t->esz;
        rawent *e = &es[i];
        e->tag = rd16(t, p);
        e->type = rd16(t, p + 2);
        e->count = t->big ? rd64(t, p + 4) : rd32(t, p + 4);
        const uint8_t *f = p + (t->big ? 12 : 8);
        memcpy(e->field, f, t->osz);
        unsigned sz = type_size(e->type);
        e->known = sz != 0 && um_mul_u64(&e->len, sz, e->count);
        if (!e->known)
            e->len = 0;
        e->inl = e->known && e->len <= t->osz;
        e->voff = e->inl ? off + t->csz + i * t->esz + (t->big ? 12 : 8) : rdoff(t, f);
    }
    *next = rdoff(t, tab + n * t->esz);
    free(tab);
    *out = es;
    *count = (size_t)n;
    return 0;
}

/* Whether the value of e lies inside the file. */
static int value_inside(const tiff *t, const rawent *e)
{
    return e->known && (e->inl || (e->voff <= t->size && e->len <= t->size - e->voff));
}

/* Reads the value of e (bounded by the block limit); free with free(). */
static int read_value(tiff *t, const rawent *e, uint8_t **out)
{
    um_job *job = t->job;
    *out = NULL;
    if (e->inl) {
        *out = um_malloc(job, (size_t)e->len);
        if (!*out)
            return job->err;
        memcpy(*out, e->field, (size_t)e->len);
        return 0;
    }
    if (!value_inside(t, e))
        return um_fail(job, UNMETA_E_MALFORMED, "TIFF: the value of tag %u at byte %llu is outside the file",
                       e->tag, (unsigned long long)e->voff);
    return um_read_block(job, e->voff, e->len, "a TIFF tag value", out);
}

/* The keep-list: tags a reader needs to render a page (TIFF 6.0 baseline
 * and extensions, TIFF Technical Note 2 JPEG tables). */
static int keep_tag(uint16_t tag)
{
    switch (tag) {
    case 254: /* NewSubfileType */
    case 255: /* SubfileType */
    case 256: /* ImageWidth */
    case 257: /* ImageLength */
    case 258: /* BitsPerSample */
    case 259: /* Compression */
    case 262: /* PhotometricInterpretation */
    case 266: /* FillOrder */
    case 273: /* StripOffsets */
    case 274: /* Orientation */
    case 277: /* SamplesPerPixel */
    case 278: /* RowsPerStrip */
    case 279: /* StripByteCounts */
    case 282: /* XResolution */
    case 283: /* YResolution */
    case 284: /* PlanarConfiguration */
    case 292: /* T4Options */
    case 293: /* T6Options */
    case 296: /* ResolutionUnit */
    case 297: /* PageNumber */
    case 301: /* TransferFunction */
    case 317: /* Predictor */
    case 318: /* WhitePoint */
    case 319: /* PrimaryChromaticities */
    case 320: /* ColorMap */
    case 322: /* TileWidth */
    case 323: /* TileLength */
    case 324: /* TileOffsets */
    case 325: /* TileByteCounts */
    case 332: /* InkSet */
    case 334: /* NumberOfInks */
    case 338: /* ExtraSamples */
    case 339: /* SampleFormat */
    case 347: /* JPEGTables */
    case 529: /* YCbCrCoefficients */
    case 530: /* YCbCrSubSampling */
    case 531: /* YCbCrPositioning */
    case 532: /* ReferenceBlackWhite */
        return 1;
    default:
        return 0;
    }
}

/* The DNG keep-list (DNG 1.7.1 chapter 4 and 6, TIFF/EP for the CFA
 * tags): what a raw converter needs to develop the sensor data and render
 * the previews. Text that may name a person or a place stays out: Make,
 * Model (UniqueCameraModel names the camera model and is required by the
 * spec, so it stays), LocalizedCameraModel, CameraSerialNumber,
 * OriginalRawFileName, ProfileName, AsShotProfileName, ProfileCopyright,
 * ProfileGroupName, the Preview* application and date tags. The
 * calibration signatures stay: they decide whether CameraCalibration is
 * applied (section 6, CameraCalibrationSignature), and name the software
 * that calibrated, not the owner. RawImageDigest and NewRawImageDigest are
 * MD5 sums of the raw image data, which is copied byte for byte: they
 * still match and stay. The digests of what is removed
 * (OriginalRawFileDigest, PreviewSettingsDigest) go with it. */
static int dng_keep_tag(uint16_t tag)
{
    switch (tag) {
    case 33421: /* CFARepeatPatternDim (TIFF/EP) */
    case 33422: /* CFAPattern (TIFF/EP) */
    case 50706: /* DNGVersion */
    case 50707: /* DNGBackwardVersion */
    case 50708: /* UniqueCameraModel */
    case 50710: /* CFAPlaneColor */
    case 50711: /* CFALayout */
    case 50712: /* LinearizationTable */
    case 50713: /* BlackLevelRepeatDim */
    case 50714: /* BlackLevel */
    case 50715: /* BlackLevelDeltaH */
    case 50716: /* BlackLevelDeltaV */
    case 50717: /* WhiteLevel */
    case 50718: /* DefaultScale */
    case 50719: /* DefaultCropOrigin */
    case 50720: /* DefaultCropSize */
    case 50721: /* ColorMatrix1 */
    case 50722: /* ColorMatrix2 */
    case 50723: /* CameraCalibration1 */
    case 50724: /* CameraCalibration2 */
    case 50725: /* ReductionMatrix1 */
    case 50726: /* ReductionMatrix2 */
    case 50727: /* AnalogBalance */
    case 50728: /* AsShotNeutral */
    case 50729: /* AsShotWhiteXY */
    case 50730: /* BaselineExposure */
    case 50731: /* BaselineNoise */
    case 50732: /* BaselineSharpness */
    case 50733: /* BayerGreenSplit */
    case 50734: /* LinearResponseLimit */
    case 50737: /* ChromaBlurRadius */
    case 50738: /* AntiAliasStrength */
    case 50739: /* ShadowScale */
    case 50778: /* CalibrationIlluminant1 */
    case 50779: /* CalibrationIlluminant2 */
    case 50780: /* BestQualityScale */
    case 50829: /* ActiveArea */
    case 50830: /* MaskedAreas */
    case 50832: /* AsShotPreProfileMatrix */
    case 50834: /* CurrentPreProfileMatrix */
    case 50879: /* ColorimetricReference */
    case 50931: /* CameraCalibrationSignature */
    case 50932: /* ProfileCalibrationSignature */
    case 50935: /* NoiseReductionApplied */
    case 50937: /* ProfileHueSatMapDims */
    case 50938: /* ProfileHueSatMapData1 */
    case 50939: /* ProfileHueSatMapData2 */
    case 50940: /* ProfileToneCurve */
    case 50941: /* ProfileEmbedPolicy */
    case 50964: /* ForwardMatrix1 */
    case 50965: /* ForwardMatrix2 */
    case 50970: /* PreviewColorSpace */
    case 50972: /* RawImageDigest */
    case 50974: /* SubTileBlockSize */
    case 50975: /* RowInterleaveFactor */
    case 50981: /* ProfileLookTableDims */
    case 50982: /* ProfileLookTableData */
    case 51008: /* OpcodeList1 */
    case 51009: /* OpcodeList2 */
    case 51022: /* OpcodeList3 */
    case 51041: /* NoiseProfile */
    case 51089: /* OriginalDefaultFinalSize */
    case 51090: /* OriginalBestQualityFinalSize */
    case 51091: /* OriginalDefaultCropSize */
    case 51107: /* ProfileHueSatMapEncoding */
    case 51108: /* ProfileLookTableEncoding */
    case 51109: /* BaselineExposureOffset */
    case 51110: /* DefaultBlackRender */
    case 51111: /* NewRawImageDigest */
    case 51112: /* RawToPreviewGain */
    case 51125: /* DefaultUserCrop */
    case 52525: /* ProfileGainTableMap */
    case 52529: /* CalibrationIlluminant3 */
    case 52530: /* CameraCalibration3 */
    case 52531: /* ColorMatrix3 */
    case 52532: /* ForwardMatrix3 */
    case 52533: /* IlluminantData1 */
    case 52534: /* IlluminantData2 */
    case 52535: /* IlluminantData3 */
    case 52536: /* MaskSubArea */
    case 52537: /* ProfileHueSatMapData3 */
    case 52538: /* ReductionMatrix3 */
    case 52543: /* RGBTables */
    case 52544: /* ProfileGainTableMap2 */
    case 52547: /* ColumnInterleaveFactor */
    case 52551: /* ProfileDynamicRange */
    case 52553: /* JXLDistance */
    case 52554: /* JXLEffort */
    case 52555: /* JXLDecodeSpeed */
        return 1;
    default:
        return 0;
    }
}

/* Colour profiles, neutralised (icc.h): the TIFF one, and DNG's
 * AsShotICCProfile and CurrentICCProfile. */
static int is_icc(const tiff *t, uint16_t tag)
{
    return tag == 34675 || (t->dng && (tag == 50831 || tag == 50833));
}

/* Whether a tag of page pg is kept (SubIFDs are kept in DNG's main IFDs,
 * where they hold the raw data and the previews). */
static int kept_tag(const tiff *t, const page *pg, uint16_t tag)
{
    return keep_tag(tag) || is_icc(t, tag) || (t->dng && (dng_keep_tag(tag) || (tag == 330 && pg->parent < 0)));
}

/* Compressions a DNG may use (DNG 1.7.1 section 6, Compression; 9 is
 * VC-5, GoPro GPR): the strips or tiles are copied byte for byte, so an
 * unknown one, whose data could hold anything, is refused. */
static int dng_compression(uint64_t c)
{
    return c == 1 || c == 7 || c == 8 || c == 9 || c == 34892 || c == 52546;
}

/* Compressions only camera raws use (TIFF/EP and vendor codes). PackBits
 * (32773) and the like are ordinary and absent here. */
static int raw_compression(uint64_t c)
{
    return c == 32767 || c == 32769 || c == 32770 || c == 34316 || c == 34713 || c == 65000 || c == 65535;
}

/* Photometric CFA (TIFF/EP) and LinearRaw (DNG). */
static int raw_photometric(uint64_t p)
{
    return p == 32803 || p == 34892;
}

static const char *raw_name(const tiff *t)
{
    static const struct { const char *make; const char *name; } names[] = {
        { "NIKON", "Nikon NEF" }, { "SONY", "Sony ARW" }, { "Canon", "Canon CR2" },
        { "PENTAX", "Pentax PEF" }, { "RICOH", "Pentax PEF" }, { "SAMSUNG", "Samsung SRW" },
        { "Panasonic", "Panasonic RW2" }, { "LEICA", "Leica RAW" }, { "FUJIFILM", "Fujifilm RAF" },
        { "OLYMPUS", "Olympus ORF" }, { "Kodak", "Kodak DCR" }, { "EASTMAN KODAK", "Kodak DCR" },
        { "Hasselblad", "Hasselblad 3FR" }, { "Phase One", "Phase One IIQ" }, { "Mamiya", "Mamiya MEF" },
        { "SIGMA", "Sigma X3F" }, { "Minolta", "Minolta MRW" }, { "KONICA MINOLTA", "Minolta MRW" },
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t k = strlen(names[i].make);
        if (strncmp(t->make, names[i].make, k) == 0)
            return names[i].name;
    }
    return "camera raw";
}

static int refuse_raw(tiff *t)
{
    return um_fail(t->job, UNMETA_E_UNSUPPORTED, "TIFF: this is a %s file (sensor data in TIFF form); "
                   "camera raw files are not supported yet", raw_name(t));
}

/* Looks into the SubIFDs of a page for raw sensor data (NEF, ARW, PEF...
 * keep it there, with a small preview as the main image). */
static int check_subifds(tiff *t, const rawent *e)
{
    um_job *job = t->job;
    if (!value_inside(t, e) || !(e->type == T_LONG || e->type == T_IFD || e->type == T_LONG8 || e->type == T_IFD8))
        return 0;
    uint64_t n = e->count < MAX_SUBIFDS ? e->count : MAX_SUBIFDS;
    uint8_t *v = NULL;
    rawent tmp = *e;
    tmp.count = n;
    tmp.len = n * type_size(e->type);
    tmp.inl = e->inl;
    UM_TRY(read_value(t, &tmp, &v));
    int raw = 0, rc = 0;
    for (uint64_t i = 0; i < n && !raw; i++) {
        uint64_t off = elem(t, e->type, v, i);
        rawent *es = NULL;
        size_t cnt = 0;
        uint64_t next;
        if (off < 8 || off >= t->size)
            continue;
        rc = read_ifd(t, off, 0, "SubIFD", &es, &cnt, &next);
        if (rc < 0) {
            /* A damaged preview: dropped anyway, and not our renderer's concern. */
            rc = clear_damage(job, rc);
            if (rc < 0)
                break;
            continue;
        }
        for (size_t k = 0; k < cnt; k++) {
            const rawent *s = &es[k];
            if (s->inl && s->count >= 1 && (s->type == T_SHORT || s->type == T_LONG)) {
                uint64_t val = elem(t, s->type, s->field, 0);
                if ((s->tag == 259 && raw_compression(val)) || (s->tag == 262 && raw_photometric(val)))
                    raw = 1;
            }
        }
        free(es);
    }
    free(v);
    if (raw)
        return refuse_raw(t);
    return rc;
}

/* Counts n more bytes held until the output is planned: the values kept
 * and the strip tables of every page, which a hostile file could make
 * large page after page. */
static int account(tiff *t, uint64_t n)
{
    if (!um_add_u64(&t->mem, t->mem, n) || t->mem > t->job->ctx->limits.max_memory)
        return um_fail(t->job, UNMETA_E_LIMIT, "TIFF: the tags and strip tables to keep exceed the memory limit "
                       "(%llu bytes, UNMETA_OPT_MAX_MEMORY)", (unsigned long long)t->job->ctx->limits.max_memory);
    return 0;
}

static int add_kept(tiff *t, page *pg, const rawent *e, uint8_t *val)
{
    if (pg->n == pg->cap) {
        size_t cap = pg->cap ? pg->cap * 2 : 32;
        kept *k = um_realloc(t->job, pg->e, cap * sizeof(*k));
        if (!k)
            return t->job->err;
        pg->e = k;
        pg->cap = cap;
    }
    kept *k = &pg->e[pg->n++];
    k->tag = e->tag;
    k->type = e->type;
    k->count = e->count;
    k->val = val;
    k->len = (size_t)e->len;
    return 0;
}

static kept *find_kept(page *pg, uint16_t tag)
{
    for (size_t i = 0; i < pg->n; i++)
        if (pg->e[i].tag == tag)
            return &pg->e[i];
    return NULL;
}

/* A single integer of a kept tag, or def. */
static uint64_t kept_int(const tiff *t, page *pg, uint16_t tag, uint64_t def)
{
    kept *k = find_kept(pg, tag);
    if (!k || k->count < 1 || !(int_type(k->type) || k->type == T_BYTE))
        return def;
    return elem(t, k->type, k->val, 0);
}

/* Text of an ASCII value for the report. */
static void text_of(const uint8_t *v, size_t len, char *out, size_t outlen)
{
    size_t k = 0;
    while (k < len && k + 1 < outlen && v[k])
        k++;
    memcpy(out, v, k);
    out[k] = '\0';
    while (k && out[k - 1] == ' ')
        out[--k] = '\0';
}

/* DNG tags removed (DNG 1.7.1 chapter 6), by what they reveal. text: the
 * value is ASCII and quoted in the finding; hex: bytes shown in hex. */
static const struct dng_gone {
    uint16_t tag;
    int cat;
    const char *name;
    int text, hex;
} dng_gone[] = {
    { 50709, UNMETA_CAT_DEVICE, "LocalizedCameraModel", 1, 0 },
    { 50735, UNMETA_CAT_DEVICE, "CameraSerialNumber", 1, 0 },
    { 50736, UNMETA_CAT_DEVICE, "DNGLensInfo", 0, 0 },
    { 50740, UNMETA_CAT_DEVICE, "DNGPrivateData", 0, 0 },  /* the maker note again (section 6) */
    { 50741, UNMETA_CAT_DEVICE, "MakerNoteSafety", 0, 0 },
    { 50781, UNMETA_CAT_DEVICE, "RawDataUniqueID", 0, 1 },  /* one per shot */
    { 50827, UNMETA_CAT_OTHER, "OriginalRawFileName", 1, 0 },
    { 50828, UNMETA_CAT_EMBEDDED, "OriginalRawFileData", 0, 0 },  /* the whole original raw file */
    { 50933, UNMETA_CAT_EMBEDDED, "ExtraCameraProfiles", 0, 0 },
    { 50934, UNMETA_CAT_PEOPLE, "AsShotProfileName", 1, 0 },
    { 50936, UNMETA_CAT_PEOPLE, "ProfileName", 1, 0 },
    { 50942, UNMETA_CAT_PEOPLE, "ProfileCopyright", 1, 0 },
    { 50966, UNMETA_CAT_SOFTWARE, "PreviewApplicationName", 1, 0 },
    { 50967, UNMETA_CAT_SOFTWARE, "PreviewApplicationVersion", 1, 0 },
    { 50968, UNMETA_CAT_SOFTWARE, "PreviewSettingsName", 1, 0 },
    { 50969, UNMETA_CAT_SOFTWARE, "PreviewSettingsDigest", 0, 1 },
    { 50971, UNMETA_CAT_TIME, "PreviewDateTime", 1, 0 },
    { 50973, UNMETA_CAT_OTHER, "OriginalRawFileDigest", 0, 1 },
    { 51114, UNMETA_CAT_SOFTWARE, "CacheVersion", 0, 0 },
    { 51182, UNMETA_CAT_SOFTWARE, "EnhanceParams", 1, 0 },
    { 52526, UNMETA_CAT_OTHER, "SemanticName", 1, 0 },
    { 52528, UNMETA_CAT_OTHER, "SemanticInstanceID", 1, 0 },
    { 52548, UNMETA_CAT_OTHER, "ImageSequenceInfo", 0, 0 },
    { 52550, UNMETA_CAT_OTHER, "ImageStats", 0, 0 },
    { 52552, UNMETA_CAT_PEOPLE, "ProfileGroupName", 1, 0 },
};

static int report_dng(tiff *t, unsigned pno, const rawent *e, const struct dng_gone *g)
{
    um_job *job = t->job;
    char kind[80], buf[160];
    uint64_t off = e->voff, len = value_inside(t, e) ? e->len : 0;
    snprintf(kind, sizeof(kind), "%s %s (tag %u)", pname(t, pno), g->name, e->tag);
    int blk = um_report_block(job, kind, off, len, UNMETA_ACTION_REMOVE);
    UM_TRY(blk);
    if ((g->text || g->hex) && len && len <= 4096) {
        uint8_t *v = NULL;
        UM_TRY(read_value(t, e, &v));
        if (g->text) {
            text_of(v, (size_t)len, buf, sizeof(buf));
        } else {
            size_t k = 0;
            for (; k < len && 2 * k + 2 < sizeof(buf); k++)
                snprintf(buf + 2 * k, 3, "%02X", v[k]);
            buf[2 * k] = '\0';
        }
        free(v);
        return um_report_finding(job, blk, g->cat, g->name, "%s", buf);
    }
    return um_report_finding(job, blk, g->cat, g->name, "%llu bytes", (unsigned long long)e->len);
}

/* Reports a dropped tag the EXIF walker does not know (TIFF-only ones);
 * *handled is 0 for a tag left to um_exif_scan. */
static int report_special(tiff *t, unsigned pno, const rawent *e, int *handled)
{
    um_job *job = t->job;
    char kind[64];
    int blk;
    *handled = 1;
    /* A value that runs past the end of the file has no bytes here to
     * remove: its block is empty (clamped, it would claim kept bytes). */
    uint64_t off = e->voff, len = value_inside(t, e) ? e->len : 0;
    for (size_t i = 0; t->dng && i < sizeof(dng_gone) / sizeof(dng_gone[0]); i++)
        if (dng_gone[i].tag == e->tag)
            return report_dng(t, pno, e, &dng_gone[i]);
    switch (e->tag) {
    case 700: { /* XMP (XMP Specification Part 3, 1.2.2) */
        snprintf(kind, sizeof(kind), "%s XMP (tag 700)", pname(t, pno));
        blk = um_report_block(job, kind, off, len, UNMETA_ACTION_REMOVE);
        UM_TRY(blk);
        if (!value_inside(t, e) || len > job->ctx->limits.max_block)
            return um_report_finding(job, blk, UNMETA_CAT_OTHER, "XMP", "%llu bytes (not read)",
                                     (unsigned long long)e->len);
        uint8_t *v = NULL;
        UM_TRY(read_value(t, e, &v));
        int rc = um_xmp_scan(job, blk, v, (size_t)len);
        free(v);
        return rc;
    }
    case 33723: /* IPTC-NAA */
    case 34377: /* Photoshop image resources */
    case 37724: /* Photoshop ImageSourceData (layers) */
        snprintf(kind, sizeof(kind), "%s %s (tag %u)", pname(t, pno),
                 e->tag == 33723 ? "IPTC" : e->tag == 34377 ? "Photoshop" : "Photoshop layers", e->tag);
        blk = um_report_block(job, kind, off, len, UNMETA_ACTION_REMOVE);
        UM_TRY(blk);
        return um_report_finding(job, blk, e->tag == 37724 ? UNMETA_CAT_EMBEDDED : UNMETA_CAT_PEOPLE,
                                 e->tag == 33723 ? "IPTC" : e->tag == 34377 ? "Photoshop" : "PhotoshopLayers",
                                 "%llu bytes", (unsigned long long)e->len);
    case 33550: case 33922: case 34264: case 34735: case 34736: case 34737: { /* GeoTIFF 1.0 */
        const char *name = e->tag == 33550 ? "GeoTIFF ModelPixelScale" : e->tag == 33922 ? "GeoTIFF ModelTiepoint"
                         : e->tag == 34264 ? "GeoTIFF ModelTransformation" : e->tag == 34735 ? "GeoTIFF GeoKeyDirectory"
                         : e->tag == 34736 ? "GeoTIFF GeoDoubleParams" : "GeoTIFF GeoAsciiParams";
        snprintf(kind, sizeof(kind), "%s %s", pname(t, pno), name);
        blk = um_report_block(job, kind, off, len, UNMETA_ACTION_REMOVE);
        UM_TRY(blk);
        if (e->tag == 34737 && e->type == T_ASCII && value_inside(t, e) && len <= 4096) {
            uint8_t *v = NULL;
            char buf[160];
            UM_TRY(read_value(t, e, &v));
            text_of(v, (size_t)len, buf, sizeof(buf));
            free(v);
            return um_report_finding(job, blk, UNMETA_CAT_LOCATION, name, "%s", buf);
        }
        return um_report_finding(job, blk, UNMETA_CAT_LOCATION, name, "%llu values", (unsigned long long)e->count);
    }
    case 330: /* SubIFDs (Adobe TIFF Technical Note 1): previews, thumbnails */
        snprintf(kind, sizeof(kind), "%s SubIFDs (tag 330)", pname(t, pno));
        blk = um_report_block(job, kind, off, len, UNMETA_ACTION_REMOVE);
        UM_TRY(blk);
        return um_report_finding(job, blk, UNMETA_CAT_EMBEDDED, "SubIFDs", "%llu image%s",
                                 (unsigned long long)e->count, e->count == 1 ? "" : "s");
    case 269: /* DocumentName */
    case 285: /* PageName */
        snprintf(kind, sizeof(kind), "%s %s", pname(t, pno), e->tag == 269 ? "DocumentName" : "PageName");
        blk = um_report_block(job, kind, off, len, UNMETA_ACTION_REMOVE);
        UM_TRY(blk);
        if (value_inside(t, e) && len <= 4096) {
            uint8_t *v = NULL;
            char buf[160];
            UM_TRY(read_value(t, e, &v));
            text_of(v, (size_t)len, buf, sizeof(buf));
            free(v);
            return um_report_finding(job, blk, UNMETA_CAT_PEOPLE, e->tag == 269 ? "DocumentName" : "PageName",
                                     "%s", buf);
        }
        return um_report_finding(job, blk, UNMETA_CAT_PEOPLE, e->tag == 269 ? "DocumentName" : "PageName",
                                 "%llu bytes", (unsigned long long)e->len);
    default:
        *handled = 0;
        return 0;
    }
}

/* ---- the compact copy of dropped entries, for um_exif_scan ---------------- */

static int sb_reserve(tiff *t, sbuf *b, size_t n, size_t *at)
{
    size_t pos = b->len + (b->len & 1);
    if (n > t->job->ctx->limits.max_block || pos + n > t->job->ctx->limits.max_block)
        return 1; /* does not fit: the caller reports the entry itself */
    if (pos + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < pos + n)
            cap *= 2;
        uint8_t *p = um_realloc(t->job, b->p, cap);
        if (!p)
            return t->job->err;
        b->p = p;
        b->cap = cap;
    }
    memset(b->p + b->len, 0, pos + n - b->len);
    b->len = pos + n;
    *at = pos;
    return 0;
}

static int is_pointer(uint16_t tag)
{
    return tag == 0x8769 || tag == 0x8825 || tag == 0xA005;
}

/* Writes a classic IFD holding es[] (values copied from the file) into b
 * at *at; sub-IFD pointers are followed and their IFDs copied after it.
 * Entries that cannot be copied are counted in *lost. */
static int synth_ifd(tiff *t, sbuf *b, const rawent *es, size_t n, int depth, uint64_t *seen, int *nseen,
                     size_t *at, unsigned *lost)
{
    um_job *job = t->job;
    size_t pos;
    int rc = sb_reserve(t, b, 2 + 12 * n + 4, &pos);
    if (rc)
        return rc;
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        const rawent *e = &es[i];
        size_t ep = pos + 2 + 12 * used;
        if (is_pointer(e->tag)) {
            if (e->count != 1 || !(e->type == T_LONG || e->type == T_IFD || e->type == T_LONG8 || e->type == T_IFD8)) {
                (*lost)++;
                continue;
            }
            uint64_t off = elem(t, e->type, e->field, 0);
            int loop = 0;
            for (int k = 0; k < *nseen; k++)
                loop |= seen[k] == off;
            if (loop || depth >= SYNTH_DEPTH || (uint32_t)depth >= job->ctx->limits.max_depth || *nseen >= 8) {
                (*lost)++;
                continue;
            }
            seen[(*nseen)++] = off;
            rawent *sub = NULL;
            size_t cnt = 0;
            uint64_t next;
            rc = read_ifd(t, off, 2, "Exif/GPS sub-IFD", &sub, &cnt, &next);
            if (rc < 0) {
                /* Damaged: removed anyway; counted below as not readable. */
                UM_TRY(clear_damage(job, rc));
                (*lost)++;
                continue;
            }
            for (size_t k = 0; k < cnt; k++)
                if (!sub[k].inl && value_inside(t, &sub[k]))
                    UM_TRY(add_range(t, sub[k].voff, sub[k].len, R_GONE));
            size_t child = 0;
            rc = synth_ifd(t, b, sub, cnt, depth + 1, seen, nseen, &child, lost);
            free(sub);
            if (rc < 0)
                return rc;
            if (rc > 0) {
                (*lost)++;
                continue;
            }
            wr16(t, b->p + ep, e->tag);
            wr16(t, b->p + ep + 2, T_LONG);
            wr32(t, b->p + ep + 4, 1);
            wr32(t, b->p + ep + 8, (uint32_t)child);
            used++;
            continue;
        }
        /* Classic TIFF has no 8-byte integer types and 32-bit counts. */
        if (!value_inside(t, e) || e->count > UINT32_MAX || e->type >= T_LONG8) {
            (*lost)++;
            continue;
        }
        uint8_t *v = NULL;
        size_t vp = 0;
        if (e->len > 4) {
            rc = sb_reserve(t, b, (size_t)e->len, &vp);
            if (rc < 0)
                return rc;
            if (rc > 0) {
                (*lost)++;
                continue;
            }
        }
        UM_TRY(read_value(t, e, &v));
        wr16(t, b->p + ep, e->tag);
        wr16(t, b->p + ep + 2, e->type);
        wr32(t, b->p + ep + 4, (uint32_t)e->count);
        if (e->len > 4) {
            memcpy(b->p + vp, v, (size_t)e->len);
            wr32(t, b->p + ep + 8, (uint32_t)vp);
        } else {
            memcpy(b->p + ep + 8, v, (size_t)e->len);
        }
        free(v);
        used++;
    }
    wr16(t, b->p + pos, (uint16_t)used);
    /* Unused entry slots stay zero; the count excludes them. */
    *at = pos;
    return 0;
}

/* Hands the dropped entries of one page to um_exif_scan, which names them
 * (and walks the Exif, GPS and Interop IFDs they point to). */
static int scan_dropped(tiff *t, unsigned pno, const rawent *es, size_t n)
{
    um_job *job = t->job;
    sbuf b = { NULL, 0, 0 };
    uint64_t seen[8];
    int nseen = 0;
    unsigned lost = 0;
    size_t at = 0;
    char kind[48];
    int rc;
    snprintf(kind, sizeof(kind), "%s metadata tags", pname(t, pno));
    int blk = um_report_block(job, kind, t->pages[pno].ifd_off, 0, UNMETA_ACTION_REMOVE);
    UM_TRY(blk);
    uint32_t before = unmeta_report_finding_count(job->report);
    rc = sb_reserve(t, &b, 8, &at);
    if (rc != 0)
        goto done;
    memcpy(b.p, t->le ? "II*\0" : "MM\0*", 4);
    wr32(t, b.p + 4, 8);
    UM_TRY_GOTO(rc, synth_ifd(t, &b, es, n, 0, seen, &nseen, &at, &lost), done);
    if (rc == 0) {
        um_exif_info info;
        UM_TRY_GOTO(rc, um_exif_scan(job, blk, b.p, b.len, &info), done);
    } else {
        lost += (unsigned)n;
        rc = 0;
    }
    if (lost)
        UM_TRY_GOTO(rc, um_report_finding(job, blk, UNMETA_CAT_OTHER, "TIFF tags", "%u tag%s or sub-IFD%s not readable",
                                          lost, lost == 1 ? "" : "s", lost == 1 ? "" : "s"), done);
    if (unmeta_report_finding_count(job->report) == before)
        UM_TRY_GOTO(rc, um_report_finding(job, blk, UNMETA_CAT_OTHER, "TIFF tags", "%zu tag%s", n, n == 1 ? "" : "s"),
                    done);
done:
    free(b.p);
    return rc;
}

/* ---- pages --------------------------------------------------------------- */

/* Reads the offsets and byte counts of a page's strips or tiles. */
static int load_chunks(tiff *t, page *pg, unsigned pno)
{
    um_job *job = t->job;
    kept *so = find_kept(pg, 273), *sc = find_kept(pg, 279);
    kept *to = find_kept(pg, 324), *tc = find_kept(pg, 325);
    kept *o, *c;
    if ((so || sc) && (to || tc))
        return um_fail(job, UNMETA_E_MALFORMED, "TIFF: %s has both strips and tiles", pname(t, pno));
    pg->tiled = to || tc || find_kept(pg, 322);
    o = pg->tiled ? to : so;
    c = pg->tiled ? tc : sc;
    if (!o || !c)
        return um_fail(job, UNMETA_E_MALFORMED, "TIFF: %s has no %s (Offsets and ByteCounts are required)",
                       pname(t, pno), pg->tiled ? "tiles" : "strips");
    if (!int_type(o->type) || !int_type(c->type) || (!t->big && (o->type == T_LONG8 || c->type == T_LONG8)))
        return um_fail(job, UNMETA_E_MALFORMED, "TIFF: %s: %s offsets or byte counts have type %u/%u", pname(t, pno),
                       pg->tiled ? "tile" : "strip", o->type, c->type);
    if (o->count != c->count || o->count == 0)
        return um_fail(job, UNMETA_E_MALFORMED, "TIFF: %s has %llu %s offsets but %llu byte counts", pname(t, pno),
                       (unsigned long long)o->count, pg->tiled ? "tile" : "strip", (unsigned long long)c->count);
    /* 6.0 p. 39 and 67: StripsPerImage = ceil(ImageLength / RowsPerStrip),
     * TilesPerImage = ceil(ImageWidth / TileWidth) * ceil(ImageLength /
     * TileLength), times SamplesPerPixel when PlanarConfiguration is 2. A
     * page that claims more pixels than its strips or tiles can hold (say
     * 2^32-1 x 2^32-1 with one strip) is not a picture readers can render. */
    uint64_t w = kept_int(t, pg, 256, 0), h = kept_int(t, pg, 257, 0), need = 0;
    if (w == 0 || h == 0)
        return um_fail(job, UNMETA_E_MALFORMED, "TIFF: %s has an empty image size (%llux%llu)", pname(t, pno),
                       (unsigned long long)w, (unsigned long long)h);
    if (pg->tiled) {
        uint64_t tw = kept_int(t, pg, 322, 0), th = kept_int(t, pg, 323, 0);
        if (tw == 0 || th == 0)
            return um_fail(job, UNMETA_E_MALFORMED, "TIFF: %s has tiles without a tile size", pname(t, pno));
        if (!um_mul_u64(&need, w / tw + (w % tw != 0), h / th + (h % th != 0)))
            need = UINT64_MAX;
    } else {
        uint64_t rps = kept_int(t, pg, 278, 0xFFFFFFFFu);
        if (rps == 0 || rps > h)
            rps = h;
        need = h / rps + (h % rps != 0);
    }
    if (kept_int(t, pg, 284, 1) == 2 && !um_mul_u64(&need, need, kept_int(t, pg, 277, 1)))
        need = UINT64_MAX;
    if (o->count < need && t->dng) {
        /* Sample DNGs are published with their raw data cut short (the
         * exiftool test file keeps one tile of 140): no reader renders them
         * whole, before or after. What is there is copied as it is and the
         * report says the image is incomplete; nothing else is kept. */
        UM_TRY(um_report_note(job, "TIFF: %s claims %llux%llu pixels but has %llu %s where %llu are needed; "
                              "the incomplete image was copied as it is", pname(t, pno), (unsigned long long)w,
                              (unsigned long long)h, (unsigned long long)o->count, pg->tiled ? "tiles" : "strips",
                              (unsigned long long)need));
    } else if (o->count < need)
        return um_fail(job, UNMETA_E_MALFORMED, "TIFF: %s claims %llux%llu pixels but has %llu %s where %llu are "
                       "needed", pname(t, pno), (unsigned long long)w, (unsigned long long)h, (unsigned long long)o->count,
                       pg->tiled ? "tiles" : "strips", (unsigned long long)need);
    uint64_t bytes;
    if (!um_mul_u64(&bytes, o->count, 2 * sizeof(uint64_t) + sizeof(range)) || bytes > job->ctx->limits.max_memory)
        return um_fail(job, UNMETA_E_LIMIT, "TIFF: %s has %llu %s", pname(t, pno), (unsigned long long)o->count,
                       pg->tiled ? "tiles" : "strips");
    UM_TRY(account(t, bytes));
    pg->nchunks = o->count;
    pg->coff = um_malloc(job, (size_t)o->count * sizeof(uint64_t));
    pg->clen = um_malloc(job, (size_t)o->count * sizeof(uint64_t));
    if (!pg->coff || !pg->clen)
        return job->err;
    for (uint64_t i = 0; i < o->count; i++) {
        uint64_t off = elem(t, o->type, o->val, i), len = elem(t, c->type, c->val, i);
        if (len == 0) {
            /* An absent strip or tile (sparse file); readers fill it in. */
            if (off != 0)
                return um_fail(job, UNMETA_E_MALFORMED, "TIFF: %s %s %llu has an offset but no bytes", pname(t, pno),
                               pg->tiled ? "tile" : "strip", (unsigned long long)i);
        } else if (off >= t->size) {
            return um_fail(job, UNMETA_E_MALFORMED, "TIFF: %s %s %llu at byte %llu is outside the file", pname(t, pno),
                           pg->tiled ? "tile" : "strip", (unsigned long long)i, (unsigned long long)off);
        } else if (len > t->size - off) {
            return um_fail(job, UNMETA_E_TRUNCATED, "TIFF: %s %s %llu runs past the end of the file "
                           "(%llu bytes at byte %llu)", pname(t, pno), pg->tiled ? "tile" : "strip", (unsigned long long)i,
                           (unsigned long long)len, (unsigned long long)off);
        }
        pg->coff[i] = off;
        pg->clen[i] = len;
        UM_TRY(add_range(t, off, len, R_CHUNK));
    }
    return 0;
}

static int add_cut(tiff *t, page *pg, uint64_t chunk, uint64_t off, uint64_t len)
{
    UM_TRY(account(t, sizeof(cut)));
    if (pg->ncuts == pg->cutcap) {
        size_t cap = pg->cutcap ? pg->cutcap * 2 : 4;
        cut *c = um_realloc(t->job, pg->cuts, cap * sizeof(*c));
        if (!c)
            return t->job->err;
        pg->cuts = c;
        pg->cutcap = cap;
    }
    pg->cuts[pg->ncuts].chunk = chunk;
    pg->cuts[pg->ncuts].off = off;
    pg->cuts[pg->ncuts].len = len;
    pg->ncuts++;
    return 0;
}

/* Reports the metadata segments cut out of a preview JPEG, from cuts[from]
 * on: EXIF and XMP walked for what they say, the rest by size. */
static int report_cuts(tiff *t, page *pg, unsigned pno, size_t from, const char *what)
{
    um_job *job = t->job;
    static const char xmp_sig[] = "http://ns.adobe.com/xap/1.0/";
    for (size_t i = from; i < pg->ncuts; i++) {
        const cut *c = &pg->cuts[i];
        uint8_t *v = NULL;
        char kind[96];
        UM_TRY(um_read_block(job, c->off, c->len, "a JPEG segment", &v));
        uint8_t m = v[1];
        char seg[8];
        snprintf(seg, sizeof(seg), m == 0xFE ? "COM" : "APP%d", m - 0xE0);
        snprintf(kind, sizeof(kind), "%s %s %llu JPEG %s", pname(t, pno), what, (unsigned long long)c->chunk, seg);
        int blk = um_report_block(job, kind, c->off, c->len, UNMETA_ACTION_REMOVE);
        int rc = blk < 0 ? blk : 0;
        if (rc == 0 && m == 0xE1 && c->len >= 10 && memcmp(v + 4, "Exif\0\0", 6) == 0) {
            um_exif_info info;
            rc = um_exif_scan(job, blk, v + 10, (size_t)c->len - 10, &info);
        } else if (rc == 0 && m == 0xE1 && c->len >= 4 + sizeof(xmp_sig) &&
                   memcmp(v + 4, xmp_sig, sizeof(xmp_sig)) == 0) {
            rc = um_xmp_scan(job, blk, v + 4 + sizeof(xmp_sig), (size_t)c->len - 4 - sizeof(xmp_sig));
        } else if (rc == 0) {
            rc = um_report_finding(job, blk, m == 0xFE ? UNMETA_CAT_PEOPLE : UNMETA_CAT_OTHER,
                                   m == 0xFE ? "Comment" : "JPEG APPn", "%s, %llu bytes", seg,
                                   (unsigned long long)c->len);
        }
        free(v);
        UM_TRY(rc);
    }
    return 0;
}

/* JPEG-in-TIFF (TIFF Technical Note 2): the tables and each strip or tile
 * are JPEG streams, copied byte for byte. Their headers may carry APPn or
 * COM segments (EXIF, XMP, comments) that libjpeg skips. Only APP0 JFIF
 * without a thumbnail and APP14 Adobe (colour transform) are rendering
 * data. With may_cut (a DNG preview), the others are cut out of the
 * stream (recorded in pg->cuts; offsets and byte counts are recomputed
 * anyway) unless the stream is lossless JPEG (SOF3, 7, 11, 15: sensor
 * data, which is never altered); otherwise such a stream is refused
 * rather than passed on with metadata inside its "pixels". mem is the
 * stream in memory, or NULL to read it at off. */
static int check_jpeg_stream(tiff *t, page *pg, const uint8_t *mem, uint64_t off, uint64_t len, unsigned pno,
                             const char *what, uint64_t idx, int may_cut)
{
    um_job *job = t->job;
    uint64_t pos = 2;
    uint8_t h[18];
    size_t from = pg->ncuts;
    int bad = 0, lossless = 0, rc = 0;
    if (len < 2)
        return 0;
    for (int seg = 0; seg < 1024; seg++) {
        size_t n = len - pos < sizeof(h) ? (size_t)(len - pos) : sizeof(h);
        if (n < 2)
            break;
        if (mem)
            memcpy(h, mem + pos, n);
        else
            UM_TRY(um_read_at(job, off + pos, h, n));
        if (h[0] != 0xFF)
            break; /* not a marker: the decoder will judge */
        uint8_t m = h[1];
        if (m == 0xFF) {
            pos++;
            continue;
        }
        if (m == 0xDA || m == 0xD9)
            break; /* scan data or end: nothing before it hid anything */
        if ((m >= 0xD0 && m <= 0xD8) || m == 0x01) {
            pos += 2;
            continue;
        }
        if (n < 4)
            break;
        uint16_t sl = um_be16(h + 2);
        int ok = 1;
        if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC && (m & 3) == 3)
            lossless = 1;
        if (m == 0xFE || (m >= 0xE1 && m <= 0xEF && m != 0xEE))
            ok = 0;
        else if (m == 0xE0)
            ok = n >= 18 && memcmp(h + 4, "JFIF\0", 5) == 0 && h[16] == 0 && h[17] == 0;
        else if (m == 0xEE)
            ok = n >= 9 && memcmp(h + 4, "Adobe", 5) == 0;
        if (!ok && !bad)
            bad = m;
        if (!ok && may_cut) {
            if (sl < 2 || pos + 2 + sl > len) {
                rc = um_fail(job, UNMETA_E_MALFORMED, "TIFF: %s %s %llu: a JPEG segment runs past the end of "
                             "its stream", pname(t, pno), what, (unsigned long long)idx);
                break;
            }
            rc = add_cut(t, pg, idx, off + pos, 2 + (uint64_t)sl);
            if (rc < 0)
                break;
        }
        pos += 2 + (uint64_t)sl;
        if (pos >= len)
            break;
    }
    if (rc == 0 && bad && (!may_cut || lossless)) {
        char name[40], seg_name[8];
        if (mem)
            snprintf(name, sizeof(name), "%s", what);
        else
            snprintf(name, sizeof(name), "%s %llu", what, (unsigned long long)idx);
        snprintf(seg_name, sizeof(seg_name), bad == 0xFE ? "COM" : "APP%d", bad - 0xE0);
        rc = um_fail(job, UNMETA_E_UNSUPPORTED, "TIFF: %s %s is a %sJPEG stream with a %s segment "
                     "(metadata inside image data is not supported yet)", pname(t, pno), name,
                     lossless ? "lossless " : "", seg_name);
    }
    if (rc < 0) {
        pg->ncuts = from;
        return rc;
    }
    return report_cuts(t, pg, pno, from, what);
}

static int cmp_kept(const void *a, const void *b)
{
    const kept *x = a, *y = b;
    return (x->tag > y->tag) - (x->tag < y->tag);
}

/* DNG keeps its SubIFDs (Adobe TIFF Technical Note 1; DNG 1.7.1 chapter
 * 3: the raw data and the previews live there). Their offsets are read
 * into pg->sub for walk() to read as pages; the tag is kept with a value
 * of the output type, filled in by emit once the layout is known. */
static int keep_subifds(tiff *t, page *pg, unsigned pno, const rawent *e)
{
    um_job *job = t->job;
    if (!(e->type == T_LONG || e->type == T_IFD || e->type == T_LONG8 || e->type == T_IFD8) ||
        (!t->big && (e->type == T_LONG8 || e->type == T_IFD8)))
        return um_fail(job, UNMETA_E_MALFORMED, "TIFF: %s SubIFDs have type %u", pname(t, pno), e->type);
    if (e->count == 0 || e->count > MAX_SUBIFDS)
        return um_fail(job, UNMETA_E_LIMIT, "TIFF: %s has %llu SubIFDs (1 to %u are supported)", pname(t, pno),
                       (unsigned long long)e->count, MAX_SUBIFDS);
    uint8_t *v = NULL;
    UM_TRY(read_value(t, e, &v));
    pg->sub = um_malloc(job, (size_t)e->count * sizeof(uint64_t));
    if (!pg->sub) {
        free(v);
        return job->err;
    }
    for (uint64_t i = 0; i < e->count; i++)
        pg->sub[i] = elem(t, e->type, v, i);
    pg->nsub = (size_t)e->count;
    free(v);
    rawent z = *e;
    z.type = t->big ? T_IFD8 : T_LONG;
    z.len = e->count * type_size(z.type);
    v = um_calloc(job, (size_t)z.len, 1);
    if (!v)
        return job->err;
    int rc = add_kept(t, pg, &z, v);
    if (rc < 0)
        free(v);
    return rc;
}

/* Reads one page: its IFD at off. */
static int read_page(tiff *t, page *pg, unsigned pno, uint64_t *next)
{
    um_job *job = t->job;
    rawent *es = NULL, *drop = NULL;
    size_t n = 0, ndrop = 0;
    int rc = 0;
    char kind[64];
    int icc_blk = -1;

    UM_TRY(read_ifd(t, pg->ifd_off, 1, pg->parent < 0 ? "IFD" : "SubIFD", &es, &n, next));
    snprintf(kind, sizeof(kind), "%s", pname(t, pno));
    int blk = um_report_block(job, kind, pg->ifd_off, t->csz + (uint64_t)n * t->esz + t->osz, UNMETA_ACTION_KEEP);
    UM_TRY_GOTO(rc, blk, done);
    drop = um_calloc(job, n, sizeof(*drop));
    if (!drop) {
        rc = job->err;
        goto done;
    }

    /* Camera raws first: refused before anything else is said. DNG (its
     * DNGVersion is in IFD0, DNG 1.7.1 section 6) is open: its raw data
     * and tags are documented, unlike the vendors' formats. */
    for (size_t i = 0; i < n; i++) {
        const rawent *e = &es[i];
        if (e->tag == 50706 && pno == 0 && !t->dng) {
            /* Four BYTEs (DNG 1.7.1 section 6): dropped as unreadable, it
             * would leave a raw the TIFF path refuses (and a reader
             * would not take for a DNG). */
            if (e->type != T_BYTE || e->count != 4) {
                rc = um_fail(job, UNMETA_E_MALFORMED, "TIFF: DNGVersion has type %u and %llu values (4 BYTEs "
                             "expected)", e->type, (unsigned long long)e->count);
                goto done;
            }
            t->dng = 1;
            um_report_set_format(job->report, "dng");
        } else if (e->tag == 50706 && !t->dng) {
            rc = um_fail(job, UNMETA_E_MALFORMED, "TIFF: %s holds DNGVersion, which belongs in IFD0", pname(t, pno));
            goto done;
        }
        if (pno == 0 && e->tag == 271 && e->type == T_ASCII && value_inside(t, e) && e->len < 4096) {
            uint8_t *v = NULL;
            UM_TRY_GOTO(rc, read_value(t, e, &v), done);
            text_of(v, (size_t)e->len, t->make, sizeof(t->make));
            free(v);
        }
    }
    for (size_t i = 0; i < n; i++) {
        const rawent *e = &es[i];
        if (e->inl && e->count >= 1 && (e->type == T_SHORT || e->type == T_LONG)) {
            uint64_t val = elem(t, e->type, e->field, 0);
            if (t->dng) {
                if (e->tag == 259 && !dng_compression(val) && val != 6) {
                    rc = um_fail(job, UNMETA_E_UNSUPPORTED, "TIFF: %s of this DNG uses compression %llu, which "
                                 "unmeta does not know (its data is copied as it is, so it must be known)",
                                 pname(t, pno), (unsigned long long)val);
                    goto done;
                }
                continue;
            }
            if ((e->tag == 259 && raw_compression(val)) || (e->tag == 262 && raw_photometric(val))) {
                rc = refuse_raw(t);
                goto done;
            }
        }
    }
    for (size_t i = 0; i < n && !t->dng; i++)
        if (es[i].tag == 330)
            UM_TRY_GOTO(rc, check_subifds(t, &es[i]), done);

    for (size_t i = 0; i < n; i++) {
        const rawent *e = &es[i];
        if (!e->inl && e->known)
            UM_TRY_GOTO(rc, add_range(t, e->voff, value_inside(t, e) ? e->len : 0,
                                      kept_tag(t, pg, e->tag) ? R_STRUCT : R_GONE), done);
        if (kept_tag(t, pg, e->tag)) {
            if (find_kept(pg, e->tag)) {
                /* A duplicate: readers use the first; the rest goes. */
                UM_TRY_GOTO(rc, um_report_note(job, "TIFF: %s repeats tag %u; the repeat was dropped", pname(t, pno), e->tag),
                            done);
                continue;
            }
            if (!e->known) {
                /* libtiff ignores a tag of a type it does not know; so do we. */
                UM_TRY_GOTO(rc, um_report_note(job, "TIFF: %s tag %u has unknown type %u and was dropped", pname(t, pno),
                                               e->tag, e->type), done);
                continue;
            }
            UM_TRY_GOTO(rc, account(t, e->len), done);
            if (e->tag == 330) {
                UM_TRY_GOTO(rc, keep_subifds(t, pg, pno, e), done);
                continue;
            }
            if (is_icc(t, e->tag)) {
                int strip = job->ctx->icc_mode == UNMETA_ICC_STRIP;
                char icc_kind[64];
                snprintf(icc_kind, sizeof(icc_kind), "%s ICC profile (tag %u)", pname(t, pno), e->tag);
                icc_blk = um_report_block(job, icc_kind, e->voff, value_inside(t, e) ? e->len : 0,
                                          strip ? UNMETA_ACTION_REMOVE : UNMETA_ACTION_REWRITE);
                UM_TRY_GOTO(rc, icc_blk, done);
                uint8_t *v = NULL;
                if (!value_inside(t, e)) {
                    UM_TRY_GOTO(rc, um_report_finding(job, icc_blk, UNMETA_CAT_OTHER, "ICCProfile",
                                                      "unusable profile (outside the file)"), done);
                    um_report_block_action(job, icc_blk, UNMETA_ACTION_REMOVE);
                    continue;
                }
                UM_TRY_GOTO(rc, read_value(t, e, &v), done);
                int changed = 0;
                rc = um_icc_neutralise(job, icc_blk, v, (size_t)e->len, &changed);
                if (rc == UNMETA_E_MALFORMED) {
                    /* A profile no colour engine could use either: dropped,
                     * and a finding, since its bytes were never understood. */
                    free(v);
                    /* Cleared first: a note that runs out of memory must
                     * fail the job with its own error, not this one. */
                    job->err = 0;
                    rc = um_report_note(job, "the ICC profile is malformed and was dropped: %s", job->ctx->errmsg);
                    if (rc < 0)
                        goto done;
                    job->ctx->errmsg[0] = '\0';
                    um_report_block_action(job, icc_blk, UNMETA_ACTION_REMOVE);
                    UM_TRY_GOTO(rc, um_report_finding(job, icc_blk, UNMETA_CAT_OTHER, "ICCProfile",
                                                      "unusable profile (malformed), %llu bytes",
                                                      (unsigned long long)e->len), done);
                    continue;
                }
                if (rc < 0) {
                    free(v);
                    goto done;
                }
                if (strip) {
                    free(v);
                    continue;
                }
                if (!changed)
                    um_report_block_action(job, icc_blk, UNMETA_ACTION_KEEP);
                rc = add_kept(t, pg, e, v);
                if (rc < 0) {
                    free(v);
                    goto done;
                }
                continue;
            }
            uint8_t *v = NULL;
            UM_TRY_GOTO(rc, read_value(t, e, &v), done);
            rc = add_kept(t, pg, e, v);
            if (rc < 0) {
                free(v);
                goto done;
            }
            continue;
        }
        um_report_block_action(job, blk, UNMETA_ACTION_REWRITE);
        int handled = 0;
        UM_TRY_GOTO(rc, report_special(t, pno, e, &handled), done);
        if (!handled)
            drop[ndrop++] = *e;
    }
    if (ndrop)
        UM_TRY_GOTO(rc, scan_dropped(t, pno, drop, ndrop), done);

    if (!find_kept(pg, 256) || !find_kept(pg, 257)) {
        rc = um_fail(job, UNMETA_E_MALFORMED, "TIFF: %s has no image size", pname(t, pno));
        goto done;
    }
    uint64_t comp = kept_int(t, pg, 259, 1);
    if (comp == 6) {
        rc = um_fail(job, UNMETA_E_UNSUPPORTED, "TIFF: %s uses old-style JPEG compression (6), "
                     "which is not supported yet", pname(t, pno));
        goto done;
    }
    if (t->dng && !dng_compression(comp)) {
        rc = um_fail(job, UNMETA_E_UNSUPPORTED, "TIFF: %s of this DNG uses compression %llu, which unmeta does "
                     "not know (its data is copied as it is, so it must be known)", pname(t, pno),
                     (unsigned long long)comp);
        goto done;
    }
    UM_TRY_GOTO(rc, load_chunks(t, pg, pno), done);
    if (comp == 7 || (t->dng && comp == 34892)) {
        /* A DNG preview (NewSubFileType bit 0: reduced resolution, DNG
         * 1.7.1 section 4) is a JPEG a camera may have given its own EXIF:
         * cleaned. Raw data (lossy DNG 34892, lossless JPEG) never is. */
        int may_cut = t->dng && comp == 7 && (kept_int(t, pg, 254, 0) & 1);
        kept *jt = find_kept(pg, 347);
        if (jt)
            UM_TRY_GOTO(rc, check_jpeg_stream(t, pg, jt->val, 0, jt->len, pno, "JPEGTables", 0, 0), done);
        for (uint64_t i = 0; i < pg->nchunks; i++)
            UM_TRY_GOTO(rc, check_jpeg_stream(t, pg, NULL, pg->coff[i], pg->clen[i], pno,
                                              pg->tiled ? "tile" : "strip", i, may_cut), done);
    }
    if (t->dng && comp == 52546) {
        /* JPEG XL tiles (DNG 1.7): a bare codestream (FF 0A) holds pixels
         * only; the ISO BMFF container could carry Exif and XMP boxes. */
        for (uint64_t i = 0; i < pg->nchunks; i++) {
            uint8_t sig[2] = { 0, 0 };
            if (pg->clen[i] == 0)
                continue;
            UM_TRY_GOTO(rc, um_read_at(job, pg->coff[i], sig, pg->clen[i] < 2 ? 1 : 2), done);
            if (sig[0] != 0xFF || sig[1] != 0x0A) {
                rc = um_fail(job, UNMETA_E_UNSUPPORTED, "TIFF: %s %s %llu is not a bare JPEG XL codestream "
                             "(a container may hold metadata)", pname(t, pno), pg->tiled ? "tile" : "strip",
                             (unsigned long long)i);
                goto done;
            }
        }
    }
    if (comp == 7 && !find_kept(pg, 254)) {
        /* NewSubfileType 0 (a full-resolution page) is the default, and
         * saying so keeps metadata readers (exiftool) from taking a lone
         * JPEG strip for an embedded preview image. */
        rawent z;
        memset(&z, 0, sizeof(z));
        z.tag = 254;
        z.type = T_LONG;
        z.count = 1;
        z.len = 4;
        uint8_t *v = um_calloc(job, 4, 1);
        if (!v) {
            rc = job->err;
            goto done;
        }
        rc = add_kept(t, pg, &z, v);
        if (rc < 0) {
            free(v);
            goto done;
        }
    }
    qsort(pg->e, pg->n, sizeof(*pg->e), cmp_kept);
    if (pno == 0 && job->ctx->apply_orientation && kept_int(t, pg, 274, 1) > 1 && !t->apply_note) {
        t->apply_note = 1;
        UM_TRY_GOTO(rc, um_report_note(job, "TIFF: orientation is kept as a tag; the pixels are not rotated"), done);
    }
    uint64_t first = UINT64_MAX, total = 0;
    for (uint64_t i = 0; i < pg->nchunks; i++) {
        if (pg->clen[i] && pg->coff[i] < first)
            first = pg->coff[i];
        total += pg->clen[i];
    }
    snprintf(kind, sizeof(kind), "%s %s", pname(t, pno), pg->tiled ? "tiles" : "strips");
    UM_TRY_GOTO(rc, um_report_block(job, kind, first == UINT64_MAX ? 0 : first, total, UNMETA_ACTION_KEEP), done);
done:
    free(es);
    free(drop);
    return rc;
}

static int cmp_range(const void *a, const void *b)
{
    const range *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return (x->chunk > y->chunk) - (x->chunk < y->chunk);
}

/* Image data may overlap neither other image data (identical ranges
 * aside: writers share one blank strip) nor the file's structure and
 * metadata, which would otherwise be copied as "pixels"; and a removed
 * value may share no byte with what is kept (image data, structure, kept
 * values), or "removing" it would still copy its bytes. */
static int check_overlaps(tiff *t)
{
    qsort(t->ranges, t->nranges, sizeof(*t->ranges), cmp_range);
    uint64_t struct_end = 0, chunk_end = 0, chunk_start = 0, kept_end = 0, gone_end = 0;
    for (size_t i = 0; i < t->nranges; i++) {
        const range *r = &t->ranges[i];
        if (r->chunk == R_GONE ? r->start < kept_end : r->start < gone_end)
            return um_fail(t->job, UNMETA_E_MALFORMED, "TIFF: a metadata value at byte %llu shares bytes with image "
                           "data or a value that is kept", (unsigned long long)r->start);
        if (r->chunk == R_GONE) {
            if (r->end > gone_end)
                gone_end = r->end;
            continue;
        }
        if (r->end > kept_end)
            kept_end = r->end;
        if (r->chunk == R_CHUNK) {
            if (r->start < struct_end)
                return um_fail(t->job, UNMETA_E_MALFORMED, "TIFF: image data at byte %llu overlaps the file's "
                               "structure or metadata", (unsigned long long)r->start);
            if (r->start < chunk_end && !(r->start == chunk_start && r->end == chunk_end))
                return um_fail(t->job, UNMETA_E_MALFORMED, "TIFF: image data at byte %llu overlaps other image data",
                               (unsigned long long)r->start);
            if (r->end > chunk_end) {
                chunk_end = r->end;
                chunk_start = r->start;
            }
        } else {
            if (r->start < chunk_end)
                return um_fail(t->job, UNMETA_E_MALFORMED, "TIFF: structure at byte %llu overlaps image data",
                               (unsigned long long)r->start);
            if (r->end > struct_end)
                struct_end = r->end;
        }
    }
    return 0;
}

/* Appends a page for the IFD at off (held by page parent, or -1 in the
 * main chain); an IFD met twice is a loop. */
static int new_page(tiff *t, size_t *cap, uint64_t off, int parent, size_t *idx)
{
    um_job *job = t->job;
    for (size_t i = 0; i < t->npages; i++)
        if (t->pages[i].ifd_off == off)
            return um_fail(job, UNMETA_E_MALFORMED, "TIFF: the IFD chain loops back to byte %llu",
                           (unsigned long long)off);
    if (t->npages >= MAX_PAGES)
        return um_fail(job, UNMETA_E_LIMIT, "TIFF: more than %u pages", MAX_PAGES);
    if (t->npages == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        page *p = um_realloc(job, t->pages, ncap * sizeof(*p));
        if (!p)
            return job->err;
        t->pages = p;
        *cap = ncap;
    }
    page *pg = &t->pages[t->npages];
    memset(pg, 0, sizeof(*pg));
    pg->ifd_off = off;
    pg->parent = parent;
    *idx = t->npages++;
    return 0;
}

/* A segment cut out of a preview must not be copied through other image
 * data: strips may share bytes only when their ranges are identical (a
 * blank strip written once), and the other sharer keeps them whole. */
static int check_cuts(tiff *t)
{
    for (size_t p = 0; p < t->npages; p++) {
        const page *pg = &t->pages[p];
        for (size_t c = 0; c < pg->ncuts; c++) {
            const cut *x = &pg->cuts[c];
            for (size_t q = 0; q < t->npages; q++) {
                const page *o = &t->pages[q];
                for (uint64_t k = 0; k < o->nchunks; k++) {
                    if ((q == p && k == x->chunk) || o->clen[k] == 0)
                        continue;
                    if (o->coff[k] < x->off + x->len && x->off < o->coff[k] + o->clen[k])
                        return um_fail(t->job, UNMETA_E_MALFORMED, "TIFF: the metadata segment at byte %llu of "
                                       "%s is shared with other image data", (unsigned long long)x->off, pg->name);
                }
            }
        }
    }
    return 0;
}

static int walk(tiff *t)
{
    um_job *job = t->job;
    uint8_t h[16];
    size_t hn = t->size < 16 ? (size_t)t->size : 16;
    if (t->size < 8)
        return um_fail(job, UNMETA_E_TRUNCATED, "TIFF: the file is %llu bytes, shorter than a header",
                       (unsigned long long)t->size);
    UM_TRY(um_read_at(job, 0, h, hn));
    if (hn >= 15 && memcmp(h, "FUJIFILMCCD-RAW", 15) == 0)
        return um_fail(job, UNMETA_E_UNSUPPORTED, "TIFF: this is a Fujifilm RAF camera raw file; "
                       "camera raw files are not supported yet");
    if (memcmp(h, "IIRO", 4) == 0 || memcmp(h, "IIRS", 4) == 0 || memcmp(h, "MMOR", 4) == 0)
        return um_fail(job, UNMETA_E_UNSUPPORTED, "TIFF: this is an Olympus ORF camera raw file; "
                       "camera raw files are not supported yet");
    if (memcmp(h, "IIU\0", 4) == 0)
        return um_fail(job, UNMETA_E_UNSUPPORTED, "TIFF: this is a Panasonic RW2 camera raw file; "
                       "camera raw files are not supported yet");
    t->le = h[0] == 'I';
    uint16_t magic = rd16(t, h + 2);
    uint64_t first;
    if (magic == 43) {
        /* BigTIFF: offset size 8, reserved 0, then an 8-byte offset. */
        if (t->size < 16)
            return um_fail(job, UNMETA_E_TRUNCATED, "TIFF: the file ends inside the BigTIFF header");
        if (rd16(t, h + 4) != 8 || rd16(t, h + 6) != 0)
            return um_fail(job, UNMETA_E_MALFORMED, "TIFF: BigTIFF header with offset size %u", rd16(t, h + 4));
        t->big = 1;
        t->osz = 8;
        t->esz = 20;
        t->csz = 8;
        first = rd64(t, h + 8);
        UM_TRY(um_report_block(job, "BigTIFF header", 0, 16, UNMETA_ACTION_KEEP));
        UM_TRY(add_range(t, 0, 16, 0));
    } else {
        t->osz = 4;
        t->esz = 12;
        t->csz = 2;
        first = rd32(t, h + 4);
        /* Canon CR2: "CR" and a version after the header (CR2 spec). */
        if (hn >= 10 && h[8] == 'C' && h[9] == 'R')
            return um_fail(job, UNMETA_E_UNSUPPORTED, "TIFF: this is a Canon CR2 camera raw file; "
                           "camera raw files are not supported yet");
        UM_TRY(um_report_block(job, "TIFF header", 0, 8, UNMETA_ACTION_KEEP));
        UM_TRY(add_range(t, 0, 8, 0));
    }
    if (first == 0)
        return um_fail(job, UNMETA_E_MALFORMED, "TIFF: no image (the first IFD offset is 0)");

    size_t cap = 0;
    uint64_t off = first;
    unsigned main_no = 0;
    while (off) {
        size_t idx;
        UM_TRY(new_page(t, &cap, off, -1, &idx));
        snprintf(t->pages[idx].name, sizeof(t->pages[idx].name), "IFD%u", main_no++);
        uint64_t next = 0;
        UM_TRY(read_page(t, &t->pages[idx], (unsigned)idx, &next));
        UM_TRY(um_job_check_cancel(job));
        /* A DNG's SubIFDs, each a page of its own written after its
         * parent; their own SubIFDs and next-IFD chains are not followed
         * (DNG uses neither), so what they hold is not copied. */
        for (size_t k = 0; k < t->pages[idx].nsub; k++) {
            size_t sidx;
            uint64_t snext = 0;
            UM_TRY(new_page(t, &cap, t->pages[idx].sub[k], (int)idx, &sidx));
            snprintf(t->pages[sidx].name, sizeof(t->pages[sidx].name), "IFD%u SubIFD%zu", main_no - 1, k);
            UM_TRY(read_page(t, &t->pages[sidx], (unsigned)sidx, &snext));
            UM_TRY(um_job_check_cancel(job));
            if (snext)
                UM_TRY(um_report_note(job, "TIFF: %s is followed by a chain of IFDs, which was dropped",
                                      t->pages[sidx].name));
        }
        off = next;
    }
    UM_TRY(check_cuts(t));
    return check_overlaps(t);
}

/* ---- pass 2: writing ----------------------------------------------------- */

/* Bytes of a page's IFD with its out-of-line values. */
static uint64_t ifd_bytes(const tiff *t, const page *pg)
{
    uint64_t s = t->csz + (uint64_t)pg->n * t->esz + t->osz;
    for (size_t i = 0; i < pg->n; i++)
        if (pg->e[i].len > t->osz)
            s = align2(s) + pg->e[i].len;
    return s;
}

/* Output bytes of chunk k: its input bytes less the segments cut out. */
static uint64_t out_len(const page *pg, uint64_t k)
{
    uint64_t n = pg->clen[k];
    for (size_t i = 0; i < pg->ncuts; i++)
        if (pg->cuts[i].chunk == k)
            n -= pg->cuts[i].len;
    return n;
}

/* Replaces the page's offsets value by one sized for the output (LONG, or
 * LONG8 in BigTIFF), filled in by emit once the layout is known. */
static int prepare_offsets(tiff *t, page *pg)
{
    kept *o = find_kept(pg, pg->tiled ? 324 : 273);
    uint16_t type = t->big ? T_LONG8 : T_LONG;
    uint64_t len;
    if (!um_mul_u64(&len, pg->nchunks, type_size(type)) || len > t->job->ctx->limits.max_block)
        return um_fail(t->job, UNMETA_E_LIMIT, "TIFF: offsets table larger than the block limit (UNMETA_OPT_MAX_BLOCK_SIZE)");
    uint8_t *v = um_calloc(t->job, (size_t)len, 1);
    if (!v)
        return t->job->err;
    free(o->val);
    o->val = v;
    o->len = (size_t)len;
    o->type = type;
    o->count = pg->nchunks;
    if (pg->ncuts) {
        /* Preview JPEGs lost segments: new byte counts, in the same type. */
        kept *c = find_kept(pg, pg->tiled ? 325 : 279);
        v = um_calloc(t->job, (size_t)len, 1);
        if (!v)
            return t->job->err;
        for (uint64_t k = 0; k < pg->nchunks; k++) {
            if (t->big)
                wr64(t, v + 8 * k, out_len(pg, k));
            else
                wr32(t, v + 4 * k, (uint32_t)out_len(pg, k));
        }
        free(c->val);
        c->val = v;
        c->len = (size_t)len;
        c->type = type;
        c->count = pg->nchunks;
    }
    return 0;
}

static int layout(tiff *t)
{
    uint64_t pos = t->big ? 16 : 8;
    for (size_t i = 0; i < t->npages; i++) {
        page *pg = &t->pages[i];
        UM_TRY(prepare_offsets(t, pg));
        pos = align2(pos);
        pg->out_ifd = pos;
        if (!um_add_u64(&pos, pos, ifd_bytes(t, pg)))
            return um_fail(t->job, UNMETA_E_LIMIT, "TIFF: output too large");
        pg->out_data = pos;
        for (uint64_t k = 0; k < pg->nchunks; k++)
            if (!um_add_u64(&pos, pos, out_len(pg, k)))
                return um_fail(t->job, UNMETA_E_LIMIT, "TIFF: output too large");
    }
    if (!t->big && pos > UINT32_MAX)
        return um_fail(t->job, UNMETA_E_LIMIT, "TIFF: the output would pass 4 GiB, beyond classic TIFF offsets");
    return 0;
}

static int emit_page(tiff *t, size_t idx)
{
    um_job *job = t->job;
    page *pg = &t->pages[idx];
    kept *o = find_kept(pg, pg->tiled ? 324 : 273);
    uint64_t at = pg->out_data;
    for (uint64_t k = 0; k < pg->nchunks; k++) {
        uint64_t v = pg->clen[k] ? at : 0;
        if (t->big)
            wr64(t, o->val + 8 * k, v);
        else
            wr32(t, o->val + 4 * k, (uint32_t)v);
        at += out_len(pg, k);
    }
    kept *s = pg->nsub ? find_kept(pg, 330) : NULL;
    if (s) {
        /* The children follow their parent in t->pages, in tag order. */
        size_t k = 0;
        for (size_t i = idx + 1; i < t->npages && k < pg->nsub; i++) {
            if (t->pages[i].parent != (int)idx)
                continue;
            if (t->big)
                wr64(t, s->val + 8 * k, t->pages[i].out_ifd);
            else
                wr32(t, s->val + 4 * k, (uint32_t)t->pages[i].out_ifd);
            k++;
        }
        if (k != pg->nsub)
            return um_fail(job, UNMETA_E_STATE, "internal: TIFF SubIFD layout mismatch");
    }
    if (um_plan_size(job) & 1) {
        uint8_t z = 0;
        UM_TRY(um_plan_data(job, &z, 1));
    }
    if (um_plan_size(job) != pg->out_ifd)
        return um_fail(job, UNMETA_E_STATE, "internal: TIFF layout mismatch");
    uint64_t sz = ifd_bytes(t, pg);
    uint8_t *b = um_plan_reserve(job, (size_t)sz);
    if (!b)
        return job->err;
    if (t->big)
        wr64(t, b, pg->n);
    else
        wr16(t, b, (uint16_t)pg->n);
    uint64_t vp = t->csz + (uint64_t)pg->n * t->esz + t->osz;
    for (size_t i = 0; i < pg->n; i++) {
        const kept *e = &pg->e[i];
        uint8_t *p = b + t->csz + i * t->esz;
        wr16(t, p, e->tag);
        wr16(t, p + 2, e->type);
        if (t->big)
            wr64(t, p + 4, e->count);
        else
            wr32(t, p + 4, (uint32_t)e->count);
        uint8_t *f = p + (t->big ? 12 : 8);
        if (e->len <= t->osz) {
            memcpy(f, e->val, e->len);
        } else {
            vp = align2(vp);
            memcpy(b + vp, e->val, e->len);
            wroff(t, f, pg->out_ifd + vp);
            vp += e->len;
        }
    }
    /* The next page of the main chain; SubIFDs end their own chain. */
    uint64_t next = 0;
    for (size_t i = idx + 1; pg->parent < 0 && i < t->npages && !next; i++)
        if (t->pages[i].parent < 0)
            next = t->pages[i].out_ifd;
    wroff(t, b + t->csz + (uint64_t)pg->n * t->esz, next);
    size_t c = 0;
    for (uint64_t k = 0; k < pg->nchunks; k++) {
        uint64_t from = pg->coff[k], end = pg->coff[k] + pg->clen[k];
        for (; c < pg->ncuts && pg->cuts[c].chunk == k; c++) {
            UM_TRY(um_plan_copy(job, from, pg->cuts[c].off - from));
            from = pg->cuts[c].off + pg->cuts[c].len;
        }
        UM_TRY(um_plan_copy(job, from, end - from));
    }
    return 0;
}

static int emit(tiff *t)
{
    uint8_t h[16];
    memset(h, 0, sizeof(h));
    memcpy(h, t->le ? "II" : "MM", 2);
    wr16(t, h + 2, t->big ? 43 : 42);
    if (t->big) {
        wr16(t, h + 4, 8);
        wr64(t, h + 8, t->pages[0].out_ifd);
    } else {
        wr32(t, h + 4, (uint32_t)t->pages[0].out_ifd);
    }
    UM_TRY(um_plan_data(t->job, h, t->big ? 16 : 8));
    for (size_t i = 0; i < t->npages; i++)
        UM_TRY(emit_page(t, i));
    return 0;
}

static int run(um_job *job)
{
    tiff t;
    int rc;
    memset(&t, 0, sizeof(t));
    t.job = job;
    t.size = um_reader_size(job->in);
    UM_TRY_GOTO(rc, walk(&t), done);
    UM_TRY_GOTO(rc, layout(&t), done);
    rc = emit(&t);
done:
    for (size_t i = 0; i < t.npages; i++) {
        page *pg = &t.pages[i];
        for (size_t k = 0; k < pg->n; k++)
            free(pg->e[k].val);
        free(pg->e);
        free(pg->coff);
        free(pg->clen);
        free(pg->sub);
        free(pg->cuts);
    }
    free(t.pages);
    free(t.ranges);
    return rc;
}

const um_format um_format_tiff = {
    .name = "tiff",
    .mime = "image/tiff",
    .ext = "tif",
    .probe = probe,
    .run = run,
};

/* DNG and GoPro GPR share the TIFF code: run() sees DNGVersion. */
const um_format um_format_dng = {
    .name = "dng",
    .mime = "image/x-adobe-dng",
    .ext = "dng",
    .probe = probe_dng,
    .run = run,
};
