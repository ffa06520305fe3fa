"""The Python wheel (pyproject.toml, meson-python), built and used the way
the README tells a user to: /usr/bin/python3 -m build --no-isolation --wheel
from the source tree, offline, with Debian's tools; then installed with
pip --no-index into a fresh venv and used from there, with nothing pointing
at the build directory (no UNMETA_LIBRARY, LD_LIBRARY_PATH or PYTHONPATH).

Checks: the wheel holds the library (named by its SONAME), the package and
py.typed, and nothing else (no command, headers, man page); its version is
meson's project version, as is the installed library's, which exports the
same symbols as the one meson install gives; the library loaded
is the one inside the venv's package; the binding's own pytest suite passes
against the installed package; examples/sample.jpg comes out clean by
exiftool's judgement with its pixels unchanged; mypy --strict sees the
package's type hints through py.typed.

Needs Debian's python3-build, python3-mesonpy, patchelf (meson-python asks
for it), python3-venv, python3-pytest and python3-mypy; /usr/bin/python3 is
used whatever python3 runs this suite, as a fresh Debian has only that one.
"""
import atexit
import glob
import json
import os
import shutil
import subprocess
import tempfile
import zipfile

import harness

ROOT = os.path.abspath(os.environ.get("UNMETA_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..")))
VERSION = os.environ.get("UNMETA_PROJECT_VERSION", "")
PY = "/usr/bin/python3"
SAMPLE = os.path.join(ROOT, "examples", "sample.jpg")
# Strings of examples/sample.jpg's metadata (README, "What inspect and strip do").
CANARIES = ("Pixelphone", "PX-7 Pro", "PX7-004211-88", "Paris")

_state = {}


def clean_env(**extra):
    """The environment for the venv: nothing that would find the library or
    the package anywhere but inside the venv."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("UNMETA_LIBRARY", "UNMETA_BUILT_LIBRARY", "LD_LIBRARY_PATH", "LD_PRELOAD", "PYTHONPATH",
                        "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def need_tools():
    if not os.path.exists(PY):
        harness.missing(f"{PY} is not installed (Debian python3)")
    harness.need("patchelf")
    for module, package in (("build", "python3-build"), ("mesonpy", "python3-mesonpy"),
                            ("venv", "python3-venv"), ("ensurepip", "python3-venv"),
                            ("pytest", "python3-pytest"), ("mypy", "python3-mypy")):
        r = harness.run([PY, "-c", f"import {module}"], env=clean_env())
        if r.returncode != 0:
            harness.missing(f"{PY} lacks the module {module} (Debian {package})")
    if not VERSION:
        raise harness.Skip("UNMETA_PROJECT_VERSION is not set (meson test sets it)")


def installed():
    """Builds the wheel and installs it into a fresh venv, once for the whole
    suite: returns (wheel path, venv python)."""
    need_tools()
    if "error" in _state:
        raise AssertionError(f"the wheel was not built or installed: {_state['error']}")
    if "python" in _state:
        return _state["wheel"], _state["python"]
    work = tempfile.mkdtemp(prefix="unmeta-wheel-")
    atexit.register(shutil.rmtree, work, True)
    try:
        dist = os.path.join(work, "dist")
        r = harness.run([PY, "-m", "build", "--no-isolation", "--wheel", "--outdir", dist, ROOT],
                        cwd=work, env=clean_env())
        assert r.returncode == 0, (f"python3 -m build exited {r.returncode}:\n"
                                   f"{r.stdout.decode(errors='replace')[-3000:]}"
                                   f"{r.stderr.decode(errors='replace')[-3000:]}")
        wheels = glob.glob(os.path.join(dist, "*.whl"))
        assert len(wheels) == 1, f"expected one wheel in {dist}, found {os.listdir(dist)}"
        venv = os.path.join(work, "venv")
        # System site packages for pytest, mypy's judges and python3-cryptography
        # (the envelope tests); the venv's own site-packages come first.
        harness.run([PY, "-m", "venv", "--system-site-packages", venv], check=True, env=clean_env())
        python = os.path.join(venv, "bin", "python")
        harness.run([python, "-m", "pip", "install", "--no-index", "--no-cache-dir", "-q", wheels[0]],
                    check=True, env=clean_env(), cwd=work)
    except BaseException as e:
        _state["error"] = str(e)[:2000]
        raise
    _state.update(wheel=wheels[0], python=python, venv=venv, work=work)
    return wheels[0], python


def venv_python(code, *args, cwd=None):
    """Runs code with the venv's python, from a folder outside the source
    tree; returns its stdout as text."""
    _, python = installed()
    r = harness.run([python, "-c", code, *args], env=clean_env(), cwd=cwd or _state["work"])
    assert r.returncode == 0, f"venv python failed:\n{r.stdout.decode(errors='replace')}{r.stderr.decode(errors='replace')}"
    return r.stdout.decode()


def test_wheel_holds_the_library_and_the_package_only(t):
    wheel, _ = installed()
    name = os.path.basename(wheel)
    assert name.startswith(f"unmeta-{VERSION}-"), f"{name}: not meson's project version {VERSION}"
    with zipfile.ZipFile(wheel) as z:
        names = sorted(n for n in z.namelist() if not n.startswith(f"unmeta-{VERSION}.dist-info/"))
        metadata = z.read(f"unmeta-{VERSION}.dist-info/METADATA").decode()
        z.extract("unmeta/libunmeta.so.1", t.tmp)
    assert names == ["unmeta/__init__.py", "unmeta/_lib.py", "unmeta/libunmeta.so.1", "unmeta/py.typed"], names
    assert f"\nVersion: {VERSION}\n" in metadata, metadata[:300]
    for f in ("__init__.py", "_lib.py"):
        with zipfile.ZipFile(wheel) as z:
            assert z.read(f"unmeta/{f}") == harness.read(os.path.join(ROOT, "bindings", "python", "unmeta", f)), f
    harness.need("readelf")
    dyn = harness.run(["readelf", "-d", t.path("unmeta/libunmeta.so.1")], check=True).stdout.decode()
    assert "Library soname: [libunmeta.so.1]" in dyn, dyn
    # meson strips its build-tree RPATH on install; one left would load
    # libraries from the machine that built the wheel.
    assert "RPATH" not in dyn and "RUNPATH" not in dyn, dyn
    # The same exported symbols, in the same version node, as the library
    # meson install gives (docs/abi.md, "Where libunmeta.so.1 ships").
    built = os.environ.get("UNMETA_BUILT_LIBRARY")
    if built:
        harness.need("nm")
        assert exported(t.path("unmeta/libunmeta.so.1")) == exported(built), "the wheel's library exports other symbols"


def exported(lib):
    out = harness.run(["nm", "-D", "--defined-only", lib], check=True).stdout.decode()
    # Only the library's own (a sanitizer or coverage build may add others).
    names = {f[-1] for f in map(str.split, out.splitlines()) if f and f[-1].startswith(("unmeta_", "UNMETA_"))}
    assert any(n.startswith("unmeta_strip@") for n in names), f"{lib}: no unmeta_strip in {sorted(names)[:5]}"
    return names


def test_installed_package_loads_its_own_library(t):
    _, python = installed()
    out = json.loads(venv_python(
        "import importlib.metadata, json, unmeta\n"
        "libs = sorted({l.split()[-1] for l in open('/proc/self/maps') if 'libunmeta' in l})\n"
        "print(json.dumps({'file': unmeta.__file__, 'libs': libs,\n"
        "  'dist': importlib.metadata.version('unmeta'), 'lib': unmeta.library_version(),\n"
        "  'formats': unmeta.formats()}))\n"))
    pkg = os.path.dirname(out["file"])
    venv = os.path.realpath(_state["venv"])
    assert os.path.realpath(pkg).startswith(venv + os.sep), f"unmeta imported from {pkg}, not the venv"
    assert [os.path.realpath(p) for p in out["libs"]] == [os.path.realpath(os.path.join(pkg, "libunmeta.so.1"))], \
        f"libunmeta loaded from {out['libs']}"
    assert out["dist"] == VERSION, f"installed distribution {out['dist']}, meson's project version {VERSION}"
    assert out["lib"] == VERSION, f"unmeta.library_version() {out['lib']}, meson's project version {VERSION}"
    assert "jpeg" in out["formats"], out["formats"]


def test_binding_suite_passes_against_the_wheel(t):
    _, python = installed()
    # The suite and the example it drives, without the package beside them:
    # `import unmeta` can only find the venv's.
    shutil.copytree(os.path.join(ROOT, "bindings", "python", "tests"), t.path("binding/tests"))
    shutil.copytree(os.path.join(ROOT, "bindings", "python", "examples"), t.path("binding/examples"))
    env = clean_env(UNMETA_SOURCE_ROOT=ROOT)
    if harness.REQUIRE_TOOLS:
        env["UNMETA_REQUIRE_TOOLS"] = "1"
    r = harness.run([python, t.path("binding/tests/run_pytest.py")], env=env, cwd=t.tmp)
    out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    assert r.returncode == 0, f"the binding's suite failed against the wheel (exit {r.returncode}):\n{out[-4000:]}"
    assert " passed" in out and " failed" not in out, out[-2000:]
    if harness.REQUIRE_TOOLS:
        assert " skipped" not in out, f"tests skipped under UNMETA_REQUIRE_TOOLS=1:\n{out[-2000:]}"


def test_sample_cleaned_in_python(t):
    harness.need("exiftool", "djpeg")
    out = t.path("sample.clean.jpg")
    venv_python(
        "import pathlib, sys, unmeta\n"
        "src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])\n"
        "assert unmeta.check(src), 'the sample is not reported dirty'\n"
        "report = unmeta.inspect(src.read_bytes())\n"
        "assert report['format'] == 'jpeg' and report['dirty'], report\n"
        "dst.write_bytes(unmeta.strip(src.read_bytes()))\n"
        "assert not unmeta.check(dst)\n",
        SAMPLE, out)
    bad = harness.leaks(out)
    assert not bad, f"exiftool still finds {bad}"
    t.assert_absent(out, *CANARIES)
    assert harness.djpeg(out) == harness.djpeg(SAMPLE), "pixels changed"


USE_OK = '''\
import io
from typing import Any, Dict, List

import unmeta

data: bytes = open("in.jpg", "rb").read()
clean: bytes = unmeta.strip(data, icc="strip")
nothing: None = unmeta.strip(data, io.BytesIO())
dirty: bool = unmeta.check(clean)
report: Dict[str, Any] = unmeta.inspect(clean)
names: List[str] = unmeta.formats()
try:
    unmeta.strip(b"")
except unmeta.UnsupportedError as e:
    code: int = e.code
'''

USE_BAD = '''\
import unmeta

version: int = unmeta.library_version()
unmeta.strip(b"", keep_motion="yes")
'''


def test_type_hints_visible_to_mypy(t):
    _, python = installed()
    harness.write(t.path("use_ok.py"), USE_OK.encode())
    harness.write(t.path("use_bad.py"), USE_BAD.encode())
    mypy = [PY, "-m", "mypy", "--no-incremental", "--strict", "--python-executable", python]
    r = harness.run([*mypy, "use_ok.py"], cwd=t.tmp, env=clean_env())
    out = r.stdout.decode(errors="replace")
    # Without py.typed in the installed package, --strict fails here with
    # "module is installed, but missing library stubs or py.typed marker".
    assert r.returncode == 0, f"mypy --strict on correct use of the installed package:\n{out}"
    r = harness.run([*mypy, "use_bad.py"], cwd=t.tmp, env=clean_env())
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 1, f"mypy accepted wrong types (exit {r.returncode}):\n{out}"
    assert 'use_bad.py:3: error: Incompatible types in assignment (expression has type "str", variable has type "int")' \
        in out, out
    assert 'use_bad.py:4: error: No overload variant of "strip" matches argument types "bytes", "str"' in out, out


if __name__ == "__main__":
    harness.main(globals())
