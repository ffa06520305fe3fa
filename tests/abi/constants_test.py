#!/usr/bin/env python3
"""constants_test.py HEADER LIBRARY - every integer macro of include/unmeta.h
is known to unmeta_constant() with the same value, so bindings can ask the
library instead of copying numbers; unknown names are refused; the struct
size functions agree with the C layout as ctypes computes it."""
import ctypes
import re
import sys


def main(header, library):
    try:
        lib = ctypes.CDLL(library)
    except OSError as e:
        if re.search(r"undefined symbol: __(asan|ubsan|tsan|msan)_", str(e)):
            print("constants: a sanitizer build cannot be loaded into python; skipped")
            return 77
        raise
    lib.unmeta_constant.argtypes = [ctypes.POINTER(ctypes.c_int64), ctypes.c_char_p]
    lib.unmeta_constant.restype = ctypes.c_int32
    failures = []

    text = open(header, encoding="utf-8").read()
    macros = {}
    for m in re.finditer(r"^#define\s+(UNMETA_\w+)\s+(.+?)\s*(?:/\*.*)?$", text, re.M):
        name, body = m.group(1), m.group(2).strip()
        if name.endswith("_INIT") or name in ("UNMETA_H", "UNMETA_API"):
            continue
        lit = re.fullmatch(r"\(?\s*(-?(?:0x[0-9a-fA-F]+|\d+))[uUlL]*\s*\)?", body)
        if lit:
            macros[name] = int(lit.group(1), 0)
        else:
            macros[name] = None  # an expression: must be known, value from the library
    if len(macros) < 30:
        failures.append("only %d macros parsed from %s" % (len(macros), header))

    for name, want in sorted(macros.items()):
        v = ctypes.c_int64(0)
        rc = lib.unmeta_constant(ctypes.byref(v), name.encode())
        if rc != 0:
            failures.append("unmeta_constant does not know %s" % name)
        elif want is not None and v.value != want:
            failures.append("%s is %d in the header, %d in the library" % (name, want, v.value))

    v = ctypes.c_int64(12345)
    if lib.unmeta_constant(ctypes.byref(v), b"UNMETA_NO_SUCH_THING") != macros.get("UNMETA_E_INVALID", -1):
        failures.append("an unknown name is not refused with UNMETA_E_INVALID")
    if lib.unmeta_constant(None, b"UNMETA_OK") >= 0 or lib.unmeta_constant(ctypes.byref(v), None) >= 0:
        failures.append("NULL arguments are not refused")

    fn = ctypes.CFUNCTYPE(None)

    class IoCallbacks(ctypes.Structure):
        _fields_ = [("struct_size", ctypes.c_uint32), ("read", fn), ("write", fn), ("seek", fn)]

    class Block(ctypes.Structure):
        _fields_ = [("struct_size", ctypes.c_uint32), ("action", ctypes.c_int32), ("kind", ctypes.c_char_p),
                    ("offset", ctypes.c_uint64), ("length", ctypes.c_uint64)]

    class Finding(ctypes.Structure):
        _fields_ = [("struct_size", ctypes.c_uint32), ("category", ctypes.c_int32), ("name", ctypes.c_char_p),
                    ("value", ctypes.c_char_p), ("block", ctypes.c_uint32)]

    for fname, st in (("unmeta_io_callbacks_size", IoCallbacks), ("unmeta_block_size", Block),
                      ("unmeta_finding_size", Finding)):
        f = getattr(lib, fname)
        f.restype = ctypes.c_uint32
        if f() != ctypes.sizeof(st):
            failures.append("%s() is %d, the C layout %d" % (fname, f(), ctypes.sizeof(st)))

    for f in failures:
        print("constants:", f)
    if not failures:
        print("constants: %d macros known with their values; struct sizes agree" % len(macros))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
