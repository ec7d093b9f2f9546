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


@pytest.fixture
def client(cluster, fake_openai):
    cluster.extra_env.update({"LLMGW_OPENAI_BASE_URL": f"http://127.0.0.1:{fake_openai}/v1",
                              "LLMGW_OPENAI_API_KEY": "sk-fake-test-key"})
    cluster.ledger()
    cluster.worker("w1")
    _, port = cluster.ingress("i1")
    return anthropic.Anthropic(base_url=f"http://127.0.0.1:{port}", api_key=cluster.key, max_retries=0)


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
