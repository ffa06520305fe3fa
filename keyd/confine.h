/*
 * confine.h - unmeta-keyd confines itself once it listens (confine.c).
 */
#ifndef UNMETA_KEYD_CONFINE_H
#define UNMETA_KEYD_CONFINE_H

#include <stddef.h>

/* Confines the process: Landlock (no file but the SQLite folder, TCP
 * connect only to Redis's port) and a seccomp allowlist. how receives a
 * short description for the start-up line. Returns 0, or -1 after saying
 * why on stderr (--no-sandbox runs without). With
 * UNMETA_SANDBOX_SELFTEST=1 it then probes what a bug could try and
 * reports on stderr. */
int confine_enter(int disabled, const char *redis_url, const char *sqlite_path, char *how, size_t n);

#endif
