/*
 * unmeta.h - the one public header of libunmeta.
 *
 * libunmeta removes what a photo or video says about the person who made it
 * (location, device serials, owner names, capture times, edit history,
 * thumbnails, vendor trailers) and keeps every pixel and packet as it was.
 *
 * ABI rules this header keeps (see docs/abi.md):
 *  - opaque handles only; every public struct starts with `struct_size` and
 *    the library reads and writes it only up to the caller's size;
 *  - fixed-width integer types, no bool, no long, no enum-typed parameters,
 *    no varargs; every constant a binding needs is also a function;
 *  - results: 0 on success, a negative UNMETA_E_* code on failure; codes are
 *    never renumbered;
 *  - no global mutable state: one context per thread, contexts run in
 *    parallel; callbacks are called synchronously on the caller's thread.
 */
#ifndef UNMETA_H
#define UNMETA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(UNMETA_BUILDING)
#define UNMETA_API __declspec(dllexport)
#elif defined(_WIN32)
#define UNMETA_API
#elif defined(__GNUC__) && __GNUC__ >= 4
#define UNMETA_API __attribute__((visibility("default")))
#else
#define UNMETA_API
#endif

/* ---- versions ---------------------------------------------------------- */

#define UNMETA_VERSION_MAJOR 0
#define UNMETA_VERSION_MINOR 1
#define UNMETA_VERSION_PATCH 0
#define UNMETA_VERSION_NUMBER \
    ((UNMETA_VERSION_MAJOR << 16) | (UNMETA_VERSION_MINOR << 8) | UNMETA_VERSION_PATCH)

/* The version of the library actually loaded, as (major << 16 | minor << 8 | patch). */
UNMETA_API uint32_t unmeta_version(void);
/* The same as a static string, e.g. "0.1.0". */
UNMETA_API const char *unmeta_version_string(void);

/* ---- errors ------------------------------------------------------------ */

#define UNMETA_OK               0
#define UNMETA_E_INVALID       -1  /* a bad argument or option value */
#define UNMETA_E_NOMEM         -2  /* an allocation failed */
#define UNMETA_E_IO            -3  /* reading or writing failed */
#define UNMETA_E_UNSUPPORTED   -4  /* no format claims the input */
#define UNMETA_E_MALFORMED     -5  /* the input breaks its format's rules */
#define UNMETA_E_TRUNCATED     -6  /* the input ends before its structure does */
#define UNMETA_E_LIMIT         -7  /* the input exceeds a configured limit */
#define UNMETA_E_STATE         -8  /* an object used in the wrong state */
#define UNMETA_E_CANCELED      -9  /* the cancel callback asked to stop */
#define UNMETA_E_FEATURE      -10  /* the format needs a feature left out of this build */
#define UNMETA_E_EXPIRED      -11  /* an envelope past its expiry */
#define UNMETA_E_CRYPTO       -12  /* an envelope failed authentication */

/* A static, human-readable description of a code; never NULL. */
UNMETA_API const char *unmeta_strerror(int32_t code);

/* ---- contexts and options ---------------------------------------------- */

typedef struct unmeta_ctx unmeta_ctx;

/* Option keys for unmeta_ctx_set_option(); values are int64_t. */
#define UNMETA_OPT_ICC                1  /* UNMETA_ICC_KEEP (neutralised) or UNMETA_ICC_STRIP */
#define UNMETA_OPT_APPLY_ORIENTATION  2  /* 0: keep a minimal Orientation tag; 1: rotate losslessly */
#define UNMETA_OPT_MAX_BLOCK_SIZE     3  /* largest metadata block/segment read into memory, bytes */
#define UNMETA_OPT_MAX_DEPTH          4  /* deepest nesting of structures */
#define UNMETA_OPT_MAX_ITEMS          5  /* most blocks/entries/items in one file */
#define UNMETA_OPT_MAX_MEMORY         6  /* most memory for a whole-image operation, bytes */
#define UNMETA_OPT_SPOOL_LIMIT        7  /* bytes of a non-seekable input held in memory */
#define UNMETA_OPT_MAX_INFLATE        8  /* most bytes one compressed block may inflate to */
#define UNMETA_OPT_MAX_SPOOL          9  /* most bytes of a non-seekable input spooled in all (memory + temporary file) */
#define UNMETA_OPT_MAX_GROWTH        10  /* most bytes an output may have beyond its input's size (default 64 MiB) */
#define UNMETA_OPT_KEEP_DEPTH        11  /* 0: remove depth maps with the mattes; 1: keep depth (HEIF auxiliary images) */
#define UNMETA_OPT_KEEP_MOTION       12  /* 0: remove a motion photo's video; 1: keep it, cleaned as an MP4 (JPEG, HEIC) */
#define UNMETA_OPT_THREADS           13  /* threads that seal and open envelopes: 0 = min(online CPUs, 4) (default), 1 = none */

#define UNMETA_ICC_KEEP  0
#define UNMETA_ICC_STRIP 1

/* Creates a context with safe default options. *out is NULL on failure. */
UNMETA_API int32_t unmeta_ctx_new(unmeta_ctx **out);
/* Frees a context; NULL is a no-op. */
UNMETA_API void unmeta_ctx_free(unmeta_ctx *ctx);
/* Sets one option; UNMETA_E_INVALID for an unknown key or a bad value. */
UNMETA_API int32_t unmeta_ctx_set_option(unmeta_ctx *ctx, int32_t key, int64_t value);
UNMETA_API int32_t unmeta_ctx_get_option(int64_t *out, const unmeta_ctx *ctx, int32_t key);
/* The detailed message of the last failure on this context ("" if none).
 * Valid until the next call that uses the context. */
UNMETA_API const char *unmeta_ctx_last_error(const unmeta_ctx *ctx);

/* Cancellation: the callback is polled during long operations; returning
 * non-zero stops the operation with UNMETA_E_CANCELED. NULL removes it. */
typedef int32_t (*unmeta_cancel_fn)(void *user);
UNMETA_API int32_t unmeta_ctx_set_cancel(unmeta_ctx *ctx, unmeta_cancel_fn fn, void *user);

/* Progress: the callback is called during long operations, about every MiB
 * of input read or output written and once more at the end, with how far
 * the operation is in bytes of the input: done goes from 0 to total (the
 * input's size) and never back. While a non-seekable input is spooled, its
 * size is not known yet: total is 0 and done counts the bytes read so far;
 * then done starts again from 0 with the size as total. Returning non-zero
 * stops the operation with UNMETA_E_CANCELED, like the cancel callback.
 * Called synchronously, on the caller's thread. NULL removes it. */
typedef int32_t (*unmeta_progress_fn)(uint64_t done, uint64_t total, void *user);
UNMETA_API int32_t unmeta_ctx_set_progress(unmeta_ctx *ctx, unmeta_progress_fn fn, void *user);

/* ---- input and output -------------------------------------------------- */

/* Callback I/O (Android content URIs, iOS streams, language bindings).
 * read: bytes read (0 at end), or negative on error.
 * write: bytes written (all of size on success), or negative on error.
 * seek: new absolute position, or negative on error; NULL if not seekable
 *       (the input is then spooled, see "Non-seekable inputs" below).
 * whence is 0 (start), 1 (current) or 2 (end).
 * Callbacks (these and the cancel callback) are called synchronously, on the
 * thread that called the operation, and never after it has returned; the
 * library holds no lock while calling them. */
typedef struct unmeta_io_callbacks {
    uint32_t struct_size; /* sizeof(unmeta_io_callbacks) */
    int64_t (*read)(void *buf, uint64_t size, void *user);
    int64_t (*write)(const void *buf, uint64_t size, void *user);
    int64_t (*seek)(int64_t offset, int32_t whence, void *user);
} unmeta_io_callbacks;
#define UNMETA_IO_CALLBACKS_INIT { sizeof(unmeta_io_callbacks), NULL, NULL, NULL }
UNMETA_API int32_t unmeta_io_callbacks_init(unmeta_io_callbacks *cb, uint32_t struct_size);

typedef struct unmeta_source unmeta_source;
typedef struct unmeta_sink unmeta_sink;

/* A file by path. */
UNMETA_API int32_t unmeta_source_new_path(unmeta_source **out, const char *path);
/* Non-seekable inputs (a pipe, callbacks without seek) are spooled before
 * anything is parsed or written: every format needs to see the end of its
 * input before it writes a byte (so that a broken input leaves no output),
 * and most read it out of order (an MP4 with its moov box at the end). The
 * first UNMETA_OPT_SPOOL_LIMIT bytes (default 64 MiB) are held in memory,
 * the rest goes to an unnamed temporary file in $TMPDIR (else /tmp) that
 * disappears when the source is freed, or if the process dies. An input
 * longer than UNMETA_OPT_MAX_SPOOL (default 4 GiB, memory included) is
 * refused with UNMETA_E_LIMIT; a stream that failed part-way cannot be read
 * again, and later operations on its source fail with UNMETA_E_STATE.
 * Likewise a sink that cannot seek never receives a partial output: the
 * formats remuxed through libavformat, which write as they go, write to
 * such a sink through an unnamed temporary file in $TMPDIR, under the same
 * limit (judged on the input's size). */
/* An open descriptor, not owned and not closed; pipes are spooled. */
UNMETA_API int32_t unmeta_source_new_fd(unmeta_source **out, int32_t fd);
/* Bytes the caller keeps alive and unchanged until the source is freed. */
UNMETA_API int32_t unmeta_source_new_memory(unmeta_source **out, const void *data, uint64_t size);
UNMETA_API int32_t unmeta_source_new_callbacks(unmeta_source **out,
                                               const unmeta_io_callbacks *cb, void *user);
UNMETA_API void unmeta_source_free(unmeta_source *src);

/* A file by path, written atomically: a temporary file in the same folder,
 * renamed over PATH only when the operation succeeds; on failure nothing is
 * left behind and an existing PATH is untouched. When PATH exists (in-place,
 * or overwriting), the new content and the rename are flushed to disk first,
 * so that even a system crash leaves the old file or the new one. PATH may be the
 * source's own path (in-place). The new file takes `mode` (e.g. 0644),
 * or, when mode is -1, the mode of an existing PATH, else 0666 & ~umask. */
UNMETA_API int32_t unmeta_sink_new_path(unmeta_sink **out, const char *path, int32_t mode);
/* An open descriptor, not owned and not closed. */
UNMETA_API int32_t unmeta_sink_new_fd(unmeta_sink **out, int32_t fd);
/* A growing memory buffer; read it with unmeta_sink_memory(). */
UNMETA_API int32_t unmeta_sink_new_memory(unmeta_sink **out);
UNMETA_API int32_t unmeta_sink_new_callbacks(unmeta_sink **out,
                                             const unmeta_io_callbacks *cb, void *user);
/* The bytes a memory sink holds; valid until the sink is freed. */
UNMETA_API int32_t unmeta_sink_memory(const void **data, uint64_t *size, const unmeta_sink *sink);
UNMETA_API void unmeta_sink_free(unmeta_sink *sink);

/* ---- reports ----------------------------------------------------------- */

typedef struct unmeta_report unmeta_report;

/* What a finding is about. */
#define UNMETA_CAT_LOCATION  1  /* GPS, ISO 6709 positions, place names */
#define UNMETA_CAT_DEVICE    2  /* make, model, serial numbers, lens, ICC device fields */
#define UNMETA_CAT_TIME      3  /* capture and edit dates, time-zone offsets */
#define UNMETA_CAT_PEOPLE    4  /* artist, owner, copyright, persons, comments */
#define UNMETA_CAT_SOFTWARE  5  /* software, firmware, edit history */
#define UNMETA_CAT_EMBEDDED  6  /* thumbnails, previews, trailers, secondary images */
#define UNMETA_CAT_OTHER     7  /* any other metadata block */

/* What strip does with a block. */
#define UNMETA_ACTION_KEEP     0  /* copied byte for byte */
#define UNMETA_ACTION_REMOVE   1  /* left out */
#define UNMETA_ACTION_REWRITE  2  /* kept in a reduced or neutralised form */

typedef struct unmeta_block {
    uint32_t struct_size;  /* sizeof(unmeta_block) */
    int32_t action;        /* UNMETA_ACTION_* */
    const char *kind;      /* e.g. "APP1 Exif", "tEXt", "trailer" */
    uint64_t offset;       /* in the input */
    uint64_t length;
} unmeta_block;
#define UNMETA_BLOCK_INIT { sizeof(unmeta_block), 0, NULL, 0, 0 }

typedef struct unmeta_finding {
    uint32_t struct_size;  /* sizeof(unmeta_finding) */
    int32_t category;      /* UNMETA_CAT_* */
    const char *name;      /* e.g. "GPSPosition", "Model" */
    const char *value;     /* printable, possibly shortened */
    uint32_t block;        /* index of the block it was found in */
} unmeta_finding;
#define UNMETA_FINDING_INIT { sizeof(unmeta_finding), 0, NULL, NULL, 0 }

UNMETA_API int32_t unmeta_block_init(unmeta_block *b, uint32_t struct_size);
UNMETA_API int32_t unmeta_finding_init(unmeta_finding *f, uint32_t struct_size);

/* The format's short name ("jpeg", "png", ...). */
UNMETA_API const char *unmeta_report_format(const unmeta_report *r);
UNMETA_API uint32_t unmeta_report_block_count(const unmeta_report *r);
UNMETA_API uint32_t unmeta_report_finding_count(const unmeta_report *r);
UNMETA_API uint32_t unmeta_report_note_count(const unmeta_report *r);
/* Strings stay valid until the report is freed. */
UNMETA_API int32_t unmeta_report_block(unmeta_block *out, const unmeta_report *r, uint32_t i);
UNMETA_API int32_t unmeta_report_finding(unmeta_finding *out, const unmeta_report *r, uint32_t i);
UNMETA_API const char *unmeta_report_note(const unmeta_report *r, uint32_t i);
/* Non-zero when the input holds something privacy-relevant. */
UNMETA_API int32_t unmeta_report_dirty(const unmeta_report *r);
/* The report as JSON (docs/json.md); free with unmeta_free(). */
UNMETA_API int32_t unmeta_report_json(char **out, const unmeta_report *r);
UNMETA_API void unmeta_report_free(unmeta_report *r);
/* Static name of a category or action ("location", "remove"...). */
UNMETA_API const char *unmeta_category_name(int32_t category);
UNMETA_API const char *unmeta_action_name(int32_t action);

/* Frees memory the library returned through an out-pointer. */
UNMETA_API void unmeta_free(void *p);

/* ---- operations -------------------------------------------------------- */

/* Writes src without its metadata to dst. On failure dst receives nothing
 * that counts: a path sink is never renamed into place. report may be NULL;
 * otherwise *report describes what was found and done (free it). */
UNMETA_API int32_t unmeta_strip(unmeta_report **report, unmeta_ctx *ctx,
                                unmeta_source *src, unmeta_sink *dst);
/* Describes what src reveals without writing anything. */
UNMETA_API int32_t unmeta_inspect(unmeta_report **report, unmeta_ctx *ctx, unmeta_source *src);
/* *dirty = 1 when src holds something privacy-relevant, 0 when it is clean. */
UNMETA_API int32_t unmeta_check(int32_t *dirty, unmeta_ctx *ctx, unmeta_source *src);

/* Conveniences over paths and memory. */
UNMETA_API int32_t unmeta_strip_path(unmeta_ctx *ctx, const char *in_path, const char *out_path);
/* *out is allocated by the library: free it with unmeta_free(). */
UNMETA_API int32_t unmeta_strip_memory(void **out, uint64_t *out_size, unmeta_ctx *ctx,
                                       const void *in, uint64_t in_size);

/* Which format claims src, by content, without parsing it further:
 * *format is the module's short name ("jpeg", "png", ..., "media" for the
 * containers remuxed through libavformat), or NULL when no format claims
 * the input (an unmeta_strip() of it fails with UNMETA_E_UNSUPPORTED). */
UNMETA_API int32_t unmeta_probe(const char **format, unmeta_ctx *ctx, unmeta_source *src);

/* The formats this build handles: count and short names. */
UNMETA_API uint32_t unmeta_format_count(void);
UNMETA_API const char *unmeta_format_name(uint32_t i);

/* ---- envelopes (docs/envelope.md) -------------------------------------- */

/* An envelope is an age v1 file (C2SP age spec) whose plaintext starts with
 * a small INFO block (content type, length, expiry) and ends with zero
 * padding. Any age client decrypts it; unmeta_open() also checks the INFO
 * block and refuses an expired envelope. Expiry is a sender-declared,
 * tamper-evident policy that cooperating software enforces: it cannot stop
 * a recipient who kept a copy, changed their clock or used another age
 * client. Builds without libsodium return UNMETA_E_FEATURE from all of
 * these. */

#define UNMETA_E_NOKEY        -13  /* no identity or passphrase opens the envelope, or its key-release share is gone */

/* Non-zero when this build can seal and open envelopes. */
UNMETA_API int32_t unmeta_envelope_available(void);

/* Flags for unmeta_seal_params.flags. */
#define UNMETA_SEAL_NO_PAD        0x1u  /* no PADMÉ padding (reveals the exact length) */
#define UNMETA_SEAL_RECORD_TIME   0x2u  /* record the creation time in INFO (off by default) */
#define UNMETA_SEAL_STRIPPED      0x4u  /* mark the content as stripped by unmeta */

#define UNMETA_SCRYPT_LOG_N_DEFAULT 16  /* 64 MiB: opens on memory-capped phones */

/* Key-release shares (docs/envelope.md, "Key-release shares"): expiry that
 * holds. Sealing with unmeta_seal_params.share splits the file key in two:
 * the recipient stanzas wrap one half, the other half (the share) is
 * returned to the caller, who hands it to a key-release service (a key
 * store with a TTL, e.g. Redis SET ... EXAT not_after) that deletes it at
 * expiry. The envelope names its share in an "unmeta-share" stanza; opening
 * needs the identity AND the share, so once the service has deleted the
 * share no copy of the envelope opens, with unmeta or any age client. The
 * library does no network I/O: the caller stores and fetches shares. It
 * does not protect against a recipient who opened the envelope before the
 * share was deleted, or against a store that keeps shares it should not. */
#define UNMETA_SHARE_ID_LEN   32  /* lowercase hex digits of the 16-byte share ID */
#define UNMETA_SHARE_KEY_LEN  16  /* bytes of share key */

typedef struct unmeta_share {
    uint32_t struct_size;            /* sizeof(unmeta_share) */
    char id[36];                     /* UNMETA_SHARE_ID_LEN lowercase hex digits, NUL-terminated */
    int64_t not_after;               /* the envelope's expiry: delete the share then; 0: none */
    uint8_t key[UNMETA_SHARE_KEY_LEN]; /* the secret half of the file key */
} unmeta_share;
#define UNMETA_SHARE_INIT { sizeof(unmeta_share), { 0 }, 0, { 0 } }
UNMETA_API int32_t unmeta_share_init(unmeta_share *share, uint32_t struct_size);
UNMETA_API uint32_t unmeta_share_id_len(void);
UNMETA_API uint32_t unmeta_share_key_len(void);
/* Wipes a share (sodium_memzero), keeping its struct_size. */
UNMETA_API void unmeta_share_wipe(unmeta_share *share);

/* Asked by unmeta_open() for the share of an envelope that has one, after
 * an identity has unwrapped its half of the key. share->id is filled in;
 * the callback fills share->key and returns 0, UNMETA_E_NOKEY when the
 * store no longer holds it (expired, deleted), or another negative code
 * (e.g. UNMETA_E_IO: the store is unreachable), which open returns. The
 * library wipes the share afterwards. */
typedef int32_t (*unmeta_share_fetch_fn)(unmeta_share *share, void *user);

typedef struct unmeta_seal_params {
    uint32_t struct_size;            /* sizeof(unmeta_seal_params) */
    const char *const *recipients;   /* X25519 recipients, "age1..." */
    uint32_t recipient_count;
    const uint8_t *passphrase;       /* instead of recipients (scrypt); NULL for none */
    uint64_t passphrase_len;
    int32_t scrypt_log_n;            /* 0: UNMETA_SCRYPT_LOG_N_DEFAULT; 10..22 */
    uint32_t flags;                  /* UNMETA_SEAL_* */
    int64_t not_after;               /* Unix seconds after which opening is refused; 0: never */
    int64_t now;                     /* creation time for UNMETA_SEAL_RECORD_TIME; 0: system clock */
    const char *content_type;        /* e.g. "image/jpeg" (<= 32 printable ASCII); NULL: detected */
    unmeta_share *share;             /* non-NULL: split the file key and return the released share here */
} unmeta_seal_params;
#define UNMETA_SEAL_PARAMS_INIT { sizeof(unmeta_seal_params), NULL, 0, NULL, 0, 0, 0, 0, 0, NULL, NULL }
UNMETA_API int32_t unmeta_seal_params_init(unmeta_seal_params *p, uint32_t struct_size);

/* Flags for unmeta_open_params.flags. */
#define UNMETA_OPEN_ALLOW_EXPIRED 0x1u  /* recovery: open an envelope past its expiry */

typedef struct unmeta_open_params {
    uint32_t struct_size;            /* sizeof(unmeta_open_params) */
    const char *const *identities;   /* X25519 identities, "AGE-SECRET-KEY-1..." */
    uint32_t identity_count;
    const uint8_t *passphrase;       /* for scrypt envelopes; NULL for none */
    uint64_t passphrase_len;
    int64_t now;                     /* trusted current time, Unix seconds; 0: system clock */
    int32_t max_scrypt_log_n;        /* 0: UNMETA_SCRYPT_LOG_N_DEFAULT (64 MiB); at most 30 */
    uint32_t flags;                  /* UNMETA_OPEN_* */
    const unmeta_share *share;       /* the key-release share, when the caller already holds it; NULL: none */
    unmeta_share_fetch_fn share_fetch; /* else asked for it by ID; NULL: none */
    void *share_user;                /* passed to share_fetch */
} unmeta_open_params;
#define UNMETA_OPEN_PARAMS_INIT { sizeof(unmeta_open_params), NULL, 0, NULL, 0, 0, 0, 0, NULL, NULL, NULL }
UNMETA_API int32_t unmeta_open_params_init(unmeta_open_params *p, uint32_t struct_size);

/* What unmeta_open() found. */
#define UNMETA_ENVELOPE_UNMETA    1  /* an envelope with INFO: content released without INFO and padding */
#define UNMETA_ENVELOPE_PLAIN_AGE 2  /* a plain age file: plaintext released unchanged */

#define UNMETA_RECIPIENT_X25519   1
#define UNMETA_RECIPIENT_SCRYPT   2

typedef struct unmeta_open_info {
    uint32_t struct_size;            /* sizeof(unmeta_open_info) */
    int32_t kind;                    /* UNMETA_ENVELOPE_* */
    int32_t recipient_kind;          /* UNMETA_RECIPIENT_* that opened it */
    int32_t expired;                 /* 1: past not_after, opened with UNMETA_OPEN_ALLOW_EXPIRED */
    int64_t not_after;               /* 0: no expiry (always 0 for plain age files) */
    int64_t created;                 /* 0: not recorded */
    uint64_t content_length;         /* bytes released */
    uint64_t padding_length;         /* zero bytes after the content */
    uint32_t info_flags;             /* INFO ignorable flags (docs/envelope.md) */
    char content_type[36];           /* NUL-terminated; "" when unknown */
    char share_id[36];               /* the key-release share it needed; "" when none */
} unmeta_open_info;
#define UNMETA_OPEN_INFO_INIT { sizeof(unmeta_open_info), 0, 0, 0, 0, 0, 0, 0, 0, { 0 }, { 0 } }
UNMETA_API int32_t unmeta_open_info_init(unmeta_open_info *info, uint32_t struct_size);

/* Encrypts src to dst as an envelope. A path sink appears only on success. */
UNMETA_API int32_t unmeta_seal(unmeta_ctx *ctx, unmeta_source *src, unmeta_sink *dst,
                               const unmeta_seal_params *params);
/* Decrypts src to dst. Checks the header MAC, decrypts the first chunk,
 * validates INFO and refuses an expired envelope (UNMETA_E_EXPIRED) before
 * writing any byte, then streams the content; a missing final chunk, a
 * truncation or an altered chunk fails with UNMETA_E_CRYPTO and a path sink
 * is never renamed into place. An envelope with a key-release share also
 * needs the share (params->share, else params->share_fetch): without it,
 * UNMETA_E_NOKEY ("this envelope needs its key-release share (id ...)");
 * a share that does not belong to it, UNMETA_E_NOKEY too. info may be NULL. */
UNMETA_API int32_t unmeta_open(unmeta_open_info *info, unmeta_ctx *ctx, unmeta_source *src, unmeta_sink *dst,
                               const unmeta_open_params *params);
/* A new X25519 identity ("AGE-SECRET-KEY-1...") and its recipient
 * ("age1..."). Free the identity with unmeta_free_secret(), the recipient
 * with unmeta_free(). */
UNMETA_API int32_t unmeta_keygen(char **identity, char **recipient);
/* The recipient of an identity. */
UNMETA_API int32_t unmeta_identity_to_recipient(char **recipient, const char *identity);
/* Wipes a NUL-terminated secret the library returned, then frees it. */
UNMETA_API void unmeta_free_secret(char *secret);

/* ---- for language bindings --------------------------------------------- */

/* sizeof() of each public struct as this library was built: a binding sets
 * struct_size from these instead of hard-coding numbers. */
UNMETA_API uint32_t unmeta_io_callbacks_size(void);
UNMETA_API uint32_t unmeta_block_size(void);
UNMETA_API uint32_t unmeta_finding_size(void);
UNMETA_API uint32_t unmeta_share_size(void);
UNMETA_API uint32_t unmeta_seal_params_size(void);
UNMETA_API uint32_t unmeta_open_params_size(void);
UNMETA_API uint32_t unmeta_open_info_size(void);

/* The value of a numeric macro of this header by its full name, e.g.
 * "UNMETA_E_TRUNCATED" or "UNMETA_OPT_ICC": *value is set and 0 returned,
 * or UNMETA_E_INVALID for a name the library does not know. Every integer
 * macro of this header (except the _INIT initialisers) is known. */
UNMETA_API int32_t unmeta_constant(int64_t *value, const char *name);

#ifdef __cplusplus
}
#endif
#endif /* UNMETA_H */
