"""Envelopes: `unmeta keygen | seal | open | share`, judged by the real age
CLI (which we did not write) in both directions, by the C2SP CCTV age test
vectors, and by INFO blocks built here by hand from docs/envelope.md.

Passphrases reach unmeta through UNMETA_PASSPHRASE_FD and age through a
pseudo-terminal (age reads them from /dev/tty only).
"""
import hashlib
import io
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import tarfile
import tempfile
import time
import zlib
import base64

import harness
from harness import read, write, unmeta, need

MAGIC = b"\x89unmeta\n"
CHUNK = 65536


def padme(n):
    if n < 2:
        return n
    e = n.bit_length() - 1
    s = e.bit_length()
    mask = (1 << (e - s)) - 1
    return (n + mask) & ~mask


def info_block(crit=1, flags=0, not_after=0, created=0, length=0, ctype=b"", version=1, size=96, reserved=b""):
    """INFO as docs/envelope.md lays it out, built independently of the C code."""
    b = MAGIC + struct.pack(">HHIIqqQ", version, size, crit, flags, not_after, created, length)
    b += ctype.ljust(32, b"\0")
    b += reserved.ljust(20, b"\0")
    assert len(b) == 96
    return b


def parse_info(p):
    assert p[:8] == MAGIC, p[:16]
    version, size, crit, flags, not_after, created, length = struct.unpack(">HHIIqqQ", p[8:44])
    return dict(version=version, size=size, crit=crit, flags=flags, not_after=not_after, created=created,
                length=length, ctype=p[44:76].rstrip(b"\0").decode(), reserved=p[76:96])


def keypair(t, name="key.txt"):
    path = t.path(name)
    r = unmeta("keygen", "-o", path)
    assert r.returncode == 0, r.stderr
    rcp = unmeta("keygen", "-y", path, check=True).stdout.decode().strip()
    return path, rcp


def age_decrypt(t, key, env):
    need("age")
    out = t.path("age.out")
    harness.run(["age", "-d", "-i", key, "-o", out, env], check=True)
    return read(out)


def open_env(t, env, *opts, key=None, passphrase=None, out=None):
    out = out or t.path("opened.out")
    if os.path.exists(out):
        os.unlink(out)
    args = ["open", "-f", "-o", out]
    if key:
        args += ["-i", key]
    env_vars = dict(os.environ)
    fds = ()
    if passphrase is not None:
        r, w = os.pipe()
        os.write(w, passphrase.encode() + b"\n")
        os.close(w)
        env_vars["UNMETA_PASSPHRASE_FD"] = str(r)
        fds = (r,)
        args.append("-p")
    res = harness.run([harness.UNMETA, *args, *opts, env], env=env_vars, pass_fds=fds)
    for fd in fds:
        os.close(fd)
    return res, out


def seal(t, src, *opts, passphrase=None, out=None):
    out = out or t.path("sealed.age")
    env_vars = dict(os.environ)
    fds = ()
    if passphrase is not None:
        r, w = os.pipe()
        os.write(w, passphrase.encode() + b"\n")
        os.close(w)
        env_vars["UNMETA_PASSPHRASE_FD"] = str(r)
        fds = (r,)
    res = harness.run([harness.UNMETA, "seal", "-f", "-o", out, *opts, src], env=env_vars, pass_fds=fds)
    for fd in fds:
        os.close(fd)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    return out


def age_pty(args, passphrase, timeout=120):
    """Runs age with a terminal, answering every passphrase prompt."""
    need("age")
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(args[0], args)
    seen, answered, buf = 0, 0, b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 1)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            buf += data
            seen = buf.lower().count(b"passphrase")
            while answered < seen:
                os.write(fd, passphrase.encode() + b"\n")
                answered += 1
        else:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                os.close(fd)
                return os.waitstatus_to_exitcode(status), buf
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), buf


def photo(t, name="photo.jpg"):
    """A JPEG with GPS and an owner name (canaries), made by ImageMagick and exiftool."""
    need("convert", "exiftool")
    p = t.path(name)
    harness.run(["convert", "-size", "64x48", "gradient:red-blue", "-quality", "90", p], check=True)
    harness.run(["exiftool", "-q", "-overwrite_original", "-GPSLatitude=48.8584", "-GPSLatitudeRef=N",
                 "-GPSLongitude=2.2945", "-GPSLongitudeRef=E", "-Artist=CANARY-ENVELOPE-OWNER", p], check=True)
    return p


# ---- keys -------------------------------------------------------------------

def test_keygen_format_and_mode(t):
    key, rcp = keypair(t)
    assert os.stat(key).st_mode & 0o777 == 0o600, oct(os.stat(key).st_mode)
    text = read(key).decode()
    assert re.search(r"^AGE-SECRET-KEY-1[0-9A-Z]{58}$", text, re.M), text
    assert re.fullmatch(r"age1[0-9a-z]{58}", rcp), rcp
    need("age-keygen")
    assert harness.run(["age-keygen", "-y", key], check=True).stdout.decode().strip() == rcp
    r = unmeta("keygen", "-o", key)
    assert r.returncode == 2 and read(key).decode() == text, "an existing key file was overwritten"


# ---- unmeta seals, age opens ------------------------------------------------

def test_seal_strips_then_age_decrypts(t):
    key, rcp = keypair(t)
    src = photo(t)
    env = seal(t, src, "-r", rcp, "--expires", "30d")
    plain = age_decrypt(t, key, env)
    info = parse_info(plain)
    stripped = read(t.strip(src))
    assert info["version"] == 1 and info["size"] == 96 and info["crit"] == 1, info
    assert info["flags"] & 1, "the stripped flag is not set"
    assert info["ctype"] == "image/jpeg" and info["length"] == len(stripped), info
    assert info["created"] == 0, "creation time recorded without --record-time"
    assert abs(info["not_after"] - (time.time() + 30 * 86400)) < 120, info
    assert info["reserved"] == b"\0" * 20
    assert plain[96:96 + len(stripped)] == stripped, "content is not the stripped file"
    assert len(plain) == padme(96 + len(stripped)), (len(plain), padme(96 + len(stripped)))
    assert plain[96 + len(stripped):].count(0) == len(plain) - 96 - len(stripped), "padding is not zero"
    assert b"CANARY-ENVELOPE-OWNER" not in plain
    assert b"photo" not in plain and b"photo" not in read(env), "the file name is stored"
    # and unmeta opens it back to the stripped bytes
    r, out = open_env(t, env, key=key)
    assert r.returncode == 0, r.stderr
    assert read(out) == stripped
    assert b"image/jpeg" in r.stderr and b"expires" in r.stderr, r.stderr


def test_no_pad_and_record_time(t):
    key, rcp = keypair(t)
    src = t.path("blob.bin")
    write(src, os.urandom(5000))
    env = seal(t, src, "-r", rcp, "--no-strip", "--no-pad", "--record-time")
    plain = age_decrypt(t, key, env)
    info = parse_info(plain)
    assert len(plain) == 96 + 5000 and info["crit"] == 0, (len(plain), info)
    assert abs(info["created"] - time.time()) < 120 and info["flags"] == 0, info
    assert info["ctype"] == "application/octet-stream"


def test_refuses_unsupported_without_no_strip(t):
    key, rcp = keypair(t)
    src = t.path("blob.bin")
    write(src, os.urandom(3000))
    out = t.path("x.age")
    r = unmeta("seal", "-r", rcp, "-o", out, src)
    assert r.returncode == 2 and b"--no-strip" in r.stderr, r.stderr
    assert not os.path.exists(out)


def test_passphrase_unmeta_seals_age_opens(t):
    src = t.path("blob.bin")
    write(src, os.urandom(70000))
    env = seal(t, src, "-p", "--no-strip", passphrase="correct horse battery")
    assert b"-> scrypt " in read(env)[:200]
    out = t.path("age.out")
    code, tty = age_pty(["age", "-d", "-o", out, env], "correct horse battery")
    assert code == 0, tty
    plain = read(out)
    assert plain[96:96 + 70000] == read(src) and len(plain) == padme(96 + 70000)
    r, out2 = open_env(t, env, passphrase="correct horse battery")
    assert r.returncode == 0 and read(out2) == read(src), r.stderr
    r, out3 = open_env(t, env, passphrase="wrong")
    assert r.returncode == 2 and b"wrong passphrase" in r.stderr and not os.path.exists(out3), r.stderr


# ---- age seals, unmeta opens ------------------------------------------------

def test_age_x25519_plain_file_opens_unchanged(t):
    need("age")
    key, rcp = keypair(t)
    _, other = keypair(t, "other.txt")
    src = t.path("plain.bin")
    write(src, os.urandom(200000))
    env = t.path("plain.age")
    harness.run(["age", "-e", "-r", other, "-r", rcp, "-o", env, src], check=True)
    r, out = open_env(t, env, key=key)
    assert r.returncode == 0, r.stderr
    assert read(out) == read(src)
    assert b"plain age file" in r.stderr, r.stderr
    # ASCII armor (age -a), and an armored file cut short
    harness.run(["age", "-e", "-a", "-r", rcp, "-o", env, src], check=True)
    r, out = open_env(t, env, key=key)
    assert r.returncode == 0 and read(out) == read(src), r.stderr
    write(env, read(env)[:-40])
    r, out = open_env(t, env, key=key)
    assert r.returncode == 2 and b"armor:" in r.stderr and not os.path.exists(out), r.stderr


def test_age_passphrase_plain_file_opens(t):
    src = t.path("plain.bin")
    write(src, b"passphrase interop " * 1000)
    env = t.path("plain.age")
    code, tty = age_pty(["age", "-e", "-p", "-o", env, src], "hunter2 hunter2")
    assert code == 0, tty
    # age uses work factor 2^18 (256 MiB): over unmeta's default cap
    r, out = open_env(t, env, passphrase="hunter2 hunter2")
    assert r.returncode == 2 and b"work factor" in r.stderr and not os.path.exists(out), r.stderr
    r, out = open_env(t, env, "--max-work-factor", "18", passphrase="hunter2 hunter2")
    assert r.returncode == 0, r.stderr
    assert read(out) == read(src)


def test_info_by_hand_through_age(t):
    """INFO blocks built here from the documentation, encrypted by age."""
    need("age")
    key, rcp = keypair(t)
    content = b"hand-built content " * 100

    def attempt(plain):
        src = t.path("hand.bin")
        env = t.path("hand.age")
        write(src, plain)
        harness.run(["age", "-e", "-r", rcp, "-o", env, src], check=True)
        return open_env(t, env, key=key)

    good = info_block(crit=1, length=len(content), ctype=b"text/plain")
    good_plain = good + content + b"\0" * (padme(96 + len(content)) - 96 - len(content))
    r, out = attempt(good_plain)
    assert r.returncode == 0 and read(out) == content, r.stderr
    assert b"text/plain" in r.stderr
    # unpadded
    r, out = attempt(info_block(crit=0, length=len(content)) + content)
    assert r.returncode == 0 and read(out) == content, r.stderr
    # unknown ignorable flag: fine
    r, out = attempt(info_block(crit=1, flags=0x80000000, length=len(content)) + good_plain[96:])
    assert r.returncode == 0 and read(out) == content, r.stderr
    refusals = {
        "unknown critical flag": (info_block(crit=1 | 0x40, length=len(content)) + good_plain[96:], b"critical"),
        "version 2": (info_block(version=2, length=len(content)) + good_plain[96:], b"version"),
        "reserved byte": (info_block(length=len(content), reserved=b"\0\x01") + good_plain[96:], b"reserved"),
        "padding not zero": (good_plain[:-1] + b"\x01", b"padding"),
        "padding missing": (good + content, b"truncated"),
        "content longer than INFO": (info_block(crit=0, length=len(content) - 1) + content, b"extended"),
        "INFO cut short": (good[:50], b"INFO"),
    }
    for name, (plain, word) in refusals.items():
        r, out = attempt(plain)
        assert r.returncode == 2, f"{name}: accepted"
        assert word in r.stderr, f"{name}: {r.stderr!r}"
        assert not os.path.exists(out), f"{name}: output left behind"
    # an expired one, refused before any byte, opened with --allow-expired
    r, out = attempt(info_block(crit=1, not_after=1000000000, length=len(content)) + good_plain[96:])
    assert r.returncode == 2 and b"expired on 2001-09-09 01:46:40 UTC" in r.stderr, r.stderr
    assert not os.path.exists(out)
    r, out = open_env(t, t.path("hand.age"), "--allow-expired", key=key)
    assert r.returncode == 0 and read(out) == content and b"EXPIRED" in r.stderr, r.stderr


# ---- expiry, tampering, errors ----------------------------------------------

def test_expiry_with_the_system_clock(t):
    key, rcp = keypair(t)
    src = t.path("blob.bin")
    write(src, b"short-lived " * 10)
    env = seal(t, src, "-r", rcp, "--no-strip", "--expires", "2s")
    r, out = open_env(t, env, key=key)
    assert r.returncode == 0, r.stderr
    time.sleep(3.2)
    r, out = open_env(t, env, key=key)
    assert r.returncode == 2 and b"expired on" in r.stderr, r.stderr
    assert not os.path.exists(out)
    r, out = open_env(t, env, "--allow-expired", key=key)
    assert r.returncode == 0 and read(out) == read(src)


def test_expires_parsing(t):
    key, rcp = keypair(t)
    src = t.path("blob.bin")
    write(src, b"x" * 10)
    for when, ok in (("24h", True), ("7d", True), ("2w", True), ("2099-12-31", True), ("2099-12-31T18:00Z", True),
                     ("2099-12-31T18:00:30Z", True), ("2001-01-01", False), ("2099-02-31", False), ("7x", False),
                     ("-1d", False), ("2099-12-31T18:00", False), ("0d", False)):
        out = t.path("e.age")
        if os.path.exists(out):
            os.unlink(out)
        r = unmeta("seal", "-r", rcp, "--no-strip", "--expires", when, "-o", out, src)
        assert (r.returncode == 0) == ok, f"--expires {when}: exit {r.returncode} {r.stderr!r}"
    plain = age_decrypt(t, key, seal(t, src, "-r", rcp, "--no-strip", "--expires", "2099-12-31T18:00Z"))
    assert parse_info(plain)["not_after"] == 4102423200


def test_header_flips_and_truncations_refused(t):
    key, rcp = keypair(t)
    src = t.path("blob.bin")
    write(src, os.urandom(140000))  # three chunks
    env = seal(t, src, "-r", rcp, "--no-strip")
    data = read(env)
    hlen = data.index(b"\n---") + 1
    hlen = data.index(b"\n", hlen) + 1
    bad = t.path("bad.age")
    for i in range(hlen):
        flipped = bytearray(data)
        flipped[i] ^= 0x20
        write(bad, bytes(flipped))
        r, out = open_env(t, bad, key=key)
        assert r.returncode == 2 and r.stderr.strip(), f"header byte {i} flipped: accepted"
        assert not os.path.exists(out)
    payload = hlen + 16
    cuts = [hlen, payload, payload + CHUNK + 16, payload + 2 * (CHUNK + 16), len(data) - 1, len(data) - 16]
    for cut in cuts:
        write(bad, data[:cut])
        r, out = open_env(t, bad, key=key)
        assert r.returncode == 2, f"truncated at {cut}: accepted"
        assert not os.path.exists(out), f"truncated at {cut}: output left"
        if cut > payload:
            assert b"envelope failed authentication" in r.stderr, r.stderr
    leftovers = [n for n in os.listdir(t.tmp) if "unmeta-tmp" in n]
    assert not leftovers, leftovers


def test_distinct_errors(t):
    key, rcp = keypair(t)
    other, _ = keypair(t, "other.txt")
    src = t.path("blob.bin")
    write(src, b"y" * 100)
    env = seal(t, src, "-r", rcp, "--no-strip")
    r, _ = open_env(t, env, key=other)
    assert b"no match" in r.stderr and b"no identity, passphrase or key-release share opens" in r.stderr, r.stderr
    r, _ = open_env(t, env, passphrase="nope")
    assert b"not a passphrase" in r.stderr, r.stderr
    data = bytearray(read(env))
    data[-5] ^= 1
    write(t.path("bad.age"), bytes(data))
    r, _ = open_env(t, t.path("bad.age"), key=key)
    assert b"envelope failed authentication" in r.stderr and b"final chunk" in r.stderr, r.stderr


# ---- the threaded chunk stream (docs/envelope.md, "Threads and memory") ------

BATCH = 16  # chunks per slot in lib/envelope/stream.c


def test_chunk_boundaries_age_decrypts(t):
    """Envelopes whose plaintext (INFO + content, no padding) ends around
    chunk and batch boundaries: age -d gives back INFO and the content, and
    so does unmeta; one is also sealed to a pipe."""
    need("age")
    key, rcp = keypair(t)
    src = t.path("blob.bin")
    for plain in (96, 97, CHUNK - 1, CHUNK, CHUNK + 1, BATCH * CHUNK, BATCH * CHUNK + 1, 40 * CHUNK + 5):
        content = os.urandom(plain - 96)
        write(src, content)
        env = seal(t, src, "-r", rcp, "--no-strip", "--no-pad")
        data = read(env)
        hlen = data.index(b"\n---") + 1
        hlen = data.index(b"\n", hlen) + 1
        chunks = max(1, -(-plain // CHUNK))
        assert len(data) == hlen + 16 + plain + 16 * chunks, (plain, len(data))
        got = age_decrypt(t, key, env)
        assert len(got) == plain and parse_info(got)["length"] == len(content), plain
        assert got[96:] == content, f"plaintext {plain}: age -d disagrees"
        r, out = open_env(t, env, key=key)
        assert r.returncode == 0 and read(out) == content, (plain, r.stderr)
    r = harness.run([harness.UNMETA, "seal", "-r", rcp, "--no-strip", "-o", "-", src])
    assert r.returncode == 0, r.stderr
    write(t.path("piped.age"), r.stdout)
    assert age_decrypt(t, key, t.path("piped.age"))[96:96 + len(content)] == content


def test_age_files_around_chunk_boundaries_open(t):
    """Plain age files of 0, 1, 65535... bytes open unchanged, to a file and
    to standard output."""
    need("age")
    key, rcp = keypair(t)
    src, env = t.path("plain.bin"), t.path("plain.age")
    for n in (0, 1, CHUNK - 1, CHUNK, CHUNK + 1, BATCH * CHUNK, BATCH * CHUNK + 1, 41 * CHUNK):
        content = os.urandom(n)
        write(src, content)
        harness.run(["age", "-e", "-r", rcp, "-o", env, src], check=True)
        r, out = open_env(t, env, key=key)
        assert r.returncode == 0 and read(out) == content, (n, r.stderr)
    r = harness.run([harness.UNMETA, "open", "-i", key, "-o", "-", env])
    assert r.returncode == 0 and r.stdout == content, r.stderr


def test_damaged_chunks_refused_wherever_they_land(t):
    """A 40-chunk age file altered in a chunk that a worker opens, with two
    chunks swapped, or cut at a chunk boundary (so the last chunk lacks
    its flag): refused, the chunk named, no output left."""
    need("age")
    key, rcp = keypair(t)
    src, env, bad = t.path("plain.bin"), t.path("plain.age"), t.path("bad.age")
    write(src, os.urandom(40 * CHUNK + 1000))
    harness.run(["age", "-e", "-r", rcp, "-o", env, src], check=True)
    data = read(env)
    base = data.index(b"\n---") + 1
    base = data.index(b"\n", base) + 1 + 16
    cc = CHUNK + 16

    def refused(blob, chunk, words):
        write(bad, blob)
        r, out = open_env(t, bad, key=key)
        assert r.returncode == 2 and not os.path.exists(out), (chunk, r.returncode, r.stderr)
        assert f"(chunk {chunk})".encode() in r.stderr and words in r.stderr, r.stderr

    for chunk in (3, BATCH + 1, 33, 40):
        d = bytearray(data)
        d[base + chunk * cc + 99] ^= 0x04
        refused(bytes(d), chunk, b"final chunk" if chunk == 40 else b"a chunk failed authentication")
    d = bytearray(data)
    d[base + 20 * cc:base + 21 * cc], d[base + 30 * cc:base + 31 * cc] = \
        data[base + 30 * cc:base + 31 * cc], data[base + 20 * cc:base + 21 * cc]
    refused(bytes(d), 20, b"reordered")
    refused(data[:base + 30 * cc], 29, b"final chunk")
    leftovers = [n for n in os.listdir(t.tmp) if "unmeta-tmp" in n]
    assert not leftovers, leftovers


# ---- share and names --------------------------------------------------------

def test_share_and_random_names(t):
    key, rcp = keypair(t)
    src = photo(t, "holiday-CANARYNAME.jpg")
    exe = os.path.abspath(harness.UNMETA) if os.sep in harness.UNMETA else harness.UNMETA
    r = harness.run([exe, "share", src, "--to", rcp], cwd=t.tmp)
    assert r.returncode == 0, r.stderr
    name = r.stdout.decode().strip()
    assert re.fullmatch(r"[0-9a-f]{16}\.age", name), name
    env = os.path.join(t.tmp, name)
    assert b"CANARYNAME" not in read(env)
    plain = age_decrypt(t, key, env)
    info = parse_info(plain)
    assert abs(info["not_after"] - (time.time() + 7 * 86400)) < 120, info
    assert b"CANARYNAME" not in plain and b"CANARY-ENVELOPE-OWNER" not in plain
    r = harness.run([exe, "open", "-i", key, env], cwd=t.tmp)
    assert r.returncode == 0, r.stderr
    opened = r.stdout.decode().strip()
    assert re.fullmatch(r"[0-9a-f]{16}\.jpg", opened), opened
    assert read(os.path.join(t.tmp, opened)) == read(t.strip(src))


# ---- key-release shares (docs/envelope.md, "Key-release shares") -------------

SHARE_ID = re.compile(rb"^-> unmeta-share ([0-9a-f]{32})\n([A-Za-z0-9+/]{43})\n", re.M)


def share_file(store, sid):
    """The documented share file, parsed strictly."""
    text = read(os.path.join(store, sid)).decode()
    m = re.fullmatch(r"# unmeta key-release share\nid: ([0-9a-f]{32})\nnot-after: (0|[1-9][0-9]*)\n"
                     r"key: ([0-9a-f]{32})\n", text)
    assert m and m.group(1) == sid, text
    return int(m.group(2)), bytes.fromhex(m.group(3))


def seal_shared(t, src, rcp, store, *opts, out=None):
    env = seal(t, src, "-r", rcp, "--no-strip", "--share-store", store, *opts, out=out)
    m = SHARE_ID.search(read(env))
    assert m, read(env)[:300]
    return env, m.group(1).decode()


def hkdf(ikm, salt, info, n=32):
    import hmac
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, t_prev, i = b"", b"", 1
    while len(out) < n:
        t_prev = hmac.new(prk, t_prev + info + bytes([i]), hashlib.sha256).digest()
        out += t_prev
        i += 1
    return out[:n]


def bech32_data(s):
    alpha = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
    s = s.lower()
    vals = [alpha.index(c) for c in s[s.rindex("1") + 1:]][:-6]
    acc, bits, out = 0, 0, bytearray()
    for v in vals:
        acc, bits = acc << 5 | v, bits + 5
        if bits >= 8:
            bits -= 8
            out.append(acc >> bits & 0xff)
    return bytes(out)


def test_share_store_round_trip(t):
    key, rcp = keypair(t)
    store = t.path("store")
    src = t.path("blob.bin")
    write(src, b"released only with the share " * 3000)  # two chunks
    env, sid = seal_shared(t, src, rcp, store, "--expires", "1h")
    assert os.stat(store).st_mode & 0o777 == 0o700, oct(os.stat(store).st_mode)
    assert os.stat(os.path.join(store, sid)).st_mode & 0o777 == 0o600
    assert os.listdir(store) == [sid], os.listdir(store)
    not_after, k2 = share_file(store, sid)
    assert abs(not_after - (time.time() + 3600)) < 120, not_after
    data = read(env)
    assert k2 not in data and k2.hex().encode() not in data, "the share is stored with the envelope"
    hlen = data.index(b"\n--- ") + 48
    assert str(not_after).encode() not in data[:hlen], "the expiry is in clear in the header"
    # without the share: the distinct error naming the ID, nothing released
    r, out = open_env(t, env, key=key)
    assert r.returncode == 2 and not os.path.exists(out), r.stderr
    assert f"this envelope needs its key-release share (id {sid})".encode() in r.stderr, r.stderr
    assert b"--share-store" in r.stderr, r.stderr
    # with it
    r, out = open_env(t, env, "--share-store", store, key=key)
    assert r.returncode == 0 and read(out) == read(src), r.stderr
    assert f"key-release share {sid}".encode() in r.stderr
    # a damaged share is refused as such, and no output appears
    good = read(os.path.join(store, sid))
    bad = bytearray(good)
    bad[-3] = ord("0") if bad[-3] != ord("0") else ord("1")
    write(os.path.join(store, sid), bytes(bad))
    r, out = open_env(t, env, "--share-store", store, key=key)
    assert r.returncode == 2 and b"wrong or damaged share" in r.stderr and not os.path.exists(out), r.stderr
    # a share file that is not in the documented form is not used
    write(os.path.join(store, sid), good.replace(b"not-after: ", b"not-after:  "))
    r, out = open_env(t, env, "--share-store", store, key=key)
    assert r.returncode == 2 and b"not a valid share file" in r.stderr and not os.path.exists(out), r.stderr
    write(os.path.join(store, sid), good)
    # another identity never gets as far as the store
    other, _ = keypair(t, "other.txt")
    r, out = open_env(t, env, "--share-store", store, key=other)
    assert r.returncode == 2 and b"no match" in r.stderr, r.stderr


def test_age_cannot_open_without_the_share(t):
    """age ignores the unmeta-share stanza, unwraps the recipient's half of the
    key, and fails the header MAC: without the share nobody opens it."""
    need("age")
    key, rcp = keypair(t)
    store = t.path("store")
    src = t.path("blob.bin")
    write(src, b"CANARY-SHARED-CONTENT " * 100)
    env, sid = seal_shared(t, src, rcp, store)
    out = t.path("age.out")
    r = harness.run(["age", "-d", "-i", key, "-o", out, env])
    assert r.returncode != 0 and b"header MAC" in r.stderr, r.stderr
    assert not os.path.exists(out) or b"CANARY-SHARED-CONTENT" not in read(out)
    # the same file without a share opens with age (the control)
    plain = seal(t, src, "-r", rcp, "--no-strip", out=t.path("plain.age"))
    assert b"CANARY-SHARED-CONTENT" in age_decrypt(t, key, plain)


def test_share_layout_by_hand(t):
    """Rebuilds the file key from docs/envelope.md alone: X25519 unwraps
    k1, file key = k1 XOR share key, the stanza body is the documented check
    value, the header MAC and the first chunk verify under the file key."""
    try:
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
        from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
    except ImportError:
        harness.missing("python3 cryptography is not installed (Debian python3-cryptography)")
    import hmac
    key, rcp = keypair(t)
    store = t.path("store")
    src = t.path("blob.bin")
    write(src, b"by hand " * 50)
    env, sid = seal_shared(t, src, rcp, store, "--expires", "2d")
    not_after, k2 = share_file(store, sid)
    data = read(env)
    m = SHARE_ID.search(data)
    check = base64.b64decode(m.group(2) + b"=")
    assert check == hkdf(k2, bytes.fromhex(sid), b"unmeta-share check"), "check value differs from the document"
    ident = next(line for line in read(key).decode().splitlines() if line.startswith("AGE-SECRET-KEY-1"))
    sk = X25519PrivateKey.from_private_bytes(bech32_data(ident))
    pk = sk.public_key().public_bytes_raw()
    xm = re.search(rb"^-> X25519 ([A-Za-z0-9+/]{43})\n([A-Za-z0-9+/]{43})\n", data, re.M)
    eph = base64.b64decode(xm.group(1) + b"=")
    shared = sk.exchange(X25519PublicKey.from_public_bytes(eph))
    wrap = hkdf(shared, eph + pk, b"age-encryption.org/v1/X25519")
    k1 = ChaCha20Poly1305(wrap).decrypt(b"\0" * 12, base64.b64decode(xm.group(2) + b"="), None)
    file_key = bytes(a ^ b for a, b in zip(k1, k2))
    mac_at = data.index(b"\n---") + 4
    mac = base64.b64decode(data[mac_at + 1:mac_at + 44] + b"=")
    assert hmac.new(hkdf(file_key, b"", b"header"), data[:mac_at], hashlib.sha256).digest() == mac
    assert hmac.new(hkdf(k1, b"", b"header"), data[:mac_at], hashlib.sha256).digest() != mac
    body = mac_at + 45
    nonce = data[body:body + 16]
    plain = ChaCha20Poly1305(hkdf(file_key, nonce, b"payload")).decrypt(b"\0" * 11 + b"\x01", data[body + 16:], None)
    info = parse_info(plain)
    assert info["not_after"] == not_after and plain[96:96 + 400] == read(src), info


def test_share_store_gc(t):
    key, rcp = keypair(t)
    store = t.path("store")
    src = t.path("blob.bin")
    write(src, b"gc " * 100)
    short, sid_short = seal_shared(t, src, rcp, store, "--expires", "1h", out=t.path("short.age"))
    long_, sid_long = seal_shared(t, src, rcp, store, "--expires", "30d", out=t.path("long.age"))
    forever, sid_forever = seal_shared(t, src, rcp, store, out=t.path("forever.age"))
    assert share_file(store, sid_forever)[0] == 0
    write(os.path.join(store, "README"), b"not a share: left alone")
    # nothing has expired yet
    r = unmeta("share-store", "gc", store)
    assert r.returncode == 0 and r.stdout == b"" and b"0 expired shares deleted, 3 kept" in r.stderr, r.stderr
    # two hours later: the short one goes, and only it
    r = unmeta("share-store", "gc", store, "--now", "2h")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().startswith(f"deleted {sid_short} (expired "), r.stdout
    assert len(r.stdout.splitlines()) == 1 and b"1 expired share deleted, 2 kept" in r.stderr, r.stderr
    assert sorted(os.listdir(store)) == sorted([sid_long, sid_forever, "README"]), os.listdir(store)
    # after that the envelope opens for nobody: unmeta (even --allow-expired) ...
    r, out = open_env(t, short, "--share-store", store, "--allow-expired", key=key)
    assert r.returncode == 2 and b"no longer holds it" in r.stderr and not os.path.exists(out), r.stderr
    # ... while the others still open
    for env in (long_, forever):
        r, out = open_env(t, env, "--share-store", store, key=key)
        assert r.returncode == 0 and read(out) == read(src), r.stderr
    # --now as a date and as @seconds
    r = unmeta("share-store", "gc", store, "--now", "@" + str(share_file(store, sid_long)[0]))
    assert r.returncode == 0 and sid_long in os.listdir(store), "deleted at not_after, not after it"
    r = unmeta("share-store", "gc", store, "--now", "2999-01-01")
    assert r.returncode == 0 and sorted(os.listdir(store)) == sorted([sid_forever, "README"]), r.stderr
    # a damaged share file is named and kept, and gc says so in its status
    bogus = "0" * 32
    write(os.path.join(store, bogus), b"# unmeta key-release share\nid: nonsense\n")
    r = unmeta("share-store", "gc", store, "--now", "2999-01-01")
    assert r.returncode == 2 and bogus.encode() in r.stderr and bogus in os.listdir(store), r.stderr
    for bad in (["share-store", "gc"], ["share-store", "gc", store, "--now", "soon"],
                ["share-store", "gc", t.path("nowhere")], ["share-store", "list", store]):
        assert unmeta(*bad).returncode == 2, bad


def test_expired_share_is_never_released(t):
    """The store deletes a share it finds past its expiry instead of
    returning it (Redis EXAT behaves the same), gc or not."""
    key, rcp = keypair(t)
    store = t.path("store")
    src = t.path("blob.bin")
    write(src, b"brief " * 10)
    env, sid = seal_shared(t, src, rcp, store, "--expires", "2s")
    r, out = open_env(t, env, "--share-store", store, key=key)
    assert r.returncode == 0 and read(out) == read(src), r.stderr
    time.sleep(3.2)
    r, out = open_env(t, env, "--share-store", store, "--allow-expired", key=key)
    assert r.returncode == 2 and b"had expired; deleted it" in r.stderr and not os.path.exists(out), r.stderr
    assert sid not in os.listdir(store)


def test_share_command_and_refusals(t):
    key, rcp = keypair(t)
    store = t.path("store")
    src = photo(t)
    out = t.path("shared.age")
    r = unmeta("share", src, "--to", rcp, "--share-store", store, "-o", out)
    assert r.returncode == 0, r.stderr
    sid = SHARE_ID.search(read(out)).group(1).decode()
    assert abs(share_file(store, sid)[0] - (time.time() + 7 * 86400)) < 120
    r, opened = open_env(t, out, "--share-store", store, key=key)
    assert r.returncode == 0 and read(opened) == read(t.strip(src)), r.stderr
    # a passphrase envelope cannot carry a share (age: scrypt stanzas stand alone)
    r = unmeta("seal", "-p", "--share-store", store, "-o", t.path("p.age"), src)
    assert r.returncode == 2 and b"--share-store needs recipients" in r.stderr, r.stderr
    # a store that cannot be written: no envelope is left behind
    blocker = t.path("file-not-dir")
    write(blocker, b"x")
    out2 = t.path("orphan.age")
    r = unmeta("seal", "-r", rcp, "--share-store", blocker, "-o", out2, src)
    assert r.returncode == 2 and not os.path.exists(out2), r.stderr
    # opening an envelope without a share while a store is given changes nothing
    plain = seal(t, src, "-r", rcp, out=t.path("plain.age"))
    r, opened = open_env(t, plain, "--share-store", store, key=key)
    assert r.returncode == 0 and b"key-release share" not in r.stderr, r.stderr


def test_share_docs_describe_the_platform_store(t):
    """The document a platform follows names the stanza, the store file and
    the Redis and KMS recipes that the CLI's folder stands in for."""
    root = os.environ.get("UNMETA_SOURCE_ROOT") or os.path.join(os.path.dirname(__file__), "..")
    doc = open(os.path.join(root, "docs", "envelope.md")).read()
    for needle in ("-> unmeta-share <id>", "unmeta-share check", "SET unmeta:share:", "EXAT", "GET unmeta:share:",
                   "file key = k1 XOR share key", "bad header MAC", "share-store gc", "KMS"):
        assert needle in doc, f"docs/envelope.md does not mention {needle!r}"


# ---- C2SP CCTV age test vectors -----------------------------------------------

def cctv_vectors():
    """The cctv-age npm package, fetched once with `npm pack` into a cache."""
    cache = os.environ.get("UNMETA_TEST_CACHE") or os.path.join(tempfile.gettempdir(), "unmeta-test-cache")
    folder = os.path.join(cache, "cctv-age")
    index = os.path.join(folder, "package", "index.js")
    if not os.path.exists(index):
        if not shutil.which("npm"):
            harness.missing("npm is not installed: cannot fetch the CCTV age vectors")
        os.makedirs(folder, exist_ok=True)
        r = harness.run(["npm", "pack", "--silent", "cctv-age@0.2.0"], cwd=folder, timeout=120)
        tgz = [n for n in os.listdir(folder) if n.endswith(".tgz")]
        if r.returncode != 0 or not tgz:
            harness.missing("npm pack cctv-age failed (offline?): " + r.stderr.decode(errors="replace")[-200:])
        with tarfile.open(os.path.join(folder, tgz[0])) as tf:
            tf.extract("package/index.js", folder)
    text = read(index).decode()
    found = re.findall(r'// \.\./testdata/(\S+)\nvar \w+ = __toBinary\("([A-Za-z0-9+/=]*)"\)', text)
    if len(found) < 100:
        raise AssertionError(f"only {len(found)} vectors parsed from {index}")
    return [(n, base64.b64decode(b)) for n, b in found]


def classify(r):
    err = r.stderr.decode(errors="replace")
    if r.returncode == 0:
        return "success"
    if "key-release share opens the envelope]" in err:
        return "no match"
    if "armor:" in err:
        return "armor failure"
    if "header MAC mismatch" in err:
        return "HMAC failure"
    if "payload:" in err:
        return "payload failure"
    if "header:" in err:
        return "header failure"
    return "unclassified: " + err.strip()


def test_cctv_vectors(t):
    vectors = cctv_vectors()
    _, dummy_rcp = keypair(t, "dummy.txt")
    checked, skipped, bad = 0, {}, []
    for name, blob in vectors:
        head, body = blob.split(b"\n\n", 1)
        kv = {}
        for line in head.decode().split("\n"):
            k, v = line.split(": ", 1)
            kv.setdefault(k, []).append(v)
        expect = kv["expect"][0]
        ids = kv.get("identity", [])
        if any(i.startswith("AGE-SECRET-KEY-PQ-") for i in ids):
            skipped["ML-KEM-768 hybrid (not in libsodium 1.0.18)"] = skipped.get(
                "ML-KEM-768 hybrid (not in libsodium 1.0.18)", 0) + 1
            continue
        if kv.get("compressed") == ["zlib"]:
            body = zlib.decompress(body)
        env = t.path("v.age")
        write(env, body)
        keyfile = t.path("v.key")
        write(keyfile, ("\n".join(ids) + "\n").encode() if ids else read(t.path("dummy.txt")))
        r, out = open_env(t, env, key=keyfile, passphrase=kv["passphrase"][0] if "passphrase" in kv else None)
        got = classify(r)
        ok = got == expect
        if ok and expect == "success":
            ok = hashlib.sha256(read(out)).hexdigest() == kv["payload"][0]
            got += " (payload hash differs)" if not ok else ""
        # On failure nothing is released: the output file never appears.
        if ok and expect != "success" and os.path.exists(out):
            ok, got = False, got + " (output left behind)"
        checked += 1
        if not ok:
            bad.append(f"{name}: expected {expect}, got {got}")
    print(f"  CCTV: {checked} vectors checked, skipped: {skipped}")
    assert checked >= 120, checked
    assert not bad, "\n".join(bad)


harness.main(globals())
