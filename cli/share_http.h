/*
 * share_http.h - the command's client of a key-release service over
 * http:// or https:// (unmeta-keyd, docs/unmeta-keyd.8), behind the same
 * callback API apps use (unmeta_share_fetch_fn). libcurl, loaded with
 * dlopen by share_http_new(); builds without it, and machines without
 * libcurl.so.4, refuse URLs with a message.
 */
#ifndef UNMETA_CLI_SHARE_HTTP_H
#define UNMETA_CLI_SHARE_HTTP_H

#include "unmeta.h"
#include "sandbox.h"

#define SHARE_TOKEN_LEN 64 /* hex digits of a deletion token */

typedef struct share_http share_http;

/* Whether a --share-store argument is a URL rather than a folder. */
int share_http_is_url(const char *store);
/* A client for the service at base (http[s]://HOST[:PORT][/PATH]). Resolves
 * the host and loads TLS settings now, before the command confines itself,
 * so that nothing but one TCP port and the CA certificates is needed
 * afterwards. NULL after saying why on stderr. */
share_http *share_http_new(const char *base);
void share_http_free(share_http *h);
/* What the confined command still needs for it: TCP connect to the one
 * port, reading the CA certificates (sandbox_allow_net). */
void share_http_allow(share_http *h, sandbox *sb);
/* PUT: stores the share; token receives the deletion token. 0, or -1 after
 * saying why. */
int share_http_put(share_http *h, const unmeta_share *sh, char token[SHARE_TOKEN_LEN + 1]);
/* unmeta_share_fetch_fn over the service (user: the share_http). */
int32_t share_http_fetch(unmeta_share *share, void *user);
/* DELETE with the token: 0 revoked, 1 absent (expired or revoked before),
 * -1 refused or failed (said). */
int share_http_revoke(share_http *h, const char *id, const char *token);
/* The base URL as given, for messages and the revocation file. */
const char *share_http_base(const share_http *h);

#endif
