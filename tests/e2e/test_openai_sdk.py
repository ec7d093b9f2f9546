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
