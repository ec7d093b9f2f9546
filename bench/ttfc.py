#!/usr/bin/env python3
"""Time to first chunk of streamed chat requests: N sequential requests to a URL, timing from send to the
first `data:` line of the response. Prints one JSON object with exact percentiles. Used by bench/stream.sh.
Usage: ttfc.py HOST:PORT PATH N [BEARER_KEY]"""
import http.client
import json
import sys
import time


def main() -> None:
    hostport, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    host, port = hostport.split(":")
    headers = {"content-type": "application/json"}
    if len(sys.argv) > 4:
        headers["authorization"] = f"Bearer {sys.argv[4]}"
    conn = http.client.HTTPConnection(host, int(port))
    ttfc = []
    for i in range(n):
        body = json.dumps({"model": "gpt-4o-mini", "stream": True,
                           "messages": [{"role": "user", "content": f"ttfc {i} a b c d"}]})
        t0 = time.perf_counter()
        conn.request("POST", path, body, headers)
        resp = conn.getresponse()
        first = None
        while True:
            line = resp.readline()  # undoes chunked transfer encoding
            if not line:
                break
            if first is None and line.startswith(b"data: "):
                first = (time.perf_counter() - t0) * 1000.0
            if line.startswith(b"data: [DONE]"):
                break
        resp.read()
        if resp.status != 200 or first is None:
            sys.exit(f"request {i}: status {resp.status}")
        ttfc.append(first)
    ttfc.sort()
    pct = lambda p: ttfc[min(n - 1, int(p * n))]
    print(json.dumps({"requests": n, "p50_ms": round(pct(0.5), 3), "p99_ms": round(pct(0.99), 3)}))


if __name__ == "__main__":
    main()
