"""Sandbox suite: the command confines itself by default (cli/sandbox.c).

UNMETA_SANDBOX_SELFTEST=1 makes the command, once confined, try what a
parser bug might: read /etc/passwd, create a file in /tmp, open a socket,
run a program (one that does not exist, so nothing runs either way). The
suite shows those are refused by default and allowed with --no-sandbox,
then that every kind of run still works confined: strip, inspect, check,
seal, open, batch (-r, -d, --in-place, -j 2, --follow-symlinks), standard
input and output (a large input spooled to a temporary file), and media
files remuxed through FFmpeg, which is loaded before confining."""
import glob
import os
import re
import subprocess

import harness
from harness import read, run, unmeta, write

CANARY = "CANARY-SANDBOX-ARTIST"
SELFTEST = {**os.environ, "UNMETA_SANDBOX_SELFTEST": "1"}
LINE = re.compile(rb"sandbox selftest: read /etc/passwd: (\S+); create in /tmp: (\S+); socket: (\S+); exec: (\S+)\n")


def available():
    """Skips when this build has no sandbox (built without libseccomp)."""
    r = unmeta("--version")
    if b"sandbox: unavailable" in r.stdout:
        raise harness.Skip("this build has no sandbox: " + r.stdout.decode().strip())


def probes(r):
    """The self-test's four results, from a run's stderr."""
    m = LINE.search(r.stderr)
    assert m, r.stderr.decode(errors="replace")
    return [g.decode() for g in m.groups()]


def assert_confined(r):
    read_, create, sock, exe = probes(r)
    assert read_ in ("EACCES", "EPERM"), read_
    assert create in ("EACCES", "EPERM"), create
    assert sock == "EPERM", sock
    assert exe == "EPERM", exe


def photo(t, name="photo.jpg", seed=1):
    harness.need("convert", "exiftool")
    path = t.path(name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    run(["convert", "-seed", str(seed), "-size", "40x30", "plasma:", "jpg:" + path], check=True)
    run(["exiftool", "-q", "-q", "-overwrite_original", "-Artist=" + CANARY, "-GPSLatitude=48.85",
         "-GPSLatitudeRef=N", path], check=True)
    assert CANARY.encode() in read(path)
    return path


def mkv(t, name="clip.mkv"):
    harness.need("ffmpeg")
    path = t.path(name)
    run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=32x24:rate=4", "-f", "lavfi",
         "-i", "sine=d=1", "-t", "1", "-metadata", "title=CANARY-SANDBOX-MKV", "-c:v", "mpeg4",
         "-c:a", "pcm_s16le", path], check=True)
    return path


def assert_stripped(path):
    data = read(path)
    assert CANARY.encode() not in data and b"CANARY-SANDBOX-MKV" not in data, path
    r = unmeta("check", path)
    assert r.returncode == 0, r.stdout + r.stderr


# ---- the hook ----------------------------------------------------------------

def test_confined_by_default(t):
    available()
    src = photo(t)
    out = t.path("out.jpg")
    r = unmeta("strip", "-o", out, src, env=SELFTEST)
    assert r.returncode == 0, r.stderr
    assert_confined(r)
    assert_stripped(out)
    assert harness.pixels(out) == harness.pixels(src)


def test_no_sandbox_lets_the_probes_through(t):
    src = photo(t)
    r = unmeta("strip", "--no-sandbox", "-o", t.path("out.jpg"), src, env=SELFTEST)
    assert r.returncode == 0, r.stderr
    read_, create, sock, exe = probes(r)
    assert (read_, create, sock) == ("ok", "ok", "ok"), (read_, create, sock)
    assert exe == "ENOENT", exe  # the program does not exist: exec was tried, not refused
    # the probe removes what it made
    assert not glob.glob("/tmp/.unmeta-sandbox-selftest-*")
    assert_stripped(t.path("out.jpg"))


def test_hook_is_silent_unless_asked(t):
    src = photo(t)
    for env in ({k: v for k, v in os.environ.items() if k != "UNMETA_SANDBOX_SELFTEST"},
                {**os.environ, "UNMETA_SANDBOX_SELFTEST": "0"}):
        r = unmeta("strip", "-f", "-o", t.path("out.jpg"), src, env=env)
        assert r.returncode == 0 and b"selftest" not in r.stderr, r.stderr


def test_verbose_says_how_it_is_confined(t):
    available()
    src = photo(t)
    r = unmeta("strip", "-v", "-o", t.path("out.jpg"), src)
    assert r.returncode == 0, r.stderr
    assert re.search(rb"sandbox: (Landlock \(ABI \d+\) and seccomp|seccomp only \()", r.stderr), r.stderr
    r = unmeta("strip", "-v", "--no-sandbox", "-f", "-o", t.path("out.jpg"), src)
    assert b"sandbox: off (--no-sandbox)" in r.stderr, r.stderr


def test_landlock_confines_files_when_the_kernel_has_it(t):
    """With Landlock, a strip may create files in its output folder only:
    the probe's /tmp is refused although the output folder lies below it."""
    available()
    src = photo(t)
    r = unmeta("strip", "-v", "-o", t.path("out.jpg"), src, env=SELFTEST)
    if b"seccomp only" in r.stderr:
        raise harness.Skip("Landlock is not available here: " + r.stderr.decode(errors="replace"))
    assert probes(r)[1] == "EACCES" and probes(r)[0] == "EACCES", r.stderr


def test_seccomp_only_fallback(t):
    """Without Landlock (old kernel, a container that hides it; forced here
    with UNMETA_SANDBOX_NO_LANDLOCK=1) the seccomp layer still holds: no
    socket, no program; files are not confined, and -v says so."""
    available()
    src = photo(t)
    env = {**SELFTEST, "UNMETA_SANDBOX_NO_LANDLOCK": "1"}
    r = unmeta("strip", "-v", "-o", t.path("out.jpg"), src, env=env)
    assert r.returncode == 0, r.stderr
    assert b"seccomp only (" in r.stderr and b"files are not confined" in r.stderr, r.stderr
    read_, create, sock, exe = probes(r)
    assert (read_, sock, exe) == ("ok", "EPERM", "EPERM"), probes(r)
    assert create == "ok"
    assert_stripped(t.path("out.jpg"))
    # check opens nothing for writing, Landlock or not
    r = unmeta("check", src, env=env)
    assert r.returncode == 1 and probes(r)[1] == "EPERM", r.stderr
    root = tree(t)
    r = unmeta("strip", "-r", "-j", "2", "--in-place", root, env=env)
    assert r.returncode == 0, r.stderr
    assert_stripped(os.path.join(root, "a", "one.jpg"))


def test_version_reports_the_sandbox(t):
    r = unmeta("--version")
    lines = r.stdout.decode().splitlines()
    assert r.returncode == 0 and re.fullmatch(r"unmeta \d+\.\d+\.\d+", lines[0]), r.stdout
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("sandbox: unavailable (")), lines


# ---- every kind of run still works confined --------------------------------------

def test_inspect_and_check_confined(t):
    available()
    src = photo(t)
    r = unmeta("check", src, env=SELFTEST)
    assert r.returncode == 1 and b"people" in r.stdout, r.stdout + r.stderr
    assert_confined(r)
    # check writes nothing: opening for writing is refused by seccomp too
    assert probes(r)[1] in ("EPERM", "EACCES")
    r = unmeta("inspect", src, env=SELFTEST)
    assert r.returncode == 0 and CANARY.encode() in r.stdout, r.stdout + r.stderr
    assert_confined(r)
    r = unmeta("inspect", "--json", src, t.path("missing.jpg"))
    assert r.returncode == 2 and b"cannot open" in r.stdout, r.stdout
    # a folder named as a file is still called a folder, not "permission denied"
    r = unmeta("check", t.tmp)
    assert r.returncode == 2 and b"Is a directory" in r.stderr, r.stderr


def test_default_in_place_and_dir_outputs_confined(t):
    available()
    src = photo(t, "a/p.jpg")
    os.makedirs(t.path("d"))
    r = unmeta("strip", src, env=SELFTEST)
    assert r.returncode == 0, r.stderr
    assert_confined(r)
    assert_stripped(t.path("a/p.clean.jpg"))
    r = unmeta("strip", "-d", t.path("d"), src, env=SELFTEST)
    assert r.returncode == 0, r.stderr
    assert_stripped(t.path("d/p.jpg"))
    r = unmeta("strip", "-f", "-d", t.path("d"), src)
    assert r.returncode == 0, r.stderr
    mode = os.stat(src).st_mode
    r = unmeta("strip", "--in-place", src, env=SELFTEST)
    assert r.returncode == 0, r.stderr
    assert_confined(r)
    assert_stripped(src)
    assert os.stat(src).st_mode == mode
    assert not [n for n in os.listdir(t.path("a")) if "unmeta-tmp" in n]


def test_refusal_leaves_no_temporary_file_confined(t):
    available()
    src = photo(t)
    data = read(src)
    bad = t.path("bad.jpg")
    write(bad, data[:len(data) // 2])
    r = unmeta("strip", "-o", t.path("bad-out.jpg"), bad)
    assert r.returncode == 2 and not os.path.exists(t.path("bad-out.jpg")), r.stderr
    assert not [n for n in os.listdir(t.tmp) if "unmeta-tmp" in n]


def test_stdin_stdout_confined(t):
    available()
    src = photo(t)
    r = unmeta("strip", "-", stdin=read(src), env=SELFTEST)
    assert r.returncode == 0, r.stderr
    assert_confined(r)
    write(t.path("piped.jpg"), r.stdout)
    assert_stripped(t.path("piped.jpg"))
    r = unmeta("check", "-", stdin=read(src))
    assert r.returncode == 1, r.stderr
    # a pipe by name: read once only (probing before confining must not drain it)
    r = unmeta("strip", "-o", t.path("devstdin.jpg"), "/dev/stdin", stdin=read(src), env=SELFTEST)
    assert r.returncode == 0, r.stderr
    assert_confined(r)
    assert b"cannot allow" not in r.stderr, r.stderr
    assert_stripped(t.path("devstdin.jpg"))


def test_large_stdin_spools_to_a_temporary_file_confined(t):
    """A pipe larger than the 64 MiB spool limit goes to a temporary file:
    read before confining, since a confined process could not create it."""
    available()
    data = read(photo(t)) + b"\0" * ((64 << 20) + 4096)  # a trailer after EOI, dropped
    p = subprocess.Popen([harness.UNMETA, "strip", "-", "-o", t.path("big.jpg")], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=SELFTEST)
    out, err = p.communicate(data)
    assert p.returncode == 0, err
    assert_confined(subprocess.CompletedProcess([], 0, out, err))
    assert os.path.getsize(t.path("big.jpg")) < 1 << 20
    assert_stripped(t.path("big.jpg"))


def test_media_through_ffmpeg_confined(t):
    available()
    src = mkv(t)
    if b"media" not in unmeta("formats").stdout.split():
        raise harness.Skip("this build has no media support")
    r = unmeta("strip", "-o", t.path("out.mkv"), src, env=SELFTEST)
    assert r.returncode == 0, r.stderr
    assert_confined(r)
    assert_stripped(t.path("out.mkv"))
    r = unmeta("inspect", src, env=SELFTEST)
    assert r.returncode == 0 and b"CANARY-SANDBOX-MKV" in r.stdout, r.stdout + r.stderr
    assert_confined(r)
    # from a pipe (Matroska's muxer seeks, so the output is a file)
    r = unmeta("strip", "-o", t.path("piped.mkv"), "-", stdin=read(src), env=SELFTEST)
    assert r.returncode == 0, r.stderr
    assert_confined(r)
    assert_stripped(t.path("piped.mkv"))
    # every packet as it was
    def packets(p):
        return run(["ffmpeg", "-v", "error", "-i", p, "-map", "0", "-c", "copy", "-f", "framemd5", "-"],
                   check=True).stdout
    assert packets(t.path("out.mkv")) == packets(src)


def tree(t):
    root = t.path("in")
    photo(t, "in/top.jpg", 1)
    photo(t, "in/a/one.jpg", 2)
    photo(t, "in/a/b/two.jpg", 3)
    write(os.path.join(root, "a", "notes.txt"), b"not a photo\n")
    return root


def test_batch_dir_jobs_confined(t):
    available()
    root = tree(t)
    os.makedirs(t.path("out"))
    r = unmeta("strip", "-r", "-j", "2", "-d", t.path("out"), root, env=SELFTEST)
    assert r.returncode == 0, r.stderr
    assert_confined(r)
    for rel in ("top.jpg", "a/one.jpg", "a/b/two.jpg"):
        assert_stripped(os.path.join(t.path("out"), os.path.basename(root), rel))  # -d mirrors each root under its name
    assert b"1 skipped" in r.stderr, r.stderr
    # beside the inputs, with media, and again with -f
    mkv(t, "in/a/clip.mkv")
    for extra in ([], ["-f"]):
        r = unmeta("strip", "-r", "-j", "2", *extra, root, env=SELFTEST)
        assert r.returncode == 0, r.stderr
        assert_confined(r)
    assert_stripped(os.path.join(root, "a", "clip.clean.mkv"))
    assert_stripped(os.path.join(root, "a", "b", "two.clean.jpg"))


def test_batch_in_place_confined(t):
    available()
    root = tree(t)
    r = unmeta("strip", "-r", "--in-place", "-j", "2", root, env=SELFTEST)
    assert r.returncode == 0, r.stderr
    assert_confined(r)
    for rel in ("top.jpg", "a/one.jpg", "a/b/two.jpg"):
        assert_stripped(os.path.join(root, rel))
    assert read(os.path.join(root, "a", "notes.txt")) == b"not a photo\n"


def test_batch_named_files_and_symlinks_out_of_the_tree_confined(t):
    available()
    root = tree(t)
    outside = photo(t, "elsewhere/outside.jpg", 9)
    os.symlink(outside, os.path.join(root, "link.jpg"))
    lone = photo(t, "lone/single.jpg", 7)
    r = unmeta("strip", "-r", "--follow-symlinks", "-j", "2", "--json", root, lone, env=SELFTEST)
    assert r.returncode == 0, r.stderr
    assert_confined(r)
    assert_stripped(os.path.join(root, "link.clean.jpg"))
    assert_stripped(t.path("lone/single.clean.jpg"))
    # --in-place through the link replaces the file it leads to
    r = unmeta("strip", "-r", "--follow-symlinks", "--in-place", root)
    assert r.returncode == 0, r.stderr
    assert_stripped(outside)


def test_seal_and_open_confined(t):
    available()
    if b"sandbox" not in unmeta("seal", "--help").stdout:
        raise harness.Skip("seal has no --no-sandbox")
    src = photo(t)
    key = t.path("key.txt")
    r = unmeta("keygen", "-o", key)
    if r.returncode != 0:
        raise harness.Skip("envelopes are not in this build: " + r.stderr.decode(errors="replace"))
    rcp = unmeta("keygen", "-y", key, check=True).stdout.decode().strip()
    env = t.path("sealed.age")
    r = unmeta("seal", "-r", rcp, "-o", env, src, env=SELFTEST)
    assert r.returncode == 0, r.stderr
    assert_confined(r)
    r = unmeta("open", "-i", key, "-o", t.path("opened.jpg"), env, env=SELFTEST)
    assert r.returncode == 0, r.stderr
    assert_confined(r)
    assert_stripped(t.path("opened.jpg"))
    # a key-release share store, read and written confined
    store = t.path("store")
    r = unmeta("share", src, "--to", rcp, "-o", t.path("shared.age"), "--share-store", store, env=SELFTEST)
    assert r.returncode == 0, r.stderr
    assert_confined(r)
    r = unmeta("open", "-i", key, "-o", t.path("shared.jpg"), "--share-store", store, t.path("shared.age"),
               env=SELFTEST)
    assert r.returncode == 0, r.stderr
    assert_stripped(t.path("shared.jpg"))
    # from standard input, to standard output
    r = unmeta("open", "-i", key, "-o", "-", "-", stdin=read(env), env=SELFTEST)
    assert r.returncode == 0 and r.stdout == read(t.path("opened.jpg")), r.stderr
    assert_confined(r)


harness.main(globals())
