/*
 * av.c - remuxing through libavformat (see av.h).
 *
 * Input is read through the job's reader and output written to the sink by
 * custom AVIOContexts, so every unmeta I/O kind works and memory stays
 * bounded by libavformat's buffers, not the file size.
 *
 * Kept: video, audio and subtitle streams, packet for packet (same bytes,
 * timestamps, durations), with their codec parameters and extradata, side
 * data, dispositions and language codes. Dropped: global and per-stream tags
 * (title, artist, comment, encoder, creation_time, location, DATE_*...),
 * chapters (their titles are user text), attachments (cover art and fonts),
 * attached pictures, data and timed-metadata streams, ID3v1/ID3v2, APE tags,
 * FLAC PICTURE blocks, RIFF INFO. The muxer runs with AVFMT_FLAG_BITEXACT:
 * no "Lavf<version>" strings, no encoder tag, no wall-clock dates; Matroska
 * writes the constant "Lavf" as its muxing and writing application, and Ogg
 * and FLAC a constant vendor string in their (otherwise empty) comment
 * headers, which those formats require.
 */
#include <dlfcn.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avstring.h>
#include <libavutil/log.h>

#include "../io.h"
#include "../plan.h"
#include "../report.h"
#include "av.h"

/* FFmpeg is loaded on first use, not linked: its libraries (and the ~130
 * codec libraries they pull in) cost tens of milliseconds and megabytes at
 * every start of a process that only ever sees photos. The table is filled
 * once (pthread_once) and never changes afterwards: no mutable global state
 * is shared between contexts. */
#define AV_FUNCS(X) \
    X(avutil, av_dict_set) \
    X(avutil, av_log_set_level) \
    X(avutil, av_dict_get) \
    X(avutil, av_dict_free) \
    X(avutil, av_strcasecmp) \
    X(avutil, av_malloc) \
    X(avutil, av_free) \
    X(avutil, av_freep) \
    X(avutil, av_stristr) \
    X(avutil, av_strerror) \
    X(avutil, av_get_media_type_string) \
    X(avcodec, avcodec_parameters_copy) \
    X(avcodec, avcodec_get_name) \
    X(avcodec, av_packet_unref) \
    X(avcodec, av_packet_rescale_ts) \
    X(avcodec, av_packet_free) \
    X(avcodec, av_packet_alloc) \
    X(avformat, avio_flush) \
    X(avformat, avio_alloc_context) \
    X(avformat, av_write_trailer) \
    X(avformat, avio_context_free) \
    X(avformat, avformat_write_header) \
    X(avformat, avformat_open_input) \
    X(avformat, av_find_input_format) \
    X(avformat, avformat_new_stream) \
    X(avformat, avformat_free_context) \
    X(avformat, avformat_find_stream_info) \
    X(avformat, avformat_close_input) \
    X(avformat, avformat_alloc_output_context2) \
    X(avformat, avformat_alloc_context) \
    X(avformat, av_stream_new_side_data) \
    X(avformat, av_read_frame) \
    X(avformat, av_interleaved_write_frame)

typedef struct av_api {
/* name is a declarator here, which parentheses would break */
#define AV_FIELD(lib, name) __typeof__(&name) name; /* NOLINT(bugprone-macro-parentheses) */
    AV_FUNCS(AV_FIELD)
#undef AV_FIELD
} av_api;

static av_api AV;
static int av_loaded;           /* 1 when every symbol resolved */
static char av_load_error[256];
static pthread_once_t av_once = PTHREAD_ONCE_INIT;

static void av_load(void)
{
    static const char *const sonames[] = { UM_AVUTIL_SONAME, UM_AVCODEC_SONAME, UM_AVFORMAT_SONAME };
    void *h[3];
    av_api api;
    /* Was FFmpeg already in the process (the host app uses it)? Then its
     * logging is the app's to set; otherwise only unmeta uses it, and its
     * messages are not unmeta's: unmeta reports errors itself. */
    void *pre = dlopen(UM_AVUTIL_SONAME, RTLD_NOW | RTLD_NOLOAD);
    int ours = pre == NULL;
    if (pre)
        dlclose(pre);
    for (int i = 0; i < 3; i++) {
        h[i] = dlopen(sonames[i], RTLD_NOW | RTLD_LOCAL);
        if (!h[i]) {
            snprintf(av_load_error, sizeof(av_load_error), "%s", dlerror());
            return;
        }
    }
#define AV_RESOLVE(lib, name)                                                              \
    {                                                                                      \
        void *sym = dlsym(h[strcmp(#lib, "avutil") == 0 ? 0 : strcmp(#lib, "avcodec") == 0 ? 1 : 2], #name); \
        if (!sym) {                                                                        \
            snprintf(av_load_error, sizeof(av_load_error), "%s has no %s", #lib, #name);    \
            return;                                                                        \
        }                                                                                  \
        memcpy(&api.name, &sym, sizeof(sym));                                              \
    }
    AV_FUNCS(AV_RESOLVE)
#undef AV_RESOLVE
    if (ours)
        api.av_log_set_level(AV_LOG_QUIET);
    AV = api;
    av_loaded = 1;
}

static int av_ready(um_job *job)
{
    pthread_once(&av_once, av_load);
    if (!av_loaded)
        return um_fail(job, UNMETA_E_FEATURE, "FFmpeg's libraries (%s) cannot be loaded: %s", UM_AVFORMAT_SONAME,
                       av_load_error);
    return 0;
}

int um_av_preload(void)
{
    pthread_once(&av_once, av_load);
    return av_loaded ? 0 : UNMETA_E_FEATURE;
}

#define IOBUF (64 << 10)
#define MAX_REPORTED_CHAPTERS 64

typedef struct in_io {
    um_job *job;
    uint64_t pos;
} in_io;

static int in_read(void *opaque, uint8_t *buf, int n)
{
    in_io *io = opaque;
    uint64_t size = um_reader_size(io->job->in);
    if (io->pos >= size)
        return AVERROR_EOF;
    if ((uint64_t)n > size - io->pos)
        n = (int)(size - io->pos);
    if (um_read_at(io->job, io->pos, buf, (size_t)n) < 0)
        return AVERROR(EIO);
    io->pos += (uint64_t)n;
    return n;
}

static int64_t in_seek(void *opaque, int64_t off, int whence)
{
    in_io *io = opaque;
    int64_t size = (int64_t)um_reader_size(io->job->in);
    if (whence & AVSEEK_SIZE)
        return size;
    whence &= ~AVSEEK_FORCE;
    int64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? (int64_t)io->pos : size;
    if ((whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END) || off < -base || base + off > size)
        return AVERROR(EINVAL);
    io->pos = (uint64_t)(base + off);
    return (int64_t)io->pos;
}

/* The output side. Matroska's header region (everything written before
 * the first packet) is held in memory, so that its TrackLanguage elements
 * can be blanked into EBML Void elements of the same size before it reaches
 * the sink: libavformat always writes a language ("und" at least) and a
 * language is a fact about the person who made the file. Seeks back into
 * the held region (the muxer updating sizes, durations and cues positions
 * at the end) land in the held buffer; it is patched and written last. */
typedef struct out_io {
    um_job *job;
    unmeta_sink *sink;
    int hold;           /* Matroska: hold the header region */
    uint8_t *held;      /* [0, held_len) of the output */
    size_t held_len, held_cap;
    int held_open;      /* still growing (the header is being written) */
    int64_t pos;        /* the muxer's write position */
    int64_t sink_pos;   /* where the sink's position is */
    int discard;        /* after a failure: swallow what the muxer still writes */
    int64_t header_end; /* where the header region ended (-1 while it is written) */
    uint64_t body;      /* bytes written at or after header_end */
} out_io;

static int sink_to(out_io *o, int64_t pos)
{
    int64_t got;
    if (o->sink_pos == pos)
        return 0;
    int rc = um_sink_seek(o->sink, pos, 0, &got);
    if (rc < 0)
        return rc;
    o->sink_pos = got;
    return 0;
}

/* A sink failure goes on the job with the sink's own code and message
 * (out of memory stays out of memory), and back to FFmpeg as its error. */
static int sink_failed(out_io *o, int rc)
{
    um_fail(o->job, rc, "%s", um_sink_error(o->sink));
    return rc == UNMETA_E_NOMEM ? AVERROR(ENOMEM) : AVERROR(EIO);
}

static int out_write(void *opaque, uint8_t *buf, int n)
{
    out_io *o = opaque;
    size_t len = (size_t)n;
    if (o->discard)
        return n;
    if (o->header_end >= 0) {
        int64_t end = o->pos + n;
        if (end > o->header_end)
            o->body += (uint64_t)(end - (o->pos > o->header_end ? o->pos : o->header_end));
    }
    while (len && o->hold && (o->held_open || o->pos < (int64_t)o->held_len)) {
        /* Into the held header region. */
        size_t at = (size_t)o->pos;
        size_t room = o->held_open ? len : o->held_len - at;
        if (room > len)
            room = len;
        if (at + room > o->held_cap) {
            size_t cap = o->held_cap ? o->held_cap : (256u << 10);
            while (cap < at + room)
                cap *= 2;
            if (cap > (64u << 20))
                return AVERROR(ENOMEM); /* a header this large is not a header */
            uint8_t *p = um_mem_realloc(o->held, cap);
            if (!p)
                return AVERROR(ENOMEM);
            o->held = p;
            o->held_cap = cap;
        }
        if (at > o->held_len)
            memset(o->held + o->held_len, 0, at - o->held_len);
        memcpy(o->held + at, buf, room);
        if (at + room > o->held_len)
            o->held_len = at + room;
        o->pos += (int64_t)room;
        buf += room;
        len -= room;
    }
    if (len) {
        if (um_output_grows(o->job, (uint64_t)o->pos + len) < 0)
            return AVERROR(EFBIG);
        int rc = sink_to(o, o->pos);
        if (rc >= 0)
            rc = um_sink_write(o->sink, buf, len);
        if (rc < 0)
            return sink_failed(o, rc);
        o->pos += (int64_t)len;
        o->sink_pos = o->pos;
    }
    return n;
}

static int64_t out_seek(void *opaque, int64_t off, int whence)
{
    out_io *o = opaque;
    if (whence & AVSEEK_SIZE)
        return AVERROR(ENOSYS);
    whence &= ~AVSEEK_FORCE;
    if (whence == SEEK_CUR)
        off += o->pos;
    else if (whence != SEEK_SET)
        return AVERROR(ENOSYS);
    if (off < 0)
        return AVERROR(EINVAL);
    o->pos = off;
    return off;
}

/* EBML variable-size integers (RFC 8794 section 4). Returns the length of
 * the field at p (1-8), 0 when invalid; *v gets the value, with the marker
 * bit kept for IDs and removed for sizes. */
static size_t ebml_vint(const uint8_t *p, size_t left, int is_id, uint64_t *v)
{
    if (!left || !p[0])
        return 0;
    size_t n = 1;
    while (!(p[0] & (0x80 >> (n - 1))))
        n++;
    if (n > left || (is_id && n > 4))
        return 0;
    uint64_t x = is_id ? p[0] : (uint64_t)(p[0] & (0xFF >> n));
    for (size_t i = 1; i < n; i++)
        x = x << 8 | p[i];
    *v = x;
    return n;
}

/* Rewrites [p, p+len) as one EBML Void element (ID 0xEC). */
static void make_void(uint8_t *p, size_t len)
{
    /* ID (1) + an 8-byte size field fits any length >= 9; for shorter
     * elements a 1-byte size field does. */
    memset(p, 0, len);
    p[0] = 0xEC;
    if (len >= 9) {
        uint64_t body = len - 9;
        p[1] = 0x01;
        for (int i = 0; i < 7; i++)
            p[2 + i] = (uint8_t)(body >> (8 * (6 - i)));
    } else {
        p[1] = (uint8_t)(0x80 | (len - 2));
    }
}

/* Blanks TrackLanguage (0x22B59C) and LanguageIETF (0x22B59D) in every
 * TrackEntry (0xAE) of the Tracks (0x1654AE6B) held in buf. */
static void blank_languages(uint8_t *buf, size_t n)
{
    uint64_t id, size;
    size_t i = 0, k;
    /* EBML header, then the Segment's header. */
    if (!(k = ebml_vint(buf, n, 1, &id)) || id != 0x1A45DFA3 || !(i = k, k = ebml_vint(buf + i, n - i, 0, &size)))
        return;
    i += k;
    if (size > n - i)
        return;
    i += (size_t)size;
    if (!(k = ebml_vint(buf + i, n - i, 1, &id)) || id != 0x18538067)
        return;
    i += k;
    if (!(k = ebml_vint(buf + i, n - i, 0, &size)))
        return;
    i += k;
    while (i < n) {
        size_t at = i;
        if (!(k = ebml_vint(buf + i, n - i, 1, &id)))
            return;
        i += k;
        if (!(k = ebml_vint(buf + i, n - i, 0, &size)))
            return;
        i += k;
        if (size > n - i)
            return;
        if (id == 0x1654AE6B) {
            for (size_t t = i; t < i + size;) {
                uint64_t tid, tsize;
                size_t a = ebml_vint(buf + t, i + size - t, 1, &tid), b;
                if (!a || !(b = ebml_vint(buf + t + a, i + size - t - a, 0, &tsize)) || tsize > i + size - t - a - b)
                    return;
                size_t body = t + a + b;
                if (tid == 0xAE) {
                    for (size_t e = body; e < body + tsize;) {
                        uint64_t eid, esize;
                        size_t c = ebml_vint(buf + e, body + tsize - e, 1, &eid), d;
                        if (!c || !(d = ebml_vint(buf + e + c, body + tsize - e - c, 0, &esize)) ||
                            esize > body + tsize - e - c - d)
                            return;
                        if (eid == 0x22B59C || eid == 0x22B59D)
                            make_void(buf + e, c + d + (size_t)esize);
                        e += c + d + (size_t)esize;
                    }
                }
                t = body + (size_t)tsize;
            }
        }
        (void)at;
        i += (size_t)size;
    }
}

/* Writes the held header region to the sink (at 0) after patching it. */
static int flush_held(out_io *o)
{
    if (!o->hold || !o->held_len)
        return 0;
    blank_languages(o->held, o->held_len);
    int rc = sink_to(o, 0);
    if (rc >= 0)
        rc = um_sink_write(o->sink, o->held, o->held_len);
    if (rc < 0)
        return sink_failed(o, rc);
    o->sink_pos = (int64_t)o->held_len;
    return 0;
}

/* FFmpeg allocates with its own allocator; the calls below that allocate
 * are fault points (lib/fault.c), so tests reach the paths that handle
 * their failure. Allocations inside FFmpeg are not counted. */
#define AV_FAULT(call) (um_fault_hit() ? NULL : (call))

/* Options and tags that are not set change the output, or the demuxers
 * allowed: a failure to set one is an error, never ignored. */
static int dict_set(AVDictionary **d, const char *key, const char *value)
{
    return um_fault_hit() ? AVERROR(ENOMEM) : AV.av_dict_set(d, key, value, 0);
}

static int av_fail(um_job *job, int averr, const char *what)
{
    char msg[AV_ERROR_MAX_STRING_SIZE] = "";
    AV.av_strerror(averr, msg, sizeof(msg));
    return um_fail(job, averr == AVERROR(ENOMEM) ? UNMETA_E_NOMEM : UNMETA_E_MALFORMED, "%s: %s", what, msg);
}

static void free_io(AVIOContext **pb)
{
    if (*pb) {
        AV.av_freep(&(*pb)->buffer);
        AV.avio_context_free(pb);
    }
}

typedef struct input {
    in_io io;
    AVIOContext *pb;
    AVFormatContext *ic;
} input;

static void close_input(input *in)
{
    AV.avformat_close_input(&in->ic);
    free_io(&in->pb);
}

/* The demuxer is the one the module's probe named (container), not
 * libavformat's own guess: a payload can hold text that another demuxer's
 * probe scores higher (an MPEG audio stream whose frames spell a subtitle
 * script), and the output must read back with the demuxer it was written
 * for. */
static int open_input(um_job *job, input *in, const char *container)
{
    AVDictionary *opts = NULL;
    int r;
    memset(in, 0, sizeof(*in));
    in->io.job = job;
    uint8_t *buf = AV_FAULT(AV.av_malloc(IOBUF));
    in->pb = buf ? AV_FAULT(AV.avio_alloc_context(buf, IOBUF, 0, &in->io, in_read, NULL, in_seek)) : NULL;
    in->ic = AV_FAULT(AV.avformat_alloc_context());
    if (!in->pb || !in->ic) {
        if (!in->pb)
            AV.av_free(buf);
        return um_fail(job, UNMETA_E_NOMEM, "out of memory (libavformat)");
    }
    in->ic->pb = in->pb;
    in->ic->flags |= AVFMT_FLAG_CUSTOM_IO;
    /* Only the demuxers this module answers for, whatever the bytes say. */
    r = dict_set(&opts, "format_whitelist", "matroska,webm,avi,mp3,flac,ogg,wav");
    /* Damaged structure is an error, not something to guess around: the
     * demuxers stop where they would otherwise skip or invent. */
    if (r >= 0)
        r = dict_set(&opts, "err_detect", "explode");
    if (r < 0) {
        AV.av_dict_free(&opts);
        return av_fail(job, r, "cannot set the demuxer's options");
    }
    const AVInputFormat *fmt = AV.av_find_input_format(container);
    if (!fmt) {
        AV.av_dict_free(&opts);
        return um_fail(job, UNMETA_E_UNSUPPORTED, "%s: this libavformat has no such demuxer", container);
    }
    r = AV.avformat_open_input(&in->ic, NULL, fmt, &opts);
    AV.av_dict_free(&opts);
    if (r < 0) {
        in->ic = NULL; /* freed by avformat_open_input */
        return job->err < 0 ? job->err : av_fail(job, r, "cannot read the container");
    }
    r = AV.avformat_find_stream_info(in->ic, NULL);
    if (r < 0)
        return job->err < 0 ? job->err : av_fail(job, r, "cannot read the streams");
    return 0;
}

/* The report's short format name and the muxer to write it back with. */
static const char *muxer_for(um_job *job, const AVFormatContext *ic)
{
    const char *d = ic->iformat->name;
    if (strcmp(d, "matroska,webm") == 0) {
        /* The EBML header's DocType decides (RFC 8794 / Matroska spec). */
        uint8_t head[64];
        uint64_t size = um_reader_size(job->in);
        size_t n = size < sizeof(head) ? (size_t)size : sizeof(head);
        if (um_read_at(job, 0, head, n) == 0)
            for (size_t i = 0; i + 4 <= n; i++)
                if (memcmp(head + i, "webm", 4) == 0)
                    return "webm";
        return "matroska";
    }
    return d;
}

/* Tags that only describe the streams' structure (mkvmerge's statistics
 * values, durations): not reported. Statistics tags that name an app or a
 * date are reported under their own names. */
static int structural_tag(const char *k)
{
    static const char *const keys[] = { "language", "DURATION", "BPS", "NUMBER_OF_FRAMES", "NUMBER_OF_BYTES",
                                        "_STATISTICS_TAGS", "BPS-eng", "DURATION-eng", "NUMBER_OF_FRAMES-eng",
                                        "NUMBER_OF_BYTES-eng", "_STATISTICS_TAGS-eng", "major_brand",
                                        "minor_version", "compatible_brands" };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (AV.av_strcasecmp(k, keys[i]) == 0)
            return 1;
    return 0;
}

static int category_of(const char *k)
{
    static const struct { const char *part; int cat; } map[] = {
        { "location", UNMETA_CAT_LOCATION }, { "gps", UNMETA_CAT_LOCATION }, { "xyz", UNMETA_CAT_LOCATION },
        { "make", UNMETA_CAT_DEVICE }, { "model", UNMETA_CAT_DEVICE }, { "serial", UNMETA_CAT_DEVICE },
        { "date", UNMETA_CAT_TIME }, { "time", UNMETA_CAT_TIME }, { "year", UNMETA_CAT_TIME },
        { "encoder", UNMETA_CAT_SOFTWARE }, { "encoded_by", UNMETA_CAT_SOFTWARE }, { "software", UNMETA_CAT_SOFTWARE },
        { "writing_app", UNMETA_CAT_SOFTWARE }, { "handler", UNMETA_CAT_SOFTWARE }, { "tool", UNMETA_CAT_SOFTWARE },
        { "title", UNMETA_CAT_PEOPLE }, { "artist", UNMETA_CAT_PEOPLE }, { "author", UNMETA_CAT_PEOPLE },
        { "comment", UNMETA_CAT_PEOPLE }, { "description", UNMETA_CAT_PEOPLE }, { "copyright", UNMETA_CAT_PEOPLE },
        { "composer", UNMETA_CAT_PEOPLE }, { "performer", UNMETA_CAT_PEOPLE }, { "album", UNMETA_CAT_PEOPLE },
        { "lyrics", UNMETA_CAT_PEOPLE }, { "publisher", UNMETA_CAT_PEOPLE }, { "genre", UNMETA_CAT_PEOPLE },
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (AV.av_stristr(k, map[i].part))
            return map[i].cat;
    return UNMETA_CAT_OTHER;
}

/* A demuxer reports the muxing application we write ourselves ("Lavf" in
 * bit-exact mode) as an encoder tag: that constant says nothing of anyone. */
static int our_constant(const char *k, const char *v)
{
    return AV.av_strcasecmp(k, "encoder") == 0 && strcmp(v, "Lavf") == 0;
}

static int report_tags(um_job *job, const AVDictionary *m, const char *kind, const char *prefix)
{
    const AVDictionaryEntry *t = NULL;
    int blk = -1;
    while ((t = AV.av_dict_get(m, "", t, AV_DICT_IGNORE_SUFFIX)) != NULL) {
        if (structural_tag(t->key) || our_constant(t->key, t->value))
            continue;
        if (blk < 0) {
            blk = um_report_block(job, kind, 0, 0, UNMETA_ACTION_REMOVE);
            UM_TRY(blk);
        }
        char name[96];
        snprintf(name, sizeof(name), "%s%s", prefix, t->key);
        UM_TRY(um_report_finding(job, blk, category_of(t->key), name, "%s", t->value));
    }
    return 0;
}

/* Runs unmeta's own inspection on an embedded file (cover art, an image
 * attachment) and copies what it reveals into this report. */
static int report_nested(um_job *job, int blk, const uint8_t *p, size_t n, const char *what)
{
    unmeta_source *src = NULL;
    unmeta_report *rep = NULL;
    char saved[UM_ERRMSG_MAX];
    if (!p || n < 8 || n > job->ctx->limits.max_block)
        return 0;
    /* Media inside media is not opened again (no recursion through
     * attachments); images are. */
    if (um_be32(p) == 0x1A45DFA3 || memcmp(p, "RIFF", 4) == 0 || memcmp(p, "OggS", 4) == 0)
        return 0;
    memcpy(saved, job->ctx->errmsg, sizeof(saved));
    int nested = unmeta_source_new_memory(&src, p, n);
    if (nested == 0)
        nested = unmeta_inspect(&rep, job->ctx, src);
    if (nested == UNMETA_E_NOMEM) {
        /* An image that cannot be read is only not described; one that
         * could not be read for want of memory may hide what it holds. */
        unmeta_source_free(src);
        memcpy(job->ctx->errmsg, saved, sizeof(saved));
        return um_fail(job, UNMETA_E_NOMEM, "out of memory inspecting the %s", what);
    }
    if (nested == 0) {
        for (uint32_t i = 0; i < unmeta_report_finding_count(rep); i++) {
            unmeta_finding f = UNMETA_FINDING_INIT;
            char name[96];
            if (unmeta_report_finding(&f, rep, i) < 0)
                continue;
            snprintf(name, sizeof(name), "%s %s", what, f.name);
            int rc = um_report_finding(job, blk, f.category, name, "%s", f.value);
            if (rc < 0) {
                unmeta_report_free(rep);
                unmeta_source_free(src);
                return rc;
            }
        }
    }
    unmeta_report_free(rep);
    unmeta_source_free(src);
    memcpy(job->ctx->errmsg, saved, sizeof(saved));
    return 0;
}

static int kept(const AVStream *st)
{
    enum AVMediaType t = st->codecpar->codec_type;
    if (st->disposition & AV_DISPOSITION_ATTACHED_PIC)
        return 0;
    return t == AVMEDIA_TYPE_VIDEO || t == AVMEDIA_TYPE_AUDIO || t == AVMEDIA_TYPE_SUBTITLE;
}

static int describe(um_job *job, const AVFormatContext *ic)
{
    char kind[96], prefix[48];
    UM_TRY(report_tags(job, ic->metadata, "tags", ""));
    for (unsigned i = 0; i < ic->nb_streams; i++) {
        const AVStream *st = ic->streams[i];
        const AVCodecParameters *par = st->codecpar;
        const char *type = AV.av_get_media_type_string(par->codec_type);
        const char *codec = AV.avcodec_get_name(par->codec_id);
        UM_TRY(um_job_count_item(job, "stream"));
        if (st->disposition & AV_DISPOSITION_ATTACHED_PIC) {
            snprintf(kind, sizeof(kind), "stream %u: cover art (%s)", i, codec);
            int blk = um_report_block(job, kind, 0, 0, UNMETA_ACTION_REMOVE);
            UM_TRY(blk);
            UM_TRY(um_report_finding(job, blk, UNMETA_CAT_EMBEDDED, "CoverArt", "%s, %d bytes", codec,
                                     st->attached_pic.size));
            UM_TRY(report_nested(job, blk, st->attached_pic.data, (size_t)st->attached_pic.size, "cover art"));
        } else if (par->codec_type == AVMEDIA_TYPE_ATTACHMENT) {
            const AVDictionaryEntry *fn = AV.av_dict_get(st->metadata, "filename", NULL, 0);
            const AVDictionaryEntry *mt = AV.av_dict_get(st->metadata, "mimetype", NULL, 0);
            snprintf(kind, sizeof(kind), "stream %u: attachment", i);
            int blk = um_report_block(job, kind, 0, 0, UNMETA_ACTION_REMOVE);
            UM_TRY(blk);
            UM_TRY(um_report_finding(job, blk, UNMETA_CAT_EMBEDDED, "Attachment", "%s (%s, %d bytes)",
                                     fn ? fn->value : "unnamed", mt ? mt->value : "unknown type", par->extradata_size));
            UM_TRY(report_nested(job, blk, par->extradata, (size_t)par->extradata_size, "attachment"));
            continue; /* its filename/mimetype tags are reported above */
        } else if (!kept(st)) {
            snprintf(kind, sizeof(kind), "stream %u: %s (%s)", i, type ? type : "data", codec);
            int blk = um_report_block(job, kind, 0, 0, UNMETA_ACTION_REMOVE);
            UM_TRY(blk);
            UM_TRY(um_report_finding(job, blk, UNMETA_CAT_OTHER, "DataStream", "%s", codec));
        } else {
            snprintf(kind, sizeof(kind), "stream %u: %s (%s)", i, type, codec);
            UM_TRY(um_report_block(job, kind, 0, 0, UNMETA_ACTION_KEEP));
        }
        snprintf(kind, sizeof(kind), "stream %u tags", i);
        snprintf(prefix, sizeof(prefix), "stream %u ", i);
        UM_TRY(report_tags(job, st->metadata, kind, prefix));
    }
    if (ic->nb_chapters) {
        int blk = um_report_block(job, "chapters", 0, 0, UNMETA_ACTION_REMOVE);
        UM_TRY(blk);
        UM_TRY(um_report_finding(job, blk, UNMETA_CAT_PEOPLE, "Chapters", "%u", ic->nb_chapters));
        for (unsigned i = 0; i < ic->nb_chapters && i < MAX_REPORTED_CHAPTERS; i++) {
            const AVDictionaryEntry *t = AV.av_dict_get(ic->chapters[i]->metadata, "title", NULL, 0);
            if (t)
                UM_TRY(um_report_finding(job, blk, UNMETA_CAT_PEOPLE, "ChapterTitle", "%s", t->value));
        }
    }
    return 0;
}

/* A file with nothing to keep cannot be stripped; inspect says so too. */
static int count_kept(um_job *job, const AVFormatContext *ic, const char *muxer)
{
    int n = 0;
    for (unsigned i = 0; i < ic->nb_streams; i++)
        n += kept(ic->streams[i]);
    if (n == 0)
        return um_fail(job, UNMETA_E_UNSUPPORTED, "%s: no video, audio or subtitle stream to keep", muxer);
    return n;
}

int um_av_inspect(um_job *job, const char *container)
{
    input in;
    UM_TRY(av_ready(job));
    int rc = open_input(job, &in, container);
    if (rc >= 0) {
        const char *muxer = muxer_for(job, in.ic);
        um_report_set_format(job->report, muxer);
        rc = describe(job, in.ic);
        if (rc >= 0)
            rc = count_kept(job, in.ic, muxer);
        if (rc > 0)
            rc = 0;
    }
    close_input(&in);
    return rc;
}

/* Copies what a decoder needs of a stream, and nothing that names anyone. */
static int copy_stream(um_job *job, AVFormatContext *oc, const AVStream *is, const char *muxer)
{
    AVStream *os = AV_FAULT(AV.avformat_new_stream(oc, NULL));
    if (!os)
        return um_fail(job, UNMETA_E_NOMEM, "out of memory (libavformat)");
    int r = AV.avcodec_parameters_copy(os->codecpar, is->codecpar);
    if (r < 0)
        return av_fail(job, r, "cannot copy codec parameters");
    /* FourCCs only mean something to the RIFF family; elsewhere the muxer
     * chooses its own codec identifiers. */
    if (strcmp(muxer, "avi") != 0 && strcmp(muxer, "wav") != 0)
        os->codecpar->codec_tag = 0;
    os->time_base = is->time_base;
    os->avg_frame_rate = is->avg_frame_rate;
    os->r_frame_rate = is->r_frame_rate;
    os->sample_aspect_ratio = is->sample_aspect_ratio;
    os->disposition = is->disposition;
    const AVDictionaryEntry *lang = AV.av_dict_get(is->metadata, "language", NULL, 0);
    if (lang && (r = dict_set(&os->metadata, "language", lang->value)) < 0)
        return av_fail(job, r, "cannot copy the stream's language");
    for (int i = 0; i < is->nb_side_data; i++) {
        const AVPacketSideData *sd = &is->side_data[i];
        uint8_t *d = AV_FAULT(AV.av_stream_new_side_data(os, sd->type, sd->size));
        if (!d)
            return um_fail(job, UNMETA_E_NOMEM, "out of memory (libavformat)");
        memcpy(d, sd->data, sd->size);
    }
    return 0;
}

/* PCM in AVI: the muxer writes the byte rate as sample rate x block align
 * (riffenc) but takes the stream's time base from the byte rate it is given.
 * A file whose byte rate says otherwise would come out with a byte rate the
 * input did not have, and its next strip would pick another time base and
 * refuse its own output: refused here, before anything is written. */
static int riff_pcm_rate(um_job *job, const AVStream *st, unsigned i, const char *muxer)
{
    static const struct {
        enum AVCodecID id;
        int bits;
    } pcm[] = {
        {AV_CODEC_ID_PCM_U8, 8},     {AV_CODEC_ID_PCM_S16LE, 16}, {AV_CODEC_ID_PCM_S24LE, 24},
        {AV_CODEC_ID_PCM_S32LE, 32}, {AV_CODEC_ID_PCM_F32LE, 32}, {AV_CODEC_ID_PCM_F64LE, 64},
    };
    const AVCodecParameters *par = st->codecpar;
    if (strcmp(muxer, "avi") != 0)
        return 0;
    for (size_t k = 0; k < sizeof(pcm) / sizeof(pcm[0]); k++) {
        if (par->codec_id != pcm[k].id)
            continue;
        int64_t align = par->block_align ? par->block_align : (int64_t)pcm[k].bits * par->ch_layout.nb_channels / 8;
        int64_t bytes = (int64_t)par->sample_rate * align;
        if (par->bit_rate != 8 * bytes)
            return um_fail(job, UNMETA_E_UNSUPPORTED,
                           "%s: stream %u's byte rate (%" PRId64 "/s) is not its sample rate times its block align "
                           "(%d x %" PRId64 "), which the muxer would write instead; refused rather than altered",
                           muxer, i, par->bit_rate / 8, par->sample_rate, align);
    }
    return 0;
}

/* AAC in Matroska: the muxer writes SamplingFrequency from the stream's
 * AudioSpecificConfig (ISO 14496-3 1.6.2.1), not from the container's own
 * value. A configuration whose sampling index is reserved (13, 14) or whose
 * explicit rate is 0 names no rate at all, so the output's track would have
 * none and could not be written again: refused before anything is. */
static int mkv_aac_rate(um_job *job, const AVStream *st, unsigned i, const char *muxer)
{
    const AVCodecParameters *par = st->codecpar;
    if ((strcmp(muxer, "matroska") != 0 && strcmp(muxer, "webm") != 0) || par->codec_id != AV_CODEC_ID_AAC ||
        par->extradata_size < 2)
        return 0;
    const uint8_t *p = par->extradata;
    uint64_t bits = 0; /* the first 8 bytes, big-endian, zero-padded */
    for (int k = 0; k < 8; k++)
        bits = bits << 8 | (k < par->extradata_size ? p[k] : 0);
    int pos = 5; /* audioObjectType; 31 escapes to 6 more bits */
    if ((bits >> 59) == 31)
        pos += 6;
    unsigned idx = (unsigned)(bits >> (60 - pos)) & 15;
    int64_t avail = (int64_t)par->extradata_size * 8; /* no overflow, whatever the size */
    uint32_t rate = idx == 15 && pos + 28 <= avail ? (uint32_t)(bits >> (36 - pos)) & 0xFFFFFF : 1;
    if (idx == 13 || idx == 14 || rate == 0)
        return um_fail(job, UNMETA_E_MALFORMED,
                       "%s: stream %u's AAC configuration names no sample rate (sampling index %u), and the muxer "
                       "would write none; refused rather than altered",
                       muxer, i, idx);
    return 0;
}

int um_av_strip(um_job *job, unmeta_sink *sink, const char *container)
{
    input in;
    AVFormatContext *oc = NULL;
    AVIOContext *opb = NULL;
    AVDictionary *mopts = NULL;
    out_io out;
    AVPacket *pkt = NULL;
    int *map = NULL;
    int rc, r, header = 0;
    uint64_t copied = 0, payload = 0;
    memset(&out, 0, sizeof(out));
    UM_TRY(av_ready(job));

    UM_TRY_GOTO(rc, open_input(job, &in, container), done);
    const char *muxer = muxer_for(job, in.ic);
    um_report_set_format(job->report, muxer);
    UM_TRY_GOTO(rc, describe(job, in.ic), done);

    r = AV.avformat_alloc_output_context2(&oc, NULL, muxer, NULL);
    if (r < 0 || !oc) {
        rc = av_fail(job, r < 0 ? r : AVERROR(ENOMEM), "cannot start the muxer");
        goto done;
    }
    uint8_t *buf = AV_FAULT(AV.av_malloc(IOBUF));
    int seekable = um_sink_seekable(sink);
    out.job = job;
    out.sink = sink;
    out.hold = strcmp(muxer, "matroska") == 0 || strcmp(muxer, "webm") == 0;
    out.held_open = out.hold;
    out.header_end = -1;
    opb = buf ? AV_FAULT(AV.avio_alloc_context(buf, IOBUF, 1, &out, NULL, out_write, seekable ? out_seek : NULL)) : NULL;
    if (!opb) {
        AV.av_free(buf);
        rc = um_fail(job, UNMETA_E_NOMEM, "out of memory (libavformat)");
        goto done;
    }
    oc->pb = opb;
    oc->flags |= AVFMT_FLAG_CUSTOM_IO | AVFMT_FLAG_BITEXACT;

    map = um_calloc(job, in.ic->nb_streams ? in.ic->nb_streams : 1, sizeof(*map));
    if (!map) {
        rc = job->err;
        goto done;
    }
    int nout = 0;
    for (unsigned i = 0; i < in.ic->nb_streams; i++) {
        map[i] = -1;
        if (!kept(in.ic->streams[i]))
            continue;
        UM_TRY_GOTO(rc, riff_pcm_rate(job, in.ic->streams[i], i, muxer), done);
        UM_TRY_GOTO(rc, mkv_aac_rate(job, in.ic->streams[i], i, muxer), done);
        UM_TRY_GOTO(rc, copy_stream(job, oc, in.ic->streams[i], muxer), done);
        map[i] = nout++;
    }
    UM_TRY_GOTO(rc, count_kept(job, in.ic, muxer), done);
    r = 0;
    if (out.hold)
        r = dict_set(&mopts, "write_crc32", "0"); /* patched elements must not break a CRC */
    if (r >= 0 && strcmp(muxer, "mp3") == 0) {
        r = dict_set(&mopts, "id3v2_version", "0"); /* no ID3v2 tag at all */
        if (r >= 0)
            r = dict_set(&mopts, "write_id3v1", "0");
        /* No Xing/LAME frame: it is not one of the input's packets, it names
         * the writing library, and a strict reader may refuse it. */
        if (r >= 0)
            r = dict_set(&mopts, "write_xing", "0");
    }
    if (r < 0) {
        rc = av_fail(job, r, "cannot set the muxer's options");
        goto done;
    }
    r = AV.avformat_write_header(oc, &mopts);
    if (r < 0) {
        rc = job->err < 0 ? job->err : av_fail(job, r, "the streams cannot be copied into the same container");
        goto done;
    }
    header = 1;
    /* The muxer may have chosen its own time bases (Matroska: 1 ms). Every
     * input tick must be a whole number of output ticks, or timestamps
     * would be rounded: refused rather than altered. */
    for (unsigned i = 0; i < in.ic->nb_streams; i++) {
        if (map[i] < 0)
            continue;
        AVRational a = in.ic->streams[i]->time_base, b = oc->streams[map[i]]->time_base;
        if (a.num <= 0 || a.den <= 0 || b.num <= 0 || b.den <= 0 ||
            ((int64_t)a.num * b.den) % ((int64_t)a.den * b.num) != 0) {
            rc = um_fail(job, UNMETA_E_UNSUPPORTED,
                         "%s: stream %u's timestamps (time base %d/%d) cannot be written exactly in %d/%d; "
                         "refused rather than rounded", muxer, i, a.num, a.den, b.num, b.den);
            goto done;
        }
    }
    /* The header region ends here: later writes go to the sink; a sink
     * that cannot seek gets the patched header now (the muxer will not
     * come back to it). */
    AV.avio_flush(opb);
    out.held_open = 0;
    out.header_end = out.pos;
    if (!seekable) {
        if (flush_held(&out) < 0) {
            rc = um_fail(job, UNMETA_E_IO, "%s", um_sink_error(sink));
            goto done;
        }
        out.hold = 0;
    }
    pkt = AV_FAULT(AV.av_packet_alloc());
    if (!pkt) {
        rc = um_fail(job, UNMETA_E_NOMEM, "out of memory (libavformat)");
        goto done;
    }
    for (uint64_t count = 0;; count++) {
        r = AV.av_read_frame(in.ic, pkt);
        if (r == AVERROR_EOF)
            break;
        if (r < 0) {
            rc = job->err < 0 ? job->err : av_fail(job, r, "reading packets failed");
            goto done;
        }
        int si = pkt->stream_index;
        if (pkt->flags & AV_PKT_FLAG_CORRUPT) {
            /* The demuxer had to cut or guess this packet: the file is
             * damaged, and copying it faithfully is not possible. */
            rc = um_fail(job, UNMETA_E_MALFORMED, "%s: a damaged packet at byte %lld; refused rather than guessed",
                         muxer, (long long)pkt->pos);
            goto done;
        }
        if (si < 0 || (unsigned)si >= in.ic->nb_streams || map[si] < 0) {
            AV.av_packet_unref(pkt);
            continue;
        }
        pkt->stream_index = map[si];
        AV.av_packet_rescale_ts(pkt, in.ic->streams[si]->time_base, oc->streams[map[si]]->time_base);
        pkt->pos = -1;
        payload += (uint64_t)pkt->size;
        r = AV.av_interleaved_write_frame(oc, pkt);
        copied++;
        if (r < 0) {
            rc = job->err < 0 ? job->err : av_fail(job, r, "writing packets failed");
            goto done;
        }
        if ((count & 255) == 0)
            UM_TRY_GOTO(rc, um_job_check_cancel(job), done);
    }
    if (copied == 0) {
        /* Streams without a single packet: the output would be a header
         * that nothing can play (nor read back). */
        rc = um_fail(job, UNMETA_E_UNSUPPORTED, "%s: no audio, video or subtitle packets to keep", muxer);
        goto done;
    }
    r = AV.av_write_trailer(oc);
    header = 0;
    if (r < 0) {
        rc = job->err < 0 ? job->err : av_fail(job, r, "finishing the output failed");
        goto done;
    }
    AV.avio_flush(opb);
    if (out.body < payload) {
        /* Every packet is stored byte for byte, so the container after its
         * header holds at least their bytes; less means the muxer dropped
         * some (libavformat does, silently, on some damaged inputs). */
        rc = um_fail(job, UNMETA_E_MALFORMED, "%s: the packets could not all be written back (%llu of %llu bytes); "
                     "the file is probably damaged", muxer, (unsigned long long)out.body, (unsigned long long)payload);
        goto done;
    }
    if (opb->error < 0 || flush_held(&out) < 0) {
        rc = um_fail(job, UNMETA_E_IO, "%s", um_sink_error(sink));
        goto done;
    }
    /* Leave the sink at the end of the output. Only a seekable one: a
     * sink's errors are sticky, and a refused seek on a pipe would fail the
     * commit of an output that is complete. */
    int64_t end;
    rc = seekable && um_sink_seek(sink, 0, 2, &end) < 0 ? um_fail(job, UNMETA_E_IO, "%s", um_sink_error(sink)) : 0;
done:
    if (header) {
        out.discard = 1;         /* the output is abandoned: nothing more reaches the sink */
        AV.av_write_trailer(oc); /* frees the muxer's private state */
    }
    free(out.held);
    AV.av_packet_free(&pkt);
    AV.av_dict_free(&mopts);
    free(map);
    AV.avformat_free_context(oc);
    free_io(&opb);
    close_input(&in);
    return rc;
}
