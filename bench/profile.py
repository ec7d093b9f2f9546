#!/usr/bin/env python3
"""Where llmgw's added latency goes at concurrency 1, measured warm: CPU time per request of each process and
each thread group on the request path (ingress, worker, ledger, the Kafka broker), the Kafka requests each
llmgw client sends per chat request (librdkafka's statistics, by request type), the scheduler's view (perf
sched: context switches per request and time spent runnable but waiting for the CPU, per process), and a perf
profile of the ingress and the worker. Run through bench/profile.sh (same set-up as bench/peers.sh).
LLMGW_PROFILE_LOAD=stream measures streams instead (scenario 3's load; see LOAD below), per stream.

Why CPU per request: at concurrency 1 with everything under test on one core, a request's latency is at
least the CPU every process spends on it, one after another, plus the waits between them. Writes
bench/results/profile-<date>.json and prints a summary."""
import bisect
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers  # noqa: E402  (the same fake, targets, broker warm-up and CPU placement)
from procstat import (cpu_s, jit_mark, jit_settled, jit_since, sched_timehist, thread_group,  # noqa: E402
                      threads_cpu, tids)

STATS_RE = re.compile(r"(\S+) -> (\S+): rtt .*?(?:bytes sent (\d+) received (\d+), )?requests \d+:(.*)$")
BYTES = ("bytes sent", "bytes received")  # kafka_requests()'s two counts that are not requests
# LLMGW_PROFILE_LOAD: "sequential" (the default: n chat requests one after another) or "stream": streams as
# bench/peers.py's scenario 3 sends them (LLMGW_BENCH_STREAM_RATE new streams a second, 64 chunks
# LLMGW_BENCH_STREAM_GAP_MS apart) for n / rate seconds; every figure "per request" is then per stream.
LOAD = os.environ.get("LLMGW_PROFILE_LOAD", "sequential")
if LOAD not in ("sequential", "stream"):
    sys.exit(f"LLMGW_PROFILE_LOAD={LOAD}: sequential or stream")


def drive(t, n):
    """The measured load: n sequential requests, or n streams at peers.STREAM_RATE a second."""
    if LOAD == "stream":
        return peers.loadgen(t, "--rate", peers.STREAM_RATE, "--duration", max(1, n // peers.STREAM_RATE), "--stream",
                             body=peers.STREAM_BODY)
    return peers.loadgen(t, "--rate", 0, "--concurrency", 1, "--requests", n)


def warm_streams(t, rounds_max=8):
    """Streams until the broker's JIT settles on them too (its share of the broker's CPU under 10% over two rounds
    of 5 s): the sequential warm-up leaves it compiling in a stream run's first seconds (C2 1.8 and
    3.4 ms per stream in the first variants of two runs on 2026-12-05, 0.2 in the later ones)."""
    if not peers.KAFKA_PID:
        return None
    jits = []
    for _ in range(rounds_max):
        mark = jit_mark(int(peers.KAFKA_PID))
        drive(t, 5 * peers.STREAM_RATE)  # 5 s of the measured load
        jits.append(jit_since(int(peers.KAFKA_PID), mark))
        if jit_settled(jits):
            break
    shares = [j[2] for j in jits]
    peers.log(f"  streams: broker JIT share by round {shares}")
    return {"broker_jit_share": shares, "settled": jit_settled(jits)}


def kafka_requests():
    """Cumulative Kafka requests by type per llmgw client, as "process/client id", from the newest statistics
    line of each client -> broker connection in the processes' logs; with the bytes sent and received (BYTES),
    where the line has them (builds before 2026-12-07 did not)."""
    newest = {}
    for name in ("llmgw-ingress", "llmgw-worker", "llmgw-ledger"):
        for line in (peers.WORK / f"{name}.log").read_text().splitlines():
            if "kafka-stats" not in line:
                continue
            m = STATS_RE.search(json.loads(line)["msg"])
            if m:
                counts = dict(kv.split("=") for kv in m.group(5).split())
                if m.group(3):
                    counts.update(zip(BYTES, (m.group(3), m.group(4))))
                newest[(name, m.group(1), m.group(2))] = counts
    total = defaultdict(lambda: defaultdict(int))
    for (proc, client, _broker), counts in newest.items():
        for typ, n in counts.items():
            total[f"{proc}/{client.split('#')[0]}"][typ] += int(n)
    return total


def by_process(by_client):
    """kafka_requests()'s counts summed over each process's clients."""
    total = defaultdict(lambda: defaultdict(int))
    for client, counts in by_client.items():
        for typ, n in counts.items():
            total[client.split("/")[0]][typ] += n
    return total


# LLMGW_PROFILE_CALLGRAPH=1: the ingress's and worker's profile records whole call stacks (DWARF, 1,999 Hz) and
# adds work_by_kind: CPU per request spent inside each kind of library call, callees included. The flat profile
# (perf_top_*) cannot say it: jansson and libcurl spread their time over many small internal functions.
CALLGRAPH = os.environ.get("LLMGW_PROFILE_CALLGRAPH") == "1"
CALLGRAPH_HZ = 1999
# (kind, a frame that puts a sample in it); a sample may count in several kinds (a malloc inside a JSON parse).
JSON_TEXT = re.compile(r"^(json_(load|dump)|lgw_json_(loadb|check|write|text)$|lgw_buf_dump_json$|lgw_jout_)")
JSON_PARSE = re.compile(r"^(json_load|lgw_json_loadb$|lgw_json_check$)")
PRINTF = re.compile(r"printf")
MALLOC = re.compile(r"malloc|calloc|realloc|^_int_free|^cfree|__libc_free")
CLOCK = re.compile(r"clock_gettime")
WORK_KINDS = [
    # jansson's reader and writer, and llmgw's own since the twenty-sixth pass (common/json_load.c, json_scan.c,
    # json_write.c, json_out.c): a sample in either counts once.
    ("JSON parse (jansson)", re.compile(r"^json_load")),
    ("JSON write (jansson)", re.compile(r"^json_dump")),
    ("JSON parse (llmgw's)", re.compile(r"^(lgw_json_loadb|lgw_json_check)$")),
    ("JSON write (llmgw's)", re.compile(r"^(lgw_json_write|lgw_buf_dump_json|lgw_json_text|lgw_jout_[a-z]+)$")),
    ("JSON build (jansson)", re.compile(r"^json_(pack|object_set|array_append|string$|integer$|object$|array$)")),
    ("libcurl", re.compile(r"^curl_")),
    ("malloc and free", MALLOC),
    ("hiredis (Redis calls, their system calls included)", re.compile(r"^redis")),
    ("printf family", PRINTF),
    ("OpenSSL digests", re.compile(r"^EVP_Digest")),
    ("metrics registry (llmgw's updates, its lock included)", re.compile(r"^lgw_metrics_")),
    ("clock reads", CLOCK),
]
# Who calls what: the first frame of each of these in a sample, charged to its caller (caller_of).
BY_CALLER = [("printf_by_caller_us", PRINTF), ("malloc_by_caller_us", MALLOC), ("clock_by_caller_us", CLOCK)]


def caller_of(frames, i, pat):
    """Who made frame i's call (a match of pat): the nearest llmgw function above it (an exported one, lgw_*, but not
    the buffer helpers every writer calls, nor another match of pat; else the nearest of llmgw's own), or, where there is none (librdkafka's own
    threads), the nearest library above that is neither frame i's own nor another match of pat (libc's
    clock_gettime above the vDSO's). The llmgw binary is recognised by name, whatever build LLMGW_BENCH_LLMGW_BIN
    runs."""
    above = frames[i + 1:]
    ours = [c for c, dso in above if os.path.basename(dso).startswith("llmgw")]
    if ours:
        # (not one of pat's own: lgw_json_loadb around lgw_json_check, lgw_malloc around malloc)
        return next((c for c in ours if c.startswith("lgw_") and not c.startswith("lgw_buf_") and not pat.search(c)),
                    ours[0])
    return next((os.path.basename(dso) for c, dso in above if dso != frames[i][1] and not pat.search(c)), "?")


def first_frame(syms, pat):
    return next((i for i, sym in enumerate(syms) if pat.search(sym)), None)


def work_by_kind(perf_data, answered):
    """CPU per request (us) inside each WORK_KINDS kind, over a --call-graph dwarf recording of the ingress and the
    worker, and who makes each JSON parse or write, printf, malloc and clock read (caller_of). The librdkafka
    statistics that this bench turns on (stats_cb) are counted apart: production runs without them."""
    rep = subprocess.run(["perf", "script", "-i", str(perf_data), "-F", "comm,ip,sym,dso"], capture_output=True,
                         text=True)
    return tally(rep.stdout, answered)


def tally(script, answered):
    """work_by_kind over `perf script` text: one block per sample, its frames innermost first."""
    kinds, callers, stats, samples = Counter(), Counter(), 0, 0
    by_caller = {name: Counter() for name, _ in BY_CALLER}
    for block in script.split("\n\n"):
        lines = [ln.strip() for ln in block.strip().splitlines() if ln.strip()]
        if len(lines) < 2:
            continue
        samples += 1
        # each frame "address symbol+offset (dso)", or "(inlined)" for the dso
        frames = [(ln.split(None, 1)[1].split(" (")[0].split("+0x")[0], ln.rsplit("(", 1)[-1].rstrip(")"))
                  for ln in lines[1:] if " " in ln]
        syms = [sym for sym, _ in frames]
        if "stats_cb" in syms:
            stats += 1
            continue
        for kind, pat in WORK_KINDS:
            if any(pat.search(sym) for sym in syms):
                kinds[kind] += 1
        i = first_frame(syms, JSON_TEXT)
        if i is not None:
            what = "parse" if JSON_PARSE.search(syms[i]) else "write"
            callers[f"{what} in {caller_of(frames, i, JSON_TEXT)}"] += 1
        for name, pat in BY_CALLER:
            i = first_frame(syms, pat)
            if i is not None:
                by_caller[name][caller_of(frames, i, pat)] += 1

    def us(n):
        return round(n * 1e6 / CALLGRAPH_HZ / answered, 1)
    return {"all_us": us(samples - stats), "statistics_us": us(stats),
            "kinds_us": {k: us(kinds[k]) for k, _ in WORK_KINDS},
            "json_by_caller_us": {c: us(n) for c, n in callers.most_common(12)},
            **{name: {c: us(n) for c, n in counter.most_common(12)} for name, counter in by_caller.items()}}


def perf_during(argv, t, n):
    """Runs a perf recorder (argv) over drive()'s load of n, from a second before it to its end. Returns how many
    answered (at least 1, to divide by) and perf's exit status."""
    rec = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    answered = max(1, drive(t, n)["ok"])
    rec.send_signal(2)
    rec.wait(60)
    return answered, rec.returncode


def sched_profile(pids, n, t):
    """perf sched over drive()'s load of n (sequential requests, or streams): per process and per answered
    request (or stream), context switches and time runnable but waiting for the CPU; "requests" is how many
    answered. Returns None when perf cannot record scheduler events here."""
    data = peers.WORK / "sched.data"
    n, _ = perf_during(["perf", "sched", "record", "-o", str(data)], t, n)
    rep = subprocess.run(["perf", "sched", "latency", "-p", "-i", str(data)], capture_output=True, text=True)
    if rep.returncode != 0:
        return None
    by_pid = {}
    for role, pid in pids.items():
        for tid in tids(pid):
            by_pid[tid] = role
    culprits = sched_culprits(data, by_pid, n)
    per_role = defaultdict(lambda: {"switches": 0, "runtime_ms": 0.0, "delay_ms_total": 0.0, "max_delay_ms": 0.0})
    for line in rep.stdout.splitlines():
        m = re.match(r"\s*(\S.*?):(\d+)\s*\|\s*([\d.]+) ms\s*\|\s*(\d+)\s*\|\s*avg:\s*([\d.]+) ms\s*\|\s*max:\s*"
                     r"([\d.]+) ms", line)
        if not m:
            continue
        pid = int(m.group(2))
        role = by_pid.get(pid, "other" if m.group(1) not in ("bench_loadgen", "bench_fakeprov") else m.group(1))
        r = per_role[role]
        sw = int(m.group(4))
        r["switches"] += sw
        r["runtime_ms"] += float(m.group(3))
        r["delay_ms_total"] += float(m.group(5)) * sw
        r["max_delay_ms"] = max(r["max_delay_ms"], float(m.group(6)))
    out = {"requests": n}
    out.update({role: {"switches_per_request": round(v["switches"] / n, 2),
                       "runtime_ms_per_request": round(v["runtime_ms"] / n, 3),
                       "cpu_wait_ms_per_request": round(v["delay_ms_total"] / n, 3),
                       "max_cpu_wait_ms": v["max_delay_ms"]} for role, v in per_role.items()})
    if culprits:
        out["all_waits"] = culprits.pop("all_waits")
        out["long_waits"] = culprits
    return out


SYSCALL_NAMES_H = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")


def syscall_names():
    """Syscall number -> name on this machine, from the kernel headers libc's development package brings."""
    if not SYSCALL_NAMES_H.exists():
        return {}
    return {int(m.group(2)): m.group(1) for m in re.finditer(r"#define __NR_(\w+) (\d+)", SYSCALL_NAMES_H.read_text())}


def syscall_profile(pids, n, t):
    """System calls per answered request (or stream) over drive()'s load of n, by process, by thread group and
    by call (perf's raw_syscalls:sys_enter tracepoint on the processes under test). What the scheduler profile
    counts as switches starts in these: every wake of another thread, every Kafka or Redis round trip, every
    poll. None when perf cannot record the tracepoint here."""
    data = peers.WORK / "syscalls.data"
    n, rc = perf_during(["perf", "record", "-q", "-e", "raw_syscalls:sys_enter", "-o", str(data), "-p",
                         ",".join(str(p) for p in pids.values())], t, n)
    rep = subprocess.run(["perf", "script", "-i", str(data), "-F", "comm,tid,trace"], capture_output=True,
                         text=True)
    if rc not in (0, -2) or rep.returncode != 0:
        return None
    by_tid = {tid: role for role, pid in pids.items() for tid in tids(pid)}
    names = syscall_names()
    per_role, per_group, per_call = Counter(), Counter(), defaultdict(Counter)
    for line in rep.stdout.splitlines():
        m = re.match(r"\s*(.+?)\s+(\d+)\s+NR (\d+)", line)
        if not m:
            continue
        role = by_tid.get(int(m.group(2)), "other")
        group = f"{role}: {thread_group(m.group(1))}"
        per_role[role] += 1
        per_group[group] += 1
        per_call[group][names.get(int(m.group(3)), m.group(3))] += 1
    return {"requests": n,
            "per_request": {role: round(c / n, 2) for role, c in per_role.most_common()},
            "per_request_by_thread": {g: {"all": round(c / n, 2),
                                          "calls": {k: round(v / n, 2) for k, v in per_call[g].most_common(6)}}
                                      for g, c in per_group.most_common(16)}}


LONG_WAIT_MS = 1.0


def sched_culprits(data, by_pid, n):
    """Who held the CPU while a thread of llmgw or the broker waited for it. perf sched timehist prints one line
    per switch-out: the task ran for `run time` up to then, and before that waited runnable for `sch delay`.
    Every run on the same CPU that overlaps a wait is charged with the overlap, by role and thread name (digits
    dropped). Returns, for the waits of LONG_WAIT_MS or more (the tail's), their number, their total and the ten
    biggest holders; and under "all_waits", for every wait, per answered request (n) in us: the wait of each
    waiter, what each holder held, and the biggest waiter <- holder pairs (at concurrency 1 mostly the request
    path waiting for whoever ran on after waking it). None when perf cannot."""
    switches = sched_timehist(data)
    if switches is None:
        return None
    runs = defaultdict(list)  # cpu -> [(start, end, who)], sorted by start below
    waits = []  # (cpu, start, end, who)
    for cpu, comm, tid, start, end, delay in switches:
        role = by_pid.get(tid)
        who = f"{role or ('idle' if comm.startswith('<idle>') else 'other')}: {thread_group(comm)}"
        runs[cpu].append((start, end, who))
        if role and delay > 0:
            waits.append((cpu, start - delay, start, who))
    starts = {}
    for cpu, rl in runs.items():
        rl.sort()
        starts[cpu] = [r[0] for r in rl]
    held, held_all, waited, pairs = defaultdict(float), defaultdict(float), defaultdict(float), defaultdict(float)
    for cpu, w0, w1, waiter in waits:
        long_wait = w1 - w0 >= LONG_WAIT_MS
        waited[waiter] += w1 - w0
        rl = runs[cpu]
        i = max(0, bisect.bisect_left(starts[cpu], w0) - 1)  # runs are disjoint on a CPU: the one before may overlap
        while i < len(rl) and rl[i][0] < w1:
            r0, r1, who = rl[i]
            overlap = min(r1, w1) - max(r0, w0)
            if overlap > 0:
                held_all[who] += overlap
                pairs[(waiter, who)] += overlap
                if long_wait:
                    held[who] += overlap
            i += 1
    long_waits = [w for w in waits if w[2] - w[1] >= LONG_WAIT_MS]
    top = sorted(held.items(), key=lambda kv: -kv[1])[:10]

    def per_request_us(d, k):
        return {key if isinstance(key, str) else f"{key[0]} <- {key[1]}": round(v * 1000 / n, 1)
                for key, v in sorted(d.items(), key=lambda kv: -kv[1])[:k]}
    return {"count": len(long_waits), "total_ms": round(sum(w1 - w0 for _, w0, w1, _ in long_waits), 2),
            "by_waiter": dict(Counter(w[3] for w in long_waits).most_common(8)),
            "held_by_ms": {who: round(v, 2) for who, v in top},
            "all_waits": {"waited_us": per_request_us(waited, 12), "held_us": per_request_us(held_all, 12),
                          "pairs_us": per_request_us(pairs, 15)}}


def profile_one(fake, n, label):
    """One llmgw (three processes) with the current peers.LLMGW_EXTRA, warmed, then measured."""
    t = peers.Llmgw(fake)
    result = {"label": label, "settings": dict(peers.LLMGW_EXTRA)}
    try:
        # Sequential, like the measurement: until the broker's JIT settles on llmgw's traffic at concurrency 1 too
        # (warmed at 8, C2 still used 1.44 ms per sequential request afterwards).
        result["llmgw_warmup"] = peers.warm_target(t, per_round=1000, concurrency=1)
        if LOAD == "stream":
            result["stream_warmup"] = warm_streams(t)
        pids = dict(t.pids)
        # Idle: what the processes (and the broker, on their behalf) cost with no traffic at all, from the
        # long-polls of every consumer, heartbeats and timers. Kafka requests counted over the same 10 s.
        time.sleep(2.5)
        idle_req0, idle0 = by_process(kafka_requests()), {k: cpu_s(p) for k, p in pids.items()}
        time.sleep(10)
        idle_req1, idle1 = by_process(kafka_requests()), {k: cpu_s(p) for k, p in pids.items()}
        result["idle_cpu_ms_per_s"] = {k: round((idle1[k] - idle0[k]) * 100, 2) for k in pids}
        result["idle_kafka_requests_per_s"] = {
            proc: round((sum(idle_req1[proc].values()) - sum(idle_req0.get(proc, {}).values())) / 10, 1)
            for proc in idle_req1}
        result["idle_kafka_requests_per_s_by_type"] = {
            proc: {typ: round((n - idle_req0.get(proc, {}).get(typ, 0)) / 10, 1) for typ, n in idle_req1[proc].items()
                   if n > idle_req0.get(proc, {}).get(typ, 0)}
            for proc in idle_req1}
        before = {k: cpu_s(p) for k, p in pids.items()}
        threads_before = {k: threads_cpu(p) for k, p in pids.items()}
        produce_before = kafka_requests()
        req_before = by_process(produce_before)
        perf_out = peers.WORK / "perf.data"
        perf = None
        if subprocess.run(["which", "perf"], capture_output=True).returncode == 0:
            stacks = ["-F", str(CALLGRAPH_HZ), "--call-graph", "dwarf,16384"] if CALLGRAPH else ["-F", "2999", "-g"]
            perf = subprocess.Popen(["perf", "record", "-q", *stacks, "-o", str(perf_out), "-p",
                                     f"{pids['ingress']},{pids['worker']}"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        run = drive(t, n)
        if perf:
            perf.send_signal(2)
            perf.wait(30)
        after = {k: cpu_s(p) for k, p in pids.items()}
        threads_after = {k: threads_cpu(p) for k, p in pids.items()}
        answered = run["ok"]
        result["llmgw"] = run
        result["cpu_ms_per_request"] = {k: round((after[k] - before[k]) * 1000 / answered, 3) for k in pids}
        result["thread_cpu_ms_per_request"] = {
            k: {g: round((threads_after[k][g] - threads_before[k].get(g, 0.0)) * 1000 / answered, 3)
                for g in sorted(threads_after[k], key=lambda g: threads_before[k].get(g, 0.0) - threads_after[k][g])
                if threads_after[k][g] - threads_before[k].get(g, 0.0) > 0}
            for k in pids}
        time.sleep(2.5)  # one more statistics interval
        produce_after = kafka_requests()
        req_after = by_process(produce_after)
        # Which client sends the produces: the reply producer, the cost events' producer, ...
        result["kafka_produce_per_request_by_client"] = {
            c: round((v.get("Produce", 0) - produce_before.get(c, {}).get("Produce", 0)) / answered, 2)
            for c, v in produce_after.items() if v.get("Produce", 0) - produce_before.get(c, {}).get("Produce", 0) > 0}
        result["kafka_requests_per_request"] = {
            proc: {typ: round((req_after[proc][typ] - req_before.get(proc, {}).get(typ, 0)) / answered, 2)
                   for typ in req_after[proc]
                   if typ not in BYTES and req_after[proc][typ] - req_before.get(proc, {}).get(typ, 0) > 0}
            for proc in req_after}
        # What each process sent the broker and fetched from it, per request (a compressed topic shows here).
        result["kafka_bytes_per_request"] = {
            proc: {typ: round((req_after[proc][typ] - req_before.get(proc, {}).get(typ, 0)) / answered)
                   for typ in BYTES if typ in req_after[proc]}
            for proc in req_after if any(typ in req_after[proc] for typ in BYTES)}
        if perf and perf_out.exists():
            rep = subprocess.run(["perf", "report", "-i", str(perf_out), "--stdio", "--no-children", "--percent-limit",
                                  "1.5", "--sort", "comm,dso,sym", "-g", "none"], capture_output=True, text=True)
            result["perf_top"] = [l for l in rep.stdout.splitlines() if l.strip() and not l.startswith("#")][:40]
            # Our own code apart from the kernel's and libraries' share: the top symbols of each process.
            for role in ("ingress", "worker"):
                rep = subprocess.run(["perf", "report", "-i", str(perf_out), "--stdio", "--no-children", "--pid",
                                      str(pids[role]), "--percent-limit", "0.7", "--sort", "dso,sym", "-g", "none"],
                                     capture_output=True, text=True)
                result[f"perf_top_{role}"] = [l for l in rep.stdout.splitlines()
                                              if l.strip() and not l.startswith("#")][:30]
            if CALLGRAPH:
                result["work_by_kind"] = work_by_kind(perf_out, answered)
            result["sched"] = sched_profile(pids, min(n, 1000), t)
            result["sched_requests"] = result["sched"] and result["sched"].pop("requests")
            result["syscalls"] = syscall_profile(pids, min(n, 1000), t)
    finally:
        t.close()
    return result


def summary(r, d):
    if LOAD == "stream":
        f, g, df, dg = r["llmgw"]["ttfb_ms"], r["llmgw"]["gap_ms"], d["ttfb_ms"], d["gap_ms"]
        print(f"== {r['label']}: {r['llmgw']['ok']} streams; added first chunk p50 {f['p50'] - df['p50']:.2f} / p99 "
              f"{f['p99'] - df['p99']:.2f} ms; added gap between chunks p50 {g['p50'] - dg['p50']:.2f} / p99 "
              f"{g['p99'] - dg['p99']:.2f} ms (figures below are per stream)")
    else:
        l, d = r["llmgw"]["latency_ms"], d["latency_ms"]
        print(f"== {r['label']}: through llmgw p50 {l['p50']:.2f} / p99 {l['p99']:.2f} ms; added p50 "
              f"{l['p50'] - d['p50']:.2f} / p99 {l['p99'] - d['p99']:.2f}")
    total = sum(r["cpu_ms_per_request"].values())
    print("CPU per request (ms): " + ", ".join(f"{k} {v:.3f}" for k, v in r["cpu_ms_per_request"].items())
          + f"; total {total:.3f}")
    print("Idle, CPU ms per second: " + ", ".join(f"{k} {v}" for k, v in r["idle_cpu_ms_per_s"].items())
          + "; Kafka requests per second: " + "; ".join(
              f"{k} {v} (" + ", ".join(f"{t} {n}" for t, n in r["idle_kafka_requests_per_s_by_type"][k].items()) + ")"
              for k, v in r["idle_kafka_requests_per_s"].items()))
    for k, groups in r["thread_cpu_ms_per_request"].items():
        print(f"  {k}: " + ", ".join(f"{g} {v:.3f}" for g, v in list(groups.items())[:8]))
    print("Kafka requests per chat request: " + "; ".join(
        f"{p}: " + ", ".join(f"{t} {v}" for t, v in c.items()) for p, c in r["kafka_requests_per_request"].items()))
    if r.get("kafka_bytes_per_request"):
        print("Kafka bytes per chat request: " + "; ".join(
            f"{p}: " + ", ".join(f"{t} {v}" for t, v in c.items()) for p, c in r["kafka_bytes_per_request"].items()))
    print("Produce requests per chat request, by client: " + ", ".join(
        f"{c} {v}" for c, v in r.get("kafka_produce_per_request_by_client", {}).items()))
    if r.get("sched"):
        print(f"perf sched over {r['sched_requests']} requests (per request):")
        roles = {k: v for k, v in r["sched"].items() if k not in ("long_waits", "all_waits")}
        for role, v in sorted(roles.items(), key=lambda kv: -kv[1]["switches_per_request"]):
            print(f"  {role}: {v['switches_per_request']} switches, {v['runtime_ms_per_request']} ms on CPU, "
                  f"{v['cpu_wait_ms_per_request']} ms runnable waiting, max wait {v['max_cpu_wait_ms']} ms")
        lw = r["sched"].get("long_waits")
        if lw:
            print(f"  waits of {LONG_WAIT_MS} ms or more for the CPU: {lw['count']}, {lw['total_ms']} ms in all; "
                  f"waiting: " + ", ".join(f"{w} {c}" for w, c in lw["by_waiter"].items()))
            print("  the CPU meanwhile held by (ms): " + ", ".join(f"{w} {v}" for w, v in lw["held_by_ms"].items()))
        aw = r["sched"].get("all_waits")
        if aw:
            print("  every wait for the CPU, us per request: "
                  + ", ".join(f"{w} {v}" for w, v in aw["waited_us"].items()))
            print("  held meanwhile by, us per request: " + ", ".join(f"{w} {v}" for w, v in aw["held_us"].items()))
            print("  waiter <- holder, us per request: " + ", ".join(f"{w} {v}" for w, v in aw["pairs_us"].items()))
    sc = r.get("syscalls")
    if sc:
        print(f"system calls over {sc['requests']} requests, per request: "
              + ", ".join(f"{k} {v}" for k, v in sc["per_request"].items()))
        for g, v in sc["per_request_by_thread"].items():
            print(f"  {g} {v['all']}: " + ", ".join(f"{c} {k}" for c, k in v["calls"].items()))
    wk = r.get("work_by_kind")
    if wk:
        print(f"inside library calls, us per request (ingress and worker: {wk['all_us']} in all; the bench's Kafka "
              f"statistics {wk['statistics_us']} more): " + ", ".join(f"{k} {v}" for k, v in wk["kinds_us"].items()))
        print("  JSON by caller, us per request: " + ", ".join(f"{k} {v}" for k, v in wk["json_by_caller_us"].items()))
    print("\n".join(r.get("perf_top", [])[:14]))


RUN_LIMITS = peers.LIMITS  # the run's own (LLMGW_BENCH_LIMITS), for variants that do not set theirs
RUN_SLICES = {k: os.environ.get(f"LLMGW_BENCH_{k}_SLICE_US", "0") for k in ("BROKER", "REDIS")}
broker_slice = RUN_SLICES["BROKER"]  # what the shared broker's threads have now (bench/peers.sh set the run's)


def bench_slices(extra):
    """A variant's LLMGW_BENCH_BROKER_SLICE_US and LLMGW_BENCH_REDIS_SLICE_US (taken out of the settings llmgw
    gets; absent, the run's own; 0, the kernel's): the shared broker's threads get the slice now
    (scripts/sched_slice.py), and bench/peers.py gives it to the Redis it starts for the variant."""
    global broker_slice
    slices = {k: extra.pop(f"LLMGW_BENCH_{k}_SLICE_US", v) for k, v in RUN_SLICES.items()}
    if peers.KAFKA_PID and slices["BROKER"] != broker_slice:
        subprocess.run([sys.executable, str(peers.ROOT / "scripts/sched_slice.py"), slices["BROKER"], "--pid",
                        peers.KAFKA_PID], check=True)
        broker_slice = slices["BROKER"]
    os.environ["LLMGW_BENCH_REDIS_SLICE_US"] = slices["REDIS"]
    return {k.lower(): v for k, v in slices.items()}


def main():
    n = int(os.environ.get("LLMGW_PROFILE_REQUESTS", "3000"))
    # LLMGW_PROFILE_VARIANTS: settings to compare on the same warm broker, ';' between variants, each "K=V,K=V"
    # ("" is the defaults), e.g. ";LLMGW_KAFKA_COST_LINGER_MS=50". LLMGW_DATABASE_URL=postgres starts a
    # PostgreSQL (scripts/postgres.sh) for that variant's ledger; the default ledger is SQLite.
    # LLMGW_BENCH_BROKER_SLICE_US and LLMGW_BENCH_REDIS_SLICE_US are the broker's and Redis's (bench_slices);
    # LLMGW_BENCH_LLMGW_BIN=PATH runs the variant on another build's binary; LLMGW_BENCH_LIMITS=0 or 1 runs it
    # without or with the rate limits and budget (and their Redis), whatever the run's LLMGW_BENCH_LIMITS says.
    variants = os.environ.get("LLMGW_PROFILE_VARIANTS", "").split(";")
    peers.LLMGW_EXTRA.update({"LLMGW_KAFKA_STATISTICS_MS": "1000", "LLMGW_LOG_LEVEL": "info"})
    base_extra = dict(peers.LLMGW_EXTRA)
    result = {"load": LOAD, "requests": n, "prompt_bytes": len(peers.PROMPT), "prompt_file": peers.PROMPT_FILE or None,
              "variants": []}
    if os.environ.get("LLMGW_BENCH_COLD") != "1":
        result["broker_warmup"] = peers.warm_broker()
    pg_dir = peers.WORK / "pg"
    pg_url = None
    if any("LLMGW_DATABASE_URL=postgres" in v for v in variants):
        # PostgreSQL as production runs it, on the gateway's CPU like every process under test.
        port = peers.free_port()
        os.chmod(peers.WORK, 0o755)  # mktemp's 0700: the postgres user must reach its data directory
        pg_url = subprocess.run(["bash", "scripts/postgres.sh", "start", str(pg_dir), str(port)], cwd=peers.ROOT,
                                capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        for pid in subprocess.run(["pgrep", "-f", f"-p {port}"], capture_output=True, text=True).stdout.split():
            subprocess.run(["taskset", "-a", "-cp", peers.GATEWAY_CPU, pid], capture_output=True)
    fake = peers.Fake(latency=0, chunks=64, gap=peers.STREAM_GAP_MS) if LOAD == "stream" else peers.Fake(latency=0)
    try:
        direct = peers.Direct(fake)
        peers.loadgen(direct, "--rate", 0, "--concurrency", 1, "--requests", 200)
        result["direct"] = drive(direct, n)
        for v in variants:
            peers.LLMGW_EXTRA.clear()
            peers.LLMGW_EXTRA.update(base_extra)
            extra = dict(kv.split("=", 1) for kv in filter(None, v.split(",")))
            if extra.get("LLMGW_DATABASE_URL") == "postgres":
                extra["LLMGW_DATABASE_URL"] = pg_url
            slices = bench_slices(extra)
            # LLMGW_BENCH_LLMGW_BIN=PATH: this variant runs another build (before and after on one warm broker).
            binary = extra.pop("LLMGW_BENCH_LLMGW_BIN", "")
            peers.LIMITS = extra.pop("LLMGW_BENCH_LIMITS", "1" if RUN_LIMITS else "0") != "0"
            os.environ["LLMGW_BENCH_LLMGW_BIN"] = binary
            peers.LLMGW_EXTRA.update(extra)
            result["variants"].append({**profile_one(fake, n, v or "defaults"), "slices_us": slices,
                                       "binary": binary or "build/llmgw", "limits": peers.LIMITS})
    finally:
        fake.close()
        if pg_url:
            subprocess.run(["bash", "scripts/postgres.sh", "stop", str(pg_dir)], cwd=peers.ROOT, capture_output=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = peers.ROOT / "bench" / "results" / f"profile-{stamp}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    d = result["direct"]
    if LOAD == "stream":
        print(f"streams, {peers.STREAM_RATE} a second for {n // peers.STREAM_RATE} s, warm: direct first chunk p50 "
              f"{d['ttfb_ms']['p50']:.2f}, gap p99 {d['gap_ms']['p99']:.2f} ms")
    else:
        print(f"sequential, {n} requests, warm: direct p50 {d['latency_ms']['p50']:.2f} / p99 "
              f"{d['latency_ms']['p99']:.2f} ms")
    for r in result["variants"]:
        summary(r, d)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
