/*
 * exif.h - EXIF (TIFF-structured) metadata: reading what it reveals and
 * building the one tag unmeta keeps on purpose.
 *
 * um_exif_scan() walks IFD0, the Exif, GPS and Interoperability sub-IFDs and
 * IFD1 of a TIFF structure in memory (the body of a JPEG APP1 "Exif" segment,
 * a PNG eXIf chunk, a WebP EXIF chunk, a HEIF Exif item), with bounds checks,
 * a loop guard and a depth limit, and reports location, device, time,
 * people, software and thumbnail findings. It returns the Orientation tag.
 * It never decides what is removed: callers drop the whole structure.
 *
 * um_exif_minimal() builds, with libexif, a TIFF structure holding only
 * IFD0 Orientation: what stripped images carry when Orientation is not 1,
 * so that they keep displaying the right way up.
 */
#ifndef UM_EXIF_H
#define UM_EXIF_H

#include "../../internal.h"

typedef struct um_exif_info {
    int orientation;   /* 1..8, 0 when absent or invalid */
    int private_tags;  /* tags beyond those that only describe rendering */
    int damaged;       /* a part could not be walked (reported as a finding) */
} um_exif_info;

/* Reports findings of the TIFF structure tiff[0..n) on block. A structure
 * too damaged to walk is reported as one finding, not as an error: it is
 * removed either way. */
int um_exif_scan(um_job *job, int block, const uint8_t *tiff, size_t n, um_exif_info *info);

/* Builds a TIFF structure with only Orientation (big-endian, "MM");
 * with_header prepends "Exif\0\0" as JPEG APP1 and WebP EXIF expect.
 * *out is freed with free(). */
int um_exif_minimal(um_job *job, int orientation, int with_header, uint8_t **out, size_t *len);

#endif
