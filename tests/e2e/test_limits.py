"""Rate limits through the real processes, real Kafka and real Redis: two ingress instances share one limit
exactly (requests and tokens), the window slides, the in-flight limit holds with slow streams, the answers
carry OpenAI's (and Anthropic's) headers, the openai SDK's retries get through, and with Redis stopped
mid-run requests keep flowing under each instance's in-memory limiter until Redis is back.

Each test's keys live under its own topic prefix, so the shared test Redis needs no cleanup; the test that
stops Redis runs its own instance."""
import http.client
import json
import re
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest
from openai import OpenAI

from conftest import ROOT, _env, chat_body, fake_fixture, refused_port, start_redis_on_a_free_port, wait_for

fake = fake_fixture("fake_openai.py")


def post(port, key, body, path="/v1/chat/completions", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    h = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    h.update(headers or {})
    conn.request("POST", path, body, h)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def metric(port, name):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    m = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def shared(cluster, **limits):
    # A generous budget: on a loaded test machine a command can take more than the default 5 ms, and a
    # request decided in memory (by design, when Redis is slow) would make the exact counts below inexact.
    cluster.extra_env.update({"LLMGW_REDIS_URL": "redis://" + _env("LLMGW_TEST_REDIS"),
                              "LLMGW_REDIS_TIMEOUT_MS": "1000", **limits})


def test_two_ingresses_share_one_request_limit(cluster):
    shared(cluster, LLMGW_LIMIT_TENANT_RPM="100")
    cluster.worker("w1")
    _, p1 = cluster.ingress("i1")
    _, p2 = cluster.ingress("i2")
    ports = [p1, p2] * 150
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda i: post(ports[i], cluster.key, chat_body(f"n{i}")), range(300)))
    statuses = [s for s, _, _ in results]
    assert statuses.count(200) == 100, statuses
    assert statuses.count(429) == 200
    # Each instance admitted some: the limit is shared, not per instance.
    assert {ports[i] for i, s in enumerate(statuses) if s == 200} == {p1, p2}
    _, h, data = next(r for r in results if r[0] == 429)
    err = json.loads(data)["error"]
    assert err["code"] == "rate_limit_exceeded" and err["type"] == "requests"
    assert 1 <= int(h["retry-after"]) <= 60 and 0 < int(h["retry-after-ms"]) <= 60000
    assert h["x-ratelimit-limit-requests"] == "100" and h["x-ratelimit-remaining-requests"] == "0"
    assert re.fullmatch(r"(\d+m)?\d+(\.\d+)?s|\d+ms", h["x-ratelimit-reset-requests"])
    _, h, _ = next(r for r in results if r[0] == 200)
    assert h["x-ratelimit-limit-requests"] == "100" and "x-ratelimit-limit-tokens" not in h


def test_token_limit_shared_with_reported_usage(cluster, fake):
    # The fake reports prompt_tokens = 10 per message and completion_tokens = words of "fake: <text>" (2):
    # 12 tokens each, so a limit of 120 per window admits exactly 10 requests, whatever the estimate was.
    shared(cluster, LLMGW_LIMIT_TENANT_TPM="120", LLMGW_OPENAI_BASE_URL=f"http://127.0.0.1:{fake}/v1",
           LLMGW_OPENAI_API_KEY="sk-fake-test-key")
    cluster.worker("w1")
    _, p1 = cluster.ingress("i1")
    _, p2 = cluster.ingress("i2")
    statuses = []
    for i in range(30):
        status, h, data = post([p1, p2][i % 2], cluster.key, chat_body(f"t{i}", model="gpt-4o-mini"))
        statuses.append(status)
        if status == 200:
            assert json.loads(data)["usage"]["total_tokens"] == 12
            assert h["x-ratelimit-limit-tokens"] == "120"
        else:
            assert json.loads(data)["error"]["type"] == "tokens", data
    assert statuses.count(200) == 10, statuses


class SlowReleaseRedis:
    """A TCP proxy in front of the test Redis that holds each ingress's end-of-request script (the one that
    frees the in-flight slot and corrects the token reservation) for `delay` seconds before passing it on.
    Everything else passes at once. It widens the gap between an answer and the end of its hold from
    microseconds to the delay, so a hold ended after the client saw its answer would show in every run.

    The end script is told from the admission script by its shape (limits.c): EVALSHA sha nkeys, then the
    keys, then id, used, n, the admission's time, the tokens reserved and one kind per key (8 + 2n arguments);
    admission passes 8 + 3n."""

    def __init__(self, upstream, delay):
        self.upstream = upstream.split(":")
        self.delay, self.held = delay, 0
        self.lsock = socket.create_server(("127.0.0.1", 0))
        self.port = self.lsock.getsockname()[1]
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            u = socket.create_connection((self.upstream[0], int(self.upstream[1])))
            self.socks += [c, u]
            threading.Thread(target=self._pipe, args=(u, c), daemon=True).start()
            threading.Thread(target=self._commands, args=(c, u), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass

    @staticmethod
    def _parse(buf):
        """One RESP command from buf: (its argv, its bytes) or None while incomplete."""
        if not buf.startswith(b"*") or b"\r\n" not in buf:
            return None
        head, pos = buf.split(b"\r\n", 1)[0], buf.index(b"\r\n") + 2
        argv = []
        for _ in range(int(head[1:])):
            end = buf.find(b"\r\n", pos)
            if end < 0:
                return None
            size = int(buf[pos + 1:end])
            if len(buf) < end + 2 + size + 2:
                return None
            argv.append(buf[end + 2:end + 2 + size])
            pos = end + 2 + size + 2
        return argv, pos

    def _commands(self, src, dst):
        buf = b""
        try:
            while data := src.recv(65536):
                buf += data
                while cmd := self._parse(buf):
                    argv, used = cmd
                    if argv[0].upper() in (b"EVALSHA", b"EVAL") and len(argv) == 8 + 2 * int(argv[2]):
                        self.held += 1
                        time.sleep(self.delay)
                    dst.sendall(buf[:used])
                    buf = buf[used:]
        except OSError:
            pass

    def close(self):
        self.lsock.close()
        for s in self.socks:
            s.close()


def test_limits_settled_before_the_answer(cluster, fake):
    # A client sending its next request the moment it has an answer, alternately to two ingresses, meets
    # exact limits even with each hold's end taking 300 ms to reach Redis: the ingress ends the hold before
    # it writes the answer. Tokens: 12 per request against a limit of 120, whatever the estimate was. In
    # flight: 1, so a request finding the previous one's slot still held would be refused. Streams too.
    proxy = SlowReleaseRedis(_env("LLMGW_TEST_REDIS"), 0.3)
    try:
        cluster.extra_env.update({"LLMGW_REDIS_URL": f"redis://127.0.0.1:{proxy.port}",
                                  "LLMGW_REDIS_TIMEOUT_MS": "2000", "LLMGW_LIMIT_TENANT_TPM": "120",
                                  "LLMGW_LIMIT_TENANT_INFLIGHT": "1",
                                  "LLMGW_OPENAI_BASE_URL": f"http://127.0.0.1:{fake}/v1",
                                  "LLMGW_OPENAI_API_KEY": "sk-fake-test-key"})
        cluster.worker("w1")
        _, p1 = cluster.ingress("i1")
        _, p2 = cluster.ingress("i2")
        statuses = []
        for i in range(14):
            body = json.loads(chat_body(f"q{i}", model="gpt-4o-mini"))
            if i % 3 == 2:
                body.update(stream=True, stream_options={"include_usage": True})
            status, _, data = post([p1, p2][i % 2], cluster.key, json.dumps(body))
            statuses.append(status)
            if status != 200:
                assert status == 429 and json.loads(data)["error"]["type"] == "tokens", data
        assert statuses == [200] * 10 + [429] * 4, statuses
        assert proxy.held >= 10  # every admitted request's hold ended through the slow path
        assert metric(p1, "llmgw_limits_local") == 0 and metric(p2, "llmgw_limits_local") == 0
    finally:
        proxy.close()


def test_window_slides(cluster):
    # 5 per 4 s window, requests 0.3 s apart: the 6th waits for the 1st to leave, not for a fixed boundary;
    # then exactly one more fits, until the 2nd leaves too. Times are bracketed by what the client saw (an
    # entry's time in Redis is between the request's sending and its answer).
    shared(cluster, LLMGW_LIMIT_TENANT_RPM="5", LLMGW_LIMIT_WINDOW_MS="4000")
    cluster.worker("w1")
    _, port = cluster.ingress("i1")
    before, after = [], []
    for i in range(5):
        before.append(time.monotonic())
        assert post(port, cluster.key, chat_body(f"s{i}"))[0] == 200
        after.append(time.monotonic())
        time.sleep(0.3)
    now = time.monotonic()
    status, h, _ = post(port, cluster.key, chat_body("s5"))
    assert status == 429
    assert int(h["retry-after-ms"]) <= (after[0] + 4 - now) * 1000 + 1  # until the 1st leaves
    time.sleep(after[0] + 4.05 - time.monotonic())
    assert post(port, cluster.key, chat_body("s6"))[0] == 200  # the 1st left: one place
    now = time.monotonic()
    status, h, _ = post(port, cluster.key, chat_body("s7"))
    if time.monotonic() < before[1] + 4:  # answered before the 2nd could have left (its entry is after before[1])
        assert status == 429  # the 2nd has not left yet
        assert int(h["retry-after-ms"]) <= (after[1] + 4 - now) * 1000 + 1
    else:  # a slow machine took s6 past the 2nd's exit: s7 may fit, and the check above cannot be made
        assert status in (200, 429)


def test_inflight_limit_with_slow_streams(cluster, fake):
    shared(cluster, LLMGW_LIMIT_TENANT_INFLIGHT="2", LLMGW_OPENAI_BASE_URL=f"http://127.0.0.1:{fake}/v1",
           LLMGW_OPENAI_API_KEY="sk-fake-test-key")
    cluster.worker("w1")
    _, p1 = cluster.ingress("i1")
    _, p2 = cluster.ingress("i2")
    slow = json.dumps({"model": "gpt-4o-mini", "stream": True,
                       "messages": [{"role": "user", "content": "slowstream 20"}]})  # 2 s each
    with ThreadPoolExecutor(2) as pool:
        streams = [pool.submit(post, p, cluster.key, slow) for p in (p1, p2)]
        time.sleep(1.0)  # both are streaming now
        status, _, data = post(p1, cluster.key, chat_body("third"))
        assert status == 429, data
        assert "in flight" in json.loads(data)["error"]["message"]
        assert post(p2, cluster.key, chat_body("fourth"))[0] == 429
        assert [f.result()[0] for f in streams] == [200, 200]
    # Both ended: their slots are free again on either instance.
    assert post(p1, cluster.key, chat_body("after"))[0] == 200
    assert post(p2, cluster.key, chat_body("after2"))[0] == 200


def test_inflight_released_when_the_client_leaves_or_the_deadline_passes(cluster, fake):
    shared(cluster, LLMGW_LIMIT_TENANT_INFLIGHT="1", LLMGW_OPENAI_BASE_URL=f"http://127.0.0.1:{fake}/v1",
           LLMGW_OPENAI_API_KEY="sk-fake-test-key")
    cluster.worker("w1")
    _, port = cluster.ingress("i1")
    slow = json.dumps({"model": "gpt-4o-mini", "stream": True,
                       "messages": [{"role": "user", "content": "slowstream 50"}]})  # 5 s
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall((f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {cluster.key}\r\n"
                  f"Content-Type: application/json\r\nContent-Length: {len(slow)}\r\n\r\n{slow}").encode())
    assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    assert post(port, cluster.key, chat_body("busy"))[0] == 429  # the stream holds the one slot
    sock.close()  # gone mid-stream: its slot is freed
    wait_for(lambda: post(port, cluster.key, chat_body("free again"))[0] == 200, 5, "the slot back")
    # A request past its deadline (504) frees its slot too, before its answer is written (as the 200 above
    # did): a request sent the moment the 504 arrives finds the slot free.
    status, _, data = post(port, cluster.key, json.dumps({"model": "gpt-4o-mini", "messages": [
        {"role": "user", "content": "slow 2000"}]}), headers={"x-llmgw-timeout-ms": "300"})
    assert status == 504, data
    assert post(port, cluster.key, chat_body("after the deadline"))[0] == 200


def test_headers_only_when_a_limit_applies_and_anthropic_names(cluster):
    cfg = cluster.tmp_path / "limits.json"
    cfg.write_text(json.dumps({"tenants": {"acme": {"rpm": 50, "tpm": 100000, "user": {"rpm": 3},
                                                    "models": {"echo": {"tpm": 5000}}}}}))
    shared(cluster, LLMGW_CONFIG=str(cfg))
    cluster.worker("w1")
    _, port = cluster.ingress("i1")
    status, h, _ = post(port, cluster.key, chat_body("no user"))
    assert status == 200
    assert h["x-ratelimit-limit-requests"] == "50" and h["x-ratelimit-remaining-requests"] == "49"
    assert h["x-ratelimit-limit-tokens"] == "5000"  # the model's limit: the least left
    assert int(h["x-ratelimit-remaining-tokens"]) < 5000
    # A user's own limit is the most restrictive one now.
    status, h, _ = post(port, cluster.key, chat_body("bob"), headers={"x-llmgw-user": "bob"})
    assert h["x-ratelimit-limit-requests"] == "3" and h["x-ratelimit-remaining-requests"] == "2"
    body = json.dumps({"model": "echo", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]})
    status, h, _ = post(port, cluster.key, body, path="/v1/messages")
    assert status == 200
    assert h["anthropic-ratelimit-requests-limit"] == "50"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", h["anthropic-ratelimit-requests-reset"])
    assert "x-ratelimit-limit-requests" not in h
    # Refused on /v1/messages: Anthropic's error shape, with Retry-After for the Anthropic SDK's retries.
    for i in range(3):
        status, h, data = post(port, cluster.key, chat_body(f"bob{i}"), headers={"x-llmgw-user": "bob"})
    assert status == 429
    mbody = json.dumps({"model": "echo", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]})
    status, h, data = post(port, cluster.key, mbody, path="/v1/messages", headers={"x-llmgw-user": "bob"})
    assert status == 429
    err = json.loads(data)
    assert err["type"] == "error" and err["error"]["type"] == "rate_limit_error", err
    assert int(h["retry-after"]) >= 1 and h["anthropic-ratelimit-requests-remaining"] == "0"
    # No limit for this tenant's other models? Every request still falls under the tenant's rpm; a config
    # with no limits at all sends none of the headers (test_openai_sdk and the rest run that way).


def test_no_headers_without_limits(cluster):
    cluster.worker("w1")
    _, port = cluster.ingress("i1")
    status, h, _ = post(port, cluster.key, chat_body("free"))
    assert status == 200
    assert not any(k.startswith("x-ratelimit") or k == "retry-after" for k in h)


def test_openai_sdk_retries_until_the_window_slides(cluster):
    shared(cluster, LLMGW_LIMIT_TENANT_RPM="2", LLMGW_LIMIT_WINDOW_MS="2000")
    cluster.worker("w1")
    _, port = cluster.ingress("i1")
    client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=cluster.key, max_retries=4)
    for i in range(2):
        client.chat.completions.create(model="echo", messages=[{"role": "user", "content": f"ok{i}"}])
    # The third is refused with Retry-After; the SDK waits it out and its retry succeeds.
    raw = client.chat.completions.with_raw_response.create(model="echo", messages=[{"role": "user", "content": "x"}])
    assert raw.parse().choices[0].message.content == "x"
    assert raw.retries_taken >= 1
    assert metric(port, "llmgw_limits_refused_total") >= 1
    no_retry = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=cluster.key, max_retries=0)
    for _ in range(2):
        try:
            no_retry.chat.completions.create(model="echo", messages=[{"role": "user", "content": "y"}])
        except openai.RateLimitError as err:
            assert err.body["code"] == "rate_limit_exceeded"
            break
    else:
        pytest.fail("no 429 without retries")


def redis_sh(*args):
    return subprocess.run(["bash", str(ROOT / "scripts" / "redis.sh"), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def test_redis_stopped_and_restarted(cluster, tmp_path):
    rdir = tmp_path / "redis"
    rport = int(start_redis_on_a_free_port(rdir).rsplit(":", 1)[1])
    try:
        cluster.extra_env.update({"LLMGW_REDIS_URL": f"redis://127.0.0.1:{rport}", "LLMGW_REDIS_TIMEOUT_MS": "1000",
                                  "LLMGW_LIMIT_TENANT_RPM": "6"})
        cluster.worker("w1")
        i1, p1 = cluster.ingress("i1")
        i2, p2 = cluster.ingress("i2")
        for i in range(3):
            assert post([p1, p2][i % 2], cluster.key, chat_body(f"a{i}"))[0] == 200
        assert metric(p1, "llmgw_limits_local") == 0

        redis_sh("stop", str(rdir))
        # Within one request each instance decides alone, in memory: 4 more on each (its own log has
        # room for 6) all pass, where the shared limit would have left 3 in all.
        for i in range(8):
            status, _, data = post([p1, p2][i % 2], cluster.key, chat_body(f"b{i}"))
            assert status == 200, data
        assert metric(p1, "llmgw_limits_local") == 1 and metric(p2, "llmgw_limits_local") == 1
        assert metric(p1, "llmgw_limits_fallback_total") >= 4
        for proc in (i1, i2):
            assert proc.output().count("rate limits are now enforced by this instance alone") == 1

        redis_sh("start", str(rdir), str(rport))  # empty: the shared log starts over
        wait_for(lambda: metric(p1, "llmgw_redis_up") == 1 and metric(p2, "llmgw_redis_up") == 1, 15,
                 "both ingresses reconnected to Redis")
        statuses = [post([p1, p2][i % 2], cluster.key, chat_body(f"c{i}"))[0] for i in range(12)]
        assert statuses.count(200) == 6, statuses  # shared again: 6 in all, not 6 each
        assert metric(p1, "llmgw_limits_local") == 0 and metric(p2, "llmgw_limits_local") == 0
        for proc in (i1, i2):
            assert "shared by every instance again" in proc.output()
    finally:
        redis_sh("stop", str(rdir))


def test_config_check_refuses_bad_tenant_limits(tmp_path):
    cfg = tmp_path / "bad.json"
    cfg.write_text(json.dumps({"tenants": {"acme": {"rpm": -5, "user": {"rmp": 1}}}}))
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("LLMGW_")}
    out = subprocess.run([_env("LLMGW_BIN"), "config", "check", "--config", str(cfg)], capture_output=True,
                         text=True, env=env)
    assert out.returncode != 0
    assert "acme.rpm must be an integer >= 0" in out.stderr and 'unknown limit "rmp"' in out.stderr
    cfg.write_text(json.dumps({"tenants": {"acme": {"rpm": 5, "user": {"rpm": 1}}}}))
    out = subprocess.run([_env("LLMGW_BIN"), "config", "check", "--config", str(cfg)], capture_output=True,
                         text=True, env=env)
    assert out.returncode == 0, out.stderr


def test_dev_limits_in_memory(tmp_path):
    # `llmgw dev` keeps limits in memory even when a Redis URL is set (here one that nobody serves).
    from test_dev import run_dev
    nobody, nobody_port = refused_port()
    proc, port, _ = run_dev(tmp_path, _env("LLMGW_BIN"), "dev", LLMGW_LIMIT_TENANT_RPM="2",
                            LLMGW_REDIS_URL=f"redis://127.0.0.1:{nobody_port}")
    try:
        statuses = [post(port, "", chat_body(f"d{i}"))[0] for i in range(4)]
        assert statuses == [200, 200, 429, 429]
        assert metric(port, "llmgw_limits_local") in (None, 0)  # in memory by design, not a fallback
        assert "keeps rate limits and the response cache in memory" in proc.output()
    finally:
        assert proc.stop() == 0
        nobody.close()
