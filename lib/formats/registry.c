/*
 * registry.c - the static table of format modules. Adding a format is one
 * line here (and its file in meson.build).
 */
#include <string.h>

#include "format.h"

extern const um_format um_format_jpeg;
extern const um_format um_format_png;
extern const um_format um_format_webp;
extern const um_format um_format_gif;
extern const um_format um_format_tiff;
extern const um_format um_format_dng;
extern const um_format um_format_heif;
extern const um_format um_format_jxl;
extern const um_format um_format_mp4;
extern const um_format um_format_media;

/* Probe order breaks ties: the first of equal bids wins. */
static const um_format *const formats[] = {
    &um_format_jpeg,
    &um_format_png,
    &um_format_webp,
    &um_format_gif,
    &um_format_tiff,
    &um_format_dng,
    &um_format_heif,
    &um_format_jxl,
    &um_format_mp4,
    &um_format_media,
};

#define NFORMATS (sizeof(formats) / sizeof(formats[0]))

const um_format *um_format_probe(const uint8_t *head, size_t n)
{
    const um_format *best = NULL;
    int best_score = 0;
    for (size_t i = 0; i < NFORMATS; i++) {
        int s = formats[i]->probe(head, n);
        if (s > best_score) {
            best_score = s;
            best = formats[i];
        }
    }
    return best;
}

const um_format *um_format_claim(const unmeta_ctx *ctx, const uint8_t *head, size_t n)
{
    if (ctx && ctx->forced)
        return ctx->forced->probe(head, n) > 0 ? ctx->forced : NULL;
    return um_format_probe(head, n);
}

const um_format *um_format_find(const char *name)
{
    for (size_t i = 0; name && i < NFORMATS; i++)
        if (strcmp(formats[i]->name, name) == 0)
            return formats[i];
    return NULL;
}

uint32_t um_format_count(void)
{
    return (uint32_t)NFORMATS;
}

const um_format *um_format_at(uint32_t i)
{
    return i < NFORMATS ? formats[i] : NULL;
}
