#!/usr/bin/env python3
"""Where llmgw's tail comes from at an open-loop rate below saturation (the frontier's p99, scenario 2 of
bench/peers.py). Run through bench/tail.sh (same set-up and CPU placement as bench/peers.sh).

For each rate in LLMGW_TAIL_RATES (default 400), with the fake at 20 ms: a warm llmgw takes the rate for
LLMGW_TAIL_SECONDS (10) while `perf sched record -k mono` records every switch, and the broker logs its
safepoints (every stop-the-world pause, GC or not) with CLOCK_MONOTONIC stamps. The load generator writes each
answer's due time on the same clock (--trace-out). Then:
- slow answers (over the fake + LLMGW_TAIL_SLOW_MS, 25) are grouped into incidents (due within 50 ms of the
  one before);
- for each incident, from the first slow answer's due time to the last one's answer: how busy CPU 0 was, who
  ran on it (process and thread name, digits dropped), and the broker's pauses that overlap it;
- the same shares over the whole run, to compare with.
Writes bench/results/tail-<date>.json and prints a summary. Not a test: nothing here asserts a timing."""
import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers  # noqa: E402
from procstat import sched_timehist, thread_group, tids  # noqa: E402

FAKE_MS = 20
SLOW_MS = float(os.environ.get("LLMGW_TAIL_SLOW_MS", "25"))
GROUP_MS = 50.0
# JDK unified logging, decorations timenanos and tags: "[123456789ns][safepoint] Safepoint "G1 ..." ...
# Total: 1234567 ns" (JDK 17 prints the time from the safepoint's start to its end).
SAFEPOINT_RE = re.compile(r"\[(\d+)ns\].*Safepoint \"([^\"]+)\".*Total: (\d+) ns")


def runs_on_cpu0(data, role_of):
    """Every run on CPU 0 as (start ms, end ms, who), from perf sched timehist (monotonic ms)."""
    out = []
    for cpu, comm, tid, start, end, _delay in sched_timehist(data) or []:
        if cpu != int(peers.GATEWAY_CPU):
            continue
        role = role_of.get(tid) or ("idle" if comm.startswith("<idle>") else
                                    comm if comm in ("bench_loadgen", "bench_fakeprov") else "other")
        out.append((start, end, f"{role}: {thread_group(comm)}"))
    return out


def pauses(log, mark):
    """The broker's safepoints logged after byte mark, as (start ms, end ms, what), monotonic."""
    out = []
    if not log.exists():
        return out
    with log.open(errors="replace") as f:
        f.seek(mark)
        text = f.read()
    for line in text.splitlines():
        m = SAFEPOINT_RE.search(line)
        if m:
            end = int(m.group(1)) / 1e6
            out.append((end - int(m.group(3)) / 1e6, end, m.group(2)))
    return out


def held(runs, w0, w1):
    """ms each holder ran on CPU 0 within [w0, w1]."""
    h = defaultdict(float)
    for r0, r1, who in runs:
        o = min(r1, w1) - max(r0, w0)
        if o > 0:
            h[who] += o
    return h


def one_rate(t, rate, seconds, gc_log):
    data, trace = peers.WORK / f"tail-{rate}.data", peers.WORK / f"tail-{rate}.txt"
    role_of = {}
    for role, pid in t.pids.items():
        for tid in tids(pid):
            role_of[tid] = "broker" if "broker" in role else role
    rec = subprocess.Popen(["perf", "sched", "record", "-k", "mono", "-o", str(data)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    perf, perf_out = None, peers.WORK / f"tail-{rate}.perf"
    if os.environ.get("LLMGW_TAIL_PERF") == "1":  # where llmgw's own threads spend it, by thread and function
        perf = subprocess.Popen(["perf", "record", "-q", "-F", "1999", "-g", "-o", str(perf_out), "-p",
                                 f"{t.pids['ingress']},{t.pids['worker']}"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    mark = gc_log.stat().st_size if gc_log.exists() else 0
    run = peers.loadgen(t, "--rate", rate, "--duration", seconds, "--warmup-s", 1, "--trace-out", trace)
    rec.send_signal(2)
    rec.wait(120)
    perf_top = []
    if perf:
        perf.send_signal(2)
        perf.wait(120)
        rep = subprocess.run(["perf", "report", "-i", str(perf_out), "--stdio", "--no-children", "--percent-limit",
                              "0.4", "--sort", "comm,dso,sym", "-g", "none"], capture_output=True, text=True)
        perf_top = [l for l in rep.stdout.splitlines() if l.strip() and not l.startswith("#")][:80]
        if os.environ.get("LLMGW_TAIL_PERF_KEEP"):  # a path: the recording, for perf report by hand
            subprocess.run(["cp", str(perf_out), os.environ["LLMGW_TAIL_PERF_KEEP"]], check=False)
    answers = [tuple(map(float, l.split())) for l in trace.read_text().splitlines()]
    runs = runs_on_cpu0(data, role_of)
    sps = pauses(gc_log, mark)
    slow = sorted((due, lat) for due, lat in answers if lat > FAKE_MS + SLOW_MS)
    incidents = []
    for due, lat in slow:
        if incidents and due - incidents[-1]["last_due"] <= GROUP_MS:
            inc = incidents[-1]
            inc["n"] += 1
            inc["last_due"] = due
            inc["end"] = max(inc["end"], due + lat)
            inc["worst_ms"] = max(inc["worst_ms"], lat)
        else:
            incidents.append({"start": due, "last_due": due, "end": due + lat, "n": 1, "worst_ms": lat})
    t0 = min(d for d, _ in answers) if answers else 0.0
    t1 = max(d + l for d, l in answers) if answers else 0.0
    total = held(runs, t0, t1)
    span = t1 - t0
    # Runs that start in the window, by holder: each is a thread switched in (a wake-up, or a turn back after a
    # preemption), per answer.
    switches = defaultdict(int)
    for r0, _r1, who in runs:
        if t0 <= r0 <= t1 and not who.startswith("idle"):
            switches[who] += 1
    out_inc = []
    in_incidents = defaultdict(float)
    inc_ms = 0.0
    for inc in incidents:
        h = held(runs, inc["start"], inc["end"])
        w = inc["end"] - inc["start"]
        inc_ms += w
        for k, v in h.items():
            in_incidents[k] += v
        overl = [(round(p0 - inc["start"], 1), round(p1 - p0, 2), what) for p0, p1, what in sps
                 if p1 > inc["start"] and p0 < inc["end"]]
        busy = sum(v for k, v in h.items() if not k.startswith("idle"))
        out_inc.append({"at_s": round((inc["start"] - t0) / 1e3, 2), "slow_answers": inc["n"],
                        "worst_ms": round(inc["worst_ms"], 1), "window_ms": round(w, 1),
                        "cpu0_busy": round(busy / w, 2) if w > 0 else None,
                        "top": {k: round(v, 1) for k, v in sorted(h.items(), key=lambda kv: -kv[1])[:5]},
                        "broker_pauses": overl})
    busy_all = sum(v for k, v in total.items() if not k.startswith("idle"))
    return {"rate": rate, "loadgen": run, "perf_top": perf_top, "answers": len(answers), "slow": len(slow),
            "cpu0_busy": round(busy_all / span, 3) if span else None,
            "switches_per_answer": {k: round(v / len(answers), 2) for k, v in
                                    sorted(switches.items(), key=lambda kv: -kv[1])[:14]} if answers else {},
            "share_all": {k: round(v / span, 4) for k, v in sorted(total.items(), key=lambda kv: -kv[1])[:12]},
            "share_in_incidents": {k: round(v / inc_ms, 4) for k, v in
                                   sorted(in_incidents.items(), key=lambda kv: -kv[1])[:12]} if inc_ms else {},
            "broker_pauses": {"count": len(sps), "total_ms": round(sum(p1 - p0 for p0, p1, _ in sps), 1),
                              "max_ms": round(max((p1 - p0 for p0, p1, _ in sps), default=0), 2),
                              "over_5ms": sum(1 for p0, p1, _ in sps if p1 - p0 > 5)},
            "incidents": out_inc}


def main():
    rates = [int(r) for r in os.environ.get("LLMGW_TAIL_RATES", "400").split(",")]
    seconds = int(os.environ.get("LLMGW_TAIL_SECONDS", "10"))
    gc_log = Path(os.environ["LLMGW_TAIL_GC_LOG"])
    m = peers.machine()
    result = {"rates": [], "broker_jvm": m["broker_jvm"], "slices_us": m["slices_us"],
              "broker_slice_except": m["broker_slice_except"]}
    result["broker_warmup"] = peers.warm_broker()
    fake = peers.Fake(latency=FAKE_MS)
    try:
        t = peers.Llmgw(fake)
        try:
            result["llmgw_warmup"] = peers.warm_target(t)
            for rate in rates:
                result["rates"].append(one_rate(t, rate, seconds, gc_log))
                time.sleep(1)
        finally:
            t.close()
    finally:
        fake.close()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = peers.ROOT / "bench" / "results" / f"tail-{stamp}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    for r in result["rates"]:
        lat = r["loadgen"]["latency_ms"] or {}
        print(f"== {r['rate']}/s: p50 {lat.get('p50')} p99 {lat.get('p99')} max {lat.get('max')} ms; "
              f"{r['slow']} of {r['answers']} answers over {FAKE_MS + SLOW_MS:.0f} ms in {len(r['incidents'])} "
              f"incident(s); CPU 0 busy {r['cpu0_busy']}")
        print(f"  broker pauses: {r['broker_pauses']}")
        print("  switches per answer: " + ", ".join(f"{k} {v}" for k, v in r["switches_per_answer"].items()))
        print("  CPU 0 over the run: " + ", ".join(f"{k} {v}" for k, v in r["share_all"].items()))
        print("  CPU 0 in incidents: " + ", ".join(f"{k} {v}" for k, v in r["share_in_incidents"].items()))
        print("\n".join(r["perf_top"]))
        for inc in r["incidents"][:15]:
            print(f"  at {inc['at_s']} s: {inc['slow_answers']} slow, worst {inc['worst_ms']} ms over "
                  f"{inc['window_ms']} ms, CPU 0 busy {inc['cpu0_busy']}; {inc['top']}; pauses {inc['broker_pauses']}")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
