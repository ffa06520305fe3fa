"""The harness itself: a test that needs what the machine lacks (a tool, a
package's file, ../shared) is skipped, or, under UNMETA_REQUIRE_TOOLS=1 (what
.ci/run sets), fails naming it; a plain Skip (a build without a feature)
stays a skip either way. The same rule in the fuzz replay's --skip-missing.
"""
import os
import sys

import harness

SUITE = """
import harness

def test_missing_tool(t):
    harness.need("unmeta-no-such-tool")

def test_missing_file(t):
    harness.need_file("/nonexistent/unmeta.icc", "no-such-package")

def test_missing_shared(t):
    harness.shared_dir("no-such-folder")

def test_build_lacks_feature(t):
    raise harness.Skip("this build has no such feature")

if __name__ == "__main__":
    harness.main(globals())
"""


def run_suite(t, require, only=()):
    path = t.path("suite_test.py")
    harness.write(path, SUITE.encode())
    env = dict(os.environ)
    env.pop("UNMETA_REQUIRE_TOOLS", None)
    if require:
        env["UNMETA_REQUIRE_TOOLS"] = "1"
    env["UNMETA_SHARED"] = t.path("no-shared")
    env["PYTHONPATH"] = os.path.dirname(harness.__file__)
    r = harness.run([sys.executable, path, *only], env=env)
    return r.returncode, r.stdout.decode(errors="replace")


def test_missing_things_skip_by_default(t):
    rc, out = run_suite(t, False)
    assert rc == 77, f"exit {rc}:\n{out}"
    assert "0 passed, 0 failed, 4 skipped" in out, out


def test_missing_things_fail_under_require_tools(t):
    rc, out = run_suite(t, True)
    assert rc == 1, f"exit {rc}:\n{out}"
    assert "0 passed, 3 failed, 1 skipped" in out, out
    for name, what in (("test_missing_tool", "unmeta-no-such-tool is not installed"),
                       ("test_missing_file", "no-such-package"),
                       ("test_missing_shared", "../shared/no-such-folder is not beside the project")):
        line = next((x for x in out.splitlines() if x.startswith(f"FAIL {name}")), "")
        assert what in line and "UNMETA_REQUIRE_TOOLS=1" in line, f"{name}: {line!r}\n{out}"
    assert "skip test_build_lacks_feature: this build has no such feature" in out, out


def test_fuzz_replay_skip_missing(t):
    replay = os.path.join(os.path.dirname(harness.UNMETA), "fuzz", "fuzz_replay")
    if not os.path.exists(replay):
        raise harness.Skip("fuzz_replay is not built here")
    env = dict(os.environ)
    env.pop("UNMETA_REQUIRE_TOOLS", None)
    absent = t.path("absent")
    r = harness.run([replay, "--skip-missing", absent], env=env)
    assert r.returncode == 77, r.stdout
    env["UNMETA_REQUIRE_TOOLS"] = "1"
    r = harness.run([replay, "--skip-missing", absent], env=env)
    assert r.returncode == 1 and b"UNMETA_REQUIRE_TOOLS=1" in r.stdout, r.stdout


if __name__ == "__main__":
    harness.main(globals())
