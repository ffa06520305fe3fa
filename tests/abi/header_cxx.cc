/*
 * header_cxx.cc - include/unmeta.h from C++: it compiles with -pedantic
 * -Werror, and the program links and runs against libunmeta.so, which
 * fails if a declaration lost its extern "C" (the names would be mangled).
 */
#include <cstdio>
#include <cstring>

#include "unmeta.h"

int main()
{
    unmeta_block b = UNMETA_BLOCK_INIT;
    unmeta_finding f = UNMETA_FINDING_INIT;
    unmeta_io_callbacks cb = UNMETA_IO_CALLBACKS_INIT;
    if (b.struct_size != unmeta_block_size() || f.struct_size != unmeta_finding_size() ||
        cb.struct_size != unmeta_io_callbacks_size()) {
        std::fprintf(stderr, "header_cxx: struct sizes differ between C++ and the library\n");
        return 1;
    }
    unmeta_ctx *ctx = nullptr;
    if (unmeta_ctx_new(&ctx) != UNMETA_OK || !ctx) {
        std::fprintf(stderr, "header_cxx: unmeta_ctx_new failed\n");
        return 1;
    }
    int64_t v = 0;
    int rc = unmeta_constant(&v, "UNMETA_E_TRUNCATED");
    unmeta_ctx_free(ctx);
    if (rc != 0 || v != UNMETA_E_TRUNCATED || std::strcmp(unmeta_strerror(UNMETA_E_TRUNCATED), "") == 0) {
        std::fprintf(stderr, "header_cxx: unmeta_constant gave %d/%lld\n", rc, (long long)v);
        return 1;
    }
    std::printf("header_cxx: C++ sees libunmeta %s\n", unmeta_version_string());
    return 0;
}
