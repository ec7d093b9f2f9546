"""Back-pressure of a worker whose provider calls run on an event loop: at LLMGW_WORKER_CONCURRENCY jobs in
flight it pauses its Kafka partitions (no rebalance: the group keeps them) and resumes below the limit, so
every request is still answered and the worker never holds more than the limit."""
import concurrent.futures
import http.client
import json
import re
import threading
import time
import urllib.request

import pytest

from conftest import start_fake

LIMIT = 4


@pytest.fixture
def fake():
    port, proc = start_fake("fake_openai.py")
    yield port
    proc.terminate()
    proc.wait()


def metric(text, name):
    m = re.search(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+-]+)$", text, re.M)
    return float(m.group(1)) if m else None


def test_worker_pauses_at_its_limit_and_answers_everything(cluster, fake):
    cluster.extra_env.update({"LLMGW_OPENAI_BASE_URL": f"http://127.0.0.1:{fake}/v1",
                              "LLMGW_OPENAI_API_KEY": "sk-fake-test-key"})
    cluster.ledger()
    worker, ops = cluster.worker("w1", LLMGW_WORKER_CONCURRENCY=LIMIT)
    _, port = cluster.ingress("i1")

    seen = {"max_in_flight": 0.0, "paused": 0.0}
    stop = threading.Event()

    def scrape():
        while not stop.is_set():
            try:
                text = urllib.request.urlopen(f"http://127.0.0.1:{ops}/metrics", timeout=5).read().decode()
            except OSError:
                continue
            seen["max_in_flight"] = max(seen["max_in_flight"], metric(text, "llmgw_jobs_in_flight") or 0)
            seen["paused"] = max(seen["paused"], metric(text, "llmgw_worker_paused") or 0)
            time.sleep(0.02)

    def ask(i):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"slow 400 #{i}"}]})
        conn.request("POST", "/v1/chat/completions", body, cluster.headers())
        resp = conn.getresponse()
        data = json.loads(resp.read())
        conn.close()
        return resp.status, data

    scraper = threading.Thread(target=scrape, daemon=True)
    scraper.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
            results = list(pool.map(ask, range(24)))
    finally:
        stop.set()
        scraper.join(10)
    assert all(status == 200 for status, _ in results), [r for r in results if r[0] != 200][:3]
    # 24 calls of 400 ms through a worker that holds 4 at a time: it must have paused, and never held more.
    assert seen["paused"] == 1.0, seen
    assert 0 < seen["max_in_flight"] <= LIMIT, seen
    # Pausing is not leaving the group: the worker was assigned its partitions once, and never revoked.
    log = worker.output()
    assert log.count("assigned ") == 1 and "revoked" not in log, log[-3000:]
