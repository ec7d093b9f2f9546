"""The chaos suite (issue #18, "Reliability under fire"): each fault under continuous load against real llmgw
processes (one or two ingresses, two workers, the ledger on PostgreSQL, real Kafka, a fake provider answering
in ~20 ms), then a reconciliation per request id (reconcile.py) and one table for all faults.

  chaos.py [--short] [--only NAME,...] [--json PATH]

Kafka, PostgreSQL and the llmgw binary come from LLMGW_TEST_KAFKA, LLMGW_TEST_PG_URL and LLMGW_BIN (run.sh
starts its own when they are not given); a fault that stops a broker, PostgreSQL or Redis starts its own on free
loopback ports and stops it after. Everything started is stopped at the end, on failure and Ctrl-C too. Exits 1
when any fault broke a bound."""
import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[0] / "e2e"))
from conftest import (ROOT, SANITIZER_MARKERS, Cluster, free_port, free_port_run, start_fake,  # noqa: E402
                      two_free_ports)
import psycopg2  # noqa: E402
import pytest  # noqa: E402

from driver import Load  # noqa: E402
from reconcile import check, read_rows, reconcile, table  # noqa: E402

REQUEST_TIMEOUT_MS = 10000  # every request's deadline: long enough to ride out a worker's session timeout
PROVIDER_LATENCY_MS = 20
# A provider's breaker opens after 5 failures in a row and lets a probe through after this cooldown (30 s by
# default): shorter here, so the run sees the provider faults' recovery within its 10 s of load after them.
BREAKER_COOLDOWN_MS = 5000
SCRIPTS = ROOT / "scripts"


def sh(*args, check=True) -> str:
    r = subprocess.run(["bash", *map(str, args)], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed: {r.stderr[-2000:]}")
    return r.stdout.strip()


@dataclass
class Spec:
    """One fault: how to set it up and inject it, and the bounds it must keep (reconcile.check)."""
    name: str
    what: str
    inject: object  # inject(ctx, dur): injects the fault at ctx.t["fault"], ends it and sets ctx.t["restore"]
    setup: object = None  # setup(ctx): services of its own, extra settings; before the roles start
    ingresses: int = 1
    slow_threads: int = 0  # clients whose every answer takes 1.5 s at the provider: requests always in flight
    statuses: tuple = (503, 504)  # error statuses that are right for this fault
    cut_ok: bool = False
    max_err_share: float = None
    fail_fast_s: float = None
    fail_max_s: float = (REQUEST_TIMEOUT_MS / 1000) + 3  # nothing waits past its deadline
    recover_max_s: float = None
    must_fail: bool = False
    broker_errors_aside: bool = True  # see reconcile.py: False for the faults that take the broker away
    after_s: float = 10  # load after the fault ends
    full: float = 0  # the fault's duration in the full run (seconds; 0: instantaneous)
    short: float = None  # in --short (None: not in the short run)


class Ctx:
    """One fault's processes and services, stopped in reverse order by close()."""

    def __init__(self, spec: Spec, work: Path):
        self.spec = spec
        self.dir = work / spec.name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.undo = []  # (what, fn)
        self.t = {"killed": {}, "notes": []}
        self.extra_checks = []
        self.kafka = os.environ["LLMGW_TEST_KAFKA"]
        self.pg_url = None
        self.env = {}
        self.cluster = None
        self.ports = []
        self.fake = None
        self.meant = set()  # processes the fault itself stops; any other that exits is restarted (supervise)

    def on_close(self, what, fn):
        self.undo.append((what, fn))

    def note(self, text):
        self.t["notes"].append(text)

    def close(self):
        for what, fn in reversed(self.undo):
            try:
                fn()
            except BaseException as exc:  # one failing stop must not leave the others running
                print(f"chaos: stopping {what}: {exc!r}", file=sys.stderr)
        self.undo = []


def stop_proc(proc, timeout=20.0):
    if proc.popen.poll() is None:
        proc.popen.send_signal(signal.SIGTERM)
        try:
            proc.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.popen.kill()
            proc.popen.wait()
    if not proc.log.closed:
        proc.log.close()


def shared_database(ctx):
    """A fresh database on the shared PostgreSQL (dropped at the end): each fault reconciles only its rows."""
    base = os.environ["LLMGW_TEST_PG_URL"]
    name = "chaos" + uuid.uuid4().hex[:10]
    admin = psycopg2.connect(base)
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")

    def drop():
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()
    ctx.on_close(f"database {name}", drop)
    return base.rsplit("/", 1)[0] + "/" + name


def own_broker(ctx):
    for attempt in range(3):  # a port found free may be taken before the broker binds it: try other ports
        kdir = ctx.dir / f"kafka-{attempt}"
        port = two_free_ports()
        ctx.on_close("broker", lambda d=kdir: sh(SCRIPTS / "kafka.sh", "stop", d, check=False))
        try:
            ctx.kafka = sh(SCRIPTS / "kafka.sh", "start", kdir, port)
            break
        except RuntimeError:
            if attempt == 2:
                raise
    ctx.broker = (kdir, port)


def start_service(ctx, script, name):
    """scripts/<script> start in ctx.dir/<name>-N on a free port, tried on other ports when the one found free
    is taken before the service binds it; stopped by ctx.close(). Returns (dir, port, what start printed)."""
    os.chmod(ctx.dir, 0o755)  # PostgreSQL runs as its own user and must reach its directory
    for attempt in range(3):
        sdir = ctx.dir / f"{name}-{attempt}"
        sdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        ctx.on_close(name, lambda d=sdir: sh(SCRIPTS / script, "stop", d, check=False))
        try:
            return sdir, port, sh(SCRIPTS / script, "start", sdir, port)
        except RuntimeError:
            if attempt == 2:
                raise


def own_postgres(ctx):
    pdir, port, ctx.pg_url = start_service(ctx, "postgres.sh", "pg")
    ctx.pg = (pdir, port)


def own_redis(ctx):
    rdir, port, addr = start_service(ctx, "redis.sh", "redis")
    ctx.redis = (rdir, port)
    # Limits and the response cache both live in Redis: a limit far above the load, so it admits everything
    # while it counts, and a cache that stores every answer (each request is new, so none is a hit).
    ctx.env.update({"LLMGW_REDIS_URL": f"redis://{addr}", "LLMGW_LIMIT_TENANT_RPM": "1000000",
                    "LLMGW_LIMIT_TENANT_INFLIGHT": "100000", "LLMGW_CACHE_TTL_S": "300"})


def own_cluster(ctx):
    kdir = None
    for attempt in range(3):  # a port found free may be taken before the node binds it: try other ports
        kdir = ctx.dir / f"kafka-cluster-{attempt}"
        r = subprocess.run(["bash", str(SCRIPTS / "kafka.sh"), "start-cluster", str(kdir), str(free_port_run(6)), "3"],
                           capture_output=True, text=True)
        if r.returncode == 0:
            break
        ctx.on_close("cluster attempt", lambda d=kdir: sh(SCRIPTS / "kafka.sh", "stop-cluster", d, check=False))
    else:
        raise RuntimeError(f"three-broker cluster did not start: {r.stderr[-2000:]}")
    ctx.on_close("cluster", lambda: sh(SCRIPTS / "kafka.sh", "stop-cluster", kdir, check=False))
    ctx.kafka = r.stdout.strip()
    ctx.cluster_dir = kdir
    ctx.env.update({"LLMGW_KAFKA_REPLICATION_FACTOR": "3", "LLMGW_KAFKA_MIN_INSYNC_REPLICAS": "2"})


def set_fake(ctx, behave=None):
    body = json.dumps({"fail": None, "delay_ms": PROVIDER_LATENCY_MS, "behave": behave}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{ctx.fake}/_mode", body, method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        assert json.loads(r.read())["behave"] == behave


def start_roles(ctx):
    spec = ctx.spec
    port, fake = start_fake("fake_openai.py")
    ctx.on_close("fake provider", lambda: (fake.terminate(), fake.wait()))
    ctx.fake = port
    set_fake(ctx)
    if ctx.pg_url is None:
        ctx.pg_url = shared_database(ctx)
    c = Cluster(ctx.dir, ctx.pg_url)
    c.kafka = ctx.kafka
    ctx.cluster = c
    ctx.on_close("llmgw processes", lambda: [stop_proc(p) for p in reversed(c.procs)])
    c.extra_env.update({"LLMGW_OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
                        "LLMGW_OPENAI_API_KEY": "sk-fake-test-key",
                        "LLMGW_REQUEST_TIMEOUT_MS": str(REQUEST_TIMEOUT_MS),
                        "LLMGW_BREAKER_COOLDOWN_MS": str(BREAKER_COOLDOWN_MS)})
    c.extra_env.update(ctx.env)
    ctx.ledger, _ = c.ledger()
    ctx.workers = [c.worker("w1")[0], c.worker("w2")[0]]
    ctx.ingresses = []
    for i in range(spec.ingresses):
        proc, iport = c.ingress(f"i{i + 1}")
        ctx.ingresses.append(proc)
        ctx.ports.append(iport)


def supervise(ctx, stop):
    """Restarts a worker or ledger that exited on its own (not the fault's victim), as a supervisor would, and
    says so in the notes: a process that chose to exit (a fatal Kafka error) is part of what the fault did."""
    import threading

    def loop():
        n = 0
        while not stop.wait(0.5):
            for proc in list(ctx.cluster.procs):
                if proc.popen.poll() is None or proc.name in ctx.meant or proc.name.startswith("i"):
                    continue
                ctx.meant.add(proc.name)
                n += 1
                name = f"{proc.name}-r{n}"
                ctx.note(f"{proc.name} exited {proc.popen.returncode} by itself "
                         f"{time.monotonic() - ctx.t.get('fault', time.monotonic()):.1f} s after the fault; "
                         f"restarted as {name}")
                try:
                    if proc.name.startswith("ledger"):
                        ctx.ledger, _ = ctx.cluster.ledger(name)
                    else:
                        ctx.cluster.worker(name)
                except BaseException as exc:
                    ctx.note(f"restarting {name} failed: {exc!r}")
    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return t


# ---- the faults -------------------------------------------------------------------------------------------

def kill9_worker(ctx, dur):
    ctx.meant.add(ctx.workers[0].name)
    ctx.workers[0].kill9()
    ctx.t["restore"] = time.monotonic()
    ctx.note("worker w1 killed -9; w2 takes its partitions after the 6 s session timeout")


def kill9_ledger(ctx, dur):
    ctx.meant.add(ctx.ledger.name)
    ctx.ledger.kill9()
    time.sleep(dur)
    ctx.ledger, _ = ctx.cluster.ledger("ledger2")
    ctx.t["restore"] = time.monotonic()
    ctx.note(f"ledger killed -9, a new one started {dur:.0f} s later")


def kill9_ingress(ctx, dur):
    ctx.ingresses[0].kill9()
    ctx.t["killed"][ctx.ports[0]] = time.monotonic()
    ctx.t["restore"] = time.monotonic()
    ctx.note("ingress i1 killed -9; its clients move to i2")


def sigterm_ingress(ctx, dur):
    proc = ctx.ingresses[0]
    t0 = time.monotonic()
    proc.popen.send_signal(signal.SIGTERM)
    ctx.t["restore"] = time.monotonic()
    try:
        rc = proc.popen.wait(30)
    except subprocess.TimeoutExpired:
        rc = None
    took = time.monotonic() - t0
    ctx.extra_checks.append(("the ingress drained and exited 0 within 15 s", rc == 0 and took <= 15,
                             f"rc={rc} after {took:.1f} s"))
    ctx.note(f"ingress i1 got SIGTERM with requests in flight; exited {rc} after {took:.1f} s")


def sigterm_and_wait(ctx, proc, what):
    """SIGTERM to proc (a fault's victim); checks that it drained and exited 0 within 15 s. Returns rc."""
    ctx.meant.add(proc.name)
    t0 = time.monotonic()
    proc.popen.send_signal(signal.SIGTERM)
    try:
        rc = proc.popen.wait(30)
    except subprocess.TimeoutExpired:
        rc = None
    took = time.monotonic() - t0
    ctx.extra_checks.append((f"the {what} drained and exited 0 within 15 s", rc == 0 and took <= 15,
                             f"rc={rc} after {took:.1f} s"))
    return rc, took


def sigterm_worker(ctx, dur):
    # A rolling deploy's step: while it drains, its consumer keeps fetching jobs it will not take, and its close
    # must leave them to the other worker (it aborted on them once: docs/ARCHITECTURE.md, "SIGTERM").
    rc, took = sigterm_and_wait(ctx, ctx.workers[0], "worker")
    ctx.t["restore"] = time.monotonic()
    ctx.note(f"worker w1 got SIGTERM with requests in flight; exited {rc} after {took:.1f} s; w2 takes its "
             f"partitions at its next heartbeat")


def sigterm_ledger(ctx, dur):
    rc, took = sigterm_and_wait(ctx, ctx.ledger, "ledger")
    time.sleep(max(0.0, dur - (time.monotonic() - ctx.t["fault"])))
    ctx.ledger, _ = ctx.cluster.ledger("ledger2")
    ctx.t["restore"] = time.monotonic()
    ctx.note(f"ledger got SIGTERM; exited {rc} after {took:.1f} s; a new one started {dur:.0f} s after the fault")


def broker_down(ctx, dur, kill):
    kdir, port = ctx.broker
    if kill:
        os.kill(int((kdir / "kafka.pid").read_text()), signal.SIGKILL)
    else:
        sh(SCRIPTS / "kafka.sh", "stop", kdir)
    down_at = time.monotonic()
    time.sleep(max(0.0, dur - (down_at - ctx.t["fault"])))
    sh(SCRIPTS / "kafka.sh", "start", kdir, port)
    ctx.t["restore"] = time.monotonic()
    ctx.note(f"broker {'killed -9' if kill else 'stopped'}; started again (its data kept) after {dur:.0f} s, "
             f"answering {ctx.t['restore'] - ctx.t['fault']:.0f} s after the fault")


def postgres_down(ctx, dur):
    pdir, port = ctx.pg
    sh(SCRIPTS / "postgres.sh", "stop", pdir)
    time.sleep(max(0.0, dur - (time.monotonic() - ctx.t["fault"])))
    sh(SCRIPTS / "postgres.sh", "start", pdir, port)
    ctx.t["restore"] = time.monotonic()
    ctx.note(f"PostgreSQL stopped, started again {ctx.t['restore'] - ctx.t['fault']:.0f} s later")


def redis_down(ctx, dur):
    rdir, port = ctx.redis
    sh(SCRIPTS / "redis.sh", "stop", rdir)
    time.sleep(max(0.0, dur - (time.monotonic() - ctx.t["fault"])))
    sh(SCRIPTS / "redis.sh", "start", rdir, port)
    ctx.t["restore"] = time.monotonic()
    ctx.note(f"Redis (limits, cache) stopped, started again empty {ctx.t['restore'] - ctx.t['fault']:.0f} s later")


def provider(behave):
    def inject(ctx, dur):
        set_fake(ctx, behave)
        time.sleep(dur)
        set_fake(ctx, None)
        ctx.t["restore"] = time.monotonic()
        what = {"hang": "hung every call", "reset": "reset every connection", "garbage": "answered garbage"}[behave]
        ctx.note(f"the provider {what} for {dur:.0f} s; breaker cooldown {BREAKER_COOLDOWN_MS} ms")
    return inject


def kill9_broker_of_three(ctx, dur):
    from confluent_kafka.admin import AdminClient
    md = AdminClient({"bootstrap.servers": ctx.kafka}).list_topics(timeout=20)
    jobs = md.topics[f"{ctx.cluster.prefix}.jobs.chat"]
    victim = jobs.partitions[0].leader  # a broker leading partitions of the job topic
    os.kill(int((ctx.cluster_dir / f"node-{victim}" / "kafka.pid").read_text()), signal.SIGKILL)
    ctx.t["restore"] = time.monotonic()
    led = sorted(p.id for p in jobs.partitions.values() if p.leader == victim)
    ctx.note(f"broker {victim} of 3 (leader of jobs.chat partitions {led}) killed -9")


FAULTS = [
    Spec("worker-kill9", "kill -9 of one of two workers", kill9_worker, recover_max_s=20, slow_threads=4,
         short=0),
    Spec("worker-sigterm", "SIGTERM of one of two workers, requests in flight", sigterm_worker, statuses=(),
         max_err_share=0, recover_max_s=5, slow_threads=4, short=0),
    Spec("ledger-kill9", "kill -9 of the ledger, a new one 10 s later", kill9_ledger, max_err_share=0.02,
         statuses=(), full=10, short=3),
    Spec("ledger-sigterm", "SIGTERM of the ledger, a new one 10 s later", sigterm_ledger, max_err_share=0.02,
         statuses=(), full=10),
    Spec("ingress-kill9", "kill -9 of one of two ingresses", kill9_ingress, ingresses=2, cut_ok=True, slow_threads=4,
         max_err_share=0.05, recover_max_s=5),
    Spec("ingress-sigterm", "SIGTERM of one of two ingresses, requests in flight", sigterm_ingress, ingresses=2,
         statuses=(503,), recover_max_s=5, slow_threads=4, short=0),
    Spec("broker-stop", "the broker stopped for 20 s", lambda c, d: broker_down(c, d, False), setup=own_broker,
         fail_fast_s=2, recover_max_s=60, must_fail=True, full=20, broker_errors_aside=False),
    Spec("broker-kill9", "the broker killed -9, back after 20 s", lambda c, d: broker_down(c, d, True),
         setup=own_broker, fail_fast_s=2, recover_max_s=60, must_fail=True, broker_errors_aside=False, full=20),
    Spec("postgres-stop", "PostgreSQL stopped for 60 s", postgres_down, setup=own_postgres, statuses=(),
         max_err_share=0.02, full=60),
    Spec("redis-stop", "Redis (limits and cache) stopped for 20 s", redis_down, setup=own_redis, statuses=(),
         max_err_share=0.02, full=20),
    Spec("provider-hang", "the provider hangs every call for 15 s", provider("hang"), statuses=(502, 503, 504),
         recover_max_s=15, must_fail=True, full=15),
    Spec("provider-reset", "the provider resets every connection for 10 s", provider("reset"),
         statuses=(502, 503), fail_fast_s=2, recover_max_s=10, must_fail=True, full=10, short=5),
    Spec("provider-garbage", "the provider answers 200 with garbage for 10 s", provider("garbage"),
         statuses=(502, 503), fail_fast_s=2, recover_max_s=10, must_fail=True, full=10),
    Spec("broker-1-of-3", "kill -9 of one broker of three (replication 3, min ISR 2)", kill9_broker_of_three,
         setup=own_cluster, recover_max_s=30, after_s=15, broker_errors_aside=False),
]


def wait_ledger(ctx, ok_rids: set, timeout: float) -> float:
    """Waits until every request answered 200 has its final row; returns the seconds it took (None: never)."""
    t0 = time.monotonic()
    db = psycopg2.connect(ctx.pg_url)
    db.autocommit = True
    try:
        while True:
            with db.cursor() as cur:
                cur.execute("SELECT count(DISTINCT user_id) FROM cost_events WHERE user_id = ANY(%s) AND NOT rerun "
                            "AND COALESCE(final, true)", (list(ok_rids),))
                if cur.fetchone()[0] >= len(ok_rids):
                    return round(time.monotonic() - t0, 2)
            if time.monotonic() - t0 > timeout:
                return None
            time.sleep(0.5)
    finally:
        db.close()


def run_fault(spec: Spec, work: Path, short: bool) -> dict:
    dur = spec.short if short and spec.short is not None else spec.full
    warm = 2 if short else 5
    after = min(spec.after_s, 7) if short else spec.after_s
    ctx = Ctx(spec, work)
    t_start = time.monotonic()
    try:
        if spec.setup:
            spec.setup(ctx)
        start_roles(ctx)
        load = Load(spec.name, ctx.ports, ctx.cluster.headers(), "gpt-4o-mini", slow_threads=spec.slow_threads)
        load.start()
        sup_stop = threading.Event()
        ctx.on_close("supervisor", sup_stop.set)
        supervise(ctx, sup_stop)
        time.sleep(warm)
        ctx.t["fault"] = time.monotonic()
        spec.inject(ctx, dur)
        # The load goes on until the gateway answers a new request again (within the fault's recovery bound,
        # so that a slow recovery is measured, not cut off), then for `after` seconds more.
        give_up = time.monotonic() + (spec.recover_max_s or 60) + 5
        while time.monotonic() < give_up and not any(o.status == 200 and o.sent >= ctx.t["restore"]
                                                      for o in load.results()):
            time.sleep(0.2)
        time.sleep(after)
        stuck = load.stop()
        sup_stop.set()
        if stuck:
            ctx.extra_checks.append(("every client thread ended", False, stuck))
        outcomes = load.results()
        ok_rids = {o.rid for o in outcomes if o.status == 200}
        ctx.t["ledger_s"] = wait_ledger(ctx, ok_rids, 90)
        time.sleep(2)  # a rerun's rows, if any, land by now
        with psycopg2.connect(ctx.pg_url) as db:
            rows = read_rows(db)
        spec_res = reconcile(spec, outcomes, rows, ctx.t)
        if spec.broker_errors_aside and spec_res["errors_broker_unreachable"]:
            spec_res["notes"].append(f"{spec_res['errors_broker_unreachable']} 503(s) from an ingress whose broker "
                                     f"probe went unanswered for a moment (machine load), not this fault's")
        if ctx.extra_checks:
            spec_res["extra_checks"] = ctx.extra_checks
            spec_res["checks"] = check(spec, spec_res)
            spec_res["passed"] = all(c[1] for c in spec_res["checks"])
    except (Exception, pytest.fail.Exception):  # conftest's helpers fail with pytest's Failed (not an Exception)
        spec_res = {"fault": spec.name, "what": spec.what, "passed": False, "error": traceback.format_exc(),
                    "checks": [("ran", False, "exception")]}
        traceback.print_exc()
    finally:
        ctx.close()
    if ctx.cluster is not None and "sent" in spec_res:
        # An LLMGW_BIN built with sanitizers (build-asan/, build-tsan/): any report in a process's output fails.
        reports = [p.name for p in ctx.cluster.procs
                   if any(m in p.log_path.read_text(errors="replace") for m in SANITIZER_MARKERS)]
        spec_res["checks"].append(("no sanitizer report", not reports, reports))
        spec_res["passed"] = spec_res["passed"] and not reports
    spec_res["wall_s"] = round(time.monotonic() - t_start, 1)
    spec_res["duration_s"] = dur
    if not spec_res["passed"] and ctx.cluster is not None:
        for p in ctx.cluster.procs:  # the logs of a failed fault, for whoever reads the run
            print(f"----- {spec.name}: {p.name} (last lines) -----\n{p.log_path.read_text(errors='replace')[-3000:]}")
    return spec_res


def save(args, work, results, wall):
    """Writes the JSON (and the JUnit report when asked) of the faults run so far."""
    if args.junit:
        write_junit(args.junit, results)
    args.json = args.json or str(work / "chaos.json")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                           "mode": "short" if args.short else "full", "wall_s": wall,
                                           "request_timeout_ms": REQUEST_TIMEOUT_MS,
                                           "breaker_cooldown_ms": BREAKER_COOLDOWN_MS, "faults": results},
                                          indent=2, default=str))


def write_junit(path, results):
    from xml.sax.saxutils import quoteattr
    cases = []
    for r in results:
        failed = "; ".join(f"{what}: {detail}" for what, held, detail in r["checks"] if not held)
        body = f"<failure message={quoteattr(failed[:2000])}/>" if not r["passed"] else ""
        cases.append(f'<testcase classname="chaos" name="{r["fault"]}" time="{r["wall_s"]}">{body}</testcase>')
    bad = sum(1 for r in results if not r["passed"])
    Path(path).write_text('<?xml version="1.0" encoding="UTF-8"?>\n'
                          f'<testsuite name="chaos" tests="{len(results)}" failures="{bad}">{"".join(cases)}</testsuite>\n')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--short", action="store_true", help="the shortened run (scripts/test.sh)")
    ap.add_argument("--only", default="", help="comma-separated fault names")
    ap.add_argument("--json", default=None, help="the results (default: WORK/chaos.json)")
    ap.add_argument("--junit", default=None, help="a JUnit XML report too, one test case per fault")
    ap.add_argument("--work", default=None, help="logs and services (default: a directory under build/)")
    args = ap.parse_args()
    # SIGTERM ends the run like Ctrl-C: the finally blocks stop everything this run started.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    only = [n for n in args.only.split(",") if n]
    specs = [s for s in FAULTS if (not only or s.name in only) and (not args.short or s.short is not None or only)]
    unknown = set(only) - {s.name for s in FAULTS}
    if unknown:
        sys.exit(f"unknown faults: {sorted(unknown)}; known: {[s.name for s in FAULTS]}")
    work = Path(args.work or (ROOT / "build" / f"chaos-{int(time.time())}"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    t0 = time.monotonic()
    for spec in specs:
        print(f"chaos: {spec.name}: {spec.what}", flush=True)
        res = run_fault(spec, work, args.short)
        results.append(res)
        for what, held, detail in res["checks"]:
            if not held:
                print(f"chaos: {spec.name}: FAILED {what}: {detail}", flush=True)
        print(f"chaos: {spec.name}: {'pass' if res['passed'] else 'FAIL'} in {res['wall_s']} s; "
              f"{'; '.join(res.get('notes', []))}", flush=True)
        save(args, work, results, round(time.monotonic() - t0, 1))  # after each fault: a cut-short run keeps them
    wall = round(time.monotonic() - t0, 1)
    done = [r for r in results if "sent" in r]
    print()
    print(table(done))
    for r in results:
        if "sent" not in r:
            print(f"{r['fault']}: did not run to the end:\n{r['error']}")
    print(f"\n{len(results)} faults in {wall} s ({'short' if args.short else 'full'} run); "
          f"{sum(1 for r in results if not r['passed'])} failed")
    save(args, work, results, wall)
    print(f"chaos: JSON in {args.json}")
    sys.exit(0 if all(r["passed"] for r in results) else 1)


if __name__ == "__main__":
    main()
