"""Secrets and tenancy through the real processes, real Kafka, Redis and PostgreSQL, with the fake OpenAI provider:

- planted unique secrets (the provider key, a tenant key, an admin key, a key made through the admin API, and a
  wrong key a client presented) are searched for, after a full session at debug level, in every log line of every
  process, every record (key, value, headers) of every Kafka topic the session used, every Redis key of the
  cluster with its value, and every row of every table of the ledger's database: never found. A unique marker in every prompt is never in a log line either (request
  bodies are never logged, not even a bad one);
- no field of a request body and no header can change where the provider call goes: the fake at the configured
  URL is the only one called, with the configured key, and a second fake that clients name is never called;
- tenant isolation where the other files do not test it (tests/e2e/test_cache.py::test_tenants_never_share and
  test_analytics.py::test_access_and_bad_input cover the cache and the analytics filters): one tenant's spend
  never counts against another's budget, and a tenant's list of ledger rows holds only its own."""
import hashlib
import http.client
import json
import os
import secrets
import subprocess
import time
import uuid

import pytest

from conftest import assert_ledger_complete, start_fake, wait_for

MODEL = "gpt-4o-mini"


def unique(prefix):
    return f"{prefix}{secrets.token_hex(16)}"


def call(port, method, path, body=None, key=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    h = {"Content-Type": "application/json"}
    if key:
        h["Authorization"] = f"Bearer {key}"
    h.update(headers or {})
    conn.request(method, path, body if body is None or isinstance(body, (bytes, str)) else json.dumps(body), h)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def chat(text, **extra):
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], **extra}


@pytest.fixture
def fake_with_key():
    """The fake OpenAI provider accepting only a planted key; yields (port, key)."""
    key = unique("sk-planted-provider-")
    port, proc = start_fake("fake_openai.py", f"--key={key}")
    yield port, key
    proc.terminate()
    proc.wait()


def fake_requests(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/_requests")
    data = json.loads(conn.getresponse().read())
    conn.close()
    return data


def kafka_records(kafka, prefix):
    """Every record of every topic named <prefix>.*, from the beginning to the end of each partition, as the
    bytes of its key, value and headers."""
    from confluent_kafka import Consumer, TopicPartition
    from confluent_kafka.admin import AdminClient

    md = AdminClient({"bootstrap.servers": kafka}).list_topics(timeout=10)
    topics = sorted(t for t in md.topics if t.startswith(prefix + "."))
    c = Consumer({"bootstrap.servers": kafka, "group.id": "secrets-" + uuid.uuid4().hex,
                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "isolation.level": "read_uncommitted"})
    parts, ends = [], {}
    for t in topics:
        for p in md.topics[t].partitions:
            lo, hi = c.get_watermark_offsets(TopicPartition(t, p), timeout=10)
            if hi > lo:
                parts.append(TopicPartition(t, p, lo))
                ends[(t, p)] = hi
    records = []
    try:
        c.assign(parts)
        deadline = time.monotonic() + 60
        while ends and time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is not None and not msg.error():
                parts_bytes = [msg.key() or b"", msg.value() or b""]
                for k, v in msg.headers() or []:
                    parts_bytes += [k.encode(), v or b""]
                records.append((msg.topic(), b"\0".join(parts_bytes)))
            # Done with a partition once its position passed the end seen at the start (offsets can have gaps).
            for tp in c.position([TopicPartition(t, p) for (t, p) in ends]):
                if tp.offset >= ends[(tp.topic, tp.partition)]:
                    del ends[(tp.topic, tp.partition)]
        assert not ends, f"could not read every partition to its end: {ends}"
    finally:
        c.close()
    return topics, records


def ledger_rows(pg_url):
    """Every row of every table of the ledger's database, as text: {table: [row text]}."""
    import psycopg2

    db = psycopg2.connect(pg_url)
    cur = db.cursor()
    cur.execute("SELECT table_schema, table_name FROM information_schema.tables"
                " WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'")
    out = {}
    for schema, table in cur.fetchall():
        cur.execute(f'SELECT * FROM "{schema}"."{table}"')
        rows = []
        for row in cur.fetchall():
            rows.append(" | ".join(bytes(v).decode("latin-1") if isinstance(v, memoryview) else str(v) for v in row))
        out[f"{schema}.{table}"] = rows
    db.close()
    return out


def redis_values(addr, prefix):
    """{key: its value as text} of every Redis key under <prefix>: (the cache and the rate limits of this
    cluster), by redis-cli: strings whole, hashes, lists, sets and sorted sets member by member."""
    host, port = addr.rsplit(":", 1)

    def cli(*args):
        return subprocess.run(["redis-cli", "-h", host, "-p", port, "--raw", *args], capture_output=True,
                              check=True).stdout.decode("latin-1")

    out = {}
    for key in cli("--scan", "--pattern", f"{prefix}:*").split():
        kind = cli("TYPE", key).strip()
        read = {"string": ("GET",), "hash": ("HGETALL",), "list": ("LRANGE", "0", "-1"), "set": ("SMEMBERS",),
                "zset": ("ZRANGE", "0", "-1", "WITHSCORES"), "stream": ("XRANGE", "-", "+")}.get(kind)
        out[key] = cli(read[0], key, *read[1:]) if read else ""
    return out


def read_sse(port, body, key):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/v1/chat/completions", json.dumps(body),
                 {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read().decode()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def test_planted_secrets_and_prompts_are_nowhere(cluster, fake_with_key):
    fake, provider_key = fake_with_key
    tenant_key = unique("lgw-planted-tenant-")
    admin_key = unique("sk-planted-admin-")
    wrong_key = unique("lgw-planted-wrong-")
    mark = unique("planted-prompt-")  # in every prompt and body sent
    cluster.extra_env.update({
        "LLMGW_LOG_LEVEL": "debug",
        "LLMGW_OPENAI_BASE_URL": f"http://127.0.0.1:{fake}/v1", "LLMGW_OPENAI_API_KEY": provider_key,
        "LLMGW_PROVIDER_MAX_RETRIES": "0",
        "LLMGW_TENANT_KEYS": "acme:" + hashlib.sha256(tenant_key.encode()).hexdigest(),
        "LLMGW_ADMIN_KEYS": "ops:" + hashlib.sha256(admin_key.encode()).hexdigest(),
        "LLMGW_REDIS_URL": "redis://" + os.environ["LLMGW_TEST_REDIS"], "LLMGW_CACHE_TTL_S": "60",
        "LLMGW_REDIS_TIMEOUT_MS": "1000",
    })
    cluster.ledger()
    cluster.worker("w1")
    _, port = cluster.ingress("i1")
    ids = []

    # Chat, twice: a miss, then a hit from Redis.
    for want in ("miss", "hit"):
        s, h, data = call(port, "POST", "/v1/chat/completions", chat(f"{mark} hello"), tenant_key)
        assert s == 200 and h["x-llmgw-cache"] == want, (s, h, data)
        ids.append(h["x-request-id"])
    # A streamed chat.
    s, h, data = read_sse(port, chat(f"{mark} streamed", stream=True, stream_options={"include_usage": True}),
                          tenant_key)
    assert s == 200 and "data: [DONE]" in data and "streamed" in data, data
    ids.append(h["x-request-id"])
    # Embeddings.
    s, h, data = call(port, "POST", "/v1/embeddings", {"model": "text-embedding-3-small", "input": f"{mark} vec"},
                      tenant_key)
    assert s == 200, data
    ids.append(h["x-request-id"])
    # Upstream errors: one the provider refuses (passed on), one it fails (no retries here).
    s, _, data = call(port, "POST", "/v1/chat/completions", chat(f"fail 400 9 {mark}"), tenant_key)
    assert s == 400, data
    s, _, data = call(port, "POST", "/v1/chat/completions", chat(f"fail 500 9 {mark}"), tenant_key)
    assert s >= 500, data
    # Bad requests: broken JSON and a bad field, both carrying the marker; a wrong key and an admin key on a
    # model route.
    s, _, data = call(port, "POST", "/v1/chat/completions", f'{{"model": "{MODEL}", "messages": [{{"role": "user", '
                      f'"content": "{mark} broken', tenant_key)
    assert s == 400, data
    s, _, data = call(port, "POST", "/v1/chat/completions",
                      {"model": MODEL, "messages": [{"role": "robot", "content": f"{mark} bad role"}]}, tenant_key)
    assert s == 400, data
    s, _, data = call(port, "POST", "/v1/chat/completions", chat(f"{mark} wrong key"), wrong_key)
    assert s == 401 and wrong_key.encode() not in data
    s, _, data = call(port, "POST", "/v1/chat/completions", chat(f"{mark} admin"), admin_key)
    assert s == 403
    # Admin: a key made through the API (its secret is in that one answer only), used once, and listed.
    s, _, data = call(port, "POST", "/v1/admin/keys", {"tenant": "globex", "name": "planted"}, admin_key)
    assert s == 201, data
    made = json.loads(data)["key"]
    s, h, data = call(port, "POST", "/v1/chat/completions", chat(f"{mark} globex"), made)
    assert s == 200, data
    ids.append(h["x-request-id"])
    s, _, data = call(port, "GET", "/v1/admin/keys", None, admin_key)
    assert s == 200 and made.encode() not in data and tenant_key.encode() not in data
    # Analytics, as the tenant and as the admin, once the ledger has every answered request.
    assert_ledger_complete(cluster.db().cursor(), ids)
    s, _, data = call(port, "GET", "/v1/analytics/summary", None, tenant_key)
    assert s == 200, data
    s, _, data = call(port, "GET", "/v1/analytics/requests", None, admin_key)
    assert s == 200 and len(json.loads(data)["data"]) >= len(ids)
    # The provider was called with the planted key, so it did reach the provider: the search below means something.
    assert any(r["headers"].get("Authorization") == f"Bearer {provider_key}" for r in fake_requests(fake))

    # Redis (before the processes stop: nothing there outlives its TTL for long): the cached answers hold the
    # prompts (control), never a key.
    cached = redis_values(os.environ["LLMGW_TEST_REDIS"], cluster.prefix)
    assert any(mark in v for k, v in cached.items() if ":cache:" in k), list(cached)

    procs = list(cluster.procs)
    for proc in procs:
        assert proc.stop() == 0, f"{proc.name} exited badly"
    needles = {"provider key": provider_key, "tenant key": tenant_key, "admin key": admin_key,
               "key made by the admin API": made, "wrong key": wrong_key}

    # Logs: every line of every process, at debug level.
    lines = []
    for proc in procs:
        lines += [(proc.name, line) for line in proc.output().splitlines()]
    assert sum(1 for _, line in lines if '"debug"' in line) > 10, "debug logging did not happen: nothing was searched"
    # Controls: the searches see what is there (request ids in the logs, prompts in the job records, request ids in
    # the ledger), so finding nothing below means the secrets are not there.
    assert any(ids[0] in line for _, line in lines)
    for what, needle in {**needles, "prompt marker": mark}.items():
        found = [f"{name}: {line[:300]}" for name, line in lines if needle in line]
        assert not found, f"the {what} is in the logs:\n" + "\n".join(found[:5])

    # Kafka: every record of every topic of this cluster, key, value and headers.
    topics, records = kafka_records(cluster.kafka, cluster.prefix)
    assert any(t.endswith(".jobs.chat") for t in topics) and len(records) > len(ids), (topics, len(records))
    assert any(mark.encode() in raw for t, raw in records if t.endswith(".jobs.chat"))
    for what, needle in needles.items():
        found = [topic for topic, raw in records if needle.encode() in raw]
        assert not found, f"the {what} is in Kafka records of {sorted(set(found))}"

    for what, needle in {"provider key": provider_key, "tenant key": tenant_key, "admin key": admin_key,
                         "key made by the admin API": made, "wrong key": wrong_key}.items():
        found = [k for k, v in cached.items() if needle in k or needle in v]
        assert not found, f"the {what} is in Redis under {found}"

    # The ledger: every row of every table.
    tables = ledger_rows(cluster.pg_url)
    assert tables.get("public.cost_events"), f"the ledger has no cost events: {list(tables)}"
    assert any(ids[0] in row for row in tables["public.cost_events"])
    for what, needle in needles.items():
        found = [table for table, rows in tables.items() if any(needle in row for row in rows)]
        assert not found, f"the {what} is in the ledger's tables {found}"
    print(f"\nsearched {len(lines)} log lines, {len(records)} records of {len(topics)} topics, {len(cached)} Redis "
          f"keys, {sum(len(r) for r in tables.values())} rows of {len(tables)} tables")


def test_no_client_field_or_header_changes_the_upstream(cluster, fake_with_key):
    fake, provider_key = fake_with_key
    other, other_proc = start_fake("fake_openai.py")  # what a client names; must never be called
    try:
        cluster.extra_env.update({"LLMGW_OPENAI_BASE_URL": f"http://127.0.0.1:{fake}/v1",
                                  "LLMGW_OPENAI_API_KEY": provider_key, "LLMGW_PROVIDER_MAX_RETRIES": "0"})
        cluster.worker("w1")
        _, port = cluster.ingress("i1")
        url = f"http://127.0.0.1:{other}/v1"
        client_key = "sk-fake-test-key"  # the other fake's key, which a client might hope is used
        fields = {"base_url": url, "api_base": url, "baseURL": url, "base": url, "url": url, "endpoint": url,
                  "azure_endpoint": url, "host": f"127.0.0.1:{other}", "api_key": client_key, "apiKey": client_key,
                  "api-key": client_key, "authorization": f"Bearer {client_key}",
                  "provider": {"base_url": url, "api_key": client_key}, "extra_body": {"base_url": url},
                  "extra_headers": {"Host": f"127.0.0.1:{other}"}}
        headers = {"x-llmgw-base-url": url, "x-base-url": url, "x-api-base": url, "x-openai-base-url": url,
                   "x-llmgw-upstream": url, "x-llmgw-provider-url": url, "x-upstream-url": url, "x-original-url": url,
                   "x-rewrite-url": url, "x-forwarded-host": f"127.0.0.1:{other}", "x-forwarded-proto": "http",
                   "x-forwarded-for": "127.0.0.1", "x-real-ip": "127.0.0.1", "x-openai-api-key": client_key,
                   "openai-organization": "org-x", "x-llmgw-provider": "openai", "x-host": f"127.0.0.1:{other}"}
        statuses = []
        n = 0
        # All at once, then one field and one header at a time (a refusal of one must not hide another).
        cases = [({**fields}, {**headers})]
        cases += [({k: v}, {}) for k, v in fields.items()]
        cases += [({}, {k: v}) for k, v in headers.items()]
        cases += [({}, {"Host": f"127.0.0.1:{other}"})]
        for extra, hdrs in cases:
            s, _, data = call(port, "POST", "/v1/chat/completions", chat(f"upstream {n}", **extra),
                              cluster.key, hdrs)
            assert s in (200, 400), (extra, hdrs, s, data)  # served by the configured provider, or refused
            statuses.append(s)
            n += 1
        # A model named by URL is not a model.
        for model in (url, f"openai/{url}", f"{url}/chat/completions", f"127.0.0.1:{other}"):
            s, _, data = call(port, "POST", "/v1/chat/completions",
                              {"model": model, "messages": [{"role": "user", "content": "x"}]}, cluster.key)
            assert 400 <= s < 500, (model, s, data)
        assert statuses.count(200) >= len(cases) // 2, statuses  # most were served: the provider was reached
        assert fake_requests(other) == [], "a client-named upstream was called"
        seen = [r for r in fake_requests(fake) if r["path"].endswith("/chat/completions")]
        assert len(seen) == statuses.count(200)
        for r in seen:
            assert r["path"] == "/v1/chat/completions"
            assert r["headers"].get("Authorization") == f"Bearer {provider_key}", r["headers"]
            assert client_key not in json.dumps(r["headers"])
    finally:
        other_proc.terminate()
        other_proc.wait()


def new_key(cluster, tenant):
    out = subprocess.run([cluster.bin, "keys", "new", "--tenant", tenant], capture_output=True, text=True,
                         check=True).stdout
    fields = dict(line.split(": ", 1) for line in out.strip().splitlines())
    return fields["key"], fields["sha256"]


# The fake reports 10 prompt tokens per message and a completion token per word of "fake: <text>"; gpt-4o-mini
# costs $0.15 and $0.60 per 1M tokens: "slow 1" ("fake: slow 1", 3 words) costs 3,300 nano-USD.
COST_NUSD = 3300


def test_one_tenants_spend_never_counts_against_anothers_budget(cluster, fake_with_key):
    fake, provider_key = fake_with_key
    globex, globex_hash = new_key(cluster, "globex")
    budget_nusd = 5 * COST_NUSD
    cfg = cluster.tmp_path / "llmgw.json"
    cfg.write_text(json.dumps({"tenants": {"globex": {"budget": {"day_usd": f"0.{budget_nusd:09d}"}}}}))
    cluster.extra_env.update({"LLMGW_OPENAI_BASE_URL": f"http://127.0.0.1:{fake}/v1",
                              "LLMGW_OPENAI_API_KEY": provider_key, "LLMGW_CONFIG": str(cfg),
                              "LLMGW_TENANT_KEYS": f"acme:{cluster.key_hash},globex:{globex_hash}"})
    cluster.ledger()
    cluster.worker("w1")
    _, port = cluster.ingress("i1")
    # acme spends three times globex's whole budget.
    acme_ids = []
    for _ in range(15):
        s, h, data = call(port, "POST", "/v1/chat/completions", chat("slow 1"), cluster.key)
        assert s == 200, data
        assert "x-llmgw-budget-warning" not in h
        acme_ids.append(h["x-request-id"])
    cur = cluster.db().cursor()
    assert_ledger_complete(cur, acme_ids)
    cur.execute("SELECT tenant, sum(cost_nusd) FROM cost_events GROUP BY tenant")
    assert dict(cur.fetchall()) == {"acme": 15 * COST_NUSD}
    # ... and the ingress has seen that spend (its spend view follows the spend topic): acme's day total there.
    wait_for(lambda: (cur.execute("SELECT count(*) FROM spend_totals WHERE tenant = 'acme'"), cur.fetchone()[0])[1],
             60, "acme's spend totalled")
    time.sleep(1)
    # globex has spent nothing: it is served, without a warning, until its own budget is spent.
    statuses, warned = [], []
    globex_ids = []
    for _ in range(30):
        s, h, data = call(port, "POST", "/v1/chat/completions", chat("slow 1"), globex)
        statuses.append(s)
        if s != 200:
            break
        globex_ids.append(h["x-request-id"])
        if "x-llmgw-budget-warning" in h:
            warned.append(len(statuses))
        time.sleep(0.05)
    assert statuses[-1] == 429, statuses
    assert 5 <= statuses.count(200) <= 8, statuses  # its own five requests, not acme's fifteen
    assert not warned or min(warned) >= 4, warned  # warned at 80% of its own spend, never from the start
    # acme goes on: globex's spent budget is not acme's.
    assert call(port, "POST", "/v1/chat/completions", chat("slow 1"), cluster.key)[0] == 200
    # Each tenant's list of ledger rows (analytics) holds its own rows only.
    assert_ledger_complete(cur, globex_ids)
    for key, mine, theirs in ((cluster.key, acme_ids, globex_ids), (globex, globex_ids, acme_ids)):
        s, _, data = call(port, "GET", "/v1/analytics/requests?limit=1000", None, key)
        assert s == 200, data
        rows = json.loads(data)["data"]
        got = {r["request_id"] for r in rows}
        assert set(mine) <= got and not (set(theirs) & got)
        assert {r["tenant"] for r in rows} == {"acme" if key == cluster.key else "globex"}
