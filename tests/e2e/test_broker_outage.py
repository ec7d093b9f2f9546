"""The broker goes away under an ingress (issue #18): new requests are refused at once with 503 and
Retry-After, not after the produce timeout; a request already waiting is answered 503 when the outage grace
ends, not at its deadline. The test runs its own broker, since it kills it."""
import http.client
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from conftest import ROOT, fake_fixture, two_free_ports, wait_for

fake = fake_fixture("fake_openai.py")


def post(port, text, headers, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    t0 = time.monotonic()
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]})
    conn.request("POST", "/v1/chat/completions", body, headers)
    r = conn.getresponse()
    data = json.loads(r.read())
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data, time.monotonic() - t0


def own_broker(tmp_path):
    """Starts a broker of this test's own in tmp_path/kafka; returns (address, pid, dir)."""
    kdir = tmp_path / "kafka"
    port = two_free_ports()
    addr = subprocess.run(["bash", str(ROOT / "scripts" / "kafka.sh"), "start", str(kdir), str(port)],
                          capture_output=True, text=True, check=True).stdout.strip()
    pid = int((kdir / "kafka.pid").read_text())
    pids = os.environ.get("LLMGW_TEST_PIDS")
    if pids:
        with open(pids, "a") as f:
            f.write(f"{pid}\n")
    return addr, pid, kdir


def test_broker_loss_fails_fast_and_waiting_requests_end_at_the_grace(cluster, fake, tmp_path):
    addr, pid, kdir = own_broker(tmp_path)
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
        assert took < 5.0, f"refused after {took:.1f} s"  # against the 10 s produce timeout it replaces
        # The waiting request ends at the grace (2 s after the outage was seen), far before its 60 s deadline.
        t.join(30)
        status, hdrs, body, _ = waiting["r"]
        ended = time.monotonic() - killed_at
        assert status == 503, body
        assert "lost its message broker" in body["error"]["message"]
        assert hdrs.get("retry-after") == "1"
        assert ended < 10, f"the waiting request ended {ended:.1f} s after the broker died"
        assert ingress.stop() == 0  # a clean exit with the broker gone
        # So does the worker, its job still in flight: it does not wait for the broker to commit or leave the
        # group (the next owner runs the job again). conftest's stop allows 30 s, a supervisor's usual grace.
        assert worker.stop() == 0
        assert "the broker is unreachable: stopping without the final commit" in worker.output()
        ledger.kill9()
    finally:
        subprocess.run(["bash", str(ROOT / "scripts" / "kafka.sh"), "stop", str(kdir)], check=False)


def test_a_reply_kafka_could_not_take_is_sent_again_when_the_broker_returns(cluster, fake, tmp_path):
    """The broker dies while a job is at the worker and comes back after the worker's produce timeout: the
    reply Kafka could not take is queued again (within the job's deadline) instead of dropped, so the client
    that waited through the outage gets its answer, not a 504."""
    addr, pid, kdir = own_broker(tmp_path)
    port = int(addr.rsplit(":", 1)[1])
    try:
        cluster.kafka = addr
        cluster.extra_env.update({"LLMGW_OPENAI_BASE_URL": f"http://127.0.0.1:{fake}/v1",
                                  "LLMGW_OPENAI_API_KEY": "sk-fake-test-key"})
        ledger, _ = cluster.ledger()
        worker, wport = cluster.worker("w1", LLMGW_KAFKA_PRODUCE_TIMEOUT_MS=1000)
        ingress, iport = cluster.ingress("i1", LLMGW_KAFKA_OUTAGE_GRACE_MS=120000, LLMGW_REQUEST_TIMEOUT_MS=120000)
        headers = cluster.headers()
        assert post(iport, "before", headers)[0] == 200
        waiting = {}
        t = threading.Thread(target=lambda: waiting.update(r=post(iport, "slow 2000", headers, timeout=150)))
        t.start()
        time.sleep(0.5)
        os.kill(pid, signal.SIGKILL)  # the reply, produced at about 2 s, times out at about 3 s
        time.sleep(4)
        subprocess.run(["bash", str(ROOT / "scripts" / "kafka.sh"), "start", str(kdir), str(port)],
                       capture_output=True, text=True, check=True)
        pids = os.environ.get("LLMGW_TEST_PIDS")
        if pids:
            with open(pids, "a") as f:
                f.write(f"{(kdir / 'kafka.pid').read_text().strip()}\n")
        t.join(150)
        status, hdrs, body, took = waiting["r"]
        assert status == 200, body
        assert body["choices"][0]["message"]["content"] == "fake: slow 2000"
        # The job may also run a second time (the broker was away longer than the consumer session, so its
        # partition was handed over before the first run's offset was committed): then that run is flagged a
        # rerun, and exactly one final event is not.
        cur = cluster.db().cursor()

        def finals():
            cur.execute("SELECT rerun FROM cost_events WHERE request_id = %s AND COALESCE(final, true)",
                        (hdrs["x-request-id"],))
            return cur.fetchall() or None
        wait_for(finals, 60, "the request's cost event")
        time.sleep(3)  # a rerun, if any, lands by now
        assert sorted(finals()).count((False,)) == 1, finals()
        conn = http.client.HTTPConnection("127.0.0.1", wport, timeout=5)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        retries = [line for line in text.splitlines() if line.startswith("llmgw_worker_reply_retries_total")]
        assert retries and float(retries[0].split()[-1]) >= 1, retries
        for proc in (ingress, worker, ledger):
            assert proc.stop() == 0
    finally:
        subprocess.run(["bash", str(ROOT / "scripts" / "kafka.sh"), "stop", str(kdir)], check=False)
