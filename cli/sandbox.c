/*
 * sandbox.c - self-confinement of the command (see sandbox.h, SECURITY.md).
 *
 * Two layers, installed by the thread that will create every other one:
 *
 * 1. Landlock (Linux >= 5.13; Documentation/userspace-api/landlock.rst):
 *    a ruleset that handles every file-system right the running kernel
 *    knows (ABI 1..7), TCP bind/connect (ABI >= 4) and abstract UNIX
 *    sockets and signals outside the process (ABI >= 6, "scoping"), with
 *    path-beneath rules for exactly the inputs and output folders of the
 *    operation. Landlock checks at open time, so the descriptors opened
 *    before (stdin, stdout, a spooled input) keep working.
 * 2. A seccomp-bpf allowlist (libseccomp): the calls that glibc, the
 *    library, libjpeg-turbo, zlib, libsodium and FFmpeg's remuxing make
 *    once the files are known. Anything else fails with EPERM, so a parser
 *    bug that tries socket(), connect(), execve(), ptrace(), fork or
 *    io_uring gets a clear error. clone3 answers ENOSYS (glibc then uses
 *    clone, whose flags can be checked: threads only, no new processes).
 *    Only the native architecture is allowed: a 32-bit call from a 64-bit
 *    process kills it.
 *
 * 3. Network, only for a key-release service (--share-store URL,
 *    sandbox_allow_net): TCP sockets, connect to the one port the URL
 *    names (Landlock ABI >= 4; the seccomp layer alone cannot tell ports
 *    apart), send/receive and poll, and an AF_UNIX socketpair (libcurl's
 *    wake-up pair). The host is resolved before confining
 *    (cli/share_http.c), so no DNS, resolv.conf or NSS module is needed;
 *    the CA certificates are allowed for reading. Without a URL store,
 *    none of this is allowed.
 *
 * Where Landlock is missing (old kernel, a container that hides it), the
 * seccomp layer still applies: no network, no programs, no new processes,
 * but files are not confined; -v says so.
 *
 * Sanitizer builds (ASan, TSan: tests only) keep both layers but use a
 * denylist for seccomp and let /proc be read: the sanitizers' runtime
 * reads /proc/self/maps and LeakSanitizer ptraces the process's threads.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#ifdef __linux__
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <netinet/in.h>
#include <termios.h>
#endif
#ifdef UNMETA_HAVE_SECCOMP
#include <seccomp.h>
#endif

#include "sandbox.h"

#ifdef UM_HAVE_FFMPEG
/* lib/av/av.h: the CLI links the library's static archive, which has it. */
int um_av_preload(void);
#endif

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANDBOX_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define SANDBOX_SANITIZED 1
#endif
#endif

#if defined(__linux__) && defined(UNMETA_HAVE_SECCOMP)
#define SANDBOX_SUPPORTED 1
#endif

/* ---- Landlock, from <linux/landlock.h> (defined here: Debian 12's headers
 * stop at ABI 2; the values are kernel ABI and never change) ------------- */

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444 /* the same number on every architecture */
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif

struct ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net; /* ABI >= 4 */
    uint64_t scoped;             /* ABI >= 6 */
};

#if defined(__GNUC__)
struct __attribute__((packed)) ll_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
};
#endif

#define LL_CREATE_RULESET_VERSION (1u << 0)
#define LL_RULE_PATH_BENEATH 1
#define LL_RULE_NET_PORT 2

struct ll_net_port_attr {
    uint64_t allowed_access;
    uint64_t port;
};

#define LL_FS_EXECUTE (1ull << 0)
#define LL_FS_WRITE_FILE (1ull << 1)
#define LL_FS_READ_FILE (1ull << 2)
#define LL_FS_READ_DIR (1ull << 3)
#define LL_FS_REMOVE_DIR (1ull << 4)
#define LL_FS_REMOVE_FILE (1ull << 5)
#define LL_FS_MAKE_CHAR (1ull << 6)
#define LL_FS_MAKE_DIR (1ull << 7)
#define LL_FS_MAKE_REG (1ull << 8)
#define LL_FS_MAKE_SOCK (1ull << 9)
#define LL_FS_MAKE_FIFO (1ull << 10)
#define LL_FS_MAKE_BLOCK (1ull << 11)
#define LL_FS_MAKE_SYM (1ull << 12)
#define LL_FS_REFER (1ull << 13)     /* ABI 2 */
#define LL_FS_TRUNCATE (1ull << 14)  /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ull << 15) /* ABI 5 */
#define LL_NET_BIND_TCP (1ull << 0)  /* ABI 4 */
#define LL_NET_CONNECT_TCP (1ull << 1)
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ull << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ull << 1)

/* The rights a rule on a file (not a folder) may carry. */
#define LL_FILE_RIGHTS (LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)

struct sandbox {
    int enabled;
    int read_only;   /* inspect, check: no file is opened for writing */
    int ruleset;     /* Landlock ruleset, or -1 */
    int abi;         /* Landlock ABI, 0 when unavailable */
    uint64_t fs;     /* the file-system rights the ruleset handles */
    char why[160];   /* why Landlock is not used */
    int media;       /* FFmpeg preloaded */
    int net;         /* TCP to net_port allowed (a key-release service) */
    unsigned net_port;
};

#ifdef SANDBOX_SUPPORTED
static int ll_abi(void)
{
    long abi = syscall(__NR_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
    return abi < 0 ? 0 : (int)abi;
}
#endif

const char *sandbox_unavailable(void)
{
#ifdef SANDBOX_SUPPORTED
    return NULL;
#elif defined(__linux__)
    return "built without libseccomp";
#else
    return "only on Linux";
#endif
}

sandbox *sandbox_new(int enabled, int read_only)
{
    sandbox *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->ruleset = -1;
    s->read_only = read_only;
#ifdef SANDBOX_SUPPORTED
    s->enabled = enabled;
    if (!enabled)
        return s;
    /* The test suite's way to run the fallback on a kernel with Landlock. */
    const char *no_ll = getenv("UNMETA_SANDBOX_NO_LANDLOCK");
    if (no_ll && strcmp(no_ll, "1") == 0) {
        snprintf(s->why, sizeof(s->why), "Landlock turned off by UNMETA_SANDBOX_NO_LANDLOCK");
        return s;
    }
    s->abi = ll_abi();
    if (s->abi <= 0) {
        snprintf(s->why, sizeof(s->why), "Landlock is not available: %s",
                 errno == EOPNOTSUPP ? "disabled at boot" : errno == ENOSYS ? "kernel older than 5.13" : strerror(errno));
        s->abi = 0;
        return s;
    }
    struct ll_ruleset_attr attr = { 0, 0, 0 };
    size_t size = sizeof(attr.handled_access_fs);
    s->fs = LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_READ_DIR | LL_FS_REMOVE_DIR |
            LL_FS_REMOVE_FILE | LL_FS_MAKE_CHAR | LL_FS_MAKE_DIR | LL_FS_MAKE_REG | LL_FS_MAKE_SOCK |
            LL_FS_MAKE_FIFO | LL_FS_MAKE_BLOCK | LL_FS_MAKE_SYM;
    if (s->abi >= 2)
        s->fs |= LL_FS_REFER;
    if (s->abi >= 3)
        s->fs |= LL_FS_TRUNCATE;
    if (s->abi >= 5)
        s->fs |= LL_FS_IOCTL_DEV;
    attr.handled_access_fs = s->fs;
    if (s->abi >= 4) {
        attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP; /* no rule: no TCP at all */
        size = offsetof(struct ll_ruleset_attr, scoped);
    }
    if (s->abi >= 6) {
        attr.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
        size = sizeof(attr);
    }
    s->ruleset = (int)syscall(__NR_landlock_create_ruleset, &attr, size, 0);
    if (s->ruleset < 0) {
        snprintf(s->why, sizeof(s->why), "cannot create a Landlock ruleset: %s", strerror(errno));
        s->abi = 0;
    }
#else
    (void)enabled;
#endif
    return s;
}

void sandbox_free(sandbox *s)
{
    if (!s)
        return;
    if (s->ruleset >= 0)
        close(s->ruleset);
    free(s);
}

/* Allows dir_rights on path when it is a folder (for it and everything
 * below), file_rights when it is anything else. */
static void add_rule(sandbox *s, const char *path, uint64_t dir_rights, uint64_t file_rights)
{
#ifdef SANDBOX_SUPPORTED
    if (!s || !s->enabled || s->ruleset < 0)
        return;
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return; /* nothing there: nothing to allow (opening it fails later, as it would have) */
    struct stat st;
    uint64_t rights = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) ? dir_rights : file_rights & LL_FILE_RIGHTS;
    struct ll_path_beneath_attr rule = { rights & s->fs, fd };
    /* EBADFD: an anonymous pipe or socket (/dev/stdin, <(...)), which has
     * no place in the file hierarchy and which Landlock does not govern. */
    if (rule.allowed_access && syscall(__NR_landlock_add_rule, s->ruleset, LL_RULE_PATH_BENEATH, &rule, 0) != 0 &&
        errno != EBADFD)
        fprintf(stderr, "unmeta: sandbox: cannot allow %s: %s\n", path, strerror(errno));
    close(fd);
#else
    (void)s, (void)path, (void)dir_rights, (void)file_rights;
#endif
}

void sandbox_allow_read(sandbox *s, const char *path, int below)
{
    /* A folder named as a file is opened, and says EISDIR; its files stay closed. */
    add_rule(s, path, below ? LL_FS_READ_FILE : LL_FS_READ_DIR, LL_FS_READ_FILE);
}

void sandbox_allow_write(sandbox *s, const char *dir, unsigned flags)
{
    /* The temporary file beside the output is created (MAKE_REG), written
     * (WRITE_FILE), renamed over the output or removed (REMOVE_FILE). */
    uint64_t r = LL_FS_WRITE_FILE | LL_FS_MAKE_REG | LL_FS_REMOVE_FILE;
    if (flags & SANDBOX_REPLACE)
        r |= LL_FS_READ_DIR; /* opened to fsync the rename */
    if (flags & SANDBOX_MKDIR)
        r |= LL_FS_MAKE_DIR;
    add_rule(s, dir, r, 0);
}

void sandbox_allow_write_beside(sandbox *s, const char *file, unsigned flags)
{
    const char *slash = strrchr(file, '/');
    if (!slash) {
        sandbox_allow_write(s, ".", flags);
        return;
    }
    size_t n = slash == file ? 1 : (size_t)(slash - file);
    char *dir = strndup(file, n);
    if (dir)
        sandbox_allow_write(s, dir, flags);
    free(dir);
}

void sandbox_allow_net(sandbox *s, unsigned port)
{
    if (!s || !s->enabled)
        return;
    s->net = 1;
    s->net_port = port;
#ifdef SANDBOX_SUPPORTED
    if (s->ruleset >= 0 && s->abi >= 4) {
        struct ll_net_port_attr rule = { LL_NET_CONNECT_TCP, port };
        if (syscall(__NR_landlock_add_rule, s->ruleset, LL_RULE_NET_PORT, &rule, 0) != 0)
            fprintf(stderr, "unmeta: sandbox: cannot allow TCP port %u: %s\n", port, strerror(errno));
    }
#endif
}

void sandbox_need_media(sandbox *s)
{
    if (!s || !s->enabled || s->media)
        return;
    s->media = 1;
#ifdef UM_HAVE_FFMPEG
    (void)um_av_preload(); /* a failure is reported by the first media file */
#endif
}

/* ---- seccomp --------------------------------------------------------- */

#ifdef SANDBOX_SUPPORTED
/* What a confined unmeta calls. Names that the architecture lacks (open,
 * stat... on aarch64) are skipped. */
static const char *const allowed[] = {
    /* descriptors already open, and files Landlock lets it open */
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2",
    "lseek", "_llseek", "close", "fstat", "fstat64", "newfstatat", "fstatat64", "stat", "stat64", "lstat",
    "lstat64", "statx", "fcntl", "fcntl64", "dup", "dup3", "fsync", "fdatasync", "ftruncate", "ftruncate64",
    "fchmod", "fchown", "fadvise64", "fadvise64_64", "copy_file_range", "getdents64",
    /* paths: realpath, the temporary file's link or rename, -d's folders */
    "readlink", "readlinkat", "getcwd", "access", "faccessat", "faccessat2", "rename", "renameat", "renameat2",
    "link", "linkat", /* an unnamed (O_TMPFILE) output given its name */
    "unlink", "unlinkat", "mkdir", "mkdirat",
    /* memory */
    "brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "madvise", "mlock", "munlock",
    /* threads (-j, FFmpeg) */
    "futex", "futex_time64", "set_robust_list", "get_robust_list", "rseq", "set_tid_address", "gettid",
    "getpid", "sched_yield", "sched_getaffinity", "sched_getparam", "sched_getscheduler",
    /* signals, time */
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "restart_syscall", "clock_gettime",
    "clock_gettime64", "clock_getres", "gettimeofday", "time", "nanosleep", "clock_nanosleep",
    "clock_nanosleep_time64",
    /* odds and ends of glibc and libsodium */
    "getrandom", "prlimit64", "getrlimit", "uname", "sysinfo", "getuid", "geteuid", "getgid", "getegid",
    "exit", "exit_group",
};

static int allow(scmp_filter_ctx f, const char *name, unsigned n, const struct scmp_arg_cmp *args)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR)
        return 0;
    return seccomp_rule_add_array(f, SCMP_ACT_ALLOW, nr, n, args);
}

static int deny(scmp_filter_ctx f, const char *name, int err)
{
    int nr = seccomp_syscall_resolve_name(name);
    return nr == __NR_SCMP_ERROR ? 0 : seccomp_rule_add(f, SCMP_ACT_ERRNO((unsigned)err), nr, 0);
}

static int load_seccomp(const sandbox *s, char *why, size_t n)
{
    int rc = -ENOMEM;
#ifdef SANDBOX_SANITIZED
    /* The sanitizers' runtime makes calls no allowlist foresees; deny
     * what matters most instead. */
    scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);
    static const char *const denied[] = { "socket", "socketpair", "connect", "bind", "listen", "accept",
                                          "accept4", "execve", "execveat", "process_vm_readv",
                                          "process_vm_writev", "io_uring_setup", "bpf", "userfaultfd",
                                          "perf_event_open", "kexec_load", "init_module", "mount", "unshare",
                                          "setns", "keyctl", "add_key" };
    if (!f)
        goto done;
    for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
        /* a key-release service: sockets and connect stay open (Landlock
         * still limits connect to its port) */
        if (s->net && (strcmp(denied[i], "socket") == 0 || strcmp(denied[i], "socketpair") == 0 ||
                       strcmp(denied[i], "connect") == 0))
            continue;
        if ((rc = deny(f, denied[i], EPERM)) < 0)
            goto done;
    }
    /* inspect and check open no file for writing, as below. */
    static const unsigned long write_flags[] = { O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND };
    for (size_t i = 0; s->read_only && i < sizeof(write_flags) / sizeof(write_flags[0]); i++) {
        int open_nr = seccomp_syscall_resolve_name("open"), openat_nr = seccomp_syscall_resolve_name("openat");
        if (open_nr != __NR_SCMP_ERROR &&
            (rc = seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), open_nr, 1,
                                   SCMP_A1(SCMP_CMP_MASKED_EQ, write_flags[i], write_flags[i]))) < 0)
            goto done;
        if ((rc = seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), openat_nr, 1,
                                   SCMP_A2(SCMP_CMP_MASKED_EQ, write_flags[i], write_flags[i]))) < 0)
            goto done;
    }
    (void)allowed;
    (void)allow;
#else
    scmp_filter_ctx f = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    if (!f)
        goto done;
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
        if ((rc = allow(f, allowed[i], 0, NULL)) < 0)
            goto done;
    /* Opening: Landlock decides which paths; inspect and check open no
     * file for writing at all (in case Landlock is missing). */
    if (s->read_only) {
        struct scmp_arg_cmp ro[] = { SCMP_A1(SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND, 0) };
        struct scmp_arg_cmp ro_at[] = { SCMP_A2(SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND, 0) };
        if ((rc = allow(f, "open", 1, ro)) < 0 || (rc = allow(f, "openat", 1, ro_at)) < 0)
            goto done;
    } else if ((rc = allow(f, "open", 0, NULL)) < 0 || (rc = allow(f, "openat", 0, NULL)) < 0) {
        goto done;
    }
    /* isatty() and the progress line's width; nothing else (no TIOCSTI). */
    struct scmp_arg_cmp tcgets[] = { SCMP_A1(SCMP_CMP_EQ, TCGETS, 0) };
    struct scmp_arg_cmp winsz[] = { SCMP_A1(SCMP_CMP_EQ, TIOCGWINSZ, 0) };
    if ((rc = allow(f, "ioctl", 1, tcgets)) < 0 || (rc = allow(f, "ioctl", 1, winsz)) < 0)
        goto done;
    /* Thread names (FFmpeg), glibc's names for its mappings. */
    static const long prctl_ok[] = { PR_SET_NAME, PR_GET_NAME, 0x53564d41 /* PR_SET_VMA */ };
    for (size_t i = 0; i < sizeof(prctl_ok) / sizeof(prctl_ok[0]); i++) {
        struct scmp_arg_cmp a[] = { SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)prctl_ok[i], 0) };
        if ((rc = allow(f, "prctl", 1, a)) < 0)
            goto done;
    }
    /* abort() and raise() signal this process only. */
    struct scmp_arg_cmp self[] = { SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid(), 0) };
    if ((rc = allow(f, "tgkill", 1, self)) < 0)
        goto done;
    /* Threads, never processes: clone with CLONE_THREAD only; clone3's
     * flags are out of a filter's reach, so it says ENOSYS and glibc falls
     * back to clone. */
    struct scmp_arg_cmp thread[] = { SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD) };
    if ((rc = allow(f, "clone", 1, thread)) < 0 || (rc = deny(f, "clone3", ENOSYS)) < 0)
        goto done;
    if (s->net) {
        /* A key-release service over TCP (sandbox_allow_net): IPv4/IPv6
         * stream sockets, the local socketpair libcurl wakes itself with;
         * no bind, listen or accept, no datagram or raw socket. */
        static const char *const net_calls[] = { "connect", "poll", "ppoll", "sendto", "recvfrom", "sendmsg",
                                                 "recvmsg", "getsockopt", "setsockopt", "getsockname",
                                                 "getpeername", "shutdown", "pipe2", "eventfd2" };
        for (size_t i = 0; i < sizeof(net_calls) / sizeof(net_calls[0]); i++)
            if ((rc = allow(f, net_calls[i], 0, NULL)) < 0)
                goto done;
        static const int families[] = { AF_INET, AF_INET6 };
        for (size_t i = 0; i < 2; i++) {
            struct scmp_arg_cmp sock[] = { SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)families[i], 0),
                                           SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_STREAM) };
            if ((rc = allow(f, "socket", 2, sock)) < 0)
                goto done;
        }
        struct scmp_arg_cmp pair[] = { SCMP_A0(SCMP_CMP_EQ, AF_UNIX, 0) };
        if ((rc = allow(f, "socketpair", 1, pair)) < 0)
            goto done;
        /* FIONBIO/FIONREAD on its sockets */
        struct scmp_arg_cmp fionbio[] = { SCMP_A1(SCMP_CMP_EQ, FIONBIO, 0) };
        struct scmp_arg_cmp fionread[] = { SCMP_A1(SCMP_CMP_EQ, FIONREAD, 0) };
        if ((rc = allow(f, "ioctl", 1, fionbio)) < 0 || (rc = allow(f, "ioctl", 1, fionread)) < 0)
            goto done;
    }
#endif
    /* Every thread of the process, including any a library already started. */
    if ((rc = seccomp_attr_set(f, SCMP_FLTATR_CTL_TSYNC, 1)) < 0)
        goto done;
    rc = seccomp_load(f);
done:
    if (rc < 0)
        snprintf(why, n, "cannot install the seccomp filter: %s", strerror(-rc));
    seccomp_release(f);
    return rc < 0 ? -1 : 0;
}
#endif

/* ---- the self-test hook ------------------------------------------------ */

static const char *errno_name(int e, char *buf, size_t n)
{
    switch (e) {
    case 0: return "ok";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENOENT: return "ENOENT";
    case ENOSYS: return "ENOSYS";
    case EEXIST: return "EEXIST";
    default: snprintf(buf, n, "errno %d", e); return buf;
    }
}

/* Harmless probes of what a parser bug could do: read a file nobody named,
 * create one, open a socket, run a program (one that does not exist). */
static void selftest(void)
{
    const char *env = getenv("UNMETA_SANDBOX_SELFTEST");
    char b[4][32], tmp[64];
    int e[4];
    if (!env || strcmp(env, "1") != 0)
        return;
    int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
    e[0] = fd < 0 ? errno : 0;
    if (fd >= 0)
        close(fd);
    snprintf(tmp, sizeof(tmp), "/tmp/.unmeta-sandbox-selftest-%ld", (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    e[1] = fd < 0 ? errno : 0;
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
#ifdef __linux__
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    e[2] = fd < 0 ? errno : 0;
    if (fd >= 0)
        close(fd);
    char *const argv[] = { (char *)"unmeta-sandbox-selftest", NULL };
    char *const envp[] = { NULL };
    execve("/nonexistent/unmeta-sandbox-selftest", argv, envp); /* returns: the path does not exist */
    e[3] = errno;
#else
    e[2] = e[3] = ENOSYS;
#endif
    fprintf(stderr, "unmeta: sandbox selftest: read /etc/passwd: %s; create in /tmp: %s; socket: %s; exec: %s\n",
            errno_name(e[0], b[0], sizeof(b[0])), errno_name(e[1], b[1], sizeof(b[1])),
            errno_name(e[2], b[2], sizeof(b[2])), errno_name(e[3], b[3], sizeof(b[3])));
}

int sandbox_enter(sandbox *s, int verbose)
{
    if (!s || !s->enabled) {
        if (verbose)
            fprintf(stderr, "unmeta: sandbox: off (%s)\n",
                    sandbox_unavailable() ? sandbox_unavailable() : "--no-sandbox");
        selftest();
        return 0;
    }
#ifdef SANDBOX_SUPPORTED
    char why[200];
    /* Both layers need it; it also makes set-user-ID programs powerless. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        fprintf(stderr, "unmeta: cannot confine the process (no_new_privs: %s); --no-sandbox runs without\n",
                strerror(errno));
        return -1;
    }
    if (s->ruleset >= 0) {
#ifdef SANDBOX_SANITIZED
        add_rule(s, "/proc", LL_FS_READ_FILE | LL_FS_READ_DIR, 0);
#endif
        /* Random names for temporary files (lib/io.c). */
        add_rule(s, "/dev/urandom", 0, LL_FS_READ_FILE);
        if (syscall(__NR_landlock_restrict_self, s->ruleset, 0) != 0) {
            snprintf(s->why, sizeof(s->why), "Landlock refused: %s", strerror(errno));
            s->abi = 0;
        }
        close(s->ruleset);
        s->ruleset = -1;
    }
    if (load_seccomp(s, why, sizeof(why)) < 0) {
        fprintf(stderr, "unmeta: %s; --no-sandbox runs without confinement\n", why);
        return -1;
    }
    if (verbose && s->net)
        fprintf(stderr, "unmeta: sandbox: network allowed for the key-release service: TCP to port %u%s\n",
                s->net_port, s->abi >= 4 ? " only (Landlock)" : " (any host and port: Landlock has no network rules here)");
    if (verbose) {
        if (s->abi)
            fprintf(stderr, "unmeta: sandbox: Landlock (ABI %d) and seccomp: only the files named and the output "
                            "folders can be opened; no network, no programs\n", s->abi);
        else
            fprintf(stderr, "unmeta: sandbox: seccomp only (%s): no network, no programs, but files are not "
                            "confined\n", s->why);
    }
    selftest();
    return 0;
#else
    selftest();
    return 0;
#endif
}
