"""Metrics through the real processes (ingress, worker, ledger on real Kafka and PostgreSQL, the fake OpenAI
provider): the OpenTelemetry GenAI histograms appear on the worker with their semantic-convention labels and
bucket boundaries; per-tenant series (cost, budget use) are absent from the ingress's public /metrics without
a key, present with the admin key and on the ops ports; the tenant cap folds tenants past it into "other";
and `promtool check metrics` accepts every role's output. Also `llmgw dev`, whose roles share one registry:
its public /metrics is filtered the same way."""
import http.client
import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import FRESH_PORT, chat_body, fake_fixture, start_on_a_free_port, wait_for

fake = fake_fixture("fake_openai.py")

MODEL = "gpt-4o-mini"
TOKEN_BOUNDS = ["1", "4", "16", "64", "256", "1024", "4096", "16384", "65536", "262144", "1048576", "4194304",
                "16777216", "67108864", "+Inf"]
DURATION_BOUNDS = ["0.01", "0.02", "0.04", "0.08", "0.16", "0.32", "0.64", "1.28", "2.56", "5.12", "10.24",
                   "20.48", "40.96", "81.92", "+Inf"]
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(port, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/metrics", headers=headers or {})
    resp = conn.getresponse()
    text = resp.read().decode()
    conn.close()
    assert resp.status == 200, text
    return text


def scrape_until(port, cond, what, headers=None, timeout=30):
    """The first scrape of port's /metrics for which cond(text) holds."""
    def attempt():
        text = scrape(port, headers)
        return text if cond(text) else None
    return wait_for(attempt, timeout, what)


def samples(text, name):
    """[(labels dict, value)] of every sample named exactly name."""
    out = []
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if m and m.group(1) == name:
            out.append((dict(LABEL.findall(m.group(2) or "")), float(m.group(3))))
    return out


def promtool_check(text, what):
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.skip("promtool is not installed (Debian package prometheus; scripts/install-deps.sh installs it)")
    r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert r.returncode == 0, f"promtool check metrics failed on {what}:\n{r.stdout}{r.stderr}"


def post(port, key, body, path="/v1/chat/completions"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", path, body, {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def new_key(cluster, tenant):
    out = subprocess.run([cluster.bin, "keys", "new", "--tenant", tenant], capture_output=True, text=True,
                         check=True).stdout
    fields = dict(line.split(": ", 1) for line in out.strip().splitlines())
    return fields["key"], fields["sha256"]


def test_metrics_across_roles(cluster, fake):
    admin_key, admin_hash = new_key(cluster, "ops")
    tenants = {"acme": cluster.key}
    hashes = [f"acme:{cluster.key_hash}"]
    for t in ("beta", "gamma", "delta"):
        key, h = new_key(cluster, t)
        tenants[t] = key
        hashes.append(f"{t}:{h}")
    config = cluster.tmp_path / "llmgw.json"
    config.write_text(json.dumps({"tenants": {"acme": {"budget": {"day_usd": "1.00"}}}}))
    cluster.extra_env.update({
        "LLMGW_OPENAI_BASE_URL": f"http://127.0.0.1:{fake}/v1", "LLMGW_OPENAI_API_KEY": "sk-fake-test-key",
        "LLMGW_TENANT_KEYS": ",".join(hashes), "LLMGW_ADMIN_KEYS": f"ops:{admin_hash}", "LLMGW_CONFIG": str(config),
        "LLMGW_METRICS_MAX_TENANTS": "2",
    })
    _, ledger_ops = cluster.ledger()
    _, worker_ops = cluster.worker("w1")
    ingress, port = cluster.ingress("i1", LLMGW_INGRESS_OPS_PORT=FRESH_PORT)
    ingress_ops = int(ingress.env["LLMGW_INGRESS_OPS_PORT"])

    # One tenant after the other, so the ledger meets them in this order: acme and beta fill the cap of 2.
    for tenant, key in tenants.items():
        for i in range(2):
            status, data = post(port, key, chat_body(f"metrics {tenant} {i}", MODEL))
            assert status == 200, data
        wait_for(lambda t=tenant: any(lab.get("tenant") in (t, "other")
                                      for lab, _ in samples(scrape(ledger_ops), "llmgw_cost_usd_total")),
                 30, f"the ledger counting {tenant}'s cost")
    status, data = post(port, cluster.key, json.dumps({"model": "text-embedding-3-small", "input": "a b c"}),
                        "/v1/embeddings")
    assert status == 200, data
    # A client error from the provider: a failed call, with its status as error_type.
    status, _ = post(port, cluster.key, chat_body("fail 400 1", MODEL))
    assert status == 400

    worker = scrape_until(worker_ops, lambda t: samples(t, "gen_ai_client_token_usage_count") and any(
        lab.get("error_type") for lab, _ in samples(t, "gen_ai_client_operation_duration_seconds_count")),
        "the GenAI histograms on the worker")
    # gen_ai_client_token_usage: input and output tokens of the chat calls, input of the embedding call.
    tokens = samples(worker, "gen_ai_client_token_usage_count")
    chat_in = [(lab, v) for lab, v in tokens if lab["gen_ai_operation_name"] == "chat"
               and lab["gen_ai_token_type"] == "input"]
    assert len(chat_in) == 1, tokens
    lab, count = chat_in[0]
    assert lab["gen_ai_provider_name"] == "openai" and lab["gen_ai_request_model"] == MODEL
    assert lab["gen_ai_response_model"].startswith(MODEL)
    assert set(lab) == {"gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model",
                        "gen_ai_response_model", "gen_ai_token_type"}
    assert count == 8  # 4 tenants x 2 requests; the failed call reported no usage
    assert any(lab["gen_ai_token_type"] == "output" and lab["gen_ai_operation_name"] == "chat" for lab, _ in tokens)
    assert any(lab["gen_ai_operation_name"] == "embeddings" and lab["gen_ai_token_type"] == "input"
               for lab, _ in tokens)
    assert not any(lab["gen_ai_operation_name"] == "embeddings" and lab["gen_ai_token_type"] == "output"
                   for lab, _ in tokens)
    les = [lab["le"] for lab, _ in samples(worker, "gen_ai_client_token_usage_bucket")
           if lab["gen_ai_token_type"] == "input" and lab["gen_ai_operation_name"] == "chat"]
    assert les == TOKEN_BOUNDS
    # gen_ai_client_operation_duration_seconds: every call, the failed one with error_type.
    durations = samples(worker, "gen_ai_client_operation_duration_seconds_count")
    ok = [(lab, v) for lab, v in durations if lab["gen_ai_operation_name"] == "chat" and "error_type" not in lab]
    failed = [(lab, v) for lab, v in durations if lab.get("error_type")]
    assert len(ok) == 1 and ok[0][1] == 8, durations
    assert "gen_ai_token_type" not in ok[0][0]
    assert len(failed) == 1 and failed[0][0]["error_type"] == "400" and failed[0][1] == 1, durations
    les = [lab["le"] for lab, _ in samples(worker, "gen_ai_client_operation_duration_seconds_bucket")
           if lab == {**ok[0][0], "le": lab["le"]}]
    assert les == DURATION_BOUNDS
    # The gateway's own: provider latency per HTTP attempt, consumer lag per partition of the jobs topics.
    attempts = {lab["outcome"]: v for lab, v in samples(worker, "llmgw_provider_request_duration_seconds_count")
                if lab["provider"] == "openai"}
    assert attempts.get("ok") == 9 and attempts.get("client_error") == 1, attempts
    # Refreshed every 2 s: the first refresh after the assignment may still be ahead.
    # Four job topics (interactive and batch, chat and embeddings) of 4 partitions each.
    lag = samples(scrape_until(worker_ops, lambda t: len(samples(t, "llmgw_kafka_consumer_lag")) == 16,
                               "the worker's consumer lag"), "llmgw_kafka_consumer_lag")
    topics = {cluster.prefix + s for s in (".jobs.chat", ".jobs.embeddings", ".batch.jobs.chat",
                                           ".batch.jobs.embeddings")}
    assert all(lab["role"] == "worker" and lab["topic"] in topics for lab, _ in lag)
    assert {lab["topic"] for lab, _ in lag} == topics
    assert all(v >= 0 for _, v in lag)
    assert {lab["partition"] for lab, _ in lag} == {"0", "1", "2", "3"}  # of every jobs topic
    assert samples(worker, "llmgw_route_fallbacks_total") == [({}, 0.0)]

    # The ledger: cost per tenant and model, capped at 2 tenants; the rest under "other". The embedding and
    # the failed call are acme's too.
    ledger = scrape_until(ledger_ops, lambda t: len(samples(t, "llmgw_cost_usd_total")) == 4,
                          "four cost series on the ledger")
    cost = {(lab["tenant"], lab["model"]): v for lab, v in samples(ledger, "llmgw_cost_usd_total")}
    tenants_seen = {t for t, _ in cost}
    assert tenants_seen == {"acme", "beta", "other"}, cost
    assert cost[("other", MODEL)] > 0 and cost[("acme", MODEL)] > 0
    assert ("acme", "text-embedding-3-small") in cost
    with cluster.db() as db, db.cursor() as cur:
        cur.execute("SELECT coalesce(sum(cost_nusd), 0) FROM cost_events WHERE cost_known")
        assert abs(sum(cost.values()) - float(cur.fetchone()[0]) / 1e9) < 1e-9
    lag = samples(ledger, "llmgw_kafka_consumer_lag")
    assert lag and all(lab["role"] == "ledger" and lab["topic"] == cluster.prefix + ".cost" for lab, _ in lag)

    # The ingress: the public /metrics without a key has no per-tenant series; with the admin key, and on
    # the ops port, the budget use of acme is there.
    public = scrape(port)
    assert "llmgw_budget_used_ratio" not in public and "tenant=" not in public
    assert samples(public, "llmgw_http_requests_total") and samples(public, "llmgw_http_in_flight")
    tenant_key = scrape(port, {"Authorization": f"Bearer {cluster.key}"})
    assert "llmgw_budget_used_ratio" not in tenant_key  # a tenant's key is not the admin key

    def ratio(text):
        return {lab["period"]: v for lab, v in samples(text, "llmgw_budget_used_ratio") if lab["tenant"] == "acme"}

    with cluster.db() as db, db.cursor() as cur:
        cur.execute("SELECT sum(cost_nusd) FROM cost_events WHERE tenant = 'acme'")
        acme_usd = float(cur.fetchone()[0]) / 1e9
    # spend / $1.00, once the ledger's running total has reached this ingress
    admin = scrape_until(port, lambda t: abs(ratio(t).get("day", -1) - acme_usd) < 1e-9,
                         "acme's budget use on the ingress", {"Authorization": f"Bearer {admin_key}"})
    assert 0 < ratio(admin)["day"] < 1 and "month" not in ratio(admin)  # only a daily budget is set
    ops = scrape(ingress_ops)
    assert ratio(ops).get("day") == ratio(admin)["day"]

    for what, text in (("ingress public", public), ("ingress admin", admin), ("ingress ops", ops),
                       ("worker ops", worker), ("ledger ops", ledger)):
        promtool_check(text, what)


@pytest.mark.parametrize("variant", ["LLMGW_BIN", "LLMGW_BIN_ASAN"])
def test_dev_public_metrics_filtered(tmp_path, variant):
    """`llmgw dev` shares one registry among its roles: the public port still leaves per-tenant series out,
    its ingress_ops_port shows them, and both pass promtool."""
    binary = os.environ.get(variant)
    if not binary:
        pytest.skip(f"{variant} is not set")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMGW_")}
    env.update({"LLMGW_INGRESS_OPS_PORT": FRESH_PORT,
                "LLMGW_DATABASE_URL": f"sqlite:{tmp_path / 'dev.db'}", "ASAN_OPTIONS": "detect_leaks=1"})
    proc, port = start_on_a_free_port("dev-metrics", [binary, "dev"], env, tmp_path / "dev-metrics.log")
    ops_port = int(proc.env["LLMGW_INGRESS_OPS_PORT"])
    try:
        status, data = post(port, "anything", chat_body("metrics in dev"))  # dev: an unknown key is the dev tenant
        assert status == 200, data
        ops = scrape_until(ops_port, lambda t: samples(t, "llmgw_cost_usd_total"), "the dev ledger's cost series")
        assert [lab for lab, _ in samples(ops, "llmgw_cost_usd_total")] == [{"tenant": "dev", "model": "echo"}]
        assert samples(ops, "gen_ai_client_token_usage_count")
        public = scrape(port)
        # dev's anonymous caller is admin for the API, but not for /metrics: only a configured admin key is
        assert "llmgw_cost_usd_total" not in public and "tenant=" not in public
        assert samples(public, "gen_ai_client_token_usage_count")
        promtool_check(public, "dev public")
        promtool_check(ops, "dev ops")
    finally:
        assert proc.stop() == 0
        assert "ERROR: AddressSanitizer" not in proc.output() and "runtime error:" not in proc.output()
