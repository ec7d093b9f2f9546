#!/usr/bin/env python3
"""Sequential request latency through the gateway: one keep-alive connection, N echo requests, exact
percentiles over all of them. Prints one JSON object. Used by bench/spine.sh."""
import http.client
import json
import sys
import time


def main() -> None:
    port, n = int(sys.argv[1]), int(sys.argv[2])
    headers = {"content-type": "application/json"}
    if len(sys.argv) > 3:
        headers["authorization"] = f"Bearer {sys.argv[3]}"
    conn = http.client.HTTPConnection("127.0.0.1", port)
    lat = []
    for i in range(n):
        body = json.dumps({"model": "echo", "messages": [{"role": "user", "content": f"bench {i}"}]})
        t0 = time.perf_counter()
        conn.request("POST", "/v1/chat/completions", body, headers)
        resp = conn.getresponse()
        data = resp.read()
        lat.append((time.perf_counter() - t0) * 1000.0)
        if resp.status != 200 or json.loads(data)["choices"][0]["message"]["content"] != f"bench {i}":
            sys.exit(f"request {i}: status {resp.status}: {data[:200]!r}")
    lat.sort()
    pct = lambda p: lat[min(n - 1, int(p * n))]
    print(json.dumps({"requests": n, "p50_ms": round(pct(0.50), 3), "p90_ms": round(pct(0.90), 3),
                      "p99_ms": round(pct(0.99), 3), "max_ms": round(lat[-1], 3)}))


if __name__ == "__main__":
    main()
