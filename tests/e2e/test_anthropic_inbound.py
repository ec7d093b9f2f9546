"""POST /v1/messages: the official anthropic SDK, unmodified, against the production-mode gateway, plain and
streamed, answered in Anthropic's format whichever provider served the request (echo, OpenAI via the fake)."""

import anthropic
import pytest

from conftest import start_fake


@pytest.fixture(scope="module")
def fake_openai():
    port, proc = start_fake("fake_openai.py")
    yield port
    proc.terminate()
    proc.wait()


@pytest.fixture(scope="module")
def fake_anthropic():
    port, proc = start_fake("fake_anthropic.py")
    yield port
    proc.terminate()
    proc.wait()


@pytest.fixture
def client(cluster, fake_openai, fake_anthropic):
    cluster.extra_env.update({"LLMGW_OPENAI_BASE_URL": f"http://127.0.0.1:{fake_openai}/v1",
                              "LLMGW_OPENAI_API_KEY": "sk-fake-test-key",
                              "LLMGW_ANTHROPIC_BASE_URL": f"http://127.0.0.1:{fake_anthropic}/v1",
                              "LLMGW_ANTHROPIC_API_KEY": "sk-ant-fake"})
    cluster.ledger()
    cluster.worker("w1")
    _, port = cluster.ingress("i1")
    return anthropic.Anthropic(base_url=f"http://127.0.0.1:{port}", api_key=cluster.key, max_retries=0)


def raw(client, method, path, body=None):
    """status and parsed JSON body of a request made without the SDK (paths the SDK has no method for)."""
    import http.client
    import json
    conn = http.client.HTTPConnection(client.base_url.host, client.base_url.port, timeout=30)
    conn.request(method, path, json.dumps(body) if body is not None else None,
                 {"x-api-key": client.api_key, "content-type": "application/json", "anthropic-version": "2023-06-01"})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, json.loads(data), resp.getheader("x-request-id")


def test_messages_plain(client):
    msg = client.messages.create(model="echo", max_tokens=100, system="be brief",
                                 messages=[{"role": "user", "content": "hello anthropic"}])
    assert msg.type == "message" and msg.role == "assistant"
    assert msg.content[0].type == "text" and msg.content[0].text == "hello anthropic"
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
    # served by another provider (OpenAI, through the fake), answered in Anthropic's format all the same
    other = client.messages.create(model="gpt-4o-mini", max_tokens=50,
                                   messages=[{"role": "user", "content": [{"type": "text", "text": "via openai"}]}])
    assert other.content[0].text == "fake: via openai"
    assert other.usage.input_tokens + (other.usage.cache_read_input_tokens or 0) == 10


def test_messages_stream(client):
    with client.messages.stream(model="echo", max_tokens=100,
                                messages=[{"role": "user", "content": "one two three"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "one two three"
    assert final.content[0].text == "one two three"
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0


def test_tools_roundtrip(client):
    tools = [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object",
                                                                               "properties": {"location": {"type": "string"}}}}]
    msg = client.messages.create(model="gpt-4o-mini", max_tokens=50, tools=tools, tool_choice={"type": "any"},
                                 messages=[{"role": "user", "content": "tool"}])
    block = next(b for b in msg.content if b.type == "tool_use")
    assert block.name == "get_weather" and block.input == {"location": "Boston, MA"}
    assert msg.stop_reason == "tool_use"
    follow = client.messages.create(model="gpt-4o-mini", max_tokens=50, tools=tools, messages=[
        {"role": "user", "content": "tool"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": block.id, "name": "get_weather",
                                           "input": {"location": "Boston, MA"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "sunny"},
                                     {"type": "text", "text": "and now?"}]}])
    assert follow.content[0].text == "fake: and now?"


def test_errors_in_anthropic_format(client, cluster):
    with pytest.raises(anthropic.BadRequestError) as err:
        client.messages.create(model="echo", max_tokens=0, messages=[{"role": "user", "content": "x"}])
    assert err.value.body["type"] == "error" and err.value.body["error"]["type"] == "invalid_request_error"
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    bad = anthropic.Anthropic(base_url=str(client.base_url), api_key="lgw-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        bad.messages.create(model="echo", max_tokens=10, messages=[{"role": "user", "content": "x"}])


def stream_events(client, **kw):
    """The message_start event and the final message of a streamed request."""
    with client.messages.stream(**kw) as stream:
        start = None
        for event in stream:
            if event.type == "message_start":
                start = event.message
        final = stream.get_final_message()
    return start, final


def test_message_ids_and_start_usage(client):
    """Ids are Anthropic's msg_...; message_start reports the real input tokens where the provider counts them
    before its first token (echo; Anthropic's own message_start), else the gateway's estimate (OpenAI counts
    only at the end); the final usage is the provider's either way."""
    plain = client.messages.create(model="echo", max_tokens=50, messages=[{"role": "user", "content": "id please"}])
    assert plain.id.startswith("msg_") and len(plain.id) > 4
    other = client.messages.create(model="gpt-4o-mini", max_tokens=50, messages=[{"role": "user", "content": "x"}])
    assert other.id.startswith("msg_") and other.id != plain.id

    start, final = stream_events(client, model="echo", max_tokens=100,
                                 messages=[{"role": "user", "content": "count my input tokens please"}])
    assert start.id.startswith("msg_") and start.id == final.id
    assert start.usage.input_tokens == final.usage.input_tokens > 0  # echo counts before its first token

    start, final = stream_events(client, model="claude-haiku-4-5", max_tokens=100, system="sys",
                                 messages=[{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"},
                                           {"role": "user", "content": "again"}])
    # the fake Anthropic counts 10 per message and 5 cache writes (a system prompt) in its message_start; the
    # gateway's replies carry cache writes inside input_tokens
    assert start.usage.input_tokens == final.usage.input_tokens == 35

    start, final = stream_events(client, model="gpt-4o-mini", max_tokens=100,
                                 messages=[{"role": "user", "content": "estimated at the start"}])
    assert start.id.startswith("msg_")
    assert start.usage.input_tokens > 0  # the estimate
    assert final.usage.input_tokens == 10  # the fake's real count, from the end


def test_count_tokens(client):
    """/v1/messages/count_tokens answers routing's estimate in Anthropic's shape."""
    small = client.messages.count_tokens(model="claude-haiku-4-5", messages=[{"role": "user", "content": "hello"}])
    big = client.messages.count_tokens(
        model="echo", system="You are a careful assistant who answers briefly.",
        messages=[{"role": "user", "content": "hello there, how many tokens is this request, roughly?"}],
        tools=[{"name": "get_weather", "description": "Weather for a city",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}])
    assert 0 < small.input_tokens < big.input_tokens
    status, body, rid = raw(client, "POST", "/v1/messages/count_tokens",
                            {"model": "echo", "messages": [{"role": "user", "content": "hello"}]})
    assert status == 200 and set(body) == {"input_tokens"} and rid
    with pytest.raises(anthropic.NotFoundError) as err:
        client.messages.count_tokens(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    assert err.value.body["type"] == "error" and err.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.BadRequestError):
        client.messages.count_tokens(model="echo", messages=[])


def test_unknown_anthropic_routes_answer_in_anthropic_shape(client):
    for method, path in [("POST", "/v1/messages/batches"), ("GET", "/v1/messages/msg_123"),
                         ("DELETE", "/v1/messages/batches/x")]:
        status, body, rid = raw(client, method, path, {} if method == "POST" else None)
        assert status == 404 and rid, (method, path)
        assert body["type"] == "error" and body["error"]["type"] == "not_found_error", body
        assert isinstance(body["error"]["message"], str)
    status, body, _ = raw(client, "GET", "/v1/messages")
    assert status == 405 and body["type"] == "error" and body["error"]["type"] == "invalid_request_error", body
