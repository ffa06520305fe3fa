/*
 * xmp.c - naming what an XMP packet holds (xmp.h).
 */
#include <stdio.h>
#include <stdlib.h>
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

/* ---- gain maps: the rendering parameters, rebuilt ---------------------- */

typedef struct sbuf {
    um_job *job;
    char *p;
    size_t n, cap;
} sbuf;

static int put(sbuf *b, const char *s)
{
    size_t k = strlen(s);
    UM_TRY(um_grow(b->job, (void **)&b->p, &b->cap, b->n + k, 1)); /* room for the string and its NUL */
    memcpy(b->p + b->n, s, k + 1);
    b->n += k;
    return 0;
}

#define XMP_HEAD "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n" \
                 " <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n" \
                 "  <rdf:Description rdf:about=\"\""
#define XMP_TAIL "  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n"

#define MAX_VALS 3 /* one value, or one a colour channel */

typedef struct xvals {
    int n;          /* values found: 0 absent */
    int seq;        /* written as an rdf:Seq */
    char v[MAX_VALS][40];
} xvals;

static int is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Copies the text q[0..) up to stop byte into out; 0 when too long. */
static int take(const uint8_t *q, const uint8_t *end, uint8_t stop, char *out, size_t outlen)
{
    size_t o = 0;
    while (q < end && is_space(*q))
        q++;
    for (; q < end && *q != stop; q++) {
        if (o + 1 >= outlen)
            return 0;
        out[o++] = (char)*q;
    }
    while (o && is_space((uint8_t)out[o - 1]))
        o--;
    out[o] = '\0';
    return q < end;
}

/* Finds property qname (prefix:Name) as an attribute `qname="v"` or an
 * element `<qname>v</qname>` or `<qname><rdf:Seq><rdf:li>v</rdf:li>...`;
 * the first occurrence wins. Returns 0 (found or not) or -1 when the value
 * cannot be read (too long, too many items, unterminated). */
static int prop(const uint8_t *p, size_t n, const char *qname, xvals *out)
{
    size_t k = strlen(qname);
    const uint8_t *end = p + n;
    memset(out, 0, sizeof(*out));
    for (const uint8_t *q = p; (q = find(q, (size_t)(end - q), qname)) != NULL; q += k) {
        const uint8_t *a = q + k;
        int elem = q > p && q[-1] == '<';
        if (!elem && !(q > p && is_space(q[-1])))
            continue; /* a longer name, or a closing tag */
        while (a < end && is_space(*a))
            a++;
        if (!elem && a < end && *a == '=') {
            a++;
            while (a < end && is_space(*a))
                a++;
            if (a >= end || (*a != '"' && *a != '\''))
                return -1;
            out->n = 1;
            return take(a + 1, end, *a, out->v[0], sizeof(out->v[0])) ? 0 : -1;
        }
        if (!elem || a >= end || *a != '>')
            continue;
        a++;
        while (a < end && is_space(*a))
            a++;
        static const char seq[] = "<rdf:Seq>";
        if ((size_t)(end - a) >= sizeof(seq) - 1 && memcmp(a, seq, sizeof(seq) - 1) == 0) {
            out->seq = 1;
            a += sizeof(seq) - 1;
            for (;;) {
                while (a < end && is_space(*a))
                    a++;
                static const char li[] = "<rdf:li>", close[] = "</rdf:Seq>";
                if ((size_t)(end - a) >= sizeof(close) - 1 && memcmp(a, close, sizeof(close) - 1) == 0)
                    return out->n ? 0 : -1;
                if ((size_t)(end - a) < sizeof(li) - 1 || memcmp(a, li, sizeof(li) - 1) != 0 || out->n == MAX_VALS)
                    return -1;
                a += sizeof(li) - 1;
                if (!take(a, end, '<', out->v[out->n], sizeof(out->v[0])))
                    return -1;
                out->n++;
                a = memchr(a, '<', (size_t)(end - a));
                static const char eli[] = "</rdf:li>";
                if (!a || (size_t)(end - a) < sizeof(eli) - 1 || memcmp(a, eli, sizeof(eli) - 1) != 0)
                    return -1;
                a += sizeof(eli) - 1;
            }
        }
        out->n = 1;
        return take(a, end, '<', out->v[0], sizeof(out->v[0])) ? 0 : -1;
    }
    return 0;
}

/* A rendering parameter is a number or a boolean: nothing else passes, so
 * the rebuilt packet can carry no text of the input. */
static int valid_value(const char *v)
{
    if (!*v)
        return 0;
    if (strcmp(v, "True") == 0 || strcmp(v, "False") == 0 || strcmp(v, "true") == 0 || strcmp(v, "false") == 0)
        return 1;
    for (const char *c = v; *c; c++)
        if (!((*c >= '0' && *c <= '9') || *c == '.' || *c == '-' || *c == '+' || *c == 'e' || *c == 'E'))
            return 0;
    return 1;
}

static int read_prop(um_job *job, const uint8_t *p, size_t n, const char *qname, xvals *v)
{
    if (prop(p, n, qname, v) < 0)
        return um_fail(job, UNMETA_E_MALFORMED, "XMP: gain-map property %s cannot be read", qname);
    for (int i = 0; i < v->n; i++)
        if (!valid_value(v->v[i]))
            return um_fail(job, UNMETA_E_MALFORMED, "XMP: gain-map property %s is not a number", qname);
    return 0;
}

#define HDRGM_NS "http://ns.adobe.com/hdr-gain-map/1.0/"
#define APDI_NS "http://ns.apple.com/pixeldatainfo/1.0/"
#define APPLE_GM_NS "http://ns.apple.com/HDRGainMap/1.0/"
#define APPLE_GM_URN "urn:com:apple:photo:2020:aux:hdrgainmap"

/* The Adobe gain-map specification 1.0, "XMP metadata": the parameters. */
static const char *const hdrgm_props[] = {
    "Version", "BaseRenditionIsHDR", "GainMapMin", "GainMapMax", "Gamma",
    "OffsetSDR", "OffsetHDR", "HDRCapacityMin", "HDRCapacityMax",
};

/* The namespace must use its usual prefix: the search is by prefix. */
static int check_prefix(um_job *job, const uint8_t *p, size_t n, const char *ns, const char *decl)
{
    if (find(p, n, ns) && !find(p, n, decl))
        return um_fail(job, UNMETA_E_UNSUPPORTED, "XMP: the namespace %s (gain map or motion photo) has an unusual "
                       "prefix", ns);
    return 0;
}

int um_xmp_gainmap(um_job *job, const uint8_t *p, size_t n, char **out, size_t *out_len)
{
    sbuf b = { job, NULL, 0, 0 };
    xvals v[sizeof(hdrgm_props) / sizeof(hdrgm_props[0])], aver, aroom;
    char name[48], line[160];
    int rc = 0, any = 0, apple = 0;
    *out = NULL;
    *out_len = 0;
    UM_TRY(check_prefix(job, p, n, HDRGM_NS, "xmlns:hdrgm="));
    UM_TRY(check_prefix(job, p, n, APPLE_GM_NS, "xmlns:HDRGainMap="));
    for (size_t i = 0; i < sizeof(hdrgm_props) / sizeof(hdrgm_props[0]); i++) {
        snprintf(name, sizeof(name), "hdrgm:%s", hdrgm_props[i]);
        UM_TRY(read_prop(job, p, n, name, &v[i]));
        any |= v[i].n > 0;
    }
    if (!find(p, n, HDRGM_NS))
        any = 0;
    memset(&aver, 0, sizeof(aver));
    memset(&aroom, 0, sizeof(aroom));
    if (find(p, n, APPLE_GM_NS)) {
        UM_TRY(read_prop(job, p, n, "HDRGainMap:HDRGainMapVersion", &aver));
        UM_TRY(read_prop(job, p, n, "HDRGainMap:HDRGainMapHeadroom", &aroom));
        apple = aver.n == 1;
    }
    if (!any && !apple)
        return 0;
    UM_TRY_GOTO(rc, put(&b, XMP_HEAD), fail);
    if (any)
        UM_TRY_GOTO(rc, put(&b, "\n    xmlns:hdrgm=\"" HDRGM_NS "\""), fail);
    if (apple)
        UM_TRY_GOTO(rc, put(&b, "\n    xmlns:apdi=\"" APDI_NS "\"\n    xmlns:HDRGainMap=\"" APPLE_GM_NS "\""
                               "\n    apdi:AuxiliaryImageType=\"" APPLE_GM_URN "\""), fail);
    for (size_t i = 0; any && i < sizeof(hdrgm_props) / sizeof(hdrgm_props[0]); i++) {
        if (v[i].n != 1 || v[i].seq)
            continue;
        snprintf(line, sizeof(line), "\n    hdrgm:%s=\"%s\"", hdrgm_props[i], v[i].v[0]);
        UM_TRY_GOTO(rc, put(&b, line), fail);
    }
    UM_TRY_GOTO(rc, put(&b, ">\n"), fail);
    for (size_t i = 0; any && i < sizeof(hdrgm_props) / sizeof(hdrgm_props[0]); i++) {
        if (!v[i].seq)
            continue;
        snprintf(line, sizeof(line), "   <hdrgm:%s>\n    <rdf:Seq>\n", hdrgm_props[i]);
        UM_TRY_GOTO(rc, put(&b, line), fail);
        for (int c = 0; c < v[i].n; c++) {
            snprintf(line, sizeof(line), "     <rdf:li>%s</rdf:li>\n", v[i].v[c]);
            UM_TRY_GOTO(rc, put(&b, line), fail);
        }
        snprintf(line, sizeof(line), "    </rdf:Seq>\n   </hdrgm:%s>\n", hdrgm_props[i]);
        UM_TRY_GOTO(rc, put(&b, line), fail);
    }
    if (apple) {
        /* Element form: libultrahdr reads Apple's properties only so. */
        snprintf(line, sizeof(line), "   <HDRGainMap:HDRGainMapVersion>%s</HDRGainMap:HDRGainMapVersion>\n",
                 aver.v[0]);
        UM_TRY_GOTO(rc, put(&b, line), fail);
        if (aroom.n == 1) {
            snprintf(line, sizeof(line), "   <HDRGainMap:HDRGainMapHeadroom>%s</HDRGainMap:HDRGainMapHeadroom>\n",
                     aroom.v[0]);
            UM_TRY_GOTO(rc, put(&b, line), fail);
        }
    }
    UM_TRY_GOTO(rc, put(&b, XMP_TAIL), fail);
    *out = b.p;
    *out_len = b.n;
    return 0;
fail:
    free(b.p);
    return rc;
}

int um_xmp_gainmap_named(const uint8_t *p, size_t n)
{
    xvals v;
    char name[48];
    if (find(p, n, HDRGM_NS)) {
        if (!find(p, n, "xmlns:hdrgm="))
            return 1; /* refused when read, as it must be when kept */
        for (size_t i = 0; i < sizeof(hdrgm_props) / sizeof(hdrgm_props[0]); i++) {
            snprintf(name, sizeof(name), "hdrgm:%s", hdrgm_props[i]);
            if (prop(p, n, name, &v) < 0 || v.n > 0)
                return 1;
        }
    }
    if (find(p, n, APPLE_GM_NS)) {
        if (!find(p, n, "xmlns:HDRGainMap="))
            return 1;
        if (prop(p, n, "HDRGainMap:HDRGainMapVersion", &v) < 0 || v.n == 1)
            return 1;
    }
    return 0;
}

int um_xmp_gainmap_version(um_job *job, const uint8_t *p, size_t n, char ver[24])
{
    xvals v;
    ver[0] = '\0';
    if (!find(p, n, HDRGM_NS))
        return 0;
    UM_TRY(check_prefix(job, p, n, HDRGM_NS, "xmlns:hdrgm="));
    UM_TRY(read_prop(job, p, n, "hdrgm:Version", &v));
    if (v.n == 1 && !v.seq && strlen(v.v[0]) < 24)
        snprintf(ver, 24, "%s", v.v[0]);
    return 0;
}

int um_xmp_container(const uint8_t *p, size_t n, char (*sem)[16], uint64_t *len, int max)
{
    const uint8_t *q = find(p, n, "Container:Directory");
    const uint8_t *end = p + n;
    int k = 0;
    if (!q)
        return 0;
    static const char item[] = "Item:Semantic";
    q = find(q, (size_t)(end - q), item);
    while (k < max && q) {
        xvals v;
        /* The item runs to the next item's semantic. prop() needs the byte
         * before a name, which "Container:Directory" guarantees. */
        const uint8_t *next = find(q + 1, (size_t)(end - q - 1), item);
        const uint8_t *stop = next ? next : end;
        if (prop(q - 1, (size_t)(stop - q) + 1, item, &v) < 0 || v.n != 1)
            snprintf(sem[k], 16, "?");
        else
            snprintf(sem[k], 16, "%.15s", v.v[0]);
        len[k] = 0;
        if (prop(q - 1, (size_t)(stop - q) + 1, "Item:Length", &v) == 0 && v.n == 1) {
            char *e = NULL;
            unsigned long long x = strtoull(v.v[0], &e, 10);
            if (e && !*e && v.v[0][0] >= '0' && v.v[0][0] <= '9')
                len[k] = x;
        }
        k++;
        q = next;
    }
    return k;
}

#define GCAMERA_NS "http://ns.google.com/photos/1.0/camera/"

/* An integer, optionally negative (a presentation time of -1 means none). */
static int motion_int(um_job *job, const uint8_t *p, size_t n, const char *qname, char *out, size_t outlen)
{
    xvals v;
    out[0] = '\0';
    if (prop(p, n, qname, &v) < 0 || v.n > 1 || v.seq)
        return um_fail(job, UNMETA_E_MALFORMED, "XMP: motion-photo property %s cannot be read", qname);
    if (!v.n)
        return 0;
    const char *c = v.v[0];
    if (*c == '-')
        c++;
    if (!*c || strlen(v.v[0]) >= outlen)
        return um_fail(job, UNMETA_E_MALFORMED, "XMP: motion-photo property %s is not an integer", qname);
    for (; *c; c++)
        if (*c < '0' || *c > '9')
            return um_fail(job, UNMETA_E_MALFORMED, "XMP: motion-photo property %s is not an integer", qname);
    snprintf(out, outlen, "%s", v.v[0]);
    return 0;
}

int um_xmp_motion_read(um_job *job, const uint8_t *p, size_t n, um_xmp_motion *m)
{
    char flag[24], off[24];
    memset(m, 0, sizeof(*m));
    UM_TRY(motion_int(job, p, n, "GCamera:MotionPhoto", flag, sizeof(flag)));
    m->motion = strcmp(flag, "1") == 0;
    UM_TRY(motion_int(job, p, n, "GCamera:MicroVideo", flag, sizeof(flag)));
    m->micro = !m->motion && strcmp(flag, "1") == 0;
    if (!m->motion && !m->micro)
        return 0;
    UM_TRY(check_prefix(job, p, n, GCAMERA_NS, "xmlns:GCamera="));
    if (m->motion) {
        UM_TRY(motion_int(job, p, n, "GCamera:MotionPhotoVersion", m->version, sizeof(m->version)));
        UM_TRY(motion_int(job, p, n, "GCamera:MotionPhotoPresentationTimestampUs", m->pts, sizeof(m->pts)));
        return 0;
    }
    UM_TRY(motion_int(job, p, n, "GCamera:MicroVideoVersion", m->version, sizeof(m->version)));
    UM_TRY(motion_int(job, p, n, "GCamera:MicroVideoPresentationTimestampUs", m->pts, sizeof(m->pts)));
    UM_TRY(motion_int(job, p, n, "GCamera:MicroVideoOffset", off, sizeof(off)));
    if (!off[0] || off[0] == '-')
        return um_fail(job, UNMETA_E_MALFORMED, "XMP: a MicroVideo without a MicroVideoOffset");
    m->micro_offset = strtoull(off, NULL, 10);
    return 0;
}

int um_xmp_gainmap_primary(um_job *job, const char *ver, int container, const uint64_t *lengths, size_t nlen,
                           const um_xmp_motion *mp, uint64_t video_len, char **out, size_t *out_len)
{
    sbuf b = { job, NULL, 0, 0 };
    char line[200];
    int rc = 0;
    *out = NULL;
    *out_len = 0;
    if (mp && mp->motion)
        container = 1;
    UM_TRY_GOTO(rc, put(&b, XMP_HEAD), fail);
    if (mp)
        UM_TRY_GOTO(rc, put(&b, "\n    xmlns:GCamera=\"" GCAMERA_NS "\""), fail);
    if (ver[0])
        UM_TRY_GOTO(rc, put(&b, "\n    xmlns:hdrgm=\"" HDRGM_NS "\""), fail);
    if (container)
        UM_TRY_GOTO(rc, put(&b, "\n    xmlns:Container=\"http://ns.google.com/photos/1.0/container/\""
                               "\n    xmlns:Item=\"http://ns.google.com/photos/1.0/container/item/\""), fail);
    if (mp) {
        const char *kind = mp->motion ? "MotionPhoto" : "MicroVideo";
        snprintf(line, sizeof(line), "\n    GCamera:%s=\"1\"", kind);
        UM_TRY_GOTO(rc, put(&b, line), fail);
        if (mp->version[0]) {
            snprintf(line, sizeof(line), "\n    GCamera:%sVersion=\"%s\"", kind, mp->version);
            UM_TRY_GOTO(rc, put(&b, line), fail);
        }
        if (mp->micro) {
            snprintf(line, sizeof(line), "\n    GCamera:MicroVideoOffset=\"%llu\"", (unsigned long long)video_len);
            UM_TRY_GOTO(rc, put(&b, line), fail);
        }
        if (mp->pts[0]) {
            snprintf(line, sizeof(line), "\n    GCamera:%sPresentationTimestampUs=\"%s\"", kind, mp->pts);
            UM_TRY_GOTO(rc, put(&b, line), fail);
        }
    }
    if (ver[0]) {
        snprintf(line, sizeof(line), "\n    hdrgm:Version=\"%s\"", ver);
        UM_TRY_GOTO(rc, put(&b, line), fail);
    }
    UM_TRY_GOTO(rc, put(&b, ">\n"), fail);
    if (container) {
        UM_TRY_GOTO(rc, put(&b, "   <Container:Directory>\n    <rdf:Seq>\n"
                               "     <rdf:li rdf:parseType=\"Resource\">\n"
                               "      <Container:Item Item:Semantic=\"Primary\" Item:Mime=\"image/jpeg\"/>\n"
                               "     </rdf:li>\n"), fail);
        for (size_t i = 0; i < nlen; i++) {
            snprintf(line, sizeof(line), "     <rdf:li rdf:parseType=\"Resource\">\n"
                     "      <Container:Item Item:Semantic=\"GainMap\" Item:Mime=\"image/jpeg\" Item:Length=\"%llu\"/>\n"
                     "     </rdf:li>\n", (unsigned long long)lengths[i]);
            UM_TRY_GOTO(rc, put(&b, line), fail);
        }
        if (mp && mp->motion) {
            snprintf(line, sizeof(line), "     <rdf:li rdf:parseType=\"Resource\">\n"
                     "      <Container:Item Item:Semantic=\"MotionPhoto\" Item:Mime=\"video/mp4\" Item:Length=\"%llu\" "
                     "Item:Padding=\"0\"/>\n     </rdf:li>\n", (unsigned long long)video_len);
            UM_TRY_GOTO(rc, put(&b, line), fail);
        }
        UM_TRY_GOTO(rc, put(&b, "    </rdf:Seq>\n   </Container:Directory>\n"), fail);
    }
    UM_TRY_GOTO(rc, put(&b, XMP_TAIL), fail);
    *out = b.p;
    *out_len = b.n;
    return 0;
fail:
    free(b.p);
    return rc;
}
