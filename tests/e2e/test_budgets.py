"""USD budgets through the real processes, real Kafka and real PostgreSQL: a tenant's daily budget stops it on
both ingress instances once the ledger's running total reaches it, with an overshoot within the bound
docs/ARCHITECTURE.md ("Budgets") states (requests in flight when the total crossed the budget, plus those
admitted while the total travelled to the ingresses, times the most a request cost); the refusal is 429
insufficient_quota with x-should-retry: false and Retry-After until the next UTC midnight; answers above 80%
carry the warning; a key's budget stops that key while another key of the tenant goes on; and spend of
yesterday (a cost event with yesterday's time) does not count today. Every spend record on Kafka is checked
against schemas/spend.schema.json."""
import http.client
import json
import re
import subprocess
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import jsonschema
import pytest

from conftest import ROOT, chat_body, fake_fixture, load_schema, read_records, wait_for

fake = fake_fixture("fake_openai.py")

# The fake reports 10 prompt tokens per message and one completion token per word of "fake: <text>"; the
# catalog's gpt-4o-mini costs $0.15 and $0.60 per 1M tokens. "slow 150": "fake: slow 150", 3 words, answered
# after 150 ms.
MODEL = "gpt-4o-mini"
PROMPT = "slow 150"
COST_NUSD = int((Decimal("0.15") * 10 + Decimal("0.60") * 3) * 1000)  # nano-USD per request: 3300


def post(port, key, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/v1/chat/completions", body, {"Authorization": f"Bearer {key}",
                                                        "Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def metric_sum(port, name):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    return sum(float(v) for v in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))


def usd(nusd):
    return f"{nusd // 10**9}.{nusd % 10**9:09d}"


def new_key(cluster, tenant="acme"):
    out = subprocess.run([cluster.bin, "keys", "new", "--tenant", tenant], capture_output=True, text=True,
                         check=True).stdout
    fields = dict(line.split(": ", 1) for line in out.strip().splitlines())
    return fields["key"], fields["sha256"]


def key_id(sha256_hex):
    return "key_" + sha256_hex[:12]


def configure(cluster, fake_port, tenants, keys=()):
    """The fake provider, the config file's "tenants" object, and extra keys of acme besides cluster.key."""
    cfg = cluster.tmp_path / "llmgw.json"
    cfg.write_text(json.dumps({"tenants": tenants}))
    tenant_keys = ",".join([f"acme:{cluster.key_hash}"] + [f"acme:{h}" for h in keys])
    cluster.extra_env.update({"LLMGW_OPENAI_BASE_URL": f"http://127.0.0.1:{fake_port}/v1",
                              "LLMGW_OPENAI_API_KEY": "sk-fake-test-key", "LLMGW_CONFIG": str(cfg),
                              "LLMGW_TENANT_KEYS": tenant_keys})


def seconds_to_utc_midnight():
    now = datetime.now(timezone.utc)
    return (datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), timezone.utc) - now).total_seconds()


def spend_records(cluster, want):
    topic = f"{cluster.prefix}.spend"
    got = read_records(cluster.kafka, [topic], lambda g: want(g[topic]))[topic]
    schema = load_schema("spend.schema.json")
    for r in got:
        jsonschema.validate(r.value, schema)
        assert r.key == f"{r.value['scope']}|{r.value['period']}"
    return got


def warm_up(cluster, port, key, scope="tenant:acme"):
    """One request, then its total on the spend topic: the first record of each producer waits for its topic's
    metadata, which a running gateway paid long ago and would blur the measurements here."""
    assert post(port, key, chat_body(PROMPT, MODEL))[0] == 200
    day = "day:" + datetime.now(timezone.utc).strftime("%Y-%m-%d")
    spend_records(cluster, lambda rs: any(r.key == f"{scope}|{day}" for r in rs))


def test_daily_budget_stops_tenant_on_both_ingresses_within_bound(cluster, fake):
    budget = 40 * COST_NUSD
    configure(cluster, fake, {"acme": {"budget": {"day_usd": usd(budget)}}})
    cluster.ledger()
    cluster.worker("w1")
    _, p1 = cluster.ingress("i1")
    _, p2 = cluster.ingress("i2")
    warm_up(cluster, p1, cluster.key)
    warm_up(cluster, p2, cluster.key)

    # K clients in a closed loop, alternating the two instances, until both have refused and then a few more.
    K = 4
    results = []  # (send, receive, port, status, headers, body)
    lock = threading.Lock()
    refused_at = {}  # port -> receive time of its first 429
    stop = threading.Event()

    deadline = time.monotonic() + 90

    def client(i):
        n = 0
        while not stop.is_set() and time.monotonic() < deadline:
            port = (p1, p2)[(i + n) % 2]
            n += 1
            sent = time.time()
            status, h, data = post(port, cluster.key, chat_body(PROMPT, MODEL))
            got = time.time()
            with lock:
                results.append((sent, got, port, status, h, data))
                if status == 429:
                    refused_at.setdefault(port, got)
                if len(refused_at) == 2 and got > max(refused_at.values()) + 1.0:
                    stop.set()  # both refuse, and have for a second

    threads = [threading.Thread(target=client, args=(i,)) for i in range(K)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert stop.is_set(), f"not both ingresses refused: {refused_at}"

    ok = [r for r in results if r[3] == 200]
    refused = [r for r in results if r[3] == 429]
    assert {r[2] for r in ok} == {p1, p2} and {r[2] for r in refused} == {p1, p2}
    costs = [int(Decimal(r[4]["x-llmgw-cost-usd"]) * 10**9) for r in ok]
    assert set(costs) == {COST_NUSD}, set(costs)
    c_max = max(costs)

    # Once an instance has refused, it admits nothing more: totals only grow within the day.
    for port in (p1, p2):
        late = [r for r in ok if r[2] == port and r[0] > refused_at[port]]
        assert late == [], f"{len(late)} admitted on {port} after its first refusal"

    # The refusal: OpenAI's code, not to be retried, Retry-After until the next UTC midnight.
    _, _, _, _, h, data = refused[-1]
    err = json.loads(data)["error"]
    assert err["code"] == "insufficient_quota" and err["type"] == "insufficient_quota"
    assert re.fullmatch(r"The daily budget of tenant acme \(\$0\.000132\) is spent; it resets at "
                        r"\d{4}-\d\d-\d\dT00:00:00Z\.", err["message"]), err["message"]
    assert h["x-should-retry"] == "false"
    assert abs(int(h["retry-after"]) - seconds_to_utc_midnight()) <= 5, h["retry-after"]
    assert abs(int(h["retry-after-ms"]) / 1000 - seconds_to_utc_midnight()) <= 5

    # The warning from 80%: some answers said so, and the metric counted them.
    warned = [r[4]["x-llmgw-budget-warning"] for r in ok if "x-llmgw-budget-warning" in r[4]]
    assert warned and all(re.fullmatch(r"tenant day (8\d|9\d)%", w) for w in warned), warned
    assert metric_sum(p1, "llmgw_budget_warnings_total") + metric_sum(p2, "llmgw_budget_warnings_total") == len(warned)
    assert metric_sum(p1, "llmgw_budget_refused_total") + metric_sum(p2, "llmgw_budget_refused_total") == len(refused)

    # What the ledger holds once every admitted request is in, and when each event entered the total.
    cur = cluster.db().cursor()
    ids = [r[4]["x-request-id"] for r in ok]
    wait_for(lambda: (cur.execute("SELECT count(*) FROM cost_events WHERE request_id = ANY(%s)", (ids,)),
                      cur.fetchone()[0] == len(ids))[1], 60, "every admitted request in the ledger")
    cur.execute("SELECT request_id, cost_nusd, extract(epoch FROM created_at) FROM cost_events"
                " WHERE tenant = 'acme' ORDER BY created_at")
    rows = cur.fetchall()
    spent = sum(r[1] for r in rows)
    cur.execute("SELECT spend_nusd FROM spend_totals WHERE scope = 'tenant:acme' AND period LIKE 'day:%%'")
    assert cur.fetchone()[0] == spent  # the running total is the sum of the events
    assert spent >= budget

    # The crossing: the batch (one created_at, its transaction's start) whose commit took the total to the
    # budget. Requests not in the total before it were either in flight then (sent before, counted in it or
    # later) or admitted after it, while the new total travelled to the ingresses.
    total, t_cross = 0, None
    for _, cost, at in rows:
        if total + cost >= budget and t_cross is None:
            t_cross = float(at)
        total += cost
    counted_at = {r[0]: float(r[2]) for r in rows}
    in_flight = sum(1 for r in ok if r[0] < t_cross and counted_at[r[4]["x-request-id"]] >= t_cross)
    admitted_after = sum(1 for r in ok if r[0] >= t_cross)
    overshoot = spent - budget
    bound = c_max * (in_flight + admitted_after)
    propagation = max(refused_at.values()) - t_cross  # commit to a refusal on both: an upper bound
    last_admit = max(r[0] for r in ok) - t_cross
    print(f"\nbudget {budget} nUSD, spent {spent} ({len(ok)} admitted, {len(refused)} refused), overshoot "
          f"{overshoot} = {overshoot / c_max:.0f} requests; in flight at the crossing {in_flight}, admitted after "
          f"it {admitted_after}, bound {bound}; last admission {last_admit * 1000:.0f} ms and a refusal on both "
          f"{propagation * 1000:.0f} ms after the crossing batch began")
    assert overshoot <= bound
    # In flight: about two per client (one answered but not yet in a batch, one waiting for its answer); the
    # last admission came within the propagation delay (ledger batch, commit, spend topic, ingress).
    assert in_flight <= 3 * K, in_flight
    assert last_admit < 2.0, last_admit

    # Every total on Kafka follows the schema; the last one of the day is the ledger's.
    day = "day:" + datetime.now(timezone.utc).strftime("%Y-%m-%d")
    recs = spend_records(cluster, lambda rs: any(r.key == f"tenant:acme|{day}" and r.value["spend_nusd"] == spent
                                                 for r in rs))
    assert {r.value["period"] for r in recs} <= {day, "month:" + day[4:11]}


def test_key_budget_stops_only_that_key(cluster, fake):
    key2, hash2 = new_key(cluster)
    kid = key_id(cluster.key_hash)
    configure(cluster, fake, {"acme": {"rpm": 1000, "keys": {kid: {"name": "ci", "budget": {"day_usd": usd(5 * COST_NUSD)}},
                                                             key_id(hash2): {"name": "other"}}}}, keys=[hash2])
    cluster.ledger()
    cluster.worker("w1")
    _, port = cluster.ingress("i1")
    warm_up(cluster, port, key2, f"key:{key_id(hash2)}")

    statuses = []
    for _ in range(60):
        status, h, data = post(port, cluster.key, chat_body("slow 1", MODEL))  # 3 words: COST_NUSD each
        statuses.append(status)
        if status == 429:
            break
        time.sleep(0.05)
    assert statuses[-1] == 429, statuses
    assert 5 <= statuses.count(200) <= 8, statuses  # one at a time: the total lags by at most a request or so
    err = json.loads(data)["error"]
    assert err["code"] == "insufficient_quota"
    assert f"The daily budget of key {kid} ($0.0000165) is spent" in err["message"], err["message"]
    assert h["x-should-retry"] == "false"

    # The tenant's other key is not the spent one: it goes on.
    for _ in range(3):
        status, h, _ = post(port, key2, chat_body("hello", MODEL))
        assert status == 200
        assert "x-llmgw-budget-warning" not in h
    # The spent key stays refused.
    assert post(port, cluster.key, chat_body("hello", MODEL))[0] == 429
    cur = cluster.db().cursor()
    cur.execute("SELECT tenant, spend_nusd FROM spend_totals WHERE scope = %s AND period LIKE 'day:%%'",
                (f"key:{kid}",))
    tenant, spent = cur.fetchone()
    assert tenant == "acme" and spent >= 5 * COST_NUSD


def cost_event(tenant, key, nusd, ts_ms):
    rid = str(uuid.uuid4())
    ev = {"v": 1, "event_id": rid, "request_id": rid, "tenant": tenant, "user": "u1",
          "provider": "openai", "model": MODEL, "kind": "chat", "input_tokens": 10, "output_tokens": 4,
          "cached_input_tokens": 0, "cost_nusd": nusd, "cost_known": True, "latency_ms": 100, "status": 200,
          "outcome": "ok", "cache_hit": False, "rerun": False, "attempt": 1, "strategy": "cost",
          "worker": "test", "ts_ms": ts_ms, "route_attempts": 1, "route": f"openai/{MODEL}=200"}
    if key:
        ev["key_id"] = key
    return rid, ev


def produce_cost(cluster, event):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": cluster.kafka})
    p.produce(f"{cluster.prefix}.cost", key=event["request_id"], value=json.dumps(event))
    assert p.flush(10) == 0


def test_new_utc_day_resets(cluster, fake):
    kid = key_id(cluster.key_hash)
    configure(cluster, fake, {"acme": {"budget": {"day_usd": "1"}, "keys": {kid: {"budget": {"day_usd": "1"}}}}})
    cluster.ledger()
    cluster.worker("w1")
    _, p1 = cluster.ingress("i1")
    _, p2 = cluster.ingress("i2")
    now_ms = int(time.time() * 1000)
    yesterday = datetime.now(timezone.utc) - timedelta(days=1)
    yday = "day:" + yesterday.strftime("%Y-%m-%d")

    # $50 spent yesterday, by the tenant through this very key: today's daily budget of $1 does not see it.
    _, ev = cost_event("acme", kid, 50 * 10**9, now_ms - 86400 * 1000)
    produce_cost(cluster, ev)
    spend_records(cluster, lambda rs: any(r.key == f"tenant:acme|{yday}" and r.value["spend_nusd"] == 50 * 10**9
                                          for r in rs) and any(r.key == f"key:{kid}|{yday}" for r in rs))
    time.sleep(0.5)  # both ingresses read the same records; give them a moment past the test's own reader
    for port in (p1, p2):
        status, h, _ = post(port, cluster.key, chat_body("hello", MODEL))
        assert status == 200, status
        assert "x-llmgw-budget-warning" not in h

    # $1 spent today: both refuse, until the next midnight.
    _, ev = cost_event("acme", "", 10**9, now_ms)
    produce_cost(cluster, ev)
    started = time.monotonic()
    for port in (p1, p2):
        wait_for(lambda: post(port, cluster.key, chat_body("hello", MODEL))[0] == 429, 10, f"a refusal on {port}")
    print(f"\ncost event to a refusal on both ingresses: {(time.monotonic() - started) * 1000:.0f} ms")
    status, h, data = post(p2, cluster.key, chat_body("hello", MODEL))
    assert status == 429 and "daily budget of tenant acme ($1.00)" in json.loads(data)["error"]["message"]
    assert abs(int(h["retry-after"]) - seconds_to_utc_midnight()) <= 5
