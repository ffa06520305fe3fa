"""I/O faults: the file system fails under unmeta at every point of a run.

A preloaded shim (tests/faults/iofail.c, path in UNMETA_IOFAIL) first
counts the creates, reads, writes, kernel copies, fsyncs, chmods, closes,
links and renames a normal run makes, then each run of the sweep fails
exactly one of them (ENOSPC for space, EIO for the rest, EINTR where a
retry is due). After every run, every file of the work folder must be
byte-identical (sha256) to what it was before the run or to what the
normal run made of it, and nothing else may exist: no partial output, no
temporary file, an --in-place original untouched. A run that fails exits 2
and names the error; a run that succeeds despite the fault (a close of the
input, an EINTR) made exactly the normal output. Short reads and writes
(legal at any time) must give the normal output, from files and pipes.

Fixtures are made here: JPEG, PNG, WebP, HEIF (exiftool canaries), MP4 and
Matroska (through libavformat), and envelopes (seal/open, share store).
"""
import atexit
import hashlib
import os
import shutil
import subprocess

import harness
from harness import read, run, write

SHIM = os.environ.get("UNMETA_IOFAIL", "")
# The runs happen inside their work folders: the CLI by an absolute path.
UNMETA = os.path.abspath(harness.UNMETA) if os.sep in harness.UNMETA else harness.UNMETA
KINDS = ("create", "read", "write", "copy", "fsync", "fchmod", "close", "link", "rename")
# A fault of these kinds always hits the output (or the input being read):
# the run must fail. A close may be the input's, after the output is in place.
MUST_FAIL = {"create", "read", "write", "copy", "fsync", "fchmod", "link", "rename"}
ERRNO_TEXT = {"ENOSPC": "No space left on device", "EIO": "Input/output error", "EDQUOT": "Disk quota exceeded"}


def need_shim():
    if not SHIM or not os.path.exists(SHIM):
        raise harness.Skip("the iofail shim is not built (UNMETA_IOFAIL)")


def env(**extra):
    e = dict(os.environ)
    e["LD_PRELOAD"] = SHIM
    # a sanitizer runtime need not come first when a shim is preloaded
    e["ASAN_OPTIONS"] = (e.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0").lstrip(":")
    e.update({k: str(v) for k, v in extra.items()})
    return e


# ---- fixtures ---------------------------------------------------------------

def make_fixtures(d):
    """One small file with metadata per format; returns their names."""
    harness.need("convert", "exiftool")
    os.makedirs(d, exist_ok=True)
    names = []

    def p(n):
        return os.path.join(d, n)

    def exiftool(path, *tags):
        run(["exiftool", "-q", "-q", "-overwrite_original", *tags, path], check=True)

    run(["convert", "-seed", "1", "-size", "48x32", "plasma:", p("a.jpg")], check=True)
    exiftool(p("a.jpg"), "-GPSLatitude=48.8583", "-GPSLatitudeRef=N", "-Make=CANARY-IOF-JPEG")
    names.append("a.jpg")
    run(["convert", "-seed", "2", "-size", "48x32", "plasma:", p("b.png")], check=True)
    exiftool(p("b.png"), "-PNG:Comment=CANARY-IOF-PNG", "-Make=CANARY-IOF-PNG-MAKE")
    names.append("b.png")
    tmp_png = p(".c-src.png")
    run(["convert", "-seed", "3", "-size", "48x32", "plasma:", tmp_png], check=True)
    if shutil.which("cwebp"):
        run(["cwebp", "-quiet", tmp_png, "-o", p("c.webp")], check=True)
        exiftool(p("c.webp"), "-XMP:Creator=CANARY-IOF-WEBP")
        names.append("c.webp")
    if shutil.which("heif-enc"):
        run(["heif-enc", "-q", "50", "-o", p("e.heic"), tmp_png], check=True)
        exiftool(p("e.heic"), "-Make=CANARY-IOF-HEIF")
        names.append("e.heic")
    os.unlink(tmp_png)
    if shutil.which("ffmpeg"):
        src = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=duration=0.3:size=64x48:rate=10"]
        run(src + ["-c:v", "mpeg4", "-metadata", "title=CANARY-IOF-MP4", p("d.mp4")], check=True)
        names.append("d.mp4")
        run(src + ["-c:v", "ffv1", "-metadata", "title=CANARY-IOF-MKV", p("f.mkv")], check=True)
        names.append("f.mkv")
    return names


_cache = {}


def fixtures():
    """The fixtures, made once per suite run: (folder, names)."""
    if "dir" not in _cache:
        import tempfile
        d = tempfile.mkdtemp(prefix="unmeta-iofault-fixtures-")
        atexit.register(shutil.rmtree, d, True)
        _cache["dir"] = d
        _cache["names"] = make_fixtures(d)
    return _cache["dir"], _cache["names"]


# ---- the sweep --------------------------------------------------------------

def snapshot(root):
    """{relative path: sha256} of every file under root, hidden ones included."""
    out = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            out[os.path.relpath(p, root)] = hashlib.sha256(read(p)).hexdigest()
    return out


def parse_counts(path):
    counts = dict.fromkeys(KINDS, 0)
    if os.path.exists(path):
        for line in read(path).decode().splitlines():
            k, n = line.split()
            counts[k] += int(n)
    return counts


class Scenario:
    """A command over a work folder the prepare function fills afresh."""

    def __init__(self, t, name, prepare, args, stdin=None, extra_env=None, verify_ok=None):
        self.t, self.name, self.prepare, self.args = t, name, prepare, args
        self.stdin, self.extra_env = stdin, extra_env or {}
        self.verify_ok = verify_ok  # for random outputs: checks a successful run's folder
        self.n = 0

    def fresh(self):
        self.n += 1
        d = self.t.path(f"{self.name}-{self.n}")
        os.mkdir(d)
        self.prepare(d)
        return d

    def run(self, d, **fault):
        stdin = read(os.path.join(d, self.stdin)) if self.stdin else None
        e = env(**self.extra_env, **fault)
        return subprocess.run([UNMETA, *self.args], cwd=d, input=stdin, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=e)

    def normal(self):
        """Runs without faults: the counts of each kind and the folder it leaves."""
        d = self.fresh()
        cfile = os.path.join(self.t.tmp, f"{self.name}.counts")
        if os.path.exists(cfile):
            os.unlink(cfile)
        r = self.run(d, UNMETA_FAULT_COUNT=cfile)
        assert r.returncode == 0, f"{self.name}: the normal run failed: {r.stderr.decode(errors='replace')}"
        return parse_counts(cfile), snapshot(d), r

    def sweep(self, errnos=None, must_fail=MUST_FAIL, extra=None):
        """Fails each counted call in turn; returns how many runs it made."""
        counts, expected, _ = self.normal()
        runs = 0
        assert counts["write"] > 0 and counts["create"] + counts["link"] > 0, f"{self.name}: nothing counted {counts}"
        for kind in KINDS:
            for k in range(1, counts[kind] + 1):
                for err in (errnos or {}).get(kind, [None]):
                    err = err or ("ENOSPC" if kind in ("create", "write", "copy", "link") else "EIO")
                    self.one(f"{kind}:{k}:{err}", kind, err, expected, must_fail, extra)
                    runs += 1
        return runs

    def one(self, spec, kind, err, expected, must_fail=MUST_FAIL, extra=None):
        d = self.fresh()
        before = snapshot(d)
        log = os.path.join(self.t.tmp, f"{self.name}.log")
        if os.path.exists(log):
            os.unlink(log)
        r = self.run(d, UNMETA_FAULT=spec, UNMETA_FAULT_LOG=log, **(extra or {}))
        after = snapshot(d)
        what = f"{self.name} with {spec}"
        stderr = r.stderr.decode(errors="replace")
        assert os.path.exists(log), f"{what}: the fault was never injected (the counts are off)"
        if self.verify_ok:
            # Random output (envelopes): all or nothing, judged by shape.
            ok = r.returncode == 0
            if ok:
                assert kind not in must_fail or err == "EINTR", f"{what}: the run succeeded despite the fault"
                assert shape(after) == shape(expected), f"{what}: {sorted(after)} vs {sorted(expected)}"
                self.verify_ok(d)
            else:
                assert after == before, f"{what}: left {sorted(set(after) - set(before))} behind\n{stderr}"
        else:
            for path, digest in after.items():
                assert digest in (before.get(path), expected.get(path)), \
                    f"{what}: {path} is neither as it was nor as a normal run makes it " \
                    f"(partial or temporary file)\n{stderr}"
            if r.returncode == 0:
                assert kind not in must_fail or err == "EINTR", f"{what}: the run succeeded despite the fault"
                assert after == expected, f"{what}: succeeded with an output unlike the normal run's"
        if err == "EINTR":
            assert r.returncode == 0, f"{what}: an interrupted call must be retried: {stderr}"
        if r.returncode != 0:
            assert r.returncode == 2, f"{what}: exit {r.returncode}, expected 2: {stderr}"
            assert ERRNO_TEXT[err] in stderr, f"{what}: the message does not name the error: {stderr!r}"
            assert after != expected, f"{what}: failed, yet everything was written"


def shape(snap):
    """The folders of a snapshot and how many files each holds."""
    out = {}
    for path in snap:
        out[os.path.dirname(path)] = out.get(os.path.dirname(path), 0) + 1
    return out


def copy_in(names, sub=""):
    src_dir, _ = fixtures()

    def prepare(d):
        os.makedirs(os.path.join(d, sub), exist_ok=True) if sub else None
        for n in names:
            shutil.copy(os.path.join(src_dir, n), os.path.join(d, sub, n))
    return prepare


# ---- strip -o and --in-place, each format ---------------------------------

def test_strip_output_every_fault(t):
    need_shim()
    _, names = fixtures()
    total = 0
    for n in names:
        base, ext = os.path.splitext(n)
        s = Scenario(t, "o-" + base, copy_in([n]), ["strip", "-o", base + ".clean" + ext, n])
        total += s.sweep(errnos={"write": ["ENOSPC", "EIO", "EINTR"], "read": ["EIO", "EINTR"]})
    assert total >= 6 * len(names), total


def test_strip_in_place_every_fault(t):
    need_shim()
    _, names = fixtures()
    for n in names:
        s = Scenario(t, "i-" + os.path.splitext(n)[0], copy_in([n]), ["strip", "--in-place", n])
        s.sweep(errnos={"write": ["ENOSPC", "EIO"], "fsync": ["EIO", "EDQUOT"]})


def test_named_temp_fallback_every_fault(t):
    """Without O_TMPFILE (NFS...), the output goes to a named temporary file:
    the same rules hold."""
    need_shim()
    _, names = fixtures()
    for n in names:
        base, ext = os.path.splitext(n)
        for mode in (["-o", base + ".clean" + ext], ["--in-place"]):
            s = Scenario(t, f"named{len(mode)}-{base}", copy_in([n]), ["strip", *mode, n],
                         extra_env={"UNMETA_FAULT_NO_TMPFILE": 1})
            counts, _, _ = s.normal()
            assert counts["link"] == 0, f"{n}: linked an unnamed file the file system refused: {counts}"
            s.sweep()


def test_stale_temps_removed_by_next_run(t):
    """A run killed between link and rename leaves .NAME.HOST-PID-RANDOM.unmeta-tmp:
    the next strip -r that writes into the folder removes it when its
    process is gone; it never touches anything else."""
    import socket
    import time
    _, names = fixtures()
    h = 2166136261
    for ch in socket.gethostname().encode():
        h = ((h ^ ch) * 16777619) & 0xffffffff
    # a pid that is surely not running: beyond the kernel's pid_max
    dead = int(read("/proc/sys/kernel/pid_max")) + 1
    stale = [f".a.jpg.{h:08x}-{dead}-0123456789ab.unmeta-tmp", f".b.png.deadbeef-{dead}-0123456789ab.unmeta-tmp"]
    kept = [f".a.jpg.{h:08x}-1-0123456789ab.unmeta-tmp",        # its process runs (init)
            f".a.jpg.deadbeef-{dead}-0123456789ac.unmeta-tmp",  # another host's, recent
            f"a.jpg.{h:08x}-{dead}-0123456789ab.unmeta-tmp",    # not our pattern (no dot first)
            f".a.jpg.{h:08x}-{dead}-0123.unmeta-tmp",           # not our pattern (short random part)
            "x.jpg.0123.unmeta-tmp"]
    for mode in (["-i"], [], ["-d", "out"]):
        d = t.path("stale" + "".join(mode))
        os.makedirs(os.path.join(d, "tree"))
        os.makedirs(os.path.join(d, "out"))
        for n in names[:2]:
            shutil.copy(os.path.join(fixtures()[0], n), os.path.join(d, "tree", n))
        for n in stale + kept:
            write(os.path.join(d, "tree", n), b"left by a killed run")
        old = time.time() - 2 * 86400
        os.utime(os.path.join(d, "tree", stale[1]), (old, old))
        r = run([UNMETA, "strip", "-r", *mode, "tree"], cwd=d)
        assert r.returncode == 0, r.stderr
        left = set(os.listdir(os.path.join(d, "tree")))
        for n in kept:
            assert n in left, f"{mode}: {n} was removed"
        for n in stale:
            if mode == ["-d", "out"]:
                assert n in left, f"-d writes elsewhere: {n} in the inputs' folder was removed"
            else:
                assert n not in left, f"{mode}: the stale {n} was not removed"
        if mode != ["-d", "out"]:
            assert b"removed 2 stale temporary files" in r.stderr, r.stderr


def test_fine_grained_writes(t):
    """Writes of at most 256 bytes: a fault lands at every 256th byte of the output."""
    need_shim()
    _, names = fixtures()
    for n in names:
        base, ext = os.path.splitext(n)
        for mode in (["-o", base + ".clean" + ext], ["--in-place"]):
            s = Scenario(t, f"w{len(mode)}-{base}", copy_in([n]), ["strip", *mode, n],
                         extra_env={"UNMETA_FAULT_SHORT_WRITE": 256})
            counts, expected, _ = s.normal()
            assert counts["write"] > 1, f"{n}: {counts['write']} writes"
            s.sweep()


def test_disk_stays_full(t):
    """ENOSPC from the k-th write on, for every k: the abort path runs on a full disk."""
    need_shim()
    _, names = fixtures()
    for n in names[:2]:
        s = Scenario(t, "full-" + os.path.splitext(n)[0], copy_in([n]), ["strip", "--in-place", n],
                     extra_env={"UNMETA_FAULT_SHORT_WRITE": 1000})
        counts, expected, _ = s.normal()
        for k in range(1, counts["write"] + 1):
            s.one(f"write:{k}+:ENOSPC", "write", "ENOSPC", expected)


def big_png(path):
    """A 9 MB PNG (stored zlib blocks of random pixels) with a tEXt canary:
    its IDAT is one run long enough for the kernel copy (copy_file_range)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    w, h = 1800, 1700
    rnd = os.urandom(w * 3 * h)
    raw = b"".join(b"\0" + rnd[y * w * 3:(y + 1) * w * 3] for y in range(h))
    write(path, b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
          chunk(b"tEXt", b"Comment\0CANARY-IOF-BIG") + chunk(b"IDAT", zlib.compress(raw, 0)) + chunk(b"IEND", b""))


def test_kernel_copy_every_fault(t):
    need_shim()
    src = t.path("big.png")
    big_png(src)

    def prepare(d):
        shutil.copy(src, os.path.join(d, "big.png"))
    for mode in (["-o", "big.clean.png"], ["--in-place"]):
        s = Scenario(t, f"big{len(mode)}", prepare, ["strip", *mode, "big.png"])
        counts, _, _ = s.normal()
        assert counts["copy"] >= 1, f"the long IDAT run was not copied by the kernel: {counts}"
        s.sweep(errnos={"copy": ["ENOSPC", "EIO", "EDQUOT"]})


# ---- batches ----------------------------------------------------------------

def test_batch_dir_every_fault(t):
    """strip -d OUT over every format, one file at a time: a fault fails its
    file only; the files before and after it are complete."""
    need_shim()
    _, names = fixtures()

    def prepare(d):
        copy_in(names, "in")(d)
        os.mkdir(os.path.join(d, "out"))
    s = Scenario(t, "batch-d", prepare, ["strip", "-j", "1", "-d", "out", *[os.path.join("in", n) for n in names]])
    assert s.sweep() > 10


def test_batch_recursive_in_place_every_fault(t):
    need_shim()
    _, names = fixtures()
    s = Scenario(t, "batch-ri", copy_in(names, "tree/sub"), ["strip", "-r", "-i", "-j", "1", "tree"])
    s.sweep()


def test_batch_two_jobs_faults(t):
    """-j 2: which file a fault hits depends on the schedule; the rules do not."""
    need_shim()
    _, names = fixtures()
    s = Scenario(t, "batch-j2", copy_in(names, "tree"), ["strip", "-r", "-i", "-j", "2", "tree"])
    counts, expected, _ = s.normal()
    for kind in ("write", "fsync", "rename", "read", "create"):
        for k in range(1, counts[kind] + 1, 2):
            s.one(f"{kind}:{k}:{'ENOSPC' if kind in ('write', 'create') else 'EIO'}", kind,
                  "ENOSPC" if kind in ("write", "create") else "EIO", expected)


# ---- envelopes --------------------------------------------------------------

def envelope_setup(t):
    r = harness.unmeta("keygen", "-o", t.path("key.txt"))
    if r.returncode != 0 and b"not available" in r.stderr:
        raise harness.Skip("envelopes are not in this build")
    assert r.returncode == 0, r.stderr
    return t.path("key.txt"), harness.unmeta("keygen", "-y", t.path("key.txt"), check=True).stdout.decode().strip()


def opens_to_stripped(t, key, name):
    """verify_ok for seal: the envelope opens to the stripped fixture."""
    src_dir, _ = fixtures()
    want = read(t.strip(os.path.join(src_dir, name), out=t.path("want-" + name)))

    def verify(d):
        out = os.path.join(t.tmp, "opened")
        if os.path.exists(out):
            os.unlink(out)
        store = os.path.join(d, "store")
        extra = ["--share-store", store] if os.path.isdir(store) else []
        harness.unmeta("open", "-i", key, *extra, "-o", out, os.path.join(d, name + ".age"), check=True)
        assert read(out) == want, "the envelope does not open to the stripped file"
    return verify


def test_seal_every_fault(t):
    need_shim()
    key, rcp = envelope_setup(t)
    s = Scenario(t, "seal", copy_in(["a.jpg"]), ["seal", "-r", rcp, "-o", "a.jpg.age", "a.jpg"],
                 verify_ok=opens_to_stripped(t, key, "a.jpg"))
    s.sweep()


def test_seal_share_store_every_fault(t):
    need_shim()
    key, rcp = envelope_setup(t)

    def prepare(d):
        copy_in(["b.png"])(d)
        os.mkdir(os.path.join(d, "store"), 0o700)
    s = Scenario(t, "share", prepare,
                 ["seal", "-r", rcp, "--expires", "7d", "--share-store", "store", "-o", "b.png.age", "b.png"],
                 verify_ok=opens_to_stripped(t, key, "b.png"))
    s.sweep()


def test_open_every_fault(t):
    need_shim()
    key, rcp = envelope_setup(t)
    src_dir, _ = fixtures()
    env_file = t.path("a.jpg.age")
    harness.unmeta("seal", "-r", rcp, "-o", env_file, os.path.join(src_dir, "a.jpg"), check=True)

    def prepare(d):
        shutil.copy(env_file, os.path.join(d, "a.jpg.age"))
    s = Scenario(t, "open", prepare, ["open", "-i", key, "-o", "a.jpg", "a.jpg.age"])
    s.sweep()


# ---- short reads and writes -------------------------------------------------

def test_short_reads_and_writes_same_output(t):
    need_shim()
    src_dir, names = fixtures()
    for n in names:
        src = os.path.join(src_dir, n)
        want = read(t.strip(src, out=t.path("want-" + n)))
        # To a pipe (Matroska is written in its streaming layout there).
        with open(src, "rb") as f:
            r = subprocess.run([UNMETA, "strip", "-o", "-", "-"], stdin=f, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
        assert r.returncode == 0, f"{n} to a pipe: {r.stderr.decode(errors='replace')}"
        want_pipe = r.stdout
        for var, size in (("UNMETA_FAULT_SHORT_READ", 1), ("UNMETA_FAULT_SHORT_READ", 7),
                          ("UNMETA_FAULT_SHORT_WRITE", 1), ("UNMETA_FAULT_SHORT_WRITE", 333)):
            out = t.path(f"short-{size}-{n}")
            r = subprocess.run([UNMETA, "strip", "-f", "-o", out, src], stderr=subprocess.PIPE,
                               env=env(**{var: size}))
            assert r.returncode == 0, f"{n} with {var}={size}: {r.stderr.decode(errors='replace')}"
            assert read(out) == want, f"{n} with {var}={size}: the output differs"
            # From a pipe (spooled) and to a pipe (standard output).
            with open(src, "rb") as f:
                r = subprocess.run([UNMETA, "strip", "-o", "-", "-"], stdin=f, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, env=env(**{var: size}))
            assert r.returncode == 0, f"{n} piped with {var}={size}: {r.stderr.decode(errors='replace')}"
            assert r.stdout == want_pipe, f"{n} piped with {var}={size}: the output differs"


def test_short_reads_envelope_round_trip(t):
    need_shim()
    key, rcp = envelope_setup(t)
    src_dir, _ = fixtures()
    src = os.path.join(src_dir, "b.png")
    want = read(t.strip(src, out=t.path("want.png")))
    e = env(UNMETA_FAULT_SHORT_READ=3, UNMETA_FAULT_SHORT_WRITE=5)
    store = t.path("store")
    r = subprocess.run([UNMETA, "seal", "-r", rcp, "--share-store", store, "-o", t.path("b.age"), src],
                       stderr=subprocess.PIPE, env=e)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([UNMETA, "open", "-i", key, "--share-store", store, "-o", t.path("back.png"),
                        t.path("b.age")], stderr=subprocess.PIPE, env=e)
    assert r.returncode == 0, r.stderr
    assert read(t.path("back.png")) == want


def test_callback_io(t):
    """The C API's callback sinks and sources failing at every byte
    (tests/faults/callback_test.c) over the fixtures of every format."""
    prog = os.environ.get("UNMETA_CALLBACK_TEST", "")
    if not prog or not os.path.exists(prog):
        raise harness.Skip("callback_test is not built (UNMETA_CALLBACK_TEST)")
    src_dir, names = fixtures()
    r = run([prog, *[os.path.join(src_dir, n) for n in names]], cwd=t.tmp)
    out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    assert r.returncode == 0, out
    assert " 0 failed" in out, out


if __name__ == "__main__":
    harness.main(globals())
