"""A worker's first answers after its start (common/kafka_assign.h). Its partitions are assigned absolute offsets,
looked up before the assign: none is reset for want of a committed offset (which librdkafka 2.0.2 does after a
100 ms back-off) and none waits for its own offset lookup behind the first fetch, which the broker holds for
fetch.wait.max.ms when it finds no record. Measured before: the first answer through a worker just started took
72 to 168 ms. librdkafka's debug log ("topic" context) says at which offset each partition starts. The ledger and the batch runner
assign the same way."""
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


def starts(out):
    """(topic [partition], offset) of each partition a consumer started fetching, from librdkafka's debug log."""
    return re.findall(r"Start fetch for (\S+ \[\d+\]) in state \S+ at offset (\S+)", out)


def test_the_ledger_and_the_batch_runner_start_at_absolute_offsets(cluster):
    """Their first records after an assignment (the spend counts budgets read, a batch's progress) met the same
    100 ms reset back-off; nobody's request waited on them, but nothing needs it either. Checked at the very first
    start and on a restart. At the first start their topics are milliseconds old, and the earliest-offset lookup
    answers "not leader" until the partitions' leader leads them: it is asked again (common/kafka_assign.c)."""
    debug = {"LLMGW_KAFKA_PROPERTIES": "debug=topic", "LLMGW_LOG_LEVEL": "debug"}
    for name, start in (("ledger", cluster.ledger), ("batch", cluster.batch_role)):
        first, _ = start(f"{name}-1", **debug)
        out = wait_for_assigned(first)
        found = starts(out)
        assert found and all(offset.isdigit() for _, offset in found), (name, found, out[-3000:])
        assert "no previously committed offset available" not in out, name
        assert first.stop() == 0, first.output()[-3000:]
        again, _ = start(f"{name}-2", **debug)
        out = wait_for_assigned(again)
        found = starts(out)
        assert found and all(offset.isdigit() for _, offset in found), (name, found)
        assert "no previously committed offset available" not in out, name


def wait_for_assigned(proc):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        out = proc.output()
        if "assigned" in out and "Start fetch for" in out:
            time.sleep(0.5)  # every partition's start is logged within a few ms of the first
            return proc.output()
        time.sleep(0.1)
    raise AssertionError(f"{proc.name} never started fetching: {proc.output()[-3000:]}")
