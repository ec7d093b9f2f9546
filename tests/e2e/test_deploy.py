"""The files under deploy/ as their own tools read them: `promtool check config` and `promtool check rules`
(Debian's Prometheus 2.42) on the Prometheus config and alert rules; `jaeger validate` (Jaeger v1.75.0, an
OpenTelemetry Collector distribution, scripts/jaeger.sh) on the collector config, with a broken copy refused
to show the check bites; every PromQL query of the Grafana dashboard parsed by promtool (as recording rules,
its variables substituted) and every variable it uses defined. test_prometheus.py runs them for real."""
import json
import re
import subprocess

import pytest

from conftest import ROOT

DEPLOY = ROOT / "deploy"


def run(*argv):
    return subprocess.run(list(argv), capture_output=True, text=True)


def test_promtool_check_config_and_rules():
    out = run("promtool", "check", "config", str(DEPLOY / "prometheus" / "prometheus.yml"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 1 rule files found" in out.stdout
    out = run("promtool", "check", "rules", str(DEPLOY / "prometheus" / "alerts.yml"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 4 rules found" in out.stdout
    names = re.findall(r"- alert: (\w+)", (DEPLOY / "prometheus" / "alerts.yml").read_text())
    assert names == ["LlmgwBreakerOpen", "LlmgwConsumerLagHigh", "LlmgwBudgetNearlySpent", "LlmgwDeadLettersGrowing"]


def test_prometheus_scrapes_every_role():
    text = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
    jobs = re.findall(r"^  - job_name: (\S+)", text, re.M)
    assert jobs == ["llmgw-ingress", "llmgw-worker", "llmgw-ledger"]


@pytest.fixture(scope="module")
def jaeger_bin():
    out = run("bash", str(ROOT / "scripts" / "jaeger.sh"), "path")
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def test_collector_config_validates_with_jaeger(jaeger_bin, tmp_path):
    cfg = DEPLOY / "otel-collector.yaml"
    out = run(jaeger_bin, "validate", "--config", f"file:{cfg}")
    assert out.returncode == 0, out.stdout + out.stderr
    text = cfg.read_text()
    assert "exporters: [otlp/jaeger]" in text and "exporters: [prometheus]" in text
    # The check bites: an exporter the pipeline names but the file lacks, or a misspelt setting.
    for old, new in (("exporters: [prometheus]", "exporters: [prometheusremotewrite]"),
                     ("limit_mib: 512", "limit_mibs: 512")):
        bad = tmp_path / "bad.yaml"
        bad.write_text(text.replace(old, new))
        out = run(jaeger_bin, "validate", "--config", f"file:{bad}")
        assert out.returncode != 0, f"jaeger validate accepted {new!r}"


def test_dashboard_queries_parse(tmp_path):
    dash = json.loads((DEPLOY / "grafana" / "llmgw-dashboard.json").read_text())
    assert dash["uid"] and dash["title"]
    variables = {v["name"] for v in dash["templating"]["list"]}
    assert {"datasource", "provider", "model", "tenant"} <= variables
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    rules = []
    for p in dash["panels"]:
        assert p["datasource"]["uid"] == "${datasource}", p["title"]
        assert p["targets"], p["title"]
        for t in p["targets"]:
            expr = t["expr"]
            for used in re.findall(r"\$\{?(\w+)", expr):
                assert used in variables or used.startswith("__"), f"{p['title']}: ${used} is not a variable"
            expr = expr.replace("$__rate_interval", "1m").replace("$__range", "1h")
            expr = re.sub(r"\$\{?\w+\}?", ".*", expr)
            rules.append({"record": f"dashboard:panel{p['id']}:{t['refId']}", "expr": expr})
    # Every area the dashboard promises has a panel.
    titles = " ".join(p["title"].lower() for p in dash["panels"])
    for word in ("status", "latency", "tokens", "cost", "breaker", "lag", "cache", "fallbacks", "rate-limited",
                 "budget"):
        assert word in titles, word
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))  # JSON is YAML
    out = run("promtool", "check", "rules", str(path))
    assert out.returncode == 0, out.stdout + out.stderr


def test_collector_gives_prometheus_the_roles_names(jaeger_bin, cluster, tmp_path):
    """deploy/otel-collector.yaml run by the Jaeger binary, with real roles pushing OTLP metrics to it: its
    Prometheus exporter serves them under the names the roles' own /metrics use (llmgw_http_requests back to
    llmgw_http_requests_total, gen_ai.client.token.usage {token} to gen_ai_client_token_usage), so the alert
    rules and the dashboard work on that path too."""
    import http.client
    import json as _json
    import time
    import urllib.request

    from conftest import free_port, start_fake, wait_for

    otlp_http, otlp_grpc, prom_port = free_port(), free_port(), free_port()
    env = {"OTELCOL_OTLP_HTTP": f"127.0.0.1:{otlp_http}", "OTELCOL_OTLP_GRPC": f"127.0.0.1:{otlp_grpc}",
           "OTELCOL_PROMETHEUS": f"127.0.0.1:{prom_port}", "OTELCOL_JAEGER_OTLP": f"127.0.0.1:{free_port()}",
           "PATH": "/usr/bin:/bin"}
    log = open(tmp_path / "collector.log", "wb")
    # Its own telemetry off in the test only: it would take port 8888, which another collector may hold.
    col = subprocess.Popen([jaeger_bin, "--config", f"file:{DEPLOY / 'otel-collector.yaml'}",
                            "--set=service.telemetry.metrics.level=none"], env=env, stdout=log, stderr=log)
    fake_port, fake = start_fake("fake_openai.py")
    try:
        def scrape():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{prom_port}/metrics", timeout=5) as resp:
                    return resp.read().decode()
            except OSError:
                return None
        wait_for(lambda: scrape() is not None, 30, "the collector's Prometheus exporter")
        cluster.extra_env.update({
            "LLMGW_OPENAI_BASE_URL": f"http://127.0.0.1:{fake_port}/v1", "LLMGW_OPENAI_API_KEY": "sk-fake-test-key",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp_http}", "OTEL_TRACES_EXPORTER": "none",
            "OTEL_METRIC_EXPORT_INTERVAL": "300"})
        cluster.ledger()
        _, worker_ops = cluster.worker("w1")
        _, port = cluster.ingress("i1")
        for i in range(3):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("POST", "/v1/chat/completions",
                         _json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"c {i}"}]}),
                         cluster.headers())
            assert conn.getresponse().status == 200
            conn.close()

        def served(pattern):
            text = scrape() or ""
            return re.search(pattern, text, re.M)
        m = wait_for(lambda: served(r'^llmgw_http_requests_total\{([^}]*route="/v1/chat/completions"[^}]*)\} 3$'),
                     30, "llmgw_http_requests_total from the collector")
        assert 'job="llmgw-ingress"' in m.group(1) and 'status="200"' in m.group(1)
        assert served(r'^llmgw_http_request_duration_seconds_bucket\{[^}]*job="llmgw-ingress"')
        assert served(r'^llmgw_job_duration_seconds_count\{[^}]*job="llmgw-worker"')
        conn = http.client.HTTPConnection("127.0.0.1", worker_ops, timeout=10)
        conn.request("GET", "/metrics")
        worker_text = conn.getresponse().read().decode()
        conn.close()
        if "gen_ai_client_token_usage" in worker_text:  # the registry of issue #16 (branch `metrics`)
            m = wait_for(lambda: served(r'^gen_ai_client_token_usage_bucket\{([^}]*)\}'), 30,
                         "gen_ai_client_token_usage from the collector")
            assert 'gen_ai_request_model="gpt-4o-mini"' in m.group(1) and 'gen_ai_token_type=' in m.group(1)
            assert served(r'^gen_ai_client_operation_duration_seconds_bucket\{')
    finally:
        fake.terminate()
        fake.wait()
        col.terminate()
        try:
            col.wait(15)
        except subprocess.TimeoutExpired:
            col.kill()
            col.wait()
        log.close()
