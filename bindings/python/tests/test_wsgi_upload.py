"""The upload handler example, driven with fake WSGI environs: a raw and a
multipart upload come back stripped (exiftool finds nothing, canaries gone,
pixels' bytes untouched), bad uploads get the right status."""
import importlib.util
import io
import pathlib
import wsgiref.util
import wsgiref.validate

import pytest

import unmeta

from conftest import exiftool_tags

spec = importlib.util.spec_from_file_location(
    "wsgi_upload", pathlib.Path(__file__).resolve().parents[1] / "examples" / "wsgi_upload.py")
wsgi_upload = importlib.util.module_from_spec(spec)
spec.loader.exec_module(wsgi_upload)


def call(body, ctype="image/jpeg", method="POST", path="/upload", length=None):
    environ = {}
    wsgiref.util.setup_testing_defaults(environ)
    environ.update({"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "CONTENT_TYPE": ctype,
                    "CONTENT_LENGTH": str(len(body) if length is None else length),
                    "wsgi.input": io.BytesIO(body)})
    got = {}

    def start_response(status, headers, exc_info=None):
        got["status"], got["headers"] = status, dict(headers)
        return lambda data: None

    app = wsgiref.validate.validator(wsgi_upload.app)  # the WSGI spec's own checker
    it = app(environ, start_response)
    try:
        out = b"".join(it)
    finally:
        it.close()
    return int(got["status"].split()[0]), got["headers"], out


def test_raw_upload_is_stripped(sample, tmp_path):
    status, headers, out = call(sample)
    assert status == 200, out
    assert headers["Content-Type"] == "image/jpeg"
    assert int(headers["X-Unmeta-Findings"]) >= 10
    assert "location" in headers["X-Unmeta-Removed"]
    assert out == unmeta.strip(sample)
    for canary in (b"Ana Example", b"Pixelphone", b"PX7-004211-88"):
        assert canary not in out
    p = tmp_path / "up.jpg"
    p.write_bytes(out)
    assert exiftool_tags(p, "-gps:all", "-Make", "-Artist", "-XMP:all") == {}


def test_multipart_upload_is_stripped(sample):
    boundary = "----unmeta-test-boundary"
    body = (("--%s\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nmy holiday\r\n"
             "--%s\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"IMG_1.jpg\"\r\n"
             "Content-Type: image/jpeg\r\n\r\n") % (boundary, boundary)).encode() + sample + \
        ("\r\n--%s--\r\n" % boundary).encode()
    status, headers, out = call(body, "multipart/form-data; boundary=%s" % boundary)
    assert status == 200, out
    assert out == unmeta.strip(sample)
    assert not unmeta.check(out)


@pytest.mark.parametrize("body,ctype,want", [
    (b"plain text, not a photo", "image/jpeg", 415),
    (None, "image/jpeg", 422),  # truncated sample, filled in below
    (b"--x\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nhi\r\n--x--\r\n",
     "multipart/form-data; boundary=x", 400),
])
def test_bad_uploads(sample, body, ctype, want):
    if body is None:
        body = sample[:3000]
    status, _, out = call(body, ctype)
    assert status == want, out
    assert out.endswith(b"\n") and len(out) < 500


def test_method_path_and_size_checks(sample):
    assert call(sample, method="GET")[0] == 405
    assert call(sample, path="/elsewhere")[0] == 404
    assert call(b"", length="")[0] == 411
    assert call(b"x" * 10, length=wsgi_upload.MAX_UPLOAD + 1)[0] == 413
    assert call(sample[:100], length=200)[0] == 400
