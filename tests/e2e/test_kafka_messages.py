"""What crosses Kafka: every job, reply, cost event and dead letter validates against schemas/; malformed
jobs go to the DLQ and never stall the partition; batch producers writing jobs straight to Kafka get their
results on the topic they name; a job past its deadline is dropped with an `expired` cost event. (Headers
and the trace context: test_trace_context.py; cancels: test_openai_provider.py.)"""
import json
import re
import time
import uuid

import jsonschema
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import chat_body, load_schema, read_records, wait_for
import http.client


def consume(cluster, topics, want, timeout=30.0):
    """Reads topics from the beginning until want(messages) is true; returns {topic: [payload dict]}."""
    def values(got):
        return {t: [r.value for r in recs] for t, recs in got.items()}
    return values(read_records(cluster.kafka, topics, lambda got: want(values(got)), timeout))


def post(port, body, headers):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/v1/chat/completions", body, headers)
    resp = conn.getresponse()
    data = json.loads(resp.read())
    conn.close()
    return resp.status, data


@pytest.fixture
def gw(cluster):
    cluster.ledger()
    cluster.worker("w1")
    _, port = cluster.ingress("i1")
    return cluster, port


def test_messages_match_schemas(gw):
    cluster, port = gw
    for i in range(5):
        s, _ = post(port, chat_body(f"schema {i}"), cluster.headers())
        assert s == 200
    s, _ = post(port, chat_body("x", model="missing-model"), cluster.headers())
    assert s == 404
    p = cluster.prefix
    jobs, replies, cost = f"{p}.jobs.chat", f"{p}.replies.{p}-i1", f"{p}.cost"
    got = consume(cluster, [jobs, replies, cost], lambda g: all(len(v) >= 6 for v in g.values()))
    for topic, schema in ((jobs, "job.schema.json"), (replies, "reply.schema.json"), (cost, "cost_event.schema.json")):
        for payload in got[topic]:
            jsonschema.validate(payload, load_schema(schema))
    assert {e["outcome"] for e in got[cost]} == {"ok", "error"}
    assert {r["tenant"] for r in got[replies]} == {"acme"}, "every reply names the tenant of its job"
    assert len({e["event_id"] for e in got[cost]}) == len(got[cost])
    # Request and event ids are version 7 UUIDs (common/uuid.h): the ledger's indexes on them grow at their end.
    for e in got[cost]:
        for rid in (e["event_id"], e["request_id"]):
            assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", rid), e
    # the key that authenticated the requests, by its id (never the key or its full hash), end to end
    key_id = "key_" + cluster.key_hash[:12]
    assert {j["key_id"] for j in got[jobs]} == {key_id}
    assert {e["key_id"] for e in got[cost]} == {key_id}
    assert cluster.key not in json.dumps(got) and cluster.key_hash not in json.dumps(got)


def test_malformed_job_goes_to_dlq(gw):
    cluster, port = gw
    p = cluster.prefix
    prod = Producer({"bootstrap.servers": cluster.kafka})
    prod.produce(f"{p}.jobs.chat", key=b"junk", value=b"this is not a job")
    prod.produce(f"{p}.jobs.chat", key=b"junk2", value=json.dumps({"v": 1, "id": "x"}).encode())
    prod.flush(10)
    got = consume(cluster, [f"{p}.jobs.dlq"], lambda g: len(g[f"{p}.jobs.dlq"]) >= 2)
    reasons = [m["reason"] for m in got[f"{p}.jobs.dlq"]]
    assert any("not JSON" in r for r in reasons), reasons
    assert any("missing field" in r for r in reasons), reasons
    assert all(m["topic"] == f"{p}.jobs.chat" and "offset" in m for m in got[f"{p}.jobs.dlq"])
    for m in got[f"{p}.jobs.dlq"]:
        jsonschema.validate(m, load_schema("dead_letter.schema.json"))
    # the partition is not stalled
    s, body = post(port, chat_body("after the junk"), cluster.headers())
    assert s == 200 and body["choices"][0]["message"]["content"] == "after the junk"


def make_job(reply_topic, content, deadline_ms):
    now = int(time.time() * 1000)
    return {"v": 1, "id": str(uuid.uuid4()), "kind": "chat", "tenant": "batch-tenant", "user": "nightly",
            "created_ms": now, "deadline_ms": deadline_ms, "reply_to": {"topic": reply_topic, "partition": 0},
            "strategy": "default", "stream": False, "attempt": 1,
            "body": {"model": "echo", "messages": [{"role": "user", "content": content}]}}


def test_batch_producer_and_expired_job(gw):
    cluster, _ = gw
    p = cluster.prefix
    out_topic = f"{p}.batch-results"
    admin = AdminClient({"bootstrap.servers": cluster.kafka})
    for f in admin.create_topics([NewTopic(out_topic, 1, 1)]).values():
        f.result(30)
    now = int(time.time() * 1000)
    jobs = [make_job(out_topic, f"batch item {i}", now + 60000) for i in range(3)]
    expired = make_job(out_topic, "too late", now - 1000)
    prod = Producer({"bootstrap.servers": cluster.kafka})
    for job in jobs + [expired]:
        prod.produce(f"{p}.jobs.chat", key=job["id"].encode(), value=json.dumps(job).encode())
    prod.flush(10)
    got = consume(cluster, [out_topic], lambda g: len(g[out_topic]) >= 3)
    by_id = {r["id"]: r for r in got[out_topic]}
    for job in jobs:
        reply = by_id[job["id"]]
        jsonschema.validate(reply, load_schema("reply.schema.json"))
        assert reply["status"] == 200
        assert reply["body"]["choices"][0]["message"]["content"] == job["body"]["messages"][0]["content"]
    assert expired["id"] not in by_id
    cur = cluster.db().cursor()

    def ledger_has_all():
        cur.execute("SELECT request_id, outcome, status, tenant FROM cost_events WHERE request_id = ANY(%s)",
                    ([j["id"] for j in jobs + [expired]],))
        return {r[0]: r[1:] for r in cur.fetchall()} if cur.rowcount == 4 else None

    rows = wait_for(ledger_has_all, 30, "batch jobs in the ledger")
    assert rows[expired["id"]] == ("expired", 504, "batch-tenant")
    assert all(rows[j["id"]] == ("ok", 200, "batch-tenant") for j in jobs)


def test_reply_for_another_tenant_is_refused(cluster):
    """A reply whose id matches a waiting request but names another tenant (a writer's bug or a forged
    record) is never shown to the client: the ingress counts and drops it, and the request still gets its
    own reply, here one in the shape writers used before replies named their tenant (no "tenant": the
    upgrade path, delivered unchecked)."""
    import threading
    _, port = cluster.ingress("i1")  # no worker: this test writes the replies itself
    p = cluster.prefix
    answer = {}

    def ask():
        answer["r"] = post(port, chat_body("whose answer is this"), cluster.headers())
    t = threading.Thread(target=ask)
    t.start()
    jobs = f"{p}.jobs.chat"
    got = consume(cluster, [jobs], lambda g: any(j["body"]["messages"][0]["content"] == "whose answer is this"
                                                 for j in g[jobs]))
    job = next(j for j in got[jobs] if j["body"]["messages"][0]["content"] == "whose answer is this")
    assert job["tenant"] == "acme"

    def reply(content, tenant):
        r = {"v": 1, "id": job["id"], "seq": 0, "final": True, "status": 200, "provider": "echo",
             "model": "echo", "cache": "miss", "usage": {"input_tokens": 1, "output_tokens": 1,
                                                         "cached_input_tokens": 0}, "cost": 0, "latency_ms": 1,
             "body": {"id": "chatcmpl-x", "object": "chat.completion", "created": 1, "model": "echo",
                      "choices": [{"index": 0, "finish_reason": "stop",
                                   "message": {"role": "assistant", "content": content}}]}}
        if tenant:
            r["tenant"] = tenant
        return json.dumps(r).encode()
    prod = Producer({"bootstrap.servers": cluster.kafka})
    rt = job["reply_to"]
    prod.produce(rt["topic"], partition=rt["partition"], key=job["id"].encode(), value=reply("other's secret", "globex"))
    prod.flush(10)

    def refused():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        return any(line.startswith("llmgw_replies_foreign_tenant_total") and line.split()[-1] == "1"
                   for line in text.splitlines())
    wait_for(refused, 15, "the foreign-tenant reply to be counted")
    assert t.is_alive(), "the client was answered with another tenant's reply"
    prod.produce(rt["topic"], partition=rt["partition"], key=job["id"].encode(), value=reply("yours", None))
    prod.flush(10)
    t.join(30)
    status, body = answer["r"]
    assert status == 200 and body["choices"][0]["message"]["content"] == "yours"


def test_cost_events_stick_to_their_workers_partition(cluster):
    """kafka_cost_partition: by default ("worker") every cost event of one worker goes to the one partition its id
    picks, still keyed by its job id, so a linger window is one produce and not one per partition; "key" spreads
    them by the key's hash. Two workers in one group, one of each: the first's events all share a partition, the
    second's do not (20-odd events over 4 partitions all landing on one by hash: about 1 in 10^11)."""
    cluster.ledger()
    cluster.worker("w-sticky")
    cluster.worker("w-keyed", LLMGW_KAFKA_COST_PARTITION="key")
    _, port = cluster.ingress("i1")
    cost = f"{cluster.prefix}.cost"
    by_worker = {}

    def enough(got):
        by_worker.clear()
        for r in got[cost]:
            by_worker.setdefault(r.value["worker"], []).append(r)
        return all(len(by_worker.get(w, [])) >= 12 for w in ("w-sticky", "w-keyed"))

    deadline = time.monotonic() + 60
    sent = 0
    while time.monotonic() < deadline:
        for i in range(20):
            s, _ = post(port, chat_body(f"partition {sent + i}"), cluster.headers())
            assert s == 200
        sent += 20
        got = read_records(cluster.kafka, [cost], lambda g: len(g[cost]) >= sent, timeout=30)
        if enough(got):
            break
    assert enough(got), {w: len(v) for w, v in by_worker.items()}
    sticky, keyed = by_worker["w-sticky"], by_worker["w-keyed"]
    assert len({r.partition for r in sticky}) == 1, sorted({r.partition for r in sticky})
    assert len({r.partition for r in keyed}) > 1, sorted({r.partition for r in keyed})
    # the key is the job id either way (docs/KAFKA.md)
    assert all(r.key == r.value["request_id"] for r in sticky + keyed)
