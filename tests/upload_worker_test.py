"""Upload worker suite: examples/upload-worker against a real Redis.

Starts redis-server on a unix socket in the Case's folder, queues a few
hundred generated uploads (photos with GPS/device/XMP canaries, damaged
files, a text file), runs two workers (plus one killed mid-way, whose jobs
the reaper must re-queue) and checks that no job is lost, every damaged
file is refused with a reason, and every output is clean by exiftool's
judgement with no canary left. A sample goes through ../shared/tools/audit
with the queue as the tool under test (enqueue.py --wait).

Needs redis-server and redis-py (Debian redis-server, python3-redis);
skips without them. The workers load the library from UNMETA_LIBRARY.
"""
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time

import harness

ROOT = os.environ.get("UNMETA_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), ".."))
EXAMPLE = os.path.join(ROOT, "examples", "upload-worker")
BINDING = os.path.join(ROOT, "bindings", "python")
CANARIES = ("CANARY-MAKE", "CANARY-ARTIST", "CANARY-XMP-CREATOR", "CANARY-PNG-TEXT")

try:
    import redis
except ImportError:
    # Debian's python3-redis serves /usr/bin/python3, which may not be the
    # first python3 on PATH: run the suite with it when it has redis-py.
    if (sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3")
            and subprocess.run(["/usr/bin/python3", "-c", "import redis"],
                               stderr=subprocess.DEVNULL).returncode == 0):
        os.execv("/usr/bin/python3", ["/usr/bin/python3", *sys.argv])
    redis = None


def need_redis():
    harness.need("redis-server")
    if redis is None:
        harness.missing("redis-py is not installed (Debian python3-redis)")
    if not os.environ.get("UNMETA_LIBRARY"):
        raise harness.Skip("UNMETA_LIBRARY is not set (meson test sets it)")
    # The workers load libunmeta into python: a sanitizer build cannot be
    # loaded there (the runtime is not in the interpreter), as for the
    # python binding's own suite.
    import ctypes
    try:
        ctypes.CDLL(os.environ["UNMETA_LIBRARY"])
    except OSError as e:
        if re.search(r"undefined symbol: __(asan|ubsan|tsan|msan)_", str(e)):
            raise harness.Skip("a sanitizer build of libunmeta cannot be loaded into python")
        raise


class Server:
    """redis-server on a unix socket in folder, no persistence."""

    def __init__(self, folder):
        self.sock = os.path.join(folder, "r.sock")
        self.url = "unix://" + self.sock
        self.log = open(os.path.join(folder, "redis.log"), "wb")
        self.proc = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", self.sock,
                                      "--save", "", "--appendonly", "no"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.r = redis.Redis(unix_socket_path=self.sock)
        end = time.monotonic() + 10
        while True:
            try:
                self.r.ping()
                return
            except redis.exceptions.ConnectionError:
                if time.monotonic() > end or self.proc.poll() is not None:
                    self.stop()
                    raise AssertionError("redis-server did not start")
                time.sleep(0.05)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def env(url):
    e = dict(os.environ)
    e["REDIS_URL"] = url
    e["PYTHONPATH"] = BINDING
    return e


def worker(t, url, name, *extra):
    log = open(t.path(f"worker-{name}.log"), "wb")
    return subprocess.Popen([sys.executable, os.path.join(EXAMPLE, "worker.py"), "--name", name, *extra],
                            env=env(url), stdout=log, stderr=subprocess.STDOUT)


def fixtures(t):
    """{name: bytes} of good uploads, each holding canaries, and of damaged ones."""
    harness.need("convert", "exiftool")
    good = {}
    for ext in ("jpg", "png", "webp"):
        p = t.path("src." + ext)
        harness.run(["convert", "-size", "24x16", "gradient:red-blue", p], check=True)
        tags = ["-Make=CANARY-MAKE", "-Artist=CANARY-ARTIST", "-GPSLatitude=48.8584",
                "-GPSLatitudeRef=N", "-GPSLongitude=2.2945", "-GPSLongitudeRef=E",
                "-XMP-dc:Creator=CANARY-XMP-CREATOR"]
        if ext == "png":
            tags.append("-PNG:Comment=CANARY-PNG-TEXT")
        harness.run(["exiftool", "-q", "-overwrite_original", *tags, p], check=True)
        good[ext] = harness.read(p)
        assert b"CANARY-ARTIST" in good[ext], f"{ext}: the fixture lacks its canary"
    clean_png = t.path("plain.png")
    harness.run(["convert", "-size", "8x8", "xc:green", "-strip", clean_png], check=True)
    good["plain.png"] = harness.read(clean_png)

    jpg, png = good["jpg"], good["png"]
    bad_crc = bytearray(png)
    bad_crc[29] ^= 0xFF  # inside IHDR's CRC
    broken = {
        "empty.jpg": b"",
        "soi-only.jpg": jpg[:2],
        "truncated.jpg": jpg[:len(jpg) // 2],
        "truncated.png": png[:40],
        "bad-crc.png": bytes(bad_crc),
        "truncated.webp": good["webp"][:30],
        "riff-lies.webp": good["webp"][:4] + b"\xff\xff\xff\x7f" + good["webp"][8:],
        "random.jpg": hashlib.sha256(b"unmeta").digest() * 8,
        "png-sig-only.png": png[:8],
        "jpeg-bad-marker.jpg": b"\xff\xd8\xff\x01\x00\x10" + b"\x00" * 16,
        "notes.txt": b"Dear diary, not a photo.\n",
    }
    return good, broken


def test_two_workers_share_the_queue(t):
    need_redis()
    sys.path.insert(0, EXAMPLE)
    import enqueue  # noqa: E402 - the example's own client

    good, broken = fixtures(t)
    srv = Server(t.tmp)
    procs = []
    try:
        r = srv.r
        jobs = {}  # id -> fixture name
        names = sorted(good)
        for i in range(190):
            name = names[i % len(names)]
            jobs[enqueue.enqueue(r, good[name])] = name
        for name, data in broken.items():
            jobs[enqueue.enqueue(r, data)] = name
        total = len(jobs)

        # A worker that dies with jobs in hand: its jobs must come back.
        r.lpush("uploads:processing:lost", *list(jobs)[:3])
        r.lrem("uploads:pending", 1, list(jobs)[0])
        r.lrem("uploads:pending", 1, list(jobs)[1])
        r.lrem("uploads:pending", 1, list(jobs)[2])

        start = time.monotonic()
        procs = [worker(t, srv.url, "w1", "--heartbeat", "3"), worker(t, srv.url, "w2", "--heartbeat", "3")]
        while r.llen("uploads:done") < total:
            assert time.monotonic() - start < 120, \
                f"only {r.llen('uploads:done')} of {total} jobs done after 120 s"
            for p in procs:
                assert p.poll() is None, f"a worker exited early ({p.returncode})"
            time.sleep(0.2)
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            assert p.wait(30) == 0, "a worker did not stop cleanly on SIGTERM"

        done = [j.decode() for j in r.lrange("uploads:done", 0, -1)]
        assert sorted(done) == sorted(jobs), "jobs lost or done twice"
        assert r.llen("uploads:pending") == 0
        assert not list(r.scan_iter("uploads:processing:*")), "a processing list is not empty"

        outputs = {}  # digest -> (fixture name, bytes)
        for job, name in jobs.items():
            report = json.loads(r.get(f"upload:{job}:report"))
            out = r.get(f"upload:{job}:out")
            assert report["id"] == job
            assert r.get(f"upload:{job}:in") is None, f"{name}: the original was kept"
            if name in broken:
                assert report["status"] == "refused", f"{name}: {report}"
                assert report.get("reason"), f"{name}: refused without a reason"
                assert out is None, f"{name}: a refused upload has an output"
                continue
            want = "clean" if name == "plain.png" else "cleaned"
            assert report["status"] == want, f"{name}: {report}"
            if want == "cleaned":
                assert report["removed"]["location"] >= 1 and report["removed"]["people"] >= 1, \
                    f"{name}: {report['removed']}"
            assert out and report["bytes_out"] == len(out)
            for c in CANARIES:
                assert c.encode() not in out, f"{name}: output still holds {c}"
            prev = outputs.setdefault(hashlib.sha256(out).hexdigest(), (name, out))
            assert prev[0] == name, f"{name} and {prev[0]} gave the same output"
        # Identical uploads gave identical outputs; judge each distinct one.
        assert len(outputs) == len(good), f"{len(outputs)} distinct outputs for {len(good)} fixtures"
        for digest, (name, out) in outputs.items():
            ext = name.rsplit(".", 1)[-1]
            path = t.path(f"out-{digest[:8]}.{ext}")
            harness.write(path, out)
            t.assert_clean(path)
            src = t.path(f"in-{digest[:8]}.{ext}")
            harness.write(src, good[name])
            assert harness.pixels(src) == harness.pixels(path), f"{name}: pixels changed"
        print(f"  {total} jobs in {time.monotonic() - start:.1f} s")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        srv.stop()


def test_audit_through_the_queue(t):
    """../shared/tools/audit judges a sample, with the queue as the stripper."""
    need_redis()
    audit = harness.shared_dir("tools", "audit")
    good, broken = fixtures(t)
    sample = t.path("sample")
    os.mkdir(sample)
    names = sorted(good)
    for i in range(20):
        name = names[i % len(names)]
        ext = name.rsplit(".", 1)[-1]
        harness.write(os.path.join(sample, f"u{i:02d}.{ext}"), good[name])
    harness.write(os.path.join(sample, "truncated.jpg"), broken["truncated.jpg"])
    srv = Server(t.tmp)
    procs = []
    try:
        procs = [worker(t, srv.url, "a1"), worker(t, srv.url, "a2")]
        client = f"{sys.executable} {os.path.join(EXAMPLE, 'enqueue.py')} --wait -o {{out}} {{in}}"
        r = harness.run([sys.executable, audit, "--tool", client, *[f"--canary={c}" for c in CANARIES],
                         sample], env=env(srv.url))
        text = (r.stdout + r.stderr).decode(errors="replace")
        assert r.returncode == 0, f"audit failed:\n{text[-3000:]}"
        print("  " + "\n  ".join(text.strip().splitlines()[-6:]))
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        srv.stop()


harness.main(globals())
