"""DNG and GoPro GPR: rebuilt like a TIFF, keeping the raw SubIFDs and the
tags a raw converter needs; the maker note (DNGPrivateData), the original
raw file with its name and digest, serial numbers, RawDataUniqueID, Make,
Model, dates, owner fields, XMP, Exif and GPS are removed; preview JPEGs
lose their own EXIF and XMP; lossless JPEG raw data is never altered.

Fixtures are built byte by byte here (tiff_test.Tiff; no tool writes a DNG
to order): little- and big-endian CFA DNGs with the raw data in a SubIFD
and an RGB preview in IFD0, one carrying OriginalRawFileData, a tiled lossy
DNG (compression 34892, JPEG tiles), a preview JPEG holding EXIF GPS and a
serial number (put there by exiftool). Judges: dcraw's raw sensor values
(`dcraw -D -4`) and its full render (`dcraw -w -T`) identical before and
after, exiftool finding none of the removed tags (tag by tag) and every
rendering tag unchanged, the canaries absent from the output bytes,
idempotence and `unmeta check`; the real sample
../shared/corpus/modern/dng strips too.
"""
import hashlib
import os
import struct

import harness
from tiff_test import Tiff

CANARIES = (
    "CANARY-MAKE", "CANARY-MODEL", "CANARY-SOFTWARE", "CANARY-ARTIST", "CANARY-COPYRIGHT",
    "CANARY-SERIAL-50735", "CANARY-LOCALIZED", "CANARY-PRIVATE-MAKERNOTE", "CANARY-PROFILE-NAME",
    "CANARY-PROFILE-COPYRIGHT", "CANARY-XMP", "CANARY-BODY-SERIAL", "CANARY-LENS-SERIAL", "CANARY-OWNER",
    "CANARY-EXIF-MAKERNOTE", "CANARY-GPS-AREA", "CANARY-ORIGINAL-RAW", "CANARY_ORIG.CR2",
    "CANARY-PREVIEW-SERIAL", "CANARY-PREVIEW-XMP", "CANARY-ASSHOT-PROFILE",
)

# Removed: none of these may be found by exiftool in an output (by tag name,
# in any group).
REMOVED = (
    "Make", "Model", "Software", "ModifyDate", "Artist", "Copyright", "ImageNumber",
    "CameraSerialNumber", "LocalizedCameraModel", "DNGPrivateData", "RawDataUniqueID", "ProfileName",
    "ProfileCopyright", "AsShotProfileName", "OriginalRawFileName", "OriginalRawFileData",
    "OriginalRawFileDigest", "DNGLensInfo", "XMPToolkit", "Creator", "ExifVersion", "SerialNumber",
    "LensSerialNumber", "OwnerName", "DateTimeOriginal", "CreateDate", "MakerNote", "MakerNoteUnknownText",
    "GPSLatitude", "GPSLongitude", "GPSAreaInformation", "GPSVersionID", "PreviewDateTime",
    "PreviewApplicationName",
)

# The tags the Adobe DNG specification requires (chapter 4: DNGVersion,
# UniqueCameraModel; for a CFA image CFARepeatPatternDim and CFAPattern;
# ColorMatrix1 for a colour camera) and the other rendering tags these
# fixtures carry: each must be in the output with its value unchanged.
REQUIRED = ("DNGVersion", "UniqueCameraModel", "CFARepeatPatternDim", "CFAPattern2", "ColorMatrix1")
RENDERING = REQUIRED + (
    "DNGBackwardVersion", "CFAPlaneColor", "CFALayout", "LinearizationTable", "BlackLevelRepeatDim",
    "BlackLevel", "WhiteLevel", "DefaultScale", "DefaultCropOrigin", "DefaultCropSize", "ColorMatrix2",
    "CameraCalibration1", "CameraCalibration2", "AnalogBalance", "AsShotNeutral", "BaselineExposure",
    "BaselineNoise", "BaselineSharpness", "BayerGreenSplit", "LinearResponseLimit", "ShadowScale",
    "AntiAliasStrength", "CalibrationIlluminant1", "CalibrationIlluminant2", "BestQualityScale",
    "ActiveArea", "ForwardMatrix1", "ForwardMatrix2", "ProfileEmbedPolicy", "ProfileToneCurve",
    "NoiseProfile", "DefaultUserCrop", "BaselineExposureOffset", "DefaultBlackRender", "PreviewColorSpace",
    "Orientation", "ImageWidth", "ImageHeight", "BitsPerSample", "PhotometricInterpretation",
    "SubfileType", "CameraCalibrationSig", "ProfileCalibrationSig",
)

# What exiftool shows of a clean DNG: rendering tags, the structure of its
# images, and the previews kept on purpose.
ALLOW = RENDERING + (
    "Compression", "StripOffsets", "StripByteCounts", "RowsPerStrip", "SamplesPerPixel",
    "PlanarConfiguration", "TileWidth", "TileLength", "TileOffsets", "TileByteCounts", "XResolution",
    "YResolution", "ResolutionUnit", "YCbCrSubSampling", "YCbCrPositioning", "YCbCrCoefficients",
    "ReferenceBlackWhite", "PreviewImage", "PreviewImageStart", "PreviewImageLength", "ThumbnailTIFF",
    "JpgFromRaw", "JpgFromRawStart", "JpgFromRawLength", "OtherImage", "OtherImageStart",
    "OtherImageLength", "MaskedAreas", "RawImageDigest",
)


def need_tools():
    harness.need("exiftool", "dcraw", "convert", "djpeg")


def cfa(w, h, bo):
    """16-bit CFA samples below WhiteLevel, different everywhere."""
    vals = [(x * 37 + y * 101 + (x * y) % 17 * 11) % 3900 + 70 for y in range(h) for x in range(w)]
    return struct.pack(bo + "%dH" % len(vals), *vals)


def rgb(w, h, seed=3):
    return bytes((x * 13 + y * 29 + c * 71 + seed) & 0xFF for y in range(h) for x in range(w) for c in range(3))


def srat(*vals):
    return [(int(round(v * 10000)) & 0xFFFFFFFF, 10000) for v in vals]


def preview_jpeg(t):
    """A YCbCr 4:2:0 JPEG with EXIF GPS, a serial number and XMP of its own."""
    path = t.path("preview.jpg")
    harness.run(["convert", "-seed", "5", "-size", "32x24", "plasma:", "-sampling-factor", "2x2",
                 "-quality", "90", path], check=True)
    harness.run(["exiftool", "-q", "-overwrite_original", "-GPSLatitude=48.85", "-GPSLatitudeRef=N",
                 "-GPSLongitude=2.29", "-GPSLongitudeRef=E", "-SerialNumber=CANARY-PREVIEW-SERIAL",
                 "-XMP-dc:Creator=CANARY-PREVIEW-XMP", path], check=True)
    return harness.read(path)


def dng(bo="<", w=64, h=48, metadata=True, original=False, jpeg=None, lossy_tiles=None):
    """A DNG: IFD0 an RGB preview, SubIFD0 the raw image (CFA, 16-bit, or
    lossy_tiles: JPEG tiles of 16x16 linear RGB), SubIFD1 the JPEG preview."""
    d = Tiff(bo)
    if lossy_tiles:
        offs = [d.blob(x) for x in lossy_tiles]
        raw = [(254, 4, [0]), (256, 4, [32]), (257, 4, [32]), (258, 3, [8, 8, 8]), (259, 3, [34892]),
               (262, 3, [34892]), (277, 3, [3]), (284, 3, [1]), (322, 3, [16]), (323, 3, [16]),
               (324, 4, offs), (325, 4, [len(x) for x in lossy_tiles]), (50717, 3, [255, 255, 255]),
               (50718, 5, [(1, 1), (1, 1)]), (50719, 4, [0, 0]), (50720, 4, [32, 32])]
    else:
        data = cfa(w, h, bo)
        off = d.blob(data)
        raw = [(254, 4, [0]), (256, 4, [w]), (257, 4, [h]), (258, 3, [16]), (259, 3, [1]), (262, 3, [32803]),
               (273, 4, [off]), (277, 3, [1]), (278, 4, [h]), (279, 4, [len(data)]), (284, 3, [1]),
               (33421, 3, [2, 2]), (33422, 1, [0, 1, 1, 2]), (50710, 1, [0, 1, 2]), (50711, 3, [1]),
               (50712, 3, list(range(0, 4096))), (50713, 3, [1, 1]), (50714, 4, [64]), (50717, 4, [4000]),
               (50718, 5, [(1, 1), (1, 1)]), (50719, 4, [2, 2]), (50720, 4, [w - 4, h - 4]),
               (50733, 4, [0]), (50738, 5, [(1, 1)]), (50780, 5, [(1, 1)]), (50829, 4, [0, 0, h, w]),
               (51041, 12, [0.00002, 0.000001]), (51125, 5, [(0, 1), (0, 1), (1, 1), (1, 1)])]
    subs = [d.ifd(raw)]
    if jpeg:
        jo = d.blob(jpeg)
        subs.append(d.ifd([(254, 4, [1]), (256, 4, [32]), (257, 4, [24]), (258, 3, [8, 8, 8]), (259, 3, [7]),
                           (262, 3, [6]), (273, 4, [jo]), (277, 3, [3]), (278, 4, [24]), (279, 4, [len(jpeg)]),
                           (284, 3, [1]), (530, 3, [2, 2]), (50970, 4, [2])]))
    pw, ph = 16, 12
    pv = d.blob(rgb(pw, ph))
    ifd0 = [(254, 4, [1]), (256, 4, [pw]), (257, 4, [ph]), (258, 3, [8, 8, 8]), (259, 3, [1]), (262, 3, [2]),
            (273, 4, [pv]), (274, 3, [1]), (277, 3, [3]), (278, 4, [ph]), (279, 4, [pw * ph * 3]),
            (284, 3, [1]), (330, 4, subs),
            (50706, 1, [1, 4, 0, 0]), (50707, 1, [1, 1, 0, 0]), (50708, 2, b"Example Cam X1\0"),
            (50721, 10, srat(0.6722, -0.0635, -0.0963, -0.4287, 1.2460, 0.2028, -0.0908, 0.2162, 0.5668)),
            (50722, 10, srat(0.6461, -0.0907, -0.0882, -0.4300, 1.2184, 0.2378, -0.0819, 0.1944, 0.5931)),
            (50723, 10, srat(1.01, 0, 0, 0, 1, 0, 0, 0, 0.99)), (50724, 10, srat(1.01, 0, 0, 0, 1, 0, 0, 0, 0.99)),
            (50727, 5, [(1, 1)] * 3), (50728, 5, [(4766, 10000), (1, 1), (6300, 10000)]),
            (50730, 10, srat(0.35)), (50731, 5, [(133, 100)]), (50732, 5, [(15, 10)]), (50734, 5, [(1, 1)]),
            (50739, 5, [(1, 1)]), (50778, 3, [17]), (50779, 3, [21]),
            (50931, 2, b"com.example.cal\0"), (50932, 2, b"com.example.cal\0"),
            (50940, 11, [0.0, 0.0, 0.5, 0.6, 1.0, 1.0]), (50941, 4, [0]),
            (50964, 10, srat(0.7, 0.2, 0.05, 0.3, 0.8, -0.1, 0.02, -0.1, 0.9)),
            (50965, 10, srat(0.7, 0.2, 0.05, 0.3, 0.8, -0.1, 0.02, -0.1, 0.9)),
            (51109, 10, srat(-0.5)), (51110, 4, [0])]
    if metadata:
        exif = d.ifd([(33434, 5, [(1, 60)]), (36867, 2, b"2021:06:01 12:00:00\0"),
                      (37500, 7, b"CANARY-EXIF-MAKERNOTE\0\0\0"), (42032, 2, b"CANARY-OWNER\0"),
                      (42033, 2, b"CANARY-BODY-SERIAL\0"), (42037, 2, b"CANARY-LENS-SERIAL\0")])
        gps = d.ifd([(0, 1, [2, 3, 0, 0]), (1, 2, b"N\0"), (2, 5, [(48, 1), (51, 1), (0, 1)]), (3, 2, b"E\0"),
                     (4, 5, [(2, 1), (17, 1), (24, 1)]), (28, 7, b"ASCII\0\0\0CANARY-GPS-AREA")])
        xmp = (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
               b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
               b'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator><rdf:Seq><rdf:li>CANARY-XMP</rdf:li>'
               b'</rdf:Seq></dc:creator></rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>')
        ifd0 += [(271, 2, b"CANARY-MAKE\0"), (272, 2, b"CANARY-MODEL\0"), (305, 2, b"CANARY-SOFTWARE\0"),
                 (306, 2, b"2021:06:01 12:00:00\0"), (315, 2, b"CANARY-ARTIST\0"), (700, 1, xmp),
                 (33432, 2, b"CANARY-COPYRIGHT\0"), (34665, 4, [exif]), (34853, 4, [gps]), (37393, 4, [4242]),
                 (50709, 2, b"CANARY-LOCALIZED\0"), (50735, 2, b"CANARY-SERIAL-50735\0"),
                 (50736, 5, [(18, 1), (55, 1), (35, 10), (56, 10)]),
                 (50740, 1, b"Adobe\0MakN\0\0\0\x20MM\0\0\0\0CANARY-PRIVATE-MAKERNOTE\0\0\0"),
                 (50781, 1, bytes(range(0xA0, 0xB0))), (50934, 2, b"CANARY-ASSHOT-PROFILE\0"),
                 (50936, 2, b"CANARY-PROFILE-NAME\0"), (50942, 2, b"CANARY-PROFILE-COPYRIGHT\0"),
                 (50966, 2, b"Example Converter\0"), (50971, 2, b"2021-06-01T12:00:00\0")]
    if original:
        blob = (b"II*\0CANARY-ORIGINAL-RAW" + bytes(range(256)) * 16)
        ifd0 += [(50827, 2, b"CANARY_ORIG.CR2\0"), (50828, 7, blob), (50973, 1, bytes(range(16)))]
    d.first(d.ifd(ifd0))
    return d


def tags(path):
    """exiftool's view of the TIFF structure: {(group1, tag): value},
    numbers as numbers."""
    out = {}
    for key, value in harness.exif(path).items():
        parts = key.split(":")
        if len(parts) == 3 and parts[0] == "EXIF":
            out[(parts[1], parts[2])] = value
    return out


def dcraw(path, *opts):
    r = harness.run(["dcraw", *opts, "-c", path])
    assert r.returncode == 0 and r.stdout, f"dcraw {opts} {path}: {r.stderr.decode(errors='replace')}"
    return hashlib.md5(r.stdout).hexdigest()


def preview_pixels(path):
    """djpeg's decode of the JPEG preview exiftool extracts."""
    r = harness.run(["exiftool", "-b", "-PreviewImage", path], check=True)
    assert r.stdout[:2] == b"\xff\xd8", f"{path}: no JPEG preview"
    d = harness.run(["djpeg", "-pnm"], stdin=r.stdout, check=True)
    return hashlib.md5(d.stdout).hexdigest(), r.stdout


def judge(t, src, out, render=True):
    """Everything a stripped DNG must be."""
    assert dcraw(out, "-D", "-4") == dcraw(src, "-D", "-4"), f"{out}: raw sensor values changed"
    if render:
        # a PPM: dcraw's TIFF output would carry the input's Make and dates
        assert dcraw(out, "-w") == dcraw(src, "-w"), f"{out}: the rendered image changed"
    before, after = tags(src), tags(out)
    gone = [k for k in after if k[1] in REMOVED]
    assert not gone, f"{out}: exiftool still finds {gone}"
    for key, value in before.items():
        if key[1] in RENDERING:
            assert after.get(key) == value, f"{out}: {key} was {value!r}, is {after.get(key)!r}"
    for tag in REQUIRED:
        if any(k[1] == tag for k in before):
            assert any(k[1] == tag for k in after), f"{out}: required DNG tag {tag} is missing"
    bad = harness.leaks(out, allow=ALLOW)
    assert not bad, f"{out}: exiftool still finds {bad}"
    t.assert_absent(out, *CANARIES)
    r = harness.unmeta("check", "-q", out)
    assert r.returncode == 0, f"{out}: unmeta check says it is not clean"
    t.assert_idempotent(out)


def inspect(path):
    r = harness.unmeta("inspect", path)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode(errors="replace")


# ---- tests ------------------------------------------------------------------

def test_little_endian_cfa(t):
    need_tools()
    src = dng("<").save(t.path("le.dng"))
    report = inspect(src)
    assert report.split(":")[1].split(",")[0].strip() == "dng", report
    for name in ("CameraSerialNumber", "DNGPrivateData", "RawDataUniqueID", "ProfileName", "ProfileCopyright",
                 "LocalizedCameraModel", "BodySerialNumber", "MakerNote", "CameraOwnerName", "GPS"):
        assert name in report, f"{name} not reported:\n{report}"
    out = t.strip(src)
    judge(t, src, out)
    # Make and Model are gone; UniqueCameraModel (a camera model) stays
    after = tags(out)
    assert after.get(("IFD0", "UniqueCameraModel")) == "Example Cam X1", after


def test_big_endian_cfa(t):
    need_tools()
    src = dng(">").save(t.path("be.dng"))
    out = t.strip(src)
    assert harness.read(out)[:4] == b"MM\0*", "the byte order changed"
    judge(t, src, out)


def test_required_tags_of_a_bare_dng(t):
    # Without any metadata, the output holds the same tags, in a new layout
    need_tools()
    src = dng("<", metadata=False).save(t.path("bare.dng"))
    out = t.strip(src)
    judge(t, src, out)
    before, after = tags(src), tags(out)
    moved = ("StripOffsets", "PreviewImageStart", "SubIFD")  # offsets: a new layout
    assert sorted(before) == sorted(after), f"tags changed: {set(before) ^ set(after)}"
    changed = [k for k in before if before[k] != after[k] and k[1] not in moved]
    assert not changed, f"values changed: {changed}"


def test_original_raw_file_data(t):
    need_tools()
    src = dng("<", original=True).save(t.path("orig.dng"))
    report = inspect(src)
    assert "OriginalRawFileData" in report and "4119 bytes" in report, report
    assert "CANARY_ORIG.CR2" in report, report
    out = t.strip(src)
    judge(t, src, out)
    assert os.path.getsize(out) < os.path.getsize(src) - 4096, "the original raw file is still there"


def test_preview_jpeg_cleaned(t):
    need_tools()
    jpeg = preview_jpeg(t)
    src = dng("<", jpeg=jpeg).save(t.path("preview.dng"))
    report = inspect(src)
    assert "JPEG APP1" in report and "CANARY-PREVIEW-SERIAL" in report, report
    out = t.strip(src)
    judge(t, src, out)
    px_in, _ = preview_pixels(src)
    px_out, stream = preview_pixels(out)
    assert px_in == px_out, "the preview's pixels changed"
    p = t.path("extracted.jpg")
    harness.write(p, stream)
    found = [k for k in harness.exif(p) if any(x in k for x in ("GPS", "Serial", "XMP", "Creator"))]
    assert not found, f"the preview JPEG still holds {found}"


def test_preview_segment_shared_with_other_strip_refused(t):
    # IFD0's strip is the preview JPEG's own bytes: cutting the EXIF out of
    # the preview would still copy it through IFD0, so the file is refused
    harness.need("convert", "exiftool")
    jpeg = preview_jpeg(t)
    d = dng("<", jpeg=jpeg)
    jo = bytes(d.buf).index(jpeg)
    (first,) = struct.unpack_from("<I", d.buf, 4)
    (n,) = struct.unpack_from("<H", d.buf, first)
    for i in range(n):
        tag, typ, count = struct.unpack_from("<HHI", d.buf, first + 2 + 12 * i)
        if tag in (273, 279):
            struct.pack_into("<I", d.buf, first + 2 + 12 * i + 8, jo if tag == 273 else len(jpeg))
    err = t.refuse(d.save(t.path("shared.dng")))
    assert "shared with other image data" in err, err


def test_lossy_tiles(t):
    # Lossy DNG (compression 34892): every tile a baseline JPEG, copied byte for byte
    need_tools()
    tiles = []
    for i in range(4):
        p = t.path(f"tile{i}.jpg")
        harness.run(["convert", "-seed", str(i + 1), "-size", "16x16", "plasma:", "-strip", p], check=True)
        tiles.append(harness.read(p))
    src = dng("<", lossy_tiles=tiles).save(t.path("lossy.dng"))
    out = t.strip(src)
    data = harness.read(out)
    for tile in tiles:
        assert tile in data, "a lossy tile changed"
    judge(t, src, out, render=False)


def raw_with(compression, data, photometric=32803):
    """A DNG whose raw SubIFD is one strip of `data` in `compression`,
    with the metadata of dng()."""
    d = dng("<")
    off = d.blob(data)
    sub = d.ifd([(254, 4, [0]), (256, 4, [16]), (257, 4, [8]), (258, 3, [16]), (259, 3, [compression]),
                 (262, 3, [photometric]), (273, 4, [off]), (277, 3, [1]), (278, 4, [8]), (279, 4, [len(data)]),
                 (33421, 3, [2, 2]), (33422, 1, [0, 1, 1, 2])])
    # point IFD0's SubIFDs at the new raw IFD (330 has one LONG, inline)
    (first,) = struct.unpack_from("<I", d.buf, 4)
    (n,) = struct.unpack_from("<H", d.buf, first)
    for i in range(n):
        tag, typ, count = struct.unpack_from("<HHI", d.buf, first + 2 + 12 * i)
        if tag == 330:
            struct.pack_into("<I", d.buf, first + 2 + 12 * i + 8, sub)
    return d


def test_gpr_vc5_strips_copied(t):
    # GoPro GPR: VC-5 (compression 9) raw data, which dcraw cannot decode:
    # its bytes are copied untouched and the metadata goes
    harness.need("exiftool")
    vc5 = bytes.fromhex("ff00000000000c") + bytes((i * 7) & 0xFF for i in range(300)) + b"CANARY?not-a-tag"
    src = raw_with(9, vc5).save(t.path("gopro.gpr"))
    out = t.strip(src)
    assert vc5 in harness.read(out), "the VC-5 strip changed"
    gone = [k for k in tags(out) if k[1] in REMOVED]
    assert not gone, f"exiftool still finds {gone}"
    t.assert_absent(out, *CANARIES)
    after = tags(out)
    assert after.get(("SubIFD", "Compression")) == 9, after
    t.assert_idempotent(out)


def test_jpeg_xl_tiles(t):
    # DNG 1.7 JPEG XL (52546): a bare codestream is pixels only and is
    # copied; the container (ISO BMFF, which may hold Exif boxes) is refused
    bare = b"\xff\x0a" + bytes(range(64))
    out = t.strip(raw_with(52546, bare, photometric=34892).save(t.path("jxl.dng")))
    assert bare in harness.read(out)
    boxed = b"\0\0\0\x0cJXL \r\n\x87\n" + bytes(64)
    err = t.refuse(raw_with(52546, boxed, photometric=34892).save(t.path("jxlbox.dng")))
    assert "codestream" in err, err


def test_lossless_jpeg_with_metadata_refused(t):
    # Lossless JPEG (SOF3) is sensor data: never rewritten, so a segment
    # of metadata inside it refuses the file
    raw = (b"\xff\xd8\xff\xe1\x00\x10Exif\0\0CANARY!!" + b"\xff\xc3\x00\x0b\x10\x00\x08\x00\x10\x01\x01\x11\x00"
           + b"\xff\xda\x00\x08\x01\x01\x00\x01\x00\x00" + bytes(32) + b"\xff\xd9")
    d = Tiff("<")
    off = d.blob(raw)
    sub = d.ifd([(254, 4, [0]), (256, 4, [16]), (257, 4, [8]), (258, 3, [16]), (259, 3, [7]), (262, 3, [32803]),
                 (273, 4, [off]), (277, 3, [1]), (278, 4, [8]), (279, 4, [len(raw)]), (33421, 3, [2, 2]),
                 (33422, 1, [0, 1, 1, 2])])
    pv = d.blob(rgb(4, 4))
    d.first(d.ifd([(254, 4, [1]), (256, 4, [4]), (257, 4, [4]), (258, 3, [8, 8, 8]), (262, 3, [2]),
                   (273, 4, [pv]), (277, 3, [3]), (279, 4, [48]), (330, 4, [sub]), (50706, 1, [1, 4, 0, 0]),
                   (50708, 2, b"Example\0")]))
    err = t.refuse(d.save(t.path("ljpeg.dng")))
    assert "lossless" in err and "APP1" in err, err


def test_unknown_compression_refused(t):
    d = dng("<", metadata=False)
    buf = bytes(d.buf)
    # the raw SubIFD's Compression (259, SHORT, 1) becomes 34713 (Nikon NEF)
    needle = struct.pack("<HHIHH", 259, 3, 1, 1, 0)
    i = buf.index(needle)
    buf = buf[:i] + struct.pack("<HHIHH", 259, 3, 1, 34713, 0) + buf[i + len(needle):]
    src = t.path("odd.dng")
    harness.write(src, buf)
    err = t.refuse(src)
    assert "34713" in err, err


def test_proprietary_raws_refused_by_name(t):
    raf = t.path("x.raf")
    harness.write(raf, b"FUJIFILMCCD-RAW 0201FF383501" + bytes(200))
    assert "RAF" in t.refuse(raf)
    cr3 = t.path("x.cr3")
    harness.write(cr3, struct.pack(">I4s4sI4s4s", 24, b"ftyp", b"crx ", 1, b"crx ", b"isom")
                  + struct.pack(">I4s", 16, b"moov") + bytes(8))
    assert "CR3" in t.refuse(cr3)


def test_real_sample(t):
    # exiftool's Canon 350D DNG: big-endian, raw data cut to 1 tile of 140
    # (a note says so), the previews dummies. It strips, and dcraw reads
    # the same raw values (the one tile, the rest left empty) before and after.
    harness.need("exiftool", "dcraw")
    src = os.path.join(harness.shared_dir("corpus", "modern", "dng"), "exiftool__exiftool__DNG.dng")
    report = inspect(src)
    assert "incomplete image was copied" in report, report
    out = t.strip(src, out=t.path("sample.dng"))
    assert dcraw(out, "-D", "-4") == dcraw(src, "-D", "-4"), "raw sensor values changed"
    before, after = tags(src), tags(out)
    gone = [k for k in after if k[1] in REMOVED]
    assert not gone, f"exiftool still finds {gone}"
    for key, value in before.items():
        if key[1] in RENDERING:
            assert after.get(key) == value, f"{key} was {value!r}, is {after.get(key)!r}"
    for needle in ("012345678", "Canon350D.CR2", "Canon EOS 350D DIGITAL", "2005:08:03"):
        assert needle.encode() not in harness.read(out), needle
    t.assert_idempotent(out)


if __name__ == "__main__":
    harness.main(globals())
