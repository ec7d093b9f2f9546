#!/usr/bin/env python3
"""The Kafka broker on a small machine: what each JVM or broker setting changes in the Kafka floor and in the
broker's own cost, measured. For each setting: a fresh single-node broker (scripts/kafka.sh with
KAFKA_JAVA_OPTS_EXTRA / KAFKA_PROPS_EXTRA), all its threads on CPU 0 with the ping-pong (as in
bench/peers.sh); rounds of 2,000 ping-pong round trips until it is warm (its JIT threads under 10% of its CPU over two
rounds together, at most 40 rounds, as bench/peers.py warms it); then 3,000 measured round
trips. Reported: the cold first round, the rounds to warm, the warm floor (p50, p99, p99.9), the broker's CPU per
round trip, its JIT CPU in all, its RSS and its thread count.

Run through bench/broker_settings.sh. Writes bench/results/broker-settings-<date>.json and prints a table.
Not a test: nothing here asserts a timing."""
import json
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from harness import log  # noqa: E402 - bench/ is on sys.path (run as a script)

from procstat import BROKER_WARM_ROUNDS, cpu_s, jit_cpu_s, warm_broker_rounds

ROOT = Path(__file__).resolve().parents[1]
PINGPONG = ROOT / "build" / "bench_kafka_pingpong"
CPU = "0"
QUICK = os.environ.get("LLMGW_BENCH_QUICK") == "1"

# (name, JVM options appended, broker settings appended). The first is scripts/kafka.sh as it is.
SETTINGS = [
    ("default: Shenandoah GC, heap 256 MB-1.5 GB, 2 network + 2 I/O threads", "", ""),
    ("G1, pause goal 20 ms (the default until 2026-12-05)",
     "-XX:-UseShenandoahGC -XX:+UseG1GC -XX:MaxGCPauseMillis=20", ""),
    ("Shenandoah GC, heap 256-768 MB", "-Xmx768m", ""),
    ("Serial GC", "-XX:-UseShenandoahGC -XX:+UseSerialGC", ""),
    ("Parallel GC", "-XX:-UseShenandoahGC -XX:+UseParallelGC", ""),
    ("ZGC", "-XX:-UseShenandoahGC -XX:+UseZGC", ""),
    ("C1 only (TieredStopAtLevel=1)", "-XX:TieredStopAtLevel=1", ""),
    ("ActiveProcessorCount=1", "-XX:ActiveProcessorCount=1", ""),
    ("1 network + 1 I/O thread", "", "num.network.threads=1,num.io.threads=1"),
    ("heap 128-256 MB", "-Xms128m -Xmx256m", ""),
]


def free_port_pair():
    while True:
        with socket.socket() as a, socket.socket() as b:
            a.bind(("127.0.0.1", 0))
            p = a.getsockname()[1]
            try:
                b.bind(("127.0.0.1", p + 1))
                return p
            except OSError:
                continue


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def pingpong(brokers, n):
    out = subprocess.run(["taskset", "-c", CPU, str(PINGPONG), "--brokers", brokers, "--count", str(n), "--warmup",
                          "0"], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-1000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def one(name, jvm, props):
    work = Path(tempfile.mkdtemp(prefix="broker-setting-"))
    port = free_port_pair()
    env = {**os.environ, "KAFKA_JAVA_OPTS_EXTRA": jvm, "KAFKA_PROPS_EXTRA": props}
    subprocess.run(["bash", str(ROOT / "scripts/kafka.sh"), "start", str(work / "k"), str(port)], env=env,
                   check=True, stdout=subprocess.DEVNULL)
    pid = int((work / "k" / "kafka.pid").read_text())
    subprocess.run(["taskset", "-a", "-cp", CPU, str(pid)], check=True, stdout=subprocess.DEVNULL)
    brokers = f"127.0.0.1:{port}"
    try:
        rounds, settled = warm_broker_rounds(pid, lambda: pingpong(brokers, 2000), log,
                                             4 if QUICK else BROKER_WARM_ROUNDS)
        c0 = cpu_s(pid)
        r = pingpong(brokers, 1000 if QUICK else 3000)
        warm = {"p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"], "p999_ms": r.get("p999_ms"),
                "broker_cpu_ms_per_round_trip": round((cpu_s(pid) - c0) * 1e3 / r["count"], 4)}
        res = {"name": name, "jvm": jvm, "props": props, "cold": rounds[0], "rounds_to_warm": len(rounds),
               "settled": settled, "warm": warm, "jit_cpu_ms_total": round(jit_cpu_s(pid) * 1e3),
               "rss_mb": round(rss_kb(pid) / 1024, 1), "threads": threads(pid)}
        log(f"{name}: cold p99 {rounds[0]['p99_ms']:.2f} ms; warm after {len(rounds)} round(s): p50 "
            f"{warm['p50_ms']:.3f} p99 {warm['p99_ms']:.3f} ms, CPU {warm['broker_cpu_ms_per_round_trip']:.3f} "
            f"ms per round trip, RSS {res['rss_mb']} MB, {res['threads']} threads")
        return res
    finally:
        subprocess.run(["bash", str(ROOT / "scripts/kafka.sh"), "stop", str(work / "k")],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["rm", "-rf", str(work)])


def main():
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    only = os.environ.get("LLMGW_BENCH_BROKER_SETTINGS")  # comma-separated indexes into SETTINGS
    chosen = [SETTINGS[int(i)] for i in only.split(",")] if only else SETTINGS
    results = []
    for name, jvm, props in chosen:
        try:
            results.append(one(name, jvm, props))
        except (RuntimeError, subprocess.CalledProcessError) as e:
            log(f"{name}: failed: {e}")
            results.append({"name": name, "jvm": jvm, "props": props, "error": str(e)})
    out = ROOT / "bench" / "results" / f"broker-settings-{started.replace('-', '').replace(':', '')}.json"
    out.write_text(json.dumps({"date": started, "cpu": CPU, "results": results}, indent=1) + "\n")
    print("| setting | cold p99 (ms) | rounds to warm | warm p50 (ms) | warm p99 (ms) | broker CPU per round trip "
          "(ms) | JIT CPU in all (s) | RSS (MB) | threads |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if "error" in r:
            print(f"| {r['name']} | failed: {r['error'][:80]} | | | | | | | |")
            continue
        w = r["warm"]
        print(f"| {r['name']} | {r['cold']['p99_ms']:.2f} | {r['rounds_to_warm']}{'' if r['settled'] else ' (not settled)'}"
              f" | {w['p50_ms']:.3f} | {w['p99_ms']:.3f} | {w['broker_cpu_ms_per_round_trip']:.3f} | "
              f"{r['jit_cpu_ms_total'] / 1e3:.2f} | {r['rss_mb']} | {r['threads']} |")
    log(f"written to {out}")


if __name__ == "__main__":
    main()
