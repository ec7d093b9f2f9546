"""A record to a topic its producer has no metadata for waits for librdkafka's once-a-second scan of unknown topics
(librdkafka issue 3202). Two places met that wait, and no longer do:
- a worker's first reply to a reply topic it has not produced to yet (an ingress started since, or the worker
  itself just started): the worker asks for the topic's metadata as the job is consumed (common/topic_warm.h),
  and the answer is back before the reply is produced. Measured before: the first answer through a new ingress
  took 0.47 to 0.89 s, the next ones 3 ms;
- an ingress's first record to a topic it had not written to within the metadata cache's age (15 min; an
  embeddings request after a quiet spell, a cancel): the ingress keeps the topics it writes known from its start
  (lgw_kafka_keep_topics), so librdkafka keeps their metadata fresh. Measured before, with the age shortened to
  3 s: 907 to 946 ms for that first embeddings request, against 7 to 26 ms after. The worker keeps its cost and
  dead-letter topics known the same way.
librdkafka's debug log ("topic" context) says when its scan found a topic it had no metadata for."""
import http.client
import json
import re
import time

from conftest import chat_body

INGRESSES = 3


def worker_metric(port, series):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    m = re.search("^" + re.escape(series) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def test_first_reply_to_a_new_ingress_is_not_held_by_the_unknown_topic_scan(cluster):
    # librdkafka's own log says when its scan found a topic it had no metadata for ("metadata information
    # unknown"): before the change, the only way the worker learned a new reply topic.
    worker, wport = cluster.worker("w1", LLMGW_LOG_LEVEL="debug", LLMGW_KAFKA_PROPERTIES="debug=topic")
    cluster.ledger()
    topics, firsts = [], []
    for n in range(INGRESSES):
        name = f"i{n}"
        _, port = cluster.ingress(name)
        topics.append(f"{cluster.prefix}.replies.{cluster.prefix}-{name}")
        for i in range(3):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            t0 = time.monotonic()
            conn.request("POST", "/v1/chat/completions", chat_body(f"{name} m{i}"), cluster.headers())
            resp = conn.getresponse()
            assert resp.status == 200, resp.read()
            resp.read()
            if i == 0:
                firsts.append(round((time.monotonic() - t0) * 1000, 1))
    print("first answer through each new ingress (ms):", firsts)  # figures, not a timed assertion
    log = worker.output()
    scanned = [t for t in topics if f"Topic {t} metadata information unknown" in log]
    # Each topic was looked up once (not again for its second and third job), and found.
    assert worker_metric(wport, 'llmgw_kafka_topic_lookups_total{result="ok"}') == INGRESSES
    assert worker_metric(wport, 'llmgw_kafka_topic_lookups_total{result="failed"}') == 0
    # The scan runs every second, so it can still catch a topic in the millisecond before its lookup is
    # answered; before the change it caught every one.
    assert len(scanned) <= 1, scanned


def test_a_topic_first_written_after_the_metadata_cache_aged_is_already_known(cluster):
    # The cache's age is 3 x the refresh interval: 3 s here, so a request 6 s after the start meets an aged cache.
    props = "topic.metadata.refresh.interval.ms=1000"
    cluster.worker("w1", LLMGW_KAFKA_PROPERTIES=props)
    cluster.ledger()
    ingress, port = cluster.ingress("i1", LLMGW_KAFKA_PROPERTIES=props + ";debug=topic", LLMGW_LOG_LEVEL="debug")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/v1/chat/completions", chat_body("chat first"), cluster.headers())
    assert conn.getresponse().read()
    time.sleep(6)
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/v1/embeddings", json.dumps({"model": "echo-embedding", "input": "after a quiet spell"}),
                 cluster.headers())
    resp = conn.getresponse()
    assert resp.status == 200, resp.read()
    resp.read()
    print(f"first embeddings request after 6 s: {(time.monotonic() - t0) * 1000:.1f} ms")  # a figure, not a check
    topic = f"{cluster.prefix}.jobs.embeddings"
    assert f"Topic {topic} metadata information unknown" not in ingress.output()


def test_a_workers_rare_topics_are_known_after_the_metadata_cache_aged(cluster):
    """The worker's writes that are rare or late: the dead letters, and the cost events of a worker that served
    nothing since its start. Both stay known (lgw_kafka_keep_topics in workers/results.c), so neither write waits
    for the scan after a quiet spell (the cache's age shortened to 3 s, as above)."""
    import uuid
    from confluent_kafka import Producer
    from conftest import read_records

    props = "topic.metadata.refresh.interval.ms=1000"
    worker, _ = cluster.worker("w1", LLMGW_KAFKA_PROPERTIES=props + ";debug=topic", LLMGW_LOG_LEVEL="debug")
    _, port = cluster.ingress("i1")
    time.sleep(6)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/v1/chat/completions", chat_body("after a quiet spell"), cluster.headers())
    resp = conn.getresponse()
    assert resp.status == 200, resp.read()
    resp.read()
    prod = Producer({"bootstrap.servers": cluster.kafka})
    marker = uuid.uuid4().hex
    prod.produce(f"{cluster.prefix}.jobs.chat", value=f"not a job {marker}".encode())
    assert prod.flush(30) == 0
    cost, dlq = f"{cluster.prefix}.cost", f"{cluster.prefix}.jobs.dlq"
    read_records(cluster.kafka, [cost, dlq], lambda g: g[cost] and any(marker in (r.value.get("payload") or "")
                                                                         for r in g[dlq]))
    for topic in (cost, dlq):
        assert f"Topic {topic} metadata information unknown" not in worker.output(), topic
