"""Bad input gets an OpenAI-style error with the right status, and the process keeps serving."""
import http.client
import json
import re
import socket
import subprocess
import time

import pytest

from conftest import chat_body, wait_for


@pytest.fixture
def gw(cluster):
    cluster.worker("w1")
    _, port = cluster.ingress("i1", LLMGW_MAX_BODY_BYTES=4096, LLMGW_MAX_JSON_DEPTH=16)
    return cluster, port


def call_h(port, method, path, body=None, headers=None):
    """status, body bytes and the response headers (names lowercased)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body, headers or {})
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    return resp.status, raw, {k.lower(): v for k, v in resp.getheaders()}


def call(port, method, path, body=None, headers=None):
    return call_h(port, method, path, body, headers)[:2]


# The ingress's request ids: RFC 9562 version 7 UUIDs (common/uuid.h), time first.
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def uuid7_ms(rid):
    """The Unix milliseconds a version 7 id was made at (its first 48 bits)."""
    return int(rid[:8] + rid[9:13], 16)


def assert_error(status, raw, want_status, want_code=None):
    assert status == want_status, raw
    err = json.loads(raw)["error"]
    assert isinstance(err["message"], str) and err["message"]
    assert isinstance(err["type"], str) and err["type"]
    assert "code" in err
    if want_code:
        assert err["code"] == want_code


CASES = [
    ("malformed json", "POST", "/v1/chat/completions", '{"model": "echo", "messages": [', 400, "invalid_json"),
    ("not an object", "POST", "/v1/chat/completions", "[1, 2]", 400, None),
    ("missing model", "POST", "/v1/chat/completions", '{"messages":[{"role":"user","content":"x"}]}', 400, None),
    ("model wrong type", "POST", "/v1/chat/completions", '{"model":5,"messages":[{"role":"user","content":"x"}]}',
     400, None),
    ("missing messages", "POST", "/v1/chat/completions", '{"model":"echo"}', 400, None),
    ("empty messages", "POST", "/v1/chat", '{"model":"echo","messages":[]}', 400, None),
    ("messages wrong type", "POST", "/v1/chat", '{"model":"echo","messages":{"role":"user"}}', 400, None),
    ("bad role", "POST", "/v1/chat", '{"model":"echo","messages":[{"role":"robot","content":"x"}]}', 400, None),
    ("content wrong type", "POST", "/v1/chat", '{"model":"echo","messages":[{"role":"user","content":7}]}', 400,
     None),
    ("temperature wrong type", "POST", "/v1/chat",
     '{"model":"echo","messages":[{"role":"user","content":"x"}],"temperature":"hot"}', 400, None),
    ("too deep", "POST", "/v1/chat", '{"model":"echo","messages":[{"role":"user","content":"x"}],"metadata":'
     + "[" * 40 + "]" * 40 + "}", 400, "json_too_deep"),
    ("missing input", "POST", "/v1/embeddings", '{"model":"echo-embedding"}', 400, None),
    ("input wrong type", "POST", "/v1/embeddings", '{"model":"echo-embedding","input":{"a":1}}', 400, None),
    ("bad dimensions", "POST", "/v1/embeddings", '{"model":"echo-embedding","input":"x","dimensions":-3}', 400,
     None),
    ("unknown route", "GET", "/v1/nothing-here", None, 404, "not_found"),
    ("unknown route with body", "POST", "/v2/chat", chat_body("x"), 404, "not_found"),
    ("wrong method", "GET", "/v1/chat/completions", None, 405, "method_not_allowed"),
    ("wrong method on models", "DELETE", "/v1/models", None, 405, "method_not_allowed"),
    ("unknown model", "POST", "/v1/chat", chat_body("x", model="gpt-nope"), 404, "model_not_found"),
    ("embedding model for chat", "POST", "/v1/chat", chat_body("x", model="echo-embedding"), 404, "model_not_found"),
]


# The field at fault, as OpenAI's errors name it in "param" (null when no one field is).
PARAMS = {
    "missing model": "model", "model wrong type": "model", "missing messages": "messages",
    "empty messages": "messages", "messages wrong type": "messages", "bad role": "messages[0].role",
    "content wrong type": "messages[0].content", "temperature wrong type": "temperature",
    "missing input": "input", "input wrong type": "input", "bad dimensions": "dimensions",
    "max_tokens zero": "max_tokens",
}
CASES.append(("max_tokens zero", "POST", "/v1/chat/completions",
              '{"model":"echo","messages":[{"role":"user","content":"x"}],"max_tokens":0}', 400, None))


@pytest.mark.parametrize("name,method,path,body,status,code", CASES, ids=[c[0] for c in CASES])
def test_bad_input(gw, name, method, path, body, status, code):
    cluster, port = gw
    s, raw, headers = call_h(port, method, path, body, cluster.headers())
    assert_error(s, raw, status, code)
    assert json.loads(raw)["error"]["param"] == PARAMS.get(name), raw
    assert UUID.match(headers.get("x-request-id", "")), headers
    # and the gateway keeps serving
    s, raw = call(port, "POST", "/v1/chat/completions", chat_body("still alive"), cluster.headers())
    assert s == 200 and json.loads(raw)["choices"][0]["message"]["content"] == "still alive"


def test_auth(gw):
    cluster, port = gw
    s, raw = call(port, "POST", "/v1/chat", chat_body("x"), {"Content-Type": "application/json"})
    assert_error(s, raw, 401, "invalid_api_key")
    s, raw = call(port, "POST", "/v1/chat", chat_body("x"), {"Authorization": "Bearer lgw-not-a-key"})
    assert_error(s, raw, 401, "invalid_api_key")
    s, raw = call(port, "POST", "/v1/chat", chat_body("x"), {"Authorization": f"Basic {cluster.key}"})
    assert_error(s, raw, 401)
    s, raw = call(port, "GET", "/v1/models", None, {})
    assert_error(s, raw, 401)


def test_admin_key_makes_no_model_requests(cluster):
    """An admin key names no tenant to bill: a model request with it is 403, never served as some tenant."""
    out = subprocess.run([cluster.bin, "keys", "new", "--tenant", "ops"], capture_output=True, text=True,
                         check=True).stdout
    admin = dict(line.split(": ", 1) for line in out.strip().splitlines())
    cluster.worker("w1")
    _, port = cluster.ingress("i1", LLMGW_ADMIN_KEYS=f"ops:{admin['sha256']}")
    for path in ("/v1/chat/completions", "/v1/embeddings"):
        s, raw = call(port, "POST", path, chat_body("x"), {"Authorization": f"Bearer {admin['key']}"})
        assert_error(s, raw, 403, "permission_denied")
    s, raw = call(port, "POST", "/v1/messages", json.dumps({"model": "m", "max_tokens": 5, "messages": []}),
                  {"x-api-key": admin["key"]})
    assert s == 403, raw
    # the tenant key still works next to it
    s, raw = call(port, "POST", "/v1/chat/completions", chat_body("x"), cluster.headers())
    assert s == 200, raw


def test_body_too_large_by_content_length(gw):
    """413 from the declared Content-Length, before the body is read: the server answers without waiting."""
    cluster, port = gw
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {cluster.key}\r\n"
            "Content-Type: application/json\r\nContent-Length: 10000000\r\n\r\n")
    sock.sendall(head.encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    sock.close()
    assert data.startswith(b"HTTP/1.1 413"), data[:200]
    s, raw = call(port, "POST", "/v1/chat/completions", chat_body("after 413"), cluster.headers())
    assert s == 200


def test_body_too_large_chunked(gw):
    """Without Content-Length (chunked), the cap applies while reading."""
    cluster, port = gw

    def gen():
        for _ in range(10):
            yield b"x" * 1000

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/v1/chat/completions", gen(), cluster.headers(), encode_chunked=True)
    resp = conn.getresponse()
    assert_error(resp.status, resp.read(), 413, "request_too_large")


def test_stream_on_embeddings_refused(gw):
    cluster, port = gw
    body = json.dumps({"model": "echo-embedding", "stream": True, "input": "x"})
    s, raw = call(port, "POST", "/v1/embeddings", body, cluster.headers())
    assert_error(s, raw, 400, "unsupported_parameter")
    assert json.loads(raw)["error"]["param"] == "stream"


def test_every_answer_has_a_request_id(gw):
    """x-request-id on every answer the ingress writes: GET routes, 401s, the 413 refused from the declared
    Content-Length before the body is read, chunked bodies over the cap, successes; each id its own, made at the
    time of its request, so that ids sort in the order their requests came."""
    cluster, port = gw
    ids = []
    t0 = int(time.time() * 1000)
    for method, path, body, headers, want in [
        ("GET", "/healthz", None, {}, 200),
        ("GET", "/readyz", None, {}, 200),
        ("GET", "/metrics", None, {}, 200),
        ("GET", "/v1/models", None, cluster.headers(), 200),
        ("GET", "/v1/models", None, {}, 401),
        ("POST", "/v1/chat", chat_body("x"), {"Authorization": "Bearer lgw-not-a-key"}, 401),
        ("POST", "/v1/chat", '{"model":"echo"}', cluster.headers(), 400),
        ("POST", "/v1/chat", chat_body("x"), cluster.headers(), 200),
    ]:
        s, _, h = call_h(port, method, path, body, headers)
        assert s == want, (method, path, s)
        assert UUID.match(h.get("x-request-id", "")), (method, path, h)
        ids.append(h["x-request-id"])

    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall((f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {cluster.key}\r\n"
                  "Content-Type: application/json\r\nContent-Length: 10000000\r\n\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    sock.close()
    assert data.startswith(b"HTTP/1.1 413"), data[:200]
    m = re.search(rb"(?im)^x-request-id:\s*(\S+)\r$", data)
    assert m and UUID.match(m.group(1).decode()), data[:500]
    ids.append(m.group(1).decode())

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/v1/chat/completions", (b"x" * 1000 for _ in range(10)), cluster.headers(),
                 encode_chunked=True)
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 413 and UUID.match(resp.getheader("x-request-id") or "")
    ids.append(resp.getheader("x-request-id"))
    t1 = int(time.time() * 1000)
    assert len(set(ids)) == len(ids)
    assert all(t0 <= uuid7_ms(i) <= t1 for i in ids), (t0, t1, ids)
    assert ids == sorted(ids), ids  # one after another, so in time order: a database index grows at its end


def test_headers_too_large(gw):
    """A head above max_header_bytes (8 KiB by default) gets a JSON 431 once the client has sent its whole
    body; heads up to the cap are served; /metrics counts the 431s. (libmicrohttpd used to answer with an
    HTML page and close the socket while the client was still sending: most clients saw a broken pipe.)"""
    cluster, port = gw
    s, raw, _ = call_h(port, "POST", "/v1/chat/completions", chat_body("under the cap"),
                       {**cluster.headers(), "X-Pad": "a" * 7000})
    assert s == 200 and json.loads(raw)["choices"][0]["message"]["content"] == "under the cap"

    body = b"x" * (1 << 20)  # far above this gateway's 4 KiB body cap: read and dropped, the 431 says why
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {cluster.key}\r\n"
            f"Content-Type: application/json\r\nX-Pad: {'a' * 10000}\r\nContent-Length: {len(body)}\r\n\r\n")
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(head.encode() + body)  # a broken pipe here fails the test
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        if b"\r\n\r\n" in data:
            hdr, _, rest = data.partition(b"\r\n\r\n")
            m = re.search(rb"(?im)^content-length:\s*(\d+)\r?$", hdr)
            if m and len(rest) >= int(m.group(1)):
                break
    sock.close()
    hdr, _, rest = data.partition(b"\r\n\r\n")
    assert hdr.startswith(b"HTTP/1.1 431"), data[:300]
    assert re.search(rb"(?im)^content-type:\s*application/json\r?$", hdr), hdr
    assert re.search(rb"(?im)^x-request-id:\s*\S+\r?$", hdr), hdr
    err = json.loads(rest)["error"]
    assert err["code"] == "request_headers_too_large" and err["type"] == "invalid_request_error"

    # counted when the head is read; the per-status count when the HTTP server reports the request complete
    text = wait_for(lambda: (t := call_h(port, "GET", "/metrics")[1].decode()) and
                    'llmgw_http_requests_total{route="/v1/chat/completions",status="431"} 1' in t and t,
                    10, "the 431 in /metrics")
    assert "llmgw_http_headers_too_large_total 1" in text
