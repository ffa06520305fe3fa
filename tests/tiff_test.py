"""TIFF: every page's IFD is rewritten from a keep-list; Make, Model,
Software, Artist, descriptions, dates, Exif/GPS sub-IFDs, MakerNotes, XMP,
IPTC, Photoshop resources, GeoTIFF keys, SubIFD previews and private tags
are removed; strips and tiles are copied byte for byte; the ICC profile is
neutralised (or dropped with --icc=strip); camera raws, BigTIFF oddities,
truncated files and IFD loops are refused with the original untouched.

Fixtures are made here: ImageMagick draws the images, tiffcp re-lays them
out (tiles, LZW/deflate with predictor, JPEG), exiftool and tiffset add the
metadata, and small TIFFs are built byte by byte where no tool writes what
a test needs (private tags, MakerNotes, SubIFDs, DNG, loops, overlaps).
Judges: exiftool (harness.leaks), ImageMagick pixels of every page,
tiffinfo (no errors or warnings), the canaries' absence from the output
bytes, idempotence and `unmeta check`.
"""
import struct

import harness

CANARIES = {
    "Artist": "CANARY-TIFF-ARTIST",
    "Make": "CANARY-TIFF-MAKE",
    "Model": "CANARY-TIFF-MODEL",
    "Software": "CANARY-TIFF-SOFTWARE",
    "ImageDescription": "CANARY-TIFF-DESCRIPTION",
    "Copyright": "CANARY-TIFF-COPYRIGHT",
    "DocumentName": "CANARY-TIFF-DOCNAME",
    "XMP-dc:Creator": "CANARY-TIFF-XMP",
    "IPTC:By-line": "CANARY-TIFF-IPTC",
    "GPSAreaInformation": "CANARY-TIFF-GPS",
    "ExifIFD:UserComment": "CANARY-TIFF-USERCOMMENT",
    "ExifIFD:BodySerialNumber": "CANARY-TIFF-SERIAL",
}

# Tags exiftool shows for a stripped TIFF: the ones that only describe how
# to render (the audit's list) and the ICC profile's colour fields.
RENDER_TAGS = (
    "ImageWidth", "ImageHeight", "BitsPerSample", "Compression", "PhotometricInterpretation",
    "FillOrder", "StripOffsets", "Orientation", "SamplesPerPixel", "RowsPerStrip",
    "StripByteCounts", "XResolution", "YResolution", "PlanarConfiguration", "ResolutionUnit",
    "PageNumber", "TransferFunction", "Predictor", "WhitePoint", "PrimaryChromaticities",
    "ColorMap", "TileWidth", "TileLength", "TileOffsets", "TileByteCounts", "InkSet",
    "NumberOfInks", "ExtraSamples", "SampleFormat", "JPEGTables", "YCbCrCoefficients",
    "YCbCrSubSampling", "YCbCrPositioning", "ReferenceBlackWhite", "SubfileType",
    "OldSubfileType", "T4Options", "T6Options",
)


def need_tools():
    harness.need("exiftool", "convert", "tiffinfo", "tiffcp")


def image(t, name, *opts, size="48x40", kind="plasma:"):
    """An image drawn by ImageMagick (plasma: every pixel differs)."""
    path = t.path(name)
    harness.run(["convert", "-seed", "7", "-size", size, kind, *opts, path], check=True)
    return path


def add_metadata(path):
    """Plants every canary with exiftool (IFD0, Exif, GPS, XMP, IPTC)."""
    args = ["exiftool", "-q", "-overwrite_original"]
    for tag, value in CANARIES.items():
        args.append(f"-{tag}={value}")
    args += ["-GPSLatitude=48.8583", "-GPSLatitudeRef=N", "-GPSLongitude=2.2945",
             "-GPSLongitudeRef=E", "-DateTimeOriginal=2021:06:01 12:00:00",
             "-ModifyDate=2021:06:01 12:00:00", path]
    harness.run(args, check=True)
    return path


def tiffinfo_ok(path):
    r = harness.run(["tiffinfo", path])
    err = r.stderr.decode(errors="replace").strip()
    assert r.returncode == 0 and not err, f"tiffinfo {path}: exit {r.returncode}: {err}"
    return r.stdout.decode(errors="replace")


def pages(path):
    """Pages of a file that tiffinfo reads without a word of complaint."""
    return tiffinfo_ok(path).count("=== TIFF directory")


def page_count(path):
    """Pages of any input (fixtures may carry tags libtiff warns about)."""
    return harness.run(["tiffinfo", path]).stdout.count(b"=== TIFF directory")


def page_pixels(path, i):
    r = harness.run(["convert", f"{path}[{i}]", "-auto-orient", "-depth", "16", "rgba:-"], check=True)
    return harness.hashlib.md5(r.stdout).hexdigest()


def judge(t, src, out, *opts, canaries=CANARIES.values()):
    """Everything a stripped TIFF must be."""
    assert harness.pixels(out) == harness.pixels(src), f"{out}: pixels changed"
    assert pages(out) == page_count(src), f"{out}: pages lost"
    bad = harness.leaks(out, allow=RENDER_TAGS)
    assert not bad, f"{out}: exiftool still finds {bad}"
    t.assert_absent(out, *canaries)
    r = harness.unmeta("check", "-q", out)
    assert r.returncode == 0, f"{out}: unmeta check says it is not clean"
    t.assert_idempotent(out, *opts)


def assert_dirty(path):
    r = harness.unmeta("check", "-q", path)
    assert r.returncode == 1, f"{path}: check should find metadata (exit {r.returncode})"


# ---- building TIFFs by hand ------------------------------------------------

TYPES = {1: "B", 2: "s", 3: "H", 4: "I", 5: "I", 7: "B", 8: "h", 9: "i", 10: "i", 11: "f", 12: "d", 13: "I",
         16: "Q"}
SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8}


class Tiff:
    """A TIFF written front to back: blobs first, IFDs pointing at them."""

    def __init__(self, bo="<", big=False):
        self.bo, self.big = bo, big
        mark = b"II" if bo == "<" else b"MM"
        if big:
            self.buf = bytearray(mark + struct.pack(bo + "HHHQ", 43, 8, 0, 0))
        else:
            self.buf = bytearray(mark + struct.pack(bo + "HI", 42, 0))

    def blob(self, data):
        if len(self.buf) & 1:
            self.buf += b"\0"
        off = len(self.buf)
        self.buf += data
        return off

    def value(self, typ, vals):
        if isinstance(vals, (bytes, bytearray)):
            return len(vals) // SIZES[typ], bytes(vals)
        if typ in (5, 10):
            flat = [x for pair in vals for x in pair]
            return len(vals), struct.pack(self.bo + "%dI" % len(flat), *flat)
        return len(vals), struct.pack(self.bo + "%d%s" % (len(vals), TYPES[typ]), *vals)

    def ifd(self, entries, next_ifd=0):
        """entries: [(tag, type, values or bytes)]; returns the IFD offset."""
        osz = 8 if self.big else 4
        rows = []
        for tag, typ, vals in sorted(entries, key=lambda e: e[0]):
            count, data = self.value(typ, vals)
            if len(data) > osz:
                field = struct.pack(self.bo + ("Q" if self.big else "I"), self.blob(data))
            else:
                field = data.ljust(osz, b"\0")
            rows.append((tag, typ, count, field))
        if len(self.buf) & 1:
            self.buf += b"\0"
        off = len(self.buf)
        if self.big:
            self.buf += struct.pack(self.bo + "Q", len(rows))
            for tag, typ, count, field in rows:
                self.buf += struct.pack(self.bo + "HHQ", tag, typ, count) + field
            self.buf += struct.pack(self.bo + "Q", next_ifd)
        else:
            self.buf += struct.pack(self.bo + "H", len(rows))
            for tag, typ, count, field in rows:
                self.buf += struct.pack(self.bo + "HHI", tag, typ, count) + field
            self.buf += struct.pack(self.bo + "I", next_ifd)
        return off

    def next_at(self, ifd_off):
        """Offset of the next-IFD field of the IFD at ifd_off."""
        if self.big:
            (n,) = struct.unpack_from(self.bo + "Q", self.buf, ifd_off)
            return ifd_off + 8 + 20 * n
        (n,) = struct.unpack_from(self.bo + "H", self.buf, ifd_off)
        return ifd_off + 2 + 12 * n

    def link(self, ifd_off, next_ifd):
        struct.pack_into(self.bo + ("Q" if self.big else "I"), self.buf, self.next_at(ifd_off), next_ifd)

    def first(self, off):
        struct.pack_into(self.bo + ("Q" if self.big else "I"), self.buf, 8 if self.big else 4, off)

    def save(self, path):
        harness.write(path, bytes(self.buf))
        return path


def gray(w=8, h=8, seed=1):
    return bytes((x * 29 + y * 7 + seed * 13) & 0xFF for y in range(h) for x in range(w))


def page_entries(strip_off, w=8, h=8, extra=()):
    return [(256, 3, [w]), (257, 3, [h]), (258, 3, [8]), (259, 3, [1]), (262, 3, [1]),
            (273, 4, [strip_off]), (277, 3, [1]), (278, 3, [h]), (279, 4, [w * h]),
            (282, 5, [(72, 1)]), (283, 5, [(72, 1)]), (296, 3, [2])] + list(extra)


def one_page(bo="<", extra=(), big=False):
    t = Tiff(bo, big)
    strip = t.blob(gray())
    t.first(t.ifd(page_entries(strip, extra=extra)))
    return t


# ---- tests ------------------------------------------------------------------


def test_metadata_little_endian_strips(t):
    need_tools()
    src = add_metadata(image(t, "le.tif", "-define", "tiff:rows-per-strip=8"))
    assert harness.read(src)[:4] == b"II*\0"
    assert_dirty(src)
    assert len(harness.exif(src).get("EXIF:IFD0:StripOffsets", "").split()) > 1, "want several strips"
    out = t.strip(src)
    assert harness.read(out)[:4] == b"II*\0", "byte order changed"
    judge(t, src, out)


def test_metadata_big_endian(t):
    need_tools()
    src = add_metadata(image(t, "be.tif", "-define", "tiff:endian=msb"))
    assert harness.read(src)[:4] == b"MM\0*"
    out = t.strip(src)
    assert harness.read(out)[:4] == b"MM\0*", "byte order changed"
    judge(t, src, out)


def test_tiles(t):
    need_tools()
    base = image(t, "base.tif", size="70x50")
    src = t.path("tiled.tif")
    harness.run(["tiffcp", "-t", "-w", "16", "-l", "16", base, src], check=True)
    add_metadata(src)
    assert "Tile Width" in tiffinfo_ok(src)
    out = t.strip(src)
    assert "Tile Width: 16" in tiffinfo_ok(out)
    judge(t, src, out)


def test_multipage(t):
    need_tools()
    a = image(t, "a.png")
    b = image(t, "b.png", size="30x20", kind="gradient:red-blue")
    c = image(t, "c.png", kind="xc:green")
    src = t.path("multi.tif")
    harness.run(["convert", a, b, c, src], check=True)
    add_metadata(src)
    assert pages(src) == 3
    out = t.strip(src)
    assert pages(out) == 3
    for i in range(3):
        assert page_pixels(out, i) == page_pixels(src, i), f"page {i} changed"
    judge(t, src, out)


def test_16bit(t):
    need_tools()
    src = add_metadata(image(t, "deep.tif", "-depth", "16"))
    assert "Bits/Sample: 16" in tiffinfo_ok(src)
    out = t.strip(src)
    assert "Bits/Sample: 16" in tiffinfo_ok(out)
    judge(t, src, out)


def test_palette(t):
    need_tools()
    src = add_metadata(image(t, "pal.tif", "-colors", "12", "-type", "Palette"))
    assert "palette" in tiffinfo_ok(src)
    out = t.strip(src)
    assert "Color Map: (present)" in tiffinfo_ok(out)
    judge(t, src, out)


def compressed(t, name, codec):
    base = image(t, "base.tif", "-depth", "8", size="64x48")
    src = t.path(name)
    harness.run(["tiffcp", "-c", codec, "-r", "16", base, src], check=True)
    return add_metadata(src)


def test_lzw_predictor(t):
    need_tools()
    src = compressed(t, "lzw.tif", "lzw:2")
    out = t.strip(src)
    info = tiffinfo_ok(out)
    assert "LZW" in info and "horizontal differencing" in info
    judge(t, src, out)


def test_deflate_predictor(t):
    need_tools()
    src = compressed(t, "zip.tif", "zip:2")
    out = t.strip(src)
    info = tiffinfo_ok(out)
    assert "Deflate" in info or "AdobeDeflate" in info
    judge(t, src, out)


def test_jpeg_tables_kept(t):
    need_tools()
    src = compressed(t, "jpeg.tif", "jpeg:90")
    assert "JPEG Tables" in tiffinfo_ok(src)
    out = t.strip(src)
    assert "JPEG Tables" in tiffinfo_ok(out)
    # a lone JPEG strip is a page, not a preview: exiftool must say so
    assert "EXIF:IFD0:PreviewImageStart" not in harness.exif(out)
    judge(t, src, out)


def test_jpeg_strip_with_metadata_refused(t):
    """A JPEG strip is copied as it is, so one that carries a comment or
    an APPn segment would carry it into the output: refused."""
    need_tools()
    harness.need("cjpeg")
    pgm = t.path("g.pgm")
    harness.write(pgm, b"P5 16 16 255\n" + gray(16, 16))

    jpg = t.path("g.jpg")
    harness.run(["cjpeg", "-outfile", jpg, pgm], check=True)

    def jpeg_tiff(name, segment=b""):
        data = harness.read(jpg)
        data = data[:2] + segment + data[2:]  # right after SOI
        tf = Tiff()
        strip = tf.blob(data)
        ents = [e for e in page_entries(strip, 16, 16) if e[0] not in (259, 279)]
        tf.first(tf.ifd(ents + [(259, 3, [7]), (279, 4, [len(data)])]))
        return tf.save(t.path(name + ".tif"))

    clean = jpeg_tiff("plain")
    out = t.strip(clean)
    judge(t, clean, out, canaries=[])
    text = b"CANARY-TIFF-JPEGCOM"
    err = t.refuse(jpeg_tiff("comment", b"\xff\xfe" + struct.pack(">H", len(text) + 2) + text))
    assert "COM" in err, err
    exif = b"Exif\0\0MM\0*\0\0\0\x08\0\0\0\0\0\0"
    err = t.refuse(jpeg_tiff("app1", b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif))
    assert "APP1" in err, err


def icc_profile():
    """A small v2 display profile whose header and 'dmnd' tag name a device."""
    desc = b"desc" + b"\0" * 4 + struct.pack(">I", 20) + b"CANARY-TIFF-ICCMAKE\0" + b"\0" * 79
    tags = [(b"dmnd", desc), (b"desc", b"desc" + b"\0" * 4 + struct.pack(">I", 5) + b"sRGB\0" + b"\0" * 79)]
    table = struct.pack(">I", len(tags))
    body = b""
    off = 128 + 4 + 12 * len(tags)
    for sig, data in tags:
        table += sig + struct.pack(">II", off + len(body), len(data))
        body += data + b"\0" * (-len(data) % 4)
    size = 128 + len(table) + len(body)
    hdr = struct.pack(">I4sI4s4s4s6H4s4sI4s4s8sI12s4s16s28s", size, b"CNRY", 0x02100000, b"mntr", b"RGB ",
                      b"XYZ ", 2020, 1, 2, 3, 4, 5, b"acsp", b"APPL", 0, b"CNRM", b"CNRD", b"\1" * 8, 0,
                      struct.pack(">3i", 63190, 65536, 54061), b"CNRC", b"\7" * 16, b"\0" * 28)
    assert len(hdr) == 128
    return hdr + table + body


def with_icc(t):
    src = image(t, "icc.tif")
    icc = t.path("p.icc")
    harness.write(icc, icc_profile())
    harness.run(["exiftool", "-q", "-overwrite_original", f"-ICC_Profile<={icc}", src], check=True)
    assert harness.exif(src).get("ICC_Profile:ICC-header:DeviceManufacturer") == "CNRM"
    return add_metadata(src)


def test_icc_neutralised(t):
    need_tools()
    src = with_icc(t)
    out = t.strip(src)
    row = harness.exif(out)
    assert "ICC_Profile:ICC-header:ProfileClass" in row, "the profile was lost"
    for tag in ("DeviceManufacturer", "DeviceModel", "ProfileCreator", "ProfileCMMType"):
        assert row.get(f"ICC_Profile:ICC-header:{tag}", "") in ("", 0, "0", "\0\0\0\0"), f"{tag} kept"
    judge(t, src, out, canaries=list(CANARIES.values()) + ["CANARY-TIFF-ICCMAKE", "CNRM", "CNRD"])


def test_icc_strip(t):
    need_tools()
    src = with_icc(t)
    out = t.strip(src, "--icc=strip")
    assert not [k for k in harness.exif(out) if k.startswith("ICC_Profile")], "profile kept"
    judge(t, src, out, "--icc=strip", canaries=list(CANARIES.values()) + ["CANARY-TIFF-ICCMAKE"])


def test_orientation_kept(t):
    need_tools()
    src = add_metadata(image(t, "rot.tif", size="40x24"))
    harness.run(["exiftool", "-q", "-overwrite_original", "-Orientation#=6", src], check=True)
    out = t.strip(src)
    assert harness.exif(out).get("EXIF:IFD0:Orientation") == 6
    judge(t, src, out)


def test_private_tags_and_makernote(t):
    need_tools()
    tf = Tiff()
    mk = b"CANARY-TIFF-MAKERNOTE" + bytes(range(64))
    exif_ifd = tf.ifd([(0x927C, 7, mk), (0x9286, 7, b"ASCII\0\0\0CANARY-TIFF-COMMENT")])
    thumb = tf.blob(b"CANARY-TIFF-THUMBNAIL" + gray(4, 4))
    sub_ifd = tf.ifd(page_entries(thumb + 21, 4, 4, extra=[(254, 4, [1])]))
    strip = tf.blob(gray())
    tf.first(tf.ifd(page_entries(strip, extra=[
        (0x8769, 4, [exif_ifd]),
        (0xC4A5, 7, b"PrintIM\0CANARY-TIFF-PRINTIM"),
        (50000, 2, b"CANARY-TIFF-PRIVATE\0"),
        (330, 4, [sub_ifd]),
    ])))
    src = tf.save(t.path("private.tif"))
    text = harness.unmeta("inspect", src).stdout.decode(errors="replace")
    assert "MakerNote" in text and "SubIFDs" in text and "UserComment" in text, text
    assert_dirty(src)
    out = t.strip(src)
    judge(t, src, out, canaries=["CANARY-TIFF-MAKERNOTE", "CANARY-TIFF-COMMENT", "CANARY-TIFF-PRINTIM",
                                 "CANARY-TIFF-PRIVATE", "CANARY-TIFF-THUMBNAIL"])


def test_geotiff_and_photoshop_removed(t):
    need_tools()
    tf = one_page(extra=[
        (33550, 12, struct.pack("<3d", 1.0, 1.0, 0.0)),
        (33922, 12, struct.pack("<6d", 0, 0, 0, 2.2945, 48.8583, 0)),
        (34735, 3, [1, 1, 0, 1, 1024, 0, 1, 2]),
        (34737, 2, b"CANARY-TIFF-GEO|\0"),
        (34377, 7, b"8BIM\x04\x04\0\0\0\0\0\x14CANARY-TIFF-PSIRB\0\0\0"),
        (269, 2, b"CANARY-TIFF-DOCNAME\0"),
    ])
    src = tf.save(t.path("geo.tif"))
    text = harness.unmeta("inspect", src).stdout.decode(errors="replace")
    assert "location" in text and "GeoTIFF" in text, text
    out = t.strip(src)
    judge(t, src, out, canaries=["CANARY-TIFF-GEO", "CANARY-TIFF-PSIRB", "CANARY-TIFF-DOCNAME"])
    assert not [k for k in harness.exif(out) if "GeoTiff" in k or "Model" in k.split(":")[-1]]


def test_orphaned_metadata_not_copied(t):
    """tiffset writes a new IFD and leaves the old one (and its Artist) behind."""
    need_tools()
    harness.need("tiffset")
    src = image(t, "orphan.tif")
    harness.run(["tiffset", "-s", "315", "CANARY-TIFF-OLDARTIST", src], check=True)
    harness.run(["tiffset", "-s", "315", "CANARY-TIFF-ARTIST", src], check=True)
    assert b"CANARY-TIFF-OLDARTIST" in harness.read(src)
    out = t.strip(src)
    judge(t, src, out, canaries=["CANARY-TIFF-OLDARTIST", "CANARY-TIFF-ARTIST"])


def test_bigtiff(t):
    need_tools()
    harness.need("tiffset")
    for endian in ("lsb", "msb"):
        src = image(t, f"big-{endian}.tif", "-define", f"tiff:endian={endian}", "-define", "tiff:rows-per-strip=8")
        harness.run(["convert", src, "-define", f"tiff:endian={endian}", f"TIFF64:{src}"], check=True)
        harness.run(["tiffset", "-s", "315", "CANARY-TIFF-ARTIST", src], check=True)
        harness.run(["tiffset", "-s", "305", "CANARY-TIFF-SOFTWARE", src], check=True)
        head = harness.read(src)[:4]
        assert head in (b"II+\0", b"MM\0+"), head
        assert_dirty(src)
        out = t.strip(src)
        assert harness.read(out)[:4] == head
        judge(t, src, out, canaries=["CANARY-TIFF-ARTIST", "CANARY-TIFF-SOFTWARE"])


def test_handbuilt_big_endian_bigtiff_multipage(t):
    need_tools()
    tf = Tiff(">", big=True)
    s1 = tf.blob(gray(seed=1))
    p1 = tf.ifd(page_entries(s1, extra=[(305, 2, b"CANARY-TIFF-SOFTWARE\0"), (297, 3, [0, 2])]))
    s2 = tf.blob(gray(seed=2))
    p2 = tf.ifd(page_entries(s2, extra=[(315, 2, b"CANARY-TIFF-ARTIST\0"), (297, 3, [1, 2])]))
    tf.first(p1)
    tf.link(p1, p2)
    src = tf.save(t.path("bigbe.tif"))
    out = t.strip(src)
    judge(t, src, out, canaries=["CANARY-TIFF-SOFTWARE", "CANARY-TIFF-ARTIST"])


def test_dng_goes_to_dng(t):
    # DNGVersion in IFD0 makes a DNG, stripped by the dng module (dng_test.py)
    tf = one_page(extra=[(50706, 1, [1, 4, 0, 0]), (271, 2, b"Canon\0")])
    src = tf.save(t.path("tiny.dng"))
    r = harness.unmeta("inspect", src)
    assert r.returncode == 0 and r.stdout.decode().split(":")[1].split(",")[0].strip() == "dng", r.stdout


def test_refuse_camera_raws(t):
    # Canon CR2: "CR", version 2.0 and a raw IFD offset after the TIFF header
    cr2 = Tiff()
    cr2.buf += b"CR\x02\x00\0\0\0\0"
    strip = cr2.blob(gray())
    cr2.first(cr2.ifd(page_entries(strip, extra=[(271, 2, b"Canon\0")])))
    err = t.refuse(cr2.save(t.path("raw.cr2")))
    assert "CR2" in err, err
    # Nikon NEF: a small preview as IFD0, the sensor data (CFA) in a SubIFD
    nef = Tiff()
    data = nef.blob(gray())
    cfa = [e for e in page_entries(data) if e[0] != 262] + [(262, 3, [32803])]
    raw = nef.ifd(cfa)
    preview = nef.blob(gray(seed=5))
    nef.first(nef.ifd(page_entries(preview, extra=[(271, 2, b"NIKON CORPORATION\0"), (330, 4, [raw])])))
    err = t.refuse(nef.save(t.path("raw.nef")))
    assert "NEF" in err, err
    # Sony ARW as some models write it: the sensor data is IFD0 itself
    arw = Tiff()
    data = arw.blob(gray())
    ents = [e for e in page_entries(data) if e[0] not in (259, 262)]
    arw.first(arw.ifd(ents + [(259, 3, [32767]), (262, 3, [32803]), (271, 2, b"SONY\0")]))
    err = t.refuse(arw.save(t.path("raw.arw")))
    assert "ARW" in err, err
    # Olympus ORF and Panasonic RW2 have their own magic numbers
    for magic, name in ((b"RO", "ORF"), (b"U\0", "RW2")):
        d = bytearray(one_page().buf)
        d[2:4] = magic
        path = t.path("raw." + name.lower())
        harness.write(path, bytes(d))
        err = t.refuse(path)
        assert name in err, err


def test_refuse_ifd_loop(t):
    tf = Tiff()
    s1 = tf.blob(gray())
    p1 = tf.ifd(page_entries(s1))
    s2 = tf.blob(gray(seed=3))
    p2 = tf.ifd(page_entries(s2))
    tf.first(p1)
    tf.link(p1, p2)
    tf.link(p2, p1)
    err = t.refuse(tf.save(t.path("loop.tif")))
    assert "loop" in err, err
    tf.link(p2, p2)  # a page pointing at itself
    t.refuse(tf.save(t.path("self.tif")))


def test_refuse_truncated(t):
    need_tools()
    # IFD before the data: a cut leaves the strip running past the end
    tf = Tiff()
    strip_at = 8 + 2 + 12 * 12 + 4 + 8 + 8  # header, IFD of 12 entries, two rationals
    tf.first(tf.ifd(page_entries(strip_at, 32, 32)))
    assert len(tf.buf) == strip_at, len(tf.buf)
    tf.buf += gray(32, 32)
    whole = tf.save(t.path("whole.tif"))
    assert pages(whole) == 1
    cut = t.path("cut.tif")
    harness.write(cut, harness.read(whole)[:-100])
    err = t.refuse(cut)
    assert "end of the file" in err, err
    # IFD at the end (as ImageMagick writes it): the cut takes the IFD
    data = harness.read(image(t, "im.tif"))
    for keep in (len(data) - 20, 6):
        harness.write(cut, data[:keep])
        t.refuse(cut)


def test_refuse_strip_over_metadata(t):
    """Image data that points at the IFD or a tag's value would copy it."""
    tf = Tiff()
    strip = tf.blob(gray())
    ifd = tf.ifd(page_entries(strip, extra=[(315, 2, b"CANARY-TIFF-ARTIST-LONG-ENOUGH\0")]))
    tf.first(ifd)
    d = tf.buf
    # point the strip at the IFD itself
    (n,) = struct.unpack_from("<H", d, ifd)
    for k in range(n):
        tag, typ, cnt = struct.unpack_from("<HHI", d, ifd + 2 + 12 * k)
        if tag == 273:
            struct.pack_into("<I", d, ifd + 2 + 12 * k + 8, ifd)
    err = t.refuse(tf.save(t.path("overlap.tif")))
    assert "overlap" in err, err


def test_refuse_overlapping_strips(t):
    tf = Tiff()
    data = tf.blob(gray(8, 8))
    ents = [e for e in page_entries(data) if e[0] not in (273, 278, 279)]
    ents += [(273, 4, [data, data + 16]), (278, 3, [4]), (279, 4, [32, 32])]
    tf.first(tf.ifd(ents))
    err = t.refuse(tf.save(t.path("strips.tif")))
    assert "overlap" in err, err


def test_refuse_too_many_pages(t):
    """The page count is bounded (a chain of thousands of tiny IFDs)."""
    tf = Tiff()
    strip = tf.blob(gray())
    prev = None
    for i in range(5000):
        ifd = tf.ifd(page_entries(strip))
        if prev is None:
            tf.first(ifd)
        else:
            tf.link(prev, ifd)
        prev = ifd
    err = t.refuse(tf.save(t.path("pages.tif")))
    assert "pages" in err or "blocks" in err, err


def test_not_tiff_header_refused(t):
    bad = t.path("bad.tif")
    harness.write(bad, b"II+\0\0\xff\0\0" + b"\0" * 64)
    t.refuse(bad)
    harness.write(bad, b"II*\0\0\0\0\0")
    t.refuse(bad)


if __name__ == "__main__":
    harness.main(globals())
