/*
 * handler.c - request validation and answers of unmeta-keyd (keyd.h),
 * with no socket: the service, the fuzzer and the tests share it.
 *
 * Fail closed: a path is accepted only in its one canonical form
 * ("/v1/shares/" and 32 lowercase hex digits; no query, no percent
 * escapes, no dot segments, no trailing slash), a body only in its
 * canonical text (re-printed and compared byte for byte). Everything else
 * is a 4xx before the store is asked.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "keyd.h"

#define PREFIX "/v1/shares/"

/* n lowercase hex digits */
static int is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

int keyd_is_id(const char *s, size_t n)
{
    return n == KEYD_ID_LEN && is_hex(s, n);
}

static void reply(keyd_response *res, int status, const char *text)
{
    res->status = status;
    snprintf(res->body, sizeof(res->body), "%s\n", text);
}

static void token_hash(char out[KEYD_TOKEN_HEX_LEN + 1], const char *token_hex)
{
    uint8_t h[32];
    crypto_generichash(h, sizeof(h), (const uint8_t *)token_hex, KEYD_TOKEN_HEX_LEN, NULL, 0);
    sodium_bin2hex(out, KEYD_TOKEN_HEX_LEN + 1, h, sizeof(h));
    sodium_memzero(h, sizeof(h));
}

/* "not-after: N\nkey: HEX\n", N a positive decimal without sign or
 * leading zero. 0, or -1 when not canonical. */
static int parse_body(keyd_record *rec, const char *body, size_t n)
{
    char buf[KEYD_BODY_MAX + 1], canon[KEYD_BODY_MAX + 1];
    long long na = 0;
    int rc = -1;
    if (n == 0 || n > KEYD_BODY_MAX || memchr(body, '\0', n))
        return -1;
    memcpy(buf, body, n);
    buf[n] = '\0';
    if (sscanf(buf, "not-after: %18lld\nkey: %32[0-9a-f]", &na, rec->key) == 2 && na > 0 &&
        strlen(rec->key) == KEYD_KEY_HEX_LEN &&
        snprintf(canon, sizeof(canon), "not-after: %lld\nkey: %s\n", na, rec->key) == (int)n &&
        memcmp(canon, buf, n) == 0) {
        rec->not_after = na;
        rc = 0;
    }
    sodium_memzero(buf, sizeof(buf));
    sodium_memzero(canon, sizeof(canon));
    return rc;
}

static void do_put(keyd_response *res, keyd_store *st, const keyd_limits *lim, const keyd_request *req,
                   const char *id)
{
    keyd_record rec;
    uint8_t tok[32];
    char tok_hex[KEYD_TOKEN_HEX_LEN + 1];
    memset(&rec, 0, sizeof(rec));
    if (req->body_len > KEYD_BODY_MAX) {
        reply(res, 413, "body too large");
        return;
    }
    if (parse_body(&rec, req->body, req->body_len) < 0) {
        reply(res, 400, "body must be \"not-after: <unix seconds>\\nkey: <32 hex>\\n\"");
        goto done;
    }
    if (rec.not_after <= req->now) {
        reply(res, 422, "not-after is already past");
        goto done;
    }
    if (rec.not_after - req->now > lim->max_ttl) {
        reply(res, 422, "not-after is further away than this service keeps shares");
        goto done;
    }
    randombytes_buf(tok, sizeof(tok));
    sodium_bin2hex(tok_hex, sizeof(tok_hex), tok, sizeof(tok));
    token_hash(rec.token_hash, tok_hex);
    switch (st->put(st, id, &rec, req->now)) {
    case KEYD_OK:
        res->status = 201;
        snprintf(res->body, sizeof(res->body), "token: %s\n", tok_hex);
        break;
    case KEYD_EXISTS: reply(res, 409, "a share with this id exists"); break;
    default: reply(res, 503, "the store is unavailable"); break;
    }
done:
    sodium_memzero(&rec, sizeof(rec));
    sodium_memzero(tok, sizeof(tok));
    sodium_memzero(tok_hex, sizeof(tok_hex));
}

static void do_get(keyd_response *res, keyd_store *st, const keyd_request *req, const char *id)
{
    keyd_record rec;
    memset(&rec, 0, sizeof(rec));
    if (req->body_len) {
        reply(res, 400, "GET takes no body");
        return;
    }
    switch (st->get(st, id, &rec, req->now)) {
    case KEYD_OK:
        /* a store whose clock lags never makes the service serve late */
        if (rec.not_after >= req->now && strlen(rec.key) == KEYD_KEY_HEX_LEN && is_hex(rec.key, KEYD_KEY_HEX_LEN)) {
            res->status = 200;
            snprintf(res->body, sizeof(res->body), "not-after: %lld\nkey: %s\n", (long long)rec.not_after, rec.key);
        } else {
            reply(res, 404, "no such share");
        }
        break;
    case KEYD_ABSENT: reply(res, 404, "no such share"); break;
    default: reply(res, 503, "the store is unavailable"); break;
    }
    sodium_memzero(&rec, sizeof(rec));
}

static void do_delete(keyd_response *res, keyd_store *st, const keyd_request *req, const char *id)
{
    static const char bearer[] = "Bearer ";
    char h[KEYD_TOKEN_HEX_LEN + 1];
    const char *a = req->auth;
    if (req->body_len) {
        reply(res, 400, "DELETE takes no body");
        return;
    }
    if (!a || strncmp(a, bearer, sizeof(bearer) - 1) != 0 || strlen(a + sizeof(bearer) - 1) != KEYD_TOKEN_HEX_LEN ||
        !is_hex(a + sizeof(bearer) - 1, KEYD_TOKEN_HEX_LEN)) {
        reply(res, 401, "DELETE needs \"Authorization: Bearer <64 hex>\"");
        return;
    }
    token_hash(h, a + sizeof(bearer) - 1);
    switch (st->del(st, id, h, req->now)) {
    case KEYD_OK: res->status = 204; res->body[0] = '\0'; break;
    case KEYD_ABSENT: reply(res, 404, "no such share"); break;
    case KEYD_DENIED: reply(res, 403, "wrong token"); break;
    default: reply(res, 503, "the store is unavailable"); break;
    }
}

void keyd_handle(keyd_response *res, keyd_store *st, const keyd_limits *lim, const keyd_request *req)
{
    memset(res, 0, sizeof(*res));
    const char *url = req->url ? req->url : "";
    const char *m = req->method ? req->method : "";
    size_t n = strnlen(url, KEYD_URL_MAX + 1);
    if (n > KEYD_URL_MAX) {
        reply(res, 414, "path too long");
        return;
    }
    if (strcmp(url, "/v1/health") == 0) {
        if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
            res->allow = "GET, HEAD";
            reply(res, 405, "method not allowed");
        } else if (st->ping(st) == 0) {
            reply(res, 200, "ok");
        } else {
            reply(res, 503, "the store is unavailable");
        }
        return;
    }
    if (strncmp(url, PREFIX, sizeof(PREFIX) - 1) != 0) {
        reply(res, 404, "unknown path");
        return;
    }
    const char *id = url + sizeof(PREFIX) - 1;
    if (!keyd_is_id(id, strlen(id))) {
        reply(res, 400, "a share id is 32 lowercase hex digits");
        return;
    }
    /* 8 of the 32 digits in the log: enough to follow a request, too few
     * to fetch a share by (docs/unmeta-keyd.8, LOGS) */
    snprintf(res->log_id, sizeof(res->log_id), "%.8s...", id);
    if (strcmp(m, "PUT") == 0)
        do_put(res, st, lim, req, id);
    else if (strcmp(m, "GET") == 0)
        do_get(res, st, req, id);
    else if (strcmp(m, "DELETE") == 0)
        do_delete(res, st, req, id);
    else {
        res->allow = "GET, PUT, DELETE";
        reply(res, 405, "method not allowed");
    }
}

/* ---- rate limit ---------------------------------------------------------- */

#define RL_SLOTS 4096

typedef struct rl_slot {
    uint64_t tag;     /* hash of the address; 0: free */
    double tokens;
    int64_t last_ms;
} rl_slot;

struct keyd_ratelimit {
    double rate, burst;
    uint8_t salt[crypto_shorthash_KEYBYTES]; /* random: addresses cannot be chosen to collide */
    rl_slot slot[RL_SLOTS];
};

keyd_ratelimit *keyd_ratelimit_new(double rate, double burst)
{
    keyd_ratelimit *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->rate = rate;
    r->burst = burst < 1 ? 1 : burst;
    randombytes_buf(r->salt, sizeof(r->salt));
    return r;
}

void keyd_ratelimit_free(keyd_ratelimit *r)
{
    free(r);
}

int keyd_ratelimit_take(keyd_ratelimit *r, const void *addr, size_t addr_len, int64_t now_ms)
{
    uint8_t h[crypto_shorthash_BYTES];
    uint64_t tag;
    if (r->rate <= 0)
        return 1; /* no limit */
    crypto_shorthash(h, addr, addr_len, r->salt);
    memcpy(&tag, h, sizeof(tag));
    tag |= 1; /* never 0 */
    rl_slot *s = &r->slot[tag % RL_SLOTS];
    if (s->tag != tag) {
        /* a new address takes the slot with a full bucket; the one it
         * replaces has been idle or shares the bucket from now on */
        if (s->tag == 0 || now_ms - s->last_ms > (int64_t)(1000.0 * r->burst / r->rate)) {
            s->tag = tag;
            s->tokens = r->burst;
            s->last_ms = now_ms;
        }
    }
    if (now_ms > s->last_ms) {
        s->tokens += (double)(now_ms - s->last_ms) * r->rate / 1000.0;
        if (s->tokens > r->burst)
            s->tokens = r->burst;
        s->last_ms = now_ms;
    }
    if (s->tokens < 1)
        return 0;
    s->tokens -= 1;
    return 1;
}
