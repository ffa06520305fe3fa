/*
 * store_sqlite.c - the embedded store of unmeta-keyd: one SQLite file on
 * one machine (--sqlite FILE).
 *
 * Rows past their expiry are never served (every read compares with the
 * request's time) and are purged at start and then at most every 10 s;
 * secure_delete overwrites what is deleted, WAL with synchronous=FULL
 * makes a stored share survive a crash or a restart.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sqlite3.h>

#include "keyd.h"

typedef struct sq_store {
    keyd_store base;
    sqlite3 *db;
    sqlite3_stmt *put, *get, *del, *check, *purge, *purge_one;
    int64_t last_purge;
} sq_store;

static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static void sq_purge(keyd_store *s, int64_t now)
{
    sq_store *q = (sq_store *)s;
    if (now - q->last_purge < 10)
        return;
    q->last_purge = now;
    sqlite3_bind_int64(q->purge, 1, now);
    if (step_done(q->purge) != SQLITE_DONE)
        fprintf(stderr, "unmeta-keyd: sqlite: purge failed: %s\n", sqlite3_errmsg(q->db));
}

static int sq_put(keyd_store *s, const char *id, const keyd_record *rec, int64_t now)
{
    sq_store *q = (sq_store *)s;
    /* an expired row with this id is gone, not in the way */
    sqlite3_bind_text(q->purge_one, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q->purge_one, 2, now);
    if (step_done(q->purge_one) != SQLITE_DONE)
        return KEYD_FAILED;
    sqlite3_bind_text(q->put, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q->put, 2, rec->not_after);
    sqlite3_bind_text(q->put, 3, rec->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(q->put, 4, rec->token_hash, -1, SQLITE_STATIC);
    int rc = step_done(q->put);
    if (rc == SQLITE_DONE)
        return KEYD_OK;
    if (rc == SQLITE_CONSTRAINT)
        return KEYD_EXISTS;
    fprintf(stderr, "unmeta-keyd: sqlite: insert failed: %s\n", sqlite3_errmsg(q->db));
    return KEYD_FAILED;
}

static int sq_get(keyd_store *s, const char *id, keyd_record *rec, int64_t now)
{
    sq_store *q = (sq_store *)s;
    int out = KEYD_ABSENT;
    sqlite3_bind_text(q->get, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q->get, 2, now);
    int rc = sqlite3_step(q->get);
    if (rc == SQLITE_ROW) {
        const unsigned char *k = sqlite3_column_text(q->get, 1);
        rec->not_after = sqlite3_column_int64(q->get, 0);
        snprintf(rec->key, sizeof(rec->key), "%s", k ? (const char *)k : "");
        out = KEYD_OK;
    } else if (rc != SQLITE_DONE) {
        fprintf(stderr, "unmeta-keyd: sqlite: select failed: %s\n", sqlite3_errmsg(q->db));
        out = KEYD_FAILED;
    }
    sqlite3_reset(q->get);
    sqlite3_clear_bindings(q->get);
    return out;
}

static int sq_del(keyd_store *s, const char *id, const char *token_hash, int64_t now)
{
    sq_store *q = (sq_store *)s;
    int out;
    sqlite3_bind_text(q->check, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q->check, 2, now);
    int rc = sqlite3_step(q->check);
    if (rc == SQLITE_ROW) {
        const unsigned char *h = sqlite3_column_text(q->check, 0);
        out = h && strlen((const char *)h) == KEYD_TOKEN_HEX_LEN &&
              sodium_memcmp(h, token_hash, KEYD_TOKEN_HEX_LEN) == 0 ? KEYD_OK : KEYD_DENIED;
    } else {
        out = rc == SQLITE_DONE ? KEYD_ABSENT : KEYD_FAILED;
    }
    sqlite3_reset(q->check);
    sqlite3_clear_bindings(q->check);
    if (out != KEYD_OK)
        return out;
    sqlite3_bind_text(q->del, 1, id, -1, SQLITE_STATIC);
    return step_done(q->del) == SQLITE_DONE ? KEYD_OK : KEYD_FAILED;
}

static int sq_ping(keyd_store *s)
{
    (void)s;
    return 0;
}

static void sq_close(keyd_store *s)
{
    sq_store *q = (sq_store *)s;
    if (!q)
        return;
    sqlite3_finalize(q->put);
    sqlite3_finalize(q->get);
    sqlite3_finalize(q->del);
    sqlite3_finalize(q->check);
    sqlite3_finalize(q->purge);
    sqlite3_finalize(q->purge_one);
    sqlite3_close(q->db);
    free(q);
}

keyd_store *keyd_sqlite_open(const char *path)
{
    sq_store *q = calloc(1, sizeof(*q));
    char *err = NULL;
    if (!q)
        return NULL;
    q->base = (keyd_store){ sq_put, sq_get, sq_del, sq_ping, sq_purge, sq_close, "sqlite" };
    if (sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        fprintf(stderr, "unmeta-keyd: %s: %s\n", path, q->db ? sqlite3_errmsg(q->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(q->db, 2000);
    static const char schema[] =
        "PRAGMA secure_delete = ON;"
        "PRAGMA journal_mode = WAL;"
        "PRAGMA synchronous = FULL;"
        "CREATE TABLE IF NOT EXISTS shares ("
        " id TEXT PRIMARY KEY NOT NULL,"
        " not_after INTEGER NOT NULL,"
        " key TEXT NOT NULL,"
        " token_hash TEXT NOT NULL) WITHOUT ROWID;"
        "CREATE INDEX IF NOT EXISTS shares_not_after ON shares(not_after);";
    if (sqlite3_exec(q->db, schema, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "unmeta-keyd: %s: %s\n", path, err ? err : sqlite3_errmsg(q->db));
        sqlite3_free(err);
        goto fail;
    }
    struct { sqlite3_stmt **st; const char *sql; } stmts[] = {
        { &q->put, "INSERT INTO shares (id, not_after, key, token_hash) VALUES (?1, ?2, ?3, ?4)" },
        { &q->get, "SELECT not_after, key FROM shares WHERE id = ?1 AND not_after >= ?2" },
        { &q->check, "SELECT token_hash FROM shares WHERE id = ?1 AND not_after >= ?2" },
        { &q->del, "DELETE FROM shares WHERE id = ?1" },
        { &q->purge, "DELETE FROM shares WHERE not_after < ?1" },
        { &q->purge_one, "DELETE FROM shares WHERE id = ?1 AND not_after < ?2" },
    };
    for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
        if (sqlite3_prepare_v2(q->db, stmts[i].sql, -1, stmts[i].st, NULL) != SQLITE_OK) {
            fprintf(stderr, "unmeta-keyd: %s: %s\n", path, sqlite3_errmsg(q->db));
            goto fail;
        }
    }
    q->last_purge = -1000;
    return &q->base;
fail:
    sq_close(&q->base);
    return NULL;
}
