"""The response cache through real Kafka, Redis and PostgreSQL with the fake OpenAI provider: the same request
twice is answered once by the provider and once from the cache (an identical body, $0, a ledger row that says
what it saved); key order does not matter; anything the provider sees makes another entry; tenants never
share; round-robin over two candidates still hits; TTLs expire; a stream is replayed as a stream; a cut
stream is never stored; with Redis stopped the worker's memory serves and says so, and once Redis is back the
cache is shared again.

A = openai/gpt-4o-mini, B = compat/local-mini, two fakes that speak OpenAI's API; group "ab" holds both."""
import http.client
import json
import os
import subprocess
import time

import jsonschema
import pytest
from openai import OpenAI

from conftest import ROOT, load_schema, read_records, start_fake, start_redis_on_a_free_port, wait_for

KEY = "sk-fake-test-key"


@pytest.fixture
def fakes():
    a, pa = start_fake("fake_openai.py")
    b, pb = start_fake("fake_openai.py")
    yield a, b
    for p in (pa, pb):
        p.terminate()
        p.wait()


def fake_requests(port, suffix="/chat/completions"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/_requests")
    data = json.loads(conn.getresponse().read())
    conn.close()
    return sum(1 for r in data if r["path"].endswith(suffix))


def gateway(cluster, fakes, tmp_path, redis=None, **env):
    """Ledger, one worker, one ingress; the cache on (60 s) unless env says otherwise. Returns (port, wport)."""
    a, b = fakes
    path = tmp_path / "overrides.json"
    path.write_text(json.dumps({"catalog_version": "test", "groups": {"ab": ["openai/gpt-4o-mini",
                                                                             "compat/local-mini"]}}))
    cluster.extra_env.update({
        "LLMGW_OPENAI_BASE_URL": f"http://127.0.0.1:{a}/v1", "LLMGW_OPENAI_API_KEY": KEY,
        "LLMGW_COMPAT_BASE_URL": f"http://127.0.0.1:{b}/v1", "LLMGW_COMPAT_API_KEY": KEY,
        "LLMGW_COMPAT_MODELS": "local-mini@1/2", "LLMGW_CATALOG_OVERRIDES": str(path),
        "LLMGW_PROVIDER_MAX_RETRIES": "0",
        "LLMGW_REDIS_URL": "redis://" + (redis or os.environ["LLMGW_TEST_REDIS"]),
        "LLMGW_CACHE_TTL_S": "60",
        # What is cached is under test here, not Redis's speed: under the sanitizers on shared cores a round trip
        # can pass the 5 ms default, and the cache then (rightly) turns to memory. test_limits does the same.
        "LLMGW_REDIS_TIMEOUT_MS": "1000",
    })
    cluster.extra_env.update({k: str(v) for k, v in env.items()})
    cluster.ledger()
    _, wport = cluster.worker("w1")
    _, port = cluster.ingress("i1")
    return port, wport


def post(cluster, port, body, path="/v1/chat/completions", key=None, headers=None):
    """Sends body (a dict, or bytes as they are) and returns (status, headers, raw body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    h = cluster.headers()
    if key:
        h["Authorization"] = f"Bearer {key}"
    h.update(headers or {})
    conn.request("POST", path, body if isinstance(body, bytes) else json.dumps(body), h)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def metric(wport, name):
    conn = http.client.HTTPConnection("127.0.0.1", wport, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{") and line.split(" ")[0] == name:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def chat(text, **extra):
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], **extra}


def test_same_request_twice_is_one_provider_call_and_a_hit_with_its_saving(cluster, fakes, tmp_path):
    port, wport = gateway(cluster, fakes, tmp_path)
    s1, h1, b1 = post(cluster, port, chat("hello cache", temperature=0.7))
    assert s1 == 200 and h1["x-llmgw-cache"] == "miss"
    s2, h2, b2 = post(cluster, port, chat("hello cache", temperature=0.7))
    assert s2 == 200 and h2["x-llmgw-cache"] == "hit"
    assert b2 == b1  # the stored answer, byte for byte
    assert fake_requests(fakes[0]) == 1  # the hit never reached the provider
    assert h2["x-llmgw-cost-usd"] == "0.000000000" and h2["x-llmgw-provider"] == "openai"
    # key order (and a default spelled out) does not matter: the same entry
    reordered = b'{"temperature":0.7,"messages":[{"content":"hello cache","role":"user"}],"model":"gpt-4o-mini","n":1}'
    s3, h3, b3 = post(cluster, port, reordered)
    assert h3["x-llmgw-cache"] == "hit" and b3 == b1 and fake_requests(fakes[0]) == 1
    # the ledger: the miss cost what the provider charged; the hit cost $0 and saved exactly that
    cur = cluster.db().cursor()

    def rows():
        cur.execute("SELECT request_id, cache_hit, cost_nusd, saved_nusd, cost_known FROM cost_events"
                    " WHERE request_id = ANY(%s)", ([h1["x-request-id"], h2["x-request-id"]],))
        r = {row[0]: row[1:] for row in cur.fetchall()}
        return r if len(r) == 2 else None
    r = wait_for(rows, 30, "both cost events")
    miss, hit = r[h1["x-request-id"]], r[h2["x-request-id"]]
    assert miss[0] is False and miss[1] > 0 and miss[2] in (None, 0)
    assert hit[0] is True and hit[1] == 0 and hit[2] == miss[1] and hit[3] is True
    # shared backend: the lookups went to Redis
    assert metric(wport, 'llmgw_cache_lookups_total{result="hit",backend="redis"}') >= 2
    assert metric(wport, "llmgw_cache_fallback") == 0


def test_what_the_provider_sees_makes_another_entry(cluster, fakes, tmp_path):
    port, _ = gateway(cluster, fakes, tmp_path)
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
                                                                                   "properties": {}}}}
    image = lambda url: [{"type": "text", "text": "what is this"},  # noqa: E731
                         {"type": "image_url", "image_url": {"url": url}}]
    variants = [
        chat("variant", temperature=0),
        chat("variant", temperature=0.5),          # temperature
        chat("variant", temperature=0, tools=[tool]),  # tool list
        chat("variant", temperature=0, tools=[{**tool, "function": {**tool["function"], "name": "other"}}]),
        chat("variant", temperature=0, seed=7),    # a provider parameter
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": image("data:image/png;base64,iVBORw0KGgo=")}]},
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": image("data:image/png;base64,iVBORw0KGgp=")}]},
    ]
    for i, body in enumerate(variants):
        s, h, _ = post(cluster, port, body)
        assert s == 200 and h["x-llmgw-cache"] == "miss", (i, body)
    assert fake_requests(fakes[0]) == len(variants)
    for body in variants:  # and each is now an entry of its own
        assert post(cluster, port, body)[1]["x-llmgw-cache"] == "hit"
    assert fake_requests(fakes[0]) == len(variants)


def test_tenants_never_share(cluster, fakes, tmp_path):
    out = subprocess.run([cluster.bin, "keys", "new", "--tenant", "globex"], capture_output=True, text=True,
                         check=True).stdout
    fields = dict(line.split(": ", 1) for line in out.strip().splitlines())
    port, _ = gateway(cluster, fakes, tmp_path,
                      LLMGW_TENANT_KEYS=f"acme:{cluster.key_hash},globex:{fields['sha256']}")
    assert post(cluster, port, chat("tenancy"))[1]["x-llmgw-cache"] == "miss"
    assert post(cluster, port, chat("tenancy"))[1]["x-llmgw-cache"] == "hit"
    s, h, _ = post(cluster, port, chat("tenancy"), key=fields["key"])
    assert s == 200 and h["x-llmgw-cache"] == "miss"  # acme's entry is not globex's
    assert fake_requests(fakes[0]) == 2


def test_round_robin_over_two_candidates_still_hits(cluster, fakes, tmp_path):
    port, _ = gateway(cluster, fakes, tmp_path)
    seen = []
    for _ in range(4):
        s, h, _ = post(cluster, port, {"model": "ab", "messages": [{"role": "user", "content": "rr"}]},
                       headers={"x-llmgw-strategy": "round-robin"})
        assert s == 200
        seen.append((h["x-llmgw-cache"], h["x-llmgw-provider"]))
    # one provider call; every later request hits, whichever candidate round-robin put first
    assert [c for c, _ in seen] == ["miss", "hit", "hit", "hit"]
    assert fake_requests(fakes[0]) + fake_requests(fakes[1]) == 1
    assert len({p for _, p in seen}) == 1  # served as the model that made the answer


def test_off_by_default_turned_on_per_request_and_expires(cluster, fakes, tmp_path):
    port, _ = gateway(cluster, fakes, tmp_path, LLMGW_CACHE_TTL_S=0, LLMGW_CACHE_MAX_TTL_S=1)
    assert post(cluster, port, chat("ttl"))[1]["x-llmgw-cache"] == "bypass"
    assert post(cluster, port, chat("ttl"))[1]["x-llmgw-cache"] == "bypass"
    # x-llmgw-cache-ttl turns it on for the request, capped by the maximum (1 s here)
    on = {"x-llmgw-cache-ttl": "3600"}
    assert post(cluster, port, chat("ttl"), headers=on)[1]["x-llmgw-cache"] == "miss"
    assert post(cluster, port, chat("ttl"), headers=on)[1]["x-llmgw-cache"] == "hit"
    time.sleep(1.5)
    assert post(cluster, port, chat("ttl"), headers=on)[1]["x-llmgw-cache"] == "miss"  # expired
    assert fake_requests(fakes[0]) == 4


def test_cache_control_no_cache_and_no_store(cluster, fakes, tmp_path):
    port, _ = gateway(cluster, fakes, tmp_path)
    assert post(cluster, port, chat("cc"), headers={"Cache-Control": "no-store"})[1]["x-llmgw-cache"] == "miss"
    assert post(cluster, port, chat("cc"))[1]["x-llmgw-cache"] == "miss"  # nothing was stored
    assert post(cluster, port, chat("cc"))[1]["x-llmgw-cache"] == "hit"
    # no-cache: the lookup is skipped (the provider answers), the answer stored again
    assert post(cluster, port, chat("cc"), headers={"Cache-Control": "max-age=0, no-cache"})[1][
        "x-llmgw-cache"] == "bypass"
    assert fake_requests(fakes[0]) == 3


def test_tenant_opt_out(cluster, fakes, tmp_path):
    port, _ = gateway(cluster, fakes, tmp_path, LLMGW_CACHE_TENANT_TTL="acme:0")
    for _ in range(2):
        assert post(cluster, port, chat("optout"), headers={"x-llmgw-cache-ttl": "60"})[1]["x-llmgw-cache"] == "bypass"
    assert fake_requests(fakes[0]) == 2


def test_embeddings_are_cached(cluster, fakes, tmp_path):
    port, _ = gateway(cluster, fakes, tmp_path)
    body = {"model": "text-embedding-3-small", "input": ["a", "b"]}
    s1, h1, b1 = post(cluster, port, body, path="/v1/embeddings")
    s2, h2, b2 = post(cluster, port, body, path="/v1/embeddings")
    assert (s1, s2) == (200, 200) and (h1["x-llmgw-cache"], h2["x-llmgw-cache"]) == ("miss", "hit") and b1 == b2
    assert fake_requests(fakes[0], "/embeddings") == 1


@pytest.mark.parametrize("coalesce", ["-1", "0"])  # 0: the replay's chunks after the first share one message
def test_a_streamed_hit_is_replayed_and_the_sdk_reads_it(cluster, fakes, tmp_path, coalesce):
    port, _ = gateway(cluster, fakes, tmp_path, LLMGW_STREAM_COALESCE_MS=coalesce)
    client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=cluster.key, max_retries=0)

    def run():
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "stream me please"}], stream=True,
            stream_options={"include_usage": True})
        chunks = list(raw.parse())
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        usage = [c.usage for c in chunks if c.usage]
        llmgw = [c.model_extra.get("llmgw") for c in chunks if c.model_extra and c.model_extra.get("llmgw")]
        return raw.headers["x-llmgw-cache"], text, usage, llmgw, [c.id for c in chunks]

    c1, t1, u1, l1, ids1 = run()
    c2, t2, u2, l2, ids2 = run()
    assert (c1, c2) == ("miss", "hit")
    assert t2 == t1 == "fake: stream me please"
    assert u2 == u1 and u1 and u1[0].completion_tokens > 0  # the same usage chunk
    assert ids2 == ids1  # the same chunks
    assert l1[-1]["cache"] == "miss" and l2[-1]["cache"] == "hit" and l2[-1]["cost_usd"] == "0.000000000"
    assert fake_requests(fakes[0]) == 1


def test_a_cut_stream_is_not_cached(cluster, fakes, tmp_path):
    port, _ = gateway(cluster, fakes, tmp_path)
    for _ in range(2):
        s, h, data = post(cluster, port, chat("truncate", stream=True))
        assert s == 200 and h["x-llmgw-cache"] == "miss"
        assert b'"error"' in data  # the stream ended with an error event, not [DONE] after an answer
    assert fake_requests(fakes[0]) == 2


def test_redis_stopped_mid_run_falls_back_to_memory_and_shares_again(cluster, fakes, tmp_path):
    rdir = tmp_path / "redis"
    script = str(ROOT / "scripts" / "redis.sh")
    addr = start_redis_on_a_free_port(rdir)
    rport = int(addr.rsplit(":", 1)[1])
    try:
        port, wport = gateway(cluster, fakes, tmp_path, redis=addr)
        assert post(cluster, port, chat("before"))[1]["x-llmgw-cache"] == "miss"
        assert post(cluster, port, chat("before"))[1]["x-llmgw-cache"] == "hit"
        assert metric(wport, 'llmgw_cache_lookups_total{result="hit",backend="redis"}') == 1
        subprocess.run(["bash", script, "stop", str(rdir)], check=True)
        # Redis gone: requests keep flowing, the worker's memory serves, the metric says so
        assert post(cluster, port, chat("during"))[1]["x-llmgw-cache"] == "miss"
        s, h, _ = post(cluster, port, chat("during"))
        assert s == 200 and h["x-llmgw-cache"] == "hit"
        assert metric(wport, "llmgw_cache_fallback") == 1
        assert metric(wport, 'llmgw_cache_lookups_total{result="hit",backend="memory"}') >= 1
        assert "falls back to this worker's memory" in cluster.procs[1].output()
        # Redis back (empty: no persistence): the cache is shared again once the client reconnected
        subprocess.run(["bash", script, "start", str(rdir), str(rport)], check=True, capture_output=True)

        def shared_again():
            post(cluster, port, chat("after " + str(time.monotonic())))
            return metric(wport, "llmgw_cache_fallback") == 0
        wait_for(shared_again, 30, "the cache back on Redis", interval=0.5)
        assert post(cluster, port, chat("after"))[1]["x-llmgw-cache"] == "miss"
        assert post(cluster, port, chat("after"))[1]["x-llmgw-cache"] == "hit"
        keys = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(rport), "--scan", "--pattern",
                               f"{cluster.prefix}:cache:*"], capture_output=True, text=True, check=True).stdout
        assert len(keys.split()) >= 2  # the entries made after the restart are in Redis
        assert metric(wport, 'llmgw_cache_lookups_total{result="hit",backend="redis"}') >= 2
    finally:
        subprocess.run(["bash", script, "stop", str(rdir)], check=False)


def test_cache_messages_match_schemas(cluster, fakes, tmp_path):
    """The job's cache directives, a streamed hit's chunks and final reply, and a hit's cost event with its
    saving validate against schemas/."""
    port, _ = gateway(cluster, fakes, tmp_path, LLMGW_CACHE_TTL_S=0)
    on = {"x-llmgw-cache-ttl": "60"}
    assert post(cluster, port, chat("schemas", stream=True), headers=on)[1]["x-llmgw-cache"] == "miss"
    assert post(cluster, port, chat("schemas", stream=True), headers=on)[1]["x-llmgw-cache"] == "hit"
    assert post(cluster, port, chat("schemas"), headers={**on, "Cache-Control": "no-cache, no-store"})[1][
        "x-llmgw-cache"] == "bypass"
    assert post(cluster, port, chat("schemas"))[1]["x-llmgw-cache"] == "bypass"  # off: no TTL anywhere
    p = cluster.prefix
    jobs, replies, cost = f"{p}.jobs.chat", f"{p}.replies.{p}-i1", f"{p}.cost"

    def want(got):
        return len(got.get(jobs, [])) >= 4 and len(got.get(cost, [])) >= 4 and \
            sum(1 for r in got.get(replies, []) if r.value["final"]) >= 4
    got = {t: [r.value for r in v] for t, v in read_records(cluster.kafka, [jobs, replies, cost], want).items()}
    for topic, schema in ((jobs, "job.schema.json"), (replies, "reply.schema.json"), (cost, "cost_event.schema.json")):
        for payload in got[topic]:
            jsonschema.validate(payload, load_schema(schema))
    # (jobs spread over partitions: compared in no particular order)
    assert sorted(json.dumps(j.get("cache"), sort_keys=True) for j in got[jobs]) == sorted(
        json.dumps(c, sort_keys=True) for c in ({"ttl_s": 60}, {"ttl_s": 60},
                                                 {"ttl_s": 60, "no_cache": True, "no_store": True}, None))
    assert {r["cache"] for r in got[replies]} == {"miss", "hit", "bypass"}
    hits = [e for e in got[cost] if e["cache_hit"]]
    assert len(hits) == 1 and hits[0]["cost_nusd"] == 0 and hits[0]["saved_nusd"] > 0


def test_anthropic_inbound_hits_too(cluster, fakes, tmp_path):
    """/v1/messages (the Anthropic SDK) is the same job underneath: the second call is a hit, plain and
    streamed, with the same content."""
    import anthropic

    port, _ = gateway(cluster, fakes, tmp_path)
    client = anthropic.Anthropic(base_url=f"http://127.0.0.1:{port}", api_key=cluster.key, max_retries=0)
    args = {"model": "gpt-4o-mini", "max_tokens": 50, "messages": [{"role": "user", "content": "via messages"}]}
    r1 = client.messages.with_raw_response.create(**args)
    r2 = client.messages.with_raw_response.create(**args)
    assert (r1.headers["x-llmgw-cache"], r2.headers["x-llmgw-cache"]) == ("miss", "hit")
    assert r2.parse().content[0].text == r1.parse().content[0].text == "fake: via messages"
    texts = []
    for _ in range(2):
        with client.messages.stream(**args) as s:
            texts.append("".join(s.text_stream))
    assert texts == ["fake: via messages"] * 2
    assert fake_requests(fakes[0]) == 2  # one plain, one streamed; the repeats were hits


def test_an_answer_over_the_entry_size_is_not_cached(cluster, fakes, tmp_path):
    port, _ = gateway(cluster, fakes, tmp_path, LLMGW_CACHE_MAX_ENTRY_BYTES=1024)
    small, big = "small", "big " + "word " * 300  # the fake echoes the message: about 1.5 KB of answer
    for stream in (False, True):
        assert [post(cluster, port, chat(big, stream=stream))[1]["x-llmgw-cache"] for _ in range(2)] == ["miss"] * 2
        assert [post(cluster, port, chat(small, stream=stream))[1]["x-llmgw-cache"] for _ in range(2)] == [
            "miss", "hit"]
    assert fake_requests(fakes[0]) == 6
