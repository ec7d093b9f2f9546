#!/usr/bin/env python3
"""The analytics summary over a ledger of 1,000,000 cost events in PostgreSQL, through the real HTTP API.

Starts `llmgw dev` with database_url on a fresh PostgreSQL database (the ledger creates the table, its
indexes and views; dev needs no Kafka), fills cost_events with generate_series (1,000,000 rows over DAYS days ending with the month queried:
50 tenants, 1,000 users, 10 models, one in ten events non-final), ANALYZEs, warms up, then times each query
N times over one keep-alive connection and prints one JSON object (exact p50/p90/max per query, and the
EXPLAIN ANALYZE of the plain month summary). Not a test: speed lives here, never in assertions.

Usage: bench_analytics.py PG_URL [N [DAYS]]   (DAYS: the events are spread over the DAYS days that end with
the month queried, default 30: all of them in that month; 360: a year's ledger, one twelfth in the month; PG_URL: a server where this may create and drop a database;
LLMGW_BIN: the binary, default build/llmgw). Writes bench/results/analytics-<time>.json."""
import http.client
import json
import os
import pathlib
import subprocess
import sys
import time
import urllib.parse
import uuid

import psycopg2

from harness import free_port  # noqa: E402 - bench/ is on sys.path (run as a script)

ROOT = pathlib.Path(__file__).resolve().parent.parent
MONTH_FROM, MONTH_TO = "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"
FROM_MS, DAY_MS = 1793491200000, 86400000
TO_MS = FROM_MS + 30 * DAY_MS

FILL = f"""
INSERT INTO cost_events (event_id, request_id, tenant, key_id, user_id, provider, model, kind, input_tokens,
  output_tokens, cached_input_tokens, cache_write_input_tokens, cost_nusd, cost_known, cost_estimated, latency_ms,
  status, outcome, cache_hit, rerun, attempt, strategy, worker, ts_ms, route_attempts, final, run_id)
SELECT 'ev' || g, 'rq' || (g / 10 * 10 + CASE WHEN g % 10 = 0 THEN 1 ELSE 0 END),
  't' || (g % 50), 'key_' || (g % 97), 'u' || (g % 1000), CASE WHEN g % 3 = 0 THEN 'anthropic' ELSE 'openai' END,
  'model-' || (g % 10), 'chat', 100 + g % 900, 10 + g % 300, g % 7 * 10, 0, 1000 + (g * 7919) % 500000,
  g % 211 <> 0, g % 10 = 0, 50 + (g * 104729) % 4000, CASE WHEN g % 53 = 0 THEN 500 WHEN g % 89 = 0 THEN 499
  ELSE 200 END, CASE WHEN g % 53 = 0 THEN 'error' WHEN g % 89 = 0 THEN 'cancelled' ELSE 'ok' END, g % 17 = 0,
  false, 1, 'cost', 'w1', {{start}} + (g * 7919) % 1000000 * {{step}}, 1 + (g % 23 = 0)::int,
  g % 10 <> 0, 'rq' || g
FROM generate_series(1::bigint, 1000000) AS g
"""

QUERIES = {
    "month_total": [("from", MONTH_FROM), ("to", MONTH_TO)],
    "month_by_model_day": [("from", MONTH_FROM), ("to", MONTH_TO), ("group_by", "model,day")],
    "month_one_tenant": [("from", MONTH_FROM), ("to", MONTH_TO), ("tenant", "t7")],
    "requests_page": [("from", MONTH_FROM), ("to", MONTH_TO), ("limit", "100")],
}


def main():
    base, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20
    days = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    step = days * DAY_MS // 1000000  # ms between consecutive event times
    name = "bench_" + uuid.uuid4().hex[:8]
    admin = psycopg2.connect(base)
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    url = base.rsplit("/", 1)[0] + "/" + name
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMGW_")}
    env.update({"LLMGW_PORT": str(port), "LLMGW_DATABASE_URL": url, "LLMGW_LOG_LEVEL": "warn"})
    proc = subprocess.Popen([os.environ.get("LLMGW_BIN", str(ROOT / "build" / "llmgw")), "dev"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        db = psycopg2.connect(url)
        db.autocommit = True
        cur = db.cursor()
        t0 = time.perf_counter()
        cur.execute(FILL.format(start=TO_MS - days * DAY_MS, step=step))
        cur.execute("ANALYZE cost_events")
        fill_s = time.perf_counter() - t0
        cur.execute("SELECT count(*) FROM cost_events WHERE ts_ms >= %s AND ts_ms < %s", (FROM_MS, TO_MS))
        in_month = cur.fetchone()[0]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        out = {"rows": 1000000, "days": days, "rows_in_month": 0, "fill_s": round(fill_s, 1), "runs": n, "queries": {}}
        out["rows_in_month"] = in_month
        for label, params in QUERIES.items():
            path = ("/v1/analytics/requests" if label.startswith("requests") else "/v1/analytics/summary") + "?" + \
                urllib.parse.urlencode(params)
            times = []
            for i in range(n + 3):  # three warm-up runs
                t = time.perf_counter()
                conn.request("GET", path)
                resp = conn.getresponse()
                body = resp.read()
                ms = (time.perf_counter() - t) * 1000
                if resp.status != 200:
                    raise SystemExit(f"{label}: {resp.status} {body[:300]!r}")
                if i >= 3:
                    times.append(ms)
            times.sort()
            out["queries"][label] = {"p50_ms": round(times[len(times) // 2], 1),
                                     "p90_ms": round(times[(len(times) * 9 + 9) // 10 - 1], 1),
                                     "max_ms": round(times[-1], 1)}
        cur.execute("SET work_mem = '64MB'")
        cur.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT COUNT(DISTINCT request_id COLLATE \"C\"),"
                    " SUM(cost_nusd), percentile_disc(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY latency_ms)"
                    " FILTER (WHERE COALESCE(final, TRUE)) FROM cost_events WHERE ts_ms >= %s AND ts_ms < %s",
                    (FROM_MS, TO_MS))
        out["explain_month_total"] = [r[0] for r in cur.fetchall()]
        cur.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT event_id FROM cost_events WHERE ts_ms >= %s"
                    " AND ts_ms < %s AND (ts_ms, event_id) < (%s, 'ev5') ORDER BY ts_ms DESC, event_id DESC LIMIT 101",
                    (FROM_MS, TO_MS, FROM_MS + 20 * DAY_MS))
        out["explain_requests_page"] = [r[0] for r in cur.fetchall()]
        db.close()
        print(json.dumps(out, indent=1))
        res = ROOT / "bench" / "results" / time.strftime("analytics-%Y%m%dT%H%M%SZ.json", time.gmtime())
        res.write_text(json.dumps(out, indent=1) + "\n")
    finally:
        proc.terminate()
        proc.wait()
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
