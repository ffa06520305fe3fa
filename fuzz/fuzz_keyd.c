/*
 * fuzz_keyd.c - fuzz target for unmeta-keyd's request handling (keyd/
 * handler.c, keyd/store_sqlite.c): what the service does with a request
 * once libmicrohttpd has split it, with no socket.
 *
 * Input: "METHOD\nPATH\nAUTHORIZATION\nBODY" (a missing line is an empty
 * one; an empty AUTHORIZATION line means no header). The store is SQLite
 * in memory, kept across inputs (so a PUT then a GET in later inputs meet)
 * and reopened every 4096 inputs to bound its size; the clock is fixed.
 * The same bytes also go through the Redis URL parser and the rate limiter.
 *
 * Properties, checked on every input (abort() when one breaks):
 *  - the status is one the protocol names (docs/unmeta-keyd.8);
 *  - a 2xx only for a canonical path: "/v1/health", or "/v1/shares/" and 32
 *    lowercase hex digits, nothing else (no '%', '.', '?', '/' after it);
 *  - a PUT answered 201 carries "token: <64 hex>\n", and the same share
 *    read back at once is 200 with exactly the body that was stored;
 *  - a GET answered 200 carries "not-after: N\nkey: <32 hex>\n" with
 *    N >= now;
 *  - the log id never holds more than 8 digits of the id.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "keyd.h"

#define NOW 1800000000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static keyd_store *store;
static keyd_ratelimit *rl;
static unsigned uses;

static const char *line(char **p, char *end)
{
    char *s = *p, *nl = memchr(s, '\n', (size_t)(end - s));
    if (!nl) {
        *p = end;
        return s;
    }
    *nl = '\0';
    *p = nl + 1;
    return s;
}

static int status_known(int st)
{
    static const int known[] = { 200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 414, 422, 503 };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (st == known[i])
            return 1;
    return 0;
}

static int canonical(const char *url)
{
    static const char prefix[] = "/v1/shares/";
    if (strcmp(url, "/v1/health") == 0)
        return 1;
    return strncmp(url, prefix, sizeof(prefix) - 1) == 0 && keyd_is_id(url + sizeof(prefix) - 1,
                                                                          strlen(url + sizeof(prefix) - 1));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    keyd_limits lim = { 400LL * 86400 };
    keyd_response res;
    if (!store || ++uses % 4096 == 0) {
        if (sodium_init() < 0)
            abort();
        if (store)
            store->close(store);
        store = keyd_sqlite_open(":memory:");
        if (!store)
            abort();
        if (!rl)
            rl = keyd_ratelimit_new(5, 10);
    }
    if (size > 65536)
        return 0;
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *p = buf, *end = buf + size;
    const char *method = line(&p, end), *url = line(&p, end), *auth = line(&p, end);
    keyd_request req = { method, url, *auth ? auth : NULL, p, (size_t)(end - p), NOW };
    keyd_handle(&res, store, &lim, &req);
    if (!status_known(res.status))
        abort();
    if (res.status < 300 && !canonical(url))
        abort();
    if (strlen(res.log_id) > 11)
        abort();
    if (res.status == 201) {
        if (strncmp(res.body, "token: ", 7) != 0 || strlen(res.body) != 7 + KEYD_TOKEN_HEX_LEN + 1)
            abort();
        keyd_request get = { "GET", url, NULL, "", 0, NOW };
        keyd_response back;
        keyd_handle(&back, store, &lim, &get);
        if (back.status != 200 || strlen(back.body) != req.body_len || memcmp(back.body, req.body, req.body_len) != 0)
            abort();
    }
    if (res.status == 200 && strcmp(method, "GET") == 0 && strcmp(url, "/v1/health") != 0) {
        long long na = 0;
        char key[40] = "";
        if (sscanf(res.body, "not-after: %lld\nkey: %39[0-9a-f]", &na, key) != 2 || na < NOW ||
            strlen(key) != KEYD_KEY_HEX_LEN)
            abort();
    }
    /* the same bytes through the Redis URL parser and the rate limiter */
    char host[256];
    int port, db;
    if (keyd_redis_parse_url(url, host, sizeof(host), &port, &db) == 0 &&
        (port < 1 || port > 65535 || db < 0 || db > 255 || !host[0]))
        abort();
    (void)keyd_ratelimit_take(rl, data, size < 16 ? size : 16, (int64_t)size * 37);
    free(buf);
    return 0;
}
