"""The OpenAI Files and Batch API over HTTP (/v1/files, /v1/batches) driven by the official openai SDK,
unmodified, against production-mode processes on real Kafka and PostgreSQL (docs/BATCH.md "Over HTTP")."""
import io
import json
import subprocess

import openai
import pytest
import httpx
from openai import OpenAI


def line(i, url="/v1/chat/completions", **body):
    body = body or {"model": "echo", "messages": [{"role": "user", "content": f"line {i}"}]}
    return {"custom_id": f"req-{i}", "method": "POST", "url": url, "body": body}


def jsonl(lines) -> bytes:
    return b"".join(json.dumps(x).encode() + b"\n" for x in lines)


@pytest.fixture
def gw(cluster):
    """An ingress whose tenants are acme (cluster.key) and beta (gw.beta_key)."""
    out = subprocess.run([cluster.bin, "keys", "new", "--tenant", "beta"], capture_output=True, text=True,
                         check=True).stdout
    fields = dict(x.split(": ", 1) for x in out.strip().splitlines())
    cluster.extra_env["LLMGW_TENANT_KEYS"] = f"acme:{cluster.key_hash},beta:{fields['sha256']}"
    # Small enough to test the 413 with a few hundred KiB.
    cluster.extra_env["LLMGW_BATCH_FILE_MAX_BYTES"] = str(256 * 1024)
    _, port = cluster.ingress("i1")
    cluster.port = port
    cluster.beta_key = fields["key"]
    return cluster


def sdk(gw, key=None):
    return OpenAI(base_url=f"http://127.0.0.1:{gw.port}/v1", api_key=key or gw.key, max_retries=0)


def test_files_roundtrip(gw):
    client = sdk(gw)
    data = jsonl([line(i) for i in range(3)])
    f = client.files.create(file=("in.jsonl", io.BytesIO(data)), purpose="batch")
    assert f.object == "file" and f.id.startswith("file-")
    assert f.bytes == len(data) and f.filename == "in.jsonl" and f.purpose == "batch" and f.status == "processed"
    assert f.expires_at == f.created_at + 30 * 86400  # batch_retention_days
    again = client.files.retrieve(f.id)
    assert again.model_dump() == f.model_dump()
    assert client.files.content(f.id).content == data
    g = client.files.create(file=("two.jsonl", io.BytesIO(b"x\n")), purpose="batch")
    page = client.files.list()
    assert [x.id for x in page.data] == [g.id, f.id] or {x.id for x in page.data} == {f.id, g.id}
    page = client.files.list(limit=1, order="asc")
    assert len(page.data) == 1 and page.has_more
    rest = client.files.list(limit=1, order="asc", after=page.data[0].id)
    assert {page.data[0].id, rest.data[0].id} == {f.id, g.id} and not rest.has_more
    # The table is in PostgreSQL, the bytes exact.
    with gw.db() as conn, conn.cursor() as cur:
        cur.execute("SELECT tenant, bytes, content FROM batch_files WHERE id = %s", (f.id,))
        tenant, size, content = cur.fetchone()
        assert (tenant, size, bytes(content)) == ("acme", len(data), data)
    deleted = client.files.delete(g.id)
    assert deleted.deleted and deleted.id == g.id
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(g.id)
    with pytest.raises(openai.NotFoundError):
        client.files.delete(g.id)


def test_files_tenant_isolation(gw):
    mine = sdk(gw).files.create(file=("in.jsonl", io.BytesIO(b"{}\n")), purpose="batch")
    other = sdk(gw, gw.beta_key)
    # Another tenant's key: 404 for every read and the delete, and an empty list.
    for call in (lambda: other.files.retrieve(mine.id), lambda: other.files.content(mine.id),
                 lambda: other.files.delete(mine.id)):
        with pytest.raises(openai.NotFoundError):
            call()
    assert other.files.list().data == []
    assert sdk(gw).files.retrieve(mine.id).id == mine.id  # still there
    no_key = httpx.get(f"http://127.0.0.1:{gw.port}/v1/files", timeout=10)
    assert no_key.status_code == 401
    assert no_key.json()["error"]["type"] == "authentication_error"


def test_files_bad_uploads(gw):
    client = sdk(gw)
    with pytest.raises(openai.BadRequestError) as err:
        client.files.create(file=("in.jsonl", io.BytesIO(b"{}\n")), purpose="fine-tune")
    assert err.value.status_code == 400
    assert err.value.body["param"] == "purpose" and "purpose=batch" in err.value.body["message"]
    # Over batch_file_max_bytes (256 KiB here): 413 from the declared length, before the upload is read.
    with pytest.raises(openai.APIStatusError) as err:
        client.files.create(file=("big.jsonl", io.BytesIO(b"x" * (400 * 1024))), purpose="batch")
    assert err.value.status_code == 413
    # Under the ingress's cap (file + 64 KiB of framing) but over the file limit: 413 naming the limit.
    with pytest.raises(openai.APIStatusError) as err:
        client.files.create(file=("big.jsonl", io.BytesIO(b"x" * (256 * 1024 + 10))), purpose="batch")
    assert err.value.status_code == 413 and "batch_file_max_bytes" in err.value.body["message"]
    url = f"http://127.0.0.1:{gw.port}/v1/files"
    h = {"Authorization": f"Bearer {gw.key}"}
    r = httpx.post(url, headers=h, json={"purpose": "batch"}, timeout=10)
    assert r.status_code == 400 and "multipart/form-data" in r.json()["error"]["message"]
    r = httpx.post(url, headers={**h, "Content-Type": "multipart/form-data; boundary=b"},
                      content=b"--b\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n", timeout=10)
    assert r.status_code == 400 and "closing boundary" in r.json()["error"]["message"]
    r = httpx.post(url, headers=h, files={"purpose": (None, "batch")}, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["param"] == "file"
    r = httpx.get(url + "/file-nope/other", headers=h, timeout=10)
    assert r.status_code == 404
