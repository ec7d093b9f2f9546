"""The dashboard's files as the production ingress serves them (ingress/static.c): GET / and /ui/<file>
without a key, the bytes of web/ as they are or gzip'd as the client's Accept-Encoding allows, strong ETags
and 304s, HEAD, the cache and security headers (the CSP above all), and a JSON 404 for a file that is not
there. Every request is over HTTP to a real `llmgw ingress` against the real Kafka broker."""
import gzip
import re

import httpx
import pytest

from conftest import ROOT

WEB = ROOT / "web"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml; charset=utf-8"}


@pytest.fixture
def base(cluster):
    _, port = cluster.ingress("ing")
    # httpx asks for gzip by default and inflates it; each test says what it accepts and reads raw bytes.
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        yield client


def get(client, path, encoding="identity", method="GET", **headers):
    req = client.build_request(method, path, headers={"Accept-Encoding": encoding, **headers})
    resp = client.send(req, stream=True)
    body = b"".join(resp.iter_raw())
    resp.close()
    return resp, body


def web_files():
    return sorted(p.name for p in WEB.iterdir() if p.is_file() and not p.name.startswith("."))


def test_every_file_raw_and_gzip(base):
    for name in web_files():
        raw = (WEB / name).read_bytes()
        path = "/" if name == "index.html" else f"/ui/{name}"
        plain, body = get(base, path)
        assert plain.status_code == 200, name
        assert body == raw, name
        assert plain.headers["content-type"] == TYPES[(WEB / name).suffix]
        assert "content-encoding" not in plain.headers
        assert re.fullmatch(r'"[0-9a-f]{16}"', plain.headers["etag"])
        zipped, zbody = get(base, path, "gzip, deflate, br")
        assert zipped.status_code == 200
        assert zipped.headers["content-encoding"] == "gzip", name
        assert gzip.decompress(zbody) == raw
        assert len(zbody) < len(raw)
        assert zipped.headers["etag"] == plain.headers["etag"][:-1] + '-gz"'  # another representation
        for resp in (plain, zipped):
            assert resp.headers["vary"] == "Accept-Encoding"
            assert resp.headers["cache-control"] == "no-cache"
            assert resp.headers["content-security-policy"] == CSP
            assert resp.headers["x-content-type-options"] == "nosniff"
            assert resp.headers["referrer-policy"] == "no-referrer"
    _, body = get(base, "/ui/index.html")  # the same page under its own name
    assert body == (WEB / "index.html").read_bytes()


def test_gzip_refused_or_not_offered(base):
    for accept in ("identity", "gzip;q=0", "br", "*;q=0"):
        resp, body = get(base, "/ui/app.css", accept)
        assert "content-encoding" not in resp.headers, accept
        assert body == (WEB / "app.css").read_bytes()
    resp, body = get(base, "/ui/app.css", "*")
    assert resp.headers["content-encoding"] == "gzip"


def test_etag_revalidation(base):
    for encoding in ("identity", "gzip"):
        first, body = get(base, "/", encoding)
        etag = first.headers["etag"]
        again, empty = get(base, "/", encoding, **{"If-None-Match": etag})
        assert again.status_code == 304 and empty == b""
        assert again.headers["etag"] == etag
        assert again.headers["cache-control"] == "no-cache" and again.headers["vary"] == "Accept-Encoding"
        weak, _ = get(base, "/", encoding, **{"If-None-Match": f'"other", W/{etag}'})
        assert weak.status_code == 304
        other, body2 = get(base, "/", encoding, **{"If-None-Match": '"0000000000000000"'})
        assert other.status_code == 200 and body2 == body
    # a tag of the gzip representation does not validate the identity one
    gz, _ = get(base, "/", "gzip")
    plain, body = get(base, "/", "identity", **{"If-None-Match": gz.headers["etag"]})
    assert plain.status_code == 200 and body == (WEB / "index.html").read_bytes()


def test_head(base):
    full, body = get(base, "/ui/main.js", "gzip")
    head, nothing = get(base, "/ui/main.js", "gzip", method="HEAD")
    assert head.status_code == 200 and nothing == b""
    assert head.headers["content-length"] == str(len(body))
    assert head.headers["etag"] == full.headers["etag"]
    assert head.headers["content-encoding"] == "gzip"
    head, _ = get(base, "/", method="HEAD")
    assert head.status_code == 200 and head.headers["content-type"] == "text/html; charset=utf-8"


def test_unknown_file_and_method(base):
    for path in ("/ui/nope.js", "/ui/../README.md", "/ui/%2e%2e/CMakeLists.txt", "/ui/web/index.html"):
        resp, body = get(base, path)
        assert resp.status_code == 404, path
        assert resp.headers["content-type"] == "application/json"
        err = httpx.Response(404, content=body).json()["error"]
        assert err["code"] == "not_found" and err["type"] == "invalid_request_error"
    resp, body = get(base, "/ui/nope.js")
    assert "nope.js" in httpx.Response(404, content=body).json()["error"]["message"]
    resp, _ = get(base, "/", method="POST")
    assert resp.status_code == 405
    resp, _ = get(base, "/ui/", method="GET")
    assert resp.status_code == 404


def test_page_is_public_and_data_is_not(base):
    """The page needs no key (the cluster has tenant keys); the API it calls still does."""
    resp, _ = get(base, "/")
    assert resp.status_code == 200 and "x-request-id" in resp.headers
    resp, _ = get(base, "/v1/models")
    assert resp.status_code == 401


def test_page_refers_only_to_served_files(base):
    _, html = get(base, "/")
    refs = re.findall(rb'(?:src|href)="([^"]+)"', html)
    assert refs
    for ref in refs:
        if ref.startswith(b"#"):
            continue  # a link inside the page
        assert ref.startswith(b"/ui/"), f"index.html refers to {ref!r}, outside /ui/ (or another origin)"
        resp, _ = get(base, ref.decode())
        assert resp.status_code == 200, ref
    assert b"<style" not in html and b"style=" not in html  # the CSP allows no inline style
    assert not re.search(rb"<script(?![^>]*\ssrc=)", html)  # nor inline script
