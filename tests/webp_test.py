"""WebP suite: fixtures made here with cwebp, img2webp, webpmux and exiftool
(one per leak channel, with canary strings), or built byte by byte; every
output is judged by exiftool (harness.leaks), ImageMagick pixel digests
over all frames, webpinfo, idempotence and `unmeta check`."""
import os
import struct
import subprocess

import harness

CANARIES = ["CANARY-MAKE", "CANARY-ARTIST", "CANARY-XMP-CREATOR", "CANARY-ICC-MAKER"]


# ---- building blocks -------------------------------------------------------

def chunks(data):
    """[(fourcc, payload)] of a RIFF/WEBP file (the test's own reader)."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP", "not a WebP file"
    end = 8 + struct.unpack("<I", data[4:8])[0]
    out, pos = [], 12
    while pos + 8 <= end:
        cc, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        out.append((cc, data[pos + 8:pos + 8 + size]))
        pos += 8 + size + (size & 1)
    return out


def chunk(cc, payload):
    return cc + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) & 1 else b"")


def riff(chunk_list):
    body = b"WEBP" + b"".join(chunk(cc, p) for cc, p in chunk_list)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def vp8x_flags(data):
    c = chunks(data)
    assert c[0][0] == b"VP8X", f"first chunk is {c[0][0]!r}"
    return c[0][1][0]


def vp8x(flags, w, h):
    return struct.pack("<I", flags) + struct.pack("<I", w - 1)[:3] + struct.pack("<I", h - 1)[:3]


def tiff(entries, le=False, gps=False):
    """A TIFF/EXIF structure: IFD0 with entries [(tag, type, count, bytes)]
    and, with gps, a GPS IFD holding a latitude."""
    e = "<" if le else ">"
    ents = list(entries)
    if gps:
        ents.append((0x8825, 4, 1, None))
    ents.sort(key=lambda x: x[0])
    n = len(ents)
    ifd0 = 8
    data_off = ifd0 + 2 + 12 * n + 4
    blob = b""
    table = b""
    gps_at = None
    for tag, typ, count, val in ents:
        if val is None:
            gps_at = len(table)
            table += struct.pack(e + "HHI", tag, typ, count) + b"\0\0\0\0"
        elif len(val) <= 4:
            table += struct.pack(e + "HHI", tag, typ, count) + val.ljust(4, b"\0")
        else:
            table += struct.pack(e + "HHII", tag, typ, count, data_off + len(blob))
            blob += val + (b"\0" if len(val) & 1 else b"")
    head = (b"II*\0" if le else b"MM\0*") + struct.pack(e + "I", ifd0)
    ifd = struct.pack(e + "H", n) + table + struct.pack(e + "I", 0)
    out = bytearray(head + ifd + blob)
    if gps_at is not None:
        gps_off = len(out)
        struct.pack_into(e + "I", out, ifd0 + 2 + gps_at + 8, gps_off)
        rat = struct.pack(e + "IIIIII", 48, 1, 51, 1, 3000, 100)
        gifd = struct.pack(e + "H", 2)
        gifd += struct.pack(e + "HHI", 1, 2, 2) + b"N\0\0\0"
        gifd += struct.pack(e + "HHII", 2, 5, 3, gps_off + 2 + 24 + 4)
        gifd += struct.pack(e + "I", 0) + rat
        out += gifd
    return bytes(out)


def ascii_tag(tag, text, le=False):
    v = text.encode() + b"\0"
    return (tag, 2, len(v), v)


def orientation_tag(o, le=False):
    return (0x0112, 3, 1, struct.pack("<H" if le else ">H", o))


def exif_blob(orientation=None, header=False, le=False):
    ents = [ascii_tag(0x010F, "CANARY-MAKE"), ascii_tag(0x013B, "CANARY-ARTIST")]
    if orientation:
        ents.append(orientation_tag(orientation, le))
    t = tiff(ents, le=le, gps=True)
    return (b"Exif\0\0" + t) if header else t


def icc_profile():
    """A small RGB display profile whose header names a device maker and
    whose 'dmnd' tag carries a canary (both are what unmeta neutralises)."""
    def desc(text):
        a = text.encode() + b"\0"
        return b"desc" + b"\0" * 4 + struct.pack(">I", len(a)) + a + b"\0" * (4 + 4 + 2 + 1 + 67)
    tags = [(b"desc", desc("unmeta test RGB")), (b"dmnd", desc("CANARY-ICC-MAKER")),
            (b"wtpt", b"XYZ " + b"\0" * 4 + struct.pack(">iii", 63190, 65536, 54061))]
    off = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, data in tags:
        table += sig + struct.pack(">II", off + len(body), len(data))
        body += data + b"\0" * (-len(data) % 4)
    size = off + len(body)
    hdr = bytearray(128)
    struct.pack_into(">I", hdr, 0, size)
    hdr[4:8] = b"CNRY"                 # CMM
    hdr[8:12] = bytes([2, 0x10, 0, 0])
    hdr[12:16] = b"mntr"
    hdr[16:20] = b"RGB "
    hdr[20:24] = b"XYZ "
    struct.pack_into(">6H", hdr, 24, 2021, 5, 4, 3, 2, 1)
    hdr[36:40] = b"acsp"
    hdr[40:44] = b"APPL"
    hdr[48:52] = b"CNRY"               # device manufacturer
    hdr[52:56] = b"MDL1"
    struct.pack_into(">iii", hdr, 68, 63190, 65536, 54061)
    hdr[80:84] = b"CNRY"               # creator
    return bytes(hdr) + struct.pack(">I", len(tags)) + table + body


# ---- fixtures ---------------------------------------------------------------

def png(t, name, spec="gradient:red-blue", size="80x60", alpha=False, draw=None):
    harness.need("convert")
    out = t.path(name)
    args = ["convert", "-size", size, spec]
    if draw:
        args += ["-fill", "yellow", "-draw", draw]
    harness.run(args + [("PNG32:" if alpha else "PNG24:") + out], check=True)
    return out


def cwebp(t, name, *opts, alpha=False):
    harness.need("cwebp")
    src = png(t, name + ".png", spec="gradient:rgba(255,0,0,1)-rgba(0,0,255,0.2)" if alpha else "gradient:red-blue",
              alpha=alpha, draw="circle 40,30 50,30")
    out = t.path(name)
    harness.run(["cwebp", "-quiet", *opts, src, "-o", out], check=True)
    return out


def webpmux_set(t, src, what, payload, name):
    harness.need("webpmux")
    p = t.path(name + "." + what)
    harness.write(p, payload)
    out = t.path(name)
    harness.run(["webpmux", "-set", what, p, src, "-o", out], check=True)
    return out


def add_exiftool_meta(path):
    harness.need("exiftool")
    harness.run(["exiftool", "-q", "-overwrite_original", "-Make=CANARY-MAKE", "-Artist=CANARY-ARTIST",
                 "-GPSLatitude=48.8584", "-GPSLatitudeRef=N", "-GPSLongitude=2.2945",
                 "-GPSLongitudeRef=E", "-XMP-dc:Creator=CANARY-XMP-CREATOR", path], check=True)


def xmp_packet(creator="CANARY-XMP-CREATOR"):
    return ('<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f'<dc:creator><rdf:Seq><rdf:li>{creator}</rdf:li></rdf:Seq></dc:creator>'
            '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>').encode()


# ---- judges -----------------------------------------------------------------

def webpinfo_clean(path):
    harness.need("webpinfo")
    r = harness.run(["webpinfo", path])
    out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    assert r.returncode == 0 and "No error detected." in out and "arning" not in out, \
        f"webpinfo on {path}:\n{out[-1500:]}"


def frame_count(path):
    r = harness.run(["identify", path], check=True)
    return len(r.stdout.splitlines())


def judge(t, src, out, canaries=CANARIES, allow=()):
    """Everything a stripped WebP must satisfy."""
    t.assert_clean(out, allow)
    t.assert_absent(out, *canaries)
    assert harness.pixels(src) == harness.pixels(out), "pixels changed"
    assert frame_count(src) == frame_count(out), "frame count changed"
    webpinfo_clean(out)
    t.assert_idempotent(out)
    assert harness.unmeta("check", "-q", src).returncode == 1, f"{src}: check should find metadata"


def exif_tags(path):
    return {k.split(":")[-1]: v for k, v in harness.exif(path).items() if k.startswith("EXIF:")}


# ---- tests ------------------------------------------------------------------

def test_lossy_exif_xmp_icc(t):
    src = cwebp(t, "plain.webp", "-q", "80")
    src = webpmux_set(t, src, "icc", icc_profile(), "icc.webp")
    add_exiftool_meta(src)
    have = chunks(harness.read(src))
    assert {c for c, _ in have} >= {b"VP8X", b"ICCP", b"VP8 ", b"EXIF", b"XMP "}, have
    for c in CANARIES:
        assert c.encode() in harness.read(src), f"fixture lacks {c}"
    out = t.strip(src)
    judge(t, src, out)
    data = harness.read(out)
    assert [c for c, _ in chunks(data)] == [b"VP8X", b"ICCP", b"VP8 "]
    assert vp8x_flags(data) == 0x20, hex(vp8x_flags(data))
    icc = dict(chunks(data))[b"ICCP"]
    assert len(icc) == len(icc_profile()) and icc[36:40] == b"acsp"
    assert icc[48:52] == b"\0" * 4 and icc[4:8] == b"\0" * 4 and icc[80:84] == b"\0" * 4
    assert harness.exif(out).get("ICC_Profile:ICC-header:DeviceManufacturer", "") in ("", "\0\0\0\0"), \
        harness.exif(out).get("ICC_Profile:ICC-header:DeviceManufacturer")


def test_lossless_alpha_exif(t):
    src = cwebp(t, "alpha.webp", "-lossless", alpha=True)
    src = webpmux_set(t, src, "exif", exif_blob(le=True), "alpha-exif.webp")
    assert vp8x_flags(harness.read(src)) & 0x18 == 0x18
    out = t.strip(src)
    judge(t, src, out, canaries=["CANARY-MAKE", "CANARY-ARTIST"])
    data = harness.read(out)
    assert [c for c, _ in chunks(data)] == [b"VP8X", b"VP8L"]
    assert vp8x_flags(data) == 0x10, "alpha flag kept, EXIF flag cleared"
    assert not exif_tags(out)


def test_lossy_alpha_alph_kept(t):
    src = cwebp(t, "lossy-alpha.webp", "-q", "70", alpha=True)
    src = webpmux_set(t, src, "xmp", xmp_packet(), "lossy-alpha-xmp.webp")
    assert b"ALPH" in harness.read(src)
    out = t.strip(src)
    judge(t, src, out, canaries=["CANARY-XMP-CREATOR"])
    assert [c for c, _ in chunks(harness.read(out))] == [b"VP8X", b"ALPH", b"VP8 "]


def animation(t, name):
    harness.need("img2webp", "convert")
    frames = []
    for i, colour in enumerate(["red", "green", "blue"]):
        p = t.path(f"f{i}.png")
        harness.run(["convert", "-size", "48x40", f"gradient:{colour}-white", "-fill", "black",
                     "-draw", f"rectangle {4 + 8 * i},4 {12 + 8 * i},20", "PNG24:" + p], check=True)
        frames.append(p)
    out = t.path(name)
    harness.run(["img2webp", "-loop", "2", "-lossy", "-d", "80", frames[0], "-lossless", frames[1],
                 "-lossy", "-q", "60", frames[2], "-o", out], check=True)
    return out


def test_animated_xmp(t):
    src = animation(t, "anim.webp")
    src = webpmux_set(t, src, "xmp", xmp_packet(), "anim-xmp.webp")
    assert frame_count(src) == 3
    out = t.strip(src)
    judge(t, src, out, canaries=["CANARY-XMP-CREATOR"])
    data = harness.read(out)
    kinds = [c for c, _ in chunks(data)]
    assert kinds[:2] == [b"VP8X", b"ANIM"] and kinds.count(b"ANMF") == 3 and b"XMP " not in kinds, kinds
    assert vp8x_flags(data) & 0x02 and not vp8x_flags(data) & 0x04


def test_animated_unknown_subchunk_dropped(t):
    src = animation(t, "anim.webp")
    parts = chunks(harness.read(src))
    rebuilt = []
    for cc, p in parts:
        if cc == b"ANMF":
            # an unknown (odd-sized) chunk after the frame's bitstream, and
            # an EXIF chunk inside the frame: both dropped, the ANMF resized
            p = p + chunk(b"CNRY", b"CANARY-FRAME-CHUNK!") + chunk(b"EXIF", exif_blob())
        rebuilt.append((cc, p))
    bad = t.path("anim-extra.webp")
    harness.write(bad, riff(rebuilt))
    out = t.strip(bad)
    judge(t, bad, out, canaries=["CANARY-FRAME-CHUNK", "CANARY-MAKE"])
    # the frames are byte for byte those of the original
    assert chunks(harness.read(out)) == chunks(harness.read(src))


def test_orientation_6_raw_tiff(t):
    src = cwebp(t, "o.webp", "-q", "80")
    src = webpmux_set(t, src, "exif", exif_blob(orientation=6), "o6.webp")
    out = t.strip(src)
    judge(t, src, out, canaries=["CANARY-MAKE", "CANARY-ARTIST"])
    data = harness.read(out)
    parts = chunks(data)
    assert [c for c, _ in parts] == [b"VP8X", b"VP8 ", b"EXIF"]
    assert vp8x_flags(data) == 0x08
    exif = dict(parts)[b"EXIF"]
    assert exif[:4] == b"MM\0*", "written as raw TIFF like libwebp's own files"
    assert exif_tags(out) == {"Orientation": 6}, exif_tags(out)


def test_orientation_6_exif_header_form(t):
    # Pillow writes the JPEG-style identifier; ImageMagick only honours the
    # orientation in that form, so the pixel judge below sees it applied.
    src = cwebp(t, "o.webp", "-q", "80")
    src = webpmux_set(t, src, "exif", exif_blob(orientation=6, header=True, le=True), "o6h.webp")
    harness.need("identify")
    assert b"RightTop" in harness.run(["identify", "-format", "%[orientation]", src], check=True).stdout
    out = t.strip(src)
    judge(t, src, out, canaries=["CANARY-MAKE", "CANARY-ARTIST"])
    exif = dict(chunks(harness.read(out)))[b"EXIF"]
    assert exif.startswith(b"Exif\0\0MM\0*")
    assert exif_tags(out) == {"Orientation": 6}, exif_tags(out)
    assert b"RightTop" in harness.run(["identify", "-format", "%[orientation]", out], check=True).stdout


def test_orientation_1_clears_exif(t):
    src = cwebp(t, "o.webp", "-q", "80")
    src = webpmux_set(t, src, "exif", exif_blob(orientation=1), "o1.webp")
    out = t.strip(src)
    judge(t, src, out, canaries=["CANARY-MAKE", "CANARY-ARTIST"])
    data = harness.read(out)
    assert b"EXIF" not in [c for c, _ in chunks(data)] and vp8x_flags(data) == 0


def test_exif_not_announced_is_dropped(t):
    # Readers take EXIF only when VP8X announces it; an unannounced one
    # (here with Orientation 6 in the form ImageMagick honours) is dropped
    # whole, and the output displays as the input did.
    src = cwebp(t, "n.webp", "-q", "80")
    parts = chunks(harness.read(src))
    bad = t.path("unannounced.webp")
    harness.write(bad, riff([(b"VP8X", vp8x(0, 80, 60)), parts[0],
                             (b"EXIF", exif_blob(orientation=6, header=True))]))
    out = t.strip(bad)
    judge(t, bad, out, canaries=["CANARY-MAKE", "CANARY-ARTIST"])
    data = harness.read(out)
    assert [c for c, _ in chunks(data)] == [b"VP8X", b"VP8 "] and vp8x_flags(data) == 0


def test_alph_before_vp8l_dropped(t):
    # ALPH only applies to VP8; readers ignore it before VP8L (RFC 9649
    # section 2.7.1.3), so it is not needed to render.
    src = cwebp(t, "l.webp", "-lossless", alpha=True)
    parts = chunks(harness.read(src))
    bad = t.path("alph-vp8l.webp")
    harness.write(bad, riff([(b"VP8X", vp8x(0x10, 80, 60)), (b"ALPH", b"\0" + b"\xff" * 11), parts[0]]))
    out = t.strip(bad)
    data = harness.read(out)
    assert [c for c, _ in chunks(data)] == [b"VP8X", b"VP8L"] and vp8x_flags(data) == 0x10
    assert harness.pixels(bad) == harness.pixels(out) == harness.pixels(src)
    webpinfo_clean(out)
    t.assert_idempotent(out)
    assert harness.unmeta("check", "-q", bad).returncode == 0


def test_unknown_chunk_dropped(t):
    src = cwebp(t, "u.webp", "-q", "80")
    src = webpmux_set(t, src, "xmp", xmp_packet(), "ux.webp")
    parts = chunks(harness.read(src))
    parts.insert(2, (b"CNRY", b"CANARY-UNKNOWN-CHUNK"))
    parts.append((b"ZZZ\x01", b"CANARY-TAIL-CHUNK"))
    bad = t.path("unknown.webp")
    harness.write(bad, riff(parts))
    r = harness.unmeta("inspect", bad)
    assert r.returncode == 0 and b"CNRY" in r.stdout, r.stdout  # inspect succeeds; check exits 1
    out = t.strip(bad)
    judge(t, bad, out, canaries=["CANARY-UNKNOWN-CHUNK", "CANARY-TAIL-CHUNK", "CANARY-XMP-CREATOR"])
    assert [c for c, _ in chunks(harness.read(out))] == [b"VP8X", b"VP8 "]


def test_icc_strip(t):
    src = cwebp(t, "i.webp", "-q", "80")
    src = webpmux_set(t, src, "icc", icc_profile(), "ii.webp")
    out = t.strip(src, "--icc=strip")
    judge(t, src, out, canaries=["CANARY-ICC-MAKER", "CNRY"])
    data = harness.read(out)
    assert [c for c, _ in chunks(data)] == [b"VP8X", b"VP8 "] and vp8x_flags(data) == 0
    again = t.strip(out, "--icc=strip", out=t.path("again.webp"))
    assert harness.read(again) == data


def test_malformed_icc_dropped(t):
    src = cwebp(t, "m.webp", "-q", "80")
    src = webpmux_set(t, src, "icc", b"CANARY-BAD-PROFILE" * 10, "mi.webp")
    out = t.strip(src)
    data = harness.read(out)
    assert [c for c, _ in chunks(data)] == [b"VP8X", b"VP8 "] and vp8x_flags(data) == 0
    t.assert_absent(out, "CANARY-BAD-PROFILE")
    assert harness.pixels(src) == harness.pixels(out)
    webpinfo_clean(out)


def test_clean_simple_file_unchanged(t):
    for opts in (["-q", "80"], ["-lossless"]):
        src = cwebp(t, "c.webp", *opts)
        assert harness.unmeta("check", "-q", src).returncode == 0
        out = t.strip(src)
        assert harness.read(out) == harness.read(src), f"{opts}: a clean file changed"


def test_simple_file_with_trailing_chunks(t):
    # EXIF/XMP need VP8X; after a simple VP8 chunk nothing is readable, so
    # whatever is there is reported and dropped.
    src = cwebp(t, "s.webp", "-q", "80")
    parts = chunks(harness.read(src)) + [(b"EXIF", exif_blob()), (b"XMP ", xmp_packet())]
    bad = t.path("simple-meta.webp")
    harness.write(bad, riff(parts))
    out = t.strip(bad)
    judge(t, bad, out, canaries=["CANARY-MAKE", "CANARY-XMP-CREATOR"])
    assert harness.read(out) == harness.read(src)


def test_trailer_dropped(t):
    src = cwebp(t, "t.webp", "-q", "80")
    bad = t.path("trailer.webp")
    harness.write(bad, harness.read(src) + b"CANARY-TRAILER" * 4)
    r = harness.unmeta("inspect", bad)
    assert r.returncode == 0 and b"Trailer" in r.stdout, r.stdout  # inspect succeeds; check exits 1
    out = t.strip(bad)
    judge(t, bad, out, canaries=["CANARY-TRAILER"])
    assert harness.read(out) == harness.read(src)


def test_missing_final_pad_written(t):
    # libwebp reads a file whose last odd-sized chunk lacks its pad byte;
    # the output is the properly padded file.
    harness.need("cwebp", "convert")
    for w in range(20, 60):
        p = t.path("noise.png")
        harness.run(["convert", "-size", f"{w}x17", "gradient:red-blue", "-seed", str(w), "+noise", "Gaussian",
                     "PNG24:" + p], check=True)
        src = t.path("p.webp")
        harness.run(["cwebp", "-quiet", "-lossless", p, "-o", src], check=True)
        data = harness.read(src)
        if len(chunks(data)[0][1]) & 1:
            break
    else:
        raise AssertionError("no odd-sized VP8L chunk came out of cwebp")
    short = data[:-1]
    short = short[:4] + struct.pack("<I", len(short) - 8) + short[8:]
    bad = t.path("nopad.webp")
    harness.write(bad, short)
    out = t.strip(bad)
    assert harness.read(out) == data
    assert harness.pixels(out) == harness.pixels(bad)
    webpinfo_clean(out)


def test_truncated_and_bad_sizes_refused(t):
    src = cwebp(t, "x.webp", "-q", "80")
    src = webpmux_set(t, src, "xmp", xmp_packet(), "xx.webp")
    data = harness.read(src)
    parts = chunks(data)
    # name -> (bytes, what the message must say)
    cases = {
        "cut.webp": (data[: len(data) // 2], "RIFF size says"),
        "riff-too-big.webp": (data[:4] + struct.pack("<I", len(data)) + data[8:], "RIFF size says"),
        "header-only.webp": (data[:16], "RIFF size says"),
        "riff-too-small.webp": (data[:4] + struct.pack("<I", 3) + data[8:], "too small"),
        "first-chunk-exif.webp": (riff([(b"EXIF", exif_blob())] + parts), "first chunk is 'EXIF'"),
        "canvas.webp": (riff([(b"VP8X", vp8x(0, 81, 60))] + parts[1:]), "canvas is 81x60"),
        "huge-canvas.webp": (riff([(b"VP8X", vp8x(0, 1 << 24, 1 << 24))] + parts[1:]), "too large"),
        "stray-anmf.webp": (riff([parts[0], (b"ANMF", b"\0" * 16 + chunk(*parts[1]))]), "ANMF chunk"),
        "vp8x-size.webp": (riff([(b"VP8X", vp8x(0, 80, 60) + b"\0\0")] + parts[1:]), "VP8X chunk of 12"),
    }
    # a VP8 first partition larger than its chunk (libwebp would read on
    # into the next chunk, which the output does not have)
    vp8 = bytearray(parts[1][1])
    tag = (struct.unpack("<I", bytes(vp8[:3]) + b"\0")[0] & 0x1f) | (len(vp8) << 5)
    vp8[:3] = struct.pack("<I", tag)[:3]
    cases["vp8-partition.webp"] = (riff([parts[0], (b"VP8 ", bytes(vp8))] + parts[2:]), "first partition")
    # a chunk size past the end of the file
    raw = bytearray(riff(parts))
    at = raw.index(b"VP8 ")
    struct.pack_into("<I", raw, at + 4, len(raw))
    cases["chunk-past-file.webp"] = (bytes(raw), "past the end of the file")
    # a chunk size past the RIFF form but inside the file (into a trailer)
    raw = bytearray(riff(parts[:2]) + b"\0" * 64)
    struct.pack_into("<I", raw, at + 4, struct.unpack_from("<I", raw, at + 4)[0] + 32)
    cases["chunk-past-riff.webp"] = (bytes(raw), "past the end of its RIFF form")
    # a frame sub-chunk past the end of its ANMF
    anim = chunks(harness.read(animation(t, "anim.webp")))
    frame = [i for i, (cc, _) in enumerate(anim) if cc == b"ANMF"][0]
    body = bytearray(anim[frame][1])
    struct.pack_into("<I", body, 20, struct.unpack_from("<I", body, 20)[0] + 8)
    anim[frame] = (b"ANMF", bytes(body))
    cases["subchunk-past-anmf.webp"] = (riff(anim), "past the end of its ANMF frame")
    for name, (blob, expect) in cases.items():
        p = t.path(name)
        harness.write(p, blob)
        msg = t.refuse(p)
        assert expect in msg, f"{name}: {msg}"


def test_limits_items(t):
    src = animation(t, "anim.webp")
    r = harness.unmeta("inspect", src)
    assert r.returncode in (0, 1), r.stderr
    # a flood of tiny unknown chunks is bounded by the item limit
    parts = chunks(harness.read(cwebp(t, "l.webp", "-q", "80")))
    flood = [(b"VP8X", vp8x(0, 80, 60)), parts[0]] + [(b"JUNK", b"")] * 120000
    p = t.path("flood.webp")
    harness.write(p, riff(flood))
    msg = t.refuse(p)
    assert "blocks" in msg or "limit" in msg.lower(), msg


def test_corpus_orientation_files(t):
    corpus = harness.shared_dir("corpus", "webp")
    harness.need("exiftool", "convert")
    for name, o in (("pillow__hopper_orientation_3.webp", 3), ("pillow__hopper_orientation_6.webp", 6)):
        src = os.path.join(corpus, name)
        if not os.path.exists(src):
            harness.missing(f"../shared/corpus/webp/{name} is not in the corpus")
        out = t.strip(src, out=t.path(name))
        assert exif_tags(out) == {"Orientation": o}, exif_tags(out)
        assert harness.pixels(src) == harness.pixels(out)
        webpinfo_clean(out)
        t.assert_idempotent(out)


if __name__ == "__main__":
    harness.main(globals())
