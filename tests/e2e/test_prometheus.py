"""The shipped Prometheus config, alert rules and Grafana dashboard against a real Prometheus (Debian's 2.42,
scripts/prometheus.sh) scraping a real ingress, worker and ledger over the real Kafka broker.

The test's Prometheus config is deploy/prometheus/prometheus.yml with its targets replaced by this test's
processes and 1 s scrape and evaluation intervals; its rules are deploy/prometheus/alerts.yml with every
`for:` shortened to 0s (the shipped windows are minutes; expressions and thresholds are the shipped ones).
Traffic: chat requests (one answered from the cache), a group whose first candidate fails (fallbacks, then its
breaker opens), a tenant with rpm 1 (rate-limited), a tenant with a tiny USD budget (spent), and a worker held
by one slow call while malformed records are written straight to the jobs topic (consumer lag, then dead
letters). Then:
  (a) each dashboard template variable's label_values query gives a value, and with the variables substituted
      every panel query evaluates and each metric selector in it matches at least one series;
  (b) each alert (breaker open, consumer lag, budget nearly spent, dead letters growing) is seen firing on
      /api/v1/alerts.
Series that only the metrics registry of issue #16 records (GenAI histograms, provider attempt latency,
consumer lag, cost and budget use) are required once that registry is in the tree (common/metrics.h has the
snapshot API); before, their selectors and the two alerts built on them are listed as not yet available."""
import http.client
import json
import re
import subprocess
import threading
import time
import urllib.parse
import urllib.request
import uuid

import pytest

from conftest import FRESH_PORT, ROOT, _env, free_port, start_fake, wait_for

OPENAI_KEY = "sk-fake-test-key"
METRICS_REGISTRY = "lgw_metrics_snapshot" in (ROOT / "common" / "metrics.h").read_text()
# Recorded only by the registry of issue #16 (branch `metrics`).
NEEDS_REGISTRY = {"gen_ai_client_operation_duration_seconds", "gen_ai_client_token_usage",
                  "llmgw_provider_request_duration_seconds", "llmgw_kafka_consumer_lag", "llmgw_cost_usd_total",
                  "llmgw_budget_used_ratio"}
ALERT_NEEDS = {"LlmgwConsumerLagHigh": "llmgw_kafka_consumer_lag", "LlmgwBudgetNearlySpent": "llmgw_budget_used_ratio"}
# Grafana's built-in variables, as Grafana would fill them for a short range at a 1 s scrape interval.
BUILTINS = {"$__rate_interval": "10s", "$__interval": "2s", "$__range": "5m"}


# ---- Prometheus

class Prom:
    def __init__(self, base):
        self.base = base

    def get(self, path, **params):
        url = f"{self.base}{path}?{urllib.parse.urlencode(params, doseq=True)}"
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = json.loads(resp.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr):
        return self.get("/api/v1/query", query=expr)["result"]

    def firing(self):
        return {a["labels"]["alertname"] for a in self.get("/api/v1/alerts")["alerts"] if a["state"] == "firing"}


def prometheus_sh(*args):
    return subprocess.run(["bash", str(ROOT / "scripts" / "prometheus.sh"), *args], check=True,
                          capture_output=True, text=True).stdout.strip()


def test_config(targets, rules_path):
    """deploy/prometheus/prometheus.yml with the test's targets, intervals and rules file."""
    text = (ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text()
    for host, addr in targets.items():
        text, n = re.subn(rf'"{host}:\d+"', f'"{addr}"', text)
        assert n == 1, f"the shipped config has no single {host} target"
    text = re.sub(r"scrape_interval: \S+", "scrape_interval: 1s", text)
    text = re.sub(r"scrape_timeout: \S+", "scrape_timeout: 1s", text)
    text = re.sub(r"evaluation_interval: \S+", "evaluation_interval: 1s", text)
    text, n = re.subn(r"- alerts\.yml", f"- {rules_path}", text)
    assert n == 1
    return text


def test_rules():
    text = (ROOT / "deploy" / "prometheus" / "alerts.yml").read_text()
    text, n = re.subn(r"\bfor: \S+", "for: 0s", text)
    assert n >= 4
    return text


test_config.__test__ = test_rules.__test__ = False  # helpers, not tests


class AlertWatch(threading.Thread):
    """Polls /api/v1/alerts every 250 ms and remembers every alert seen firing (an alert can resolve again:
    a breaker goes half-open, a backlog drains)."""

    def __init__(self, prom):
        super().__init__(daemon=True)
        self.prom, self.seen, self.stop = prom, set(), threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                self.seen |= self.prom.firing()
            except OSError:
                pass
            self.stop.wait(0.25)


# ---- the dashboard

def dashboard():
    return json.loads((ROOT / "deploy" / "grafana" / "llmgw-dashboard.json").read_text())


def panel_exprs(dash):
    for panel in dash["panels"]:
        for t in panel.get("targets", []):
            yield panel["title"], t["expr"]


def selectors(expr):
    """The metric selectors of a PromQL expression: llmgw's metric names with their {matchers}."""
    return [m.group(0) for m in re.finditer(r"\b(?:llmgw_|gen_ai_client_)[a-zA-Z0-9_]+(?:\{[^}]*\})?", expr)]


def base_metric(selector):
    name = selector.split("{")[0]
    return re.sub(r"_(bucket|sum|count)$", "", name)


# ---- traffic

def post(port, key, text, model="gpt-4o-mini"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/v1/chat/completions",
                 json.dumps({"model": model, "messages": [{"role": "user", "content": text}]}),
                 {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def set_mode(port, fail=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/_mode", json.dumps({"fail": fail, "delay_ms": 0}), {"content-type": "application/json"})
    conn.getresponse().read()
    conn.close()


def new_key(cluster, tenant):
    out = subprocess.run([cluster.bin, "keys", "new", "--tenant", tenant], capture_output=True, text=True,
                         check=True).stdout
    fields = dict(line.split(": ", 1) for line in out.strip().splitlines())
    return fields["key"], fields["sha256"]


def has_setting(cluster, env_name):
    docs = subprocess.run([cluster.bin, "config", "docs"], capture_output=True, text=True, check=True).stdout
    return env_name in docs


@pytest.fixture
def fakes():
    a, pa = start_fake("fake_openai.py")
    b, pb = start_fake("fake_openai.py")
    yield a, b
    for p in (pa, pb):
        p.terminate()
        p.wait()


def test_dashboard_queries_and_alerts(cluster, fakes, tmp_path):
    from confluent_kafka import Producer

    t_start = time.monotonic()
    good, bad = fakes
    set_mode(bad, fail=500)
    sfx = uuid.uuid4().hex[:6]
    lim, bud = f"lim{sfx}", f"bud{sfx}"  # tenants of their own: Redis is shared with other tests
    lim_key, lim_hash = new_key(cluster, lim)
    bud_key, bud_hash = new_key(cluster, bud)
    cfg = tmp_path / "llmgw.json"
    cfg.write_text(json.dumps({"tenants": {lim: {"rpm": 1}, bud: {"budget": {"day_usd": "0.00001"}}}}))
    overrides = tmp_path / "overrides.json"
    overrides.write_text(json.dumps({"catalog_version": "test",
                                     "groups": {"ab": ["compat/local-mini", "openai/gpt-4o-mini"]}}))
    cluster.extra_env.update({
        "LLMGW_OPENAI_BASE_URL": f"http://127.0.0.1:{good}/v1", "LLMGW_OPENAI_API_KEY": OPENAI_KEY,
        "LLMGW_COMPAT_BASE_URL": f"http://127.0.0.1:{bad}/v1", "LLMGW_COMPAT_API_KEY": OPENAI_KEY,
        # compat is the cheaper candidate, so the cost strategy tries it first.
        "LLMGW_COMPAT_MODELS": "local-mini@0.01/0.02", "LLMGW_CATALOG_OVERRIDES": str(overrides),
        "LLMGW_PROVIDER_MAX_RETRIES": "0", "LLMGW_BREAKER_COOLDOWN_MS": "120000",
        "LLMGW_CONFIG": str(cfg), "LLMGW_CACHE_TTL_S": "60",
        "LLMGW_REDIS_URL": "redis://" + _env("LLMGW_TEST_REDIS"), "LLMGW_REDIS_TIMEOUT_MS": "1000",
        "LLMGW_TENANT_KEYS": f"acme:{cluster.key_hash},{lim}:{lim_hash},{bud}:{bud_hash}",
        # One job at a time: a slow call holds the worker, so records written meanwhile wait (consumer lag).
        "LLMGW_WORKER_CONCURRENCY": "1",
    })
    _, ledger_ops = cluster.ledger()
    _, worker_ops = cluster.worker("w1")
    # The ingress's per-tenant metrics (cost, budget use) are on its ops port where the registry has one.
    ops = has_setting(cluster, "LLMGW_INGRESS_OPS_PORT")
    ingress, port = cluster.ingress("i1", **({"LLMGW_INGRESS_OPS_PORT": FRESH_PORT} if ops else {}))
    ingress_ops = int(ingress.env["LLMGW_INGRESS_OPS_PORT"]) if ops else None

    rules = tmp_path / "alerts.yml"
    rules.write_text(test_rules())
    config = tmp_path / "prometheus.yml"
    config.write_text(test_config({"ingress": f"127.0.0.1:{ingress_ops or port}", "worker": f"127.0.0.1:{worker_ops}",
                                   "ledger": f"127.0.0.1:{ledger_ops}"}, rules))
    subprocess.run(["promtool", "check", "config", str(config)], check=True, capture_output=True)
    pdir = tmp_path / "prom"
    prom = Prom("http://" + prometheus_sh("start", str(pdir), str(free_port()), str(config)))
    watch = AlertWatch(prom)
    try:
        watch.start()
        wait_for(lambda: len([t for t in prom.get("/api/v1/targets")["activeTargets"] if t["health"] == "up"]) == 3,
                 20, "all three roles scraped")

        # -- traffic
        for i in range(4):
            assert post(port, cluster.key, f"prom {sfx} {i}")[0] == 200
        assert post(port, cluster.key, f"prom {sfx} 0")[0] == 200  # a cache hit
        for i in range(6):  # compat fails: fallback to openai; its 5th consecutive failure opens the breaker
            assert post(port, cluster.key, f"group {sfx} {i}", model="ab")[0] == 200
        statuses = [post(port, cluster.key, f"direct {sfx} {i}", model="local-mini")[0] for i in range(2)]
        assert all(s >= 500 for s in statuses), statuses  # the open breaker answers 503: a 5xx for the panel
        limited = [post(port, lim_key, f"lim {sfx} {i}")[0] for i in range(3)]
        assert limited.count(429) >= 1, limited

        sent = iter(range(1000))

        def budget_spent():  # new texts: a cache hit costs nothing
            return post(port, bud_key, f"budget {sfx} {next(sent)}")[0] == 429
        wait_for(budget_spent, 30, "the tiny budget to be spent", interval=0.3)

        # -- lag, then dead letters: one slow call holds the only job slot while junk piles up behind it
        slow = threading.Thread(target=post, args=(port, cluster.key, f"slow 8000 {sfx}"))
        slow.start()
        time.sleep(1.0)  # the worker has taken it and paused its partitions
        prod = Producer({"bootstrap.servers": cluster.kafka})
        for i in range(150):
            prod.produce(f"{cluster.prefix}.jobs.chat", key=f"junk{i}".encode(), value=b"not a job")
        assert prod.flush(10) == 0

        # -- (b) the alerts
        want = {"LlmgwBreakerOpen", "LlmgwDeadLettersGrowing"}
        missing_registry = {a for a, metric in ALERT_NEEDS.items() if not METRICS_REGISTRY}
        want |= set(ALERT_NEEDS) - missing_registry
        try:
            wait_for(lambda: want <= watch.seen, 40, f"alerts {sorted(want)} firing", interval=0.5)
        except BaseException:
            print(f"\nalerts seen firing: {sorted(watch.seen)}")
            for q in ("llmgw_breaker_state", "llmgw_dlq_total", "llmgw_budget_used_ratio",
                      "max_over_time(sum by (role, topic) (llmgw_kafka_consumer_lag)[5m:1s])"):
                print(q, prom.query(q))
            raise
        slow.join(30)

        # -- (a) the dashboard: each variable's values, then every panel query with the variables as the
        # dashboard opens (All) and as a user narrows them (a value of each); each selector must find series
        # with All
        dash = dashboard()
        firsts = {}
        for var in dash["templating"]["list"]:
            if var["type"] != "query":
                continue
            metric, label = re.fullmatch(r"label_values\((\w+), *(\w+)\)", var["query"]["query"]).groups()
            got = prom.get(f"/api/v1/label/{label}/values", **{"match[]": metric})
            if not got and base_metric(metric) in NEEDS_REGISTRY and not METRICS_REGISTRY:
                continue
            assert got, f"variable {var['name']}: label_values({metric}, {label}) is empty"
            # As Grafana formats a regex variable for Prometheus: regex-escaped, the backslashes doubled for
            # PromQL's string literal.
            firsts[var["name"]] = re.escape(got[0]).replace("\\", "\\\\")

        def substitute(expr, values):
            for k, v in BUILTINS.items():
                expr = expr.replace(k, v)
            for name in re.findall(r"\$\{?(\w+)\}?", expr):
                v = values.get(name, ".*")
                expr = expr.replace(f"${{{name}}}", v).replace(f"${name}", v)
            return expr

        not_yet, checked, total = set(), 0, 0
        for title, raw in panel_exprs(dash):
            prom.query(substitute(raw, firsts))  # narrowed: evaluates (status success)
            expr = substitute(raw, {})  # All
            prom.query(expr)
            for sel in selectors(expr):
                total += 1
                if base_metric(sel) in NEEDS_REGISTRY and not METRICS_REGISTRY:
                    not_yet.add(base_metric(sel))
                    continue
                wait_for(lambda: prom.query(f"count({sel})"), 15, f"panel {title!r}: a series for {sel}")
                checked += 1
        assert checked >= 10 and (checked == total or not METRICS_REGISTRY), (checked, total)
        if not_yet:
            print(f"\nnot yet recorded by this tree's registry (issue #16 metrics): {sorted(not_yet)}; "
                  f"alerts not checked: {sorted(set(ALERT_NEEDS) - (want & set(ALERT_NEEDS)))}")
        assert time.monotonic() - t_start < 120
    finally:
        watch.stop.set()
        prometheus_sh("stop", str(pdir))
