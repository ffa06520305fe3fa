"""Runs this directory's pytest suite for meson test: exit 77 (skipped)
when pytest is not installed (1 under UNMETA_REQUIRE_TOOLS=1, as CI sets:
see tests/lib/harness.py), and "no tests collected" (pytest's 5) is a
failure, not a pass."""
import os
import sys

try:
    import pytest
except ImportError:
    if os.environ.get("UNMETA_REQUIRE_TOOLS", "") == "1":
        print("pytest is not installed (Debian: python3-pytest); UNMETA_REQUIRE_TOOLS=1: a failure")
        sys.exit(1)
    print("pytest is not installed (Debian: python3-pytest); skipped")
    sys.exit(77)

lib = os.environ.get("UNMETA_LIBRARY")
if lib:
    import ctypes
    import re
    try:
        ctypes.CDLL(lib)
    except OSError as e:
        if re.search(r"undefined symbol: __(asan|ubsan|tsan|msan)_", str(e)):
            print("a sanitizer build of libunmeta cannot be loaded into python; skipped")
            sys.exit(77)
        raise

here = os.path.dirname(os.path.abspath(__file__))
rc = int(pytest.main(["-q", "-p", "no:cacheprovider", "-W", "error::pytest.PytestUnraisableExceptionWarning",
                      here] + sys.argv[1:]))
if rc == 5:
    print("no tests were collected: counted as a failure")
    rc = 1
sys.exit(rc)
