"""MP4 / MOV / 3GP: fixtures made with ffmpeg and exiftool, judged by
exiftool (no Keys/ItemList/UserData/XMP groups, zero dates), ffmpeg packet
checksums (streamhash), ffprobe stream lists, canary strings and idempotence."""
import json
import os
import struct

import harness
from harness import read, write

CANARY = "CANARY-MP4"


def ffmpeg(*args):
    harness.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def make_video(t, name, *extra, sub=False, chapters=False, codec="libx264", size="64x48"):
    """A one-second clip (video + audio), with extra ffmpeg options."""
    harness.need("ffmpeg")
    out = t.path(name)
    args = ["-f", "lavfi", "-i", f"testsrc=size={size}:rate=10:duration=1",
            "-f", "lavfi", "-i", "sine=duration=1"]
    maps = ["-map", "0", "-map", "1"]
    n = 2
    if sub:
        srt = t.path("s.srt")
        write(srt, b"1\n00:00:00,000 --> 00:00:00,900\nhello subtitle\n")
        args += ["-i", srt]
        maps += ["-map", str(n)]
        n += 1
    if chapters:
        ch = t.path("ch.txt")
        write(ch, f";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=500\ntitle={CANARY}-CHAPTER\n".encode())
        args += ["-i", ch]
        maps += ["-map_chapters", str(n)]
    ffmpeg(*args, *maps, "-c:v", codec, "-c:a", "aac", *(["-c:s", "mov_text"] if sub else []), *extra, out)
    return out


def streamhash(path, spec="v"):
    r = harness.run(["ffmpeg", "-v", "error", "-i", path, "-map", f"0:{spec}?", "-map", "0:a?", "-c", "copy",
                     "-f", "streamhash", "-hash", "md5", "-"], check=True)
    return r.stdout


def streams(path):
    r = harness.run(["ffprobe", "-v", "error", "-show_entries",
                     "stream=index,codec_type,codec_name,duration,nb_frames:stream_disposition", "-of", "json",
                     path], check=True)
    return json.loads(r.stdout)["streams"]


def exif_groups(path):
    return {k.split(":")[1] for k in harness.exif(path) if k.count(":") >= 2}


def judge(t, src, out, needles=(CANARY,), spec="v"):
    """What every stripped video must satisfy."""
    # Zeroed header dates stay as fields ("0000:00:00 00:00:00"); judged below.
    zero = [k for k, v in harness.exif(out).items() if str(v).startswith("0000:00:00")]
    t.assert_clean(out, allow=zero)
    t.assert_absent(out, *needles)
    t.assert_idempotent(out)
    assert streamhash(src, spec) == streamhash(out, spec), "A/V packets changed"
    groups = exif_groups(out)
    for g in ("Keys", "ItemList", "UserData", "XMP-dc", "XMP-x"):
        assert g not in groups, f"{out}: exiftool still finds the {g} group"
    for k, v in harness.exif(out).items():
        if k.endswith("Date") and "QuickTime" in k:
            assert str(v).startswith("0000:00:00"), f"{k} = {v}"


def test_mov_metadata_keys_location(t):
    src = make_video(t, "a.mov", "-metadata", "location=+48.8583+002.2945+035.000/",
                     "-metadata", f"make={CANARY}-MAKE", "-metadata", f"model={CANARY}-MODEL",
                     "-metadata", f"title={CANARY}-TITLE", "-metadata", "creation_time=2021-05-06T07:08:09Z",
                     "-metadata:s:v", f"handler_name={CANARY}-HANDLER", "-movflags", "use_metadata_tags")
    report = harness.unmeta("inspect", src).stdout.decode()
    assert "48.858300, 2.294500 (altitude 35.0 m)" in report, report
    assert "2021-05-06 07:08:09" in report and f"{CANARY}-HANDLER" in report, report
    out = t.strip(src)
    judge(t, src, out)
    assert streams(src) == streams(out)


def test_mp4_faststart_exiftool_tags(t):
    harness.need("exiftool")
    src = make_video(t, "b.mp4", "-metadata", f"title={CANARY}-TITLE", "-movflags", "+faststart")
    r = harness.run(["exiftool", "-q", "-overwrite_original", f"-XMP-dc:Title={CANARY}-XMP",
                     f"-Keys:Model={CANARY}-KEYS", "-Keys:GPSCoordinates=48.8583, 2.2945",
                     f"-ItemList:Artist={CANARY}-ILST", f"-UserData:Make={CANARY}-UDTA", src], check=True)
    assert r.returncode == 0
    before = exif_groups(src)
    assert {"Keys", "ItemList", "UserData"} <= before, before
    assert read(src)[:64].find(b"moov") > 0, "fixture is not moov-first"
    out = t.strip(src)
    judge(t, src, out)


def test_moov_after_mdat(t):
    src = make_video(t, "c.mp4", "-metadata", f"title={CANARY}", "-metadata", "creation_time=2020-01-01T00:00:00Z")
    d = read(src)
    assert d.find(b"mdat") < d.find(b"moov"), "fixture is not mdat-first"
    out = t.strip(src)
    judge(t, src, out)


def test_fragmented(t):
    src = make_video(t, "frag.mp4", "-metadata", f"title={CANARY}", "-movflags", "frag_keyframe+empty_moov",
                     "-g", "3")
    d = read(src)
    i = d.find(b"tfhd")
    # ffmpeg writes absolute base offsets (tfhd flag 1): the moov shrinks,
    # so they must move with the fragments.
    assert i > 0 and d[i + 7] & 1, "fixture has no absolute tfhd base offset"
    out = t.strip(src)
    assert len(read(out)) < len(d)
    judge(t, src, out)


def test_3gp(t):
    src = make_video(t, "d.3gp", "-metadata", f"title={CANARY}", "-metadata", f"author={CANARY}-AUTH",
                     codec="h263", size="176x144")
    out = t.strip(src)
    judge(t, src, out)


def test_chapters_removed_subtitles_kept(t):
    src = make_video(t, "e.mp4", "-metadata", f"title={CANARY}", sub=True, chapters=True)
    assert f"{CANARY}-CHAPTER".encode() in read(src)
    out = t.strip(src)
    judge(t, src, out)
    kinds = [s["codec_type"] for s in streams(out)]
    assert kinds.count("subtitle") == 1, kinds
    assert harness.run(["ffprobe", "-v", "error", "-show_chapters", "-of", "json", out],
                       check=True).stdout.count(b"start_time") == 0
    # The subtitle samples themselves are content and stay.
    assert b"hello subtitle" in read(out)


def test_cover_art_removed(t):
    harness.need("exiftool")
    base = make_video(t, "f0.mp4", "-metadata", f"title={CANARY}")
    cover = t.path("cover.jpg")
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=32x32", "-frames:v", "1", cover)
    harness.run(["exiftool", "-q", "-overwrite_original", f"-Comment={CANARY}-COVER",
                 "-GPSLatitude=48.8583", "-GPSLatitudeRef=N", cover], check=True)
    src = t.path("f.mp4")
    ffmpeg("-i", base, "-i", cover, "-map", "0", "-map", "1", "-c", "copy", "-disposition:v:1", "attached_pic", src)
    assert any(s["disposition"].get("attached_pic") for s in streams(src))
    report = harness.unmeta("inspect", src).stdout.decode()
    assert "CoverArt" in report, report
    out = t.strip(src)
    # 0:V is video without attached pictures: the movie itself is unchanged.
    judge(t, src, out, needles=(CANARY, f"{CANARY}-COVER"), spec="V")
    assert not any(s["disposition"].get("attached_pic") for s in streams(out))


def test_timecode_track_removed(t):
    src = make_video(t, "g.mov", "-timecode", "12:34:56:07", "-metadata", f"title={CANARY}")
    assert any(s["codec_type"] == "data" for s in streams(src))
    out = t.strip(src)
    judge(t, src, out)
    assert not any(s["codec_type"] == "data" for s in streams(out))


def test_gopro_gpmd_track(t):
    karma = harness.shared_dir("corpus", "mp4", "gpmf-parser__karma.mp4")
    harness.need("ffmpeg")
    src = t.path("karma.mp4")
    write(src, read(karma))
    assert b"GPS5" in read(src) or b"DEVC" in read(src)
    report = harness.unmeta("inspect", src).stdout.decode()
    assert "'gpmd'" in report, report
    out = t.strip(src)
    judge(t, src, out, needles=())
    assert streamhash(src) == streamhash(out)
    assert b"DEVC" not in read(out), "GPMF telemetry left in mdat"


def test_corrupt_refused(t):
    src = make_video(t, "h.mp4", "-movflags", "+faststart")
    d = read(src)
    i = d.find(b"moov") - 4
    bad = t.path("bad.mp4")
    write(bad, d[:i] + struct.pack(">I", 0x7FFFFFF0) + d[i + 4:])
    assert "runs past" in t.refuse(bad)
    cut = t.path("cut.mp4")
    write(cut, d[:i + 200])
    t.refuse(cut)
    nomoov = t.path("nomoov.mp4")
    write(nomoov, d[:i + 4] + b"junk" + d[i + 8:])
    t.refuse(nomoov)


def test_inspect_and_check(t):
    src = make_video(t, "i.mp4", "-metadata", "location=-33.8688+151.2093/")
    r = harness.unmeta("check", "-q", src)
    assert r.returncode == 1
    report = harness.unmeta("inspect", src).stdout.decode()
    assert "location" in report and "-33.868" in report and "151.209" in report, report


harness.main(globals())
