"""Traces in a real Jaeger (scripts/jaeger.sh): real ingress, worker and ledger processes over the real Kafka
broker export their spans over OTLP/HTTP, and the tests read them back through Jaeger's query API.

One request is one trace, and its spans form one tree across the three processes:

  ingress SERVER  POST /v1/chat/completions          (child of the client's traceparent)
    ingress PRODUCER  send <p>.jobs.chat
      worker CONSUMER  process <p>.jobs.chat
        worker INTERNAL  route
          worker CLIENT  chat <model>                  one per candidate tried (GenAI attributes)
            worker CLIENT  POST                        one per HTTP attempt, retries included
        worker PRODUCER  send <p>.replies.<ingress>    one per answer, a stream's chunks included
          ingress CONSUMER  process <p>.replies.<ingress>   the ingress completing the response
        worker PRODUCER  send <p>.cost
          ledger CONSUMER  process <p>.cost

Both export protocols (http/protobuf and http/json), a fallback (two candidates, an attempt each), a retry
(one candidate, two attempts), a stream, the ledger row's trace_id, sampling that exports nothing, and a
collector that goes away and comes back (requests unaffected, failures counted, export resumes). The client's
tracestate on every span; prompts and completions on the candidate span only with content capture on (and
never in a log line), nowhere in the trace without it."""
import http.client
import json
import os
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import ROOT, free_port, start_fake, wait_for

OPENAI_KEY = "sk-fake-test-key"
SECRET_PROMPT = "the prompt never leaves as an attribute 7f3a"


def _jaeger_env():
    otlp, query = os.environ.get("LLMGW_TEST_JAEGER_OTLP"), os.environ.get("LLMGW_TEST_JAEGER_QUERY")
    if not otlp or not query:
        pytest.fail("LLMGW_TEST_JAEGER_OTLP and LLMGW_TEST_JAEGER_QUERY are not set: run through scripts/test.sh",
                    pytrace=False)
    return otlp, query


def otel_env(otlp, protocol="http/protobuf", **extra):
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp, "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
           "OTEL_BSP_SCHEDULE_DELAY": "100"}  # spans reach Jaeger within a fraction of a second
    env.update({k: str(v) for k, v in extra.items()})
    return env


# ---- Jaeger's query API

def get_trace(query, trace_id):
    """The trace as Jaeger's /api/traces/{id} returns it, or None (404: no span of it arrived)."""
    try:
        with urllib.request.urlopen(f"{query}/api/traces/{trace_id}", timeout=10) as resp:
            data = json.loads(resp.read())["data"]
            return data[0] if data else None
    except urllib.error.HTTPError as err:
        if err.code == 404:
            return None
        raise


class Span:
    def __init__(self, raw, processes):
        self.id = raw["spanID"]
        self.trace_id = raw["traceID"]
        parents = [r for r in raw.get("references", []) if r["refType"] == "CHILD_OF"]
        self.parent = parents[0]["spanID"] if parents else None
        self.name = raw["operationName"]
        self.service = processes[raw["processID"]]["serviceName"]
        self.tags = {t["key"]: t["value"] for t in raw.get("tags", [])}
        self.kind = self.tags.get("span.kind", "internal")
        self.logs = raw.get("logs", [])

    def __repr__(self):
        return f"<{self.service} {self.kind} {self.name}>"


def spans_of(trace):
    return [Span(s, trace["processes"]) for s in trace["spans"]] if trace else []


def wait_spans(query, trace_id, want, timeout=30.0):
    """Polls Jaeger until want(spans) holds; returns the spans."""
    last = []

    def ready():
        nonlocal last
        last = spans_of(get_trace(query, trace_id))
        return want(last)

    try:
        wait_for(ready, timeout, f"the spans of trace {trace_id}")
    except BaseException:
        print("spans seen:", last)
        raise
    return last


def one(spans, service, kind, name):
    hits = [s for s in spans if s.service == service and s.kind == kind and s.name == name]
    assert len(hits) == 1, f"one {service} {kind} {name!r}, got {hits} among {spans}"
    return hits[0]


def assert_tree(spans, client_span_id):
    """One trace, one tree: a single root (the ingress's server span, under the client's span) and every other
    span's parent in the trace."""
    ids = {s.id for s in spans}
    assert len(ids) == len(spans), "span ids are unique"
    assert len({s.trace_id for s in spans}) == 1
    roots = [s for s in spans if s.parent not in ids]
    assert len(roots) == 1, f"one root, got {roots}"
    assert roots[0].service == "llmgw-ingress" and roots[0].kind == "server"
    assert roots[0].parent == client_span_id


def new_traceparent(sampled=True):
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}"


def post(port, key, body, traceparent=None, stream=False, tracestate=None):
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "User-Agent": "tracing-test/1"}
    if traceparent:
        headers["traceparent"] = traceparent
    if tracestate:
        headers["tracestate"] = tracestate
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/v1/chat/completions", json.dumps(body), headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, resp.getheader("x-request-id"), data


def chat(model, text, **kw):
    return {"model": model, "messages": [{"role": "user", "content": text}], **kw}


def metric(port, name, labels=""):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    want = f"{name}{{{labels}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(want):
            return float(line.split()[-1])
    return None


def ledger_trace_ids(cluster, rid):
    def rows():
        with cluster.db() as db, db.cursor() as cur:
            cur.execute("SELECT trace_id FROM cost_events WHERE request_id = %s", (rid,))
            return [r[0] for r in cur.fetchall()]
    return wait_for(rows, 60, f"the ledger row of {rid}")


# ---- fixtures

@pytest.fixture
def fakes():
    a, pa = start_fake("fake_openai.py")
    b, pb = start_fake("fake_openai.py")
    yield a, b
    for p in (pa, pb):
        p.terminate()
        p.wait()


def provider_env(a, b, tmp_path, **extra):
    """A = openai/gpt-4o-mini, B = compat/local-mini, group "ab" = A then B (as in test_routing.py)."""
    path = tmp_path / "overrides.json"
    path.write_text(json.dumps({"catalog_version": "test", "groups": {"ab": ["openai/gpt-4o-mini",
                                                                              "compat/local-mini"]}}))
    env = {"LLMGW_OPENAI_BASE_URL": f"http://127.0.0.1:{a}/v1", "LLMGW_OPENAI_API_KEY": OPENAI_KEY,
           "LLMGW_COMPAT_BASE_URL": f"http://127.0.0.1:{b}/v1", "LLMGW_COMPAT_API_KEY": OPENAI_KEY,
           "LLMGW_COMPAT_MODELS": "local-mini@1/2", "LLMGW_CATALOG_OVERRIDES": str(path),
           "LLMGW_PROVIDER_MAX_RETRIES": "0"}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def start_roles(cluster, env):
    cluster.extra_env.update(env)
    _, ledger_ops = cluster.ledger()
    _, worker_ops = cluster.worker("w1")
    _, port = cluster.ingress("i1")
    return port, worker_ops, ledger_ops


def set_mode(port, fail=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/_mode", json.dumps({"fail": fail, "delay_ms": 0}), {"content-type": "application/json"})
    conn.getresponse().read()
    conn.close()


# ---- the tests

EXPECTED = 10  # the spans of a one-attempt, non-streamed request (the tree in this file's docstring)


@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json"])
def test_one_trace_per_request_across_the_processes(cluster, fakes, tmp_path, protocol):
    otlp, query = _jaeger_env()
    a, b = fakes
    port, _, _ = start_roles(cluster, {**provider_env(a, b, tmp_path), **otel_env(otlp, protocol)})
    p = cluster.prefix
    trace_id, client_span, tp = new_traceparent()
    status, rid, data = post(port, cluster.key, chat("gpt-4o-mini", SECRET_PROMPT, max_tokens=7), tp)
    assert status == 200, data

    spans = wait_spans(query, trace_id, lambda s: len(s) >= EXPECTED)
    assert len(spans) == EXPECTED, spans
    assert_tree(spans, client_span)
    assert SECRET_PROMPT not in json.dumps(get_trace(query, trace_id)), "a prompt became an attribute"
    assert not any(k.startswith(("gen_ai.input", "gen_ai.output")) for s in spans for k in s.tags)
    by_id = {s.id: s for s in spans}

    server = one(spans, "llmgw-ingress", "server", "POST /v1/chat/completions")
    t = server.tags
    assert t["http.request.method"] == "POST" and t["url.path"] == "/v1/chat/completions"
    assert t["http.route"] == "/v1/chat/completions" and t["http.response.status_code"] == 200
    assert t["server.address"] == "127.0.0.1" and t["server.port"] == port
    assert t["user_agent.original"] == "tracing-test/1"
    assert t["llmgw.tenant"] == "acme" and t["llmgw.request_id"] == rid and t["llmgw.attempts"] == 1

    send_job = one(spans, "llmgw-ingress", "producer", f"send {p}.jobs.chat")
    assert send_job.parent == server.id
    assert send_job.tags["messaging.system"] == "kafka"
    assert send_job.tags["messaging.destination.name"] == f"{p}.jobs.chat"
    assert send_job.tags["messaging.operation.type"] == "send"

    job = one(spans, "llmgw-worker", "consumer", f"process {p}.jobs.chat")
    assert job.parent == send_job.id
    t = job.tags
    assert t["messaging.system"] == "kafka" and t["messaging.operation.type"] == "process"
    assert t["messaging.consumer.group.name"] == f"{p}-workers"
    assert t["messaging.destination.partition.id"].isdigit() and isinstance(t["messaging.kafka.offset"], int)
    assert t["llmgw.tenant"] == "acme" and t["llmgw.strategy"] == "cost" and t["llmgw.cache"] == "bypass"
    assert t["llmgw.attempts"] == 1 and t["llmgw.cost_usd"] > 0

    route = one(spans, "llmgw-worker", "internal", "route")
    assert route.parent == job.id
    assert route.tags["llmgw.strategy"] == "cost" and "openai/gpt-4o-mini" in route.tags["llmgw.candidates"]

    cand = one(spans, "llmgw-worker", "client", "chat gpt-4o-mini")
    assert cand.parent == route.id
    t = cand.tags
    assert t["gen_ai.operation.name"] == "chat" and t["gen_ai.provider.name"] == "openai"
    assert t["gen_ai.request.model"] == "gpt-4o-mini" and t["gen_ai.request.max_tokens"] == 7
    assert t["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert t["gen_ai.usage.input_tokens"] == 10 and t["gen_ai.usage.output_tokens"] > 0
    assert "stop" in t["gen_ai.response.finish_reasons"]

    attempt = one(spans, "llmgw-worker", "client", "POST")
    assert attempt.parent == cand.id
    t = attempt.tags
    assert t["http.request.method"] == "POST" and t["http.response.status_code"] == 200
    assert t["server.address"] == "127.0.0.1" and t["server.port"] == a
    assert t["url.full"] == f"http://127.0.0.1:{a}/v1/chat/completions"

    send_reply = one(spans, "llmgw-worker", "producer", f"send {p}.replies.{p}-i1")
    assert send_reply.parent == job.id and send_reply.tags["messaging.batch.message_count"] == 1
    reply = one(spans, "llmgw-ingress", "consumer", f"process {p}.replies.{p}-i1")
    assert reply.parent == send_reply.id

    send_cost = one(spans, "llmgw-worker", "producer", f"send {p}.cost")
    assert send_cost.parent == job.id
    cost = one(spans, "llmgw-ledger", "consumer", f"process {p}.cost")
    assert cost.parent == send_cost.id
    assert cost.tags["messaging.consumer.group.name"] == f"{p}-ledger"
    assert cost.tags["db.system.name"] == "postgresql" and cost.tags["llmgw.request_id"] == rid

    # Every span's process is who made it: ingress spans on the ingress, and so on.
    assert {s.service for s in by_id.values()} == {"llmgw-ingress", "llmgw-worker", "llmgw-ledger"}
    # The ledger row leads to the trace.
    assert ledger_trace_ids(cluster, rid) == [trace_id]


def test_fallback_and_retry_attempt_spans(cluster, fakes, tmp_path):
    otlp, query = _jaeger_env()
    a, b = fakes
    port, _, _ = start_roles(cluster, {**provider_env(a, b, tmp_path), **otel_env(otlp)})

    # A answers 503: the route falls back to B. Two candidate spans, an attempt span each.
    set_mode(a, fail=503)
    trace_id, client_span, tp = new_traceparent()
    status, rid, data = post(port, cluster.key, chat("ab", "fall back"), tp)
    assert status == 200, data
    spans = wait_spans(query, trace_id, lambda s: len(s) >= EXPECTED + 2)
    assert_tree(spans, client_span)
    first = one(spans, "llmgw-worker", "client", "chat gpt-4o-mini")
    second = one(spans, "llmgw-worker", "client", "chat local-mini")
    assert first.parent == second.parent  # both under the routing span
    assert first.tags["error.type"] == "503" and first.tags.get("otel.status_code") == "ERROR"
    assert first.tags["gen_ai.provider.name"] == "openai" and second.tags["gen_ai.provider.name"] == "compat"
    assert second.tags["gen_ai.usage.output_tokens"] > 0
    attempts = [s for s in spans if s.name == "POST" and s.kind == "client"]
    assert len(attempts) == 2
    by_parent = {s.parent: s for s in attempts}
    assert by_parent[first.id].tags["http.response.status_code"] == 503
    assert by_parent[first.id].tags["error.type"] == "503"
    assert by_parent[second.id].tags["http.response.status_code"] == 200
    assert by_parent[second.id].tags["url.full"] == f"http://127.0.0.1:{b}/v1/chat/completions"
    job = one(spans, "llmgw-worker", "consumer", f"process {cluster.prefix}.jobs.chat")
    assert job.tags["llmgw.attempts"] == 2
    # The worker's log line about the fallback leads to the trace: its trace_id, and the routing span's id.
    worker = next(proc for proc in cluster.procs if proc.name == "w1")
    lines = [json.loads(x) for x in worker.output().splitlines() if x.startswith("{") and rid in x]
    fell = [x for x in lines if "trying the next candidate" in x["msg"]]
    assert fell and fell[0]["trace_id"] == trace_id and fell[0]["span_id"] == first.parent, lines

    # The provider's retry of one candidate: one candidate span, two attempt spans (the second a resend).
    set_mode(a, fail=None)
    cluster_retry = {"LLMGW_PROVIDER_MAX_RETRIES": "1"}
    for proc in list(cluster.procs):
        if proc.name == "w1":
            proc.stop()
    cluster.extra_env.update(cluster_retry)
    cluster.worker("w2")
    trace_id, client_span, tp = new_traceparent()
    status, rid, data = post(port, cluster.key, chat("gpt-4o-mini", "fail 503 1"), tp)
    assert status == 200, data
    spans = wait_spans(query, trace_id, lambda s: len(s) >= EXPECTED + 1)
    assert_tree(spans, client_span)
    cand = one(spans, "llmgw-worker", "client", "chat gpt-4o-mini")
    attempts = sorted((s for s in spans if s.name == "POST" and s.kind == "client"),
                      key=lambda s: s.tags.get("http.request.resend_count", 0))
    assert [s.parent for s in attempts] == [cand.id, cand.id]
    assert attempts[0].tags["http.response.status_code"] == 503 and "http.request.resend_count" not in attempts[0].tags
    assert attempts[1].tags["http.response.status_code"] == 200 and attempts[1].tags["http.request.resend_count"] == 1
    assert cand.tags["llmgw.provider_requests"] == 2
    worker = next(proc for proc in cluster.procs if proc.name == "w2")
    retried = [json.loads(x) for x in worker.output().splitlines() if x.startswith("{") and "retrying in" in x]
    assert retried and retried[0]["id"] == rid
    assert retried[0]["trace_id"] == trace_id and retried[0]["span_id"] == cand.id  # the candidate's span


def test_stream_has_one_reply_producer_span(cluster, fakes, tmp_path):
    otlp, query = _jaeger_env()
    a, b = fakes
    port, _, _ = start_roles(cluster, {**provider_env(a, b, tmp_path), **otel_env(otlp, "http/json")})
    trace_id, client_span, tp = new_traceparent()
    status, rid, data = post(port, cluster.key, chat("gpt-4o-mini", "one two three four", stream=True), tp)
    assert status == 200 and b"data: [DONE]" in data
    spans = wait_spans(query, trace_id, lambda s: len(s) >= EXPECTED)
    assert len(spans) == EXPECTED, spans
    assert_tree(spans, client_span)
    p = cluster.prefix
    send_reply = one(spans, "llmgw-worker", "producer", f"send {p}.replies.{p}-i1")
    assert send_reply.tags["messaging.batch.message_count"] > 3  # the chunks and the final reply: one span
    one(spans, "llmgw-ingress", "consumer", f"process {p}.replies.{p}-i1")
    cand = one(spans, "llmgw-worker", "client", "chat gpt-4o-mini")
    assert "stop" in cand.tags["gen_ai.response.finish_reasons"]  # from the stream's last chunk
    server = one(spans, "llmgw-ingress", "server", "POST /v1/chat/completions")
    assert server.tags["http.response.status_code"] == 200


def test_unsampled_requests_export_nothing(cluster, fakes, tmp_path):
    """The decision travels with the job: a client's unsampled traceparent is followed by every process (and
    the ledger still records the trace id); a sampled request after it shows the exporters are working."""
    otlp, query = _jaeger_env()
    a, b = fakes
    port, _, _ = start_roles(cluster, {**provider_env(a, b, tmp_path), **otel_env(otlp)})
    off_trace, _, off_tp = new_traceparent(sampled=False)
    status, off_rid, _ = post(port, cluster.key, chat("gpt-4o-mini", "not sampled"), off_tp)
    assert status == 200
    assert ledger_trace_ids(cluster, off_rid) == [off_trace]
    on_trace, _, on_tp = new_traceparent()
    status, _, _ = post(port, cluster.key, chat("gpt-4o-mini", "sampled"), on_tp)
    assert status == 200
    wait_spans(query, on_trace, lambda s: len(s) >= EXPECTED)
    time.sleep(1)  # ten schedule delays: an exporter holding the unsampled spans would have sent them
    assert get_trace(query, off_trace) is None


def test_ratio_zero_samples_nothing(cluster, fakes, tmp_path):
    """parentbased_traceidratio at 0: a request without a traceparent starts an unsampled trace at the ingress,
    and no process exports a span of it."""
    otlp, query = _jaeger_env()
    a, b = fakes
    env = otel_env(otlp, OTEL_TRACES_SAMPLER="parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG="0")
    port, worker_ops, ledger_ops = start_roles(cluster, {**provider_env(a, b, tmp_path), **env})
    status, rid, _ = post(port, cluster.key, chat("gpt-4o-mini", "ratio zero"))
    assert status == 200
    trace_id = ledger_trace_ids(cluster, rid)[0]
    assert trace_id and len(trace_id) == 32
    time.sleep(1)
    assert get_trace(query, trace_id) is None
    for p in (port, worker_ops, ledger_ops):
        assert metric(p, "llmgw_otel_spans_exported_total") == 0
        assert metric(p, "llmgw_otel_spans_dropped_total", 'reason="queue_full"') == 0


def port_free(port):
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def jaeger(*args):
    subprocess.run(["bash", str(ROOT / "scripts" / "jaeger.sh"), *args], check=True)


def test_collector_down_then_back(cluster, fakes, tmp_path):
    """A Jaeger of this test's own: stopped, requests are answered as before and the failed exports are
    counted; started again on the same ports, the next requests' traces arrive."""
    a, b = fakes
    jdir = tmp_path / "jaeger"
    for attempt in range(3):
        otlp_port, query_port = free_port(), free_port()
        while not port_free(query_port + 1):  # the query API's gRPC side takes the next port up
            query_port = free_port()
        try:
            jaeger("start", str(jdir), str(otlp_port), str(query_port))
            break
        except subprocess.CalledProcessError:
            # A port found free was taken before Jaeger bound it (a client connection's ephemeral port of the
            # gateways running meanwhile): new ports.
            if attempt == 2:
                raise
    try:
        otlp, query = f"http://127.0.0.1:{otlp_port}", f"http://127.0.0.1:{query_port}"
        env = otel_env(otlp, OTEL_BSP_EXPORT_TIMEOUT="1000")  # a batch gives up after a second of retries
        port, worker_ops, ledger_ops = start_roles(cluster, {**provider_env(a, b, tmp_path), **env})
        trace_id, _, tp = new_traceparent()
        assert post(port, cluster.key, chat("gpt-4o-mini", "before"), tp)[0] == 200
        wait_spans(query, trace_id, lambda s: len(s) >= EXPECTED)

        jaeger("stop", str(jdir))
        rids = []
        for i in range(5):
            _, _, tp = new_traceparent()
            status, rid, data = post(port, cluster.key, chat("gpt-4o-mini", f"while down {i}"), tp)
            assert status == 200, data  # the collector's absence costs the requests nothing
            rids.append(rid)
        for p in (port, worker_ops, ledger_ops):
            wait_for(lambda: (metric(p, "llmgw_otel_export_failures_total") or 0) > 0, 30,
                     f"export failures counted on port {p}")
            assert metric(p, "llmgw_otel_spans_dropped_total", 'reason="export_failed"') > 0
        for rid in rids:
            ledger_trace_ids(cluster, rid)  # every request was served and recorded all the same

        jaeger("start", str(jdir), str(otlp_port), str(query_port))
        trace_id, client_span, tp = new_traceparent()
        assert post(port, cluster.key, chat("gpt-4o-mini", "after"), tp)[0] == 200
        spans = wait_spans(query, trace_id, lambda s: len(s) >= EXPECTED)
        assert_tree(spans, client_span)
    finally:
        jaeger("stop", str(jdir))


def test_grpc_is_refused_at_start(cluster):
    """OTLP over gRPC is not spoken: every role refuses it before it starts anything, with the reason, exit 2."""
    for role in ("ingress", "worker", "ledger"):
        proc = cluster.start(role, f"grpc-{role}", OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4317",
                             OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
        assert proc.popen.wait(30) == 2
        assert "OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported" in proc.output()


def test_tracestate_on_every_span(cluster, fakes, tmp_path):
    """The client's tracestate is the trace state of every span of the request, in all three processes
    (Jaeger shows OTLP's Span.trace_state as the tag w3c.tracestate); a malformed one is on none."""
    otlp, query = _jaeger_env()
    a, b = fakes
    port, _, _ = start_roles(cluster, {**provider_env(a, b, tmp_path), **otel_env(otlp)})
    trace_id, client_span, tp = new_traceparent()
    status, _, data = post(port, cluster.key, chat("gpt-4o-mini", "vendor data"), tp,
                           tracestate="rojo=00f067aa0ba902b7, congo=t61rcWkgMzE")
    assert status == 200, data
    spans = wait_spans(query, trace_id, lambda s: len(s) >= EXPECTED)
    assert_tree(spans, client_span)
    assert {s.service for s in spans} == {"llmgw-ingress", "llmgw-worker", "llmgw-ledger"}
    for s in spans:
        assert s.tags.get("w3c.tracestate") == "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", s

    trace_id, _, tp = new_traceparent()
    status, _, data = post(port, cluster.key, chat("gpt-4o-mini", "bad vendor data"), tp, tracestate="Rojo=1")
    assert status == 200, data
    spans = wait_spans(query, trace_id, lambda s: len(s) >= EXPECTED)
    assert not [s for s in spans if "w3c.tracestate" in s.tags]


def content_of(span, key):
    assert key in span.tags, f"{key} not on {span}: {sorted(span.tags)}"
    return json.loads(span.tags[key])


def test_content_capture_puts_the_conversation_on_the_candidate_span(cluster, fakes, tmp_path):
    """OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true: the candidate span carries the messages and the
    answer (a whole one and a stream's) as the GenAI conventions shape them; no other span carries them, and
    no process logs them."""
    otlp, query = _jaeger_env()
    a, b = fakes
    env = otel_env(otlp, OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="true")
    port, _, _ = start_roles(cluster, {**provider_env(a, b, tmp_path), **env})
    trace_id, _, tp = new_traceparent()
    body = {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "Be brief."},
                                                  {"role": "user", "content": SECRET_PROMPT}]}
    status, _, data = post(port, cluster.key, body, tp)
    assert status == 200, data
    answer = json.loads(data)["choices"][0]["message"]["content"]
    spans = wait_spans(query, trace_id, lambda s: len(s) >= EXPECTED)
    cand = one(spans, "llmgw-worker", "client", "chat gpt-4o-mini")
    assert content_of(cand, "gen_ai.input.messages") == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": SECRET_PROMPT}]}]
    assert content_of(cand, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": "stop"}]
    for s in spans:
        if s is not cand:
            assert SECRET_PROMPT not in json.dumps(s.tags), f"the prompt on {s}"

    # A stream: its text, gathered from the chunks, is the answer.
    trace_id, _, tp = new_traceparent()
    status, _, data = post(port, cluster.key, chat("gpt-4o-mini", "one two three four", stream=True), tp)
    assert status == 200 and b"data: [DONE]" in data
    streamed = "".join(json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
                       for line in data.decode().splitlines()
                       if line.startswith("data: {") and json.loads(line[6:]).get("choices"))
    assert streamed
    spans = wait_spans(query, trace_id, lambda s: len(s) >= EXPECTED)
    cand = one(spans, "llmgw-worker", "client", "chat gpt-4o-mini")
    out = content_of(cand, "gen_ai.output.messages")
    assert out == [{"role": "assistant", "parts": [{"type": "text", "content": streamed}], "finish_reason": "stop"}]

    # A prompt past the cap: cut, marked, and still JSON.
    trace_id, _, tp = new_traceparent()
    status, _, data = post(port, cluster.key, chat("gpt-4o-mini", "long " * 8000), tp)
    assert status == 200, data
    spans = wait_spans(query, trace_id, lambda s: len(s) >= EXPECTED)
    cand = one(spans, "llmgw-worker", "client", "chat gpt-4o-mini")
    text = content_of(cand, "gen_ai.input.messages")[0]["parts"][0]["content"]
    assert text.endswith("\u2026") and 10000 < len(text) < 16384
    assert cand.tags["llmgw.gen_ai.input.messages.truncated"] is True

    for proc in cluster.procs:
        assert SECRET_PROMPT not in proc.output(), f"the prompt in {proc.name}'s log"


def test_unknown_content_capture_value_is_refused_at_start(cluster):
    """A typo must not leave an operator believing prompts are (or are not) captured: exit 2, with the reason."""
    proc = cluster.start("worker", "capture-typo", OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318",
                         OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="yes")
    assert proc.popen.wait(30) == 2
    assert "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=yes: expected true or false" in proc.output()
