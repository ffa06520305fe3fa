/*
 * xmp.c - naming what an XMP packet holds (xmp.h).
 */
#include <stdio.h>
#include <string.h>

#include "../../report.h"
#include "xmp.h"

typedef struct xmp_prop {
    const char *name; /* qualified name as usually written */
    int category;
} xmp_prop;

static const xmp_prop props[] = {
    { "exif:GPSLatitude", UNMETA_CAT_LOCATION },
    { "exif:GPSLongitude", UNMETA_CAT_LOCATION },
    { "exif:GPSAltitude", UNMETA_CAT_LOCATION },
    { "Iptc4xmpCore:Location", UNMETA_CAT_LOCATION },
    { "photoshop:City", UNMETA_CAT_LOCATION },
    { "photoshop:State", UNMETA_CAT_LOCATION },
    { "photoshop:Country", UNMETA_CAT_LOCATION },
    { "tiff:Make", UNMETA_CAT_DEVICE },
    { "tiff:Model", UNMETA_CAT_DEVICE },
    { "aux:SerialNumber", UNMETA_CAT_DEVICE },
    { "aux:Lens", UNMETA_CAT_DEVICE },
    { "exifEX:BodySerialNumber", UNMETA_CAT_DEVICE },
    { "exifEX:LensModel", UNMETA_CAT_DEVICE },
    { "xmp:CreateDate", UNMETA_CAT_TIME },
    { "xmp:ModifyDate", UNMETA_CAT_TIME },
    { "xmp:MetadataDate", UNMETA_CAT_TIME },
    { "exif:DateTimeOriginal", UNMETA_CAT_TIME },
    { "photoshop:DateCreated", UNMETA_CAT_TIME },
    { "dc:creator", UNMETA_CAT_PEOPLE },
    { "dc:rights", UNMETA_CAT_PEOPLE },
    { "dc:title", UNMETA_CAT_PEOPLE },
    { "dc:description", UNMETA_CAT_PEOPLE },
    { "dc:subject", UNMETA_CAT_PEOPLE },
    { "photoshop:AuthorsPosition", UNMETA_CAT_PEOPLE },
    { "photoshop:Credit", UNMETA_CAT_PEOPLE },
    { "Iptc4xmpExt:PersonInImage", UNMETA_CAT_PEOPLE },
    { "mwg-rs:Regions", UNMETA_CAT_PEOPLE },
    { "MP:RegionInfo", UNMETA_CAT_PEOPLE },
    { "xmp:CreatorTool", UNMETA_CAT_SOFTWARE },
    { "xmpMM:History", UNMETA_CAT_SOFTWARE },
    { "xmpMM:DocumentID", UNMETA_CAT_SOFTWARE },
    { "xmpMM:OriginalDocumentID", UNMETA_CAT_SOFTWARE },
    { "xmpMM:InstanceID", UNMETA_CAT_SOFTWARE },
    { "photoshop:DocumentAncestors", UNMETA_CAT_SOFTWARE },
    { "GCamera:MotionPhoto", UNMETA_CAT_EMBEDDED },
    { "GCamera:MicroVideo", UNMETA_CAT_EMBEDDED },
    { "xmpNote:HasExtendedXMP", UNMETA_CAT_EMBEDDED },
};

static const uint8_t *find(const uint8_t *p, size_t n, const char *s)
{
    size_t k = strlen(s);
    if (k == 0 || n < k)
        return NULL;
    for (const uint8_t *q = p; (q = memchr(q, s[0], (size_t)(p + n - q))) != NULL; q++) {
        if ((size_t)(p + n - q) < k)
            return NULL;
        if (memcmp(q, s, k) == 0)
            return q;
    }
    return NULL;
}

/* The value after a property name: `="v"` or `>v<`, else "present". */
static void value_after(const uint8_t *q, const uint8_t *end, char *out, size_t outlen)
{
    size_t o = 0;
    if (q < end && *q == '=' && q + 1 < end && (q[1] == '"' || q[1] == '\'')) {
        uint8_t quote = q[1];
        for (q += 2; q < end && *q != quote && o + 1 < outlen; q++)
            out[o++] = (char)*q;
    } else if (q < end && *q == '>') {
        /* Element form: the first text inside, skipping container
         * elements such as <rdf:Seq><rdf:li>, up to the closing tag. */
        const uint8_t *stop = end - q > 1024 ? q + 1024 : end;
        for (q++; q < stop;) {
            if (*q == ' ' || *q == '\n' || *q == '\r' || *q == '\t') {
                q++;
            } else if (*q == '<') {
                if (q + 1 < stop && q[1] == '/')
                    break;
                while (q < stop && *q != '>')
                    q++;
                q++;
            } else {
                for (; q < stop && *q != '<' && o + 1 < outlen; q++)
                    out[o++] = (char)*q;
                break;
            }
        }
    }
    out[o] = '\0';
    if (o == 0)
        snprintf(out, outlen, "present");
}

int um_xmp_scan(um_job *job, int block, const uint8_t *p, size_t n)
{
    int named = 0;
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
        const uint8_t *q = find(p, n, props[i].name);
        if (!q)
            continue;
        char val[128];
        value_after(q + strlen(props[i].name), p + n, val, sizeof(val));
        const char *colon = strchr(props[i].name, ':');
        UM_TRY(um_report_finding(job, block, props[i].category, colon ? colon + 1 : props[i].name,
                                 "%s", val));
        named++;
    }
    return um_report_finding(job, block, UNMETA_CAT_OTHER, "XMP packet", "%zu bytes%s", n,
                             named ? "" : " (no well-known properties)");
}
