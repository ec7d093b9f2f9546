"""The official openai Python SDK, unmodified, against the production-mode processes."""
import math

import openai
import pytest
from openai import OpenAI


@pytest.fixture
def client(cluster):
    cluster.ledger()
    cluster.worker("w1")
    _, port = cluster.ingress("i1")
    return OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=cluster.key, max_retries=0)


def test_chat_completions(client):
    resp = client.chat.completions.create(
        model="echo",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "Hello, SDK!"}],
    )
    assert resp.object == "chat.completion"
    assert resp.choices[0].message.role == "assistant"
    assert resp.choices[0].message.content == "Hello, SDK!"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
    assert resp.id.startswith("chatcmpl-")


def test_embeddings(client):
    # The SDK asks for base64 by default and decodes it: this exercises that format.
    resp = client.embeddings.create(model="echo-embedding", input=["alpha", "beta"], dimensions=64)
    assert resp.object == "list"
    assert [d.index for d in resp.data] == [0, 1]
    for d in resp.data:
        assert len(d.embedding) == 64
        assert math.isclose(math.sqrt(sum(x * x for x in d.embedding)), 1.0, rel_tol=1e-5)
    again = client.embeddings.create(model="echo-embedding", input="alpha", dimensions=64)
    assert again.data[0].embedding == resp.data[0].embedding
    floats = client.embeddings.create(model="echo-embedding", input="alpha", dimensions=64, encoding_format="float")
    assert all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-7) for a, b in zip(floats.data[0].embedding,
                                                                              resp.data[0].embedding))
    assert resp.usage.prompt_tokens > 0


def test_models_and_errors(client, cluster):
    ids = {m.id for m in client.models.list()}
    assert {"echo", "echo-embedding"} <= ids
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    assert err.value.body["code"] == "model_not_found"
    bad = OpenAI(base_url=str(client.base_url), api_key="lgw-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="echo", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="echo", messages=[])


def test_models_retrieve(client):
    """GET /v1/models/{id} as OpenAI has it. With no provider key (these processes have none) echo stands in
    for every catalog model: the list shows them all, owned by echo, and so does each one's entry."""
    listed = {m.id: m for m in client.models.list()}
    assert {"echo", "echo-embedding", "gpt-4o-mini", "claude-sonnet-4-6", "text-embedding-3-small", "auto"} <= \
        set(listed)
    assert listed["gpt-4o-mini"].owned_by == "echo" and listed["auto"].owned_by == "llmgw"
    for name in ("echo", "gpt-4o-mini", "text-embedding-3-small", "anthropic/claude-sonnet-4-6", "auto"):
        m = client.models.retrieve(name)
        assert (m.id, m.object) == (name, "model") and isinstance(m.created, int), m
        assert m.owned_by == ("llmgw" if name == "auto" else "echo")
    with pytest.raises(openai.NotFoundError) as err:
        client.models.retrieve("no-such-model")
    assert err.value.body["code"] == "model_not_found" and err.value.body["param"] == "model"
    assert err.value.body["type"] == "invalid_request_error"


def test_echo_accepts_what_it_stands_in_for(client):
    """echo declares every capability, so it takes whatever a model it stands in for takes: an image."""
    image = [{"type": "text", "text": "what is this?"},
             {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]
    for model in ("gpt-4o-mini", "echo"):
        resp = client.chat.completions.create(model=model, messages=[{"role": "user", "content": image}])
        assert resp.choices[0].message.content == "what is this?", model


def test_user_from_safety_identifier(client, cluster):
    """The ledger's user is the request's user, else OpenAI's newer safety_identifier."""
    from conftest import wait_for

    def rid_of(**extra):
        raw = client.chat.completions.with_raw_response.create(
            model="echo", messages=[{"role": "user", "content": "who am I"}], extra_body=extra)
        return raw.headers["x-request-id"]

    by_sid = rid_of(safety_identifier="sid-42")
    both = rid_of(user="user-7", safety_identifier="sid-42")
    with pytest.raises(openai.BadRequestError) as err:
        rid_of(safety_identifier=42)
    assert err.value.body["param"] == "safety_identifier"
    cur = cluster.db().cursor()

    def users():
        cur.execute("SELECT request_id, user_id FROM cost_events WHERE request_id = ANY(%s)", ([by_sid, both],))
        rows = dict(cur.fetchall())
        return rows if len(rows) == 2 else None

    rows = wait_for(users, 30, "both requests in the ledger")
    assert rows == {by_sid: "sid-42", both: "user-7"}
