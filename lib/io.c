/*
 * io.c - sources, sinks and the job's buffered random-access reader.
 * See io.h for the model. This is the only file of the library that touches
 * the file system.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "internal.h"
#include "io.h"

#define UM_READ_BUF (256u << 10)   /* the reader's window */
/* A file or callback input up to this size (a phone photo) is held whole,
 * filled a window at a time as it is first read: a format that scans its
 * bytes and then copies them (a JPEG's entropy-coded data, a PNG's chunks)
 * reads each byte from the file once, not twice (bench/README.md, "The Node
 * binding"). Larger inputs keep the sliding window, so memory stays bounded
 * whatever the size, under bench/run's 16 MiB peak. 32 windows, a bit each. */
#define UM_HOLD_MAX (32u * UM_READ_BUF)
#define UM_WRITE_BUF (64u << 10)   /* small writes are gathered up to this */
/* Runs at least this long are copied by the kernel (copy_file_range) when
 * both ends are files; for shorter ones (a photo's 4 MB of entropy-coded
 * data) it costs more CPU on ext4 than the read and write it saves
 * (bench/README.md). Copied in steps of UM_KERNEL_COPY_STEP, polling
 * cancellation and progress between them. */
#define UM_KERNEL_COPY_MIN (8u << 20)
#define UM_KERNEL_COPY_STEP (8u << 20)

enum { SRC_PATH, SRC_FD, SRC_MEM, SRC_CB };

struct unmeta_source {
    int kind;
    int fd;                       /* SRC_PATH (owned), SRC_FD (borrowed) */
    char *path;                   /* SRC_PATH */
    const uint8_t *mem;           /* SRC_MEM */
    uint64_t mem_size;
    unmeta_io_callbacks cb;       /* SRC_CB */
    void *user;
    /* A non-seekable input is spooled once and kept for later jobs. */
    int spooled;
    int spool_failed;             /* a spool stopped part-way: the input is consumed */
    uint8_t *spool_mem;
    uint64_t spool_size;
    int spool_fd;                 /* unnamed temporary file, or -1 */
};

enum { RD_MEM, RD_FD, RD_CB };

struct um_reader {
    int kind;
    const uint8_t *mem;           /* RD_MEM */
    int fd;                       /* RD_FD */
    unmeta_source *src;           /* RD_CB */
    uint64_t size;
    uint8_t *buf;                 /* window over [buf_off, buf_off + buf_len) */
    uint64_t buf_off;
    size_t buf_len;
    int held;                     /* buf holds the whole input, at its own offsets */
    uint32_t loaded;              /* held: bit k set once window k has been read */
};

/* Copies the caller's callbacks, as much as its struct_size holds; fields
 * of a newer struct that an older caller lacks keep their defaults. */
static void copy_callbacks(unmeta_io_callbacks *dst, const unmeta_io_callbacks *cb)
{
    unmeta_io_callbacks def = UNMETA_IO_CALLBACKS_INIT;
    *dst = def;
    memcpy(dst, cb, cb->struct_size < sizeof(def) ? cb->struct_size : sizeof(def));
}

/* ---- sources ----------------------------------------------------------- */

static int new_source(unmeta_source **out, int kind)
{
    if (!out)
        return UNMETA_E_INVALID;
    *out = um_mem_calloc(1, sizeof(**out));
    if (!*out)
        return UNMETA_E_NOMEM;
    (*out)->kind = kind;
    (*out)->fd = -1;
    (*out)->spool_fd = -1;
    return 0;
}

int32_t unmeta_source_new_path(unmeta_source **out, const char *path)
{
    if (!path)
        return UNMETA_E_INVALID;
    UM_TRY(new_source(out, SRC_PATH));
    unmeta_source *s = *out;
    s->path = um_mem_strdup(path);
    s->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (!s->path || s->fd < 0) {
        int e = errno;
        int rc = !s->path ? UNMETA_E_NOMEM : UNMETA_E_IO;
        unmeta_source_free(s);
        *out = NULL;
        errno = e;
        return rc;
    }
    struct stat st;
    if (fstat(s->fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        unmeta_source_free(s);
        *out = NULL;
        errno = EISDIR;
        return UNMETA_E_IO;
    }
    return 0;
}

int32_t unmeta_source_new_fd(unmeta_source **out, int32_t fd)
{
    if (fd < 0)
        return UNMETA_E_INVALID;
    UM_TRY(new_source(out, SRC_FD));
    (*out)->fd = fd;
    return 0;
}

int32_t unmeta_source_new_memory(unmeta_source **out, const void *data, uint64_t size)
{
    if (!data && size)
        return UNMETA_E_INVALID;
    UM_TRY(new_source(out, SRC_MEM));
    (*out)->mem = data ? data : (const uint8_t *)"";
    (*out)->mem_size = size;
    return 0;
}

int32_t unmeta_source_new_callbacks(unmeta_source **out, const unmeta_io_callbacks *cb, void *user)
{
    /* The caller's struct must hold the whole read pointer: adding up field
     * sizes forgets the padding after struct_size, and a size ending inside
     * the pointer would copy half of it. */
    if (!cb || cb->struct_size < offsetof(unmeta_io_callbacks, read) + sizeof(cb->read) || !cb->read)
        return UNMETA_E_INVALID;
    UM_TRY(new_source(out, SRC_CB));
    copy_callbacks(&(*out)->cb, cb);
    (*out)->user = user;
    return 0;
}

void unmeta_source_free(unmeta_source *s)
{
    if (!s)
        return;
    if (s->kind == SRC_PATH && s->fd >= 0)
        close(s->fd);
    if (s->spool_fd >= 0)
        close(s->spool_fd);
    free(s->spool_mem);
    free(s->path);
    free(s);
}

const char *um_source_path(const unmeta_source *s)
{
    return s && s->kind == SRC_PATH ? s->path : NULL;
}

/* Reads up to n bytes from a non-seekable source. */
static int64_t raw_read(unmeta_source *s, void *buf, size_t n)
{
    if (s->kind == SRC_CB)
        return s->cb.read(buf, n, s->user);
    for (;;) {
        ssize_t r = read(s->fd, buf, n);
        if (r < 0 && errno == EINTR)
            continue;
        return r;
    }
}

/* The folder for temporary files: $TMPDIR (ignored in set-uid programs),
 * else /tmp, as for mkstemp(3) users; glibc's tmpfile() ignores TMPDIR. */
static const char *temp_dir(void)
{
#if defined(__GLIBC__)
    const char *d = secure_getenv("TMPDIR");
#else
    const char *d = getenv("TMPDIR");
#endif
    return d && *d ? d : "/tmp";
}

/* An unnamed temporary file in temp_dir(): O_TMPFILE where the file system
 * has it, else mkstemp and an immediate unlink. Either way no name is left
 * to clean up: the space goes back when the descriptor is closed, even if
 * the process dies. */
static int open_spool_file(um_job *job, uint64_t limit)
{
    const char *dir = temp_dir();
    int fd = -1;
#ifdef O_TMPFILE
    fd = open(dir, O_RDWR | O_TMPFILE | O_EXCL | O_CLOEXEC, 0600);
#endif
    if (fd < 0) {
        size_t n = strlen(dir) + 32;
        char *name = um_malloc(job, n);
        if (!name)
            return job->err;
        snprintf(name, n, "%s/unmeta-spool-XXXXXX", dir);
        fd = mkstemp(name);
        if (fd >= 0) {
            unlink(name);
            (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
        free(name);
    }
    if (fd < 0)
        return um_fail(job, UNMETA_E_IO,
                       "the input is not seekable and longer than the %llu bytes held in memory "
                       "(UNMETA_OPT_SPOOL_LIMIT), and no temporary file could be made in %s: %s",
                       (unsigned long long)limit, dir, strerror(errno));
    return fd;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            if (k == 0)
                errno = ENOSPC;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Copies a non-seekable source into memory, then into an unnamed temporary
 * file once it grows past UNMETA_OPT_SPOOL_LIMIT; the whole spool is
 * bounded by UNMETA_OPT_MAX_SPOOL. Every format reads its input twice or
 * out of order (and must see the end before it writes a byte, so that a
 * broken input leaves no output), so there is no way around holding it. */
static int spool_read(um_job *job, unmeta_source *s)
{
    uint64_t cap_total = job->ctx->limits.max_spool;
    uint64_t in_mem = job->ctx->limits.spool_limit < cap_total ? job->ctx->limits.spool_limit : cap_total;
    size_t cap = 0;
    uint8_t chunk[64 << 10];
    for (;;) {
        int64_t r = raw_read(s, chunk, sizeof(chunk));
        if (r < 0)
            return um_fail(job, UNMETA_E_IO, "reading the input failed: %s", strerror(errno));
        if (r == 0)
            break;
        if ((uint64_t)r > sizeof(chunk))
            return um_fail(job, UNMETA_E_IO, "read callback returned more than asked");
        if (s->spool_size + (uint64_t)r > cap_total)
            return um_fail(job, UNMETA_E_LIMIT,
                           "the input cannot seek (a pipe or a stream) and is longer than the %llu-byte spool limit "
                           "(UNMETA_OPT_MAX_SPOOL); give it as a file, or raise the limit",
                           (unsigned long long)cap_total);
        if (s->spool_fd < 0 && s->spool_size + (uint64_t)r > in_mem) {
            int fd = open_spool_file(job, in_mem);
            if (fd < 0)
                return fd;
            s->spool_fd = fd;
            if (s->spool_size && write_all(fd, s->spool_mem, (size_t)s->spool_size) < 0)
                return um_fail(job, UNMETA_E_IO, "spooling the input to a temporary file in %s failed: %s",
                               temp_dir(), strerror(errno));
            free(s->spool_mem);
            s->spool_mem = NULL;
        }
        if (s->spool_fd >= 0) {
            if (write_all(s->spool_fd, chunk, (size_t)r) < 0)
                return um_fail(job, UNMETA_E_IO, "spooling the input to a temporary file in %s failed: %s",
                               temp_dir(), strerror(errno));
        } else {
            if (s->spool_size + (uint64_t)r > cap) {
                size_t ncap = cap ? cap * 2 : (256u << 10);
                while (ncap < s->spool_size + (uint64_t)r)
                    ncap *= 2;
                uint8_t *p = um_realloc(job, s->spool_mem, ncap);
                if (!p)
                    return job->err;
                s->spool_mem = p;
                cap = ncap;
            }
            memcpy(s->spool_mem + s->spool_size, chunk, (size_t)r);
        }
        s->spool_size += (uint64_t)r;
        UM_TRY(um_job_spool_progress(job, s->spool_size));
    }
    s->spooled = 1;
    return 0;
}

/* A spool that stopped part-way has consumed part of a stream that cannot
 * be read again: its memory and temporary file are released at once, and
 * every later job on the source fails instead of seeing a shortened input. */
static int spool(um_job *job, unmeta_source *s)
{
    if (s->spool_failed)
        return um_fail(job, UNMETA_E_STATE, "the input is a stream an earlier operation failed to read to its end");
    int rc = spool_read(job, s);
    if (rc < 0) {
        s->spool_failed = 1;
        if (s->spool_fd >= 0)
            close(s->spool_fd);
        s->spool_fd = -1;
        free(s->spool_mem);
        s->spool_mem = NULL;
        s->spool_size = 0;
    }
    return rc;
}

/* ---- the reader -------------------------------------------------------- */

int um_reader_open(um_reader **out, um_job *job, unmeta_source *s)
{
    um_reader *r = um_calloc(job, 1, sizeof(*r));
    *out = r;
    if (!r)
        return job->err;
    r->fd = -1;
    if (s->kind == SRC_MEM) {
        r->kind = RD_MEM;
        r->mem = s->mem;
        r->size = s->mem_size;
        return 0;
    }
    if (!s->spooled && (s->kind == SRC_PATH || s->kind == SRC_FD)) {
        struct stat st;
        if (fstat(s->fd, &st) != 0)
            return um_fail(job, UNMETA_E_IO, "cannot stat the input: %s", strerror(errno));
        if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) {
            off_t end = lseek(s->fd, 0, SEEK_END);
            if (end < 0)
                return um_fail(job, UNMETA_E_IO, "cannot seek the input: %s", strerror(errno));
            r->kind = RD_FD;
            r->fd = s->fd;
            r->size = (uint64_t)end;
            goto buffered;
        }
    }
    if (!s->spooled && s->kind == SRC_CB && s->cb.seek) {
        int64_t end = s->cb.seek(0, 2, s->user);
        if (end >= 0) {
            r->kind = RD_CB;
            r->src = s;
            r->size = (uint64_t)end;
            goto buffered;
        }
    }
    if (!s->spooled) {
        UM_TRY(spool(job, s));
        job->prog.last = 0; /* the size is known now: progress counts again from 0 */
        job->prog.called = 0;
    }
    if (s->spool_fd >= 0) {
        r->kind = RD_FD;
        r->fd = s->spool_fd;
        r->size = s->spool_size;
        goto buffered;
    }
    r->kind = RD_MEM;
    r->mem = s->spool_mem ? s->spool_mem : (const uint8_t *)"";
    r->size = s->spool_size;
    return 0;
buffered:
    r->held = r->size <= UM_HOLD_MAX;
    r->buf = um_malloc(job, r->held ? (r->size ? (size_t)r->size : 1) : UM_READ_BUF);
    return r->buf ? 0 : job->err;
}

void um_reader_close(um_reader *r)
{
    if (!r)
        return;
    free(r->buf);
    free(r);
}

uint64_t um_reader_size(const um_reader *r)
{
    return r->size;
}

/* Reads up to n bytes at off from the underlying fd or callbacks. */
static int fill(um_job *job, um_reader *r, uint64_t off, uint8_t *dst, size_t n, size_t *got)
{
    size_t done = 0;
    if (r->kind == RD_CB) {
        unmeta_source *s = r->src;
        if (s->cb.seek((int64_t)off, 0, s->user) != (int64_t)off)
            return um_fail(job, UNMETA_E_IO, "seeking the input failed");
    }
    while (done < n) {
        int64_t k;
        if (r->kind == RD_FD) {
            k = pread(r->fd, dst + done, n - done, (off_t)(off + done));
            if (k < 0 && errno == EINTR)
                continue;
        } else {
            k = r->src->cb.read(dst + done, n - done, r->src->user);
        }
        if (k < 0)
            return um_fail(job, UNMETA_E_IO, "reading the input failed: %s", strerror(errno));
        if (k == 0)
            break;
        if ((uint64_t)k > n - done)
            return um_fail(job, UNMETA_E_IO, "read callback returned more than asked");
        done += (size_t)k;
    }
    *got = done;
    job->prog.read += done;
    /* Every byte of a file or callback input passes here: the place to
     * poll for cancellation and progress during long scans. */
    return um_job_check_cancel(job);
}

int um_reader_peek(um_job *job, uint64_t off, const uint8_t **p, size_t *avail)
{
    um_reader *r = job->in;
    *p = NULL;
    *avail = 0;
    if (off >= r->size)
        return 0;
    if (r->kind == RD_MEM) {
        *p = r->mem + off;
        *avail = (size_t)(r->size - off < SIZE_MAX ? r->size - off : SIZE_MAX);
        return 0;
    }
    if (r->held) {
        uint64_t k = off / UM_READ_BUF, end;
        if (!(r->loaded >> k & 1)) {
            uint64_t start = k * UM_READ_BUF;
            size_t want = (size_t)(r->size - start < UM_READ_BUF ? r->size - start : UM_READ_BUF), got;
            UM_TRY(fill(job, r, start, r->buf + start, want, &got));
            if (got < want)
                return um_fail(job, UNMETA_E_IO, "the input shrank while it was read");
            r->loaded |= (uint32_t)1 << k;
        }
        /* As far as the windows already read run on. */
        for (end = (k + 1) * UM_READ_BUF; end < r->size && (r->loaded >> (end / UM_READ_BUF) & 1);)
            end += UM_READ_BUF;
        if (end > r->size)
            end = r->size;
        *p = r->buf + off;
        *avail = (size_t)(end - off);
        return 0;
    }
    if (off < r->buf_off || off >= r->buf_off + r->buf_len) {
        uint64_t want = r->size - off < UM_READ_BUF ? r->size - off : UM_READ_BUF;
        size_t got;
        r->buf_len = 0;
        UM_TRY(fill(job, r, off, r->buf, (size_t)want, &got));
        if (got < want)
            return um_fail(job, UNMETA_E_IO, "the input shrank while it was read");
        r->buf_off = off;
        r->buf_len = got;
    }
    *p = r->buf + (off - r->buf_off);
    *avail = r->buf_len - (size_t)(off - r->buf_off);
    return 0;
}

int um_read_at(um_job *job, uint64_t off, void *buf, size_t n)
{
    um_reader *r = job->in;
    uint8_t *dst = buf;
    uint64_t end;
    if (!um_add_u64(&end, off, n) || end > r->size)
        return um_fail(job, UNMETA_E_TRUNCATED, "the input ends at byte %llu, before a structure that needs %zu bytes at %llu",
                       (unsigned long long)r->size, n, (unsigned long long)off);
    if (r->kind == RD_MEM)
        job->prog.read += n;
    if (r->kind != RD_MEM && !r->held && n >= UM_READ_BUF) {
        size_t got;
        UM_TRY(fill(job, r, off, dst, n, &got));
        if (got < n)
            return um_fail(job, UNMETA_E_IO, "the input shrank while it was read");
        return 0;
    }
    while (n) {
        const uint8_t *p;
        size_t avail;
        UM_TRY(um_reader_peek(job, off, &p, &avail));
        if (avail > n)
            avail = n;
        memcpy(dst, p, avail);
        dst += avail;
        off += avail;
        n -= avail;
    }
    return 0;
}

/* Parenthesised: io.h defines a macro of the name for the static analyser. */
int (um_read_block)(um_job *job, uint64_t off, uint64_t n, const char *what, uint8_t **out)
{
    *out = NULL;
    if (n > job->ctx->limits.max_block || n > SIZE_MAX)
        return um_fail(job, UNMETA_E_LIMIT, "%s is %llu bytes, more than the %llu-byte block limit (UNMETA_OPT_MAX_BLOCK_SIZE)",
                       what, (unsigned long long)n, (unsigned long long)job->ctx->limits.max_block);
    uint8_t *p = um_malloc(job, (size_t)n);
    if (!p)
        return job->err;
    int rc = um_read_at(job, off, p, (size_t)n);
    if (rc < 0) {
        free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int um_reader_find(um_job *job, uint64_t off, uint64_t end, uint8_t b, uint64_t *found)
{
    while (off < end) {
        const uint8_t *p;
        size_t avail;
        UM_TRY(um_reader_peek(job, off, &p, &avail));
        if (avail == 0)
            break;
        if (avail > end - off)
            avail = (size_t)(end - off);
        if (job->in->kind == RD_MEM && avail > UM_READ_BUF)
            avail = UM_READ_BUF; /* in steps, so that progress and cancellation are polled */
        const uint8_t *q = memchr(p, b, avail);
        if (q) {
            *found = off + (uint64_t)(q - p);
            return 0;
        }
        off += avail;
        if (job->in->kind == RD_MEM) {
            job->prog.read += avail;
            UM_TRY(um_job_check_cancel(job));
        }
    }
    *found = end;
    return 0;
}

/* ---- sinks ------------------------------------------------------------- */

enum { SNK_PATH, SNK_FD, SNK_MEM, SNK_CB };

struct unmeta_sink {
    int kind;
    int fd;                      /* SNK_PATH (temporary file, owned), SNK_FD (borrowed) */
    char *path;                  /* SNK_PATH: final name */
    char *tmp;                   /* SNK_PATH: temporary name (named temporary file, or the link before the rename) */
    int anon;                    /* SNK_PATH: the temporary file is unnamed (O_TMPFILE) until commit */
    int32_t mode;                /* SNK_PATH: -1 = existing file's mode, else umask default */
    off_t fd_start;              /* SNK_FD: where our output began (to undo on abort) */
    int fd_regular;
    uint8_t *mem;                /* SNK_MEM */
    size_t mem_len, mem_cap;
    size_t mem_pos;              /* write position (after a seek) */
    unmeta_io_callbacks cb;      /* SNK_CB */
    void *user;
    int own_fd;                  /* SNK_FD: a staging file this sink closes */
    int no_kcopy;                /* copy_file_range is not supported between these files */
    uint8_t *wbuf;               /* gathered small writes (fd kinds) */
    size_t wlen;
    int state;                   /* 0 fresh, 1 writing, 2 committed, 3 aborted */
    int err;                     /* sticky */
    char msg[256];
};

static int new_sink(unmeta_sink **out, int kind)
{
    if (!out)
        return UNMETA_E_INVALID;
    *out = um_mem_calloc(1, sizeof(**out));
    if (!*out)
        return UNMETA_E_NOMEM;
    (*out)->kind = kind;
    (*out)->fd = -1;
    return 0;
}

int32_t unmeta_sink_new_path(unmeta_sink **out, const char *path, int32_t mode)
{
    if (!path || !*path || (mode < -1) || mode > 07777)
        return UNMETA_E_INVALID;
    UM_TRY(new_sink(out, SNK_PATH));
    (*out)->path = um_mem_strdup(path);
    (*out)->mode = mode;
    if (!(*out)->path) {
        unmeta_sink_free(*out);
        *out = NULL;
        return UNMETA_E_NOMEM;
    }
    return 0;
}

int32_t unmeta_sink_new_fd(unmeta_sink **out, int32_t fd)
{
    if (fd < 0)
        return UNMETA_E_INVALID;
    UM_TRY(new_sink(out, SNK_FD));
    (*out)->fd = fd;
    return 0;
}

int32_t unmeta_sink_new_memory(unmeta_sink **out)
{
    return new_sink(out, SNK_MEM);
}

int32_t unmeta_sink_new_callbacks(unmeta_sink **out, const unmeta_io_callbacks *cb, void *user)
{
    if (!cb || cb->struct_size < offsetof(unmeta_io_callbacks, write) + sizeof(cb->write) || !cb->write)
        return UNMETA_E_INVALID;
    UM_TRY(new_sink(out, SNK_CB));
    copy_callbacks(&(*out)->cb, cb);
    (*out)->user = user;
    return 0;
}

int32_t unmeta_sink_memory(const void **data, uint64_t *size, const unmeta_sink *s)
{
    if (!data || !size || !s || s->kind != SNK_MEM)
        return UNMETA_E_INVALID;
    if (s->state != 2)
        return UNMETA_E_STATE;
    *data = s->mem ? s->mem : (const void *)"";
    *size = s->mem_len;
    return 0;
}

void unmeta_sink_free(unmeta_sink *s)
{
    if (!s)
        return;
    if (s->state == 1)
        um_sink_abort(s);
    if ((s->kind == SNK_PATH || s->own_fd) && s->fd >= 0)
        close(s->fd);
    free(s->mem);
    free(s->wbuf);
    free(s->path);
    free(s->tmp);
    free(s);
}

static int sink_fail(unmeta_sink *s, int code, const char *what)
{
    if (!s->err) {
        s->err = code;
        snprintf(s->msg, sizeof(s->msg), "%s%s%s", what, errno ? ": " : "", errno ? strerror(errno) : "");
    }
    return s->err;
}

const char *um_sink_error(const unmeta_sink *s)
{
    return s->msg[0] ? s->msg : "writing the output failed";
}

const char *um_sink_path(const unmeta_sink *s)
{
    return s && s->kind == SNK_PATH ? s->path : NULL;
}

/* Temporary files. The output is written to an unnamed file in the
 * target's folder (O_TMPFILE) and gets a name only when it is complete: a
 * process killed at any moment, even by SIGKILL, leaves nothing behind. A
 * new output is linked under its final name at once (linkat never replaces
 * anything); an output that replaces a file is linked under a temporary
 * name, then renamed over the target (atomic). Where the file system has no
 * O_TMPFILE (NFS, some FUSE and older kernels), a named temporary file is
 * written instead.
 *
 * Temporary names are ".NAME.HOST-PID-RANDOM.unmeta-tmp": HOST 8 hex
 * digits (a hash of the host name), PID decimal, RANDOM 12 hex digits.
 * Only a SIGKILL or a crash between the link and the rename (or while a
 * named temporary file is written) leaves one; `unmeta strip -r` removes
 * those of its own host whose process is gone from the folders it writes
 * into (cli/batch.c, stale_temp). */
static uint32_t host_hash(void)
{
    char host[256] = "";
    uint32_t h = 2166136261u; /* FNV-1a */
    if (gethostname(host, sizeof(host) - 1) != 0)
        host[0] = '\0';
    for (const char *p = host; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h;
}

/* A fresh temporary name beside the target into s->tmp. */
static int temp_name(unmeta_sink *s, int attempt)
{
    const char *slash = strrchr(s->path, '/');
    size_t dirlen = slash ? (size_t)(slash - s->path) + 1 : 0;
    const char *base = slash ? slash + 1 : s->path;
    size_t n = dirlen + strlen(base) + 64;
    if (!s->tmp && !(s->tmp = um_mem_malloc(n)))
        return sink_fail(s, UNMETA_E_NOMEM, "out of memory");
    uint64_t rnd = 0;
    int rfd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (rfd >= 0) {
        if (read(rfd, &rnd, sizeof(rnd)) != sizeof(rnd))
            rnd = 0;
        close(rfd);
    }
    rnd ^= (uint64_t)attempt << 32 ^ (uint64_t)(uintptr_t)s;
    snprintf(s->tmp, n, "%.*s.%s.%08x-%ld-%012llx.unmeta-tmp", (int)dirlen, s->path, base, (unsigned)host_hash(),
             (long)getpid(), (unsigned long long)(rnd & 0xffffffffffffull));
    return 0;
}

/* The /proc path of an open descriptor, to link an unnamed file. */
static void fd_path(char *buf, size_t n, int fd)
{
    snprintf(buf, n, "/proc/self/fd/%d", fd);
}

/* Creates the temporary file beside the target: same folder, so the final
 * link or rename is atomic; mode 0666, so the umask applies as for any new
 * file. */
static int open_temp(unmeta_sink *s)
{
#ifdef O_TMPFILE
    {
        const char *slash = strrchr(s->path, '/');
        char *dir = slash ? um_mem_strndup(s->path, (size_t)(slash - s->path) + 1) : um_mem_strdup(".");
        if (!dir)
            return sink_fail(s, UNMETA_E_NOMEM, "out of memory");
        s->fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
        int e = errno;
        free(dir);
        if (s->fd >= 0) {
            char proc[64];
            fd_path(proc, sizeof(proc), s->fd);
            if (access(proc, F_OK) == 0) {
                s->anon = 1;
                return 0;
            }
            close(s->fd); /* no /proc to link it through: a named file */
            s->fd = -1;
        } else if (e != EOPNOTSUPP && e != EISDIR && e != EINVAL && e != ENOSYS) {
            /* Not "unsupported here": the folder's own error (ENOSPC, EACCES...). */
            errno = e;
            return sink_fail(s, UNMETA_E_IO, "cannot create a temporary file beside the output");
        }
    }
#endif
    for (int attempt = 0; attempt < 100; attempt++) {
        UM_TRY(temp_name(s, attempt));
        s->fd = open(s->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (s->fd >= 0)
            return 0;
        if (errno != EEXIST)
            break;
    }
    free(s->tmp);
    s->tmp = NULL;
    return sink_fail(s, UNMETA_E_IO, "cannot create a temporary file beside the output");
}

/* Gives the unnamed output a name: the final one when nothing is there
 * (*done = 1), else a temporary one (s->tmp) to rename over the target. */
static int link_anon(unmeta_sink *s, int have_old, int *done)
{
    char proc[64];
    fd_path(proc, sizeof(proc), s->fd);
    *done = 0;
    if (!have_old) {
        if (linkat(AT_FDCWD, proc, AT_FDCWD, s->path, AT_SYMLINK_FOLLOW) == 0) {
            *done = 1;
            return 0;
        }
        if (errno != EEXIST)
            return sink_fail(s, UNMETA_E_IO, "cannot move the output into place");
        /* the target appeared meanwhile: replace it, as a rename would */
    }
    for (int attempt = 0; attempt < 100; attempt++) {
        UM_TRY(temp_name(s, attempt));
        if (linkat(AT_FDCWD, proc, AT_FDCWD, s->tmp, AT_SYMLINK_FOLLOW) == 0)
            return 0;
        if (errno != EEXIST)
            break;
    }
    free(s->tmp);
    s->tmp = NULL;
    return sink_fail(s, UNMETA_E_IO, "cannot move the output into place");
}

static int raw_write(unmeta_sink *s, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        if (s->kind == SNK_CB) {
            int64_t k = s->cb.write(b, n, s->user);
            if (k < 0 || (uint64_t)k > n) {
                errno = 0;
                return sink_fail(s, UNMETA_E_IO, "the write callback failed");
            }
            b += k;
            n -= (size_t)k;
            continue;
        }
        ssize_t k = write(s->fd, b, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return sink_fail(s, UNMETA_E_IO, "writing the output failed");
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

static int flush_wbuf(unmeta_sink *s)
{
    if (s->wlen) {
        size_t n = s->wlen;
        s->wlen = 0;
        return raw_write(s, s->wbuf, n);
    }
    return 0;
}

static int begin(unmeta_sink *s)
{
    if (s->state == 1)
        return 0;
    if (s->state != 0) {
        errno = 0;
        return sink_fail(s, UNMETA_E_STATE, "a sink takes one output only");
    }
    s->state = 1;
    if (s->kind == SNK_PATH)
        UM_TRY(open_temp(s));
    if (s->kind == SNK_FD) {
        struct stat st;
        s->fd_start = lseek(s->fd, 0, SEEK_CUR);
        s->fd_regular = fstat(s->fd, &st) == 0 && S_ISREG(st.st_mode) && s->fd_start >= 0;
    }
    if (s->kind != SNK_MEM) {
        s->wbuf = um_mem_malloc(UM_WRITE_BUF);
        if (!s->wbuf)
            return sink_fail(s, UNMETA_E_NOMEM, "out of memory");
    }
    return 0;
}

int um_sink_write(unmeta_sink *s, const void *p, size_t n)
{
    if (s->err)
        return s->err;
    UM_TRY(begin(s));
    if (s->kind == SNK_MEM) {
        if (n > SIZE_MAX - s->mem_pos) {
            errno = 0;
            return sink_fail(s, UNMETA_E_NOMEM, "output too large for memory");
        }
        if (s->mem_pos + n > s->mem_cap) {
            size_t cap = s->mem_cap ? s->mem_cap : 4096;
            while (cap < s->mem_pos + n)
                cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
            uint8_t *q = um_mem_realloc(s->mem, cap);
            if (!q) {
                errno = 0;
                return sink_fail(s, UNMETA_E_NOMEM, "out of memory for the output");
            }
            s->mem = q;
            s->mem_cap = cap;
        }
        if (s->mem_pos > s->mem_len) /* a seek past the end leaves a hole of zeros */
            memset(s->mem + s->mem_len, 0, s->mem_pos - s->mem_len);
        memcpy(s->mem + s->mem_pos, p, n);
        s->mem_pos += n;
        if (s->mem_pos > s->mem_len)
            s->mem_len = s->mem_pos;
        return 0;
    }
    if (s->wlen + n <= UM_WRITE_BUF) {
        memcpy(s->wbuf + s->wlen, p, n);
        s->wlen += n;
        return 0;
    }
    UM_TRY(flush_wbuf(s));
    if (n >= UM_WRITE_BUF)
        return raw_write(s, p, n);
    memcpy(s->wbuf, p, n);
    s->wlen = n;
    return 0;
}

int um_sink_seekable(unmeta_sink *s)
{
    if (s->kind == SNK_MEM || s->kind == SNK_PATH)
        return 1;
    if (s->kind == SNK_CB)
        return s->cb.seek != NULL;
    return lseek(s->fd, 0, SEEK_CUR) >= 0;
}

int um_sink_seek(unmeta_sink *s, int64_t off, int whence, int64_t *pos)
{
    if (s->err)
        return s->err;
    UM_TRY(begin(s));
    if (s->kind == SNK_MEM) {
        int64_t base = whence == 0 ? 0 : whence == 1 ? (int64_t)s->mem_pos : (int64_t)s->mem_len;
        if (whence < 0 || whence > 2 || off < -base || (uint64_t)(base + off) > SIZE_MAX / 2) {
            errno = EINVAL;
            return sink_fail(s, UNMETA_E_IO, "bad seek in the output");
        }
        s->mem_pos = (size_t)(base + off);
        *pos = (int64_t)s->mem_pos;
        return 0;
    }
    UM_TRY(flush_wbuf(s));
    if (s->kind == SNK_CB) {
        int64_t r = s->cb.seek ? s->cb.seek(off, whence, s->user) : -1;
        if (r < 0) {
            errno = 0;
            return sink_fail(s, UNMETA_E_IO, "the output cannot seek");
        }
        *pos = r;
        return 0;
    }
    /* An fd sink's positions count from where our output began. */
    off_t start = s->kind == SNK_FD ? s->fd_start : 0;
    off_t r = lseek(s->fd, whence == 0 ? start + off : off, whence == 0 ? SEEK_SET : whence == 1 ? SEEK_CUR : SEEK_END);
    if (r < 0 || r < start)
        return sink_fail(s, UNMETA_E_IO, "the output cannot seek");
    *pos = (int64_t)(r - start);
    return 0;
}

int64_t um_sink_copy_from(um_job *job, unmeta_sink *s, uint64_t off, uint64_t len)
{
#ifdef __EMSCRIPTEN__
    /* WebAssembly (scripts/wasm-build) has no kernel to copy with, and its
     * inputs and outputs are callbacks anyway: the caller copies. */
    (void)job, (void)s, (void)off, (void)len;
    return 0;
#else
    um_reader *r = job->in;
    uint64_t done = 0;
    if (r->kind != RD_FD || len < UM_KERNEL_COPY_MIN || s->err || s->no_kcopy)
        return 0;
    if (s->kind != SNK_PATH && s->kind != SNK_FD)
        return 0;
    if (begin(s) < 0 || flush_wbuf(s) < 0)
        return s->err;
    if (s->kind == SNK_FD && !s->fd_regular)
        return 0;
    while (done < len) {
        loff_t in = (loff_t)(off + done);
        /* Chunks small enough to poll cancellation and progress between them. */
        size_t chunk = len - done > UM_KERNEL_COPY_STEP ? UM_KERNEL_COPY_STEP : (size_t)(len - done);
        ssize_t k = copy_file_range(r->fd, &in, s->fd, NULL, chunk, 0);
        if (k < 0 && errno == EINTR)
            continue;
        /* A full disk or a failing one is the output's error, as for a
         * write (GNU cp does the same): copying the rest by hand would only
         * hide it, or meet it again. */
        if (k < 0 && (errno == ENOSPC || errno == EDQUOT || errno == EIO || errno == EFBIG))
            return sink_fail(s, UNMETA_E_IO, "writing the output failed");
        if (k < 0) {
            s->no_kcopy = 1; /* not supported here (EXDEV, ENOSYS, EOPNOTSUPP...): not asked again */
            break;           /* the caller copies the rest */
        }
        if (k == 0)
            break; /* nothing more: the caller copies the rest, or finds the input shrank */
        done += (uint64_t)k;
        job->prog.written += (uint64_t)k;
        int rc = um_job_check_cancel(job);
        if (rc < 0)
            return rc;
    }
    return (int64_t)done;
#endif
}

int um_sink_commit(unmeta_sink *s)
{
    if (s->err)
        return s->err;
    UM_TRY(begin(s)); /* an empty output is still an output */
    UM_TRY(flush_wbuf(s));
    if (s->kind == SNK_PATH) {
        struct stat st;
        int have_old = stat(s->path, &st) == 0;
        if (have_old && !S_ISREG(st.st_mode)) {
            errno = 0;
            return sink_fail(s, UNMETA_E_IO, "the output path exists and is not a regular file");
        }
        if (s->mode >= 0) {
            if (fchmod(s->fd, (mode_t)s->mode) != 0)
                return sink_fail(s, UNMETA_E_IO, "cannot set the output's mode");
        } else if (have_old) {
            /* Replacing a file (in place): keep its mode and, where allowed, owner. */
            if (fchmod(s->fd, st.st_mode & 07777) != 0)
                return sink_fail(s, UNMETA_E_IO, "cannot set the output's mode");
            if (fchown(s->fd, st.st_uid, st.st_gid) != 0) {
                /* not permitted for an ordinary user: the file stays theirs */
            }
        }
        /* Replacing a file: its new content must be on disk before the
         * rename, or a crash could leave neither version. A new file puts
         * nothing at risk and is not forced to disk (as cp does not). */
        if (have_old && fsync(s->fd) != 0)
            return sink_fail(s, UNMETA_E_IO, "flushing the output to disk failed");
        int linked = 0;
        if (s->anon)
            UM_TRY(link_anon(s, have_old, &linked));
        int fd = s->fd;
        s->fd = -1;
        if (close(fd) != 0) {
            /* The last write errors may only show here (NFS): the output is
             * not trusted, whatever name it has got. */
            int e = errno;
            if (linked)
                unlink(s->path);
            errno = e;
            return sink_fail(s, UNMETA_E_IO, "closing the output failed");
        }
        if (!linked && rename(s->tmp, s->path) != 0)
            return sink_fail(s, UNMETA_E_IO, "cannot move the output into place");
        free(s->tmp);
        s->tmp = NULL;
        /* Make a replacing rename itself durable. */
        const char *slash = strrchr(s->path, '/');
        char *dir = !have_old ? NULL : slash ? um_mem_strndup(s->path, (size_t)(slash - s->path) + 1) : um_mem_strdup(".");
        if (dir) {
            int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd >= 0) {
                (void)fsync(dfd);
                close(dfd);
            }
            free(dir);
        }
    }
    s->state = 2;
    return 0;
}

int um_sink_new_stage(um_job *job, unmeta_sink **out)
{
    *out = NULL;
    uint64_t size = um_reader_size(job->in), cap = job->ctx->limits.max_spool;
    if (size > cap)
        return um_fail(job, UNMETA_E_LIMIT,
                       "the output cannot seek (a pipe or a stream) and is staged in a temporary file, which an "
                       "input of %llu bytes would make longer than the %llu-byte spool limit (UNMETA_OPT_MAX_SPOOL)",
                       (unsigned long long)size, (unsigned long long)cap);
    int fd = open_spool_file(job, 0);
    if (fd < 0)
        return fd;
    int rc = new_sink(out, SNK_FD);
    if (rc < 0) {
        close(fd);
        return um_fail(job, rc, "out of memory");
    }
    (*out)->fd = fd;
    (*out)->own_fd = 1;
    return 0;
}

int um_sink_send_stage(um_job *job, unmeta_sink *stage, unmeta_sink *dst)
{
    uint8_t *buf = NULL;
    int64_t end = 0;
    int rc = um_sink_seek(stage, 0, 2, &end); /* flushes what is gathered */
    if (rc < 0)
        return um_fail(job, rc, "%s", um_sink_error(stage));
    buf = um_malloc(job, UM_READ_BUF);
    if (!buf)
        return job->err;
    for (uint64_t off = 0; off < (uint64_t)end;) {
        size_t n = (uint64_t)end - off < UM_READ_BUF ? (size_t)((uint64_t)end - off) : UM_READ_BUF;
        ssize_t k = pread(stage->fd, buf, n, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            rc = um_fail(job, UNMETA_E_IO, "reading back the staged output failed: %s",
                         k == 0 ? "it shrank" : strerror(errno));
            break;
        }
        rc = um_sink_write(dst, buf, (size_t)k);
        if (rc < 0)
            break; /* the caller reports the sink's error */
        off += (uint64_t)k;
    }
    free(buf);
    return rc < 0 ? rc : 0;
}

void um_sink_abort(unmeta_sink *s)
{
    if (s->state == 2 || s->state == 3)
        return;
    if (s->kind == SNK_PATH && (s->tmp || s->fd >= 0)) {
        /* An unnamed file vanishes with its descriptor; a name is removed. */
        if (s->fd >= 0)
            close(s->fd);
        s->fd = -1;
        if (s->tmp)
            unlink(s->tmp);
        free(s->tmp);
        s->tmp = NULL;
    } else if (s->kind == SNK_FD && s->state == 1 && s->fd_regular) {
        /* Undo what we wrote to a regular file: no partial output. */
        if (ftruncate(s->fd, s->fd_start) == 0)
            (void)lseek(s->fd, s->fd_start, SEEK_SET);
    } else if (s->kind == SNK_MEM) {
        s->mem_len = 0;
        s->mem_pos = 0;
    }
    s->wlen = 0;
    s->state = 3;
}
