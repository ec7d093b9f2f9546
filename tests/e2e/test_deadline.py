"""Deadlines and an unreachable broker: a clean 504 or 503 with an error body, never a hang."""
import http.client
import json
import time

from conftest import _listens, chat_body, free_port, refused_port


def post(port, body, headers, timeout=30):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request("POST", "/v1/chat/completions", body, headers)
    resp = conn.getresponse()
    data = json.loads(resp.read())
    conn.close()
    return resp.status, data


def test_no_worker_gives_504(cluster):
    _, port = cluster.ingress("i1", LLMGW_REQUEST_TIMEOUT_MS=1000)
    start = time.monotonic()
    status, body = post(port, chat_body("nobody home"), cluster.headers())
    assert status == 504
    assert body["error"]["code"] == "gateway_timeout" and body["error"]["type"]
    assert time.monotonic() - start < 10
    # a second request behaves the same: nothing is stuck
    status, _ = post(port, chat_body("again"), cluster.headers())
    assert status == 504


def test_client_shortens_its_deadline(cluster):
    """x-llmgw-timeout-ms shortens the deadline of one request (the configured one stays the ceiling)."""
    _, port = cluster.ingress("i1", LLMGW_REQUEST_TIMEOUT_MS=60000)
    start = time.monotonic()
    status, body = post(port, chat_body("quick or nothing"), {**cluster.headers(), "x-llmgw-timeout-ms": "300"})
    assert status == 504 and body["error"]["code"] == "gateway_timeout"
    assert time.monotonic() - start < 30, "the 300 ms deadline applied, not the configured 60 s"


def test_kafka_unreachable_gives_503(cluster):
    nobody, dead = refused_port()  # nothing listens here for the test's length
    resp = None
    for _ in range(3):  # a port taken between the pick and the bind costs an attempt, as on_a_free_port's rule
        port = free_port()
        proc = cluster.start("ingress", "i-dead", LLMGW_KAFKA_BROKERS=f"127.0.0.1:{dead}", LLMGW_PORT=port,
                             LLMGW_INGRESS_ID=f"{cluster.prefix}-dead", LLMGW_REQUEST_TIMEOUT_MS=5000)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.popen.poll() is None:  # it listens though not ready
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/readyz")
                resp = conn.getresponse()
                resp.read()
                if _listens(proc.popen.pid, port):
                    break
                resp = None  # another process's answer: this one could not bind, and exits
            except OSError:
                pass
            time.sleep(0.1)
        if resp is not None or "cannot listen on" not in proc.output():
            break
    assert resp is not None and resp.status == 503
    start = time.monotonic()
    status, body = post(port, chat_body("is kafka there?"), cluster.headers())
    assert status == 503, body
    assert body["error"]["type"] == "service_unavailable"
    assert time.monotonic() - start < 5, "503 must come within the request deadline"
    assert proc.stop() == 0
    nobody.close()
