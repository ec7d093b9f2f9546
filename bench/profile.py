#!/usr/bin/env python3
"""Where llmgw's added latency goes at concurrency 1: CPU time per request of each process on the request
path (ingress, worker, ledger, the Kafka broker), librdkafka's own latency statistics per connection, and a
perf profile of the ingress and the worker. Run through bench/profile.sh (same set-up as bench/peers.sh).

Why CPU per request: at concurrency 1 with everything under test on one core, a request's latency is at
least the CPU every process spends on it, one after another, plus the waits between them. Writes
bench/results/profile-<date>.json and prints a summary."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers  # noqa: E402  (the same fake, targets and CPU placement)

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    """User + system CPU seconds of a process, all its threads."""
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK


def main():
    n = int(os.environ.get("LLMGW_PROFILE_REQUESTS", "3000"))
    peers.LLMGW_EXTRA.update({"LLMGW_KAFKA_STATISTICS_MS": "5000", "LLMGW_LOG_LEVEL": "info"})
    fake = peers.Fake(latency=0)
    direct = peers.Direct(fake)
    peers.loadgen(direct, "--rate", 0, "--concurrency", 1, "--requests", 200)
    base = peers.loadgen(direct, "--rate", 0, "--concurrency", 1, "--requests", n)
    t = peers.Llmgw(fake)
    result = {"requests": n, "direct": base}
    try:
        peers.loadgen(t, "--rate", 0, "--concurrency", 1, "--requests", 300)
        pids = dict(t.pids)
        before = {k: cpu_s(p) for k, p in pids.items()}
        perf_out = peers.WORK / "perf.data"
        perf = None
        if subprocess.run(["which", "perf"], capture_output=True).returncode == 0:
            perf = subprocess.Popen(["perf", "record", "-q", "-F", "2999", "-g", "-o", str(perf_out), "-p",
                                     f"{pids['ingress']},{pids['worker']}"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        run = peers.loadgen(t, "--rate", 0, "--concurrency", 1, "--requests", n)
        if perf:
            perf.send_signal(2)
            perf.wait(30)
        after = {k: cpu_s(p) for k, p in pids.items()}
        result["llmgw"] = run
        result["cpu_ms_per_request"] = {k: round((after[k] - before[k]) * 1000 / n, 3) for k in pids}
        time.sleep(6)  # one more statistics interval
        stats = []
        for name in ("llmgw-ingress", "llmgw-worker", "llmgw-ledger"):
            lines = [l for l in (peers.WORK / f"{name}.log").read_text().splitlines() if "kafka-stats" in l]
            stats += lines[-6:]
        result["kafka_stats"] = [json.loads(l)["msg"] for l in stats]
        if perf and perf_out.exists():
            rep = subprocess.run(["perf", "report", "-i", str(perf_out), "--stdio", "--no-children", "--percent-limit",
                                  "1.5", "--sort", "comm,dso,sym", "-g", "none"], capture_output=True, text=True)
            result["perf_top"] = [l for l in rep.stdout.splitlines() if l.strip() and not l.startswith("#")][:40]
    finally:
        t.close()
        fake.close()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = peers.ROOT / "bench" / "results" / f"profile-{stamp}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    d, l = result["direct"]["latency_ms"], result["llmgw"]["latency_ms"]
    print(f"sequential, {n} requests: direct p50 {d['p50']:.2f} / p99 {d['p99']:.2f} ms; through llmgw p50 "
          f"{l['p50']:.2f} / p99 {l['p99']:.2f} ms; added p50 {l['p50'] - d['p50']:.2f} / p99 {l['p99'] - d['p99']:.2f}")
    total = sum(result["cpu_ms_per_request"].values())
    print("CPU per request (ms): " + ", ".join(f"{k} {v:.3f}" for k, v in result["cpu_ms_per_request"].items())
          + f"; total {total:.3f}")
    print("\n".join(result.get("kafka_stats", [])))
    print("\n".join(result.get("perf_top", [])))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
