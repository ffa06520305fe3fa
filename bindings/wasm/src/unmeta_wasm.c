/*
 * unmeta_wasm.c - the WebAssembly side of the JavaScript package.
 *
 * One entry point runs strip, inspect or check over the ABI's callback I/O:
 * the input is read, and the output written, by JavaScript functions the
 * package installs on the module (lib/core.js: Module.umRead, umSeek,
 * umWrite, umProgress), keyed by a job number. They are synchronous (a
 * Worker's FileReaderSync over Blob.slice(), Node's fs.readSync), so the
 * module needs no Asyncify and a 1 GB video streams through in constant
 * memory. Everything else is the stable C ABI, unchanged.
 */
#include <emscripten.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unmeta.h"

/* The JavaScript side; sizes travel as doubles (exact up to 2^53), since
 * this emscripten passes no 64-bit integers to JavaScript without BigInt. */
EM_JS(double, umw_js_read, (int job, void *buf, double size), {
    return Module.umRead(job, buf, size);
});
EM_JS(double, umw_js_seek, (int job, double offset, int whence), {
    return Module.umSeek(job, offset, whence);
});
EM_JS(double, umw_js_write, (int job, const void *buf, double size), {
    return Module.umWrite(job, buf, size);
});
EM_JS(int, umw_js_progress, (int job, double done, double total), {
    return Module.umProgress(job, done, total);
});

static int64_t cb_read(void *buf, uint64_t size, void *user)
{
    return (int64_t)umw_js_read((int)(intptr_t)user, buf, (double)size);
}

static int64_t cb_seek(int64_t offset, int32_t whence, void *user)
{
    return (int64_t)umw_js_seek((int)(intptr_t)user, (double)offset, whence);
}

static int64_t cb_write(const void *buf, uint64_t size, void *user)
{
    return (int64_t)umw_js_write((int)(intptr_t)user, buf, (double)size);
}

static int32_t cb_progress(uint64_t done, uint64_t total, void *user)
{
    return umw_js_progress((int)(intptr_t)user, (double)done, (double)total);
}

#define OP_STRIP   0
#define OP_INSPECT 1
#define OP_CHECK   2

/* Runs op on job's input. keys/values: nopts option pairs. On success
 * *json is the report (strip, inspect) and *dirty the check's answer; on
 * failure *json is the context's detailed message. Either way *json is
 * the caller's to free (free(): the library's
 * allocator is the module's one malloc). Returns 0 or an UNMETA_E_* code. */
EMSCRIPTEN_KEEPALIVE int32_t umw_run(char **json, int32_t *dirty, int32_t op, int32_t job,
                                     int32_t nopts, const int32_t *keys, const double *values)
{
    unmeta_ctx *ctx = NULL;
    unmeta_source *src = NULL;
    unmeta_sink *dst = NULL;
    unmeta_report *report = NULL;
    unmeta_io_callbacks in = UNMETA_IO_CALLBACKS_INIT, out = UNMETA_IO_CALLBACKS_INIT;
    void *user = (void *)(intptr_t)job;
    int32_t rc;

    *json = NULL;
    *dirty = 0;
    rc = unmeta_ctx_new(&ctx);
    if (rc < 0)
        goto done;
    for (int32_t i = 0; i < nopts && rc == 0; i++)
        rc = unmeta_ctx_set_option(ctx, keys[i], (int64_t)values[i]);
    if (rc < 0)
        goto done;
    rc = unmeta_ctx_set_progress(ctx, cb_progress, user);
    if (rc < 0)
        goto done;
    in.read = cb_read;
    in.seek = cb_seek;
    rc = unmeta_source_new_callbacks(&src, &in, user);
    if (rc < 0)
        goto done;
    if (op == OP_STRIP) {
        out.write = cb_write;
        rc = unmeta_sink_new_callbacks(&dst, &out, user);
        if (rc < 0)
            goto done;
        rc = unmeta_strip(&report, ctx, src, dst);
    } else if (op == OP_INSPECT) {
        rc = unmeta_inspect(&report, ctx, src);
    } else if (op == OP_CHECK) {
        rc = unmeta_check(dirty, ctx, src);
    } else {
        rc = UNMETA_E_INVALID;
    }
    if (rc == 0 && report != NULL)
        rc = unmeta_report_json(json, report);

done:
    if (rc < 0) {
        const char *msg = ctx ? unmeta_ctx_last_error(ctx) : "";
        size_t n;
        if (msg == NULL || *msg == '\0')
            msg = unmeta_strerror(rc);
        n = strlen(msg) + 1;
        unmeta_free(*json);
        *json = malloc(n);
        if (*json != NULL)
            memcpy(*json, msg, n);
    }
    unmeta_report_free(report);
    unmeta_sink_free(dst);
    unmeta_source_free(src);
    unmeta_ctx_free(ctx);
    return rc;
}

/* unmeta_constant() with the value as a double; NaN for an unknown name. */
EMSCRIPTEN_KEEPALIVE double umw_constant(const char *name)
{
    int64_t v;
    return unmeta_constant(&v, name) == 0 ? (double)v : __builtin_nan("");
}
