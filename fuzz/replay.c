/*
 * replay.c - runs a fuzz target without libFuzzer: LLVMFuzzerTestOneInput is
 * called once on every file named on the command line, folders walked
 * recursively (after zstd's tests/fuzz/regression_driver.c). The target
 * abort()s on a violated property, so a clean exit means every file passed.
 * CI runs it over tests/crashers/ and the shared corpus under ASan+UBSan.
 *
 * Usage: fuzz_replay [--skip-missing] PATH...
 * With --skip-missing, a PATH that does not exist makes the run exit 77
 * (meson's "skipped") instead of failing, unless UNMETA_REQUIRE_TOOLS=1
 * (CI, where ../shared is always beside the project: its absence is a
 * failure there, tests/lib/harness.py).
 */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define EXIT_SKIP 77
#define MAX_FILE (256u << 20)

typedef struct stats {
    unsigned long files;
    unsigned long long bytes;
    unsigned long errors;   /* files that could not be read */
} stats;

static int replay_file(const char *path, stats *st)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    int ok = 0;
    if (!f) {
        fprintf(stderr, "fuzz_replay: %s: %s\n", path, strerror(errno));
        goto done;
    }
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            if (ncap > MAX_FILE) {
                fprintf(stderr, "fuzz_replay: %s: larger than %u bytes\n", path, MAX_FILE);
                goto done;
            }
            uint8_t *p = realloc(buf, ncap);
            if (!p) {
                fprintf(stderr, "fuzz_replay: %s: out of memory\n", path);
                goto done;
            }
            buf = p;
            cap = ncap;
        }
        size_t k = fread(buf + len, 1, cap - len, f);
        len += k;
        if (k == 0)
            break;
    }
    if (ferror(f)) {
        fprintf(stderr, "fuzz_replay: %s: read error\n", path);
        goto done;
    }
    /* An exact-size copy, so ASan sees reads past the end of the input. */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        fprintf(stderr, "fuzz_replay: %s: out of memory\n", path);
        goto done;
    }
    memcpy(exact, buf, len);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    st->files++;
    st->bytes += len;
    ok = 1;
done:
    if (f)
        fclose(f);
    free(buf);
    if (!ok)
        st->errors++;
    return ok;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void replay_path(const char *path, stats *st, int depth)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "fuzz_replay: %s: %s\n", path, strerror(errno));
        st->errors++;
        return;
    }
    if (!S_ISDIR(sb.st_mode)) {
        if (S_ISREG(sb.st_mode))
            replay_file(path, st);
        return;
    }
    if (depth > 32) {
        fprintf(stderr, "fuzz_replay: %s: folders nested too deep\n", path);
        st->errors++;
        return;
    }
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "fuzz_replay: %s: %s\n", path, strerror(errno));
        st->errors++;
        return;
    }
    /* Sorted, so runs are reproducible. */
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue; /* ".", "..", and hidden files such as .gitkeep */
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **p = realloc(names, cap * sizeof(*names));
            if (!p)
                abort();
            names = p;
        }
        size_t k = strlen(path) + strlen(e->d_name) + 2;
        names[n] = malloc(k);
        if (!names[n])
            abort();
        snprintf(names[n], k, "%s/%s", path, e->d_name);
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n; i++) {
        replay_path(names[i], st, depth + 1);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    stats st = { 0, 0, 0 };
    int skip_missing = 0;
    int first = 1;
    if (argc > 1 && strcmp(argv[1], "--skip-missing") == 0) {
        skip_missing = 1;
        first = 2;
    }
    if (first >= argc) {
        fprintf(stderr, "Usage: %s [--skip-missing] PATH...\n", argv[0]);
        return 2;
    }
    for (int i = first; i < argc; i++) {
        struct stat sb;
        if (skip_missing && stat(argv[i], &sb) != 0) {
            const char *require = getenv("UNMETA_REQUIRE_TOOLS");
            if (require && strcmp(require, "1") == 0) {
                printf("fuzz_replay: %s is absent (UNMETA_REQUIRE_TOOLS=1: a failure)\n", argv[i]);
                return 1;
            }
            printf("fuzz_replay: %s is absent: skipped\n", argv[i]);
            return EXIT_SKIP;
        }
    }
    for (int i = first; i < argc; i++)
        replay_path(argv[i], &st, 0);
    printf("fuzz_replay: %lu files (%llu bytes) replayed, %lu unreadable\n", st.files, st.bytes, st.errors);
    return st.errors ? 1 : 0;
}
