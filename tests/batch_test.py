"""Batch suite: `unmeta strip -r` over a folder tree with -j worker threads,
-d mirroring, --in-place, --json lines, the summary and exit codes.

The tree holds generated JPEGs and PNGs with GPS and device tags in nested
folders, a truncated JPEG, a text file, a file named like an earlier output,
a leftover temporary file and a symbolic link to a photo outside the tree."""
import json
import os

import harness
from harness import read, run, unmeta, write

CANARY = "CANARY-BATCH-MAKE"
PHOTOS = ["top.jpg", "a/one.jpg", "a/b/two.png", "a/b/c/three.jpg", "d/four.png", "d/photo-no-ext"]


def make_photo(path, seed):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fmt = "png:" if path.endswith(".png") else "jpg:"
    run(["convert", "-seed", str(seed), "-size", "53x37", "plasma:", fmt + path], check=True)
    run(["exiftool", "-q", "-q", "-overwrite_original", "-GPSLatitude=48.8583", "-GPSLatitudeRef=N",
         "-GPSLongitude=2.2945", "-GPSLongitudeRef=E", "-Make=" + CANARY, "-Model=CANARY-BATCH-MODEL",
         path], check=True)


def tree(t, broken=True):
    """The test tree under t.path('in'); returns its root."""
    harness.need("convert", "exiftool")
    root = t.path("in")
    for i, rel in enumerate(PHOTOS):
        make_photo(os.path.join(root, rel), i + 1)
    if broken:
        data = read(os.path.join(root, "top.jpg"))
        write(os.path.join(root, "a", "broken.jpg"), data[:len(data) // 2])
    write(os.path.join(root, "a", "b", "notes.txt"), b"not a photo\n")
    write(os.path.join(root, "d", "old.clean.jpg"), b"an earlier output, passed over\n")
    write(os.path.join(root, "d", "x.jpg.0123.unmeta-tmp"), b"a leftover temporary file\n")
    outside = t.path("outside.jpg")
    make_photo(outside, 99)
    os.symlink(outside, os.path.join(root, "a", "link.jpg"))
    return root


def snapshot(root):
    """{relative path: bytes} of every regular file under root (links not followed)."""
    out = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            if os.path.isfile(p) and not os.path.islink(p):
                out[os.path.relpath(p, root)] = read(p)
    return out


def summary_counts(stderr):
    line = [l for l in stderr.decode().splitlines() if " cleaned, " in l][-1]
    return line


def test_mirror_tree_clean_outputs(t):
    root = tree(t)
    before = snapshot(root)
    out = t.path("out")
    os.mkdir(out)
    r = unmeta("strip", "-r", "-d", out, root)
    assert r.returncode == 2, f"a broken file must give exit 2, got {r.returncode}: {r.stderr}"
    assert snapshot(root) == before, "the inputs changed"
    # The folder named is mirrored under its own name: OUT/in/...
    got = sorted(snapshot(out))
    want = sorted(os.path.join("in", p) for p in PHOTOS)
    assert got == want, f"the mirror holds {got}, expected {want}"
    for rel in PHOTOS:
        p = os.path.join(out, "in", rel)
        t.assert_clean(p)
        assert CANARY.encode() not in read(p), f"{rel} still holds the canary"
        assert harness.pixels(p) == harness.pixels(os.path.join(root, rel)), f"{rel}: pixels changed"
    # Folders of the mirror take 0755 & ~umask; the text-only folders hold nothing.
    mode = os.stat(os.path.join(out, "in", "a", "b", "c")).st_mode & 0o777
    mask = os.umask(0)
    os.umask(mask)
    assert mode == 0o755 & ~mask, oct(mode)
    line = summary_counts(r.stderr)
    assert "8 files: 6 cleaned, 0 already clean" in line, line
    assert "1 skipped (not a photo or video), 1 refused, 0 errors" in line, line
    err = r.stderr.decode()
    assert "broken.jpg" in err and "refused (" in err, err
    assert "1 symbolic link" in err and "1 earlier output" in err, err
    assert "notes.txt" not in err, "a skipped file is not an error message"
    assert "unmeta-tmp" not in err


def test_exit_zero_without_broken_files(t):
    root = tree(t, broken=False)
    out = t.path("out")
    os.mkdir(out)
    r = unmeta("strip", "-r", "-j", "3", "-d", out, root)
    assert r.returncode == 0, f"skipped files are not failures: exit {r.returncode}: {r.stderr}"
    assert "6 cleaned" in summary_counts(r.stderr)
    # Named on the command line, a file no format claims is an error.
    r = unmeta("strip", "-r", "-d", out, "-f", os.path.join(root, "a", "b", "notes.txt"))
    assert r.returncode == 2, r.returncode
    assert "1 refused" in summary_counts(r.stderr), r.stderr


def test_jobs_outputs_identical(t):
    root = tree(t)
    outs = {}
    for j in ("1", "4"):
        out = t.path("out" + j)
        os.mkdir(out)
        r = unmeta("strip", "-r", "-j", j, "-d", out, root)
        assert r.returncode == 2, r.stderr
        outs[j] = (snapshot(out), summary_counts(r.stderr))
    assert outs["1"][0] == outs["4"][0], "-j 1 and -j 4 outputs differ"
    assert outs["1"][1] == outs["4"][1], "the summary depends on the schedule"
    assert len(outs["1"][0]) == len(PHOTOS)


def test_in_place(t):
    root = tree(t)
    broken = os.path.join(root, "a", "broken.jpg")
    notes = os.path.join(root, "a", "b", "notes.txt")
    keep = {p: read(p) for p in (broken, notes)}
    outside = read(t.path("outside.jpg"))
    r = unmeta("strip", "-r", "--in-place", root)
    assert r.returncode == 2, r.stderr
    for p, data in keep.items():
        assert read(p) == data, f"{p} changed"
    assert read(t.path("outside.jpg")) == outside, "the link was followed"
    for rel in PHOTOS:
        t.assert_clean(os.path.join(root, rel))
    leftovers = [n for n in snapshot(root) if n.endswith(".unmeta-tmp") and "0123" not in n]
    assert not leftovers, leftovers
    assert not [n for n in snapshot(root) if ".clean" in n and "old.clean" not in n]
    # Again: everything is clean, so nothing is rewritten (times stay as they were).
    times = {rel: os.stat(os.path.join(root, rel)).st_mtime_ns for rel in PHOTOS}
    r = unmeta("strip", "-r", "-i", "-j", "2", root)
    assert "0 cleaned, 6 already clean (left untouched)" in summary_counts(r.stderr), r.stderr
    assert times == {rel: os.stat(os.path.join(root, rel)).st_mtime_ns for rel in PHOTOS}


def test_follow_symlinks(t):
    root = tree(t, broken=False)
    out = t.path("out")
    os.mkdir(out)
    r = unmeta("strip", "-r", "--follow-symlinks", "-d", out, root)
    assert r.returncode == 0, r.stderr
    t.assert_clean(os.path.join(out, "in", "a", "link.jpg"))


def test_default_names_beside_inputs(t):
    root = tree(t, broken=False)
    r = unmeta("strip", "-r", root)
    assert r.returncode == 0, r.stderr
    for rel in PHOTOS:
        base, ext = os.path.splitext(rel)
        t.assert_clean(os.path.join(root, base + ".clean" + ext))
    # A second run passes over the outputs and refuses to overwrite without -f.
    r = unmeta("strip", "-r", root)
    assert r.returncode == 2
    err = r.stderr.decode()
    assert "7 earlier outputs" in err and "exists; use -f" in err, err
    assert unmeta("strip", "-r", "-f", root).returncode == 0


def test_json_lines(t):
    root = tree(t)
    out = t.path("out")
    os.mkdir(out)
    r = unmeta("strip", "-r", "-j", "4", "--json", "-d", out, root)
    assert r.returncode == 2
    rows = [json.loads(l) for l in r.stdout.decode().splitlines()]
    by = {os.path.relpath(x["path"], root): x for x in rows}
    assert sorted(by) == sorted(PHOTOS + ["a/broken.jpg", "a/b/notes.txt"]), sorted(by)
    for rel in PHOTOS:
        x = by[rel]
        assert x["status"] == "cleaned", x
        assert x["format"] == ("png" if rel.endswith(".png") else "jpeg"), x
        assert x["removed"]["location"] >= 1 and x["removed"]["device"] >= 1, x
        assert x["bytes_in"] == os.path.getsize(os.path.join(root, rel)), x
        assert x["bytes_out"] == os.path.getsize(os.path.join(out, "in", rel)), x
        assert x["output"] == os.path.join(out, "in", rel), x
        assert "error" not in x
    assert by["a/broken.jpg"]["status"] == "refused" and by["a/broken.jpg"]["error"], by["a/broken.jpg"]
    assert by["a/broken.jpg"]["bytes_out"] is None
    assert by["a/b/notes.txt"]["status"] == "skipped", by["a/b/notes.txt"]
    # Everything written is clean now: a second pass says so.
    r = unmeta("strip", "-r", "--json", "-i", out)
    rows = [json.loads(l) for l in r.stdout.decode().splitlines()]
    assert r.returncode == 0 and len(rows) == len(PHOTOS)
    assert all(x["status"] == "clean" and sum(x["removed"].values()) == 0 for x in rows), rows


def test_progress_forced(t):
    root = tree(t, broken=False)
    out = t.path("out")
    os.mkdir(out)
    r = unmeta("strip", "-r", "--progress", "-d", out, root)
    assert r.returncode == 0
    assert b"\r" in r.stderr and b"/7]" in r.stderr, r.stderr
    r = unmeta("strip", "-r", "-f", "-d", out, root)
    assert b"\r" not in r.stderr, "progress on a pipe"


def test_usage_errors(t):
    root = tree(t, broken=False)
    r = unmeta("strip", "-d", t.tmp, "-j", "2", root)
    assert r.returncode == 2 and b"use -r" in r.stderr, r.stderr
    assert unmeta("strip", "-r", "-j", "0", root).returncode == 2
    assert unmeta("strip", "-r", "-o", t.path("x.jpg"), root).returncode == 2


# ---- where outputs go when several inputs are given ------------------------------

def two_albums(t, a="A/photos", b="B/photos"):
    """Two folders, each with x.jpg (different pictures) and one own file."""
    harness.need("convert", "exiftool")
    for i, folder in enumerate((a, b)):
        make_photo(os.path.join(t.path(folder), "x.jpg"), 10 + i)
        make_photo(os.path.join(t.path(folder), "own%d.jpg" % i), 20 + i)
    return t.path(a), t.path(b)


def test_roots_mirrored_under_their_own_names(t):
    a, b = two_albums(t, "A/2023", "B/2024")
    out = t.path("out")
    os.mkdir(out)
    r = unmeta("strip", "-r", "-d", out, a, b)
    assert r.returncode == 0, r.stderr
    assert sorted(snapshot(out)) == ["2023/own0.jpg", "2023/x.jpg", "2024/own1.jpg", "2024/x.jpg"], snapshot(out)
    assert harness.pixels(os.path.join(out, "2024", "x.jpg")) == harness.pixels(os.path.join(b, "x.jpg"))
    # "." is mirrored under the folder's real name.
    out2 = t.path("out2")
    os.mkdir(out2)
    r = run([os.path.abspath(harness.UNMETA), "strip", "-r", "-d", out2, "."], cwd=a)
    assert r.returncode == 0, r.stderr
    assert sorted(snapshot(out2)) == ["2023/own0.jpg", "2023/x.jpg"], snapshot(out2)


def test_roots_with_one_name_refused_before_any_work(t):
    a, b = two_albums(t)
    out = t.path("out")
    os.mkdir(out)
    for extra in ([], ["-f"], ["-j", "4"]):
        r = unmeta("strip", "-r", *extra, "-d", out, a, b)
        assert r.returncode == 2, r.stderr
        err = r.stderr.decode()
        assert "would both be written to" in err and "photos/x.jpg" in err, err
        assert "nothing was written" in err, err
        assert snapshot(out) == {}, "a refused run wrote something"


def test_named_files_with_one_name_refused(t):
    a, b = two_albums(t)
    out = t.path("out")
    os.mkdir(out)
    xa, xb = os.path.join(a, "x.jpg"), os.path.join(b, "x.jpg")
    for args in (["-d", out], ["-f", "-d", out], ["-r", "-f", "-d", out]):
        r = unmeta("strip", *args, xa, xb)
        assert r.returncode == 2 and b"would both be written to" in r.stderr, (args, r.stderr)
        assert snapshot(out) == {}, args
    # The same file under another spelling is no collision: stripped once.
    for args in (["-d", out], ["-r", "-d", out]):
        r = unmeta("strip", *args, "-f", xa, os.path.join(a, ".", "x.jpg"), xa)
        assert r.returncode == 0, r.stderr
        assert b"named more than once" in r.stderr, r.stderr
        assert sorted(snapshot(out)) == ["x.jpg"]
        assert harness.pixels(os.path.join(out, "x.jpg")) == harness.pixels(xa)
    # -o naming the input under another spelling is the input.
    before = read(xa)
    r = unmeta("strip", "-f", "-o", os.path.join(a, "..", "photos", "x.jpg"), xa)
    assert r.returncode == 2 and b"in-place" in r.stderr, r.stderr
    assert read(xa) == before


def test_in_place_file_met_twice_stripped_once(t):
    a, _ = two_albums(t)
    x = os.path.join(a, "x.jpg")
    os.symlink(x, t.path("link.jpg"))
    r = unmeta("strip", "-r", "-i", "-j", "4", t.path("A"), a, x, t.path("link.jpg"))
    assert r.returncode == 0, r.stderr
    line = summary_counts(r.stderr)
    assert line.startswith("unmeta: 2 files: 2 cleaned"), line
    assert b"4 files named more than once" in r.stderr, r.stderr
    t.assert_clean(x)
    assert os.path.islink(t.path("link.jpg")), "the link was replaced instead of its target"


def test_output_folder_inside_an_input_folder(t):
    root = tree(t, broken=False)
    out = os.path.join(root, "clean")
    os.mkdir(out)
    r = unmeta("strip", "-r", "-d", out, root)
    assert r.returncode == 0, r.stderr
    assert sorted(snapshot(out)) == sorted(os.path.join("in", p) for p in PHOTOS)
    assert b"passed over" in r.stderr and b"the output folder" in r.stderr, r.stderr
    # Again: the outputs of the first run are not inputs of the second.
    r = unmeta("strip", "-r", "-f", "-d", out, root)
    assert r.returncode == 0, r.stderr
    assert "%d files:" % (len(PHOTOS) + 1) in summary_counts(r.stderr), r.stderr
    assert sorted(snapshot(out)) == sorted(os.path.join("in", p) for p in PHOTOS)


def test_output_folder_is_an_input_folder(t):
    root = tree(t, broken=False)
    before = snapshot(root)
    for args in (["-d", root, root], ["-f", "-d", root, root]):
        r = unmeta("strip", "-r", *args)
        assert r.returncode == 2 and b"-d names this input folder itself" in r.stderr, r.stderr
        assert snapshot(root) == before
    # An input folder inside the output folder: its outputs would be its inputs.
    parent = os.path.dirname(root)
    r = unmeta("strip", "-r", "-f", "-d", parent, root)
    assert r.returncode == 2 and b"the output is the input" in r.stderr, r.stderr
    assert snapshot(root) == before


harness.main(globals())
