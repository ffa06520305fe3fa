"""ISO BMFF boxes (MP4 and the shared box walker): malformed and rare
structures, made by editing a clip ffmpeg wrote. Damaged files must be
refused with the original untouched; rare but valid boxes must be removed
(canary strings gone) with every packet unchanged (ffmpeg streamhash)."""
import struct

import harness
from harness import read, write

CANARY = "CANARY-BOXES"


def box(kind, payload):
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def full_box(kind, payload, version=0, flags=0):
    return box(kind, struct.pack(">I", version << 24 | flags) + payload)


def walk(data, start=0, end=None):
    """[(type, offset, size, header size)] of the boxes in data[start:end]."""
    end = len(data) if end is None else end
    out, pos = [], start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        hdr = 8
        if size == 1:
            size, hdr = struct.unpack(">Q", data[pos + 8:pos + 16])[0], 16
        elif size == 0:
            size = end - pos
        out.append((kind, pos, size, hdr))
        pos += size
    return out


def find(data, path, start=0, end=None):
    """(offset, size, header) of the box at path, e.g. [b'moov', b'trak']."""
    for kind, off, size, hdr in walk(data, start, end):
        if kind == path[0]:
            if len(path) == 1:
                return off, size, hdr
            return find(data, path[1:], off + hdr, off + size)
    raise AssertionError(f"no box {path!r}")


def child(data, parent, kind):
    """(offset, size) of the first box of that kind inside the box at parent."""
    psize, hdr = struct.unpack(">I", data[parent:parent + 4])[0], 8
    for k, off, size, _ in walk(data, parent + hdr, parent + psize):
        if k == kind:
            return off, size
    raise AssertionError(f"no {kind!r} in the box at {parent}")


def replace_in_moov(data, old_off, old_size, new_bytes, parents):
    """Replaces data[old_off:old_off+old_size] and fixes the sizes of its
    parents (each an offset of a 32-bit-size box). Only valid when nothing
    after the change is addressed by offset: the clips below have moov after
    mdat (ffmpeg's default), so no chunk offset moves."""
    delta = len(new_bytes) - old_size
    out = bytearray(data[:old_off] + new_bytes + data[old_off + old_size:])
    for p in parents:
        size = struct.unpack(">I", out[p:p + 4])[0]
        out[p:p + 4] = struct.pack(">I", size + delta)
    return bytes(out)


def make_clip(t, name="in.mp4", *extra):
    """A one-second H.264 + AAC clip, moov after mdat, no metadata."""
    harness.need("ffmpeg")
    out = t.path(name)
    harness.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=1",
                 "-f", "lavfi", "-i", "sine=duration=1", "-map", "0", "-map", "1", "-c:v", "libx264",
                 "-c:a", "aac", "-map_metadata", "-1", "-fflags", "+bitexact", *extra, out], check=True)
    data = read(out)
    kinds = [k for k, *_ in walk(data)]
    assert kinds.index(b"mdat") < kinds.index(b"moov"), kinds
    return out, data


def streamhash(path):
    r = harness.run(["ffmpeg", "-v", "error", "-i", path, "-map", "0", "-c", "copy", "-f", "streamhash",
                     "-hash", "md5", "-"], check=True)
    return r.stdout


def test_trailing_zero_bytes_dropped(t):
    """Fewer than 8 zero bytes after the last box: padding, left out."""
    src, data = make_clip(t)
    padded = t.path("padded.mp4")
    write(padded, data + b"\0" * 5)
    out = t.strip(padded)
    assert streamhash(out) == streamhash(src)
    assert read(out) == read(t.strip(src, out=t.path("plain.mp4"))), "padding changed the output"
    t.assert_idempotent(out)


def test_trailing_stray_bytes_refused(t):
    src, data = make_clip(t)
    bad = t.path("stray.mp4")
    write(bad, data + b"ABCDE")
    assert "stray bytes" in t.refuse(bad)


def test_box_smaller_than_its_header_refused(t):
    src, data = make_clip(t)
    bad = t.path("small.mp4")
    write(bad, data + struct.pack(">I4s", 4, b"free"))
    assert "smaller than its header" in t.refuse(bad)


def test_largesize_header_cut_short_refused(t):
    """A 64-bit size (size field 1) whose 8-byte size the file ends inside."""
    src, data = make_clip(t)
    bad = t.path("large.mp4")
    write(bad, data + struct.pack(">I4s", 1, b"free") + b"\0\0\0")
    assert "64-bit size cut short" in t.refuse(bad)


def test_uuid_box_cut_short_refused(t):
    src, data = make_clip(t)
    bad = t.path("uuid.mp4")
    write(bad, data + struct.pack(">I4s", 24, b"uuid") + b"\x12\x34\x56\x78")
    assert "'uuid' box" in t.refuse(bad)


def test_box_past_end_of_parent_refused(t):
    """A moov child that claims more bytes than moov holds."""
    src, data = make_clip(t)
    moov, msize, mhdr = find(data, [b"moov"])
    mvhd, _, _ = find(data, [b"moov", b"mvhd"])
    bad = bytearray(data)
    bad[mvhd:mvhd + 4] = struct.pack(">I", msize)
    path = t.path("past.mp4")
    write(path, bytes(bad))
    msg = t.refuse(path)
    assert "runs past the end" in msg or "MP4" in msg, msg


def test_movie_without_mvhd_refused(t):
    src, data = make_clip(t)
    moov, _, _ = find(data, [b"moov"])
    off, size, _ = find(data, [b"moov", b"mvhd"])
    bad = t.path("nomvhd.mp4")
    write(bad, replace_in_moov(data, off, size, b"", [moov]))
    assert "mvhd" in t.refuse(bad)


def test_track_without_mdia_refused(t):
    src, data = make_clip(t)
    moov, _, _ = find(data, [b"moov"])
    trak, _, _ = find(data, [b"moov", b"trak"])
    off, size, _ = find(data, [b"moov", b"trak", b"mdia"])
    bad = t.path("nomdia.mp4")
    write(bad, replace_in_moov(data, off, size, b"", [moov, trak]))
    t.refuse(bad)


def test_removed_track_without_stsz_refused(t):
    """A timecode track (removed on strip, its samples zeroed in mdat) whose
    sample sizes are missing: its samples cannot be found, so the file is
    refused rather than written with them left in place."""
    src, data = make_clip(t, "in.mov", "-timecode", "12:34:56:07")
    moov, msize, mhdr = find(data, [b"moov"])
    traks = [(off, size) for kind, off, size, _ in walk(data, moov + mhdr, moov + msize) if kind == b"trak"]
    tmcd = [(off, size) for off, size in traks if b"tmcd" in data[off:off + size]]
    assert tmcd, "ffmpeg wrote no timecode track"
    parents = [moov, tmcd[0][0]]
    for kind in (b"mdia", b"minf", b"stbl"):
        parents.append(child(data, parents[-1], kind)[0])
    off, size = child(data, parents[-1], b"stsz")
    bad = t.path("nostsz.mov")
    write(bad, replace_in_moov(data, off, size, b"", parents))
    assert "stsz" in t.refuse(bad)


def test_short_mvhd_refused(t):
    """An mvhd too short for its fields (its version and flags only)."""
    src, data = make_clip(t)
    moov, _, _ = find(data, [b"moov"])
    off, size, _ = find(data, [b"moov", b"mvhd"])
    bad = t.path("shortmvhd.mp4")
    write(bad, replace_in_moov(data, off, size, full_box(b"mvhd", b""), [moov]))
    t.refuse(bad)


def test_udta_loci_and_padding_with_data_removed(t):
    """A movie udta holding 3GPP 'loci' (location), a 'free' box with data
    and a nested 'meta' with an unknown child: all removed and reported."""
    src, data = make_clip(t)
    moov, msize, _ = find(data, [b"moov"])
    loci = full_box(b"loci", b"\x15\xc7" + (CANARY + "-LOCI").encode() + b"\0" + b"\0" * 13 + b"earth\0\0")
    free = box(b"free", (CANARY + "-FREE").encode())
    meta = full_box(b"meta", full_box(b"hdlr", b"\0" * 4 + b"mdir" + b"\0" * 12 + b"\0") +
                    box(b"zzzz", (CANARY + "-META").encode()))
    udta = box(b"udta", loci + free + meta)
    rare = t.path("rare.mp4")
    write(rare, replace_in_moov(data, moov + msize, 0, udta, [moov]))
    assert streamhash(rare) == streamhash(src), "the edit broke the fixture"
    r = harness.unmeta("inspect", rare)
    assert r.returncode == 0, r.stderr
    text = r.stdout.decode(errors="replace")
    assert "location" in text and "loci" in text, text
    assert "Padding" in text, text
    out = t.strip(rare)
    t.assert_absent(out, CANARY)
    assert streamhash(out) == streamhash(src)
    r = harness.unmeta("check", "-q", out)
    assert r.returncode == 0, "the stripped clip is not clean"
    t.assert_idempotent(out)


def test_empty_free_in_udta_is_not_a_finding(t):
    """An all-zero 'free' box inside udta carries nothing: no Padding
    finding; the udta goes, and check on the stripped file says clean."""
    src, data = make_clip(t)
    moov, msize, _ = find(data, [b"moov"])
    padded = t.path("zfree.mp4")
    write(padded, replace_in_moov(data, moov + msize, 0, box(b"udta", box(b"free", b"\0" * 16)), [moov]))
    r = harness.unmeta("inspect", padded)
    assert r.returncode == 0 and b"Padding" not in r.stdout, r.stdout
    out = t.strip(padded)
    assert b"udta" not in read(out)[find(read(out), [b"moov"])[0]:]
    assert streamhash(out) == streamhash(src)
    assert harness.unmeta("check", "-q", out).returncode == 0


if __name__ == "__main__":
    harness.main(globals())
