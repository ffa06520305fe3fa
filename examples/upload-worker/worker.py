#!/usr/bin/env python3
"""An upload worker: takes jobs from a Redis queue, removes the metadata of
each upload in memory with unmeta, stores the result and a report.

Run as many as you like, on one machine or several, against the same Redis:
that is how it scales out. Keys (ID is the job's id, see enqueue.py):

  uploads:pending             list of job ids waiting (LPUSH in, taken from the right)
  uploads:processing:NAME     the ids worker NAME has taken and not yet finished
  uploads:alive:NAME          set while worker NAME runs (expires HEARTBEAT s after it stops)
  uploads:done                list of finished job ids, newest first
  upload:ID:in                the upload's bytes (deleted once the job is finished)
  upload:ID:out               the cleaned file (absent when refused)
  upload:ID:report            JSON: {"id", "status": "clean"|"cleaned"|"refused", "format",
                              "removed": {category: count}, "bytes_in", "bytes_out", "reason"}
  upload:ID:tries             how many times the job was re-queued by the reaper

Reliability: BLMOVE moves a job atomically from uploads:pending to the
worker's own processing list, so a job is never only in a worker's memory.
The result, the report, the acknowledgement (LREM from the processing list)
and the uploads:done entry are written in one MULTI/EXEC transaction. A
worker that dies (killed, machine lost, a crash in native code) stops
refreshing uploads:alive:NAME; any worker's reaper then moves that worker's
jobs back to uploads:pending. A job re-queued MAX_TRIES times is refused
("gave up") instead of crashing workers forever.

SIGTERM or SIGINT: finish the current job, then exit 0.

    REDIS_URL=unix:///run/redis/redis.sock python3 worker.py
    python3 worker.py --redis redis://queue.internal:6379/0 --name web3-a

Needs the `unmeta` Python package (bindings/python) and libunmeta.so.1
(UNMETA_LIBRARY or the loader's path), and redis-py (Debian python3-redis).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import threading
from typing import Optional, Tuple

import redis

import unmeta

PENDING = "uploads:pending"
DONE = "uploads:done"
CATEGORIES = ("location", "device", "time", "people", "software", "embedded", "other")
HEARTBEAT = 30     # default seconds without a heartbeat after which a worker counts as dead
MAX_TRIES = 3      # re-queues before a job is refused
MAX_UPLOAD = 64 << 20


def processing_key(name: str) -> str:
    return f"uploads:processing:{name}"


def alive_key(name: str) -> str:
    return f"uploads:alive:{name}"


def sanitise(data: bytes) -> Tuple[Optional[bytes], dict]:
    """The cleaned bytes (None when refused) and the report, without "id"."""
    report = {"status": "refused", "format": None, "removed": dict.fromkeys(CATEGORIES, 0),
              "bytes_in": len(data), "bytes_out": None}
    if len(data) > MAX_UPLOAD:
        report["reason"] = f"upload too large ({len(data)} bytes, at most {MAX_UPLOAD})"
        return None, report
    try:
        info = unmeta.inspect(data)
        report["format"] = info.get("format")
        for f in info.get("findings", []):
            report["removed"][f["category"]] = report["removed"].get(f["category"], 0) + 1
        clean = unmeta.strip(data)
        if unmeta.check(clean):  # fail closed: never store what still reveals something
            raise unmeta.Error("the stripped file still reports metadata")
    except unmeta.Error as e:
        report["removed"] = dict.fromkeys(CATEGORIES, 0)
        report["reason"] = f"{type(e).__name__}: {e.message or e}"
        return None, report
    report["status"] = "cleaned" if info.get("findings") else "clean"
    report["bytes_out"] = len(clean)
    return clean, report


def finish(r: redis.Redis, name: Optional[str], job: str, clean: Optional[bytes], report: dict) -> None:
    """Stores the result and acknowledges the job, all or nothing."""
    report = {"id": job, **report}
    with r.pipeline(transaction=True) as p:
        if clean is not None:
            p.set(f"upload:{job}:out", clean)
        p.set(f"upload:{job}:report", json.dumps(report, sort_keys=True))
        p.delete(f"upload:{job}:in")  # the original is not kept: it is what leaks
        if name is not None:
            p.lrem(processing_key(name), 1, job)
        p.lpush(DONE, job)
        p.execute()


def requeue(r: redis.Redis, dead: str) -> int:
    """Moves the jobs of a dead worker back to the queue; returns how many."""
    moved = 0
    src = processing_key(dead)
    while True:
        job = r.lmove(src, PENDING, "RIGHT", "RIGHT")  # back at the head: it has waited already
        if job is None:
            return moved
        job = job.decode()
        if r.incr(f"upload:{job}:tries") > MAX_TRIES and r.lrem(PENDING, 1, job):
            # A poison job (every worker that takes it dies): refuse it for good.
            finish(r, None, job, None, {"status": "refused", "format": None,
                                        "removed": dict.fromkeys(CATEGORIES, 0), "bytes_in": None,
                                        "bytes_out": None,
                                        "reason": f"gave up: {MAX_TRIES} workers stopped on it"})
        moved += 1


def reap(r: redis.Redis) -> int:
    """Re-queues the jobs of every worker whose heartbeat has expired."""
    moved = 0
    for key in r.scan_iter(match=processing_key("*")):
        name = key.decode()[len(processing_key("")):]
        if not r.exists(alive_key(name)):
            moved += requeue(r, name)
    return moved


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Remove metadata from uploads taken from a Redis queue.")
    ap.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://localhost:6379/0"),
                    help="redis:// or unix:// URL (default: $REDIS_URL or redis://localhost:6379/0)")
    ap.add_argument("--name", default=f"{socket.gethostname()}:{os.getpid()}",
                    help="this worker's unique name (default: HOST:PID)")
    ap.add_argument("--heartbeat", type=float, default=HEARTBEAT,
                    help=f"seconds of silence after which this worker counts as dead (default {HEARTBEAT})")
    args = ap.parse_args(argv)

    r = redis.Redis.from_url(args.redis)
    name = args.name
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    # Jobs a previous worker of the same name left behind go back first.
    requeue(r, name)
    ttl = max(1, int(args.heartbeat))
    r.set(alive_key(name), "1", ex=ttl)

    def heartbeat() -> None:
        while not stop.wait(ttl / 3):
            r.set(alive_key(name), "1", ex=ttl)
            reap(r)
    beat = threading.Thread(target=heartbeat, daemon=True)
    beat.start()

    done = 0
    try:
        while not stop.is_set():
            job = r.blmove(PENDING, processing_key(name), 1, "RIGHT", "LEFT")
            if job is None:
                continue
            job = job.decode()
            data = r.get(f"upload:{job}:in")
            if data is None:
                clean, report = None, {"status": "refused", "format": None,
                                       "removed": dict.fromkeys(CATEGORIES, 0), "bytes_in": None,
                                       "bytes_out": None, "reason": "the upload's bytes are missing"}
            else:
                clean, report = sanitise(data)
            finish(r, name, job, clean, report)
            done += 1
    finally:
        stop.set()
        r.delete(alive_key(name))
    print(f"worker {name}: {done} jobs", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
