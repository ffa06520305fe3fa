/*
 * store_redis.c - unmeta-keyd's shared store: Redis (--redis URL), so that
 * several instances serve the same shares and Redis itself forgets each
 * one at its expiry.
 *
 * A share is the key "unmeta:share:<id>" holding "<not_after> <key hex>
 * <token hash hex>", written with SET ... EXAT <not_after> NX (Redis 6.2 or
 * later): Redis deletes it at the envelope's expiry, whoever runs the
 * service. Revoking compares the token hash and deletes in one Lua script,
 * so two instances cannot interleave. A broken connection (Redis
 * restarted) is reopened once per request before the request fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>
#include <sodium.h>

#include "keyd.h"

typedef struct rd_store {
    keyd_store base;
    redisContext *c;
    char host[256];
    int port, db;
} rd_store;

/* Returns 0 and *ok, or KEYD_FAILED */
static const char del_script[] =
    "local v = redis.call('GET', KEYS[1]) "
    "if not v then return 0 end "
    "if string.sub(v, -64) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end "
    "return -1";

int keyd_redis_parse_url(const char *url, char *host, size_t hn, int *port, int *db)
{
    static const char scheme[] = "redis://";
    *port = 6379;
    *db = 0;
    if (strncmp(url, scheme, sizeof(scheme) - 1) != 0)
        return -1;
    const char *h = url + sizeof(scheme) - 1;
    size_t n = strcspn(h, ":/");
    if (n == 0 || n >= hn || strchr(h, '@'))
        return -1;
    memcpy(host, h, n);
    host[n] = '\0';
    const char *p = h + n;
    if (*p == ':') {
        char *end;
        long v = strtol(p + 1, &end, 10);
        if (end == p + 1 || v < 1 || v > 65535)
            return -1;
        *port = (int)v;
        p = end;
    }
    if (*p == '/' && p[1]) {
        char *end;
        long v = strtol(p + 1, &end, 10);
        if (end == p + 1 || *end || v < 0 || v > 255)
            return -1;
        *db = (int)v;
        p = end;
    } else if (*p == '/') {
        p++;
    }
    return *p ? -1 : 0;
}

static int rd_connect(rd_store *r)
{
    struct timeval tv = { 2, 0 };
    if (r->c)
        redisFree(r->c);
    r->c = redisConnectWithTimeout(r->host, r->port, tv);
    if (!r->c || r->c->err) {
        fprintf(stderr, "unmeta-keyd: redis %s:%d: %s\n", r->host, r->port, r->c ? r->c->errstr : "out of memory");
        if (r->c)
            redisFree(r->c);
        r->c = NULL;
        return -1;
    }
    (void)redisSetTimeout(r->c, tv);
    if (r->db) {
        redisReply *rep = redisCommand(r->c, "SELECT %d", r->db);
        int ok = rep && rep->type == REDIS_REPLY_STATUS;
        if (rep)
            freeReplyObject(rep);
        if (!ok) {
            fprintf(stderr, "unmeta-keyd: redis: SELECT %d failed\n", r->db);
            redisFree(r->c);
            r->c = NULL;
            return -1;
        }
    }
    return 0;
}

/* A command, reconnecting once when the connection broke. NULL: failed. */
static redisReply *rd_cmd(rd_store *r, int argc, const char **argv, const size_t *lens)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!r->c && rd_connect(r) < 0)
            return NULL;
        redisReply *rep = redisCommandArgv(r->c, argc, argv, lens);
        if (rep && rep->type != REDIS_REPLY_ERROR)
            return rep;
        if (rep) {
            fprintf(stderr, "unmeta-keyd: redis: %s\n", rep->str);
            freeReplyObject(rep);
            return NULL;
        }
        fprintf(stderr, "unmeta-keyd: redis: %s; reconnecting\n", r->c->errstr);
        redisFree(r->c);
        r->c = NULL;
    }
    return NULL;
}

static void rd_key(char out[64], const char *id)
{
    snprintf(out, 64, "unmeta:share:%s", id);
}

static int rd_put(keyd_store *s, const char *id, const keyd_record *rec, int64_t now)
{
    rd_store *r = (rd_store *)s;
    char key[64], val[160], at[24];
    (void)now;
    rd_key(key, id);
    int vn = snprintf(val, sizeof(val), "%lld %s %s", (long long)rec->not_after, rec->key, rec->token_hash);
    snprintf(at, sizeof(at), "%lld", (long long)rec->not_after);
    const char *argv[] = { "SET", key, val, "EXAT", at, "NX" };
    size_t lens[] = { 3, strlen(key), (size_t)vn, 4, strlen(at), 2 };
    redisReply *rep = rd_cmd(r, 6, argv, lens);
    sodium_memzero(val, sizeof(val));
    if (!rep)
        return KEYD_FAILED;
    int out = rep->type == REDIS_REPLY_STATUS ? KEYD_OK : rep->type == REDIS_REPLY_NIL ? KEYD_EXISTS : KEYD_FAILED;
    freeReplyObject(rep);
    return out;
}

static int rd_get(keyd_store *s, const char *id, keyd_record *rec, int64_t now)
{
    rd_store *r = (rd_store *)s;
    char key[64];
    rd_key(key, id);
    const char *argv[] = { "GET", key };
    size_t lens[] = { 3, strlen(key) };
    redisReply *rep = rd_cmd(r, 2, argv, lens);
    if (!rep)
        return KEYD_FAILED;
    int out = KEYD_ABSENT;
    if (rep->type == REDIS_REPLY_STRING) {
        long long na = 0;
        char k[KEYD_KEY_HEX_LEN + 2] = "", h[KEYD_TOKEN_HEX_LEN + 2] = "";
        if (rep->len < 150 && sscanf(rep->str, "%18lld %33s %65s", &na, k, h) == 3 &&
            strlen(k) == KEYD_KEY_HEX_LEN && na >= now) {
            rec->not_after = na;
            memcpy(rec->key, k, sizeof(rec->key));
            out = KEYD_OK;
        } else if (na < now && na > 0) {
            out = KEYD_ABSENT; /* Redis's clock lags: past its date all the same */
        } else {
            fprintf(stderr, "unmeta-keyd: redis: a stored share does not parse\n");
            out = KEYD_FAILED;
        }
        sodium_memzero(k, sizeof(k));
        sodium_memzero(rep->str, rep->len);
    } else if (rep->type != REDIS_REPLY_NIL) {
        out = KEYD_FAILED;
    }
    freeReplyObject(rep);
    return out;
}

static int rd_del(keyd_store *s, const char *id, const char *token_hash, int64_t now)
{
    rd_store *r = (rd_store *)s;
    char key[64];
    (void)now;
    rd_key(key, id);
    const char *argv[] = { "EVAL", del_script, "1", key, token_hash };
    size_t lens[] = { 4, sizeof(del_script) - 1, 1, strlen(key), strlen(token_hash) };
    redisReply *rep = rd_cmd(r, 5, argv, lens);
    if (!rep)
        return KEYD_FAILED;
    int out = KEYD_FAILED;
    if (rep->type == REDIS_REPLY_INTEGER)
        out = rep->integer == 1 ? KEYD_OK : rep->integer == 0 ? KEYD_ABSENT : KEYD_DENIED;
    freeReplyObject(rep);
    return out;
}

static int rd_ping(keyd_store *s)
{
    rd_store *r = (rd_store *)s;
    const char *argv[] = { "PING" };
    size_t lens[] = { 4 };
    redisReply *rep = rd_cmd(r, 1, argv, lens);
    int ok = rep && rep->type == REDIS_REPLY_STATUS;
    if (rep)
        freeReplyObject(rep);
    return ok ? 0 : -1;
}

static void rd_close(keyd_store *s)
{
    rd_store *r = (rd_store *)s;
    if (!r)
        return;
    if (r->c)
        redisFree(r->c);
    free(r);
}

keyd_store *keyd_redis_open(const char *url)
{
    rd_store *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->base = (keyd_store){ rd_put, rd_get, rd_del, rd_ping, NULL, rd_close, "redis" };
    if (keyd_redis_parse_url(url, r->host, sizeof(r->host), &r->port, &r->db) < 0) {
        fprintf(stderr, "unmeta-keyd: --redis: '%s' is not redis://HOST[:PORT][/DB]\n", url);
        free(r);
        return NULL;
    }
    /* Redis may start after the service: the first request connects then. */
    (void)rd_connect(r);
    return &r->base;
}
