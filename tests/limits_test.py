"""Limits: hostile files built by hand (struct + zlib) that claim far more
than they hold -- decompression bombs, segment floods, nesting a hundred
thousand deep, sizes of gigabytes in a kilobyte, IFD cycles, absurd
dimensions and counts -- must each be refused quickly (well under ten
seconds) with exit 2, a message that says what was exceeded, the input
untouched and no output. Where a file could tempt a parser into allocating
what it claims, the peak memory of the strip is measured too.

The --max-* options are given on the command line where the defaults would
make the fixture slow to build; one bomb runs against the default limit.
"""
import os
import re
import struct
import subprocess
import sys
import time
import zlib

import harness

SECONDS = 10          # a refusal must come well within this
RSS_KB = 256 * 1024   # a strip of a tiny hostile file must stay far below this


def refuse(t, name, data, *opts, says):
    """Writes data to name, asserts strip refuses it quickly with a message
    matching the regular expression says; returns (message, seconds)."""
    src = t.path(name)
    harness.write(src, data)
    start = time.monotonic()
    msg = t.refuse(src, *opts)
    took = time.monotonic() - start
    print(f"  {name}: {took:.2f} s: {msg.strip()}")
    assert took < SECONDS, f"{name}: refusal took {took:.1f} s"
    assert re.search(says, msg, re.I), f"{name}: message does not say /{says}/: {msg!r}"
    return msg, took


def peak_rss_kb(*args):
    """The peak resident set of one `unmeta` run, in KiB, measured in a fresh
    child so earlier tools do not count."""
    code = ("import resource, subprocess, sys\n"
            "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    r = subprocess.run([sys.executable, "-c", code, os.environ.get("UNMETA", "unmeta"), *args],
                       stdout=subprocess.PIPE, check=True)
    return int(r.stdout)


# ---- PNG ------------------------------------------------------------------


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with(extra):
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra
            + png_chunk(b"IDAT", zlib.compress(b"\x00\x00")) + png_chunk(b"IEND", b""))


def zeros_deflated(n):
    c = zlib.compressobj(9)
    block = bytes(1 << 20)
    out = [c.compress(block) for _ in range(n >> 20)]
    out.append(c.flush())
    return b"".join(out)


def test_png_ztxt_bomb(t):
    # 16 MiB of zeros in ~16 KB, against --max-inflate 1M.
    bomb = zeros_deflated(16 << 20)
    data = png_with(png_chunk(b"zTXt", b"Comment\x00\x00" + bomb))
    assert len(data) < 64 * 1024
    refuse(t, "ztxt-bomb.png", data, "--max-inflate", "1M", says=r"inflates beyond .*MAX_INFLATE")


def test_png_iccp_bomb_default_limit(t):
    # 80 MiB of zeros in ~80 KB: beyond the default 64 MiB, no option given.
    bomb = zeros_deflated(80 << 20)
    data = png_with(png_chunk(b"iCCP", b"icc\x00\x00" + bomb))
    assert len(data) < 128 * 1024
    refuse(t, "iccp-bomb.png", data, says=r"iCCP.*inflates beyond .*MAX_INFLATE")
    kb = peak_rss_kb("strip", "-o", t.path("x.png"), t.path("iccp-bomb.png"))
    assert kb < RSS_KB, f"peak memory {kb} KiB for a refused bomb"


def test_icc_device_tag_flood(t):
    # 200 000 'dmnd' tag entries: signatures are unique, so the second is
    # refused (the profile dropped, as PNG does with a malformed one) before
    # any per-tag work that would grow with the square of the count.
    n = 200000
    end = 132 + 12 * n
    prof = bytearray(128) + struct.pack(">I", n) + (b"dmnd" + struct.pack(">II", end, 12)) * n
    prof += b"desc" + bytes(8)
    struct.pack_into(">I", prof, 0, len(prof))
    prof[36:40] = b"acsp"
    prof[48:52] = b"ABCD"
    src = t.path("dmnd-flood.png")
    harness.write(src, png_with(png_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(bytes(prof)))))
    r = harness.unmeta("inspect", src)
    assert r.returncode == 0, r.stderr
    assert b"tag 'dmnd' appears twice" in r.stdout, r.stdout[-300:]
    out = t.strip(src)
    assert b"ABCD" not in harness.read(out)


def test_png_itxt_bomb(t):
    bomb = zeros_deflated(8 << 20)
    data = png_with(png_chunk(b"iTXt", b"Comment\x00\x01\x00\x00\x00" + bomb))
    refuse(t, "itxt-bomb.png", data, "--max-inflate", "64K", says=r"inflates beyond .*MAX_INFLATE")


# ---- JPEG -----------------------------------------------------------------


def small_jpeg(t):
    harness.need("convert")
    p = t.path("base.jpg")
    harness.run(["convert", "-size", "8x8", "xc:gray", "-strip", p], check=True)
    return harness.read(p)


def test_jpeg_comment_flood(t):
    base = small_jpeg(t)
    com = b"\xff\xfe" + struct.pack(">H", 2 + 4) + b"spam"
    data = base[:2] + com * 5000 + base[2:]
    refuse(t, "flood.jpg", data, "--max-items", "1000", says=r"more than 1000 .*MAX_ITEMS")
    # The option is what refused it: under the default limit it strips, and
    # the comments go.
    out = t.strip(t.path("flood.jpg"))
    assert b"spam" not in harness.read(out)


def test_batch_strip_gets_the_limits(t):
    # -j/-d run the batch path, whose workers make their own contexts.
    base = small_jpeg(t)
    com = b"\xff\xfe" + struct.pack(">H", 2 + 4) + b"spam"
    os.mkdir(t.path("in"))
    os.mkdir(t.path("out"))
    src = t.path("in/flood.jpg")
    harness.write(src, base[:2] + com * 5000 + base[2:])
    r = harness.unmeta("strip", "-j", "2", "--max-items", "1K", "-d", t.path("out"), src)
    assert r.returncode == 2, r.stderr
    assert b"MAX_ITEMS" in r.stderr, r.stderr
    assert os.listdir(t.path("out")) == []
    r = harness.unmeta("strip", "-j", "2", "--max-items", "10K", "-d", t.path("out"), src)
    assert r.returncode == 0, r.stderr
    assert os.listdir(t.path("out")) == ["flood.jpg"]


def test_limit_option_values(t):
    src = t.path("a.gif")
    harness.write(src, GIF_HEAD + GIF_FRAME + b"\x3b")
    for opt, bad in (("--max-depth", "0"), ("--max-items", "-5"), ("--max-inflate", "1x"),
                     ("--max-block-size", "100"), ("--max-memory", "99999999999G"), ("--max-depth", "200000")):
        r = harness.unmeta("strip", opt, bad, "-f", "-o", t.path("o.gif"), src)
        assert r.returncode == 2, (opt, bad)
        assert opt.encode() in r.stderr, (opt, bad, r.stderr)
        assert not os.path.exists(t.path("o.gif"))
    for opt, good in (("--max-depth", "8"), ("--max-items", "64"), ("--max-inflate", "2k"),
                      ("--max-block-size", "1M"), ("--max-memory", "1G")):
        t.strip(src, opt, good)


# ---- MP4 ------------------------------------------------------------------


def box(kind, payload=b""):
    return struct.pack(">I", 8 + len(payload)) + kind + payload


FTYP = box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2mp41")


def test_mp4_nested_boxes(t):
    # moov > trak > trak > ... 100 000 deep ('trak' is a container the
    # parser descends into); 800 KB.
    depth = 100000
    inner = b""
    for _ in range(depth):
        inner = box(b"trak", inner)
    data = FTYP + box(b"moov", inner) + box(b"mdat", b"\x00" * 16)
    refuse(t, "nested.mp4", data, says=r"MP4: boxes nested deeper than 32 \(UNMETA_OPT_MAX_DEPTH\)")
    refuse(t, "nested.mp4", data, "--max-depth", "1000", says=r"nested deeper than 1000 ")


def test_mp4_largesize_claims_gigabytes(t):
    # An 'mdat' whose 64-bit size claims 1 TiB in a 1 KB file.
    mdat = struct.pack(">I", 1) + b"mdat" + struct.pack(">Q", 1 << 40) + bytes(1000)
    data = FTYP + mdat
    assert len(data) < 1100
    refuse(t, "largesize.mp4", data, says=r"MP4: box 'mdat' .* runs past the end")


def test_mp4_moov_claims_gigabytes(t):
    # A 'moov' claiming 4 GiB: must not be read (or allocated) as claimed.
    moov = struct.pack(">I", 1) + b"moov" + struct.pack(">Q", 4 << 30) + bytes(1000)
    src = t.path("bigmoov.mp4")
    refuse(t, "bigmoov.mp4", FTYP + moov, says=r"MP4: box 'moov' .* runs past the end")
    kb = peak_rss_kb("strip", "-o", t.path("x.mp4"), src)
    assert kb < RSS_KB, f"peak memory {kb} KiB"


# ---- TIFF -----------------------------------------------------------------


def tiff(width, height, next_ifd=0):
    """A little-endian TIFF: one 8-bit grey strip of one byte, IFD0 at 8."""
    entries = [
        (256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1),
        (262, 3, 1, 1), (273, 4, 1, 0), (277, 3, 1, 1), (278, 4, 1, 1), (279, 4, 1, 1),
    ]
    ifd_len = 2 + 12 * len(entries) + 4
    strip_at = 8 + ifd_len
    out = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        if tag == 273:
            value = strip_at
        if typ == 3:
            out += struct.pack("<HHIHH", tag, typ, count, value, 0)
        else:
            out += struct.pack("<HHII", tag, typ, count, value)
    out += struct.pack("<I", next_ifd)
    return out + b"\x80"


def tiff_shared_strips(nstrips, strip_len):
    """A grey TIFF whose nstrips strips all point at the same strip_len
    bytes (allowed: writers share one blank strip), so that a strip copied
    once per reference makes the output nstrips times the data."""
    rows = nstrips
    entries = [(256, 4, 1, strip_len), (257, 4, 1, rows), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, nstrips, None), (277, 3, 1, 1), (278, 4, 1, 1), (279, 4, nstrips, None)]
    ifd_len = 2 + 12 * len(entries) + 4
    offsets_at = 8 + ifd_len
    counts_at = offsets_at + 4 * nstrips
    data_at = counts_at + 4 * nstrips
    out = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        if tag == 273:
            value = offsets_at
        elif tag == 279:
            value = counts_at
        out += struct.pack("<HHIHH", tag, typ, count, value, 0) if typ == 3 else struct.pack("<HHII", tag, typ, count, value)
    out += struct.pack("<I", 0)
    out += struct.pack("<I", data_at) * nstrips + struct.pack("<I", strip_len) * nstrips
    return out + bytes(range(256)) * (strip_len // 256)


def test_tiff_shared_strips_output_growth(t):
    # 64 strips sharing one 64 KiB strip: 64 KiB in, 4 MiB out. Refused
    # under a 1 MiB growth limit (the library and the batch runner), and the
    # message names the option; accepted under the default (64 MiB).
    data = tiff_shared_strips(64, 64 * 1024)
    msg, _ = refuse(t, "shared.tif", data, "--max-growth", "1M", says=r"UNMETA_OPT_MAX_GROWTH")
    assert "--max-growth" in msg, msg
    os.makedirs(t.path("out"))
    r = harness.unmeta("strip", "-r", "--max-growth", "1M", "-d", t.path("out"), t.path("shared.tif"))
    assert r.returncode == 2 and b"--max-growth" in r.stderr, r.stderr
    out = t.strip(t.path("shared.tif"))
    assert os.path.getsize(out) > 4 * 1024 * 1024


def test_max_time(t):
    # Every file is abandoned when its time is up; the message names the
    # option, the input is untouched and nothing is written (single file
    # and batch).
    src = t.path("a.tif")
    harness.write(src, tiff_shared_strips(64, 64 * 1024))
    msg = t.refuse(src, "--max-time", "1e-9")
    assert "--max-time" in msg, msg
    os.makedirs(t.path("out"))
    r = harness.unmeta("strip", "-r", "--max-time", "1e-9", "-d", t.path("out"), src)
    assert r.returncode == 2 and b"--max-time" in r.stderr and b"1 refused" in r.stderr, r.stderr
    assert not os.path.exists(t.path("out/a.tif"))
    for bad in ("0", "-1", "x", "1s"):
        r = harness.unmeta("strip", "--max-time", bad, "-f", "-o", t.path("o.tif"), src)
        assert r.returncode == 2 and b"--max-time" in r.stderr, (bad, r.stderr)
    t.strip(src, "--max-time", "60")


def test_tiff_sane_base_is_accepted(t):
    # The builder itself makes a file unmeta strips: the refusals below are
    # about what was changed, not about the builder.
    src = t.path("base.tif")
    harness.write(src, tiff(1, 1))
    t.strip(src)


def test_tiff_ifd_cycle(t):
    refuse(t, "cycle.tif", tiff(1, 1, next_ifd=8), says=r"TIFF.*(loop|cycle|twice|again|revisit)")


def test_tiff_huge_dimensions(t):
    # 2^32-1 x 2^32-1 pixels claimed with a one-byte strip.
    src = t.path("huge.tif")
    refuse(t, "huge.tif", tiff(0xFFFFFFFF, 0xFFFFFFFF),
           says=r"TIFF: IFD0 claims 4294967295x4294967295 pixels but has 1 strips")
    kb = peak_rss_kb("strip", "-o", t.path("x.tif"), src)
    assert kb < RSS_KB, f"peak memory {kb} KiB"


# ---- HEIF -----------------------------------------------------------------


def fullbox(kind, version, flags, payload):
    return box(kind, struct.pack(">I", (version << 24) | flags) + payload)


def heif(count, entries):
    """A HEIF whose 'iinf' says count items and holds the given 'infe' boxes."""
    iinf = fullbox(b"iinf", 1, 0, struct.pack(">I", count) + entries)
    hdlr = fullbox(b"hdlr", 0, 0, bytes(4) + b"pict" + bytes(12) + b"\x00")
    pitm = fullbox(b"pitm", 0, 0, struct.pack(">H", 1))
    iloc = fullbox(b"iloc", 0, 0, b"\x44\x00" + struct.pack(">HHHHII", 1, 1, 0, 1, 0, 16))
    ispe = fullbox(b"ispe", 0, 0, struct.pack(">II", 64, 64))
    ipma = fullbox(b"ipma", 0, 0, struct.pack(">IHBB", 1, 1, 1, 0x81))
    iprp = box(b"iprp", box(b"ipco", ispe) + ipma)
    meta = fullbox(b"meta", 0, 0, hdlr + pitm + iloc + iinf + iprp)
    ftyp = box(b"ftyp", b"heic" + bytes(4) + b"mif1heic")
    return ftyp + meta + box(b"mdat", bytes(16))


def infe(item_id):
    return fullbox(b"infe", 2, 0, struct.pack(">HH", item_id, 0) + b"hvc1" + b"\x00")


def test_heif_huge_item_count(t):
    # An 'iinf' (version 1: 32-bit count) claiming 2^32-1 items, holding one:
    # walked entry by entry, nothing allocated by the claim.
    src = t.path("items.heic")
    refuse(t, "items.heic", heif(0xFFFFFFFF, infe(1)), says=r"HEIF: a box header at byte \d+ is cut short")
    kb = peak_rss_kb("strip", "-o", t.path("x.heic"), src)
    assert kb < RSS_KB, f"peak memory {kb} KiB"


def test_heif_item_flood(t):
    # 5000 real item entries against --max-items 1000.
    entries = b"".join(infe(i) for i in range(1, 5001))
    refuse(t, "flood.heic", heif(5000, entries), "--max-items", "1000", says=r"more than 1000 .*MAX_ITEMS")


# ---- GIF ------------------------------------------------------------------

GIF_HEAD = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
GIF_FRAME = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"


def test_gif_sane_base_is_accepted(t):
    src = t.path("base.gif")
    harness.write(src, GIF_HEAD + GIF_FRAME * 3 + b"\x3b")
    t.strip(src)


def test_gif_frame_flood(t):
    data = GIF_HEAD + GIF_FRAME * 100000 + b"\x3b"
    refuse(t, "frames.gif", data, "--max-items", "1000", says=r"more than 1000 .*MAX_ITEMS")


def test_gif_sub_block_flood(t):
    # A comment extension of 1 000 000 one-byte sub-blocks (2 MB): walked in
    # linear time and bounded memory, and removed (the chain is not an item
    # per sub-block, so this is handled rather than refused).
    ext = b"\x21\xfe" + b"\x01x" * 1000000 + b"\x00"
    src = t.path("subblocks.gif")
    harness.write(src, GIF_HEAD + ext + GIF_FRAME + b"\x3b")
    start = time.monotonic()
    out = t.strip(src)
    took = time.monotonic() - start
    assert took < SECONDS, f"took {took:.1f} s"
    assert harness.read(out) == GIF_HEAD + GIF_FRAME + b"\x3b"
    kb = peak_rss_kb("strip", "-f", "-o", t.path("x.gif"), src)
    assert kb < RSS_KB, f"peak memory {kb} KiB"


# ---- WebP -----------------------------------------------------------------


def test_webp_chunk_claims_4gb(t):
    chunk = b"VP8L" + struct.pack("<I", 0xFFFFFFF0) + bytes(64)
    data = b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk
    refuse(t, "huge.webp", data, says=r"WebP: chunk 'VP8L' .* runs past the end")


def test_webp_riff_claims_4gb(t):
    chunk = b"VP8L" + struct.pack("<I", 5) + b"\x2f\x00\x00\x00\x00" + b"\x00"
    data = b"RIFF" + struct.pack("<I", 0xFFFFFFF0) + b"WEBP" + chunk
    refuse(t, "riff.webp", data, says=r"WebP: the RIFF size says")



# ---- JPEG XL --------------------------------------------------------------

JXL_HEAD = b"\0\0\0\x0cJXL \r\n\x87\n" + struct.pack(">I", 20) + b"ftypjxl \0\0\0\0jxl "
# unmeta does not parse the codestream, so a signature and a few bytes stand
# for one here.
JXL_CODESTREAM = struct.pack(">I", 8 + 18) + b"jxlc" + b"\xff\x0a" + bytes(16)


def brotli_zeros(n):
    import ctypes  # pylint: disable=import-outside-toplevel
    try:
        lib = ctypes.CDLL("libbrotlienc.so.1")
    except OSError:
        harness.missing("libbrotlienc.so.1 is not installed (Debian package libbrotli1)")
    data = bytes(n)
    out = ctypes.create_string_buffer(1 << 20)
    size = ctypes.c_size_t(len(out))
    assert lib.BrotliEncoderCompress(1, 24, 0, ctypes.c_size_t(n), data, ctypes.byref(size), out)
    return out.raw[:size.value]


def test_jxl_brob_bomb_default_limit(t):
    # 200 MiB of zeros in ~40 KB, no option given: decoded for the report
    # only up to the default 64 MiB, then removed; the strip succeeds (the
    # box goes either way) in bounded time and memory.
    bomb = brotli_zeros(200 << 20)
    data = JXL_HEAD + JXL_CODESTREAM + struct.pack(">I", 12 + len(bomb)) + b"brobxml " + bomb
    assert len(data) < 128 * 1024
    src = t.path("brob-bomb.jxl")
    harness.write(src, data)
    r = harness.unmeta("inspect", src)
    if b"built without libbrotli" in r.stdout:
        raise harness.Skip("this build has no libbrotli (-Dbrotli=disabled)")
    assert b"first 67108864 bytes decoded" in r.stdout, r.stdout[-400:]
    start = time.monotonic()
    out = t.strip(src)
    took = time.monotonic() - start
    assert took < SECONDS, f"took {took:.1f} s"
    assert harness.read(out) == JXL_HEAD + JXL_CODESTREAM
    kb = peak_rss_kb("strip", "-f", "-o", t.path("x.jxl"), src)
    assert kb < RSS_KB, f"peak memory {kb} KiB"


def test_jxl_box_claims_gigabytes(t):
    data = JXL_HEAD + JXL_CODESTREAM + struct.pack(">I", 1) + b"Exif" + struct.pack(">Q", 1 << 40) + bytes(16)
    refuse(t, "huge.jxl", data, says=r"JPEG XL: box 'Exif' .* runs past the end of its file")


def test_jxl_part_flood(t):
    # 200 000 one-byte codestream parts, against --max-items 1000.
    parts = b"".join(struct.pack(">I", 13) + b"jxlp" + struct.pack(">I", i) + b"\xff" for i in range(200000))
    refuse(t, "parts.jxl", JXL_HEAD + parts, "--max-items", "1000", says=r"max.?items|MAX_ITEMS|items")


harness.main(globals())
