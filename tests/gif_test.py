"""GIF: comments, XMP, ICC, plain-text and application extensions and data
after the trailer are removed; every frame's pixels, the graphic control
extensions and the loop count stay; truncated or malformed files are refused
with the original untouched.

Fixtures are made here: ImageMagick draws the frames, gifsicle and exiftool
add comments, extensions and XMP, and small blocks (plain text, ICC, unknown
labels, trailers) are spliced in by hand. Judges: exiftool (harness.leaks),
ImageMagick pixels of every frame, gifsicle's view of the loop count, and
byte equality with the fixture minus the blocks that must go.
"""
import struct

import harness

# ---- building and taking apart GIFs by hand ------------------------------


def blocks(d):
    """[(kind, start, end)] of a GIF: 'header', 'image', 'ext-XX', 'trailer'."""
    out = []
    flags = d[10]
    i = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    out.append(("header", 0, i))
    while i < len(d):
        b = d[i]
        if b == 0x3B:
            out.append(("trailer", i, i + 1))
            return out
        start = i
        if b == 0x21:
            kind = "ext-%02x" % d[i + 1]
            j = i + 2
        elif b == 0x2C:
            kind = "image"
            fl = d[i + 9]
            j = i + 10 + (3 << ((fl & 7) + 1) if fl & 0x80 else 0) + 1
        else:
            raise ValueError(f"introducer {b:#x} at {i}")
        while d[j]:
            j += d[j] + 1
        i = j + 1
        out.append((kind, start, i))
    raise ValueError("no trailer")


def sub_blocks(data):
    """data as a chain of sub-blocks with its terminator."""
    out = b""
    for k in range(0, len(data), 255):
        piece = data[k:k + 255]
        out += bytes([len(piece)]) + piece
    return out + b"\0"


def app_ext(ident, data):
    assert len(ident) == 11
    return b"\x21\xff\x0b" + ident + sub_blocks(data)


def insert_before(d, kind, ext, nth=0):
    """d with ext inserted before the nth block of that kind."""
    starts = [s for k, s, _ in blocks(d) if k == kind]
    at = starts[nth]
    return d[:at] + ext + d[at:]


def without(d, kind, containing=b""):
    """d without every block of that kind (holding `containing`)."""
    out = b""
    for k, s, e in blocks(d):
        if k != kind or containing not in d[s:e]:
            out += d[s:e]
    return out


def first(d, kind):
    """(start, end) of the first block of that kind."""
    return next((s, e) for k, s, e in blocks(d) if k == kind)


def icc_profile(marker, desc):
    """A small, valid display profile whose header names a device and whose
    description is desc (ICC.1:2001 textDescriptionType)."""
    text = desc + b"\0"
    desc_tag = b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(4 + 4 + 2 + 1 + 67)
    wtpt = b"XYZ " + bytes(4) + struct.pack(">3i", 63190, 65536, 54061)
    tags = [(b"wtpt", wtpt), (b"desc", desc_tag)]
    off = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        table += sig + struct.pack(">2I", off + len(data), len(body))
        data += body + bytes(-len(body) % 4)
    hdr = bytearray(128)
    hdr[0:4] = struct.pack(">I", off + len(data))
    hdr[4:8] = marker[:4]                       # CMM type
    hdr[8:12] = b"\x02\x10\x00\x00"            # version 2.1
    hdr[12:16] = b"mntr"
    hdr[16:20] = b"RGB "
    hdr[20:24] = b"XYZ "
    hdr[24:36] = struct.pack(">6H", 2021, 6, 5, 4, 3, 2)
    hdr[36:40] = b"acsp"
    hdr[40:44] = b"APPL"
    hdr[48:52] = marker[:4]                     # device manufacturer
    hdr[52:56] = marker[4:8]                    # device model
    hdr[68:80] = struct.pack(">3I", 63190, 65536, 54061)  # D50
    hdr[80:84] = marker[:4]                     # creator
    return bytes(hdr) + struct.pack(">I", len(tags)) + table + data


# ---- fixtures --------------------------------------------------------------


def animation(t, name="anim.gif", loops=3):
    """Three frames (two flat, one gradient with many colours), looping."""
    harness.need("convert")
    out = t.path(name)
    harness.run(["convert", "-size", "40x30", "-delay", "10", "xc:red", "xc:blue",
                 "gradient:green-yellow", "-loop", str(loops), out], check=True)
    return out


def loop_info(path):
    """gifsicle's loop line ('loop count N' / 'loop forever'), or None."""
    r = harness.run(["gifsicle", "--info", path], check=True)
    for line in r.stdout.decode(errors="replace").splitlines():
        if line.strip().startswith("loop"):
            return line.strip()
    return None


def frames(path):
    r = harness.run(["identify", path], check=True)
    return len(r.stdout.decode().strip().splitlines())


def strip_and_judge(t, src, *canaries, allow=()):
    out = t.strip(src)
    t.assert_clean(out, allow)
    t.assert_absent(out, *canaries)
    assert harness.pixels(out) == harness.pixels(src), "pixels changed"
    assert frames(out) == frames(src), "frame count changed"
    t.assert_idempotent(out)
    return out


def assert_dirty(path):
    r = harness.unmeta("check", "-q", path)
    assert r.returncode == 1, f"{path}: check says clean (exit {r.returncode}) before strip"


# ---- tests -----------------------------------------------------------------


def test_animation_comment_xmp(t):
    """An animation with a comment and XMP (exiftool's 'XMP DataXMP' with its
    magic trailer): both go, every frame and the loop count stay."""
    harness.need("exiftool", "gifsicle")
    src = animation(t)
    dirty = t.path("dirty.gif")
    harness.run(["exiftool", "-q", "-Comment=CANARY-GIF-COMMENT", "-XMP-dc:Creator=CANARY-GIF-XMP",
                 "-XMP-exif:GPSLatitude=48.8583", "-XMP-exif:GPSLongitude=2.2945",
                 "-XMP-tiff:Model=CANARY-GIF-MODEL", "-o", dirty, src], check=True)
    data = harness.read(dirty)
    assert b"CANARY-GIF-XMP" in data and b"XMP DataXMP" in data and b"CANARY-GIF-COMMENT" in data
    assert_dirty(dirty)
    r = harness.unmeta("inspect", dirty)
    report = r.stdout.decode(errors="replace")
    assert "CANARY-GIF-COMMENT" in report and "GPSLatitude" in report, report
    out = strip_and_judge(t, dirty, "CANARY-GIF-COMMENT", "CANARY-GIF-XMP", "CANARY-GIF-MODEL",
                          "XMP DataXMP", "<?xpacket")
    assert loop_info(out) == loop_info(dirty) and loop_info(out), (loop_info(out), loop_info(dirty))
    before = harness.exif(dirty).get("GIF:AnimationIterations")
    assert before is not None and harness.exif(out).get("GIF:AnimationIterations") == before
    # Nothing but the comment and the XMP was taken out.
    expect = without(without(data, "ext-fe"), "ext-ff", b"XMP DataXMP")
    assert harness.read(out) == expect


def test_exact_keep_list(t):
    """The output is the input minus the dropped blocks, byte for byte."""
    harness.need("gifsicle")
    src = animation(t)
    base = harness.read(src)
    dirty = t.path("dirty.gif")
    d = insert_before(base, "image", b"\x21\xfe" + sub_blocks(b"CANARY-GIF-KEEPLIST" * 30))
    d = insert_before(d, "image", app_ext(b"CANARYAPP10", b"CANARY-GIF-APP"), nth=1)
    harness.write(dirty, d)
    out = t.strip(dirty)
    assert harness.read(out) == base, "output is not the input minus the comment and the application block"


def test_comment_in_second_frame(t):
    harness.need("gifsicle")
    src = animation(t)
    dirty = t.path("second.gif")
    harness.run(["gifsicle", src, "#0", "--comment", "CANARY-GIF-SECOND", "#1", "#2", "-o", dirty], check=True)
    kinds = [k for k, _, _ in blocks(harness.read(dirty))]
    assert kinds.index("ext-fe") > kinds.index("image"), kinds
    assert_dirty(dirty)
    strip_and_judge(t, dirty, "CANARY-GIF-SECOND")


def test_multiple_comments(t):
    """ImageMagick writes one comment per frame; gifsicle adds more."""
    harness.need("convert", "gifsicle")
    im = t.path("im.gif")
    harness.run(["convert", "-size", "40x30", "-delay", "10", "xc:red", "xc:blue", "xc:white",
                 "-set", "comment", "CANARY-GIF-IM", "-loop", "0", im], check=True)
    dirty = t.path("many.gif")
    harness.run(["gifsicle", im, "--comment", "CANARY-GIF-ONE", "#0", "--comment", "CANARY-GIF-TWO",
                 "#1", "--comment", "CANARY-GIF-THREE", "#2", "-o", dirty], check=True)
    d = harness.read(dirty)
    assert sum(1 for k, _, _ in blocks(d) if k == "ext-fe") >= 3
    out = strip_and_judge(t, dirty, "CANARY-GIF-IM", "CANARY-GIF-ONE", "CANARY-GIF-TWO", "CANARY-GIF-THREE")
    assert "ext-fe" not in [k for k, _, _ in blocks(harness.read(out))]
    assert loop_info(out) == loop_info(dirty)


def test_plain_text_extension(t):
    src = animation(t)
    base = harness.read(src)
    grid = struct.pack("<4H4B", 0, 0, 40, 30, 8, 8, 1, 0)
    ext = b"\x21\x01" + bytes([12]) + grid + sub_blocks(b"CANARY-GIF-PLAINTEXT")
    dirty = t.path("text.gif")
    harness.write(dirty, insert_before(base, "image", ext, nth=1))
    assert_dirty(dirty)
    out = strip_and_judge(t, dirty, "CANARY-GIF-PLAINTEXT")
    assert harness.read(out) == base


def test_unknown_application_and_label(t):
    harness.need("gifsicle")
    src = animation(t)
    dirty = t.path("apps.gif")
    harness.run(["gifsicle", "--app-extension", "CANARYAPP1.0", "CANARY-GIF-APP",
                 "--extension", "0x99", "CANARY-GIF-LABEL", src, "-o", dirty], check=True)
    d = harness.read(dirty)
    d = insert_before(d, "image", app_ext(b"MGKIPTC0000", b"CANARY-GIF-IPTC"), nth=2)
    harness.write(dirty, d)
    assert_dirty(dirty)
    out = strip_and_judge(t, dirty, "CANARY-GIF-APP", "CANARY-GIF-LABEL", "CANARY-GIF-IPTC", "CANARYAPP")
    assert loop_info(out) == loop_info(dirty)


def test_icc_profile(t):
    """'ICCRGBG1012' (as exiftool writes it) is dropped in both ICC modes;
    what its header names is reported first."""
    harness.need("exiftool")
    src = animation(t)
    icc = t.path("dev.icc")
    harness.write(icc, icc_profile(b"CNRYGIFX", b"CANARY-GIF-ICCDESC"))
    dirty = t.path("icc.gif")
    harness.run(["exiftool", "-q", "-icc_profile<=" + icc, "-o", dirty, src], check=True)
    tags = harness.exif(dirty)
    assert tags.get("ICC_Profile:ICC-header:DeviceManufacturer") == "CNRY", tags
    assert b"ICCRGBG1012" in harness.read(dirty)
    r = harness.unmeta("inspect", dirty)
    assert "CNRY" in r.stdout.decode(errors="replace"), r.stdout
    for opts in ((), ("--icc=strip",)):
        out = t.strip(dirty, *opts, out=t.path("out%d.gif" % len(opts)))
        t.assert_clean(out)
        t.assert_absent(out, "ICCRGBG1012", "CNRYGIFX", "CANARY-GIF-ICCDESC", b"acsp")
        assert not any(k.startswith("ICC_Profile:") for k in harness.exif(out))
        assert harness.read(out) == without(harness.read(dirty), "ext-ff", b"ICCRGBG1012")
        assert harness.pixels(out) == harness.pixels(src)


def test_looping_extension_kept_or_dropped(t):
    """The first standard NETSCAPE2.0 stays; a second one and one with
    non-standard sub-blocks go."""
    src = animation(t, loops=5)
    base = harness.read(src)
    assert any(harness.read(src)[s:e].startswith(b"\x21\xff\x0bNETSCAPE2.0") for k, s, e in blocks(base))
    dup = insert_before(base, "image", app_ext(b"NETSCAPE2.0", b"\x01\x07\x00"), nth=1)
    p = t.path("dup.gif")
    harness.write(p, dup)
    assert harness.read(t.strip(p)) == base
    # A looping extension hiding text in an extra sub-block.
    bare = without(base, "ext-ff")
    hidden = b"CANARY-GIF-NETSCAPE"
    odd = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x05\x00" + bytes([len(hidden)]) + hidden + b"\x00"
    p = t.path("odd.gif")
    harness.write(p, insert_before(bare, "image", odd))
    assert_dirty(p)
    out = strip_and_judge(t, p, "CANARY-GIF-NETSCAPE")
    assert harness.read(out) == bare


def test_trailing_data(t):
    src = animation(t)
    base = harness.read(src)
    dirty = t.path("trail.gif")
    harness.write(dirty, base + b"PK\x03\x04CANARY-GIF-TRAILER" + bytes(100))
    assert_dirty(dirty)
    out = strip_and_judge(t, dirty, "CANARY-GIF-TRAILER")
    assert harness.read(out) == base


def test_zero_padding_after_trailer(t):
    """Zeros after the trailer are dropped without calling the file dirty."""
    src = animation(t)
    base = harness.read(src)
    p = t.path("pad.gif")
    harness.write(p, base + bytes(64))
    assert harness.unmeta("check", "-q", p).returncode == 0
    assert harness.read(t.strip(p)) == base


def test_empty_comment(t):
    """A comment without sub-blocks holds nothing: dropped, not a finding."""
    src = animation(t)
    base = harness.read(src)
    p = t.path("empty.gif")
    harness.write(p, insert_before(base, "image", b"\x21\xfe\x00"))
    assert harness.unmeta("check", "-q", p).returncode == 0
    assert harness.read(t.strip(p)) == base


def test_gif87a(t):
    harness.need("convert")
    src = t.path("old.gif")
    harness.run(["convert", "-size", "40x30", "gradient:red-blue", "GIF87:" + src], check=True)
    base = harness.read(src)
    assert base[:6] == b"GIF87a"
    dirty = t.path("old-dirty.gif")
    harness.write(dirty, insert_before(base, "image", b"\x21\xfe" + sub_blocks(b"CANARY-GIF-87A")))
    out = strip_and_judge(t, dirty, "CANARY-GIF-87A")
    assert harness.read(out) == base


def test_large_frames(t):
    """Image data of many sub-blocks (one copy per frame) survives intact."""
    harness.need("convert", "exiftool")
    src = t.path("big.gif")
    harness.run(["convert", "-seed", "7", "-size", "640x480", "plasma:", "plasma:", "-delay", "5",
                 "-set", "comment", "CANARY-GIF-BIG", "-loop", "0", src], check=True)
    assert len(harness.read(src)) > 200000
    out = strip_and_judge(t, src, "CANARY-GIF-BIG")
    assert harness.read(out) == without(harness.read(src), "ext-fe")


def test_zero_size_frame(t):
    """An empty frame is legal: copied unchanged (ImageMagick refuses such
    files, so bytes are the judge), with a note."""
    src = animation(t)
    base = harness.read(src)
    empty = b"\x2c" + struct.pack("<4H", 0, 0, 0, 30) + b"\x00\x02\x02\x4c\x01\x00"
    p = t.path("zero.gif")
    harness.write(p, insert_before(base, "trailer", empty))
    dirty = t.path("zero-dirty.gif")
    harness.write(dirty, insert_before(harness.read(p), "trailer", b"\x21\xfe" + sub_blocks(b"CANARY-GIF-ZERO")))
    out = t.strip(dirty)
    assert harness.read(out) == harness.read(p)
    assert harness.unmeta("check", "-q", out).returncode == 0
    r = harness.unmeta("inspect", dirty)
    assert "0x30" in r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")


def test_truncated_refused(t):
    src = animation(t)
    base = harness.read(src)
    last = [(s, e) for k, s, e in blocks(base) if k == "image"][-1]
    for cut in (last[0] + 5, (last[0] + last[1]) // 2, last[1] - 1, 20):
        p = t.path("cut%d.gif" % cut)
        harness.write(p, base[:cut])
        msg = t.refuse(p)
        assert "GIF" in msg, msg


def test_missing_trailer_refused(t):
    src = animation(t)
    base = harness.read(src)
    assert base.endswith(b"\x3b")
    p = t.path("notrailer.gif")
    harness.write(p, base[:-1])
    assert "trailer" in t.refuse(p)


def test_malformed_refused(t):
    src = animation(t)
    base = harness.read(src)
    img = first(base, "image")[0]
    assert base[img + 9] & 0x80 == 0 and base[img + 10] == 2, "first frame has a local colour table"
    cases = {
        "introducer": insert_before(base, "image", b"\x00", nth=1),
        "gce-size": insert_before(base, "image", b"\x21\xf9\x05\x00\x0a\x00\x00\x00\x00"),
        "lzw-size": base[:img + 10] + b"\x0c" + base[img + 11:],
        "no-image": base[:blocks(base)[0][2]] + b"\x3b",
    }
    for name, data in cases.items():
        assert data != base, name
        p = t.path(name + ".gif")
        harness.write(p, data)
        t.refuse(p)


if __name__ == "__main__":
    harness.main(globals())
