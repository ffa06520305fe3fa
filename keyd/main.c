/*
 * main.c - unmeta-keyd: the key-release service (docs/unmeta-keyd.8).
 *
 * Moves requests between libmicrohttpd and keyd_handle() (handler.c), one
 * thread, MHD's epoll loop driven from here so that the store (a hiredis
 * connection or a SQLite handle, neither shared between threads) and the
 * SQLite purge run on the same thread as the requests. Limits: request
 * body (KEYD_BODY_MAX), header memory per connection, connections in all
 * and per address, a request rate per address, and --timeout twice over:
 * MHD closes a connection idle that long, and this loop shuts down one
 * whose request has not arrived whole within it, however it trickles in
 * (slowloris keeps a connection busy, never idle). Confined (confine.c)
 * once listening.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>

#include <microhttpd.h>
#include <sodium.h>

#include "keyd.h"
#include "confine.h"

#define HEADER_MEMORY (16 * 1024) /* per connection: headers beyond this get 431 */

static volatile sig_atomic_t stop;

/* One open connection, from MHD's connection notifications. */
typedef struct conn_track {
    struct conn_track *prev, *next;
    int fd;
    int64_t since_ms;   /* accepted, or its last request answered */
    int cut;            /* shut down for taking too long */
} conn_track;

typedef struct server {
    keyd_store *store;
    keyd_limits lim;
    keyd_ratelimit *rl;
    int quiet;
    int64_t deadline_ms; /* a request must arrive whole within this */
    conn_track *conns;
} server;

typedef struct request {
    char body[KEYD_BODY_MAX + 1];
    size_t n;
    int too_big;
    int limited;
} request;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Percent escapes are left as they are, so "%2e%2e" or "%30" never turn
 * into a valid-looking path: the handler refuses any '%'. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls, (void)c;
    return strlen(s);
}

static void wipe_free(void *p)
{
    sodium_memzero(p, sizeof(((keyd_response *)0)->body));
    free(p);
}

static enum MHD_Result send_response(struct MHD_Connection *conn, keyd_response *res)
{
    size_t n = strlen(res->body);
    char *copy = malloc(sizeof(res->body));
    enum MHD_Result ok = MHD_NO;
    if (!copy)
        return MHD_NO;
    memcpy(copy, res->body, sizeof(res->body));
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(n, copy, wipe_free);
    if (!r) {
        wipe_free(copy);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (res->allow)
        MHD_add_response_header(r, "Allow", res->allow);
    if (res->status == 429)
        MHD_add_response_header(r, "Retry-After", "1");
    ok = MHD_queue_response(conn, (unsigned)res->status, r);
    MHD_destroy_response(r);
    return ok;
}

static void log_request(const server *sv, const char *method, const keyd_response *res, int64_t t0)
{
    if (sv->quiet && res->status < 500)
        return;
    /* never the share id in full, never the address, the key or a token;
     * a method the protocol does not know is not echoed (it is the
     * client's text) */
    static const char *const known[] = { "GET", "PUT", "DELETE", "HEAD" };
    const char *m = "(other method)";
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(method, known[i]) == 0)
            m = known[i];
    fprintf(stderr, "unmeta-keyd: %s %s -> %d (%lld ms)\n", m, res->log_id[0] ? res->log_id : "-", res->status,
            (long long)(now_ms() - t0));
}

static enum MHD_Result count_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind, (void)key, (void)value;
    ++*(int *)cls;
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    server *sv = cls;
    request *rq = *con_cls;
    keyd_response res;
    (void)version;
    if (!rq) {
        /* first call: headers only */
        rq = calloc(1, sizeof(*rq));
        if (!rq)
            return MHD_NO;
        *con_cls = rq;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const struct sockaddr *sa = ci ? ci->client_addr : NULL;
        const void *a = "";
        size_t an = 0;
        if (sa && sa->sa_family == AF_INET) {
            a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
            an = 4;
        } else if (sa && sa->sa_family == AF_INET6) {
            a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
            an = 8; /* the /64: one host's addresses share a bucket */
        }
        rq->limited = !keyd_ratelimit_take(sv->rl, a, an, now_ms());
        /* a body declared too large, or a client over its rate: answered
         * now, before a byte of the body is read (MHD then closes) */
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > KEYD_BODY_MAX)
            rq->too_big = 1;
        if (!rq->limited && !rq->too_big)
            return MHD_YES;
    } else if (*upload_size) {
        if (!rq->too_big && rq->n + *upload_size <= KEYD_BODY_MAX) {
            memcpy(rq->body + rq->n, upload, *upload_size);
            rq->n += *upload_size;
        } else {
            rq->too_big = 1;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    int64_t t0 = now_ms();
    memset(&res, 0, sizeof(res));
    int args = 0;
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, count_arg, &args);
    if (rq->limited) {
        res.status = 429;
        snprintf(res.body, sizeof(res.body), "too many requests from this address\n");
    } else if (rq->too_big) {
        res.status = 413;
        snprintf(res.body, sizeof(res.body), "body too large\n");
    } else if (args) {
        res.status = 400;
        snprintf(res.body, sizeof(res.body), "no query string is accepted\n");
    } else {
        keyd_request req = { method, url, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"),
                             rq->body, rq->n, (int64_t)time(NULL) };
        if (sv->store->maintain)
            sv->store->maintain(sv->store, req.now);
        keyd_handle(&res, sv->store, &sv->lim, &req);
    }
    log_request(sv, method, &res, t0);
    enum MHD_Result ok = send_response(conn, &res);
    sodium_memzero(&res, sizeof(res));
    return ok;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    server *sv = cls;
    conn_track *t = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        t = calloc(1, sizeof(*t));
        if (!t)
            return; /* not tracked: MHD's idle timeout still applies */
        t->fd = ci ? ci->connect_fd : -1;
        t->since_ms = now_ms();
        t->next = sv->conns;
        if (sv->conns)
            sv->conns->prev = t;
        sv->conns = t;
        *socket_context = t;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && t) {
        if (t->prev)
            t->prev->next = t->next;
        else
            sv->conns = t->next;
        if (t->next)
            t->next->prev = t->prev;
        free(t);
        *socket_context = NULL;
    }
}

/* Shuts down the connections whose request is overdue; MHD then sees the
 * end of the stream and closes them. */
static void cut_slow(server *sv)
{
    int64_t now = now_ms();
    for (conn_track *t = sv->conns; t; t = t->next) {
        if (!t->cut && t->fd >= 0 && now - t->since_ms > sv->deadline_ms) {
            (void)shutdown(t->fd, SHUT_RDWR);
            t->cut = 1;
        }
    }
}

static void on_done(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)toe;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (ci && ci->socket_context)
        ((conn_track *)ci->socket_context)->since_ms = now_ms(); /* a kept-alive connection starts anew */
    if (*con_cls) {
        sodium_memzero(*con_cls, sizeof(request));
        free(*con_cls);
        *con_cls = NULL;
    }
}

static int listen_on(const char *spec)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    struct addrinfo hints, *ai = NULL;
    int fd = -1, one = 1;
    if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof(host)) {
        fprintf(stderr, "unmeta-keyd: --listen takes HOST:PORT (e.g. 127.0.0.1:8420, [::1]:8420)\n");
        return -1;
    }
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    int rc = getaddrinfo(host, colon + 1, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "unmeta-keyd: --listen %s: %s (a numeric address is needed)\n", spec, gai_strerror(rc));
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 256) != 0) {
        fprintf(stderr, "unmeta-keyd: --listen %s: %s\n", spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static void usage(FILE *f)
{
    fprintf(f,
        "Usage: unmeta-keyd --listen HOST:PORT (--redis redis://HOST[:PORT][/DB] | --sqlite FILE)\n"
        "                   [--max-connections N] [--per-address N] [--rate N] [--burst N]\n"
        "                   [--timeout SECONDS] [--max-ttl DAYS] [--quiet] [--no-sandbox]\n"
        "The key-release service of unmeta's envelopes: stores a share until its\n"
        "expiry, then forgets it. TLS belongs to a reverse proxy. See unmeta-keyd(8).\n");
}

static int num_arg(long *out, const char *name, const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "unmeta-keyd: %s takes %ld..%ld\n", name, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    const char *listen_spec = NULL, *redis = NULL, *sqlite = NULL;
    long max_conn = 512, per_addr = 64, rate = 50, burst = 100, timeout = 10, ttl_days = 400;
    int no_sandbox = 0, quiet = 0, status = 1;
    server sv;
    struct MHD_Daemon *d = NULL;
    memset(&sv, 0, sizeof(sv));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int used = 1;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--no-sandbox") == 0) {
            no_sandbox = 1, used = 0;
        } else if (strcmp(a, "--quiet") == 0) {
            quiet = 1, used = 0;
        } else if (!v) {
            usage(stderr);
            return 2;
        } else if (strcmp(a, "--listen") == 0) {
            listen_spec = v;
        } else if (strcmp(a, "--redis") == 0) {
            redis = v;
        } else if (strcmp(a, "--sqlite") == 0) {
            sqlite = v;
        } else if (strcmp(a, "--max-connections") == 0) {
            if (num_arg(&max_conn, a, v, 1, 100000) < 0)
                return 2;
        } else if (strcmp(a, "--per-address") == 0) {
            if (num_arg(&per_addr, a, v, 0, 100000) < 0)
                return 2;
        } else if (strcmp(a, "--rate") == 0) {
            if (num_arg(&rate, a, v, 0, 1000000) < 0)
                return 2;
        } else if (strcmp(a, "--burst") == 0) {
            if (num_arg(&burst, a, v, 1, 1000000) < 0)
                return 2;
        } else if (strcmp(a, "--timeout") == 0) {
            if (num_arg(&timeout, a, v, 1, 3600) < 0)
                return 2;
        } else if (strcmp(a, "--max-ttl") == 0) {
            if (num_arg(&ttl_days, a, v, 1, 36600) < 0)
                return 2;
        } else {
            fprintf(stderr, "unmeta-keyd: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        i += used;
    }
    if (!listen_spec || !!redis == !!sqlite) {
        fprintf(stderr, "unmeta-keyd: give --listen HOST:PORT and one of --redis URL, --sqlite FILE\n");
        usage(stderr);
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "unmeta-keyd: libsodium failed to start\n");
        return 1;
    }
    sv.lim.max_ttl = (int64_t)ttl_days * 86400;
    sv.quiet = quiet;
    sv.deadline_ms = (int64_t)timeout * 1000;
    sv.rl = keyd_ratelimit_new((double)rate, (double)burst);
    sv.store = redis ? keyd_redis_open(redis) : keyd_sqlite_open(sqlite);
    int lfd = sv.rl && sv.store ? listen_on(listen_spec) : -1;
    if (lfd < 0)
        goto done;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    d = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, &sv,
                         MHD_OPTION_LISTEN_SOCKET, (MHD_socket)lfd,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)max_conn,
                         MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)per_addr,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)timeout,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HEADER_MEMORY,
                         MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL,
                         MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
                         MHD_OPTION_NOTIFY_CONNECTION, on_connection, &sv,
                         MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "unmeta-keyd: cannot start the HTTP server\n");
        close(lfd);
        goto done;
    }
    char how[200];
    if (confine_enter(no_sandbox, redis, sqlite, how, sizeof(how)) < 0)
        goto done;
    fprintf(stderr, "unmeta-keyd: listening on %s, %s store, %s\n", listen_spec, sv.store->name, how);
    while (!stop) {
        if (MHD_run_wait(d, 1000) != MHD_YES && !stop) {
            fprintf(stderr, "unmeta-keyd: the HTTP loop failed\n");
            goto done;
        }
        cut_slow(&sv);
        if (sv.store->maintain)
            sv.store->maintain(sv.store, (int64_t)time(NULL));
    }
    fprintf(stderr, "unmeta-keyd: stopping\n");
    status = 0;
done:
    if (d)
        MHD_stop_daemon(d);
    if (sv.store)
        sv.store->close(sv.store);
    keyd_ratelimit_free(sv.rl);
    return status;
}
