"""Matroska/WebM, AVI and audio files, remuxed through libavformat: tags,
chapters, attachments, cover art and data streams go; every packet stays.
Fixtures are made here with ffmpeg; judged by exiftool, a raw search for
canary strings and ffmpeg's per-stream packet hashes."""
import hashlib
import json

import harness
from harness import need, run, unmeta

CANARY = "CANARYMEDIA"


def streamhash(path):
    r = run(["ffmpeg", "-v", "error", "-i", path, "-map", "0:V?", "-map", "0:a?", "-map", "0:s?",
             "-c", "copy", "-f", "streamhash", "-hash", "md5", "-"], check=True)
    return r.stdout


def probe(path):
    r = run(["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format",
             "-show_chapters", path], check=True)
    return json.loads(r.stdout)


def ff(t, name, *args):
    out = t.path(name)
    run(["ffmpeg", "-v", "error", "-y", *args, out], check=True)
    return out


def judge(t, src, out, allow=()):
    assert streamhash(src) == streamhash(out), f"{out}: packets changed"
    harness.write(t.path("x"), b"")
    t.assert_absent(out, CANARY)
    # Versioned encoder strings may sit inside packets (an MJPEG frame's COM
    # segment): those stay, as every packet byte does; none may be added.
    data, orig = harness.read(out), harness.read(src)
    for s in (b"Lavf5", b"Lavc5"):
        assert data.count(s) <= orig.count(s), f"{s!r} was written"
    info = probe(out)
    assert not info["format"].get("tags") or set(info["format"]["tags"]) <= {"encoder"}, info["format"].get("tags")
    assert not info.get("chapters"), "chapters survived"
    for s in info["streams"]:
        assert s["codec_type"] in ("video", "audio", "subtitle"), f"stream kept: {s['codec_type']}"
        assert not (s.get("disposition", {}).get("attached_pic")), "cover art survived"
        extra = set(s.get("tags", {})) - {"language", "DURATION", "ENCODER", "encoder", "vendor_id", "handler_name"}
        assert not extra, f"stream tags survived: {extra}"
    r = unmeta("check", "-q", out)
    assert r.returncode == 0, f"{out}: check says dirty"
    r = unmeta("check", "-q", src)
    assert r.returncode == 1, f"{src}: check says clean"
    t.assert_idempotent(out)


def gps_jpeg(t):
    jpg = t.path("cover.jpg")
    run(["convert", "-size", "64x48", "gradient:red-blue", jpg], check=True)
    run(["exiftool", "-q", "-overwrite_original", "-GPSLatitude=48.85", "-GPSLatitudeRef=N",
         "-GPSLongitude=2.29", "-GPSLongitudeRef=E", f"-Artist={CANARY}-ARTIST", jpg], check=True)
    return jpg


def test_mkv_tags_chapters_attachment(t):
    need("ffmpeg", "ffprobe", "exiftool", "convert")
    jpg = gps_jpeg(t)
    meta = t.path("chapters.txt")
    harness.write(meta, f";FFMETADATA1\ntitle={CANARY}-TITLE\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=500\n"
                        f"title={CANARY}-CHAPTER\n".encode())
    # AAC, not Opus: libavformat 5.1 moves the other streams' timestamps by
    # Opus's codec delay on every Matroska remux (docs/formats.md).
    src = ff(t, "in.mkv", "-f", "lavfi", "-i", "testsrc=d=1:s=64x48", "-f", "lavfi", "-i", "sine=d=1",
             "-i", meta, "-map_metadata", "2", "-map_chapters", "2", "-map", "0", "-map", "1",
             "-c:v", "libx264", "-c:a", "aac",
             "-metadata", f"artist={CANARY}-ARTIST", "-metadata", "creation_time=2024-05-01T10:00:00Z",
             "-metadata", "location=+48.8583+002.2945/",
             "-metadata:s:v", f"title={CANARY}-VTITLE", "-metadata:s:a", "language=fre",
             "-attach", jpg, "-metadata:s:t", "mimetype=image/jpeg")
    r = unmeta("inspect", src)
    text = r.stdout.decode()
    assert ("attachment GPSPosition" in text or "cover art GPSPosition" in text) and "48.85" in text, text
    assert "ChapterTitle" in text and "creation_time" in text, text
    out = t.strip(src)
    judge(t, src, out)
    assert not harness.leaks(out), harness.leaks(out)


def test_webm_tags(t):
    need("ffmpeg")
    src = ff(t, "in.webm", "-f", "lavfi", "-i", "testsrc=d=1:s=64x48", "-c:v", "libvpx-vp9", "-b:v", "100k",
             "-metadata", f"title={CANARY}", "-metadata", f"comment={CANARY}-C")
    out = t.strip(src)
    judge(t, src, out)
    assert b"webm" in harness.read(out)[:64], "not written back as WebM"


def test_avi_info(t):
    need("ffmpeg")
    src = ff(t, "in.avi", "-f", "lavfi", "-i", "testsrc=d=1:s=64x48", "-c:v", "mjpeg",
             "-metadata", f"title={CANARY}", "-metadata", f"artist={CANARY}-A", "-metadata", "date=2024")
    out = t.strip(src)
    judge(t, src, out)
    assert b"INFO" not in harness.read(out), "RIFF INFO survived"


def test_mp3_id3_cover(t):
    need("ffmpeg", "convert", "exiftool")
    jpg = gps_jpeg(t)
    src = ff(t, "in.mp3", "-f", "lavfi", "-i", "sine=d=1", "-i", jpg, "-map", "0", "-map", "1",
             "-c:a", "libmp3lame", "-c:v", "copy", "-disposition:v", "attached_pic",
             "-metadata", f"title={CANARY}", "-metadata", f"artist={CANARY}-A", "-id3v2_version", "3",
             "-write_id3v1", "1")
    text = unmeta("inspect", src).stdout.decode()
    assert "CoverArt" in text and "cover art GPSPosition" in text, text
    out = t.strip(src)
    judge(t, src, out)
    data = harness.read(out)
    assert not data.startswith(b"ID3") and b"TAG" != data[-128:-125], "ID3 tags survived"


def test_flac_comments_picture(t):
    need("ffmpeg", "convert", "exiftool")
    jpg = gps_jpeg(t)
    src = ff(t, "in.flac", "-f", "lavfi", "-i", "sine=d=1", "-i", jpg, "-map", "0", "-map", "1",
             "-c:a", "flac", "-c:v", "copy", "-disposition:v", "attached_pic",
             "-metadata", f"title={CANARY}", "-metadata", f"comment={CANARY}-C")
    out = t.strip(src)
    judge(t, src, out)
    bad = [k for k in harness.leaks(out, allow=("Vendor",))]
    assert not bad, bad


def test_opus_tags(t):
    need("ffmpeg")
    src = ff(t, "in.opus", "-f", "lavfi", "-i", "sine=d=1", "-c:a", "libopus",
             "-metadata", f"title={CANARY}", "-metadata", f"artist={CANARY}-A")
    out = t.strip(src)
    judge(t, src, out)


def test_wav_list_info(t):
    need("ffmpeg")
    src = ff(t, "in.wav", "-f", "lavfi", "-i", "sine=d=1", "-metadata", f"title={CANARY}",
             "-metadata", f"artist={CANARY}-A")
    out = t.strip(src)
    judge(t, src, out)
    assert b"LIST" not in harness.read(out), "LIST/INFO survived"


def test_mkv_opus_packets_kept(t):
    """Video with Opus in Matroska: every packet identical after one pass
    (timestamps may move by the codec delay on later passes, see above)."""
    need("ffmpeg")
    src = ff(t, "in.mkv", "-f", "lavfi", "-i", "testsrc=d=1:s=64x48", "-f", "lavfi", "-i", "sine=d=1",
             "-c:v", "libx264", "-c:a", "libopus", "-metadata", f"title={CANARY}")
    out = t.strip(src)
    assert streamhash(src) == streamhash(out)
    t.assert_absent(out, CANARY)


def test_memory_and_pipe_io(t):
    """Through standard input and output (spooled input, non-seekable output)."""
    need("ffmpeg")
    src = ff(t, "in.mkv", "-f", "lavfi", "-i", "testsrc=d=1:s=64x48", "-c:v", "libx264",
             "-metadata", f"title={CANARY}")
    r = run(["sh", "-c", f"cat {src} | {harness.UNMETA} strip - | cat > {t.path('out.mkv')}"])
    assert r.returncode == 0, r.stderr
    out = t.path("out.mkv")
    assert streamhash(src) == streamhash(out)
    t.assert_absent(out, CANARY)
    assert b"\x22\xb5\x9c" not in harness.read(out)[:4096], "a track language survived"


def test_broken_refused(t):
    need("ffmpeg")
    src = ff(t, "in.mkv", "-f", "lavfi", "-i", "testsrc=d=1:s=64x48", "-c:v", "libx264")
    data = harness.read(src)
    harness.write(t.path("trunc.mkv"), data[:40])
    t.refuse(t.path("trunc.mkv"))
    harness.write(t.path("ebml.mkv"), b"\x1a\x45\xdf\xa3" + b"\xff" * 60)
    t.refuse(t.path("ebml.mkv"))


if __name__ == "__main__":
    harness.main(globals())
