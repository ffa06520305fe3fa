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
#define UM_WRITE_BUF (64u << 10)   /* small writes are gathered up to this */
/* Runs at least this long are copied by the kernel (copy_file_range) when
 * both ends are files; shorter ones cost more to set up than they save. */
#define UM_KERNEL_COPY_MIN (8u << 20)

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
    uint8_t *spool_mem;
    uint64_t spool_size;
    FILE *spool_file;
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
    *out = calloc(1, sizeof(**out));
    if (!*out)
        return UNMETA_E_NOMEM;
    (*out)->kind = kind;
    (*out)->fd = -1;
    return 0;
}

int32_t unmeta_source_new_path(unmeta_source **out, const char *path)
{
    if (!path)
        return UNMETA_E_INVALID;
    UM_TRY(new_source(out, SRC_PATH));
    unmeta_source *s = *out;
    s->path = strdup(path);
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
    if (s->spool_file)
        fclose(s->spool_file);
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

/* Copies a non-seekable source into memory, then into a temporary file
 * once it grows past the spool limit. */
static int spool(um_job *job, unmeta_source *s)
{
    uint64_t limit = job->ctx->limits.spool_limit;
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
        if (!s->spool_file && s->spool_size + (uint64_t)r > limit) {
            s->spool_file = tmpfile();
            if (!s->spool_file)
                return um_fail(job, UNMETA_E_LIMIT,
                               "input is not seekable, larger than the %llu-byte spool limit, "
                               "and no temporary file could be made: %s",
                               (unsigned long long)limit, strerror(errno));
            if (s->spool_size && fwrite(s->spool_mem, 1, (size_t)s->spool_size, s->spool_file) != s->spool_size)
                return um_fail(job, UNMETA_E_IO, "spooling the input failed: %s", strerror(errno));
            free(s->spool_mem);
            s->spool_mem = NULL;
        }
        if (s->spool_file) {
            if (fwrite(chunk, 1, (size_t)r, s->spool_file) != (size_t)r)
                return um_fail(job, UNMETA_E_IO, "spooling the input failed: %s", strerror(errno));
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
    }
    if (s->spool_file && fflush(s->spool_file) != 0)
        return um_fail(job, UNMETA_E_IO, "spooling the input failed: %s", strerror(errno));
    s->spooled = 1;
    return 0;
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
    if (!s->spooled)
        UM_TRY(spool(job, s));
    if (s->spool_file) {
        r->kind = RD_FD;
        r->fd = fileno(s->spool_file);
        r->size = s->spool_size;
        goto buffered;
    }
    r->kind = RD_MEM;
    r->mem = s->spool_mem ? s->spool_mem : (const uint8_t *)"";
    r->size = s->spool_size;
    return 0;
buffered:
    r->buf = um_malloc(job, UM_READ_BUF);
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
    return 0;
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
    if (r->kind != RD_MEM && n >= UM_READ_BUF) {
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
        return um_fail(job, UNMETA_E_LIMIT, "%s is %llu bytes, more than the %llu-byte block limit",
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
        const uint8_t *q = memchr(p, b, avail);
        if (q) {
            *found = off + (uint64_t)(q - p);
            return 0;
        }
        off += avail;
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
    char *tmp;                   /* SNK_PATH: temporary name while writing */
    int32_t mode;                /* SNK_PATH: -1 = existing file's mode, else umask default */
    off_t fd_start;              /* SNK_FD: where our output began (to undo on abort) */
    int fd_regular;
    uint8_t *mem;                /* SNK_MEM */
    size_t mem_len, mem_cap;
    size_t mem_pos;              /* write position (after a seek) */
    unmeta_io_callbacks cb;      /* SNK_CB */
    void *user;
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
    *out = calloc(1, sizeof(**out));
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
    (*out)->path = strdup(path);
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
    if (s->kind == SNK_PATH && s->fd >= 0)
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

/* Creates the temporary file beside the target: same folder, so the final
 * rename is atomic; O_EXCL with 0666, so the umask applies as for any new
 * file. */
static int open_temp(unmeta_sink *s)
{
    const char *slash = strrchr(s->path, '/');
    size_t dirlen = slash ? (size_t)(slash - s->path) + 1 : 0;
    const char *base = slash ? slash + 1 : s->path;
    size_t n = dirlen + strlen(base) + 32;
    s->tmp = malloc(n);
    if (!s->tmp)
        return sink_fail(s, UNMETA_E_NOMEM, "out of memory");
    for (int attempt = 0; attempt < 100; attempt++) {
        uint64_t rnd = 0;
        int rfd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (rfd >= 0) {
            if (read(rfd, &rnd, sizeof(rnd)) != sizeof(rnd))
                rnd = 0;
            close(rfd);
        }
        rnd ^= (uint64_t)getpid() << 20 ^ (uint64_t)attempt;
        snprintf(s->tmp, n, "%.*s.%s.%012llx.unmeta-tmp", (int)dirlen, s->path, base,
                 (unsigned long long)(rnd & 0xffffffffffffull));
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
        s->wbuf = malloc(UM_WRITE_BUF);
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
            uint8_t *q = realloc(s->mem, cap);
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
    um_reader *r = job->in;
    uint64_t done = 0;
    if (r->kind != RD_FD || len < UM_KERNEL_COPY_MIN || s->err)
        return 0;
    if (s->kind != SNK_PATH && s->kind != SNK_FD)
        return 0;
    if (begin(s) < 0 || flush_wbuf(s) < 0)
        return s->err;
    if (s->kind == SNK_FD && !s->fd_regular)
        return 0;
    while (done < len) {
        loff_t in = (loff_t)(off + done);
        size_t chunk = len - done > (1u << 30) ? (1u << 30) : (size_t)(len - done);
        ssize_t k = copy_file_range(r->fd, &in, s->fd, NULL, chunk, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break; /* not supported here (EXDEV, ENOSYS...) or nothing more: the caller copies the rest */
        done += (uint64_t)k;
    }
    return (int64_t)done;
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
        if (close(s->fd) != 0) {
            s->fd = -1;
            return sink_fail(s, UNMETA_E_IO, "closing the output failed");
        }
        s->fd = -1;
        if (rename(s->tmp, s->path) != 0)
            return sink_fail(s, UNMETA_E_IO, "cannot move the output into place");
        free(s->tmp);
        s->tmp = NULL;
        /* Make a replacing rename itself durable. */
        const char *slash = strrchr(s->path, '/');
        char *dir = !have_old ? NULL : slash ? strndup(s->path, (size_t)(slash - s->path) + 1) : strdup(".");
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

void um_sink_abort(unmeta_sink *s)
{
    if (s->state == 2 || s->state == 3)
        return;
    if (s->kind == SNK_PATH && s->tmp) {
        if (s->fd >= 0)
            close(s->fd);
        s->fd = -1;
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
