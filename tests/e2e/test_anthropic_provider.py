"""The Anthropic adapter against a local fake of the Messages API, through the whole Kafka path: OpenAI
requests translated to /v1/messages (system hoisted, max_tokens set, tools and tool results as blocks),
answers and streams translated back, usage with cache writes and reads billed exactly, errors (529
overloaded included) mapped, retried and ended cleanly; a model Anthropic retired is refused with 404
model_retired and never sent to its successor."""
import http.client
import json

import openai
import pytest
from openai import OpenAI

from conftest import assert_ledger_complete, wait_for, fake_fixture

KEY = "sk-ant-fake"
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather by city",
                                           "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}}]


fake = fake_fixture("fake_anthropic.py")


def requests_seen(port):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", "/_requests")
    return json.loads(conn.getresponse().read())


@pytest.fixture
def gw(cluster, fake):
    cluster.extra_env.update({"LLMGW_ANTHROPIC_BASE_URL": f"http://127.0.0.1:{fake}/v1",
                              "LLMGW_ANTHROPIC_API_KEY": KEY})
    cluster.ledger()
    cluster.worker("w1")
    _, port = cluster.ingress("i1")
    return cluster, OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=cluster.key, max_retries=0), fake


def test_translation_usage_and_cost(gw):
    cluster, client, fake = gw
    raw = client.chat.completions.with_raw_response.create(
        model="claude-sonnet-4-5", temperature=0.5, stop="END", user="u-42",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}])
    chat = raw.parse()
    assert chat.choices[0].message.content == "fake: hi" and chat.choices[0].finish_reason == "stop"
    # total input = input + cache writes + cache reads (Anthropic's definition)
    assert chat.usage.prompt_tokens == 15 and chat.usage.completion_tokens == 2
    up = requests_seen(fake)[-1]
    assert up["path"] == "/v1/messages"
    assert up["headers"]["x-api-key"] == KEY and up["headers"]["anthropic-version"] == "2023-06-01"
    b = up["body"]
    assert b["model"] == "claude-sonnet-4-5-20250929" and b["max_tokens"] == 4096
    assert b["system"] == [{"type": "text", "text": "be brief"}]
    assert b["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert b["stop_sequences"] == ["END"] and b["temperature"] == 0.5 and b["metadata"] == {"user_id": "u-42"}
    cur = cluster.db().cursor()
    assert_ledger_complete(cur, [raw.headers["x-request-id"]])
    cur.execute("SELECT provider, input_tokens, output_tokens, cached_input_tokens, cost_nusd,"
                " cache_write_input_tokens, cost_estimated FROM cost_events")
    provider, inp, out, cached, cost, writes, estimated = cur.fetchone()
    assert (provider, inp, out, cached, writes, estimated) == ("anthropic", 15, 2, 0, 5, False)
    # $3 input, $3.75 cache write, $15 output per 1M tokens -> nano-USD per token 3000, 3750, 15000
    assert cost == 10 * 3000 + 5 * 3750 + 2 * 15000
    for proc in cluster.procs:
        assert KEY not in proc.output()


def test_tools_both_ways(gw):
    _, client, fake = gw
    chat = client.chat.completions.create(model="claude-haiku-4-5", messages=[{"role": "user", "content": "tool"}],
                                          tools=TOOLS, tool_choice="required")
    msg = chat.choices[0].message
    assert chat.choices[0].finish_reason == "tool_calls"
    assert msg.tool_calls[0].id == "toolu_fake1" and msg.tool_calls[0].function.name == "get_weather"
    assert json.loads(msg.tool_calls[0].function.arguments) == {"location": "Paris"}
    b = requests_seen(fake)[-1]["body"]
    assert b["tools"] == [{"name": "get_weather", "description": "Weather by city",
                           "input_schema": TOOLS[0]["function"]["parameters"]}]
    assert b["tool_choice"] == {"type": "any"}
    follow = client.chat.completions.create(model="claude-haiku-4-5", tools=TOOLS, messages=[
        {"role": "user", "content": "tool"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "toolu_fake1", "type": "function",
                                                              "function": {"name": "get_weather",
                                                                           "arguments": "{\"location\": \"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "toolu_fake1", "content": "18C and sunny"},
        {"role": "user", "content": "thanks"}])
    assert follow.choices[0].message.content == "fake: thanks"
    turns = requests_seen(fake)[-1]["body"]["messages"]
    assert turns[1] == {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_fake1",
                                                         "name": "get_weather", "input": {"location": "Paris"}}]}
    assert turns[2]["role"] == "user"
    assert turns[2]["content"][0] == {"type": "tool_result", "tool_use_id": "toolu_fake1", "content": "18C and sunny"}
    assert turns[2]["content"][1] == {"type": "text", "text": "thanks"}


def test_streaming(gw):
    cluster, client, _ = gw
    plain = client.chat.completions.create(model="claude-sonnet-4-5", messages=[{"role": "user", "content": "a b c"}])
    parts, usage, finish = [], None, None
    for chunk in client.chat.completions.create(model="claude-sonnet-4-5", stream=True,
                                                stream_options={"include_usage": True},
                                                messages=[{"role": "user", "content": "a b c"}]):
        usage = chunk.usage or usage
        for c in chunk.choices:
            parts.append(c.delta.content or "")
            finish = c.finish_reason or finish
    assert "".join(parts) == plain.choices[0].message.content and finish == "stop"
    assert (usage.prompt_tokens, usage.completion_tokens) == (plain.usage.prompt_tokens, plain.usage.completion_tokens)
    args = "".join(c.choices[0].delta.tool_calls[0].function.arguments or ""
                   for c in client.chat.completions.create(model="claude-sonnet-4-5", stream=True, tools=TOOLS,
                                                           messages=[{"role": "user", "content": "tool"}])
                   if c.choices and c.choices[0].delta.tool_calls)
    assert json.loads(args) == {"location": "Paris"}
    cur = cluster.db().cursor()

    def costs():
        cur.execute("SELECT cost_nusd FROM cost_events ORDER BY ts_ms LIMIT 2")
        rows = cur.fetchall()
        return rows if len(rows) == 2 else None

    first, second = wait_for(costs, 30, "cost events")
    assert first == second, "streamed and plain requests cost the same"


def test_errors(gw):
    _, client, fake = gw
    chat = client.chat.completions.create(model="claude-sonnet-4-5", messages=[{"role": "user", "content": "fail 529 1"}])
    assert chat.choices[0].message.content == "fake: fail 529 1"  # overloaded, retried, served
    with pytest.raises(openai.InternalServerError) as err:
        client.chat.completions.create(model="claude-sonnet-4-5", messages=[{"role": "user", "content": "fail 529 9"}])
    assert err.value.status_code == 503 and err.value.body["code"] == "overloaded_error"
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="claude-sonnet-4-5", messages=[{"role": "user", "content": "fail 400 1"}])
    assert err.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(model="claude-sonnet-4-5", stream=True,
                                                messages=[{"role": "user", "content": "overload-midstream"}]):
            pass


def test_retired_model_refused(gw):
    _, client, fake = gw
    seen = len(requests_seen(fake))
    for name in ("claude-3-5-sonnet", "claude-3-5-sonnet-20241022", "claude-3-5-sonnet-latest"):
        with pytest.raises(openai.NotFoundError) as err:
            client.chat.completions.create(model=name, messages=[{"role": "user", "content": "hi"}])
        assert err.value.status_code == 404
        assert err.value.body["code"] == "model_retired" and err.value.body["type"] == "invalid_request_error"
        assert "was retired by Anthropic on 2025-10-28; use claude-sonnet-4-6 instead." in err.value.body["message"]
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model="anthropic/claude-sonnet-4-20250514",
                                       messages=[{"role": "user", "content": "hi"}])
    assert err.value.body["message"] == ("anthropic/claude-sonnet-4-20250514 was retired by Anthropic on 2026-06-15; "
                                         "use anthropic/claude-sonnet-4-6 instead.")
    assert len(requests_seen(fake)) == seen, "a retired model's request reached the provider"
    listed = {m.id for m in client.models.list()}
    assert "claude-sonnet-4-6" in listed and "claude-3-5-sonnet" not in listed
