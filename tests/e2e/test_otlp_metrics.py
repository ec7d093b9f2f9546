"""Metrics over OTLP from real roles: an ingress, a worker and a ledger over the real Kafka broker push their
registries (OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, OTEL_METRIC_EXPORT_INTERVAL) to a small OTLP/HTTP receiver in
this test, which decodes every request with the official opentelemetry-proto package (ExportMetricsServiceRequest,
pinned in tests/requirements.txt): protobuf bodies with ParseFromString, http/json bodies with protobuf's
json_format into the same message, so both encodings are checked against the .proto, not against llmgw's idea
of it.

What is checked: the resource (service.name per role, service.version, service.instance.id) and scope; counters
as monotonic cumulative Sums whose values match the role's own /metrics text; histograms with explicit bounds
whose bucket counts add up to their count; the GenAI semantic-convention names, unit and dotted attribute keys
(gen_ai.client.token.usage {token}, gen_ai.client.operation.duration s, gen_ai.operation.name ...) for every
GenAI series the worker's /metrics shows; the last push at a clean stop; and a collector that cannot be
reached (requests unaffected, failures counted)."""
import http.client
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import ROOT, refused_port, start_fake, wait_for

pb = pytest.importorskip("opentelemetry.proto.collector.metrics.v1.metrics_service_pb2",
                         reason="opentelemetry-proto (tests/requirements.txt) is not installed")
from google.protobuf import json_format  # noqa: E402  (installed with opentelemetry-proto)

OPENAI_KEY = "sk-fake-test-key"
CUMULATIVE = 2  # AggregationTemporality
# The GenAI instruments (gen_ai_client_*) come with the metrics registry that has the snapshot API (branch
# `metrics`, issue #16): from then on the worker must show them and push them.
GENAI_REQUIRED = "lgw_metrics_snapshot" in (ROOT / "common" / "metrics.h").read_text()


class Receiver:
    """An OTLP/HTTP metrics receiver on 127.0.0.1: decodes and keeps every ExportMetricsServiceRequest."""

    def __init__(self):
        self.requests = []  # (content_type, ExportMetricsServiceRequest, arrival time)
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                ctype = self.headers.get("content-type", "")
                msg = pb.ExportMetricsServiceRequest()
                if self.path != "/v1/metrics":
                    self.send_response(404)
                    self.end_headers()
                    return
                if ctype == "application/x-protobuf":
                    msg.ParseFromString(body)
                elif ctype == "application/json":
                    json_format.Parse(body, msg)  # strict: an unknown field fails the parse
                else:
                    self.send_response(415)
                    self.end_headers()
                    return
                with receiver.lock:
                    receiver.requests.append((ctype, msg, time.monotonic()))
                out = pb.ExportMetricsServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # the kernel's pick: no other process has it
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/v1/metrics"

    def of(self, service):
        """The requests from service.name == service, oldest first."""
        with self.lock:
            return [(c, m, t) for c, m, t in self.requests if resource_attrs(m).get("service.name") == service]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def attrs(kvs):
    return {kv.key: kv.value.string_value for kv in kvs}


def resource_attrs(msg):
    return attrs(msg.resource_metrics[0].resource.attributes) if msg.resource_metrics else {}


def metrics_of(msg):
    """{name: Metric} of one request (one resource, one scope, as llmgw sends them)."""
    assert len(msg.resource_metrics) == 1
    rm = msg.resource_metrics[0]
    assert len(rm.scope_metrics) == 1
    sm = rm.scope_metrics[0]
    assert sm.scope.name == "llmgw"
    assert rm.schema_url == sm.schema_url == "https://opentelemetry.io/schemas/1.37.0"
    out = {}
    for m in sm.metrics:
        assert m.name not in out, f"{m.name} twice in one request"
        out[m.name] = m
    return out


def prom_text(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    return text


def prom_series(text, name):
    """{labels text: value} of one family's plain samples."""
    out = {}
    for m in re.finditer(rf"^{re.escape(name)}(?:{{(.*)}})? (\S+)$", text, re.M):
        out[m.group(1) or ""] = float(m.group(2))
    return out


def post(port, key, text, model="gpt-4o-mini"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/v1/chat/completions",
                 json.dumps({"model": model, "messages": [{"role": "user", "content": text}]}),
                 {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def check_point_common(m, dp):
    assert dp.time_unix_nano > 0
    if m.WhichOneof("data") in ("sum", "histogram"):
        assert 0 < dp.start_time_unix_nano <= dp.time_unix_nano


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def fake():
    port, proc = start_fake("fake_openai.py")
    yield port
    proc.terminate()
    proc.wait()


def roles(cluster, fake_port, receiver_url, interval=300, **extra):
    cluster.extra_env.update({
        "LLMGW_OPENAI_BASE_URL": f"http://127.0.0.1:{fake_port}/v1", "LLMGW_OPENAI_API_KEY": OPENAI_KEY,
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": receiver_url, "OTEL_METRIC_EXPORT_INTERVAL": str(interval),
        "OTEL_TRACES_EXPORTER": "none", **{k: str(v) for k, v in extra.items()}})
    ledger, ledger_ops = cluster.ledger()
    worker, worker_ops = cluster.worker("w1")
    ingress, port = cluster.ingress("i1")
    return {"ingress": (ingress, port), "worker": (worker, worker_ops), "ledger": (ledger, ledger_ops)}


@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json"])
def test_every_role_pushes_its_registry(cluster, fake, receiver, protocol):
    procs = roles(cluster, fake, receiver.url, OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=protocol)
    port = procs["ingress"][1]
    n = 4
    for i in range(n):
        status, data = post(port, cluster.key, f"hello {i}")
        assert status == 200, data
    ctype = "application/json" if protocol == "http/json" else "application/x-protobuf"

    # The pushes after the traffic: wait for one from each role that carries its effects.
    def pushed_after(service, name):
        def check():
            for c, msg, _ in reversed(receiver.of(service)):
                ms = metrics_of(msg)
                if name in ms:
                    return c, msg, ms
            return None
        return wait_for(check, 30, f"a push from {service} with {name}")

    c, msg, ms = pushed_after("llmgw-ingress", "llmgw_http_requests")
    assert c == ctype
    res = resource_attrs(msg)
    assert res["service.version"] and res["service.instance.id"] and res["telemetry.sdk.name"] == "llmgw"

    # Counters: monotonic cumulative Sums; the chat route's count equals the /metrics text once the traffic
    # is over (the next push after it).
    req = ms["llmgw_http_requests"]
    assert req.WhichOneof("data") == "sum"
    assert req.sum.is_monotonic and req.sum.aggregation_temporality == CUMULATIVE
    # A request is counted when the HTTP server reports it completed, just after its answer went out: on a busy
    # machine the last one's count can trail the client's read of its answer.
    def text_chat_count():
        return prom_series(prom_text(port), "llmgw_http_requests_total").get(
            'route="/v1/chat/completions",status="200"')
    want = wait_for(lambda: text_chat_count() == n and n, 10, f"the /metrics chat count to reach {n}")

    def chat_count():
        for _, msg2, _ in reversed(receiver.of("llmgw-ingress")):
            for dp in metrics_of(msg2).get("llmgw_http_requests", req).sum.data_points:
                a = attrs(dp.attributes)
                if a.get("route") == "/v1/chat/completions" and a.get("status") == "200":
                    check_point_common(metrics_of(msg2)["llmgw_http_requests"], dp)
                    return dp.as_int or dp.as_double
        return None
    wait_for(lambda: chat_count() == want, 30, f"the pushed chat count to reach {want}")

    # A histogram: explicit bounds, cumulative, bucket counts adding up to the count.
    hist = [m for m in ms.values() if m.WhichOneof("data") == "histogram"]
    assert hist, f"no histogram among {sorted(ms)}"
    for m in hist:
        assert m.histogram.aggregation_temporality == CUMULATIVE
        for dp in m.histogram.data_points:
            check_point_common(m, dp)
            assert len(dp.bucket_counts) == len(dp.explicit_bounds) + 1
            assert list(dp.explicit_bounds) == sorted(dp.explicit_bounds)
            assert sum(dp.bucket_counts) == dp.count
    dur = ms["llmgw_http_request_duration_seconds"]
    assert dur.unit == "s"
    assert dur.description  # the # HELP text

    # Every family the ingress's /metrics shows is pushed (under its OTel name) by the next push.
    families = set(re.findall(r"^# TYPE (\S+) (\S+)$", prom_text(port), re.M))
    t_text = time.monotonic()
    wait_for(lambda: any(t > t_text for _, _, t in receiver.of("llmgw-ingress")), 30, "a push after the scrape")
    ms = metrics_of([m for _, m, t in receiver.of("llmgw-ingress") if t > t_text][0])
    for fam, kind in families:
        otel = fam[:-len("_total")] if kind == "counter" and fam.endswith("_total") else fam
        otel = {"gen_ai_client_token_usage": "gen_ai.client.token.usage",
                "gen_ai_client_operation_duration_seconds": "gen_ai.client.operation.duration"}.get(fam, otel)
        assert otel in ms or otel.startswith("llmgw_otel_metric_"), f"{fam} ({kind}) not pushed as {otel}"

    # The worker and the ledger push too, each as its own service.
    _, wmsg, wms = pushed_after("llmgw-worker", "llmgw_job_duration_seconds")
    _, lmsg, lms = pushed_after("llmgw-ledger", "llmgw_ledger_batch_seconds")
    assert resource_attrs(wmsg)["service.instance.id"] != resource_attrs(lmsg)["service.instance.id"]

    # GenAI: every gen_ai_* series of the worker's /metrics is pushed under the semantic-convention name,
    # unit and dotted attribute keys.
    wtext = prom_text(procs["worker"][1])
    has_genai = "gen_ai_client_token_usage" in wtext
    if GENAI_REQUIRED:
        assert has_genai, "the worker shows no gen_ai_client_token_usage after chat requests"
    if has_genai:
        def genai_push():
            for _, msg2, _ in reversed(receiver.of("llmgw-worker")):
                got = metrics_of(msg2)
                if "gen_ai.client.token.usage" in got and "gen_ai.client.operation.duration" in got:
                    return got
            return None
        got = wait_for(genai_push, 30, "a worker push with the GenAI metrics")
        tok, op = got["gen_ai.client.token.usage"], got["gen_ai.client.operation.duration"]
        assert tok.unit == "{token}" and op.unit == "s"
        assert tok.WhichOneof("data") == "histogram" and op.WhichOneof("data") == "histogram"
        types = set()
        for dp in tok.histogram.data_points:
            a = attrs(dp.attributes)
            assert a["gen_ai.operation.name"] == "chat"
            assert a["gen_ai.provider.name"] == "openai"
            assert a["gen_ai.request.model"] == "gpt-4o-mini"
            assert not any(k.startswith("gen_ai_") for k in a), a
            types.add(a["gen_ai.token.type"])
            assert sum(dp.bucket_counts) == dp.count
        assert types == {"input", "output"}
        assert sum(dp.count for dp in op.histogram.data_points) >= n


def test_last_push_at_stop(cluster, fake, receiver):
    """With an interval longer than the test, the only push is the one a clean stop makes: it carries the
    counts of the whole run."""
    procs = roles(cluster, fake, receiver.url, interval=600000)
    ingress, port = procs["ingress"]
    for i in range(3):
        assert post(port, cluster.key, f"x {i}")[0] == 200
    assert receiver.of("llmgw-ingress") == []
    assert ingress.stop() == 0
    pushes = receiver.of("llmgw-ingress")
    assert len(pushes) == 1, pushes
    ms = metrics_of(pushes[0][1])
    counts = {attrs(dp.attributes).get("status"): dp.as_int for dp in ms["llmgw_http_requests"].sum.data_points
              if attrs(dp.attributes).get("route") == "/v1/chat/completions"}
    assert counts == {"200": 3}


def test_unreachable_collector_costs_nothing(cluster, fake):
    """Nothing listens at the endpoint: requests are answered as usual and the failed pushes are counted."""
    nobody, nobody_port = refused_port()  # kept until the test ends
    dead = f"http://127.0.0.1:{nobody_port}/v1/metrics"
    procs = roles(cluster, fake, dead, interval=200, OTEL_METRIC_EXPORT_TIMEOUT=300)
    port = procs["ingress"][1]
    t0 = time.monotonic()
    for i in range(3):
        assert post(port, cluster.key, f"y {i}")[0] == 200
    assert time.monotonic() - t0 < 10
    wait_for(lambda: prom_series(prom_text(port), "llmgw_otel_metric_export_failures_total").get("", 0) >= 2, 30,
             "failed pushes counted")
    assert prom_series(prom_text(port), "llmgw_otel_metric_exports_total").get("") == 0
    nobody.close()
