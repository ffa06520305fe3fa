#!/usr/bin/env python3
"""Puts files on the upload queue that worker.py serves; prints "ID PATH"
per file. With --wait, waits for each result and writes the cleaned file to
OUT (one input), or next to the input as NAME.clean.EXT; exits 2 when any
upload was refused (its reason goes to standard error).

    python3 enqueue.py --redis unix:///run/redis/redis.sock IMG_1.jpg IMG_2.png
    python3 enqueue.py --wait -o clean.jpg IMG_1.jpg
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid

import redis

PENDING = "uploads:pending"


def enqueue(r: redis.Redis, data: bytes) -> str:
    """Stores the bytes and queues the job; returns its id."""
    job = uuid.uuid4().hex
    with r.pipeline(transaction=True) as p:
        p.set(f"upload:{job}:in", data)
        p.lpush(PENDING, job)  # only after the bytes exist
        p.execute()
    return job


def wait(r: redis.Redis, job: str, timeout: float) -> dict:
    """The job's report once a worker has stored it."""
    end = time.monotonic() + timeout
    while True:
        raw = r.get(f"upload:{job}:report")
        if raw is not None:
            return json.loads(raw)
        if time.monotonic() > end:
            raise TimeoutError(f"job {job}: no result after {timeout:g} s")
        time.sleep(0.05)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Queue files for the upload workers.")
    ap.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://localhost:6379/0"))
    ap.add_argument("--wait", action="store_true", help="wait for the results and write them")
    ap.add_argument("-o", "--output", help="with --wait and one file: where the cleaned file goes")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each result")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args(argv)
    if args.output and (len(args.files) != 1 or not args.wait):
        ap.error("-o needs --wait and exactly one file")

    r = redis.Redis.from_url(args.redis)
    jobs = []
    for path in args.files:
        with open(path, "rb") as f:
            job = enqueue(r, f.read())
        print(job, path, flush=True)
        jobs.append((job, path))
    if not args.wait:
        return 0
    status = 0
    for job, path in jobs:
        report = wait(r, job, args.timeout)
        if report["status"] == "refused":
            print(f"{path}: refused: {report.get('reason')}", file=sys.stderr)
            status = 2
            continue
        base, ext = os.path.splitext(path)
        out = args.output or base + ".clean" + ext
        with open(out, "wb") as f:
            f.write(r.get(f"upload:{job}:out"))
        print(f"{path}: {report['status']} -> {out} {json.dumps(report['removed'])}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
