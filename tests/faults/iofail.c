/*
 * iofail.c - an LD_PRELOAD shim that makes the file system misbehave, for
 * the I/O fault suite (tests/iofault_test.py) and the kill -9 loop.
 *
 * It interposes the calls lib/io.c and the CLI make on the files they work
 * on, counts them by kind, and on request fails the k-th call of a kind the
 * way a full or broken disk does, or makes reads and writes short (both are
 * legal and must be handled, not treated as errors).
 *
 * Kinds (each counts the calls of its functions together):
 *   create  open/openat with O_CREAT or O_TMPFILE
 *   read    read, pread, readv             (regular files, fd > 2)
 *   write   write, pwrite, writev          (regular files, fd > 2)
 *   copy    copy_file_range                (to a regular file)
 *   fsync   fsync, fdatasync               (regular files)
 *   fchmod  fchmod                         (regular files)
 *   close   close                          (regular files, fd > 2; the fd is closed anyway, as on NFS)
 *   link    link, linkat
 *   rename  rename, renameat, renameat2
 * Only regular files past the standard streams are touched, so the test
 * harness's pipes and terminals, /dev/urandom and folders are left alone.
 *
 * Environment:
 *   UNMETA_FAULT=KIND:K[:ERRNO][,...]   the K-th call (from 1) of KIND fails
 *       with ERRNO (ENOSPC, EIO, EDQUOT, EFBIG, EINTR, EPERM, ENOMEM;
 *       default ENOSPC for create/write/copy/link, EIO otherwise);
 *       K+ makes that call and every later one of its kind fail (a disk
 *       that stays full).
 *   UNMETA_FAULT_COUNT=FILE   at exit, append "KIND N" lines: how many calls
 *       of each kind the process made (count the points, then sweep them).
 *   UNMETA_FAULT_LOG=FILE     append one line per injected fault.
 *   UNMETA_FAULT_NO_TMPFILE=1 open(O_TMPFILE) fails with EOPNOTSUPP, as on
 *       NFS: the named temporary file fallback runs (not counted).
 *   UNMETA_FAULT_SHORT_READ=N / UNMETA_FAULT_SHORT_WRITE=N   reads and
 *       writes move at most N bytes per call (regular files and pipes; the
 *       standard input and output included).
 *
 * Test-only: built by meson, never installed.
 */
#define _GNU_SOURCE
/* The shim defines both pread and pread64, open and open64: the 64-bit
 * redirections of the project-wide _FILE_OFFSET_BITS=64 would merge them. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum { K_CREATE, K_READ, K_WRITE, K_COPY, K_FSYNC, K_FCHMOD, K_CLOSE, K_LINK, K_RENAME, K_COUNT };
static const char *const kind_name[K_COUNT] = { "create", "read", "write", "copy", "fsync",
                                                "fchmod", "close", "link", "rename" };

#define MAX_RULES 16
typedef struct rule {
    int kind;
    unsigned long k;
    int sticky;   /* K+: every later call fails too */
    int err;
} rule;

static rule rules[MAX_RULES];
static int nrules;
static unsigned long counts[K_COUNT];
static size_t short_read, short_write;
static int no_tmpfile;
static const char *count_file, *log_file;
/* Opened once, early: a confined unmeta (cli/sandbox.c) may not open them
 * later. */
static int count_fd = -1, log_fd = -1;
static void open_reports(void) __attribute__((constructor));
static int ready;

static int err_by_name(const char *s)
{
    static const struct { const char *n; int e; } t[] = {
        { "ENOSPC", ENOSPC }, { "EIO", EIO }, { "EDQUOT", EDQUOT }, { "EFBIG", EFBIG },
        { "EINTR", EINTR }, { "EPERM", EPERM }, { "ENOMEM", ENOMEM }, { "EACCES", EACCES },
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (strcmp(s, t[i].n) == 0)
            return t[i].e;
    return 0;
}

static void bad_spec(const char *spec)
{
    static const char msg[] = "iofail: cannot parse UNMETA_FAULT\n";
    (void)spec;
    (void)!write(2, msg, sizeof(msg) - 1);
    _exit(99);
}

/* Parses the environment once (the first interposed call may come before
 * any constructor ran, from another library's constructor). */
static void setup(void)
{
    if (__atomic_load_n(&ready, __ATOMIC_ACQUIRE))
        return;
    const char *spec = getenv("UNMETA_FAULT");
    if (spec && *spec) {
        char buf[512];
        snprintf(buf, sizeof(buf), "%s", spec);
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            char *k = strchr(tok, ':');
            if (!k || nrules == MAX_RULES)
                bad_spec(spec);
            *k++ = '\0';
            rule r = { -1, 0, 0, 0 };
            for (int i = 0; i < K_COUNT; i++)
                if (strcmp(tok, kind_name[i]) == 0)
                    r.kind = i;
            char *end;
            r.k = strtoul(k, &end, 10);
            if (*end == '+') {
                r.sticky = 1;
                end++;
            }
            if (*end == ':') {
                r.err = err_by_name(end + 1);
                if (!r.err)
                    bad_spec(spec);
            } else if (*end) {
                bad_spec(spec);
            }
            if (r.kind < 0 || r.k == 0)
                bad_spec(spec);
            if (!r.err)
                r.err = r.kind == K_CREATE || r.kind == K_WRITE || r.kind == K_COPY || r.kind == K_LINK ? ENOSPC : EIO;
            rules[nrules++] = r;
        }
    }
    const char *s = getenv("UNMETA_FAULT_SHORT_READ");
    short_read = s ? strtoul(s, NULL, 10) : 0;
    s = getenv("UNMETA_FAULT_SHORT_WRITE");
    short_write = s ? strtoul(s, NULL, 10) : 0;
    s = getenv("UNMETA_FAULT_NO_TMPFILE");
    no_tmpfile = s && *s == '1';
    count_file = getenv("UNMETA_FAULT_COUNT");
    log_file = getenv("UNMETA_FAULT_LOG");
    __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
}

#define REAL(ret, name, args)                                   \
    static ret(*real_##name) args;                              \
    static ret(*get_##name(void)) args                          \
    {                                                           \
        if (!real_##name)                                       \
            *(void **)&real_##name = dlsym(RTLD_NEXT, #name);   \
        return real_##name;                                     \
    }

REAL(int, open, (const char *, int, ...))
REAL(int, open64, (const char *, int, ...))
REAL(int, openat, (int, const char *, int, ...))
REAL(int, openat64, (int, const char *, int, ...))
REAL(ssize_t, read, (int, void *, size_t))
REAL(ssize_t, pread, (int, void *, size_t, off_t))
REAL(ssize_t, pread64, (int, void *, size_t, off64_t))
REAL(ssize_t, readv, (int, const struct iovec *, int))
REAL(ssize_t, write, (int, const void *, size_t))
REAL(ssize_t, pwrite, (int, const void *, size_t, off_t))
REAL(ssize_t, pwrite64, (int, const void *, size_t, off64_t))
REAL(ssize_t, writev, (int, const struct iovec *, int))
REAL(ssize_t, copy_file_range, (int, loff_t *, int, loff_t *, size_t, unsigned int))
REAL(int, fsync, (int))
REAL(int, fdatasync, (int))
REAL(int, fchmod, (int, mode_t))
REAL(int, close, (int))
REAL(int, link, (const char *, const char *))
REAL(int, linkat, (int, const char *, int, const char *, int))
REAL(int, rename, (const char *, const char *))
REAL(int, renameat, (int, const char *, int, const char *))
REAL(int, renameat2, (int, const char *, int, const char *, unsigned int))

static void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_line(const char *fmt, ...)
{
    if (!log_file)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    if ((size_t)n >= sizeof(line))
        n = sizeof(line) - 1;
    if (log_fd >= 0)
        (void)!get_write()(log_fd, line, (size_t)n);
}

/* Counts one call of kind; returns the errno to fail it with, or 0. */
static int tick(int kind, const char *what)
{
    setup();
    unsigned long n = __atomic_add_fetch(&counts[kind], 1, __ATOMIC_RELAXED);
    for (int i = 0; i < nrules; i++) {
        const rule *r = &rules[i];
        if (r->kind == kind && (n == r->k || (r->sticky && n > r->k))) {
            log_line("%s %lu %s %s\n", kind_name[kind], n, strerror(r->err), what ? what : "");
            return r->err;
        }
    }
    return 0;
}

/* The files the shim works on: regular files past the standard streams. */
static int target_fd(int fd)
{
    struct stat st;
    return fd > 2 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

/* Where short transfers apply: regular files and pipes, stdin/stdout included. */
static int short_fd(int fd)
{
    struct stat st;
    return fd >= 0 && fd != 2 && fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode));
}

static void open_reports(void)
{
    setup();
    if (count_file && count_fd < 0)
        count_fd = get_open()(count_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_file && log_fd < 0)
        log_fd = get_open()(log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

static void put_counts(void) __attribute__((destructor));
static void put_counts(void)
{
    setup();
    if (!count_file)
        return;
    char buf[512];
    size_t o = 0;
    for (int i = 0; i < K_COUNT; i++)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s %lu\n", kind_name[i],
                              __atomic_load_n(&counts[i], __ATOMIC_RELAXED));
    if (count_fd >= 0)
        (void)!get_write()(count_fd, buf, o);
}

#define FAIL(e) do { errno = (e); return -1; } while (0)

/* ---- opening ------------------------------------------------------------ */

static int creating(int flags)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

static mode_t mode_arg(int flags, va_list ap)
{
    return creating(flags) ? (mode_t)va_arg(ap, int) : 0;
}

/* UNMETA_FAULT_NO_TMPFILE: a file system without unnamed files. */
static int refuse_tmpfile(int flags)
{
    setup();
    return no_tmpfile && (flags & O_TMPFILE) == O_TMPFILE;
}

int open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    if (refuse_tmpfile(flags))
        FAIL(EOPNOTSUPP);
    int e = creating(flags) ? tick(K_CREATE, path) : 0;
    if (e)
        FAIL(e);
    return get_open()(path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    if (refuse_tmpfile(flags))
        FAIL(EOPNOTSUPP);
    int e = creating(flags) ? tick(K_CREATE, path) : 0;
    if (e)
        FAIL(e);
    return get_open64()(path, flags, mode);
}

int openat(int dfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    if (refuse_tmpfile(flags))
        FAIL(EOPNOTSUPP);
    int e = creating(flags) ? tick(K_CREATE, path) : 0;
    if (e)
        FAIL(e);
    return get_openat()(dfd, path, flags, mode);
}

int openat64(int dfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    if (refuse_tmpfile(flags))
        FAIL(EOPNOTSUPP);
    int e = creating(flags) ? tick(K_CREATE, path) : 0;
    if (e)
        FAIL(e);
    return get_openat64()(dfd, path, flags, mode);
}

/* ---- reading ------------------------------------------------------------ */

static size_t read_len(int fd, size_t n)
{
    setup();
    return short_read && n > short_read && short_fd(fd) ? short_read : n;
}

ssize_t read(int fd, void *buf, size_t n)
{
    int e = target_fd(fd) ? tick(K_READ, "read") : 0;
    if (e)
        FAIL(e);
    return get_read()(fd, buf, read_len(fd, n));
}

ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
    int e = target_fd(fd) ? tick(K_READ, "pread") : 0;
    if (e)
        FAIL(e);
    return get_pread()(fd, buf, read_len(fd, n), off);
}

ssize_t pread64(int fd, void *buf, size_t n, off64_t off)
{
    int e = target_fd(fd) ? tick(K_READ, "pread") : 0;
    if (e)
        FAIL(e);
    return get_pread64()(fd, buf, read_len(fd, n), off);
}

ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
    int e = target_fd(fd) ? tick(K_READ, "readv") : 0;
    if (e)
        FAIL(e);
    if (cnt > 0 && read_len(fd, iov[0].iov_len + 1) != iov[0].iov_len + 1)
        return get_read()(fd, iov[0].iov_base, read_len(fd, iov[0].iov_len));
    return get_readv()(fd, iov, cnt);
}

/* ---- writing ------------------------------------------------------------ */

static size_t write_len(int fd, size_t n)
{
    setup();
    return short_write && n > short_write && short_fd(fd) ? short_write : n;
}

ssize_t write(int fd, const void *buf, size_t n)
{
    int e = target_fd(fd) ? tick(K_WRITE, "write") : 0;
    if (e)
        FAIL(e);
    return get_write()(fd, buf, write_len(fd, n));
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    int e = target_fd(fd) ? tick(K_WRITE, "pwrite") : 0;
    if (e)
        FAIL(e);
    return get_pwrite()(fd, buf, write_len(fd, n), off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
    int e = target_fd(fd) ? tick(K_WRITE, "pwrite") : 0;
    if (e)
        FAIL(e);
    return get_pwrite64()(fd, buf, write_len(fd, n), off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    int e = target_fd(fd) ? tick(K_WRITE, "writev") : 0;
    if (e)
        FAIL(e);
    if (cnt > 0 && write_len(fd, iov[0].iov_len + 1) != iov[0].iov_len + 1)
        return get_write()(fd, iov[0].iov_base, write_len(fd, iov[0].iov_len));
    return get_writev()(fd, iov, cnt);
}

ssize_t copy_file_range(int in, loff_t *in_off, int out, loff_t *out_off, size_t n, unsigned int flags)
{
    int e = target_fd(out) ? tick(K_COPY, "copy_file_range") : 0;
    if (e)
        FAIL(e);
    return get_copy_file_range()(in, in_off, out, out_off, n, flags);
}

int fsync(int fd)
{
    int e = target_fd(fd) ? tick(K_FSYNC, "fsync") : 0;
    if (e)
        FAIL(e);
    return get_fsync()(fd);
}

int fdatasync(int fd)
{
    int e = target_fd(fd) ? tick(K_FSYNC, "fdatasync") : 0;
    if (e)
        FAIL(e);
    return get_fdatasync()(fd);
}

int fchmod(int fd, mode_t mode)
{
    int e = target_fd(fd) ? tick(K_FCHMOD, "fchmod") : 0;
    if (e)
        FAIL(e);
    return get_fchmod()(fd, mode);
}

int close(int fd)
{
    int e = target_fd(fd) ? tick(K_CLOSE, "close") : 0;
    int rc = get_close()(fd);
    if (e)
        FAIL(e); /* closed anyway: Linux never keeps a descriptor whose close failed */
    return rc;
}

/* ---- names -------------------------------------------------------------- */

int link(const char *a, const char *b)
{
    int e = tick(K_LINK, b);
    if (e)
        FAIL(e);
    return get_link()(a, b);
}

int linkat(int da, const char *a, int db, const char *b, int flags)
{
    int e = tick(K_LINK, b);
    if (e)
        FAIL(e);
    return get_linkat()(da, a, db, b, flags);
}

int rename(const char *a, const char *b)
{
    int e = tick(K_RENAME, b);
    if (e)
        FAIL(e);
    return get_rename()(a, b);
}

int renameat(int da, const char *a, int db, const char *b)
{
    int e = tick(K_RENAME, b);
    if (e)
        FAIL(e);
    return get_renameat()(da, a, db, b);
}

int renameat2(int da, const char *a, int db, const char *b, unsigned int flags)
{
    int e = tick(K_RENAME, b);
    if (e)
        FAIL(e);
    return get_renameat2()(da, a, db, b, flags);
}
