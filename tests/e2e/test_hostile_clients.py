"""Hostile clients: slowloris (a head trickled a byte at a time), slow POST (a body trickled), thousands of idle
connections, a flood of connections that never send, and pipelined requests. In each, a well-behaved client on
another connection is still answered 200 while the attack runs, the hostile connection meets the configured
limit (a 408 or a close, counted in llmgw_http_read_timeouts_total), and the ingress's memory stays bounded.

The bounds are generous on purpose (a noisy, shared machine): every deadline asserted is several times the
configured timeout."""
import http.client
import json
import os
import re
import resource
import select
import socket
import threading
import time

import pytest

from conftest import chat_body, wait_for

HEAD_TIMEOUT_MS = 1500
BODY_TIMEOUT_MS = 1500


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
              "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING"}


def fd_report(pid: int, port: int) -> dict:
    """What a process's open files are, for a failure message: counts by kind, and its TCP sockets by state,
    apart for the connections to `port` (the ingress's own clients)."""
    inodes = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                for line in list(f)[1:]:
                    cols = line.split()
                    local_port = int(cols[1].rsplit(":", 1)[1], 16)
                    inodes[cols[9]] = ("clients" if local_port == port else "other tcp") + " " + TCP_STATES.get(
                        cols[3], cols[3])
        except OSError:
            pass
    kinds = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        m = re.fullmatch(r"socket:\[(\d+)\]", target)
        kind = inodes.get(m.group(1), "socket (not tcp)") if m else re.sub(r"[:/].*", "", target) or target
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def raise_nofile() -> int:
    """The soft open-files limit raised to the hard one (children inherit it); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def chat(port, content, source="127.0.0.1", headers=None, timeout=30):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    conn.request("POST", "/v1/chat/completions", chat_body(content), headers)
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    return resp.status, raw


def read_timeouts(port, phase):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    m = re.search(r'^llmgw_http_read_timeouts_total\{phase="%s"\} (\d+)' % phase, text, re.M)
    assert m, "llmgw_http_read_timeouts_total is not in /metrics"
    return int(m.group(1))


class RealTraffic:
    """A well-behaved client on its own connections, sending a chat request after another while an attack runs;
    every answer must be a 200 with its own content."""

    def __init__(self, port, headers, source="127.0.0.1"):
        self.port, self.headers, self.source = port, headers, source
        self.stop = threading.Event()
        self.answers, self.failures = 0, []
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        i = 0
        while not self.stop.is_set():
            text = f"real request {i}"
            try:
                status, raw = chat(self.port, text, self.source, self.headers)
                if status != 200 or json.loads(raw)["choices"][0]["message"]["content"] != text:
                    self.failures.append((status, raw[:300]))
                else:
                    self.answers += 1
            except OSError as e:
                self.failures.append(repr(e))
            i += 1
            time.sleep(0.05)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(60)

    def wait(self, seconds, at_least=3, limit=60):
        """Runs for seconds, then on until at_least answers or a failure (a sanitizer build on a loaded machine
        answers a request a second or slower), at most limit seconds in all."""
        start = time.monotonic()
        time.sleep(seconds)
        while self.answers < at_least and not self.failures and time.monotonic() - start < limit:
            time.sleep(0.1)

    def check(self, at_least=3):
        assert not self.failures, f"real requests failed during the attack: {self.failures[:5]}"
        assert self.answers >= at_least, f"only {self.answers} real requests answered during the attack"


def readable(sock, timeout: float) -> bool:
    """Whether sock has bytes or an end to read within timeout seconds (poll: select() cannot take the socket
    numbers past 1,024 these tests open)."""
    p = select.poll()
    p.register(sock, select.POLLIN | select.POLLHUP | select.POLLERR)
    return bool(p.poll(int(timeout * 1000)))


def outcome(sock, wait):
    """What the server did to a hostile connection within wait seconds: '408', 'closed', or None (still open).
    Never sends."""
    deadline = time.monotonic() + wait
    got = b""
    while time.monotonic() < deadline:
        if not readable(sock, 0.1):
            continue
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, OSError):
            return "408" if got.startswith(b"HTTP/1.1 408") else "closed"
        if not chunk:
            return "408" if got.startswith(b"HTTP/1.1 408") else "closed"
        got += chunk
    return None


def trickle(socks, data: bytes, interval: float, limit: float):
    """Sends data a byte at a time on every socket in socks, round-robin, every interval seconds, until the
    server ends each one (or limit seconds pass). Returns {socket: ('408' | 'closed' | None, seconds, bytes sent)}
    and keeps what each socket received in trickle.received."""
    start = time.monotonic()
    pos = {s: 0 for s in socks}
    result = {}
    received = {s: b"" for s in socks}
    while len(result) < len(socks) and time.monotonic() - start < limit:
        for s in socks:
            if s in result:
                continue
            ended = False
            if readable(s, 0):
                try:
                    chunk = s.recv(65536)
                except OSError:
                    chunk = b""
                received[s] += chunk
                ended = not chunk
            if not ended and pos[s] < len(data):
                try:
                    s.send(data[pos[s]:pos[s] + 1])
                    pos[s] += 1
                except OSError:
                    ended = True
            if ended or received[s].startswith(b"HTTP/1.1 408"):
                kind = "408" if received[s].startswith(b"HTTP/1.1 408") else "closed"
                result[s] = (kind, time.monotonic() - start, pos[s])
        time.sleep(interval)
    for s in socks:
        result.setdefault(s, (None, time.monotonic() - start, pos[s]))
    trickle.received = received
    return result


def assert_408_body(raw: bytes):
    """raw is a whole 408 answer: OpenAI-shaped, request_timeout, and the connection said to close."""
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"\r\nConnection: close" in head, head
    err = json.loads(body)["error"]
    assert err["code"] == "request_timeout" and err["type"] == "timeout_error" and err["message"], err


@pytest.fixture
def gw(cluster):
    cluster.worker("w1")
    proc, port = cluster.ingress("i1", LLMGW_HTTP_HEADER_TIMEOUT_MS=HEAD_TIMEOUT_MS,
                                 LLMGW_HTTP_BODY_TIMEOUT_MS=BODY_TIMEOUT_MS, LLMGW_HTTP_BODY_MIN_RATE=1000,
                                 LLMGW_HTTP_IDLE_TIMEOUT_S=30)
    return cluster, proc, port


def test_slowloris_head_trickled_gets_408_and_real_requests_are_served(gw):
    cluster, proc, port = gw
    rss_before = rss_kib(proc.popen.pid)
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(50)]
    # A head that would never end: a header line after another, a byte every 0.1 s.
    head = b"GET /v1/models HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-Pad-%d: y\r\n" % i for i in range(500))
    with RealTraffic(port, cluster.headers()) as real:
        result = trickle(socks, head, 0.1, limit=20 * HEAD_TIMEOUT_MS / 1000)
    real.check()
    kinds = [kind for kind, _, _ in result.values()]
    assert None not in kinds, f"slowloris connections still open after 20x the head timeout: {kinds.count(None)}"
    assert all(k in ("408", "closed") for k in kinds)
    assert kinds.count("408") > 0, "no slowloris connection was told 408"
    assert_408_body(next(trickle.received[s] for s, (kind, _, _) in result.items() if kind == "408"))
    sent = [n for _, _, n in result.values()]
    assert max(sent) < len(head), "a connection sent its whole trickled head before it was cut"
    assert read_timeouts(port, "head") >= len(socks)
    for s in socks:
        s.close()
    rss_after = rss_kib(proc.popen.pid)
    print(f"\nslowloris: {kinds.count('408')} answered 408, {kinds.count('closed')} closed; "
          f"ingress RSS {rss_before} -> {rss_after} KiB")
    assert rss_after - rss_before < 100 * 1024
    # The ingress serves as before, on a fresh connection.
    assert chat(port, "after slowloris", headers=cluster.headers())[0] == 200


def test_slow_post_body_trickled_gets_408_and_real_requests_are_served(gw):
    cluster, proc, port = gw
    rss_before = rss_kib(proc.popen.pid)
    body = chat_body("x" * 2000).encode()
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {cluster.key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    socks = []
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(head)  # the head at once: only the body is slow
        socks.append(s)
    with RealTraffic(port, cluster.headers()) as real:
        result = trickle(socks, body, 0.1, limit=20 * BODY_TIMEOUT_MS / 1000)
    real.check()
    kinds = [kind for kind, _, _ in result.values()]
    assert None not in kinds, f"slow POST connections still open after 20x the body timeout: {kinds}"
    assert kinds.count("408") > 0, f"no slow POST was told 408: {kinds}"
    assert_408_body(next(trickle.received[s] for s, (kind, _, _) in result.items() if kind == "408"))
    assert max(n for _, _, n in result.values()) < len(body)
    assert read_timeouts(port, "body") >= len(socks)
    for s in socks:
        s.close()
    rss_after = rss_kib(proc.popen.pid)
    print(f"\nslow POST: {kinds.count('408')} answered 408, {kinds.count('closed')} closed; "
          f"ingress RSS {rss_before} -> {rss_after} KiB")
    assert rss_after - rss_before < 100 * 1024

    # A body sent faster than http_body_min_rate, but for longer than http_body_timeout_ms, is not cut off:
    # 3 KiB at ~1.5 KiB/s take about 2 s and have 1.5 s + 3 s.
    text = "y" * 3000
    body = chat_body(text).encode()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall((f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {cluster.key}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode())
    for i in range(0, len(body), 150):
        s.sendall(body[i:i + 150])
        time.sleep(0.1)
    resp = http.client.HTTPResponse(s)
    resp.begin()
    assert resp.status == 200
    assert json.loads(resp.read())["choices"][0]["message"]["content"] == text
    s.close()


def test_thousands_of_idle_connections(cluster):
    """5,000 connections that connect and say nothing (the head timeout is long here, so they stay): the ingress
    holds them all, says how much memory each costs, and still answers real requests."""
    n = 5000
    assert raise_nofile() >= n + 2000, "the open-files limit is too low for this test"
    cluster.worker("w1")
    proc, port = cluster.ingress("i1", LLMGW_MAX_CONNECTIONS=n + 1000, LLMGW_HTTP_HEADER_TIMEOUT_MS=300000,
                                 LLMGW_HTTP_IDLE_TIMEOUT_S=300)
    pid = proc.popen.pid
    for i in range(20):  # warm: threads, pools and caches the first requests create are not counted
        assert chat(port, f"warm {i}", headers=cluster.headers())[0] == 200
    time.sleep(0.5)
    rss_before, fds_before = rss_kib(pid), open_fds(pid)
    socks = []
    try:
        for _ in range(n):
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=30))
        # Each one accepted by the ingress is a file of its own there.
        wait_for(lambda: open_fds(pid) >= fds_before + n, 60, f"the ingress to accept {n} connections")
        with RealTraffic(port, cluster.headers()) as real:
            time.sleep(2)
        real.check()
        rss_after = rss_kib(pid)
        per_conn = (rss_after - rss_before) * 1024 / n
        print(f"\n{n} idle connections: ingress RSS {rss_before} -> {rss_after} KiB, "
              f"{per_conn:.0f} bytes per idle connection")
        # An idle connection holds the HTTP server's connection struct (about 0.3 KB, httpd/server_int.h) and the
        # head watch's entry: 0.4 KB measured. 4 KiB would be a buffer held while nothing is sent (libmicrohttpd's
        # pool made it 4.7 KB). A sanitizer's shadow memory multiplies it.
        sanitized = any(s in os.path.basename(os.path.dirname(cluster.bin)) for s in ("asan", "tsan"))
        assert per_conn < (256 if sanitized else 4) * 1024
        # None was closed meanwhile: each still open, waiting for its head.
        p = select.poll()
        for s in socks:
            p.register(s, select.POLLIN | select.POLLHUP | select.POLLERR)
        ended = p.poll(0)
        assert ended == [], f"{len(ended)} idle connections were ended early"
    finally:
        for s in socks:
            s.close()
    try:
        wait_for(lambda: open_fds(pid) <= fds_before + 50, 60, "the ingress to close the idle connections")
    except pytest.fail.Exception:
        # Once seen in CI under load and not since: say what the files are, should it come back.
        pytest.fail(f"the ingress still has {open_fds(pid)} files open ({fds_before} before the connections): "
                    f"{fd_report(pid, port)}")
    assert chat(port, "after the idle connections", headers=cluster.headers())[0] == 200


def test_flood_of_connections_that_never_send(cluster):
    """One address opens far more connections than it may hold and never sends a byte. Those past the per-address
    cap are closed at once, the rest get a 408 at the head timeout, and a client at another address is answered
    all the while."""
    raise_nofile()
    per_ip, flood = 200, 1000
    cluster.worker("w1")
    proc, port = cluster.ingress("i1", LLMGW_MAX_CONNECTIONS=1000, LLMGW_MAX_CONNECTIONS_PER_IP=per_ip,
                                 LLMGW_HTTP_HEADER_TIMEOUT_MS=HEAD_TIMEOUT_MS, LLMGW_HTTP_IDLE_TIMEOUT_S=30)
    rss_before = rss_kib(proc.popen.pid)
    socks = []
    with RealTraffic(port, cluster.headers(), source="127.0.0.1") as real:
        for _ in range(flood):  # the attacker is 127.0.0.2 (all of 127/8 is this machine)
            s = socket.socket()
            s.bind(("127.0.0.2", 0))
            s.settimeout(30)
            s.connect(("127.0.0.1", port))
            socks.append(s)
        results = [outcome(s, 0) for s in socks]  # nothing yet, or the at-once close
        deadline = time.monotonic() + 20 * HEAD_TIMEOUT_MS / 1000
        while None in results and time.monotonic() < deadline:
            for i, s in enumerate(socks):
                if results[i] is None:
                    results[i] = outcome(s, 0.001)
        time.sleep(0.5)
    real.check()
    for s in socks:
        s.close()
    assert None not in results, f"{results.count(None)} flood connections still open after 20x the head timeout"
    told = results.count("408")
    # The ones the ingress held (the cap's worth, and more as the first ones time out and free their places) were
    # told 408; the ones past the cap were closed unanswered.
    assert told >= per_ip // 2, f"only {told} flood connections answered 408 with a cap of {per_ip}"
    assert results.count("closed") > 0, "no connection past the per-address cap was refused"
    assert read_timeouts(port, "head") >= told
    rss_after = rss_kib(proc.popen.pid)
    print(f"\nflood of {flood}: {told} held then told 408, {results.count('closed')} closed; "
          f"{real.answers} real requests answered meanwhile; ingress RSS {rss_before} -> {rss_after} KiB")
    assert rss_after - rss_before < 100 * 1024


def read_response(f):
    """One HTTP/1.1 response from the buffered reader f: (status, headers, body)."""
    status_line = f.readline()
    assert status_line.startswith(b"HTTP/1.1 "), status_line
    status = int(status_line.split()[1])
    headers = {}
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        k, v = line.decode().split(":", 1)
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        body = f.read(int(headers["content-length"]))
    else:
        assert headers.get("transfer-encoding") == "chunked", headers
        body = b""
        while True:
            size = int(f.readline().split(b";")[0], 16)
            if size == 0:
                f.readline()
                break
            body += f.read(size)
            f.readline()
    return status, headers, body


def test_pipelined_requests_answered_in_order(gw):
    cluster, proc, port = gw
    texts = [f"pipelined {i}" for i in range(8)]
    wire = b""
    for i, text in enumerate(texts):
        body = chat_body(text).encode()
        wire += (f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {cluster.key}\r\n"
                 f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
        if i == 3:  # a GET between them, and one that is refused, keep their places too
            wire += b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + cluster.key.encode() + b"\r\n\r\n"
            wire += b"GET /v1/nothing-here HTTP/1.1\r\nHost: x\r\n\r\n"
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    with RealTraffic(port, cluster.headers()) as real:
        s.sendall(wire)  # every request in one write: the server finds the next ones already buffered
        f = s.makefile("rb")
        got = []
        for i in range(len(texts) + 2):
            status, headers, body = read_response(f)
            got.append((status, body))
    real.check(at_least=1)
    answers = iter(got)
    for i, text in enumerate(texts):
        status, body = next(answers)
        assert status == 200, body
        assert json.loads(body)["choices"][0]["message"]["content"] == text
        if i == 3:
            status, body = next(answers)
            assert status == 200 and json.loads(body)["object"] == "list"
            status, body = next(answers)
            assert status == 404 and json.loads(body)["error"]
    # The connection is still usable after them.
    body = chat_body("after the pipeline").encode()
    s.sendall((f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {cluster.key}\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
    status, _, body = read_response(f)
    assert status == 200 and json.loads(body)["choices"][0]["message"]["content"] == "after the pipeline"
    s.close()
