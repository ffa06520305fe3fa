/*
 * share_http.c - `--share-store http[s]://...`: the key-release service
 * client (share_http.h), for seal (PUT), open (GET, as the library's
 * share_fetch callback) and revoke (DELETE).
 *
 * Everything that needs files beyond the CA certificates happens before
 * the command confines itself: curl_global_init() reads OpenSSL's
 * configuration, and the host is resolved here and pinned with
 * CURLOPT_RESOLVE, so the confined process needs no resolv.conf, no DNS
 * socket and no NSS module, only TCP to the one port (cli/sandbox.c,
 * sandbox_allow_net). No proxy from the environment is used (it would be
 * another host and port), no redirect is followed, answers are capped at
 * 1 KiB.
 *
 * libcurl itself is loaded here too, with dlopen, by share_http_new(): it
 * is not linked, because its ~26 libraries (TLS, Kerberos, LDAP, SSH...)
 * would be mapped and relocated at every start of the command, tripling
 * the cost of `unmeta strip` on one photo for a feature few runs use.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#ifdef UNMETA_HAVE_CURL
#include <curl/curl.h>
#endif

#include "share_http.h"

#define ANSWER_MAX 1024

int share_http_is_url(const char *store)
{
    return strncmp(store, "http://", 7) == 0 || strncmp(store, "https://", 8) == 0;
}

#ifdef UNMETA_HAVE_CURL

/* The libcurl functions this file calls, resolved by curl_load(). The
 * fields do not carry the curl_ prefix: <curl/curl.h> defines
 * curl_easy_setopt and curl_easy_getinfo as type-checking macros with GCC,
 * which would expand after "api." as well. */
static struct {
    CURLcode (*global_init)(long flags);
    void (*global_cleanup)(void);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *curl);
    CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
    CURLcode (*easy_perform)(CURL *curl);
    CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
    const char *(*easy_strerror)(CURLcode code);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *string);
    void (*slist_free_all)(struct curl_slist *list);
} api;
static int api_loaded;

/* Loads libcurl (UM_CURL_SONAME, meson.build) once; 0, or -1 after saying
 * what is missing. Called by share_http_new(), from the main thread before
 * any other starts and before the command confines itself: dlopen reads
 * files (the libraries, ld.so.cache) that the sandbox no longer allows.
 * The library stays loaded until the process ends, as FFmpeg's do
 * (lib/av/av.c). */
static int curl_load(const char *base)
{
    if (api_loaded)
        return 0;
    void *lib = dlopen(UM_CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "unmeta: %s: a URL share store needs libcurl: %s (install it: libcurl4 on Debian and Ubuntu)\n",
                base, dlerror());
        return -1;
    }
    /* each name with the field its address goes to */
    static const struct {
        const char *name;
        void *slot;
    } syms[] = {
        { "curl_global_init", &api.global_init },     { "curl_global_cleanup", &api.global_cleanup },
        { "curl_easy_init", &api.easy_init },         { "curl_easy_cleanup", &api.easy_cleanup },
        { "curl_easy_setopt", &api.easy_setopt },     { "curl_easy_perform", &api.easy_perform },
        { "curl_easy_getinfo", &api.easy_getinfo },   { "curl_easy_strerror", &api.easy_strerror },
        { "curl_slist_append", &api.slist_append },   { "curl_slist_free_all", &api.slist_free_all },
    };
    for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
        void *sym = dlsym(lib, syms[i].name);
        if (!sym) {
            fprintf(stderr, "unmeta: %s: %s has no %s\n", base, UM_CURL_SONAME, syms[i].name);
            dlclose(lib);
            return -1;
        }
        memcpy(syms[i].slot, &sym, sizeof(sym)); /* an object pointer to a function pointer, as POSIX allows */
    }
    api_loaded = 1;
    return 0;
}

struct share_http {
    char *base;                /* without a trailing '/' */
    CURL *curl;
    struct curl_slist *resolve;
    unsigned port;
    char answer[ANSWER_MAX + 1];
    size_t answer_len;
    int overflow;
    int global;                /* curl_global_init() succeeded */
};

const char *share_http_base(const share_http *h)
{
    return h->base;
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *user)
{
    share_http *h = user;
    size_t n = size * nmemb;
    if (h->answer_len + n > ANSWER_MAX) {
        h->overflow = 1;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    memcpy(h->answer + h->answer_len, p, n);
    h->answer_len += n;
    h->answer[h->answer_len] = '\0';
    return n;
}

/* Splits http[s]://HOST[:PORT][/PATH] into host and port; -1 when it is not
 * such a URL (user info, a query or a fragment are refused). */
static int parse_base(const char *url, char *host, size_t hn, unsigned *port)
{
    int tls = strncmp(url, "https://", 8) == 0;
    const char *h = url + (tls ? 8 : 7), *end;
    *port = tls ? 443 : 80;
    if (strpbrk(url, "?#@") || !*h)
        return -1;
    if (*h == '[') {
        end = strchr(h, ']');
        if (!end || (size_t)(end - h - 1) >= hn)
            return -1;
        memcpy(host, h + 1, (size_t)(end - h - 1));
        host[end - h - 1] = '\0';
        end++;
    } else {
        end = h + strcspn(h, ":/");
        if (end == h || (size_t)(end - h) >= hn)
            return -1;
        memcpy(host, h, (size_t)(end - h));
        host[end - h] = '\0';
    }
    if (*end == ':') {
        char *e;
        long v = strtol(end + 1, &e, 10);
        if (e == end + 1 || v < 1 || v > 65535 || (*e && *e != '/'))
            return -1;
        *port = (unsigned)v;
        end = e;
    }
    return *end == '\0' || *end == '/' ? 0 : -1;
}

share_http *share_http_new(const char *base)
{
    char host[256], addr[INET6_ADDRSTRLEN], entry[600], portstr[8];
    struct addrinfo hints, *ai = NULL;
    share_http *h = calloc(1, sizeof(*h));
    if (!h) {
        fprintf(stderr, "unmeta: out of memory\n");
        return NULL;
    }
    if (parse_base(base, host, sizeof(host), &h->port) < 0) {
        fprintf(stderr, "unmeta: --share-store: '%s' is not http[s]://HOST[:PORT][/PATH]\n", base);
        goto fail;
    }
    h->base = strdup(base);
    if (!h->base)
        goto fail;
    for (size_t n = strlen(h->base); n > 0 && h->base[n - 1] == '/'; n--)
        h->base[n - 1] = '\0';
    if (curl_load(base) < 0)
        goto fail;
    h->global = api.global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    if (!h->global || !(h->curl = api.easy_init())) {
        fprintf(stderr, "unmeta: libcurl failed to start\n");
        goto fail;
    }
    /* Resolve now, pin the answer: the confined process resolves nothing. */
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    snprintf(portstr, sizeof(portstr), "%u", h->port);
    int rc = getaddrinfo(host, portstr, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "unmeta: %s: cannot resolve %s: %s\n", base, host, gai_strerror(rc));
        goto fail;
    }
    const void *a = ai->ai_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr
                                              : (const void *)&((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr;
    inet_ntop(ai->ai_family, a, addr, sizeof(addr));
    snprintf(entry, sizeof(entry), ai->ai_family == AF_INET6 ? "%s:%u:[%s]" : "%s:%u:%s", host, h->port, addr);
    freeaddrinfo(ai);
    h->resolve = api.slist_append(NULL, entry);
    if (!h->resolve)
        goto fail;
    CURL *c = h->curl;
    api.easy_setopt(c, CURLOPT_RESOLVE, h->resolve);
    api.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    api.easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    api.easy_setopt(c, CURLOPT_PROXY, "");
    api.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    api.easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    api.easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    api.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    api.easy_setopt(c, CURLOPT_WRITEDATA, h);
    api.easy_setopt(c, CURLOPT_USERAGENT, "unmeta");
    /* another CA bundle, as curl(1) reads it (a private CA, tests) */
    const char *ca = getenv("CURL_CA_BUNDLE");
    if (ca && *ca)
        api.easy_setopt(c, CURLOPT_CAINFO, ca);
    return h;
fail:
    share_http_free(h);
    return NULL;
}

void share_http_free(share_http *h)
{
    if (!h)
        return;
    if (h->curl)
        api.easy_cleanup(h->curl);
    if (h->resolve)
        api.slist_free_all(h->resolve);
    explicit_bzero(h->answer, sizeof(h->answer));
    if (h->global)
        api.global_cleanup();
    free(h->base);
    free(h);
}

void share_http_allow(share_http *h, sandbox *sb)
{
    sandbox_allow_net(sb, h->port);
    /* the CA certificates (libcurl's bundle, OpenSSL's folder and the
     * files its links point to), and those the environment names */
    static const char *const ca[] = { "/etc/ssl/certs", "/usr/share/ca-certificates", "/usr/lib/ssl/certs",
                                      "/usr/local/share/ca-certificates" };
    for (size_t i = 0; i < sizeof(ca) / sizeof(ca[0]); i++)
        sandbox_allow_read(sb, ca[i], 1);
    static const char *const env[] = { "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR" };
    for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++) {
        const char *p = getenv(env[i]);
        if (p && *p)
            sandbox_allow_read(sb, p, 1);
    }
}

/* One request; returns the HTTP status, or -1 after saying why. */
static long request(share_http *h, const char *method, const char *id, const char *body, const char *auth)
{
    char url[4200], authz[128];
    struct curl_slist *hdr = NULL;
    long status = -1;
    CURL *c = h->curl;
    if (snprintf(url, sizeof(url), "%s/v1/shares/%s", h->base, id) >= (int)sizeof(url)) {
        fprintf(stderr, "unmeta: %s: URL too long\n", h->base);
        return -1;
    }
    h->answer_len = 0;
    h->answer[0] = '\0';
    h->overflow = 0;
    api.easy_setopt(c, CURLOPT_URL, url);
    api.easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
    api.easy_setopt(c, CURLOPT_HTTPGET, 1L);
    if (body) {
        api.easy_setopt(c, CURLOPT_POSTFIELDS, body);
        api.easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        api.easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        hdr = api.slist_append(hdr, "Content-Type: text/plain");
    } else if (strcmp(method, "GET") != 0) {
        api.easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    if (auth) {
        snprintf(authz, sizeof(authz), "Authorization: Bearer %s", auth);
        hdr = api.slist_append(hdr, authz);
    }
    api.easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    CURLcode rc = api.easy_perform(c);
    if (rc != CURLE_OK) {
        fprintf(stderr, "unmeta: %s: %s\n", h->base,
                h->overflow ? "the key-release service answered too much" : api.easy_strerror(rc));
    } else {
        api.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    }
    api.easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    api.easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
    api.slist_free_all(hdr);
    explicit_bzero(authz, sizeof(authz));
    return status;
}

/* The service's one-line reason, for messages. */
static const char *reason(share_http *h)
{
    size_t n = strcspn(h->answer, "\n");
    h->answer[n < 200 ? n : 200] = '\0';
    return h->answer;
}

int share_http_put(share_http *h, const unmeta_share *sh, char token[SHARE_TOKEN_LEN + 1])
{
    char body[128], key[2 * UNMETA_SHARE_KEY_LEN + 1];
    int rc = -1;
    for (size_t i = 0; i < UNMETA_SHARE_KEY_LEN; i++)
        snprintf(key + 2 * i, 3, "%02x", sh->key[i]);
    snprintf(body, sizeof(body), "not-after: %lld\nkey: %s\n", (long long)sh->not_after, key);
    long st = request(h, "PUT", sh->id, body, NULL);
    if (st == 201 && strlen(h->answer) == 7 + SHARE_TOKEN_LEN + 1 && strncmp(h->answer, "token: ", 7) == 0 &&
        strspn(h->answer + 7, "0123456789abcdef") == SHARE_TOKEN_LEN && h->answer[7 + SHARE_TOKEN_LEN] == '\n') {
        memcpy(token, h->answer + 7, SHARE_TOKEN_LEN);
        token[SHARE_TOKEN_LEN] = '\0';
        rc = 0;
    } else if (st >= 0) {
        fprintf(stderr, "unmeta: %s: the key-release service refused the share (HTTP %ld: %s)\n", h->base, st,
                reason(h));
    }
    explicit_bzero(body, sizeof(body));
    explicit_bzero(key, sizeof(key));
    explicit_bzero(h->answer, sizeof(h->answer));
    return rc;
}

int32_t share_http_fetch(unmeta_share *share, void *user)
{
    share_http *h = user;
    char keyhex[40] = "", canon[128];
    long long na = -1;
    int32_t rc = UNMETA_E_IO;
    if (strlen(share->id) != UNMETA_SHARE_ID_LEN || strspn(share->id, "0123456789abcdef") != UNMETA_SHARE_ID_LEN)
        return UNMETA_E_INVALID;
    long st = request(h, "GET", share->id, NULL, NULL);
    if (st == 404) {
        rc = UNMETA_E_NOKEY;
    } else if (st == 200) {
        /* exactly "not-after: N\nkey: <32 hex>\n" */
        if (sscanf(h->answer, "not-after: %18lld\nkey: %39[0-9a-f]", &na, keyhex) == 2 && na > 0 &&
            strlen(keyhex) == 2 * UNMETA_SHARE_KEY_LEN &&
            snprintf(canon, sizeof(canon), "not-after: %lld\nkey: %s\n", na, keyhex) == (int)h->answer_len &&
            memcmp(canon, h->answer, h->answer_len) == 0) {
            for (size_t i = 0; i < UNMETA_SHARE_KEY_LEN; i++) {
                unsigned v;
                sscanf(keyhex + 2 * i, "%2x", &v);
                share->key[i] = (uint8_t)v;
            }
            share->not_after = na;
            rc = 0;
        } else {
            fprintf(stderr, "unmeta: %s: the key-release service's answer does not parse\n", h->base);
            rc = UNMETA_E_MALFORMED;
        }
    } else if (st >= 0) {
        fprintf(stderr, "unmeta: %s: the key-release service failed (HTTP %ld: %s)\n", h->base, st, reason(h));
    }
    explicit_bzero(keyhex, sizeof(keyhex));
    explicit_bzero(canon, sizeof(canon));
    explicit_bzero(h->answer, sizeof(h->answer));
    return rc;
}

int share_http_revoke(share_http *h, const char *id, const char *token)
{
    long st = request(h, "DELETE", id, NULL, token);
    if (st == 204)
        return 0;
    if (st == 404)
        return 1;
    if (st == 403)
        fprintf(stderr, "unmeta: %s: the service refused: wrong token for share %s\n", h->base, id);
    else if (st >= 0)
        fprintf(stderr, "unmeta: %s: revoking failed (HTTP %ld: %s)\n", h->base, st, reason(h));
    return -1;
}

#else /* no libcurl */

struct share_http {
    int unused;
};

share_http *share_http_new(const char *base)
{
    fprintf(stderr, "unmeta: --share-store %s: this build has no libcurl, so --share-store takes a folder only "
                    "(rebuild with libcurl for http:// and https://)\n", base);
    return NULL;
}
void share_http_free(share_http *h) { (void)h; }
void share_http_allow(share_http *h, sandbox *sb) { (void)h, (void)sb; }
int share_http_put(share_http *h, const unmeta_share *sh, char token[SHARE_TOKEN_LEN + 1])
{
    (void)h, (void)sh, (void)token;
    return -1;
}
int32_t share_http_fetch(unmeta_share *share, void *user)
{
    (void)share, (void)user;
    return UNMETA_E_FEATURE;
}
int share_http_revoke(share_http *h, const char *id, const char *token)
{
    (void)h, (void)id, (void)token;
    return -1;
}
const char *share_http_base(const share_http *h)
{
    (void)h;
    return "";
}

#endif
