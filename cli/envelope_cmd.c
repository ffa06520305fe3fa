/*
 * envelope_cmd.c - `unmeta keygen | seal | open | share`: sealed, expiring
 * envelopes (age v1 files, docs/envelope.md). Argument parsing, key files,
 * passphrase prompts and output names live here; the format and all
 * cryptography live in the library (lib/envelope.c).
 *
 * Passphrases are read from the terminal, never from the command line. For
 * tests and scripts, UNMETA_PASSPHRASE_FD names an open descriptor to read
 * the passphrase from (up to the first newline or the end).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "unmeta.h"
#include "envelope_cmd.h"
#include "sandbox.h"
#include "share_http.h"

#define EXIT_ERROR 2
#define PASS_MAX 1024
#define MAX_KEYS 256

static const char *prog = "unmeta";

typedef struct keylist {
    char *items[MAX_KEYS];
    uint32_t n;
} keylist;

typedef struct passbuf {
    char buf[PASS_MAX];
    size_t len;
    int have;
} passbuf;

static void wipe(void *p, size_t n)
{
    explicit_bzero(p, n);
}

static void keylist_free(keylist *k, int secret)
{
    for (uint32_t i = 0; i < k->n; i++) {
        if (secret)
            wipe(k->items[i], strlen(k->items[i]));
        free(k->items[i]);
    }
    k->n = 0;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void lib_error(const char *file, int rc, unmeta_ctx *ctx)
{
    const char *d = ctx ? unmeta_ctx_last_error(ctx) : "";
    if (d && *d)
        say("%s: %s [%s]", file, d, unmeta_strerror(rc));
    else
        say("%s: %s", file, unmeta_strerror(rc));
}

static void usage(FILE *f)
{
    fprintf(f,
        "Usage: %s keygen [-o FILE] | keygen -y IDENTITY_FILE\n"
        "       %s seal (-r RECIPIENT | -R FILE)... | -p  [--expires WHEN] [--no-pad]\n"
        "                  [--no-strip] [--record-time] [-o OUT] FILE\n"
        "       %s open [-i IDENTITY_FILE]... [-p] [--allow-expired] [--max-work-factor N]\n"
        "                  [-o OUT] [-f] FILE.age\n"
        "       %s share FILE --to RECIPIENT [--expires WHEN] [-o OUT]\n"
        "       seal, share and open take --share-store DIR|URL: a key-release share,\n"
        "       and --no-sandbox: do not confine the process (SECURITY.md)\n"
        "       %s share-store gc DIR [--now WHEN]   delete the expired shares\n"
        "       %s revoke FILE.revoke   delete a share early (--share-store URL)\n"
        "\n"
        "Envelopes are age v1 files: any age client decrypts them. seal strips the\n"
        "file's metadata first, records its type, length and expiry inside the\n"
        "encryption, and pads it; open refuses an envelope past its expiry.\n"
        "Expiry is a promise kept by cooperating software, not a lock: a recipient\n"
        "who keeps a copy, changes their clock or uses another age client can\n"
        "still read it. WHEN is 24h, 7d, 2w, 90m or a UTC date: 2026-12-31,\n"
        "2026-12-31T18:00Z. Outputs get random names unless -o says otherwise; the\n"
        "original file name is never stored. With --share-store DIR, half of the\n"
        "key goes to DIR/<id> instead of the envelope and is deleted at expiry:\n"
        "after that nobody can open the envelope, with any age client. With\n"
        "--share-store https://HOST, a key-release service (unmeta-keyd) holds it,\n"
        "and OUT.revoke keeps the token that deletes it early. See unmeta(1),\n"
        "unmeta-keyd(8) and docs/envelope.md.\n",
        prog, prog, prog, prog, prog, prog);
}

/* ---- small helpers ----------------------------------------------------- */

/* seal and open confine themselves once their files are open (sandbox.h):
 * the input may be read, outputs written beside OUT, the share store read
 * and written. Standard input is read first (a large one is spooled to a
 * temporary file, which a confined process could not create), and FFmpeg
 * loaded when seal will strip a media file. -1 when confining failed. */
static int confine(int no_sandbox, unmeta_ctx *ctx, unmeta_source *src, const char *file, int strip,
                   const char *out, int force, const char *store, share_http *net)
{
    sandbox *sb = sandbox_new(!no_sandbox, 0);
    const char *fmt = NULL;
    if (!sb) {
        say("out of memory");
        return -1;
    }
    if (!no_sandbox && !sandbox_unavailable()) {
        if (strcmp(file, "-") != 0)
            sandbox_allow_read(sb, file, 0);
        /* Probing reads the input: for seal's strip (is it media?) and to
         * spool standard input; an input that cannot be read ends here. */
        int prc = strip || strcmp(file, "-") == 0 ? unmeta_probe(&fmt, ctx, src) : 0;
        if (prc == UNMETA_E_IO || prc == UNMETA_E_NOMEM || prc == UNMETA_E_LIMIT) {
            say("%s: %s", file, unmeta_ctx_last_error(ctx));
            sandbox_free(sb);
            return -1;
        }
        if (prc == 0 && strip && fmt && strcmp(fmt, "media") == 0)
            sandbox_need_media(sb);
        if (strcmp(out, "-") != 0)
            sandbox_allow_write_beside(sb, out, force ? SANDBOX_REPLACE : 0);
        if (net) {
            share_http_allow(net, sb); /* TCP to the service's port, the CA certificates */
        } else if (store) {
            sandbox_allow_read(sb, store, 1);
            sandbox_allow_write(sb, store, SANDBOX_REPLACE);
        }
    }
    int rc = sandbox_enter(sb, 0);
    sandbox_free(sb);
    return rc;
}

static int random_name(char *out, size_t n, const char *ext)
{
    uint8_t r[8];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        return -1;
    snprintf(out, n, "%02x%02x%02x%02x%02x%02x%02x%02x%s%s", r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7],
             ext && *ext ? "." : "", ext ? ext : "");
    return 0;
}

static const char *ext_for_type(const char *type)
{
    static const struct { const char *type, *ext; } map[] = {
        { "image/jpeg", "jpg" }, { "image/png", "png" }, { "image/webp", "webp" }, { "image/gif", "gif" },
        { "image/tiff", "tif" }, { "image/heic", "heic" }, { "image/heif", "heif" }, { "image/avif", "avif" },
        { "image/jxl", "jxl" },
        { "video/mp4", "mp4" }, { "video/quicktime", "mov" }, { "video/x-matroska", "mkv" },
        { "video/webm", "webm" }, { "audio/mp4", "m4a" }, { "application/pdf", "pdf" },
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(type, map[i].type) == 0)
            return map[i].ext;
    return "bin";
}

/* WHEN: Nh, Nd, Nw, Nm, Ns (relative to now) or an absolute UTC date
 * YYYY-MM-DD[THH:MM[:SS]Z]. */
static int parse_when(int64_t *out, const char *s, int64_t now)
{
    char *end;
    errno = 0;
    if (strlen(s) >= 2 && s[strlen(s) - 1] >= 'a' && strchr("smhdw", s[strlen(s) - 1]) && s[0] >= '0' && s[0] <= '9') {
        long long v = strtoll(s, &end, 10);
        static const int64_t unit[] = { 1, 60, 3600, 86400, 604800 };
        const char *u = strchr("smhdw", *end);
        if (errno || !u || end[1] || v <= 0 || v > 100LL * 366 * 86400)
            return -1;
        int64_t mul = unit[u - "smhdw"];
        if (v > (INT64_MAX - now) / mul)
            return -1;
        *out = now + v * mul;
        return 0;
    }
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
    size_t len = strlen(s);
    /* A date (midnight UTC), or a date and a UTC time with or without seconds;
     * %n must reach the end, so trailing text is refused. */
    int ok = (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) == 3 && (size_t)n == len) ||
             (n = 0, sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &sec, &n) == 6 && (size_t)n == len) ||
             (n = 0, sscanf(s, "%4d-%2d-%2dT%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &n) == 5 && (size_t)n == len);
    if (!ok)
        return -1;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    struct tm back;
    if (t == (time_t)-1 || !gmtime_r(&t, &back) || back.tm_mday != d) /* rejects 2026-02-31 */
        return -1;
    *out = (int64_t)t;
    return 0;
}

static void fmt_time(char *buf, size_t n, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || !strftime(buf, n, "%Y-%m-%d %H:%M:%S UTC", &tm))
        snprintf(buf, n, "%lld", (long long)t);
}

/* Reads a key file: one key a line, '#' comments and blank lines skipped.
 * prefix selects the lines taken ("age1" or "AGE-SECRET-KEY-1"). */
static int read_keys(keylist *k, const char *path, const char *prefix, int secret)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
    char line[512];
    int rc = 0;
    if (!f) {
        say("%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        size_t n = strcspn(line, "\r\n");
        if (line[n] == '\0' && !feof(f)) {
            say("%s: line too long", path);
            rc = -1;
            break;
        }
        line[n] = '\0';
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '\0' || *s == '#')
            continue;
        if (strncmp(s, prefix, strlen(prefix)) != 0) {
            say("%s: not a%s X25519 age %s: %.20s...", path, secret ? "n" : "", secret ? "identity" : "recipient", s);
            rc = -1;
            break;
        }
        if (k->n >= MAX_KEYS || !(k->items[k->n] = strdup(s))) {
            say("%s: too many keys", path);
            rc = -1;
            break;
        }
        k->n++;
    }
    wipe(line, sizeof(line));
    if (f != stdin)
        fclose(f);
    return rc;
}

/* A passphrase from UNMETA_PASSPHRASE_FD or the terminal (no echo). */
static int read_pass_fd(passbuf *pb, int fd)
{
    pb->len = 0;
    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1; /* never a passphrase cut short by a failed read */
        if (r == 0 || c == '\n')
            break;
        if (pb->len + 1 >= sizeof(pb->buf))
            return -1;
        pb->buf[pb->len++] = c;
    }
    if (pb->len && pb->buf[pb->len - 1] == '\r')
        pb->len--;
    return 0;
}

static int prompt_pass(passbuf *pb, const char *prompt, int tty)
{
    struct termios old, quiet;
    dprintf(tty, "%s", prompt);
    int restore = tcgetattr(tty, &old) == 0;
    if (restore) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        quiet.c_lflag |= ECHONL;
        tcsetattr(tty, TCSAFLUSH, &quiet);
    }
    int rc = read_pass_fd(pb, tty);
    if (restore)
        tcsetattr(tty, TCSAFLUSH, &old);
    return rc;
}

static int get_passphrase(passbuf *pb, int confirm)
{
    (void)mlock(pb, sizeof(*pb)); /* best effort: keep it out of swap */
    const char *env = getenv("UNMETA_PASSPHRASE_FD");
    if (env && *env) {
        char *end;
        long fd = strtol(env, &end, 10);
        if (*end || fd < 0 || fd > 65535 || read_pass_fd(pb, (int)fd) < 0) {
            say("UNMETA_PASSPHRASE_FD: cannot read a passphrase from descriptor '%s'", env);
            return -1;
        }
    } else {
        int tty = open("/dev/tty", O_RDWR | O_CLOEXEC);
        if (tty < 0) {
            say("a passphrase needs a terminal (or UNMETA_PASSPHRASE_FD); none is available");
            return -1;
        }
        int rc = prompt_pass(pb, "Passphrase: ", tty);
        if (rc == 0 && confirm) {
            passbuf again;
            (void)mlock(&again, sizeof(again));
            rc = prompt_pass(&again, "Confirm passphrase: ", tty);
            if (rc == 0 && (again.len != pb->len || memcmp(again.buf, pb->buf, pb->len) != 0)) {
                say("the passphrases differ");
                rc = -1;
            }
            wipe(&again, sizeof(again));
            munlock(&again, sizeof(again));
        }
        close(tty);
        if (rc < 0)
            return -1;
    }
    if (pb->len == 0) {
        say("empty passphrase");
        return -1;
    }
    pb->have = 1;
    return 0;
}

static void pass_free(passbuf *pb)
{
    wipe(pb, sizeof(*pb));
    munlock(pb, sizeof(*pb));
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* ---- the file-based share store ---------------------------------------- */

/* A key-release share store in a folder (docs/envelope.md, "Key-release
 * shares"): one file DIR/<id> (mode 0600) per share:
 *   # unmeta key-release share
 *   id: <32 lowercase hex digits>
 *   not-after: <Unix seconds, 0 = none>
 *   key: <32 lowercase hex digits>
 * It stands in for a platform's key store with a TTL. Like Redis with
 * EXAT, it never returns a share past its expiry: reading one deletes it,
 * and `unmeta share-store gc DIR` deletes all expired ones. */

#define SHARE_FILE_MAX 256

static int is_share_id(const char *s)
{
    return strlen(s) == UNMETA_SHARE_ID_LEN && strspn(s, "0123456789abcdef") == UNMETA_SHARE_ID_LEN;
}

static int hex_decode(uint8_t *out, size_t n, const char *s)
{
    if (strlen(s) != 2 * n || strspn(s, "0123456789abcdef") != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

/* Reads until n bytes or the end of the file: a read may return fewer
 * bytes than asked at any time. Returns the count, or -1 (errno set). */
static ssize_t read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* Writes all n bytes, however few each write takes. Returns 0, or -1
 * (errno set; ENOSPC when the file system takes nothing more). */
static int write_all(int fd, const void *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, (const char *)buf + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = ENOSPC;
            return -1;
        }
        done += (size_t)w;
    }
    return 0;
}

/* Overwrites a share file with zeros, then removes it. Best effort on
 * copy-on-write and flash storage: a platform's store does better. */
static int share_delete(const char *path)
{
    int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        struct stat st;
        char zero[SHARE_FILE_MAX] = { 0 };
        if (fstat(fd, &st) == 0 && st.st_size > 0 && st.st_size <= (off_t)sizeof(zero)) {
            if (write_all(fd, zero, (size_t)st.st_size) == 0)
                (void)fsync(fd);
        }
        close(fd);
    }
    return unlink(path);
}

/* Reads and checks DIR/<id>. Returns 0, -ENOENT when absent, or -EINVAL
 * (malformed, message said) / -errno. */
static int share_read(unmeta_share *sh, const char *path, const char *id)
{
    char buf[SHARE_FILE_MAX + 1], idl[40] = "", keyl[40] = "";
    long long na = -1;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), rc = 0;
    if (fd < 0)
        return -errno;
    ssize_t n = read_full(fd, buf, sizeof(buf));
    int e = errno;
    close(fd);
    if (n < 0)
        return -e;
    if (n == (ssize_t)sizeof(buf)) {
        say("%s: not a share file (too long)", path);
        rc = -EINVAL;
        goto done;
    }
    buf[n] = '\0';
    /* parse, then demand the canonical text back: no stray whitespace,
     * signs or leading zeros; the width keeps %lld from overflowing */
    char canon[SHARE_FILE_MAX + 1];
    int ok = sscanf(buf, "# unmeta key-release share\nid: %39[0-9a-f]\nnot-after: %18lld\nkey: %39[0-9a-f]", idl, &na,
                    keyl) == 3 &&
             snprintf(canon, sizeof(canon), "# unmeta key-release share\nid: %s\nnot-after: %lld\nkey: %s\n", idl, na,
                      keyl) == (int)n &&
             memcmp(canon, buf, (size_t)n) == 0;
    wipe(canon, sizeof(canon));
    if (!ok || na < 0 || strcmp(idl, id) != 0 || hex_decode(sh->key, UNMETA_SHARE_KEY_LEN, keyl) != 0) {
        say("%s: not a valid share file for id %s", path, id);
        rc = -EINVAL;
        goto done;
    }
    sh->not_after = na;
done:
    wipe(buf, sizeof(buf));
    wipe(keyl, sizeof(keyl));
    return rc;
}

static int share_path(char *out, size_t n, const char *dir, const char *id)
{
    return snprintf(out, n, "%s/%s", dir, id) < (int)n ? 0 : -1;
}

/* unmeta_share_fetch_fn over the folder. */
static int32_t store_fetch(unmeta_share *share, void *user)
{
    const char *dir = user;
    char path[4096];
    if (!is_share_id(share->id) || share_path(path, sizeof(path), dir, share->id) < 0)
        return UNMETA_E_INVALID;
    int rc = share_read(share, path, share->id);
    if (rc == -ENOENT)
        return UNMETA_E_NOKEY;
    if (rc < 0) {
        if (rc != -EINVAL)
            say("%s: cannot read: %s", path, strerror(-rc));
        return rc == -EINVAL ? UNMETA_E_MALFORMED : UNMETA_E_IO;
    }
    if (share->not_after && (int64_t)time(NULL) > share->not_after) {
        /* past its expiry: the store deletes it instead of releasing it */
        char id[sizeof(share->id)];
        memcpy(id, share->id, sizeof(id));
        unmeta_share_wipe(share);
        if (share_delete(path) == 0)
            say("%s: key-release share %s had expired; deleted it", dir, id);
        return UNMETA_E_NOKEY;
    }
    return 0;
}

/* Writes DIR/<id>, mode 0600, through a temporary file, fsync'ed. */
static int store_put(const char *dir, const unmeta_share *sh)
{
    char path[4096], tmp[4096], text[SHARE_FILE_MAX], key[2 * UNMETA_SHARE_KEY_LEN + 1];
    int rc = -1, fd = -1;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        say("%s: cannot create the share store: %s", dir, strerror(errno));
        return -1;
    }
    if (!is_share_id(sh->id) || share_path(path, sizeof(path), dir, sh->id) < 0 ||
        snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, sh->id) >= (int)sizeof(tmp)) {
        say("%s: share store path too long", dir);
        return -1;
    }
    for (size_t i = 0; i < UNMETA_SHARE_KEY_LEN; i++)
        snprintf(key + 2 * i, 3, "%02x", sh->key[i]);
    int len = snprintf(text, sizeof(text), "# unmeta key-release share\nid: %s\nnot-after: %lld\nkey: %s\n", sh->id,
                       (long long)sh->not_after, key);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || write_all(fd, text, (size_t)len) != 0 || fsync(fd) != 0) {
        say("%s: cannot write the share: %s", tmp, strerror(errno));
        goto done;
    }
    int cfd = fd;
    fd = -1;
    if (close(cfd) != 0) {
        say("%s: cannot write the share: %s", tmp, strerror(errno));
        goto done;
    }
    if (rename(tmp, path) != 0) {
        say("%s: cannot store the share: %s", path, strerror(errno));
        goto done;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    rc = 0;
done:
    if (fd >= 0)
        close(fd);
    if (rc < 0)
        unlink(tmp);
    wipe(text, sizeof(text));
    wipe(key, sizeof(key));
    return rc;
}

/* ---- keygen ------------------------------------------------------------ */

static int cmd_keygen(int argc, char **argv)
{
    const char *out = NULL, *convert = NULL;
    int c;
    static const struct option lo[] = { { "output", required_argument, NULL, 'o' }, { "help", no_argument, NULL, 'h' },
                                         { NULL, 0, NULL, 0 } };
    while ((c = getopt_long(argc, argv, "o:y:h", lo, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'y': convert = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_ERROR;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return EXIT_ERROR;
    }
    if (convert) {
        keylist ids = { { 0 }, 0 };
        int status = 0;
        if (read_keys(&ids, convert, "AGE-SECRET-KEY-1", 1) < 0) {
            keylist_free(&ids, 1); /* the identities read before the bad line */
            return EXIT_ERROR;
        }
        for (uint32_t i = 0; i < ids.n; i++) {
            char *r = NULL;
            if (unmeta_identity_to_recipient(&r, ids.items[i]) < 0) {
                say("%s: identity %u is not valid", convert, i + 1);
                status = EXIT_ERROR;
            } else {
                printf("%s\n", r);
            }
            unmeta_free(r);
        }
        keylist_free(&ids, 1);
        return status;
    }
    if (!unmeta_envelope_available()) {
        say("envelopes are not available: this build was made without libsodium");
        return EXIT_ERROR;
    }
    char *id = NULL, *rcp = NULL;
    int rc = unmeta_keygen(&id, &rcp);
    if (rc < 0) {
        say("keygen: %s", unmeta_strerror(rc));
        return EXIT_ERROR;
    }
    int status = 0;
    if (out) {
        int fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            say("%s: cannot create%s: %s", out, errno == EEXIST ? " (it exists; keys are never overwritten)" : "",
                strerror(errno));
            status = EXIT_ERROR;
        } else {
            FILE *f = fdopen(fd, "w");
            if (!f || fprintf(f, "# public key: %s\n%s\n", rcp, id) < 0 || fflush(f) != 0 || fsync(fd) != 0) {
                say("%s: writing failed: %s", out, strerror(errno));
                status = EXIT_ERROR;
            }
            if (f)
                fclose(f);
            else
                close(fd);
            if (status)
                unlink(out);
        }
        if (!status)
            fprintf(stderr, "Public key: %s\n", rcp);
    } else {
        printf("# public key: %s\n%s\n", rcp, id);
        if (!isatty(1))
            fprintf(stderr, "Public key: %s\n", rcp);
    }
    unmeta_free_secret(id);
    unmeta_free(rcp);
    return status;
}

/* ---- seal and share ---------------------------------------------------- */

typedef struct seal_opts {
    keylist recipients;
    int passphrase;
    int64_t not_after;
    int no_pad, no_strip, record_time, force, no_sandbox;
    const char *out;
    const char *share_store;         /* --share-store DIR */
} seal_opts;

/* The sender's means to revoke a share held by a service: OUT.revoke (mode
 * 0600, beside the envelope, never sent with it), read by `unmeta revoke`:
 *   # unmeta revocation: keep it, never send it with the envelope
 *   url: <the service's base URL>
 *   id: <share id>
 *   not-after: <Unix seconds>
 *   token: <64 lowercase hex digits>
 * For an envelope written to standard output the same lines go to stderr.
 * Once the share is stored, a revocation file that cannot be written is an
 * error: the envelope is removed and the share revoked. */
#define REVOKE_FIRST "# unmeta revocation: keep it, never send it with the envelope\n"
#define REVOKE_FORMAT REVOKE_FIRST "url: %s\nid: %s\nnot-after: %lld\ntoken: %s\n"

static int write_revoke(const char *out, share_http *net, const unmeta_share *sh, const char *token, int force)
{
    char path[4096], text[4600];
    int len = snprintf(text, sizeof(text), REVOKE_FORMAT, share_http_base(net), sh->id, (long long)sh->not_after,
                       token);
    int rc = -1, fd = -1;
    if (len < 0 || len >= (int)sizeof(text))
        goto done;
    if (strcmp(out, "-") == 0) {
        fprintf(stderr, "%s", text);
        rc = 0;
        goto done;
    }
    if (snprintf(path, sizeof(path), "%s.revoke", out) >= (int)sizeof(path)) {
        say("%s.revoke: path too long", out);
        goto done;
    }
    if (force)
        (void)unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || write_all(fd, text, (size_t)len) != 0 || fsync(fd) != 0) {
        say("%s: cannot write the revocation file: %s%s", path, strerror(errno),
            errno == EEXIST ? " (-f replaces it)" : "");
        if (fd >= 0)
            unlink(path);
        (void)share_http_revoke(net, sh->id, token);
        goto done;
    }
    fprintf(stderr, "%s: revocation token written to %s (unmeta revoke %s deletes the share early)\n", out, path,
            path);
    rc = 0;
done:
    if (fd >= 0)
        close(fd);
    wipe(text, sizeof(text));
    return rc;
}

static int do_seal(const seal_opts *o, const char *file)
{
    unmeta_ctx *ctx = NULL;
    unmeta_source *src = NULL, *content = NULL;
    unmeta_sink *tmp_sink = NULL, *dst = NULL;
    unmeta_report *rep = NULL;
    FILE *tmp = NULL;
    passbuf pb;
    unmeta_share share = UNMETA_SHARE_INIT;
    share_http *net = NULL;
    char name[64], token[SHARE_TOKEN_LEN + 1] = "";
    const char *out = o->out;
    int status = EXIT_ERROR, rc;
    memset(&pb, 0, sizeof(pb));

    if (!unmeta_envelope_available()) {
        say("envelopes are not available: this build was made without libsodium");
        return EXIT_ERROR;
    }
    if (!out) {
        if (random_name(name, sizeof(name), "age") < 0) {
            say("no randomness for an output name");
            return EXIT_ERROR;
        }
        out = name;
    }
    if (strcmp(out, "-") != 0 && !o->force && file_exists(out)) {
        say("%s exists; use -f to overwrite it", out);
        return EXIT_ERROR;
    }
    if (unmeta_ctx_new(&ctx) < 0) {
        say("out of memory");
        return EXIT_ERROR;
    }
    rc = strcmp(file, "-") == 0 ? unmeta_source_new_fd(&src, 0) : unmeta_source_new_path(&src, file);
    if (rc < 0) {
        say("%s: cannot open: %s", file, rc == UNMETA_E_IO ? strerror(errno) : unmeta_strerror(rc));
        goto done;
    }
    uint32_t flags = 0;
    /* Asked before any work, while a terminal can still be opened. */
    if (o->passphrase && get_passphrase(&pb, 1) < 0)
        goto done;
    if (!o->no_strip) {
        tmp = tmpfile();
        if (!tmp || unmeta_sink_new_fd(&tmp_sink, fileno(tmp)) < 0) {
            say("cannot create a temporary file: %s", strerror(errno));
            goto done;
        }
    }
    if (o->share_store && share_http_is_url(o->share_store)) {
        if (!(net = share_http_new(o->share_store)))
            goto done;
    } else if (o->share_store && mkdir(o->share_store, 0700) != 0 && errno != EEXIST) {
        say("%s: cannot create the share store: %s", o->share_store, strerror(errno));
        goto done;
    }
    if (confine(o->no_sandbox, ctx, src, file, !o->no_strip, out, o->force, o->share_store, net) < 0)
        goto done;
    if (o->no_strip) {
        content = src;
    } else {
        /* Strip into an unnamed temporary file, then seal that. */
        rc = unmeta_strip(&rep, ctx, src, tmp_sink);
        if (rc < 0) {
            lib_error(file, rc, ctx);
            if (rc == UNMETA_E_UNSUPPORTED)
                say("%s: refusing to seal a file whose metadata cannot be removed; --no-strip seals it as it is", file);
            goto done;
        }
        if (lseek(fileno(tmp), 0, SEEK_SET) != 0 || unmeta_source_new_fd(&content, fileno(tmp)) < 0) {
            say("cannot reread the temporary file: %s", strerror(errno));
            goto done;
        }
        flags |= UNMETA_SEAL_STRIPPED;
    }
    unmeta_seal_params p = UNMETA_SEAL_PARAMS_INIT;
    if (o->passphrase) {
        p.passphrase = (const uint8_t *)pb.buf;
        p.passphrase_len = pb.len;
    } else {
        p.recipients = (const char *const *)o->recipients.items;
        p.recipient_count = o->recipients.n;
    }
    p.not_after = o->not_after;
    p.flags = flags | (o->no_pad ? UNMETA_SEAL_NO_PAD : 0) | (o->record_time ? UNMETA_SEAL_RECORD_TIME : 0);
    if (o->share_store)
        p.share = &share;
    rc = strcmp(out, "-") == 0 ? unmeta_sink_new_fd(&dst, 1) : unmeta_sink_new_path(&dst, out, 0600);
    if (rc < 0) {
        say("%s: %s", out, unmeta_strerror(rc));
        goto done;
    }
    rc = unmeta_seal(ctx, content, dst, &p);
    if (rc < 0) {
        lib_error(file, rc, ctx);
        goto done;
    }
    if (o->share_store) {
        if (net ? share_http_put(net, &share, token) < 0 || write_revoke(out, net, &share, token, o->force) < 0
                : store_put(o->share_store, &share) < 0) {
            /* an envelope whose share was never stored opens for nobody */
            if (strcmp(out, "-") != 0)
                unlink(out);
            say("%s: the key-release share could not be stored; %s", file,
                strcmp(out, "-") != 0 ? "the envelope was removed" : "the envelope written cannot be opened");
            goto done;
        }
        char when[64] = "no expiry: kept until deleted";
        if (share.not_after) {
            strcpy(when, "deleted after ");
            fmt_time(when + strlen(when), sizeof(when) - strlen(when), share.not_after);
        }
        fprintf(stderr, "%s: key-release share %s stored in %s (%s)\n", file, share.id, o->share_store, when);
    }
    if (strcmp(out, "-") != 0) {
        if (!o->out)
            printf("%s\n", out);
        if (o->not_after) {
            char when[64];
            fmt_time(when, sizeof(when), o->not_after);
            fprintf(stderr, "%s: sealed to %s, expires %s\n", file, out, when);
        } else {
            fprintf(stderr, "%s: sealed to %s, no expiry\n", file, out);
        }
    }
    status = 0;
done:
    pass_free(&pb);
    unmeta_share_wipe(&share);
    wipe(token, sizeof(token));
    share_http_free(net);
    unmeta_sink_free(dst);
    if (content != src)
        unmeta_source_free(content);
    unmeta_source_free(src);
    unmeta_sink_free(tmp_sink);
    unmeta_report_free(rep);
    if (tmp)
        fclose(tmp);
    unmeta_ctx_free(ctx);
    return status;
}

enum { OPT_EXPIRES = 256, OPT_NO_PAD, OPT_NO_STRIP, OPT_RECORD_TIME, OPT_TO, OPT_ALLOW_EXPIRED, OPT_MAX_WF,
       OPT_SHARE_STORE, OPT_NOW, OPT_NO_SANDBOX };

static int cmd_seal(int argc, char **argv, int share)
{
    seal_opts o;
    int c, status = EXIT_ERROR;
    memset(&o, 0, sizeof(o));
    static const struct option lo[] = {
        { "recipient", required_argument, NULL, 'r' }, { "recipients-file", required_argument, NULL, 'R' },
        { "passphrase", no_argument, NULL, 'p' },       { "expires", required_argument, NULL, OPT_EXPIRES },
        { "no-pad", no_argument, NULL, OPT_NO_PAD },    { "no-strip", no_argument, NULL, OPT_NO_STRIP },
        { "record-time", no_argument, NULL, OPT_RECORD_TIME }, { "to", required_argument, NULL, OPT_TO },
        { "output", required_argument, NULL, 'o' },     { "force", no_argument, NULL, 'f' },
        { "share-store", required_argument, NULL, OPT_SHARE_STORE },
        { "no-sandbox", no_argument, NULL, OPT_NO_SANDBOX },
        { "help", no_argument, NULL, 'h' },             { NULL, 0, NULL, 0 },
    };
    int64_t now = (int64_t)time(NULL);
    const char *expires = share ? "7d" : NULL;
    while ((c = getopt_long(argc, argv, share ? "o:fh" : "r:R:po:fh", lo, NULL)) != -1) {
        switch (c) {
        case 'r':
        case OPT_TO:
            if (c == OPT_TO && !share)
                goto bad;
            if (o.recipients.n >= MAX_KEYS || !(o.recipients.items[o.recipients.n] = strdup(optarg)))
                goto done;
            o.recipients.n++;
            break;
        case 'R':
            if (read_keys(&o.recipients, optarg, "age1", 0) < 0)
                goto done;
            break;
        case 'p': o.passphrase = 1; break;
        case OPT_EXPIRES: expires = optarg; break;
        case OPT_NO_PAD: o.no_pad = 1; break;
        case OPT_NO_STRIP: o.no_strip = 1; break;
        case OPT_RECORD_TIME: o.record_time = 1; break;
        case OPT_SHARE_STORE: o.share_store = optarg; break;
        case OPT_NO_SANDBOX: o.no_sandbox = 1; break;
        case 'o': o.out = optarg; break;
        case 'f': o.force = 1; break;
        case 'h': usage(stdout); status = 0; goto done;
        default: goto bad;
        }
    }
    if (argc - optind != 1) {
        say("%s takes exactly one FILE", share ? "share" : "seal");
        goto bad;
    }
    if (!!o.passphrase == !!o.recipients.n) {
        say(share ? "share needs --to RECIPIENT" : "seal needs recipients (-r, -R) or a passphrase (-p), not both");
        goto bad;
    }
    if (o.passphrase && o.share_store) {
        say("--share-store needs recipients (-r, -R): age allows no other stanza beside a passphrase's");
        goto done;
    }
    if (o.share_store && share_http_is_url(o.share_store) && !expires) {
        say("--share-store %s: a key-release service keeps shares until an expiry; give --expires", o.share_store);
        goto done;
    }
    if (expires && parse_when(&o.not_after, expires, now) < 0) {
        say("--expires: '%s' is not 24h, 7d, 2w, 90m, 2026-12-31 or 2026-12-31T18:00Z", expires);
        goto done;
    }
    if (expires && o.not_after <= now) {
        say("--expires: %s is already past", expires);
        goto done;
    }
    status = do_seal(&o, argv[optind]);
    goto done;
bad:
    usage(stderr);
done:
    keylist_free(&o.recipients, 0);
    return status;
}

/* ---- open -------------------------------------------------------------- */

/* Whether the file's header holds a scrypt stanza (to ask for a passphrase). */
static int looks_scrypt(const char *file)
{
    char buf[512];
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read_full(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return strstr(buf, "\n-> scrypt ") != NULL;
}

static int cmd_open(int argc, char **argv)
{
    keylist ids = { { 0 }, 0 };
    passbuf pb;
    const char *out = NULL, *share_store = NULL;
    int c, status = EXIT_ERROR, passphrase = 0, force = 0, no_sandbox = 0, rc;
    uint32_t flags = 0;
    long max_wf = 0;
    unmeta_ctx *ctx = NULL;
    unmeta_source *src = NULL;
    unmeta_sink *dst = NULL;
    share_http *net = NULL;
    char name[64], *final = NULL;
    memset(&pb, 0, sizeof(pb));
    static const struct option lo[] = {
        { "identity", required_argument, NULL, 'i' }, { "passphrase", no_argument, NULL, 'p' },
        { "output", required_argument, NULL, 'o' },   { "force", no_argument, NULL, 'f' },
        { "allow-expired", no_argument, NULL, OPT_ALLOW_EXPIRED },
        { "max-work-factor", required_argument, NULL, OPT_MAX_WF },
        { "share-store", required_argument, NULL, OPT_SHARE_STORE },
        { "no-sandbox", no_argument, NULL, OPT_NO_SANDBOX },
        { "help", no_argument, NULL, 'h' },           { NULL, 0, NULL, 0 },
    };
    while ((c = getopt_long(argc, argv, "i:po:fh", lo, NULL)) != -1) {
        switch (c) {
        case 'i':
            if (read_keys(&ids, optarg, "AGE-SECRET-KEY-1", 1) < 0)
                goto done;
            break;
        case 'p': passphrase = 1; break;
        case 'o': out = optarg; break;
        case 'f': force = 1; break;
        case OPT_ALLOW_EXPIRED: flags |= UNMETA_OPEN_ALLOW_EXPIRED; break;
        case OPT_SHARE_STORE: share_store = optarg; break;
        case OPT_NO_SANDBOX: no_sandbox = 1; break;
        case OPT_MAX_WF: {
            char *end;
            max_wf = strtol(optarg, &end, 10);
            if (*end || max_wf < 10 || max_wf > 30) {
                say("--max-work-factor takes 10..30 (scrypt log2 N; 16 = 64 MiB, 18 = 256 MiB)");
                goto done;
            }
            break;
        }
        case 'h': usage(stdout); status = 0; goto done;
        default: usage(stderr); goto done;
        }
    }
    if (argc - optind != 1) {
        say("open takes exactly one FILE");
        usage(stderr);
        goto done;
    }
    const char *file = argv[optind];
    if (!unmeta_envelope_available()) {
        say("envelopes are not available: this build was made without libsodium");
        goto done;
    }
    if (!ids.n && !passphrase && strcmp(file, "-") != 0 && looks_scrypt(file))
        passphrase = 1;
    if (!ids.n && !passphrase) {
        say("%s: give an identity file with -i (or -p for a passphrase)", file);
        goto done;
    }
    if (out && strcmp(out, "-") != 0 && !force && file_exists(out)) {
        say("%s exists; use -f to overwrite it", out);
        goto done;
    }
    if (!out) {
        if (random_name(name, sizeof(name), NULL) < 0) {
            say("no randomness for an output name");
            goto done;
        }
        out = name;
    }
    if (passphrase && get_passphrase(&pb, 0) < 0)
        goto done;
    if (unmeta_ctx_new(&ctx) < 0) {
        say("out of memory");
        goto done;
    }
    rc = strcmp(file, "-") == 0 ? unmeta_source_new_fd(&src, 0) : unmeta_source_new_path(&src, file);
    if (rc < 0) {
        say("%s: cannot open: %s", file, rc == UNMETA_E_IO ? strerror(errno) : unmeta_strerror(rc));
        goto done;
    }
    rc = strcmp(out, "-") == 0 ? unmeta_sink_new_fd(&dst, 1) : unmeta_sink_new_path(&dst, out, 0600);
    if (rc < 0) {
        say("%s: %s", out, unmeta_strerror(rc));
        goto done;
    }
    if (share_store && share_http_is_url(share_store) && !(net = share_http_new(share_store)))
        goto done;
    if (confine(no_sandbox, ctx, src, file, 0, out, force, share_store, net) < 0)
        goto done;
    unmeta_open_params p = UNMETA_OPEN_PARAMS_INIT;
    p.identities = (const char *const *)ids.items;
    p.identity_count = ids.n;
    if (pb.have) {
        p.passphrase = (const uint8_t *)pb.buf;
        p.passphrase_len = pb.len;
    }
    p.max_scrypt_log_n = (int32_t)max_wf;
    p.flags = flags;
    if (net) {
        p.share_fetch = share_http_fetch;
        p.share_user = net;
    } else if (share_store) {
        p.share_fetch = store_fetch;
        p.share_user = (void *)share_store;
    }
    unmeta_open_info info = UNMETA_OPEN_INFO_INIT;
    rc = unmeta_open(&info, ctx, src, dst, &p);
    if (rc < 0) {
        lib_error(file, rc, ctx);
        if (rc == UNMETA_E_EXPIRED)
            say("%s: --allow-expired opens it anyway (for recovery)", file);
        if (rc == UNMETA_E_NOKEY && !share_store && strstr(unmeta_ctx_last_error(ctx), "key-release share"))
            say("%s: give the share store that holds it with --share-store DIR or URL", file);
        goto done;
    }
    const char *shown = out;
    if (out == name) {
        /* name the random output after its content type */
        size_t n = strlen(name) + 8;
        final = malloc(n);
        if (final) {
            snprintf(final, n, "%s.%s", name,
                     info.kind == UNMETA_ENVELOPE_UNMETA ? ext_for_type(info.content_type) : "bin");
            if (!file_exists(final) && rename(name, final) == 0)
                shown = final;
        }
        printf("%s\n", shown);
    }
    char when[64];
    if (info.kind == UNMETA_ENVELOPE_PLAIN_AGE) {
        fprintf(stderr, "%s: plain age file, %llu bytes -> %s\n", file, (unsigned long long)info.content_length,
                shown);
    } else {
        if (info.not_after)
            fmt_time(when, sizeof(when), info.not_after);
        fprintf(stderr, "%s: %s, %llu bytes, %s%s%s -> %s\n", file,
                info.content_type[0] ? info.content_type : "unknown type", (unsigned long long)info.content_length,
                info.not_after ? (info.expired ? "EXPIRED on " : "expires ") : "no expiry",
                info.not_after ? when : "", info.expired ? " (opened with --allow-expired)" : "", shown);
    }
    if (info.share_id[0])
        fprintf(stderr, "%s: opened with key-release share %s\n", file, info.share_id);
    status = 0;
done:
    pass_free(&pb);
    keylist_free(&ids, 1);
    share_http_free(net);
    unmeta_sink_free(dst);
    unmeta_source_free(src);
    unmeta_ctx_free(ctx);
    free(final);
    return status;
}

/* ---- share-store gc ------------------------------------------------------ */

/* Deletes every share past its expiry; prints one line per deleted share.
 * Files whose name is not a share ID are left alone; share files that do
 * not parse are named, kept, and make the exit status 2. */
static int cmd_share_store(int argc, char **argv)
{
    static const struct option lo[] = { { "now", required_argument, NULL, OPT_NOW }, { "help", no_argument, NULL, 'h' },
                                         { NULL, 0, NULL, 0 } };
    int64_t now = (int64_t)time(NULL);
    const char *now_arg = NULL;
    int c;
    if (argc < 2 || strcmp(argv[1], "gc") != 0) {
        say("share-store: the command is 'share-store gc DIR [--now WHEN]'");
        return EXIT_ERROR;
    }
    optind = 2;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case OPT_NOW: now_arg = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_ERROR;
        }
    }
    if (argc - optind != 1) {
        say("share-store gc takes exactly one DIR");
        return EXIT_ERROR;
    }
    if (now_arg) {
        /* @SECONDS, a UTC date, or a span from now (8d: "as if 8 days later") */
        char *end;
        if (now_arg[0] == '@') {
            errno = 0;
            long long v = strtoll(now_arg + 1, &end, 10);
            if (errno || *end || end == now_arg + 1 || v < 0) {
                say("--now: '%s' is not @SECONDS", now_arg);
                return EXIT_ERROR;
            }
            now = v;
        } else if (parse_when(&now, now_arg, now) < 0) {
            say("--now: '%s' is not @SECONDS, 2026-12-31[T18:00Z] or 8d", now_arg);
            return EXIT_ERROR;
        }
    }
    const char *dir = argv[optind];
    DIR *d = opendir(dir);
    if (!d) {
        say("%s: cannot open the share store: %s", dir, strerror(errno));
        return EXIT_ERROR;
    }
    unsigned deleted = 0, kept = 0;
    int status = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char path[4096];
        if (!is_share_id(de->d_name) || share_path(path, sizeof(path), dir, de->d_name) < 0)
            continue;
        unmeta_share sh = UNMETA_SHARE_INIT;
        int rc = share_read(&sh, path, de->d_name);
        int64_t not_after = sh.not_after;
        unmeta_share_wipe(&sh); /* only the expiry is needed */
        if (rc < 0) {
            if (rc != -EINVAL)
                say("%s: cannot read: %s", path, strerror(-rc));
            status = EXIT_ERROR;
            continue;
        }
        if (not_after == 0 || now <= not_after) {
            kept++;
            continue;
        }
        if (share_delete(path) != 0) {
            say("%s: cannot delete: %s", path, strerror(errno));
            status = EXIT_ERROR;
            continue;
        }
        char when[64];
        fmt_time(when, sizeof(when), not_after);
        printf("deleted %s (expired %s)\n", de->d_name, when);
        deleted++;
    }
    closedir(d);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    fprintf(stderr, "%s: %u expired share%s deleted, %u kept\n", dir, deleted, deleted == 1 ? "" : "s", kept);
    return status;
}

/* ---- revoke ---------------------------------------------------------------- */

/* Deletes a share from its service early with the token of FILE.revoke,
 * then removes that file. A share already gone (expired, revoked) is said
 * and counts as done: nobody can open the envelope either way. */
static int cmd_revoke(int argc, char **argv)
{
    static const struct option lo[] = { { "no-sandbox", no_argument, NULL, OPT_NO_SANDBOX },
                                         { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
    char buf[4700], url[4200] = "", id[40] = "", token[80] = "", canon[4700];
    long long na = -1;
    int c, no_sandbox = 0, status = EXIT_ERROR;
    share_http *net = NULL;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case OPT_NO_SANDBOX: no_sandbox = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_ERROR;
        }
    }
    if (argc - optind != 1) {
        say("revoke takes exactly one FILE.revoke");
        return EXIT_ERROR;
    }
    const char *file = argv[optind];
    int fd = open(file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read_full(fd, buf, sizeof(buf) - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n < 0) {
        say("%s: cannot read: %s", file, strerror(errno));
        goto done;
    }
    buf[n] = '\0';
    /* Read back exactly as write_revoke() writes it: canonical or refused. */
    if (sscanf(buf, REVOKE_FIRST "url: %4199s\nid: %39[0-9a-f]\nnot-after: %18lld\ntoken: %79[0-9a-f]", url, id, &na,
               token) != 4 ||
        snprintf(canon, sizeof(canon), REVOKE_FORMAT, url, id, na, token) != (int)n ||
        memcmp(canon, buf, (size_t)n) != 0 || !is_share_id(id) || strlen(token) != SHARE_TOKEN_LEN ||
        !share_http_is_url(url)) {
        say("%s: not a revocation file written by unmeta seal --share-store URL", file);
        goto done;
    }
    if (!(net = share_http_new(url)))
        goto done;
    sandbox *sb = sandbox_new(!no_sandbox, 0);
    if (!sb) {
        say("out of memory");
        goto done;
    }
    share_http_allow(net, sb);
    sandbox_allow_write_beside(sb, file, 0); /* removed once done */
    int rc = sandbox_enter(sb, 0);
    sandbox_free(sb);
    if (rc < 0)
        goto done;
    rc = share_http_revoke(net, id, token);
    if (rc < 0)
        goto done;
    if (rc == 0)
        fprintf(stderr, "%s: share %s revoked at %s: the envelope opens for nobody now\n", file, id, url);
    else
        fprintf(stderr, "%s: share %s was no longer held by %s (expired or revoked before): the envelope opens "
                        "for nobody\n", file, id, url);
    if (unlink(file) != 0)
        say("%s: cannot remove: %s", file, strerror(errno));
    status = 0;
done:
    share_http_free(net);
    wipe(buf, sizeof(buf));
    wipe(canon, sizeof(canon));
    wipe(token, sizeof(token));
    return status;
}

int envelope_is_command(const char *cmd)
{
    return strcmp(cmd, "keygen") == 0 || strcmp(cmd, "seal") == 0 || strcmp(cmd, "open") == 0 ||
           strcmp(cmd, "share") == 0 || strcmp(cmd, "share-store") == 0 || strcmp(cmd, "revoke") == 0;
}

int envelope_main(int argc, char **argv)
{
    const char *cmd = argv[1];
    /* getopt sees "unmeta CMD ARGS..." as a program named CMD */
    optind = 1;
    if (strcmp(cmd, "keygen") == 0)
        return cmd_keygen(argc - 1, argv + 1);
    if (strcmp(cmd, "seal") == 0)
        return cmd_seal(argc - 1, argv + 1, 0);
    if (strcmp(cmd, "share") == 0)
        return cmd_seal(argc - 1, argv + 1, 1);
    if (strcmp(cmd, "share-store") == 0)
        return cmd_share_store(argc - 1, argv + 1);
    if (strcmp(cmd, "revoke") == 0)
        return cmd_revoke(argc - 1, argv + 1);
    return cmd_open(argc - 1, argv + 1);
}
