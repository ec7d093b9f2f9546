#!/usr/bin/env python3
"""Batches in one run (bench/batch.sh starts the broker, PostgreSQL, the fake and the gateway's processes):
  warm-up     interactive requests and a small echo batch, thrown away (JIT, topics, consumer groups, tables)
  throughput  `llmgw batch submit` of N echo lines, then of M lines to the 20 ms fake: the submit's wall time,
              the time until the batch role says `completed`, lines per second, and when the worker had
              answered every line (its llmgw_batch_lines_total) against when the role had recorded them (its
              llmgw_batch_results_total), so the worker's and the role's shares of the time are apart; the CPU
              of each process over the phase
  latency     interactive requests to the 20 ms fake through the ingress, sequential (one keep-alive
              connection) then from C client threads: exact p50/p90/p99, first with no batch, then while a
              large batch to the same fake is being worked (the batch's in-flight lines sampled from the
              worker's llmgw_batch_in_flight), then again with no batch once it is cancelled
Prints one JSON object. Not a test: nothing asserts a timing."""
import argparse
import http.client
import json
import os
import resource
import sys
import subprocess
import threading
import time

TICK = os.sysconf("SC_CLK_TCK")
FAKE_MODEL = "gpt-4o-mini"  # routed to the OpenAI provider, whose base URL is the 20 ms bench_fakeprov


def cpu_one(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
    except OSError:
        return 0.0


def children(pid):
    """PostgreSQL's backends: the processes whose parent is the postmaster (their CPU is not the postmaster's)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d))
        except OSError:
            pass
    return out


class Cpu:
    """CPU seconds of each named process (PostgreSQL: the postmaster and every backend) over a phase. A backend
    that exits during the phase takes its CPU with it; the gateway keeps its connections, so none should."""

    def __init__(self, pids, pg_pid):
        self.pids, self.pg_pid = pids, pg_pid

    def snap(self):
        s = {name: cpu_one(pid) for name, pid in self.pids.items()}
        s["postgres"] = cpu_one(self.pg_pid) + sum(cpu_one(p) for p in children(self.pg_pid))
        s["cli"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime + \
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_stime
        return s

    @staticmethod
    def diff(a, b):
        return {k: round(b[k] - a[k], 2) for k in a}


def metric(port, name, labels=""):
    """The sum of a metric's samples whose labels contain `labels` (0 when absent)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    c.close()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if labels in line:
                total += float(line.split()[-1])
    return total


def pct(v, p):
    s = sorted(v)
    return round(s[max(0, -(-len(s) * p // 100) - 1)], 3)


class Gateway:
    def __init__(self, a):
        self.a = a
        self.port = a.port

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def chat(self, conn, model, text):
        body = json.dumps({"model": model, "messages": [{"role": "user", "content": text}]})
        headers = {"content-type": "application/json", "authorization": f"Bearer {self.a.key}"}
        t0 = time.perf_counter()
        conn.request("POST", "/v1/chat/completions", body, headers)
        resp = conn.getresponse()
        resp.read()
        return (time.perf_counter() - t0) * 1000.0, resp.status

    def batch(self, batch_id):
        c = self.conn()
        c.request("GET", f"/v1/batches/{batch_id}", headers={"authorization": f"Bearer {self.a.key}"})
        resp = c.getresponse()
        obj = json.loads(resp.read())
        c.close()
        return obj

    def cancel(self, batch_id):
        c = self.conn()
        c.request("POST", f"/v1/batches/{batch_id}/cancel", headers={"authorization": f"Bearer {self.a.key}"})
        resp = c.getresponse()
        resp.read()
        c.close()
        return resp.status


def write_input(path, n, model, tag):
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"custom_id": f"{tag}-{i}", "method": "POST", "url": "/v1/chat/completions",
                                "body": {"model": model, "messages": [{"role": "user", "content": f"{tag} line {i}"}]}})
                    + "\n")


def submit(a, path):
    t0 = time.monotonic()
    res = subprocess.run([a.llmgw, "batch", "submit", path, "--tenant", a.tenant], capture_output=True, text=True,
                         timeout=900)
    if res.returncode != 0:
        raise SystemExit(f"batch submit failed ({res.returncode}): {res.stderr[-2000:]}")
    return res.stdout.strip(), t0, time.monotonic()


def throughput(a, gw, cpu, name, n, model):
    """One batch from submit to `completed`; progress sampled every 100 ms."""
    path = os.path.join(a.work, f"{name}.jsonl")
    write_input(path, n, model, name)
    worker_ok0 = metric(a.worker_ops, "llmgw_batch_lines_total", 'outcome="ok"')
    kept0 = metric(a.batch_ops, "llmgw_batch_results_total", 'result="kept"')
    c0 = cpu.snap()
    batch_id, t0, t_sub = submit(a, path)
    t_worker = t_role = None
    timeline = []  # (s since submit start, completed per the role's table)
    deadline = time.monotonic() + a.max_wait_s
    status = None
    while time.monotonic() < deadline:
        now = time.monotonic()
        obj = gw.batch(batch_id)
        status = obj.get("status")
        done = obj.get("request_counts", {}).get("completed", 0) + obj.get("request_counts", {}).get("failed", 0)
        timeline.append((round(now - t0, 2), done))
        if t_worker is None and metric(a.worker_ops, "llmgw_batch_lines_total", 'outcome="ok"') - worker_ok0 >= n:
            t_worker = now
        if t_role is None and metric(a.batch_ops, "llmgw_batch_results_total", 'result="kept"') - kept0 >= n:
            t_role = now
        if status in ("completed", "failed", "expired", "cancelled"):
            break
        time.sleep(0.1)
    t_end = time.monotonic()
    c1 = cpu.snap()
    obj = gw.batch(batch_id)
    counts = obj.get("request_counts", {})
    total_s = t_end - t0
    # Steady rate: the role's completed count from 10% to 90% of the lines, without the start and the tail.
    lo = next((t for t, d in timeline if d >= n * 0.1), None)
    hi = next((t for t, d in timeline if d >= n * 0.9), None)
    first = next((t for t, d in timeline if d > 0), None)
    return {"lines": n, "model": model, "batch_id": batch_id, "status": status, "request_counts": counts,
            "submit_s": round(t_sub - t0, 3), "submit_lines_per_s": round(n / (t_sub - t0), 1),
            "completed_s": round(total_s, 3), "lines_per_s": round(n / total_s, 1),
            "first_result_s": first,
            "steady_lines_per_s_10_90": round(n * 0.8 / (hi - lo), 1) if lo is not None and hi and hi > lo else None,
            "worker_answered_all_s": round(t_worker - t0, 3) if t_worker else None,
            "role_recorded_all_s": round(t_role - t0, 3) if t_role else None,
            "cpu_s": Cpu.diff(c0, c1), "load_avg_1m": round(os.getloadavg()[0], 2),
            "timeline": timeline[:: max(1, len(timeline) // 60)]}


def seq(gw, n, model, tag):
    c = gw.conn()
    lat, errors = [], 0
    for i in range(n):
        ms, st = gw.chat(c, model, f"{tag} {i}")
        lat.append(ms)
        errors += st != 200
    c.close()
    return lat, errors


def conc(gw, n, threads, model, tag):
    left, lat, errors = [n], [], [0]
    lock = threading.Lock()

    def run():
        c = gw.conn()
        while True:
            with lock:
                if left[0] == 0:
                    break
                left[0] -= 1
                i = left[0]
            ms, st = gw.chat(c, model, f"{tag} {i}")
            with lock:
                lat.append(ms)
                errors[0] += st != 200
        c.close()

    t0 = time.monotonic()
    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return lat, errors[0], time.monotonic() - t0


def summary(lat, errors, wall=None):
    r = {"n": len(lat), "errors": errors, "p50_ms": pct(lat, 50), "p90_ms": pct(lat, 90), "p99_ms": pct(lat, 99),
         "max_ms": round(max(lat), 3)}
    if wall:
        r["req_per_s"] = round(len(lat) / wall, 1)
    return r


def latency(a, gw, tag, batch=False):
    """Sequential, then concurrent. With batch: what the worker did for the batch during each of the two (its
    llmgw_batch_in_flight sampled, and the lines it answered: the role's counts lag behind the worker's)."""
    res = {}
    for name in ("sequential", f"concurrency_{a.conc}"):
        sampler = InFlight(a.worker_ops) if batch else None
        answered0 = metric(a.worker_ops, "llmgw_batch_lines_total") if batch else 0
        t0 = time.monotonic()
        if name == "sequential":
            lat, err = seq(gw, a.seq, FAKE_MODEL, tag + "-seq")
            res[name] = summary(lat, err)
        else:
            lat, err, wall = conc(gw, a.conc_requests, a.conc, FAKE_MODEL, tag + "-conc")
            res[name] = summary(lat, err, wall)
        if batch:
            wall = time.monotonic() - t0
            answered = metric(a.worker_ops, "llmgw_batch_lines_total") - answered0
            res[name]["worker_batch_in_flight"] = sampler.close()
            res[name]["worker_batch_lines_answered"] = int(answered)
            res[name]["worker_batch_lines_per_s"] = round(answered / wall, 1)
    res["load_avg_1m"] = round(os.getloadavg()[0], 2)
    return res


class InFlight:
    """Samples the worker's llmgw_batch_in_flight every 100 ms on a thread."""

    def __init__(self, port):
        self.port, self.samples, self.stop = port, [], threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop.is_set():
            self.samples.append(metric(self.port, "llmgw_batch_in_flight"))
            time.sleep(0.1)

    def close(self):
        self.stop.set()
        self.t.join()
        s = sorted(self.samples) or [0]
        return {"samples": len(self.samples), "median": s[len(s) // 2], "max": s[-1], "min": s[0]}


def main():
    ap = argparse.ArgumentParser()
    for name in ("key", "llmgw", "work", "tenant"):
        ap.add_argument("--" + name, required=True)
    for name in ("port", "worker-ops", "batch-ops", "pg-pid"):
        ap.add_argument("--" + name, type=int, required=True)
    ap.add_argument("--pids", required=True, help="name=pid,... of the processes whose CPU is reported")
    ap.add_argument("--echo-lines", type=int, default=20000)
    ap.add_argument("--fake-lines", type=int, default=5000)
    ap.add_argument("--backlog-lines", type=int, default=100000)
    ap.add_argument("--seq", type=int, default=500)
    ap.add_argument("--conc", type=int, default=8)
    ap.add_argument("--conc-requests", type=int, default=2000)
    ap.add_argument("--max-wait-s", type=float, default=900)
    ap.add_argument("--config", default="{}", help="the gateway's configuration, as JSON, copied to the result")
    a = ap.parse_args()
    gw = Gateway(a)
    cpu = Cpu({k: int(v) for k, v in (p.split("=") for p in a.pids.split(","))}, a.pg_pid)
    res = {"bench": "batch", "config": json.loads(a.config), "load_avg_start": list(os.getloadavg())}

    # Warm-up (thrown away): the broker's JIT and the gateway's first allocations, the batch topics, the
    # consumer groups' assignment, the role's tables and prepared statements.
    t0 = time.monotonic()
    c = gw.conn()
    for i in range(300):
        gw.chat(c, "echo", f"warm {i}")
        gw.chat(c, FAKE_MODEL, f"warm {i}")
    c.close()
    warm = throughput(a, gw, cpu, "warm", 2000, "echo")
    res["warmup"] = {"s": round(time.monotonic() - t0, 1), "interactive_requests": 600, "batch_lines": 2000,
                     "batch_status": warm["status"], "batch_lines_per_s": warm["lines_per_s"]}
    print(f"batch bench: warm-up done in {res['warmup']['s']} s", file=sys.stderr, flush=True)

    res["throughput_echo"] = throughput(a, gw, cpu, "echo", a.echo_lines, "echo")
    print(f"batch bench: echo {json.dumps({k: v for k, v in res['throughput_echo'].items() if k != 'timeline'})}",
          file=sys.stderr, flush=True)
    res["throughput_fake20"] = throughput(a, gw, cpu, "fake20", a.fake_lines, FAKE_MODEL)
    print(f"batch bench: fake20 {json.dumps({k: v for k, v in res['throughput_fake20'].items() if k != 'timeline'})}",
          file=sys.stderr, flush=True)

    res["latency_no_batch"] = latency(a, gw, "before")
    print(f"batch bench: no batch {json.dumps(res['latency_no_batch'])}", file=sys.stderr, flush=True)

    # The backlog: submitted whole first (the submitter's own CPU is not in the measurement), then the
    # interactive requests run while the workers work it.
    path = os.path.join(a.work, "backlog.jsonl")
    write_input(path, a.backlog_lines, FAKE_MODEL, "backlog")
    batch_id, t0, t_sub = submit(a, path)
    before = gw.batch(batch_id).get("request_counts", {})
    answered0 = metric(a.worker_ops, "llmgw_batch_lines_total")
    t_lat = time.monotonic()
    lat = latency(a, gw, "during", batch=True)
    lat_wall = time.monotonic() - t_lat
    worker_left = a.backlog_lines - (metric(a.worker_ops, "llmgw_batch_lines_total") - answered0) - \
        (before.get("completed", 0) + before.get("failed", 0))
    after = gw.batch(batch_id)
    done_during = (after["request_counts"]["completed"] + after["request_counts"]["failed"]) - \
        (before.get("completed", 0) + before.get("failed", 0))
    lat["batch"] = {"lines": a.backlog_lines, "batch_id": batch_id, "submit_s": round(t_sub - t0, 3),
                    "done_at_start": before.get("completed", 0) + before.get("failed", 0),
                    "role_recorded_during_measurement": done_during,
                    "role_lines_per_s_during": round(done_during / lat_wall, 1),
                    "status_at_end": after["status"],
                    "role_backlog_left_at_end": a.backlog_lines - after["request_counts"]["completed"]
                    - after["request_counts"]["failed"],
                    "worker_backlog_left_at_end_approx": int(worker_left)}
    res["latency_with_batch"] = lat
    print(f"batch bench: with batch {json.dumps(lat)}", file=sys.stderr, flush=True)

    # Cancel what is left, wait for the role to finish the batch, then the no-batch figures once more (drift).
    t0 = time.monotonic()
    cancel_status = gw.cancel(batch_id)
    final = None
    while time.monotonic() - t0 < a.max_wait_s:
        final = gw.batch(batch_id)
        if final["status"] in ("cancelled", "completed"):
            break
        time.sleep(0.2)
    res["backlog_cancel"] = {"http_status": cancel_status, "final_status": final["status"],
                             "request_counts": final["request_counts"], "s": round(time.monotonic() - t0, 2)}
    while metric(a.worker_ops, "llmgw_batch_in_flight") > 0 and time.monotonic() - t0 < a.max_wait_s:
        time.sleep(0.2)
    res["latency_after_batch"] = latency(a, gw, "after")
    print(f"batch bench: after {json.dumps(res['latency_after_batch'])}", file=sys.stderr, flush=True)
    res["load_avg_end"] = list(os.getloadavg())
    print(json.dumps(res))


if __name__ == "__main__":
    main()
