/*
 * plan.h - the output of a strip, described before it is written.
 *
 * A format module appends operations in output order: copy a range of the
 * input, or emit bytes it built (a rewritten header, a neutralised ICC
 * profile, a minimal EXIF block). Executing the plan streams the copies
 * through a fixed buffer, so memory stays constant whatever the file size.
 * um_plan_size() tells the output offset reached so far, which formats with
 * absolute offsets (TIFF, ISO BMFF) need when they rewrite pointers.
 *
 * Every job has a plan; for inspect and check it is a discarding plan that
 * only counts sizes, so format code runs the same path for all three
 * operations. um_job_writing() tells a module whether output matters (to
 * skip expensive work such as deflating a profile nobody will write).
 */
#ifndef UM_PLAN_H
#define UM_PLAN_H

#include "internal.h"

int um_plan_new(um_plan **out, int discard);
int um_job_writing(const um_job *job);
void um_plan_free(um_plan *plan);

/* Copies len input bytes starting at off. Adjacent copies are merged. */
int um_plan_copy(um_job *job, uint64_t off, uint64_t len);
/* UNMETA_E_LIMIT when an output of `size` bytes would outgrow the input by
 * more than UNMETA_OPT_MAX_GROWTH (the plan checks its own; writers that
 * bypass it, the libavformat remux, call it themselves). */
int um_output_grows(um_job *job, uint64_t size);
/* Emits n bytes, copied into the plan. */
int um_plan_data(um_job *job, const void *p, size_t n);
/* Reserves n bytes to be filled in later (before the plan executes);
 * returns a pointer that stays valid for the plan's life, zero-filled.
 * Returns NULL on failure (the error is on the job). */
uint8_t *um_plan_reserve(um_job *job, size_t n);
/* Output bytes planned so far. */
uint64_t um_plan_size(const um_job *job);
/* Drops every operation (a module that restarts its output). */
void um_plan_reset(um_job *job);

/* Writes the plan to sink, reading copies from the job's input. */
int um_plan_execute(um_job *job, unmeta_sink *sink);
/* Executes the plan into a fresh buffer bounded by limits.max_memory
 * (for modules that post-process their own output, e.g. lossless rotation). */
int um_plan_to_memory(um_job *job, uint8_t **out, size_t *out_len);

#endif /* UM_PLAN_H */
