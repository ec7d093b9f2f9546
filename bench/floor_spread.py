#!/usr/bin/env python3
"""How steady the Kafka floor is, on one broker warmed until settled: the floor's ping-pong (bench_kafka_pingpong,
as bench/peers.py's scenario 5 runs it, on the gateway's CPU) run at several lengths, alternating, several rounds.
The side-by-side judges llmgw's added p99 against 3x the floor's p99, so the floor's own spread from one run to the
next bounds what that comparison can tell. Run through bench/floor_spread.sh (bench/peers.sh's set-up).
Env: LLMGW_FLOOR_COUNTS (3000,10000: round trips per run), LLMGW_FLOOR_ROUNDS (6).
Writes bench/results/floor-spread-<date>.json and prints each length's spread. Not a test: it asserts no timing."""
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers  # noqa: E402  (the broker, its warm-up and the CPU placement)

COUNTS = [int(c) for c in os.environ.get("LLMGW_FLOOR_COUNTS", "3000,10000").split(",")]
ROUNDS = int(os.environ.get("LLMGW_FLOOR_ROUNDS", "6"))


def floor(count):
    # the broker's CPU per round trip, beside each run's percentiles
    return peers.pingpong(count, *(["--cpu-of", peers.KAFKA_PID] if peers.KAFKA_PID else []))


def spread(values):
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def main():
    result = {"counts": COUNTS, "rounds": ROUNDS, "broker_warmup": peers.warm_broker(), "runs": []}
    for r in range(ROUNDS):
        # Alternating, and the order turned each round, so a drift of the machine falls on every length alike.
        for count in (COUNTS if r % 2 == 0 else COUNTS[::-1]):
            res = floor(count)
            res.update(round=r, count=count)
            result["runs"].append(res)
            peers.log(f"  round {r + 1}, {count:,} round trips: p50 {res['p50_ms']:.3f} / p99 {res['p99_ms']:.3f} ms")
    result["spread"] = {}
    for count in COUNTS:
        runs = [x for x in result["runs"] if x["count"] == count]
        result["spread"][count] = {k: spread([x[f"{k}_ms"] for x in runs]) for k in ("p50", "p99")}
        s = result["spread"][count]
        print(f"{count:>6,} round trips, {len(runs)} runs: p50 {s['p50']['min']:.3f} to {s['p50']['max']:.3f} "
              f"(median {s['p50']['median']:.3f}); p99 {s['p99']['min']:.3f} to {s['p99']['max']:.3f} "
              f"(median {s['p99']['median']:.3f}) ms")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = peers.ROOT / "bench" / "results" / f"floor-spread-{stamp}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
