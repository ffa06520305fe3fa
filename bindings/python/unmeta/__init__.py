"""unmeta: remove what photos and videos say about the people who made them.

A thin binding of libunmeta (the C library, loaded with ctypes)::

    import unmeta
    clean = unmeta.strip(uploaded_bytes)           # bytes in, bytes out
    unmeta.strip("IMG_1.jpg", "IMG_1.clean.jpg")   # paths; the output appears atomically
    unmeta.strip(request.stream, out_file)         # binary file objects, streamed
    report = unmeta.inspect("IMG_1.jpg")           # dict, see docs/json.md
    unmeta.check(clean)                            # False: nothing privacy-relevant left

Every failure raises a subclass of unmeta.Error, one per library error code.
Calls are synchronous; they release the GIL while the library works and may
run on several threads at once (each call has its own library context).
"""
from __future__ import annotations

import ctypes
import json
import os
from typing import IO, Any, Dict, List, Optional, Union

from . import _lib

__all__ = [
    "strip", "inspect", "check", "formats", "library_version",
    "Error", "InvalidArgumentError", "OutOfMemoryError", "InputOutputError", "UnsupportedError",
    "MalformedError", "TruncatedError", "LimitError", "StateError", "CanceledError", "FeatureError",
    "ExpiredError", "CryptoError", "NoKeyError",
]

Source = Union[str, "os.PathLike[str]", "os.PathLike[bytes]", bytes, bytearray, memoryview, IO[bytes]]
Destination = Union[str, "os.PathLike[str]", "os.PathLike[bytes]", IO[bytes]]


# ---- errors -----------------------------------------------------------------

class Error(Exception):
    """A libunmeta failure. `code` is the UNMETA_E_* number, `message` the
    library's detailed message (e.g. "PNG: chunk 'IDAT' CRC mismatch at byte 1234")."""

    code: int = 0

    def __init__(self, message: str, code: Optional[int] = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidArgumentError(Error, ValueError):
    """UNMETA_E_INVALID: a bad argument or option value."""


class OutOfMemoryError(Error, MemoryError):
    """UNMETA_E_NOMEM: an allocation failed."""


class InputOutputError(Error, OSError):
    """UNMETA_E_IO: reading or writing failed."""


class UnsupportedError(Error):
    """UNMETA_E_UNSUPPORTED: no format unmeta knows claims the input."""


class MalformedError(Error):
    """UNMETA_E_MALFORMED: the input breaks its format's rules."""


class TruncatedError(Error):
    """UNMETA_E_TRUNCATED: the input ends before its structure does."""


class LimitError(Error):
    """UNMETA_E_LIMIT: the input exceeds a configured limit."""


class StateError(Error):
    """UNMETA_E_STATE: an object used in the wrong state."""


class CanceledError(Error):
    """UNMETA_E_CANCELED: the operation was canceled."""


class FeatureError(Error):
    """UNMETA_E_FEATURE: the input needs a feature left out of this build of the library."""


class ExpiredError(Error):
    """UNMETA_E_EXPIRED: an envelope past its expiry."""


class CryptoError(Error):
    """UNMETA_E_CRYPTO: an envelope failed authentication."""


class NoKeyError(Error):
    """UNMETA_E_NOKEY: no identity or passphrase opens the envelope."""


_BY_NAME = {
    "UNMETA_E_INVALID": InvalidArgumentError,
    "UNMETA_E_NOMEM": OutOfMemoryError,
    "UNMETA_E_IO": InputOutputError,
    "UNMETA_E_UNSUPPORTED": UnsupportedError,
    "UNMETA_E_MALFORMED": MalformedError,
    "UNMETA_E_TRUNCATED": TruncatedError,
    "UNMETA_E_LIMIT": LimitError,
    "UNMETA_E_STATE": StateError,
    "UNMETA_E_CANCELED": CanceledError,
    "UNMETA_E_FEATURE": FeatureError,
    "UNMETA_E_EXPIRED": ExpiredError,
    "UNMETA_E_CRYPTO": CryptoError,
    "UNMETA_E_NOKEY": NoKeyError,
}
# The codes come from the loaded library; a code it does not define (an
# older library) has no class bound to a number.
_BY_CODE: Dict[int, type] = {}
for _name, _value in _lib.constants("UNMETA_E_").items():
    _cls = _BY_NAME[_name]
    _cls.code = _value
    _BY_CODE[_value] = _cls


def _raise(rc: int, ctx: Optional[int]) -> None:
    msg = _lib.unmeta_ctx_last_error(ctx).decode("utf-8", "replace") if ctx else ""
    if not msg:
        msg = _lib.unmeta_strerror(rc).decode("utf-8", "replace")
    raise _BY_CODE.get(rc, Error)(msg, rc)


# ---- sources and sinks ------------------------------------------------------

class _Handles:
    """Owns one context, source and sink for one call, and everything ctypes
    must keep alive while the library may call back (buffers, callbacks)."""

    def __init__(self, icc: str = "keep", apply_orientation: bool = False):
        self.ctx = ctypes.c_void_p()
        self.src = ctypes.c_void_p()
        self.dst = ctypes.c_void_p()
        self.keep: List[Any] = []
        self.pending: Optional[BaseException] = None  # raised inside a callback
        rc = _lib.unmeta_ctx_new(ctypes.byref(self.ctx))
        if rc < 0:
            _raise(rc, None)
        if icc not in ("keep", "strip"):
            raise InvalidArgumentError("icc must be 'keep' (neutralised) or 'strip', not %r" % (icc,),
                                       _lib.E_INVALID)
        self.check(_lib.unmeta_ctx_set_option(self.ctx, _lib.OPT_ICC,
                                              _lib.ICC_KEEP if icc == "keep" else _lib.ICC_STRIP))
        self.check(_lib.unmeta_ctx_set_option(self.ctx, _lib.OPT_APPLY_ORIENTATION, 1 if apply_orientation else 0))

    def __enter__(self) -> "_Handles":
        return self

    def __exit__(self, *exc: Any) -> None:
        _lib.unmeta_sink_free(self.dst)
        _lib.unmeta_source_free(self.src)
        _lib.unmeta_ctx_free(self.ctx)
        self.keep.clear()

    def check(self, rc: int) -> None:
        if self.pending is not None:
            e, self.pending = self.pending, None
            raise e  # the caller's own exception, from its read/write/seek
        if rc < 0:
            _raise(rc, self.ctx.value)

    def _guard(self, fn, fail):
        """Wraps a Python callback: exceptions must not cross into C."""
        def call(*args):
            try:
                return fn(*args)
            except BaseException as e:  # noqa: B902 - kept and re-raised after the C call
                if self.pending is None:
                    self.pending = e
                return fail
        return call

    def open_source(self, src: Source) -> None:
        if isinstance(src, (str, os.PathLike)):
            rc = _lib.unmeta_source_new_path(ctypes.byref(self.src), os.fsencode(src))
            if rc < 0:
                raise _BY_CODE.get(rc, Error)("cannot open %s" % os.fsdecode(src), rc)
            return
        if isinstance(src, (bytes, bytearray, memoryview)):
            data = bytes(src) if not isinstance(src, bytes) else src
            self.keep.append(data)
            buf = ctypes.c_char_p(data)
            self.keep.append(buf)
            self.check(_lib.unmeta_source_new_memory(ctypes.byref(self.src), ctypes.cast(buf, ctypes.c_void_p),
                                                     len(data)))
            return
        if hasattr(src, "read"):
            self._source_file(src)
            return
        raise TypeError("unmeta: the source must be a path, bytes-like or a binary file object, not %s"
                        % type(src).__name__)

    def _source_file(self, f: IO[bytes]) -> None:
        readinto = getattr(f, "readinto", None)

        def read(buf, size, _user):
            size = min(size, 1 << 24)
            if readinto is not None:
                view = (ctypes.c_char * size).from_address(buf)
                n = readinto(memoryview(view).cast("B"))
                return n or 0
            chunk = f.read(size)
            if not isinstance(chunk, (bytes, bytearray)):
                raise TypeError("unmeta: the source file must be opened in binary mode")
            ctypes.memmove(buf, chunk, len(chunk))
            return len(chunk)

        cb = _lib.IoCallbacks()
        cb.struct_size = ctypes.sizeof(_lib.IoCallbacks)
        cb.read = _lib.READ_FN(self._guard(read, -1))
        if _seekable(f):
            cb.seek = _lib.SEEK_FN(self._guard(lambda off, whence, _u: f.seek(off, whence), -1))
        self.keep.append(cb)
        self.check(_lib.unmeta_source_new_callbacks(ctypes.byref(self.src), ctypes.byref(cb), None))

    def open_sink(self, dst: Optional[Destination]) -> None:
        if dst is None:
            self.check(_lib.unmeta_sink_new_memory(ctypes.byref(self.dst)))
            return
        if isinstance(dst, (str, os.PathLike)):
            rc = _lib.unmeta_sink_new_path(ctypes.byref(self.dst), os.fsencode(dst), -1)
            if rc < 0:
                raise _BY_CODE.get(rc, Error)("cannot write %s" % os.fsdecode(dst), rc)
            return
        if hasattr(dst, "write"):
            def write(buf, size, _user):
                view = memoryview(ctypes.string_at(buf, size))
                done = 0
                while done < size:  # raw files may take less than asked
                    n = dst.write(view[done:])
                    if n is None:  # buffered writers take everything
                        break
                    if n <= 0:
                        raise OSError("unmeta: the destination file accepted no bytes")
                    done += n
                return size

            cb = _lib.IoCallbacks()
            cb.struct_size = ctypes.sizeof(_lib.IoCallbacks)
            cb.write = _lib.WRITE_FN(self._guard(write, -1))
            if _seekable(dst):
                cb.seek = _lib.SEEK_FN(self._guard(lambda off, whence, _u: dst.seek(off, whence), -1))
            self.keep.append(cb)
            self.check(_lib.unmeta_sink_new_callbacks(ctypes.byref(self.dst), ctypes.byref(cb), None))
            return
        raise TypeError("unmeta: the destination must be None, a path or a binary file object, not %s"
                        % type(dst).__name__)

    def memory(self) -> bytes:
        data = ctypes.c_void_p()
        size = ctypes.c_uint64()
        self.check(_lib.unmeta_sink_memory(ctypes.byref(data), ctypes.byref(size), self.dst))
        return ctypes.string_at(data, size.value) if size.value else b""


def _seekable(f: Any) -> bool:
    try:
        return bool(f.seekable())
    except (AttributeError, OSError, ValueError):
        return False


# ---- operations -------------------------------------------------------------

def strip(src: Source, dst: Optional[Destination] = None, *, icc: str = "keep",
          apply_orientation: bool = False) -> Optional[bytes]:
    """Removes privacy-relevant metadata, leaving pixels and A/V packets untouched.

    src: a path (str or os.PathLike), bytes-like data, or a binary file object
      (read through callbacks, streamed; a non-seekable one is held in memory
      up to the library's spool limit).
    dst: None to get the result as bytes; a path, written atomically (a
      temporary file renamed into place only on success; it may be src itself);
      or a binary file object, written through callbacks.
    icc: "keep" keeps the ICC profile with its identifying fields neutralised
      (colours unchanged); "strip" drops it.
    apply_orientation: False keeps a minimal Orientation tag; True rotates
      losslessly where the format allows it.

    Returns the stripped bytes when dst is None, else None.
    Raises a subclass of unmeta.Error (e.g. UnsupportedError, MalformedError,
    TruncatedError, LimitError); nothing counts as written when it does.
    """
    with _Handles(icc, apply_orientation) as h:
        h.open_source(src)
        h.open_sink(dst)
        h.check(_lib.unmeta_strip(None, h.ctx, h.src, h.dst))
        return h.memory() if dst is None else None


def inspect(src: Source) -> Dict[str, Any]:
    """Describes what src reveals without writing anything.

    Returns the report of docs/json.md as a dict: "format", "dirty",
    "blocks" (kind, offset, size, action), "findings" (category, name, value,
    block, offset, size) and "notes".
    """
    with _Handles() as h:
        h.open_source(src)
        report = ctypes.c_void_p()
        h.check(_lib.unmeta_inspect(ctypes.byref(report), h.ctx, h.src))
        try:
            text = ctypes.c_void_p()
            h.check(_lib.unmeta_report_json(ctypes.byref(text), report))
            try:
                return json.loads(ctypes.string_at(text).decode("utf-8"))
            finally:
                _lib.unmeta_free(text)
        finally:
            _lib.unmeta_report_free(report)


def check(src: Source) -> bool:
    """True when src holds something privacy-relevant (what strip removes or
    neutralises), False when it is clean. Raises unmeta.Error on bad input."""
    with _Handles() as h:
        h.open_source(src)
        dirty = ctypes.c_int32(0)
        h.check(_lib.unmeta_check(ctypes.byref(dirty), h.ctx, h.src))
        return dirty.value != 0


def formats() -> List[str]:
    """Short names of the formats this build of the library handles."""
    return [_lib.unmeta_format_name(i).decode() for i in range(_lib.unmeta_format_count())]


def library_version() -> str:
    """The version of the loaded libunmeta, e.g. "0.1.0"."""
    return _lib.unmeta_version_string().decode()

