#!/usr/bin/env python3
"""Tracing's cost in one run (bench/trace_overhead.sh starts the two gateways): OFF has tracing off, ON exports
every request's spans to Jaeger.
  latency  N rounds over one keep-alive connection per gateway; each round one request to each, the order
           alternating, so both see the same moment of the machine. Exact p50/p90/p99 per gateway.
  cpu      blocks of requests from 8 client threads at a fixed rate (--rate; 0: as fast as they go), OFF, ON,
           ON, OFF, ...; the CPU time (each thread's schedstat, in ns) of the gateway's ingress, worker and
           ledger over each of its own blocks, less what the gateway burns idle (its polling threads, measured before the blocks, at the same rate over the
           block's wall time), per request; the median over the blocks. On a machine shared with other work,
           the block-to-block spread is printed too: read the overhead against it. Minor page faults and
           context switches per request, per process, are printed beside it (where CPU that is not the
           gateway's own work goes).
Then the ON gateway's export counters (exported, dropped, failures) and a check that its last request's trace
is in Jaeger. Prints one JSON object. Usage: trace_overhead.py --key K --off PORT,PID,PID,PID --on ... --jaeger URL"""
import argparse
import http.client
import json
import os
import statistics
import threading
import time
import urllib.request
import uuid

def cpu_one(pid):
    """CPU seconds of pid's live threads, to the nanosecond (each thread's schedstat: time on a CPU). Not
    /proc/<pid>/stat's utime + stime: those are whole 10 ms ticks, a few percent of a block's CPU per
    process. The gateways keep their threads for their lifetime, so a block sees the same threads at both
    ends (checked: block() refuses one whose thread set changed)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except FileNotFoundError:
            pass  # the thread ended between listdir and open
    return total / 1e9


def tasks(pid):
    return set(os.listdir(f"/proc/{pid}/task"))


def faults_switches(pid):
    """Minor page faults and context switches (voluntary + involuntary) of pid, all its threads so far."""
    with open(f"/proc/{pid}/stat") as f:
        minflt = int(f.read().rsplit(")", 1)[1].split()[7])
    cs = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                cs += int(line.split()[1])
    return minflt, cs


def cpu_s(pids):
    return sum(cpu_one(pid) for pid in pids)


class Gateway:
    def __init__(self, spec, key):
        port, *pids = spec.split(",")
        self.port, self.pids, self.key = int(port), [int(p) for p in pids], key
        self.lat = []
        self.blocks = []  # CPU ms per request of each block, idle CPU taken out
        self.idle_rate = 0.0  # CPU seconds per second while idle
        self.cpu_requests = 0
        self.role_cpu = [0.0, 0.0, 0.0]  # ingress, worker, ledger: CPU seconds over every block (idle included)
        self.rates = []  # requests per second of each block
        self.role_faults = [0, 0, 0]  # minor page faults over every block
        self.role_switches = [0, 0, 0]  # context switches over every block

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def send(self, conn, text, traceparent=None):
        headers = {"content-type": "application/json", "authorization": f"Bearer {self.key}"}
        if traceparent:
            headers["traceparent"] = traceparent
        body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]})
        t0 = time.perf_counter()
        conn.request("POST", "/v1/chat/completions", body, headers)
        resp = conn.getresponse()
        resp.read()
        ms = (time.perf_counter() - t0) * 1000.0
        if resp.status != 200:
            raise SystemExit(f"port {self.port}: HTTP {resp.status}")
        return ms

    def metric(self, name, labels=""):
        c = self.conn()
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
        want = f"{name}{{{labels}}} " if labels else f"{name} "
        return next((float(x.split()[-1]) for x in text.splitlines() if x.startswith(want)), None)


def pct(v, p):
    s = sorted(v)
    return round(s[max(0, -(-len(s) * p // 100) - 1)], 3)


JAEGER = {"pid": 0, "cpu": {}}  # Jaeger's CPU seconds during each gateway's blocks (it shares the machine)


def block(gw, n, rate, threads=8):
    """n requests from `threads` client threads; adds the gateway's CPU over the block. rate > 0: request i is
    sent at start + i / rate (at once when the clients are behind), so both gateways serve the same requests per
    second; 0: each client sends its next request as soon as its last is answered."""
    left = [n]
    lock = threading.Lock()
    start = time.monotonic()

    def worker():
        c = gw.conn()
        while True:
            with lock:
                if left[0] == 0:
                    return
                i = n - left[0]
                left[0] -= 1
            if rate:
                wait = start + i / rate - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            gw.send(c, "cpu " + uuid.uuid4().hex[:8])

    roles_before = [cpu_one(pid) for pid in gw.pids]
    fs_before = [faults_switches(pid) for pid in gw.pids]
    tasks_before = [tasks(pid) for pid in gw.pids]
    jaeger_before = cpu_one(JAEGER["pid"])
    before, t0 = cpu_s(gw.pids), time.monotonic()
    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.monotonic() - t0
    busy = cpu_s(gw.pids) - before - gw.idle_rate * wall
    gw.blocks.append(busy * 1000 / n)
    gw.rates.append(n / wall)
    gw.cpu_requests += n
    if [tasks(pid) for pid in gw.pids] != tasks_before:
        raise SystemExit(f"port {gw.port}: a gateway thread started or ended during a block: its CPU is not comparable")
    for i, pid in enumerate(gw.pids):
        gw.role_cpu[i] += cpu_one(pid) - roles_before[i]
        f, c = faults_switches(pid)
        gw.role_faults[i] += f - fs_before[i][0]
        gw.role_switches[i] += c - fs_before[i][1]
    JAEGER["cpu"][id(gw)] = JAEGER["cpu"].get(id(gw), 0.0) + cpu_one(JAEGER["pid"]) - jaeger_before


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--key", required=True)
    ap.add_argument("--off", required=True)
    ap.add_argument("--on", required=True)
    ap.add_argument("--jaeger", required=True)
    ap.add_argument("--jaeger-pid", type=int, required=True)
    ap.add_argument("--rounds", type=int, default=1000)
    ap.add_argument("--cpu-requests", type=int, default=6000)
    ap.add_argument("--rate", default="auto", help="requests per second in the CPU blocks; 0: closed loop; auto: "
                    "85%% of the slower gateway's closed-loop rate, measured first")
    a = ap.parse_args()
    off, on = Gateway(a.off, a.key), Gateway(a.on, a.key)
    JAEGER["pid"] = a.jaeger_pid
    conns = {id(off): off.conn(), id(on): on.conn()}
    for gw in (off, on):  # warm-up: connections, topics' leaders, first allocations
        for _ in range(100):
            gw.send(conns[id(gw)], "warm")
    for i in range(a.rounds):
        order = (off, on) if i % 2 == 0 else (on, off)
        for gw in order:
            gw.lat.append(gw.send(conns[id(gw)], f"lat {i}"))
    # Idle CPU of each gateway (both idle at once), to take out of the blocks.
    idle_s = 5.0
    before = {id(gw): cpu_s(gw.pids) for gw in (off, on)}
    time.sleep(idle_s)
    for gw in (off, on):
        gw.idle_rate = (cpu_s(gw.pids) - before[id(gw)]) / idle_s
    nblocks = 10
    per_block = max(1, a.cpu_requests // nblocks)
    if a.rate == "auto":
        # The highest rate both sustain, with room for the machine's other work: each gateway flat out for a
        # block (ABBA), then 85% of the slower one's median.
        probe = {id(off): [], id(on): []}
        for gw in (off, on, on, off):
            t = time.monotonic()
            block(gw, per_block // 2, 0)
            probe[id(gw)].append(per_block // 2 / (time.monotonic() - t))
        for gw in (off, on):  # the probe blocks are not the measurement
            gw.blocks, gw.rates, gw.cpu_requests = [], [], 0
            gw.role_cpu, gw.role_faults, gw.role_switches = [0.0, 0.0, 0.0], [0, 0, 0], [0, 0, 0]
        JAEGER["cpu"] = {}
        rate = round(0.85 * min(statistics.median(v) for v in probe.values()), 1)
        flat_out = {"off": round(statistics.median(probe[id(off)]), 1), "on": round(statistics.median(probe[id(on)]), 1)}
    else:
        rate, flat_out = float(a.rate), None
    a.rate = rate
    for _ in range(nblocks // 2):
        block(off, per_block, a.rate)
        block(on, per_block, a.rate)
        block(on, per_block, a.rate)  # ABBA: a drift over the run weighs on both alike
        block(off, per_block, a.rate)
    trace_id = uuid.uuid4().hex
    # A new connection: the latency one has been idle through the CPU blocks, past the ingress's 60 s timeout.
    on.send(on.conn(), "last", f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01")
    time.sleep(7)  # past the default 5 s schedule delay: the last batch is out
    try:
        with urllib.request.urlopen(f"{a.jaeger}/api/traces/{trace_id}", timeout=10) as r:
            spans = len(json.loads(r.read())["data"][0]["spans"])
    except Exception:
        spans = 0
    res = {"bench": "trace_overhead", "rounds": a.rounds, "cpu_requests_each": off.cpu_requests,
           "cpu_blocks_each": len(off.blocks), "cpu_rate_target_per_s": a.rate,
           "flat_out_requests_per_s": flat_out, "load_avg_1m": os.getloadavg()[0]}
    for name, gw in (("off", off), ("on", on)):
        res[name] = {"p50_ms": pct(gw.lat, 50), "p90_ms": pct(gw.lat, 90), "p99_ms": pct(gw.lat, 99),
                     "mean_ms": round(statistics.mean(gw.lat), 3),
                     "cpu_ms_per_request": round(statistics.median(gw.blocks), 4),
                     "cpu_ms_per_request_blocks": [round(x, 3) for x in gw.blocks],
                     "idle_cpu_pct": round(gw.idle_rate * 100, 2),
                     "requests_per_s_median": round(statistics.median(gw.rates), 1),
                     "cpu_ms_per_request_by_role": {r: round(c * 1000 / gw.cpu_requests, 4)
                                                    for r, c in zip(("ingress", "worker", "ledger"), gw.role_cpu)},
                     "minor_faults_per_request_by_role": {r: round(c / gw.cpu_requests, 3) for r, c in
                                                          zip(("ingress", "worker", "ledger"), gw.role_faults)},
                     "context_switches_per_request_by_role": {r: round(c / gw.cpu_requests, 3) for r, c in
                                                              zip(("ingress", "worker", "ledger"), gw.role_switches)}}
    # Jaeger runs on the same two cores: what it spent ingesting the on gateway's spans competes with it.
    res["jaeger_cpu_ms_per_request"] = {name: round(JAEGER["cpu"].get(id(gw), 0.0) * 1000 / gw.cpu_requests, 4)
                                        for name, gw in (("off_blocks", off), ("on_blocks", on))}
    res["cpu_overhead_pct"] = round((res["on"]["cpu_ms_per_request"] / res["off"]["cpu_ms_per_request"] - 1) * 100, 2)
    res["p50_delta_ms"] = round(res["on"]["p50_ms"] - res["off"]["p50_ms"], 3)
    # CPU per request depends on the rate (batching): the comparison holds only when both served the same.
    r_off, r_on = res["off"]["requests_per_s_median"], res["on"]["requests_per_s_median"]
    res["rates_differ"] = abs(r_on / r_off - 1) > 0.03
    res["on_ingress_export"] = {"exported": on.metric("llmgw_otel_spans_exported_total"),
                                "dropped_queue_full": on.metric("llmgw_otel_spans_dropped_total", 'reason="queue_full"'),
                                "dropped_export_failed": on.metric("llmgw_otel_spans_dropped_total",
                                                                   'reason="export_failed"'),
                                "failures": on.metric("llmgw_otel_export_failures_total")}
    res["last_trace_spans_in_jaeger"] = spans
    print(json.dumps(res))


if __name__ == "__main__":
    main()
