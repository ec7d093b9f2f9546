"""The broker goes away under an ingress (issue #18): new requests are refused at once with 503 and
Retry-After, not after the produce timeout; a request already waiting is answered 503 when the outage grace
ends, not at its deadline. The test runs its own broker, since it kills it."""
import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from conftest import ROOT, chat_body, fake_fixture

fake = fake_fixture("fake_openai.py")


def two_free_ports() -> int:
    """A port p with p+1 free too (the broker's controller listens there)."""
    for _ in range(50):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        t = socket.socket()
        try:
            t.bind(("127.0.0.1", p + 1))
            return p
        except OSError:
            continue
        finally:
            t.close()
    raise RuntimeError("no two adjacent free ports")


def post(port, text, headers, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    t0 = time.monotonic()
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]})
    conn.request("POST", "/v1/chat/completions", body, headers)
    r = conn.getresponse()
    data = json.loads(r.read())
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data, time.monotonic() - t0


def test_broker_loss_fails_fast_and_waiting_requests_end_at_the_grace(cluster, fake, tmp_path):
    kdir = tmp_path / "kafka"
    port = two_free_ports()
    addr = subprocess.run(["bash", str(ROOT / "scripts" / "kafka.sh"), "start", str(kdir), str(port)],
                          capture_output=True, text=True, check=True).stdout.strip()
    pid = int((kdir / "kafka.pid").read_text())
    pids = os.environ.get("LLMGW_TEST_PIDS")
    if pids:
        with open(pids, "a") as f:
            f.write(f"{pid}\n")
    try:
        cluster.kafka = addr
        cluster.extra_env.update({"LLMGW_OPENAI_BASE_URL": f"http://127.0.0.1:{fake}/v1",
                                  "LLMGW_OPENAI_API_KEY": "sk-fake-test-key"})
        ledger, _ = cluster.ledger()
        worker, _ = cluster.worker("w1")
        ingress, iport = cluster.ingress("i1", LLMGW_KAFKA_OUTAGE_GRACE_MS=2000, LLMGW_REQUEST_TIMEOUT_MS=60000)
        headers = cluster.headers()
        assert post(iport, "before", headers)[0] == 200

        waiting = {}

        def slow_client():
            waiting["r"] = post(iport, "slow 20000", headers)

        t = threading.Thread(target=slow_client)
        t.start()
        time.sleep(1.0)  # the job is at the worker, waiting on the provider
        killed_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.3)
        # New requests: refused at once, not after the 10 s produce timeout.
        status, hdrs, body, took = post(iport, "after", headers)
        assert status == 503, body
        assert "message broker" in body["error"]["message"]
        assert hdrs.get("retry-after") == "1"
        assert took < 2.0, f"refused after {took:.1f} s"
        # The waiting request ends at the grace (2 s after the outage was seen), far before its 60 s deadline.
        t.join(30)
        status, hdrs, body, _ = waiting["r"]
        ended = time.monotonic() - killed_at
        assert status == 503, body
        assert "lost its message broker" in body["error"]["message"]
        assert hdrs.get("retry-after") == "1"
        assert ended < 10, f"the waiting request ended {ended:.1f} s after the broker died"
        assert ingress.stop() == 0  # a clean exit with the broker gone
        worker.kill9()
        ledger.kill9()
    finally:
        subprocess.run(["bash", str(ROOT / "scripts" / "kafka.sh"), "stop", str(kdir)], check=False)
