/*
 * report.c - the report of blocks, findings and notes, and its JSON form
 * (documented in docs/json.md; field names are stable).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "io.h"
#include "report.h"

#define UM_VALUE_MAX 200

typedef struct um_block_rec {
    char *kind;
    uint64_t off, len;
    int action;
} um_block_rec;

typedef struct um_finding_rec {
    int category;
    char *name;
    char *value;
    uint32_t block;
} um_finding_rec;

struct unmeta_report {
    const char *format;
    um_block_rec *blocks;
    uint32_t nblocks, capblocks;
    um_finding_rec *findings;
    uint32_t nfindings, capfindings;
    char **notes;
    uint32_t nnotes, capnotes;
};

int um_report_new(unmeta_report **out)
{
    *out = um_mem_calloc(1, sizeof(**out));
    return *out ? 0 : UNMETA_E_NOMEM;
}

void um_report_set_format(unmeta_report *r, const char *name)
{
    r->format = name;
}

void unmeta_report_free(unmeta_report *r)
{
    if (!r)
        return;
    for (uint32_t i = 0; i < r->nblocks; i++)
        free(r->blocks[i].kind);
    for (uint32_t i = 0; i < r->nfindings; i++) {
        free(r->findings[i].name);
        free(r->findings[i].value);
    }
    for (uint32_t i = 0; i < r->nnotes; i++)
        free(r->notes[i]);
    free(r->blocks);
    free(r->findings);
    free(r->notes);
    free(r);
}

static int grow(um_job *job, void **arr, uint32_t *cap, uint32_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    uint32_t ncap = *cap ? *cap * 2 : 16;
    void *p = um_realloc(job, *arr, (size_t)ncap * elem);
    if (!p)
        return job->err;
    *arr = p;
    *cap = ncap;
    return 0;
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing past U+10FFFF), or 0 when there is none. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t k;
    uint32_t cp, min;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        k = 2, cp = c & 0x1Fu, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        k = 3, cp = c & 0x0Fu, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 4, cp = c & 0x07u, min = 0x10000;
    } else {
        return 0;
    }
    if (n < k)
        return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return k;
}

/* Copies s, making it printable and at most max bytes. Values come from
 * files in any encoding, and reach JSON, Java and Swift strings, which need
 * valid UTF-8: control bytes become '.', bytes that are not part of a
 * well-formed UTF-8 sequence become '?', and a cut never splits a
 * character. */
static char *printable(const char *s, size_t max)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s), o = 0, i = 0;
    char *d = um_mem_malloc((n < max ? n : max) + 4);
    if (!d)
        return NULL;
    while (i < n) {
        unsigned char c = u[i];
        size_t k = (c < 0x20 || c == 0x7f) ? 1 : utf8_len(u + i, n - i);
        if (o + (k ? k : 1) > max)
            break;
        if (c < 0x20 || c == 0x7f)
            d[o++] = '.';
        else if (k == 0)
            d[o++] = '?';
        else {
            memcpy(d + o, u + i, k);
            o += k;
        }
        i += k ? k : 1;
    }
    if (i < n) {
        memcpy(d + o, "...", 4);
    } else {
        d[o] = '\0';
    }
    return d;
}

int um_report_block(um_job *job, const char *kind, uint64_t off, uint64_t len, int action)
{
    unmeta_report *r = job->report;
    UM_TRY(um_job_count_item(job, kind));
    UM_TRY(grow(job, (void **)&r->blocks, &r->capblocks, r->nblocks, sizeof(*r->blocks)));
    um_block_rec *b = &r->blocks[r->nblocks];
    b->kind = printable(kind, 64);
    if (!b->kind)
        return um_fail(job, UNMETA_E_NOMEM, "out of memory");
    /* A structure may claim bytes past the end (a value offset pointing
     * outside the file): the report only places what is in the input. */
    uint64_t size = job->in ? um_reader_size(job->in) : UINT64_MAX;
    b->off = off < size ? off : size;
    b->len = len < size - b->off ? len : size - b->off;
    b->action = action;
    return (int)r->nblocks++;
}

void um_report_block_action(um_job *job, int block, int action)
{
    if (block >= 0 && (uint32_t)block < job->report->nblocks)
        job->report->blocks[block].action = action;
}

int um_report_finding(um_job *job, int block, int category, const char *name, const char *fmt, ...)
{
    unmeta_report *r = job->report;
    char buf[1024];
    va_list ap;
    if (block < 0 || (uint32_t)block >= r->nblocks)
        return um_fail(job, UNMETA_E_INVALID, "internal: finding outside a block");
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    UM_TRY(grow(job, (void **)&r->findings, &r->capfindings, r->nfindings, sizeof(*r->findings)));
    um_finding_rec *f = &r->findings[r->nfindings];
    f->category = category;
    f->block = (uint32_t)block;
    f->name = printable(name, 64);
    f->value = printable(buf, UM_VALUE_MAX);
    if (!f->name || !f->value) {
        free(f->name);
        free(f->value);
        return um_fail(job, UNMETA_E_NOMEM, "out of memory");
    }
    r->nfindings++;
    return 0;
}

int um_report_note(um_job *job, const char *fmt, ...)
{
    unmeta_report *r = job->report;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    UM_TRY(grow(job, (void **)&r->notes, &r->capnotes, r->nnotes, sizeof(*r->notes)));
    r->notes[r->nnotes] = printable(buf, sizeof(buf));
    if (!r->notes[r->nnotes])
        return um_fail(job, UNMETA_E_NOMEM, "out of memory");
    r->nnotes++;
    return 0;
}

/* ---- public accessors -------------------------------------------------- */

const char *unmeta_report_format(const unmeta_report *r)
{
    return r && r->format ? r->format : "";
}

uint32_t unmeta_report_block_count(const unmeta_report *r) { return r ? r->nblocks : 0; }
uint32_t unmeta_report_finding_count(const unmeta_report *r) { return r ? r->nfindings : 0; }
uint32_t unmeta_report_note_count(const unmeta_report *r) { return r ? r->nnotes : 0; }
int32_t unmeta_report_dirty(const unmeta_report *r) { return r && r->nfindings > 0; }

const char *unmeta_report_note(const unmeta_report *r, uint32_t i)
{
    return r && i < r->nnotes ? r->notes[i] : NULL;
}

int32_t unmeta_block_init(unmeta_block *b, uint32_t struct_size)
{
    unmeta_block def = UNMETA_BLOCK_INIT;
    if (!b || struct_size < sizeof(uint32_t))
        return UNMETA_E_INVALID;
    memcpy(b, &def, struct_size < sizeof(def) ? struct_size : sizeof(def));
    b->struct_size = struct_size < sizeof(def) ? struct_size : (uint32_t)sizeof(def);
    return 0;
}

int32_t unmeta_finding_init(unmeta_finding *f, uint32_t struct_size)
{
    unmeta_finding def = UNMETA_FINDING_INIT;
    if (!f || struct_size < sizeof(uint32_t))
        return UNMETA_E_INVALID;
    memcpy(f, &def, struct_size < sizeof(def) ? struct_size : sizeof(def));
    f->struct_size = struct_size < sizeof(def) ? struct_size : (uint32_t)sizeof(def);
    return 0;
}

int32_t unmeta_report_block(unmeta_block *out, const unmeta_report *r, uint32_t i)
{
    if (!out || !r || i >= r->nblocks || out->struct_size < sizeof(uint32_t))
        return UNMETA_E_INVALID;
    unmeta_block b = { sizeof(unmeta_block), r->blocks[i].action, r->blocks[i].kind,
                       r->blocks[i].off, r->blocks[i].len };
    uint32_t n = out->struct_size < sizeof(b) ? out->struct_size : (uint32_t)sizeof(b);
    b.struct_size = n;
    memcpy(out, &b, n); /* only as much as the caller's struct holds */
    return 0;
}

int32_t unmeta_report_finding(unmeta_finding *out, const unmeta_report *r, uint32_t i)
{
    if (!out || !r || i >= r->nfindings || out->struct_size < sizeof(uint32_t))
        return UNMETA_E_INVALID;
    const um_finding_rec *f = &r->findings[i];
    unmeta_finding v = { sizeof(unmeta_finding), f->category, f->name, f->value, f->block };
    uint32_t n = out->struct_size < sizeof(v) ? out->struct_size : (uint32_t)sizeof(v);
    v.struct_size = n;
    memcpy(out, &v, n);
    return 0;
}

const char *unmeta_category_name(int32_t c)
{
    switch (c) {
    case UNMETA_CAT_LOCATION: return "location";
    case UNMETA_CAT_DEVICE: return "device";
    case UNMETA_CAT_TIME: return "time";
    case UNMETA_CAT_PEOPLE: return "people";
    case UNMETA_CAT_SOFTWARE: return "software";
    case UNMETA_CAT_EMBEDDED: return "embedded";
    case UNMETA_CAT_OTHER: return "other";
    default: return "unknown";
    }
}

const char *unmeta_action_name(int32_t a)
{
    switch (a) {
    case UNMETA_ACTION_KEEP: return "keep";
    case UNMETA_ACTION_REMOVE: return "remove";
    case UNMETA_ACTION_REWRITE: return "rewrite";
    default: return "unknown";
    }
}

/* ---- JSON -------------------------------------------------------------- */

typedef struct jbuf {
    char *p;
    size_t len, cap;
    int oom;
} jbuf;

static void jput(jbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *q = um_mem_realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void jraw(jbuf *b, const char *s) { jput(b, s, strlen(s)); }

static void jstr(jbuf *b, const char *s)
{
    jraw(b, "\"");
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        char esc[8];
        if (*q == '"' || *q == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*q;
            jput(b, esc, 2);
        } else if (*q < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", *q);
            jraw(b, esc);
        } else {
            jput(b, (const char *)q, 1);
        }
    }
    jraw(b, "\"");
}

int32_t unmeta_report_json(char **out, const unmeta_report *r)
{
    jbuf b = { 0 };
    char num[64];
    if (!out || !r)
        return UNMETA_E_INVALID;
    *out = NULL;
    jraw(&b, "{\"format\":");
    jstr(&b, unmeta_report_format(r));
    jraw(&b, ",\"dirty\":");
    jraw(&b, r->nfindings ? "true" : "false");
    jraw(&b, ",\"blocks\":[");
    for (uint32_t i = 0; i < r->nblocks; i++) {
        const um_block_rec *k = &r->blocks[i];
        jraw(&b, i ? ",{\"kind\":" : "{\"kind\":");
        jstr(&b, k->kind);
        snprintf(num, sizeof(num), ",\"offset\":%llu,\"size\":%llu,\"action\":",
                 (unsigned long long)k->off, (unsigned long long)k->len);
        jraw(&b, num);
        jstr(&b, unmeta_action_name(k->action));
        jraw(&b, "}");
    }
    jraw(&b, "],\"findings\":[");
    for (uint32_t i = 0; i < r->nfindings; i++) {
        const um_finding_rec *f = &r->findings[i];
        const um_block_rec *k = &r->blocks[f->block];
        jraw(&b, i ? ",{\"category\":" : "{\"category\":");
        jstr(&b, unmeta_category_name(f->category));
        jraw(&b, ",\"name\":");
        jstr(&b, f->name);
        jraw(&b, ",\"value\":");
        jstr(&b, f->value);
        snprintf(num, sizeof(num), ",\"block\":%u,\"offset\":%llu,\"size\":%llu}", f->block,
                 (unsigned long long)k->off, (unsigned long long)k->len);
        jraw(&b, num);
    }
    jraw(&b, "],\"notes\":[");
    for (uint32_t i = 0; i < r->nnotes; i++) {
        if (i)
            jraw(&b, ",");
        jstr(&b, r->notes[i]);
    }
    jraw(&b, "]}");
    if (b.oom) {
        free(b.p);
        return UNMETA_E_NOMEM;
    }
    *out = b.p;
    return 0;
}
