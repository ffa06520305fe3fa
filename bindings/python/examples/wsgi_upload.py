"""An upload endpoint that removes photo metadata in memory (stdlib wsgiref).

POST /upload with either the image as the body (Content-Type: image/...) or
a multipart/form-data form whose file field is "photo". The answer is the
stripped image (same format, pixels untouched) with a header saying how
many privacy-relevant facts were removed; a real service would store it
instead. Nothing touches the disk; the original bytes are never kept.

    python3 wsgi_upload.py            # serves on http://127.0.0.1:8000/upload
    curl --data-binary @IMG_1.jpg -H 'Content-Type: image/jpeg' \\
         http://127.0.0.1:8000/upload -o clean.jpg -D -

Errors: 400 (no or bad body), 411 (no Content-Length), 413 (too large, or
a file over the library's limits), 415 (not an image unmeta knows),
422 (a damaged image), 500 (anything else).
"""
from __future__ import annotations

import email.parser
import email.policy
import json
from typing import Callable, Iterable, List, Optional, Tuple

import unmeta

MAX_UPLOAD = 32 << 20  # bytes

MIME = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif",
        "tiff": "image/tiff", "dng": "image/x-adobe-dng", "mp4": "video/mp4"}

StartResponse = Callable[[str, List[Tuple[str, str]]], object]


def _answer(start_response: StartResponse, status: str, body: bytes, ctype: str = "text/plain; charset=utf-8",
            extra: Optional[List[Tuple[str, str]]] = None) -> Iterable[bytes]:
    headers = [("Content-Type", ctype), ("Content-Length", str(len(body)))] + (extra or [])
    start_response(status, headers)
    return [body]


def _photo_from_multipart(ctype: str, body: bytes) -> Optional[bytes]:
    """The "photo" field of a multipart/form-data body, or None."""
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + body)
    if not msg.is_multipart():
        return None
    for part in msg.iter_parts():
        if part.get_param("name", header="content-disposition") == "photo":
            return part.get_payload(decode=True)
    return None


def sanitise(photo: bytes) -> Tuple[bytes, dict]:
    """The photo without its metadata, and the report of what it revealed."""
    report = unmeta.inspect(photo)
    clean = unmeta.strip(photo)
    if unmeta.check(clean):  # fail closed: never pass on what still reveals something
        raise unmeta.Error("the stripped photo still reports metadata")
    return clean, report


def app(environ: dict, start_response: StartResponse) -> Iterable[bytes]:
    if environ.get("PATH_INFO", "") != "/upload":
        return _answer(start_response, "404 Not Found", b"POST a photo to /upload\n")
    if environ.get("REQUEST_METHOD") != "POST":
        return _answer(start_response, "405 Method Not Allowed", b"use POST\n", extra=[("Allow", "POST")])
    try:
        length = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return _answer(start_response, "411 Length Required", b"Content-Length is required\n")
    if length <= 0:
        return _answer(start_response, "400 Bad Request", b"empty upload\n")
    if length > MAX_UPLOAD:
        return _answer(start_response, "413 Payload Too Large", b"upload too large\n")
    body = environ["wsgi.input"].read(length)
    if len(body) != length:
        return _answer(start_response, "400 Bad Request", b"the upload ended early\n")

    ctype = environ.get("CONTENT_TYPE", "")
    photo: Optional[bytes] = body
    if ctype.startswith("multipart/form-data"):
        photo = _photo_from_multipart(ctype, body)
        if not photo:
            return _answer(start_response, "400 Bad Request", b"no 'photo' field in the form\n")

    try:
        clean, report = sanitise(photo)
    except unmeta.UnsupportedError as e:
        return _answer(start_response, "415 Unsupported Media Type", (e.message + "\n").encode())
    except (unmeta.MalformedError, unmeta.TruncatedError) as e:
        return _answer(start_response, "422 Unprocessable Entity", (e.message + "\n").encode())
    except unmeta.LimitError as e:
        return _answer(start_response, "413 Payload Too Large", (e.message + "\n").encode())
    except unmeta.Error as e:
        return _answer(start_response, "500 Internal Server Error", ("%s\n" % e).encode())

    removed = sorted({f["category"] for f in report["findings"]})
    return _answer(start_response, "200 OK", clean, MIME.get(report["format"], "application/octet-stream"),
                   [("X-Unmeta-Findings", str(len(report["findings"]))),
                    ("X-Unmeta-Removed", json.dumps(removed))])


if __name__ == "__main__":
    from wsgiref.simple_server import make_server

    with make_server("127.0.0.1", 8000, app) as server:
        print("unmeta upload example on http://127.0.0.1:8000/upload")
        server.serve_forever()
