/*
 * batch.c - `unmeta strip` over many files and folders.
 *
 * The walk (fts, physical unless --follow-symlinks) runs first, on the main
 * thread: it lists every regular file under the folders named, so that the
 * progress line knows the total and outputs written later are never picked
 * up. Then N worker threads, each with its own unmeta_ctx, take files from
 * the list; the only shared mutable state is the next index and the progress
 * counters, both under one mutex. Each worker writes its file's result into
 * that file's own slot, and the summary is built from the slots in walk
 * order, so it does not depend on the schedule.
 *
 * Every decision about a file's content is the library's: the walk offers
 * every regular file, and a file no format claims is "skipped (not a photo
 * or video)" when the walk found it, an error when it was named.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fts.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "unmeta.h"
#include "batch.h"
#include "sandbox.h"

#define EXIT_ERROR 2
#define MAX_JOBS 256
#define SUMMARY_PATHS 3 /* paths named per refusal reason */

enum { ST_PENDING, ST_CLEANED, ST_CLEAN, ST_SKIPPED, ST_REFUSED, ST_ERROR };
static const char *const status_name[] = { "pending", "cleaned", "clean", "skipped", "refused", "error" };

#define NCAT 7 /* UNMETA_CAT_LOCATION .. UNMETA_CAT_OTHER */

typedef struct item {
    char *path;             /* as walked or named */
    char *out;              /* the output path; NULL for --in-place (resolved by the worker) */
    char *key_in, *key_out; /* canonical input and output, for cli_check_targets() */
    uint64_t size;          /* bytes, from the walk */
    int named;              /* named on the command line (not found by the walk) */
    /* Written by the one worker that takes the item: */
    int status;             /* ST_* */
    int code;               /* UNMETA_E_* of a refusal or library error, 0 otherwise */
    char *error;            /* the message of a skip, refusal or error */
    const char *format;     /* static format name, or NULL */
    uint32_t removed[NCAT]; /* findings by category */
    uint64_t bytes_out;
} item;

typedef struct list {
    item *v;
    size_t n, cap;
} list;

typedef struct batch {
    const batch_opts *o;
    list files;
    uint64_t total_bytes;
    size_t passed_links, passed_outputs, passed_cycles, passed_repeats;
    size_t removed_temps;   /* stale temporary files of killed runs, removed by the walk */
    int passed_outdir;      /* the -d folder was met inside an input folder and not walked */
    int show_progress;
    pthread_mutex_t lock;   /* guards everything below */
    size_t next;            /* the next item to take */
    size_t done;
    size_t cleaned;
    uint64_t done_bytes;    /* input bytes of the files done */
    uint64_t inflight;      /* bytes done inside the files in progress (sum of the workers' slots) */
    double start, last_draw;
    int drawn;              /* a progress line is on the screen */
} batch;

/* A worker's share of the progress line: bytes done inside its current
 * file. The library reports each operation from 0 to the file's size; an
 * --in-place file is inspected, then stripped, each counting for half. */
typedef struct slot {
    batch *b;
    uint64_t base;          /* bytes of the file already accounted for by an earlier operation */
    int half;               /* this operation counts for half the file */
    uint64_t shown;         /* what this slot adds to b->inflight (under b->lock) */
} slot;

/* Set by SIGINT/SIGTERM: workers take no new file, and the library, polling
 * its cancel callback, abandons the current one and removes its temporary
 * file, so an interrupted run leaves no partial output. */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    interrupted = sig;
}

static int32_t cancel_requested(void *user)
{
    (void)user;
    return interrupted != 0 || cli_deadline_passed();
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* strerror() may share a buffer between threads; this does not. */
static const char *errno_text(char *buf, size_t n, int e)
{
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
    return strerror_r(e, buf, n);
#else
    if (strerror_r(e, buf, n) != 0)
        snprintf(buf, n, "error %d", e);
    return buf;
#endif
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d) {
        fprintf(stderr, "unmeta: out of memory\n");
        exit(EXIT_ERROR);
    }
    return d;
}

static item *list_add(list *l, const char *path, uint64_t size, int named)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        item *v = realloc(l->v, cap * sizeof(*v));
        if (!v) {
            fprintf(stderr, "unmeta: out of memory\n");
            exit(EXIT_ERROR);
        }
        l->v = v;
        l->cap = cap;
    }
    item *it = &l->v[l->n++];
    memset(it, 0, sizeof(*it));
    it->path = xstrdup(path);
    it->size = size;
    it->named = named;
    return it;
}

/* A walk-time failure (unreadable folder, vanished file): reported with the others. */
static void add_failed(list *l, const char *path, int named, const char *what, const char *detail)
{
    item *it = list_add(l, path, 0, named);
    size_t n = strlen(what) + strlen(detail) + 3;
    it->status = ST_ERROR;
    it->error = malloc(n);
    if (it->error)
        snprintf(it->error, n, "%s%s%s", what, *what && *detail ? ": " : "", detail);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

/* NAME.clean.EXT or NAME.clean: what a default-mode run wrote earlier. */
static int is_clean_output(const char *name)
{
    const char *p = strstr(name, ".clean");
    while (p) {
        if (p != name && (p[6] == '\0' || p[6] == '.'))
            return 1;
        p = strstr(p + 1, ".clean");
    }
    return 0;
}

static char *join(const char *dir, const char *rel)
{
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/')
        dl--;
    while (*rel == '/')
        rel++;
    size_t n = dl + strlen(rel) + 2;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%.*s/%s", (int)dl, dir, rel);
    return out;
}

/* The host-name hash of temporary names: FNV-1a, as lib/io.c computes it. */
static uint32_t host_hash(void)
{
    char host[256] = "";
    uint32_t h = 2166136261u;
    if (gethostname(host, sizeof(host) - 1) != 0)
        host[0] = '\0';
    for (const char *p = host; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h;
}

/* A temporary file that a killed or crashed run left behind. lib/io.c names
 * them ".NAME.HOST-PID-RANDOM.unmeta-tmp" (HOST and RANDOM 8 and 12 hex
 * digits); one is stale when it is ours (same owner, one link) and its
 * process is gone: on this host, no process PID; from another host (a
 * shared folder), untouched for a day. Anything else is left alone. */
static int stale_temp(const char *name, const struct stat *st)
{
    size_t n = strlen(name), suffix = strlen(".unmeta-tmp");
    if (name[0] != '.' || n <= suffix + 1 || !S_ISREG(st->st_mode) || st->st_nlink != 1 ||
        st->st_uid != geteuid())
        return 0;
    const char *end = name + n - suffix, *dot = end;
    while (dot > name + 1 && dot[-1] != '.')
        dot--;
    if (dot <= name + 2) /* ".NAME." must come first */
        return 0;
    unsigned host;
    long pid;
    unsigned long long rnd;
    int a = 0, b = 0, c = 0;
    if (sscanf(dot, "%8x%n-%ld%n-%12llx%n", &host, &a, &pid, &b, &rnd, &c) != 3 || a != 8 || dot + c != end ||
        c - b != 13 || pid <= 0)
        return 0;
    if (host == host_hash())
        return pid != (long)getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
    return time(NULL) - st->st_mtime > 24 * 3600;
}

/* The last part of a path, trailing slashes aside ("A/photos/" -> "photos"):
 * *base points to it and its length is returned; *slash is the slash before
 * it, NULL when there is none. */
static size_t last_part(const char *path, const char **base, const char **slash)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        len--;
    *slash = memrchr(path, '/', len);
    *base = *slash ? *slash + 1 : path;
    return len - (size_t)(*base - path);
}

char *cli_canonical(const char *path, int follow)
{
    if (follow || strcmp(path, ".") == 0 || strcmp(path, "/") == 0) {
        char *r = realpath(path, NULL);
        if (r || strcmp(path, ".") == 0 || strcmp(path, "/") == 0)
            return r ? r : strdup(path);
    }
    /* The folder part, resolved; then the last part as it is. */
    const char *base, *slash;
    size_t blen = last_part(path, &base, &slash);
    char *dir = !slash ? strdup(".") : slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
    char *cd = dir ? cli_canonical(dir, 1) : NULL;
    free(dir);
    if (!cd || blen == 0 || (blen == 1 && base[0] == '.'))
        return cd;
    if (blen == 2 && base[0] == '.' && base[1] == '.') {
        char *up = strrchr(cd, '/');
        if (up)
            up[up == cd] = '\0';
        return cd;
    }
    size_t n = strlen(cd) + blen + 2;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s%s%.*s", cd, strcmp(cd, "/") == 0 ? "" : "/", (int)blen, base);
    free(cd);
    return out;
}

static const cli_target *sort_base;

static int cmp_target_out(const void *a, const void *b)
{
    const cli_target *x = &sort_base[*(const size_t *)a], *y = &sort_base[*(const size_t *)b];
    int c = strcmp(x->key_out, y->key_out);
    return c ? c : (*(const size_t *)a > *(const size_t *)b) - (*(const size_t *)a < *(const size_t *)b);
}

static int cmp_target_in(const void *a, const void *b)
{
    return strcmp(sort_base[*(const size_t *)a].key_in, sort_base[*(const size_t *)b].key_in);
}

#define MAX_COLLISIONS_SHOWN 5

int cli_check_targets(cli_target *t, size_t n, int in_place)
{
    size_t *by_out = malloc((n ? n : 1) * sizeof(size_t)), *by_in = malloc((n ? n : 1) * sizeof(size_t));
    size_t nout = 0, nin = 0, bad = 0;
    if (!by_out || !by_in) {
        free(by_out);
        free(by_in);
        fprintf(stderr, "unmeta: out of memory\n");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (t[i].key_in)
            by_in[nin++] = i;
        if (t[i].key_in && t[i].key_out)
            by_out[nout++] = i;
    }
    /* Called from main() only, before any thread exists. */
    sort_base = t;
    qsort(by_out, nout, sizeof(size_t), cmp_target_out);
    qsort(by_in, nin, sizeof(size_t), cmp_target_in);
    /* One output, several targets: the same file again, or a collision. */
    for (size_t a = 0; a < nout;) {
        size_t z = a + 1;
        while (z < nout && strcmp(t[by_out[z]].key_out, t[by_out[a]].key_out) == 0)
            z++;
        for (size_t k = a + 1; k < z; k++) {
            cli_target *first = &t[by_out[a]], *again = &t[by_out[k]];
            if (strcmp(first->key_in, again->key_in) == 0) {
                again->repeat = 1;
                fprintf(stderr, "unmeta: %s: named more than once (also as %s); stripped once\n", again->name,
                        first->name);
            } else if (bad++ < MAX_COLLISIONS_SHOWN) {
                fprintf(stderr, "unmeta: %s and %s would both be written to %s\n", first->name, again->name,
                        first->out_name ? first->out_name : first->key_out);
            }
        }
        a = z;
    }
    /* An output that is an input of the run: it would be replaced before,
     * or after, it is read. */
    for (size_t k = 0; k < nout && !in_place; k++) {
        cli_target *x = &t[by_out[k]];
        size_t lo = 0, hi = nin;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            int c = strcmp(t[by_in[mid]].key_in, x->key_out);
            if (c == 0) {
                const cli_target *victim = &t[by_in[mid]];
                if (bad++ < MAX_COLLISIONS_SHOWN) {
                    if (strcmp(victim->key_in, x->key_in) == 0)
                        fprintf(stderr, "unmeta: %s: the output is the input; use --in-place\n", x->name);
                    else
                        fprintf(stderr, "unmeta: the output of %s would replace the input %s\n", x->name,
                                victim->name);
                }
                break;
            }
            if (c < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
    }
    free(by_out);
    free(by_in);
    if (bad > MAX_COLLISIONS_SHOWN)
        fprintf(stderr, "unmeta: ... and %zu more\n", bad - MAX_COLLISIONS_SHOWN);
    if (bad) {
        fprintf(stderr, "unmeta: nothing was written: %zu output%s would overwrite another output or an input "
                "of this run (see above); use separate -d folders, or separate runs\n", bad, bad == 1 ? "" : "s");
        return -1;
    }
    return 0;
}

/* The name a folder named on the command line gets under -d DIR: its last
 * part as given ("A/photos/" -> "photos"), or, for ".", ".." and the like,
 * the real folder's name. "" for the root folder. NULL when out of memory
 * or unresolvable. */
static char *root_name(const char *root)
{
    const char *b, *slash;
    size_t bl = last_part(root, &b, &slash);
    if (bl == 0 || (bl == 1 && (b[0] == '.' || b[0] == '/')) || (bl == 2 && b[0] == '.' && b[1] == '.')) {
        char *r = realpath(root, NULL);
        if (!r)
            return NULL;
        char *name = strdup(strrchr(r, '/') + 1);
        free(r);
        return name;
    }
    return strndup(b, bl);
}

static int cmp_names(const FTSENT **a, const FTSENT **b)
{
    return strcmp((*a)->fts_name, (*b)->fts_name);
}

/* Lists the regular files under root; with -d, their output paths under
 * DIR/NAME, NAME being the root's own name. canon_root and canon_out (-d)
 * are canonical (cli_canonical). */
static void walk(batch *b, const char *root, const struct stat *outdir, const char *name, const char *canon_root,
                 const char *canon_out)
{
    const batch_opts *o = b->o;
    char *roots[2] = { (char *)root, NULL };
    int flags = FTS_NOCHDIR | FTS_COMFOLLOW | (o->follow_symlinks ? FTS_LOGICAL : FTS_PHYSICAL);
    FTS *fts = fts_open(roots, flags, cmp_names);
    if (!fts) {
        add_failed(&b->files, root, 1, "cannot walk", strerror(errno));
        return;
    }
    size_t rootlen = strlen(root);
    FTSENT *e;
    while ((e = fts_read(fts)) != NULL) {
        switch (e->fts_info) {
        case FTS_D:
            /* Never walk into the output folder: it holds earlier results. */
            if (outdir && e->fts_statp->st_dev == outdir->st_dev && e->fts_statp->st_ino == outdir->st_ino) {
                fts_set(fts, e, FTS_SKIP);
                b->passed_outdir = 1;
            }
            break;
        case FTS_F: {
            if (ends_with(e->fts_name, ".unmeta-tmp")) {
                /* A write in progress, or left by a killed run: never an
                 * input. Where this run writes (beside the inputs), the
                 * stale ones are removed. */
                if (!o->dir && stale_temp(e->fts_name, e->fts_statp) && unlink(e->fts_path) == 0)
                    b->removed_temps++;
                break;
            }
            if (!o->include_clean && is_clean_output(e->fts_name)) {
                b->passed_outputs++;
                break;
            }
            item *it = list_add(&b->files, e->fts_path, (uint64_t)e->fts_statp->st_size, 0);
            b->total_bytes += it->size;
            const char *rel = e->fts_path + (strncmp(e->fts_path, root, rootlen) == 0 ? rootlen : 0);
            /* A physical walk meets no link below the root: the walked path
             * under the canonical root is canonical. */
            char *key_path = join(canon_root, rel);
            it->key_in = o->follow_symlinks ? realpath(e->fts_accpath, NULL) : NULL;
            if (!it->key_in && key_path)
                it->key_in = xstrdup(key_path);
            if (o->dir) {
                char *sub = join(o->dir, name), *csub = join(canon_out, name);
                it->out = sub ? join(sub, rel) : NULL;
                it->key_out = csub ? join(csub, rel) : NULL;
                free(sub);
                free(csub);
            } else if (o->in_place) {
                it->key_out = it->key_in ? xstrdup(it->key_in) : NULL;
            } else {
                it->out = cli_clean_name(e->fts_path);
                it->key_out = key_path ? cli_clean_name(key_path) : NULL;
            }
            free(key_path);
            break;
        }
        case FTS_SL:
        case FTS_SLNONE:
            b->passed_links++;
            break;
        case FTS_DC:
            b->passed_cycles++;
            break;
        case FTS_DNR:
        case FTS_ERR:
        case FTS_NS:
            add_failed(&b->files, e->fts_path, 0, "cannot read", strerror(e->fts_errno));
            break;
        default: /* FTS_DP (folder done), devices, FIFOs, sockets: not files to strip */
            break;
        }
    }
    if (errno != 0)
        add_failed(&b->files, root, 1, "walk stopped", strerror(errno));
    fts_close(fts);
}

/* mkdir -p of out's parent folders below dir (mode 0755 & ~umask). */
static int make_parents(const char *dir, const char *out)
{
    char *p = xstrdup(out);
    size_t start = strlen(dir);
    int rc = 0;
    for (char *s = p + start; *s; s++) {
        if (*s != '/' || s == p)
            continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            rc = -1;
            break;
        }
        *s = '/';
    }
    free(p);
    return rc;
}

/* True when no format claims the file: the walk found something that is
 * not a photo or video (asked of the library, by content). */
static int not_claimed(int rc, unmeta_ctx *ctx, const char *path)
{
    unmeta_source *src = NULL;
    const char *fmt = NULL;
    int claimed = 1;
    if (rc != UNMETA_E_UNSUPPORTED)
        return 0;
    if (unmeta_source_new_path(&src, path) == 0 && unmeta_probe(&fmt, ctx, src) == 0)
        claimed = fmt != NULL;
    unmeta_source_free(src);
    return !claimed;
}

static void set_error(item *it, int status, int code, const char *msg)
{
    it->status = status;
    it->code = code;
    it->error = strdup(msg && *msg ? msg : unmeta_strerror(code));
}

/* A failed library call: skipped, refused (the file breaks or exceeds what
 * we handle) or an error (I/O, memory). */
static void classify(item *it, int rc, unmeta_ctx *ctx)
{
    char d[512];
    cli_error_text(d, sizeof(d), rc, unmeta_ctx_last_error(ctx)); /* "; see --max-..." for a limit */
    if (!it->named && not_claimed(rc, ctx, it->path)) {
        set_error(it, ST_SKIPPED, rc, d);
        return;
    }
    if (rc == UNMETA_E_CANCELED && !interrupted && cli_deadline_passed()) {
        set_error(it, ST_REFUSED, rc, d);
        return;
    }
    if (rc == UNMETA_E_CANCELED) {
        set_error(it, ST_ERROR, rc, "interrupted; the file is as it was");
        return;
    }
    switch (rc) {
    case UNMETA_E_UNSUPPORTED:
    case UNMETA_E_MALFORMED:
    case UNMETA_E_TRUNCATED:
    case UNMETA_E_LIMIT:
    case UNMETA_E_FEATURE:
        set_error(it, ST_REFUSED, rc, d);
        break;
    default:
        set_error(it, ST_ERROR, rc, d);
        break;
    }
}

static void count_findings(item *it, const unmeta_report *r)
{
    uint32_t n = unmeta_report_finding_count(r);
    it->format = unmeta_report_format(r);
    for (uint32_t i = 0; i < n; i++) {
        unmeta_finding f = UNMETA_FINDING_INIT;
        if (unmeta_report_finding(&f, r, i) == 0 && f.category >= 1 && f.category <= NCAT)
            it->removed[f.category - 1]++;
    }
}

/* Inspects the file: fills format and findings, or classifies the failure.
 * Returns 1 when the file holds something to remove, 0 when clean, -1 on failure. */
static int inspect_file(unmeta_ctx *ctx, item *it)
{
    unmeta_source *src = NULL;
    unmeta_report *rep = NULL;
    char ebuf[128];
    int rc = unmeta_source_new_path(&src, it->path);
    if (rc < 0) {
        set_error(it, ST_ERROR, rc, errno_text(ebuf, sizeof(ebuf), errno));
        return -1;
    }
    rc = unmeta_inspect(&rep, ctx, src);
    unmeta_source_free(src);
    if (rc < 0) {
        classify(it, rc, ctx);
        return -1;
    }
    count_findings(it, rep);
    int dirty = unmeta_report_dirty(rep) != 0;
    unmeta_report_free(rep);
    return dirty;
}

static void process(unmeta_ctx *ctx, const batch_opts *o, item *it, slot *sl)
{
    unmeta_source *src = NULL;
    unmeta_sink *dst = NULL;
    unmeta_report *rep = NULL;
    char *resolved = NULL;
    const char *out = it->out;
    struct stat st;
    char ebuf[128];
    int rc;

    if (it->status != ST_PENDING)
        return; /* failed during the walk */
    sl->base = 0;
    sl->half = o->in_place;
    if (o->in_place) {
        /* A clean file is left untouched (same bytes, same times). */
        int dirty = inspect_file(ctx, it);
        sl->base = it->size / 2; /* the strip counts for the other half */
        if (dirty <= 0) {
            if (dirty == 0) {
                it->status = ST_CLEAN;
                it->bytes_out = it->size;
            }
            return;
        }
        memset(it->removed, 0, sizeof(it->removed)); /* counted again from the strip */
        /* Replace the file itself, never a symbolic link to it. */
        resolved = realpath(it->path, NULL);
        if (!resolved) {
            set_error(it, ST_ERROR, UNMETA_E_IO, errno_text(ebuf, sizeof(ebuf), errno));
            goto done;
        }
        out = resolved;
    } else {
        if (!out) {
            set_error(it, ST_ERROR, UNMETA_E_NOMEM, "out of memory");
            goto done;
        }
        if (!o->force && stat(out, &st) == 0) {
            /* Something that is not a photo stays "skipped" even so. */
            if (inspect_file(ctx, it) >= 0) {
                char msg[64 + 4096];
                snprintf(msg, sizeof(msg), "%s exists; use -f to overwrite it", out);
                memset(it->removed, 0, sizeof(it->removed));
                set_error(it, ST_ERROR, UNMETA_E_IO, msg);
            }
            goto done;
        }
        if (strcmp(out, it->path) == 0) {
            set_error(it, ST_ERROR, UNMETA_E_INVALID, "the output is the input; use --in-place");
            goto done;
        }
    }
    rc = unmeta_source_new_path(&src, it->path);
    if (rc < 0) {
        set_error(it, ST_ERROR, rc, errno_text(ebuf, sizeof(ebuf), errno));
        goto done;
    }
    if (o->dir && !it->named && make_parents(o->dir, out) != 0) {
        char msg[64 + 4096];
        snprintf(msg, sizeof(msg), "cannot create the folder for %s: %s", out, errno_text(ebuf, sizeof(ebuf), errno));
        set_error(it, ST_ERROR, UNMETA_E_IO, msg);
        goto done;
    }
    rc = unmeta_sink_new_path(&dst, out, -1);
    if (rc < 0) {
        set_error(it, ST_ERROR, rc, unmeta_strerror(rc));
        goto done;
    }
    rc = unmeta_strip(&rep, ctx, src, dst);
    if (rc < 0) {
        classify(it, rc, ctx);
        goto done;
    }
    count_findings(it, rep);
    it->status = unmeta_report_dirty(rep) ? ST_CLEANED : ST_CLEAN;
    it->bytes_out = stat(out, &st) == 0 ? (uint64_t)st.st_size : 0;
done:
    unmeta_report_free(rep);
    unmeta_sink_free(dst);
    unmeta_source_free(src);
    free(resolved);
}

/* ---- output (callers hold the batch lock) ---------------------------------- */

static void clear_progress(batch *b)
{
    if (b->drawn) {
        fputs("\r\033[K", stderr);
        b->drawn = 0;
    }
}

static void draw_progress(batch *b, int force)
{
    double t = now_s();
    if (!b->show_progress || (!force && t - b->last_draw < 0.1))
        return;
    b->last_draw = t;
    uint64_t bytes = b->done_bytes + b->inflight;
    if (bytes > b->total_bytes)
        bytes = b->total_bytes; /* a file that grew since the walk */
    double el = t - b->start, mb = (double)bytes / 1e6;
    double rate = el > 0 ? mb / el : 0;
    double left = (double)(b->total_bytes - bytes) / 1e6;
    fprintf(stderr, "\r\033[K[%zu/%zu] %zu files cleaned, %.1f MB, %.1f MB/s", b->done, b->files.n,
            b->cleaned, mb, rate);
    if (rate > 0)
        fprintf(stderr, ", ETA %.0fs", left / rate);
    fflush(stderr);
    b->drawn = 1;
}

static void print_json_line(const item *it)
{
    static const char *const cat[NCAT] = { "location", "device", "time", "people", "software", "embedded", "other" };
    flockfile(stdout);
    fputs("{\"path\":", stdout);
    cli_put_json_string(it->path);
    fputs(",\"output\":", stdout);
    if (it->status == ST_CLEANED || it->status == ST_CLEAN)
        cli_put_json_string(it->out ? it->out : it->path); /* in place: the file itself */
    else
        fputs("null", stdout);
    fputs(",\"format\":", stdout);
    if (it->format)
        cli_put_json_string(it->format);
    else
        fputs("null", stdout);
    printf(",\"status\":\"%s\",\"removed\":{", status_name[it->status]);
    for (int c = 0; c < NCAT; c++)
        printf("%s\"%s\":%u", c ? "," : "", cat[c], (unsigned)it->removed[c]);
    printf("},\"bytes_in\":%llu,\"bytes_out\":", (unsigned long long)it->size);
    if (it->status == ST_CLEANED || it->status == ST_CLEAN)
        printf("%llu", (unsigned long long)it->bytes_out);
    else
        fputs("null", stdout);
    if (it->error) {
        fputs(",\"error\":", stdout);
        cli_put_json_string(it->error);
    }
    fputs("}\n", stdout);
    funlockfile(stdout);
}

static void report_item(batch *b, const item *it)
{
    const batch_opts *o = b->o;
    int say = it->status == ST_REFUSED || it->status == ST_ERROR || (o->verbose && it->status != ST_PENDING);
    if (say) {
        clear_progress(b);
        if (it->error)
            fprintf(stderr, "unmeta: %s: %s%s\n", it->path, it->status == ST_SKIPPED ? "skipped: " : "",
                    it->error);
        else if (it->status == ST_CLEAN)
            fprintf(stderr, "unmeta: %s: nothing to remove%s\n", it->path, o->in_place ? ", left untouched" : "");
        else {
            static const char *const cat[NCAT] = { "location", "device", "time", "people", "software",
                                                   "embedded", "other" };
            fprintf(stderr, "unmeta: %s: cleaned (", it->path);
            for (int c = 0, first = 1; c < NCAT; c++)
                if (it->removed[c]) {
                    fprintf(stderr, "%s%s %u", first ? "" : ", ", cat[c], (unsigned)it->removed[c]);
                    first = 0;
                }
            fputs(")\n", stderr);
        }
    }
    if (o->json)
        print_json_line(it);
}

/* ---- workers -------------------------------------------------------------- */

static int32_t on_progress(uint64_t done, uint64_t total, void *user)
{
    slot *sl = user;
    batch *b = sl->b;
    if (total == 0)
        return 0; /* only a piped input has no size yet; batches take files */
    uint64_t v = sl->base + (sl->half ? done / 2 : done);
    pthread_mutex_lock(&b->lock);
    if (v > sl->shown) {
        b->inflight += v - sl->shown;
        sl->shown = v;
    }
    draw_progress(b, 0);
    pthread_mutex_unlock(&b->lock);
    return 0;
}

static void *worker(void *arg)
{
    slot *sl = arg;
    batch *b = sl->b;
    unmeta_ctx *ctx = NULL;
    int ok = unmeta_ctx_new(&ctx) == 0;
    if (ok) {
        unmeta_ctx_set_option(ctx, UNMETA_OPT_ICC, b->o->icc);
        unmeta_ctx_set_option(ctx, UNMETA_OPT_APPLY_ORIENTATION, b->o->apply_orientation);
        unmeta_ctx_set_option(ctx, UNMETA_OPT_KEEP_DEPTH, b->o->keep_depth);
        unmeta_ctx_set_option(ctx, UNMETA_OPT_KEEP_MOTION, b->o->keep_motion);
        if (b->o->limits)
            ok = cli_apply_limits(ctx, b->o->limits) < 0; /* main.c validated them */
        unmeta_ctx_set_cancel(ctx, cancel_requested, NULL);
        if (b->show_progress)
            unmeta_ctx_set_progress(ctx, on_progress, sl);
    }
    for (;;) {
        pthread_mutex_lock(&b->lock);
        size_t i = b->next < b->files.n && !interrupted ? b->next++ : b->files.n;
        pthread_mutex_unlock(&b->lock);
        if (i >= b->files.n)
            break;
        item *it = &b->files.v[i];
        cli_deadline_start(b->o->max_time);
        if (ok)
            process(ctx, b->o, it, sl);
        else if (it->status == ST_PENDING)
            set_error(it, ST_ERROR, UNMETA_E_NOMEM, "out of memory");
        pthread_mutex_lock(&b->lock);
        b->inflight -= sl->shown;
        sl->shown = 0;
        b->done++;
        b->done_bytes += it->size;
        if (it->status == ST_CLEANED)
            b->cleaned++;
        report_item(b, it);
        draw_progress(b, b->done == b->files.n);
        pthread_mutex_unlock(&b->lock);
    }
    unmeta_ctx_free(ctx);
    return NULL;
}

/* ---- summary -------------------------------------------------------------- */

static int cmp_item_path(const void *a, const void *b)
{
    return strcmp(((const item *)a)->path, ((const item *)b)->path);
}

static void summary(const batch *b)
{
    const batch_opts *o = b->o;
    size_t n[6] = { 0 };
    for (size_t i = 0; i < b->files.n; i++)
        n[b->files.v[i].status]++;
    fprintf(stderr, "unmeta: %zu file%s: %zu cleaned, %zu already clean (%s), %zu skipped (not a photo or video), "
            "%zu refused, %zu error%s\n",
            b->files.n, b->files.n == 1 ? "" : "s", n[ST_CLEANED], n[ST_CLEAN],
            o->in_place ? "left untouched" : "written anyway", n[ST_SKIPPED], n[ST_REFUSED], n[ST_ERROR],
            n[ST_ERROR] == 1 ? "" : "s");
    if (n[ST_PENDING])
        fprintf(stderr, "unmeta: interrupted: %zu file%s not processed\n", n[ST_PENDING],
                n[ST_PENDING] == 1 ? "" : "s");
    if (b->removed_temps)
        fprintf(stderr, "unmeta: removed %zu stale temporary file%s (*.unmeta-tmp) left by an interrupted run\n",
                b->removed_temps, b->removed_temps == 1 ? "" : "s");
    if (b->passed_links || b->passed_outputs || b->passed_cycles || b->passed_repeats || b->passed_outdir) {
        const char *sep = "";
        fputs("unmeta: passed over", stderr);
        if (b->passed_links)
            fprintf(stderr, " %zu symbolic link%s (see --follow-symlinks)", b->passed_links,
                    b->passed_links == 1 ? "" : "s"), sep = ",";
        if (b->passed_outputs)
            fprintf(stderr, "%s %zu earlier output%s (*.clean.*, see --include-clean)", sep, b->passed_outputs,
                    b->passed_outputs == 1 ? "" : "s"), sep = ",";
        if (b->passed_cycles)
            fprintf(stderr, "%s %zu folder loop%s", sep, b->passed_cycles, b->passed_cycles == 1 ? "" : "s"),
                sep = ",";
        if (b->passed_repeats)
            fprintf(stderr, "%s %zu file%s named more than once", sep, b->passed_repeats,
                    b->passed_repeats == 1 ? "" : "s"), sep = ",";
        if (b->passed_outdir)
            fprintf(stderr, "%s the output folder %s", sep, o->dir);
        fputc('\n', stderr);
    }
    /* Refusals grouped by reason (the error code's description), then errors. */
    static const int groups[] = { UNMETA_E_UNSUPPORTED, UNMETA_E_MALFORMED, UNMETA_E_TRUNCATED, UNMETA_E_LIMIT,
                                  UNMETA_E_FEATURE };
    for (size_t g = 0; g <= sizeof(groups) / sizeof(groups[0]); g++) {
        int want_status = g < sizeof(groups) / sizeof(groups[0]) ? ST_REFUSED : ST_ERROR;
        size_t count = 0;
        for (size_t i = 0; i < b->files.n; i++) {
            const item *it = &b->files.v[i];
            if (it->status != want_status || (want_status == ST_REFUSED && it->code != groups[g]))
                continue;
            if (count == 0) {
                if (want_status == ST_REFUSED)
                    fprintf(stderr, "unmeta: refused (%s):\n", unmeta_strerror(groups[g]));
                else
                    fprintf(stderr, "unmeta: errors:\n");
            }
            if (count < SUMMARY_PATHS)
                fprintf(stderr, "  %s: %s\n", it->path, it->error ? it->error : "");
            count++;
        }
        if (count > SUMMARY_PATHS)
            fprintf(stderr, "  ... and %zu more\n", count - SUMMARY_PATHS);
    }
}

/* Once the walk is done, every file the batch will open is known: the
 * folders named may be read (and written beside their files, unless -d),
 * -d's folder written (subfolders too), files named on the command line
 * read and written beside; with --follow-symlinks every file found, since
 * a link may lead out of the folders named. FFmpeg is loaded first. */
static int confine(const batch *b, char **args, int nargs)
{
    const batch_opts *o = b->o;
    sandbox *sb = sandbox_new(!o->no_sandbox, 0);
    unsigned replace = o->in_place || o->force ? SANDBOX_REPLACE : 0;
    if (!sb) {
        fprintf(stderr, "unmeta: out of memory\n");
        return -1;
    }
    for (int a = 0; a < nargs && !o->no_sandbox; a++) {
        struct stat st;
        if (!o->recursive || strcmp(args[a], "-") == 0 || stat(args[a], &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        sandbox_allow_read(sb, args[a], 1);
        if (!o->dir)
            sandbox_allow_write(sb, args[a], replace);
    }
    if (o->dir && !o->no_sandbox)
        sandbox_allow_write(sb, o->dir, replace | SANDBOX_MKDIR);
    for (size_t i = 0; i < b->files.n && !o->no_sandbox; i++) {
        const item *it = &b->files.v[i];
        if (it->status != ST_PENDING || (!it->named && !o->follow_symlinks))
            continue;
        sandbox_allow_read(sb, it->path, 0);
        if (o->in_place) {
            char *real = realpath(it->path, NULL);
            if (real)
                sandbox_allow_write_beside(sb, real, replace);
            free(real);
        } else if (it->out && !o->dir) {
            sandbox_allow_write_beside(sb, it->out, replace);
        }
    }
    sandbox_need_media(sb);
    int rc = sandbox_enter(sb, o->verbose);
    sandbox_free(sb);
    return rc;
}

int batch_strip(const batch_opts *o, char **args, int nargs)
{
    batch b;
    struct stat outdir_st, st;
    const struct stat *outdir = NULL;
    char *canon_out = NULL;
    int refuse = 0, status = 0;
    memset(&b, 0, sizeof(b));
    b.o = o;
    if (o->dir) {
        if (stat(o->dir, &outdir_st) != 0 || !S_ISDIR(outdir_st.st_mode)) {
            fprintf(stderr, "unmeta: %s: not a folder\n", o->dir);
            return EXIT_ERROR;
        }
        outdir = &outdir_st;
        canon_out = cli_canonical(o->dir, 1);
        if (!canon_out) {
            fprintf(stderr, "unmeta: %s: cannot resolve: %s\n", o->dir, strerror(errno));
            return EXIT_ERROR;
        }
    }
    for (int a = 0; a < nargs; a++) {
        const char *arg = args[a];
        if (strcmp(arg, "-") == 0) {
            add_failed(&b.files, arg, 1, "", "standard input cannot be part of a batch; use -o");
        } else if (stat(arg, &st) != 0) {
            add_failed(&b.files, arg, 1, "cannot open", strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            if (!o->recursive) {
                add_failed(&b.files, arg, 1, "", "is a folder; use -r to walk it");
                continue;
            }
            if (outdir && st.st_dev == outdir->st_dev && st.st_ino == outdir->st_ino) {
                fprintf(stderr, "unmeta: %s: -d names this input folder itself; its outputs would mix with its "
                        "inputs: use --in-place, or another folder\n", arg);
                refuse = 1;
                continue;
            }
            char *name = o->dir ? root_name(arg) : NULL;
            char *canon_root = cli_canonical(arg, 1);
            if (o->dir && name && !*name) {
                fprintf(stderr, "unmeta: %s: the root folder has no name to mirror under %s; name the folders "
                        "under it instead\n", arg, o->dir);
                refuse = 1;
            } else if ((o->dir && !name) || !canon_root) {
                add_failed(&b.files, arg, 1, "cannot resolve", strerror(errno));
            } else {
                walk(&b, arg, outdir, name, canon_root, canon_out);
            }
            free(name);
            free(canon_root);
        } else if (S_ISREG(st.st_mode)) {
            item *it = list_add(&b.files, arg, (uint64_t)st.st_size, 1);
            b.total_bytes += it->size;
            it->key_in = realpath(arg, NULL);
            char *key_path = cli_canonical(arg, 0);
            const char *base = strrchr(arg, '/') ? strrchr(arg, '/') + 1 : arg;
            if (o->dir) {
                it->out = join(o->dir, base);
                it->key_out = join(canon_out, base);
            } else if (o->in_place) {
                it->key_out = it->key_in ? xstrdup(it->key_in) : NULL;
            } else {
                it->out = cli_clean_name(arg);
                it->key_out = key_path ? cli_clean_name(key_path) : NULL;
            }
            free(key_path);
        } else {
            add_failed(&b.files, arg, 1, "", "not a regular file");
        }
    }
    /* The summary names paths in one order whatever the walk and schedule. */
    if (b.files.n > 1)
        qsort(b.files.v, b.files.n, sizeof(item), cmp_item_path);
    /* Before any work: no output may land on another's or on an input, and
     * a file met twice is stripped once. */
    if (!refuse) {
        cli_target *tg = calloc(b.files.n ? b.files.n : 1, sizeof(*tg));
        if (!tg) {
            fprintf(stderr, "unmeta: out of memory\n");
            exit(EXIT_ERROR);
        }
        for (size_t i = 0; i < b.files.n; i++) {
            item *it = &b.files.v[i];
            tg[i].name = it->path;
            tg[i].out_name = it->out;
            if (it->status == ST_PENDING) {
                tg[i].key_in = it->key_in;
                tg[i].key_out = it->key_out;
            }
        }
        refuse = cli_check_targets(tg, b.files.n, o->in_place) < 0;
        /* Drop the repeats, keeping the order. */
        size_t w = 0;
        for (size_t i = 0; i < b.files.n; i++) {
            item *it = &b.files.v[i];
            if (tg[i].repeat) {
                b.passed_repeats++;
                b.total_bytes -= it->size;
                free(it->path);
                free(it->out);
                free(it->error);
                free(it->key_in);
                free(it->key_out);
                continue;
            }
            b.files.v[w++] = *it;
        }
        b.files.n = w;
        free(tg);
    }
    if (refuse) {
        status = EXIT_ERROR;
        goto out;
    }

    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t jobs = o->jobs > 0 ? (size_t)o->jobs : cpus > 0 ? (size_t)cpus : 1;
    if (jobs > MAX_JOBS)
        jobs = MAX_JOBS;
    if (jobs > b.files.n)
        jobs = b.files.n ? b.files.n : 1;
    b.show_progress = o->progress < 0 ? isatty(2) : o->progress;
    if (confine(&b, args, nargs) < 0) {
        for (size_t i = 0; i < b.files.n; i++) {
            free(b.files.v[i].path);
            free(b.files.v[i].out);
            free(b.files.v[i].error);
        }
        free(b.files.v);
        return EXIT_ERROR;
    }
    b.start = now_s();
    b.last_draw = b.start - 1; /* the first event draws at once */
    pthread_mutex_init(&b.lock, NULL);
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    pthread_t tid[MAX_JOBS];
    slot slots[MAX_JOBS];
    size_t started = 0;
    for (size_t i = 0; i < jobs; i++)
        slots[i] = (slot){ &b, 0, 0, 0 };
    for (; started < jobs; started++)
        if (pthread_create(&tid[started], NULL, worker, &slots[started]) != 0)
            break;
    if (started == 0)
        worker(&slots[0]); /* no thread could start: do the work here */
    for (size_t i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    pthread_mutex_destroy(&b.lock);

    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    clear_progress(&b);
    summary(&b);
    for (size_t i = 0; i < b.files.n; i++) {
        item *it = &b.files.v[i];
        if (it->status == ST_REFUSED || it->status == ST_ERROR || it->status == ST_PENDING)
            status = EXIT_ERROR;
    }
out:
    for (size_t i = 0; i < b.files.n; i++) {
        item *it = &b.files.v[i];
        free(it->path);
        free(it->out);
        free(it->error);
        free(it->key_in);
        free(it->key_out);
    }
    free(b.files.v);
    free(canon_out);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "unmeta: writing to standard output failed: %s\n", strerror(errno));
        status = EXIT_ERROR;
    }
    return status;
}
