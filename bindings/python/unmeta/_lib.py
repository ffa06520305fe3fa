"""Loading libunmeta.so.1 and declaring its C functions for ctypes.

The library is found, in this order, at the path in the environment variable
UNMETA_LIBRARY; next to this package (a wheel or an app bundle may ship it
there); then wherever the dynamic loader finds "unmeta" (ctypes.util).
Constants and struct sizes are asked from the library (unmeta_constant(),
unmeta_*_size()), never copied from the header.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_int32, c_int64, c_uint8, c_uint32,
                    c_uint64, c_void_p)
from typing import Dict

_SONAME = "libunmeta.so.1"


def _candidates():
    env = os.environ.get("UNMETA_LIBRARY")
    if env:
        yield env
        return  # an explicit choice is not second-guessed
    here = os.path.dirname(os.path.abspath(__file__))
    for d in (here, os.path.dirname(here)):
        for name in (_SONAME, "libunmeta.so", "libunmeta.dylib", "unmeta.dll"):
            p = os.path.join(d, name)
            if os.path.exists(p):
                yield p
    found = ctypes.util.find_library("unmeta")
    if found:
        yield found
    yield _SONAME  # let the loader search LD_LIBRARY_PATH and the cache


def _load() -> ctypes.CDLL:
    errors = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            errors.append("%s: %s" % (path, e))
    raise ImportError("unmeta: cannot load libunmeta (set UNMETA_LIBRARY to its path): " + "; ".join(errors))


lib = _load()

READ_FN = CFUNCTYPE(c_int64, c_void_p, c_uint64, c_void_p)
WRITE_FN = CFUNCTYPE(c_int64, c_void_p, c_uint64, c_void_p)
SEEK_FN = CFUNCTYPE(c_int64, c_int64, c_int32, c_void_p)
CANCEL_FN = CFUNCTYPE(c_int32, c_void_p)


class IoCallbacks(Structure):
    """unmeta_io_callbacks (version 1.0 layout)."""
    _fields_ = [("struct_size", c_uint32), ("read", READ_FN), ("write", WRITE_FN), ("seek", SEEK_FN)]


# The envelope structs (include/unmeta.h, "envelopes"), in the layout this
# binding knows. struct_size is negotiated per call (see unmeta/__init__.py):
# the smaller of this layout and the library's unmeta_*_size(), so the
# library never writes past these and fields it does not know are detected.

class Share(Structure):
    """unmeta_share (version 1 layout)."""
    _fields_ = [("struct_size", c_uint32), ("id", c_char * 36), ("not_after", c_int64), ("key", c_uint8 * 16)]


class SealParams(Structure):
    """unmeta_seal_params (version 1 layout, with share)."""
    _fields_ = [("struct_size", c_uint32), ("recipients", POINTER(c_char_p)), ("recipient_count", c_uint32),
                ("passphrase", c_void_p), ("passphrase_len", c_uint64), ("scrypt_log_n", c_int32),
                ("flags", c_uint32), ("not_after", c_int64), ("now", c_int64), ("content_type", c_char_p),
                ("share", POINTER(Share))]


SHARE_FETCH_FN = CFUNCTYPE(c_int32, POINTER(Share), c_void_p)


class OpenParams(Structure):
    """unmeta_open_params (version 1 layout, with share, share_fetch, share_user)."""
    _fields_ = [("struct_size", c_uint32), ("identities", POINTER(c_char_p)), ("identity_count", c_uint32),
                ("passphrase", c_void_p), ("passphrase_len", c_uint64), ("now", c_int64),
                ("max_scrypt_log_n", c_int32), ("flags", c_uint32), ("share", POINTER(Share)),
                ("share_fetch", SHARE_FETCH_FN), ("share_user", c_void_p)]


class OpenInfo(Structure):
    """unmeta_open_info (version 1 layout, with share_id)."""
    _fields_ = [("struct_size", c_uint32), ("kind", c_int32), ("recipient_kind", c_int32), ("expired", c_int32),
                ("not_after", c_int64), ("created", c_int64), ("content_length", c_uint64),
                ("padding_length", c_uint64), ("info_flags", c_uint32), ("content_type", c_char * 36),
                ("share_id", c_char * 36)]


def _fn(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


P = c_void_p  # opaque handles travel as void pointers
PP = POINTER(c_void_p)

unmeta_version_string = _fn("unmeta_version_string", c_char_p)
unmeta_strerror = _fn("unmeta_strerror", c_char_p, c_int32)
unmeta_constant = _fn("unmeta_constant", c_int32, POINTER(c_int64), c_char_p)
unmeta_io_callbacks_size = _fn("unmeta_io_callbacks_size", c_uint32)

unmeta_ctx_new = _fn("unmeta_ctx_new", c_int32, PP)
unmeta_ctx_free = _fn("unmeta_ctx_free", None, P)
unmeta_ctx_set_option = _fn("unmeta_ctx_set_option", c_int32, P, c_int32, c_int64)
unmeta_ctx_last_error = _fn("unmeta_ctx_last_error", c_char_p, P)

unmeta_source_new_path = _fn("unmeta_source_new_path", c_int32, PP, c_char_p)
unmeta_source_new_fd = _fn("unmeta_source_new_fd", c_int32, PP, c_int32)
unmeta_source_new_memory = _fn("unmeta_source_new_memory", c_int32, PP, c_void_p, c_uint64)
unmeta_source_new_callbacks = _fn("unmeta_source_new_callbacks", c_int32, PP, POINTER(IoCallbacks), c_void_p)
unmeta_source_free = _fn("unmeta_source_free", None, P)

unmeta_sink_new_path = _fn("unmeta_sink_new_path", c_int32, PP, c_char_p, c_int32)
unmeta_sink_new_fd = _fn("unmeta_sink_new_fd", c_int32, PP, c_int32)
unmeta_sink_new_memory = _fn("unmeta_sink_new_memory", c_int32, PP)
unmeta_sink_new_callbacks = _fn("unmeta_sink_new_callbacks", c_int32, PP, POINTER(IoCallbacks), c_void_p)
unmeta_sink_memory = _fn("unmeta_sink_memory", c_int32, PP, POINTER(c_uint64), P)
unmeta_sink_free = _fn("unmeta_sink_free", None, P)

unmeta_strip = _fn("unmeta_strip", c_int32, PP, P, P, P)
unmeta_inspect = _fn("unmeta_inspect", c_int32, PP, P, P)
unmeta_check = _fn("unmeta_check", c_int32, POINTER(c_int32), P, P)
unmeta_report_json = _fn("unmeta_report_json", c_int32, PP, P)
unmeta_report_free = _fn("unmeta_report_free", None, P)
unmeta_free = _fn("unmeta_free", None, c_void_p)
unmeta_format_count = _fn("unmeta_format_count", c_uint32)
unmeta_format_name = _fn("unmeta_format_name", c_char_p, c_uint32)

# Envelopes. Secrets the library returns travel as void pointers (not
# c_char_p, which would copy them into an immutable bytes object and lose the
# pointer) so that unmeta_free_secret() can wipe and free them.
unmeta_envelope_available = _fn("unmeta_envelope_available", c_int32)
unmeta_seal = _fn("unmeta_seal", c_int32, P, P, P, POINTER(SealParams))
unmeta_open = _fn("unmeta_open", c_int32, POINTER(OpenInfo), P, P, P, POINTER(OpenParams))
unmeta_keygen = _fn("unmeta_keygen", c_int32, PP, PP)
unmeta_identity_to_recipient = _fn("unmeta_identity_to_recipient", c_int32, PP, c_char_p)
unmeta_free_secret = _fn("unmeta_free_secret", None, c_void_p)
unmeta_share_init = _fn("unmeta_share_init", c_int32, POINTER(Share), c_uint32)
unmeta_share_wipe = _fn("unmeta_share_wipe", None, POINTER(Share))
unmeta_seal_params_init = _fn("unmeta_seal_params_init", c_int32, POINTER(SealParams), c_uint32)
unmeta_open_params_init = _fn("unmeta_open_params_init", c_int32, POINTER(OpenParams), c_uint32)
unmeta_open_info_init = _fn("unmeta_open_info_init", c_int32, POINTER(OpenInfo), c_uint32)
unmeta_share_size = _fn("unmeta_share_size", c_uint32)
unmeta_seal_params_size = _fn("unmeta_seal_params_size", c_uint32)
unmeta_open_params_size = _fn("unmeta_open_params_size", c_uint32)
unmeta_open_info_size = _fn("unmeta_open_info_size", c_uint32)
unmeta_share_id_len = _fn("unmeta_share_id_len", c_uint32)
unmeta_share_key_len = _fn("unmeta_share_key_len", c_uint32)


def constant(name: str) -> int:
    """The value of the header macro `name`, from the loaded library."""
    v = c_int64(0)
    if unmeta_constant(ctypes.byref(v), name.encode("ascii")) != 0:
        raise KeyError(name)
    return v.value


def constants(prefix: str) -> Dict[str, int]:
    """All constants of a group the library knows, e.g. prefix "UNMETA_E_".

    Names come from the list below; a name the loaded library does not know
    (an older library) is left out."""
    out = {}
    for name in _KNOWN:
        if name.startswith(prefix):
            try:
                out[name] = constant(name)
            except KeyError:
                pass
    return out


_KNOWN = (
    "UNMETA_OK", "UNMETA_E_INVALID", "UNMETA_E_NOMEM", "UNMETA_E_IO", "UNMETA_E_UNSUPPORTED",
    "UNMETA_E_MALFORMED", "UNMETA_E_TRUNCATED", "UNMETA_E_LIMIT", "UNMETA_E_STATE", "UNMETA_E_CANCELED",
    "UNMETA_E_FEATURE", "UNMETA_E_EXPIRED", "UNMETA_E_CRYPTO", "UNMETA_E_NOKEY",
    "UNMETA_OPT_ICC", "UNMETA_OPT_APPLY_ORIENTATION", "UNMETA_OPT_MAX_BLOCK_SIZE", "UNMETA_OPT_MAX_DEPTH",
    "UNMETA_OPT_MAX_ITEMS", "UNMETA_OPT_MAX_MEMORY", "UNMETA_OPT_SPOOL_LIMIT", "UNMETA_OPT_MAX_INFLATE",
    "UNMETA_OPT_MAX_SPOOL", "UNMETA_OPT_MAX_GROWTH", "UNMETA_OPT_KEEP_DEPTH", "UNMETA_OPT_KEEP_MOTION",
    "UNMETA_ICC_KEEP", "UNMETA_ICC_STRIP",
    "UNMETA_SEAL_NO_PAD", "UNMETA_SEAL_RECORD_TIME", "UNMETA_SEAL_STRIPPED", "UNMETA_SCRYPT_LOG_N_DEFAULT",
    "UNMETA_OPEN_ALLOW_EXPIRED", "UNMETA_ENVELOPE_UNMETA", "UNMETA_ENVELOPE_PLAIN_AGE", "UNMETA_RECIPIENT_X25519",
    "UNMETA_RECIPIENT_SCRYPT", "UNMETA_SHARE_ID_LEN", "UNMETA_SHARE_KEY_LEN",
)

# What every call below needs; a library without them is not one this
# binding can drive, and saying so at import beats a wrong option later.
OPT_ICC = constant("UNMETA_OPT_ICC")
OPT_APPLY_ORIENTATION = constant("UNMETA_OPT_APPLY_ORIENTATION")
ICC_KEEP = constant("UNMETA_ICC_KEEP")
ICC_STRIP = constant("UNMETA_ICC_STRIP")
E_INVALID = constant("UNMETA_E_INVALID")
E_IO = constant("UNMETA_E_IO")

