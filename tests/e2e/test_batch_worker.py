"""The worker side of batches (docs/BATCH.md, "In the workers"), against real Kafka and Redis: batch lines are
produced straight to <prefix>.batch.jobs.chat with confluent-kafka, keyed as lgw_batch_line_key does
("<tenant>|<index % 4>"), and answered on <prefix>.batch.results.

Checked: every line answered exactly once, on its batch's results partition, with its batch part and the batch
id as key; a 2,000-line backlog against a slow fake provider never holds more than the worker's batch share
(metrics) while interactive requests through an ingress keep being answered, and a second tenant's small
batch finishes while the first tenant's backlog is still mostly pending; cancelled and expired lines are
answered batch_cancelled / batch_expired without a provider call; a tenant over its rate limit is throttled
(its lines take at least as long as the limit allows, none fails); a disallowed model and an exhausted budget
give the ingress's errors; an interactive-topic job without the ingress's marker is limited too."""
import http.client
import json
import os
import re
import subprocess
import threading
import time
import uuid
import zlib
from pathlib import Path

import jsonschema
import pytest
from confluent_kafka import Consumer, Producer

from conftest import _env, chat_body, load_schema, start_bench_fakeprov, wait_for

SPREAD = 4  # LGW_BATCH_TENANT_SPREAD (common/batch_record.h)
KEY = "sk-fake-test-key"
SLOW_MODEL = "gpt-4o-mini"


def line_key(tenant: str, index: int) -> str:
    """lgw_batch_line_key (common/batch_record.h)."""
    return f"{tenant}|{index % SPREAD}"


def results_partition(batch_id: str, nparts: int) -> int:
    """lgw_batch_results_partition: FNV-1a of the id."""
    h = 2166136261
    for c in batch_id.encode():
        h = ((h ^ c) * 16777619) & 0xFFFFFFFF
    return h % nparts if nparts > 1 else 0


def key_partition(key: str, nparts: int) -> int:
    """librdkafka's default partitioner (consistent_random): CRC-32 of the key."""
    return zlib.crc32(key.encode()) % nparts


def new_batch_id() -> str:
    return "batch_" + uuid.uuid4().hex


class Batches:
    """Writes batch records and lines for one cluster, and reads the results topic."""

    def __init__(self, cluster, partitions: int):
        self.c = cluster
        self.p = cluster.prefix
        self.nparts = partitions
        self.producer = Producer({"bootstrap.servers": cluster.kafka, "enable.idempotence": True})

    def record(self, batch_id, tenant, state, total, expires_ms):
        now = int(time.time() * 1000)
        rec = {"v": 1, "id": batch_id, "tenant": tenant, "state": state, "endpoint": "/v1/chat/completions",
               "created_ms": now, "expires_ms": expires_ms, "total": total, "ts_ms": now}
        self.producer.produce(f"{self.p}.batches", key=batch_id, value=json.dumps(rec))
        self.producer.flush(30)

    def lines(self, batch_id, tenant, n, model="echo", expires_ms=None, key_id=None, start=0, content="line"):
        now = int(time.time() * 1000)
        expires_ms = expires_ms or now + 24 * 3600 * 1000
        for i in range(start, start + n):
            job = {"v": 1, "id": f"{batch_id}-{i}", "kind": "chat", "tenant": tenant, "user": "",
                   "created_ms": now, "deadline_ms": expires_ms, "strategy": "default", "stream": False,
                   "attempt": 1,
                   "reply_to": {"topic": f"{self.p}.batch.results",
                                "partition": results_partition(batch_id, self.nparts)},
                   "batch": {"id": batch_id, "index": i, "custom_id": f"req-{i}"},
                   "body": {"model": model, "messages": [{"role": "user", "content": f"{content} {i}"}]}}
            if key_id:
                job["key_id"] = key_id
            self.producer.produce(f"{self.p}.batch.jobs.chat", key=line_key(tenant, i), value=json.dumps(job))
            if i % 500 == 0:
                self.producer.poll(0)
        self.producer.flush(60)


class Results:
    """Reads <prefix>.batch.results from the beginning on a thread, keeping every reply."""

    def __init__(self, cluster):
        self.topic = f"{cluster.prefix}.batch.results"
        self.records = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.consumer = Consumer({"bootstrap.servers": cluster.kafka, "group.id": "test-" + uuid.uuid4().hex,
                                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
        self.consumer.subscribe([self.topic])
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            msg = self.consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            with self.lock:
                self.records.append((msg.partition(), msg.key().decode(), json.loads(msg.value()),
                                     time.monotonic()))

    def of(self, batch_id):
        with self.lock:
            return [r for r in self.records if r[2].get("batch", {}).get("id") == batch_id]

    def close(self):
        self.stop.set()
        self.thread.join()
        self.consumer.close()


def metric(port, name) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"^{name}(\{{[^}}]*\}})? ([0-9.e+-]+)$", line)
        if m:
            total += float(m.group(2))
    return total


def post(port, key, body, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request("POST", "/v1/chat/completions", body, {"Authorization": f"Bearer {key}",
                                                        "Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def check_replies(got, batch_id, n, nparts):
    """Exactly one final reply per line, on the batch's results partition, keyed by the batch id, with the
    line's batch part; returns them by index."""
    schema = load_schema("reply.schema.json")
    by_index = {}
    for part, key, reply, _ in got:
        jsonschema.validate(reply, schema)
        assert key == batch_id and part == results_partition(batch_id, nparts)
        b = reply["batch"]
        assert b["id"] == batch_id and b["custom_id"] == f"req-{b['index']}"
        assert reply["id"] == f"{batch_id}-{b['index']}" and reply["final"]
        assert b["index"] not in by_index, f"line {b['index']} answered twice"
        by_index[b["index"]] = reply
    assert sorted(by_index) == list(range(n))
    return by_index


@pytest.fixture
def slowprov(cluster):
    """bench_fakeprov answering after a delay (built next to llmgw)."""
    procs = []

    def start(latency_ms):
        proc, port = start_bench_fakeprov(Path(cluster.bin).parent / "bench_fakeprov", "--latency-ms",
                                          str(latency_ms))
        procs.append(proc)
        return port

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(10)


def configure(cluster, tenants, **env):
    cfg = cluster.tmp_path / "llmgw.json"
    cfg.write_text(json.dumps({"tenants": tenants}))
    # A Redis call slower than the default 5 ms (a busy CI host) would hand the limits to this instance's memory,
    # which starts empty and admits a window's worth more: the throttling test counts on the shared log, as
    # test_limits.py's do.
    cluster.extra_env.update({"LLMGW_CONFIG": str(cfg), "LLMGW_REDIS_URL": "redis://" + _env("LLMGW_TEST_REDIS"),
                              "LLMGW_REDIS_TIMEOUT_MS": "1000"})
    cluster.extra_env.update({k: str(v) for k, v in env.items()})


def test_lines_answered_once_with_batch_part_cancelled_and_expired(cluster):
    tenant = "t" + uuid.uuid4().hex[:8]
    configure(cluster, {})
    _, ops = cluster.worker("w1")
    b = Batches(cluster, 4)
    res = Results(cluster)
    try:
        ok, cancelled, expired = new_batch_id(), new_batch_id(), new_batch_id()
        b.record(ok, tenant, "submitted", 40, int(time.time() * 1000) + 86400000)
        b.lines(ok, tenant, 40)
        # Cancelled before its lines are read: each is answered batch_cancelled, with no provider call. The
        # record arrives while the worker runs, on a topic it follows apart from the lines': the lines go out
        # once its gauge shows it has read the cancel (a line fetched first would run, as a line does that is
        # already running when a batch is cancelled).
        known = metric(ops, "llmgw_batch_cancelling")
        b.record(cancelled, tenant, "cancelling", 5, int(time.time() * 1000) + 86400000)
        wait_for(lambda: metric(ops, "llmgw_batch_cancelling") == known + 1, 30, "the worker has read the cancel")
        b.lines(cancelled, tenant, 5)
        # Expired: the batch's window ended before the lines ran.
        b.lines(expired, tenant, 3, expires_ms=int(time.time() * 1000) - 1000)

        wait_for(lambda: len(res.of(ok)) >= 40 and len(res.of(cancelled)) >= 5 and len(res.of(expired)) >= 3, 60,
                 "every line answered")
        time.sleep(2)  # anything answered twice would show up now
        for r in check_replies(res.of(ok), ok, 40, 4).values():
            assert r["status"] == 200 and r["body"]["choices"][0]["message"]["content"].startswith("line ")
        for r in check_replies(res.of(cancelled), cancelled, 5, 4).values():
            assert r["status"] == 409 and r["route_attempts"] == 0
            assert r["body"]["error"]["code"] == "batch_cancelled"
            assert r["body"]["error"]["type"] == "invalid_request_error"
        for r in check_replies(res.of(expired), expired, 3, 4).values():
            assert r["status"] == 408 and r["route_attempts"] == 0
            assert r["body"]["error"]["code"] == "batch_expired"
        assert metric(ops, "llmgw_batch_lines_total") == 48
        assert metric(ops, "llmgw_batch_in_flight") == 0
    finally:
        res.close()


def test_share_bound_interactive_latency_and_tenant_fairness(cluster, slowprov):
    """2,000 lines of tenant A against a provider that takes 300 ms: the worker holds at most its share of
    them (5 of 10 slots), interactive requests through an ingress keep being answered, and tenant B's small
    batch, sent after A's backlog, finishes while most of A's lines are still pending."""
    nparts = 16
    a = "a" + uuid.uuid4().hex[:8]
    a_parts = {key_partition(line_key(a, i), nparts) for i in range(SPREAD)}
    # B's keys on partitions A does not use: B's lines never queue behind A's inside one partition (two
    # tenants whose keys collide share those partitions in Kafka's order: the bound in docs/BATCH.md).
    b_tenant = next(t for t in ("b" + uuid.uuid4().hex[:8] for _ in range(1000))
                    if not {key_partition(line_key(t, i), nparts) for i in range(SPREAD)} & a_parts)
    fake = slowprov(300)
    configure(cluster, {}, LLMGW_OPENAI_BASE_URL=f"http://127.0.0.1:{fake}/v1", LLMGW_OPENAI_API_KEY=KEY,
              LLMGW_KAFKA_PARTITIONS=nparts)
    _, ops = cluster.worker("w1", LLMGW_WORKER_CONCURRENCY=10, LLMGW_WORKER_BATCH_SHARE_PCT=50)
    _, port = cluster.ingress("i1")
    assert metric(ops, "llmgw_batch_slots") == 5
    bt = Batches(cluster, nparts)
    res = Results(cluster)
    peak = [0.0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], metric(ops, "llmgw_batch_in_flight"))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        big = new_batch_id()
        bt.lines(big, a, 2000, model=SLOW_MODEL)
        wait_for(lambda: metric(ops, "llmgw_batch_in_flight") > 0, 30, "A's lines running")
        # Interactive requests keep being answered while A's backlog is queued.
        lat = []
        for i in range(10):
            t0 = time.monotonic()
            status, data = post(port, cluster.key, chat_body(f"interactive {i}", SLOW_MODEL))
            lat.append(time.monotonic() - t0)
            assert status == 200, data
        small = new_batch_id()
        t_small = time.monotonic()
        bt.lines(small, b_tenant, 8, model=SLOW_MODEL)
        wait_for(lambda: len(res.of(small)) >= 8, 60, "tenant B's small batch")
        b_done = time.monotonic() - t_small
        a_done = len(res.of(big))
        check_replies(res.of(small), small, 8, nparts)
        print(f"\ninteractive latency with a 2,000-line backlog: max {max(lat) * 1000:.0f} ms, "
              f"median {sorted(lat)[5] * 1000:.0f} ms; B's 8 lines in {b_done:.1f} s with A at {a_done}/2000; "
              f"peak batch in flight {peak[0]:.0f} of 5")
        assert max(lat) < 10, "an interactive request waited for the batch"
        assert a_done < 1000, "B's batch should finish while most of A's lines are still pending"
        assert b_done < 30, "B's 8 lines waited behind A's backlog"
        assert peak[0] <= 5 and peak[0] >= 1
    finally:
        stop.set()
        sampler.join()
        res.close()


def test_rate_limited_tenant_is_throttled_not_failed(cluster):
    """rpm 5 per 2 s window: 20 lines cannot complete in under ~6 s, and every one succeeds."""
    tenant = "r" + uuid.uuid4().hex[:8]
    configure(cluster, {tenant: {"rpm": 5}}, LLMGW_LIMIT_WINDOW_MS=2000)
    _, ops = cluster.worker("w1")
    b = Batches(cluster, 4)
    res = Results(cluster)
    try:
        bid = new_batch_id()
        t0 = time.monotonic()
        b.lines(bid, tenant, 20)
        wait_for(lambda: len(res.of(bid)) >= 20, 90, "every throttled line answered")
        got = res.of(bid)
        elapsed = max(r[3] for r in got) - t0
        replies = check_replies(got, bid, 20, 4)
        assert all(r["status"] == 200 for r in replies.values()), [r["status"] for r in replies.values()]
        print(f"\n20 lines at 5 per 2 s: {elapsed:.1f} s, throttled {metric(ops, 'llmgw_batch_throttled_total'):.0f} times")
        # 20 requests at 5 per sliding 2 s window: the 16th cannot start before 3 windows have passed.
        assert elapsed >= 5.5
        assert metric(ops, "llmgw_batch_throttled_total") > 0
    finally:
        res.close()


def test_disallowed_model_and_budget_give_the_ingress_errors(cluster):
    strict, broke = "s" + uuid.uuid4().hex[:8], "o" + uuid.uuid4().hex[:8]
    configure(cluster, {strict: {"allow_models": ["gpt-4o"]}, broke: {"budget": {"day_usd": "0"}}})
    cluster.worker("w1")
    b = Batches(cluster, 4)
    res = Results(cluster)
    try:
        denied, nobudget = new_batch_id(), new_batch_id()
        b.lines(denied, strict, 2, model="echo")
        b.lines(nobudget, broke, 2, model="echo")
        wait_for(lambda: len(res.of(denied)) >= 2 and len(res.of(nobudget)) >= 2, 60, "the refused lines")
        for r in check_replies(res.of(denied), denied, 2, 4).values():
            assert r["status"] == 403 and r["body"]["error"]["type"] == "permission_error"
            assert r["body"]["error"]["code"] == "permission_denied" and r["route_attempts"] == 0
        for r in check_replies(res.of(nobudget), nobudget, 2, 4).values():
            assert r["status"] == 429 and r["body"]["error"]["code"] == "insufficient_quota"
            assert r["body"]["error"]["type"] == "insufficient_quota"
    finally:
        res.close()


def test_unmarked_interactive_job_is_limited(cluster):
    """A job written to <prefix>.jobs.chat without the llmgw-admitted header is checked like a request at the
    ingress: over the tenant's limit it gets the ingress's 429; with the header it is not checked again."""
    tenant = "u" + uuid.uuid4().hex[:8]
    configure(cluster, {tenant: {"rpm": 1}})
    cluster.worker("w1")
    p = cluster.prefix
    replies = f"{p}.replies.unmarked"
    producer = Producer({"bootstrap.servers": cluster.kafka})
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": cluster.kafka})  # kept alive until its futures are done
    for f in admin.create_topics([NewTopic(replies, 1, 1)]).values():
        f.result(30)

    def job(i):
        now = int(time.time() * 1000)
        return {"v": 1, "id": f"unmarked-{i}-{uuid.uuid4().hex[:6]}", "kind": "chat", "tenant": tenant,
                "created_ms": now, "deadline_ms": now + 60000, "reply_to": {"topic": replies, "partition": 0},
                "strategy": "default", "stream": False, "attempt": 1,
                "body": {"model": "echo", "messages": [{"role": "user", "content": f"hi {i}"}]}}

    jobs = [job(i) for i in range(4)]
    c = Consumer({"bootstrap.servers": cluster.kafka, "group.id": "test-" + uuid.uuid4().hex,
                  "auto.offset.reset": "earliest"})
    c.subscribe([replies])
    got = {}
    # One at a time, each answered before the next is written: the jobs go to different partitions, and a worker
    # whose fetch found two of them waiting takes them in partition order, not in the order they were written
    # (CI once saw the second unmarked job take the window's one request). The first must take it.
    for i, j in enumerate(jobs):
        headers = [("llmgw-admitted", b"1")] if i == 3 else None
        producer.produce(f"{p}.jobs.chat", key=j["id"], value=json.dumps(j), headers=headers)
        producer.flush(30)
        deadline = time.monotonic() + 60
        while j["id"] not in got and time.monotonic() < deadline:
            msg = c.poll(0.2)
            if msg is not None and not msg.error():
                r = json.loads(msg.value())
                got[r["id"]] = r
    c.close()
    statuses = [got[j["id"]]["status"] for j in jobs]
    assert statuses[0] == 200
    assert statuses[1] == 429 and statuses[2] == 429, statuses
    assert got[jobs[1]["id"]]["body"]["error"]["code"] == "rate_limit_exceeded"
    assert statuses[3] == 200, "a job with the ingress's marker is not checked again"
