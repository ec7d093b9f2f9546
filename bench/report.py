#!/usr/bin/env python3
"""Prints the markdown table of a bench/peers.py result file: every scenario for llmgw and each peer, the
ratio llmgw/peer, and llmgw's targets read against the figures. Usage: report.py bench/results/peers-*.json"""
import json
import sys

PEERS = ["portkey", "litellm"]


def get(d, *path):
    for p in path:
        if not isinstance(d, dict) or p not in d or d[p] is None:
            return None
        d = d[p]
    return d


def fmt(v, unit=""):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.2f}{unit}"
    return f"{v}{unit}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}"


def added(r, scenario, name, metric, q):
    t, d = get(r, scenario, name, metric, q), get(r, scenario, "direct", metric, q)
    return None if t is None or d is None else t - d


def row(label, values, unit, lower_better=True):
    cells = [fmt(values.get(n), unit) for n in ["llmgw"] + PEERS]
    ratios = [ratio(values.get("llmgw"), values.get(p)) for p in PEERS]
    return f"| {label} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |"


def errors_of(r, scenario, name):
    e = get(r, scenario, name, "error")
    return f" ({name}: {e[:120]})" if e else ""


def main(path):
    r = json.load(open(path))
    m = r["machine"]
    print(f"Run {r['date']} on {m['cpus']} × {m['cpu_model']}, {m['mem_gib']} GiB, Linux {m['kernel']}; "
          f"{m['placement']}. Command: `{r['command']}`. Peers: {r['versions']['portkey']}, "
          f"{r['versions']['litellm']}.\n")
    print("| scenario | llmgw | Portkey | LiteLLM | llmgw/Portkey | llmgw/LiteLLM |")
    print("|---|---|---|---|---|---|")
    names = ["llmgw"] + PEERS
    if "latency" in r:
        for q in ("p50", "p99"):
            print(row(f"1. added latency at concurrency 1, {q} (ms)",
                      {n: added(r, "latency", n, "latency_ms", q) for n in names}, ""))
    if "frontier" in r:
        for key, label in (("frontier_p99_10ms", "p99 ≤ fake + 10 ms"), ("frontier_p99_50ms", "p99 ≤ fake + 50 ms")):
            print(row(f"2. throughput frontier, {label} (req/s, higher is better)",
                      {n: get(r, "frontier", n, key) for n in names}, ""))
    if "stream" in r:
        for q in ("p50", "p99"):
            print(row(f"3. added time to first chunk, {q} (ms)", {n: added(r, "stream", n, "ttfb_ms", q) for n in names},
                      ""))
        for q in ("p50", "p99"):
            print(row(f"3. added gap between chunks, {q} (ms)", {n: added(r, "stream", n, "gap_ms", q) for n in names},
                      ""))
    if "memory" in r:
        for phase in ("idle_kb", "peak_kb", "after_kb"):
            vals = {}
            for n in names:
                d = get(r, "memory", n, phase)
                if d:
                    own = {k: v for k, v in d.items() if "kafka" not in k}
                    vals[n] = round(sum(own.values()) / 1024, 1)
            label = {"idle_kb": "idle", "peak_kb": "at 1,000 in flight (peak)", "after_kb": "after the load"}[phase]
            print(row(f"4. RSS {label}, all gateway processes (MB)", vals, ""))
    if "cpu" in r:
        print(row(f"7. CPU per request at {get(r, 'cpu', 'llmgw', 'rate') or 200:.0f} req/s, all processes (ms)",
                  {n: get(r, "cpu", n, "cpu", "all_ms") for n in names}, ""))
    if "latency" in r:
        print(row("1. CPU per request at concurrency 1, all processes (ms)",
                  {n: get(r, "latency", n, "cpu", "all_ms") for n in names}, ""))
    print()
    bw = r.get("broker_warmup") or {}
    if bw.get("rounds"):
        first, last = bw["rounds"][0], bw["rounds"][-1]
        settled = "settled" if bw.get("settled") else "not settled within them, so each gateway warms on until it is"
        print(f"Broker warm-up: {len(bw['rounds'])} ping-pong round(s) of {first['round_trips']:,} ({settled}; "
              f"rule: {bw.get('rule', '-')}). Cold (round 1): "
              f"p50 {first['p50_ms']:.2f} ms, p99 {first['p99_ms']:.2f} ms, broker CPU "
              f"{first['broker_cpu_ms_per_round_trip']:.3f} ms per round trip, JIT {first['jit_cpu_ms']:.0f} ms. "
              f"Warm (round {len(bw['rounds'])}): p50 {last['p50_ms']:.2f} ms, p99 {last['p99_ms']:.2f} ms, "
              f"{last['broker_cpu_ms_per_round_trip']:.3f} ms, JIT {last['jit_cpu_ms']:.0f} ms.\n")
    for s_name in ("latency", "stream", "cpu"):
        c = get(r, s_name, "llmgw", "cpu")
        if c:
            print(f"llmgw CPU per request in {s_name}: {c['all_ms']:.3f} ms, of which the broker "
                  f"{c['broker_ms']:.3f} ms; by process: "
                  + ", ".join(f"{k} {v:.3f}" for k, v in c["by_process_ms"].items()) + ".\n")
    if "memory" in r and get(r, "memory", "llmgw", "peak_kb"):
        mem = r["memory"]["llmgw"]
        parts = ", ".join(f"{k} {mem['idle_kb'][k] / 1024:.1f} / {mem['peak_kb'][k] / 1024:.1f} / "
                          f"{mem['after_kb'][k] / 1024:.1f} MB" for k in mem["peak_kb"])
        print(f"llmgw RSS per process, idle / peak at 1,000 in flight / after: {parts}. "
              f"Load: {get(mem, 'load', 'ok')} answered, {get(mem, 'load', 'max_inflight')} in flight at most.\n")
    for n, w in (r.get("waiting") or {}).items():
        if "peak_kb" not in w:
            continue
        settle = w.get("settle_s", 60)
        phases = (("idle_kb", "idle"), ("peak_kb", "peak"), ("after5_kb", "5 s after"),
                  (f"after{settle}_kb", f"{settle} s after"))
        per = "; ".join(f"{k} " + " / ".join(f"{w[ph][k] / 1024:.1f}" for ph, _ in phases) for k in w["peak_kb"])
        load = w.get("load") or {}
        heap = w.get("ingress_heap") or {}
        at = heap.get("at_peak") or {}
        print(f"6. {w['clients']:,} waiting clients, {n}: RSS in MB, " + " / ".join(lbl for _, lbl in phases)
              + f": {per}. Load: {load.get('ok')} answered, {load.get('non2xx')} non-2xx, {load.get('errors')} "
              f"errors, {load.get('max_inflight')} in flight at most."
              + (f" Ingress heap before its peak: {at.get('in_use_kb', 0) / 1024:.1f} MB in use, "
                 f"{at.get('free_kb', 0) / 1024:.1f} MB free; at most {heap['in_use_max_kb'] / 1024:.1f} MB in use."
                 if at else "") + "\n")
    floor = r.get("kafka_floor") or {}
    if "p50_ms" in floor:
        a50, a99 = added(r, "latency", "llmgw", "latency_ms", "p50"), added(r, "latency", "llmgw", "latency_ms", "p99")
        print(f"5. Kafka floor (produce→consume→produce→consume, librdkafka as llmgw configures it): "
              f"p50 {floor['p50_ms']:.2f} ms, p99 {floor['p99_ms']:.2f} ms over {floor['count']} round trips; "
              f"llmgw's added latency / floor: p50 {ratio(a50, floor['p50_ms'])}, p99 {ratio(a99, floor['p99_ms'])}.\n")
    elif floor:
        print(f"5. Kafka floor: failed: {floor.get('error', '')[:300]}\n")
    for s in ("latency", "frontier", "stream", "memory"):
        for n in names:
            e = errors_of(r, s, n)
            if e:
                print(f"- {s}: could not run{e}")


if __name__ == "__main__":
    main(sys.argv[1])
