"""CLI suite: where outputs go, what is never overwritten or lost, standard
input and output, what inspect and check print and return, and detection
by content rather than by name."""
import json
import os
import re
import shutil
import stat
import subprocess
import time

import harness
from harness import read, run, unmeta, write

CANARIES = ["CANARY-CLI-MAKE", "CANARY-CLI-MODEL", "CANARY-CLI-ARTIST"]


def photo(t, name="photo.jpg", w=97, h=61, seed=1):
    """A small JPEG with GPS, device and people metadata."""
    harness.need("convert", "exiftool")
    path = t.path(name)
    run(["convert", "-seed", str(seed), "-size", f"{w}x{h}", "plasma:", "-quality", "90", path], check=True)
    run(["exiftool", "-q", "-q", "-overwrite_original", "-GPSLatitude=48.8583", "-GPSLatitudeRef=N",
         "-GPSLongitude=2.2945", "-GPSLongitudeRef=W", "-Make=CANARY-CLI-MAKE", "-Model=CANARY-CLI-MODEL",
         "-Artist=CANARY-CLI-ARTIST", "-Comment=CANARY-CLI-COMMENT", path], check=True)
    return path


def corrupt(t, name="broken.jpg"):
    data = read(photo(t, "for-corrupt.jpg"))
    path = t.path(name)
    write(path, data[:len(data) * 2 // 3])
    return path


def assert_clean_jpeg(t, path):
    data = read(path)
    assert data[:3] == b"\xff\xd8\xff", f"{path} is not a JPEG"
    for c in CANARIES:
        assert c.encode() not in data, f"{path} still holds {c}"
    t.assert_clean(path)


def no_temp_files(folder):
    left = [n for n in os.listdir(folder) if "unmeta-tmp" in n]
    assert not left, f"temporary files left: {left}"


# ---- where the output goes -----------------------------------------------------

def test_default_output_beside_input(t):
    src = photo(t)
    before = read(src)
    r = unmeta("strip", src)
    assert r.returncode == 0, r.stderr
    out = t.path("photo.clean.jpg")
    assert os.path.exists(out), os.listdir(t.tmp)
    assert read(src) == before, "the input changed"
    assert_clean_jpeg(t, out)
    assert r.stdout == b"", "strip to a file prints nothing on stdout"
    # Names without an extension, or with dots in folders, still work.
    os.mkdir(t.path("a.b"))
    src2 = t.path("a.b/noext")
    write(src2, before)
    assert unmeta("strip", src2).returncode == 0
    assert os.path.exists(t.path("a.b/noext.clean"))
    src3 = t.path("two.dots.JPEG")
    write(src3, before)
    assert unmeta("strip", src3).returncode == 0
    assert os.path.exists(t.path("two.dots.clean.JPEG"))


def test_output_option(t):
    src = photo(t)
    out = t.path("elsewhere.jpg")
    r = unmeta("strip", "-o", out, src)
    assert r.returncode == 0, r.stderr
    assert_clean_jpeg(t, out)
    out2 = t.path("long.jpg")
    assert unmeta("strip", "--output", out2, src).returncode == 0
    assert read(out2) == read(out)
    assert sorted(os.listdir(t.tmp)) == ["elsewhere.jpg", "long.jpg", "photo.jpg"]


def test_dir_option(t):
    a, b = photo(t, "a.jpg", seed=1), photo(t, "b.jpg", seed=2)
    os.mkdir(t.path("out"))
    r = unmeta("strip", "-d", t.path("out"), a, b)
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(t.path("out"))) == ["a.jpg", "b.jpg"]
    for n in ("a.jpg", "b.jpg"):
        assert_clean_jpeg(t, t.path("out/" + n))
    r = unmeta("strip", "-d", t.path("missing-folder"), a)
    assert r.returncode == 2 and b"not a folder" in r.stderr
    r = unmeta("strip", "-d", a, a)
    assert r.returncode == 2, "a file is not a folder"


def test_refuses_to_overwrite_without_force(t):
    src = photo(t)
    out = t.path("photo.clean.jpg")
    write(out, b"precious")
    r = unmeta("strip", src)
    assert r.returncode == 2
    assert b"-f" in r.stderr, r.stderr
    assert read(out) == b"precious"
    r = unmeta("strip", "-o", out, src)
    assert r.returncode == 2 and read(out) == b"precious"
    os.mkdir(t.path("d"))
    write(t.path("d/photo.jpg"), b"precious too")
    assert unmeta("strip", "-d", t.path("d"), src).returncode == 2
    assert read(t.path("d/photo.jpg")) == b"precious too"
    r = unmeta("strip", "-f", src)
    assert r.returncode == 0, r.stderr
    assert_clean_jpeg(t, out)
    assert unmeta("strip", "--force", "-d", t.path("d"), src).returncode == 0
    assert_clean_jpeg(t, t.path("d/photo.jpg"))
    no_temp_files(t.tmp)


def test_output_is_input_refused(t):
    src = photo(t)
    before = read(src)
    r = unmeta("strip", "-f", "-o", src, src)
    assert r.returncode == 2 and b"in-place" in r.stderr
    assert read(src) == before


def test_in_place(t):
    src = photo(t)
    expected = read(t.strip(src, out=t.path("expected.jpg")))
    os.chmod(src, 0o640)
    old = time.time() - 10 * 365 * 86400
    os.utime(src, (old, old))
    start = time.time()
    r = unmeta("strip", "--in-place", src)
    assert r.returncode == 0, r.stderr
    assert read(src) == expected
    st = os.stat(src)
    assert stat.S_IMODE(st.st_mode) == 0o640, oct(st.st_mode)
    assert st.st_mtime >= start - 2, "in-place output keeps the original's mtime (a capture-time leak)"
    no_temp_files(t.tmp)
    # -i is the short form; stripping a clean file again changes nothing.
    assert unmeta("strip", "-i", src).returncode == 0
    assert read(src) == expected


def test_in_place_corrupt_untouched(t):
    src = corrupt(t)
    os.chmod(src, 0o600)
    before, st = read(src), os.stat(src)
    r = unmeta("strip", "--in-place", src)
    assert r.returncode == 2 and r.stderr
    assert read(src) == before
    st2 = os.stat(src)
    assert (st2.st_ino, st2.st_mtime_ns, stat.S_IMODE(st2.st_mode)) == (st.st_ino, st.st_mtime_ns, 0o600)
    no_temp_files(t.tmp)


def test_in_place_through_symlink(t):
    src = photo(t, "real.jpg")
    link = t.path("link.jpg")
    os.symlink("real.jpg", link)
    r = unmeta("strip", "--in-place", link)
    assert r.returncode == 0, r.stderr
    assert os.path.islink(link), "the symbolic link was replaced by a file"
    assert_clean_jpeg(t, src)
    no_temp_files(t.tmp)


def test_in_place_several_files(t):
    files = [photo(t, f"p{i}.jpg", seed=i + 1) for i in range(3)]
    assert unmeta("strip", "--in-place", *files).returncode == 0
    for f in files:
        assert_clean_jpeg(t, f)


# ---- standard input and output ---------------------------------------------------

def test_stdin_to_stdout(t):
    src = photo(t)
    expected = read(t.strip(src, out=t.path("expected.jpg")))
    # A pipe (not seekable: spooled) ...
    r = unmeta("strip", "-", stdin=read(src))
    assert r.returncode == 0, r.stderr
    assert r.stdout == expected
    # ... and a redirected file (seekable descriptor).
    with open(src, "rb") as f:
        r = subprocess.run([harness.UNMETA, "strip", "-"], stdin=f, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 0 and r.stdout == expected
    # Shell form, to a file.
    out = t.path("shell.jpg")
    r = run(["sh", "-c", f'"{harness.UNMETA}" strip - < "{src}" > "{out}"'])
    assert r.returncode == 0 and read(out) == expected


def test_output_dash_is_stdout(t):
    src = photo(t)
    expected = read(t.strip(src, out=t.path("expected.jpg")))
    r = unmeta("strip", "-o", "-", src)
    assert r.returncode == 0 and r.stdout == expected
    assert not os.path.exists(t.path("-"))
    r = unmeta("strip", "-o", "-", "-", stdin=read(src))
    assert r.returncode == 0 and r.stdout == expected


def test_stdout_gets_nothing_on_error(t):
    r = unmeta("strip", "-o", "-", corrupt(t))
    assert r.returncode == 2 and r.stdout == b"" and r.stderr
    r = unmeta("strip", "-", stdin=b"not a picture at all")
    assert r.returncode == 2 and r.stdout == b""
    assert b"not a format unmeta knows" in r.stderr


def test_stdin_with_in_place_or_dir_refused(t):
    src = photo(t)
    assert unmeta("strip", "--in-place", "-", stdin=read(src)).returncode == 2
    os.mkdir(t.path("d"))
    r = unmeta("strip", "-d", t.path("d"), "-", stdin=read(src))
    assert r.returncode == 2 and os.listdir(t.path("d")) == []


# ---- inspect and check -------------------------------------------------------------

def test_inspect_human(t):
    src = photo(t)
    r = unmeta("inspect", src)
    assert r.returncode == 0, r.stderr  # finding metadata is inspect's success; check exits 1
    text = r.stdout.decode()
    assert re.search(r"48\.858\d*, -2\.294\d*", text), f"GPS not shown as signed decimal degrees:\n{text}"
    assert "CANARY-CLI-MAKE" in text and "CANARY-CLI-MODEL" in text, text
    assert "location" in text and "device" in text and "people" in text
    assert "strip would" in text and "remove" in text
    clean = t.strip(src)
    r = unmeta("inspect", clean)
    assert r.returncode == 0 and b"nothing privacy-relevant" in r.stdout, r.stdout


def test_inspect_json(t):
    src = photo(t)
    clean = t.strip(src)
    r = unmeta("inspect", "--json", src, clean, t.path("missing.jpg"))
    assert r.returncode == 2
    lines = r.stdout.decode().splitlines()
    assert len(lines) == 3, lines
    rows = [json.loads(line) for line in lines]
    dirty, ok, missing = rows
    for row in (dirty, ok):
        assert {"file", "format", "dirty", "blocks", "findings", "notes"} <= set(row), row.keys()
        assert row["format"] == "jpeg"
        for b in row["blocks"]:
            assert set(b) == {"kind", "offset", "size", "action"}, b
            assert b["action"] in ("keep", "remove", "rewrite")
            assert isinstance(b["offset"], int) and isinstance(b["size"], int)
        for f in row["findings"]:
            assert set(f) == {"category", "name", "value", "block", "offset", "size"}, f
            blk = row["blocks"][f["block"]]
            assert (f["offset"], f["size"]) == (blk["offset"], blk["size"])
        assert isinstance(row["notes"], list)
    assert dirty["file"] == src and dirty["dirty"] is True
    cats = {f["category"] for f in dirty["findings"]}
    assert {"location", "device", "people"} <= cats, cats
    gps = [f for f in dirty["findings"] if f["name"] == "GPSPosition"]
    assert gps and gps[0]["value"].startswith("48.858"), gps
    assert ok["dirty"] is False and ok["findings"] == []
    assert missing["file"].endswith("missing.jpg") and "error" in missing
    # The block list covers the file from SOI to EOI without overlaps.
    end = 0
    for b in sorted(dirty["blocks"], key=lambda b: b["offset"]):
        assert b["offset"] >= end, b
        end = b["offset"] + b["size"]
    # check --json speaks the same language.
    r = unmeta("check", "--json", src)
    assert r.returncode == 1 and json.loads(r.stdout)["dirty"] is True


def test_json_survives_foreign_bytes(t):
    data = read(photo(t))
    # A Latin-1 comment and a file name that is not UTF-8.
    com = b"\xff\xfe\x00\x12Caf\xe9 \x80\xff name\x01\x7f"
    name = os.path.join(t.tmp.encode(), b"n\xe9e.jpg")
    with open(name, "wb") as f:
        f.write(data[:2] + com + data[2:])
    r = subprocess.run([harness.UNMETA.encode(), b"inspect", b"--json", name], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    assert r.returncode == 0, r.stderr  # inspect succeeded; only check exits 1 for metadata
    row = json.loads(r.stdout)  # bytes: must be valid UTF-8 as well as JSON
    assert any(f["name"] == "Comment" and f["value"].startswith("Caf") for f in row["findings"]), row
    r = subprocess.run([harness.UNMETA.encode(), b"inspect", b"--json", name + b".missing"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 2 and "error" in json.loads(r.stdout)


def test_check_exit_codes(t):
    src = photo(t)
    clean = t.strip(src)
    text = t.path("notes.txt")
    write(text, b"just some text\n" * 20)
    r = unmeta("check", clean)
    assert r.returncode == 0 and b"clean" in r.stdout
    r = unmeta("check", src)
    assert r.returncode == 1 and b"location" in r.stdout
    r = unmeta("check", text)
    assert r.returncode == 2
    assert b"not a format unmeta knows" in r.stderr, r.stderr
    r = unmeta("check", corrupt(t))
    assert r.returncode == 2 and b"JPEG" in r.stderr
    assert unmeta("check", t.path("missing.jpg")).returncode == 2
    assert unmeta("check", clean, src).returncode == 1
    assert unmeta("check", src, text, clean).returncode == 2, "an error outranks dirty"
    r = unmeta("check", "-q", src)
    assert r.returncode == 1 and r.stdout == b""
    empty = t.path("empty.jpg")
    write(empty, b"")
    r = unmeta("check", empty)
    assert r.returncode == 2 and b"empty" in r.stderr


def test_several_files_one_failing(t):
    a, b = photo(t, "a.jpg", seed=1), photo(t, "c.jpg", seed=2)
    bad = corrupt(t, "b.jpg")
    r = unmeta("strip", a, bad, b)
    assert r.returncode == 2
    assert b"b.jpg" in r.stderr
    assert os.path.exists(t.path("a.clean.jpg")) and os.path.exists(t.path("c.clean.jpg"))
    assert not os.path.exists(t.path("b.clean.jpg"))
    assert_clean_jpeg(t, t.path("a.clean.jpg"))
    assert_clean_jpeg(t, t.path("c.clean.jpg"))
    no_temp_files(t.tmp)


def test_verbose_says_what_was_removed(t):
    src = photo(t)
    r = unmeta("strip", "-v", "-o", t.path("v.jpg"), src)
    assert r.returncode == 0
    err = r.stderr.decode()
    assert "removed APP1 Exif" in err and "removed COM" in err, err
    r = unmeta("strip", "-v", "-o", t.path("v2.jpg"), t.path("v.jpg"))
    assert b"nothing to remove" in r.stderr, r.stderr


# ---- usage -------------------------------------------------------------------------

def test_help_and_version(t):
    for args in (["--help"], ["-h"], ["strip", "--help"]):
        r = unmeta(*args)
        assert r.returncode == 0 and b"Usage:" in r.stdout, args
    for args in (["--version"], ["-V"]):
        r = unmeta(*args)
        assert r.returncode == 0
        # a second line only when the command cannot confine itself
        assert re.fullmatch(rb"unmeta \d+\.\d+\.\d+\n(sandbox: unavailable \([^\n]*\n)?", r.stdout), r.stdout
    root = os.environ.get("UNMETA_SOURCE_ROOT")
    if root:
        m = re.search(r"version\s*:\s*'([^']+)'", open(os.path.join(root, "meson.build")).read())
        assert m and unmeta("--version").stdout.decode().split()[1] == m.group(1), "the version disagrees with meson"
    r = unmeta("formats")
    assert r.returncode == 0 and b"jpeg" in r.stdout.split()
    # -v describes each family, naming the options that change what is kept
    v = unmeta("formats", "-v")
    assert v.returncode == 0 and len(v.stdout.splitlines()) == len(r.stdout.splitlines())
    lines = {ln.split()[0]: ln for ln in v.stdout.splitlines()}
    assert b"--keep-motion" in lines[b"jpeg"] and b"gain map" in lines[b"jpeg"], v.stdout
    assert b"--keep-depth" in lines[b"heif"] and b"--keep-motion" in lines[b"heif"], v.stdout


def test_startup_does_not_link_libcurl(t):
    # libcurl (and the ~26 libraries under it) is loaded with dlopen only when
    # a URL share store is used (cli/share_http.c); linked, it would be mapped
    # and relocated at every start, costing more than stripping a photo.
    harness.need("readelf")
    # Under scripts/memcheck, UNMETA is a wrapper script; UNMETA_ELF is the
    # executable it runs.
    exe = os.environ.get("UNMETA_ELF") or shutil.which(harness.UNMETA) or harness.UNMETA
    with open(exe, "rb") as f:
        assert f.read(4) == b"\x7fELF", f"{exe} is not the executable (set UNMETA_ELF)"
    r = run(["readelf", "-d", exe], check=True)
    needed = re.findall(rb"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", r.stdout)
    assert needed, r.stdout  # a dynamic executable lists at least libc
    assert not [n for n in needed if n.startswith(b"libcurl")], needed


def test_usage_errors(t):
    src = photo(t)
    cases = [
        [],
        ["frobnicate", src],
        ["strip"],
        ["strip", "--no-such-option", src],
        ["strip", "-Z", src],
        ["strip", "--icc=maybe", src],
        ["strip", "-o", t.path("x.jpg"), src, src],
        ["strip", "-o", t.path("x.jpg"), "-d", t.tmp, src],
        ["strip", "--in-place", "-o", t.path("x.jpg"), src],
        ["check"],
        ["inspect", "--bogus", src],
    ]
    for args in cases:
        r = unmeta(*args)
        assert r.returncode == 2, f"{args}: exit {r.returncode}"
        assert r.stderr.strip(), f"{args}: no message"
    assert sorted(os.listdir(t.tmp)) == ["photo.jpg"], os.listdir(t.tmp)


def test_missing_input(t):
    r = unmeta("strip", t.path("nope.jpg"))
    assert r.returncode == 2 and b"nope.jpg" in r.stderr
    os.mkdir(t.path("folder.jpg"))
    r = unmeta("strip", t.path("folder.jpg"))
    assert r.returncode == 2 and r.stderr


# ---- detection by content ---------------------------------------------------------

def test_detection_by_content(t):
    src = photo(t)
    disguised = t.path("x.png")
    write(disguised, read(src))
    r = unmeta("strip", disguised)
    assert r.returncode == 0, r.stderr
    out = t.path("x.clean.png")
    assert_clean_jpeg(t, out)
    r = unmeta("inspect", "--json", disguised)
    assert json.loads(r.stdout)["format"] == "jpeg"

    harness.need("convert")
    png = t.path("real-png.jpg")
    run(["convert", "-size", "31x17", "gradient:", "png:" + png], check=True)
    assert read(png)[:8] == b"\x89PNG\r\n\x1a\n"
    formats = unmeta("formats").stdout.split()
    if b"png" in formats:
        r = unmeta("strip", "-o", t.path("png-out.jpg"), png)
        assert r.returncode == 0, r.stderr
        assert read(t.path("png-out.jpg"))[:8] == b"\x89PNG\r\n\x1a\n"
        assert json.loads(unmeta("inspect", "--json", png).stdout)["format"] == "png"
    else:
        msg = t.refuse(png)
        assert "not a format unmeta knows" in msg, msg


if __name__ == "__main__":
    harness.main(globals())
