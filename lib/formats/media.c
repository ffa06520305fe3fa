/*
 * media.c - containers remuxed through libavformat: Matroska and WebM
 * (EBML), AVI and WAV (RIFF), FLAC, Ogg, MP3. The probe lives here so that
 * a build without FFmpeg (-Dffmpeg=disabled, e.g. for a small mobile
 * library) still recognises these files and refuses them with a message
 * naming the missing feature, instead of calling them unknown.
 */
#include <string.h>

#include "../io.h"
#include "format.h"
#ifdef UM_HAVE_FFMPEG
#include "../av/av.h"
#endif

/* The length of the MPEG-1/2/2.5 audio frame whose header is at p, or 0
 * when p[0..4) is not a valid header (or p is too short to tell). */
static size_t mpa_frame_len(const uint8_t *p, size_t n)
{
    static const uint16_t kbps[2][3][16] = {
        { { 0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448, 0 },   /* MPEG-1 layer I */
          { 0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 0 },      /* layer II */
          { 0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0 } },     /* layer III */
        { { 0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256, 0 },      /* MPEG-2/2.5 layer I */
          { 0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0 },           /* layers II, III */
          { 0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0 } },
    };
    static const uint32_t rates[3] = { 44100, 48000, 32000 };
    if (n < 4 || p[0] != 0xFF || (p[1] & 0xE0) != 0xE0)
        return 0;
    int version = (p[1] >> 3) & 3; /* 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5, 1: reserved */
    int layer = 4 - ((p[1] >> 1) & 3); /* 1..3; 4 is reserved */
    int bri = p[2] >> 4, sri = (p[2] >> 2) & 3, pad = (p[2] >> 1) & 1;
    if (version == 1 || layer == 4 || bri == 0 || bri == 15 || sri == 3)
        return 0;
    uint32_t rate = rates[sri] >> (version == 3 ? 0 : version == 2 ? 1 : 2);
    uint32_t bitrate = kbps[version == 3 ? 0 : 1][layer - 1][bri] * 1000u;
    size_t bits = bitrate; /* at most 448000: the products below fit */
    if (layer == 1)
        return (12 * bits / rate + (size_t)pad) * 4;
    return (size_t)(layer == 3 && version != 3 ? 72 : 144) * bits / rate + (size_t)pad;
}

/* The container a file's first bytes announce, or NULL. */
static const char *container(const uint8_t *p, size_t n, int *score)
{
    *score = 100;
    if (n >= 4 && um_be32(p) == 0x1A45DFA3)
        return "matroska";
    if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "AVI ", 4) == 0)
        return "avi";
    if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WAVE", 4) == 0)
        return "wav";
    if (n >= 4 && memcmp(p, "fLaC", 4) == 0)
        return "flac";
    if (n >= 4 && memcmp(p, "OggS", 4) == 0)
        return "ogg";
    *score = 60;
    if (n >= 10 && memcmp(p, "ID3", 3) == 0 && p[3] >= 2 && p[3] <= 4)
        return "mp3"; /* libavformat decides what follows the ID3 tag */
    /* Bare MPEG audio: a valid frame header (ISO 11172-3 2.4.2.3, ISO
     * 13818-3) followed, where that frame ends, by another one. */
    *score = 50;
    size_t len1 = mpa_frame_len(p, n);
    if (len1 && len1 < n && mpa_frame_len(p + len1, n - len1))
        return "mp3";
    *score = 0;
    return NULL;
}

static int probe(const uint8_t *p, size_t n)
{
    int score;
    return container(p, n, &score) ? score : 0;
}

static int which(um_job *job, const char **name)
{
    uint8_t head[UM_PROBE_SIZE];
    uint64_t size = um_reader_size(job->in);
    size_t n = size < sizeof(head) ? (size_t)size : sizeof(head);
    int score;
    UM_TRY(um_read_at(job, 0, head, n));
    *name = container(head, n, &score);
    if (!*name)
        return um_fail(job, UNMETA_E_UNSUPPORTED, "not a format unmeta knows");
    return 0;
}

static int run(um_job *job)
{
    const char *name;
    UM_TRY(which(job, &name));
#ifdef UM_HAVE_FFMPEG
    return um_av_inspect(job, name);
#else
    return um_fail(job, UNMETA_E_FEATURE, "%s files need FFmpeg's libavformat, which this build of unmeta leaves out "
                   "(built with -Dffmpeg=disabled)", name);
#endif
}

static int strip(um_job *job, unmeta_sink *sink)
{
    const char *name;
    UM_TRY(which(job, &name));
#ifdef UM_HAVE_FFMPEG
    return um_av_strip(job, sink, name);
#else
    (void)sink;
    return run(job);
#endif
}

const um_format um_format_media = {
    .name = "media",
    .mime = "application/octet-stream",
    .ext = "",
    .probe = probe,
    .run = run,
    .strip = strip,
};
