"""The Python binding: every kind of source and destination gives the same
bytes, the output is clean as exiftool judges it, errors map one-to-one to
exception classes, callbacks' exceptions reach the caller, options work,
and calls run in parallel."""
import concurrent.futures
import io
import os
import pathlib
import re
import subprocess
import sys

import pytest

import unmeta
from unmeta import _lib

from conftest import HEADER, exiftool_tags, need, run


class NonSeekable(io.RawIOBase):
    """A pipe-like reader: read() only, no seek, short reads."""

    def __init__(self, data, chunk=777):
        self._data, self._pos, self._chunk = data, 0, chunk

    def readable(self):
        return True

    def readinto(self, b):
        n = min(len(b), self._chunk, len(self._data) - self._pos)
        b[:n] = self._data[self._pos:self._pos + n]
        self._pos += n
        return n


class ShortWriter(io.RawIOBase):
    """A raw writer that takes at most 100 bytes a call, cannot seek."""

    def __init__(self):
        self.data = bytearray()

    def writable(self):
        return True

    def write(self, b):
        n = min(len(b), 100)
        self.data += bytes(b[:n])
        return n


def test_every_source_gives_the_same_bytes(sample, sample_path, tmp_path):
    want = unmeta.strip(sample)
    assert isinstance(want, bytes) and 0 < len(want) < len(sample)
    with open(sample_path, "rb") as f:
        from_file = unmeta.strip(f)
    got = {
        "str path": unmeta.strip(str(sample_path)),
        "pathlib": unmeta.strip(sample_path),
        "bytes path": unmeta.strip(pathlib.Path(os.fsdecode(os.fsencode(sample_path)))),
        "bytearray": unmeta.strip(bytearray(sample)),
        "memoryview": unmeta.strip(memoryview(sample)),
        "BytesIO": unmeta.strip(io.BytesIO(sample)),
        "non-seekable": unmeta.strip(NonSeekable(sample)),
        "open file": from_file,
    }
    for how, out in got.items():
        assert out == want, how


def test_every_destination_gets_the_same_bytes(sample, tmp_path):
    want = unmeta.strip(sample)
    p = tmp_path / "out.jpg"
    assert unmeta.strip(sample, p) is None
    assert p.read_bytes() == want
    p2 = tmp_path / "out2.jpg"
    assert unmeta.strip(sample, str(p2)) is None
    assert p2.read_bytes() == want
    b = io.BytesIO()
    unmeta.strip(sample, b)
    assert b.getvalue() == want
    w = ShortWriter()
    unmeta.strip(sample, w)
    assert bytes(w.data) == want
    p3 = tmp_path / "out3.jpg"
    with open(p3, "wb") as f:
        unmeta.strip(io.BytesIO(sample), f)
    assert p3.read_bytes() == want


def test_in_place(sample, tmp_path):
    p = tmp_path / "photo.jpg"
    p.write_bytes(sample)
    unmeta.strip(p, p)
    assert p.read_bytes() == unmeta.strip(sample)


def test_output_is_clean_for_exiftool_and_idempotent(sample, tmp_path):
    out = unmeta.strip(sample)
    p = tmp_path / "clean.jpg"
    p.write_bytes(out)
    tags = exiftool_tags(p, "-gps:all", "-Make", "-Model", "-SerialNumber", "-Artist", "-Comment",
                         "-ThumbnailImage", "-XMP:all", "-DateTimeOriginal")
    assert tags == {}, tags
    for canary in (b"Ana Example", b"Pixelphone", b"PX7-004211-88", b"holiday at home", b"Paris"):
        assert canary in sample and canary not in out, canary
    assert unmeta.strip(out) == out


def test_check_and_inspect(sample):
    assert unmeta.check(sample) is True
    clean = unmeta.strip(sample)
    assert unmeta.check(clean) is False
    rep = unmeta.inspect(sample)
    assert rep["format"] == "jpeg" and rep["dirty"] is True
    cats = {f["category"] for f in rep["findings"]}
    assert {"location", "device", "time", "people"} <= cats
    names = {f["name"] for f in rep["findings"]}
    assert "GPSPosition" in names
    assert any(b["action"] == "remove" and b["kind"] == "APP1 Exif" for b in rep["blocks"])
    rep2 = unmeta.inspect(io.BytesIO(clean))
    assert rep2["dirty"] is False and rep2["findings"] == []


def test_errors_are_mapped_one_to_one():
    text = HEADER.read_text()
    codes = {m.group(1): int(m.group(2)) for m in re.finditer(r"#define\s+(UNMETA_E_\w+)\s+(-\d+)", text)}
    assert len(codes) >= 12
    classes = {}
    for name, code in codes.items():
        cls = unmeta._BY_CODE.get(code)
        assert cls is not None, "no exception class for %s" % name
        assert issubclass(cls, unmeta.Error) and cls is not unmeta.Error
        assert cls.code == code, name
        classes[cls] = name
    assert len(classes) == len(codes), "two codes share a class"


def test_unsupported_and_truncated(sample):
    with pytest.raises(unmeta.UnsupportedError) as e:
        unmeta.strip(b"this is not a photo at all")
    assert e.value.code == _lib.constant("UNMETA_E_UNSUPPORTED")
    assert "not a format" in e.value.message
    with pytest.raises(unmeta.TruncatedError) as e:
        unmeta.strip(sample[:3000])
    assert "JPEG" in str(e.value)
    with pytest.raises(unmeta.TruncatedError):
        unmeta.check(sample[:3000])
    with pytest.raises(unmeta.UnsupportedError):
        unmeta.inspect(b"")


def test_malformed(sample):
    # The frame header (SOF) of the main image, its length field set to 1:
    # less than the 2 bytes of the length itself.
    sof = [b for b in unmeta.inspect(sample)["blocks"] if b["kind"].startswith("SOF")]
    assert sof, "the sample has no SOF block"
    i = sof[0]["offset"]
    assert sample[i:i + 2] == b"\xff\xc0"
    bad = sample[:i + 2] + b"\x00\x01" + sample[i + 4:]
    with pytest.raises(unmeta.MalformedError) as e:
        unmeta.strip(bad)
    assert e.value.code == _lib.constant("UNMETA_E_MALFORMED")
    assert "length 1" in e.value.message


def test_failure_leaves_no_output_file(sample, tmp_path):
    p = tmp_path / "out.jpg"
    with pytest.raises(unmeta.TruncatedError):
        unmeta.strip(sample[:3000], p)
    assert not p.exists()
    p.write_bytes(b"precious")
    with pytest.raises(unmeta.UnsupportedError):
        unmeta.strip(b"garbage", p)
    assert p.read_bytes() == b"precious"
    assert sorted(os.listdir(tmp_path)) == ["out.jpg"]


def test_missing_file_is_an_io_error(tmp_path):
    with pytest.raises(unmeta.InputOutputError) as e:
        unmeta.strip(tmp_path / "nope.jpg")
    assert isinstance(e.value, OSError) and "nope.jpg" in str(e.value)


def test_callback_exceptions_reach_the_caller(sample):
    class Boom(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, b):
            raise ValueError("boom from read")

    with pytest.raises(ValueError, match="boom from read"):
        unmeta.strip(Boom())

    class BadWriter(io.RawIOBase):
        def writable(self):
            return True

        def write(self, b):
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        unmeta.strip(sample, BadWriter())


def test_bad_arguments(sample):
    with pytest.raises(TypeError):
        unmeta.strip(12345)
    with pytest.raises(TypeError):
        unmeta.strip(sample, 3.5)
    with pytest.raises(unmeta.InvalidArgumentError) as e:
        unmeta.strip(sample, icc="maybe")
    assert isinstance(e.value, ValueError)
    with pytest.raises(TypeError):
        unmeta.strip(sample, None, "strip")  # options are keyword-only


def test_icc_keep_and_strip(tmp_path):
    need("convert")
    icc = pathlib.Path("/usr/share/color/icc/ghostscript/srgb.icc")
    if not icc.is_file():
        pytest.skip("no ICC profile on this machine")
    p = tmp_path / "icc.jpg"
    run("convert", "-size", "32x16", "gradient:red-blue", "-profile", str(icc), str(p))
    src = p.read_bytes()
    assert b"ICC_PROFILE" in src
    kept = unmeta.strip(src)
    dropped = unmeta.strip(src, icc="strip")
    assert b"ICC_PROFILE" in kept
    assert b"ICC_PROFILE" not in dropped
    assert kept != dropped


def test_apply_orientation(tmp_path):
    need("convert")
    need("exiftool")
    p = tmp_path / "rot.jpg"
    run("convert", "-size", "32x16", "gradient:", "-sampling-factor", "1x1", "-quality", "90", str(p))
    run("exiftool", "-q", "-overwrite_original", "-Orientation#=6", "-Make=CANARY-ROT", str(p))
    src = p.read_bytes()
    kept = tmp_path / "kept.jpg"
    rotated = tmp_path / "rotated.jpg"
    unmeta.strip(src, kept)
    unmeta.strip(src, rotated, apply_orientation=True)
    assert exiftool_tags(kept, "-Orientation").get("[IFD0] Orientation") == "6"
    assert exiftool_tags(rotated, "-Orientation").get("[IFD0] Orientation") in (None, "1")
    assert exiftool_tags(rotated, "-ImageWidth")["[File] ImageWidth"] == "16"
    assert b"CANARY-ROT" not in kept.read_bytes() + rotated.read_bytes()


def test_parallel_calls(sample):
    want = unmeta.strip(sample)
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        outs = list(ex.map(lambda i: unmeta.strip(io.BytesIO(sample) if i % 2 else sample), range(64)))
    assert all(o == want for o in outs)


def test_constants_come_from_the_library():
    text = HEADER.read_text()
    for m in re.finditer(r"#define\s+(UNMETA_(?:E|OPT|ICC)_\w+)\s+(-?\d+)", text):
        assert _lib.constant(m.group(1)) == int(m.group(2)), m.group(1)
    with pytest.raises(KeyError):
        _lib.constant("UNMETA_NOT_A_THING")


def test_formats_and_version():
    assert "jpeg" in unmeta.formats()
    assert re.fullmatch(r"\d+\.\d+\.\d+", unmeta.library_version())


def test_library_location_is_honoured(tmp_path):
    env = dict(os.environ, UNMETA_LIBRARY=str(tmp_path / "libnothing.so"))
    pkg = pathlib.Path(unmeta.__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-c", "import unmeta"], env=env, cwd=pkg, capture_output=True, text=True)
    assert r.returncode != 0 and "UNMETA_LIBRARY" in r.stderr


def _google_motion_photo(tmp_path):
    """A small Google-layout motion photo: a JPEG whose XMP Container
    directory names an MP4 (with a location and a title) appended after EOI."""
    need("convert")
    need("ffmpeg")
    still = tmp_path / "still.jpg"
    run("convert", "-size", "32x24", "gradient:", "-quality", "90", str(still))
    video = tmp_path / "clip.mp4"
    run("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=s=64x48:r=10:d=1", "-c:v", "mpeg4",
        "-metadata", "location=+48.8583+002.2945/", "-metadata", "title=CANARY-MOTION",
        "-movflags", "use_metadata_tags", str(video))
    v = video.read_bytes()
    xmp = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           '<rdf:Description rdf:about="" xmlns:GCamera="http://ns.google.com/photos/1.0/camera/" '
           'xmlns:Container="http://ns.google.com/photos/1.0/container/" '
           'xmlns:Item="http://ns.google.com/photos/1.0/container/item/" GCamera:MotionPhoto="1" '
           'GCamera:MotionPhotoVersion="1" GCamera:MotionPhotoPresentationTimestampUs="500000">'
           '<Container:Directory><rdf:Seq><rdf:li rdf:parseType="Resource"><Container:Item '
           'Item:Semantic="Primary" Item:Mime="image/jpeg"/></rdf:li><rdf:li rdf:parseType="Resource">'
           f'<Container:Item Item:Semantic="MotionPhoto" Item:Mime="video/mp4" Item:Length="{len(v)}"/>'
           '</rdf:li></rdf:Seq></Container:Directory></rdf:Description></rdf:RDF></x:xmpmeta>').encode()
    body = b"http://ns.adobe.com/xap/1.0/\0" + xmp
    j = still.read_bytes()
    seg = b"\xff\xe1" + (len(body) + 2).to_bytes(2, "big") + body
    return j[:2] + seg + j[2:] + v, video


def _streamhash(path):
    return run("ffmpeg", "-v", "error", "-i", str(path), "-map", "0", "-c", "copy", "-f", "streamhash", "-")


def test_keep_motion(tmp_path):
    data, video = _google_motion_photo(tmp_path)
    plain = unmeta.strip(data)
    assert b"ftyp" not in plain and b"MotionPhoto" not in plain
    kept = unmeta.strip(data, keep_motion=True)
    assert b"CANARY-MOTION" not in kept and b"+48.8583" not in kept
    at = kept.index(b"ftyp") - 4
    out = tmp_path / "kept.mp4"
    out.write_bytes(kept[at:])
    assert _streamhash(out) == _streamhash(video)
    assert b"MotionPhoto" in kept[:at]
    # check and inspect take the option too: a kept video is still a second
    # recording, so check reports it either way
    assert unmeta.check(kept, keep_motion=True)
    assert unmeta.inspect(data, keep_motion=True)["format"] == "jpeg"


def test_keep_options_known_to_the_library():
    # the names the binding asks for must be ones the library exports
    assert _lib.constant("UNMETA_OPT_KEEP_DEPTH") != _lib.constant("UNMETA_OPT_KEEP_MOTION")
