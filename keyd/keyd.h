/*
 * keyd.h - unmeta-keyd, the key-release service (docs/unmeta-keyd.8,
 * docs/envelope.md "Key-release shares"): the parts that need no socket.
 *
 * A request is validated and answered by keyd_handle() against a store
 * (Redis or SQLite, both behind keyd_store); keyd/main.c only moves bytes
 * between libmicrohttpd and these functions, so the fuzzer
 * (fuzz/fuzz_keyd.c) and the tests reach every decision without a network.
 *
 * Protocol (version 1), all bodies short ASCII text:
 *   PUT    /v1/shares/<id>  body "not-after: <unix seconds>\nkey: <32 hex>\n"
 *          -> 201 "token: <64 hex>\n" (the deletion token, shown once)
 *          -> 409 when the id is taken, 400/413/422 for a bad body
 *   GET    /v1/shares/<id>  -> 200 "not-after: N\nkey: <32 hex>\n" until the
 *          expiry, 404 after it (and for ids never stored or revoked)
 *   DELETE /v1/shares/<id>  header "Authorization: Bearer <token>"
 *          -> 204, 403 for a wrong token, 404 when absent
 *   GET    /v1/health       -> 200 "ok\n" when the store answers
 * <id> is exactly 32 lowercase hexadecimal digits (UNMETA_SHARE_ID_LEN).
 */
#ifndef UNMETA_KEYD_H
#define UNMETA_KEYD_H

#include <stddef.h>
#include <stdint.h>

#define KEYD_ID_LEN 32        /* hex digits of a share id */
#define KEYD_KEY_HEX_LEN 32   /* hex digits of a 16-byte share key */
#define KEYD_TOKEN_HEX_LEN 64 /* hex digits of a 32-byte deletion token */
#define KEYD_BODY_MAX 128     /* the longest body a request may carry */
#define KEYD_URL_MAX 256      /* the longest path accepted */

/* What a store keeps per share: never the token itself, only its hash. */
typedef struct keyd_record {
    int64_t not_after;                     /* Unix seconds; served while now <= not_after */
    char key[KEYD_KEY_HEX_LEN + 1];        /* the share key, lowercase hex */
    char token_hash[KEYD_TOKEN_HEX_LEN + 1]; /* BLAKE2b-256 of the token, lowercase hex */
} keyd_record;

/* Store results. */
#define KEYD_OK 0
#define KEYD_ABSENT 1   /* get/del: no such share (or expired) */
#define KEYD_EXISTS 2   /* put: the id is taken */
#define KEYD_DENIED 3   /* del: the token does not match */
#define KEYD_FAILED (-1) /* the store is unreachable or broken */

typedef struct keyd_store keyd_store;
struct keyd_store {
    int (*put)(keyd_store *s, const char *id, const keyd_record *rec, int64_t now);
    int (*get)(keyd_store *s, const char *id, keyd_record *rec, int64_t now);
    int (*del)(keyd_store *s, const char *id, const char *token_hash, int64_t now);
    int (*ping)(keyd_store *s);
    void (*maintain)(keyd_store *s, int64_t now); /* purge what expired; may be NULL */
    void (*close)(keyd_store *s);
    const char *name;                         /* "redis" or "sqlite", for the log */
};

/* Opens a SQLite store at path (created, mode 0600, WAL journal);
 * ":memory:" for tests and the fuzzer. NULL after saying why on stderr. */
keyd_store *keyd_sqlite_open(const char *path);
/* Opens a Redis store: redis://HOST[:PORT][/DB]. NULL after saying why. */
keyd_store *keyd_redis_open(const char *url);
/* Parses redis://HOST[:PORT][/DB]; 0 or -1. host gets at most hn bytes. */
int keyd_redis_parse_url(const char *url, char *host, size_t hn, int *port, int *db);

typedef struct keyd_request {
    const char *method;     /* "GET", "PUT", ... */
    const char *url;        /* the path as received (before any decoding) */
    const char *auth;       /* the Authorization header, or NULL */
    const char *body;       /* not NUL-terminated */
    size_t body_len;
    int64_t now;            /* Unix seconds */
} keyd_request;

typedef struct keyd_response {
    int status;                  /* HTTP status */
    char body[160];              /* NUL-terminated text */
    char log_id[12];             /* the share id shortened for the log ("" when none) */
    const char *allow;           /* for 405: the Allow header */
} keyd_response;

typedef struct keyd_limits {
    int64_t max_ttl;             /* seconds a share may be kept at most */
} keyd_limits;

/* Answers one complete request. Never fails: errors are HTTP statuses.
 * The response body may hold a token (PUT) or a share key (GET): the
 * caller wipes it after sending. */
void keyd_handle(keyd_response *res, keyd_store *store, const keyd_limits *lim, const keyd_request *req);

/* Whether s is a share id: exactly KEYD_ID_LEN lowercase hex digits. */
int keyd_is_id(const char *s, size_t n);

/* A per-address token bucket: `rate` requests a second, bursts of `burst`,
 * over a fixed table (addresses that collide share a bucket, which errs
 * on the strict side). */
typedef struct keyd_ratelimit keyd_ratelimit;
keyd_ratelimit *keyd_ratelimit_new(double rate, double burst);
void keyd_ratelimit_free(keyd_ratelimit *r);
/* 1 when the address may make one more request at time now_ms. */
int keyd_ratelimit_take(keyd_ratelimit *r, const void *addr, size_t addr_len, int64_t now_ms);

#endif
