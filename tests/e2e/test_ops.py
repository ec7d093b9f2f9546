"""Operations: health, readiness and Prometheus metrics on every process; SIGTERM drains and exits 0."""
import ctypes
import http.client
import json
import os
import platform
import re
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

from conftest import chat_body


def get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read().decode()
    ctype = resp.getheader("content-type")
    conn.close()
    return resp.status, body, ctype


def test_health_metrics_and_drain(cluster):
    ledger, lport = cluster.ledger()
    worker, wport = cluster.worker("w1")
    ingress, iport = cluster.ingress("i1", LLMGW_SHUTDOWN_GRACE_MS=1000)
    conn = http.client.HTTPConnection("127.0.0.1", iport, timeout=30)
    for i in range(3):
        conn.request("POST", "/v1/chat/completions", chat_body(f"m{i}"), cluster.headers())
        assert conn.getresponse().read()
    for port in (iport, wport, lport):
        assert get(port, "/healthz")[0] == 200
        assert get(port, "/readyz")[0] == 200
        status, text, ctype = get(port, "/metrics")
        assert status == 200 and ctype.startswith("text/plain")
        assert "# TYPE" in text
        # Every role gives freed heap back after a load (common/memtrim.c; test_memtrim tests the trimming).
        assert "# TYPE llmgw_memory_trims_total counter" in text and "llmgw_memory_returned_bytes_total" in text
        # and says how much of its heap is in use and how much only held (set at the trimmer's first look).
        assert "# TYPE llmgw_memory_heap_in_use_bytes gauge" in text
        assert re.search(r"^llmgw_memory_heap_in_use_bytes \d+$", text, re.M), text
        assert re.search(r"^llmgw_memory_heap_free_bytes \d+$", text, re.M), text
    text = get(iport, "/metrics")[1]
    assert 'llmgw_http_requests_total{route="/v1/chat/completions",status="200"} 3' in text
    assert "llmgw_http_request_duration_seconds_bucket" in text
    assert "llmgw_http_in_flight" in text
    assert "llmgw_kafka_produce_errors_total" in text or "llmgw_kafka_produce_errors_total" in get(wport, "/metrics")[1]
    assert 'llmgw_jobs_total{kind="chat",outcome="ok"} 3' in get(wport, "/metrics")[1]
    status, body, _ = get(wport, "/nope")
    assert status == 404 and json.loads(body)["error"]["code"] == "not_found"

    # SIGTERM drains. The worker finishes and leaves; a request that is then waiting at the ingress gets a
    # clean 503 when the ingress drains (not a hang, not a dropped connection); every process exits 0.
    assert worker.stop() == 0
    results = []

    def waiting_client():
        c = http.client.HTTPConnection("127.0.0.1", iport, timeout=30)
        c.request("POST", "/v1/chat/completions", chat_body("during drain"), cluster.headers())
        r = c.getresponse()
        results.append((r.status, json.loads(r.read())))

    t = threading.Thread(target=waiting_client)
    t.start()
    time.sleep(0.5)
    assert ingress.stop() == 0
    t.join()
    assert ledger.stop() == 0
    assert results and results[0][0] == 503, results
    assert results[0][1]["error"]["type"] == "service_unavailable"


def test_drain_answers_keepalive_connections_then_closes_them(cluster):
    """SIGTERM of an ingress: a request in flight on a keep-alive connection is answered (with Connection:
    close), and a request sent afterwards on another open keep-alive connection gets 503 "shutting down" with
    Retry-After and Connection: close, not the broker's message and not a reset."""
    ledger, _ = cluster.ledger()
    worker, _ = cluster.worker("w1")
    ingress, iport = cluster.ingress("i1", LLMGW_SHUTDOWN_GRACE_MS=20000)
    idle = http.client.HTTPConnection("127.0.0.1", iport, timeout=30)
    idle.request("POST", "/v1/chat/completions", chat_body("before"), cluster.headers())
    first = idle.getresponse()
    assert first.status == 200 and first.getheader("connection") != "close"
    first.read()
    # No worker now: the next request waits at the ingress until one comes back.
    assert worker.stop() == 0
    busy = http.client.HTTPConnection("127.0.0.1", iport, timeout=60)
    results = {}

    def waiting_client():
        busy.request("POST", "/v1/chat/completions", chat_body("in flight"), cluster.headers())
        r = busy.getresponse()
        results["busy"] = (r.status, r.getheader("connection"), json.loads(r.read()))

    t = threading.Thread(target=waiting_client)
    t.start()
    time.sleep(0.5)
    codes = []
    stopper = threading.Thread(target=lambda: codes.append(ingress.stop(timeout=60)))
    stopper.start()
    time.sleep(0.5)
    # The idle keep-alive connection sends after the drain began.
    idle.request("POST", "/v1/chat/completions", chat_body("after"), cluster.headers())
    late = idle.getresponse()
    body = json.loads(late.read())
    assert late.status == 503, body
    assert "shutting down" in body["error"]["message"] and "broker" not in body["error"]["message"]
    assert late.getheader("connection") == "close"
    assert late.getheader("retry-after") == "1"
    # A worker comes back within the grace: the waiting request is answered, and its connection closed after.
    worker2, _ = cluster.worker("w2")
    t.join(60)
    stopper.join(60)
    assert results["busy"][0] == 200, results
    assert results["busy"][1] == "close"
    assert results["busy"][2]["choices"][0]["message"]["content"]
    assert codes == [0]
    assert worker2.stop() == 0
    assert ledger.stop() == 0


def test_a_worker_stopped_under_load_leaves_its_group_and_loses_nothing(cluster):
    """SIGTERM of one of two workers while jobs keep coming: during its drain, its consumer goes on fetching jobs
    it will not take, and its close must drop those (uncommitted: the other worker runs them), not abort. It
    exits 0, leaves the group (so its partitions move at the other's next heartbeat, not at the session
    timeout), and every request is answered and in the ledger once. Before the fix, librdkafka's assert in
    rd_kafka_q_serve killed it every time (measured: a request held 7.0 s, the session timeout and a rejoin)."""
    from conftest import assert_ledger_complete

    cluster.ledger()
    cluster.worker("w1")
    w2, _ = cluster.worker("w2")
    _, iport = cluster.ingress("i1")
    stop, answers, failures = threading.Event(), [], []

    def load(n):
        conn = http.client.HTTPConnection("127.0.0.1", iport, timeout=60)
        i = 0
        while not stop.is_set():
            conn.request("POST", "/v1/chat/completions", chat_body(f"load {n} {i}"), cluster.headers())
            resp = conn.getresponse()
            body = resp.read()
            (answers if resp.status == 200 else failures).append((resp.getheader("x-request-id"), body))
            i += 1

    threads = [threading.Thread(target=load, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    try:
        wait_for_count = time.monotonic() + 30
        while len(answers) < 200 and time.monotonic() < wait_for_count:
            time.sleep(0.05)
        assert w2.stop() == 0, w2.output()[-3000:]
        time.sleep(1)  # requests on the partitions it had, now at w1
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    log = w2.output()
    assert "revoked" in log and "consumer close did not finish" not in log, log[-3000:]
    assert not failures, failures[:3]
    assert_ledger_complete(cluster.db().cursor(), [rid for rid, _ in answers])


def forward(listener, target):
    """Accepts on listener (a bound socket) and pipes each connection to target (host, port), both ways, on daemon
    threads, until listener is closed: a way in to the broker that opens when the test says."""
    def pipe(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (a, b):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def accept():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            up = socket.create_connection(target)
            threading.Thread(target=pipe, args=(conn, up), daemon=True).start()
            threading.Thread(target=pipe, args=(up, conn), daemon=True).start()

    listener.listen(16)
    threading.Thread(target=accept, daemon=True).start()


def _start_roles_waiting(cluster, roles, what):
    """Starts each role (name -> argv) while `what` does not answer, and checks that its ops port answers from the
    start (/healthz 200, /readyz 503 "starting", /metrics 200), so a supervisor tells a process that is starting from
    one that is dead, and that its log says what it waits for. Returns ({name: Proc}, {name: ops port})."""
    import conftest

    procs, ops_ports = {}, {}
    for name, argv in roles.items():
        for _ in range(3):  # a port taken between the pick and the bind costs an attempt (FRESH_PORT's rule)
            ops = conftest.free_port()
            proc = conftest.Proc(f"starting-{name}", [cluster.bin, *argv], cluster.env(LLMGW_OPS_PORT=ops),
                                 cluster.tmp_path / f"starting-{name}-{ops}.log")
            cluster.procs.append(proc)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and proc.popen.poll() is None:
                try:
                    answers = {path: get(ops, path) for path in ("/healthz", "/readyz", "/metrics")}
                    break
                except OSError:
                    time.sleep(0.02)
            else:
                out = proc.output()
                if "cannot listen on" in out:
                    continue
                pytest.fail(f"{name}: no answer on its ops port while starting:\n{out[-3000:]}")
            procs[name], ops_ports[name] = proc, ops
            break
        assert name in procs, f"{name}: three ops ports in a row were taken"
        assert answers["/healthz"][:2] == (200, '{"status":"ok"}'), name
        assert answers["/readyz"][:2] == (503, '{"status":"starting"}'), name
        assert answers["/metrics"][0] == 200 and "# TYPE" in answers["/metrics"][1], name
        assert _listens_and_alive(proc, ops), f"{name} is not the one answering on {ops}"
    for name, proc in procs.items():
        wait_until(lambda: f"{name}: waiting for {what} at" in proc.output() or proc.popen.poll() is not None, 15)
        assert proc.popen.poll() is None and f"{name}: waiting for {what} at" in proc.output(), name
    return procs, ops_ports


def _ready_after_the_wait(procs, ops_ports, what):
    """Each of procs becomes ready once `what` answers, without a restart, and says how long it waited; then stops
    with exit 0."""
    for name, proc in procs.items():
        wait_until(lambda: get_status(ops_ports[name], "/readyz") == 200 or proc.popen.poll() is not None, 60)
        assert proc.popen.poll() is None, proc.output()[-3000:]
        assert get(ops_ports[name], "/readyz")[0] == 200, name
        assert f"{name}: {what} answered after" in proc.output()
    for proc in procs.values():
        assert proc.stop() == 0


def test_a_role_waits_for_its_broker_alive_and_starting(cluster):
    """Started before its broker answers, a role waits for it (common/kafka_wait.h) instead of giving up after
    10 s: alive and starting meanwhile (_start_roles_waiting); SIGTERM ends the wait with exit 0; and once the broker
    answers, it starts and becomes ready. The broker's address here is a port bound and not listened on
    (connections refused), later opened as a way in to the real broker."""
    import conftest

    real = cluster.kafka.split(",")[0].rsplit(":", 1)
    nobody, nobody_port = conftest.refused_port()
    cluster.kafka = f"127.0.0.1:{nobody_port}"
    procs, ops_ports = _start_roles_waiting(
        cluster, {"worker": ["worker"], "ledger": ["ledger"], "batch": ["batch", "serve"]}, "the Kafka cluster")
    # SIGTERM during the wait: a clean stop, at once.
    t0 = time.monotonic()
    assert procs.pop("ledger").stop() == 0
    assert time.monotonic() - t0 < 10
    forward(nobody, (real[0], int(real[1])))
    _ready_after_the_wait(procs, ops_ports, "the Kafka cluster")
    nobody.close()


def test_the_roles_with_a_database_wait_for_postgresql(cluster):
    """The ledger and the batch runner open their database at start; started while PostgreSQL does not answer, they
    wait for it (common/pg_wait.h) instead of exiting 1, as they do for the broker, and the log names the server,
    never the URL's user. The ingress opens its database connections at first use and needs no wait."""
    import conftest
    from urllib.parse import urlsplit, urlunsplit

    real = urlsplit(cluster.pg_url)
    nobody, nobody_port = conftest.refused_port()
    netloc = real.netloc.rsplit("@", 1)
    cluster.pg_url = urlunsplit(real._replace(netloc=f"{netloc[0]}@127.0.0.1:{nobody_port}" if len(netloc) == 2
                                              else f"127.0.0.1:{nobody_port}"))
    procs, ops_ports = _start_roles_waiting(cluster, {"ledger": ["ledger"], "batch": ["batch", "serve"]},
                                            "PostgreSQL")
    for proc in procs.values():
        assert f"waiting for PostgreSQL at 127.0.0.1:{nobody_port} " in proc.output()
        if real.username:
            assert f"{real.username}@" not in proc.output()
    t0 = time.monotonic()
    assert procs.pop("batch").stop() == 0
    assert time.monotonic() - t0 < 10
    forward(nobody, (real.hostname, real.port))
    _ready_after_the_wait(procs, ops_ports, "PostgreSQL")
    nobody.close()


def get_status(port, path):
    try:
        return get(port, path)[0]
    except OSError:
        return None


def wait_until(cond, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not cond():
        time.sleep(0.1)


def _listens_and_alive(proc, port):
    import conftest
    return proc.popen.poll() is None and conftest._listens(proc.popen.pid, port)


def test_a_port_taken_before_the_bind_is_not_mistaken_for_ready(cluster, monkeypatch):
    """Shards and stages pick ports from one range, so another process can take a port between free_port() and
    the role's bind. A /readyz 200 from that other process must not pass for the role's: the role exits
    ("cannot listen"), and the fixture starts it again on a fresh port (conftest.py, on_a_free_port)."""
    import conftest
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class AlwaysReady(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"status":"ready"}')

        def log_message(self, *args):
            pass

    squatter = HTTPServer(("127.0.0.1", conftest.free_port()), AlwaysReady)
    taken = squatter.server_address[1]
    threading.Thread(target=squatter.serve_forever, daemon=True).start()
    picks = [taken]
    real = conftest.free_port
    monkeypatch.setattr(conftest, "free_port", lambda: picks.pop() if picks else real())
    try:
        proc, port = cluster.ledger()
    finally:
        squatter.shutdown()
        squatter.server_close()
    assert port != taken
    assert conftest._listens(proc.popen.pid, port)
    assert proc.popen.poll() is None
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/readyz")
    assert conn.getresponse().status == 200


def test_a_second_port_taken_before_the_bind_is_picked_anew(cluster, monkeypatch):
    """A setting naming a second port (here the ingress's ops port) given as FRESH_PORT is picked anew with the
    main one when the process could not bind it, as on_a_free_port does for the main port."""
    import conftest

    squatter = socket.create_server(("127.0.0.1", 0))
    taken = squatter.getsockname()[1]
    real = conftest.free_port
    picks = [taken, real()]  # popped from the end: the first start's main port, then its ops port
    monkeypatch.setattr(conftest, "free_port", lambda: picks.pop() if picks else real())
    try:
        proc, port = cluster.ingress("i-ops", LLMGW_INGRESS_OPS_PORT=conftest.FRESH_PORT)
    finally:
        squatter.close()
    assert not picks  # the first start did get the taken port
    ops = int(proc.env["LLMGW_INGRESS_OPS_PORT"])
    assert ops != taken and conftest._listens(proc.popen.pid, ops)
    first = [p for p in cluster.procs if p.name == "i-ops" and p is not proc]
    assert len(first) == 1 and first[0].popen.poll() not in (None, 0)  # it could not bind, and exited
    conn = http.client.HTTPConnection("127.0.0.1", ops, timeout=5)
    conn.request("GET", "/readyz")
    assert conn.getresponse().status == 200


@pytest.mark.parametrize("fake", ["fake_openai.py", "bench_fakeprov"])
def test_a_fake_whose_port_was_taken_starts_on_another(monkeypatch, fake):
    """start_fake and start_bench_fakeprov give a fake whose port another process took first a fresh port, as
    on_a_free_port does."""
    import conftest
    from pathlib import Path

    squatter = socket.create_server(("127.0.0.1", 0))
    taken = squatter.getsockname()[1]
    real = conftest.free_port
    picks = [taken]
    monkeypatch.setattr(conftest, "free_port", lambda: picks.pop() if picks else real())
    try:
        if fake == "bench_fakeprov":
            proc, port = conftest.start_bench_fakeprov(Path(conftest._env("LLMGW_BIN")).parent / "bench_fakeprov")
        else:
            port, proc = conftest.start_fake(fake)
    finally:
        squatter.close()
    try:
        assert not picks and port != taken
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("POST", "/v1/chat/completions", body=chat_body("hi"),
                     headers={"Authorization": "Bearer sk-fake-test-key", "Content-Type": "application/json"})
        assert conn.getresponse().status == 200
    finally:
        proc.terminate()
        proc.wait()


def test_a_redis_whose_port_another_redis_took_starts_on_another(tmp_path, monkeypatch):
    """A PONG from the port is not proof: when another test's Redis took the port first, scripts/redis.sh says so
    (the answering server's pid is not the one it started) and start_redis_on_a_free_port picks a fresh port,
    rather than both tests sharing one Redis."""
    import conftest

    script = str(conftest.ROOT / "scripts" / "redis.sh")
    first = conftest.start_redis_on_a_free_port(tmp_path / "first")
    try:
        taken = int(first.rsplit(":", 1)[1])
        r = subprocess.run(["bash", script, "start", str(tmp_path / "direct"), str(taken)], capture_output=True,
                           text=True)
        # Either way round: the other Redis answered first, or this one's failed bind ended it first.
        assert r.returncode != 0 and ("served by another Redis" in r.stderr or "redis-server exited" in r.stderr and
                                      "Address already in use" in r.stderr), r.stderr
        assert not (tmp_path / "direct" / "redis.pid").exists()
        real = conftest.free_port
        picks = [taken]
        monkeypatch.setattr(conftest, "free_port", lambda: picks.pop() if picks else real())
        second = conftest.start_redis_on_a_free_port(tmp_path / "second")
        try:
            assert not picks and second != first
            pid = (tmp_path / "second" / "redis.pid").read_text().strip()
            info = subprocess.run(["redis-cli", "-p", second.rsplit(":", 1)[1], "info", "server"],
                                  capture_output=True, text=True, check=True).stdout
            assert f"process_id:{pid}" in info.split()
        finally:
            subprocess.run(["bash", script, "stop", str(tmp_path / "second")], check=True)
    finally:
        subprocess.run(["bash", script, "stop", str(tmp_path / "first")], check=True)


def slice_by_thread(pid):
    """{tid: (thread name, se.slice in ns)} of a running process, from /proc (Linux 6.6 and later say it)."""
    out = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{task}/sched") as f:
                line = next((ln for ln in f if ln.startswith("se.slice")), None)
        except (FileNotFoundError, ProcessLookupError):  # a thread that ended meanwhile (ENOENT, or ESRCH mid-read)
            continue
        if line is not None:
            out[task] = (name, int(line.split(":")[1]))
    return out


def kernel_keeps_asked_slices():
    """Whether this kernel keeps a slice a thread asks for (Linux 6.12 and later): asked on a thread of this
    process, through sched_setattr by hand (Python does not wrap it), and read back from /proc."""
    nr = {"x86_64": 314, "aarch64": 274}.get(platform.machine())
    if nr is None:
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    seen = []

    def ask():
        attr = struct.pack("IIQiIQQQ", 48, 0, 0, 0, 0, 300_000, 0, 0)  # SCHED_OTHER, nice 0, a 300 us slice
        buf = ctypes.create_string_buffer(attr)
        if libc.syscall(nr, 0, buf, 0) == 0:
            seen.append(slice_by_thread(os.getpid()).get(str(threading.get_native_id()), ("", 0))[1])

    t = threading.Thread(target=ask)
    t.start()
    t.join()
    return seen == [300_000]


def test_request_path_asks_for_a_short_scheduling_slice(cluster):
    """The ingress and the worker ask for LLMGW_SCHED_SLICE_US (100 us by default) before starting any thread, so
    every one of their threads (the HTTP server's and librdkafka's included) has it and a woken request thread may
    preempt a longer-sliced burst (common/sched_slice.h); the ledger keeps the kernel's slice, as does a process
    asked for 0. test_sched_slice tests the call itself."""
    if not kernel_keeps_asked_slices():
        pytest.skip("this kernel keeps no slice a thread asks for (Linux before 6.12), or does not say it in /proc")
    default_ns = slice_by_thread(os.getpid())[str(threading.get_native_id())][1]
    ledger, _ = cluster.ledger()
    worker, _ = cluster.worker("w1")
    ingress, iport = cluster.ingress("i1")
    conn = http.client.HTTPConnection("127.0.0.1", iport, timeout=30)
    conn.request("POST", "/v1/chat/completions", chat_body("slice"), cluster.headers())
    assert conn.getresponse().status == 200
    for proc in (worker, ingress):
        threads = slice_by_thread(proc.popen.pid)
        assert {ns for _, ns in threads.values()} == {100_000}, threads
        assert any(name.startswith("rdk:") for name, _ in threads.values())
    assert any(name == "http" for name, _ in slice_by_thread(ingress.popen.pid).values())  # httpd/loop.c
    assert {ns for _, ns in slice_by_thread(ledger.popen.pid).values()} == {default_ns}
    off, _ = cluster.worker("w-off", LLMGW_SCHED_SLICE_US="0")
    assert {ns for _, ns in slice_by_thread(off.popen.pid).values()} == {default_ns}
    asked, _ = cluster.worker("w-250", LLMGW_SCHED_SLICE_US="250")
    assert {ns for _, ns in slice_by_thread(asked.popen.pid).values()} == {250_000}


CHILD = """
import os, sys, threading, time
def idle(name, named):
    with open(f"/proc/self/task/{threading.get_native_id()}/comm", "w") as f:
        f.write(name)
    named.set()
    time.sleep(60)
def start(name):
    named = threading.Event()
    threading.Thread(target=idle, args=(name, named), daemon=True).start()
    named.wait()
start("gc-first")
print(os.nice(0), flush=True)
for line in sys.stdin:  # each line: one more thread, started after the slice was set from outside
    start("later")
    print("started", flush=True)
"""


def test_sched_slice_script_gives_a_process_and_its_later_threads_the_slice():
    """scripts/sched_slice.py, for the services that share llmgw's core and have no slice setting of their own
    (the broker, Redis): a command started through it, and every thread of a running process, get the slice;
    threads started afterwards inherit it; the nice value stays; 0 gives back the kernel's."""
    if not kernel_keeps_asked_slices():
        pytest.skip("this kernel keeps no slice a thread asks for (Linux before 6.12), or does not say it in /proc")
    script = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "sched_slice.py")
    default_ns = slice_by_thread(os.getpid())[str(threading.get_native_id())][1]

    def child(argv):
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        return p, int(p.stdout.readline())

    def one_more_thread(p):
        p.stdin.write("\n")
        p.stdin.flush()
        assert p.stdout.readline() == "started\n"

    p, nice = child(["nice", "-n", "3", sys.executable, script, "250", "--", sys.executable, "-c", CHILD])
    try:
        assert nice == 3
        one_more_thread(p)
        threads = slice_by_thread(p.pid)
        assert len(threads) == 3 and {ns for _, ns in threads.values()} == {250_000}, threads
    finally:
        p.kill()
        p.wait()
    p, _ = child([sys.executable, "-c", CHILD])
    try:
        assert {ns for _, ns in slice_by_thread(p.pid).values()} == {default_ns}
        assert subprocess.run([sys.executable, script, "40", "--pid", str(p.pid)]).returncode == 0
        assert {ns for _, ns in slice_by_thread(p.pid).values()} == {100_000}  # clamped, as the kernel would
        one_more_thread(p)
        threads = slice_by_thread(p.pid)
        assert len(threads) == 3 and {ns for _, ns in threads.values()} == {100_000}, threads
        assert subprocess.run([sys.executable, script, "0", "--pid", str(p.pid)]).returncode == 0
        assert {ns for _, ns in slice_by_thread(p.pid).values()} == {default_ns}
    finally:
        p.kill()
        p.wait()
    gone = subprocess.run([sys.executable, script, "100", "--pid", str(p.pid)], capture_output=True, text=True)
    assert gone.returncode == 1 and "no process" in gone.stderr
    bad = subprocess.run([sys.executable, script, "fast", "--pid", "1"], capture_output=True, text=True)
    assert bad.returncode == 2 and "microseconds" in bad.stderr
    # --except: the threads of that name keep what they had (a JVM's collector threads); the others get it.
    p, _ = child([sys.executable, "-c", CHILD])
    try:
        assert subprocess.run([sys.executable, script, "250", "--except", "gc-", "--except", "none-such", "--pid",
                               str(p.pid)]).returncode == 0
        one_more_thread(p)
        threads = slice_by_thread(p.pid)
        by_name = {name: ns for tid, (name, ns) in threads.items() if tid != str(p.pid)}
        assert threads[str(p.pid)][1] == 250_000 and by_name == {"gc-first": default_ns, "later": 250_000}, threads
    finally:
        p.kill()
        p.wait()
    # It names threads of a running process only: a command started through the script has none yet.
    usage = subprocess.run([sys.executable, script, "100", "--except", "gc-", "--", "true"], capture_output=True,
                           text=True)
    assert usage.returncode == 2 and "--except NAME" in usage.stderr
