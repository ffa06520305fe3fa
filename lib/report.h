/*
 * report.h - building the report of what an input reveals.
 *
 * A module reports each block it meets (kind, offset, length, what strip does
 * with it) and, inside blocks, findings: privacy-relevant facts in a category
 * (location, device, time, people, software, embedded, other) with a short
 * printable value. Notes are sentences for the user (a limit met, a fallback
 * taken). The report is what `inspect` prints and what `check` judges: a
 * file is dirty when it has at least one finding.
 */
#ifndef UM_REPORT_H
#define UM_REPORT_H

#include "internal.h"

int um_report_new(unmeta_report **out);
void um_report_set_format(unmeta_report *r, const char *name);

/* Adds a block; returns its index (>= 0) or a negative error. */
int um_report_block(um_job *job, const char *kind, uint64_t off, uint64_t len, int action);
/* Changes the action of block i (a module may decide after reading it). */
void um_report_block_action(um_job *job, int block, int action);
/* Adds a finding to block i. The value is formatted, made printable
 * (control bytes become '.') and cut at 200 bytes. */
int um_report_finding(um_job *job, int block, int category, const char *name,
                      const char *fmt, ...) UM_PRINTF(5, 6);
/* Adds a note for the user. */
int um_report_note(um_job *job, const char *fmt, ...) UM_PRINTF(2, 3);

#endif /* UM_REPORT_H */
