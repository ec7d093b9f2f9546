"""How many provider calls one worker holds at once, and that none of them is lost or mixed up at that scale:
2,000 streamed chat jobs written straight to Kafka are all in flight in one worker at the same moment (the
C fake provider, bench_fakeprov, counts the streams it serves at once, and holds each stream's first chunk until
all 2,000 are open, so how fast a loaded machine opens them does not matter), and every one of them comes back
complete, in order, from one run, with its exact cost, and is counted once in the ledger; and 100 clients
that leave their streams at the same moment each get their upstream call cut (the fake sees every one
aborted), so a burst of cancels is not served one at a time or dropped.

The worker runs its provider transfers on a libcurl multi loop; LLMGW_WORKER_CONCURRENCY is how many jobs it
holds at once (above it, it stops taking jobs from Kafka)."""
import http.client
import json
import re
import selectors
import socket
import subprocess
import time
import uuid
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import ROOT, load_schema, start_bench_fakeprov, wait_for

KEY = "sk-fake-test-key"
MODEL = "gpt-4o-mini"
STREAMS = 2000
CHUNKS = 10  # bench_fakeprov streams "tok0 " .. "tok9 ", then usage: 12 prompt tokens, CHUNKS completion tokens
GAP_MS = 300  # between chunks: each stream lasts ~3 s once the fake lets it go (--hold-until)
HOLD_MAX_MS = 60_000  # how long the fake holds a stream's first chunk waiting for all 2,000 to be open
CANCELS = 100


def price_nusd_per_token(model: str) -> tuple:
    """(input, output) price of a catalog model in nano-USD per token (the catalog has USD per 1M tokens)."""
    catalog = json.loads((ROOT / "catalog" / "models.json").read_text())
    price = next(m for m in catalog["models"] if m["id"] == model)["price"]
    per_token = [Decimal(price["input"]) * 1000, Decimal(price["output"]) * 1000]
    assert all(p == int(p) for p in per_token), "the test assumes whole nano-dollars per token"
    return int(per_token[0]), int(per_token[1])


def fake_get(port: int, path: str) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    return json.loads(conn.getresponse().read())


@pytest.fixture
def fakeprov(cluster):
    """Starts bench_fakeprov (built next to the llmgw binary) with the given options; returns its port.
    Stopped at the end of the test."""
    started = []

    def start(*args: str) -> int:
        binary = Path(cluster.bin).parent / "bench_fakeprov"
        assert binary.exists(), f"{binary} is missing: the build makes it next to llmgw"
        proc, port = start_bench_fakeprov(binary, *args)
        started.append(proc)
        return port

    yield start
    for proc in started:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stream_job(reply_topic: str, i: int, deadline_ms: int) -> dict:
    """A streamed chat job as a batch producer writes it (schemas/job.schema.json)."""
    return {"v": 1, "id": str(uuid.uuid4()), "kind": "chat", "tenant": "batch-tenant", "user": "load",
            "created_ms": int(time.time() * 1000), "deadline_ms": deadline_ms,
            "reply_to": {"topic": reply_topic, "partition": 0}, "strategy": "default", "stream": True, "attempt": 1,
            "body": {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": f"stream {i}"}]}}


def peak_rss_kb(pid: int) -> int:
    """The process's peak resident set (VmHWM), in kB; 0 if it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def test_2000_concurrent_streams_in_one_worker(cluster, fakeprov):
    """2,000 streamed jobs, each ~3 s long, written to Kafka at once: the one worker holds all of them at the
    same moment (the fake sends no stream's first chunk until all 2,000 are open, or 60 s pass), and each comes
    back whole (chunks in order, one run, then a final reply with the usage and the exact cost) and is counted
    once in the ledger. Prints the timings and the worker's peak RSS."""
    t0 = time.monotonic()
    fake = fakeprov("--chunks", str(CHUNKS), "--gap-ms", str(GAP_MS), "--hold-until", str(STREAMS),
                    "--hold-max-ms", str(HOLD_MAX_MS))
    cluster.extra_env.update({"LLMGW_OPENAI_BASE_URL": f"http://127.0.0.1:{fake}/v1", "LLMGW_OPENAI_API_KEY": KEY})
    cluster.ledger()
    worker, _ = cluster.worker("w1", LLMGW_WORKER_CONCURRENCY=STREAMS + 100)
    # After the libcurl multi rewrite, its settings can be pinned here too (the thread-pool worker ignores them):
    # LLMGW_WORKER_HTTP_LOOPS=1, LLMGW_WORKER_PLAN_THREADS=2, LLMGW_PROVIDER_MAX_HOST_CONNECTIONS=10000.
    reply_topic = f"{cluster.prefix}.stream-results"
    admin = AdminClient({"bootstrap.servers": cluster.kafka})
    for f in admin.create_topics([NewTopic(reply_topic, 1, 1)]).values():
        f.result(30)
    deadline = int(time.time() * 1000) + 120_000
    jobs = [stream_job(reply_topic, i, deadline) for i in range(STREAMS)]
    prod = Producer({"bootstrap.servers": cluster.kafka, "linger.ms": 5})
    for job in jobs:
        prod.produce(f"{cluster.prefix}.jobs.chat", key=job["id"].encode(), value=json.dumps(job).encode())
    assert prod.flush(30) == 0
    t_produced = time.monotonic()

    # Every message of the one-partition reply topic, in order; a job's messages share its key.
    c = Consumer({"bootstrap.servers": cluster.kafka, "group.id": "test-" + uuid.uuid4().hex,
                  "enable.auto.commit": False})
    c.assign([TopicPartition(reply_topic, 0, OFFSET_BEGINNING)])
    by_id = {job["id"]: [] for job in jobs}
    finals = 0
    first_seen, until = None, time.monotonic() + 120
    try:
        while finals < STREAMS and time.monotonic() < until:
            for msg in c.consume(1000, 0.5):
                if msg.error():
                    continue
                reply = json.loads(msg.value())
                assert msg.key().decode() == reply["id"] and reply["id"] in by_id
                by_id[reply["id"]].append(reply)
                finals += reply["final"]
                first_seen = first_seen or time.monotonic()
    finally:
        c.close()
    t_done = time.monotonic()
    rss = peak_rss_kb(worker.popen.pid)
    stats = fake_get(fake, "/_stats")
    print(f"\n{STREAMS} streams, {sum(map(len, by_id.values()))} replies: produced {t_produced - t0:.1f}s after the "
          f"test's start, first reply {(first_seen or t_done) - t_produced:.1f}s and the last final one "
          f"{t_done - t_produced:.1f}s after that; fake {stats}; worker peak RSS {rss / 1024:.0f} MiB")
    assert finals == STREAMS, f"only {finals} of {STREAMS} streams ended within 120s; fake {stats}"

    price_in, price_out = price_nusd_per_token(MODEL)
    cost = 12 * price_in + CHUNKS * price_out
    reply_schema = jsonschema.Draft202012Validator(load_schema("reply.schema.json"))
    text = [f"tok{k} " for k in range(CHUNKS)]
    run_ids = {}
    for job_id, replies in by_id.items():
        assert replies, f"{job_id}: no reply"
        *chunks, final = replies
        assert final["final"] and not any(r["final"] for r in chunks), f"{job_id}: the final reply is not last"
        assert [r["seq"] for r in replies] == list(range(len(replies))), f"{job_id}: out of order"
        assert len({r.get("run_id") for r in replies}) == 1 and final.get("run_id"), f"{job_id}: more than one run"
        pieces = [ch["delta"].get("content") for r in chunks for ch in r["body"].get("choices", [])]
        assert [p for p in pieces if p] == text, f"{job_id}: {pieces}"
        assert final["status"] == 200 and final["body"] == {"object": "llmgw.stream.end"}, final
        assert (final["provider"], final["model"]) == ("openai", MODEL)
        assert final["usage"] == {"input_tokens": 12, "output_tokens": CHUNKS, "cached_input_tokens": 0}
        assert final["cost"] == cost and final.get("cost_known") is True, final
        run_ids[job_id] = final["run_id"]
    for replies in list(by_id.values())[:100]:  # a sample: all 2,000 jobs' messages would take seconds
        for r in replies:
            reply_schema.validate(r)

    # All 2,000 were held at once by the one worker, and none of its transfers was cut. (The fake counts a
    # stream done a moment after its last bytes left, which may be after the worker's final reply.) A worker
    # that held fewer would leave the fake's barrier shut: its streams wait HOLD_MAX_MS, and max_active shows it.
    stats = wait_for(lambda: (st := fake_get(fake, "/_stats"))["active"] == 0 and st, 10, "the fake's streams to end")
    assert stats["streams"] == STREAMS and stats["aborted"] == 0, stats
    assert stats["max_active"] >= STREAMS, f"the worker held at most {stats['max_active']} streams at once"

    # One cost event per job, the run that answered, at the exact price.
    cur = cluster.db().cursor()

    def ledger_rows():
        cur.execute("SELECT request_id, event_id, outcome, status, cost_nusd, input_tokens, output_tokens, rerun "
                    "FROM cost_events WHERE request_id = ANY(%s)", (list(by_id),))
        rows = cur.fetchall()
        return rows if len({r[0] for r in rows}) == STREAMS else None

    rows = wait_for(ledger_rows, 60, "every job's cost event in the ledger")
    assert len(rows) == STREAMS, "a job has more than one cost event"
    for request_id, event_id, outcome, status, cost_nusd, inp, out, rerun in rows:
        assert (outcome, status, cost_nusd, inp, out, rerun) == ("ok", 200, cost, 12, CHUNKS, False)
        assert event_id == run_ids[request_id]


def test_100_cancels_reach_the_fake(cluster, fakeprov):
    """100 clients each read the first chunk of a 30-second stream, then all hang up at once; every one of
    the worker's 100 upstream transfers is cut (the fake counts each stream aborted) within seconds, and each
    cut stream is still counted once in the ledger. (bench_fakeprov, not fake_openai.py: the Python fake
    listens with a backlog of 5, and 100 connections at once can stall a few of them in the handshake.)"""
    fake = fakeprov("--chunks", "300", "--gap-ms", "100")
    cluster.extra_env.update({"LLMGW_OPENAI_BASE_URL": f"http://127.0.0.1:{fake}/v1", "LLMGW_OPENAI_API_KEY": KEY})
    cluster.ledger()
    cluster.worker("w1", LLMGW_WORKER_CONCURRENCY=2 * CANCELS)
    _, port = cluster.ingress("i1")
    sel = selectors.DefaultSelector()
    socks, received = [], [b""] * CANCELS
    try:
        for i in range(CANCELS):
            body = json.dumps({"model": MODEL, "stream": True,
                               "messages": [{"role": "user", "content": f"cancel me {i}"}]})
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            socks.append(s)
            s.sendall((f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {cluster.key}\r\n"
                       f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode())
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, i)
        waiting, until = set(range(CANCELS)), time.monotonic() + 20
        while waiting and time.monotonic() < until:
            for key, _ in sel.select(timeout=1):
                i = key.data
                data = key.fileobj.recv(65536)
                assert data, f"stream {i} ended before its first chunk: {received[i]!r}"
                received[i] += data
                if b"tok0" in received[i]:
                    waiting.discard(i)
                    sel.unregister(key.fileobj)
        assert not waiting, f"{len(waiting)} of {CANCELS} streams sent no first chunk within 20s"
        stats = fake_get(fake, "/_stats")
        assert stats["active"] == CANCELS and stats["aborted"] == 0, stats
    finally:
        for s in socks:  # all at once
            s.close()
        sel.close()
    t_closed = time.monotonic()
    rids = [re.search(rb"(?im)^x-request-id:\s*(\S+)\r$", r).group(1).decode() for r in received]

    def all_cut():
        stats = fake_get(fake, "/_stats")
        return stats if stats["aborted"] >= CANCELS else None

    stats = wait_for(all_cut, 20, f"the fake to see all {CANCELS} streams aborted", interval=0.2)
    print(f"\nall {CANCELS} upstream streams cut {time.monotonic() - t_closed:.1f}s after their clients left; "
          f"fake {stats}")
    assert stats["streams"] == CANCELS and stats["aborted"] == CANCELS, stats

    cur = cluster.db().cursor()

    def ledger_rows():
        cur.execute("SELECT request_id, outcome FROM cost_events WHERE request_id = ANY(%s)", (rids,))
        rows = cur.fetchall()
        return rows if len({r[0] for r in rows}) == CANCELS else None

    rows = wait_for(ledger_rows, 30, "every cut stream's cost event in the ledger")
    assert len(rows) == CANCELS, "a cut stream has more than one cost event"


def test_worker_stops_cleanly_with_streams_in_flight(cluster, fakeprov):
    """SIGTERM while 50 long streams are running: the worker drains for its grace period, then ends the calls
    still running (each transfer is cut, the fake sees it) and exits 0; no job is committed as done that did
    not finish, and (on the sanitizer build) nothing leaks or is touched after it was freed."""
    fake = fakeprov("--chunks", "300", "--gap-ms", "100")  # 30 s streams: still running at SIGTERM
    cluster.extra_env.update({"LLMGW_OPENAI_BASE_URL": f"http://127.0.0.1:{fake}/v1", "LLMGW_OPENAI_API_KEY": KEY})
    worker, _ = cluster.worker("w1", LLMGW_SHUTDOWN_GRACE_MS=300)
    reply_topic = f"{cluster.prefix}.stop-results"
    admin = AdminClient({"bootstrap.servers": cluster.kafka})
    for f in admin.create_topics([NewTopic(reply_topic, 1, 1)]).values():
        f.result(30)
    deadline = int(time.time() * 1000) + 120_000
    jobs = [stream_job(reply_topic, i, deadline) for i in range(50)]
    prod = Producer({"bootstrap.servers": cluster.kafka})
    for job in jobs:
        prod.produce(f"{cluster.prefix}.jobs.chat", key=job["id"].encode(), value=json.dumps(job).encode())
    assert prod.flush(30) == 0
    wait_for(lambda: fake_get(fake, "/_stats")["active"] == 50, 30, "50 streams open at the fake")
    assert worker.stop(timeout=30) == 0, worker.output()[-3000:]
    wait_for(lambda: fake_get(fake, "/_stats")["aborted"] == 50, 10, "every upstream stream cut at shutdown")
    out = worker.output()
    assert out.count("unfinished at shutdown; they will run again elsewhere") == 1, out[-3000:]
    assert "past the grace period" not in out, out[-3000:]  # the close's give-up does not warn about them again
