/*
 * confine.c - the sandbox of unmeta-keyd: the approach of the command's
 * (cli/sandbox.c, SECURITY.md), with what a network service needs.
 *
 * 1. Landlock (Linux >= 5.13): every file-system right the kernel knows is
 *    handled; the only rule is the SQLite file's folder (the database, its
 *    -wal and -shm files), and with Redis the files name resolution reads
 *    when Redis is named by a host name. With ABI >= 4, TCP bind is
 *    refused (the listening socket exists already) and TCP connect allowed
 *    to Redis's port alone; with ABI >= 6, abstract UNIX sockets and
 *    signals outside the process are scoped.
 * 2. seccomp (libseccomp): an allowlist of what libmicrohttpd's epoll
 *    loop, hiredis and SQLite call; socket() only for AF_INET/AF_INET6
 *    streams (reconnecting to Redis); no exec, no fork, no threads.
 *    Sanitizer builds use a denylist instead (their runtime makes calls no
 *    allowlist foresees).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#ifdef UNMETA_HAVE_SECCOMP
#include <seccomp.h>
#endif

#include "confine.h"
#include "keyd.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define KEYD_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define KEYD_SANITIZED 1
#endif
#endif

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif

struct ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};
struct __attribute__((packed)) ll_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
};
struct ll_net_port_attr {
    uint64_t allowed_access;
    uint64_t port;
};

#define LL_RULE_PATH_BENEATH 1
#define LL_RULE_NET_PORT 2
#define LL_FS_ALL_ABI1 ((1ull << 13) - 1)
#define LL_FS_WRITE_FILE (1ull << 1)
#define LL_FS_READ_FILE (1ull << 2)
#define LL_FS_READ_DIR (1ull << 3)
#define LL_FS_REMOVE_FILE (1ull << 5)
#define LL_FS_MAKE_REG (1ull << 8)
#define LL_FS_REFER (1ull << 13)
#define LL_FS_TRUNCATE (1ull << 14)
#define LL_FS_IOCTL_DEV (1ull << 15)
#define LL_NET_BIND_TCP (1ull << 0)
#define LL_NET_CONNECT_TCP (1ull << 1)
#define LL_SCOPE_ALL 3ull

static void ll_path(int ruleset, const char *path, uint64_t rights, uint64_t handled)
{
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return;
    struct ll_path_beneath_attr r = { rights & handled, fd };
    if (syscall(__NR_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &r, 0) != 0)
        fprintf(stderr, "unmeta-keyd: sandbox: cannot allow %s: %s\n", path, strerror(errno));
    close(fd);
}

/* 0 when confined by Landlock, else -1 with why (the process goes on with
 * seccomp alone). */
static int landlock(const char *redis_url, const char *sqlite_path, int *abi_out, char *why, size_t n)
{
    const char *no_ll = getenv("UNMETA_SANDBOX_NO_LANDLOCK");
    if (no_ll && strcmp(no_ll, "1") == 0) {
        snprintf(why, n, "Landlock turned off by UNMETA_SANDBOX_NO_LANDLOCK");
        return -1;
    }
    long abi = syscall(__NR_landlock_create_ruleset, NULL, 0, 1u);
    if (abi <= 0) {
        snprintf(why, n, "Landlock is not available: %s", strerror(errno));
        return -1;
    }
    struct ll_ruleset_attr attr = { LL_FS_ALL_ABI1, 0, 0 };
    size_t size = sizeof(attr.handled_access_fs);
    if (abi >= 2)
        attr.handled_access_fs |= LL_FS_REFER;
    if (abi >= 3)
        attr.handled_access_fs |= LL_FS_TRUNCATE;
    if (abi >= 5)
        attr.handled_access_fs |= LL_FS_IOCTL_DEV;
    if (abi >= 4) {
        attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
        size = offsetof(struct ll_ruleset_attr, scoped);
    }
    if (abi >= 6) {
        attr.scoped = LL_SCOPE_ALL;
        size = sizeof(attr);
    }
    int rs = (int)syscall(__NR_landlock_create_ruleset, &attr, size, 0);
    if (rs < 0) {
        snprintf(why, n, "cannot create a Landlock ruleset: %s", strerror(errno));
        return -1;
    }
    uint64_t fs = attr.handled_access_fs;
#ifdef KEYD_SANITIZED
    /* the sanitizers' runtime reads /proc/self/maps and LeakSanitizer
     * /proc/<pid>/task at exit */
    ll_path(rs, "/proc", LL_FS_READ_FILE | LL_FS_READ_DIR, fs);
#endif
    if (sqlite_path) {
        /* the database, its journal files beside it */
        char *dir = strdup(sqlite_path);
        char *slash = dir ? strrchr(dir, '/') : NULL;
        const char *d = !dir ? "." : !slash ? "." : slash == dir ? "/" : (*slash = '\0', dir);
        ll_path(rs, d, LL_FS_READ_FILE | LL_FS_WRITE_FILE | LL_FS_READ_DIR | LL_FS_MAKE_REG | LL_FS_REMOVE_FILE |
                           LL_FS_TRUNCATE, fs);
        free(dir);
    }
    if (redis_url) {
        char host[256];
        int port, db;
        struct in6_addr a6;
        if (keyd_redis_parse_url(redis_url, host, sizeof(host), &port, &db) == 0) {
            if (abi >= 4) {
                struct ll_net_port_attr np = { LL_NET_CONNECT_TCP, (uint64_t)port };
                if (syscall(__NR_landlock_add_rule, rs, LL_RULE_NET_PORT, &np, 0) != 0)
                    fprintf(stderr, "unmeta-keyd: sandbox: cannot allow port %d: %s\n", port, strerror(errno));
            }
            if (inet_pton(AF_INET, host, &a6) != 1 && inet_pton(AF_INET6, host, &a6) != 1) {
                /* a host name: what getaddrinfo() reads to resolve it again */
                static const char *const files[] = { "/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf",
                                                     "/etc/gai.conf", "/etc/host.conf" };
                for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
                    ll_path(rs, files[i], LL_FS_READ_FILE, fs);
            }
        }
    }
    if (syscall(__NR_landlock_restrict_self, rs, 0) != 0) {
        snprintf(why, n, "Landlock refused: %s", strerror(errno));
        close(rs);
        return -1;
    }
    close(rs);
    *abi_out = (int)abi;
    return 0;
}

#ifdef UNMETA_HAVE_SECCOMP
static const char *const allowed[] = {
    /* descriptors: sockets, the database */
    "read", "write", "readv", "writev", "pread64", "pwrite64", "close", "fstat", "newfstatat", "stat", "lstat",
    "statx", "lseek", "fcntl", "fsync", "fdatasync", "ftruncate", "openat", "open", "unlink", "unlinkat", "access",
    "faccessat", "faccessat2", "getcwd", "readlink", "readlinkat", "fchown", "fchmod",
    /* the event loop and sockets */
    "epoll_wait", "epoll_pwait", "epoll_pwait2", "epoll_ctl", "poll", "ppoll", "select", "pselect6",
    "accept", "accept4", "recvfrom", "recvmsg", "sendto", "sendmsg", "shutdown", "setsockopt", "getsockopt",
    "getsockname", "getpeername", "connect",
    /* memory */
    "brk", "mmap", "munmap", "mremap", "mprotect", "madvise",
    /* time, signals, odds and ends */
    "clock_gettime", "gettimeofday", "time", "nanosleep", "clock_nanosleep", "rt_sigaction", "rt_sigprocmask",
    "rt_sigreturn", "restart_syscall", "getrandom", "getpid", "gettid", "futex", "sched_yield", "uname", "getuid", "geteuid", "getgid", "getegid",
    "getrlimit", "prlimit64", "sysinfo",
    "exit", "exit_group",
};
#endif

static int seccomp_enter(char *why, size_t n)
{
#ifdef UNMETA_HAVE_SECCOMP
    int rc = -ENOMEM;
#ifdef KEYD_SANITIZED
    scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);
    /* not ptrace: LeakSanitizer stops the threads with it at exit */
    static const char *const denied[] = { "execve", "execveat", "fork", "vfork", "process_vm_readv",
                                          "process_vm_writev", "io_uring_setup", "bpf", "mount", "unshare",
                                          "setns", "bind", "listen" };
    if (!f)
        goto done;
    for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
        int nr = seccomp_syscall_resolve_name(denied[i]);
        if (nr != __NR_SCMP_ERROR && (rc = seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), nr, 0)) < 0)
            goto done;
    }
    /* no UNIX sockets, as in the allowlist */
    if ((rc = seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), seccomp_syscall_resolve_name("socket"), 1,
                               SCMP_A0(SCMP_CMP_EQ, AF_UNIX, 0))) < 0)
        goto done;
    (void)allowed;
#else
    scmp_filter_ctx f = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    if (!f)
        goto done;
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
        int nr = seccomp_syscall_resolve_name(allowed[i]);
        if (nr != __NR_SCMP_ERROR && (rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, nr, 0)) < 0)
            goto done;
    }
    /* TCP sockets only: reconnecting to Redis. */
    static const int families[] = { AF_INET, AF_INET6 };
    for (size_t i = 0; i < 2; i++) {
        int nr = seccomp_syscall_resolve_name("socket");
        if ((rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, nr, 2, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)families[i], 0),
                                   SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_STREAM))) < 0)
            goto done;
    }
    /* hiredis sets TCP_NODELAY and keep-alive via setsockopt; FIONBIO is not used. abort() signals itself. */
    if ((rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, seccomp_syscall_resolve_name("tgkill"), 1,
                               SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid(), 0))) < 0)
        goto done;
#endif
    rc = seccomp_load(f);
done:
    if (rc < 0)
        snprintf(why, n, "cannot install the seccomp filter: %s", strerror(-rc));
    seccomp_release(f);
    return rc < 0 ? -1 : 0;
#else
    snprintf(why, n, "built without libseccomp");
    return -1;
#endif
}

static const char *errno_name(int e)
{
    switch (e) {
    case 0: return "ok";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENOENT: return "ENOENT";
    case ECONNREFUSED: return "ECONNREFUSED";
    default: return "other";
    }
}

/* Harmless probes: read a file, connect to a port nobody named, open a
 * UNIX socket, run a program that does not exist. */
static void selftest(void)
{
    const char *env = getenv("UNMETA_SANDBOX_SELFTEST");
    int e[4];
    if (!env || strcmp(env, "1") != 0)
        return;
    int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
    e[0] = fd < 0 ? errno : 0;
    if (fd >= 0)
        close(fd);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    e[1] = fd < 0 ? errno : 0;
    if (fd >= 0) {
        struct sockaddr_in sin;
        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_port = htons(9); /* discard: never Redis's port */
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        e[1] = connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 ? 0 : errno;
        close(fd);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    e[2] = fd < 0 ? errno : 0;
    if (fd >= 0)
        close(fd);
    char *const argv[] = { (char *)"unmeta-keyd-selftest", NULL };
    char *const envp[] = { NULL };
    execve("/nonexistent/unmeta-keyd-selftest", argv, envp);
    e[3] = errno;
    fprintf(stderr, "unmeta-keyd: sandbox selftest: read /etc/passwd: %s; connect port 9: %s; unix socket: %s; exec: %s\n",
            errno_name(e[0]), errno_name(e[1]), errno_name(e[2]), errno_name(e[3]));
}

int confine_enter(int disabled, const char *redis_url, const char *sqlite_path, char *how, size_t n)
{
    char why[160] = "", swhy[160];
    int abi = 0;
    if (disabled) {
        snprintf(how, n, "sandbox off (--no-sandbox)");
        selftest();
        return 0;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        fprintf(stderr, "unmeta-keyd: cannot confine the process (no_new_privs: %s); --no-sandbox runs without\n",
                strerror(errno));
        return -1;
    }
    int ll = landlock(redis_url, sqlite_path, &abi, why, sizeof(why));
    if (seccomp_enter(swhy, sizeof(swhy)) < 0) {
        fprintf(stderr, "unmeta-keyd: %s; --no-sandbox runs without confinement\n", swhy);
        return -1;
    }
    if (ll == 0)
        snprintf(how, n, "sandbox: Landlock (ABI %d) and seccomp", abi);
    else
        snprintf(how, n, "sandbox: seccomp only (%s)", why);
    selftest();
    return 0;
}
