/* shim.h - what the CUnmeta module exports: libunmeta's public header. */
#ifndef UNMETA_SWIFT_SHIM_H
#define UNMETA_SWIFT_SHIM_H
#include <unmeta.h>
#endif
