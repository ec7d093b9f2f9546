"""Streamed answers through real Kafka: chunks travel as replies and reach the client as SSE in order,
ending with [DONE]; include_usage gives the final usage chunk; a streamed request costs exactly what the
same request unstreamed does; failures before the first chunk are plain JSON errors; a client that leaves
mid-stream does not hurt the gateway."""
import http.client
import json
import socket

import pytest
from openai import OpenAI

import openai
from conftest import wait_for


@pytest.fixture
def gw(cluster):
    cluster.ledger()
    cluster.worker("w1")
    _, port = cluster.ingress("i1")
    return cluster, port


def test_sdk_stream_with_usage(gw):
    cluster, port = gw
    client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=cluster.key, max_retries=0)
    text = "the quick brown fox jumps over the lazy dog"
    stream = client.chat.completions.create(model="echo", messages=[{"role": "user", "content": text}], stream=True,
                                            stream_options={"include_usage": True})
    parts, usage, finish, roles = [], None, None, []
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.role:
                roles.append(choice.delta.role)
            if choice.delta.content:
                parts.append(choice.delta.content)
            if choice.finish_reason:
                finish = choice.finish_reason
    assert "".join(parts) == text
    assert len(parts) == 9, "one chunk per word"
    assert roles == ["assistant"] and finish == "stop"
    assert usage is not None and usage.completion_tokens > 0

    # The same request unstreamed: identical usage, identical cost in the ledger.
    plain = client.chat.completions.create(model="echo", messages=[{"role": "user", "content": text}])
    assert plain.usage.prompt_tokens == usage.prompt_tokens
    assert plain.usage.completion_tokens == usage.completion_tokens
    cur = cluster.db().cursor()

    def two_rows():
        cur.execute("SELECT input_tokens, output_tokens, cost_nusd, cost_known FROM cost_events ORDER BY ts_ms")
        rows = cur.fetchall()
        return rows if len(rows) == 2 else None

    streamed_row, plain_row = wait_for(two_rows, 30, "both requests in the ledger")
    assert streamed_row == plain_row


def test_raw_sse_framing(gw):
    cluster, port = gw
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps({"model": "echo", "stream": True, "messages": [{"role": "user", "content": "a b"}]})
    conn.request("POST", "/v1/chat/completions", body, cluster.headers())
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("content-type") == "text/event-stream"
    assert resp.getheader("x-request-id")
    raw = resp.read().decode()
    events = [e for e in raw.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "a b"
    assert all("usage" not in c for c in chunks), "no usage chunk unless include_usage was asked for"


def test_stream_errors_before_first_chunk_are_json(gw):
    cluster, port = gw
    client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=cluster.key, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        for _ in client.chat.completions.create(model="missing", messages=[{"role": "user", "content": "x"}],
                                                stream=True):
            pass


def test_stream_deadline_without_workers(cluster):
    _, port = cluster.ingress("i1", LLMGW_REQUEST_TIMEOUT_MS=800)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps({"model": "echo", "stream": True, "messages": [{"role": "user", "content": "x"}]})
    conn.request("POST", "/v1/chat/completions", body, cluster.headers())
    resp = conn.getresponse()
    assert resp.status == 504
    assert json.loads(resp.read())["error"]["code"] == "gateway_timeout"


def test_client_leaving_mid_stream(gw):
    cluster, port = gw
    words = " ".join(f"w{i}" for i in range(3000))
    body = json.dumps({"model": "echo", "stream": True, "messages": [{"role": "user", "content": words}]})
    for _ in range(5):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall((f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {cluster.key}\r\n"
                      f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode())
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        sock.close()  # gone mid-stream
    client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=cluster.key, max_retries=0)
    resp = client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "still here"}])
    assert resp.choices[0].message.content == "still here"


def cancel_records(cluster, idle: float = 3.0) -> list:
    """Every record on <prefix>.cancel, read from the start until nothing new came for idle seconds."""
    import time
    import uuid

    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": cluster.kafka, "group.id": "test-" + uuid.uuid4().hex,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([f"{cluster.prefix}.cancel"])
    got, last = [], time.monotonic()
    try:
        while time.monotonic() - last < idle:
            msg = c.poll(0.2)
            if msg is not None and not msg.error():
                got.append(json.loads(msg.value()))
                last = time.monotonic()
    finally:
        c.close()
    return got


def test_complete_streams_send_no_cancel(gw):
    """A stream that ends normally is not a client that left: no cancel, no "client left" log line.

    The final chunk used to race the pending map: the reply thread made the stream's end readable, the HTTP
    thread wrote it and the HTTP server reported the request complete while the request was still in the map, which the
    completion callback took for a client gone mid-stream (about 1 in 10 complete streams sent a cancel)."""
    from concurrent.futures import ThreadPoolExecutor

    cluster, port = gw
    ingress = next(p for p in cluster.procs if p.name == "i1")

    def one_stream(i):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        body = json.dumps({"model": "echo", "stream": True, "messages": [{"role": "user", "content": f"s{i} a b"}]})
        conn.request("POST", "/v1/chat/completions", body, cluster.headers())
        resp = conn.getresponse()
        raw = resp.read().decode()
        conn.close()
        return resp.status, raw.endswith("data: [DONE]\n\n")

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one_stream, range(300)))
    assert all(r == (200, True) for r in results)
    assert cancel_records(cluster) == []
    assert "client left" not in ingress.output()


def reply_records(cluster, topic, ids):
    """The records on topic for the request ids, from the start, once every id has its final reply."""
    from conftest import read_records

    def done(got):
        return ids <= {r.value["id"] for r in got.get(topic, []) if r.value.get("final")}
    got = read_records(cluster.kafka, [topic], done, 30)
    return [r.value for r in got[topic] if r.value["id"] in ids]


def check_run(msgs):
    """One request's messages: seq counts chunks (a message's more_chunks after its body), contiguous, the
    final one after the last chunk. Returns the chunks in order and the number of chunk messages."""
    from conftest import load_schema
    import jsonschema

    chunks, seq = [], 0
    parts = [m for m in msgs if not m["final"]]
    for m in sorted(parts, key=lambda m: m["seq"]):
        jsonschema.validate(m, load_schema("reply.schema.json"))
        assert m["seq"] == seq
        got = [m["body"]] + m.get("more_chunks", [])
        chunks += got
        seq += len(got)
    final = [m for m in msgs if m["final"]]
    assert len(final) == 1 and final[0]["seq"] == seq
    return chunks, len(parts)


def sse_chunks(port, headers, text):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps({"model": "echo", "stream": True, "messages": [{"role": "user", "content": text}]})
    conn.request("POST", "/v1/chat/completions", body, headers)
    resp = conn.getresponse()
    assert resp.status == 200
    rid = resp.getheader("x-request-id")
    events = [e for e in resp.read().decode().split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    return rid, [json.loads(e[6:]) for e in events[:-1]]


def test_chunks_share_reply_messages(cluster):
    """The echo provider yields every chunk at once: with LLMGW_STREAM_COALESCE_MS=0 the first goes alone
    (time to first token), the rest in one reply, and the client gets exactly the chunks it would have got one
    message each."""
    cluster.ledger()
    cluster.worker("w1", LLMGW_STREAM_COALESCE_MS=0)
    _, port = cluster.ingress("i1")
    text = " ".join(f"w{i}" for i in range(40))
    rid, client_chunks = sse_chunks(port, cluster.headers(), text)
    msgs = reply_records(cluster, f"{cluster.prefix}.replies.{cluster.prefix}-i1", {rid})
    chunks, nmsg = check_run(msgs)
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == text
    assert len(chunks) >= 42, "role, a chunk a word, finish"
    assert nmsg == 2, f"the first chunk alone, then the rest together: {nmsg} messages for {len(chunks)} chunks"
    # What the client saw is what the messages carried (its last chunk also gets the llmgw cost object).
    assert len(client_chunks) == len(chunks)
    for got, sent in zip(client_chunks, chunks):
        got.pop("llmgw", None)
        assert got == sent


def test_chunks_one_per_message_when_off_or_not_asked(cluster):
    """LLMGW_STREAM_COALESCE_MS=-1 (the default): one message per chunk. And a job that does not say
    batched_chunks (a batch producer's, or an older ingress's) gets one chunk a message whatever the worker's
    setting: it may not read more_chunks."""
    import time
    import uuid

    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    cluster.ledger()
    w1, _ = cluster.worker("w1")
    _, port = cluster.ingress("i1")
    text = "one two three four five"
    rid, _ = sse_chunks(port, cluster.headers(), text)
    chunks, nmsg = check_run(reply_records(cluster, f"{cluster.prefix}.replies.{cluster.prefix}-i1", {rid}))
    assert nmsg == len(chunks) == 7
    assert w1.stop() == 0  # the next job must reach w2, which would coalesce


    cluster.worker("w2", LLMGW_STREAM_COALESCE_MS=50)
    out = f"{cluster.prefix}.stream-results"
    admin = AdminClient({"bootstrap.servers": cluster.kafka})
    for f in admin.create_topics([NewTopic(out, 1, 1)]).values():
        f.result(30)
    now = int(time.time() * 1000)
    job = {"v": 1, "id": str(uuid.uuid4()), "kind": "chat", "tenant": "batch-tenant", "created_ms": now,
           "deadline_ms": now + 60000, "reply_to": {"topic": out, "partition": 0}, "stream": True, "attempt": 1,
           "body": {"model": "echo", "stream": True, "messages": [{"role": "user", "content": text}]}}
    prod = Producer({"bootstrap.servers": cluster.kafka})
    prod.produce(f"{cluster.prefix}.jobs.chat", key=job["id"].encode(), value=json.dumps(job).encode())
    prod.flush(10)
    chunks, nmsg = check_run(reply_records(cluster, out, {job["id"]}))
    assert nmsg == len(chunks) == 7
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == text
