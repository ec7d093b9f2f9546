"""The routing engine through real Kafka with the fake providers: fallback on a failing provider, the
circuit breaker's open/probe/close cycle, the latency strategy following a provider that got faster, the
context window deciding between models, exact catalog costs, operator overrides with SIGHUP reload, and
echo as the last resort when no provider has keys.

Two fakes that speak OpenAI's API play providers A and B: A is OpenAI itself (gpt-4o-mini), B is the
OpenAI-compatible adapter (a model "local-mini" declared by the operator). POST /_mode on a fake makes it
fail or slow for every call until changed."""
import http.client
import json
import signal
import time
from decimal import Decimal
from pathlib import Path

import openai
import pytest
from openai import OpenAI

from conftest import ROOT, assert_ledger_complete, start_fake, wait_for

OPENAI_KEY = "sk-fake-test-key"
ANTHROPIC_KEY = "sk-ant-fake"
CATALOG = json.loads((ROOT / "catalog" / "models.json").read_text())


def fake_call(port, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, json.dumps(body) if body is not None else None,
                 {"content-type": "application/json"} if body is not None else {})
    data = conn.getresponse().read()
    conn.close()
    return json.loads(data)


def set_mode(port, fail=None, delay_ms=0):
    fake_call(port, "POST", "/_mode", {"fail": fail, "delay_ms": delay_ms})


def chat_calls(port):
    return sum(1 for r in fake_call(port, "GET", "/_requests") if r["path"].endswith("/chat/completions"))


@pytest.fixture
def fakes():
    a, pa = start_fake("fake_openai.py")
    b, pb = start_fake("fake_openai.py")
    yield a, b
    for p in (pa, pb):
        p.terminate()
        p.wait()


def ab_env(a, b, tmp_path, overrides=None, **extra):
    """A = openai/gpt-4o-mini (the cheaper), B = compat/local-mini; groups from an operator override file."""
    doc = {"catalog_version": "test", "groups": {"ab": ["openai/gpt-4o-mini", "compat/local-mini"]}}
    doc.update(overrides or {})
    path = tmp_path / "overrides.json"
    path.write_text(json.dumps(doc))
    env = {
        "LLMGW_OPENAI_BASE_URL": f"http://127.0.0.1:{a}/v1",
        "LLMGW_OPENAI_API_KEY": OPENAI_KEY,
        "LLMGW_COMPAT_BASE_URL": f"http://127.0.0.1:{b}/v1",
        "LLMGW_COMPAT_API_KEY": OPENAI_KEY,
        "LLMGW_COMPAT_MODELS": "local-mini@1/2",
        "LLMGW_CATALOG_OVERRIDES": str(path),
        "LLMGW_PROVIDER_MAX_RETRIES": "0",  # each failure is one call: the counts below are exact
    }
    env.update({k: str(v) for k, v in extra.items()})
    return env


def start(cluster, env):
    cluster.extra_env.update(env)
    cluster.ledger()
    worker, ops = cluster.worker("w1")
    _, port = cluster.ingress("i1")
    client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=cluster.key, max_retries=0)
    return client, worker, ops


def ask(client, model, text="hi", **kw):
    raw = client.chat.completions.with_raw_response.create(model=model, messages=[{"role": "user", "content": text}],
                                                           **kw)
    return raw, raw.parse()


def metric(port, name, labels):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    for line in text.splitlines():
        if line.startswith(f"{name}{{{labels}}} "):
            return float(line.split()[-1])
    return None


def test_fallback_to_the_next_provider_with_headers_and_cost_event(cluster, fakes, tmp_path):
    a, b = fakes
    client, _, _ = start(cluster, ab_env(a, b, tmp_path))
    raw, chat = ask(client, "ab")
    assert raw.headers["x-llmgw-provider"] == "openai"  # cost: A is cheaper
    assert raw.headers["x-llmgw-strategy"] == "cost"
    assert raw.headers["x-llmgw-attempts"] == "1"

    set_mode(a, fail=503)
    raw, chat = ask(client, "ab", "served by b")
    assert chat.choices[0].message.content == "fake: served by b"
    assert raw.headers["x-llmgw-provider"] == "compat"
    assert raw.headers["x-llmgw-model"] == "local-mini"  # the catalog id (the body names the exact version)
    assert chat.model == "local-mini-2024-07-18"
    assert raw.headers["x-llmgw-attempts"] == "2"
    assert raw.headers["x-llmgw-fallbacks"] == "1"
    assert raw.headers["x-llmgw-route"] == "openai/gpt-4o-mini=503,compat/local-mini=200"
    # local-mini costs $1/$2 per 1M tokens (the operator's LLMGW_COMPAT_MODELS price), on the fake's usage
    nusd = expected_nusd({"input": "1", "output": "2"}, chat.usage.prompt_tokens, chat.usage.completion_tokens)
    assert int(Decimal(raw.headers["x-llmgw-cost-usd"]) * 1000000000) == nusd

    # Streamed: the failure came before any chunk, so B takes over and the headers say so.
    with client.chat.completions.with_streaming_response.create(
            model="ab", stream=True, messages=[{"role": "user", "content": "s t"}]) as resp:
        assert resp.headers["x-llmgw-route"] == "openai/gpt-4o-mini=503,compat/local-mini=200"
        assert resp.headers["x-llmgw-provider"] == "compat" and resp.headers["x-llmgw-attempts"] == "2"
        text = "".join(c.choices[0].delta.content or "" for c in resp.parse() if c.choices)
    assert text == "fake: s t"

    # A concrete model without an operator fallback chain is not rerouted: the 503 is the answer.
    with pytest.raises(Exception) as err:
        ask(client, "gpt-4o-mini")
    assert getattr(err.value, "status_code", None) == 503

    rid = raw.headers["x-request-id"]
    with cluster.db() as db, db.cursor() as cur:
        assert_ledger_complete(cur, [rid])
        cur.execute("SELECT provider, route_attempts, route, strategy, cost_nusd FROM cost_events WHERE request_id=%s",
                    (rid,))
        assert cur.fetchone() == ("compat", 2, "openai/gpt-4o-mini=503,compat/local-mini=200", "cost", nusd)


def test_operator_fallback_chain_and_client_errors_are_not_rerouted(cluster, fakes, tmp_path):
    a, b = fakes
    env = ab_env(a, b, tmp_path, overrides={"fallbacks": {"openai/gpt-4o-mini": ["compat/local-mini"]}})
    client, _, _ = start(cluster, env)
    set_mode(a, fail=429)
    raw, _ = ask(client, "gpt-4o-mini")
    assert raw.headers["x-llmgw-route"] == "openai/gpt-4o-mini=429,compat/local-mini=200"
    set_mode(a)
    # A 400 is the caller's own mistake: returned at once, B never asked.
    before = chat_calls(b)
    with pytest.raises(Exception) as err:
        ask(client, "gpt-4o-mini", "fail 400 1")
    assert getattr(err.value, "status_code", None) == 400
    assert chat_calls(b) == before


# Long enough that five requests fit in it on the sanitizer builds beside the browser tests on two cores (one
# stage saw seconds-long stalls there); short enough that waiting it out twice stays a few seconds.
COOLDOWN_MS = 3000


def test_breaker_opens_skips_probes_and_closes(cluster, fakes, tmp_path):
    a, b = fakes
    client, _, ops = start(cluster, ab_env(a, b, tmp_path, LLMGW_BREAKER_FAILURES=3,
                                           LLMGW_BREAKER_COOLDOWN_MS=COOLDOWN_MS))
    labels = 'provider="openai",model="gpt-4o-mini"'
    set_mode(a, fail=503)
    for _ in range(3):
        raw, _ = ask(client, "ab")
        assert raw.headers["x-llmgw-provider"] == "compat"
    assert chat_calls(a) == 3
    assert metric(ops, "llmgw_breaker_state", labels) == 1  # open

    # Open: A receives nothing; B serves at the first attempt.
    opened = time.monotonic()
    for _ in range(5):
        raw, _ = ask(client, "ab")
        assert raw.headers["x-llmgw-route"] == "compat/local-mini=200"
    assert time.monotonic() - opened < COOLDOWN_MS / 1000, "the requests outlasted the cooldown; the check is void"
    assert chat_calls(a) == 3

    # After the cooldown one probe reaches A; A still fails, so the breaker opens again.
    time.sleep(COOLDOWN_MS / 1000 + 0.1)
    raw, _ = ask(client, "ab")
    assert raw.headers["x-llmgw-route"] == "openai/gpt-4o-mini=503,compat/local-mini=200"
    assert chat_calls(a) == 4
    raw, _ = ask(client, "ab")
    assert raw.headers["x-llmgw-route"] == "compat/local-mini=200"
    assert chat_calls(a) == 4

    # A recovers; after the next cooldown the probe succeeds, the breaker closes and A takes traffic again.
    set_mode(a)
    time.sleep(COOLDOWN_MS / 1000 + 0.1)
    for _ in range(3):
        raw, _ = ask(client, "ab")
        assert raw.headers["x-llmgw-route"] == "openai/gpt-4o-mini=200"
    assert chat_calls(a) == 7
    assert metric(ops, "llmgw_breaker_state", labels) == 0
    assert metric(ops, "llmgw_breaker_transitions_total", labels + ',to="open"') == 2
    assert metric(ops, "llmgw_breaker_transitions_total", labels + ',to="closed"') == 1


def test_open_breaker_503_carries_route_headers_and_retry_after(cluster, fakes, tmp_path):
    """With every candidate's breaker open the 503 (provider_unavailable) says what routing did, as any
    other answer does, and when to come back: Retry-After, until the earliest cooldown ends."""
    a, b = fakes
    client, _, _ = start(cluster, ab_env(a, b, tmp_path, LLMGW_BREAKER_FAILURES=2, LLMGW_BREAKER_COOLDOWN_MS=30000))
    set_mode(a, fail=503)
    for _ in range(2):  # gpt-4o-mini has no fallback chain: each 503 is the answer, and opens the breaker
        with pytest.raises(Exception):
            ask(client, "gpt-4o-mini")
    calls = chat_calls(a)
    with pytest.raises(openai.APIStatusError) as err:
        ask(client, "gpt-4o-mini")
    resp = err.value.response
    assert resp.status_code == 503 and err.value.body["code"] == "provider_unavailable", err.value.body
    assert chat_calls(a) == calls  # skipped, not called
    h = resp.headers
    assert h["x-llmgw-strategy"] == "cost"
    assert h["x-llmgw-attempts"] == "0" and h["x-llmgw-fallbacks"] == "0"
    assert h["x-llmgw-route"] == "openai/gpt-4o-mini=open"
    assert h["x-request-id"]
    assert 20 <= int(h["retry-after"]) <= 30, h["retry-after"]


def test_latency_strategy_follows_the_provider_that_got_faster(cluster, fakes, tmp_path):
    a, b = fakes
    client, _, _ = start(cluster, ab_env(a, b, tmp_path, LLMGW_LATENCY_DECAY_MS=500))
    set_mode(a, delay_ms=60)
    set_mode(b, delay_ms=15)
    # Margins: over several local runs the faster fake took ~85-90% of these windows; the slower one keeps a
    # share because an idle estimate decays (it must be re-tried to see a recovery).
    served = [ask(client, "ab", extra_headers={"x-llmgw-strategy": "latency"})[0].headers["x-llmgw-provider"]
              for _ in range(50)]
    assert raw_share(served[-30:], "compat") >= 0.65, served

    set_mode(a, delay_ms=0)  # A is now much faster than B
    # ... and B slower: an idle estimate decays, so how often B is re-tried depends on how far its estimate sits
    # above A's; under the sanitizers on shared cores A's few milliseconds of overhead ate most of a 15 ms gap.
    set_mode(b, delay_ms=45)
    served = [ask(client, "ab", extra_body={"llmgw": {"strategy": "latency"}})[0].headers["x-llmgw-provider"]
              for _ in range(150)]
    assert raw_share(served[-40:], "openai") >= 0.7, served


def raw_share(seq, value):
    return sum(1 for x in seq if x == value) / len(seq)


@pytest.fixture
def anthropic_fake():
    port, proc = start_fake("fake_anthropic.py")
    yield port
    proc.terminate()
    proc.wait()


def price(provider, model_id):
    for m in CATALOG["models"]:
        if m["provider"] == provider and m["id"] == model_id:
            return m["price"]
    raise KeyError(model_id)


def expected_nusd(p, prompt, completion, cached=0, cache_write=0):
    """Catalog price x usage, exactly as docs/PRICES.md defines it (nano-USD, rounded half up once)."""
    nusd = lambda usd: int(Decimal(usd) * 1000000000)  # USD per 1M tokens == nano-USD per token x 1000
    cw = nusd(p.get("cache_write", p["input"]))
    total = ((prompt - cached - cache_write) * nusd(p["input"]) + cached * nusd(p.get("cached_input", p["input"]))
             + cache_write * cw + completion * nusd(p["output"]))
    return (total + 500000) // 1000000


def test_context_window_small_to_mini_large_to_sonnet_with_exact_costs(cluster, fakes, anthropic_fake):
    a, _ = fakes
    client, _, _ = start(cluster, {
        "LLMGW_OPENAI_BASE_URL": f"http://127.0.0.1:{a}/v1",
        "LLMGW_OPENAI_API_KEY": OPENAI_KEY,
        "LLMGW_ANTHROPIC_BASE_URL": f"http://127.0.0.1:{anthropic_fake}/v1",
        "LLMGW_ANTHROPIC_API_KEY": ANTHROPIC_KEY,
    })
    raw, chat = ask(client, "auto", "a small question")
    assert raw.headers["x-llmgw-provider"] == "openai" and raw.headers["x-llmgw-route"] == "openai/gpt-4o-mini=200"
    u = chat.usage
    assert int(Decimal(raw.headers["x-llmgw-cost-usd"]) * 1000000000) == \
        expected_nusd(price("openai", "gpt-4o-mini"), u.prompt_tokens, u.completion_tokens)

    # ~150k tokens of text: above every 128k window of the "auto" group, inside claude-sonnet-4-6's 1M.
    big = "abcd " * 150000
    before = chat_calls(a)
    raw, chat = ask(client, "auto", big)
    assert raw.headers["x-llmgw-provider"] == "anthropic"
    assert raw.headers["x-llmgw-route"] == "anthropic/claude-sonnet-4-6=200"
    assert chat_calls(a) == before, "the 150k-token request reached a 128k model"
    u = chat.usage
    nusd = expected_nusd(price("anthropic", "claude-sonnet-4-6"), u.prompt_tokens, u.completion_tokens)
    assert int(Decimal(raw.headers["x-llmgw-cost-usd"]) * 1000000000) == nusd

    # Naming a 128k model directly: rejected before any provider sees it.
    with pytest.raises(Exception) as err:
        ask(client, "gpt-4o-mini", big)
    assert getattr(err.value, "status_code", None) == 400
    assert err.value.body["code"] == "context_length_exceeded"
    assert chat_calls(a) == before

    rid = raw.headers["x-request-id"]
    with cluster.db() as db, db.cursor() as cur:
        assert_ledger_complete(cur, [rid])
        cur.execute("SELECT cost_nusd, cost_known, input_tokens FROM cost_events WHERE request_id=%s", (rid,))
        assert cur.fetchone() == (nusd, True, u.prompt_tokens)


def test_catalog_overrides_reload_on_sighup_and_keep_the_last_good(cluster, fakes, tmp_path):
    a, b = fakes
    env = ab_env(a, b, tmp_path)
    client, worker, _ = start(cluster, env)
    path = Path(env["LLMGW_CATALOG_OVERRIDES"])
    with pytest.raises(Exception) as err:
        ask(client, "cheap")
    assert getattr(err.value, "status_code", None) == 404

    # A new group and a new price for gpt-4o-mini, taken on SIGHUP.
    path.write_text(json.dumps({"catalog_version": "v2", "groups": {"cheap": ["openai/gpt-4o-mini"]},
                                "models": [{"provider": "openai", "id": "gpt-4o-mini",
                                            "price": {"input": "1", "output": "1"}, "source": "litellm-2026-08-01"}]}))
    worker.popen.send_signal(signal.SIGHUP)

    def served():
        try:
            return ask(client, "cheap")[0]
        except Exception:
            return None

    raw = wait_for(served, 15, "the reloaded catalog's group to be served")
    u = raw.parse().usage
    assert int(Decimal(raw.headers["x-llmgw-cost-usd"]) * 1000000000) == \
        expected_nusd({"input": "1", "output": "1"}, u.prompt_tokens, u.completion_tokens)  # $1/$1 per 1M now

    # A broken file: the reload fails loudly and the last good catalog keeps serving.
    path.write_text('{"models": [{"provider": "openai", "id": "gpt-4o-mini", "prise": 1}]}')
    worker.popen.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload failed; keeping catalog" in worker.output(), 15, "the failed reload in the log")
    assert "unknown field" in worker.output() and "prise" in worker.output()
    raw, _ = ask(client, "cheap")
    assert raw.headers["x-llmgw-provider"] == "openai"


def test_invalid_catalog_stops_start_up_with_a_clear_message(cluster, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"models": [{"provider": "nosuch", "id": "m", "capabilities": ["chat"]}]}))
    proc = cluster.start("worker", "w-bad", LLMGW_CATALOG_OVERRIDES=str(bad), LLMGW_OPS_PORT=0)
    assert proc.popen.wait(timeout=30) != 0
    out = proc.output()
    assert "model catalog is invalid" in out and "provider" in out and "nosuch" in out


def test_echo_is_the_last_resort_without_provider_keys(cluster):
    client, _, _ = start(cluster, {})
    raw, chat = ask(client, "gpt-4o-mini", "no keys here")
    assert raw.headers["x-llmgw-provider"] == "echo"
    assert chat.choices[0].message.content == "no keys here"
    raw, _ = ask(client, "auto")
    assert raw.headers["x-llmgw-provider"] == "echo"
    with pytest.raises(Exception) as err:  # not in the catalog at all: still unknown
        ask(client, "no-such-model")
    assert getattr(err.value, "status_code", None) == 404
    with pytest.raises(Exception) as err:
        ask(client, "auto", extra_headers={"x-llmgw-strategy": "fastest"})
    assert getattr(err.value, "status_code", None) == 400


@pytest.fixture
def mistral_fake():
    port, proc = start_fake("fake_openai.py", "--mistral")
    yield port
    proc.terminate()
    proc.wait()


def test_mistral_adapter_speaks_mistrals_dialect(cluster, mistral_fake):
    a = mistral_fake
    client, _, _ = start(cluster, {"LLMGW_MISTRAL_BASE_URL": f"http://127.0.0.1:{a}/v1",
                                   "LLMGW_MISTRAL_API_KEY": OPENAI_KEY})
    raw, chat = ask(client, "mistral-small-latest", "bonjour", max_completion_tokens=50, seed=7)
    assert raw.headers["x-llmgw-provider"] == "mistral"
    sent = [r for r in fake_call(a, "GET", "/_requests") if r["path"].endswith("/chat/completions")][-1]["body"]
    assert sent["max_tokens"] == 50 and "max_completion_tokens" not in sent
    assert sent["random_seed"] == 7 and "seed" not in sent
    u = chat.usage
    assert int(Decimal(raw.headers["x-llmgw-cost-usd"]) * 1000000000) == \
        expected_nusd(price("mistral", "mistral-small-latest"), u.prompt_tokens, u.completion_tokens)
    # Streamed: no stream_options goes upstream, Mistral's own final-chunk usage is read, and the cost is exact.
    with client.chat.completions.with_streaming_response.create(
            model="mistral/mistral-small-latest", stream=True, stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "a b"}]) as resp:
        rid = resp.headers["x-request-id"]
        chunks = list(resp.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "fake: a b"
    sent = [r for r in fake_call(a, "GET", "/_requests") if r["path"].endswith("/chat/completions")][-1]["body"]
    assert "stream_options" not in sent
    usage = [c.usage for c in chunks if c.usage][-1]
    assert usage.completion_tokens == 3
    with cluster.db() as db, db.cursor() as cur:
        assert_ledger_complete(cur, [rid])
        cur.execute("SELECT cost_nusd, cost_known, output_tokens FROM cost_events WHERE request_id=%s", (rid,))
        assert cur.fetchone() == (expected_nusd(price("mistral", "mistral-small-latest"), usage.prompt_tokens,
                                                usage.completion_tokens), True, 3)
