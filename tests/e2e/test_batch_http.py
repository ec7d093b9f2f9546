"""The OpenAI Files and Batch API over HTTP (/v1/files, /v1/batches) driven by the official openai SDK,
unmodified, against production-mode processes on real Kafka and PostgreSQL (docs/BATCH.md "Over HTTP")."""
import io
import json
import subprocess
import time

import openai
import pytest
import httpx
from openai import OpenAI

from conftest import read_records


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


def of_batch(records, batch_id) -> list:
    jobs = [r.value for r in records]
    return [j for j in jobs if (j.get("batch") or {}).get("id") == batch_id]


def upload(client, lines) -> str:
    return client.files.create(file=("in.jsonl", io.BytesIO(jsonl(lines))), purpose="batch").id


def test_batches_create_retrieve_list_cancel(gw):
    client = sdk(gw)
    fid = upload(client, [line(i) for i in range(4)])
    b = client.batches.create(input_file_id=fid, endpoint="/v1/chat/completions", completion_window="24h",
                              metadata={"project": "p1"})
    assert b.object == "batch" and b.id.startswith("batch_")
    assert b.endpoint == "/v1/chat/completions" and b.input_file_id == fid and b.completion_window == "24h"
    # Every line is on Kafka when create answers (no worker runs them here).
    assert b.status == "in_progress" and b.in_progress_at and b.request_counts.total == 4
    assert b.request_counts.completed == 0 and b.request_counts.failed == 0
    assert b.expires_at == b.created_at + 24 * 3600
    assert b.metadata == {"project": "p1"} and b.errors is None
    assert b.output_file_id is None and b.error_file_id is None
    assert client.batches.retrieve(b.id).model_dump() == b.model_dump()
    # The lines went to the batch topic as jobs of this tenant, each tagged with the batch.
    topic = f"{gw.prefix}.batch.jobs.chat"
    recs = read_records(gw.kafka, [topic], lambda got: len(of_batch(got[topic], b.id)) >= 4)
    jobs = of_batch(recs[topic], b.id)
    assert sorted(j["batch"]["custom_id"] for j in jobs) == [f"req-{i}" for i in range(4)]
    assert {j["tenant"] for j in jobs} == {"acme"}

    b2 = client.batches.create(input_file_id=upload(client, [line(0)]), endpoint="/v1/chat/completions",
                               completion_window="24h")
    page = client.batches.list(limit=1)
    assert [x.id for x in page.data] == [b2.id] and page.has_more
    rest = client.batches.list(limit=1, after=b2.id)
    assert [x.id for x in rest.data] == [b.id]
    assert [x.id for x in client.batches.list().data] == [b2.id, b.id]

    c = client.batches.cancel(b.id)
    assert c.id == b.id and c.status == "cancelling" and c.cancelling_at
    assert client.batches.retrieve(b.id).status in ("cancelling", "cancelled")
    assert client.batches.cancel(b.id).status in ("cancelling", "cancelled")  # again: the same answer
    # The cancel is a batch record on the compacted batches topic.
    topic = f"{gw.prefix}.batches"
    read_records(gw.kafka, [topic], lambda got: any(r.value["id"] == b.id
                                                    and r.value["state"] == "cancelling" for r in got[topic]))


def test_batches_tenant_isolation(gw):
    client = sdk(gw)
    fid = upload(client, [line(0)])
    b = client.batches.create(input_file_id=fid, endpoint="/v1/chat/completions", completion_window="24h")
    other = sdk(gw, gw.beta_key)
    for call in (lambda: other.batches.retrieve(b.id), lambda: other.batches.cancel(b.id)):
        with pytest.raises(openai.NotFoundError):
            call()
    assert other.batches.list().data == []
    # Another tenant cannot run a batch from this tenant's file either.
    with pytest.raises(openai.NotFoundError) as err:
        other.batches.create(input_file_id=fid, endpoint="/v1/chat/completions", completion_window="24h")
    assert err.value.body["param"] == "input_file_id"
    assert client.batches.retrieve(b.id).status == "in_progress"  # untouched


def test_batches_bad_input(gw):
    client = sdk(gw)
    good = upload(client, [line(0)])

    def refused(fid, **kw):
        args = {"input_file_id": fid, "endpoint": "/v1/chat/completions", "completion_window": "24h", **kw}
        with pytest.raises(openai.BadRequestError) as err:
            client.batches.create(**args)
        return err.value.body

    body = refused(good, completion_window="48h")
    assert body["param"] == "completion_window"
    body = refused(good, endpoint="/v1/completions")
    assert body["param"] == "endpoint" and "/v1/completions" in body["message"]
    body = refused(good, metadata={"k": "v" * 513})
    assert body["param"] == "metadata"
    # Malformed JSONL, a wrong url, a missing custom_id: every bad line named, nothing submitted.
    bad = client.files.create(file=("bad.jsonl", io.BytesIO(
        jsonl([line(0)]) + b"{not json\n" + jsonl([line(2, url="/v1/embeddings"),
                                                   {"method": "POST", "url": "/v1/chat/completions",
                                                    "body": {"model": "echo", "messages": []}}])
    )), purpose="batch").id
    body = refused(bad)
    assert body["param"] == "input_file_id" and body["code"] == "invalid_json"
    msg = body["message"]
    assert "Line 2 is not a JSON object" in msg
    assert "Line 3: 'url' is \"/v1/embeddings\"" in msg and "(mismatched_url)" in msg
    assert "Line 4 has no 'custom_id'" in msg
    assert "3 invalid line(s); no batch was created" in msg
    wrong_url = upload(client, [line(0, url="/v1/responses")])
    body = refused(wrong_url)
    assert body["code"] == "invalid_url" and "Line 1" in body["message"]
    assert client.batches.list().data == []
    with pytest.raises(openai.NotFoundError):
        client.batches.create(input_file_id="file-nope", endpoint="/v1/chat/completions", completion_window="24h")
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_nope")
    # The output files of a batch that does not exist (or is not over) are not there.
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve("file-batch-output-batch_nope")
    r = httpx.post(f"http://127.0.0.1:{gw.port}/v1/batches", headers={"Authorization": f"Bearer {gw.key}"},
                   content=b"{oops", timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"


def wait_status(client, batch_id, statuses, timeout=90):
    deadline = time.monotonic() + timeout
    while True:
        b = client.batches.retrieve(batch_id)
        if b.status in statuses:
            return b
        assert time.monotonic() < deadline, f"batch {batch_id} still {b.status}: {b.request_counts}"
        time.sleep(0.3)


def test_batch_completes_with_output_and_error_files(gw):
    """The whole flow: the SDK uploads and creates, a worker runs the lines, the batch role records the
    results, and the SDK reads the output and error files in input order."""
    gw.worker("w1")
    gw.batch_role()
    client = sdk(gw)
    lines = [line(i) for i in range(5)]
    # Passes the submitter's checks but no provider serves it: the worker answers 404, an error-file line.
    lines.insert(3, {"custom_id": "req-bad", "method": "POST", "url": "/v1/chat/completions",
                     "body": {"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]}})
    b = client.batches.create(input_file_id=upload(client, lines), endpoint="/v1/chat/completions",
                              completion_window="24h")
    done = wait_status(client, b.id, {"completed", "failed", "expired", "cancelled"})
    assert done.status == "completed" and done.completed_at
    assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (6, 5, 1)
    assert done.output_file_id == f"file-batch-output-{b.id}"
    assert done.error_file_id == f"file-batch-errors-{b.id}"

    out = client.files.content(done.output_file_id).content
    rows = [json.loads(x) for x in out.decode().splitlines()]
    assert [r["custom_id"] for r in rows] == [f"req-{i}" for i in range(5)]  # input order
    for i, r in enumerate(rows):
        assert r["error"] is None and r["id"].startswith("batch_req_")
        assert r["response"]["status_code"] == 200 and r["response"]["request_id"]
        assert r["response"]["body"]["choices"][0]["message"]["content"] == f"line {i}"
    meta = client.files.retrieve(done.output_file_id)
    assert meta.purpose == "batch_output" and meta.bytes == len(out) and meta.filename.endswith("_output.jsonl")

    errs = [json.loads(x) for x in client.files.content(done.error_file_id).content.decode().splitlines()]
    assert [r["custom_id"] for r in errs] == ["req-bad"]
    assert errs[0]["response"]["status_code"] == 404
    assert errs[0]["response"]["body"]["error"]["code"] == "model_not_found"

    # The same answer on every read, and none for another tenant.
    assert client.files.content(done.output_file_id).content == out
    other = sdk(gw, gw.beta_key)
    with pytest.raises(openai.NotFoundError):
        other.files.content(done.output_file_id)
    with pytest.raises(openai.NotFoundError):
        other.files.retrieve(done.error_file_id)
    with pytest.raises(openai.BadRequestError):
        client.batches.cancel(b.id)  # over: nothing to cancel


def test_batch_cancelled_end_to_end(gw):
    """Cancelled while its lines wait on Kafka: the worker that then reads them answers each batch_cancelled
    without running it, the batch role records that and finishes the batch cancelled, and every line is in the
    error file in input order."""
    gw.batch_role()
    client = sdk(gw)
    b = client.batches.create(input_file_id=upload(client, [line(i) for i in range(3)]),
                              endpoint="/v1/chat/completions", completion_window="24h")
    assert client.batches.cancel(b.id).status == "cancelling"
    gw.worker("w1")  # reads the cancelling record before it runs a line (workers replay <prefix>.batches)
    done = wait_status(client, b.id, {"cancelled", "completed"})
    assert done.status == "cancelled" and done.cancelled_at
    assert (done.request_counts.completed, done.request_counts.failed) == (0, 3) and done.output_file_id is None
    errs = [json.loads(x) for x in client.files.content(done.error_file_id).content.decode().splitlines()]
    assert [r["custom_id"] for r in errs] == ["req-0", "req-1", "req-2"]
    assert all(r["response"] is None and r["error"]["code"] == "batch_cancelled" for r in errs)
