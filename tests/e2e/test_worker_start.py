"""A worker's first answers after its start (common/kafka_assign.h). Its partitions are assigned absolute offsets,
looked up before the assign: none is reset for want of a committed offset (which librdkafka 2.0.2 does after a
100 ms back-off) and none waits for its own offset lookup behind the first fetch, which the broker holds for
fetch.wait.max.ms when it finds no record. Measured before: the first answer through a worker just started took
72 to 168 ms. librdkafka's debug log ("topic" context) says at which offset each partition starts."""
import http.client
import re
import time

from conftest import chat_body

REQUESTS = 8


def test_a_new_workers_partitions_start_at_absolute_offsets(cluster):
    cluster.ledger()
    _, port = cluster.ingress("i1")
    worker, _ = cluster.worker("w1", LLMGW_KAFKA_PROPERTIES="debug=topic", LLMGW_LOG_LEVEL="debug")
    times = []
    for i in range(REQUESTS):  # spread over the partitions by their job ids: most never had a job
        t0 = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/v1/chat/completions", chat_body(f"first {i}"), cluster.headers())
        resp = conn.getresponse()
        assert resp.status == 200, resp.read()
        resp.read()
        times.append((time.monotonic() - t0) * 1000)
    print("first answers (ms): " + ", ".join(f"{t:.1f}" for t in times))  # figures, not a check
    out = worker.output()
    starts = re.findall(r"Start fetch for " + re.escape(cluster.prefix) + r"\.((?:batch\.)?jobs\.\w+ \[\d+\]) in state "
                        r"\S+ at offset (\S+)", out)
    assert len({p for p, _ in starts}) == 16, starts  # chat, embeddings and their batch topics, 4 partitions each
    assert all(offset.isdigit() for _, offset in starts), starts
    assert "no previously committed offset available" not in out
