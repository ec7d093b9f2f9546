"""GET /v1/providers through the real processes and the real Kafka broker: two workers publish what their
circuit breakers say of each provider on <prefix>.providers, an ingress folds it into one answer.

A fake OpenAI server (tests/fakes/fake_openai.py) plays OpenAI; POST /_mode makes it fail. The workers publish
every LLMGW_PROVIDER_STATUS_INTERVAL_MS; in the breaker test that interval is a minute, so an answer that
changes within seconds proves the prompt publish on a breaker change, and a stopped worker that disappears
within seconds proves its tombstone (its record would otherwise stay fresh for three minutes). Also: every
record on the topic validates against schemas/provider_status.schema.json, every answer against the answer's
schema below; the route needs a key when keys are configured; a killed worker fades out after three of its
intervals; `llmgw dev` (keyless) answers with echo."""
import http.client
import json
import os
import subprocess
import time
import uuid

import jsonschema
import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from conftest import SANITIZER_MARKERS, chat_body, load_schema, start_fake, start_on_a_free_port, wait_for

OPENAI_KEY = "sk-fake-test-key"
MODEL = "gpt-4o-mini"

STATE = {"enum": ["closed", "half_open", "open", "unknown"]}
COUNT = {"type": "integer", "minimum": 0}
LATENCY = {"type": ["integer", "null"], "minimum": 0}
TIME = {"type": ["string", "null"], "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"}
# What docs/ARCHITECTURE.md ("Provider status") and README promise of the answer.
ANSWER_SCHEMA = {
    "type": "object",
    "required": ["object", "data", "workers", "updated_at"],
    "additionalProperties": False,
    "properties": {
        "object": {"const": "list"},
        "workers": COUNT,
        "updated_at": TIME,
        "data": {"type": "array", "items": {
            "type": "object",
            "additionalProperties": False,
            "required": ["id", "name", "configured", "simulated", "state", "latency_ms", "inflight", "workers",
                         "calls", "failures", "models", "reported_at"],
            "properties": {
                "id": {"type": "string", "minLength": 1},
                "name": {"type": "string", "minLength": 1},
                "configured": {"type": ["boolean", "null"]},
                "simulated": {"type": ["boolean", "null"]},
                "state": STATE, "latency_ms": LATENCY, "inflight": COUNT, "workers": COUNT, "calls": COUNT,
                "failures": COUNT, "reported_at": TIME,
                "models": {"type": "array", "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["id", "state", "latency_ms", "inflight", "calls", "failures"],
                    "properties": {"id": {"type": "string", "minLength": 1}, "state": STATE, "latency_ms": LATENCY,
                                   "inflight": COUNT, "calls": COUNT, "failures": COUNT},
                }},
            },
        }},
    },
}


def get(port, path, key=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers={"Authorization": f"Bearer {key}"} if key else {})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders()), body


def providers(port, key=None):
    status, headers, body = get(port, "/v1/providers", key)
    assert status == 200, body
    assert headers["Content-Type"] == "application/json"
    assert headers.get("x-request-id")
    answer = json.loads(body)
    jsonschema.validate(answer, ANSWER_SCHEMA)
    assert [p["id"] for p in answer["data"]] == sorted(p["id"] for p in answer["data"])
    return answer


def entry(answer, provider):
    return next(p for p in answer["data"] if p["id"] == provider)


def model_of(answer, provider, model):
    return next(m for m in entry(answer, provider)["models"] if m["id"] == model)


def record_state(record, provider, model):
    """The breaker state one worker's record gives a model."""
    p = next(p for p in record["providers"] if p["provider"] == provider)
    return next(m for m in p["models"] if m["model"] == model)["state"]


def chat(port, key, content="hi"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/v1/chat/completions", chat_body(content, MODEL),
                 {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status


def set_mode(port, fail=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/_mode", json.dumps({"fail": fail, "delay_ms": 0}), {"content-type": "application/json"})
    conn.getresponse().read()
    conn.close()


def topic_records(kafka, topic, want, timeout=30.0):
    """Every record of topic from the beginning (key, value or None for a tombstone) until want(records)."""
    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": kafka, "group.id": "test-" + uuid.uuid4().hex,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    got = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not want(got):
            msg = c.poll(0.2)
            if msg is None or msg.error():
                continue
            got.append((msg.key().decode(), json.loads(msg.value()) if msg.value() is not None else None))
    finally:
        c.close()
    assert want(got), f"did not see the expected records within {timeout}s: {got!r}"
    return got


@pytest.fixture
def fake():
    port, proc = start_fake("fake_openai.py")
    yield port
    proc.terminate()
    proc.wait()


def start(cluster, fake, interval_ms, **extra):
    cluster.extra_env.update({
        "LLMGW_OPENAI_BASE_URL": f"http://127.0.0.1:{fake}/v1",
        "LLMGW_OPENAI_API_KEY": OPENAI_KEY,
        "LLMGW_PROVIDER_MAX_RETRIES": "0",
        "LLMGW_BREAKER_FAILURES": "2",
        "LLMGW_BREAKER_COOLDOWN_MS": "1500",
        "LLMGW_PROVIDER_STATUS_INTERVAL_MS": str(interval_ms),
    })
    cluster.extra_env.update({k: str(v) for k, v in extra.items()})
    w1, _ = cluster.worker("w1")
    w2, _ = cluster.worker("w2")
    _, port = cluster.ingress("i1")
    return w1, w2, port


def test_breaker_open_recovery_and_a_stopped_worker(cluster, fake):
    w1, w2, port = start(cluster, fake, 60000)
    answer = wait_for(lambda: (a := providers(port, cluster.key))["workers"] == 2 and a, 30, "both workers' status")
    openai = entry(answer, "openai")
    assert openai["name"] == "OpenAI" and openai["configured"] is True and openai["simulated"] is False
    assert openai["state"] == "closed" and openai["workers"] == 2
    assert entry(answer, "anthropic")["configured"] is False  # listed, key or not
    assert entry(answer, "echo")["name"] == "Echo"
    assert model_of(answer, "openai", MODEL) == {"id": MODEL, "state": "closed", "latency_ms": None, "inflight": 0,
                                                  "calls": 0, "failures": 0}
    assert answer["updated_at"] is not None

    # Served: counted (at the next interval or change; the counts need not be instant, the breaker is).
    assert chat(port, cluster.key) == 200

    # The fake fails: some worker's breaker opens after two failures, and the answer says so within seconds,
    # long before the next interval (a minute): the change was published on its own.
    set_mode(fake, fail=503)

    def opened():
        chat(port, cluster.key)
        a = providers(port, cluster.key)
        return a if model_of(a, "openai", MODEL)["state"] == "open" else None

    answer = wait_for(opened, 20, "gpt-4o-mini open in /v1/providers", interval=0.1)
    openai = entry(answer, "openai")
    assert openai["state"] == "open"
    assert openai["failures"] >= 2 and openai["calls"] >= openai["failures"]
    assert model_of(answer, "openai", MODEL)["latency_ms"] is not None
    assert entry(answer, "anthropic")["state"] == "closed"  # nothing called there

    # Recovery: past the cooldown a probe succeeds on each worker whose breaker is open, and it closes.
    set_mode(fake)

    def closed():
        chat(port, cluster.key)
        a = providers(port, cluster.key)
        return a if model_of(a, "openai", MODEL)["state"] == "closed" else None

    answer = wait_for(closed, 30, "gpt-4o-mini closed again", interval=0.3)
    assert entry(answer, "openai")["state"] == "closed" and answer["workers"] == 2

    # A worker stopped cleanly withdraws its status: gone within seconds, not three intervals (three minutes).
    assert w2.stop() == 0
    answer = wait_for(lambda: (a := providers(port, cluster.key))["workers"] == 1 and a, 20, "w2 gone")
    assert entry(answer, "openai")["workers"] == 1

    # What crossed Kafka: one record per worker per publish, schema-valid, keyed by the worker id; w2's last
    # record is its tombstone.
    schema = load_schema("provider_status.schema.json")
    records = topic_records(cluster.kafka, f"{cluster.prefix}.providers",
                            lambda got: any(k == "w2" and v is None for k, v in got))
    for key, value in records:
        if value is not None:
            jsonschema.validate(value, schema)
            assert value["worker_id"] == key and value["interval_ms"] == 60000
    assert [v for k, v in records if k == "w2"][-1] is None
    assert "open" in {record_state(v, "openai", MODEL) for _, v in records if v is not None}

    # The topic as the table (common/topics.c) makes it: one partition, compacted, short segments, a day.
    admin = AdminClient({"bootstrap.servers": cluster.kafka})
    topic = f"{cluster.prefix}.providers"
    assert len(admin.list_topics(topic, timeout=10).topics[topic].partitions) == 1
    configs = next(iter(admin.describe_configs([ConfigResource("topic", topic)]).values())).result()
    assert {k: configs[k].value for k in ("cleanup.policy", "segment.ms", "retention.ms")} == {
        "cleanup.policy": "compact,delete", "segment.ms": "600000", "retention.ms": "86400000"}


def test_a_killed_worker_fades_out_after_three_intervals(cluster, fake):
    w1, w2, port = start(cluster, fake, 1000)
    wait_for(lambda: providers(port, cluster.key)["workers"] == 2, 30, "both workers' status")
    w2.kill9()  # no tombstone: its last record stays on the topic
    answer = wait_for(lambda: (a := providers(port, cluster.key))["workers"] == 1 and a, 20,
                      "w2's status stale (3 x 1000 ms)")
    assert entry(answer, "echo")["workers"] == 1
    # A new ingress replays the topic: w2's stale record is never shown there either.
    _, port2 = cluster.ingress("i2")
    wait_for(lambda: providers(port2, cluster.key)["workers"] == 1, 20, "the new ingress shows w1 only")


def test_keys_are_required_when_configured(cluster, fake):
    out = subprocess.run([cluster.bin, "keys", "new", "--admin", "ops"], capture_output=True, text=True, check=True)
    fields = dict(line.split(": ", 1) for line in out.stdout.strip().splitlines())
    cluster.extra_env["LLMGW_ADMIN_KEYS"] = f"ops:{fields['sha256']}"
    _, _, port = start(cluster, fake, 5000)
    for key in (None, "wrong-key"):
        status, headers, body = get(port, "/v1/providers", key)
        assert status == 401, body
        error = json.loads(body)["error"]
        assert error["type"] == "authentication_error" and error["code"] == "invalid_api_key"
        assert headers.get("x-request-id")
    assert providers(port, cluster.key)["object"] == "list"  # a tenant key
    assert providers(port, fields["key"])["object"] == "list"  # an operator's admin key too
    status, _, _ = get(port, "/v1/providers/openai", cluster.key)
    assert status == 404


def test_dev_answers_with_echo(tmp_path):
    binary = os.environ.get("LLMGW_BIN")
    if not binary:
        pytest.fail("LLMGW_BIN is not set: run through scripts/test.sh", pytrace=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMGW_")}
    env.update({"LLMGW_DATABASE_URL": f"sqlite:{tmp_path / 'dev.db'}", "LLMGW_PROVIDER_STATUS_INTERVAL_MS": "200"})
    proc, port = start_on_a_free_port("dev", [binary, "dev"], env, tmp_path / "dev.log")
    try:
        answer = wait_for(lambda: (a := providers(port))["workers"] == 1 and a, 20, "dev's worker status")
        echo = entry(answer, "echo")
        assert echo["configured"] is True and echo["state"] == "closed" and echo["workers"] == 1
        assert {m["id"] for m in echo["models"]} >= {"echo", "echo-embedding"}
        assert entry(answer, "openai")["configured"] is False  # keyless
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/v1/chat/completions", chat_body("hello", "echo"), {"Content-Type": "application/json"})
        assert conn.getresponse().status == 200
        conn.close()
        answer = wait_for(lambda: (a := providers(port)) and model_of(a, "echo", "echo")["calls"] >= 1 and a, 20,
                          "the echo call counted")
        assert model_of(answer, "echo", "echo")["latency_ms"] is not None
    finally:
        assert proc.stop() == 0
        text = proc.output()
        assert "provider status of worker" in text and "withdrawn" in text
        assert not any(m in text for m in SANITIZER_MARKERS), text[-4000:]
