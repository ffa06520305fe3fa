"""bench/keyd_load.py - a load generator for unmeta-keyd (docs/unmeta-keyd.8):
N share stores and fetches from C concurrent clients over loopback, each
client on its own keep-alive connection. Used by `bench/run --only keyd`
(10 000 operations, 50 clients) and by tests/keyd_test.py (a smaller run).

Each client stores a share (PUT, expiry one hour ahead), then fetches it
(GET) and checks the key came back; an operation is one request. Latency
is measured per request, from sending to the whole answer.
"""
import http.client
import os
import threading
import time


def percentile(values, p):
    if not values:
        return 0.0
    v = sorted(values)
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def run_load(host, port, ops, clients, deadline_s=120.0):
    """Runs about ops requests (half PUT, half GET) from clients threads.
    Returns a dict: ops, errors (non-2xx, wrong answers, connection
    failures), seconds, p50_ms, p99_ms, max_ms, rate (ops/s), first_errors."""
    pairs = ops // 2
    per_client = [pairs // clients + (1 if i < pairs % clients else 0) for i in range(clients)]
    lat = [[] for _ in range(clients)]
    errs = [0] * clients
    first_errors = []
    lock = threading.Lock()
    stop_at = time.monotonic() + deadline_s
    start = threading.Barrier(clients)

    def worker(i):
        conn = http.client.HTTPConnection(host, port, timeout=10)
        start.wait()

        def req(method, path, body=None):
            nonlocal conn
            t0 = time.perf_counter()
            try:
                conn.request(method, path, body=body,
                             headers={"Content-Type": "text/plain"} if body else {})
                r = conn.getresponse()
                data = r.read()
                status = r.status
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=10)
                status, data = None, repr(e).encode()
            lat[i].append((time.perf_counter() - t0) * 1000.0)
            return status, data

        def fail(what):
            errs[i] += 1
            with lock:
                if len(first_errors) < 5:
                    first_errors.append(what)

        for _ in range(per_client[i]):
            if time.monotonic() > stop_at:
                fail("deadline reached")
                break
            sid = os.urandom(16).hex()
            key = os.urandom(16).hex()
            body = f"not-after: {int(time.time()) + 3600}\nkey: {key}\n".encode()
            st, data = req("PUT", f"/v1/shares/{sid}", body)
            if st != 201 or not data.startswith(b"token: "):
                fail(f"PUT -> {st} {data[:80]!r}")
                continue
            st, data = req("GET", f"/v1/shares/{sid}")
            if st != 200 or f"key: {key}\n".encode() not in data:
                fail(f"GET -> {st} {data[:80]!r}")
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    secs = time.perf_counter() - t0
    all_lat = [x for l in lat for x in l]
    return {
        "ops": len(all_lat),
        "errors": sum(errs),
        "seconds": secs,
        "p50_ms": percentile(all_lat, 50),
        "p99_ms": percentile(all_lat, 99),
        "max_ms": max(all_lat) if all_lat else 0.0,
        "rate": len(all_lat) / secs if secs else 0.0,
        "first_errors": first_errors,
    }
