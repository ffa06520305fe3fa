"""Envelopes from Python: keygen agrees with age-keygen, seal -> open round
trips in memory, through paths and file objects, with a passphrase (at a low
scrypt work factor), expiry against an injected clock, tampering, key-release
shares, and interoperability with the real age CLI both ways. The C side's
secrets are wiped."""
import ctypes
import datetime
import io
import os
import re
import stat
import struct
import subprocess

import pytest

import unmeta
from unmeta import _lib

from conftest import need, run

pytestmark = pytest.mark.skipif(not unmeta.envelopes_available(),
                                reason="this libunmeta was built without envelopes (libsodium)")

MAGIC = b"\x89unmeta\n"
INFO_SIZE = 96  # docs/envelope.md: the INFO block is part of the file format
T = 1_900_000_000  # an expiry well in the future, in Unix seconds


@pytest.fixture(scope="module")
def keys():
    return unmeta.keygen()


def padme(n):
    """PADMÉ as docs/envelope.md defines it, written independently."""
    e = n.bit_length() - 1
    s = e.bit_length()  # floor(log2 E) + 1
    mask = (1 << (e - s)) - 1 if e >= s else 0
    return (n + mask) & ~mask


def age_decrypt(env, identity, tmp_path):
    need("age")
    key = tmp_path / "me.key"
    key.write_text(identity + "\n")
    p = tmp_path / "env.age"
    p.write_bytes(env)
    return subprocess.run(["age", "-d", "-i", str(key), str(p)], capture_output=True)


def test_struct_layouts_match_the_library():
    # The binding declares the envelope structs itself; on the library it is
    # tested with, every field must be known (same size), or fields would be
    # silently dropped or misplaced.
    assert ctypes.sizeof(_lib.Share) == _lib.unmeta_share_size()
    assert ctypes.sizeof(_lib.SealParams) == _lib.unmeta_seal_params_size()
    assert ctypes.sizeof(_lib.OpenParams) == _lib.unmeta_open_params_size()
    assert ctypes.sizeof(_lib.OpenInfo) == _lib.unmeta_open_info_size()
    assert _lib.unmeta_share_key_len() == _lib.constant("UNMETA_SHARE_KEY_LEN")
    assert _lib.Share.key.size == _lib.unmeta_share_key_len()
    assert _lib.Share.id.size > _lib.unmeta_share_id_len()


def test_keygen_matches_age_keygen(tmp_path):
    identity, recipient = unmeta.keygen()
    assert re.fullmatch(r"AGE-SECRET-KEY-1[0-9A-Z]{58}", identity)
    assert re.fullmatch(r"age1[0-9a-z]{58}", recipient)
    assert unmeta.identity_to_recipient(identity) == recipient
    assert unmeta.keygen()[0] != identity
    need("age-keygen")
    key = tmp_path / "k"
    key.write_text(identity + "\n")
    assert run("age-keygen", "-y", str(key)).decode().strip() == recipient
    # and the other way: an identity age-keygen made
    other = tmp_path / "other"
    run("age-keygen", "-o", str(other))
    ident = [ln for ln in other.read_text().splitlines() if ln.startswith("AGE-SECRET-KEY-")][0]
    assert unmeta.identity_to_recipient(ident) == run("age-keygen", "-y", str(other)).decode().strip()
    with pytest.raises(unmeta.InvalidArgumentError):
        unmeta.identity_to_recipient("AGE-SECRET-KEY-1NOTAKEY")


def test_seal_open_in_memory(sample, keys):
    identity, recipient = keys
    env = unmeta.seal(sample, recipients=[recipient])
    assert env.startswith(b"age-encryption.org/v1\n-> X25519 ")
    assert b"\xff\xd8" not in env[:200] and sample[2:200] not in env
    content, info = unmeta.open(env, identities=[identity])
    assert content == unmeta.strip(sample)
    assert unmeta.check(content) is False
    assert info == {
        "kind": "unmeta", "recipient": "x25519", "expired": False, "not_after": None, "created": None,
        "content_length": len(content), "padding_length": padme(INFO_SIZE + len(content)) - INFO_SIZE - len(content),
        "info_flags": info["info_flags"], "content_type": "image/jpeg", "share_id": None,
    }
    assert info["info_flags"] & 1  # STRIPPED (docs/envelope.md, INFO ignorable flags)
    # one str is one identity, not a list of characters
    assert unmeta.open(env, identities=identity)[0] == content
    # two envelopes of the same input differ (fresh file key, nonce, ephemeral share)
    assert unmeta.seal(sample, recipients=recipient) != env


def test_wrong_or_missing_key(sample, keys):
    identity, recipient = keys
    env = unmeta.seal(sample, recipients=[recipient])
    with pytest.raises(unmeta.NoKeyError):
        unmeta.open(env, identities=[unmeta.keygen()[0]])
    with pytest.raises(unmeta.NoKeyError):
        unmeta.open(env)
    with pytest.raises(unmeta.InvalidArgumentError):
        unmeta.seal(sample)  # neither recipients nor passphrase
    with pytest.raises(unmeta.InvalidArgumentError):
        unmeta.seal(sample, recipients=[recipient], passphrase="x")
    with pytest.raises(unmeta.InvalidArgumentError):
        unmeta.seal(sample, recipients=["age1notarecipient"])


def test_several_recipients(sample):
    a, b = unmeta.keygen(), unmeta.keygen()
    env = unmeta.seal(sample, recipients=[a[1], b[1]])
    assert env.count(b"-> X25519 ") == 2
    assert unmeta.open(env, identities=[b[0]])[0] == unmeta.open(env, identities=[a[0]])[0]


def test_paths_and_file_objects(sample, sample_path, keys, tmp_path):
    identity, recipient = keys
    out = tmp_path / "photo.age"
    assert unmeta.seal(sample_path, out, recipients=[recipient]) is None
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    back = tmp_path / "photo.jpg"
    content, info = unmeta.open(out, back, identities=[identity])
    assert content is None and back.read_bytes() == unmeta.strip(sample)
    assert stat.S_IMODE(back.stat().st_mode) == 0o600
    assert info["content_length"] == len(back.read_bytes())
    buf = io.BytesIO()
    with open(sample_path, "rb") as f:
        unmeta.seal(f, buf, recipients=[recipient])
    sink = io.BytesIO()
    unmeta.open(io.BytesIO(buf.getvalue()), sink, identities=[identity])
    assert sink.getvalue() == unmeta.strip(sample)


def test_strip_false_seals_the_input_as_it_is(sample, keys):
    identity, recipient = keys
    content, info = unmeta.open(unmeta.seal(sample, recipients=[recipient], strip=False), identities=[identity])
    assert content == sample and not info["info_flags"] & 1
    text = b"not a photo, CANARY-PY-ENV"
    with pytest.raises(unmeta.UnsupportedError) as e:
        unmeta.seal(text, recipients=[recipient])
    assert "strip=False" in e.value.message
    content, info = unmeta.open(unmeta.seal(text, recipients=[recipient], strip=False,
                                            content_type="text/plain"), identities=[identity])
    assert content == text and info["content_type"] == "text/plain"


def test_passphrase_at_a_low_work_factor():
    data = b"passphrase CANARY-PY-PASS"
    env = unmeta.seal(data, passphrase="correct horse", strip=False, work_factor=10)
    assert b"-> scrypt " in env and b" 10\n" in env
    content, info = unmeta.open(env, passphrase=b"correct horse")
    assert content == data and info["recipient"] == "scrypt"
    with pytest.raises(unmeta.NoKeyError):
        unmeta.open(env, passphrase="wrong")
    with pytest.raises(unmeta.NoKeyError):
        unmeta.open(env)  # sealed with a passphrase, none given
    # the opener's cap on scrypt's cost, checked before any work
    env12 = unmeta.seal(data, passphrase="pw", strip=False, work_factor=12)
    with pytest.raises(unmeta.LimitError):
        unmeta.open(env12, passphrase="pw", max_work_factor=11)
    assert unmeta.open(env12, passphrase="pw", max_work_factor=12)[0] == data
    with pytest.raises(unmeta.InvalidArgumentError):
        unmeta.seal(data, passphrase="pw", strip=False, work_factor=9)
    with pytest.raises(unmeta.InvalidArgumentError):
        unmeta.seal(data, passphrase="", strip=False, work_factor=10)


def test_expiry_with_an_injected_clock(sample, keys, tmp_path):
    identity, recipient = keys
    env = unmeta.seal(sample, recipients=[recipient], expires=T)
    content, info = unmeta.open(env, identities=[identity], now=T)  # valid at not_after
    assert info["not_after"] == T and info["expired"] is False
    out = tmp_path / "late.jpg"
    with pytest.raises(unmeta.ExpiredError) as e:
        unmeta.open(env, out, identities=[identity], now=T + 1)
    assert e.value.code == _lib.constant("UNMETA_E_EXPIRED")
    assert not out.exists()
    late, info = unmeta.open(env, identities=[identity], now=T + 1, allow_expired=True)
    assert late == content and info["expired"] is True
    # the system clock: T is in the future
    assert unmeta.open(env, identities=[identity])[1]["expired"] is False
    # datetimes, aware only
    when = datetime.datetime.fromtimestamp(T, datetime.timezone.utc)
    env2 = unmeta.seal(sample, recipients=[recipient], expires=when)
    assert unmeta.open(env2, identities=[identity], now=when)[1]["not_after"] == T
    with pytest.raises(unmeta.ExpiredError):
        unmeta.open(env2, identities=[identity], now=when + datetime.timedelta(seconds=1))
    with pytest.raises(unmeta.InvalidArgumentError):
        unmeta.seal(sample, recipients=[recipient], expires=datetime.datetime(2030, 1, 1))
    with pytest.raises(TypeError):
        unmeta.seal(sample, recipients=[recipient], expires="7d")
    # a timedelta counts from now
    rel = unmeta.open(unmeta.seal(sample, recipients=[recipient], expires=datetime.timedelta(hours=1)),
                      identities=[identity])[1]["not_after"]
    now = datetime.datetime.now(datetime.timezone.utc).timestamp()
    assert now + 3590 < rel <= now + 3600


def test_tampering_is_detected(sample, keys, tmp_path):
    identity, recipient = keys
    env = unmeta.seal(sample, recipients=[recipient])
    body = env.index(b"\n---") + 1
    body = env.index(b"\n", body) + 1  # the payload: nonce, then chunks
    for pos in (body + 20, len(env) - 1, body + 16 + INFO_SIZE):
        bad = bytearray(env)
        bad[pos] ^= 0x01
        out = tmp_path / "out.jpg"
        with pytest.raises(unmeta.CryptoError):
            unmeta.open(bytes(bad), out, identities=[identity])
        assert not out.exists()
    # the header MAC covers the header
    mac = env.index(b"\n--- ") + 5
    bad = bytearray(env)
    bad[mac] = ord("A") if bad[mac] != ord("A") else ord("B")
    with pytest.raises(unmeta.CryptoError, match="header MAC"):
        unmeta.open(bytes(bad), identities=[identity])
    with pytest.raises(unmeta.CryptoError):
        unmeta.open(env[:-1], identities=[identity])


def test_age_decrypts_a_python_envelope(sample, keys, tmp_path):
    identity, recipient = keys
    for pad in (True, False):
        env = unmeta.seal(sample, recipients=[recipient], expires=T, pad=pad)
        r = age_decrypt(env, identity, tmp_path)
        assert r.returncode == 0, r.stderr
        plain = r.stdout
        content = unmeta.strip(sample)
        # INFO ‖ content ‖ padding, as docs/envelope.md lays it out
        assert plain[:8] == MAGIC
        assert struct.unpack(">HH", plain[8:12]) == (1, INFO_SIZE)
        crit, ign, not_after, created, length = struct.unpack(">IIqqQ", plain[12:44])
        assert (crit & 1) == (1 if pad else 0) and ign & 1
        assert (not_after, created, length) == (T, 0, len(content))
        assert plain[44:76].rstrip(b"\0") == b"image/jpeg" and plain[76:96] == bytes(20)
        assert plain[INFO_SIZE:INFO_SIZE + length] == content
        want = padme(INFO_SIZE + length) if pad else INFO_SIZE + length
        assert len(plain) == want and plain[INFO_SIZE + length:] == bytes(want - INFO_SIZE - length)


def test_python_opens_an_age_file(keys, tmp_path):
    need("age")
    identity, recipient = keys
    data = os.urandom(70000) + b"CANARY-PY-AGE"  # two chunks
    src = tmp_path / "plain.bin"
    src.write_bytes(data)
    for armor in ([], ["-a"]):
        enc = run("age", "-e", *armor, "-r", recipient, str(src))
        content, info = unmeta.open(enc, identities=[identity], now=T)
        assert content == data
        assert info["kind"] == "age" and info["recipient"] == "x25519" and info["not_after"] is None
        assert info["content_length"] == len(data) and info["padding_length"] == 0


def test_share_round_trip(sample, keys, tmp_path):
    identity, recipient = keys
    env, share = unmeta.seal(sample, recipients=[recipient], expires=T, share=True)
    assert isinstance(share, unmeta.Share)
    assert re.fullmatch(r"[0-9a-f]{32}", share.id) and len(share.key) == 16 and share.not_after == T
    assert share.key.hex() not in repr(share) and share.id in repr(share)
    assert ("-> unmeta-share %s\n" % share.id).encode() in env
    content, info = unmeta.open(env, identities=[identity], share=share, now=T)
    assert content == unmeta.strip(sample) and info["share_id"] == share.id
    # fetched by ID from a store (a dict here)
    store = {share.id: share.key}
    asked = []

    def fetch(sid):
        asked.append(sid)
        return store.get(sid)
    assert unmeta.open(env, identities=[identity], share=fetch, now=T)[0] == content
    assert asked == [share.id]
    assert unmeta.open(env, identities=[identity], share=lambda sid: share, now=T)[0] == content
    # without it, after the store deleted it, or a wrong one: NoKeyError, nothing written
    out = tmp_path / "o.jpg"
    with pytest.raises(unmeta.NoKeyError, match="key-release share"):
        unmeta.open(env, out, identities=[identity], now=T)
    del store[share.id]
    with pytest.raises(unmeta.NoKeyError, match="no longer holds it"):
        unmeta.open(env, out, identities=[identity], share=fetch, now=T)
    with pytest.raises(unmeta.NoKeyError):
        unmeta.open(env, out, identities=[identity], share=unmeta.Share(share.id, bytes(16), T), now=T)
    with pytest.raises(unmeta.NoKeyError, match="for id"):
        unmeta.open(env, out, identities=[identity], share=unmeta.Share("0" * 32, share.key, T), now=T)
    assert not out.exists()
    # an exception of the fetcher reaches the caller unchanged
    with pytest.raises(ConnectionError):
        unmeta.open(env, identities=[identity], share=lambda sid: (_ for _ in ()).throw(ConnectionError("down")))
    with pytest.raises(unmeta.InvalidArgumentError):
        unmeta.open(env, identities=[identity], share=lambda sid: b"short")
    # the store cannot open it without an identity; shares need recipients
    with pytest.raises(unmeta.NoKeyError):
        unmeta.open(env, identities=[unmeta.keygen()[0]], share=share)
    with pytest.raises(unmeta.InvalidArgumentError):
        unmeta.seal(sample, passphrase="pw", work_factor=10, share=True)
    # no expiry: not_after is None
    assert unmeta.seal(sample, recipients=[recipient], share=True)[1].not_after is None


def test_age_cannot_open_a_share_envelope(sample, keys, tmp_path):
    identity, recipient = keys
    env, _share = unmeta.seal(sample, recipients=[recipient], share=True)
    r = age_decrypt(env, identity, tmp_path)
    assert r.returncode != 0 and not r.stdout
    assert b"header MAC" in r.stderr


def test_c_side_secrets_are_wiped(sample, keys, monkeypatch):
    freed = []
    real_free_secret = _lib.unmeta_free_secret

    def free_secret(p):
        freed.append(p.value)
        real_free_secret(p)
    monkeypatch.setattr(_lib, "unmeta_free_secret", free_secret)
    unmeta.keygen()
    assert len(freed) == 1 and freed[0]
    # the ctypes copies of identities and passphrases are zeroed after the call
    bufs = []
    real_buffer = unmeta._Secrets.buffer

    def buffer(self, data):
        b = real_buffer(self, data)
        bufs.append(b)
        return b
    monkeypatch.setattr(unmeta._Secrets, "buffer", buffer)
    identity, recipient = keys
    env = unmeta.seal(b"x", passphrase="secret words", strip=False, work_factor=10)
    unmeta.open(env, passphrase="secret words")
    unmeta.open(unmeta.seal(sample, recipients=[recipient]), identities=[identity])
    assert len(bufs) >= 4
    assert all(bytes(b) == bytes(len(b)) for b in bufs)
    # and the share struct handed back is wiped: only the Python copy remains
    wiped = []
    real_wipe = _lib.unmeta_share_wipe

    def share_wipe(p):
        real_wipe(p)
        wiped.append(bytes(p._obj.key) + p._obj.id)
    monkeypatch.setattr(_lib, "unmeta_share_wipe", share_wipe)
    _env, share = unmeta.seal(sample, recipients=[recipient], share=True)
    assert wiped == [bytes(16)] and len(share.key) == 16
