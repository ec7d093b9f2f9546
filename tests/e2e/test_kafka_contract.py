"""docs/KAFKA.md, run for real: the contract for producers that write jobs to Kafka themselves.

The doc's kcat walk-through (its ```sh kcat-example blocks, read from the doc so it cannot rot) and
examples/kafka_producer.py run against the real broker and a real worker (echo answers: no provider keys),
and what they get back is checked against schemas/; malformed jobs go to the dead-letter topic with the
reasons the doc lists, and a malformed traceparent header is ignored, never dead-lettered."""
import json
import os
import re
import shutil
import subprocess
import sys
import uuid

import jsonschema
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import ROOT, load_schema, read_records, wait_for

DOC = ROOT / "docs" / "KAFKA.md"
EXAMPLE = ROOT / "examples" / "kafka_producer.py"
TENANT = "nightly-batch"


def kcat_blocks() -> list:
    """The doc's ```sh kcat-example code blocks, in order."""
    return re.findall(r"^```sh kcat-example\n(.*?)^```$", DOC.read_text(), re.S | re.M)


def create_topic(kafka: str, name: str, partitions: int = 1) -> None:
    admin = AdminClient({"bootstrap.servers": kafka})
    for f in admin.create_topics([NewTopic(name, partitions, 1)]).values():
        f.result(30)
    # Created is not yet known everywhere: a client asking at once (kcat -C) can still be told "unknown topic".
    # Wait until the metadata names every partition with a leader.

    def known():
        t = admin.list_topics(name, timeout=5).topics.get(name)
        return t is not None and t.error is None and len(t.partitions) == partitions and \
            all(p.leader >= 0 for p in t.partitions.values())
    wait_for(known, 30, f"topic {name} in the metadata")


def trace_id(traceparent: str) -> str:
    return traceparent.split("-")[1]


@pytest.fixture
def worker(cluster):
    """One worker (its start creates the job, cost and dead-letter topics) answering with echo."""
    cluster.worker("w1")
    return cluster


def test_kcat_walkthrough_from_the_doc(worker):
    kcat = shutil.which("kcat")
    if not kcat:
        pytest.fail("kcat is not installed: scripts/install-deps.sh installs Debian's package", pytrace=False)
    blocks = kcat_blocks()
    assert len(blocks) == 3, "docs/KAFKA.md's kcat walk-through is three blocks: variables, produce, consume"
    assert "kcat -P" in blocks[1] and "kcat -C" in blocks[2]
    # A start at a timestamp skips a reply written between its lookup (no record that new yet: "the end") and
    # the consumer's start, where the end is resolved: a fast worker's reply was skipped so in CI.
    assert "s@" not in blocks[2], "the consumer starts at the offset noted before the produce"
    p = worker.prefix
    replies = f"{p}.replies.batch.nightly"
    create_topic(worker.kafka, replies)
    # The doc's blocks as one script, then the two values the test needs to find the job's records.
    script = "set -euo pipefail\n" + "\n".join(blocks) + 'echo "contract-test $ID $TRACE"\n'
    env = dict(os.environ, KAFKA=worker.kafka, PREFIX=p, REPLIES=replies)
    run = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=90)
    assert run.returncode == 0, f"the doc's kcat commands failed:\n{run.stderr}"
    lines = run.stdout.strip().splitlines()
    _, job_id, trace = lines[-1].split()
    envelope = json.loads(lines[-2])  # kcat -J: the reply record

    assert envelope["topic"] == replies and envelope["partition"] == 0 and envelope["key"] == job_id
    headers = envelope.get("headers") or {}
    if isinstance(headers, list):  # kcat writes headers as a flat [name, value, ...] list
        headers = dict(zip(headers[::2], headers[1::2]))
    assert headers.get("llmgw-id") == job_id
    assert trace_id(headers["traceparent"]) == trace, "the reply carries the job's trace"
    reply = json.loads(envelope["payload"])
    jsonschema.validate(reply, load_schema("reply.schema.json"))
    assert reply["id"] == job_id and reply["final"] and reply["status"] == 200 and reply["tenant"] == TENANT
    assert reply["body"]["choices"][0]["message"]["content"] == "Say hello"

    # The job the doc writes is a valid job, and its cost event names it and its trace.
    got = read_records(worker.kafka, [f"{p}.jobs.chat", f"{p}.cost"],
                       lambda g: any(r.key == job_id for r in g[f"{p}.cost"])
                       and any(r.key == job_id for r in g[f"{p}.jobs.chat"]))
    job = next(r for r in got[f"{p}.jobs.chat"] if r.key == job_id)
    jsonschema.validate(job.value, load_schema("job.schema.json"))
    assert job.headers["llmgw-id"] == job_id and trace_id(job.headers["traceparent"]) == trace
    cost = next(r for r in got[f"{p}.cost"] if r.key == job_id)
    jsonschema.validate(cost.value, load_schema("cost_event.schema.json"))
    assert cost.value["request_id"] == job_id and cost.value["tenant"] == TENANT
    assert cost.value["outcome"] == "ok" and cost.value["trace_id"] == trace
    assert cost.value["event_id"] == reply["run_id"]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_python_example_one_answer_per_job(worker, stream):
    """examples/kafka_producer.py sends N jobs, two of them twice (a retrying producer's duplicates): it prints
    one answer per job, the duplicates' second runs really are on the topic, and it dropped them."""
    p = worker.prefix
    replies = f"{p}.replies.batch.example"
    n, resend = 4, 2
    argv = [sys.executable, str(EXAMPLE), "--brokers", worker.kafka, "--prefix", p, "--reply-topic", replies,
            "--create-topic", "--tenant", TENANT, "-n", str(n), "--resend", str(resend), "--timeout-s", "60"]
    run = subprocess.run(argv + (["--stream"] if stream else []), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"examples/kafka_producer.py failed:\n{run.stdout}\n{run.stderr}"
    answers = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(answers) == n and len({a["id"] for a in answers}) == n, "one answer per job"
    for i, a in enumerate(answers):
        assert a["status"] == 200 and a["content"] == f"job {i} of {n}", a
    assert f"answered {n}/{n}, records sent {n + resend}, final replies {n + resend}, " \
           f"duplicates dropped {resend}" in run.stderr, run.stderr

    ids = [a["id"] for a in answers]
    got = read_records(worker.kafka, [replies], lambda g: sum(1 for r in g[replies] if r.value["final"]) >= n + resend)
    for r in got[replies]:
        jsonschema.validate(r.value, load_schema("reply.schema.json"))
        assert r.key == r.value["id"] and r.value["tenant"] == TENANT
    for i, rid in enumerate(ids):
        finals = [r.value for r in got[replies] if r.key == rid and r.value["final"]]
        runs = {f["run_id"] for f in finals}
        assert len(finals) == len(runs) == (2 if i < resend else 1), "a resent job runs twice, as two runs"
        kept = next(a for a in answers if a["id"] == rid)["run_id"]
        assert kept == finals[0]["run_id"], "the first final reply on the topic is the one kept"
        chunks = [r.value for r in got[replies] if r.key == rid and not r.value["final"]]
        if stream:
            assert chunks and {c["run_id"] for c in chunks} == runs, "each run streams its own chunks"
        else:
            assert not chunks


def malformed_jobs(p: str, reply_topic: str) -> list:
    """(topic, value, the dead letter's reason): one per row of docs/KAFKA.md's table that a job can hit."""
    def job(**change):
        j = {"v": 1, "id": str(uuid.uuid4()), "kind": "chat", "tenant": TENANT, "created_ms": 1,
             "deadline_ms": 4102444800000, "reply_to": {"topic": reply_topic, "partition": 0},
             "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}}
        for k, v in change.items():
            if v is None:
                del j[k]
            else:
                j[k] = v
        return json.dumps(j)
    chat = f"{p}.jobs.chat"
    return [
        (chat, "this is not a job", "not JSON (error at byte"),
        (chat, b'{"v": 1, "id": "\xff"}', "not JSON (error at byte"),  # not UTF-8: the payload is null
        (chat, '{"v": 1, "id": "a", "id": "b"}', "not JSON (error at byte"),
        (chat, "[1, 2]", "not a JSON object"),
        (chat, job(v=3), 'unsupported envelope version (this reader takes "v":1 or 2)'),
        (chat, job(tenant=None), 'missing field "tenant"'),
        (chat, job(deadline_ms=None), 'missing field "deadline_ms"'),
        (chat, job(reply_to=None), 'missing object "reply_to"'),
        (chat, job(reply_to={"partition": 0}), 'missing field "topic"'),
        (chat, job(tenant=7), 'field "tenant" must be a string'),
        (chat, job(stream="yes"), 'field "stream" must be a boolean'),
        (chat, job(body="hello"), 'field "body" must be an object'),
        (chat, job(deadline_ms=-1), 'field "deadline_ms" must be an integer in [0, 9223372036854775807]'),
        (chat, job(reply_to={"topic": reply_topic, "partition": -1}),
         'field "partition" must be an integer in [0, 2147483647]'),
        (chat, job(id="x" * 64), 'field "id" is longer than 63 bytes'),
        (chat, job(tenant=""), 'field "tenant" must not be empty'),
        (chat, job(kind="images"), 'field "kind" must be "chat" or "embeddings"'),
        (chat, job(kind="embeddings"), "job kind does not match its topic"),
        (chat, job(reply_to={"topic": f"{p}.cost", "partition": 0}), "reply_to names one of llmgw's own topics"),
        (chat, job(reply_to={"topic": f"{p}.tenants"}), "reply_to names one of llmgw's own topics"),
    ]


def test_malformed_jobs_are_dead_lettered_and_a_bad_header_is_ignored(worker):
    p = worker.prefix
    replies = f"{p}.replies.batch.dlq-test"
    create_topic(worker.kafka, replies)
    cases = malformed_jobs(p, replies)
    prod = Producer({"bootstrap.servers": worker.kafka, "enable.idempotence": True})
    offsets = {}

    def delivered(err, msg):
        assert err is None, err
        offsets[msg.value()] = (msg.topic(), msg.partition(), msg.offset())
    # All on one partition, then a good job with a malformed traceparent after them: its answer shows that
    # nothing before it stalled the partition.
    for topic, value, _ in cases:
        prod.produce(topic, value=value, partition=0, headers=[("traceparent", "00-abc")], on_delivery=delivered)
    good_id = str(uuid.uuid4())
    good = {"v": 1, "id": good_id, "kind": "chat", "tenant": TENANT, "created_ms": 1,
            "deadline_ms": 4102444800000, "reply_to": {"topic": replies}, "tracestate": "ignored=1",
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "bad header, good job"}]}}
    bad_tp = "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01"  # uppercase hex: not W3C version 00
    prod.produce(f"{p}.jobs.chat", key=good_id, value=json.dumps(good), partition=0,
                 headers=[("traceparent", bad_tp), ("tracestate", "vendor=1"), ("llmgw-id", "not-the-id")])
    assert prod.flush(30) == 0

    dlq, cost = f"{p}.jobs.dlq", f"{p}.cost"
    # Each topic is fetched on its own: the cost event can be read before the reply produced ahead of it, so the
    # wait is for both.
    got = read_records(worker.kafka, [dlq, replies, cost],
                       lambda g: len(g[dlq]) >= len(cases) and any(r.key == good_id for r in g[cost])
                       and any(r.key == good_id for r in g[replies]))
    assert len(got[dlq]) == len(cases), "one dead letter per malformed job, none for the good one"
    by_source = {(r.value["topic"], r.value["partition"], r.value["offset"]): r for r in got[dlq]}
    for topic, value, reason in cases:
        raw = value if isinstance(value, bytes) else value.encode()
        rec = by_source[offsets[raw]]
        jsonschema.validate(rec.value, load_schema("dead_letter.schema.json"))
        assert rec.key == "dlq"
        assert rec.value["reason"].startswith(reason), (value, rec.value["reason"])
        assert rec.value["payload"] == (None if isinstance(value, bytes) else value)

    # The malformed traceparent is ignored: the job is answered, and none of its records claims a trace.
    [reply] = [r for r in got[replies] if r.key == good_id]
    jsonschema.validate(reply.value, load_schema("reply.schema.json"))
    assert reply.value["status"] == 200
    assert reply.value["body"]["choices"][0]["message"]["content"] == "bad header, good job"
    assert reply.headers["llmgw-id"] == good_id
    assert "traceparent" not in reply.headers or trace_id(reply.headers["traceparent"]) != bad_tp.split("-")[1].lower()
    [ev] = [r for r in got[cost] if r.key == good_id]
    jsonschema.validate(ev.value, load_schema("cost_event.schema.json"))
    assert ev.value["outcome"] == "ok" and "trace_id" not in ev.value
