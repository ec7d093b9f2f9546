"""`llmgw dev --simulate`: simulated OpenAI, Anthropic, Gemini and Mistral in the dev process, with no key at all.

The strategies pick different simulated providers, every answer is labelled (x-llmgw-simulated, a "-sim"
provider, the stream's llmgw object, the ledger's and analytics' simulated), costs are the catalog's prices
(never $0), a forced failure falls back to the next candidate, the official openai SDK streams through it, and
every production role refuses the setting. Run with LLMGW_BIN from the release, ASan and TSan builds
(scripts/test.sh lists this file in the sanitizer stages): a clean SIGTERM with no sanitizer report.

Latency checks are lower bounds only (a simulated delay never ends early)."""
import http.client
import json
import os
import sqlite3
import subprocess
import time
import urllib.parse

import pytest
from openai import OpenAI

from conftest import SANITIZER_MARKERS, start_on_a_free_port, wait_for

LATENCY_PCT = 30  # the profiles at 30%: fast enough for tests, still in each provider's order


def binary():
    path = os.environ.get("LLMGW_BIN")
    if not path:
        pytest.fail("LLMGW_BIN is not set: run through scripts/test.sh", pytrace=False)
    return path


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMGW_")}
    env.update({"ASAN_OPTIONS": "detect_leaks=1", "UBSAN_OPTIONS": "print_stacktrace=1"})
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_sim(tmp_path, name, **extra):
    db = tmp_path / f"{name}.db"
    settings = {"LLMGW_DATABASE_URL": f"sqlite:{db}", "LLMGW_SIMULATE_FAILURE_PCT": 0,
                "LLMGW_SIMULATE_LATENCY_PCT": LATENCY_PCT}
    settings.update(extra)
    proc, port = start_on_a_free_port(name, [binary(), "dev", "--simulate"], clean_env(**settings),
                                      tmp_path / f"{name}.log")
    return proc, port, db


def stop_clean(proc):
    code = proc.stop(timeout=60)
    out = proc.output()
    assert code == 0, out[-3000:]
    assert not any(marker in out for marker in SANITIZER_MARKERS), out[-5000:]


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request(method, path, json.dumps(body) if body is not None else None,
                 {"Content-Type": "application/json", **(headers or {})})
    resp = conn.getresponse()
    data = json.loads(resp.read())
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def chat(port, model, text, strategy=None):
    headers = {"x-llmgw-strategy": strategy} if strategy else {}
    return request(port, "POST", "/v1/chat/completions",
                   {"model": model, "messages": [{"role": "user", "content": text}]}, headers)


def sqlite_rows(db, sql, want):
    def rows():
        if not db.exists():
            return None
        with sqlite3.connect(db) as c:
            got = c.execute(sql).fetchall()
        return got if len(got) >= want else None

    return wait_for(rows, 30, f"{want} rows in the SQLite ledger")


def test_strategies_pick_simulated_providers(tmp_path):
    proc, port, db = run_sim(tmp_path, "sim")
    try:
        status, _, models = request(port, "GET", "/v1/models")
        owners = {m["id"]: m["owned_by"] for m in models["data"]}
        assert owners["gpt-4o-mini"] == "openai-sim" and owners["claude-haiku-4-5"] == "anthropic-sim"
        assert owners["gemini-2.5-flash-lite"] == "gemini-sim" and owners["mistral-small-latest"] == "mistral-sim"
        assert owners["echo"] == "echo" and owners["fast"] == owners["auto"] == "llmgw"

        picks = {}
        for strategy in ("cost", "latency", "capability", "round-robin"):
            picks[strategy] = []
            for i in range(12 if strategy == "latency" else 4):
                status, h, body = chat(port, "fast", f"question {i} for {strategy}", strategy)
                assert status == 200, body
                assert h["x-llmgw-simulated"] == "true"
                assert h["x-llmgw-provider"].endswith("-sim") and h["x-llmgw-strategy"] == strategy
                assert float(h["x-llmgw-cost-usd"]) > 0  # the catalog's price of simulated usage
                content = body["choices"][0]["message"]["content"]
                assert content == f"[simulated {h['x-llmgw-model']} via {h['x-llmgw-provider']}] question {i} for {strategy}"
                assert body["usage"]["prompt_tokens"] > 0 and body["usage"]["completion_tokens"] > 0
                picks[strategy].append(h["x-llmgw-provider"])
        assert set(picks["cost"]) == {"mistral-sim"}  # the cheapest of the group, every time
        assert set(picks["capability"]) == {"gemini-sim"}  # the largest context window
        assert len(set(picks["round-robin"])) == 4  # every provider in turn
        # Latency samples two candidates at random (routing/strategy.h) and favours the fastest profile: over 12
        # picks it chooses another provider than cost's cheapest with probability 1 - 0.25^12.
        assert set(picks["latency"]) - {"mistral-sim"}, picks["latency"]

        status, h, body = request(port, "POST", "/v1/embeddings", {"model": "text-embedding-3-small",
                                                                   "input": "embed me", "dimensions": 8})
        assert status == 200 and h["x-llmgw-simulated"] == "true" and h["x-llmgw-provider"] == "openai-sim"
        assert len(body["data"][0]["embedding"]) == 8 and float(h["x-llmgw-cost-usd"]) > 0
        # echo is echo, not simulated
        status, h, body = chat(port, "echo", "plain echo")
        assert status == 200 and h["x-llmgw-provider"] == "echo" and "x-llmgw-simulated" not in h

        n = sum(len(p) for p in picks.values()) + 1
        rows = sqlite_rows(db, "SELECT provider, simulated, cost_nusd, ttft_ms FROM cost_events"
                               " WHERE provider LIKE '%-sim'", n)
        assert all(r[1] == 1 and r[2] > 0 and r[3] is None for r in rows), rows  # not streamed: no TTFT
        assert sqlite_rows(db, "SELECT simulated FROM cost_events WHERE provider = 'echo'", 1) == [(0,)]

        # analytics: the request log says simulated, with the cost
        now = int(time.time() * 1000)
        query = urllib.parse.urlencode({"from": now - 3600000, "to": now + 60000, "limit": 1000})
        status, _, data = request(port, "GET", f"/v1/analytics/requests?{query}")
        assert status == 200, data
        sim = [r for r in data["data"] if r["provider"].endswith("-sim")]
        assert len(sim) == n and all(r["simulated"] is True and r["cost_nusd"] > 0 for r in sim)
        assert all(r["ttft_ms"] is None for r in sim)
        assert [r["simulated"] for r in data["data"] if r["provider"] == "echo"] == [False]
    finally:
        stop_clean(proc)


def test_forced_failure_falls_back(tmp_path):
    # Mistral-sim fails every call (503, its overloaded answer): cost's first choice fails and the next cheapest
    # answers. Breakers stay closed here so every request shows the fallback.
    proc, port, db = run_sim(tmp_path, "sim-fail", LLMGW_SIMULATE_FAIL="mistral:100", LLMGW_BREAKER_FAILURES=1000)
    try:
        for i in range(3):
            status, h, body = chat(port, "fast", f"fall back {i}", "cost")
            assert status == 200, body
            assert h["x-llmgw-attempts"] == "2" and h["x-llmgw-fallbacks"] == "1"
            assert h["x-llmgw-route"] == ("mistral-sim/mistral-small-latest=503,"
                                          "gemini-sim/gemini-2.5-flash-lite=200")
            assert h["x-llmgw-provider"] == "gemini-sim" and h["x-llmgw-simulated"] == "true"
        # asked for by name, with nowhere to fall back: the provider's overloaded error, said to be simulated
        status, h, body = chat(port, "mistral-small-latest", "no way out")
        assert status == 503 and h["x-llmgw-simulated"] == "true"
        assert "simulated failure of mistral-sim" in body["error"]["message"]
        rows = sqlite_rows(db, "SELECT route_attempts, provider, simulated FROM cost_events WHERE status = 200", 3)
        assert all(r == (2, "gemini-sim", 1) for r in rows), rows
    finally:
        stop_clean(proc)


def test_streaming_with_the_openai_sdk(tmp_path):
    proc, port, db = run_sim(tmp_path, "sim-sdk")
    try:
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-anything-in-dev", max_retries=0)
        raw = client.chat.completions.with_raw_response.create(
            model="claude-haiku-4-5", messages=[{"role": "user", "content": "stream me three words"}],
            stream=True, stream_options={"include_usage": True})
        assert raw.headers["x-llmgw-simulated"] == "true" and raw.headers["x-llmgw-provider"] == "anthropic-sim"
        chunks = list(raw.parse())
        assert len(chunks) >= 3
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "[simulated claude-haiku-4-5 via anthropic-sim] stream me three words"
        usage = [c.usage for c in chunks if c.usage]
        assert usage and usage[-1].completion_tokens > 0 and usage[-1].prompt_tokens > 0
        llmgw = [c.model_extra.get("llmgw") for c in chunks if c.model_extra and c.model_extra.get("llmgw")]
        assert llmgw[-1]["simulated"] is True and llmgw[-1]["provider"] == "anthropic-sim"
        assert float(llmgw[-1]["cost_usd"]) > 0

        plain = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        assert plain.choices[0].message.content == "[simulated gpt-4o-mini via openai-sim] hi"

        # the stream's time to first token, from the call's start: no shorter than anthropic-sim's fastest
        rows = sqlite_rows(db, "SELECT ttft_ms, simulated FROM cost_events WHERE provider = 'anthropic-sim'", 1)
        assert rows[0][1] == 1 and rows[0][0] is not None and rows[0][0] >= (600 - 150) * LATENCY_PCT // 100
        now = int(time.time() * 1000)
        query = urllib.parse.urlencode({"from": now - 3600000, "to": now + 60000, "provider": "anthropic-sim"})
        status, _, data = request(port, "GET", f"/v1/analytics/requests?{query}")
        assert status == 200 and data["data"][0]["ttft_ms"] == rows[0][0]
    finally:
        stop_clean(proc)


@pytest.mark.parametrize("role", ["ingress", "worker", "ledger"])
def test_production_roles_refuse_simulate(tmp_path, role):
    # The flag, the environment and the config file: each refused before anything starts (no Kafka needed).
    cfg = tmp_path / "sim.json"
    cfg.write_text(json.dumps({"simulate": 1}))
    for argv, env in (([binary(), role, "--simulate"], clean_env()),
                      ([binary(), role], clean_env(LLMGW_SIMULATE=1)),
                      ([binary(), role, "--config", str(cfg)], clean_env())):
        r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 2, (argv, r.stderr)
        assert "simulated providers are for `llmgw dev --simulate` only" in r.stderr
        assert f"the {role} role refuses them" in r.stderr


def test_config_check_and_help(tmp_path):
    r = subprocess.run([binary(), "config", "check"], env=clean_env(LLMGW_SIMULATE=1), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "every production role refuses them" in r.stderr
    r = subprocess.run([binary(), "config", "check"], env=clean_env(LLMGW_SIMULATE_FAIL="openai:200"),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "simulate_fail: entry 1" in r.stderr
    r = subprocess.run([binary(), "help", "dev"], env=clean_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "--simulate" in r.stdout and "x-llmgw-simulated: true" in r.stdout
