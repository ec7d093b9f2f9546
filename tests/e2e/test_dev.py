"""`llmgw dev`: everything in one process on embedded defaults (mock Kafka, SQLite, echo). Also run from
the AddressSanitizer build, and (scripts/test.sh, stage e2e-tsan) from the ThreadSanitizer one: a clean SIGTERM
with no sanitizer report. Cancels of streams whose client left
reach the worker in dev too. (Kafka behaviour is tested against the real broker elsewhere; the mock
cluster only proves dev mode works.)"""
import http.client
import json
import os
import re
import socket
import sqlite3
import time

import pytest

from conftest import SANITIZER_MARKERS, chat_body, start_fake, start_on_a_free_port, wait_for


def run_dev(tmp_path, binary, name, **extra):
    db = tmp_path / f"{name}.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMGW_")}
    env.update({"LLMGW_DATABASE_URL": f"sqlite:{db}",
                "ASAN_OPTIONS": "detect_leaks=1", "UBSAN_OPTIONS": "print_stacktrace=1"})
    env.update({k: str(v) for k, v in extra.items()})
    proc, port = start_on_a_free_port(name, [binary, "dev"], env, tmp_path / f"{name}.log")
    return proc, port, db


def post(port, path, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", path, body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = json.loads(resp.read())
    conn.close()
    return resp.status, data


@pytest.mark.parametrize("variant", ["LLMGW_BIN", "LLMGW_BIN_ASAN"])
def test_dev_mode(tmp_path, variant):
    binary = os.environ.get(variant)
    if not binary:
        pytest.fail(f"{variant} is not set: run through scripts/test.sh", pytrace=False)
    proc, port, db = run_dev(tmp_path, binary, variant.lower())
    try:
        status, body = post(port, "/v1/chat/completions", chat_body("hello dev"))
        assert status == 200 and body["choices"][0]["message"]["content"] == "hello dev"
        status, body = post(port, "/v1/chat", chat_body("short form"))
        assert status == 200 and body["choices"][0]["message"]["content"] == "short form"
        status, body = post(port, "/v1/embeddings", json.dumps({"model": "echo-embedding", "input": "x",
                                                                  "dimensions": 16}))
        assert status == 200 and len(body["data"][0]["embedding"]) == 16
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/v1/models")
        models = json.loads(conn.getresponse().read())
        assert {m["id"] for m in models["data"]} >= {"echo", "echo-embedding"}
        # echo stands in for every catalog model in dev: each listed once, as served by echo
        owners = {m["id"]: m["owned_by"] for m in models["data"]}
        assert len(owners) == len(models["data"])
        assert owners["gpt-4o-mini"] == owners["claude-sonnet-4-5"] == owners["gemini-2.5-flash-lite"] == "echo"
        assert owners["text-embedding-3-small"] == "echo" and owners["auto"] == "llmgw"
        conn.request("GET", "/v1/models/gpt-4o")
        resp = conn.getresponse()
        assert resp.status == 200 and json.loads(resp.read()) == {"id": "gpt-4o", "object": "model", "created": 0,
                                                                  "owned_by": "echo"}

        def rows():
            if not db.exists():
                return None
            with sqlite3.connect(db) as c:
                got = c.execute("SELECT tenant, provider, kind, outcome FROM cost_events").fetchall()
            return got if len(got) >= 3 else None

        got = wait_for(rows, 30, "three cost rows in the SQLite ledger")
        assert ("dev", "echo", "embeddings", "ok") in got and ("dev", "echo", "chat", "ok") in got
    finally:
        code = proc.stop(timeout=60)
    out = proc.output()
    assert code == 0, out[-3000:]
    assert not any(marker in out for marker in SANITIZER_MARKERS), out[-5000:]


def test_dev_mode_cancels_reach_the_worker(tmp_path):
    """Streaming clients that leave after the first chunk get their upstream call aborted in `llmgw dev` too.

    Before the topic table (common/topics.c), dev created <prefix>.cancel with kafka_partitions (4)
    partitions while workers read partition 0 only, so a cancel (keyed by request id) was lost three times
    in four and this test failed; with 4 requests the old layout passes by chance once in 256 runs."""
    binary = os.environ.get("LLMGW_BIN")
    if not binary:
        pytest.fail("LLMGW_BIN is not set: run through scripts/test.sh", pytrace=False)
    fake, fake_proc = start_fake("fake_openai.py")
    proc = None
    try:
        proc, port, _ = run_dev(tmp_path, binary, "dev-cancel", LLMGW_OPENAI_BASE_URL=f"http://127.0.0.1:{fake}/v1",
                                LLMGW_OPENAI_API_KEY="sk-fake-test-key")
        # fake_openai.py streams "slowstream <n> ..." as n words 100 ms apart (20 s here), whatever follows n,
        # and lists the message under GET /_aborted when its caller hangs up.
        texts = [f"slowstream 200 {tag}" for tag in "abcd"]
        socks, rids = [], []
        for text in texts:
            body = json.dumps({"model": "gpt-4o-mini", "stream": True,
                               "messages": [{"role": "user", "content": text}]})
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall((f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          f"Content-Length: {len(body)}\r\n\r\n{body}").encode())
            socks.append(sock)
        for sock in socks:  # all four streams run at once; each client leaves after its first chunk
            received = b""
            while b"w0" not in received:
                data = sock.recv(65536)
                assert data, f"the stream ended before its first chunk: {received!r}"
                received += data
                assert b"\r\n\r\n" not in received or received.startswith(b"HTTP/1.1 200"), received[:2000]
            sock.close()
            m = re.search(rb"(?im)^x-request-id:\s*(\S+)\r$", received)
            rids.append(m.group(1).decode() if m else "?")

        def aborted():
            conn = http.client.HTTPConnection("127.0.0.1", fake, timeout=5)
            conn.request("GET", "/_aborted")
            return set(json.loads(conn.getresponse().read()))

        # A lost cancel leaves its stream running for its full 20 s.
        deadline = time.monotonic() + 12
        while time.monotonic() < deadline and not aborted() >= set(texts):
            time.sleep(0.2)
        missing = sorted(set(texts) - aborted())
        assert not missing, f"streams never aborted (request ids {rids}): {missing}"
    finally:
        try:
            code = proc.stop(timeout=60) if proc else None
        finally:
            fake_proc.terminate()
            fake_proc.wait()
    assert code == 0, proc.output()[-3000:]


@pytest.mark.parametrize("variant", ["LLMGW_BIN", "LLMGW_BIN_ASAN"])
def test_dev_mode_response_cache_in_memory(tmp_path, variant):
    """The cache is off in dev unless asked for; asked for, it runs in the process's memory (no Redis, even
    with a Redis URL set) and a hit is a row in the SQLite ledger with cache_hit and saved_nusd."""
    binary = os.environ.get(variant)
    if not binary:
        pytest.fail(f"{variant} is not set: run through scripts/test.sh", pytrace=False)
    proc, port, db = run_dev(tmp_path, binary, "dev-cache-" + variant.lower(), LLMGW_REDIS_URL="redis://127.0.0.1:1")

    def send(headers):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", "/v1/chat/completions", chat_body("cache in dev"),
                     {"Content-Type": "application/json", **headers})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, resp.getheader("x-llmgw-cache"), data

    try:
        assert send({})[:2] == (200, "bypass")  # off by default
        on = {"x-llmgw-cache-ttl": "60"}
        s1, c1, b1 = send(on)
        s2, c2, b2 = send(on)
        assert (s1, c1, s2, c2) == (200, "miss", 200, "hit") and b1 == b2
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/metrics")
        metrics = conn.getresponse().read().decode()
        assert 'llmgw_cache_lookups_total{result="hit",backend="memory"} 1' in metrics

        def hit_row():
            if not db.exists():
                return None
            with sqlite3.connect(db) as c:
                return c.execute("SELECT cost_nusd, saved_nusd FROM cost_events WHERE cache_hit = 1").fetchall()
        assert wait_for(hit_row, 30, "the hit's row in the SQLite ledger") == [(0, 0)]  # echo is free: saved 0
    finally:
        code = proc.stop(timeout=60)
    out = proc.output()
    assert code == 0, out[-3000:]
    assert not any(marker in out for marker in SANITIZER_MARKERS), out[-5000:]
    # dev never tried the Redis URL: the one line that names it says it is ignored
    redis_lines = [line for line in out.splitlines() if "redis" in line.lower()]
    assert all("LLMGW_REDIS_URL is ignored" in line for line in redis_lines) and len(redis_lines) == 1, redis_lines
