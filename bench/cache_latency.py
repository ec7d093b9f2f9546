#!/usr/bin/env python3
"""A response-cache hit against a miss, in one run: N rounds over one keep-alive connection, each round one
request of every kind in turn, so all three see the same machine at the same moment:
  bypass  a new prompt with Cache-Control: no-cache, no-store (the cache does nothing: the baseline),
  miss    a new prompt (the lookup finds nothing, the provider answers, the answer is stored),
  hit     a prompt stored before the run (the lookup answers; no provider call).
The provider is the fake with a fixed latency (bench/cache.sh: 20 ms). Prints one JSON object with exact
percentiles per kind and the ratio of the miss's median to the hit's. Usage: cache_latency.py PORT N KEY"""
import http.client
import json
import sys
import time
import uuid


def main() -> None:
    port, n, key = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    base = {"content-type": "application/json", "authorization": f"Bearer {key}"}
    conn = http.client.HTTPConnection("127.0.0.1", port)
    run = uuid.uuid4().hex[:8]

    def send(text, headers, want):
        body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]})
        t0 = time.perf_counter()
        conn.request("POST", "/v1/chat/completions", body, {**base, **headers})
        resp = conn.getresponse()
        data = resp.read()
        ms = (time.perf_counter() - t0) * 1000.0
        got = resp.getheader("x-llmgw-cache")
        if resp.status != 200 or got != want:
            sys.exit(f"{text}: status {resp.status}, x-llmgw-cache {got} (want {want}): {data[:200]!r}")
        return ms

    send(f"hot {run}", {}, "miss")  # the entry every hit reads
    for i in range(20):  # warm-up: connections to the fake, Kafka, Redis
        send(f"warm {run} {i}", {}, "miss")
        send(f"hot {run}", {}, "hit")
    lat = {"bypass": [], "miss": [], "hit": []}
    for i in range(n):
        lat["bypass"].append(send(f"bypass {run} {i}", {"cache-control": "no-cache, no-store"}, "bypass"))
        lat["miss"].append(send(f"miss {run} {i}", {}, "miss"))
        lat["hit"].append(send(f"hot {run}", {}, "hit"))
    out = {"rounds": n}
    for kind, v in lat.items():
        v.sort()
        pct = lambda p: v[min(n - 1, int(p * n))]  # noqa: E731
        out[kind] = {"p50_ms": round(pct(0.50), 3), "p90_ms": round(pct(0.90), 3), "p99_ms": round(pct(0.99), 3)}
    out["miss_over_hit_p50"] = round(out["miss"]["p50_ms"] / out["hit"]["p50_ms"], 1)
    out["miss_minus_bypass_p50_ms"] = round(out["miss"]["p50_ms"] - out["bypass"]["p50_ms"], 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
