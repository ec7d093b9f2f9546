#!/usr/bin/env python3
"""What each part of llmgw's Kafka traffic costs the broker, measured on one warm broker: the Kafka floor's
ping-pong (bench/kafka_pingpong.c) with llmgw's traffic added one part at a time, cumulatively:
  1. the floor: 200-byte messages, one partition, consumers assigned (no group);
  2. llmgw's messages: about 1 KB, keyed by a 36-byte id, a traceparent header;
  3. the job topic in 4 partitions, written round robin (llmgw's default topic_partitions);
  4. three idle job topics of 4 partitions on the worker's consumer (embeddings, batch chat, batch embeddings):
     16 partitions in every fetch of the worker;
  5. the worker's consumer in a group, committing every 200 ms;
  6. a cost event per round trip through a second producer lingering 10 ms, read by a "ledger" consumer in a
     group whose fetch is held up to 50 ms for 1 MiB (llmgw's ledger).
Step 6 has every Kafka request llmgw's path makes except its idle follow-only consumers (ingress key, admin and
cancel topics), which bench/profile.py counts apart. Two more steps run steps 1 and 6 at llmgw's pace: the
worker waits 1.2 ms (off the CPU) before it answers, as llmgw's round trip at concurrency 1 is about 1.2 ms
longer than the floor's, so the broker sees a request as often as it does under llmgw.

One broker (scripts/kafka.sh), all its threads on CPU 0 with the ping-pong, as in bench/peers.sh. Warmed first
with the plain floor until its JIT threads use under 10% of its CPU over two rounds together (at most 40 rounds
of 2,000, procstat.BROKER_WARM_ROUNDS), then LLMGW_SHAPE_ROUNDS rounds (default 4) that each run every step once,
in turn, 2,000 measured round trips each (LLMGW_SHAPE_COUNT). A step's first round also compiles its new paths,
so the figures are the medians of rounds 2 onward. The broker's CPU is read by the ping-pong itself over its
measured round trips only.

Run through bench/broker_shape.sh. Writes bench/results/broker-shape-<date>.json and prints a table.
Not a test: nothing here asserts a timing."""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from broker_settings import free_port_pair, rss_kb
from procstat import cpu_s, jit_mark, jit_since, warm_broker_rounds

ROOT = Path(__file__).resolve().parents[1]
PINGPONG = ROOT / "build" / "bench_kafka_pingpong"
CPU = "0"
ROUNDS = int(os.environ.get("LLMGW_SHAPE_ROUNDS", "4"))
COUNT = int(os.environ.get("LLMGW_SHAPE_COUNT", "2000"))

MSG = ["--headers", "1", "--size", "1024"]
STEPS = [
    ("1. the floor: 200 B, 1 partition, assigned", []),
    ("2. + llmgw's messages: 1 KB, keyed, traceparent", MSG),
    ("3. + the job topic in 4 partitions", MSG + ["--partitions", "4"]),
    ("4. + 3 idle job topics: 16 partitions per worker fetch", MSG + ["--partitions", "4", "--idle-topics", "3"]),
    ("5. + the worker in a group, commits every 200 ms", MSG + ["--partitions", "4", "--idle-topics", "3",
                                                                "--group", "1"]),
    ("6. + a cost event per round trip and the ledger's consumer", MSG + ["--partitions", "4", "--idle-topics", "3",
                                                                          "--group", "1", "--cost", "1"]),
    ("7. step 1 at llmgw's pace (1.2 ms per job)", ["--work-us", "1200"]),
    ("8. step 6 at llmgw's pace (1.2 ms per job)", MSG + ["--partitions", "4", "--idle-topics", "3", "--group", "1",
                                                           "--cost", "1", "--work-us", "1200"]),
]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def pingpong(brokers, pid, n, args):
    out = subprocess.run(["taskset", "-c", CPU, str(PINGPONG), "--brokers", brokers, "--count", str(n),
                          "--cpu-of", str(pid)] + args, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-1000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def start_warm(work):
    """Starts a broker in work, pinned to CPU, and warms it with the plain floor until its JIT threads use under
    10% of its CPU over two rounds together (at most BROKER_WARM_ROUNDS of 2,000). Returns (pid, brokers, warm-up
    rounds); stop_broker(work) stops it."""
    port = free_port_pair()
    subprocess.run(["bash", str(ROOT / "scripts/kafka.sh"), "start", str(work / "k"), str(port)], check=True,
                   stdout=subprocess.DEVNULL)
    pid = int((work / "k" / "kafka.pid").read_text())
    subprocess.run(["taskset", "-a", "-cp", CPU, str(pid)], check=True, stdout=subprocess.DEVNULL)
    brokers = f"127.0.0.1:{port}"
    warm, _ = warm_broker_rounds(pid, lambda: pingpong(brokers, pid, 2000, []), log)
    return pid, brokers, warm


def stop_broker(work):
    subprocess.run(["bash", str(ROOT / "scripts/kafka.sh"), "stop", str(work / "k")],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["rm", "-rf", str(work)])


def brief(r):
    """What a log line shows of one ping-pong run: a round trip's figures, or with --chunks a stream's."""
    if "p50_ms" in r:
        return (f"p50 {r['p50_ms']:.3f} p99 {r['p99_ms']:.3f} ms, broker {r['broker_cpu_ms_per_round_trip']:.3f}, "
                f"clients {r['clients_cpu_ms_per_round_trip']:.3f} ms per round trip")
    return (f"added gap p50 {r['added_gap_p50_ms']:.3f} p99 {r['added_gap_p99_ms']:.3f} ms, first chunk p50 "
            f"{r['first_chunk_p50_ms']:.3f} ms, broker {r['broker_cpu_ms_per_chunk']:.3f}, clients "
            f"{r['clients_cpu_ms_per_chunk']:.3f} ms per chunk")


def run_rounds(brokers, pid, steps, rounds, count):
    """Runs every step once per round, in turn. Returns (runs by step name, summary): a step's first round also
    compiles its new paths, so the summary is the median of rounds 2 onward, of every figure the runs print. A
    step's own --count, in its arguments, overrides count."""
    runs = {name: [] for name, _ in steps}
    for rnd in range(rounds):
        for name, args in steps:
            mark = jit_mark(pid)
            r = pingpong(brokers, pid, count, args)
            r["jit_share"] = jit_since(pid, mark)[2]
            r["round"] = rnd + 1
            runs[name].append(r)
            log(f"round {rnd + 1} {name}: {brief(r)}, JIT share {r['jit_share']}")
    summary = []
    for name, args in steps:
        later = runs[name][1:] or runs[name]
        figures = [k for k, v in later[0].items() if isinstance(v, float) and k != "jit_share"]
        broker = "broker_cpu_ms_per_round_trip" if "p50_ms" in later[0] else "broker_cpu_ms_per_chunk"
        summary.append({"step": name, "args": args,
                        **{k: round(statistics.median(x[k] for x in later), 4) for k in figures},
                        "broker_cpu_each_round": [x[broker] for x in runs[name]]})
    return runs, summary


def write_result(kind, res):
    out = ROOT / "bench" / "results" / f"{kind}-{res['date'].replace('-', '').replace(':', '')}.json"
    out.write_text(json.dumps(res, indent=1) + "\n")
    log(f"written to {out}")


def main():
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    work = Path(tempfile.mkdtemp(prefix="broker-shape-"))
    try:
        pid, brokers, warm = start_warm(work)
        # The broker's own CPU with no client at all: what any run pays per second, whatever its pace.
        c0 = cpu_s(pid)
        time.sleep(10)
        idle_ms_per_s = round((cpu_s(pid) - c0) * 100, 1)
        log(f"idle broker: {idle_ms_per_s} ms of CPU per second")
        runs, summary = run_rounds(brokers, pid, STEPS, ROUNDS, COUNT)
        res = {"date": started, "cpu": CPU, "rounds": ROUNDS, "count": COUNT, "warm_up": warm, "runs": runs,
               "summary": summary, "broker_idle_cpu_ms_per_s": idle_ms_per_s,
               "broker_rss_mb": round(rss_kb(pid) / 1024, 1)}
        write_result("broker-shape", res)
        print(f"| step (cumulative) | p50 (ms) | p99 (ms) | broker CPU per round trip (ms) | change | clients' CPU "
              f"per round trip (ms) | broker CPU, each round (ms) |")
        print("|---|---|---|---|---|---|---|")
        for i, s in enumerate(summary):
            b = s["broker_cpu_ms_per_round_trip"]
            # Steps 2-6 add to the step before; 7 and 8 are steps 1 and 6 again, slower.
            base = summary[i - 1] if 0 < i < 6 else summary[0] if i == 6 else summary[5] if i == 7 else None
            change = "" if base is None else f"{b - base['broker_cpu_ms_per_round_trip']:+.3f}"
            print(f"| {s['step']} | {s['p50_ms']:.3f} | {s['p99_ms']:.3f} | {b:.3f} | {change} | "
                  f"{s['clients_cpu_ms_per_round_trip']:.3f} | "
                  f"{', '.join(f'{x:.3f}' for x in s['broker_cpu_each_round'])} |")
        print(f"\nThe idle broker (no client): {idle_ms_per_s} ms of CPU per second.")
    finally:
        stop_broker(work)


if __name__ == "__main__":
    main()
