"""unmeta: remove what photos and videos say about the people who made them.

A thin binding of libunmeta (the C library, loaded with ctypes)::

    import unmeta
    clean = unmeta.strip(uploaded_bytes)           # bytes in, bytes out
    unmeta.strip("IMG_1.jpg", "IMG_1.clean.jpg")   # paths; the output appears atomically
    unmeta.strip(request.stream, out_file)         # binary file objects, streamed
    report = unmeta.inspect("IMG_1.jpg")           # dict, see docs/json.md
    unmeta.check(clean)                            # False: nothing privacy-relevant left

    identity, recipient = unmeta.keygen()           # an age X25519 key pair
    env = unmeta.seal("IMG_1.jpg", recipients=[recipient], expires=datetime.timedelta(days=7))
    content, info = unmeta.open(env, identities=[identity])

Every failure raises a subclass of unmeta.Error, one per library error code.
Calls are synchronous; they release the GIL while the library works and may
run on several threads at once (each call has its own library context).
"""
from __future__ import annotations

import ctypes
import dataclasses
import datetime
import json
import math
import os
import tempfile
import time
from typing import IO, Any, Callable, Dict, Iterable, List, Literal, Optional, Tuple, Union, overload

from . import _lib

__all__ = [
    "strip", "inspect", "check", "formats", "library_version",
    "keygen", "identity_to_recipient", "seal", "open", "envelopes_available", "Share",
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
    """UNMETA_E_NOKEY: no identity or passphrase opens the envelope, or its key-release share is
    missing, deleted or wrong."""


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

    def __init__(self, icc: str = "keep", apply_orientation: bool = False, keep_depth: bool = False,
                 keep_motion: bool = False):
        self.ctx = ctypes.c_void_p()
        self.src = ctypes.c_void_p()
        self.dst = ctypes.c_void_p()
        self.keep: List[Any] = []
        self.extra: List[Tuple[Any, ctypes.c_void_p]] = []  # (free function, handle), freed first, last in first out
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
        # Newer options: asked of the library by name, so that an older
        # library says it lacks them only when they are asked for.
        for name, on in (("UNMETA_OPT_KEEP_DEPTH", keep_depth), ("UNMETA_OPT_KEEP_MOTION", keep_motion)):
            if on:
                try:
                    opt = _lib.constant(name)
                except KeyError:
                    raise FeatureError("this libunmeta has no %s" % name, None) from None
                self.check(_lib.unmeta_ctx_set_option(self.ctx, opt, 1))

    def __enter__(self) -> "_Handles":
        return self

    def __exit__(self, *exc: Any) -> None:
        while self.extra:
            free, handle = self.extra.pop()
            free(handle)
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

    def open_sink(self, dst: Optional[Destination], mode: int = -1) -> None:
        if dst is None:
            self.check(_lib.unmeta_sink_new_memory(ctypes.byref(self.dst)))
            return
        if isinstance(dst, (str, os.PathLike)):
            rc = _lib.unmeta_sink_new_path(ctypes.byref(self.dst), os.fsencode(dst), mode)
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

    def memory(self, sink: Optional[ctypes.c_void_p] = None) -> bytes:
        data, size = self.memory_view(sink)
        return ctypes.string_at(data, size) if size else b""

    def memory_view(self, sink: Optional[ctypes.c_void_p] = None) -> Tuple[ctypes.c_void_p, int]:
        """Where a memory sink's bytes are (valid until the sink is freed)."""
        data = ctypes.c_void_p()
        size = ctypes.c_uint64()
        self.check(_lib.unmeta_sink_memory(ctypes.byref(data), ctypes.byref(size), sink or self.dst))
        return data, size.value

    def new_handle(self, free: Any) -> ctypes.c_void_p:
        """A handle slot for one more source or sink, freed with `free` on exit."""
        handle = ctypes.c_void_p()
        self.extra.append((free, handle))
        return handle


def _seekable(f: Any) -> bool:
    try:
        return bool(f.seekable())
    except (AttributeError, OSError, ValueError):
        return False


# ---- operations -------------------------------------------------------------

@overload
def strip(src: Source, dst: None = ..., *, icc: str = ..., apply_orientation: bool = ...,
          keep_depth: bool = ..., keep_motion: bool = ...) -> bytes: ...


@overload
def strip(src: Source, dst: Destination, *, icc: str = ..., apply_orientation: bool = ...,
          keep_depth: bool = ..., keep_motion: bool = ...) -> None: ...


def strip(src: Source, dst: Optional[Destination] = None, *, icc: str = "keep",
          apply_orientation: bool = False, keep_depth: bool = False,
          keep_motion: bool = False) -> Optional[bytes]:
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
    keep_depth: True keeps HEIF depth maps (mattes still go).
    keep_motion: True keeps a motion photo's video, cleaned by the MP4 rules
      (JPEG: Google and Samsung layouts; HEIC: Samsung's mpvd box).

    Returns the stripped bytes when dst is None, else None.
    Raises a subclass of unmeta.Error (e.g. UnsupportedError, MalformedError,
    TruncatedError, LimitError); nothing counts as written when it does.
    """
    with _Handles(icc, apply_orientation, keep_depth, keep_motion) as h:
        h.open_source(src)
        h.open_sink(dst)
        h.check(_lib.unmeta_strip(None, h.ctx, h.src, h.dst))
        return h.memory() if dst is None else None


def inspect(src: Source, *, keep_depth: bool = False, keep_motion: bool = False) -> Dict[str, Any]:
    """Describes what src reveals without writing anything.

    Returns the report of docs/json.md as a dict: "format", "dirty",
    "blocks" (kind, offset, size, action), "findings" (category, name, value,
    block, offset, size) and "notes". keep_depth and keep_motion: as for
    strip, so the report shows those blocks as kept.
    """
    with _Handles(keep_depth=keep_depth, keep_motion=keep_motion) as h:
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


def check(src: Source, *, keep_depth: bool = False, keep_motion: bool = False) -> bool:
    """True when src holds something privacy-relevant (what strip removes or
    neutralises), False when it is clean. Raises unmeta.Error on bad input."""
    with _Handles(keep_depth=keep_depth, keep_motion=keep_motion) as h:
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



# ---- envelopes (docs/envelope.md) -------------------------------------------
#
# Secrets: the library's copies (identities it returns, key-release shares,
# the buffers handed to it for identities and passphrases) are wiped here
# with unmeta_free_secret(), unmeta_share_wipe() or by zeroing the ctypes
# buffer after the call. Python's own str and bytes objects cannot be wiped:
# an identity, passphrase or share key that reaches Python stays in its
# memory until the object is collected and the memory reused.

Time = Union[datetime.datetime, int]


@dataclasses.dataclass(frozen=True)
class Share:
    """A key-release share (docs/envelope.md, "Key-release shares").

    id: the share ID, lowercase hex digits; key: the secret half of the file
    key; not_after: the envelope's expiry in Unix seconds, when the share
    store must delete the share (None: no expiry, kept until deleted).
    The key is left out of repr() so that logging a Share does not log it.
    """

    id: str
    key: bytes = dataclasses.field(repr=False)
    not_after: Optional[int] = None


def envelopes_available() -> bool:
    """True when the loaded library can seal and open envelopes (it was built
    with libsodium); otherwise every envelope call raises FeatureError."""
    return _lib.unmeta_envelope_available() != 0


def _const(name: str) -> int:
    """An envelope constant; FeatureError from a library that lacks it."""
    try:
        return _lib.constant(name)
    except KeyError:
        raise FeatureError("the loaded libunmeta does not know %s (too old for envelopes)" % name,
                           FeatureError.code or None) from None


# Each struct is given the size both sides know: the smaller of this
# binding's layout and the library's (unmeta_*_size()). The library then
# reads and writes nothing past it, and a field beyond it is one the loaded
# library does not have: setting it raises FeatureError instead of being
# silently ignored.
_STRUCTS = {
    _lib.Share: (_lib.unmeta_share_init, _lib.unmeta_share_size),
    _lib.SealParams: (_lib.unmeta_seal_params_init, _lib.unmeta_seal_params_size),
    _lib.OpenParams: (_lib.unmeta_open_params_init, _lib.unmeta_open_params_size),
    _lib.OpenInfo: (_lib.unmeta_open_info_init, _lib.unmeta_open_info_size),
}


def _struct(cls: Any) -> Any:
    init, size = _STRUCTS[cls]
    obj = cls()
    rc = init(ctypes.byref(obj), min(ctypes.sizeof(cls), size()))
    if rc < 0:
        _raise(rc, None)
    return obj


def _known(obj: Any, field: str) -> bool:
    f = getattr(type(obj), field)
    return f.offset + f.size <= obj.struct_size


def _set(obj: Any, field: str, value: Any) -> None:
    if not _known(obj, field):
        raise FeatureError("the loaded libunmeta's %s has no field %r (an older library)"
                           % (type(obj).__name__, field), FeatureError.code or None)
    setattr(obj, field, value)


class _Secrets:
    """ctypes copies of secrets handed to the library, zeroed by wipe()."""

    def __init__(self) -> None:
        self.bufs: List[Any] = []

    def buffer(self, data: bytes) -> Any:
        b = ctypes.create_string_buffer(data, len(data) + 1)  # NUL-terminated for the C strings
        self.bufs.append(b)
        return b

    def strings(self, items: Iterable[Union[str, bytes]], what: str) -> Tuple[Any, int]:
        """A C array of NUL-terminated strings (NULL, 0 for none)."""
        if isinstance(items, (str, bytes)):
            items = [items]  # one key, not its characters
        bufs = []
        for item in items:
            data = item.encode("utf-8") if isinstance(item, str) else bytes(item)
            if b"\0" in data:
                raise InvalidArgumentError("%s must not contain NUL bytes" % what, _lib.E_INVALID)
            bufs.append(self.buffer(data))
        if not bufs:
            return None, 0
        arr = (ctypes.c_char_p * len(bufs))(*[ctypes.cast(b, ctypes.c_char_p) for b in bufs])
        self.bufs.append(arr)  # holds pointers only; kept alive with the buffers
        return arr, len(bufs)

    def wipe(self) -> None:
        for b in self.bufs:
            ctypes.memset(b, 0, ctypes.sizeof(b))
        self.bufs.clear()


def _passphrase(secrets: _Secrets, passphrase: Union[str, bytes, bytearray, None]) -> Tuple[Optional[int], int]:
    if passphrase is None:
        return None, 0
    data = passphrase.encode("utf-8") if isinstance(passphrase, str) else bytes(passphrase)
    if not data:
        raise InvalidArgumentError("the passphrase is empty", _lib.E_INVALID)
    return ctypes.addressof(secrets.buffer(data)), len(data)


def _unix(value: Union[Time, datetime.timedelta, None], what: str) -> int:
    """Unix seconds from a datetime (aware), a timedelta (from now) or an int;
    0 for None (the library's "none" / "the system clock")."""
    if value is None:
        return 0
    if isinstance(value, datetime.timedelta):
        value = math.floor(time.time() + value.total_seconds())
    elif isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise InvalidArgumentError("%s: a datetime needs a time zone (e.g. tzinfo=datetime.timezone.utc)"
                                       % what, _lib.E_INVALID)
        value = math.floor(value.timestamp())
    elif isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("unmeta: %s must be a datetime, an int (Unix seconds) or None, not %s"
                        % (what, type(value).__name__))
    if value <= 0:
        raise InvalidArgumentError("%s must be after 1970-01-01 (Unix seconds > 0), not %d" % (what, value),
                                   _lib.E_INVALID)
    return value


def _c_share(share: Share) -> Any:
    if not isinstance(share, Share):
        raise TypeError("unmeta: share must be an unmeta.Share or a callable, not %s" % type(share).__name__)
    cs = _struct(_lib.Share)
    _fill_share_key(cs, share.key)
    sid = share.id.encode("ascii")
    if len(sid) >= type(cs).id.size:  # room for the NUL
        raise InvalidArgumentError("share id %r is too long" % share.id, _lib.E_INVALID)
    cs.id = sid
    cs.not_after = share.not_after or 0
    return cs


def _fill_share_key(cs: Any, key: Union[bytes, bytearray]) -> None:
    key = bytes(key)
    if len(key) != _lib.unmeta_share_key_len():
        raise InvalidArgumentError("a share key has %d bytes, not %d" % (_lib.unmeta_share_key_len(), len(key)),
                                   _lib.E_INVALID)
    ctypes.memmove(ctypes.addressof(cs) + type(cs).key.offset, key, len(key))


def keygen() -> Tuple[str, str]:
    """A new X25519 identity and its recipient: ("AGE-SECRET-KEY-1...", "age1...").

    The identity is an age secret key (age-keygen's format, without the
    comment lines); the recipient is its public key. The library's copy of the
    identity is wiped; the returned str cannot be.
    """
    ident = ctypes.c_void_p()
    rcp = ctypes.c_void_p()
    try:
        rc = _lib.unmeta_keygen(ctypes.byref(ident), ctypes.byref(rcp))
        if rc < 0:
            _raise(rc, None)
        return ctypes.string_at(ident).decode("ascii"), ctypes.string_at(rcp).decode("ascii")
    finally:
        _lib.unmeta_free_secret(ident)
        _lib.unmeta_free(rcp)


def identity_to_recipient(identity: str) -> str:
    """The recipient ("age1...") of an X25519 identity ("AGE-SECRET-KEY-1...")."""
    secrets = _Secrets()
    rcp = ctypes.c_void_p()
    try:
        arr, _n = secrets.strings([identity], "the identity")
        rc = _lib.unmeta_identity_to_recipient(ctypes.byref(rcp), arr[0])
        if rc < 0:
            _raise(rc, None)
        return ctypes.string_at(rcp).decode("ascii")
    finally:
        secrets.wipe()
        _lib.unmeta_free(rcp)


@overload
def seal(src: Source, dst: Optional[Destination] = ..., *,
         recipients: Iterable[str] = ..., passphrase: Union[str, bytes, None] = ...,
         expires: Union[Time, datetime.timedelta, None] = ..., pad: bool = ..., strip: bool = ...,
         share: Literal[False] = ..., record_time: bool = ..., content_type: Optional[str] = ...,
         work_factor: Optional[int] = ...) -> Optional[bytes]: ...


@overload
def seal(src: Source, dst: Optional[Destination] = ..., *,
         recipients: Iterable[str] = ..., passphrase: Union[str, bytes, None] = ...,
         expires: Union[Time, datetime.timedelta, None] = ..., pad: bool = ..., strip: bool = ...,
         share: Literal[True], record_time: bool = ..., content_type: Optional[str] = ...,
         work_factor: Optional[int] = ...) -> Tuple[Optional[bytes], Share]: ...


def seal(src: Source, dst: Optional[Destination] = None, *,
         recipients: Iterable[str] = (), passphrase: Union[str, bytes, None] = None,
         expires: Union[Time, datetime.timedelta, None] = None, pad: bool = True, strip: bool = True,
         share: bool = False, record_time: bool = False, content_type: Optional[str] = None,
         work_factor: Optional[int] = None) -> Union[Optional[bytes], Tuple[Optional[bytes], Share]]:
    """Strips src, then encrypts it into an envelope: an age v1 file that any
    age client decrypts, whose plaintext is INFO ‖ content ‖ zero padding.

    src, dst: as for strip(); dst None returns the envelope as bytes. A path
      dst is written atomically with mode 0600.
    recipients: X25519 recipients ("age1...", e.g. from keygen()), or
    passphrase: a str (UTF-8) or bytes, sealed with scrypt (work factor 2^16,
      or 2^work_factor: 10..22). One of the two.
    expires: when opening stops: an aware datetime, Unix seconds, a timedelta
      from now, or None (never). A policy honest software enforces, not a lock:
      see docs/envelope.md; for expiry that holds, use share=True.
    pad: PADMÉ padding, so that the envelope reveals the size only within 12 %.
    strip: remove metadata first (the library's strip, as unmeta.strip()); a
      file unmeta cannot strip is then refused (UnsupportedError). False seals
      src as it is.
    share: split the file key: returns the key-release share for a store that
      deletes it at the expiry (docs/envelope.md); recipients only.
    record_time: record the creation time in INFO (off: it is not stored).
    content_type: the MIME type for INFO; None detects it.

    Returns the envelope bytes when dst is None, else None; with share=True,
    a tuple (that, Share). Nothing is written when it raises.
    """
    secrets = _Secrets()
    cshare = None
    try:
        with _Handles() as h:
            params = _struct(_lib.SealParams)
            arr, n = secrets.strings(recipients, "a recipient")
            pp, plen = _passphrase(secrets, passphrase)
            if arr is not None:
                _set(params, "recipients", arr)
                _set(params, "recipient_count", n)
            if pp is not None:
                _set(params, "passphrase", pp)
                _set(params, "passphrase_len", plen)
            if work_factor is not None:
                if isinstance(work_factor, bool) or not isinstance(work_factor, int) or work_factor <= 0:
                    raise InvalidArgumentError("work_factor must be a positive int (log2 of scrypt's N)",
                                               _lib.E_INVALID)
                _set(params, "scrypt_log_n", work_factor)
            flags = 0
            if not pad:
                flags |= _const("UNMETA_SEAL_NO_PAD")
            if record_time:
                flags |= _const("UNMETA_SEAL_RECORD_TIME")
            if strip:
                flags |= _const("UNMETA_SEAL_STRIPPED")
            _set(params, "flags", flags)
            not_after = _unix(expires, "expires")
            if not_after:
                _set(params, "not_after", not_after)
            if content_type is not None:
                ct = content_type.encode("ascii")
                h.keep.append(ct)
                _set(params, "content_type", ct)
            if share:
                cshare = _struct(_lib.Share)
                _set(params, "share", ctypes.pointer(cshare))

            h.open_source(src)
            content = h.src
            tmp = None
            try:
                if strip:
                    content, tmp = _strip_for_seal(h, src)
                h.open_sink(dst, 0o600)
                h.check(_lib.unmeta_seal(h.ctx, content, h.dst, ctypes.byref(params)))
            finally:
                if tmp is not None:
                    tmp.close()
            out = h.memory() if dst is None else None
            if cshare is None:
                return out
            released = Share(cshare.id.decode("ascii"), bytes(cshare.key), cshare.not_after or None)
            return out, released
    finally:
        secrets.wipe()
        if cshare is not None:
            _lib.unmeta_share_wipe(ctypes.byref(cshare))


def _strip_for_seal(h: _Handles, src: Source) -> Tuple[ctypes.c_void_p, Optional[IO[bytes]]]:
    """Strips h.src as the CLI's seal does, and returns a source of the result.

    Bytes stay in memory (a memory sink read back in place); paths and file
    objects go through an unnamed temporary file, so a large video is not
    held in memory."""
    tmp = None
    sink = h.new_handle(_lib.unmeta_sink_free)
    if isinstance(src, (bytes, bytearray, memoryview)):
        h.check(_lib.unmeta_sink_new_memory(ctypes.byref(sink)))
    else:
        tmp = tempfile.TemporaryFile()
        h.check(_lib.unmeta_sink_new_fd(ctypes.byref(sink), tmp.fileno()))
    try:
        try:
            h.check(_lib.unmeta_strip(None, h.ctx, h.src, sink))
        except UnsupportedError as e:
            raise UnsupportedError(e.message + "; refusing to seal a file whose metadata cannot be removed "
                                   "(strip=False seals it as it is)", e.code) from e
        content = h.new_handle(_lib.unmeta_source_free)
        if tmp is None:
            data, size = h.memory_view(sink)
            h.check(_lib.unmeta_source_new_memory(ctypes.byref(content), data, size))
        else:
            os.lseek(tmp.fileno(), 0, os.SEEK_SET)
            h.check(_lib.unmeta_source_new_fd(ctypes.byref(content), tmp.fileno()))
        return content, tmp
    except BaseException:
        if tmp is not None:
            tmp.close()
        raise


ShareSource = Union[Share, Callable[[str], Union[Share, bytes, None]]]


def open(src: Source, dst: Optional[Destination] = None, *,  # noqa: A001 - unmeta.open mirrors unmeta_open
         identities: Iterable[str] = (), passphrase: Union[str, bytes, None] = None,
         now: Optional[Time] = None, allow_expired: bool = False, max_work_factor: Optional[int] = None,
         share: Optional[ShareSource] = None) -> Tuple[Optional[bytes], Dict[str, Any]]:
    """Decrypts an envelope (or a plain age file) and checks its INFO block.

    src, dst: as for strip(); dst None returns the content as bytes. A path
      dst is written atomically with mode 0600 and appears only when the whole
      envelope opened and authenticated.
    identities: X25519 identities ("AGE-SECRET-KEY-1..."), or
    passphrase: for an envelope sealed with one (str as UTF-8, or bytes).
    now: the trusted current time (aware datetime or Unix seconds); None uses
      the system clock. An envelope is valid at its not_after and expired one
      second later (ExpiredError, before any byte is released).
    allow_expired: recovery: open an envelope past its expiry (info["expired"]).
    max_work_factor: the largest scrypt work factor accepted (log2 N; default
      16, at most 30): protects against envelopes that cost gigabytes to open.
    share: the key-release share of an envelope sealed with one: a Share, or a
      callable given the share ID that returns the Share (or its key bytes), or
      None when the store no longer holds it (NoKeyError). An exception it
      raises reaches the caller.

    Returns (content or None, info), info being a dict: "kind" ("unmeta" for an
    envelope, "age" for a plain age file, released unchanged), "recipient"
    ("x25519" or "scrypt"), "expired", "not_after" and "created" (Unix seconds
    or None), "content_length", "padding_length", "info_flags" (INFO's
    ignorable flags, docs/envelope.md), "content_type" and "share_id" (None
    when absent). Raises NoKeyError, CryptoError (altered, truncated),
    ExpiredError, MalformedError, UnsupportedError...; nothing counts as
    written when it does.
    """
    secrets = _Secrets()
    cshare = None
    try:
        with _Handles() as h:
            params = _struct(_lib.OpenParams)
            arr, n = secrets.strings(identities, "an identity")
            pp, plen = _passphrase(secrets, passphrase)
            if arr is not None:
                _set(params, "identities", arr)
                _set(params, "identity_count", n)
            if pp is not None:
                _set(params, "passphrase", pp)
                _set(params, "passphrase_len", plen)
            t = _unix(now, "now")
            if t:
                _set(params, "now", t)
            if max_work_factor is not None:
                if isinstance(max_work_factor, bool) or not isinstance(max_work_factor, int) or max_work_factor <= 0:
                    raise InvalidArgumentError("max_work_factor must be a positive int (log2 of scrypt's N)",
                                               _lib.E_INVALID)
                _set(params, "max_scrypt_log_n", max_work_factor)
            if allow_expired:
                _set(params, "flags", _const("UNMETA_OPEN_ALLOW_EXPIRED"))
            if callable(share) and not isinstance(share, Share):
                fetch = _lib.SHARE_FETCH_FN(h._guard(_share_fetcher(share), _lib.E_IO))
                h.keep.append(fetch)
                _set(params, "share_fetch", fetch)
            elif share is not None:
                cshare = _c_share(share)
                _set(params, "share", ctypes.pointer(cshare))
            info = _struct(_lib.OpenInfo)

            h.open_source(src)
            h.open_sink(dst, 0o600)
            h.check(_lib.unmeta_open(ctypes.byref(info), h.ctx, h.src, h.dst, ctypes.byref(params)))
            out = h.memory() if dst is None else None
            return out, _info_dict(info)
    finally:
        secrets.wipe()
        if cshare is not None:
            _lib.unmeta_share_wipe(ctypes.byref(cshare))


def _share_fetcher(fn: Callable[[str], Union[Share, bytes, None]]) -> Callable[[Any, Any], int]:
    def fetch(p_share: Any, _user: Any) -> int:
        cs = p_share.contents  # the library's struct, filled in place
        got = fn(cs.id.decode("ascii"))
        if got is None:
            return _const("UNMETA_E_NOKEY")
        _fill_share_key(cs, got.key if isinstance(got, Share) else got)
        return 0
    return fetch


def _info_dict(info: Any) -> Dict[str, Any]:
    kinds = {_const("UNMETA_ENVELOPE_UNMETA"): "unmeta", _const("UNMETA_ENVELOPE_PLAIN_AGE"): "age"}
    recipients = {_const("UNMETA_RECIPIENT_X25519"): "x25519", _const("UNMETA_RECIPIENT_SCRYPT"): "scrypt"}

    def field(name: str, default: Any = None) -> Any:
        return getattr(info, name) if _known(info, name) else default

    ctype = field("content_type", b"").decode("ascii", "replace")
    sid = field("share_id", b"").decode("ascii", "replace")
    return {
        "kind": kinds.get(info.kind, info.kind),
        "recipient": recipients.get(info.recipient_kind, info.recipient_kind),
        "expired": bool(info.expired),
        "not_after": info.not_after or None,
        "created": info.created or None,
        "content_length": info.content_length,
        "padding_length": info.padding_length,
        "info_flags": info.info_flags,
        "content_type": ctype or None,
        "share_id": sid or None,
    }
