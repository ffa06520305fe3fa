"""Stream suite: standard input and output at scale, and progress.

A pipe is read to its end before anything is written: up to 64 MiB in memory,
the rest in an unnamed temporary file in $TMPDIR, up to --max-spool. These
tests pipe inputs larger than the memory part (an MP4 with its moov box at the
end and at the front, a JPEG), and check that the output is byte for byte the
output of the same file given by name, that $TMPDIR is where the spool goes
and that nothing is left in it, that the cap is refused cleanly, that a remux
reaches a pipe whole, and what the progress lines say."""
import os
import pty
import select
import subprocess
import threading
import time

import harness
from harness import read, run, unmeta, write

MIB = 1 << 20


def big_mp4(t, name, faststart):
    """An MP4 of about 80 MB (noise does not compress) with a title and a
    location that strip removes; moov at the end unless faststart."""
    harness.need("ffmpeg")
    path = t.path(name)
    args = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "gray", "-s", "1024x1024", "-r", "25",
            "-i", "/dev/urandom", "-frames:v", "70", "-c:v", "mpeg4", "-q:v", "1", "-pix_fmt", "yuv420p",
            "-metadata", "title=CANARY-STREAM-TITLE", "-metadata", "location=+48.8583+002.2945/"]
    if faststart:
        args += ["-movflags", "+faststart"]
    run(args + [path], check=True)
    data = read(path)
    assert len(data) > 70 * MIB, len(data)
    moov, mdat = data.find(b"moov"), data.find(b"mdat")
    assert (moov < mdat) == faststart, (moov, mdat)
    return path


def big_jpeg(t):
    """A 7000x7000 grey JPEG of noise (about 75 MB) with GPS and a Make."""
    harness.need("cjpeg", "exiftool")
    side = 7000
    pgm = t.path("noise.pgm")
    with open(pgm, "wb") as f:
        f.write(b"P5\n%d %d\n255\n" % (side, side))
        f.write(os.urandom(side * side))
    path = t.path("big.jpg")
    with open(path, "wb") as out:
        subprocess.run(["cjpeg", "-quality", "100", "-grayscale", pgm], stdout=out, check=True)
    os.unlink(pgm)
    run(["exiftool", "-q", "-q", "-overwrite_original", "-GPSLatitude=48.8583", "-GPSLatitudeRef=N",
         "-Make=CANARY-STREAM-MAKE", path], check=True)
    assert os.path.getsize(path) > 70 * MIB
    return path


def through_pipe(t, src, *args, tmpdir=None):
    """`cat SRC | unmeta strip ARGS - > OUT`: a real pipe in and a file out.
    Returns (the process, the output's bytes)."""
    out = t.path("piped.out")
    if os.path.exists(out):
        os.unlink(out)
    env = dict(os.environ)
    if tmpdir is not None:
        env["TMPDIR"] = tmpdir
    r = run(["sh", "-c", 'src=$1 u=$2 o=$3; shift 3; cat "$src" | "$u" strip "$@" - > "$o"', "sh", src,
             harness.UNMETA, out, *args], env=env)
    return r, read(out)


def by_name(t, src):
    out = t.path("named.out")
    r = unmeta("strip", "-f", "-o", out, src)
    assert r.returncode == 0, r.stderr
    return read(out)


def spool_dir(t):
    d = t.path("spool-tmp")
    os.makedirs(d, exist_ok=True)
    return d


def test_pipe_mp4_moov_at_end(t):
    src = big_mp4(t, "end.mp4", faststart=False)
    expected = by_name(t, src)
    assert b"CANARY-STREAM-TITLE" in read(src) and b"CANARY-STREAM-TITLE" not in expected
    # The spool goes where TMPDIR says: a folder that does not exist is named in the error.
    r, out = through_pipe(t, src, tmpdir=t.path("no-such-folder"))
    assert r.returncode == 2 and out == b"", r.stderr
    assert t.path("no-such-folder").encode() in r.stderr, r.stderr
    d = spool_dir(t)
    r, out = through_pipe(t, src, tmpdir=d)
    assert r.returncode == 0, r.stderr
    assert out == expected, "the piped output differs from the output of the file by name"
    assert os.listdir(d) == [], os.listdir(d)
    # Header dates stay as zeroed fields ("0000:00:00 00:00:00"), as in the MP4 suite.
    out = t.path("piped.out")
    zero = [k for k, v in harness.exif(out).items() if str(v).startswith("0000:00:00")]
    t.assert_clean(out, allow=zero)


def test_pipe_mp4_moov_at_front(t):
    src = big_mp4(t, "front.mp4", faststart=True)
    expected = by_name(t, src)
    d = spool_dir(t)
    r, out = through_pipe(t, src, tmpdir=d)
    assert r.returncode == 0, r.stderr
    assert out == expected
    assert os.listdir(d) == []
    # Standard output itself, from a pipe and from a redirected file.
    r = run(["sh", "-c", 'cat "$1" | "$2" strip -o - -', "sh", src, harness.UNMETA])
    assert r.returncode == 0 and r.stdout == expected, r.stderr
    with open(src, "rb") as f:
        r = subprocess.run([harness.UNMETA, "strip", "-"], stdin=f, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 0 and r.stdout == expected


def test_pipe_large_jpeg(t):
    src = big_jpeg(t)
    expected = by_name(t, src)
    d = spool_dir(t)
    r, out = through_pipe(t, src, tmpdir=d)
    assert r.returncode == 0, r.stderr
    assert out == expected
    assert b"CANARY-STREAM-MAKE" not in out
    assert os.listdir(d) == []
    t.assert_clean(t.path("piped.out"))


def test_spool_cap_refused(t):
    harness.need("convert")
    src = t.path("small.jpg")
    run(["convert", "-size", "64x64", "plasma:", src], check=True)
    data = read(src)
    padded = t.path("padded.jpg")  # 3 MB after EOI: a trailer strip removes
    write(padded, data + b"\0" * (3 * MIB))
    d = spool_dir(t)
    r, out = through_pipe(t, padded, "--max-spool", "1M", tmpdir=d)
    assert r.returncode == 2 and out == b"", (r.returncode, len(out))
    err = r.stderr.decode()
    assert "--max-spool" in err and "UNMETA_OPT_MAX_SPOOL" in err and "1048576" in err, err
    assert os.listdir(d) == []
    # Under the cap it goes through, and a bad value is a usage error.
    r, out = through_pipe(t, padded, "--max-spool", "4M", tmpdir=d)
    assert r.returncode == 0 and out == by_name(t, padded), r.stderr
    for bad in ("0", "-1", "1T", "x"):
        r, out = through_pipe(t, padded, "--max-spool", bad, tmpdir=d)
        assert r.returncode == 2 and b"--max-spool" in r.stderr, (bad, r.stderr)


def test_remux_to_a_pipe_is_whole(t):
    """Matroska is remuxed by libavformat, which writes as it goes: to a pipe
    it is staged, and arrives whole and identical to the file output."""
    harness.need("ffmpeg")
    src = t.path("clip.mkv")
    run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25", "-t", "2",
         "-c:v", "mpeg4", "-metadata", "title=CANARY-STREAM-MKV", src], check=True)
    expected = by_name(t, src)
    assert b"CANARY-STREAM-MKV" not in expected
    r = run(["sh", "-c", '"$1" strip -o - "$2" | cat', "sh", harness.UNMETA, src])
    assert r.returncode == 0 and r.stdout == expected, r.stderr
    d = spool_dir(t)
    r, out = through_pipe(t, src, tmpdir=d)
    assert r.returncode == 0 and out == expected, r.stderr
    assert os.listdir(d) == []
    # A file refused part-way leaves nothing on the pipe.
    cut = t.path("cut.mkv")
    write(cut, read(src)[:5000])
    r = run(["sh", "-c", '"$1" strip -o - "$2" | cat', "sh", harness.UNMETA, cut])
    assert r.stdout == b"" and b"cut.mkv" in r.stderr, r.stderr


def lines(stderr):
    text = stderr.decode(errors="replace").replace("\x1b[K", "").replace("\r", "\n")
    return [l for l in text.split("\n") if l.strip()]


def test_progress_single_file(t):
    src = big_mp4(t, "progress.mp4", faststart=False)
    r = unmeta("strip", "--progress", "-o", t.path("p.mp4"), src)
    assert r.returncode == 0, r.stderr
    shown = [l for l in lines(r.stderr) if "progress.mp4:" in l and " of " in l]
    assert len(shown) >= 2, r.stderr
    assert "(100%)" in shown[-1], shown
    assert any("(100%)" not in l for l in shown), "no line before the end"
    assert b"\r" in r.stderr
    # From a pipe: first the bytes read, with no total, then the bytes done.
    r, out = through_pipe(t, src, "--progress", tmpdir=spool_dir(t))
    assert r.returncode == 0 and out == read(t.path("p.mp4")), r.stderr
    text = lines(r.stderr)
    assert any("reading the input" in l for l in text), text
    assert "(100%)" in text[-1], text
    # Off: not a byte of it, and not on a pipe by default either.
    for args in (["--no-progress"], []):
        r = unmeta("strip", *args, "-f", "-o", t.path("p.mp4"), src)
        assert r.returncode == 0 and r.stderr == b"", r.stderr


def test_progress_on_a_terminal(t):
    """On a terminal the line shows by itself for a file that takes more
    than half a second (here a slow pipe), and is cleared at the end."""
    harness.need("convert")
    src = t.path("slow.jpg")
    run(["convert", "-size", "64x64", "plasma:", src], check=True)
    data = read(src) + b"\0" * (4 * MIB)
    master, slave = pty.openpty()
    p = subprocess.Popen([harness.UNMETA, "strip", "-o", t.path("slow.out"), "-"], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    got = bytearray()

    def drain():
        while True:
            ready, _, _ = select.select([master], [], [], 5)
            if not ready:
                return
            try:
                chunk = os.read(master, 4096)
            except OSError:
                return
            if not chunk:
                return
            got.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    step = len(data) // 8
    for i in range(0, len(data), step):
        p.stdin.write(data[i:i + step])
        p.stdin.flush()
        time.sleep(0.15)
    p.stdin.close()
    assert p.wait(timeout=60) == 0
    reader.join(timeout=10)
    os.close(master)
    text = bytes(got)
    assert b"reading the input" in text, text
    assert text.endswith(b"\r\x1b[K"), text[-40:]
    # A quick file on a terminal shows nothing.
    master, slave = pty.openpty()
    p = subprocess.run([harness.UNMETA, "strip", "-f", "-o", t.path("quick.out"), src], stderr=slave)
    os.close(slave)
    ready, _, _ = select.select([master], [], [], 0.5)
    try:
        quiet = os.read(master, 4096) if ready else b""
    except OSError:  # EIO: the other side is closed and nothing was written
        quiet = b""
    os.close(master)
    assert p.returncode == 0 and quiet == b"", quiet


def test_batch_progress_counts_bytes_in_flight(t):
    src = big_mp4(t, "one.mp4", faststart=True)
    root = t.path("tree")
    os.mkdir(root)
    os.rename(src, os.path.join(root, "one.mp4"))
    out = t.path("out")
    os.mkdir(out)
    r = unmeta("strip", "-r", "-j", "1", "--progress", "-d", out, root)
    assert r.returncode == 0, r.stderr
    # Before the file is done ([0/1]) the line already counts its bytes.
    early = [l for l in lines(r.stderr) if l.startswith("[0/1]")]
    assert early, r.stderr
    mb = [float(l.split(" files cleaned, ")[1].split(" MB")[0]) for l in early]
    assert max(mb) > 0, early
    assert any(l.startswith("[1/1]") for l in lines(r.stderr)), r.stderr


harness.main(globals())
