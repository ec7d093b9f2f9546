"""The OpenAI adapter against a local fake that speaks OpenAI's wire format, through the whole Kafka path:
pass-through of requests and answers, streaming with usage, exact cost from the catalog and the reported
usage, error statuses with their real bodies, retries with backoff, and clean 502s for broken answers."""
import http.client
import json

import jsonschema
import openai
import pytest
from openai import OpenAI

from conftest import assert_ledger_complete, load_schema, read_records, wait_for, fake_fixture

KEY = "sk-fake-test-key"
# gpt-4o-mini per 1M tokens: $0.15 input, $0.60 output, $0.075 cached input, in nano-USD per token
IN, OUT, CACHED = 150, 600, 75


fake = fake_fixture("fake_openai.py")


@pytest.fixture
def gw(cluster, fake):
    return start_gw(cluster, fake)


@pytest.fixture
def gw_long_follow(cluster, fake):
    """gw with the longest follow wait (10 s). The ingress's reply consumer and the worker's cancel consumer
    follow with it, so the broker must answer their fetches when a record lands, not when the wait runs out."""
    cluster.extra_env["LLMGW_KAFKA_FOLLOW_WAIT_MS"] = "10000"
    return start_gw(cluster, fake)


def start_gw(cluster, fake):
    conn = http.client.HTTPConnection("127.0.0.1", fake)
    conn.request("POST", "/_reset", "{}")
    conn.getresponse().read()
    cluster.extra_env.update({"LLMGW_OPENAI_BASE_URL": f"http://127.0.0.1:{fake}/v1", "LLMGW_OPENAI_API_KEY": KEY})
    cluster.ledger()
    cluster.worker("w1")
    _, port = cluster.ingress("i1")
    client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=cluster.key, max_retries=0)
    return cluster, client, fake


def seen(fake_port):
    import http.client
    import json
    conn = http.client.HTTPConnection("127.0.0.1", fake_port)
    conn.request("GET", "/_requests")
    return json.loads(conn.getresponse().read())


def msg(text):
    return [{"role": "user", "content": text}]


def test_chat_passthrough_and_cost(gw):
    cluster, client, fake = gw
    resp = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=msg("hello there"), temperature=0.3, seed=7, n=1, stop=["\n\n"],
        max_tokens=50, response_format={"type": "text"}, extra_body={"prompt_cache_key": "k1"})
    assert resp.headers["x-llmgw-provider"] == "openai"
    chat = resp.parse()
    assert chat.choices[0].message.content == "fake: hello there"
    assert chat.usage.prompt_tokens == 10 and chat.usage.completion_tokens == 3
    upstream = seen(fake)[-1]
    assert upstream["path"] == "/v1/chat/completions"
    assert upstream["headers"]["Authorization"] == f"Bearer {KEY}"
    body = upstream["body"]
    assert body["model"] == "gpt-4o-mini" and body["temperature"] == 0.3 and body["seed"] == 7
    assert body["stop"] == ["\n\n"] and body["max_tokens"] == 50 and body["response_format"] == {"type": "text"}
    cur = cluster.db().cursor()
    assert_ledger_complete(cur, [resp.headers["x-request-id"]])
    cur.execute("SELECT provider, model, input_tokens, output_tokens, cached_input_tokens, cost_nusd, cost_known "
                "FROM cost_events")
    provider, model, inp, out, cached, cost, known = cur.fetchone()
    assert (provider, inp, out, cached, known) == ("openai", 10, 3, 4, True)
    assert cost == (10 - 4) * IN + 4 * CACHED + 3 * OUT
    for proc in cluster.procs:
        assert KEY not in proc.output(), f"{proc.name} logged the provider key"


def test_tools_roundtrip(gw):
    _, client, fake = gw
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "weather",
                                               "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}}]
    chat = client.chat.completions.create(model="gpt-4o-mini", messages=msg("tool"), tools=tools, tool_choice="auto")
    call = chat.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and "Boston" in call.function.arguments
    assert chat.choices[0].finish_reason == "tool_calls"
    assert seen(fake)[-1]["body"]["tools"] == tools
    assert seen(fake)[-1]["body"]["tool_choice"] == "auto"
    # streamed tool calls arrive as deltas the SDK can assemble
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=msg("tool"), tools=tools, stream=True)
    args = "".join(c.choices[0].delta.tool_calls[0].function.arguments or ""
                   for c in stream if c.choices and c.choices[0].delta.tool_calls)
    assert args == "{\"location\": \"Boston, MA\"}"


def test_stream_costs_the_same(gw):
    cluster, client, fake = gw
    plain = client.chat.completions.create(model="gpt-4o-mini", messages=msg("one two three"))
    parts, usage = [], None
    for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=msg("one two three"), stream=True,
                                                stream_options={"include_usage": True}):
        usage = chunk.usage or usage
        parts += [c.delta.content for c in chunk.choices if c.delta.content]
    assert "".join(parts) == plain.choices[0].message.content
    assert usage.completion_tokens == plain.usage.completion_tokens
    # without include_usage the client sees no usage, but the gateway asked upstream for it anyway
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=msg("one two three"), stream=True))
    assert all(c.usage is None for c in chunks) and all(c.choices for c in chunks)
    assert seen(fake)[-1]["body"]["stream_options"] == {"include_usage": True}
    cur = cluster.db().cursor()

    def three():
        cur.execute("SELECT cost_nusd, input_tokens, output_tokens FROM cost_events")
        rows = cur.fetchall()
        return rows if len(rows) == 3 else None

    rows = wait_for(three, 30, "three cost events")
    assert len(set(rows)) == 1, f"streamed and plain requests must cost the same: {rows}"
    assert rows[0][0] > 0


def test_embeddings(gw):
    cluster, client, fake = gw
    resp = client.embeddings.create(model="text-embedding-3-small", input=["a b", "c"], dimensions=8)
    assert len(resp.data) == 2 and len(resp.data[0].embedding) == 8
    assert resp.usage.prompt_tokens == 3
    assert seen(fake)[-1]["path"] == "/v1/embeddings"


@pytest.mark.parametrize("status,exc,code", [
    (400, openai.BadRequestError, "context_length_exceeded"),
    (404, openai.NotFoundError, "model_not_found"),
])
def test_client_errors_pass_through_without_retry(gw, status, exc, code):
    _, client, fake = gw
    with pytest.raises(exc) as err:
        client.chat.completions.create(model="gpt-4o-mini", messages=msg(f"fail {status} 1"))
    assert err.value.status_code == status and err.value.body["code"] == code
    assert len([r for r in seen(fake) if r["body"].get("messages") == msg(f"fail {status} 1")]) == 1


@pytest.mark.parametrize("status", [409, 429, 500, 503])
def test_retryable_errors_are_retried(gw, status):
    _, client, fake = gw
    chat = client.chat.completions.create(model="gpt-4o-mini", messages=msg(f"fail {status} 2"))
    assert chat.choices[0].message.content == f"fake: fail {status} 2"
    assert len([r for r in seen(fake) if r["body"].get("messages") == msg(f"fail {status} 2")]) == 3


def test_insufficient_quota_is_not_retried_and_says_so(gw):
    """OpenAI answers an account out of credit with 429 insufficient_quota and x-should-retry: false. The
    wire layer honours the header (one call, no retries), the client gets OpenAI's body, and the gateway's
    answer says x-should-retry: false too, so the official SDK, which would retry any 429, does not."""
    _, client, fake = gw
    text = "quota 9"
    with pytest.raises(openai.RateLimitError) as err:
        client.chat.completions.create(model="gpt-4o-mini", messages=msg(text))
    assert err.value.status_code == 429
    assert err.value.body["code"] == "insufficient_quota" and err.value.body["type"] == "insufficient_quota"
    assert err.value.response.headers.get("x-should-retry") == "false"
    assert len([r for r in seen(fake) if r["body"].get("messages") == msg(text)]) == 1
    # the SDK with its default retries sends it once too
    retrying = client.with_options(max_retries=2)
    with pytest.raises(openai.RateLimitError):
        retrying.chat.completions.create(model="gpt-4o-mini", messages=msg(text))
    assert len([r for r in seen(fake) if r["body"].get("messages") == msg(text)]) == 2


def test_retries_are_bounded(gw):
    _, client, fake = gw
    with pytest.raises(openai.InternalServerError) as err:
        client.chat.completions.create(model="gpt-4o-mini", messages=msg("fail 503 99"))
    assert err.value.status_code == 503
    assert len([r for r in seen(fake) if r["body"].get("messages") == msg("fail 503 99")]) == 3  # 1 + 2 retries


def test_broken_answers_are_502(gw):
    _, client, _ = gw
    with pytest.raises(openai.InternalServerError) as err:
        client.chat.completions.create(model="gpt-4o-mini", messages=msg("badjson"))
    assert err.value.status_code == 502
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(model="gpt-4o-mini", messages=msg("truncate"), stream=True):
            pass


def test_models_list_shows_configured_provider(gw):
    _, client, _ = gw
    ids = {m.id for m in client.models.list()}
    assert {"gpt-4o-mini", "text-embedding-3-small", "echo"} <= ids


def test_client_leaving_mid_stream_aborts_the_upstream_call(gw):
    """The client hangs up after the first chunk of a 20-second stream; the ingress tells the workers, and
    the worker's transfer to the provider is cut (the fake sees its stream aborted), long before its end.
    The cancel the ingress sent is on the one-partition cancel topic, keyed by the request id, and matches
    schemas/cancel.schema.json."""
    from confluent_kafka.admin import AdminClient
    cluster, client, fake = gw
    text = "slowstream 200"
    rid = leave_mid_stream(cluster, client, text)
    wait_for(lambda: aborted(fake, text), 12, "the upstream stream to be aborted")
    topic = f"{cluster.prefix}.cancel"
    got = read_records(cluster.kafka, [topic], lambda g: any(r.key == rid for r in g[topic]), timeout=15)
    cancel = next(r for r in got[topic] if r.key == rid)
    jsonschema.validate(cancel.value, load_schema("cancel.schema.json"))
    assert cancel.value["id"] == rid and cancel.headers.get("llmgw-id") == rid
    meta = AdminClient({"bootstrap.servers": cluster.kafka}).list_topics(topic, timeout=10)
    assert len(meta.topics[topic].partitions) == 1, "every worker reads all of the cancel topic"


def leave_mid_stream(cluster, client, text):
    """Starts a stream of text, hangs up after its first chunk; returns the request id."""
    import re
    import socket
    body = json.dumps({"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": text}]})
    port = int(str(client.base_url).split(":")[2].split("/")[0])
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall((f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {cluster.key}\r\n"
                  f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode())
    received = b""
    while b"w0" not in received:
        data = sock.recv(65536)
        assert data, f"the stream ended before its first chunk: {received!r}"
        received += data
    sock.close()
    return re.search(rb"(?im)^x-request-id:\s*(\S+)\r$", received).group(1).decode()


def aborted(fake, text):
    conn = http.client.HTTPConnection("127.0.0.1", fake)
    conn.request("GET", "/_aborted")
    return text in json.loads(conn.getresponse().read())


def test_replies_and_cancels_do_not_wait_for_the_follow_wait(gw_long_follow):
    """With a 10 s follow wait, a reply still reaches its client and a cancel its worker within seconds:
    the broker answers the reply and cancel consumers' waiting fetches when the record lands. Were either left to
    the wait, a chat would take up to 10 s and the upstream stream would run on until the next fetch."""
    import time
    cluster, client, fake = gw_long_follow
    for i in range(5):
        start = time.monotonic()
        chat = client.chat.completions.create(model="gpt-4o-mini", messages=msg(f"follow {i}"))
        took = time.monotonic() - start
        assert chat.choices[0].message.content == f"fake: follow {i}"
        # Under 5 s, half the wait: a loaded sanitizer build can stall a second or two, a missed fetch costs 10.
        assert took < 5.0, f"chat {i} took {took:.1f} s: its reply waited for the reply consumer's fetch"
    text = "slowstream 200"
    leave_mid_stream(cluster, client, text)
    wait_for(lambda: aborted(fake, text), 5, "the upstream stream to be aborted while the cancel fetch waits 10 s")


@pytest.mark.parametrize("status", [401, 403])
def test_non_retryable_statuses_pass_through(gw, status):
    _, client, fake = gw
    text = f"fail {status} 1"
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(model="gpt-4o-mini", messages=msg(text))
    assert err.value.status_code == status and err.value.body["message"]
    assert len([r for r in seen(fake) if r["body"].get("messages") == msg(text)]) == 1


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses_pass_through_after_the_last_attempt(gw, status):
    _, client, fake = gw
    text = f"fail {status} 99"
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(model="gpt-4o-mini", messages=msg(text))
    assert err.value.status_code == status
    assert len([r for r in seen(fake) if r["body"].get("messages") == msg(text)]) == 3


def test_attempt_timeout_is_504(cluster, fake):
    cluster.extra_env.update({"LLMGW_OPENAI_BASE_URL": f"http://127.0.0.1:{fake}/v1", "LLMGW_OPENAI_API_KEY": KEY,
                              "LLMGW_PROVIDER_TIMEOUT_MS": "500", "LLMGW_PROVIDER_MAX_RETRIES": "1"})
    cluster.worker("w1")
    _, port = cluster.ingress("i1")
    client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=cluster.key, max_retries=0)
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(model="gpt-4o-mini", messages=msg("slow 3000"))
    assert err.value.status_code == 504 and err.value.body["code"] == "gateway_timeout"
    assert len([r for r in seen(fake) if r["body"].get("messages") == msg("slow 3000")]) == 2  # retried once
