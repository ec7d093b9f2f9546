#!/usr/bin/env python3
"""Which HTTP layer could hold llmgw's waiting clients: the bench/http_hold servers side by side.

Issue 19 asks the ingress to hold 10,000 waiting clients in under 100 MB. It holds about 14.5 KB each, 12 KiB of it
libmicrohttpd's connection pool, which libmicrohttpd zeroes (so makes resident) between a connection's requests
(docs/PERFORMANCE.md, "10,000 waiting clients"). Each bench/http_hold server reads a request and holds it as the
ingress does while its job is on Kafka, then answers from the HTTP layer's own thread when the hold queue's thread
hands it back. The layers: libmicrohttpd set up as the ingress sets it up, libevent's evhttp, h2o (as it comes,
and with a 4 KiB first input buffer: h2o-4k), and a minimal layer of our own over epoll that keeps no buffer
while a request waits (the bound for a purpose-built layer). For each:
- waiting: RSS idle (after 200 requests), at peak with 10,000 closed-loop clients and 5 s after. Each request is
  held 5 s, so that the load generator's pace (a few thousand a second) keeps nearly all 10,000 held at once: a
  layer that frees its buffers while a request waits must be measured with its requests waiting, not queued;
- latency: 5,000 sequential requests (hold 0, so each still crosses from the hold thread back to the HTTP
  thread, as a reply does in the ingress): p50 / p99, and the server's CPU per request;
- rate: 2,000 requests a second, open loop, 10 s (hold 0): p99 and CPU per request.
Servers on CPU 0, the load generator on CPU 1 (as bench/peers.py). Rounds alternate the order of the layers
(machine speed drifts). The servers do not trim their heaps (llmgw's roles do: common/memtrim.c), so "5 s after"
is what each layer's allocations leave to the allocator. Writes bench/results/http-layers-<UTC date>.json; prints
a markdown table. Run through bench/http_layers.sh. Not a test: nothing here asserts a timing."""
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from procstat import cpu_s  # noqa: E402 - bench/ is on sys.path (run as a script)
from harness import free_port, log  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BUILD = Path(os.environ.get("LLMGW_BENCH_BUILD", ROOT / "build"))
SERVER_CPU, LOAD_CPU = "0", "1"
LAYERS = [x for x in os.environ.get("LLMGW_BENCH_LAYERS", "mhd,evhttp,h2o,h2o-4k,epoll").split(",") if x]
# A layer tuned: the server it runs and the environment it gets. h2o-4k: h2o with a 4 KiB first input buffer
# (bench/http_hold/h2o.c), the smallest h2o reads into.
VARIANTS = {"h2o-4k": ("h2o", {"HOLD_H2O_INPUT_BUFFER": "4096"})}
ROUNDS = int(os.environ.get("LLMGW_BENCH_ROUNDS", "2"))
WAITING = int(os.environ.get("LLMGW_BENCH_WAITING", "10000"))
WAIT_S = int(os.environ.get("LLMGW_BENCH_WAIT_S", "20"))
HOLD_MS = 5000
# libmicrohttpd makes a connection's whole pool resident when it resets it for the connection's next request
# (docs/PERFORMANCE.md), so the waiting load must outlast two holds: every client then waits on a reset pool.
if WAIT_S * 1000 < 2 * HOLD_MS:
    sys.exit(f"LLMGW_BENCH_WAIT_S must be at least {2 * HOLD_MS // 1000} s (two holds of {HOLD_MS} ms)")
BODY = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello in five words."}]})


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Server:
    def __init__(self, layer, hold_ms):
        self.port = free_port()
        server, env = VARIANTS.get(layer, (layer, {}))
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, str(BUILD / f"bench_http_hold_{server}"), "--port",
                                      str(self.port), "--threads", "2", "--hold-ms", str(hold_ms), "--max-conns",
                                      str(WAITING + 1000)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, **env})
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            self.stop()
            raise RuntimeError(f"{layer}: did not start: {line}")
        self.url = f"http://127.0.0.1:{self.port}/v1/chat/completions"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def loadgen_argv(url, *args):
    return (["taskset", "-c", LOAD_CPU, str(BUILD / "bench_loadgen"), "--url", url, "--body", BODY,
             "--header", "Authorization: Bearer sk-bench"] + [str(a) for a in args])


def loadgen(url, *args):
    out = subprocess.run(loadgen_argv(url, *args), capture_output=True, text=True)
    if not out.stdout.strip():
        raise RuntimeError(f"bench_loadgen produced nothing: {out.stderr[-500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measured(r):
    return {"sent": r["sent"], "ok": r["ok"], "failed": r["sent"] - r["ok"], "p50_ms": r["latency_ms"]["p50"],
            "p99_ms": r["latency_ms"]["p99"], "rps": r["achieved_rps"]}


def waiting(layer):
    s = Server(layer, HOLD_MS)
    try:
        loadgen(s.url, "--rate", 0, "--concurrency", 200, "--requests", 200)
        time.sleep(1)
        idle = rss_kb(s.proc.pid)
        lg = subprocess.Popen(loadgen_argv(s.url, "--rate", 0, "--concurrency", WAITING, "--max-conns", WAITING + 100,
                                           "--duration", WAIT_S), stdout=subprocess.PIPE, text=True)
        peak = 0
        while lg.poll() is None:
            peak = max(peak, rss_kb(s.proc.pid))
            time.sleep(0.5)
        load = json.loads(lg.stdout.read().strip().splitlines()[-1])
        time.sleep(5)
        after = rss_kb(s.proc.pid)
        return {"idle_kb": idle, "peak_kb": peak, "after5_kb": after, "clients": WAITING, "hold_ms": HOLD_MS,
                "per_client_kb": round((peak - idle) / WAITING, 2), "load": measured(load)}
    finally:
        s.stop()


def with_cpu(s, *args):
    before = cpu_s(s.proc.pid)
    r = loadgen(s.url, *args)
    used = cpu_s(s.proc.pid) - before
    out = measured(r)
    out["cpu_ms_per_request"] = round(used * 1e3 / r["sent"], 4) if r["sent"] else None
    return out


def latency(layer):
    s = Server(layer, 0)
    try:
        loadgen(s.url, "--rate", 0, "--concurrency", 1, "--requests", 2000)  # warm: caches, the allocator's arenas
        return {"seq": with_cpu(s, "--rate", 0, "--concurrency", 1, "--requests", 5000),
                "rate": with_cpu(s, "--rate", 2000, "--duration", 10, "--max-conns", 512)}
    finally:
        s.stop()


def main():
    started = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    rounds = []
    for i in range(ROUNDS):
        order = LAYERS if i % 2 == 0 else list(reversed(LAYERS))
        rnd = {"order": order, "layers": {}}
        for layer in order:
            log(f"round {i + 1}: {layer}")
            try:
                rnd["layers"][layer] = {"waiting": waiting(layer), **latency(layer)}
            except Exception as e:  # noqa: BLE001 - the error is the result
                log(f"  {layer}: {e}")
                rnd["layers"][layer] = {"error": str(e)}
            w = rnd["layers"][layer].get("waiting")
            if w:
                lt = rnd["layers"][layer]
                log(f"  peak {w['peak_kb'] / 1024:.1f} MB ({w['per_client_kb']} KB a client), seq p50 "
                    f"{lt['seq']['p50_ms']:.3f} ms, CPU {lt['seq']['cpu_ms_per_request']} / "
                    f"{lt['rate']['cpu_ms_per_request']} ms a request")
        rounds.append(rnd)
    res = {"started": started, "layers": LAYERS, "rounds": rounds,
           "versions": {"libmicrohttpd": pkg("libmicrohttpd12"), "libevent": pkg("libevent-2.1-7"),
                        "h2o": pkg("libh2o-evloop0.13")},
           "placement": f"servers on CPU {SERVER_CPU} (2 threads each), the load generator on CPU {LOAD_CPU}"}
    out = ROOT / "bench/results" / f"http-layers-{started}.json"
    out.write_text(json.dumps(res, indent=1) + "\n")
    print(table(res))
    log(f"wrote {out}")


def pkg(name):
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", name], capture_output=True, text=True)
    return out.stdout or None


def table(res):
    rows = [f"| layer | RSS idle / peak / 5 s after (MB), {WAITING:,} waiting | KB a waiting client | sequential p50 / "
            "p99 (ms) | CPU a request, sequential / 2,000 a second (ms) | p99 at 2,000 a second (ms) |",
            "|---|---|---|---|---|---|"]
    for layer in res["layers"]:
        ok = [r["layers"][layer] for r in res["rounds"] if "error" not in r["layers"].get(layer, {"error": 1})]
        if not ok:
            rows.append(f"| {layer} | error | | | | |")
            continue

        def med(f):
            return statistics.median(f(x) for x in ok)
        w = lambda k: med(lambda x: x["waiting"][k]) / 1024  # noqa: E731
        rows.append(f"| {layer} | {w('idle_kb'):.1f} / {w('peak_kb'):.1f} / {w('after5_kb'):.1f} | "
                    f"{med(lambda x: x['waiting']['per_client_kb']):.2f} | "
                    f"{med(lambda x: x['seq']['p50_ms']):.3f} / {med(lambda x: x['seq']['p99_ms']):.3f} | "
                    f"{med(lambda x: x['seq']['cpu_ms_per_request']):.4f} / "
                    f"{med(lambda x: x['rate']['cpu_ms_per_request']):.4f} | "
                    f"{med(lambda x: x['rate']['p99_ms']):.3f} |")
    return "\n".join(rows) + f"\n\nMedians of {len(res['rounds'])} rounds."


if __name__ == "__main__":
    main()
