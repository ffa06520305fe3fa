/*
 * main.c - the `unmeta` command: parse arguments, call the library, map
 * results to messages and exit codes. Everything that touches a file's
 * format lives in the library.
 *
 * Exit codes: 0 success (check: every file clean); 1 check found something
 * privacy-relevant; 2 an error (usage, or at least one file failed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "unmeta.h"
#include "envelope_cmd.h"
#include "batch.h"
#include "sandbox.h"

#define EXIT_DIRTY 1
#define EXIT_ERROR 2

static const char *prog = "unmeta";

typedef struct opts {
    batch_opts b;          /* what strip needs, single file or batch (-d, -f, --json, -j...) */
    const char *out;       /* -o */
    int quiet;
    long long limits[CLI_LIMITS]; /* --max-*; 0: the library default */
    unmeta_source *stdin_src; /* standard input, read before confining (NULL: not yet) */
} opts;

/* The --max-* options, in the order of opts.limits. */
static const struct {
    const char *name;
    int key;
} cli_limit_keys[CLI_LIMITS] = {
    { "max-block-size", UNMETA_OPT_MAX_BLOCK_SIZE },
    { "max-depth", UNMETA_OPT_MAX_DEPTH },
    { "max-items", UNMETA_OPT_MAX_ITEMS },
    { "max-memory", UNMETA_OPT_MAX_MEMORY },
    { "max-inflate", UNMETA_OPT_MAX_INFLATE },
    { "max-spool", UNMETA_OPT_MAX_SPOOL },
    { "max-growth", UNMETA_OPT_MAX_GROWTH },
};

int cli_apply_limits(unmeta_ctx *ctx, const long long *limits)
{
    for (int i = 0; i < CLI_LIMITS; i++)
        if (limits[i] > 0 && unmeta_ctx_set_option(ctx, cli_limit_keys[i].key, limits[i]) < 0)
            return i;
    return -1;
}

/* --max-time: each thread's deadline for the file it works on. */
static _Thread_local double deadline_at, deadline_secs;
static _Thread_local int deadline_hit;

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_deadline_start(double seconds)
{
    deadline_secs = seconds;
    deadline_at = seconds > 0 ? mono_s() + seconds : 0;
    deadline_hit = 0;
}

int cli_deadline_passed(void)
{
    if (!deadline_hit && deadline_at > 0 && mono_s() > deadline_at)
        deadline_hit = 1;
    return deadline_hit;
}

static int32_t deadline_cancel(void *user)
{
    (void)user;
    return cli_deadline_passed();
}

const char *cli_error_text(char *buf, size_t n, int rc, const char *detail)
{
    if (rc == UNMETA_E_CANCELED && deadline_hit) {
        snprintf(buf, n, "took longer than %g s and was abandoned (a limit: see --max-time)", deadline_secs);
        return buf;
    }
    if (!detail || !*detail)
        detail = unmeta_strerror(rc);
    snprintf(buf, n, "%s", detail);
    if (rc != UNMETA_E_LIMIT)
        return buf;
    for (int i = 0; i < CLI_LIMITS; i++) {
        /* "max-block-size" -> "UNMETA_OPT_MAX_BLOCK_SIZE" */
        char macro[64] = "UNMETA_OPT_";
        size_t k = strlen(macro);
        for (const char *c = cli_limit_keys[i].name; *c && k + 1 < sizeof(macro); c++)
            macro[k++] = *c == '-' ? '_' : (char)(*c - 'a' + 'A');
        macro[k] = '\0';
        const char *at = strstr(detail, macro);
        if (at && !(at[k] == '_' || (at[k] >= 'A' && at[k] <= 'Z'))) {
            size_t len = strlen(buf);
            snprintf(buf + len, n > len ? n - len : 0, "; see --%s", cli_limit_keys[i].name);
            break;
        }
    }
    return buf;
}

/* N, NK, NM or NG (binary multiples); 0 on a malformed or overflowing value. */
static long long parse_size(const char *s)
{
    char *end;
    if (*s < '0' || *s > '9')
        return 0;
    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    if (errno != 0)
        return 0;
    unsigned shift = 0;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: return 0;
    }
    if (*end != '\0' || n > (0x7fffffffffffffffull >> shift))
        return 0;
    return (long long)(n << shift);
}

static void usage(FILE *f)
{
    fprintf(f,
        "Usage: %s COMMAND [OPTIONS] FILE...\n"
        "\n"
        "Remove what photos and videos say about who made them (location, device,\n"
        "owner, times, thumbnails, trailers), keeping every pixel as it was.\n"
        "\n"
        "Commands:\n"
        "  strip FILE...     write FILE without its metadata (default: NAME.clean.EXT)\n"
        "  inspect FILE...   show what FILE reveals, block by block\n"
        "  check FILE...     exit 0 if nothing privacy-relevant is present, 1 if\n"
        "                    something is, 2 on error\n"
        "  formats [-v]      list the formats this build handles (-v: what each covers)\n"
        "  keygen, seal, open, share, share-store, revoke   sealed, expiring\n"
        "                    envelopes (see unmeta seal --help)\n"
        "\n"
        "Options for strip:\n"
        "  -o, --output OUT         write to OUT (one input only; '-' for stdout)\n"
        "  -d, --dir DIR            write NAME.EXT into DIR\n"
        "  -i, --in-place           replace each FILE atomically\n"
        "  -f, --force              overwrite an existing output file\n"
        "  -r, --recursive          FILE may be a folder: strip every photo and video\n"
        "                           under it (-d DIR mirrors the tree); other files\n"
        "                           are skipped, *.clean.* outputs passed over\n"
        "      --follow-symlinks    follow symbolic links while walking (default: not)\n"
        "      --include-clean      also strip *.clean.* files found by the walk\n"
        "  -j, --jobs N             N files at a time (default: the online CPUs)\n"
        "      --progress, --no-progress   force the progress line on or off (default:\n"
        "                           on when stderr is a terminal, for files that take\n"
        "                           more than half a second)\n"
        "      --icc=keep|strip     keep the ICC profile neutralised (default) or drop it\n"
        "      --apply-orientation  rotate JPEGs losslessly instead of keeping the\n"
        "                           Orientation tag (falls back to the tag when a\n"
        "                           perfect transform is impossible)\n"
        "  -v, --verbose            say what was removed from each file, and how the\n"
        "                           process is confined\n"
        "Options for inspect, check and strip:\n"
        "      --json               one JSON object per file and line (docs/json.md)\n"
        "      --keep-depth         HEIF: keep depth maps, which editing apps use\n"
        "                           (mattes still go); check reports them either way\n"
        "      --keep-motion        JPEG, HEIC: keep a motion photo's video, cleaned as\n"
        "                           an MP4; check reports it either way\n"
        "  -q, --quiet              check: print nothing, only the exit code\n"
        "Limits (N may end in K, M or G; a file beyond one is refused):\n"
        "      --max-block-size N   largest metadata block read into memory (64M)\n"
        "      --max-depth N        deepest nesting of boxes/IFDs (32)\n"
        "      --max-items N        most blocks, entries or items in one file (100000)\n"
        "      --max-memory N       most memory for a whole-image operation (512M)\n"
        "      --max-inflate N      most bytes one compressed block may inflate to (64M)\n"
        "      --max-spool N        longest input read from a pipe (4G: the first 64M in\n"
        "                           memory, the rest in a temporary file in $TMPDIR)\n"
        "      --max-growth N       most bytes an output may have beyond its input (64M)\n"
        "      --max-time SECONDS   most time for one file (no limit by default)\n"
        "Common:\n"
        "      --no-sandbox         do not confine the process (by default, once its\n"
        "                           files are open it can open no other file, no\n"
        "                           socket and run no program: SECURITY.md)\n"
        "  -h, --help               this help\n"
        "  -V, --version            the version\n"
        "\n"
        "FILE '-' reads standard input. Exit codes: 0 success, 1 check found\n"
        "metadata, 2 error (strip: a file was refused or failed; the others are\n"
        "still processed, and skipped non-media files are not failures). See unmeta(1).\n",
        prog);
}

#if defined(__GNUC__)
static void err_file(const char *file, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#endif

static void err_file(const char *file, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: %s: ", prog, file);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void err_lib(const char *file, int rc, unmeta_ctx *ctx)
{
    char buf[1024];
    err_file(file, "%s", cli_error_text(buf, sizeof(buf), rc, unmeta_ctx_last_error(ctx)));
}

/* ---- the byte progress line of a single-file strip --------------------------- */

typedef struct progress_line {
    const char *file;
    int mode;          /* 1: always (--progress); -1: on a terminal, once a file takes a while */
    double start, last;
    int drawn;
} progress_line;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void human_bytes(char *buf, size_t n, double b)
{
    static const char *const unit[] = { "B", "kB", "MB", "GB", "TB" };
    int u = 0;
    while (b >= 1000 && u < 4)
        b /= 1000, u++;
    snprintf(buf, n, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
}

static int32_t on_progress(uint64_t done, uint64_t total, void *user)
{
    progress_line *p = user;
    double t = now_s(), el = t - p->start;
    int last = total && done == total;
    if (p->mode < 0 && el < 0.5)
        return 0; /* quick files stay quiet */
    if (!last && p->drawn && t - p->last < 0.1)
        return 0;
    if (last && !p->drawn)
        return 0; /* nothing to finish */
    p->last = t;
    char a[32], b[32], r[32];
    human_bytes(a, sizeof(a), (double)done);
    if (total == 0) {
        fprintf(stderr, "\r\033[K%s: reading the input (not seekable): %s", p->file, a);
    } else {
        double rate = el > 0 ? (double)done / el : 0;
        human_bytes(b, sizeof(b), (double)total);
        human_bytes(r, sizeof(r), rate);
        fprintf(stderr, "\r\033[K%s: %s of %s (%.0f%%), %s/s", p->file, a, b,
                100.0 * (double)done / (double)total, r);
        if (rate > 0 && !last)
            fprintf(stderr, ", ETA %.0fs", (double)(total - done) / rate);
    }
    fflush(stderr);
    p->drawn = 1;
    return 0;
}

static void progress_clear(progress_line *p)
{
    if (p->drawn) {
        fputs(p->mode < 0 ? "\r\033[K" : "\n", stderr);
        p->drawn = 0;
    }
}

static int open_source(unmeta_source **src, const char *file)
{
    int rc = strcmp(file, "-") == 0 ? unmeta_source_new_fd(src, 0) : unmeta_source_new_path(src, file);
    if (rc < 0)
        err_file(file, "cannot open: %s", rc == UNMETA_E_IO ? strerror(errno) : unmeta_strerror(rc));
    return rc;
}

/* NAME.EXT -> NAME.clean.EXT (the extension as the user named the file). */
char *cli_clean_name(const char *in)
{
    const char *slash = strrchr(in, '/');
    const char *base = slash ? slash + 1 : in;
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base)
        dot = base + strlen(base);
    size_t head = (size_t)(dot - in);
    size_t tail = strlen(dot);
    char *out = malloc(head + 6 + tail + 1);
    if (!out)
        return NULL;
    memcpy(out, in, head);
    memcpy(out + head, ".clean", 6);
    memcpy(out + head + 6, dot, tail + 1);
    return out;
}

static char *join_dir(const char *dir, const char *in)
{
    const char *slash = strrchr(in, '/');
    const char *base = slash ? slash + 1 : in;
    size_t n = strlen(dir) + strlen(base) + 2;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", base);
    return out;
}

static void print_removed(const char *file, const unmeta_report *r)
{
    uint32_t nb = unmeta_report_block_count(r);
    int any = 0;
    for (uint32_t i = 0; i < nb; i++) {
        unmeta_block b = UNMETA_BLOCK_INIT;
        if (unmeta_report_block(&b, r, i) < 0 || b.action == UNMETA_ACTION_KEEP)
            continue;
        fprintf(stderr, "%s: %s %s (%llu bytes at %llu)\n", file,
                b.action == UNMETA_ACTION_REMOVE ? "removed" : "rewrote", b.kind,
                (unsigned long long)b.length, (unsigned long long)b.offset);
        any = 1;
    }
    for (uint32_t i = 0; i < unmeta_report_note_count(r); i++)
        fprintf(stderr, "%s: note: %s\n", file, unmeta_report_note(r, i));
    if (!any)
        fprintf(stderr, "%s: nothing to remove\n", file);
}

/* Where strip writes file: standard output (*to_stdout), or *out (malloc'd).
 * -1 on an impossible combination or no memory, said when `say`. */
static int output_for(const opts *o, const char *file, char **out, int *to_stdout, int say)
{
    *out = NULL;
    *to_stdout = 0;
    if (o->b.in_place) {
        if (strcmp(file, "-") == 0) {
            if (say)
                err_file(file, "--in-place needs a file, not standard input");
            return -1;
        }
        /* Replace the file itself, not a symbolic link to it: renaming over
         * the link would leave the original, metadata and all, in place. */
        *out = realpath(file, NULL);
        if (!*out) {
            if (say)
                err_file(file, "cannot resolve: %s", strerror(errno));
            return -1;
        }
        return 0;
    } else if (o->out) {
        if (strcmp(o->out, "-") == 0)
            *to_stdout = 1;
        else
            *out = strdup(o->out);
    } else if (o->b.dir) {
        if (strcmp(file, "-") == 0) {
            if (say)
                err_file(file, "-d needs named inputs; use -o for standard input");
            return -1;
        }
        *out = join_dir(o->b.dir, file);
    } else if (strcmp(file, "-") == 0) {
        *to_stdout = 1;
    } else {
        *out = cli_clean_name(file);
    }
    if (!*to_stdout && !*out) {
        if (say)
            err_file(file, "out of memory");
        return -1;
    }
    return 0;
}

/* Standard input is read once, before confining: a non-seekable one larger
 * than the spool limit goes to a temporary file, which a confined process
 * could not create. */
static int open_input(const opts *o, unmeta_source **src, const char *file)
{
    if (strcmp(file, "-") == 0 && o->stdin_src) {
        *src = o->stdin_src;
        return 0;
    }
    return open_source(src, file);
}

static void close_input(const opts *o, unmeta_source *src)
{
    if (src != o->stdin_src)
        unmeta_source_free(src);
}

static int strip_one(unmeta_ctx *ctx, const opts *o, const char *file)
{
    unmeta_source *src = NULL;
    unmeta_sink *dst = NULL;
    unmeta_report *rep = NULL;
    char *out = NULL;
    int rc;
    int to_stdout = 0;

    if (open_input(o, &src, file) < 0)
        return EXIT_ERROR;
    rc = output_for(o, file, &out, &to_stdout, 1);
    if (rc < 0)
        goto done;
    if (out && !o->b.in_place && !o->b.force) {
        struct stat st;
        if (stat(out, &st) == 0) {
            err_file(file, "%s exists; use -f to overwrite it", out);
            rc = -1;
            goto done;
        }
    }
    if (out && !o->b.in_place && strcmp(out, file) == 0) {
        err_file(file, "the output is the input; use --in-place");
        rc = -1;
        goto done;
    }
    rc = to_stdout ? unmeta_sink_new_fd(&dst, 1) : unmeta_sink_new_path(&dst, out, -1);
    if (rc < 0) {
        err_file(file, "%s", unmeta_strerror(rc));
        goto done;
    }
    progress_line pl = { file, o->b.progress, now_s(), 0, 0 };
    if (o->b.progress == 1 || (o->b.progress < 0 && isatty(2)))
        unmeta_ctx_set_progress(ctx, on_progress, &pl);
    rc = unmeta_strip(&rep, ctx, src, dst);
    unmeta_ctx_set_progress(ctx, NULL, NULL);
    progress_clear(&pl);
    if (rc < 0) {
        err_lib(file, rc, ctx);
        goto done;
    }
    if (o->b.verbose)
        print_removed(file, rep);
done:
    unmeta_report_free(rep);
    unmeta_sink_free(dst);
    close_input(o, src);
    free(out);
    return rc < 0 ? EXIT_ERROR : 0;
}

static const char *short_kind_list(const unmeta_report *r, char *buf, size_t n)
{
    /* Distinct categories of the findings, in a fixed order. */
    static const int32_t order[] = { UNMETA_CAT_LOCATION, UNMETA_CAT_DEVICE, UNMETA_CAT_TIME, UNMETA_CAT_PEOPLE,
                                     UNMETA_CAT_SOFTWARE, UNMETA_CAT_EMBEDDED, UNMETA_CAT_OTHER };
    size_t o = 0;
    buf[0] = '\0';
    for (size_t c = 0; c < sizeof(order) / sizeof(order[0]); c++) {
        for (uint32_t i = 0; i < unmeta_report_finding_count(r); i++) {
            unmeta_finding f = UNMETA_FINDING_INIT;
            if (unmeta_report_finding(&f, r, i) == 0 && f.category == order[c]) {
                o += (size_t)snprintf(buf + o, n > o ? n - o : 0, "%s%s", o ? ", " : "",
                                      unmeta_category_name(order[c]));
                break;
            }
        }
    }
    return buf;
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629), 0 if none. */
static size_t utf8_len(const unsigned char *s)
{
    size_t k;
    uint32_t cp, min;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        k = 2, cp = s[0] & 0x1Fu, min = 0x80;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        k = 3, cp = s[0] & 0x0Fu, min = 0x800;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        k = 4, cp = s[0] & 0x07u, min = 0x10000;
    else
        return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80) /* also stops at the terminating NUL */
            return 0;
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    return cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ? 0 : k;
}

/* A JSON string. File names are bytes, not text: anything that is not
 * UTF-8 becomes U+FFFD so every line stays valid JSON. */
void cli_put_json_string(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t k = utf8_len(p);
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            printf("\\u%04x", *p);
        else if (k == 0)
            fputs("\\ufffd", stdout);
        else
            fwrite(p, 1, k, stdout);
        p += k ? k : 1;
    }
    putchar('"');
}

/* Returns the library's error when the report cannot be made into JSON
 * (the line then carries it), so the run does not end in success. */
static int print_json(const char *file, const unmeta_report *r, const char *error)
{
    char *json = NULL;
    int rc = 0;
    fputs("{\"file\":", stdout);
    cli_put_json_string(file);
    putchar(',');
    if (error) {
        fputs("\"error\":", stdout);
        cli_put_json_string(error);
        fputs("}\n", stdout);
        return 0;
    }
    rc = unmeta_report_json(&json, r);
    if (rc == 0) {
        fputs(json + 1, stdout); /* splice after our "file" member */
        putchar('\n');
    } else {
        fputs("\"error\":", stdout);
        cli_put_json_string(unmeta_strerror(rc));
        fputs("}\n", stdout);
    }
    unmeta_free(json);
    return rc;
}

static void print_human(const char *file, const unmeta_report *r)
{
    uint32_t nf = unmeta_report_finding_count(r), nb = unmeta_report_block_count(r);
    char cats[128];
    printf("%s: %s, %s\n", file, unmeta_report_format(r),
           nf ? short_kind_list(r, cats, sizeof(cats)) : "nothing privacy-relevant found");
    static const int32_t order[] = { UNMETA_CAT_LOCATION, UNMETA_CAT_DEVICE, UNMETA_CAT_TIME, UNMETA_CAT_PEOPLE,
                                     UNMETA_CAT_SOFTWARE, UNMETA_CAT_EMBEDDED, UNMETA_CAT_OTHER };
    for (size_t c = 0; c < sizeof(order) / sizeof(order[0]); c++)
        for (uint32_t i = 0; i < nf; i++) {
            unmeta_finding f = UNMETA_FINDING_INIT;
            unmeta_block b = UNMETA_BLOCK_INIT;
            if (unmeta_report_finding(&f, r, i) < 0 || f.category != order[c])
                continue;
            unmeta_report_block(&b, r, f.block);
            printf("  %-9s %-24s %-36s [%s @%llu, %llu bytes]\n", unmeta_category_name(f.category), f.name, f.value,
                   b.kind, (unsigned long long)b.offset, (unsigned long long)b.length);
        }
    int header = 0;
    for (uint32_t i = 0; i < nb; i++) {
        unmeta_block b = UNMETA_BLOCK_INIT;
        if (unmeta_report_block(&b, r, i) < 0 || b.action == UNMETA_ACTION_KEEP)
            continue;
        if (!header)
            printf("  strip would:\n");
        header = 1;
        printf("    %-7s %-28s @%llu, %llu bytes\n", unmeta_action_name(b.action), b.kind,
               (unsigned long long)b.offset, (unsigned long long)b.length);
    }
    for (uint32_t i = 0; i < unmeta_report_note_count(r); i++)
        printf("  note: %s\n", unmeta_report_note(r, i));
}

static int inspect_one(unmeta_ctx *ctx, const opts *o, const char *file, int check)
{
    unmeta_source *src = NULL;
    unmeta_report *rep = NULL;
    int rc = open_input(o, &src, file);
    int status = EXIT_ERROR;
    if (rc < 0) {
        if (o->b.json)
            print_json(file, NULL, "cannot open");
        return EXIT_ERROR;
    }
    rc = unmeta_inspect(&rep, ctx, src);
    if (rc < 0) {
        err_lib(file, rc, ctx);
        if (o->b.json) {
            const char *d = unmeta_ctx_last_error(ctx);
            print_json(file, NULL, d && *d ? d : unmeta_strerror(rc));
        }
        goto done;
    }
    /* Only check answers "dirty" through its exit status; inspect succeeded. */
    status = check && unmeta_report_dirty(rep) ? EXIT_DIRTY : 0;
    if (o->b.json) {
        rc = print_json(file, rep, NULL);
        if (rc < 0) {
            err_file(file, "%s", unmeta_strerror(rc));
            status = EXIT_ERROR;
        }
    } else if (check) {
        char cats[128];
        if (!o->quiet)
            printf("%s: %s\n", file, status ? short_kind_list(rep, cats, sizeof(cats)) : "clean");
    } else {
        print_human(file, rep);
    }
done:
    unmeta_report_free(rep);
    close_input(o, src);
    return status;
}

/* Single-file commands: everything they will open is known now. Inputs
 * may be read; strip may write into each output's folder; FFmpeg is
 * loaded first when an input is a media file. Returns -1 when the
 * confinement failed (already said). */
static int confine(opts *o, unmeta_ctx *ctx, char **files, int nfiles, int is_strip)
{
    sandbox *sb = sandbox_new(!o->b.no_sandbox, !is_strip);
    int media = 0, staging = 0;
    if (!sb) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return -1;
    }
    for (int i = 0; i < nfiles && !o->b.no_sandbox && !sandbox_unavailable(); i++) {
        const char *file = files[i], *fmt = NULL;
        unmeta_source *src = NULL;
        int prc = 0;
        if (strcmp(file, "-") == 0) {
            /* Reading a pipe before confining is the slow part of the run:
             * the progress line shows it (as the job would). */
            progress_line pl = { file, o->b.progress, now_s(), 0, 0 };
            int show = is_strip && (o->b.progress == 1 || (o->b.progress < 0 && isatty(2)));
            if (show)
                unmeta_ctx_set_progress(ctx, on_progress, &pl);
            if (!o->stdin_src && (prc = unmeta_source_new_fd(&o->stdin_src, 0)) == 0 &&
                (prc = unmeta_probe(&fmt, ctx, o->stdin_src)) == 0 && fmt && strcmp(fmt, "media") == 0)
                media = 1;
            if (show) {
                unmeta_ctx_set_progress(ctx, NULL, NULL);
                progress_clear(&pl);
            }
        } else {
            struct stat st;
            sandbox_allow_read(sb, file, 0);
            /* Probing reads the file: only a regular one can be read twice.
             * A pipe (/dev/stdin, <(...)) could be anything. */
            int pipe_like = stat(file, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
            /* A probe that cannot run (out of memory) must not pass for "not
             * media": FFmpeg could not be loaded once confined. */
            int src_rc = pipe_like || media ? 0 : unmeta_source_new_path(&src, file);
            if (src_rc == UNMETA_E_NOMEM)
                prc = src_rc; /* a file that cannot be opened is left to the job's message */
            else if (src_rc == 0 && src)
                prc = unmeta_probe(&fmt, ctx, src);
            if (pipe_like || (prc == 0 && fmt && strcmp(fmt, "media") == 0))
                media = 1;
            unmeta_source_free(src);
        }
        /* Probing read the input: one that cannot be read ends the run
         * here, before any output (a missing file is left to the job's own
         * message). */
        if (prc == UNMETA_E_IO || prc == UNMETA_E_NOMEM || prc == UNMETA_E_LIMIT) {
            char msg[1024];
            fprintf(stderr, "%s: %s: %s\n", prog, file, cli_error_text(msg, sizeof(msg), prc, unmeta_ctx_last_error(ctx)));
            sandbox_free(sb);
            return -1;
        }
        char *out = NULL;
        int to_stdout = 0;
        if (is_strip && output_for(o, file, &out, &to_stdout, 0) == 0 && out)
            sandbox_allow_write_beside(sb, out, o->b.in_place || o->b.force ? SANDBOX_REPLACE : 0);
        /* A remuxed container reaches standard output through an unnamed
         * staging file in $TMPDIR (lib/io.c). */
        if (is_strip && to_stdout && media && !staging) {
            const char *tmp = getenv("TMPDIR");
            tmp = tmp && *tmp ? tmp : "/tmp";
            sandbox_allow_write(sb, tmp, 0);
            sandbox_allow_read(sb, tmp, 1); /* written, then read back */
            staging = 1;
        }
        if (is_strip)
            free(out);
    }
    if (media)
        sandbox_need_media(sb);
    int rc = sandbox_enter(sb, o->b.verbose);
    sandbox_free(sb);
    return rc;
}

static void print_version(void)
{
    printf("unmeta %s\n", unmeta_version_string());
    if (sandbox_unavailable())
        printf("sandbox: unavailable (%s): the command runs unconfined\n", sandbox_unavailable());
}

static void free_targets(cli_target *t, int n)
{
    for (int i = 0; t && i < n; i++) {
        free(t[i].key_in);
        free(t[i].key_out);
    }
    free(t);
}

/* Where each strip input goes, checked before any work (cli_check_targets):
 * NULL after a message when outputs would collide. */
static cli_target *plan_targets(const opts *o, char **files, int n)
{
    cli_target *t = calloc((size_t)n, sizeof(*t));
    char *canon_dir = o->b.dir ? cli_canonical(o->b.dir, 1) : NULL;
    if (!t || (o->b.dir && !canon_dir)) {
        fprintf(stderr, "%s: out of memory\n", prog);
        free(t);
        free(canon_dir);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        const char *f = files[i];
        t[i].name = f;
        if (strcmp(f, "-") == 0 || (t[i].key_in = realpath(f, NULL)) == NULL)
            continue; /* standard input, or a file that fails to open below */
        char *path = NULL;
        if (o->b.in_place) {
            t[i].key_out = strdup(t[i].key_in);
        } else if (o->out) {
            t[i].out_name = o->out;
            t[i].key_out = strcmp(o->out, "-") == 0 ? NULL : cli_canonical(o->out, 0);
        } else if (o->b.dir) {
            const char *base = strrchr(f, '/') ? strrchr(f, '/') + 1 : f;
            size_t len = strlen(canon_dir) + strlen(base) + 2;
            if ((t[i].key_out = malloc(len)) != NULL)
                snprintf(t[i].key_out, len, "%s/%s", canon_dir, base);
        } else if ((path = cli_canonical(f, 0)) != NULL) {
            t[i].key_out = cli_clean_name(path);
        }
        free(path);
    }
    free(canon_dir);
    if (cli_check_targets(t, (size_t)n, o->b.in_place) < 0) {
        free_targets(t, n);
        return NULL;
    }
    return t;
}

int main(int argc, char **argv)
{
    opts o;
    unmeta_ctx *ctx = NULL;
    int status = 0;
    memset(&o, 0, sizeof(o));
    o.b.icc = UNMETA_ICC_KEEP;
    o.b.progress = -1;

    enum { OPT_ICC = 256, OPT_APPLY, OPT_KEEP_DEPTH, OPT_KEEP_MOTION, OPT_JSON, OPT_FOLLOW, OPT_INCLUDE_CLEAN, OPT_PROGRESS, OPT_NO_PROGRESS,
           OPT_NO_SANDBOX, OPT_MAX_TIME, OPT_LIMIT /* OPT_LIMIT + i: cli_limit_keys[i] */ };
    static const struct option longopts[] = {
        { "output", required_argument, NULL, 'o' },
        { "dir", required_argument, NULL, 'd' },
        { "in-place", no_argument, NULL, 'i' },
        { "force", no_argument, NULL, 'f' },
        { "icc", required_argument, NULL, OPT_ICC },
        { "apply-orientation", no_argument, NULL, OPT_APPLY },
        { "keep-depth", no_argument, NULL, OPT_KEEP_DEPTH },
        { "keep-motion", no_argument, NULL, OPT_KEEP_MOTION },
        { "json", no_argument, NULL, OPT_JSON },
        { "recursive", no_argument, NULL, 'r' },
        { "follow-symlinks", no_argument, NULL, OPT_FOLLOW },
        { "include-clean", no_argument, NULL, OPT_INCLUDE_CLEAN },
        { "jobs", required_argument, NULL, 'j' },
        { "progress", no_argument, NULL, OPT_PROGRESS },
        { "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
        { "no-sandbox", no_argument, NULL, OPT_NO_SANDBOX },
        { "quiet", no_argument, NULL, 'q' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { "max-block-size", required_argument, NULL, OPT_LIMIT + 0 },
        { "max-depth", required_argument, NULL, OPT_LIMIT + 1 },
        { "max-items", required_argument, NULL, OPT_LIMIT + 2 },
        { "max-memory", required_argument, NULL, OPT_LIMIT + 3 },
        { "max-inflate", required_argument, NULL, OPT_LIMIT + 4 },
        { "max-spool", required_argument, NULL, OPT_LIMIT + 5 },
        { "max-growth", required_argument, NULL, OPT_LIMIT + 6 },
        { "max-time", required_argument, NULL, OPT_MAX_TIME },
        { NULL, 0, NULL, 0 },
    };
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc >= 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)) {
        print_version();
        return 0;
    }
    if (argc < 2) {
        usage(stderr);
        return EXIT_ERROR;
    }
    const char *cmd = argv[1];
    if (envelope_is_command(cmd))
        return envelope_main(argc, argv);
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "o:d:ifrj:qvhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': o.out = optarg; break;
        case 'd': o.b.dir = optarg; break;
        case 'i': o.b.in_place = 1; break;
        case 'f': o.b.force = 1; break;
        case 'q': o.quiet = 1; break;
        case 'v': o.b.verbose = 1; break;
        case OPT_JSON: o.b.json = 1; break;
        case 'r': o.b.recursive = 1; break;
        case OPT_FOLLOW: o.b.follow_symlinks = 1; break;
        case OPT_INCLUDE_CLEAN: o.b.include_clean = 1; break;
        case OPT_PROGRESS: o.b.progress = 1; break;
        case OPT_NO_PROGRESS: o.b.progress = 0; break;
        case OPT_NO_SANDBOX: o.b.no_sandbox = 1; break;
        case 'j': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || n < 1 || n > 256) {
                fprintf(stderr, "%s: --jobs takes a number from 1 to 256\n", prog);
                return EXIT_ERROR;
            }
            o.b.jobs = (int)n;
            break;
        }
        case OPT_APPLY: o.b.apply_orientation = 1; break;
        case OPT_KEEP_DEPTH: o.b.keep_depth = 1; break;
        case OPT_KEEP_MOTION: o.b.keep_motion = 1; break;
        case OPT_ICC:
            if (strcmp(optarg, "keep") == 0)
                o.b.icc = UNMETA_ICC_KEEP;
            else if (strcmp(optarg, "strip") == 0)
                o.b.icc = UNMETA_ICC_STRIP;
            else {
                fprintf(stderr, "%s: --icc takes keep or strip\n", prog);
                return EXIT_ERROR;
            }
            break;
        case OPT_LIMIT + 0: case OPT_LIMIT + 1: case OPT_LIMIT + 2: case OPT_LIMIT + 3: case OPT_LIMIT + 4:
        case OPT_LIMIT + 5: case OPT_LIMIT + 6: {
            int i = c - OPT_LIMIT;
            o.limits[i] = parse_size(optarg);
            if (o.limits[i] == 0) {
                fprintf(stderr, "%s: --%s takes a positive number, optionally ending in K, M or G\n", prog,
                        cli_limit_keys[i].name);
                return EXIT_ERROR;
            }
            break;
        }
        case OPT_MAX_TIME: {
            char *end;
            errno = 0;
            o.b.max_time = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(o.b.max_time > 0 && o.b.max_time <= 1e9)) {
                fprintf(stderr, "%s: --max-time takes a positive number of seconds\n", prog);
                return EXIT_ERROR;
            }
            break;
        }
        case 'h': usage(stdout); return 0;
        case 'V': print_version(); return 0;
        default: usage(stderr); return EXIT_ERROR;
        }
    }
    int nfiles = argc - optind;
    char **files = argv + optind;

    if (strcmp(cmd, "formats") == 0) {
        /* -v: what each family covers and the options that change what
         * strip keeps in it (the names alone stay the default, for scripts). */
        static const struct { const char *name, *what; } about[] = {
            { "jpeg", "JPEG; HDR gain maps (Ultra HDR, Adobe, ISO 21496-1, Apple) kept with MPF and XMP rebuilt; "
                      "motion photos (Google, Samsung SEFT): video removed, or kept cleaned with --keep-motion; "
                      "--apply-orientation, --icc" },
            { "png", "PNG, APNG; Orientation of eXIf or a raw EXIF text profile kept as a minimal eXIf; --icc" },
            { "webp", "WebP (lossy, lossless, animated); --icc" },
            { "gif", "GIF (animated)" },
            { "tiff", "TIFF (multi-page), BigTIFF; proprietary camera raws (CR2, NEF, ARW, ORF, RW2, RAF...) refused "
                      "by name; --icc" },
            { "dng", "DNG and GoPro GPR camera raws: raw data and previews kept byte for byte with the rendering "
                     "tags; maker note, original raw file, serials removed; preview JPEGs cleaned; --icc" },
            { "heif", "HEIF, HEIC, AVIF, image sequences (avis, msf1) and tracks; alpha and gain maps kept; depth "
                      "maps removed unless --keep-depth, mattes removed; Samsung motion photos (mpvd): video "
                      "removed, or kept cleaned with --keep-motion; --icc" },
            { "jxl", "JPEG XL containers (codestream boxes kept byte for byte; Exif, XMP, JUMBF, brob, jbrd "
                     "removed) and bare codestreams (written unchanged); the codestream is not parsed" },
            { "mp4", "MP4, MOV, M4V, 3GP (rewritten natively, samples byte for byte)" },
            { "media", "Matroska, WebM, AVI, WAV, MP3, FLAC, Ogg (remuxed by libavformat, packets kept)" },
        };
        for (uint32_t i = 0; i < unmeta_format_count(); i++) {
            const char *name = unmeta_format_name(i), *what = NULL;
            for (size_t k = 0; o.b.verbose && k < sizeof(about) / sizeof(about[0]); k++)
                if (strcmp(about[k].name, name) == 0)
                    what = about[k].what;
            if (what)
                printf("%-6s %s\n", name, what);
            else
                printf("%s\n", name);
        }
        return 0;
    }
    int is_strip = strcmp(cmd, "strip") == 0, is_inspect = strcmp(cmd, "inspect") == 0,
        is_check = strcmp(cmd, "check") == 0;
    if (!is_strip && !is_inspect && !is_check) {
        fprintf(stderr, "%s: unknown command '%s' (try --help)\n", prog, cmd);
        return EXIT_ERROR;
    }
    if (nfiles < 1) {
        fprintf(stderr, "%s: %s needs at least one FILE\n", prog, cmd);
        return EXIT_ERROR;
    }
    if (unmeta_ctx_new(&ctx) < 0) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_ERROR;
    }
    int bad_limit = cli_apply_limits(ctx, o.limits);
    if (bad_limit >= 0) {
        fprintf(stderr, "%s: --%s %lld: %s\n", prog, cli_limit_keys[bad_limit].name, o.limits[bad_limit],
                unmeta_ctx_last_error(ctx));
        unmeta_ctx_free(ctx);
        return EXIT_ERROR;
    }
    if (o.b.max_time > 0)
        unmeta_ctx_set_cancel(ctx, deadline_cancel, NULL);
    if (is_strip) {
        int modes = !!o.out + !!o.b.dir + !!o.b.in_place;
        if (modes > 1) {
            fprintf(stderr, "%s: -o, -d and --in-place exclude each other\n", prog);
            unmeta_ctx_free(ctx);
            return EXIT_ERROR;
        }
        if (o.out && nfiles != 1) {
            fprintf(stderr, "%s: -o takes one input; use -d for several\n", prog);
            unmeta_ctx_free(ctx);
            return EXIT_ERROR;
        }
        /* Folders, threads or JSON lines: the batch runner. (--progress
         * alone keeps a single file, or standard input, on the simple path,
         * which draws a byte progress line.) */
        if (o.b.recursive || o.b.jobs || o.b.json) {
            if (o.out) {
                fprintf(stderr, "%s: -o takes one input; use -d or --in-place with -r, -j or --json\n", prog);
                unmeta_ctx_free(ctx);
                return EXIT_ERROR;
            }
            o.b.limits = o.limits;
            unmeta_ctx_free(ctx);
            return batch_strip(&o.b, files, nfiles);
        }
        if (o.b.dir) {
            struct stat st;
            if (stat(o.b.dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
                fprintf(stderr, "%s: %s: not a folder\n", prog, o.b.dir);
                unmeta_ctx_free(ctx);
                return EXIT_ERROR;
            }
        }
    }
    unmeta_ctx_set_option(ctx, UNMETA_OPT_ICC, o.b.icc);
    unmeta_ctx_set_option(ctx, UNMETA_OPT_APPLY_ORIENTATION, o.b.apply_orientation);
    unmeta_ctx_set_option(ctx, UNMETA_OPT_KEEP_DEPTH, o.b.keep_depth);
    unmeta_ctx_set_option(ctx, UNMETA_OPT_KEEP_MOTION, o.b.keep_motion);
    cli_target *targets = NULL;
    if (is_strip && (targets = plan_targets(&o, files, nfiles)) == NULL) {
        unmeta_ctx_free(ctx);
        return EXIT_ERROR;
    }
    if (confine(&o, ctx, files, nfiles, is_strip) < 0) {
        free_targets(targets, nfiles);
        unmeta_source_free(o.stdin_src);
        unmeta_ctx_free(ctx);
        return EXIT_ERROR;
    }
    for (int i = 0; i < nfiles; i++) {
        int s;
        if (is_strip && targets[i].repeat)
            continue;
        cli_deadline_start(o.b.max_time);
        if (is_strip)
            s = strip_one(ctx, &o, files[i]);
        else
            s = inspect_one(ctx, &o, files[i], is_check);
        /* An error outranks "dirty": a file we could not read is not clean. */
        if (s > status)
            status = s;
    }
    free_targets(targets, nfiles);
    unmeta_source_free(o.stdin_src);
    unmeta_ctx_free(ctx);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "%s: writing to standard output failed: %s\n", prog, strerror(errno));
        status = EXIT_ERROR;
    }
    return status;
}
