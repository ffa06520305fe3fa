"""JPEG suite: one fixture per leak channel, made here with exiftool,
ImageMagick, cjpeg/jpegtran and byte surgery. Every fixture carries canary
strings; the stripped output must hold none of them, exiftool must find
nothing, djpeg must decode the same pixels (only the entropy-coded data
matters), the auto-oriented render must be the same, strip(strip(x)) must
equal strip(x), and `unmeta check` must say dirty before and clean after.
Corrupt inputs must be refused with the original untouched."""
import json
import os
import shutil
import struct
import subprocess

import harness
from harness import djpeg, exif, pixels, read, run, unmeta, write

ICC_DIR = "/usr/share/color/icc"


# ---- fixtures --------------------------------------------------------------

def ppm(t, w, h, seed=1, name=None):
    """A deterministic, busy RGB picture as PPM (ImageMagick plasma)."""
    harness.need("convert")
    path = t.path(name or f"src-{w}x{h}-{seed}.ppm")
    if not os.path.exists(path):
        run(["convert", "-seed", str(seed), "-size", f"{w}x{h}", "plasma:", path], check=True)
    return path


def cjpeg(t, name, w=227, h=149, *opts, seed=1):
    """A JPEG encoded by cjpeg from a plasma picture."""
    harness.need("cjpeg")
    src = ppm(t, w, h, seed)
    out = t.path(name)
    r = run(["cjpeg", "-quality", "90", *opts, "-outfile", out, src], check=True)
    assert r.returncode == 0
    return out


def exiftool(path, *args):
    harness.need("exiftool")
    r = run(["exiftool", "-q", "-q", "-overwrite_original", *args, path])
    assert r.returncode == 0, f"exiftool {args!r} failed: {r.stderr.decode(errors='replace')}"
    return path


def segment(marker, body):
    assert len(body) + 2 <= 0xFFFF
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def segments(data):
    """Walks the marker segments of a JPEG: [(marker, offset, total_length)],
    entropy-coded data skipped; stops after EOI."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    out = [(0xD8, 0, 2)]
    pos = 2
    while pos < len(data):
        assert data[pos] == 0xFF, f"no marker at {pos}"
        m = data[pos + 1]
        if m == 0xFF:
            pos += 1
            continue
        if m == 0xD9:
            out.append((m, pos, 2))
            return out
        if 0xD0 <= m <= 0xD7:
            out.append((m, pos, 2))
            pos += 2
            continue
        n = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        out.append((m, pos, n + 2))
        pos += 2 + n
        if m == 0xDA:
            while True:
                pos = data.index(b"\xff", pos)
                nxt = data[pos + 1]
                if nxt == 0 or 0xD0 <= nxt <= 0xD7:
                    pos += 2
                    continue
                if nxt == 0xFF:
                    pos += 1
                    continue
                break
    raise AssertionError("no EOI")


def find_segments(data, marker, sig=b""):
    return [(o, n) for m, o, n in segments(data) if m == marker and data[o + 4:o + 4 + len(sig)] == sig]


def insert_after_soi(data, *segs):
    return data[:2] + b"".join(segs) + data[2:]


def insert_after(data, marker, *segs):
    """Inserts segments right after the first segment with this marker."""
    for m, o, n in segments(data):
        if m == marker:
            return data[:o + n] + b"".join(segs) + data[o + n:]
    raise AssertionError(f"no marker {marker:02X}")


def tiff_be(ifd0, sub=None):
    """A big-endian TIFF/EXIF structure: IFD0 entries (tag, type, count,
    bytes) and optionally an Exif sub-IFD with its own entries."""
    sizes = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1}

    def build(entries, base, extra_ptr=None):
        entries = sorted(entries + ([(0x8769, 4, 1, b"\0\0\0\0")] if extra_ptr else []))
        n = len(entries)
        data_off = base + 2 + 12 * n + 4
        head, tail = struct.pack(">H", n), b""
        ptr_at = None
        for tag, typ, count, value in entries:
            assert len(value) == sizes[typ] * count
            if tag == 0x8769:
                ptr_at = len(head) + 8
                head += struct.pack(">HHI", tag, typ, count) + b"\0\0\0\0"
            elif len(value) <= 4:
                head += struct.pack(">HHI", tag, typ, count) + value.ljust(4, b"\0")
            else:
                head += struct.pack(">HHII", tag, typ, count, data_off + len(tail))
                tail += value + (b"\0" if len(value) % 2 else b"")
        head += b"\0\0\0\0"
        return head, tail, ptr_at

    head, tail, ptr_at = build(ifd0, 8, extra_ptr=sub is not None)
    out = bytearray(b"MM\0\x2a\0\0\0\x08" + head + tail)
    if sub is not None:
        sub_off = len(out)
        out[8 + ptr_at:8 + ptr_at + 4] = struct.pack(">I", sub_off)
        h2, t2, _ = build(sub, sub_off)
        out += h2 + t2
    return bytes(out)


def ascii_(s):
    b = s.encode() + b"\0"
    return (2, len(b), b)


def judge(t, src, canaries=(), opts=(), allow=()):
    """The common verdict on one fixture. Returns the stripped output."""
    data = read(src)
    for c in canaries:
        assert c.encode() in data, f"fixture {src} lacks its canary {c!r}: the test would prove nothing"
    r = unmeta("check", "-q", src)
    assert r.returncode == 1, f"check {src}: expected 1 (dirty), got {r.returncode}"
    out = t.strip(src, *opts)
    t.assert_absent(out, *canaries)
    t.assert_clean(out, allow)
    assert djpeg(out) == djpeg(src), f"{src}: decoded pixels changed"
    assert pixels(out) == pixels(src), f"{src}: auto-oriented render changed"
    t.assert_idempotent(out, *opts)
    return out


def exif_keys(path):
    return sorted(k for k in exif(path) if k.startswith("EXIF:"))


# ---- leak channels ---------------------------------------------------------

def test_exif_camera_gps_people(t):
    src = exiftool(cjpeg(t, "exif.jpg"),
                   "-GPSLatitude=48.8583", "-GPSLatitudeRef=N", "-GPSLongitude=2.2945",
                   "-GPSLongitudeRef=E", "-GPSAltitude=35", "-Make=CANARY-MAKE", "-Model=CANARY-MODEL",
                   "-SerialNumber=CANARY-SERIAL", "-Artist=CANARY-ARTIST", "-Copyright=CANARY-COPYRIGHT",
                   "-DateTimeOriginal=2001:02:03 04:05:06", "-Software=CANARY-SOFTWARE",
                   "-LensModel=CANARY-LENS", "-OwnerName=CANARY-OWNER")
    assert "EXIF:GPS:GPSLatitude" in exif(src)
    out = judge(t, src, ["CANARY-MAKE", "CANARY-MODEL", "CANARY-SERIAL", "CANARY-ARTIST", "CANARY-COPYRIGHT",
                         "2001:02:03 04:05:06", "CANARY-SOFTWARE", "CANARY-LENS", "CANARY-OWNER"])
    assert exif_keys(out) == [], f"orientation 1: no EXIF expected, got {exif_keys(out)}"
    assert b"Exif\0" not in read(out)


def test_exif_makernote(t):
    # exiftool will not write a maker note from scratch: build the EXIF by hand.
    makernote = b"CANARY-MAKERNOTE\0serial=CANARY-MN-SERIAL\0" + bytes(range(64))
    tiff = tiff_be([(0x010F, *ascii_("CANARY-MN-MAKE")), (0x0110, *ascii_("CANARY-MN-MODEL"))],
                   sub=[(0x927C, 7, len(makernote), makernote), (0x9003, *ascii_("2002:03:04 05:06:07"))])
    data = insert_after(read(cjpeg(t, "mn.jpg")), 0xE0, segment(0xE1, b"Exif\0\0" + tiff))
    src = t.path("makernote.jpg")
    write(src, data)
    ex = exif(src)
    assert "MakerNotes" in str(ex.get("ExifTool:Warning", "")) or any("MakerNote" in k for k in ex), \
        f"exiftool does not see the maker note: {ex}"
    assert b"MakerNote" in unmeta("inspect", src).stdout
    judge(t, src, ["CANARY-MAKERNOTE", "CANARY-MN-SERIAL", "CANARY-MN-MAKE", "CANARY-MN-MODEL",
                   "2002:03:04 05:06:07"])


def test_exif_ifd1_thumbnail(t):
    thumb = exiftool(cjpeg(t, "thumb.jpg", 32, 24, seed=3), "-Comment=CANARY-THUMB")
    src = exiftool(cjpeg(t, "ifd1.jpg"), "-Make=CANARY-IFD1-MAKE", f"-ThumbnailImage<={thumb}")
    assert "EXIF:IFD1:ThumbnailImage" in exif(src)
    r = unmeta("inspect", src)
    assert b"ThumbnailImage" in r.stdout, r.stdout
    judge(t, src, ["CANARY-THUMB", "CANARY-IFD1-MAKE"])


def test_xmp(t):
    src = exiftool(cjpeg(t, "xmp.jpg"), "-XMP-dc:Creator=CANARY-XMP-CREATOR", "-XMP-exif:GPSLatitude=10.5",
                   "-XMP-exif:GPSLongitude=20.25", "-XMP-tiff:Make=CANARY-XMP-MAKE",
                   "-XMP-xmp:CreatorTool=CANARY-XMP-TOOL")
    out = judge(t, src, ["CANARY-XMP-CREATOR", "CANARY-XMP-MAKE", "CANARY-XMP-TOOL", "ns.adobe.com/xap"])
    assert not find_segments(read(out), 0xE1)


def test_extended_xmp(t):
    big = t.path("big.txt")
    with open(big, "w") as f:
        f.write("x" * 70000 + " CANARY-EXTXMP-TAIL")
    src = exiftool(cjpeg(t, "extxmp.jpg"), f"-XMP-dc:Description<={big}", "-XMP-dc:Creator=CANARY-EXTXMP")
    data = read(src)
    assert b"http://ns.adobe.com/xmp/extension/\0" in data, "exiftool wrote no Extended XMP"
    assert len(find_segments(data, 0xE1, b"http://ns.adobe.com/xmp/extension/\0")) >= 2
    judge(t, src, ["CANARY-EXTXMP", "CANARY-EXTXMP-TAIL", "xmp/extension"])


def test_iptc(t):
    src = exiftool(cjpeg(t, "iptc.jpg"), "-IPTC:By-line=CANARY-IPTC-BYLINE", "-IPTC:City=CANARY-IPTC-CITY",
                   "-IPTC:Keywords=CANARY-IPTC-KW")
    assert find_segments(read(src), 0xED, b"Photoshop 3.0\0")
    out = judge(t, src, ["CANARY-IPTC-BYLINE", "CANARY-IPTC-CITY", "CANARY-IPTC-KW", "Photoshop 3.0"])
    assert not find_segments(read(out), 0xED)


def test_comment(t):
    src = exiftool(cjpeg(t, "com.jpg"), "-Comment=CANARY-COM")
    out = judge(t, src, ["CANARY-COM"])
    assert not find_segments(read(out), 0xFE)


def test_app12_ducky_and_unknown_appn(t):
    ducky = b"Ducky" + struct.pack(">HHI", 1, 4, 80) + struct.pack(">HH", 2, 24) + \
        "CANARY-DUCKY".encode("utf-16-be") + b"\0\0"
    data = insert_after(read(cjpeg(t, "app.jpg")), 0xE0,
                        segment(0xEC, ducky),
                        segment(0xE9, b"CANARY-APP9 vendor block\0" + bytes(100)),
                        segment(0xEF, b"\0\0CANARY-APP15"),
                        segment(0xE3, b"Meta\0CANARY-APP3"),
                        segment(0xE1, b"CANARY-APP1-UNKNOWN\0"))
    src = t.path("appn.jpg")
    write(src, data)
    out = judge(t, src, ["CANARY-APP9", "CANARY-APP15", "CANARY-APP3", "CANARY-APP1-UNKNOWN",
                         "CANARY-DUCKY".encode("utf-16-be").decode("latin-1")])
    assert [m for m, _, _ in segments(read(out)) if 0xE1 <= m <= 0xEF] == []


def jfif_body(thumb_w=0, thumb_h=0, pixels_=b""):
    return b"JFIF\0" + bytes([1, 2, 1]) + struct.pack(">HH", 72, 72) + bytes([thumb_w, thumb_h]) + pixels_


def test_jfif_thumbnail(t):
    data = read(cjpeg(t, "jfif.jpg"))
    (o, n), = find_segments(data, 0xE0, b"JFIF\0")
    rgb = b"CANARY-JFIF-THUMB".ljust(4 * 3 * 3, b"\x7f")
    data = data[:o] + segment(0xE0, jfif_body(4, 3, rgb)) + data[o + n:]
    src = t.path("jfif-thumb.jpg")
    write(src, data)
    assert exif(src).get("JFIF:JFIF:ThumbnailImage") or b"CANARY-JFIF-THUMB" in data
    out = judge(t, src, ["CANARY-JFIF-THUMB"])
    d = read(out)
    (o, n), = find_segments(d, 0xE0, b"JFIF\0")
    assert n == 18 and d[o + 16:o + 18] == b"\0\0", "the output's JFIF still declares a thumbnail"
    assert d[o + 4:o + 16] == jfif_body()[:12], "JFIF version, units or density changed"


def test_jfxx_thumbnail(t):
    thumb = read(exiftool(cjpeg(t, "jfxx-thumb.jpg", 16, 16, seed=4), "-Comment=CANARY-JFXX"))
    data = insert_after(read(cjpeg(t, "jfxx.jpg")), 0xE0, segment(0xE0, b"JFXX\0\x10" + thumb))
    src = t.path("jfxx-in.jpg")
    write(src, data)
    out = judge(t, src, ["CANARY-JFXX", "JFXX"])
    assert len(find_segments(read(out), 0xE0)) == 1


def test_mpf_secondary_image(t):
    second = read(exiftool(cjpeg(t, "second.jpg", 64, 48, seed=5), "-Comment=CANARY-MPF-SECOND",
                           "-GPSLatitude=1.5", "-GPSLatitudeRef=S", "-Make=CANARY-MPF-MAKE"))
    first = read(cjpeg(t, "first.jpg"))
    # CIPA DC-007 MP header: a TIFF-like structure after "MPF\0"; the
    # offsets point at the second image after EOI.
    mpf = b"MPF\0" + b"MM\0\x2a\0\0\0\x08" + struct.pack(">H", 0) + b"\0\0\0\0"
    data = insert_after(first, 0xE0, segment(0xE2, mpf))
    src = t.path("mpf.jpg")
    write(src, data + second)
    out = judge(t, src, ["CANARY-MPF-SECOND", "CANARY-MPF-MAKE", "MPF\0"])
    d = read(out)
    assert segments(d)[-1][1] + 2 == len(d), "bytes after EOI remain"
    assert d.count(b"\xff\xd8\xff") == 1


def test_trailer_mp4(t):
    base = read(cjpeg(t, "motion.jpg"))
    video = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom" + b"\0\0\0\x20mdat" + b"CANARY-MOTION-VIDEO" + bytes(9)
    src = t.path("motion-photo.jpg")
    write(src, base + video)
    out = judge(t, src, ["CANARY-MOTION-VIDEO", "ftypmp42"])
    assert read(out) == base, "stripping a plain JPEG plus trailer should give the plain JPEG back"
    r = unmeta("inspect", src)
    assert b"MP4" in r.stdout or b"trailer" in r.stdout, r.stdout


def test_trailer_zeros_and_text(t):
    base = read(cjpeg(t, "pad.jpg"))
    src = t.path("padded.jpg")
    write(src, base + bytes(4096) + b"CANARY-TRAILER-TEXT")
    judge(t, src, ["CANARY-TRAILER-TEXT"])


def test_cmyk_adobe_app14_kept(t):
    harness.need("convert")
    src = t.path("cmyk.jpg")
    run(["convert", ppm(t, 227, 149), "-colorspace", "CMYK", "-quality", "90", src], check=True)
    exiftool(src, "-Make=CANARY-CMYK-MAKE", "-Comment=CANARY-CMYK-COM")
    before = find_segments(read(src), 0xEE, b"Adobe")
    assert before, "ImageMagick wrote no APP14 Adobe segment"
    out = judge(t, src, ["CANARY-CMYK-MAKE", "CANARY-CMYK-COM"])
    d, s = read(out), read(src)
    after = find_segments(d, 0xEE, b"Adobe")
    assert len(after) == 1, "APP14 Adobe must be kept (it says how to read CMYK/YCCK)"
    (o1, n1), (o2, n2) = before[0], after[0]
    assert s[o1:o1 + n1] == d[o2:o2 + n2], "APP14 Adobe changed"


def test_progressive(t):
    src = exiftool(cjpeg(t, "prog.jpg", 227, 149, "-progressive"), "-Make=CANARY-PROG", "-GPSLatitude=3",
                   "-GPSLatitudeRef=N")
    out = judge(t, src, ["CANARY-PROG"])
    assert any(m == 0xC2 for m, _, _ in segments(read(out)))
    harness.need("jpegtran")
    src2 = t.path("prog2.jpg")
    run(["jpegtran", "-progressive", "-copy", "all", "-outfile", src2,
         exiftool(cjpeg(t, "seq.jpg"), "-Artist=CANARY-JPEGTRAN-PROG")], check=True)
    judge(t, src2, ["CANARY-JPEGTRAN-PROG"])


def test_restart_markers(t):
    for i, interval in enumerate(["1", "1B", "3B"]):
        src = exiftool(cjpeg(t, f"rst{i}.jpg", 227, 149, "-restart", interval), f"-Artist=CANARY-RST{i}")
        data = read(src)
        assert any(m == 0xDD for m, _, _ in segments(data)), "no DRI"
        assert b"\xff\xd0" in data and b"\xff\xd1" in data, "no RSTn in the data"
        out = judge(t, src, [f"CANARY-RST{i}"])
        # The entropy-coded data, restart markers included, is copied as is.
        sos = [o for m, o, _ in segments(data) if m == 0xDA][0]
        sos2 = [o for m, o, _ in segments(read(out)) if m == 0xDA][0]
        assert data[sos:] == read(out)[sos2:]


def test_entropy_data_dense_in_0xff(t):
    # The scan for the end of entropy-coded data reads the bytes after each
    # 0xFF in place, window by window (256 KiB): stuffed zeros, RSTn and fill
    # bytes that straddle a window's end must neither end the data early nor
    # be missed. Entropy-coded data of about 1.5 MB that is half 0xFF (a
    # stuffed 0xFF00, an RSTn or a run of fill bytes every few bytes),
    # shifted by 0 to 7 bytes so that windows end on every kind of byte.
    # unmeta does not decode it: the data must come out byte for byte, and
    # every cut of it must be refused as truncated.
    base = read(exiftool(cjpeg(t, "dense.jpg", 64, 64), "-Artist=CANARY-DENSE"))
    (sos, n), = [(o, n) for m, o, n in segments(base) if m == 0xDA]
    head = base[:sos + n]
    pieces = [b"\xff\x00", b"\xff\xd3", b"\x12\xff\x00\x34", b"\xff\xff\x00", b"\xff\xff\xff\xd7", b"\x56"]
    ecs = b"".join(pieces[(i * 7 + i // 5) % len(pieces)] for i in range(600000))
    for shift in range(8):
        src = t.path(f"dense{shift}.jpg")
        data = insert_after_soi(head, segment(0xFE, b"CANARY-DENSE-COM".ljust(16 + shift, b"."))) + ecs + b"\xff\xd9"
        write(src, data)
        out = read(t.strip(src))
        t.assert_absent(t.path(f"dense{shift}.out.jpg"), "CANARY-DENSE", "CANARY-DENSE-COM")
        assert out.endswith(ecs + b"\xff\xd9"), f"shift {shift}: the entropy-coded data changed"
        if shift == 0:
            for cut in (1, 2, 3, 200001, 262144, 262145, len(ecs) - 1):
                bad = t.path(f"dense-cut{cut}.jpg")
                write(bad, data[:len(data) - 2 - len(ecs) + cut])
                msg = t.refuse(bad)
                assert "EOI" in msg, f"cut at {cut}: {msg!r}"


def test_arithmetic(t):
    harness.need("jpegtran")
    src = t.path("arith.jpg")
    r = run(["jpegtran", "-arithmetic", "-copy", "all", "-outfile", src,
             exiftool(cjpeg(t, "a0.jpg"), "-Model=CANARY-ARITH")])
    if r.returncode != 0:
        harness.missing("this jpegtran has no arithmetic coding (Debian 12's libjpeg-turbo-progs has)")
    if run(["djpeg", "-pnm", src]).returncode != 0:
        harness.missing("this djpeg cannot decode arithmetic coding (Debian 12's libjpeg-turbo-progs can)")
    assert any(m == 0xC9 for m, _, _ in segments(read(src)))
    out = judge(t, src, ["CANARY-ARITH"])
    assert any(m == 0xC9 for m, _, _ in segments(read(out)))


def test_grayscale_and_444(t):
    g = exiftool(cjpeg(t, "gray.jpg", 227, 149, "-grayscale"), "-Artist=CANARY-GRAY")
    judge(t, g, ["CANARY-GRAY"])
    s = exiftool(cjpeg(t, "444.jpg", 227, 149, "-sample", "1x1"), "-Artist=CANARY-444")
    judge(t, s, ["CANARY-444"])


def test_stray_bytes_and_fill(t):
    # Fill bytes (any number of 0xFF before a marker, B.1.1.2) are legal.
    data = read(cjpeg(t, "fill.jpg"))
    (o, n), = find_segments(data, 0xE0, b"JFIF\0")
    data = data[:o + n] + b"\xff\xff\xff" + segment(0xFE, b"CANARY-AFTER-FILL") + data[o + n:]
    src = t.path("filled.jpg")
    write(src, data)
    judge(t, src, ["CANARY-AFTER-FILL"])


# ---- ICC profiles ------------------------------------------------------------

def icc_file(name):
    return read(harness.need_file(os.path.join(ICC_DIR, "ghostscript", name), "libgs-common"))


def identify_icc(p):
    """Puts identifying values in the header fields unmeta must neutralise."""
    p = bytearray(p)
    p[4:8] = b"CMMX"
    p[24:36] = struct.pack(">6H", 2019, 5, 6, 7, 8, 9)
    p[40:44] = b"MSFT"
    p[48:52] = b"CNRY"
    p[52:56] = b"MODL"
    p[56:64] = b"\0\0\0\0\0\0\0\x05"
    p[80:84] = b"CRTR"
    p[84:100] = bytes(range(1, 17))
    return bytes(p)


HEADER_FIELDS = [(4, 8), (24, 36), (40, 44), (48, 56), (56, 64), (80, 84), (84, 100)]


def extract_icc(path):
    r = run(["exiftool", "-b", "-ICC_Profile", path], check=True)
    return r.stdout


def check_neutralised(before, after):
    assert len(after) == len(before), f"ICC profile size changed: {len(before)} -> {len(after)}"
    for a, b in HEADER_FIELDS:
        assert after[a:b] == bytes(b - a), f"ICC header bytes {a}..{b} not zeroed"
    masked = bytearray(before)
    for a, b in HEADER_FIELDS:
        masked[a:b] = bytes(b - a)
    assert harness.icc_blanked(bytes(masked)) == after, \
        "ICC profile changed beyond the identifying header fields and text tags"


def test_icc_neutralised(t):
    prof = t.path("id.icc")
    write(prof, identify_icc(icc_file("srgb.icc")))
    src = exiftool(cjpeg(t, "icc.jpg"), f"-ICC_Profile<={prof}")
    ex = exif(src)
    assert ex.get("ICC_Profile:ICC-header:DeviceManufacturer") == "CNRY", ex
    r = unmeta("check", "-q", src)
    assert r.returncode == 1, "an identifying ICC header must count as dirty"
    out = t.strip(src)
    ex = exif(out)
    for field in ("DeviceManufacturer", "DeviceModel", "ProfileCreator", "ProfileCMMType"):
        v = ex.get(f"ICC_Profile:ICC-header:{field}")
        assert v in ("", None), f"{field} = {v!r} after strip"
    assert ex.get("ICC_Profile:ICC-header:ProfileDateTime") in ("0000:00:00 00:00:00", "", None), ex
    check_neutralised(read(prof), extract_icc(out))
    assert djpeg(out) == djpeg(src) and pixels(out) == pixels(src)
    t.assert_clean(out)
    t.assert_idempotent(out)
    # --icc=strip drops it altogether.
    out2 = t.strip(src, "--icc=strip", out=t.path("noicc.jpg"))
    assert b"ICC_PROFILE" not in read(out2)
    assert not [k for k in exif(out2) if k.startswith("ICC_Profile:")]
    assert djpeg(out2) == djpeg(src)
    t.assert_idempotent(out2, "--icc=strip")


def test_icc_multichunk(t):
    big = identify_icc(icc_file("default_cmyk.icc"))
    assert len(big) > 65519 * 2, "want a profile that needs three chunks"
    prof = t.path("big.icc")
    write(prof, big)
    harness.need("convert")
    src = t.path("cmyk-icc.jpg")
    run(["convert", ppm(t, 227, 149), "-colorspace", "CMYK", src], check=True)
    exiftool(src, f"-ICC_Profile<={prof}")
    chunks = find_segments(read(src), 0xE2, b"ICC_PROFILE\0")
    assert len(chunks) == 3, f"exiftool wrote {len(chunks)} ICC chunks"
    out = t.strip(src)
    d = read(out)
    chunks = find_segments(d, 0xE2, b"ICC_PROFILE\0")
    assert [d[o + 16:o + 18] for o, _ in chunks] == [b"\x01\x03", b"\x02\x03", b"\x03\x03"]
    check_neutralised(big, extract_icc(out))
    assert djpeg(out) == djpeg(src) and pixels(out) == pixels(src)
    t.assert_idempotent(out)
    # Chunks out of order in the file are reassembled by sequence number.
    s = read(src)
    (o1, n1), (o2, n2), (o3, n3) = find_segments(s, 0xE2, b"ICC_PROFILE\0")
    assert o2 == o1 + n1 and o3 == o2 + n2
    shuffled = s[:o1] + s[o3:o3 + n3] + s[o1:o1 + n1] + s[o2:o2 + n2] + s[o3 + n3:]
    src2 = t.path("shuffled.jpg")
    write(src2, shuffled)
    out2 = t.strip(src2, out=t.path("shuffled.out.jpg"))
    check_neutralised(big, extract_icc(out2))


def icc_with_tags(p, extra):
    """Rebuilds profile p with extra (signature, data) tags appended to its
    tag table (ICC.1:2010 7.3), offsets recomputed, data 4-byte aligned."""
    count = struct.unpack(">I", p[128:132])[0]
    tags = []
    for i in range(count):
        sig, off, size = struct.unpack(">4sII", p[132 + 12 * i:144 + 12 * i])
        tags.append((sig, p[off:off + size]))
    tags += extra
    start = 128 + 4 + 12 * len(tags)
    table, body = struct.pack(">I", len(tags)), b""
    for sig, data in tags:
        table += struct.pack(">4sII", sig, start + len(body), len(data))
        body += data + bytes(-len(data) % 4)
    out = bytearray(p[:128]) + table + body
    out[0:4] = struct.pack(">I", len(out))
    return bytes(out)


def desc_tag(text):
    a = text.encode() + b"\0"
    return b"desc\0\0\0\0" + struct.pack(">I", len(a)) + a + bytes(4 + 4 + 2 + 1 + 67)


def mluc_tag(text):
    u = text.encode("utf-16-be")
    return b"mluc\0\0\0\0" + struct.pack(">II2s2sII", 1, 12, b"en", b"US", len(u), 28) + u


def test_icc_device_description_tags(t):
    p = icc_with_tags(identify_icc(icc_file("srgb.icc")),
                      [(b"dmnd", desc_tag("CANARY-ICC-MAKER")), (b"dmdd", mluc_tag("CANARY-ICC-MODEL"))])
    prof = t.path("dm.icc")
    write(prof, p)
    src = exiftool(cjpeg(t, "icc-dm.jpg"), f"-ICC_Profile<={prof}")
    ex = exif(src)
    assert ex.get("ICC_Profile:DeviceMfgDesc") == "CANARY-ICC-MAKER", ex
    assert ex.get("ICC_Profile:DeviceModelDesc") == "CANARY-ICC-MODEL", ex
    out = judge(t, src, ["CANARY-ICC-MAKER", "CNRY"])
    t.assert_absent(out, "CANARY-ICC-MODEL".encode("utf-16-be"))
    ex2 = exif(out)
    assert not ex2.get("ICC_Profile:DeviceMfgDesc"), ex2
    assert not ex2.get("ICC_Profile:DeviceModelDesc"), ex2
    # Colour data untouched: every other tag is the same; the description
    # is blanked like the device's.
    for key in ("ICC_Profile:RedMatrixColumn", "ICC_Profile:MediaWhitePoint"):
        assert ex2.get(key) == ex.get(key) and ex.get(key), key
    assert ex.get("ICC_Profile:ProfileDescription") and not ex2.get("ICC_Profile:ProfileDescription"), ex2
    after = extract_icc(out)
    assert len(after) == len(p)


def test_icc_unusable_dropped_and_reported(t):
    # A profile that cannot be reassembled or read is dropped, never
    # half-copied; its bytes were not understood, so `check` must not call
    # the file clean (its header may name the device).
    p = identify_icc(icc_file("srgb.icc"))
    half = len(p) // 2
    bad_size = bytearray(p)
    bad_size[0:4] = b"\0\0\0\x01"
    cases = {
        "inconsistent": [b"\x01\x02" + p[:half], b"\x02\x03" + p[half:]],
        "missing": [b"\x01\x02" + p[:half]],
        "repeated": [b"\x01\x02" + p[:half], b"\x01\x02" + p[:half], b"\x02\x02" + p[half:]],
        "zero-count": [b"\x01\x00" + p],
        "malformed": [b"\x01\x01" + bytes(bad_size)],
    }
    base = read(cjpeg(t, "bad-icc.jpg"))
    for name, chunks in cases.items():
        src = t.path(f"icc-{name}.jpg")
        write(src, insert_after(base, 0xE0, *[segment(0xE2, b"ICC_PROFILE\0" + c) for c in chunks]))
        out = judge(t, src, ["CNRY", "CRTR"])
        assert b"ICC_PROFILE" not in read(out), name
        r = unmeta("inspect", src)
        assert b"ICCProfile" in r.stdout and b"dropped" in r.stdout, r.stdout


def test_icc_strip_still_reports(t):
    prof = t.path("id.icc")
    write(prof, identify_icc(icc_file("srgb.icc")))
    src = exiftool(cjpeg(t, "icc-s.jpg"), f"-ICC_Profile<={prof}")
    r = unmeta("inspect", "--icc=strip", src)
    assert b"CNRY" in r.stdout, "with --icc=strip the profile's device fields are still reported"
    assert unmeta("check", "-q", "--icc=strip", src).returncode == 1
    out = judge(t, src, ["CNRY", "ICC_PROFILE"], opts=("--icc=strip",))
    assert not [k for k in exif(out) if k.startswith("ICC_Profile:")]
    # A profile without identifying fields is rendering data, not a finding.
    neutral = t.strip(src, out=t.path("neutral.jpg"))
    assert unmeta("check", "-q", "--icc=strip", neutral).returncode == 0


# ---- orientation -------------------------------------------------------------

TRANSFORM = {2: ["-flip", "horizontal"], 3: ["-rotate", "180"], 4: ["-flip", "vertical"],
             5: ["-transpose"], 6: ["-rotate", "90"], 7: ["-transverse"], 8: ["-rotate", "270"]}


def oriented(t, base, n, name=None):
    src = t.path(name or f"orient{n}.jpg")
    write(src, read(base))
    return exiftool(src, f"-Orientation#={n}", "-Make=CANARY-ORIENT-MAKE", "-GPSLatitude=12.5",
                    "-GPSLatitudeRef=N", "-DateTimeOriginal=2003:04:05 06:07:08")


def test_orientation_kept_minimal(t):
    base = cjpeg(t, "o.jpg", 227, 149)
    for n in range(1, 9):
        src = oriented(t, base, n)
        assert exif(src).get("EXIF:IFD0:Orientation") == n
        out = judge(t, src, ["CANARY-ORIENT-MAKE", "2003:04:05 06:07:08"])
        ex = exif(out)
        keys = exif_keys(out)
        if n == 1:
            assert keys == [], f"orientation 1 needs no EXIF, got {keys}"
        else:
            assert keys == ["EXIF:IFD0:Orientation"], f"orientation {n}: EXIF holds {keys}"
            assert ex["EXIF:IFD0:Orientation"] == n


def test_apply_orientation_falls_back_off_mcu(t):
    # 227x149 is not a whole number of 16x16 MCUs, so every transform that
    # moves the partial edge blocks is impossible without loss. Transposition
    # (5) keeps them at the right and bottom edges and is always perfect.
    base = cjpeg(t, "o.jpg", 227, 149)
    src = oriented(t, base, 5)
    out = t.strip(src, "--apply-orientation", out=t.path("transposed.jpg"))
    assert exif_keys(out) == [] and exif(out).get("File:ImageWidth") == 149
    assert max_error_oriented(t, src, out) <= 4 / 255
    for n in (2, 3, 4, 6, 7, 8):
        src = oriented(t, base, n)
        plain = t.strip(src, out=t.path(f"plain{n}.jpg"))
        out = t.path(f"applied{n}.jpg")
        r = unmeta("strip", "-v", "--apply-orientation", "-f", "-o", out, src)
        assert r.returncode == 0, r.stderr
        err = r.stderr.decode(errors="replace")
        assert "cannot be applied losslessly" in err, f"orientation {n}: no note on stderr: {err}"
        assert read(out) == read(plain), f"orientation {n}: the fallback differs from keeping the tag"
        assert exif(out).get("EXIF:IFD0:Orientation") == n
        assert pixels(out) == pixels(src)


def max_error(a, b):
    """Largest per-sample difference of two renders, 0..1 (ImageMagick PAE)."""
    r = run(["compare", "-metric", "PAE", a + "[0]", b + "[0]", "null:"])
    text = r.stderr.decode().strip()
    return float(text.split("(")[1].rstrip(")"))


def max_error_oriented(t, x, y):
    a, b = t.path("a.png"), t.path("b.png")
    run(["convert", x, "-auto-orient", a], check=True)
    run(["convert", y, "-auto-orient", b], check=True)
    return max_error(a, b)


def test_apply_orientation_rotates_on_mcu(t):
    harness.need("jpegtran", "compare")
    for kind, opts in (("color", ()), ("progressive", ("-progressive",))):
        base = cjpeg(t, f"r-{kind}.jpg", 256, 128, *opts, seed=2)
        for n in range(2, 9):
            src = oriented(t, base, n, name=f"r{n}-{kind}.jpg")
            out = t.strip(src, "--apply-orientation", out=t.path(f"rot{n}-{kind}.jpg"))
            t.assert_absent(out, "CANARY-ORIENT-MAKE", "2003:04:05 06:07:08")
            t.assert_clean(out)
            assert exif_keys(out) == [], f"orientation {n} applied, yet EXIF remains: {exif_keys(out)}"
            w, h = (128, 256) if n >= 5 else (256, 128)
            ex = exif(out)
            assert (ex.get("File:ImageWidth"), ex.get("File:ImageHeight")) == (w, h), ex
            if kind == "progressive":
                assert any(m == 0xC2 for m, _, _ in segments(read(out))), "progressive lost"
            # Lossless: the same DCT coefficients as jpegtran's perfect transform.
            ref = t.path(f"ref{n}-{kind}.jpg")
            run(["jpegtran", "-perfect", "-copy", "none", *TRANSFORM[n], "-outfile", ref, src], check=True)
            assert djpeg(out) == djpeg(ref), f"orientation {n}: not jpegtran's lossless transform"
            # libjpeg's integer IDCT and chroma upsampling are not exactly
            # symmetric under transposition or mirroring, so a rotated
            # decode may differ from the tagged one by rounding only.
            err = max_error_oriented(t, src, out)
            assert err <= 4 / 255, f"orientation {n}: render differs by {err * 255:.1f}/255"
            t.assert_idempotent(out, "--apply-orientation")


# ---- corrupt inputs ------------------------------------------------------------

def dirty_base(t):
    return read(exiftool(cjpeg(t, "c.jpg"), "-Make=CANARY-CORRUPT", "-Comment=CANARY-CORRUPT-COM"))


def refuse_bytes(t, name, data, *words):
    src = t.path(name)
    write(src, data)
    msg = t.refuse(src)
    for w in words:
        assert w.lower() in msg.lower(), f"{name}: message {msg!r} lacks {w!r}"
    r = unmeta("check", "-q", src)
    assert r.returncode == 2, f"{name}: check exit {r.returncode}, expected 2"
    return msg


def test_corrupt_truncated_in_entropy_data(t):
    data = dirty_base(t)
    sos = [(o, n) for m, o, n in segments(data) if m == 0xDA][0]
    cut = sos[0] + sos[1] + (len(data) - sos[0] - sos[1]) // 2
    refuse_bytes(t, "trunc-ecs.jpg", data[:cut], "JPEG")


def test_corrupt_truncated_in_segment_header(t):
    data = dirty_base(t)
    (o, n), = find_segments(data, 0xE1, b"Exif\0")
    refuse_bytes(t, "trunc-hdr.jpg", data[:o + 3], "JPEG")
    refuse_bytes(t, "trunc-marker.jpg", data[:o + 1], "JPEG")
    dqt = [o for m, o, _ in segments(data) if m == 0xDB][0]
    refuse_bytes(t, "trunc-dqt.jpg", data[:dqt + 10], "JPEG")


def test_corrupt_length_past_end(t):
    data = dirty_base(t)
    assert len(data) < 0xFFFF
    refuse_bytes(t, "long.jpg", insert_after_soi(data, b"\xff\xfe\xff\xff" + b"CANARY"), "past the end")


def test_corrupt_length_below_two(t):
    data = dirty_base(t)
    for n in (0, 1):
        refuse_bytes(t, f"len{n}.jpg", insert_after_soi(data, b"\xff\xe1" + struct.pack(">H", n)), "length")


def test_corrupt_not_a_jpeg(t):
    refuse_bytes(t, "garbage.jpg", bytes(range(256)) * 8, "not a format")
    refuse_bytes(t, "text.jpg", b"hello, this is text\n" * 10, "not a format")
    refuse_bytes(t, "soi-only.jpg", b"\xff\xd8", "not a format")
    data = dirty_base(t)
    refuse_bytes(t, "no-soi.jpg", data[2:], "not a format")


def test_corrupt_jpeg_ls_marker(t):
    data = dirty_base(t)
    sof55 = segment(0xF7, bytes([8]) + struct.pack(">HH", 149, 227) + bytes([1, 1, 0x11, 0]))
    msg = refuse_bytes(t, "jpegls.jpg", insert_after(data, 0xE0, sof55), "F7")
    assert "render" in msg or "support" in msg, msg


def test_corrupt_empty(t):
    refuse_bytes(t, "empty.jpg", b"", "empty")


def test_corrupt_second_soi(t):
    data = dirty_base(t)
    refuse_bytes(t, "soi2.jpg", insert_after(data, 0xE0, b"\xff\xd8"), "SOI")


def test_corrupt_eoi_before_sos(t):
    data = dirty_base(t)
    sos = [o for m, o, _ in segments(data) if m == 0xDA][0]
    refuse_bytes(t, "eoi-early.jpg", data[:sos] + b"\xff\xd9", "EOI")
    refuse_bytes(t, "eoi-early-trailer.jpg", data[:sos] + b"\xff\xd9" + data[sos:], "EOI")


def test_corrupt_no_frame_header(t):
    data = dirty_base(t)
    segs = segments(data)
    sof = [(o, n) for m, o, n in segs if m == 0xC0][0]
    refuse_bytes(t, "no-sof.jpg", data[:sof[0]] + data[sof[0] + sof[1]:], "frame")


def test_corrupt_second_frame_header(t):
    data = dirty_base(t)
    sof = [(o, n) for m, o, n in segments(data) if m == 0xC0][0]
    dup = data[sof[0]:sof[0] + sof[1]]
    refuse_bytes(t, "sof2.jpg", data[:sof[0]] + dup + dup + data[sof[0] + sof[1]:], "frame")


def test_corrupt_in_place_untouched(t):
    data = dirty_base(t)
    src = t.path("inplace-bad.jpg")
    write(src, data[:len(data) // 2])
    before = read(src)
    r = unmeta("strip", "--in-place", src)
    assert r.returncode == 2
    assert read(src) == before
    assert not [n for n in os.listdir(t.tmp) if "unmeta-tmp" in n]



# ---- gain maps (Ultra HDR, Adobe, ISO 21496-1) and motion photos -------------

HDRGM = "http://ns.adobe.com/hdr-gain-map/1.0/"
ISO_SIG = b"urn:iso:std:iso:ts:21496:-1\0"
XMP_SIG = b"http://ns.adobe.com/xap/1.0/\0"
# What a stripped gain-map file may hold, by exiftool tag name or key.
GAINMAP_ALLOW = {"MPFVersion", "NumberOfImages", "MPImageFlags", "MPImageFormat", "MPImageType",
                 "MPImageLength", "MPImageStart", "DependentImage1EntryNumber",
                 "DependentImage2EntryNumber", "MPImage2", "MPImage3",
                 "DirectoryItemSemantic", "DirectoryItemMime", "DirectoryItemLength",
                 "XMP:XMP-HDRGainMap:HDRGainMapVersion", "XMP:XMP-HDRGainMap:HDRGainMapHeadroom",
                 "XMP:XMP-apdi:AuxiliaryImageType"} | {
    f"XMP:XMP-hdrgm:{p}" for p in ("Version", "GainMapMin", "GainMapMax", "Gamma", "OffsetSDR",
                                   "OffsetHDR", "HDRCapacityMin", "HDRCapacityMax",
                                   "BaseRenditionIsHDR")}


def xmp_segment(text):
    return segment(0xE1, XMP_SIG + text.encode())


def primary_xmp(gm_len, motion_len=None):
    motion = ""
    if motion_len is not None:
        motion = ('<rdf:li rdf:parseType="Resource"><Container:Item Item:Semantic="MotionPhoto" '
                  f'Item:Mime="video/mp4" Item:Length="{motion_len}"/></rdf:li>')
    return ('<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="CANARY-XMP-TOOLKIT">'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            f'<rdf:Description rdf:about="" xmlns:hdrgm="{HDRGM}" '
            'xmlns:Container="http://ns.google.com/photos/1.0/container/" '
            'xmlns:Item="http://ns.google.com/photos/1.0/container/item/" '
            'xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
            'xmlns:GCamera="http://ns.google.com/photos/1.0/camera/" '
            'hdrgm:Version="1.0" xmp:CreatorTool="CANARY-PRIMARY-TOOL" GCamera:MotionPhoto="1" '
            'GCamera:MicroVideo="1">'
            '<Container:Directory><rdf:Seq>'
            '<rdf:li rdf:parseType="Resource"><Container:Item Item:Semantic="Primary" '
            'Item:Mime="image/jpeg"/></rdf:li>'
            '<rdf:li rdf:parseType="Resource"><Container:Item Item:Semantic="GainMap" '
            f'Item:Mime="image/jpeg" Item:Length="{gm_len}"/></rdf:li>{motion}'
            '</rdf:Seq></Container:Directory></rdf:Description></rdf:RDF></x:xmpmeta>')


GAINMAP_XMP = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    f'<rdf:Description rdf:about="" xmlns:hdrgm="{HDRGM}" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
    'hdrgm:Version="1.0" hdrgm:GainMapMin="0.125" hdrgm:Gamma="1" hdrgm:OffsetSDR="0.015625" '
    'hdrgm:OffsetHDR="0.015625" hdrgm:HDRCapacityMin="0" hdrgm:HDRCapacityMax="2.3" '
    'hdrgm:BaseRenditionIsHDR="False" xmp:CreatorTool="CANARY-GAINMAP-TOOL">'
    '<hdrgm:GainMapMax><rdf:Seq><rdf:li>2.25</rdf:li><rdf:li>2.5</rdf:li><rdf:li>2.75</rdf:li>'
    '</rdf:Seq></hdrgm:GainMapMax></rdf:Description></rdf:RDF></x:xmpmeta>')

# ISO 21496-1 gain-map metadata: versions 0/0, flags 0 (one channel, own
# denominators), two headrooms, then min, max, gamma, base and alternate
# offsets as numerator/denominator pairs: 61 bytes.
ISO_GAINMAP = struct.pack(">HHB", 0, 0, 0) + struct.pack(">IIII", 0, 1, 23, 10) + \
    struct.pack(">iIiIIIiIiI", 1, 8, 9, 4, 1, 1, 1, 64, 1, 64)


def mpf_body(entries, le=False):
    """An MPF APP2 body: the MP Index IFD (version, count, entries) and, as
    cameras write, an MP Attribute IFD for the first image. entries:
    (attribute, size, offset, dep1, dep2)."""
    e = "<" if le else ">"
    n = len(entries)
    ifd = struct.pack(e + "H", 3)
    list_at = 8 + 2 + 36 + 4
    attr_ifd = list_at + 16 * n
    ifd += struct.pack(e + "HHI", 0xB000, 7, 4) + b"0100"
    ifd += struct.pack(e + "HHII", 0xB001, 4, 1, n)
    ifd += struct.pack(e + "HHII", 0xB002, 7, 16 * n, list_at)
    ifd += struct.pack(e + "I", attr_ifd)
    lst = b"".join(struct.pack(e + "IIIHH", *x) for x in entries)
    # MP Attribute IFD: MPIndividualNum 1 (an image's own number).
    attr = struct.pack(e + "H", 1) + struct.pack(e + "HHII", 0xB101, 4, 1, 1) + struct.pack(e + "I", 0)
    tiff = (b"II\x2a\0" if le else b"MM\0\x2a") + struct.pack(e + "I", 8) + ifd + lst + attr
    return b"MPF\0" + tiff


def make_video(t, seconds=1.5, audio=True):
    harness.need("ffmpeg")
    out = t.path("clip.mp4")
    args = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size=64x48:rate=10:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac"]
    args += ["-c:v", "mpeg4", "-metadata", "title=CANARY-VIDEO-TITLE", "-t", str(seconds), out]
    run(args, check=True)
    return read(out)


def samsung_trailer(video):
    """Samsung's SEFT trailer holding a MotionPhoto_Data block."""
    block = struct.pack("<HHI", 0, 0x0A30, 16) + b"MotionPhoto_Data" + video
    other = struct.pack("<HHI", 0, 0x0A01, 10) + b"Image_UTC_" + b"CANARY-SEF-TIME"
    blocks = other + block
    entries = [(0x0A01, len(blocks), len(other)), (0x0A30, len(block), len(block))]
    d = b"SEFH" + struct.pack("<II", 107, len(entries))
    for typ, noff, size in entries:
        d += struct.pack("<HHII", 0, typ, noff, size)
    return blocks + d + struct.pack("<I", len(d)) + b"SEFT"


def ultrahdr(t, le=False, preview=True, trailer=b"", motion_len=None, gm_xmp=GAINMAP_XMP, iso=True, tags=(),
             pxmp=True, preview_first=False):
    """A primary and a gain map as libultrahdr lays them out (plus a GPS
    EXIF and a comment in both, an MPF preview that must go and an optional
    trailer). Returns (path, primary bytes, gain-map bytes)."""
    gm = read(exiftool(cjpeg(t, "gm.jpg", 56, 40, "-grayscale", seed=3), "-GPSLatitude=12.5",
                       "-GPSLatitudeRef=N", "-Make=CANARY-GM-MAKE", "-Comment=CANARY-GM-COMMENT"))
    segs = [xmp_segment(gm_xmp)] if gm_xmp else []
    if iso:
        segs.append(segment(0xE2, ISO_SIG + ISO_GAINMAP + b"CANARY-ISO-EXTRA"))
    gm = insert_after_soi(gm, *segs)
    prev = read(exiftool(cjpeg(t, "prev.jpg", 64, 48, seed=9), "-Make=CANARY-PREVIEW-MAKE"))
    base = read(exiftool(cjpeg(t, "primary.jpg", 227, 149, seed=1), "-GPSLatitude=48.85",
                         "-GPSLatitudeRef=N", "-Make=CANARY-PRIMARY-MAKE", "-Comment=CANARY-PRIMARY-COMMENT", *tags))
    n = 3 if preview else 2

    def build(sizes):
        mpf = mpf_body([(0x20030000, sizes[0], 0, 0, 0), (0, len(gm), sizes[1], 0, 0)] +
                       ([(0x010001, len(prev), sizes[2], 0, 0)] if preview else []), le)
        segs = [xmp_segment(primary_xmp(len(gm), motion_len))] if pxmp else []
        if iso:
            segs.append(segment(0xE2, ISO_SIG + b"\0\0\0\0"))
        segs.append(segment(0xE2, mpf))
        return insert_after_soi(base, *segs)

    first = build([0] * n)
    mpf_at = first.index(b"MPF\0") + 4
    size = len(first)
    sizes = [size, size - mpf_at, size + len(gm) - mpf_at][:n]
    if preview_first:  # the file order differs from the index's and the Container's
        sizes = [size, size + len(prev) - mpf_at, size - mpf_at]
    primary = build(sizes)
    assert len(primary) == size
    src = t.path("le.jpg" if le else "ultrahdr.jpg")
    images = prev + gm if preview_first else gm + (prev if preview else b"")
    write(src, primary + images + trailer)
    return src, primary, gm


def mpf_image(t, path, k=2):
    r = run(["exiftool", "-b", f"-MPImage{k}", path], check=True)
    assert r.stdout[:3] == b"\xff\xd8\xff", f"{path}: exiftool finds no MPImage{k}"
    out = t.path(f"mpimage{k}-{os.path.basename(path)}")
    write(out, r.stdout)
    return out


def hdrgm(path):
    return {k.split(":")[-1]: v for k, v in exif(path).items() if k.startswith("XMP:XMP-hdrgm:")}


GAINMAP_CANARIES = ["CANARY-PRIMARY-MAKE", "CANARY-PRIMARY-COMMENT", "CANARY-PRIMARY-TOOL", "CANARY-XMP-TOOLKIT",
                    "CANARY-GM-MAKE", "CANARY-GM-COMMENT", "CANARY-GAINMAP-TOOL", "CANARY-ISO-EXTRA",
                    "CANARY-PREVIEW-MAKE"]


def judge_gainmap(t, src, gm_in, canaries=GAINMAP_CANARIES, container=True):
    out = judge(t, src, canaries, allow=GAINMAP_ALLOW)
    info = exif(out)
    assert info.get("MPF:MPF0:NumberOfImages") == 2, f"{out}: MPF lists {info.get('MPF:MPF0:NumberOfImages')}"
    gm_out = mpf_image(t, out)
    gm_ref = t.path("gm-in.jpg")
    write(gm_ref, gm_in)
    assert djpeg(gm_out) == djpeg(gm_ref), "the gain map's pixels changed"
    assert hdrgm(gm_out) == hdrgm(gm_ref) and hdrgm(gm_out).get("GainMapMax"), \
        f"gain-map parameters differ: {hdrgm(gm_out)} vs {hdrgm(gm_ref)}"
    bad = harness.leaks(gm_out, GAINMAP_ALLOW)
    assert not bad, f"the kept gain map still holds {bad}"
    g = read(gm_out)
    assert not find_segments(g, 0xFE) and not find_segments(g, 0xE1, b"Exif\0"), "gain map keeps COM or EXIF"
    assert find_segments(g, 0xE2, ISO_SIG) == [(find_segments(g, 0xE2, ISO_SIG)[0][0], 4 + len(ISO_SIG) + 61)], \
        "the gain map's ISO 21496-1 block is not its 61 bytes of parameters"
    d = read(out)
    assert find_segments(d, 0xE2, ISO_SIG)[0][1] == 4 + len(ISO_SIG) + 4, "the primary's ISO version block"
    if container:
        assert b'Item:Length="%d"' % len(g) in d, "the Container directory does not give the new gain-map length"
    else:
        assert b"Container:Directory" not in d, "a Container directory the input did not have"
    assert b'hdrgm:Version="1.0"' in d[:len(d) - len(g)], "the primary lost hdrgm:Version"
    # The gain map ends the file: nothing but the two images remains.
    assert d.endswith(g) and d.count(b"\xff\xd8\xff") == 2, "bytes beyond the primary and its gain map remain"
    return out


def test_gainmap_ultrahdr_kept(t):
    src, _, gm = ultrahdr(t)
    out = judge_gainmap(t, src, gm)
    r = unmeta("inspect", src)
    assert b"GainMap" in r.stdout and b"gain map JPEG 56x40" in r.stdout, r.stdout
    assert b"large thumbnail" in r.stdout, "the removed MPF preview is not named"


def test_gainmap_after_a_preview(t):
    # The preview comes first in the file: the Container's GainMap item (the
    # second) names the gain map by its length, not by its place.
    src, _, gm = ultrahdr(t, preview_first=True, gm_xmp=None, iso=False)
    canaries = [c for c in GAINMAP_CANARIES if c not in ("CANARY-GAINMAP-TOOL", "CANARY-ISO-EXTRA")]
    out = judge(t, src, canaries, allow=GAINMAP_ALLOW)
    d = read(out)
    write(t.path("g-in.jpg"), gm)
    assert djpeg(mpf_image(t, out)) == djpeg(t.path("g-in.jpg")), "the preview was kept instead of the gain map"
    assert d.count(b"\xff\xd8\xff") == 2 and b'Item:Length="' in d


def test_gainmap_little_endian_mpf(t):
    src, _, gm = ultrahdr(t, le=True)
    out = judge_gainmap(t, src, gm)
    mpf = find_segments(read(out), 0xE2, b"MPF\0")
    assert read(out)[mpf[0][0] + 8:mpf[0][0] + 10] == b"II", "the MPF's byte order changed"


def test_gainmap_found_by_its_own_xmp_without_container(t):
    # Adobe's layout: hdrgm:Version in the primary, no Container directory.
    src, primary, gm = ultrahdr(t, preview=False)
    data = read(src).replace(b"Semantic=\"GainMap\"", b"Semantic=\"Unknown\"")
    write(src, data)
    judge_gainmap(t, src, gm, [c for c in GAINMAP_CANARIES if "PREVIEW" not in c], container=False)


def test_gainmap_found_by_iso_block_alone(t):
    src, _, gm = ultrahdr(t, gm_xmp=None)
    out = t.strip(src)
    assert exif(out).get("MPF:MPF0:NumberOfImages") == 2
    write(t.path("g.jpg"), gm)
    assert djpeg(mpf_image(t, out)) == djpeg(t.path("g.jpg"))


def test_gainmap_motion_photo_mp4_reported_and_removed(t):
    video = make_video(t)
    src, _, gm = ultrahdr(t, trailer=video, motion_len=len(video))
    r = unmeta("inspect", src)
    assert b"motion photo video, 1.5 s, audio" in r.stdout, r.stdout
    out = judge_gainmap(t, src, gm, GAINMAP_CANARIES + ["CANARY-VIDEO-TITLE"])
    assert b"ftyp" not in read(out) and b"MotionPhoto" not in read(out) and b"MicroVideo" not in read(out)


def test_motion_photo_without_audio(t):
    video = make_video(t, seconds=2, audio=False)
    base = read(cjpeg(t, "m.jpg"))
    src = t.path("motion.jpg")
    write(src, base + video)
    r = unmeta("inspect", src)
    assert b"motion photo video, 2.0 s, no audio" in r.stdout, r.stdout
    assert read(t.strip(src)) == base


def test_motion_photo_samsung_seft(t):
    video = make_video(t)
    src, _, gm = ultrahdr(t, trailer=samsung_trailer(video))
    r = unmeta("inspect", src)
    assert b"Samsung SEFT" in r.stdout and b"motion photo video, 1.5 s, audio" in r.stdout, r.stdout
    judge_gainmap(t, src, gm, GAINMAP_CANARIES + ["CANARY-VIDEO-TITLE", "CANARY-SEF-TIME"])



# ---- keeping a motion photo's video (--keep-motion) -------------------------

GCAMERA = "http://ns.google.com/photos/1.0/camera/"


def private_video(t, name="private.mp4", timecode=False):
    """An MP4 that is a second recording with its own metadata: a location
    (Apple keys and 3GPP loci), a creation time in every header, a title,
    sound, and with timecode=True a timecode track (the time of day)."""
    harness.need("ffmpeg")
    out = t.path(name)
    args = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=1.5",
            "-f", "lavfi", "-i", "sine=frequency=440:duration=1.5", "-c:v", "mpeg4", "-c:a", "aac",
            "-metadata", "location=+48.85+002.29/", "-metadata", "creation_time=2024-05-01T10:00:00Z",
            "-metadata", "title=CANARY-VIDEO-TITLE", "-movflags", "+use_metadata_tags"]
    if timecode:
        args += ["-timecode", "10:11:12:00", "-write_tmcd", "on"]
    run(args + ["-t", "1.5", out], check=True)
    return out


def streamhash(path, maps=("0",)):
    args = ["ffmpeg", "-v", "error", "-i", path]
    for m in maps:
        args += ["-map", m]
    r = run(args + ["-c", "copy", "-f", "streamhash", "-"], check=True)
    assert r.stdout.strip(), f"{path}: ffmpeg hashed no stream"
    return r.stdout.decode()


def motion_xmp(length, micro=False, extra=""):
    if micro:
        flags = (f'GCamera:MicroVideo="1" GCamera:MicroVideoVersion="1" GCamera:MicroVideoOffset="{length}" '
                 'GCamera:MicroVideoPresentationTimestampUs="733000"')
        directory = ""
    else:
        flags = ('GCamera:MotionPhoto="1" GCamera:MotionPhotoVersion="1" '
                 'GCamera:MotionPhotoPresentationTimestampUs="966000"')
        directory = ('<Container:Directory><rdf:Seq>'
                     '<rdf:li rdf:parseType="Resource"><Container:Item Item:Semantic="Primary" '
                     'Item:Mime="image/jpeg" Item:Padding="0"/></rdf:li>'
                     '<rdf:li rdf:parseType="Resource"><Container:Item Item:Semantic="MotionPhoto" '
                     f'Item:Mime="video/mp4" Item:Length="{length}" Item:Padding="0"/></rdf:li>'
                     '</rdf:Seq></Container:Directory>')
    return ('<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="CANARY-XMP-TOOLKIT">'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            f'<rdf:Description rdf:about="" xmlns:GCamera="{GCAMERA}" '
            'xmlns:Container="http://ns.google.com/photos/1.0/container/" '
            'xmlns:Item="http://ns.google.com/photos/1.0/container/item/" '
            f'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="CANARY-PRIMARY-TOOL" {flags}{extra}>'
            f'{directory}</rdf:Description></rdf:RDF></x:xmpmeta>')


def google_motion(t, video, micro=False, length=None, size=(227, 149)):
    base = read(exiftool(cjpeg(t, "still.jpg", *size), "-GPSLatitude=48.85", "-GPSLatitudeRef=N",
                         "-Make=CANARY-PRIMARY-MAKE"))
    data = read(video)
    src = t.path("google-motion.jpg")
    write(src, insert_after_soi(base, xmp_segment(motion_xmp(len(data) if length is None else length, micro)))
          + data)
    return src


MOTION_CANARIES = ["CANARY-PRIMARY-MAKE", "CANARY-PRIMARY-TOOL", "CANARY-XMP-TOOLKIT", "CANARY-VIDEO-TITLE",
                   "+48.85+002.29"]


def judge_video(video, ref, maps=("0",)):
    """The kept video plays the same packets as the input's and says nothing
    about where or when it was recorded."""
    assert read(video)[4:8] == b"ftyp", f"{video}: not an MP4"
    assert streamhash(video, maps) == streamhash(ref, maps), "the video's packets changed"
    info = exif(video)
    bad = [k for k in info if any(w in k for w in ("GPS", "Location", "UserData", "Keys", "ItemList"))]
    assert not bad, f"the kept video still holds {bad}"
    dates = {k: v for k, v in info.items() if k.endswith("Date") and not k.startswith(("File:", "System:"))}
    assert dates and all(v == "0000:00:00 00:00:00" for v in dates.values()), f"dates kept: {dates}"
    assert all(v in ("", "\0") for k, v in info.items() if k.endswith("HandlerDescription")), "handler names kept"


def container_items(path):
    """The Container directory as exiftool reads it (structured, so that
    repeated items stay apart): [semantic], [length], [padding], and the
    flat tags."""
    r = run(["exiftool", "-j", "-struct", "-n", "-XMP-Container:Directory", path], check=True)
    items = [x.get("Item", {}) for x in json.loads(r.stdout.decode())[0].get("Directory", [])]
    return ([i.get("Semantic") for i in items], [i.get("Length") for i in items],
            [i.get("Padding") for i in items], exif(path))


def test_keep_motion_google(t):
    video = private_video(t)
    src = google_motion(t, video)
    r = unmeta("inspect", "--keep-motion", src)
    assert r.returncode == 0, r.stderr
    assert b"rewrite MotionPhoto video" in r.stdout and b"remove  movie udta" in r.stdout, r.stdout
    out = t.strip(src, "--keep-motion")
    d = read(out)
    for c in MOTION_CANARIES:
        assert c.encode() not in d, f"{out}: still holds {c}"
    sem, lengths, padding, info = container_items(out)
    assert info.get("XMP:XMP-GCamera:MotionPhoto") == 1 and info.get("XMP:XMP-GCamera:MotionPhotoVersion") == 1
    assert info.get("XMP:XMP-GCamera:MotionPhotoPresentationTimestampUs") == 966000
    assert sem == ["Primary", "MotionPhoto"], sem
    # Readers find the video by its length from the end of the file.
    n = lengths[-1]
    assert padding[-1] == 0 and 0 < n < len(d), (lengths, padding)
    kept = t.path("kept.mp4")
    write(kept, d[len(d) - n:])
    judge_video(kept, video)
    write(t.path("still-out.jpg"), d[:len(d) - n])
    assert djpeg(t.path("still-out.jpg")) == djpeg(src) and djpeg(out) == djpeg(src), "the still's pixels changed"
    allow = {"DirectoryItemSemantic", "DirectoryItemMime", "DirectoryItemLength", "DirectoryItemPadding",
             "XMP:XMP-GCamera:MotionPhoto", "XMP:XMP-GCamera:MotionPhotoVersion",
             "XMP:XMP-GCamera:MotionPhotoPresentationTimestampUs"}
    bad = harness.leaks(out, allow)
    assert not bad, f"{out}: exiftool finds {bad}"
    t.assert_idempotent(out, "--keep-motion")
    # check calls a kept video what it is: a second recording.
    r = unmeta("check", "--keep-motion", out)
    assert r.returncode == 1 and b"embedded" in r.stdout, (r.returncode, r.stdout)


def test_keep_motion_with_orientation_applied(t):
    # The lossless rotation replaces the planned primary; the video still
    # follows it, where the rebuilt XMP says.
    video = private_video(t)
    src = google_motion(t, video, size=(224, 144))  # whole MCUs: a perfect transform
    exiftool(src, "-Orientation=6", "-n")
    out = t.strip(src, "--keep-motion", "--apply-orientation")
    d = read(out)
    info = exif(out)
    assert "EXIF:IFD0:Orientation" not in info, "the orientation was not applied"
    n = container_items(out)[1][-1]
    kept = t.path("kept.mp4")
    write(kept, d[len(d) - n:])
    judge_video(kept, video)
    # ImageMagick 6 warns on the Container XMP it carries into a PNG, so the
    # renders are compared without their profiles.
    a, b = t.path("a.png"), t.path("b.png")
    run(["convert", src, "-auto-orient", "-strip", a], check=True)
    run(["convert", out, "-auto-orient", "-strip", b], check=True)
    assert max_error(a, b) <= 4 / 255, "the rotated still renders differently"

def test_keep_motion_off_removes_video_and_flags(t):
    src = google_motion(t, private_video(t))
    out = t.strip(src)
    d = read(out)
    assert b"ftyp" not in d and b"MotionPhoto" not in d and b"GCamera" not in d and b"mdat" not in d
    assert djpeg(out) == djpeg(src)


def test_keep_motion_timecode_track_removed(t):
    video = private_video(t, timecode=True)
    src = google_motion(t, video)
    out = t.strip(src, "--keep-motion")
    d = read(out)
    n = container_items(out)[1][-1]
    kept = t.path("kept.mp4")
    write(kept, d[len(d) - n:])
    judge_video(kept, video, maps=("0:v", "0:a"))
    r = run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0", kept], check=True)
    assert r.stdout.split() == [b"video", b"audio"], r.stdout
    assert "QuickTime:TimeCode" not in str(exif(kept))


def test_keep_motion_micro_video(t):
    video = private_video(t)
    src = google_motion(t, video, micro=True)
    out = t.strip(src, "--keep-motion")
    d = read(out)
    info = exif(out)
    assert info.get("XMP:XMP-GCamera:MicroVideo") == 1, info
    n = info.get("XMP:XMP-GCamera:MicroVideoOffset")
    assert isinstance(n, int) and 0 < n < len(d)
    kept = t.path("kept.mp4")
    write(kept, d[len(d) - n:])
    judge_video(kept, video)
    t.assert_idempotent(out, "--keep-motion")


def test_keep_motion_xmp_length_must_match_structure(t):
    video = private_video(t)
    size = os.path.getsize(video)
    for wrong in (size - 1, size + 7, 3 * size):
        src = google_motion(t, video, length=wrong)
        err = t.refuse(src, "--keep-motion")
        assert "motion photo video" in err, err
        assert b"ftyp" not in read(t.strip(src)), "without the option the video goes"


def test_keep_motion_with_gain_map(t):
    video = private_video(t)
    src, _, gm = ultrahdr(t, trailer=read(video), motion_len=os.path.getsize(video))
    d = read(t.strip(src, "--keep-motion"))
    out = t.path("ultrahdr.out.jpg")
    assert exif(out).get("MPF:MPF0:NumberOfImages") == 2
    write(t.path("gm-in.jpg"), gm)
    assert djpeg(mpf_image(t, out)) == djpeg(t.path("gm-in.jpg")), "the gain map changed"
    sem, lengths, padding, info = container_items(out)
    assert sem == ["Primary", "GainMap", "MotionPhoto"], sem
    assert info.get("XMP:XMP-hdrgm:Version") == 1.0 or info.get("XMP:XMP-hdrgm:Version") == "1.0"
    kept = t.path("kept.mp4")
    write(kept, d[len(d) - lengths[-1]:])
    judge_video(kept, video)
    for c in GAINMAP_CANARIES:
        if "PREVIEW" not in c:
            assert c.encode() not in d, c
    t.assert_idempotent(out, "--keep-motion")


def samsung_records(data):
    """The SEFT directory at the end of data: {name: payload}."""
    assert data[-4:] == b"SEFT"
    dlen = struct.unpack("<I", data[-8:-4])[0]
    d = data[len(data) - 8 - dlen:len(data) - 8]
    assert d[:4] == b"SEFH"
    count = struct.unpack("<I", d[8:12])[0]
    out = {}
    for i in range(count):
        _, typ, noff, size = struct.unpack("<HHII", d[12 + 12 * i:24 + 12 * i])
        at = len(data) - 8 - dlen - noff
        nlen = struct.unpack("<I", data[at + 4:at + 8])[0]
        out[data[at + 8:at + 8 + nlen].decode()] = data[at + 8 + nlen:at + size]
    return out


def test_keep_motion_samsung_seft(t):
    video = private_video(t)
    base = read(cjpeg(t, "s.jpg"))
    src = t.path("samsung.jpg")
    write(src, base + samsung_trailer(read(video)))
    out = t.strip(src, "--keep-motion")
    d = read(out)
    recs = samsung_records(d)
    assert list(recs) == ["MotionPhoto_Data"], list(recs)
    kept = t.path("kept.mp4")
    write(kept, recs["MotionPhoto_Data"])
    judge_video(kept, video)
    info = exif(out)
    assert info.get("MakerNotes:Samsung:EmbeddedVideoType") == "MotionPhoto_Data" or \
        any(v == "MotionPhoto_Data" for k, v in info.items() if k.endswith("EmbeddedVideoType")), info
    assert b"CANARY-SEF-TIME" not in d and d.startswith(base)
    t.assert_idempotent(out, "--keep-motion")
    assert read(t.strip(src)) == base, "without the option the trailer goes"


def test_keep_motion_samsung_with_google_flags(t):
    # One UI writes both: Google flags whose length leads from the end of
    # the file to the MP4 inside the SEFT trailer. Kept so, with the new
    # length; a length that leads anywhere else is refused.
    video = private_video(t)
    data = read(video)
    base = read(cjpeg(t, "s.jpg"))
    trailer = samsung_trailer(data)
    tail = len(trailer) - trailer.index(b"MotionPhoto_Data") - 16
    assert trailer[len(trailer) - tail:][4:8] == b"ftyp"
    src = t.path("oneui.jpg")
    write(src, insert_after_soi(base, xmp_segment(motion_xmp(tail))) + trailer)
    out = t.strip(src, "--keep-motion")
    d = read(out)
    n = container_items(out)[1][-1]
    recs = samsung_records(d)
    assert list(recs) == ["MotionPhoto_Data"] and d[len(d) - n:].startswith(recs["MotionPhoto_Data"]), \
        "the Container length does not lead to the MP4 in the Samsung trailer"
    kept = t.path("kept.mp4")
    write(kept, recs["MotionPhoto_Data"])
    judge_video(kept, video)
    t.assert_idempotent(out, "--keep-motion")
    write(src, insert_after_soi(base, xmp_segment(motion_xmp(len(data)))) + trailer)
    assert "Samsung trailer" in t.refuse(src, "--keep-motion")

APPLE_XMP = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 6.0.0">'
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:HDRGainMap="http://ns.apple.com/HDRGainMap/1.0/" '
    'xmlns:apdi="http://ns.apple.com/pixeldatainfo/1.0/" xmlns:xmp="http://ns.adobe.com/xap/1.0/">'
    '<HDRGainMap:HDRGainMapVersion>65536</HDRGainMap:HDRGainMapVersion>'
    '<HDRGainMap:HDRGainMapHeadroom>3.85</HDRGainMap:HDRGainMapHeadroom>'
    '<apdi:AuxiliaryImageType>urn:com:apple:photo:2020:aux:hdrgainmap</apdi:AuxiliaryImageType>'
    '<apdi:NativeFormat>1278226488</apdi:NativeFormat>'
    '<xmp:CreatorTool>CANARY-APPLE-TOOL</xmp:CreatorTool>'
    '</rdf:Description></rdf:RDF></x:xmpmeta>')


def test_gainmap_apple(t):
    # Apple: no hdrgm, no Container, no ISO block; the gain map names itself.
    src, _, gm = ultrahdr(t, gm_xmp=APPLE_XMP, iso=False, pxmp=False)
    canaries = [c for c in GAINMAP_CANARIES if c not in ("CANARY-ISO-EXTRA", "CANARY-XMP-TOOLKIT",
                                                         "CANARY-PRIMARY-TOOL", "CANARY-GAINMAP-TOOL")]
    canaries.append("CANARY-APPLE-TOOL")
    out = judge(t, src, canaries, allow=GAINMAP_ALLOW)
    assert exif(out).get("MPF:MPF0:NumberOfImages") == 2
    g = mpf_image(t, out)
    info = exif(g)
    assert info.get("XMP:XMP-HDRGainMap:HDRGainMapVersion") == 65536, info
    assert info.get("XMP:XMP-HDRGainMap:HDRGainMapHeadroom") == 3.85, info
    assert info.get("XMP:XMP-apdi:AuxiliaryImageType") == "urn:com:apple:photo:2020:aux:hdrgainmap", info
    assert not any("NativeFormat" in k for k in info), "an Apple property beyond the gain map's was kept"
    write(t.path("g-in.jpg"), gm)
    assert djpeg(g) == djpeg(t.path("g-in.jpg"))
    assert b"<x:xmpmeta" not in read(out)[:read(out).index(b"\xff\xd9")], "the primary got an XMP it never had"


def test_gainmap_refused_when_mpf_points_outside(t):
    src, primary, gm = ultrahdr(t, preview=False)
    data = read(src)
    write(src, data[:len(primary) + len(gm) - 100])  # the gain map cut short
    err = t.refuse(src)
    assert "MPF" in err, err


def test_gainmap_refused_when_images_overlap(t):
    src, primary, gm = ultrahdr(t)
    data = bytearray(read(src))
    at = data.index(b"MPF\0") + 4
    # The preview's offset (third entry) moved into the gain map.
    e = at + 8 + 2 + 36 + 4 + 32 + 8
    struct.pack_into(">I", data, e, struct.unpack_from(">I", data, e)[0] - 16)
    write(src, bytes(data))
    assert "overlap" in t.refuse(src)


def test_gainmap_refused_when_not_a_jpeg(t):
    src, primary, gm = ultrahdr(t, preview=False)
    data = bytearray(read(src))
    data[len(primary) + 1] = 0x00  # the gain map's SOI broken
    write(src, bytes(data))
    assert "not a JPEG" in t.refuse(src)


def test_gainmap_bad_parameter_refused(t):
    src, _, gm = ultrahdr(t, gm_xmp=GAINMAP_XMP.replace('hdrgm:Gamma="1"', 'hdrgm:Gamma="CANARY"'))
    assert "not a number" in t.refuse(src)


def test_gainmap_orientation_not_baked(t):
    src, _, gm = ultrahdr(t, preview=False, tags=("-Orientation#=6",))
    # Rotating the primary alone would misalign its gain map: the tag stays.
    out = t.strip(src, "--apply-orientation")
    assert exif(out).get("EXIF:IFD0:Orientation") == 6
    assert exif(out).get("MPF:MPF0:NumberOfImages") == 2
    assert djpeg(out) == djpeg(src), "the primary was rotated"
    r = unmeta("inspect", src)
    assert r.returncode == 0


def test_corpus_ultrahdr(t):
    corpus = harness.shared_dir("corpus", "modern", "ultrahdr")
    harness.need("exiftool", "djpeg")
    files = sorted(f for f in os.listdir(corpus) if f.lower().endswith(".jpg"))
    assert files, "no files in the Ultra HDR corpus"
    for name in files:
        src = os.path.join(corpus, name)
        out = t.strip(src, out=t.path(name))
        n_in = exif(src).get("MPF:MPF0:NumberOfImages")
        assert exif(out).get("MPF:MPF0:NumberOfImages") == n_in, f"{name}: MPF images {n_in} -> {exif(out)}"
        assert djpeg(out) == djpeg(src), f"{name}: primary pixels changed"
        for k in range(2, n_in + 1):
            gi, go = mpf_image(t, src, k), mpf_image(t, out, k)
            assert djpeg(gi) == djpeg(go), f"{name}: gain map {k} pixels changed"
            assert hdrgm(gi) == hdrgm(go) and hdrgm(go), f"{name}: {hdrgm(gi)} != {hdrgm(go)}"
        bad = harness.leaks(out, GAINMAP_ALLOW)
        assert not bad, f"{name}: {bad}"
        assert unmeta("check", "-q", out).returncode == 0, f"{name}: stripped file checks dirty"
        # libultrahdr's own decoder, when installed (ultrahdr_app, built from
        # google/libultrahdr): the HDR rendition must be the same bits.
        if shutil.which("ultrahdr_app"):
            renders = []
            for f in (src, out):
                raw = t.path(os.path.basename(f) + ".raw")
                r = run(["ultrahdr_app", "-m", "1", "-j", f, "-o", "2", "-O", "5", "-z", raw])
                renders.append((r.returncode, read(raw) if r.returncode == 0 else r.stdout[-200:]))
            assert renders[0] == renders[1], f"{name}: libultrahdr decodes the output differently"
        t.assert_idempotent(out)

if __name__ == "__main__":
    harness.main(globals())
