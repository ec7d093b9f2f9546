#!/usr/bin/env python3
"""What the reply's Kafka crossing costs: the Kafka floor's ping-pong (bench/kafka_pingpong.c) with the reply
produced to a topic and read by the ingress's consumer, as llmgw does, against the reply sent back over a loopback
TCP connection from the worker (--direct-reply 1), a design llmgw does not have. Prices the design question the
issue-19 notes leave for planning: a request crossing Kafka once (the job) instead of twice.

Steps, on one warm broker, each with replies on Kafka and then over the socket:
  1, 2. the floor: 200-byte messages, one partition, consumers assigned;
  3, 4. llmgw's Kafka traffic (bench/broker_shape.py's step 6: 1 KB keyed messages with a traceparent, the job
        topic in 4 partitions, 3 idle job topics, the worker in a group, a cost event per round trip and the
        ledger's consumer);
  5, 6. steps 3 and 4 at llmgw's pace (the worker waits 1.2 ms off the CPU before it answers);
  7, 8. streams with llmgw's traffic, as bench/peers.py's scenario 3 loads llmgw: 26 at a time, each answered with
        64 chunks 20 ms apart (the first after 1.2 ms), LLMGW_REPLY_STREAMS streams measured (default 200). Each
        chunk carries its send time, so the ping-pong measures what the way back adds to each chunk and to the gap
        between two: the figure issue 19's stream target is about, less the HTTP ends.
Same set-up as bench/broker_shape.sh: the broker and the ping-pong on CPU 0, the broker warmed first,
LLMGW_SHAPE_ROUNDS rounds (default 4) of every step in turn, LLMGW_SHAPE_COUNT round trips each (2,000), the
medians of rounds 2 onward.

Run through bench/reply_path.sh. Writes bench/results/reply-path-<date>.json and prints a table.
Not a test: nothing here asserts a timing."""
import os
import tempfile
import time
from pathlib import Path

from broker_shape import COUNT, CPU, MSG, ROUNDS, run_rounds, start_warm, stop_broker, write_result

LLMGW = MSG + ["--partitions", "4", "--idle-topics", "3", "--group", "1", "--cost", "1"]
PACE = ["--work-us", "1200"]
DIRECT = ["--direct-reply", "1"]
STREAMS = ["--chunks", "64", "--streams", "26", "--gap-us", "20000",
           "--count", os.environ.get("LLMGW_REPLY_STREAMS", "200")]
STEPS = [
    ("1. the floor, replies on Kafka", []),
    ("2. the floor, replies over a socket", DIRECT),
    ("3. llmgw's traffic, replies on Kafka", LLMGW),
    ("4. llmgw's traffic, replies over a socket", LLMGW + DIRECT),
    ("5. step 3 at llmgw's pace (1.2 ms per job)", LLMGW + PACE),
    ("6. step 4 at llmgw's pace (1.2 ms per job)", LLMGW + PACE + DIRECT),
    ("7. streams with llmgw's traffic, chunks on Kafka", LLMGW + PACE + STREAMS),
    ("8. streams with llmgw's traffic, chunks over a socket", LLMGW + PACE + STREAMS + DIRECT),
]
PINGPONGS = 6  # the steps before are round trips, the steps from here streams


def main():
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    work = Path(tempfile.mkdtemp(prefix="reply-path-"))
    try:
        pid, brokers, warm = start_warm(work)
        runs, summary = run_rounds(brokers, pid, STEPS, ROUNDS, COUNT)
        write_result("reply-path", {"date": started, "cpu": CPU, "rounds": ROUNDS, "count": COUNT,
                                    "warm_up": warm, "runs": runs, "summary": summary})
        print("| step | p50 (ms) | p99 (ms) | broker CPU per round trip (ms) | clients' CPU per round trip (ms) | "
              "all CPU per round trip (ms) | broker CPU, each round (ms) |")
        print("|---|---|---|---|---|---|---|")
        for s in summary[:PINGPONGS]:
            b, c = s["broker_cpu_ms_per_round_trip"], s["clients_cpu_ms_per_round_trip"]
            print(f"| {s['step']} | {s['p50_ms']:.3f} | {s['p99_ms']:.3f} | {b:.3f} | {c:.3f} | {b + c:.3f} | "
                  f"{', '.join(f'{x:.3f}' for x in s['broker_cpu_each_round'])} |")
        print("\n| on Kafka → over a socket | p50 | p99 | broker CPU | clients' CPU |")
        print("|---|---|---|---|---|")
        for k, d in ((0, 1), (2, 3), (4, 5)):
            a, b = summary[k], summary[d]
            print(f"| steps {k + 1} → {d + 1} | " + " | ".join(
                f"{b[x] - a[x]:+.3f} ({b[x] / a[x] - 1:+.0%})" if a[x] else "n/a"
                for x in ("p50_ms", "p99_ms", "broker_cpu_ms_per_round_trip", "clients_cpu_ms_per_round_trip"))
                + " |")
        print("\n| step | first chunk p50 / p99 (ms) | a chunk's transit p50 / p99 (ms) | added gap p50 / p99 / p999 "
              "(ms) | broker CPU per chunk (ms) | clients' CPU per chunk (ms) | broker CPU, each round (ms) |")
        print("|---|---|---|---|---|---|---|")
        for s in summary[PINGPONGS:]:
            print(f"| {s['step']} | {s['first_chunk_p50_ms']:.3f} / {s['first_chunk_p99_ms']:.3f} | "
                  f"{s['transit_p50_ms']:.3f} / {s['transit_p99_ms']:.3f} | {s['added_gap_p50_ms']:.3f} / "
                  f"{s['added_gap_p99_ms']:.3f} / {s['added_gap_p999_ms']:.3f} | {s['broker_cpu_ms_per_chunk']:.3f} | "
                  f"{s['clients_cpu_ms_per_chunk']:.3f} | "
                  f"{', '.join(f'{x:.3f}' for x in s['broker_cpu_each_round'])} |")
    finally:
        stop_broker(work)


if __name__ == "__main__":
    main()
