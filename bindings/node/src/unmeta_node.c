/*
 * unmeta_node.c - the Node.js addon: libunmeta's strip, inspect and check
 * behind promises, run on libuv's thread pool.
 *
 * Written against Node-API's C header (node_api.h, NAPI_VERSION 8), which
 * every Node release since 12 ships with its own headers: the compiled
 * addon loads into Node 18 and 20 alike, and building it needs nothing
 * beyond those headers and libunmeta (no node-addon-api to fetch).
 *
 * Each operation is one napi_async_work: the arguments are copied (paths,
 * options) or referenced (an input Buffer, kept alive and unchanged by a
 * napi_ref) on the main thread; execute() runs the whole libunmeta call on a
 * pool thread with its own context (contexts are not shared between
 * threads, include/unmeta.h); complete() settles the promise on the main
 * thread. Streams are lib/index.js's job: it spills the input to a
 * temporary file and strips path to path here, so no JS callback is ever
 * called from a pool thread.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unmeta.h>

#define MAX_OPTIONS 16

enum op { OP_STRIP, OP_INSPECT, OP_CHECK };

typedef struct job {
    napi_async_work work;
    napi_deferred deferred;
    napi_ref input_ref;        /* the input Buffer, while the work runs */
    enum op op;
    const uint8_t *in_data;    /* memory input (the referenced Buffer's bytes) */
    size_t in_size;
    char *in_path;             /* or a path input */
    char *out_path;            /* strip: a path output, else a memory one */
    int32_t opt_keys[MAX_OPTIONS];
    int64_t opt_values[MAX_OPTIONS];
    uint32_t opt_count;
    /* results, filled by execute() */
    int32_t rc;
    char message[512];         /* the context's detailed message on failure */
    unmeta_sink *sink;         /* strip to memory: handed to the Buffer it backs */
    char *json;                /* the report as JSON (unmeta_free) */
    int32_t dirty;
} job;

static void job_free(napi_env env, job *j)
{
    if (j == NULL)
        return;
    if (j->input_ref != NULL)
        napi_delete_reference(env, j->input_ref);
    if (j->work != NULL)
        napi_delete_async_work(env, j->work);
    unmeta_sink_free(j->sink);
    unmeta_free(j->json);
    free(j->in_path);
    free(j->out_path);
    free(j);
}

static void execute(napi_env env, void *data)
{
    job *j = data;
    unmeta_ctx *ctx = NULL;
    unmeta_source *src = NULL;
    unmeta_sink *dst = NULL;
    unmeta_report *report = NULL;
    int32_t rc;
    (void)env;

    rc = unmeta_ctx_new(&ctx);
    if (rc < 0)
        goto done;
    for (uint32_t i = 0; i < j->opt_count; i++) {
        rc = unmeta_ctx_set_option(ctx, j->opt_keys[i], j->opt_values[i]);
        if (rc < 0)
            goto done;
    }
    if (j->in_path != NULL)
        rc = unmeta_source_new_path(&src, j->in_path);
    else
        rc = unmeta_source_new_memory(&src, j->in_data, j->in_size);
    if (rc < 0)
        goto done;
    switch (j->op) {
    case OP_STRIP:
        if (j->out_path != NULL)
            rc = unmeta_sink_new_path(&dst, j->out_path, -1);
        else
            rc = unmeta_sink_new_memory(&dst);
        if (rc < 0)
            goto done;
        rc = unmeta_strip(&report, ctx, src, dst);
        break;
    case OP_INSPECT:
        rc = unmeta_inspect(&report, ctx, src);
        break;
    case OP_CHECK:
        rc = unmeta_check(&j->dirty, ctx, src);
        break;
    }
    if (rc < 0)
        goto done;
    if (report != NULL) {
        rc = unmeta_report_json(&j->json, report);
        if (rc < 0)
            goto done;
    }
    if (j->out_path == NULL) {
        j->sink = dst; /* the result Buffer's memory */
        dst = NULL;
    }

done:
    j->rc = rc;
    if (rc < 0) {
        const char *msg = ctx != NULL ? unmeta_ctx_last_error(ctx) : "";
        if (msg == NULL || msg[0] == '\0')
            msg = unmeta_strerror(rc);
        strncpy(j->message, msg, sizeof(j->message) - 1);
        j->message[sizeof(j->message) - 1] = '\0';
    }
    unmeta_report_free(report);
    unmeta_sink_free(dst);
    unmeta_source_free(src);
    unmeta_ctx_free(ctx);
}

static void free_sink(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)data;
    unmeta_sink_free(hint);
}

/* Settles with { code, message } on failure (lib/index.js makes the
 * UnmetaError), else { json, dirty, data }. */
static void complete(napi_env env, napi_status status, void *data)
{
    job *j = data;
    napi_value result, v;

    napi_create_object(env, &result);
    if (status != napi_ok && j->rc == 0) {
        j->rc = UNMETA_E_STATE;
        strcpy(j->message, "the operation was cancelled before it ran");
    }
    napi_create_int32(env, j->rc, &v);
    napi_set_named_property(env, result, "code", v);
    if (j->rc < 0) {
        napi_create_string_utf8(env, j->message, NAPI_AUTO_LENGTH, &v);
        napi_set_named_property(env, result, "message", v);
    } else {
        if (j->json != NULL) {
            napi_create_string_utf8(env, j->json, NAPI_AUTO_LENGTH, &v);
            napi_set_named_property(env, result, "json", v);
        }
        napi_get_boolean(env, j->dirty != 0, &v);
        napi_set_named_property(env, result, "dirty", v);
        if (j->sink != NULL) {
            const void *bytes = NULL;
            uint64_t size = 0;
            unmeta_sink_memory(&bytes, &size, j->sink);
            /* The Buffer points into the sink's memory and frees the sink
             * when it is collected: no copy of the output. */
            if (size > 0 && napi_create_external_buffer(env, (size_t)size, (void *)bytes,
                                                        free_sink, j->sink, &v) == napi_ok) {
                j->sink = NULL;
            } else {
                void *copy = NULL;
                napi_create_buffer_copy(env, (size_t)size, bytes, &copy, &v);
            }
            napi_set_named_property(env, result, "data", v);
        }
    }
    napi_resolve_deferred(env, j->deferred, result);
    j->deferred = NULL;
    job_free(env, j);
}

static int throw_type(napi_env env, const char *msg)
{
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return -1;
}

static int get_path(napi_env env, napi_value v, char **out)
{
    size_t len = 0;
    if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok)
        return throw_type(env, "a path must be a string");
    *out = malloc(len + 1);
    if (*out == NULL) {
        napi_throw_error(env, NULL, "out of memory");
        return -1;
    }
    napi_get_value_string_utf8(env, v, *out, len + 1, &len);
    if (strlen(*out) != len)
        return throw_type(env, "a path must not contain NUL characters");
    return 0;
}

/* run(op, input, outPath|null, options): input is a Buffer or a path
 * string; options an array of [key, value] pairs (UNMETA_OPT_* numbers). */
static napi_value run(napi_env env, napi_callback_info info)
{
    size_t argc = 4;
    napi_value argv[4], promise = NULL, name;
    napi_valuetype type;
    bool is_buffer = false, is_array = false;
    int32_t op;
    uint32_t n = 0;
    job *j = NULL;

    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4) {
        throw_type(env, "run(op, input, outPath, options)");
        return NULL;
    }
    j = calloc(1, sizeof(*j));
    if (j == NULL) {
        napi_throw_error(env, NULL, "out of memory");
        return NULL;
    }
    if (napi_get_value_int32(env, argv[0], &op) != napi_ok || op < OP_STRIP || op > OP_CHECK) {
        throw_type(env, "unknown operation");
        goto fail;
    }
    j->op = (enum op)op;
    napi_is_buffer(env, argv[1], &is_buffer);
    napi_typeof(env, argv[1], &type);
    if (is_buffer) {
        void *data = NULL;
        size_t size = 0;
        napi_get_buffer_info(env, argv[1], &data, &size);
        j->in_data = data;
        j->in_size = size;
        if (napi_create_reference(env, argv[1], 1, &j->input_ref) != napi_ok) {
            napi_throw_error(env, NULL, "cannot hold the input");
            goto fail;
        }
    } else if (type == napi_string) {
        if (get_path(env, argv[1], &j->in_path) < 0)
            goto fail;
    } else {
        throw_type(env, "the input must be a Buffer, a Uint8Array or a path");
        goto fail;
    }
    napi_typeof(env, argv[2], &type);
    if (type == napi_string) {
        if (get_path(env, argv[2], &j->out_path) < 0)
            goto fail;
    }
    napi_is_array(env, argv[3], &is_array);
    if (is_array)
        napi_get_array_length(env, argv[3], &n);
    if (n > MAX_OPTIONS) {
        throw_type(env, "too many options");
        goto fail;
    }
    for (uint32_t i = 0; i < n; i++) {
        napi_value pair, k, v;
        napi_get_element(env, argv[3], i, &pair);
        if (napi_get_element(env, pair, 0, &k) != napi_ok || napi_get_element(env, pair, 1, &v) != napi_ok ||
            napi_get_value_int32(env, k, &j->opt_keys[i]) != napi_ok ||
            napi_get_value_int64(env, v, &j->opt_values[i]) != napi_ok) {
            throw_type(env, "options must be [key, value] pairs of numbers");
            goto fail;
        }
    }
    j->opt_count = n;

    if (napi_create_promise(env, &j->deferred, &promise) != napi_ok)
        goto fail;
    napi_create_string_utf8(env, "unmeta", NAPI_AUTO_LENGTH, &name);
    if (napi_create_async_work(env, NULL, name, execute, complete, j, &j->work) != napi_ok ||
        napi_queue_async_work(env, j->work) != napi_ok) {
        napi_throw_error(env, NULL, "cannot queue the work");
        goto fail;
    }
    return promise;

fail:
    job_free(env, j);
    return NULL;
}

/* constant(name) -> number or undefined (unmeta_constant). */
static napi_value constant(napi_env env, napi_callback_info info)
{
    size_t argc = 1, len = 0;
    napi_value argv[1], out = NULL;
    char name[128];
    int64_t value = 0;

    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (argc < 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof(name), &len) != napi_ok) {
        throw_type(env, "constant(name)");
        return NULL;
    }
    if (unmeta_constant(&value, name) == 0)
        napi_create_int64(env, value, &out);
    else
        napi_get_undefined(env, &out);
    return out;
}

/* strerror(code) -> the library's static description. */
static napi_value strerror_js(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value argv[1], out = NULL;
    int32_t code = 0;

    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (argc < 1 || napi_get_value_int32(env, argv[0], &code) != napi_ok) {
        throw_type(env, "strerror(code)");
        return NULL;
    }
    napi_create_string_utf8(env, unmeta_strerror(code), NAPI_AUTO_LENGTH, &out);
    return out;
}

static napi_value version(napi_env env, napi_callback_info info)
{
    napi_value out;
    (void)info;
    napi_create_string_utf8(env, unmeta_version_string(), NAPI_AUTO_LENGTH, &out);
    return out;
}

static napi_value formats(napi_env env, napi_callback_info info)
{
    napi_value out, v;
    uint32_t n = unmeta_format_count();
    (void)info;
    napi_create_array_with_length(env, n, &out);
    for (uint32_t i = 0; i < n; i++) {
        napi_create_string_utf8(env, unmeta_format_name(i), NAPI_AUTO_LENGTH, &v);
        napi_set_element(env, out, i, v);
    }
    return out;
}

static napi_value init(napi_env env, napi_value exports)
{
    napi_property_descriptor props[] = {
        { "run", NULL, run, NULL, NULL, NULL, napi_enumerable, NULL },
        { "constant", NULL, constant, NULL, NULL, NULL, napi_enumerable, NULL },
        { "strerror", NULL, strerror_js, NULL, NULL, NULL, napi_enumerable, NULL },
        { "version", NULL, version, NULL, NULL, NULL, napi_enumerable, NULL },
        { "formats", NULL, formats, NULL, NULL, NULL, napi_enumerable, NULL },
    };
    napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
    return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
