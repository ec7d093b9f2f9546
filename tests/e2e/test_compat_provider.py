"""The OpenAI-compatible adapter, configured two ways against the local fake that speaks OpenAI's API: a
bearer-key server (Mistral, Groq, vLLM style) with a model-name mapping and prices, and Azure OpenAI's
deployment URL with its api-key header and api-version."""
import http.client
import json

import pytest
from openai import OpenAI

from conftest import assert_ledger_complete, fake_fixture

KEY = "sk-fake-test-key"


fake = fake_fixture("fake_openai.py")


def last_request(port):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", "/_requests")
    return json.loads(conn.getresponse().read())[-1]


def start(cluster, env):
    cluster.extra_env.update(env)
    cluster.ledger()
    cluster.worker("w1")
    _, port = cluster.ingress("i1")
    return OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=cluster.key, max_retries=0)


def test_bearer_server_with_mapping_and_prices(cluster, fake):
    client = start(cluster, {
        "LLMGW_COMPAT_BASE_URL": f"http://127.0.0.1:{fake}/v1",
        "LLMGW_COMPAT_API_KEY": KEY,
        "LLMGW_COMPAT_MODELS": "mistral-small=mistral-small-latest@0.2/0.6,embeddings:mistral-embed=mistral-embed,"
                               "free-model",
    })
    raw = client.chat.completions.with_raw_response.create(model="mistral-small",
                                                           messages=[{"role": "user", "content": "hi there"}])
    chat = raw.parse()
    assert chat.choices[0].message.content == "fake: hi there"
    assert raw.headers["x-llmgw-provider"] == "compat"
    req = last_request(fake)
    assert req["path"] == "/v1/chat/completions"
    assert req["body"]["model"] == "mistral-small-latest"
    assert req["headers"]["Authorization"] == f"Bearer {KEY}"
    stream = client.chat.completions.create(model="compat/mistral-small", stream=True,
                                            messages=[{"role": "user", "content": "a b"}])
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "fake: a b"
    emb = client.embeddings.create(model="mistral-embed", input="x y", dimensions=4)
    assert len(emb.data[0].embedding) == 4
    unpriced = client.chat.completions.with_raw_response.create(model="free-model",
                                                               messages=[{"role": "user", "content": "z"}])
    ids = {m.id for m in client.models.list()}
    assert {"mistral-small", "mistral-embed", "free-model"} <= ids

    cur = cluster.db().cursor()
    assert_ledger_complete(cur, [raw.headers["x-request-id"], unpriced.headers["x-request-id"]])
    cur.execute("SELECT cost_nusd, cost_known FROM cost_events WHERE request_id = %s", (raw.headers["x-request-id"],))
    assert cur.fetchone() == (10 * 200 + 3 * 600, True)  # 10 prompt, 3 completion tokens at $0.2/$0.6 per 1M
    cur.execute("SELECT cost_nusd, cost_known FROM cost_events WHERE request_id = %s",
                (unpriced.headers["x-request-id"],))
    assert cur.fetchone() == (0, False), "a model without a price is marked unknown, never a silent $0"
    for proc in cluster.procs:
        assert KEY not in proc.output()


def test_azure_deployment_url(cluster, fake):
    client = start(cluster, {
        "LLMGW_COMPAT_BASE_URL": f"http://127.0.0.1:{fake}/openai/deployments/{{model}}",
        "LLMGW_COMPAT_API_KEY": KEY,
        "LLMGW_COMPAT_AUTH": "api-key",
        "LLMGW_COMPAT_API_VERSION": "2024-10-21",
        "LLMGW_COMPAT_MODELS": "gpt-4o-azure=my-gpt4o-deployment",
    })
    chat = client.chat.completions.create(model="gpt-4o-azure", messages=[{"role": "user", "content": "hello"}])
    assert chat.choices[0].message.content == "fake: hello"
    req = last_request(fake)
    assert req["path"] == "/openai/deployments/my-gpt4o-deployment/chat/completions?api-version=2024-10-21"
    assert req["headers"]["api-key"] == KEY
    assert "Authorization" not in req["headers"]
