"""The parts of the external contract the other end-to-end tests do not pin down: the CLI, the topics each
process creates, the ledger table's shape, embedding defaults, JSON-line logs, and a ledger that is
killed with -9 and restarted (its Kafka offsets follow the database commit, so nothing is lost or doubled)."""
import http.client
import json
import math
import re
import subprocess

import loadgen
from confluent_kafka.admin import AdminClient

from conftest import _env, assert_ledger_complete, chat_body, wait_for


def call(port, method, path, body, headers):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body, headers)
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    return resp.status, json.loads(raw), resp


def test_cli_help_and_keys():
    binary = _env("LLMGW_BIN")
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0
    for word in ("ingress", "worker", "ledger", "dev", "keys new"):
        assert word in out.stdout + out.stderr
    keys = subprocess.run([binary, "keys", "new", "--tenant", "t1"], capture_output=True, text=True, timeout=30)
    assert keys.returncode == 0
    lines = keys.stdout.strip().splitlines()
    assert len(lines) == 2, keys.stdout
    assert re.fullmatch(r"key: lgw-\S+", lines[0])
    assert re.fullmatch(r"sha256: [0-9a-f]{64}", lines[1])
    again = subprocess.run([binary, "keys", "new", "--tenant", "t1"], capture_output=True, text=True, timeout=30)
    assert again.stdout.splitlines()[0] != lines[0], "keys must be random"
    bad = subprocess.run([binary, "no-such-command"], capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0


def test_invalid_config_refused_before_listening(cluster):
    proc = cluster.start("ingress", "bad-config", LLMGW_PORT="not-a-port", LLMGW_INGRESS_ID=f"{cluster.prefix}-bad")
    assert proc.popen.wait(30) != 0
    assert "LLMGW_PORT" in proc.output()


def test_topics_ledger_table_embeddings_and_logs(cluster):
    cluster.ledger()
    cluster.worker("w1")
    _, port = cluster.ingress("i1")
    h = cluster.headers()

    # Embeddings: default 1536 dimensions, unit length, deterministic, string or list input.
    s, one, resp = call(port, "POST", "/v1/embeddings", json.dumps({"model": "echo-embedding", "input": "hello"}), h)
    assert s == 200, one
    assert resp.getheader("x-request-id")
    assert one["object"] == "list" and one["data"][0]["object"] == "embedding"
    vec = one["data"][0]["embedding"]
    assert len(vec) == 1536
    assert math.isclose(math.sqrt(sum(x * x for x in vec)), 1.0, rel_tol=1e-5)
    s, two, _ = call(port, "POST", "/v1/embeddings",
                     json.dumps({"model": "echo-embedding", "input": ["hello", "other"], "dimensions": 8}), h)
    assert s == 200 and [len(d["embedding"]) for d in two["data"]] == [8, 8]
    assert two["data"][0]["embedding"] != two["data"][1]["embedding"]
    s, three, _ = call(port, "POST", "/v1/embeddings", json.dumps({"model": "echo-embedding", "input": "hello"}), h)
    assert three["data"][0]["embedding"] == vec
    s, chat, resp = call(port, "POST", "/v1/chat/completions", chat_body("contract"), h)
    assert s == 200 and chat["object"] == "chat.completion"
    chat_id = resp.getheader("x-request-id")
    assert chat_id

    # Topics: job, cost and DLQ topics with 4 partitions, this ingress's reply topic with 1.
    p = cluster.prefix
    meta = AdminClient({"bootstrap.servers": cluster.kafka}).list_topics(timeout=30).topics
    for name in (f"{p}.jobs.chat", f"{p}.jobs.embeddings", f"{p}.cost", f"{p}.jobs.dlq"):
        assert name in meta, sorted(t for t in meta if t.startswith(p))
        assert len(meta[name].partitions) == 4, name
    assert len(meta[f"{p}.replies.{p}-i1"].partitions) == 1

    # The ledger table has the documented columns and types.
    cur = cluster.db().cursor()
    cur.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'cost_events'")
    cols = dict(cur.fetchall())
    want = {"event_id": "text", "request_id": "text", "tenant": "text", "user_id": "text", "provider": "text",
            "model": "text", "kind": "text", "cost_nusd": "bigint", "cost_known": "boolean", "outcome": "text",
            "rerun": "boolean", "ts_ms": "bigint"}
    for name, typ in want.items():
        assert cols.get(name) == typ, f"cost_events.{name}: {cols.get(name)} (want {typ})"
    for name in ("input_tokens", "output_tokens", "cached_input_tokens", "latency_ms", "status", "attempt"):
        assert cols.get(name) in ("integer", "bigint", "smallint"), f"cost_events.{name}: {cols.get(name)}"
    assert "worker" in cols and "created_at" in cols
    cur.execute("""SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid
                   AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'cost_events'::regclass AND i.indisprimary""")
    assert [r[0] for r in cur.fetchall()] == ["event_id"]
    wait_for(lambda: cur.execute("SELECT kind FROM cost_events WHERE request_id = %s", (chat_id,)) or cur.fetchall(),
             30, "the chat request in the ledger")

    # Logs: every line a process wrote is one JSON object with a level.
    for proc in cluster.procs:
        for line in proc.output().splitlines():
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                raise AssertionError(f"{proc.name} wrote a line that is not JSON: {line[:300]}")
            assert isinstance(entry, dict) and "level" in entry, f"{proc.name}: {line[:300]}"


def test_ledger_kill9_and_restart(cluster):
    """Cost events written while the ledger is dead, or in flight when it was killed, land exactly once."""
    ledger, _ = cluster.ledger("ledger1")
    cluster.worker("w1")
    _, port = cluster.ingress("i1")

    killed = []

    def on_progress(count):
        if count >= 150 and not killed:
            killed.append(count)
            ledger.kill9()

    results = loadgen.run([port], n=400, concurrency=20, headers=cluster.headers(), tag="ledger",
                          on_progress=on_progress)
    assert killed
    assert all(r.status == 200 for r in results), [r for r in results if r.status != 200][:1]
    cluster.ledger("ledger2")
    cur = cluster.db().cursor()
    assert_ledger_complete(cur, [r.request_id for r in results])
    cur.execute("SELECT count(*) FROM cost_events WHERE request_id = ANY(%s)", ([r.request_id for r in results],))
    assert cur.fetchone()[0] == 400
