/*
 * envelope.h - internals of the envelope (lib/envelope/) that unit tests
 * and fuzz targets reach directly: PADMÉ, the INFO block, HKDF-SHA-256,
 * bech32 keys and the age header parser. The public API is in unmeta.h.
 *
 * The format is documented byte by byte in docs/envelope.md.
 */
#ifndef UM_ENVELOPE_H
#define UM_ENVELOPE_H

#include "internal.h"

/* ---- INFO: the first bytes of an envelope's plaintext ------------------ */

#define UM_ENV_INFO_SIZE     96u
#define UM_ENV_INFO_VERSION  1u
#define UM_ENV_MAGIC         "\x89unmeta\n"   /* 8 bytes */
#define UM_ENV_MAGIC_LEN     8u
#define UM_ENV_TYPE_LEN      32u               /* content type field, NUL-padded */

/* Critical flags: a reader that does not know one refuses the envelope. */
#define UM_ENV_CRIT_PADDED   0x00000001u       /* content is followed by PADMÉ zero padding */
#define UM_ENV_CRIT_KNOWN    (UM_ENV_CRIT_PADDED)
/* Ignorable flags: a reader that does not know one goes on. */
#define UM_ENV_FLAG_STRIPPED 0x00000001u       /* content went through unmeta's strip */

typedef struct um_env_info {
    uint32_t crit;                          /* UM_ENV_CRIT_* */
    uint32_t flags;                         /* UM_ENV_FLAG_* */
    int64_t not_after;                      /* Unix seconds, 0 = never expires */
    int64_t created;                        /* Unix seconds, 0 = not recorded */
    uint64_t content_length;
    char content_type[UM_ENV_TYPE_LEN + 1]; /* printable ASCII, "" = unknown */
} um_env_info;

/* Writes the 96-byte INFO block. */
void um_env_info_encode(uint8_t out[UM_ENV_INFO_SIZE], const um_env_info *info);
/* Parses an INFO block that starts with the magic. Returns 0, or
 * UNMETA_E_MALFORMED / UNMETA_E_UNSUPPORTED with a message in msg. */
int um_env_info_decode(um_env_info *out, const uint8_t *p, size_t n, char *msg, size_t msg_size);

/* PADMÉ (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files and
 * Communication with PURBs", 2019): L rounded up to a multiple of 2^(E-S),
 * E = floor(log2 L), S = floor(log2 E) + 1. 0 when the result overflows. */
uint64_t um_env_padme(uint64_t len);

/* ---- text encodings (no crypto) --------------------------------------- */

/* Standard base64 without padding, as age writes it. Returns the length
 * written (encode: no NUL) */
size_t um_b64_encode(char *out, const uint8_t *in, size_t n);
/* Strict decoding: standard alphabet, no padding, canonical (unused low
 * bits zero). Returns the decoded length, or -1. out holds n*3/4 bytes. */
long um_b64_decode(uint8_t *out, const char *in, size_t n);

/* Bech32 (BIP 173) with age's rules: one case throughout, no length cap.
 * encode: lowercase hrp gives a lowercase string; an uppercase hrp an
 * uppercase one. Returns 0 or -1. */
int um_bech32_encode(char *out, size_t out_size, const char *hrp, const uint8_t *data, size_t n);
/* Decodes s; hrp_out receives the human-readable part as written. */
int um_bech32_decode(char *hrp_out, size_t hrp_size, uint8_t *data, size_t *n, size_t cap, const char *s);

/* ---- the age header ---------------------------------------------------- */

#define UM_AGE_MAX_ARGS   16u
#define UM_AGE_MAX_STANZAS 256u

typedef struct um_age_stanza {
    const char *args[UM_AGE_MAX_ARGS];  /* args[0] is the type; pointers into a copy of the header */
    size_t arg_len[UM_AGE_MAX_ARGS];
    uint32_t nargs;
    uint8_t *body;                      /* decoded body (malloc'd) */
    size_t body_len;
} um_age_stanza;

typedef struct um_age_header {
    um_age_stanza *stanzas;
    uint32_t count;
    size_t mac_input_len;               /* bytes covered by the MAC: up to and including "---" */
    uint8_t mac[32];
    size_t length;                      /* the whole header, through the MAC line's newline */
} um_age_header;

/* Parses an age v1 header at the start of p[0..n). Returns 0, or
 * UNMETA_E_MALFORMED ("header: ..."), UNMETA_E_TRUNCATED when n ends inside
 * it, UNMETA_E_LIMIT past UM_AGE_MAX_*; message in msg. */
int um_age_header_parse(um_age_header *h, const uint8_t *p, size_t n, char *msg, size_t msg_size);
void um_age_header_free(um_age_header *h);

/* ASCII armor: non-zero when p starts (after whitespace) with "-----BEGIN". */
int um_age_is_armored(const uint8_t *p, size_t n);
/* Decodes an armored age file strictly; *out is malloc'd. Returns 0, or
 * UNMETA_E_MALFORMED ("armor: ...") / UNMETA_E_NOMEM with a message. */
int um_age_armor_decode(uint8_t **out, size_t *out_len, const uint8_t *p, size_t n, char *msg, size_t msg_size);

/* ---- crypto (libsodium builds only) ------------------------------------ */

/* HKDF-SHA-256 (RFC 5869) over libsodium's HMAC-SHA-256. Returns 0, or
 * UNMETA_E_INVALID when out_len > 255 * 32, UNMETA_E_FEATURE without
 * libsodium. */
int um_env_hkdf_sha256(uint8_t *out, size_t out_len, const uint8_t *salt, size_t salt_len,
                       const uint8_t *ikm, size_t ikm_len, const uint8_t *info, size_t info_len);

/* Sealing with raw INFO values (tests: unknown flags, fixed times). When
 * rng is not NULL it replaces the system RNG (deterministic vectors). */
typedef void (*um_env_rng_fn)(void *buf, size_t n, void *user);
int um_env_seal_raw(unmeta_ctx *ctx, unmeta_source *src, unmeta_sink *dst, const unmeta_seal_params *p,
                    const um_env_info *info_override, um_env_rng_fn rng, void *rng_user);

/* ---- aead.c: ChaCha20-Poly1305-IETF for the payload's chunks ----------- */

/* One thread's context: OpenSSL's when the build has it, else libsodium. */
typedef struct um_aead {
    void *evp;                              /* EVP_CIPHER_CTX *, or NULL: libsodium */
} um_aead;
void um_aead_init(um_aead *a);
void um_aead_free(um_aead *a);
const char *um_aead_backend(const um_aead *a);   /* "openssl" or "libsodium" */
/* out gets len + 16 bytes (ciphertext, tag); out may be in. */
void um_aead_seal(um_aead *a, uint8_t *out, const uint8_t *in, size_t len, const uint8_t nonce[12],
                  const uint8_t key[32]);
/* out gets clen - 16 bytes; 0 when authentic, else -1 with out wiped. out may be in. */
int um_aead_open(um_aead *a, uint8_t *out, const uint8_t *in, size_t clen, const uint8_t nonce[12],
                 const uint8_t key[32]);

#endif /* UM_ENVELOPE_H */
