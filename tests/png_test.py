"""PNG and APNG: text chunks (plain and compressed, before and after IDAT),
XMP, tIME, eXIf, iCCP, unknown chunks and trailers are removed; rendering
chunks and pixels stay; damaged files are refused.

Fixtures are built here: by hand (struct + zlib, so every byte is known) or
with ImageMagick, exiftool and ffmpeg. Outputs are judged by exiftool
(harness.leaks), ImageMagick (harness.pixels), ffmpeg (APNG frames),
pngcheck, canary strings in the raw bytes, and strip(strip(x)) == strip(x).
"""
import hashlib
import struct
import time
import zlib

import harness

SIG = b"\x89PNG\r\n\x1a\n"


# --- building PNGs by hand ------------------------------------------------

def chunk(ctype, data):
    ctype = ctype.encode() if isinstance(ctype, str) else ctype
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def ihdr(w, h, depth=8, ctype=2, interlace=0):
    return chunk("IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, interlace))


def rgb_rows(w, h):
    """Filter-0 scanlines of a small RGB gradient."""
    out = bytearray()
    for y in range(h):
        out.append(0)
        for x in range(w):
            out += bytes(((x * 16) & 255, (y * 32) & 255, ((x + y) * 8) & 255))
    return bytes(out)


def idat_chunks(raw, pieces=1):
    z = zlib.compress(raw, 9)
    step = max(1, -(-len(z) // pieces))
    return b"".join(chunk("IDAT", z[i:i + step]) for i in range(0, len(z), step))


def png(before=(), after=(), w=16, h=8, pieces=2, head=None, idat=None):
    """An RGB PNG with extra chunks before and after the image data."""
    return (SIG + (head or ihdr(w, h)) + b"".join(before) +
            (idat or idat_chunks(rgb_rows(w, h), pieces)) + b"".join(after) + chunk("IEND", b""))


def text(key, value):
    return chunk("tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1"))


def ztxt(key, value):
    return chunk("zTXt", key.encode("latin-1") + b"\0\0" + zlib.compress(value.encode("latin-1")))


def itxt(key, value, compressed=True, lang=b"en", trans=b""):
    body = value.encode("utf-8")
    if compressed:
        body = zlib.compress(body)
    return chunk("iTXt", key.encode("latin-1") + b"\0" + bytes((1 if compressed else 0, 0)) +
                 lang + b"\0" + trans + b"\0" + body)


def chunks(data):
    """[(type, data)] of a PNG, checking the structure on the way."""
    assert data[:8] == SIG, "no PNG signature"
    out, i = [], 8
    while i < len(data):
        (n,) = struct.unpack(">I", data[i:i + 4])
        t = data[i + 4:i + 8].decode("latin-1")
        body = data[i + 8:i + 8 + n]
        (crc,) = struct.unpack(">I", data[i + 8 + n:i + 12 + n])
        assert crc == zlib.crc32(data[i + 4:i + 8 + n]), f"bad CRC in output chunk {t}"
        out.append((t, body))
        i += 12 + n
        if t == "IEND":
            assert i == len(data), "bytes after IEND in the output"
    return out


def types(path):
    return [t for t, _ in chunks(harness.read(path))]


def kinds(path):
    """Chunk types with runs of the same type shown once."""
    out = []
    for x in types(path):
        if not out or out[-1] != x:
            out.append(x)
    return out


def ifd(entries, base):
    """A big-endian TIFF IFD at offset base: entries [(tag, type, count,
    value bytes)], values over 4 bytes stored right after the IFD."""
    size = 2 + 12 * len(entries) + 4
    table, data = struct.pack(">H", len(entries)), b""
    for tag, typ, count, val in sorted(entries):
        if len(val) <= 4:
            table += struct.pack(">HHI", tag, typ, count) + val.ljust(4, b"\0")
        else:
            table += struct.pack(">HHII", tag, typ, count, base + size + len(data))
            data += val + b"\0" * (len(val) & 1)
    return table + struct.pack(">I", 0) + data


def exif_block(make="CANARY-PNG-MAKE", orientation=None, gps=True):
    """TIFF/EXIF with Make, an optional Orientation and a GPS IFD."""
    ents = [(0x010F, 2, len(make) + 1, make.encode() + b"\0")]
    if orientation:
        ents.append((0x0112, 3, 1, struct.pack(">H", orientation)))
    if not gps:
        return b"MM\0*" + struct.pack(">I", 8) + ifd(ents, 8)
    size0 = len(ifd(ents + [(0x8825, 4, 1, b"\0" * 4)], 8))
    ents.append((0x8825, 4, 1, struct.pack(">I", 8 + size0)))
    rat = lambda a, b: struct.pack(">II", a, b)
    gents = [(1, 2, 2, b"N\0"), (2, 5, 3, rat(48, 1) + rat(51, 1) + rat(2400, 100)),
             (3, 2, 2, b"E\0"), (4, 5, 3, rat(2, 1) + rat(17, 1) + rat(4000, 100))]
    return b"MM\0*" + struct.pack(">I", 8) + ifd(ents, 8) + ifd(gents, 8 + size0)


def icc_profile(dmnd=b"CANARY-ICC-MAKER", neutral=False):
    """A small display profile with identifying header fields and a device
    manufacturer description tag (ICC.1:2010 7.2, 10.5 textDescriptionType)."""
    def desc(s):
        return (b"desc" + b"\0" * 4 + struct.pack(">I", len(s) + 1) + s + b"\0" +
                b"\0" * 4 + b"\0" * 4 + b"\0" * 2 + b"\0" + b"\0" * 67)
    def xyz(x, y, z):
        f = lambda v: struct.pack(">i", int(round(v * 65536)))
        return b"XYZ " + b"\0" * 4 + f(x) + f(y) + f(z)
    tags = [(b"desc", desc(b"Test RGB")), (b"wtpt", xyz(0.9505, 1.0, 1.089)), (b"dmnd", desc(dmnd))]
    if neutral:
        blank = lambda s: b"desc" + b"\0" * (len(desc(s)) - 4)
        tags = [(b"desc", blank(b"Test RGB")), tags[1], (b"dmnd", blank(dmnd))]
    table = struct.pack(">I", len(tags))
    off = 128 + 4 + 12 * len(tags)
    data = b""
    for sig, body in tags:
        body += b"\0" * (-len(body) % 4)
        table += sig + struct.pack(">II", off + len(data), len(body))
        data += body
    size = 128 + len(table) + len(data)
    hdr = bytearray(128)
    struct.pack_into(">I", hdr, 0, size)
    hdr[8:12] = b"\x02\x10\x00\x00"
    hdr[12:16] = b"mntr"
    hdr[16:20] = b"RGB "
    hdr[20:24] = b"XYZ "
    hdr[36:40] = b"acsp"
    hdr[68:80] = struct.pack(">iii", 63190, 65536, 54061)
    if not neutral:
        hdr[4:8] = b"lcms"
        hdr[24:36] = struct.pack(">6H", 2021, 5, 4, 3, 2, 1)
        hdr[40:44] = b"APPL"
        hdr[48:52] = b"GOOG"
        hdr[52:56] = b"PXL7"
        hdr[56:64] = b"\0" * 7 + b"\1"
        hdr[80:84] = b"GOOG"
        hdr[84:100] = bytes(range(1, 17))
    return bytes(hdr) + table + data


def iccp(profile, name=b"Google Pixel 7 CANARY-ICC-NAME"):
    return chunk("iCCP", name + b"\0\0" + zlib.compress(profile))


# --- judging ---------------------------------------------------------------

def judge(t, src, out, *canaries, allow=(), validate=True, same_pixels=True):
    """The common verdict: no leak (exiftool), no canary in the bytes, same
    pixels, a valid PNG (pngcheck, and our own chunk walk), idempotent.
    same_pixels=False for the callers that judge rendering themselves."""
    harness.need("exiftool", "convert", "pngcheck")
    t.assert_clean(out, allow)
    t.assert_absent(out, *canaries)
    chunks(harness.read(out))
    assert not same_pixels or harness.pixels(src) == harness.pixels(out), "pixels changed"
    # pngcheck 3.0.3 predates cICP, mDCv and cLLi (PNG 3rd edition, 2025).
    r = harness.run(["pngcheck", "-q", out]) if validate else None
    assert not r or r.returncode == 0, f"pngcheck rejects the output: {r.stdout.decode(errors='replace')}"
    t.assert_idempotent(out)


def inspect(path):
    r = harness.unmeta("inspect", path)
    # 0 when clean, 1 when it found something; 2 is an error.
    assert r.returncode in (0, 1), f"inspect failed: {r.stderr.decode(errors='replace')}"
    return r.stdout.decode(errors="replace")


def check_dirty(path):
    r = harness.unmeta("check", "-q", path)
    assert r.returncode == 1, f"check should call {path} dirty (exit {r.returncode})"


# --- tests -----------------------------------------------------------------

def test_text_chunks_before_and_after_idat(t):
    xmp = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           '<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
           ' xmp:CreatorTool="CANARY-PNG-XMPTOOL"><dc:creator><rdf:Seq><rdf:li>CANARY-PNG-XMPCREATOR</rdf:li>'
           '</rdf:Seq></dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>')
    src = t.path("text.png")
    harness.write(src, png(
        before=[text("Author", "CANARY-PNG-AUTHOR"), ztxt("Comment", "CANARY-PNG-ZCOMMENT"),
                itxt("Description", "CANARY-PNG-IDESC"), itxt("XML:com.adobe.xmp", xmp, compressed=False),
                chunk("tIME", struct.pack(">HBBBBB", 2023, 4, 5, 6, 7, 8))],
        after=[text("Software", "CANARY-PNG-SOFTWARE"), ztxt("Creation Time", "CANARY-PNG-ZTIME"),
               itxt("Title", "CANARY-PNG-ITITLE")]))
    check_dirty(src)
    report = inspect(src)
    # The compressed values are shown too: they were inflated.
    for needle in ("CANARY-PNG-AUTHOR", "CANARY-PNG-ZCOMMENT", "CANARY-PNG-IDESC", "CANARY-PNG-XMPTOOL",
                   "CANARY-PNG-SOFTWARE", "CANARY-PNG-ZTIME", "CANARY-PNG-ITITLE", "2023-04-05 06:07:08"):
        assert needle in report, f"inspect does not show {needle}:\n{report}"
    for line, cat in (("CANARY-PNG-AUTHOR", "people"), ("CANARY-PNG-ZCOMMENT", "people"),
                      ("CANARY-PNG-SOFTWARE", "software"), ("CANARY-PNG-ZTIME", "time")):
        row = next(r for r in report.splitlines() if line in r)
        assert row.split()[0] == cat, f"{line} should be in {cat}: {row}"
    out = t.strip(src)
    assert types(out) == ["IHDR", "IDAT", "IDAT", "IEND"], types(out)
    judge(t, src, out, "CANARY-PNG-AUTHOR", "CANARY-PNG-SOFTWARE", "CANARY-PNG-XMPTOOL", b"tEXt", b"zTXt",
          b"iTXt", b"tIME")


def test_exiftool_written_metadata(t):
    harness.need("exiftool", "convert")
    src = t.path("tool.png")
    harness.run(["convert", "-size", "24x16", "gradient:red-blue", src], check=True)
    harness.run(["exiftool", "-q", "-overwrite_original", "-PNG:Author=CANARY-ET-AUTHOR",
                 "-PNG:Comment=CANARY-ET-COMMENT", "-XMP:Creator=CANARY-ET-XMP",
                 "-XMP:GPSLatitude=48.8", "-XMP:GPSLongitude=2.3", "-EXIF:Artist=CANARY-ET-ARTIST",
                 "-EXIF:Make=CANARY-ET-MAKE", "-PNG:CreationTime=2020:01:02 03:04:05", src], check=True)
    before = harness.exif(src)
    assert any("CANARY-ET-XMP" in str(v) for v in before.values()), "fixture has no XMP"
    out = t.strip(src)
    judge(t, src, out, "CANARY-ET-AUTHOR", "CANARY-ET-COMMENT", "CANARY-ET-XMP", "CANARY-ET-ARTIST",
          "CANARY-ET-MAKE")


def test_exif_gps_make_removed(t):
    src = t.path("exif.png")
    harness.write(src, png(before=[chunk("eXIf", exif_block())]))
    report = inspect(src)
    assert "CANARY-PNG-MAKE" in report and "location" in report, report
    out = t.strip(src)
    assert "eXIf" not in types(out)
    judge(t, src, out, "CANARY-PNG-MAKE")
    assert not [k for k in harness.exif(out) if k.startswith("EXIF:")], "EXIF left"


def test_exif_orientation_kept_minimal(t):
    harness.need("exiftool")
    for where in ("before", "after"):
        src = t.path(f"orient-{where}.png")
        e = chunk("eXIf", exif_block(orientation=6))
        harness.write(src, png(before=[e] if where == "before" else [], after=[e] if where == "after" else []))
        out = t.strip(src)
        # A minimal eXIf, before the image data (PNG 3rd ed. 11.3.6.1).
        ty = types(out)
        assert ty.count("eXIf") == 1 and ty.index("eXIf") < ty.index("IDAT"), ty
        tags = {k: v for k, v in harness.exif(out).items() if k.startswith("EXIF:")}
        assert tags == {"EXIF:IFD0:Orientation": 6}, tags
        judge(t, src, out, "CANARY-PNG-MAKE")


def test_exif_orientation_one_dropped(t):
    src = t.path("o1.png")
    harness.write(src, png(before=[chunk("eXIf", exif_block(orientation=1, gps=False))]))
    out = t.strip(src)
    assert "eXIf" not in types(out)
    judge(t, src, out, "CANARY-PNG-MAKE")


# "Raw profile type exif": text of "\nexif\n", the length right-aligned in 8
# columns, then lines of 72 lower-case hex digits (ImageMagick's writer;
# GIMP and digiKam write the same through exiv2).
def raw_profile_text(data, name="exif"):
    h = data.hex()
    return "\n%s\n%8d\n%s\n" % (name, len(data), "\n".join(h[i:i + 72] for i in range(0, len(h), 72)))


def raw_profile_chunk(kind, tiff, header=True, name="exif"):
    value = raw_profile_text((b"Exif\0\0" if header else b"") + tiff, name)
    key = "Raw profile type " + name
    if kind == "tEXt":
        return text(key, value)
    if kind == "zTXt":
        return ztxt(key, value)
    return itxt(key, value, compressed=kind == "iTXt-z")


# exiftool's Orientation number -> ImageMagick's -orient name.
IM_ORIENT = {1: "TopLeft", 2: "TopRight", 3: "BottomRight", 4: "BottomLeft", 5: "LeftTop", 6: "RightTop",
             7: "RightBottom", 8: "LeftBottom"}


def render(path, orientation=None):
    """md5 of ImageMagick's rendering, auto-oriented; with an orientation,
    that one applied (for readers that honour what ImageMagick 6 does not
    read: its 6.9 ignores the eXIf chunk, but applies a raw EXIF profile)."""
    args = ["convert", path]
    if orientation:
        args += ["-orient", IM_ORIENT[orientation]]
    r = harness.run(args + ["-auto-orient", "-depth", "16", "rgba:-"], check=True)
    return hashlib.md5(r.stdout).hexdigest()


def out_orientation(path):
    """The EXIF tags exiftool finds in an output: only Orientation expected."""
    return {k: v for k, v in harness.exif(path).items() if k.startswith("EXIF:")}


def test_raw_profile_exif_orientation_kept(t):
    # tEXt, zTXt, iTXt (compressed or not), with and without the APP1
    # "Exif\0\0" header, before and after the image data: the output keeps
    # only Orientation 6, in a minimal eXIf before IDAT.
    harness.need("exiftool", "convert")
    tiff = exif_block(orientation=6)
    for kind in ("tEXt", "zTXt", "iTXt", "iTXt-z"):
        for header in (True, False):
            for where in ("before", "after"):
                name = f"raw-{kind}-{'hdr' if header else 'bare'}-{where}.png"
                src = t.path(name)
                c = raw_profile_chunk(kind, tiff, header)
                harness.write(src, png(before=[c] if where == "before" else [],
                                       after=[c] if where == "after" else []))
                report = inspect(src)
                assert "CANARY-PNG-MAKE" in report and "GPSPosition" in report, f"{name}:\n{report}"
                out = t.strip(src)
                ty = types(out)
                assert ty.count("eXIf") == 1 and ty.index("eXIf") < ty.index("IDAT"), f"{name}: {ty}"
                assert out_orientation(out) == {"EXIF:IFD0:Orientation": 6}, f"{name}: {out_orientation(out)}"
                judge(t, src, out, "CANARY-PNG-MAKE", b"Raw profile", same_pixels=False)
                # The stored pixels are the same (no orientation applied)...
                assert render(src, 1) == render(out, 1), f"{name}: pixels changed"
                # ...and the output, turned by its eXIf, renders as
                # ImageMagick renders the input where it applies the raw
                # profile (tEXt and zTXt with the header).
                if kind in ("tEXt", "zTXt") and header:
                    assert render(src) != render(src, 1), f"{name}: ImageMagick did not turn the input"
                    assert render(src) == render(out, 6), f"{name}: the output renders differently"


def test_raw_profile_app1_and_gps_removed(t):
    # "Raw profile type APP1" (ImageMagick's name for the JPEG segment)
    # holding EXIF is read the same way; nothing but Orientation survives.
    harness.need("exiftool", "convert")
    src = t.path("app1.png")
    harness.write(src, png(before=[raw_profile_chunk("zTXt", exif_block(orientation=6), name="APP1")]))
    assert "GPSPosition" in inspect(src)
    out = t.strip(src)
    assert out_orientation(out) == {"EXIF:IFD0:Orientation": 6}, out_orientation(out)
    assert not [k for k in harness.exif(out) if "GPS" in k], harness.exif(out)
    judge(t, src, out, "CANARY-PNG-MAKE", b"APP1", same_pixels=False)
    # ImageMagick 6.9 does not apply this name; exiftool reads it.
    assert harness.exif(src).get("EXIF:IFD0:Orientation") == 6, harness.exif(src)
    assert render(src, 1) == render(out, 1), "pixels changed"


def test_raw_profile_orientation_one_or_none_dropped(t):
    for name, tiff in (("o1", exif_block(orientation=1)), ("none", exif_block())):
        src = t.path(f"raw-{name}.png")
        harness.write(src, png(before=[raw_profile_chunk("zTXt", tiff)]))
        out = t.strip(src)
        assert kinds(out) == ["IHDR", "IDAT", "IEND"], types(out)
        judge(t, src, out, "CANARY-PNG-MAKE")


def test_raw_profile_exif_chunk_wins(t):
    # An eXIf chunk is the standard place: when a file has both, its
    # orientation (even 1) is the one kept, in either order, and a note
    # names the raw profile's.
    harness.need("exiftool")
    raw6 = raw_profile_chunk("zTXt", exif_block(orientation=6))
    for name, exif_o, order in (("e3-first", 3, 0), ("e3-last", 3, 1), ("e1", 1, 0)):
        e = chunk("eXIf", exif_block(orientation=exif_o, gps=False))
        src = t.path(f"both-{name}.png")
        harness.write(src, png(before=[e, raw6] if order == 0 else [raw6], after=[e] if order else []))
        out = t.path(f"both-{name}.out.png")
        r = harness.unmeta("strip", "-v", "-f", "-o", out, src)
        assert r.returncode == 0, r.stderr
        err = r.stderr.decode(errors="replace")
        assert "gives orientation 6" in err and f"the eXIf chunk {exif_o}" in err, err
        if exif_o == 1:
            assert "eXIf" not in types(out), types(out)
        else:
            assert types(out).count("eXIf") == 1
            assert out_orientation(out) == {"EXIF:IFD0:Orientation": exif_o}, out_orientation(out)
        judge(t, src, out, "CANARY-PNG-MAKE", same_pixels=False)


def test_raw_profile_malformed_removed_with_note(t):
    # A raw EXIF profile that cannot be read is removed like any text (never
    # passed through) and the strip goes on; since an orientation it may
    # hold is lost, a note says so, in strip -v and in inspect.
    tiff = b"Exif\0\0" + exif_block(orientation=6)
    good = raw_profile_text(tiff)
    short = good.replace("%8d" % len(tiff), "%8d" % (len(tiff) + 400))   # the length outruns the digits
    bad_tiff = raw_profile_text(b"Exif\0\0XX\0*" + tiff[10:])          # not a TIFF structure
    key = b"Raw profile type exif\0"
    cases = {
        "length": text("Raw profile type exif", short),
        "nolength": text("Raw profile type exif", "\nexif\n" + good.split("\n", 3)[3]),
        "tiff": ztxt("Raw profile type exif", bad_tiff),
        "zlib": chunk("zTXt", key + b"\0" + b"x\x9cnot a zlib stream at all"),
        "method": chunk("zTXt", key + b"\1" + zlib.compress(good.encode())),
        "itxt": chunk("iTXt", key + b"\1\0en"),
    }
    for name, c in cases.items():
        src = t.path(f"bad-{name}.png")
        harness.write(src, png(before=[c]))
        out = t.path(f"bad-{name}.out.png")
        r = harness.unmeta("strip", "-v", "-f", "-o", out, src)
        assert r.returncode == 0, f"{name}: {r.stderr}"
        err = r.stderr.decode(errors="replace")
        assert "raw EXIF profile" in err and "orientation it may hold is not kept" in err, f"{name}: {err}"
        assert "raw EXIF profile" in inspect(src), name
        assert kinds(out) == ["IHDR", "IDAT", "IEND"], f"{name}: {types(out)}"
        judge(t, src, out, "CANARY-PNG-MAKE", b"Raw profile")


def test_raw_profile_bounded(t):
    # The hex text is inflated within UNMETA_OPT_MAX_INFLATE like any zTXt:
    # a raw profile whose text inflates beyond it refuses the file.
    tiff = b"Exif\0\0" + exif_block(orientation=6)
    big = raw_profile_text(tiff) + " " * (3 << 20)
    src = t.path("big.png")
    harness.write(src, png(before=[ztxt("Raw profile type exif", big)]))
    msg = t.refuse(src, "--max-inflate", "1M")
    assert "inflates beyond" in msg, msg
    out = t.strip(src)
    assert out_orientation(out) == {"EXIF:IFD0:Orientation": 6}


def icc_fields(path):
    return {k.split(":")[-1]: v for k, v in harness.exif(path).items() if k.startswith("ICC_Profile:")}


def test_iccp_neutralised(t):
    harness.need("exiftool")
    prof = icc_profile()
    src = t.path("icc.png")
    harness.write(src, png(before=[iccp(prof)]))
    before = icc_fields(src)
    assert before.get("DeviceManufacturer") == "GOOG" and before.get("ProfileCreator") == "GOOG", before
    report = inspect(src)
    assert "Google Pixel 7 CANARY-ICC-NAME" in report and "DeviceManufacturer" in report, report
    out = t.strip(src)
    assert kinds(out) == ["IHDR", "iCCP", "IDAT", "IEND"], types(out)
    body = dict(chunks(harness.read(out)))["iCCP"]
    name, rest = body.split(b"\0", 1)
    assert name == b"ICC profile" and rest[0] == 0, body[:40]
    neutral = zlib.decompress(rest[1:])
    assert len(neutral) == len(prof)
    assert b"CANARY-ICC-MAKER" not in neutral and b"GOOG" not in neutral and b"PXL7" not in neutral
    # Colour data untouched: everything but the identifying fields.
    assert neutral[8:24] == prof[8:24] and neutral[36:40] == prof[36:40] and neutral[64:80] == prof[64:80]
    assert neutral[128:] == harness.icc_blanked(prof)[128:]
    assert b"Test RGB" not in neutral
    after = icc_fields(out)
    for f in ("DeviceManufacturer", "DeviceModel", "ProfileCreator", "PrimaryPlatform", "ProfileCMMType",
              "ProfileDescription"):
        assert not str(after.get(f, "")).strip("\0 0"), f"{f} = {after.get(f)!r}"
    judge(t, src, out, "CANARY-ICC-NAME", "Google Pixel")


def icc_tags(profile):
    """{signature: tag bytes} of an ICC profile's tag table."""
    (count,) = struct.unpack(">I", profile[128:132])
    out = {}
    for i in range(count):
        sig, off, size = struct.unpack(">4sII", profile[132 + 12 * i:144 + 12 * i])
        out[sig] = profile[off:off + size]
    return out


def test_iccp_real_profiles_text_tags_blanked(t):
    # Ghostscript's profiles: Adobe RGB (1998)-like a98.icc (ICC v2, 'desc'
    # and 'text' tags) and ps_rgb.icc (v4, 'mluc'). Their description and
    # copyright ("Copyright Artifex Software ...") are blanked; every tag a
    # colour engine reads is byte for byte the same, and ImageMagick's
    # conversion to sRGB through the profile renders the same pixels.
    harness.need("exiftool", "convert")
    srgb = harness.need_file("/usr/share/color/icc/ghostscript/srgb.icc", "libgs-common")
    for name in ("a98.icc", "ps_rgb.icc"):
        prof = harness.read(harness.need_file("/usr/share/color/icc/ghostscript/" + name, "libgs-common"))
        src = t.path(name + ".png")
        harness.write(src, png(before=[iccp(prof, name=b"ICC profile")]))
        before = icc_fields(src)
        assert "Artifex" in before.get("ProfileDescription", "") and "Artifex" in before.get("ProfileCopyright", ""), before
        report = inspect(src)
        assert "ICC ProfileCopyright" in report and "Copyright Artifex Software" in report, report
        out = t.strip(src)
        after = icc_fields(out)
        for f in ("ProfileDescription", "ProfileCopyright"):
            assert not str(after.get(f, "")).strip(), f"{name}: {f} = {after.get(f)!r}"
        got = zlib.decompress(dict(chunks(harness.read(out)))["iCCP"].split(b"\0", 1)[1][1:])
        assert b"Artifex" not in got and "Artifex".encode("utf-16-be") not in got, name
        tin, tout = icc_tags(prof), icc_tags(got)
        assert tin.keys() == tout.keys(), name
        for sig in tin:
            if sig in harness.ICC_TEXT_TAGS:
                assert tout[sig][:4] == tin[sig][:4] and len(tout[sig]) == len(tin[sig]), (name, sig)
            else:
                assert tout[sig] == tin[sig], f"{name}: tag {sig} changed"

        def to_srgb(p):
            r = harness.run(["convert", p, "-profile", srgb, "-depth", "16", "rgb:-"], check=True)
            return hashlib.md5(r.stdout).hexdigest()
        raw = harness.run(["convert", src, "+profile", "*", "-depth", "16", "rgb:-"], check=True).stdout
        assert to_srgb(src) != hashlib.md5(raw).hexdigest(), f"{name}: the profile does not change the colours"
        assert to_srgb(src) == to_srgb(out), f"{name}: colour conversion changed"
        judge(t, src, out, "Artifex")


def test_iccp_strip_option(t):
    src = t.path("icc.png")
    harness.write(src, png(before=[iccp(icc_profile())]))
    out = t.strip(src, "--icc=strip")
    assert kinds(out) == ["IHDR", "IDAT", "IEND"], types(out)
    judge(t, src, out, "CANARY-ICC-NAME")
    t.assert_idempotent(out, "--icc=strip")


def test_iccp_already_neutral_copied(t):
    src = t.path("neutral.png")
    data = png(before=[iccp(icc_profile(neutral=True), name=b"ICC profile")])
    harness.write(src, data)
    out = t.strip(src)
    assert harness.read(out) == data, "a clean file changed"
    r = harness.unmeta("check", "-q", src)
    assert r.returncode == 0, "a neutral profile counts as metadata"


def test_iccp_generic_name_renamed(t):
    # A profile already neutral but named otherwise: renamed, stream reused.
    stream = zlib.compress(icc_profile(neutral=True))
    src = t.path("named.png")
    harness.write(src, png(before=[chunk("iCCP", b"CANARY-ICC-LABEL\0\0" + stream)]))
    out = t.strip(src)
    body = dict(chunks(harness.read(out)))["iCCP"]
    assert body == b"ICC profile\0\0" + stream, body[:30]
    judge(t, src, out, "CANARY-ICC-LABEL")


def test_iccp_malformed_dropped(t):
    src = t.path("badicc.png")
    harness.write(src, png(before=[chunk("iCCP", b"icc\0\0" + zlib.compress(b"not a profile" * 20))]))
    r = harness.unmeta("strip", "-v", "-o", t.path("v.png"), src)
    assert r.returncode == 0, r.stderr
    out = t.path("v.png")
    assert kinds(out) == ["IHDR", "IDAT", "IEND"], types(out)
    assert "malformed" in inspect(src)
    judge(t, src, out)


def test_16bit(t):
    harness.need("convert")
    src = t.path("deep.png")
    harness.run(["convert", "-size", "32x20", "gradient:#000000-#ffff80", "-depth", "16",
                 "-set", "comment", "CANARY-PNG-DEEP", src], check=True)
    assert "IHDR" in types(src) and harness.read(src)[24] == 16, "fixture is not 16-bit"
    out = t.strip(src)
    assert harness.read(out)[24] == 16
    judge(t, src, out, "CANARY-PNG-DEEP")


def test_palette_with_trns(t):
    w, h = 8, 4
    rows = b"".join(b"\0" + bytes((x + y) % 4 for x in range(w)) for y in range(h))
    plte = chunk("PLTE", bytes((255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255)))
    trns = chunk("tRNS", bytes((0, 128, 255)))
    src = t.path("pal.png")
    harness.write(src, png(head=ihdr(w, h, 8, 3), before=[text("Comment", "CANARY-PNG-PAL"), plte, trns],
                           idat=idat_chunks(rows)))
    out = t.strip(src)
    got = chunks(harness.read(out))
    assert [x for x, _ in got] == ["IHDR", "PLTE", "tRNS", "IDAT", "IEND"], got
    assert dict(got)["tRNS"] == bytes((0, 128, 255))
    judge(t, src, out, "CANARY-PNG-PAL")


def test_rendering_chunks_kept(t):
    keep = [chunk("gAMA", struct.pack(">I", 45455)),
            chunk("cHRM", struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000)),
            chunk("sRGB", b"\0"), chunk("sBIT", b"\5\6\5"),
            chunk("pHYs", struct.pack(">IIB", 3780, 3780, 1)), chunk("bKGD", struct.pack(">3H", 1, 2, 3))]
    src = t.path("render.png")
    harness.write(src, png(before=keep + [text("Comment", "CANARY-PNG-R")]))
    out = t.strip(src)
    data = harness.read(out)
    for c in keep:
        assert c in data, f"{c[4:8]} was not kept byte for byte"
    info = harness.exif(out)
    assert info.get("PNG:PNG-gAMA:Gamma") or any(k.endswith(":Gamma") for k in info), info
    assert any(k.endswith(":WhitePointX") for k in info), info
    judge(t, src, out, "CANARY-PNG-R")


def test_hdr_chunks_kept(t):
    # PNG 3rd edition: coding-independent code points and HDR metadata.
    keep = [chunk("cICP", bytes((9, 16, 0, 1))), chunk("mDCv", struct.pack(">8HII", 35400, 14600, 8500, 39850,
                                                                          6550, 2300, 15635, 16450, 10000000, 1)),
            chunk("cLLi", struct.pack(">II", 10000000, 4000000))]
    src = t.path("hdr.png")
    harness.write(src, png(before=keep, after=[text("Comment", "CANARY-PNG-HDR")]))
    out = t.strip(src)
    data = harness.read(out)
    for c in keep:
        assert c in data, f"{c[4:8]} was not kept byte for byte"
    judge(t, src, out, "CANARY-PNG-HDR", validate=False)


def test_malformed_rendering_chunk_dropped(t):
    # A gAMA 1000 bytes long is not a gAMA any decoder uses: it is dropped.
    src = t.path("biggama.png")
    harness.write(src, png(before=[chunk("gAMA", struct.pack(">I", 45455) + b"CANARY-PNG-HIDDEN" * 50)]))
    check_dirty(src)
    out = t.strip(src)
    assert "gAMA" not in types(out)
    judge(t, src, out, "CANARY-PNG-HIDDEN")


def test_unknown_ancillary_dropped(t):
    src = t.path("anc.png")
    harness.write(src, png(before=[chunk("prVt", b"CANARY-PNG-PRIVATE"), chunk("caBX", b"CANARY-PNG-C2PA")],
                           after=[chunk("vpAg", b"\0" * 9), chunk("dSIG", b"CANARY-PNG-SIG")]))
    report = inspect(src)
    for name in ("prVt", "caBX", "vpAg", "dSIG"):
        assert name in report, report
    out = t.strip(src)
    assert types(out) == ["IHDR", "IDAT", "IDAT", "IEND"], types(out)
    judge(t, src, out, "CANARY-PNG-PRIVATE", "CANARY-PNG-C2PA", "CANARY-PNG-SIG")


def test_unknown_critical_refused(t):
    src = t.path("crit.png")
    harness.write(src, png(before=[chunk("ABCD", b"data")]))
    msg = t.refuse(src)
    assert "ABCD" in msg and "critical" in msg, msg


def test_bad_crc_refused(t):
    good = png(before=[text("Comment", "x")])
    for victim in (b"tEXt", b"IDAT", b"IHDR"):
        data = bytearray(good)
        i = data.find(victim)
        (n,) = struct.unpack(">I", data[i - 4:i])
        data[i + 4 + n] ^= 0x01
        src = t.path(f"crc-{victim.decode()}.png")
        harness.write(src, bytes(data))
        msg = t.refuse(src)
        assert "CRC" in msg and victim.decode() in msg, msg


def test_truncated_refused(t):
    good = png(before=[text("Comment", "x")], pieces=3)
    iend = good.rfind(b"IEND") - 4
    first_idat = good.find(b"IDAT") - 4
    for cut in (10, 20, first_idat + 20, iend, iend + 6, len(good) - 1):
        src = t.path(f"cut{cut}.png")
        harness.write(src, good[:cut])
        msg = t.refuse(src)
        assert "end" in msg or "short" in msg, msg


def test_structure_rules(t):
    w, h = 16, 8
    body = idat_chunks(rgb_rows(w, h), 2)
    first, second = body[:body.find(b"IDAT", 8) - 4], body[body.find(b"IDAT", 8) - 4:]
    cases = {
        "no-ihdr.png": SIG + chunk("tEXt", b"a\0b") + ihdr(w, h) + body + chunk("IEND", b""),
        "split-idat.png": SIG + ihdr(w, h) + first + text("a", "b") + second + chunk("IEND", b""),
        "no-idat.png": SIG + ihdr(w, h) + chunk("IEND", b""),
        "bad-depth.png": png(head=ihdr(w, h, 3, 2)),
        "zero-width.png": png(head=ihdr(0, h)),
        "interlace-2.png": png(head=ihdr(w, h, 8, 2, 2)),
        "pal-no-plte.png": png(head=ihdr(w, h, 8, 3)),
        "bad-type.png": png(before=[chunk(b"te1t", b"x")]),
        "huge-length.png": SIG + ihdr(w, h) + struct.pack(">I", 0x80000000) + b"tEXt" + b"\0" * 16,
    }
    for name, data in cases.items():
        src = t.path(name)
        harness.write(src, data)
        t.refuse(src)


def test_trailer_removed(t):
    src = t.path("trail.png")
    harness.write(src, png() + b"PK\3\4CANARY-PNG-TRAILER" + b"\0" * 100)
    report = inspect(src)
    assert "trailer" in report and "ZIP" in report, report
    out = t.strip(src)
    judge(t, src, out, "CANARY-PNG-TRAILER")


def test_decompression_bomb_refused(t):
    # 200 MiB of zeros deflate to ~200 KB. The inflate limit (64 MiB by
    # default) stops the inflation, and the file is refused with a limit
    # error rather than its size shown wrongly or memory exhausted.
    bomb = zlib.compress(b"\0" * (200 << 20), 9)
    for name, c in (("ztxt", chunk("zTXt", b"Comment\0\0" + bomb)),
                    ("itxt", chunk("iTXt", b"Comment\0\1\0\0\0" + bomb)),
                    ("iccp", chunk("iCCP", b"icc\0\0" + bomb))):
        src = t.path(f"bomb-{name}.png")
        harness.write(src, png(before=[c]))
        start = time.monotonic()
        msg = t.refuse(src)
        assert time.monotonic() - start < 10, "the bomb took too long"
        assert "inflates beyond" in msg, msg
    # Dropping the profile needs no inflation at all.
    t.strip(t.path("bomb-iccp.png"), "--icc=strip")


def test_apng(t):
    harness.need("ffmpeg")
    base = t.path("anim.png")
    harness.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=32x24:rate=4", "-frames:v", "4",
                 "-plays", "0", "-f", "apng", "-y", base], check=True)
    got = chunks(harness.read(base))
    ty = [x for x, _ in got]
    assert "acTL" in ty and "fdAT" in ty, ty
    # Text before the first frame and between the frames.
    parts = [SIG]
    for x, body in got:
        if x == "IDAT" and "tEXt" not in [p[4:8].decode("latin-1", "replace") for p in parts[1:]]:
            parts.append(text("Comment", "CANARY-APNG-BEFORE"))
        parts.append(chunk(x, body))
        if x == "fdAT":
            parts.append(ztxt("Author", "CANARY-APNG-BETWEEN"))
    src = t.path("anim-text.png")
    harness.write(src, b"".join(parts))
    out = t.strip(src)
    assert [x for x in types(out)] == ty, "the animation chunks changed"
    assert harness.read(out) == harness.read(base)

    def frames(p):
        r = harness.run(["ffmpeg", "-v", "error", "-f", "apng", "-i", p, "-f", "framemd5", "-"], check=True)
        return [ln for ln in r.stdout.decode().splitlines() if not ln.startswith("#")]
    # ffmpeg's APNG reader stops at a text chunk between frames, so the
    # input is judged through the file it was built from.
    assert frames(out) == frames(base) and len(frames(out)) == 4
    judge(t, src, out, "CANARY-APNG-BEFORE", "CANARY-APNG-BETWEEN")


def test_interlaced(t):
    harness.need("convert")
    src = t.path("adam7.png")
    harness.run(["convert", "-size", "33x17", "plasma:", "-interlace", "PNG", "-set", "comment",
                 "CANARY-PNG-ADAM7", src], check=True)
    assert harness.read(src)[28] == 1, "fixture is not interlaced"
    out = t.strip(src)
    judge(t, src, out, "CANARY-PNG-ADAM7")


def test_many_idat_chunks(t):
    # One report block for the whole IDAT run, whatever its chunk count.
    src = t.path("many.png")
    raw = rgb_rows(64, 64)
    harness.write(src, png(w=64, h=64, idat=idat_chunks(raw, 2000), before=[text("Comment", "CANARY-PNG-MANY")]))
    out = t.strip(src)
    assert types(out).count("IDAT") == types(src).count("IDAT") > 1000
    assert inspect(src).count("IDAT") <= 2
    judge(t, src, out, "CANARY-PNG-MANY")


def test_clean_file_unchanged(t):
    # strip of a clean hand-built file is byte-identical to it.
    data = png(before=[chunk("gAMA", struct.pack(">I", 45455))])
    src = t.path("clean.png")
    harness.write(src, data)
    out = t.strip(src)
    assert hashlib.sha256(harness.read(out)).digest() == hashlib.sha256(data).digest()
    r = harness.unmeta("check", "-q", src)
    assert r.returncode == 0


if __name__ == "__main__":
    harness.main(globals())
