"""bench/phonetree.py - phone-backup-like photo libraries for the at-scale
benchmarks (bench/scale, bench/worker).

Making thousands of distinct 1-4 MB photos one by one with ImageMagick and
exiftool would take hours, so the library is built from a few dozen *bases*
per format (JPEG, HEIC, PNG, WebP), each a different size, shape and
content, each carrying what a phone writes (EXIF make/model/serial/lens/
owner, capture times and offsets, GPS position/altitude/time/direction, XMP
dc/photoshop/xmpMM, an ICC profile naming a device, and an IFD1 thumbnail
in JPEGs). Every file of the library is a copy of one base in which a
fixed-length placeholder (EXIF ImageUniqueID and XMP DocumentID,
"UMBENCH-0000000000") is replaced by the file's own number, so no two files
are byte-identical; PNG chunk CRCs are recomputed after the patch.

Sizes: each base aims at a size spread evenly over 1.1-3.9 MB. A small
probe per format measures its bytes per pixel, the base's pixel count
follows from that, and a base that still lands outside 1-4 MB is made
again at a corrected size.

The tree looks like a phone backup: DCIM/1NNAPPLE/IMG_NNNN.JPG and .HEIC
(500 files a folder), Pictures/Screenshots/YYYY-MM/Screenshot_*.png and
WhatsApp/Media/WhatsApp Images/Sent/IMG-*-WA*.webp (a folder name with
spaces, as on the device).
"""
import importlib.machinery
import importlib.util
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
MB = 1000 * 1000
FORMATS = ("jpeg", "heic", "png", "webp")
EXT = {"jpeg": "JPG", "heic": "HEIC", "png": "png", "webp": "webp"}
TAG = b"UMBENCH-"
PLACEHOLDER = TAG + b"0000000000"  # fixed length: TAG + 10 digits
LO, HI = 1.0 * MB, 4.0 * MB        # every base must land in [LO, HI]


def _bench_run():
    """bench/run as a module, for its ICC profile maker (one copy of it)."""
    path = os.path.join(HERE, "run")
    loader = importlib.machinery.SourceFileLoader("unmeta_bench_run", path)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


class GenError(Exception):
    pass


def _run(args, **kw):
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if r.returncode != 0:
        raise GenError(f"{' '.join(map(str, args[:4]))}... exited {r.returncode}: "
                       f"{r.stderr.decode(errors='replace')[-400:]}")
    return r


def need(*tools):
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        raise GenError(f"needs {', '.join(missing)}")


# ---- one base ---------------------------------------------------------------

# Per format: noise strength of the source picture and how it is encoded.
NOISE = {"jpeg": 0.30, "heic": 0.30, "png": 0.10, "webp": 0.30}


def _source(path, w, h, rng, fmt, *encode):
    """A gradient between two random colours with sensor-like noise: hard
    enough to compress that the sizes look like a phone's."""
    c1 = "#%06x" % rng.randrange(1 << 24)
    c2 = "#%06x" % rng.randrange(1 << 24)
    _run(["convert", "-size", f"{w}x{h}", f"gradient:{c1}-{c2}", "-attenuate", str(NOISE[fmt]),
          "+noise", "Gaussian", "-depth", "8", *encode, path])


def _encode(fmt, w, h, out, work, rng):
    if fmt == "jpeg":
        _source(out, w, h, rng, fmt, "-sampling-factor", "2x2", "-quality", "90")
    elif fmt == "png":
        _source(out, w, h, rng, fmt)
    elif fmt == "webp":
        src = os.path.join(work, "src.ppm")
        _source(src, w, h, rng, fmt)
        _run(["cwebp", "-quiet", "-q", "85", src, "-o", out])
        os.unlink(src)
    elif fmt == "heic":
        src = os.path.join(work, "src.jpg")
        _source(src, w, h, rng, fmt, "-quality", "98")
        # ultrafast: a 12 MP picture takes seconds instead of a minute.
        _run(["heif-enc", "-q", "60", "-p", "preset=ultrafast", "-o", out, src])
        os.unlink(src)


def _metadata(path, fmt, i, work, icc):
    """What a phone writes, with the per-file placeholder."""
    serial = "%s%06d" % ({"jpeg": "F2L", "heic": "DNP", "png": "SCR", "webp": "WAP"}[fmt], i)
    tags = ["-EXIF:Make=Apple", f"-EXIF:Model=iPhone {12 + i % 4} Pro",
            f"-EXIF:SerialNumber={serial}", "-EXIF:LensMake=Apple",
            "-EXIF:LensModel=iPhone back triple camera 5.7mm f/1.5",
            "-EXIF:Software=17.4.1", "-EXIF:Artist=Jane Phoneowner", "-EXIF:OwnerName=Jane Phoneowner",
            f"-EXIF:DateTimeOriginal=2024:05:{1 + i % 28:02d} 12:{i % 60:02d}:56",
            f"-EXIF:CreateDate=2024:05:{1 + i % 28:02d} 12:{i % 60:02d}:56",
            "-EXIF:ModifyDate=2024:05:30 09:00:00", "-EXIF:OffsetTimeOriginal=+02:00",
            "-EXIF:SubSecTimeOriginal=123", "-EXIF:ExposureTime=1/120", "-EXIF:FNumber=1.5",
            "-EXIF:ISO=64", "-EXIF:FocalLength=5.7", "-EXIF:Orientation#=1",
            f"-EXIF:ImageUniqueID={PLACEHOLDER.decode()}",
            f"-GPSLatitude={48.8 + i / 1000:.6f}", "-GPSLatitudeRef=N",
            f"-GPSLongitude={2.29 + i / 1000:.6f}", "-GPSLongitudeRef=E", "-GPSAltitude=35.2",
            "-GPSAltitudeRef=0", "-GPSDateStamp=2024:05:01", "-GPSTimeStamp=10:34:56",
            "-GPSImgDirection=123.4", "-GPSImgDirectionRef=T", "-GPSSpeed=0.5", "-GPSSpeedRef=K",
            "-XMP-dc:Creator=Jane Phoneowner", "-XMP-dc:Description=Holiday photo",
            "-XMP-xmp:CreatorTool=17.4.1", "-XMP-photoshop:City=Paris", "-XMP-photoshop:Country=France",
            f"-XMP-xmpMM:DocumentID=xmp.did:{PLACEHOLDER.decode()}"]
    if fmt != "heic":
        # exiftool cannot add an ICC profile to HEIC; phones' HEICs carry
        # one in colr, which heif-enc does not write from a JPEG either.
        tags.append(f"-ICC_Profile<={icc}")
    if fmt == "jpeg":
        thumb = os.path.join(work, "thumb.jpg")
        _run(["convert", path, "-thumbnail", "160x120", "-quality", "80", "-strip", thumb])
        tags.append(f"-ThumbnailImage<={thumb}")
    if fmt == "png":
        tags.append("-PNG:Comment=Screenshot from Jane's phone")
    _run(["exiftool", "-q", "-q", "-overwrite_original", *tags, path])


class Base:
    """One base file in memory and where its placeholders are."""

    def __init__(self, fmt, data):
        self.fmt = fmt
        self.data = bytes(data)
        self.spots = [m.start() for m in re.finditer(re.escape(PLACEHOLDER), self.data)]
        if not self.spots:
            raise GenError(f"{fmt}: exiftool did not write the placeholder")
        self.crc = []  # PNG: (chunk type offset, data length) of chunks holding a placeholder
        if fmt == "png":
            at = 8
            while at + 12 <= len(self.data):
                n = struct.unpack(">I", self.data[at:at + 4])[0]
                if any(at + 8 <= s < at + 8 + n for s in self.spots):
                    self.crc.append((at + 4, n))
                at += 12 + n

    def copy(self, k):
        """The bytes of file number k: the base with its own number."""
        b = bytearray(self.data)
        uniq = TAG + b"%010d" % k
        for s in self.spots:
            b[s:s + len(uniq)] = uniq
        for t, n in self.crc:
            struct.pack_into(">I", b, t + 4 + n, zlib.crc32(b[t:t + 4 + n]) & 0xffffffff)
        return b


def make_bases(work, per_format, seed=1, log=print, cache=None):
    """per_format bases of each format: {fmt: [Base]}. With cache (a
    folder), bases found there are used and new ones are saved there, so
    a second benchmark need not make them again."""
    need("convert", "exiftool", "cwebp", "heif-enc")
    rng = random.Random(seed)
    d = tempfile.mkdtemp(prefix="bases-", dir=work)
    icc = os.path.join(d, "device.icc")
    with open(icc, "wb") as f:
        f.write(_bench_run().icc_profile())
    if cache:
        os.makedirs(cache, exist_ok=True)
    bases = {}
    for fmt in FORMATS:
        t = time.perf_counter()
        bases[fmt] = []
        names = [f"{fmt}{i:02d}.{EXT[fmt].lower()}" for i in range(per_format)]
        if cache and all(os.path.exists(os.path.join(cache, n)) for n in names):
            for n in names:
                with open(os.path.join(cache, n), "rb") as f:
                    bases[fmt].append(Base(fmt, f.read()))
            log(f"  {per_format} {fmt.upper()} bases from {cache}")
            continue
        # Bytes per pixel of this format's pictures, from a small probe.
        probe = os.path.join(d, "probe." + EXT[fmt].lower())
        _encode(fmt, 800, 600, probe, d, rng)
        bpp = os.path.getsize(probe) / (800 * 600)
        os.unlink(probe)
        targets = [1.1 * MB + 2.8 * MB * (i + 0.5) / per_format for i in range(per_format)]
        rng.shuffle(targets)
        remade = 0
        for i, target in enumerate(targets):
            out = os.path.join(d, names[i])
            aspect = rng.choice((4 / 3, 3 / 4, 16 / 9, 9 / 16, 1.0)) if fmt != "png" else rng.choice((9 / 19.5, 3 / 4))
            pixels = target / bpp
            for attempt in range(4):
                w = max(64, int((pixels * aspect) ** 0.5) // 16 * 16)
                h = max(64, int(pixels / w) // 16 * 16)
                _encode(fmt, w, h, out, d, rng)
                _metadata(out, fmt, i, d, icc)
                size = os.path.getsize(out)
                if LO <= size <= HI:
                    break
                remade += 1
                pixels *= target / size
            else:
                raise GenError(f"{fmt} base {i}: {size} bytes, outside 1-4 MB after 4 tries")
            with open(out, "rb") as f:
                bases[fmt].append(Base(fmt, f.read()))
            if cache:
                shutil.move(out, os.path.join(cache, names[i]))
            else:
                os.unlink(out)
        sizes = [len(b.data) / MB for b in bases[fmt]]
        log(f"  {per_format} {fmt.upper()} bases, {min(sizes):.2f}-{max(sizes):.2f} MB, "
            f"made in {time.perf_counter() - t:.0f} s ({remade} remade at a corrected size)")
    shutil.rmtree(d, ignore_errors=True)
    return bases


# ---- the library ------------------------------------------------------------

def layout(n, seed=1):
    """[(relative path, format)] for n files, formats mixed evenly."""
    rng = random.Random(seed)
    fmts = [FORMATS[i % len(FORMATS)] for i in range(n)]
    rng.shuffle(fmts)
    out = []
    cam = 0
    count = {f: 0 for f in FORMATS}
    for fmt in fmts:
        k = count[fmt]
        count[fmt] += 1
        if fmt in ("jpeg", "heic"):
            folder = f"DCIM/{100 + cam // 500}APPLE"
            rel = f"{folder}/IMG_{cam % 9999 + 1:04d}.{EXT[fmt]}"
            cam += 1
        elif fmt == "png":
            month = 1 + k // 250 % 12
            rel = (f"Pictures/Screenshots/{2020 + k // 3000}-{month:02d}/"
                   f"Screenshot_{2020 + k // 3000}{month:02d}{1 + k % 28:02d}-{k:06d}.png")
        else:
            rel = f"WhatsApp/Media/WhatsApp Images/Sent/IMG-2024{1 + k // 400 % 12:02d}{1 + k % 28:02d}-WA{k:05d}.webp"
        out.append((rel, fmt))
    return out


def pick(bases, fmt, k):
    """The base file number k of format fmt is copied from."""
    return bases[fmt][k % len(bases[fmt])]


def write_tree(root, n, bases, seed=1):
    """Writes the n files under root; returns [(path, format, size)]."""
    files = []
    made = set()
    for k, (rel, fmt) in enumerate(layout(n, seed)):
        path = os.path.join(root, rel)
        folder = os.path.dirname(path)
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        data = pick(bases, fmt, k).copy(k)
        with open(path, "wb") as f:
            f.write(data)
        files.append((path, fmt, len(data)))
    return files


def sizes(n, bases, seed=1):
    """[(name, format, size)] of what uploads() yields, without making it."""
    return [(os.path.basename(rel), fmt, len(pick(bases, fmt, k).data)) for k, (rel, fmt) in enumerate(layout(n, seed))]


def uploads(n, bases, seed=1):
    """Yields (name, format, bytes) for n uploads, without touching the disk."""
    for k, (rel, fmt) in enumerate(layout(n, seed)):
        yield os.path.basename(rel), fmt, bytes(pick(bases, fmt, k).copy(k))


# ---- judging outputs --------------------------------------------------------

JUDGE_TAGS = ("GPSLatitude", "GPSLongitude", "Make", "Model", "SerialNumber", "OwnerName", "Artist",
              "Creator", "City", "DateTimeOriginal", "ThumbnailImage", "DocumentID", "ImageUniqueID")


def leftovers(paths):
    """{path: [tags exiftool still reads]} for the files that keep any of
    JUDGE_TAGS, plus those that still hold the per-file placeholder."""
    found = {}
    for p in paths:
        with open(p, "rb") as f:
            if TAG in f.read():
                found.setdefault(p, []).append("placeholder bytes")
    if shutil.which("exiftool") and paths:
        fmt = "$Directory/$FileName\t" + "\t".join(f"${{{t}}}" for t in JUDGE_TAGS)
        r = subprocess.run(["exiftool", "-q", "-q", "-m", "-p", fmt, "-api", "MissingTagValue=\x01", *paths],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        for line in r.stdout.decode(errors="replace").splitlines():
            cols = line.split("\t")
            if len(cols) != len(JUDGE_TAGS) + 1:
                continue
            kept = [t for t, v in zip(JUDGE_TAGS, cols[1:]) if v != "\x01"]
            if kept:
                found.setdefault(cols[0], []).extend(kept)
    return found



if __name__ == "__main__":
    # Quick look: python3 bench/phonetree.py DIR N [BASES]
    root, n = sys.argv[1], int(sys.argv[2])
    per = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    b = make_bases(tempfile.gettempdir(), per)
    fs = write_tree(root, n, b)
    print(f"{len(fs)} files, {sum(f[2] for f in fs) / MB:.0f} MB under {root}")
