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
    /* An MPEG audio frame header (ISO 11172-3 2.4.2.3): sync, a valid
     * version, layer, bitrate and sampling rate. A weak bid. */
    *score = 25;
    if (n >= 4 && p[0] == 0xFF && (p[1] & 0xE0) == 0xE0 && ((p[1] >> 3) & 3) != 1 && ((p[1] >> 1) & 3) != 0 &&
        (p[2] >> 4) != 15 && (p[2] >> 4) != 0 && ((p[2] >> 2) & 3) != 3)
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
