"""The Gemini adapter against a local fake of generativelanguage v1beta, through the whole Kafka path:
OpenAI requests to generateContent and back, streams (no [DONE] upstream) to chunks, tools both ways,
usageMetadata to usage and exact cost, embeddings through batchEmbedContents, errors mapped and retried, and
the models Google retired refused with 404 model_retired before any call."""
import http.client
import json

import openai
import pytest
from openai import OpenAI

from conftest import assert_ledger_complete, fake_fixture

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]


fake = fake_fixture("fake_gemini.py")


def requests_seen(port):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", "/_requests")
    return json.loads(conn.getresponse().read())


def last(port):
    return requests_seen(port)[-1]


@pytest.fixture
def gw(cluster, fake, tmp_path):
    # The catalog has no Gemini embedding model left (Google retired text-embedding-004): the operator's file
    # adds one, unpriced, so the adapter's embedding path is still exercised.
    overrides = tmp_path / "overrides.json"
    overrides.write_text(json.dumps({"models": [{"provider": "gemini", "id": "test-embedding",
                                                 "capabilities": ["embeddings"], "context_window": 2048}]}))
    cluster.extra_env.update({"LLMGW_GEMINI_BASE_URL": f"http://127.0.0.1:{fake}/v1beta",
                              "LLMGW_GEMINI_API_KEY": "fake-gemini-key",
                              "LLMGW_CATALOG_OVERRIDES": str(overrides)})
    cluster.ledger()
    cluster.worker("w1")
    _, port = cluster.ingress("i1")
    return cluster, OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=cluster.key, max_retries=0), fake


def test_chat_translation_and_cost(gw):
    cluster, client, fake = gw
    raw = client.chat.completions.with_raw_response.create(
        model="gemini-2.5-flash-lite", max_tokens=64, temperature=0.2, stop=["X"],
        messages=[{"role": "system", "content": "short"}, {"role": "user", "content": "hi gemini"}])
    chat = raw.parse()
    assert chat.choices[0].message.content == "fake: hi gemini" and chat.choices[0].finish_reason == "stop"
    assert (chat.usage.prompt_tokens, chat.usage.completion_tokens) == (10, 3)
    req = last(fake)
    assert req["path"] == "/v1beta/models/gemini-2.5-flash-lite:generateContent"
    assert req["body"]["systemInstruction"] == {"parts": [{"text": "short"}]}
    assert req["body"]["contents"] == [{"role": "user", "parts": [{"text": "hi gemini"}]}]
    assert req["body"]["generationConfig"] == {"maxOutputTokens": 64, "temperature": 0.2, "stopSequences": ["X"]}
    cur = cluster.db().cursor()
    assert_ledger_complete(cur, [raw.headers["x-request-id"]])
    cur.execute("SELECT input_tokens, output_tokens, cached_input_tokens, cost_nusd, cost_known FROM cost_events")
    # $0.10 input, $0.01 cached, $0.40 output per 1M tokens
    assert cur.fetchone() == (10, 3, 2, 8 * 100 + 2 * 10 + 3 * 400, True)
    for proc in cluster.procs:
        text = proc.output()
        assert "fake-gemini-key" not in text and "hi gemini" not in text, f"{proc.name} logged a key or a prompt"


def test_stream_and_tools(gw):
    _, client, fake = gw
    parts, usage = [], None
    for c in client.chat.completions.create(model="gemini-2.5-flash-lite", stream=True,
                                            stream_options={"include_usage": True},
                                            messages=[{"role": "user", "content": "a b"}]):
        usage = c.usage or usage
        parts += [x.delta.content or "" for x in c.choices]
    assert "".join(parts) == "fake: a b" and usage.completion_tokens == 3
    assert last(fake)["path"] == "/v1beta/models/gemini-2.5-flash-lite:streamGenerateContent?alt=sse"
    chat = client.chat.completions.create(model="gemini-2.5-flash-lite", tools=TOOLS, tool_choice="required",
                                          messages=[{"role": "user", "content": "tool"}])
    call = chat.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"location": "Rome"}
    assert chat.choices[0].finish_reason == "tool_calls"
    assert last(fake)["body"]["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    client.chat.completions.create(model="gemini-2.5-flash-lite", tools=TOOLS, messages=[
        {"role": "user", "content": "tool"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": call.id, "type": "function",
                                                              "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": call.id, "content": "warm"}])
    contents = last(fake)["body"]["contents"]
    assert contents[1] == {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}}]}
    assert contents[2] == {"role": "user", "parts": [{"functionResponse": {"name": "get_weather",
                                                                           "response": {"content": "warm"}}}]}


def test_embeddings_and_errors(gw):
    _, client, fake = gw
    emb = client.embeddings.create(model="test-embedding", input=["x", "y"], dimensions=3)
    assert [len(d.embedding) for d in emb.data] == [3, 3]
    assert last(fake)["path"] == "/v1beta/models/test-embedding:batchEmbedContents"
    chat = client.chat.completions.create(model="gemini-2.5-flash-lite",
                                          messages=[{"role": "user", "content": "fail 503 1"}])
    assert chat.choices[0].message.content == "fake: fail 503 1"
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="gemini-2.5-flash-lite",
                                       messages=[{"role": "user", "content": "fail 400 1"}])
    assert err.value.body["code"] == "INVALID_ARGUMENT"


def test_retired_models_refused(gw):
    _, client, fake = gw
    seen = len(requests_seen(fake))
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model="gemini-2.0-flash", messages=[{"role": "user", "content": "hi"}])
    assert err.value.body["code"] == "model_retired" and err.value.body["type"] == "invalid_request_error"
    assert err.value.body["message"] == ("gemini-2.0-flash was retired by Google on 2026-06-01; "
                                         "use gemini-2.5-flash-lite instead.")
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model="gemini/gemini-2.5-pro", messages=[{"role": "user", "content": "hi"}])
    assert err.value.body["code"] == "model_retired" and "2026-12-01" in err.value.body["message"]
    with pytest.raises(openai.NotFoundError) as err:
        client.embeddings.create(model="text-embedding-004", input=["x"])
    assert err.value.body["code"] == "model_retired"
    assert err.value.body["message"] == ("text-embedding-004 was retired by Google on 2026-01-14; "
                                         "the catalog names no successor for it.")
    assert len(requests_seen(fake)) == seen, "a retired model's request reached the provider"
    listed = {m.id for m in client.models.list()}
    assert "gemini-2.5-flash-lite" in listed and not listed & {"gemini-2.0-flash", "gemini-2.5-pro",
                                                               "gemini-2.5-flash", "text-embedding-004"}
