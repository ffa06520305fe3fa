/*
 * av.h - the only door to FFmpeg's libavformat (lib/av/ is the only place
 * that includes it). Containers unmeta does not rewrite natively are
 * remuxed packet for packet, without re-encoding: Matroska/WebM, AVI and
 * audio files (MP3, FLAC, Ogg, WAV). See lib/formats/media.c.
 */
#ifndef UM_AV_H
#define UM_AV_H

#include "../internal.h"

/* Reports what the file reveals (tags, chapters, attachments with their own
 * metadata, data streams). `container` is the short name the probe chose. */
int um_av_inspect(um_job *job, const char *container);
/* Remuxes the kept streams to sink with no tags, chapters or attachments. */
int um_av_strip(um_job *job, unmeta_sink *sink, const char *container);

/* Loads FFmpeg's libraries now instead of on the first media file: the
 * command calls it before confining itself (cli/sandbox.c), since a
 * confined process can open no library. 0, or UNMETA_E_FEATURE when they
 * cannot be loaded (the first media file then says why). */
int um_av_preload(void);

#endif
