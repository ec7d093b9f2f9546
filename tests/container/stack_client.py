"""The client side of the container test (tests/container/run.sh): talks to the Compose stack through its one
published port with the official openai SDK, and reads the ledger inside the PostgreSQL container.

  stack_client.py api BASE_URL KEY                      chat, streamed chat, embeddings; ledger rows; both
                                                        ingress instances served
  stack_client.py restart BASE_URL KEY WORKER_CONTAINER  load while one worker container restarts: every
                                                        request answered or cleanly failed, one final cost
                                                        row per answered request

Environment: DOCKER (the engine's docker client), DOCKER_HOST, PG_CONTAINER, INGRESS_CONTAINERS (space
separated), POSTGRES_USER, POSTGRES_DB. Exits non-zero with the reason on the first failed check."""
import json
import os
import subprocess
import sys
import threading
import time

import httpx
import openai

DOCKER = os.environ.get("DOCKER", "docker")


def docker(*args: str, timeout: float = 60, stdin: str | None = None) -> str:
    out = subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=timeout, input=stdin)
    if out.returncode != 0:
        raise SystemExit(f"docker {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout


def psql(sql: str) -> list[list[str]]:
    """Runs one query with psql inside the PostgreSQL container; rows as lists of text."""
    # On stdin: a query naming thousands of request ids is longer than an argument may be.
    out = docker("exec", "-i", os.environ["PG_CONTAINER"], "psql", "-U", os.environ.get("POSTGRES_USER", "llmgw"),
                 "-d", os.environ.get("POSTGRES_DB", "llmgw"), "-X", "-A", "-t", "-q", "-F", "\t", "-v",
                 "ON_ERROR_STOP=1", "-f", "-", stdin=sql + ";\n")
    return [line.split("\t") for line in out.splitlines() if line]


def sql_list(ids) -> str:
    for i in ids:  # request ids are the gateway's own (hex, '-'): never quoting trouble, but check anyway
        assert all(c.isalnum() or c in "-_" for c in i), i
    return "ARRAY[" + ",".join(f"'{i}'" for i in ids) + "]::text[]"


def wait_for(pred, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)


def check(cond: bool, msg: str):
    if not cond:
        raise SystemExit("FAILED: " + msg)


def ingress_requests(container: str) -> float:
    """Chat requests this ingress has answered, from its ops port's /metrics (inside its container)."""
    text = docker("exec", container, "curl", "-fsS", "http://127.0.0.1:9101/metrics")
    total = 0.0
    for line in text.splitlines():
        if line.startswith("llmgw_http_requests_total{") and '"/v1/chat/completions"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def cmd_api(base_url: str, key: str):
    client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=30)
    ids = {}

    raw = client.chat.completions.with_raw_response.create(
        model="echo", messages=[{"role": "user", "content": "hello from the container test"}])
    chat = raw.parse()
    check(chat.choices[0].message.content == "hello from the container test", f"chat answer: {chat}")
    check(chat.usage.total_tokens > 0, "chat usage")
    ids["chat"] = raw.headers["x-request-id"]
    print(f"chat: {chat.choices[0].message.content!r} (request {ids['chat']})")

    raw = client.chat.completions.with_raw_response.create(
        model="echo", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "one two three four five"}])
    check(raw.headers["content-type"].startswith("text/event-stream"), "stream content type")
    pieces, usage, chunks = [], None, 0
    for chunk in raw.parse():
        chunks += 1
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.usage:
            usage = chunk.usage
    check("".join(pieces) == "one two three four five", f"streamed answer: {''.join(pieces)!r}")
    check(usage is not None and usage.total_tokens > 0, "stream usage")
    ids["stream"] = raw.headers["x-request-id"]
    print(f"streamed chat: {chunks} chunks through nginx (request {ids['stream']})")

    raw = client.embeddings.with_raw_response.create(model="echo-embedding", input="hello", dimensions=8)
    emb = raw.parse()
    check(len(emb.data) == 1 and len(emb.data[0].embedding) == 8, f"embeddings: {emb}")
    ids["embeddings"] = raw.headers["x-request-id"]
    print(f"embeddings: {len(emb.data[0].embedding)} dimensions (request {ids['embeddings']})")

    try:
        openai.OpenAI(base_url=base_url, api_key="sk-wrong", max_retries=0).chat.completions.create(
            model="echo", messages=[{"role": "user", "content": "x"}])
        check(False, "a wrong key was accepted")
    except openai.AuthenticationError as e:
        print(f"wrong key: {e.status_code} {e.body.get('code') if isinstance(e.body, dict) else e.body}")

    # The ledger, in the PostgreSQL container: one final row per request, tenant acme, the right kind.
    want = list(ids.values())
    rows = wait_for(lambda: (r := psql(
        "SELECT request_id, tenant, kind, provider, model, outcome FROM cost_events WHERE COALESCE(final, true)"
        f" AND request_id = ANY({sql_list(want)}) ORDER BY request_id")) and len(r) == len(want) and r,
        30, "the three requests' ledger rows")
    for row in rows:
        print("ledger row:", " ".join(row))
        check(row[1] == "acme", f"tenant of {row[0]}: {row[1]}")
        check(row[5] == "ok" or row[5] == "success", f"outcome of {row[0]}: {row[5]}")
    kinds = {r[0]: r[2] for r in rows}
    check(kinds[ids["embeddings"]] != kinds[ids["chat"]], f"kinds: {kinds}")

    # Both ingress instances answer: nginx spreads a few more requests over them.
    for i in range(10):
        client.chat.completions.create(model="echo", messages=[{"role": "user", "content": f"spread {i}"}])
    counts = {c: ingress_requests(c) for c in os.environ["INGRESS_CONTAINERS"].split()}
    print("chat requests per ingress:", counts)
    check(all(v > 0 for v in counts.values()), f"an ingress answered nothing: {counts}")


def cmd_restart(base_url: str, key: str, worker: str):
    """Keeps CONCURRENCY clients sending for DURATION seconds; restarts the worker container (docker restart:
    SIGTERM, its drain, then start) after RESTART_AT seconds."""
    concurrency, duration, restart_at = 16, 14.0, 3.0
    results, lock = [], threading.Lock()
    http = httpx.Client(base_url=base_url, headers={"authorization": f"Bearer {key}"}, timeout=60)
    start = time.monotonic()

    def client_loop(n: int):
        i = 0
        while time.monotonic() - start < duration:
            body = {"model": "echo", "messages": [{"role": "user", "content": f"load {n}-{i}"}]}
            try:
                r = http.post("/chat/completions", json=body)
                item = {"status": r.status_code, "id": r.headers.get("x-request-id"), "want": f"load {n}-{i}"}
                try:
                    item["body"] = r.json()
                except ValueError:
                    item["body"] = r.text[:200]
            except httpx.HTTPError as e:
                item = {"status": 0, "error": repr(e)}
            with lock:
                results.append(item)
            i += 1

    threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(concurrency)]
    for t in threads:
        t.start()
    time.sleep(restart_at)
    t0 = time.monotonic()
    docker("restart", "-t", "15", worker, timeout=60)
    print(f"worker {worker[:12]} restarted in {time.monotonic() - t0:.1f}s under load")
    for t in threads:
        t.join()

    answered, failed = [], []
    for r in results:
        check(r["status"] != 0, f"a request got no HTTP answer: {r.get('error')}")
        if r["status"] == 200:
            content = r["body"]["choices"][0]["message"]["content"]
            check(content == r["want"], f"request {r['id']} got another request's answer: {content!r}")
            answered.append(r["id"])
        else:
            # A clean failure: an OpenAI-style error body with a status that says try again.
            check(r["status"] in (429, 502, 503, 504), f"unexpected status {r['status']}: {r['body']}")
            check(isinstance(r["body"], dict) and "error" in r["body"], f"error without an OpenAI body: {r['body']}")
            failed.append(r)
    print(f"load: {len(results)} requests, {len(answered)} answered, {len(failed)} cleanly failed"
          + (f" ({sorted({f['status'] for f in failed})})" if failed else ""))
    check(len(answered) >= 0.9 * len(results), "fewer than 90% answered")

    ids = sql_list(answered)
    wait_for(lambda: int(psql(f"SELECT count(DISTINCT request_id) FROM cost_events WHERE request_id = ANY({ids})")[0][0])
             == len(answered), 60, "every answered request in the ledger")
    dup = psql(f"SELECT request_id, count(*) FROM cost_events WHERE request_id = ANY({ids}) AND NOT rerun"
               " AND COALESCE(final, true) GROUP BY 1 HAVING count(*) <> 1")
    check(dup == [], f"answered requests without exactly one final cost row: {dup[:5]}")
    total, distinct = psql("SELECT count(*), count(DISTINCT event_id) FROM cost_events")[0]
    check(total == distinct, "an event stored twice")
    reruns = psql(f"SELECT count(*) FROM cost_events WHERE request_id = ANY({ids}) AND rerun")[0][0]
    print(f"ledger: one final cost row for each of the {len(answered)} answered requests ({reruns} re-run rows)")


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "api":
        cmd_api(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 5 and sys.argv[1] == "restart":
        cmd_restart(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        raise SystemExit(__doc__)
    print("ok")
