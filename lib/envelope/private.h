/*
 * private.h - what the files of lib/envelope/ share and nothing outside
 * them sees: the age constants, the secrets of one operation, and the
 * helpers that seal.c and open.c call in the stanza, share, stream and key
 * files. The internals that tests and fuzz targets reach are in
 * envelope.h; the public API is in unmeta.h.
 *
 * An envelope is an age v1 file (https://c2sp.org/age) whose plaintext is
 * INFO ‖ content ‖ zero padding (docs/envelope.md): a text header of
 * recipient stanzas (X25519, scrypt) that wrap a 16-byte file key, an
 * HMAC-SHA-256 over the header, then the payload: a 16-byte nonce and the
 * plaintext in 64 KiB chunks sealed with ChaCha20-Poly1305 (STREAM). Any
 * age client can open an envelope; unmeta additionally reads INFO, refuses
 * an expired envelope before releasing a byte, and checks the padding.
 * Without libsodium the text encodings, INFO and PADMÉ still build (tests
 * and fuzz targets use them) and every public entry point returns
 * UNMETA_E_FEATURE.
 *
 * The files, one job each:
 *   info.c     INFO and PADMÉ                 text.c     base64, bech32
 *   header.c   age header: parse, armor, write
 *   keys.c     HKDF, locked secrets, identities and recipients, keygen
 *   x25519.c   X25519 stanzas                 scrypt.c   scrypt stanzas
 *   share.c    key-release shares             stream.c   the STREAM payload
 *   aead.c     the chunks' ChaCha20-Poly1305 (OpenSSL's libcrypto, else libsodium)
 *   seal.c     unmeta_seal()                  open.c     unmeta_open()
 *   params.c   parameter structs; the entry points of a build without libsodium
 * Only keys.c, x25519.c, scrypt.c, share.c, aead.c, stream.c, seal.c and
 * open.c include sodium.h; only aead.c includes OpenSSL's headers.
 */
#ifndef UM_ENVELOPE_PRIVATE_H
#define UM_ENVELOPE_PRIVATE_H

#include <stddef.h>
#include "internal.h"
#include "envelope/envelope.h"

#define AGE_INTRO        "age-encryption.org/v1\n"
#define AGE_X25519_INFO  "age-encryption.org/v1/X25519"
#define AGE_SCRYPT_LABEL "age-encryption.org/v1/scrypt"
#define AGE_CHUNK        65536u                 /* plaintext bytes per STREAM chunk */
#define AGE_TAG          16u
#define AGE_CCHUNK       (AGE_CHUNK + AGE_TAG)  /* ciphertext bytes per full chunk */
#define AGE_FILE_KEY     16u
#define AGE_HEADER_MAX   (1u << 20)             /* refuse headers larger than this */
#define AGE_X25519_HRP   "age"
#define AGE_IDENTITY_HRP "AGE-SECRET-KEY-"
#define SCRYPT_LOG_N_MIN 10
#define SCRYPT_LOG_N_SEAL_MAX 22
#define SCRYPT_LOG_N_OPEN_MAX 30
#define SHARE_TYPE       "unmeta-share"          /* docs/envelope.md, "Key-release shares" */
#define SHARE_CHECK_INFO "unmeta-share check"
#define SHARE_ID_BYTES   16u
#define SHARE_CHECK      32u
/* The fields of unmeta_share's first version: all a caller must provide. */
#define SHARE_V1_SIZE    (offsetof(unmeta_share, key) + UNMETA_SHARE_KEY_LEN)

/* ---- params.c ----------------------------------------------------------- */

/* "YYYY-MM-DD HH:MM:SS UTC" */
void um_env_fmt_time(char *buf, size_t n, int64_t t);
int64_t um_env_system_now(void);
/* Copies a caller's struct (its struct_size first) over defaults. */
int um_env_copy_params(void *dst, const void *defaults, size_t full, const void *src);
/* A share ID: exactly 32 lowercase hex digits (16 bytes). 0 or -1. */
int um_env_share_id_decode(uint8_t out[SHARE_ID_BYTES], const char *s, size_t n);
/* 1-32 printable ASCII characters (INFO's content type). */
int um_env_type_valid(const char *t);

/* ---- header.c: the writer ------------------------------------------------ */

typedef struct um_env_text {
    char *p;
    size_t len, cap;
} um_env_text;

/* Makes room for `more` bytes; UNMETA_E_NOMEM on the job. */
int um_env_text_reserve(um_job *job, um_env_text *t, size_t more);
/* Appends a stanza body, base64 wrapped at 64 columns, ending with a short
 * (possibly empty) line; the caller reserved 4/3 n + n/48 + 4 bytes. */
void um_env_text_body(um_env_text *t, const uint8_t *b, size_t n);
/* Stanza arguments: equal to s / strict base64 of exactly `want` bytes. */
int um_age_arg_is(const um_age_stanza *st, uint32_t i, const char *s);
int um_age_arg_b64(uint8_t *out, size_t want, const um_age_stanza *st, uint32_t i);

#ifdef UNMETA_HAVE_SODIUM

/* ---- keys.c --------------------------------------------------------------- */

/* Secrets of one operation, in guarded, locked memory (sodium_malloc:
 * mlock where the system allows it, wiped by sodium_free). */
typedef struct um_env_secrets {
    uint8_t file_key[AGE_FILE_KEY];
    uint8_t stanza_key[AGE_FILE_KEY]; /* what the stanzas wrap: the file key, or file key XOR share key */
    unmeta_share share;              /* the key-release share, while it is in use */
    uint8_t payload_key[32];
    uint8_t mac_key[32];
    uint8_t wrap_key[32];
    uint8_t shared[32];
    uint8_t eph[32];
    uint8_t identity[32];
    uint8_t chunk[AGE_CCHUNK];   /* plaintext (and ciphertext) of one chunk */
} um_env_secrets;

/* sodium_malloc; a fault point. */
void *um_env_secret_malloc(size_t n);
void um_env_default_rng(void *buf, size_t n, void *user);
int um_env_parse_recipient(uint8_t pk[32], const char *s);
int um_env_parse_identity(uint8_t sk[32], const char *s);
/* Unwraps a 16-byte file key from a 32-byte stanza body; 0 or -1. */
int um_env_unwrap(uint8_t *file_key, const uint8_t *body, const uint8_t key[32]);

/* ---- x25519.c, scrypt.c, share.c -------------------------------------------- */

/* Appends "-> X25519 ..." wrapping sec->stanza_key to recipient. */
int um_env_x25519_wrap(um_job *job, um_env_text *h, um_env_secrets *sec, const char *recipient, um_env_rng_fn rng,
                       void *ru);
/* Structure of an X25519 stanza: 0 or -1. */
int um_env_x25519_check(const um_age_stanza *st);
/* Tries every identity on every X25519 stanza; 1 when one opened
 * (sec->file_key set), 0 when none did, or an error. */
int um_env_x25519_unwrap(um_job *job, um_env_secrets *sec, const um_age_header *h, const unmeta_open_params *p);

int um_env_scrypt_wrap(um_job *job, um_env_text *h, um_env_secrets *sec, const uint8_t *pass, uint64_t pass_len,
                       int log_n, um_env_rng_fn rng, void *ru);
int um_env_scrypt_check(const um_age_stanza *st);
/* Unwraps with p->passphrase, within p->max_scrypt_log_n; sets sec->file_key. */
int um_env_scrypt_unwrap(um_job *job, um_env_secrets *sec, const um_age_stanza *st, const unmeta_open_params *p);

/* Appends the unmeta-share stanza; fills sec->share and sec->stanza_key. */
int um_env_share_wrap(um_job *job, um_env_text *h, um_env_secrets *sec, int64_t not_after, um_env_rng_fn rng,
                      void *ru);
int um_env_share_check_stanza(const um_age_stanza *st);
/* Completes sec->file_key with the share; id_out gets its ID. */
int um_env_share_apply(um_job *job, um_env_secrets *sec, const um_age_stanza *st, const unmeta_open_params *p,
                       char id_out[36]);

/* ---- stream.c --------------------------------------------------------------- */

/* The STREAM nonce of chunk `counter`. */
void um_env_chunk_nonce(uint8_t nonce[12], uint64_t counter, int last);
int um_env_payload_fail(um_job *job, const char *what, uint64_t chunk);
/* Reads and decrypts chunk i of n into sec->chunk; *len gets its length.
 * For chunk 0, which open.c checks before the stream starts. */
int um_env_open_chunk(um_job *job, um_env_secrets *sec, uint64_t base, uint64_t i, uint64_t n, uint64_t last_clen,
                      size_t *len);
int um_env_write_out(um_job *job, unmeta_sink *dst, const uint8_t *p, size_t n);
/* Threads for the chunk stream: UNMETA_OPT_THREADS, or min(online CPUs, 4). */
int um_env_threads(const unmeta_ctx *ctx);

/* Puts plaintext bytes [pos, pos + n) of the stream into buf (calling thread). */
typedef int (*um_env_fill_fn)(um_job *job, void *user, uint64_t pos, uint8_t *buf, size_t n);
/* Seals `total` plaintext bytes, asked for with fill, to dst. */
int um_env_stream_seal(um_job *job, const uint8_t key[32], unmeta_sink *dst, uint64_t total, um_env_fill_fn fill,
                       void *user);
/* Takes n authenticated plaintext bytes that start at chunk `chunk`
 * (calling thread, in stream order). */
typedef int (*um_env_emit_fn)(um_job *job, void *user, uint64_t chunk, const uint8_t *p, size_t n);
/* Opens chunks first..nchunks-1 of the payload at base. */
int um_env_stream_open(um_job *job, const uint8_t key[32], uint64_t base, uint64_t first, uint64_t nchunks,
                       uint64_t last_clen, um_env_emit_fn emit, void *user);

#endif /* UNMETA_HAVE_SODIUM */

#endif /* UM_ENVELOPE_PRIVATE_H */
