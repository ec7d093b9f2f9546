"""`llmgw dev`: everything in one process on embedded defaults (mock Kafka, SQLite, echo). Also run from
the AddressSanitizer build: a clean SIGTERM with no sanitizer report. (Kafka behaviour is tested against
the real broker elsewhere; the mock cluster only proves dev mode works.)"""
import http.client
import json
import os
import sqlite3
import time

import pytest

from conftest import Proc, chat_body, free_port, wait_for, wait_ready


def run_dev(tmp_path, binary, name):
    port = free_port()
    db = tmp_path / f"{name}.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMGW_")}
    env.update({"LLMGW_PORT": str(port), "LLMGW_DATABASE_URL": f"sqlite:{db}",
                "ASAN_OPTIONS": "detect_leaks=1", "UBSAN_OPTIONS": "print_stacktrace=1"})
    proc = Proc(name, [binary, "dev"], env, tmp_path / f"{name}.log")
    wait_ready(port, proc, timeout=90)
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
    assert "AddressSanitizer" not in out and "runtime error" not in out and "LeakSanitizer" not in out, out[-5000:]
