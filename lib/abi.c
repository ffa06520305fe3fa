/*
 * abi.c - what language bindings ask the library instead of hard-coding:
 * the size of each public struct and the value of each numeric macro of
 * include/unmeta.h, looked up by name (docs/abi.md explains the choice).
 *
 * The table is const and sorted by nothing in particular: a lookup is a
 * linear scan over a few dozen names, done once per binding at load time.
 * tests/abi/constants_test.py checks that every integer macro of the header
 * is here with the same value, so a new macro cannot be forgotten.
 */
#include <string.h>

#include "unmeta.h"

uint32_t unmeta_io_callbacks_size(void)
{
    return (uint32_t)sizeof(unmeta_io_callbacks);
}

uint32_t unmeta_block_size(void)
{
    return (uint32_t)sizeof(unmeta_block);
}

uint32_t unmeta_finding_size(void)
{
    return (uint32_t)sizeof(unmeta_finding);
}

uint32_t unmeta_share_size(void)
{
    return (uint32_t)sizeof(unmeta_share);
}

uint32_t unmeta_seal_params_size(void)
{
    return (uint32_t)sizeof(unmeta_seal_params);
}

uint32_t unmeta_open_params_size(void)
{
    return (uint32_t)sizeof(unmeta_open_params);
}

uint32_t unmeta_open_info_size(void)
{
    return (uint32_t)sizeof(unmeta_open_info);
}

typedef struct um_constant {
    const char *name;
    int64_t value;
} um_constant;

#define UM_C(x) { #x, (int64_t)(x) }

static const um_constant constants[] = {
    UM_C(UNMETA_VERSION_MAJOR),
    UM_C(UNMETA_VERSION_MINOR),
    UM_C(UNMETA_VERSION_PATCH),
    UM_C(UNMETA_VERSION_NUMBER),

    UM_C(UNMETA_OK),
    UM_C(UNMETA_E_INVALID),
    UM_C(UNMETA_E_NOMEM),
    UM_C(UNMETA_E_IO),
    UM_C(UNMETA_E_UNSUPPORTED),
    UM_C(UNMETA_E_MALFORMED),
    UM_C(UNMETA_E_TRUNCATED),
    UM_C(UNMETA_E_LIMIT),
    UM_C(UNMETA_E_STATE),
    UM_C(UNMETA_E_CANCELED),
    UM_C(UNMETA_E_FEATURE),
    UM_C(UNMETA_E_EXPIRED),
    UM_C(UNMETA_E_CRYPTO),

    UM_C(UNMETA_OPT_ICC),
    UM_C(UNMETA_OPT_APPLY_ORIENTATION),
    UM_C(UNMETA_OPT_MAX_BLOCK_SIZE),
    UM_C(UNMETA_OPT_MAX_DEPTH),
    UM_C(UNMETA_OPT_MAX_ITEMS),
    UM_C(UNMETA_OPT_MAX_MEMORY),
    UM_C(UNMETA_OPT_SPOOL_LIMIT),
    UM_C(UNMETA_OPT_MAX_INFLATE),
    UM_C(UNMETA_OPT_MAX_SPOOL),
    UM_C(UNMETA_OPT_MAX_GROWTH),
    UM_C(UNMETA_OPT_KEEP_DEPTH),
    UM_C(UNMETA_OPT_KEEP_MOTION),
    UM_C(UNMETA_OPT_THREADS),
    UM_C(UNMETA_ICC_KEEP),
    UM_C(UNMETA_ICC_STRIP),

    UM_C(UNMETA_CAT_LOCATION),
    UM_C(UNMETA_CAT_DEVICE),
    UM_C(UNMETA_CAT_TIME),
    UM_C(UNMETA_CAT_PEOPLE),
    UM_C(UNMETA_CAT_SOFTWARE),
    UM_C(UNMETA_CAT_EMBEDDED),
    UM_C(UNMETA_CAT_OTHER),

    UM_C(UNMETA_ACTION_KEEP),
    UM_C(UNMETA_ACTION_REMOVE),
    UM_C(UNMETA_ACTION_REWRITE),

    /* Envelopes (lib/envelope/), when their header section is present. */
#ifdef UNMETA_E_NOKEY
    UM_C(UNMETA_E_NOKEY),
#endif
#ifdef UNMETA_SEAL_NO_PAD
    UM_C(UNMETA_SEAL_NO_PAD),
    UM_C(UNMETA_SEAL_RECORD_TIME),
    UM_C(UNMETA_SEAL_STRIPPED),
    UM_C(UNMETA_SCRYPT_LOG_N_DEFAULT),
    UM_C(UNMETA_OPEN_ALLOW_EXPIRED),
    UM_C(UNMETA_ENVELOPE_UNMETA),
    UM_C(UNMETA_ENVELOPE_PLAIN_AGE),
    UM_C(UNMETA_RECIPIENT_X25519),
    UM_C(UNMETA_RECIPIENT_SCRYPT),
#endif
#ifdef UNMETA_SHARE_ID_LEN
    UM_C(UNMETA_SHARE_ID_LEN),
    UM_C(UNMETA_SHARE_KEY_LEN),
#endif
};

int32_t unmeta_constant(int64_t *value, const char *name)
{
    if (!value || !name)
        return UNMETA_E_INVALID;
    for (size_t i = 0; i < sizeof(constants) / sizeof(constants[0]); i++) {
        if (strcmp(constants[i].name, name) == 0) {
            *value = constants[i].value;
            return 0;
        }
    }
    return UNMETA_E_INVALID;
}
