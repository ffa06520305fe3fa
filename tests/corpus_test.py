"""The corpus suite: ../shared/tools/audit judges `unmeta strip` over the
real files of ../shared/corpus/<format>. It must report 0 leak, 0 altered
and 0 broken; refusals of files that reference decoders can't read either
('rejected') are right, and refusals of readable files are listed."""
import os
import re
import sys

import harness

FORMAT = sys.argv.pop(1) if len(sys.argv) > 1 else "jpeg"


def test_audit(t):
    corpus = harness.shared_dir("corpus", FORMAT)
    audit = harness.shared_dir("tools", "audit")
    harness.need("exiftool", "ffmpeg", "convert")
    r = harness.run([audit, "--timeout", "120", "--tool",
                     f"{harness.UNMETA} strip -o {{out}} {{in}}", corpus])
    out = r.stdout.decode(errors="replace")
    print(out)
    m = re.search(r"audit: (\d+) clean, (\d+) leak, (\d+) altered, (\d+) broken, (\d+) refused, (\d+) rejected", out)
    assert m, f"audit printed no summary: {r.stderr.decode(errors='replace')[-500:]}"
    clean, leak, altered, broken, refused, rejected = map(int, m.groups())
    assert leak == 0 and altered == 0 and broken == 0, f"audit: {m.group(0)}"
    assert r.returncode == 0, f"audit exited {r.returncode}"


if __name__ == "__main__":
    harness.main(globals())
