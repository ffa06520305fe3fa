/*
 * fault_api.c - the C API paths the command does not take, for
 * tests/faults/alloc-sweep: unmeta_strip_memory(), a callbacks source that
 * cannot seek (spooled into memory) written to a callbacks sink, and
 * unmeta_report_json(). Writes the two outputs and the JSON to standard
 * output; exits 0, or 2 with the library's message on standard error.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unmeta.h"

typedef struct mem {
    const uint8_t *p;
    size_t len, pos;
} mem;

static int64_t read_cb(void *buf, uint64_t size, void *user)
{
    mem *m = user;
    size_t n = m->len - m->pos;
    if (n > size)
        n = (size_t)size;
    if (n > 4096)
        n = 4096; /* short reads, as a pipe gives */
    memcpy(buf, m->p + m->pos, n);
    m->pos += n;
    return (int64_t)n;
}

static int64_t write_cb(const void *buf, uint64_t size, void *user)
{
    return fwrite(buf, 1, (size_t)size, user) == size ? (int64_t)size : -1;
}

static int fail(unmeta_ctx *ctx, const char *what, int rc)
{
    const char *d = ctx ? unmeta_ctx_last_error(ctx) : "";
    fprintf(stderr, "fault_api: %s: %s\n", what, d && *d ? d : unmeta_strerror(rc));
    return 2;
}

int main(int argc, char **argv)
{
    unmeta_ctx *ctx = NULL;
    unmeta_source *src = NULL;
    unmeta_sink *dst = NULL;
    unmeta_report *rep = NULL;
    uint8_t *in = NULL;
    void *out = NULL;
    char *json = NULL;
    uint64_t out_len = 0;
    long n;
    int rc, status = 2;
    FILE *f;
    if (argc != 2) {
        fprintf(stderr, "usage: fault_api FILE\n");
        return 2;
    }
    f = fopen(argv[1], "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
        !(in = malloc((size_t)n + 1)) || fread(in, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "fault_api: cannot read %s\n", argv[1]);
        if (f)
            fclose(f);
        free(in);
        return 2;
    }
    fclose(f);
    if ((rc = unmeta_ctx_new(&ctx)) < 0) {
        status = fail(NULL, "context", rc);
        goto done;
    }
    if ((rc = unmeta_strip_memory(&out, &out_len, ctx, in, (uint64_t)n)) < 0) {
        status = fail(ctx, "strip_memory", rc);
        goto done;
    }
    fwrite(out, 1, (size_t)out_len, stdout);

    mem m = { in, (size_t)n, 0 };
    unmeta_io_callbacks rcb = UNMETA_IO_CALLBACKS_INIT, wcb = UNMETA_IO_CALLBACKS_INIT;
    rcb.read = read_cb; /* no seek: spooled */
    wcb.write = write_cb;
    if ((rc = unmeta_source_new_callbacks(&src, &rcb, &m)) < 0 ||
        (rc = unmeta_sink_new_callbacks(&dst, &wcb, stdout)) < 0) {
        status = fail(NULL, "callbacks", rc);
        goto done;
    }
    if ((rc = unmeta_strip(&rep, ctx, src, dst)) < 0) {
        status = fail(ctx, "strip callbacks", rc);
        goto done;
    }
    if ((rc = unmeta_report_json(&json, rep)) < 0) {
        status = fail(NULL, "report_json", rc);
        goto done;
    }
    fputs(json, stdout);
    status = fflush(stdout) == 0 ? 0 : 2;
done:
    unmeta_free(json);
    unmeta_report_free(rep);
    unmeta_sink_free(dst);
    unmeta_source_free(src);
    unmeta_free(out);
    unmeta_ctx_free(ctx);
    free(in);
    return status;
}
