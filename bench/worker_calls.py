#!/usr/bin/env python3
"""One worker process holding many concurrent streamed provider calls: its memory and CPU, for each llmgw
binary given (e.g. the thread-per-call worker before the libcurl multi rewrite, and the one after it).

Run through bench/worker_calls.sh, which builds the binaries, starts the Kafka broker, raises the open-file
limit and exports LLMGW_BENCH_*. For each number of calls N and each binary, on fresh topics (own prefix):
  1. starts bench_fakeprov (streams of CHUNKS chunks, GAP_MS apart, so every stream lasts CHUNKS * GAP_MS
     and all N are open at once) and ONE `llmgw worker` with LLMGW_WORKER_CONCURRENCY=N+64;
  2. writes N streamed chat jobs (schemas/job.schema.json) straight to <prefix>.jobs.chat, as a batch
     producer does, each answering on a reply topic of its own;
  3. every SAMPLE_S reads the worker's VmRSS, VmHWM, thread count and CPU time (/proc) and the fake's
     GET /_stats (streams open now);
  4. once the fake has served the streams, reads the reply topic until every job's final reply is there
     (bounded), then stops the worker.
Figures: the worker's RSS while all N calls are open at once (the fake sees >= 99% of N streams), its peak
RSS (VmHWM), its CPU time (utime + stime) from the first job written to the last final reply, divided by N.
Writes bench/results/worker-calls-<UTC date>.json and prints a markdown table. Nothing here asserts a timing.
"""
import http.client
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from harness import free_port  # noqa: E402 - bench/ is on sys.path (run as a script)

ROOT = Path(__file__).resolve().parents[1]
ENV = os.environ
KAFKA = ENV.get("LLMGW_BENCH_KAFKA", "")
WORK = Path(ENV.get("LLMGW_BENCH_WORK", "/tmp"))
LOGS = Path(ENV.get("LLMGW_BENCH_LOGS", str(WORK)))
FAKEPROV = ENV.get("LLMGW_BENCH_FAKEPROV", "")
# "label=/path/to/llmgw,label=/path/to/llmgw", in the order of the table's columns.
BINARIES = [tuple(kv.split("=", 1)) for kv in filter(None, ENV.get("LLMGW_BENCH_BINARIES", "").split(","))]
CALLS = [int(n) for n in filter(None, ENV.get("LLMGW_BENCH_CALLS", "1000,10000").replace(" ", ",").split(","))]
CHUNKS = int(ENV.get("LLMGW_BENCH_CHUNKS", "20"))
GAP_MS = int(ENV.get("LLMGW_BENCH_GAP_MS", "1000"))
WAIT_S = float(ENV.get("LLMGW_BENCH_WAIT_S", "300"))  # longest wait for one batch, from its first job written
REPEAT = int(ENV.get("LLMGW_BENCH_REPEAT", "1"))  # the whole set of batches, this many times in turn
SAMPLE_S = 0.25
IDLE_S = 3.0  # the worker's idle CPU is measured over this long before the batch
OPEN_FRACTION = 0.99  # "all N open at once": the fake serves at least this share of N streams
MODEL = "gpt-4o-mini"
TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def log(*a):
    print("worker_calls:", *a, file=sys.stderr, flush=True)


def http_json(port, method, path, timeout=5.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, (json.loads(body) if body[:1] == b"{" else None)
    finally:
        conn.close()


def proc_status(pid):
    """{"rss_kb", "hwm_kb", "threads"} of a live process, or None."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        if k == "VmRSS":
            out["rss_kb"] = int(v.split()[0])
        elif k == "VmHWM":
            out["hwm_kb"] = int(v.split()[0])
        elif k == "Threads":
            out["threads"] = int(v.split()[0])
    return out


def cpu_ms(pid):
    """utime + stime of the whole process (every thread, live or ended), in ms; None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": field 3 (state) is fields[0]
    return (int(fields[11]) + int(fields[12])) * 1000.0 / TICKS


def stop(proc, timeout=30.0):
    """SIGTERM, then SIGKILL after timeout; returns the exit status (negative: killed by that signal)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log(f"pid {proc.pid} still running {timeout:.0f}s after SIGTERM: SIGKILL")
            proc.kill()
            proc.wait()
    return proc.returncode


def start_fake(tag):
    port = free_port()
    errf = open(LOGS / f"{tag}-fakeprov.log", "w")
    proc = subprocess.Popen([FAKEPROV, "--port", str(port), "--chunks", str(CHUNKS), "--gap-ms", str(GAP_MS)],
                            stdout=subprocess.PIPE, stderr=errf, text=True)
    errf.close()
    line = proc.stdout.readline().strip()  # "ready", or "" if it exited
    if line != "ready":
        stop(proc)
        raise RuntimeError(f"bench_fakeprov did not start; see {LOGS / f'{tag}-fakeprov.log'}")
    status, stats = http_json(port, "GET", "/_stats")
    return proc, port, (stats if status == 200 and stats and "active" in stats else None)


def start_worker(binary, tag, prefix, n, fake_port):
    ops = free_port()
    env = {k: v for k, v in ENV.items() if not k.startswith("LLMGW_")}
    env.update({
        "LLMGW_KAFKA_BROKERS": KAFKA,
        "LLMGW_TOPIC_PREFIX": prefix,
        "LLMGW_WORKER_ID": tag,
        "LLMGW_OPS_PORT": str(ops),
        "LLMGW_OPENAI_BASE_URL": f"http://127.0.0.1:{fake_port}/v1",
        "LLMGW_OPENAI_API_KEY": "x",
        "LLMGW_WORKER_CONCURRENCY": str(n + 64),
        "LLMGW_LOG_LEVEL": "warn",
        "LLMGW_DATABASE_URL": f"sqlite:{WORK}/unused-by-the-worker.db",
    })
    # More settings for the workers (e.g. LLMGW_WORKER_HTTP_LOOPS=2): LLMGW_BENCH_WORKER_ENV="K=V,K=V".
    env.update(dict(kv.split("=", 1) for kv in filter(None, ENV.get("LLMGW_BENCH_WORKER_ENV", "").split(","))))
    logf = open(LOGS / f"{tag}-worker.log", "w")
    t0 = time.monotonic()
    proc = subprocess.Popen([binary, "worker"], env=env, stdout=logf, stderr=subprocess.STDOUT)
    logf.close()
    deadline = t0 + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return proc, None, time.monotonic() - t0
        try:
            if http_json(ops, "GET", "/readyz", timeout=2)[0] == 200:
                return proc, ops, time.monotonic() - t0
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    return proc, None, time.monotonic() - t0


def stream_job(reply_topic, i, deadline_ms):
    """A streamed chat job as a batch producer writes it (schemas/job.schema.json)."""
    return {"v": 1, "id": str(uuid.uuid4()), "kind": "chat", "tenant": "bench", "user": "worker-calls",
            "created_ms": int(time.time() * 1000), "deadline_ms": deadline_ms,
            "reply_to": {"topic": reply_topic, "partition": 0}, "strategy": "default", "stream": True, "attempt": 1,
            "body": {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": f"stream {i}"}]}}


class Sampler(threading.Thread):
    """Every SAMPLE_S: the worker's /proc figures and the fake's /_stats, with the time since t0."""

    def __init__(self, pid, fake_port, t0):
        super().__init__(daemon=True)
        self.pid, self.fake_port, self.t0 = pid, fake_port, t0
        self.samples, self.halt = [], threading.Event()
        self.fake_errors = 0

    def run(self):
        while not self.halt.is_set():
            t = time.monotonic()
            st, cpu = proc_status(self.pid), cpu_ms(self.pid)
            fake = None
            if self.fake_port:
                try:
                    fake = http_json(self.fake_port, "GET", "/_stats", timeout=2)[1]
                except (OSError, ValueError):
                    self.fake_errors += 1
            sample = {"t": round(t - self.t0, 3), "cpu_ms": cpu, **(st or {}), **(fake or {})}
            if len(self.samples) % 4 == 0:  # its open files, every 4th sample (listing 20,000 takes a while)
                try:
                    sample["fds"] = len(os.listdir(f"/proc/{self.pid}/fd"))
                except OSError:
                    pass
            self.samples.append(sample)
            self.halt.wait(max(0.0, SAMPLE_S - (time.monotonic() - t)))

    def latest(self):
        return self.samples[-1] if self.samples else {}


def tcp_counters():
    """The kernel's TCP counters that tell of connections the fake could not take in time (host-wide)."""
    want = ("ListenOverflows", "ListenDrops", "SyncookiesSent", "TCPTimeouts")
    try:
        lines = [ln.split() for ln in Path("/proc/net/netstat").read_text().splitlines() if ln.startswith("TcpExt:")]
        return {k: int(v) for k, v in zip(lines[0][1:], lines[1][1:]) if k in want}
    except (OSError, IndexError, ValueError):
        return {}


def read_finals(reply_topic, ids, until):
    """Reads the reply topic from its start until every job's final reply is there or `until` passes; returns
    (messages, {id: final status}, seconds the read took, {status: a few error bodies})."""
    t0 = time.monotonic()
    c = Consumer({"bootstrap.servers": KAFKA, "group.id": "bench-" + uuid.uuid4().hex,
                  "enable.auto.commit": False, "enable.partition.eof": False, "fetch.max.bytes": 52428800})
    c.assign([TopicPartition(reply_topic, 0, OFFSET_BEGINNING)])
    finals, messages, errors = {}, 0, {}
    try:
        while len(finals) < len(ids) and time.monotonic() < until:
            for msg in c.consume(5000, 0.5):
                if msg.error():
                    if msg.error().code() != KafkaError._PARTITION_EOF:
                        log("reply consumer:", msg.error())
                    continue
                messages += 1
                v = msg.value()
                if b'"final":true' in v:  # only finals are parsed: a 10,000-call batch has ~220,000 replies
                    r = json.loads(v)
                    if r.get("final") and r["id"] in ids:
                        finals[r["id"]] = r.get("status")
                        if r.get("status") != 200 and len(errors.setdefault(str(r.get("status")), [])) < 3:
                            errors[str(r.get("status"))].append(r.get("body"))
    finally:
        c.close()
    return messages, finals, time.monotonic() - t0, errors


def log_lines(path, limit=20):
    """The worker's log lines that are warnings or errors (its level is warn: all of them), the first `limit`."""
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return 0, []
    return len(lines), lines[:limit]


def run_one(label, binary, n, rep):
    tag = f"{label}-{n}" + (f"-r{rep}" if REPEAT > 1 else "")
    prefix = "wc" + uuid.uuid4().hex[:10]
    res = {"binary": label, "path": binary, "calls": n, "prefix": prefix, "chunks": CHUNKS, "gap_ms": GAP_MS,
           "worker_concurrency": n + 64}
    log(f"{tag}: starting the fake and the worker ({binary})")
    fake, fake_port, stats0 = start_fake(tag)
    res["fake_has_stats"] = stats0 is not None
    if stats0 is None:
        log(f"{tag}: this bench_fakeprov has no GET /_stats: 'all N open' is judged from the worker alone")
    worker = None
    try:
        worker, ops, ready_s = start_worker(binary, tag, prefix, n, fake_port)
        res["ready_s"] = round(ready_s, 2)
        if ops is None:
            res["error"] = (f"worker exited with status {worker.returncode} during start-up" if worker.poll()
                            is not None else "worker not ready after 120 s")
            st = proc_status(worker.pid) or {}
            res["threads_at_failure"] = st.get("threads")
            log(f"{tag}: {res['error']}")
            return res
        pid = worker.pid
        admin = AdminClient({"bootstrap.servers": KAFKA})
        reply_topic = f"{prefix}.bench-replies"
        for f in admin.create_topics([NewTopic(reply_topic, 1, 1)]).values():
            f.result(30)
        # Idle: memory and the CPU the worker spends doing nothing (Kafka polls, health checks).
        c0, t0 = cpu_ms(pid), time.monotonic()
        time.sleep(IDLE_S)
        st = proc_status(pid) or {}
        res["idle"] = {"rss_mb": round(st.get("rss_kb", 0) / 1024, 1), "threads": st.get("threads"),
                       "cpu_ms_per_s": round((cpu_ms(pid) - c0) / (time.monotonic() - t0), 2)}

        deadline_ms = int(time.time() * 1000) + int(WAIT_S * 1000) + 600_000
        jobs = [stream_job(reply_topic, i, deadline_ms) for i in range(n)]
        payloads = [(j["id"].encode(), json.dumps(j).encode()) for j in jobs]
        prod = Producer({"bootstrap.servers": KAFKA, "linger.ms": 5, "queue.buffering.max.messages": 1000000})
        tcp_start = tcp_counters()
        t_start = time.monotonic()
        cpu_start = cpu_ms(pid)
        sampler = Sampler(pid, fake_port if stats0 else None, t_start)
        sampler.start()
        for key, value in payloads:
            prod.produce(f"{prefix}.jobs.chat", key=key, value=value)
            prod.poll(0)
        left = prod.flush(60)
        res["produce_s"] = round(time.monotonic() - t_start, 2)
        if left:
            res["not_produced"] = left
        until = t_start + WAIT_S

        # Until the fake has served them all (streams >= n, none open), or nothing moves for a while.
        last_change, last_key = time.monotonic(), None
        while time.monotonic() < until and worker.poll() is None:
            time.sleep(0.5)
            s = sampler.latest()
            if not stats0:  # no fake stats: the replies tell
                break
            key = (s.get("streams"), s.get("active"))
            if key != last_key:
                last_key, last_change = key, time.monotonic()
            if (s.get("streams") or 0) >= n and s.get("active") == 0:
                break
            if s.get("active") == 0 and time.monotonic() - last_change > 15 + GAP_MS / 1000:
                log(f"{tag}: the fake served {s.get('streams')} of {n} streams and nothing moved for 15 s")
                break
        t_fake_done = time.monotonic() - t_start
        ids = {j["id"] for j in jobs}
        read_until = max(until, time.monotonic() + 30) if worker.poll() is None else time.monotonic() + 10
        messages, finals, read_s, errors = read_finals(reply_topic, ids, read_until)
        t_end = time.monotonic()
        cpu_end = cpu_ms(pid)
        sampler.halt.set()
        sampler.join(5)
        st_end = proc_status(pid) or {}
        samples = sampler.samples

        res["worker_alive_at_end"] = worker.poll() is None
        if not res["worker_alive_at_end"]:
            res["worker_exit"] = worker.returncode
        res["fake_served_s"] = round(t_fake_done, 1)
        res["all_final_s"] = round(t_end - t_start, 1)
        res["reply_read_s"] = round(read_s, 1)
        res["reply_messages"] = messages
        res["completed"] = len(finals)
        statuses = {}
        for s in finals.values():
            statuses[str(s)] = statuses.get(str(s), 0) + 1
        res["final_statuses"] = statuses
        res["completed_200"] = statuses.get("200", 0)
        res["error_samples"] = errors
        tcp_end = tcp_counters()
        res["tcp_counters_delta"] = {k: v - tcp_start.get(k, 0) for k, v in tcp_end.items()}
        if cpu_start is not None and cpu_end is not None:
            res["cpu_ms"] = round(cpu_end - cpu_start, 1)
            res["cpu_ms_per_call"] = round((cpu_end - cpu_start) / n, 3)
            # Less what the worker would have spent idle over as long (its Kafka polls and health checks).
            idle_ms = res["idle"]["cpu_ms_per_s"] * (t_end - t_start)
            res["cpu_ms_per_call_less_idle"] = round(max(0.0, cpu_end - cpu_start - idle_ms) / n, 3)
        # All N open at once: the samples where the fake serves >= 99% of N streams.
        open_samples = [s for s in samples if (s.get("active") or 0) >= OPEN_FRACTION * n]
        res["max_active"] = max([s.get("max_active") or 0 for s in samples] + [0])
        res["max_threads"] = max([s.get("threads") or 0 for s in samples] + [0])
        res["max_fds"] = max([s.get("fds") or 0 for s in samples] + [0])
        if open_samples:
            res["all_open_s"] = open_samples[0]["t"]
            res["all_open_for_s"] = round(open_samples[-1]["t"] - open_samples[0]["t"], 1)
            res["rss_all_open_mb"] = round(max(s["rss_kb"] for s in open_samples if "rss_kb" in s) / 1024, 1)
            res["rss_all_open_first_mb"] = round(open_samples[0].get("rss_kb", 0) / 1024, 1)
        elif samples:
            best = max(samples, key=lambda s: s.get("active") or 0)
            res["rss_at_max_active_mb"] = round(best.get("rss_kb", 0) / 1024, 1)
        res["rss_max_sampled_mb"] = round(max([s.get("rss_kb", 0) for s in samples] + [0]) / 1024, 1)
        # VmHWM can lag the RSS (the kernel folds per-thread RSS counters in lazily): the larger of the two.
        res["vmhwm_mb"] = round(st_end.get("hwm_kb", 0) / 1024, 1) if st_end else None
        res["peak_rss_mb"] = max(res["vmhwm_mb"] or 0, res["rss_max_sampled_mb"])
        res["rss_end_mb"] = round(st_end.get("rss_kb", 0) / 1024, 1) if st_end else None
        if stats0:
            try:
                res["fake_stats_end"] = http_json(fake_port, "GET", "/_stats")[1]
            except (OSError, ValueError):
                pass
        res["fake_stats_errors"] = sampler.fake_errors
        res["samples"] = samples
        for status, bodies in errors.items():
            log(f"{tag}: {statuses[status]} final replies with status {status}, e.g. {json.dumps(bodies[0])[:300]}")
        log(f"{tag}: {res['completed']}/{n} completed ({res['completed_200']} with 200) in {res['all_final_s']} s; "
            f"all open: {res.get('all_open_s', 'never')} s, RSS then {res.get('rss_all_open_mb')} MB, "
            f"peak {res['peak_rss_mb']} MB, CPU {res.get('cpu_ms_per_call')} ms/call, threads {res['max_threads']}")
        return res
    finally:
        if worker is not None:
            t = time.monotonic()
            res["worker_exit_status"] = stop(worker, 60)
            res["worker_stop_s"] = round(time.monotonic() - t, 1)
        res["worker_log"] = str(LOGS / f"{tag}-worker.log")
        res["worker_log_lines"], res["worker_log_head"] = log_lines(LOGS / f"{tag}-worker.log")
        stop(fake, 30)


def fmt(v, unit=""):
    return "-" if v is None else f"{v:,}{unit}" if isinstance(v, int) else f"{v:,.1f}{unit}" if v >= 10 \
        else f"{v:,.2f}{unit}"


def table(runs, labels, calls):
    """One row per figure, one column per binary; with LLMGW_BENCH_REPEAT > 1, each repeat's figure in turn,
    separated by " · "."""
    by = {}
    for r in runs:
        by.setdefault((r["binary"], r["calls"]), []).append(r)
    rows = []
    for n in calls:
        def one(r, fn):
            if "error" in r:
                return f"failed: {r['error']}"
            try:
                return fn(r)
            except (KeyError, TypeError):
                return "-"

        def cell(label, fn):
            return " · ".join(one(r, fn) for r in by.get((label, n), [])) or "not run"

        def open_rss(r):
            if not r.get("fake_has_stats"):
                return f"unknown (the fake has no /_stats); {fmt(r['rss_max_sampled_mb'])} MB at most"
            if "rss_all_open_mb" in r:
                return f"{fmt(r['rss_all_open_mb'])} MB"
            return f"never all open (at most {r['max_active']:,}; {fmt(r.get('rss_at_max_active_mb'))} MB then)"

        spec = [
            (f"worker RSS with {n:,} streamed calls open at once", open_rss),
            (f"worker RSS per open call over idle, {n:,} calls",
             lambda r: f"{fmt((r['rss_all_open_mb'] - r['idle']['rss_mb']) * 1024 / n)} KB"
             if "rss_all_open_mb" in r else
             f"{fmt((r['rss_at_max_active_mb'] - r['idle']['rss_mb']) * 1024 / r['max_active'])} KB "
             f"(at {r['max_active']:,} open)"),
            (f"worker peak RSS (VmHWM), {n:,} calls", lambda r: f"{fmt(r['peak_rss_mb'])} MB"),
            (f"worker CPU per call, {n:,} calls (less its idle CPU)",
             lambda r: f"{fmt(r['cpu_ms_per_call'])} ms ({fmt(r['cpu_ms_per_call_less_idle'])} ms)"),
            (f"worker idle RSS / threads before the {n:,} calls",
             lambda r: f"{fmt(r['idle']['rss_mb'])} MB / {r['idle']['threads']:,}"),
            (f"worker threads / open files at most, {n:,} calls",
             lambda r: f"{r['max_threads']:,} / {r['max_fds']:,}"),
            (f"calls completed (final reply, status 200) of {n:,}",
             lambda r: f"{r['completed']:,} ({r['completed_200']:,})"),
            (f"most calls open at once (fake), of {n:,}", lambda r: f"{r['max_active']:,}"),
            (f"time to all open / all final, {n:,} calls",
             lambda r: f"{fmt(r.get('all_open_s'))} s / {fmt(r['all_final_s'])} s"),
            (f"worker log lines (its level is warn), {n:,} calls", lambda r: f"{r['worker_log_lines']:,}"),
            (f"connections the fake's listen queue dropped (host-wide ListenDrops), {n:,} calls",
             lambda r: f"{r['tcp_counters_delta']['ListenDrops']:,}"),
        ]
        for name, fn in spec:
            rows.append("| " + " | ".join([name] + [cell(label, fn) for label in labels]) + " |")
    head = "| scenario | " + " | ".join(labels) + " |\n|---|" + "---|" * len(labels)
    return head + "\n" + "\n".join(rows)


def main():
    # SIGTERM (from bench/worker_calls.sh's trap) unwinds like Ctrl-C, so each scenario stops its processes.
    def on_term(*_):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    labels = [label for label, _ in BINARIES]
    runs = []
    t0 = time.monotonic()
    for rep in range(REPEAT):
        for n in CALLS:
            for label, binary in BINARIES:
                try:
                    if REPEAT > 1:
                        log(f"repeat {rep + 1} of {REPEAT}")
                    runs.append({**run_one(label, binary, n, rep + 1), "repeat": rep + 1})
                except Exception as e:  # one failed scenario must not lose the others' figures
                    log(f"{label}-{n}: {type(e).__name__}: {e}")
                    runs.append({"binary": label, "path": binary, "calls": n, "repeat": rep + 1,
                                 "error": f"{type(e).__name__}: {e}"})
    out = ROOT / "bench" / "results" / f"worker-calls-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    meminfo = Path("/proc/meminfo").read_text().split("\n")[0].split()[1]
    doc = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "machine": f"{os.cpu_count()} cores, {int(meminfo) // 1048576} GiB, {platform.machine()}, "
                      f"Linux {platform.release()}",
           "open_files_limit": int(subprocess.run(["sh", "-c", "ulimit -n"], capture_output=True,
                                                  text=True).stdout.strip() or 0),
           "settings": {"repeat": REPEAT, "chunks": CHUNKS, "gap_ms": GAP_MS, "wait_s": WAIT_S, "sample_s": SAMPLE_S,
                        "open_fraction": OPEN_FRACTION, "model": MODEL,
                        "worker_env": ENV.get("LLMGW_BENCH_WORKER_ENV", "")},
           "libcurl": subprocess.run(["sh", "-c", "curl-config --version"], capture_output=True,
                                     text=True).stdout.strip(),
           "binaries": dict(BINARIES), "after_source": ENV.get("LLMGW_BENCH_AFTER_SOURCE", ""),
           "note": ENV.get("LLMGW_BENCH_NOTE", ""),
           "duration_s": round(time.monotonic() - t0, 1), "runs": runs}
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(table(runs, labels, CALLS))
    print(f"\nlogs in {LOGS}; raw figures (with every sample) in {out.relative_to(ROOT)}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--table"]:  # the table again, from a results file: worker_calls.py --table FILE
        doc = json.loads(Path(sys.argv[2]).read_text())
        print(table(doc["runs"], list(doc["binaries"]), sorted({r["calls"] for r in doc["runs"]})))
    else:
        try:
            main()
        except KeyboardInterrupt:
            log("interrupted: the processes of the batch under way were stopped, nothing written")
            sys.exit(130)
