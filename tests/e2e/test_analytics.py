"""The analytics API (/v1/analytics/summary and /requests) on the ingress's own port, through real Kafka,
PostgreSQL and Redis with the fake OpenAI provider: totals equal what the test sent and was told (usage,
x-llmgw-cost-usd) and what SQL says; every group_by works and groups add up to the total; CSV parses with
Python's csv module and says what the JSON says; pages return every row exactly once while rows are being
inserted; a tenant key sees its own tenant only (another one is a 403), no key is a 401, bad input a 400 with
the parameter named; `llmgw dev` answers a keyless call."""
import csv
import hashlib
import http.client
import io
import json
import os
import secrets
import subprocess
import threading
import time
import urllib.parse
import uuid
from decimal import Decimal

import psycopg2
import pytest

from conftest import SANITIZER_MARKERS, chat_body, fake_fixture, start_on_a_free_port, wait_for

KEY = "sk-fake-test-key"
GROUPS = ["tenant", "key", "user", "model", "provider", "strategy", "outcome", "day", "hour", "minute"]

fake = fake_fixture("fake_openai.py")


def get(port, path, params=None, key=None):
    """GET path?params (a list of pairs); returns (status, headers, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    url = path + ("?" + urllib.parse.urlencode(params) if params else "")
    conn.request("GET", url, headers={"Authorization": f"Bearer {key}"} if key else {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def post(port, body, key):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/v1/chat/completions", json.dumps(body),
                 {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    resp = conn.getresponse()
    data = json.loads(resp.read())
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def new_key(cluster, tenant):
    out = subprocess.run([cluster.bin, "keys", "new", "--tenant", tenant], capture_output=True, text=True,
                         check=True).stdout
    fields = dict(line.split(": ", 1) for line in out.strip().splitlines())
    return fields["key"], fields["sha256"]


@pytest.fixture
def gw(cluster, fake):
    """Ledger, worker, ingress over the fake provider; keys for acme (cluster.key), globex and an admin."""
    globex, globex_hash = new_key(cluster, "globex")
    admin = "sk-admin-" + secrets.token_hex(16)
    cluster.extra_env.update({
        "LLMGW_OPENAI_BASE_URL": f"http://127.0.0.1:{fake}/v1", "LLMGW_OPENAI_API_KEY": KEY,
        "LLMGW_PROVIDER_MAX_RETRIES": "0",
        "LLMGW_TENANT_KEYS": f"acme:{cluster.key_hash},globex:{globex_hash}",
        "LLMGW_ADMIN_KEYS": "ops:" + hashlib.sha256(admin.encode()).hexdigest(),
        "LLMGW_REDIS_URL": "redis://" + os.environ["LLMGW_TEST_REDIS"], "LLMGW_CACHE_TTL_S": "60",
    })
    cluster.ledger()
    cluster.worker("w1")
    _, port = cluster.ingress("i1")
    return port, {"acme": cluster.key, "globex": globex, "admin": admin}


def send_traffic(port, keys):
    """Several tenants, users and models, two errors and a cache hit. Returns what the client saw."""
    sent = []
    plan = [("acme", "gpt-4o-mini", "u1", "hello one"), ("acme", "gpt-4o-mini", "u2", "hello two words"),
            ("acme", "echo", "u1", "echo this"), ("acme", "gpt-4o-mini", "u1", "fail 400 9"),
            ("globex", "gpt-4o-mini", "g1", "globex says hi"), ("globex", "echo", "g2", "globex echo"),
            ("globex", "gpt-4o-mini", "g1", "fail 400 9"), ("acme", "gpt-4o-mini", "u3", "cache me please"),
            ("acme", "gpt-4o-mini", "u3", "cache me please")]
    for tenant, model, user, text in plan:
        body = {"model": model, "user": user, "messages": [{"role": "user", "content": text}]}
        if text.startswith("cache"):
            body["temperature"] = 0.5
        status, headers, data = post(port, body, keys[tenant])
        usage = data.get("usage") or {}
        sent.append({"tenant": tenant, "model": model, "user": user, "status": status,
                     "id": headers["x-request-id"], "cost": Decimal(headers.get("x-llmgw-cost-usd", "0")),
                     "cache": headers.get("x-llmgw-cache"),
                     "input": usage.get("prompt_tokens", 0), "output": usage.get("completion_tokens", 0)})
    assert [s["status"] for s in sent].count(400) == 2
    assert sent[-1]["cache"] == "hit", sent[-1]
    return sent


def summary(port, key, params):
    status, headers, data = get(port, "/v1/analytics/summary", params, key)
    assert status == 200, data
    assert headers["content-type"].startswith("application/json")
    return json.loads(data)


def test_summary_matches_what_was_sent_and_sql(cluster, gw):
    port, keys = gw
    start_ms = int(time.time() * 1000) - 1000
    sent = send_traffic(port, keys)
    cur = cluster.db().cursor()
    ids = [s["id"] for s in sent]

    def in_ledger():
        cur.execute("SELECT count(DISTINCT request_id) FROM cost_events WHERE request_id = ANY(%s)", (ids,))
        return cur.fetchone()[0] == len(ids)
    wait_for(in_ledger, 60, "every request in the ledger")
    end_ms = int(time.time() * 1000) + 1000
    rng = [("from", str(start_ms)), ("to", str(end_ms))]

    total = summary(port, keys["admin"], rng)
    assert total["object"] == "analytics.summary" and total["group_by"] == []
    (row,) = total["data"]
    # what the client saw
    assert row["requests"] == len(sent)
    assert Decimal(row["cost_usd"]) == sum(s["cost"] for s in sent)
    assert Decimal(row["cost_usd"]) > 0
    assert row["output_tokens"] >= sum(s["output"] for s in sent if s["cache"] != "hit")
    assert row["errors"] == 2 and row["cancelled"] == 0
    assert Decimal(str(row["error_rate"])) == Decimal(2) / Decimal(len(sent)) or \
        abs(row["error_rate"] - 2 / len(sent)) < 1e-6
    assert abs(row["cache_hit_rate"] - 1 / len(sent)) < 1e-6
    # what SQL says
    cur.execute("SELECT count(DISTINCT request_id), COALESCE(SUM(cost_nusd), 0), SUM(input_tokens),"
                " SUM(output_tokens), SUM(CASE WHEN COALESCE(final, true) THEN route_attempts ELSE 0 END),"
                " percentile_disc(0.5) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE COALESCE(final, true))"
                " FROM cost_events WHERE ts_ms >= %s AND ts_ms < %s", (start_ms, end_ms))
    n, nusd, inp, out, attempts, p50 = cur.fetchone()
    assert row["requests"] == n
    assert Decimal(row["cost_usd"]) == Decimal(nusd) / Decimal(10**9)
    assert (row["input_tokens"], row["output_tokens"], row["attempts"]) == (inp, out, attempts)
    assert row["latency_ms"]["p50"] == p50
    assert sum(s["input"] for s in sent if s["cache"] != "hit" and s["status"] == 200) <= inp
    # the analysts' views say the same (this test's database holds these events only)
    cur.execute("SELECT sum(cost_usd), sum(requests) FROM analytics_daily_spend")
    view_cost, view_requests = cur.fetchone()
    assert view_cost == Decimal(row["cost_usd"]) and view_requests == row["requests"]
    cur.execute("SELECT sum(cost_usd) FROM analytics_top_users")
    assert cur.fetchone()[0] == Decimal(row["cost_usd"])

    # every group alone adds up to the total; several at once (repeated and comma-separated) too
    for g in GROUPS:
        res = summary(port, keys["admin"], rng + [("group_by", g)])
        assert res["group_by"] == [g]
        assert sum(r["requests"] for r in res["data"]) == row["requests"], g
        assert sum(Decimal(r["cost_usd"]) for r in res["data"]) == Decimal(row["cost_usd"]), g
        assert all(g in r for r in res["data"])
    res = summary(port, keys["admin"], rng + [("group_by", "tenant,model"), ("group_by", "user")])
    assert res["group_by"] == ["tenant", "model", "user"]
    by = {(r["tenant"], r["model"], r["user"]): r for r in res["data"]}
    for (tenant, model, user) in {(s["tenant"], s["model"], s["user"]) for s in sent}:
        mine = [s for s in sent if (s["tenant"], s["model"], s["user"]) == (tenant, model, user)]
        assert by[(tenant, model, user)]["requests"] == len(mine)
        assert Decimal(by[(tenant, model, user)]["cost_usd"]) == sum(s["cost"] for s in mine)
    res = summary(port, keys["admin"], rng + [("group_by", "key")])
    acme_id = "key_" + cluster.key_hash[:12]
    assert {r["key"] for r in res["data"]} >= {acme_id}
    day = summary(port, keys["admin"], rng + [("group_by", "day,hour")])["data"][0]
    assert len(day["day"]) == 10 and day["hour"].endswith(":00:00Z") and day["hour"].startswith(day["day"])
    minute = summary(port, keys["admin"], rng + [("group_by", "hour,minute")])["data"][0]
    assert minute["minute"].endswith(":00Z") and minute["minute"][:14] == minute["hour"][:14]

    # CSV: RFC 4180, the same values as the JSON
    params = rng + [("group_by", "tenant,model"), ("format", "csv")]
    status, headers, data = get(port, "/v1/analytics/summary", params, keys["admin"])
    assert status == 200 and headers["content-type"].startswith("text/csv")
    assert data.endswith(b"\r\n") and b"\n" not in data.replace(b"\r\n", b"")
    rows = list(csv.DictReader(io.StringIO(data.decode(), newline="")))
    jrows = summary(port, keys["admin"], rng + [("group_by", "tenant,model")])["data"]
    assert len(rows) == len(jrows)
    for c, j in zip(rows, jrows):
        flat = {k: v for k, v in j.items() if k != "latency_ms"}
        flat.update({f"latency_{k}_ms": v for k, v in j["latency_ms"].items()})
        assert set(c) == set(flat)
        for k, v in flat.items():
            assert c[k] == ("" if v is None else str(v) if not isinstance(v, float) else c[k]), k
            if isinstance(v, float):
                assert abs(float(c[k]) - v) < 1e-9, k

    # the request list: the same rows as SQL, as CSV too
    status, _, data = get(port, "/v1/analytics/requests", rng + [("limit", "1000")], keys["admin"])
    page = json.loads(data)
    assert status == 200 and page["object"] == "list" and page["has_more"] is False and page["next_cursor"] is None
    cur.execute("SELECT event_id, cost_nusd, trace_id FROM cost_events WHERE ts_ms >= %s AND ts_ms < %s"
                " ORDER BY ts_ms DESC, event_id DESC", (start_ms, end_ms))
    rows = cur.fetchall()
    assert [(r["event_id"], Decimal(r["cost_usd"])) for r in page["data"]] == \
        [(e, Decimal(c) / Decimal(10**9)) for e, c, _ in rows]
    # each row leads to its trace: the ledger's trace id, 32 hex digits
    assert [r["trace_id"] for r in page["data"]] == [t for _, _, t in rows]
    assert all(len(r["trace_id"]) == 32 and int(r["trace_id"], 16) for r in page["data"])
    status, headers, data = get(port, "/v1/analytics/requests", rng + [("format", "csv"), ("tenant", "globex")],
                                keys["admin"])
    crows = list(csv.DictReader(io.StringIO(data.decode(), newline="")))
    assert status == 200 and {r["tenant"] for r in crows} == {"globex"}
    assert len(crows) == sum(1 for s in sent if s["tenant"] == "globex")
    # CSV pages too: the position is in x-llmgw-has-more / x-llmgw-next-cursor
    got, cursor = [], None
    while True:
        params = rng + [("format", "csv"), ("limit", "3")] + ([("cursor", cursor)] if cursor else [])
        status, headers, data = get(port, "/v1/analytics/requests", params, keys["admin"])
        assert status == 200
        got += [r["event_id"] for r in csv.DictReader(io.StringIO(data.decode(), newline=""))]
        if headers["x-llmgw-has-more"] == "false":
            assert "x-llmgw-next-cursor" not in headers
            break
        cursor = headers["x-llmgw-next-cursor"]
    assert got == [r["event_id"] for r in page["data"]]


def test_access_and_bad_input(cluster, gw):
    port, keys = gw
    send = post(port, {"model": "echo", "messages": [{"role": "user", "content": "x"}]}, keys["globex"])
    assert send[0] == 200
    gid = send[1]["x-request-id"]
    cur = cluster.db().cursor()
    wait_for(lambda: (cur.execute("SELECT 1 FROM cost_events WHERE request_id = %s", (gid,)), cur.fetchone())[1],
             60, "the globex request in the ledger")
    # a tenant key reads its own tenant only
    mine = summary(port, keys["acme"], [("group_by", "tenant")])
    assert all(r["tenant"] == "acme" for r in mine["data"])
    assert summary(port, keys["globex"], [("group_by", "tenant")])["data"][0]["tenant"] == "globex"
    for path in ("/v1/analytics/summary", "/v1/analytics/requests"):
        status, _, data = get(port, path, [("tenant", "globex")], keys["acme"])
        err = json.loads(data)["error"]
        assert status == 403 and err["code"] == "permission_denied" and err["param"] == "tenant"
        status, _, data = get(port, path, [], None)
        assert status == 401 and json.loads(data)["error"]["type"] == "authentication_error"
        status, _, _ = get(port, path, [], "sk-wrong")
        assert status == 401
    status, _, data = get(port, "/v1/analytics/requests", [("tenant", "globex")], keys["admin"])
    assert status == 200 and json.loads(data)["data"][0]["request_id"] == gid
    # an admin key still cannot make model requests
    assert post(port, {"model": "echo", "messages": [{"role": "user", "content": "x"}]}, keys["admin"])[0] == 403
    bad = [("/v1/analytics/summary", [("from", "yesterday")], "from"),
           ("/v1/analytics/summary", [("to", "2026-12-01T00:00:00")], "to"),
           ("/v1/analytics/summary", [("from", "2026-12-02T00:00:00Z"), ("to", "2026-12-01T00:00:00Z")], "from"),
           ("/v1/analytics/summary", [("from", "2024-01-01T00:00:00Z"), ("to", "2026-01-01T00:00:00Z")], "to"),
           ("/v1/analytics/summary", [("group_by", "model,colour")], "group_by"),
           ("/v1/analytics/summary", [("group_by", "tenant; DROP TABLE cost_events")], "group_by"),
           ("/v1/analytics/requests", [("limit", "1001")], "limit"),
           ("/v1/analytics/requests", [("limit", "0")], "limit"),
           ("/v1/analytics/requests", [("limit", "ten")], "limit"),
           ("/v1/analytics/requests", [("cursor", "bm9wZQ")], "cursor"),
           ("/v1/analytics/summary", [("format", "xml")], "format")]
    for path, params, param in bad:
        status, _, data = get(port, path, params, keys["admin"])
        err = json.loads(data)["error"]
        assert status == 400 and err["type"] == "invalid_request_error" and err["param"] == param, (params, err)
    cur.execute("SELECT count(*) FROM cost_events")  # the table is still there
    # values are bound, never spliced: a quote in a filter is just a tenant nobody has
    status, _, data = get(port, "/v1/analytics/summary", [("model", "x' OR '1'='1")], keys["admin"])
    assert status == 200 and json.loads(data)["data"][0]["requests"] == 0
    status, _, _ = get(port, "/v1/analytics/nothing", [], keys["admin"])
    assert status == 404


def test_pages_see_each_row_once_while_rows_arrive(cluster, gw):
    port, keys = gw
    conn = cluster.db()
    conn.autocommit = True
    cur = conn.cursor()
    base = int(time.time() * 1000) - 60000
    # 200 rows present before paging (some sharing a ts_ms, so event_id breaks ties)
    for i in range(200):
        cur.execute("INSERT INTO cost_events (event_id, request_id, tenant, user_id, provider, model, kind,"
                    " cost_nusd, cost_known, outcome, rerun, ts_ms, final, latency_ms, status, route_attempts)"
                    " VALUES (%s, %s, 'acme', 'u', 'echo', 'echo', 'chat', %s, true, 'ok', false, %s, true, 1, 200, 1)",
                    (f"pre-{i:04d}", f"pre-{i:04d}", i, base + i // 4))
    before = {f"pre-{i:04d}" for i in range(200)}
    stop = threading.Event()
    inserted = []

    def writer():
        wconn = psycopg2.connect(cluster.pg_url)
        wconn.autocommit = True
        wcur = wconn.cursor()
        n = 0
        while not stop.is_set():
            # new rows at every age: newest, in the middle of what is being paged, and ties with old rows
            for ts in (int(time.time() * 1000), base + (n % 50), base + 25):
                eid = f"new-{n:05d}-{uuid.uuid4().hex[:6]}"
                wcur.execute("INSERT INTO cost_events (event_id, request_id, tenant, user_id, provider, model,"
                             " kind, cost_nusd, cost_known, outcome, rerun, ts_ms, final)"
                             " VALUES (%s, %s, 'acme', 'u', 'echo', 'echo', 'chat', 1, true, 'ok', false, %s, true)",
                             (eid, eid, ts))
                inserted.append(eid)
                n += 1
            time.sleep(0.005)
        wconn.close()

    t = threading.Thread(target=writer)
    t.start()
    seen, cursor, pages = [], None, 0
    try:
        while True:
            params = [("from", str(base - 1000)), ("to", str(int(time.time() * 1000) + 60000)), ("limit", "7")]
            if cursor:
                params.append(("cursor", cursor))
            status, _, data = get(port, "/v1/analytics/requests", params, keys["acme"])
            assert status == 200, data
            page = json.loads(data)
            seen += [r["event_id"] for r in page["data"]]
            pages += 1
            time.sleep(0.01)
            if not page["has_more"]:
                break
            cursor = page["next_cursor"]
    finally:
        stop.set()
        t.join()
    assert len(inserted) > 20 and pages > 28
    assert len(seen) == len(set(seen)), "a row appeared twice"
    assert before <= set(seen), f"rows missed: {sorted(before - set(seen))[:5]}"


def test_dev_keyless(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMGW_")}
    env.update({"LLMGW_DATABASE_URL": f"sqlite:{tmp_path / 'dev.db'}"})
    proc, port = start_on_a_free_port("dev", [os.environ["LLMGW_BIN"], "dev"], env, tmp_path / "dev.log")
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/v1/chat/completions", chat_body("hello analytics"), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200
        rid = resp.getheader("x-request-id")

        def listed():
            status, _, data = get(port, "/v1/analytics/requests", [])
            assert status == 200, data
            return [r for r in json.loads(data)["data"] if r["request_id"] == rid]
        (row,) = wait_for(listed, 30, "the request in dev's analytics")
        assert row["tenant"] == "dev" and row["key_id"] is None and row["model"] == "echo"
        res = summary(port, None, [("group_by", "tenant,key")])
        assert res["data"][0]["tenant"] == "dev" and res["data"][0]["key"] is None
        status, headers, data = get(port, "/v1/analytics/summary", [("format", "csv"), ("group_by", "hour")])
        assert status == 200 and headers["content-type"].startswith("text/csv")
        assert len(list(csv.reader(io.StringIO(data.decode(), newline="")))) == 2
    finally:
        assert proc.stop() == 0
        out = proc.output()
        assert not [m for m in SANITIZER_MARKERS if m in out], out[-4000:]
