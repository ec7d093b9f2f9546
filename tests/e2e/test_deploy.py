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
