/*
 * io.h - sources, sinks and the job's reader.
 *
 * A source is where the input comes from (path, fd, memory, callbacks). For a
 * job it is opened as a reader: random access by absolute offset, with a
 * buffer, so format code can walk structures anywhere in the file and scan
 * long runs (entropy-coded data, mdat) quickly. A source that cannot seek
 * (a pipe, callbacks without seek) is spooled first, to memory up to
 * UNMETA_OPT_SPOOL_LIMIT and to an unnamed temporary file in $TMPDIR beyond,
 * up to UNMETA_OPT_MAX_SPOOL in all. Output cannot start before the whole
 * input is read anyway: a format only knows the input is sound at its end,
 * and a pipe sink cannot take back what it was given.
 *
 * Every byte fetched from a file or callbacks passes through one function,
 * which counts it for the progress callback and polls cancellation.
 *
 * A sink is where the output goes. Its errors are sticky: the first failure
 * is kept and every later write is refused. A path sink writes a temporary
 * file in the target folder (unnamed, O_TMPFILE, where the file system
 * allows it) and gives it its name only on commit (see io.c).
 */
#ifndef UM_IO_H
#define UM_IO_H

#include "internal.h"

/* Opens src for reading by a job; the reader borrows src. */
int um_reader_open(um_reader **out, um_job *job, unmeta_source *src);
void um_reader_close(um_reader *r);

/* The input's size in bytes (always known once opened). */
uint64_t um_reader_size(const um_reader *r);

/* Reads exactly n bytes at off; UNMETA_E_TRUNCATED (with a message on the
 * job) if the input ends first. */
int um_read_at(um_job *job, uint64_t off, void *buf, size_t n);

/* Makes bytes at off available without copying: *p points at up to *avail
 * bytes (at least 1 unless off is at the end, where *avail is 0). Valid
 * until the next reader call. For fast scans of long runs. */
int um_reader_peek(um_job *job, uint64_t off, const uint8_t **p, size_t *avail);

/* Reads n bytes at off into a fresh allocation bounded by limits.max_block
 * (`what` names the block in the error). Free with free(). */
int um_read_block(um_job *job, uint64_t off, uint64_t n, const char *what, uint8_t **out);
#ifdef __clang_analyzer__
/* For the static analyser (see um_fail in internal.h): on success *out is
 * an allocation, never NULL. Analysis only. */
static inline int um_read_block_model_(int rc, uint8_t **out)
{
    return rc >= 0 && !*out ? UNMETA_E_NOMEM : rc;
}
#define um_read_block(job, off, n, what, out) um_read_block_model_(um_read_block((job), (off), (n), (what), (out)), (out))
#endif

/* Finds the first occurrence of byte b at or after off, before end; sets
 * *found to its offset or to end when absent. */
int um_reader_find(um_job *job, uint64_t off, uint64_t end, uint8_t b, uint64_t *found);

/* Sinks, as the executor of a plan sees them. */
int um_sink_write(unmeta_sink *s, const void *p, size_t n);
/* Moves the write position (whence 0 start, 1 current, 2 end, over the
 * bytes this sink wrote); *pos gets the new position. UNMETA_E_IO for a
 * sink that cannot seek (a pipe, callbacks without seek). */
int um_sink_seek(unmeta_sink *s, int64_t off, int whence, int64_t *pos);
int um_sink_seekable(unmeta_sink *s);
/* Copies input bytes [off, off+len) straight into the sink inside the
 * kernel when both are files and the run is long; returns how many bytes
 * it copied (0 when it cannot: the caller copies them itself), or a
 * negative error. */
int64_t um_sink_copy_from(um_job *job, unmeta_sink *s, uint64_t off, uint64_t len);
/* For a module that writes its output itself (a remux) and a sink that
 * cannot seek: a sink over an unnamed temporary file in $TMPDIR, so that the
 * real sink gets nothing until the whole output is made (a pipe cannot take
 * back a partial output), refused beyond UNMETA_OPT_MAX_SPOOL (judged on the
 * input's size). um_sink_send_stage() then copies it to dst. */
int um_sink_new_stage(um_job *job, unmeta_sink **out);
int um_sink_send_stage(um_job *job, unmeta_sink *stage, unmeta_sink *dst);
/* Makes the output durable and visible (path sinks: fsync + rename). */
int um_sink_commit(unmeta_sink *s);
/* Throws the output away (path sinks: unlink the temporary file). */
void um_sink_abort(unmeta_sink *s);
/* The sink's error message after a failed write or commit. */
const char *um_sink_error(const unmeta_sink *s);
/* For atomic in-place writes: the path a path sink replaces, else NULL. */
const char *um_sink_path(const unmeta_sink *s);
/* The source's path when it was opened by path, else NULL. */
const char *um_source_path(const unmeta_source *s);

#endif /* UM_IO_H */
