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

#endif
