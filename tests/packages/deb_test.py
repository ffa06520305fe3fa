"""The Debian packages (debian/), built and installed where nothing of the
build tree is: a minimal Debian 12 root made by debootstrap, entered with
chroot in a private mount namespace (unshare), whose apt resolves the
packages' dependencies from the machine's Debian mirror.

Checks, in order: dpkg-buildpackage builds the four packages from a copy of
the source tree; lintian has no error or warning on them; in the root,
before any unmeta package: the Python wheel (built here as the README says)
installed by pip into a fresh venv cleans the sample, with only the
libraries the README lists installed by apt; python3-unmeta with libunmeta1
alone (no -dev package, so no libunmeta.so link) cleans it; the command
cleans it, and without libcurl4 (only recommended) refuses a URL share
store with a message naming that package; a C program built with `gcc $(pkg-config --cflags --libs unmeta)`
calls the installed library and cleans it; the Node package (`npm pack` of
bindings/node) installed by Debian's npm into an empty project, its addon
built by Debian's node-gyp against Debian's Node (18) and the installed
libunmeta-dev, cleans it with `await strip(buffer)`. The outputs are judged
on this machine by exiftool.

Needs root, debootstrap, dpkg-buildpackage, lintian and network access to
the mirror. UNMETA_DEBS=DIR reuses packages built elsewhere instead of
building them. The debootstrapped root is kept as a tarball under
UNMETA_DEB_CACHE (default /var/cache/unmeta) and unpacked fresh for every
run; delete it to start from a new debootstrap.
"""
import glob
import os
import platform
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from harness import Skip, need, run  # noqa: E402

SRC = os.environ.get("UNMETA_SOURCE_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
VERSION = os.environ.get("UNMETA_VERSION", "")
CACHE = os.environ.get("UNMETA_DEB_CACHE", "/var/cache/unmeta")
SUITE = "bookworm"
PACKAGES = ("libunmeta1", "libunmeta-dev", "unmeta", "python3-unmeta")

C_PROGRAM = r"""
#include <stdio.h>
#include <string.h>
#include <unmeta.h>

int main(int argc, char **argv)
{
    unmeta_ctx *ctx = NULL;
    int32_t rc;
    if (argc != 3)
        return 2;
    printf("%s\n", unmeta_version_string());
    rc = unmeta_ctx_new(&ctx);
    if (rc == 0)
        rc = unmeta_strip_path(ctx, argv[1], argv[2]);
    if (rc != 0)
        fprintf(stderr, "unmeta_strip_path: %s: %s\n", unmeta_strerror(rc), ctx ? unmeta_ctx_last_error(ctx) : "");
    unmeta_ctx_free(ctx);
    return rc == 0 ? 0 : 1;
}
"""

PY_PROGRAM = r"""
import os, unmeta
assert not os.path.exists("/usr/lib/%s/libunmeta.so"), "libunmeta-dev is installed: the test would not show the binding loads without it"
print(unmeta.library_version())
assert unmeta.check("/tmp/work/sample.jpg"), "the sample should be dirty"
unmeta.strip("/tmp/work/sample.jpg", "/tmp/work/py.clean.jpg")
assert not unmeta.check("/tmp/work/py.clean.jpg"), "the binding's output is not clean"
"""


WHEEL_PROGRAM = r"""
import glob, unmeta
assert not glob.glob("/usr/lib/*/libunmeta.so*"), "a system libunmeta is installed: the wheel would not be shown to carry its own"
assert unmeta.__file__.startswith("/tmp/venv/"), unmeta.__file__
assert unmeta.check("/tmp/work/sample.jpg"), "the sample should be dirty"
unmeta.strip("/tmp/work/sample.jpg", "/tmp/work/wheel.clean.jpg")
print(unmeta.library_version())
"""

NODE_PROGRAM = r"""
const fs = require('node:fs');
const { strip, check } = require('unmeta');
(async () => {
  const input = fs.readFileSync('/tmp/work/sample.jpg');
  if (!(await check(input))) throw new Error('the sample should be dirty');
  const out = await strip(input);
  fs.writeFileSync('/tmp/work/node.clean.jpg', out);
  console.log(process.version);
})().catch((e) => { console.error(e); process.exit(1); });
"""

# What the README says the wheel needs from the system (the libraries
# libunmeta links), and python3-venv for the venv itself.
WHEEL_RUNTIME = "python3-venv libturbojpeg0 libexif12 zlib1g libsodium23 libssl3 libbrotli1 libavformat59"


def build_wheel(t):
    """The wheel, built from the source tree as the README says."""
    need("patchelf")
    out = t.path("wheel")
    start = time.monotonic()
    sh(["/usr/bin/python3", "-m", "build", "--no-isolation", "--wheel", "--outdir", out, SRC],
       "python3 -m build --no-isolation --wheel", t.path("wheel.log"), cwd=t.path(""))
    print(f"  wheel: {time.monotonic() - start:.0f} s")
    wheels = glob.glob(os.path.join(out, "*.whl"))
    assert len(wheels) == 1, f"expected one wheel, found {wheels}"
    return wheels[0]


def pack_node(t):
    """bindings/node as npm packs it (what `npm install unmeta` would fetch)."""
    need("npm")
    out = t.path("npm")
    os.makedirs(out)
    sh(["npm", "pack", "--silent", "--pack-destination", out, os.path.join(SRC, "bindings", "node")],
       "npm pack bindings/node", t.path("pack.log"))
    tgz = glob.glob(os.path.join(out, "unmeta-*.tgz"))
    assert len(tgz) == 1, f"expected one packed tarball, found {tgz}"
    return tgz[0]


def mirror():
    """The machine's Debian mirror for SUITE (deb822 .sources or
    sources.list), else deb.debian.org."""
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        with open(path) as f:
            for stanza in f.read().split("\n\n"):
                fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.M))
                if SUITE in fields.get("Suites", "").split() and "deb" in fields.get("Types", "").split():
                    return fields["URIs"].split()[0]
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    m = re.match(r"\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+" + SUITE + r"\s", line)
                    if m:
                        return m.group(1)
    return "http://deb.debian.org/debian"


def sh(args, what, log, **kw):
    """Runs args with output to log; fails with what and the log's tail."""
    with open(log, "wb") as f:
        r = subprocess.run(args, stdout=f, stderr=subprocess.STDOUT, **kw)
    if r.returncode != 0:
        with open(log, "rb") as f:
            tail = f.read()[-3000:].decode(errors="replace")
        raise AssertionError(f"{what} failed (exit {r.returncode}); end of {log}:\n{tail}")


def build_debs(t):
    """The packages of debian/control, from UNMETA_DEBS or built by
    dpkg-buildpackage from a copy of the source tree (what git tracks or
    would track: no build directory, no earlier packages)."""
    given = os.environ.get("UNMETA_DEBS")
    if given:
        return given
    need("dpkg-buildpackage", "git")
    out = t.path("debs")
    src = os.path.join(out, "unmeta")
    os.makedirs(src)
    files = run(["git", "-C", SRC, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                check=True).stdout.decode().split("\0")
    for name in files:
        p = os.path.join(SRC, name)
        if name and os.path.lexists(p) and not os.path.isdir(p):
            os.makedirs(os.path.dirname(os.path.join(src, name)), exist_ok=True)
            shutil.copy2(p, os.path.join(src, name), follow_symlinks=False)
    env = dict(os.environ, DEB_BUILD_OPTIONS=f"nocheck parallel={os.cpu_count() or 1}")
    start = time.monotonic()
    sh(["dpkg-buildpackage", "-us", "-uc", "-b"], "dpkg-buildpackage -us -uc -b", t.path("build.log"),
       cwd=src, env=env)
    print(f"  dpkg-buildpackage: {time.monotonic() - start:.0f} s")
    return out


def debs_of(d):
    found = {}
    for p in PACKAGES:
        hits = glob.glob(os.path.join(d, f"{p}_*.deb"))
        assert len(hits) == 1, f"{d}: expected one {p}_*.deb, found {hits}"
        found[p] = hits[0]
    return found


def clean_root(t):
    """A fresh minbase SUITE root: the cached tarball of an earlier
    debootstrap unpacked, or a new debootstrap (then cached)."""
    arch = run(["dpkg", "--print-architecture"], check=True).stdout.decode().strip()
    tarball = os.path.join(CACHE, f"{SUITE}-minbase-{arch}.tar.gz")
    root = t.path("root")
    if not os.path.exists(tarball):
        need("debootstrap")
        url = mirror()
        start = time.monotonic()
        fresh = t.path("bootstrap")
        sh(["debootstrap", "--variant=minbase", f"--arch={arch}", SUITE, fresh, url],
           f"debootstrap from {url} (it needs network access to that Debian mirror)", t.path("debootstrap.log"))
        os.makedirs(CACHE, exist_ok=True)
        part = tarball + ".part"
        sh(["tar", "-C", fresh, "-czf", part, "."], "caching the root", t.path("tar.log"))
        os.rename(part, tarball)
        shutil.rmtree(fresh)
        print(f"  debootstrap from {url}: {time.monotonic() - start:.0f} s, cached as {tarball}")
    os.makedirs(root)
    sh(["tar", "-C", root, "-xzf", tarball], f"unpacking {tarball}", t.path("untar.log"))
    shutil.copy("/etc/resolv.conf", os.path.join(root, "etc", "resolv.conf"))
    return root


def chroot(root, script, what, log):
    """Runs a shell script in root with /proc mounted, in a mount namespace
    of its own: the mount ends with the process, nothing to undo."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C.UTF-8",
           "HOME": "/root"}
    sh(["unshare", "--mount", "--propagation", "private", "--", "chroot", root, "/bin/sh", "-ec",
        "mount -t proc proc /proc\n" + script], what, log, env=env)


def test_debs_install_and_work_in_a_clean_root(t):
    if os.geteuid() != 0:
        raise Skip("needs root (chroot, mount, apt-get in the root)")
    need("debootstrap", "lintian", "exiftool", "unshare", "chroot", "tar")
    debs = debs_of(build_debs(t))
    wheel = build_wheel(t)
    tgz = pack_node(t)

    # lintian: no error, no warning; the overrides in debian/*.lintian-overrides
    # say why each one is there.
    r = run(["lintian", "--fail-on", "error,warning", "--info", *debs.values()])
    out = (r.stdout + r.stderr).decode(errors="replace")
    assert r.returncode == 0, f"lintian (exit {r.returncode}):\n{out}"
    # libcurl is loaded with dlopen, so only debian/control can name it
    fields = run(["dpkg-deb", "-f", debs["unmeta"], "Depends", "Recommends"], check=True).stdout.decode()
    assert re.search(r"^Recommends:.*\blibcurl4\b", fields, re.M), fields
    assert not re.search(r"^Depends:.*\blibcurl", fields, re.M), fields

    start = time.monotonic()
    root = clean_root(t)
    work = os.path.join(root, "tmp", "work")
    os.makedirs(work)
    for p in debs.values():
        shutil.copy(p, work)
    shutil.copy(os.path.join(SRC, "examples", "sample.jpg"), work)
    harness.write(os.path.join(work, "t.c"), C_PROGRAM.encode())
    arch_triplet = f"{platform.machine()}-linux-gnu"
    harness.write(os.path.join(work, "t.py"), (PY_PROGRAM % arch_triplet).encode())
    harness.write(os.path.join(work, "wheel.py"), WHEEL_PROGRAM.encode())
    harness.write(os.path.join(work, "node.js"), NODE_PROGRAM.encode())
    for p in (wheel, tgz):
        shutil.copy(p, work)
    names = {p: os.path.basename(d) for p, d in debs.items()}

    # The wheel in a venv, before any unmeta package is installed: what a
    # pip user does, with the system libraries the README lists.
    chroot(root, f"""cd /tmp/work
apt-get update -q
apt-get install -y -q --no-install-recommends {WHEEL_RUNTIME}
python3 -m venv /tmp/venv
/tmp/venv/bin/pip install -q --no-index --no-cache-dir ./{os.path.basename(wheel)}
cd / && /tmp/venv/bin/python /tmp/work/wheel.py
""", "pip install of the wheel into a venv, then the binding", t.path("wheel-install.log"))

    # The binding with the library alone: how a Python user installs it.
    chroot(root, f"""cd /tmp/work
apt-get install -y -q --no-install-recommends ./{names['libunmeta1']} ./{names['python3-unmeta']}
python3 t.py
""", f"apt-get install of libunmeta1 and python3-unmeta from {mirror()} (network), then the binding",
         t.path("python.log"))

    # The command and the development files: unmeta strip, and a C program
    # built against the installed header, pkg-config file and library.
    chroot(root, f"""cd /tmp/work
apt-get install -y -q --no-install-recommends ./{names['unmeta']} ./{names['libunmeta-dev']} gcc libc6-dev pkg-config
unmeta strip -o cli.clean.jpg sample.jpg
unmeta check cli.clean.jpg
# libcurl4 is only recommended, so not installed here: a URL share store is
# refused, exit status 2, with a message naming the package; nothing written
if ldconfig -p | grep -q 'libcurl[.]so[.]4 '; then echo 'libcurl4 is installed'; exit 1; fi
unmeta keygen -o id.key 2>/dev/null
st=0; unmeta seal -r "$(unmeta keygen -y id.key)" --expires 1d --share-store http://127.0.0.1:9 -o s.age sample.jpg \
  2> share.err || st=$?
cat share.err
test "$st" = 2
grep -q 'libcurl4' share.err
test ! -e s.age
gcc -o t t.c $(pkg-config --cflags --libs unmeta)
./t sample.jpg c.clean.jpg > c.version
""", "apt-get install of unmeta and libunmeta-dev, then the command and a C program", t.path("dev.log"))

    # The Node package: Debian's Node, npm and node-gyp build the addon
    # against the installed libunmeta-dev, offline, in an empty project.
    chroot(root, f"""cd /tmp/work
apt-get install -y -q --no-install-recommends nodejs npm node-gyp libnode-dev make g++ python3
mkdir app && cd app
npm init -y >/dev/null
npm install --offline --no-audit --no-fund ../{os.path.basename(tgz)}
cp ../node.js index.js
node index.js > ../node.version
""", "npm install of the packed Node package with Debian's Node, then the binding", t.path("node.log"))
    print(f"  clean root, installs and checks: {time.monotonic() - start:.0f} s")

    version = harness.read(os.path.join(work, "c.version")).decode().strip()
    if VERSION:
        assert version == VERSION, f"the installed library says version {version!r}, meson.build {VERSION!r}"
    sample = os.path.join(SRC, "examples", "sample.jpg")
    assert "GPSLatitude" in str(harness.exif(sample)), "the sample has no GPS to remove"
    node_version = harness.read(os.path.join(work, "node.version")).decode().strip()
    print(f"  Node in the root: {node_version}")
    for name in ("wheel.clean.jpg", "py.clean.jpg", "cli.clean.jpg", "c.clean.jpg", "node.clean.jpg"):
        out = os.path.join(work, name)
        bad = harness.leaks(out)
        assert not bad, f"{name}: exiftool still finds {bad}"
        assert not [k for k in harness.exif(out) if "GPS" in k], f"{name}: GPS left"
        assert harness.djpeg(out) == harness.djpeg(sample), f"{name}: pixels changed"


if __name__ == "__main__":
    harness.main(globals())
