/*
 * icc.h - ICC colour profiles: keep the colours, drop the fingerprint.
 *
 * A profile is rendering data, but its header names a device maker, model,
 * the software that made it and when (ICC.1:2010 section 7.2), its
 * 'dmnd'/'dmdd' tags describe the device in words, and its 'desc' and
 * 'cprt' tags name the profile and its vendor ("Copyright (c) 2023 Google
 * Inc."). um_icc_neutralise() zeroes the identifying header fields (CMM
 * type, creation date, primary platform, device manufacturer, model and
 * attributes, profile creator, profile ID) and blanks those four text tags
 * in place (type and size kept), reporting each non-neutral value as a
 * finding. Nothing used for colour conversion
 * changes. Profile ID zero means "not computed" (7.2.18), which is valid.
 */
#ifndef UM_ICC_H
#define UM_ICC_H

#include "../../internal.h"

/* Neutralises the profile p[0..n) in place and reports what it held on
 * block. *changed is set when any byte changed. Returns UNMETA_E_MALFORMED
 * (with a message) for a profile too short or whose size field disagrees. */
int um_icc_neutralise(um_job *job, int block, uint8_t *p, size_t n, int *changed);

#endif
