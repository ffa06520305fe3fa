"""Test harness for unmeta's suites: run the CLI, judge its output with
tools unmeta did not write (exiftool, ImageMagick, libjpeg-turbo's djpeg,
ffmpeg), and report in a form meson and CI read.

A suite is a Python script with functions named test_*(t) taking a Case;
harness.main(globals()) runs them all and prints one line a test, then
'N passed, N failed, N skipped'. Exit 0 when nothing failed, 77 (meson's
"skipped") when everything was skipped, else 1.

Environment: UNMETA (the built CLI), UNMETA_SHARED (../shared, optional).
UNMETA_REQUIRE_TOOLS=1 (what .ci/run sets) turns every skip for something
missing from the machine -- a tool, a package's file or module, ../shared --
into a failure, so that a missing install step cannot hide behind a skip.
Those skips all go through missing() (need(), need_file(), shared_dir() call
it); plain Skip is left for what a build or a kernel legitimately lacks.
"""
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import traceback

UNMETA = os.environ.get("UNMETA", "unmeta")
SHARED = os.environ.get("UNMETA_SHARED", "")

# exiftool family-0 groups that a stripped file must not contain at all.
DENY_G0 = {"IPTC", "XMP", "Photoshop", "MakerNotes", "MPF", "FlashPix", "APP12", "Ducky",
           "Trailer", "Samsung", "Google", "JUMBF", "C2PA", "PrintIM", "Apple", "Sony",
           "Comment"}
# EXIF tags that only describe rendering (what a stripped file may keep).
EXIF_OK = {"Orientation", "XResolution", "YResolution", "ResolutionUnit", "YCbCrPositioning",
           "ExifVersion", "ColorSpace", "ComponentsConfiguration", "ExifImageWidth",
           "ExifImageHeight", "InteropIndex", "InteropVersion"}


REQUIRE_TOOLS = os.environ.get("UNMETA_REQUIRE_TOOLS", "") == "1"


class Skip(Exception):
    """A test that cannot run here for a reason that is not a missing
    install step (a build option, a kernel feature): skipped everywhere."""


class Missing(Skip):
    """A test that cannot run because the machine lacks something the
    bootstrap installs: skipped, or a failure under UNMETA_REQUIRE_TOOLS=1."""


def missing(what):
    """Skips the current test because what (a tool, a file, a module) is
    missing from the machine; the one path for such skips."""
    raise Missing(what)


def need(*tools):
    """Skips the current test unless every tool is on PATH."""
    for tool in tools:
        if not shutil.which(tool):
            missing(f"{tool} is not installed")


def need_file(path, package):
    """Skips the current test unless path (installed by the Debian package
    named) exists; returns path."""
    if not os.path.exists(path):
        missing(f"{path} is not installed (Debian package {package})")
    return path


def shared_dir(*parts):
    """A path under ../shared, or Skip when ../shared is absent."""
    if not SHARED or not os.path.exists(os.path.join(SHARED, *parts)):
        missing(f"../shared{'/' + '/'.join(parts) if parts else ''} is not beside the project")
    return os.path.join(SHARED, *parts)


# ICC tags unmeta blanks: profile description, copyright, device
# manufacturer and model descriptions (ICC.1:2010 9.2.41, 9.2.21, 9.2.18-19).
ICC_TEXT_TAGS = (b"desc", b"cprt", b"dmnd", b"dmdd")


def icc_blanked(profile):
    """The profile with its ICC_TEXT_TAGS blanked in place as a stripped
    file must hold them: every byte after the type signature zero, type and
    size kept; an 'mluc' keeps its record size (12) and has no record."""
    p = bytearray(profile)
    (count,) = struct.unpack(">I", p[128:132])
    for i in range(count):
        sig, off, size = struct.unpack(">4sII", p[132 + 12 * i:144 + 12 * i])
        if sig in ICC_TEXT_TAGS and size >= 8:
            p[off + 8:off + size] = bytes(size - 8)
            if p[off:off + 4] == b"mluc" and size >= 16:
                p[off + 12:off + 16] = struct.pack(">I", 12)
    return bytes(p)


def run(args, check=False, stdin=None, **kw):
    """Runs a command, capturing output as bytes."""
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, input=stdin, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{args!r} exited {r.returncode}: {r.stderr.decode(errors='replace')[-500:]}")
    return r


def unmeta(*args, **kw):
    return run([UNMETA, *args], **kw)


def exif(path):
    """exiftool's view of a file: {'Group0:Group1:Tag': value}."""
    r = run(["exiftool", "-j", "-a", "-G0:1", "-s", "-n", "-u", path])
    rows = json.loads(r.stdout.decode("utf-8", "replace") or "[{}]")
    return rows[0] if rows else {}


def leaks(path, allow=()):
    """Tags exiftool finds that a stripped file must not hold."""
    bad = []
    for key, value in exif(path).items():
        parts = key.split(":")
        if len(parts) < 2:
            continue
        g0, tag = parts[0], parts[-1]
        if key in allow or tag in allow:
            continue
        if g0 in DENY_G0:
            bad.append(key)
        elif g0 == "EXIF" and tag not in EXIF_OK:
            bad.append(key)
        elif g0 == "File" and tag == "Comment":
            bad.append(key)
        elif g0 == "PNG" and tag not in ("ImageWidth", "ImageHeight", "BitDepth", "ColorType",
                                         "Compression", "Filter", "Interlace", "Gamma",
                                         "WhitePointX", "WhitePointY", "RedX", "RedY", "GreenX",
                                         "GreenY", "BlueX", "BlueY", "SRGBRendering", "Palette",
                                         "Transparency", "BackgroundColor", "PixelsPerUnitX",
                                         "PixelsPerUnitY", "PixelUnits", "SignificantBits",
                                         "ProfileName", "AnimationFrames", "AnimationPlays",
                                         "ColorPrimaries", "TransferCharacteristics",
                                         "MatrixCoefficients", "VideoFullRangeFlag"):
            bad.append(key)
        elif tag in ("GPSLatitude", "GPSLongitude", "GPSPosition", "Make", "Model", "Artist",
                     "Copyright", "SerialNumber", "DateTimeOriginal", "CreateDate", "Software",
                     "ThumbnailImage", "PreviewImage", "Comment", "Author", "Title", "Description"):
            bad.append(key)
    return sorted(bad)


def pixels(path, frames=True):
    """md5 of the auto-oriented pixels as ImageMagick renders them."""
    spec = path + "[0--1]" if frames else path + "[0]"
    r = run(["convert", spec, "-coalesce", "-auto-orient", "-depth", "16", "rgba:-"], check=True)
    return hashlib.md5(r.stdout).hexdigest()


def djpeg(path):
    """md5 of libjpeg-turbo's decode, without any orientation applied."""
    r = run(["djpeg", "-pnm", path], check=True)
    return hashlib.md5(r.stdout).hexdigest()


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


class Case:
    """One test's scratch folder and helpers."""

    def __init__(self, tmp):
        self.tmp = tmp

    def path(self, name):
        return os.path.join(self.tmp, name)

    def strip(self, src, *opts, out=None):
        """Strips src to out (default NAME.out.EXT); asserts success; returns out."""
        if out is None:
            base, ext = os.path.splitext(os.path.basename(src))
            out = self.path(base + ".out" + ext)
        r = unmeta("strip", *opts, "-f", "-o", out, src)
        assert r.returncode == 0, f"strip {src} failed: {r.stderr.decode(errors='replace')}"
        return out

    def refuse(self, src, *opts):
        """Asserts strip refuses src, leaves it untouched and writes nothing."""
        before = read(src)
        out = self.path("refused.out")
        if os.path.exists(out):
            os.unlink(out)
        r = unmeta("strip", *opts, "-o", out, src)
        assert r.returncode == 2, f"{src}: expected refusal, got exit {r.returncode}"
        assert r.stderr.strip(), f"{src}: refused without a message"
        assert not os.path.exists(out), f"{src}: a refused strip left an output"
        assert read(src) == before, f"{src}: the input changed"
        leftovers = [n for n in os.listdir(self.tmp) if "unmeta-tmp" in n]
        assert not leftovers, f"temporary files left: {leftovers}"
        return r.stderr.decode(errors="replace")

    def assert_clean(self, out, allow=()):
        bad = leaks(out, allow)
        assert not bad, f"{out}: exiftool still finds {bad}"
        r = unmeta("check", "-q", out)
        assert r.returncode == 0, f"{out}: unmeta check says it is not clean (exit {r.returncode})"

    def assert_idempotent(self, out, *opts):
        again = self.strip(out, *opts, out=self.path("again" + os.path.splitext(out)[1]))
        assert read(again) == read(out), f"{out}: strip(strip(x)) != strip(x)"

    def assert_absent(self, out, *needles):
        data = read(out)
        for n in needles:
            b = n.encode() if isinstance(n, str) else n
            assert b not in data, f"{out}: still contains {n!r}"


def main(tests):
    names = sorted(n for n in tests if n.startswith("test_") and callable(tests[n]))
    only = sys.argv[1:]
    passed = failed = skipped = 0
    for name in names:
        if only and name not in only:
            continue
        tmp = tempfile.mkdtemp(prefix="unmeta-test-")
        try:
            tests[name](Case(tmp))
            print(f"ok {name}")
            passed += 1
        except Missing as e:
            if REQUIRE_TOOLS:
                print(f"FAIL {name}: {e} (UNMETA_REQUIRE_TOOLS=1: a missing tool is a failure)")
                failed += 1
            else:
                print(f"skip {name}: {e}")
                skipped += 1
        except Skip as e:
            print(f"skip {name}: {e}")
            skipped += 1
        except Exception:
            print(f"FAIL {name}")
            traceback.print_exc(file=sys.stdout)
            failed += 1
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        sys.stdout.flush()
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    if failed:
        sys.exit(1)
    if passed == 0 and skipped:
        sys.exit(77)
