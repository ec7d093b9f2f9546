"""Fixtures for the end-to-end tests: real llmgw processes against the real Kafka broker, PostgreSQL and
Redis that scripts/test.sh starts (their addresses come in LLMGW_TEST_* variables).

Every test gets its own topic prefix (so its own topics and consumer groups) and its own PostgreSQL
database, so tests never see each other's messages or rows."""
import json
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import psycopg2
import pytest

ROOT = Path(__file__).resolve().parents[2]
# Any of these in a process's output fails its test: ASan/LSan/UBSan (build-asan/) and ThreadSanitizer
# (build-tsan/: "WARNING: ThreadSanitizer: data race", "... lock-order-inversion", "FATAL: ThreadSanitizer:",
# and the "SUMMARY: ThreadSanitizer:" / "ThreadSanitizer: reported N warnings" lines).
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "WARNING: ThreadSanitizer",
                     "ThreadSanitizer:")
SCHEMAS = ROOT / "schemas"


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the end-to-end tests through scripts/test.sh", pytrace=False)
    return value


# Servers the tests start listen below the kernel's ephemeral range (32768-60999 here): a port picked there
# and released can be taken by any client's outgoing connection before the server binds it (a test broker's
# controller lost its port that way on a loaded CI run). Shards and stages pick at random in this range.
_PORTS = range(20000, 32000)


def free_port() -> int:
    return free_port_run(1)


def free_port_run(n: int) -> int:
    """A port p with p..p+n-1 all free (each node's broker and controller ports)."""
    import random
    for _ in range(200):
        p = random.randrange(_PORTS.start, _PORTS.stop - n)
        held = []
        try:
            for q in range(p, p + n):
                t = socket.socket()
                held.append(t)
                t.bind(("127.0.0.1", q))
            return p
        except OSError:
            continue
        finally:
            for t in held:
                t.close()
    raise RuntimeError(f"no {n} adjacent free ports")


def two_free_ports() -> int:
    """A port p with p+1 free too (a test's own Kafka broker puts its controller there)."""
    return free_port_run(2)


def load_schema(name: str) -> dict:
    return json.loads((SCHEMAS / name).read_text())


class Proc:
    """One llmgw process with its stderr captured to a file."""

    def __init__(self, name: str, argv: list, env: dict, log_path: Path):
        self.name = name
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.env = env
        self.popen = subprocess.Popen(argv, env=env, stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        pids = os.environ.get("LLMGW_TEST_PIDS")  # scripts/test.sh ends leftovers by pid if pytest dies
        if pids:
            with open(pids, "a") as f:
                f.write(f"{self.popen.pid}\n")

    def stop(self, timeout: float = 30.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
                pytest.fail(f"{self.name} did not exit within {timeout}s of SIGTERM")
        self.log.close()
        rc = self.popen.returncode
        if rc != 0:
            # Why it did not exit cleanly is in its log, which pytest's temporary directories keep for three runs
            # only: printed, it stays with the output of a test that fails on it.
            tail = self.log_path.read_text(errors="replace").splitlines()[-60:]
            print(f"--- {self.name} exited {rc}; the last {len(tail)} lines of {self.log_path}:\n" + "\n".join(tail))
        return rc

    def kill9(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait()

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")


class PortTaken(Exception):
    """The process exited because another one took one of its ports between free_port() and its bind."""


class _FreshPort:
    """FRESH_PORT: as the value of a setting naming a second port (an ops port), a port picked anew at each
    attempt to start the process (on_a_free_port), so a port taken first costs an attempt, not the test. The
    port a started process got is in its Proc's env."""

    def __repr__(self):
        return "FRESH_PORT"


FRESH_PORT = _FreshPort()


def with_fresh_ports(env: dict) -> dict:
    """env with each FRESH_PORT value replaced by a free port and every value a string."""
    return {k: str(free_port() if v is FRESH_PORT else v) for k, v in env.items()}


def _listens(pid: int, port: int) -> bool:
    """Whether process pid holds the socket listening on port: a 200 from the port proves nothing when shards
    and stages pick ports from one range and another process got this one first."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            f = row.split()
            if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f[9])
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            return True
    return False


def wait_ready(port: int, proc: Proc, timeout: float = 60.0) -> None:
    import http.client
    import re

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            out = proc.output()
            taken = re.search(r"cannot listen on [^ ]*:(\d+)\b", out)
            if taken:  # its main port or a FRESH_PORT one
                raise PortTaken(f"{proc.name}: port {taken.group(1)} taken")
            pytest.fail(f"{proc.name} exited with {proc.popen.returncode}:\n{out[-3000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200 and _listens(proc.popen.pid, port):
                return
        except OSError:
            pass
        time.sleep(0.03)  # every test waits for a few processes: a coarser step adds up over a suite run
    pytest.fail(f"{proc.name} not ready on port {port} after {timeout}s:\n{proc.output()[-3000:]}")


def on_a_free_port(name: str, start, timeout: float = 60.0):
    """start(port) -> Proc, ready on port. A port another process took between the pick and the bind (shards and
    stages pick from one range) is given up for a fresh one, at most three times. Returns (proc, port)."""
    for _ in range(3):
        port = free_port()
        proc = start(port)
        try:
            wait_ready(port, proc, timeout)
            return proc, port
        except PortTaken:
            continue  # the exited process keeps its log (a Cluster's stays in its procs)
    pytest.fail(f"{name}: three ports in a row were taken before it could bind them")


def start_on_a_free_port(name: str, argv: list, env: dict, log_path: Path, timeout: float = 90.0):
    """argv (a process outside a Cluster, such as `llmgw dev`) started with LLMGW_PORT on a free port, ready there
    (on_a_free_port). Returns (proc, port)."""
    return on_a_free_port(name, lambda port: Proc(name, argv, with_fresh_ports({**env, "LLMGW_PORT": port}), log_path),
                          timeout)


class Cluster:
    """Starts llmgw roles for one test, all sharing its topic prefix, keys and database."""

    def __init__(self, tmp_path: Path, pg_url: str):
        self.tmp_path = tmp_path
        self.kafka = _env("LLMGW_TEST_KAFKA")
        self.bin = _env("LLMGW_BIN")
        self.prefix = "t" + uuid.uuid4().hex[:10]
        self.pg_url = pg_url
        out = subprocess.run([self.bin, "keys", "new", "--tenant", "acme"], capture_output=True, text=True,
                             check=True).stdout
        fields = dict(line.split(": ", 1) for line in out.strip().splitlines())
        self.key, self.key_hash = fields["key"], fields["sha256"]
        self.procs: list = []
        self.extra_env: dict = {}  # given to every process this cluster starts

    def env(self, **extra) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LLMGW_")}
        env.update({
            "LLMGW_KAFKA_BROKERS": self.kafka,
            "LLMGW_TOPIC_PREFIX": self.prefix,
            "LLMGW_DATABASE_URL": self.pg_url,
            "LLMGW_TENANT_KEYS": f"acme:{self.key_hash}",
            "LLMGW_LOG_LEVEL": "info",
        })
        env.update(self.extra_env)
        env.update(with_fresh_ports(extra))
        return env

    def start(self, role: str, name: str, binary: str = None, **extra) -> Proc:
        proc = Proc(name, [binary or self.bin, role], self.env(**extra), self.tmp_path / f"{name}.log")
        self.procs.append(proc)
        return proc

    def ingress(self, name: str, **extra):
        return on_a_free_port(name, lambda port: self.start(
            "ingress", name, LLMGW_INGRESS_ID=f"{self.prefix}-{name}", LLMGW_PORT=port, **extra))

    def worker(self, name: str, **extra):
        return on_a_free_port(name, lambda port: self.start(
            "worker", name, LLMGW_WORKER_ID=name, LLMGW_OPS_PORT=port, **extra))

    def ledger(self, name: str = "ledger", **extra):
        return on_a_free_port(name, lambda port: self.start("ledger", name, LLMGW_OPS_PORT=port, **extra))

    def batch_role(self, name: str = "batch", binary: str = None, **extra):
        """The batch role (`llmgw batch serve`), ready on its ops port."""
        def start(port):
            proc = Proc(name, [binary or self.bin, "batch", "serve"], self.env(LLMGW_OPS_PORT=port, **extra),
                        self.tmp_path / f"{name}.log")
            self.procs.append(proc)
            return proc

        return on_a_free_port(name, start)

    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}

    def db(self):
        return psycopg2.connect(self.pg_url)

    def teardown(self, failed: bool) -> None:
        reports, hung = [], []
        # SIGTERM to all first, then wait for each: they drain side by side (a test spent about a second
        # stopping its processes one after another).
        for proc in self.procs:
            if proc.popen.poll() is None:
                proc.popen.send_signal(signal.SIGTERM)
        for proc in self.procs:
            if proc.popen.poll() is None:
                try:
                    proc.stop()  # SIGTERM: a sanitized build reports leaks only on a clean exit
                except pytest.fail.Exception:  # did not exit in time: killed; its log and the others' still print
                    hung.append(proc.name)
                    failed = True
            if not proc.log.closed:
                proc.log.close()
            text = proc.log_path.read_text(errors="replace")
            if any(marker in text for marker in SANITIZER_MARKERS):
                reports.append(proc.name)
                failed = True
            if failed:
                print(f"\n----- {proc.name} (last lines) -----\n{text[-6000:]}")
        self.drop_topics()
        if reports:
            pytest.fail(f"sanitizer report in the output of {', '.join(reports)}")
        if hung:
            pytest.fail(f"{', '.join(hung)} did not exit within 30 s of SIGTERM (killed)")

    def drop_topics(self) -> None:
        """Deletes this test's topics and consumer groups on the shared broker once its processes are gone: a
        suite run creates thousands of them, and a broker that keeps them all grows slower and bigger with every
        test (it ran out of heap once). Best effort: a test's result never depends on it."""
        if self.kafka != os.environ.get("LLMGW_TEST_KAFKA"):
            return  # the test's own broker, stopped by the test
        from confluent_kafka.admin import AdminClient
        admin = AdminClient({"bootstrap.servers": self.kafka})
        try:
            topics = [t for t in admin.list_topics(timeout=5).topics if t.startswith(self.prefix + ".")]
            futures = list(admin.delete_topics(topics, operation_timeout=10).values()) if topics else []
            groups = [g.group_id for g in admin.list_consumer_groups().result(timeout=5).valid
                      if g.group_id.startswith(self.prefix)]
            if groups:
                futures += list(admin.delete_consumer_groups(groups, request_timeout=10).values())
            for f in futures:
                f.exception(timeout=15)
        except Exception as e:  # noqa: BLE001 - cleanup only
            print(f"(topics of {self.prefix} not deleted: {e})")


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database for one test."""
    base = _env("LLMGW_TEST_PG_URL")
    name = "t" + uuid.uuid4().hex[:12]
    admin = psycopg2.connect(base)
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    yield base.rsplit("/", 1)[0] + "/" + name
    admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


def pytest_collection_modifyitems(config, items):
    """LLMGW_TEST_SHARD=K/N keeps every N-th test from the K-th (collection order, so each file's tests are dealt
    out between the shards): scripts/test.sh runs the shards side by side, since the tests wait far more than
    they compute."""
    shard = os.environ.get("LLMGW_TEST_SHARD")
    if not shard:
        return
    k, n = (int(x) for x in shard.split("/"))
    assert 1 <= k <= n, shard
    keep = [item for i, item in enumerate(items) if i % n == k - 1]
    config.hook.pytest_deselected(items=[item for i, item in enumerate(items) if i % n != k - 1])
    items[:] = keep


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def cluster(request, tmp_path, pg_url):
    c = Cluster(tmp_path, pg_url)
    yield c
    # A failure while starting processes (in a test's own fixture) prints the logs too.
    failed = any(getattr(request.node, f"rep_{when}", None) is not None and getattr(request.node, f"rep_{when}").failed
                 for when in ("setup", "call"))
    c.teardown(failed)


def chat_body(content: str, model: str = "echo") -> str:
    return json.dumps({"model": model, "messages": [{"role": "user", "content": content}]})


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def assert_ledger_complete(cur, request_ids: list, timeout: float = 60) -> None:
    """Waits until every request id is in cost_events, then checks that no event is stored twice and that
    no request has two executions unless all but the first are marked as re-runs."""

    def all_in_ledger():
        cur.execute("SELECT count(DISTINCT request_id) FROM cost_events WHERE request_id = ANY(%s)", (request_ids,))
        return cur.fetchone()[0] == len(request_ids)

    wait_for(all_in_ledger, timeout, "every answered request id in the ledger")
    cur.execute("SELECT count(*), count(DISTINCT event_id) FROM cost_events")
    total, distinct = cur.fetchone()
    assert total == distinct
    cur.execute("SELECT request_id, count(*) FROM cost_events WHERE NOT rerun AND COALESCE(final, true)"
                " GROUP BY 1 HAVING count(*) > 1")
    assert cur.fetchall() == [], "a request was counted twice without being marked as a re-run"


def fake_fixture(script: str, *args: str):
    """A module-scoped fixture running tests/fakes/<script> for the module's tests; yields its port."""
    @pytest.fixture(scope="module")
    def fake():
        port, proc = start_fake(script, *args)
        yield port
        proc.terminate()
        proc.wait()
    return fake


def start_fake(script: str, *args: str):
    """Starts tests/fakes/<script> on a free port (with extra args); returns (port, process). A fake that exits
    before it says "ready" (another process took its port first: shards and stages pick from one range) is
    started again on a fresh port, at most three times."""
    import sys
    for _ in range(3):
        port = free_port()
        proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fakes" / script), str(port), *args],
                                stdout=subprocess.PIPE, text=True)
        if proc.stdout.readline().strip() == "ready":
            return port, proc
        proc.wait()
    pytest.fail(f"{script} did not start, three times in a row")


def start_bench_fakeprov(binary, *args: str):
    """Starts bench_fakeprov (binary) on a free port with args; returns (process, port). As start_fake: one that
    does not say "ready" (its port was taken first) is started again on a fresh port, at most three times."""
    for _ in range(3):
        port = free_port()
        proc = subprocess.Popen([str(binary), "--port", str(port), *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        if proc.stdout.readline().strip() == "ready":
            proc.stderr.close()  # nothing reads it from here on: a full pipe must not block the fake
            return proc, port
        err = proc.communicate(timeout=10)[1]
        if "cannot listen" not in err:
            pytest.fail(f"bench_fakeprov did not start: {err[-2000:]}")
    pytest.fail("bench_fakeprov: three ports in a row were taken before it could bind them")


def start_redis_on_a_free_port(rdir: Path):
    """A Redis of the test's own (scripts/redis.sh) in rdir on a free port, again on a fresh one when the port was
    taken first (at most three times); returns its host:port. The caller stops it (redis.sh stop rdir)."""
    script = str(ROOT / "scripts" / "redis.sh")
    for _ in range(3):
        r = subprocess.run(["bash", script, "start", str(rdir), str(free_port())], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.strip()
        subprocess.run(["bash", script, "stop", str(rdir)], capture_output=True)
    pytest.fail(f"redis.sh could not start Redis, three times in a row: {r.stderr[-2000:]}")


def refused_port():
    """(socket, port): a loopback port bound and never listened on, so connections to it are refused for as long
    as the caller keeps the socket (a port merely found free could be taken by anything meanwhile)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


class Record:
    """One Kafka record as the tests look at it: key, headers (name -> str) and the JSON payload."""

    def __init__(self, msg):
        self.topic, self.partition = msg.topic(), msg.partition()
        self.key = msg.key().decode() if msg.key() is not None else None
        self.headers = {k: (v.decode() if v is not None else None) for k, v in (msg.headers() or [])}
        self.value = json.loads(msg.value())


def read_records(kafka: str, topics: list, want, timeout: float = 30.0) -> dict:
    """Reads topics from the beginning until want({topic: [Record]}) is true; returns that dict."""
    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": kafka, "group.id": "test-" + uuid.uuid4().hex,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe(topics)
    got = {t: [] for t in topics}
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not want(got):
            msg = c.poll(0.2)
            if msg is None or msg.error():
                continue
            got[msg.topic()].append(Record(msg))
    finally:
        c.close()
    assert want(got), f"did not see the expected records within {timeout}s: { {t: len(v) for t, v in got.items()} }"
    return got
