/*
 * xmp.h - reading what an XMP packet reveals, for the report.
 *
 * XMP is always removed whole; this only names what it held (GPS, device,
 * dates, people, software and edit history) by looking for well-known
 * properties in either attribute (`ns:Prop="v"`) or element
 * (`<ns:Prop>v</ns:Prop>`) form. It does not parse XML and never decides
 * what is kept.
 */
#ifndef UM_XMP_H
#define UM_XMP_H

#include "../../internal.h"

/* Reports findings of the packet p[0..n) on block; at least one finding
 * ("XMP packet") is always added, since any XMP is metadata. */
int um_xmp_scan(um_job *job, int block, const uint8_t *p, size_t n);

/* Gain maps: the few XMP properties that say how to render an HDR gain map
 * are kept, in a packet rebuilt from scratch (never the input's text). */

/* Builds the XMP packet of a gain-map image from its input packet p[0..n):
 * every hdrgm:* rendering parameter of the Adobe gain-map specification
 * (attribute form, element form, rdf:Seq of one value a channel) and Apple's
 * auxiliary-image type and HDRGainMap version and headroom; nothing else.
 * Values must be numbers (or True/False), else UNMETA_E_MALFORMED. *out is
 * NULL when p holds none of them; the caller frees it. */
int um_xmp_gainmap(um_job *job, const uint8_t *p, size_t n, char **out, size_t *out_len);

/* Whether um_xmp_gainmap() on p[0..n) builds a packet or fails: what
 * names an image a gain map by its XMP, so that a stripped file names it
 * the same way. Never fails. */
int um_xmp_gainmap_named(const uint8_t *p, size_t n);

/* The hdrgm:Version of a primary image's packet p[0..n) into ver (empty
 * when absent; UNMETA_E_MALFORMED when not a number). */
int um_xmp_gainmap_version(um_job *job, const uint8_t *p, size_t n, char ver[24]);

/* The semantics of the Google Container directory of p[0..n), in order
 * (Primary, GainMap, MotionPhoto, Depth...), each cut to 15 characters, and
 * their Item:Length (0 when absent); at most max. Returns their count, 0
 * when p has no directory. */
int um_xmp_container(const uint8_t *p, size_t n, char (*sem)[16], uint64_t *len, int max);

/* A motion photo's flags (Google Motion Photo format 1.0, GCamera:
 * MotionPhoto, and the older MicroVideo), read only to be written again
 * when the video is kept (UNMETA_OPT_KEEP_MOTION). */
typedef struct um_xmp_motion {
    int motion;            /* GCamera:MotionPhoto is 1 */
    int micro;             /* GCamera:MicroVideo is 1 (legacy) */
    char version[24];      /* MotionPhotoVersion / MicroVideoVersion, "" absent */
    char pts[24];          /* ...PresentationTimestampUs, "" absent */
    uint64_t micro_offset; /* GCamera:MicroVideoOffset: bytes from the video's start to the file's end */
} um_xmp_motion;

/* Reads the motion-photo flags of p[0..n) into m. Values must be integers,
 * else UNMETA_E_MALFORMED (nothing of the input's text is written back). */
int um_xmp_motion_read(um_job *job, const uint8_t *p, size_t n, um_xmp_motion *m);

/* Builds the XMP packet of the primary image of a file whose gain maps or
 * motion-photo video are kept: hdrgm:Version when ver is not empty, and,
 * when container is set, a Container directory (Primary, then one GainMap
 * item a length). With mp (a kept video of video_len bytes, last in the
 * file), the GCamera flags of mp, and for a MotionPhoto a MotionPhoto item
 * of that length and padding 0 (the directory is then always written); for
 * a MicroVideo, MicroVideoOffset is video_len. */
int um_xmp_gainmap_primary(um_job *job, const char *ver, int container, const uint64_t *lengths, size_t nlen,
                           const um_xmp_motion *mp, uint64_t video_len, char **out, size_t *out_len);

#endif
