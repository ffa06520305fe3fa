/*
 * header_c.c - include/unmeta.h compiles alone as strict C (C99 and C11,
 * -Wall -Wextra -pedantic -Werror): no compiler extensions, no C11-only
 * features a C99 caller would trip on. Compiled, never run.
 */
#include "unmeta.h"

int header_c_uses(void);

int header_c_uses(void)
{
    unmeta_block b = UNMETA_BLOCK_INIT;
    unmeta_finding f = UNMETA_FINDING_INIT;
    unmeta_io_callbacks cb = UNMETA_IO_CALLBACKS_INIT;
    int32_t (*strip)(unmeta_report **, unmeta_ctx *, unmeta_source *, unmeta_sink *) = unmeta_strip;
    return (int)(b.struct_size + f.struct_size + cb.struct_size) + (strip != 0) + UNMETA_E_LIMIT +
           UNMETA_OPT_ICC + UNMETA_CAT_OTHER + UNMETA_ACTION_REWRITE + (int)UNMETA_VERSION_NUMBER;
}
