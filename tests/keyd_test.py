"""unmeta-keyd, the key-release service (docs/unmeta-keyd.8), end to end:
the real service on loopback over a real Redis (redis-server started here
on a free port, AOF on, in a temporary folder) and over SQLite, driven by
the real command (`unmeta seal|open|revoke --share-store http://...`).

What must hold: an envelope opens until its expiry and never after, for
`unmeta open`, for `age -d` and for a client whose clock is set back
(faketime); revoking works with the token and not without it; restarting
the service and the store (killed, not asked) loses no share that had not
expired; malformed, oversized and slow requests get a 4xx or a closed
connection while others are still served; the service confines itself;
a bounded load (1 000 requests from 20 clients) has no error.
"""
import http.client
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import harness
from harness import read, write, unmeta, need, missing

KEYD = os.environ.get("UNMETA_KEYD", "")
ROOT = os.environ.get("UNMETA_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), ".."))


def keyd_bin():
    if not KEYD or not os.path.exists(KEYD):
        missing("unmeta-keyd was not built (libmicrohttpd-dev, libhiredis-dev, libsqlite3-dev: scripts/bootstrap)")
    return KEYD


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, what, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{what} did not listen on {port}")


class Redis:
    """redis-server on a free loopback port, AOF on with fsync on every
    write, its files in dir; kill() is a crash (SIGKILL), not a shutdown."""

    def __init__(self, dir):
        need("redis-server")
        os.makedirs(dir, exist_ok=True)
        self.dir, self.port, self.proc = dir, free_port(), None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, self.proc, "redis-server")
        end = time.time() + 10
        while self.cmd("PING") != b"+PONG" and time.time() < end:  # loading the AOF
            time.sleep(0.05)

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def cmd(self, *args):
        """One command in RESP; the raw first reply line (or bulk)."""
        msg = f"*{len(args)}\r\n".encode() + b"".join(
            f"${len(a)}\r\n".encode() + a.encode() + b"\r\n" for a in args)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(msg)
            data = b""
            while not data.endswith(b"\r\n") or (data.startswith(b"$") and data.count(b"\r\n") < 2
                                                    and not data.startswith(b"$-1")):
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        return data.strip()


class Keyd:
    """The service on a free loopback port; stderr goes to a log file."""

    def __init__(self, dir, *store, extra=(), env=None):
        self.dir, self.store, self.extra, self.env = dir, store, list(extra), env
        self.port, self.proc, self.n = free_port(), None, 0
        self.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        self.n += 1
        self.log = os.path.join(self.dir, f"keyd.{self.n}.log")
        with open(self.log, "wb") as f:
            self.proc = subprocess.Popen([keyd_bin(), "--listen", f"127.0.0.1:{self.port}", *self.store,
                                          *self.extra], stdout=f, stderr=f,
                                         env=dict(os.environ, **(self.env or {})))
        wait_port(self.port, self.proc, "unmeta-keyd")

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        """SIGTERM; returns the exit status (0: a clean stop, and under
        ASan/LSan no error or leak reported)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode if self.proc else None

    def stop_clean(self):
        rc = self.stop()
        assert rc == 0, f"unmeta-keyd exited {rc}: {self.logtext()[-2000:]}"

    def logtext(self):
        return read(self.log).decode(errors="replace")

    def request(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, r.read(), dict(r.getheaders())
        finally:
            c.close()


def keypair(t, name="me.key"):
    key = t.path(name)
    unmeta("keygen", "-o", key, check=True)
    rcp = unmeta("keygen", "-y", key, check=True).stdout.decode().strip()
    return key, rcp


def seal(t, src, rcp, url, expires, name):
    out = t.path(name)
    r = unmeta("seal", "-r", rcp, "--no-strip", "--expires", expires, "--share-store", url, "-o", out, src)
    assert r.returncode == 0, r.stderr
    rv = read(out + ".revoke").decode()
    assert os.stat(out + ".revoke").st_mode & 0o777 == 0o600
    m = re.fullmatch(r"# unmeta revocation: keep it, never send it with the envelope\n"
                     r"url: (\S+)\nid: ([0-9a-f]{32})\nnot-after: (\d+)\ntoken: ([0-9a-f]{64})\n", rv)
    assert m and m.group(1) == url, rv
    tok = m.group(4)
    assert tok.encode() not in read(out), "the token is in the envelope"
    return out, m.group(2), int(m.group(3))


def open_env(t, env, key, url, *extra, prefix=()):
    out = t.path("opened.out")
    if os.path.exists(out):
        os.unlink(out)
    r = harness.run([*prefix, harness.UNMETA, "open", "-i", key, "--share-store", url, "-o", out, *extra, env])
    return r, out


def assert_opens(t, env, key, url, content):
    r, out = open_env(t, env, key, url)
    assert r.returncode == 0 and read(out) == content, r.stderr


def assert_dead(t, env, key, url, sid):
    """The share is gone: unmeta refuses (also with --allow-expired and with
    the clock set back), age fails the header MAC, nothing is released."""
    r, out = open_env(t, env, key, url)
    assert r.returncode == 2 and not os.path.exists(out), r.stderr
    assert b"no longer holds it" in r.stderr, r.stderr
    r, out = open_env(t, env, key, url, "--allow-expired")
    assert r.returncode == 2 and not os.path.exists(out), r.stderr
    if faketime_usable():
        # the client's clock an hour back: the library would call it
        # unexpired, but the service has forgotten the share
        r, out = open_env(t, env, key, url, prefix=("faketime", "-f", "-1h"))
        assert r.returncode == 2 and not os.path.exists(out) and b"no longer holds it" in r.stderr, r.stderr
    need("age")
    aout = t.path("age.out")
    r = harness.run(["age", "-d", "-i", key, "-o", aout, env])
    assert r.returncode != 0 and b"header MAC" in r.stderr, r.stderr


_SANITIZED = None


def faketime_usable():
    """libfaketime cannot be preloaded into a sanitizer build of the command
    (the ASan/TSan runtime must come first, and the process hangs): CI's
    ASan pass leaves the clock-set-back checks to the plain build, which
    runs them."""
    global _SANITIZED
    if _SANITIZED is None:
        data = read(harness.UNMETA)
        _SANITIZED = b"__asan_init" in data or b"__tsan_init" in data
    if _SANITIZED:
        print("  faketime: not with a sanitizer build of unmeta; the plain build checks the clock set back")
        return False
    need("faketime")
    return True


def faketime_works(t):
    """faketime really moves the command's clock (else the test above
    would prove nothing): an envelope sealed to expire in 1 h is refused
    with the clock 2 h ahead, without any share store."""
    if not faketime_usable():
        return
    key, rcp = keypair(t, "ft.key")
    src = t.path("ft.txt")
    write(src, b"faketime control")
    env = t.path("ft.age")
    unmeta("seal", "-r", rcp, "--no-strip", "--expires", "1h", "-o", env, src, check=True)
    r = harness.run(["faketime", "-f", "+2h", harness.UNMETA, "open", "-i", key, "-o", t.path("ft.out"), env])
    assert r.returncode == 2 and b"expired" in r.stderr.lower(), r.stderr


def revoke_checks(t, env_c, sid_c, key, url, content):
    """A wrong token is refused and the share stays; the right one revokes."""
    rv = env_c + ".revoke"
    good = read(rv)
    bad = re.sub(rb"token: (.)", lambda m: b"token: " + (b"0" if m.group(1) != b"0" else b"1"), good)
    write(t.path("bad.revoke"), bad)
    r = unmeta("revoke", t.path("bad.revoke"))
    assert r.returncode == 2 and b"wrong token" in r.stderr and os.path.exists(t.path("bad.revoke")), r.stderr
    assert_opens(t, env_c, key, url, content)
    r = unmeta("revoke", rv)
    assert r.returncode == 0 and b"revoked" in r.stderr and not os.path.exists(rv), r.stderr
    r, out = open_env(t, env_c, key, url)
    assert r.returncode == 2 and b"no longer holds it" in r.stderr, r.stderr


def e2e(t, store_kind):
    faketime_works(t)
    key, rcp = keypair(t)
    src = t.path("photo.bin")
    content = b"released only while the service holds the share " * 2000
    write(src, content)
    redis = Redis(t.path("store")) if store_kind == "redis" else None
    if redis is None:
        os.mkdir(t.path("store"))
    db = t.path("store/shares.db")
    store = ("--redis", f"redis://127.0.0.1:{redis.port}") if redis else ("--sqlite", db)
    keyd = Keyd(t.tmp, *store)
    try:
        env_a, sid_a, na_a = seal(t, src, rcp, keyd.url, "3s", "a.age")   # expires during the test
        assert_opens(t, env_a, key, keyd.url, content)                     # at once, before it does
        env_b, sid_b, _ = seal(t, src, rcp, keyd.url, "1h", "b.age")      # must survive the restarts
        env_c, sid_c, _ = seal(t, src, rcp, keyd.url, "1h", "c.age")      # revoked
        if redis:
            ttl = int(redis.cmd("TTL", f"unmeta:share:{sid_b}").lstrip(b":"))
            assert 3500 < ttl <= 3600, ttl  # EXAT: Redis forgets it by itself
        # crash both the store and the service, start them again
        keyd.kill()
        if redis:
            redis.kill()
            redis.start()
        keyd.start()
        assert_opens(t, env_b, key, keyd.url, content)
        assert_opens(t, env_c, key, keyd.url, content)
        revoke_checks(t, env_c, sid_c, key, keyd.url, content)
        # past A's expiry (valid at not_after, gone one second later)
        while time.time() < na_a + 1.2:
            time.sleep(0.1)
        st, body, _ = keyd.request("GET", f"/v1/shares/{sid_a}")
        assert st == 404, (st, body)
        if redis:
            assert redis.cmd("EXISTS", f"unmeta:share:{sid_a}") == b":0"
        else:
            # a restart purges expired rows at once (then every 10 s)
            keyd.stop()
            keyd.start()
            keyd.request("GET", "/v1/health")
            rows = sqlite3.connect(db).execute("SELECT id FROM shares").fetchall()
            assert (sid_a,) not in rows and (sid_b,) in rows, rows
        assert_dead(t, env_a, key, keyd.url, sid_a)
        assert_opens(t, env_b, key, keyd.url, content)
        # the log names shares by 8 digits, never in full; no token, no key
        log = "".join(read(os.path.join(t.tmp, f)).decode(errors="replace")
                      for f in os.listdir(t.tmp) if f.startswith("keyd."))
        assert f"{sid_a[:8]}..." in log, log
        for sid in (sid_a, sid_b, sid_c):
            assert sid not in log, log
        keyd.stop_clean()
    finally:
        keyd.stop()
        if redis:
            redis.kill()


def test_e2e_redis(t):
    e2e(t, "redis")


def test_e2e_sqlite(t):
    e2e(t, "sqlite")


def raw(port, data, timeout=5.0, shut=False):
    """Sends raw bytes; returns the status (int), or None when the
    connection was closed without an answer."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(data)
            if shut:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        buf = b""
        try:
            while b"\r\n" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", buf)
    return int(m.group(1)) if m else None


def test_bad_requests_and_slow_clients(t):
    keyd = Keyd(t.tmp, "--sqlite", t.path("shares.db"), extra=("--timeout", "2", "--rate", "0"))
    try:
        sid = os.urandom(16).hex()
        good = f"not-after: {int(time.time()) + 600}\nkey: {'ab' * 16}\n".encode()

        def put(path, body, extra=b""):
            return raw(keyd.port, b"PUT " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                       str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body)

        def get(path):
            return raw(keyd.port, b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")

        cases = {
            "oversized body": put(f"/v1/shares/{sid}", b"x" * 10000),
            "uppercase id": get(f"/v1/shares/{sid.upper()}"),
            "short id": get(f"/v1/shares/{sid[:31]}"),
            "long id": get(f"/v1/shares/{sid}0"),
            "dot segments": get("/v1/shares/../x"),
            "dot segments to health": get("/v1/shares/../health"),
            "percent dots": get("/v1/shares/%2e%2e"),
            "percent-encoded id": get("/v1/shares/" + "".join(f"%{ord(c):02x}" for c in sid)),
            "trailing slash": get(f"/v1/shares/{sid}/"),
            "query": get(f"/v1/shares/{sid}?x=1"),
            "unknown path": get("/etc/passwd"),
            "malformed body": put(f"/v1/shares/{sid}", b"not-after: 1\nkey: zz\n"),
            "body not canonical": put(f"/v1/shares/{sid}", good.replace(b": ", b":  ", 1)),
            "expiry past": put(f"/v1/shares/{sid}", f"not-after: {int(time.time()) - 5}\nkey: {'ab' * 16}\n".encode()),
            "expiry too far": put(f"/v1/shares/{sid}", f"not-after: {int(time.time()) + 10 ** 9}\nkey: {'ab' * 16}\n".encode()),
            "huge header": raw(keyd.port, b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n"),
            "not HTTP": raw(keyd.port, b"\x00\x01\x02 garbage\r\n\r\n"),
        }
        print("  " + ", ".join(f"{k}: {v or 'closed'}" for k, v in cases.items()))
        for what, st in cases.items():
            assert st is None or 400 <= st < 500, (what, st)
            if what not in ("huge header", "not HTTP"):
                assert st is not None, (what, st)
        # a huge body declared: answered before a byte of it is read
        t0 = time.time()
        st = raw(keyd.port, f"PUT /v1/shares/{sid} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n"
                 .encode(), timeout=1.5)
        assert st == 413 and time.time() - t0 < 1.5, (st, time.time() - t0)
        st, body, hdr = keyd.request("POST", f"/v1/shares/{sid}")
        assert st == 405 and "PUT" in hdr.get("Allow", ""), (st, hdr)
        st, body, _ = keyd.request("DELETE", f"/v1/shares/{sid}")
        assert st == 401, st
        st, body, _ = keyd.request("GET", f"/v1/shares/{sid}", body=b"x")
        assert st == 400, st
        # none of them stored anything
        st, body, _ = keyd.request("GET", f"/v1/shares/{sid}")
        assert st == 404, st
        # slow clients: 20 connections that never finish their headers
        slow = []
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", keyd.port), timeout=10)
            s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            slow.append(s)
        t0 = time.time()
        st, body, _ = keyd.request("PUT", f"/v1/shares/{sid}", body=good)  # others are still served
        assert st == 201, (st, body)
        st, body, _ = keyd.request("GET", f"/v1/shares/{sid}")
        assert st == 200 and body == good, (st, body)
        for s in slow:  # closed by the service after --timeout 2
            try:
                assert s.recv(100) == b"", "a slow client got an answer"
            except ConnectionResetError:
                pass
            s.close()
        assert time.time() - t0 < 8, time.time() - t0
        st, body, _ = keyd.request("GET", "/v1/health")
        assert st == 200 and body == b"ok\n", (st, body)
        # slowloris: a header trickled a byte every 0.3 s is never idle, yet
        # is cut once the request has not arrived whole within --timeout
        s = socket.create_connection(("127.0.0.1", keyd.port), timeout=10)
        s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Trickle: ")
        t0, closed = time.time(), None
        while time.time() - t0 < 8:
            try:
                s.sendall(b"a")
                s.settimeout(0.3)
                if s.recv(100) == b"":
                    closed = time.time() - t0
                    break
            except socket.timeout:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed = time.time() - t0
                break
        s.close()
        assert closed is not None and closed < 5, closed
        print(f"  a trickling client was cut after {closed:.1f} s (--timeout 2)")
        st, body, _ = keyd.request("GET", "/v1/health")
        assert st == 200, st
        keyd.stop_clean()
    finally:
        keyd.stop()


def test_rate_limit_per_address(t):
    keyd = Keyd(t.tmp, "--sqlite", t.path("shares.db"), extra=("--rate", "1", "--burst", "5"))
    try:
        t0 = time.time()
        codes = [keyd.request("GET", "/v1/health") for _ in range(20)]
        took = time.time() - t0
        # at most the burst plus what refilled meanwhile (1 a second)
        n200 = sum(1 for c in codes if c[0] == 200)
        assert n200 <= 5 + int(took) + 1 and n200 >= 5, ([c[0] for c in codes], took)
        assert all(c[0] in (200, 429) for c in codes), [c[0] for c in codes]
        assert any(c[2].get("Retry-After") == "1" for c in codes if c[0] == 429)
        time.sleep(1.5)  # the bucket refills
        assert keyd.request("GET", "/v1/health")[0] == 200
        keyd.stop_clean()
    finally:
        keyd.stop()


def test_connection_limit_per_address(t):
    keyd = Keyd(t.tmp, "--sqlite", t.path("shares.db"), extra=("--per-address", "4", "--timeout", "5"))
    try:
        def alive(s):
            s.settimeout(0.2)
            try:
                return s.recv(1) != b""
            except socket.timeout:
                return True
            except OSError:
                return False

        # four held open (headers not finished); one refused because the
        # service had not yet seen an earlier connection close is opened again
        held = []
        end = time.time() + 10
        while time.time() < end:
            held = [s for s in held if alive(s)]
            if len(held) == 4:
                break
            s = socket.create_connection(("127.0.0.1", keyd.port), timeout=5)
            s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
            held.append(s)
            time.sleep(0.1)
        assert len(held) == 4
        # the fifth from the same address is closed without an answer
        st = raw(keyd.port, b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=3)
        assert st is None, (st, keyd.logtext())
        for s in held:
            s.close()
        time.sleep(0.3)
        assert keyd.request("GET", "/v1/health")[0] == 200
        keyd.stop_clean()
    finally:
        keyd.stop()


def test_service_starts_sandboxed(t):
    need("redis-server")
    redis = Redis(t.path("r"))
    try:
        for store in (("--redis", f"redis://127.0.0.1:{redis.port}"), ("--sqlite", t.path("s.db"))):
            keyd = Keyd(t.tmp, *store, env={"UNMETA_SANDBOX_SELFTEST": "1"})
            try:
                # it still works confined: a share stored and fetched
                sid = os.urandom(16).hex()
                body = f"not-after: {int(time.time()) + 60}\nkey: {'cd' * 16}\n".encode()
                assert keyd.request("PUT", f"/v1/shares/{sid}", body=body)[0] == 201
                assert keyd.request("GET", f"/v1/shares/{sid}")[1] == body
                keyd.stop_clean()
            finally:
                keyd.stop()
            log = keyd.logtext()
            m = re.search(r"sandbox selftest: read /etc/passwd: (\S+); connect port 9: (\S+); "
                          r"unix socket: (\S+); exec: (\S+)\n", log)
            assert m, log
            assert m.group(3) == "EPERM" and m.group(4) == "EPERM", log  # seccomp
            if "Landlock (ABI" in log:
                assert m.group(1) == "EACCES", log
                abi = int(re.search(r"Landlock \(ABI (\d+)\)", log).group(1))
                if abi >= 4:
                    assert m.group(2) == "EACCES", log  # TCP only to Redis's port
            else:
                raise harness.Skip("Landlock is not available here: " + log)
    finally:
        redis.kill()


def test_cli_network_only_with_a_url_store(t):
    """The command opens sockets only for a URL store, and then still reads
    no file it was not given."""
    keyd = Keyd(t.tmp, "--sqlite", t.path("shares.db"))
    try:
        key, rcp = keypair(t)
        src = t.path("x.txt")
        write(src, b"selftest")
        env, sid, _ = seal(t, src, rcp, keyd.url, "1h", "x.age")
        r = harness.run([harness.UNMETA, "open", "-i", key, "--share-store", keyd.url, "-o", t.path("o"), env],
                        env=dict(os.environ, UNMETA_SANDBOX_SELFTEST="1"))
        assert r.returncode == 0, r.stderr
        m = re.search(rb"read /etc/passwd: (\S+); create in /tmp: (\S+); socket: (\S+); exec: (\S+)\n", r.stderr)
        assert m and m.group(3) == b"ok" and m.group(4) == b"EPERM", r.stderr
        r = harness.run([harness.UNMETA, "open", "-i", key, "-o", t.path("o2"), env],
                        env=dict(os.environ, UNMETA_SANDBOX_SELFTEST="1"))
        m = re.search(rb"socket: (\S+);", r.stderr)
        assert m and m.group(1) == b"EPERM", r.stderr
        keyd.stop_clean()
    finally:
        keyd.stop()


def test_url_store_errors(t):
    key, rcp = keypair(t)
    src = t.path("x.txt")
    write(src, b"x")
    # a service nobody runs: the envelope is removed, not left unopenable
    port = free_port()
    out = t.path("gone.age")
    r = unmeta("seal", "-r", rcp, "--no-strip", "--expires", "1h", "--share-store", f"http://127.0.0.1:{port}",
               "-o", out, src)
    assert r.returncode == 2 and not os.path.exists(out) and not os.path.exists(out + ".revoke"), r.stderr
    # a service needs an expiry
    r = unmeta("seal", "-r", rcp, "--no-strip", "--share-store", f"http://127.0.0.1:{port}", "-o", out, src)
    assert r.returncode == 2 and b"--expires" in r.stderr, r.stderr
    for bad in ("http://", "http://u@h/", "https://h:99999/", "http://h/?q"):
        r = unmeta("seal", "-r", rcp, "--no-strip", "--expires", "1h", "--share-store", bad, "-o", out, src)
        assert r.returncode == 2 and not os.path.exists(out), (bad, r.stderr)


class TlsProxy:
    """A TLS-terminating proxy in front of the service (what nginx is in
    docs/deployment.md), with a self-signed certificate for localhost."""

    def __init__(self, t, backend_port):
        import ssl
        import threading
        need("openssl")
        self.cert, key = t.path("proxy.crt"), t.path("proxy.key")
        harness.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", self.cert,
                     "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                    check=True)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, key)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.backend, self.ctx, self.done = backend_port, ctx, False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        import threading
        while not self.done:
            try:
                c, _ = self.sock.accept()
                c = self.ctx.wrap_socket(c, server_side=True)
            except OSError:
                continue
            b = socket.create_connection(("127.0.0.1", self.backend))

            def pump(src, dst):
                try:
                    while True:
                        data = src.recv(65536)
                        if not data:
                            break
                        dst.sendall(data)
                except OSError:
                    pass
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            threading.Thread(target=pump, args=(c, b), daemon=True).start()
            threading.Thread(target=pump, args=(b, c), daemon=True).start()

    def close(self):
        self.done = True
        self.sock.close()


def test_https_through_a_tls_proxy(t):
    """https:// with certificate verification, from the confined command:
    the host name resolved before confining, the CA bundle read after."""
    keyd = Keyd(t.tmp, "--sqlite", t.path("shares.db"))
    proxy = TlsProxy(t, keyd.port)
    try:
        key, rcp = keypair(t)
        src = t.path("x.txt")
        write(src, b"over TLS")
        url = f"https://localhost:{proxy.port}"
        # the proxy's certificate is not trusted by the system: refused, no envelope left
        out = t.path("untrusted.age")
        r = unmeta("seal", "-r", rcp, "--no-strip", "--expires", "1h", "--share-store", url, "-o", out, src)
        assert r.returncode == 2 and not os.path.exists(out), r.stderr
        assert b"certificate" in r.stderr.lower(), r.stderr
        ca = dict(os.environ, CURL_CA_BUNDLE=proxy.cert)
        out = t.path("x.age")
        r = harness.run([harness.UNMETA, "seal", "-r", rcp, "--no-strip", "--expires", "1h", "--share-store",
                         url, "-o", out, src], env=ca)
        assert r.returncode == 0, r.stderr
        r = harness.run([harness.UNMETA, "open", "-i", key, "--share-store", url, "-o", t.path("x.out"), out],
                        env=ca)
        assert r.returncode == 0 and read(t.path("x.out")) == b"over TLS", r.stderr
        r = harness.run([harness.UNMETA, "revoke", out + ".revoke"], env=ca)
        assert r.returncode == 0, r.stderr
        keyd.stop_clean()
    finally:
        proxy.close()
        keyd.stop()


def test_load_1000(t):
    """A bounded load: 1 000 requests from 20 clients, no error."""
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import keyd_load
    keyd = Keyd(t.tmp, "--sqlite", t.path("shares.db"), extra=("--rate", "0", "--quiet"))
    try:
        res = keyd_load.run_load("127.0.0.1", keyd.port, 1000, 20, deadline_s=60)
        print(f"  load: {res['ops']} requests, {res['errors']} errors, p50 {res['p50_ms']:.2f} ms, "
              f"p99 {res['p99_ms']:.2f} ms, {res['rate']:.0f}/s")
        assert res["errors"] == 0 and res["ops"] == 1000, res
        keyd.stop_clean()
    finally:
        keyd.stop()


if __name__ == "__main__":
    harness.main(globals())
