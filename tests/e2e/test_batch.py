"""Batches from the command line against real Kafka, PostgreSQL and the real role processes: `llmgw batch
submit`, the workers running the lines, the batch role (`llmgw batch serve`) keeping the store, `status`,
`cancel` and a resumable `collect` (docs/BATCH.md)."""
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import wait_for

# The 10,000-line test is release-only in scripts/test.sh's sanitizer stages (LLMGW_BATCH_LINES lowers it).
LINES = int(os.environ.get("LLMGW_BATCH_LINES", "10000"))


def chat_line(i: int, custom_id: str = None, **over) -> str:
    line = {"custom_id": custom_id or f"req-{i}", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "echo", "messages": [{"role": "user", "content": f"line {i}"}]}}
    line.update(over)
    return json.dumps(line)


def write_input(path: Path, lines: list) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def run_cli(cluster, *args, timeout: float = 300, **extra):
    return subprocess.run([cluster.bin, "batch", *args], env=cluster.env(**extra), capture_output=True, text=True,
                          timeout=timeout)


def batch_row(cluster, batch_id: str) -> dict:
    with cluster.db() as conn, conn.cursor() as cur:
        cur.execute("SELECT status, total, completed, failed, cost_nusd FROM batches WHERE id = %s", (batch_id,))
        row = cur.fetchone()
    return None if row is None else dict(zip(("status", "total", "completed", "failed", "cost_nusd"), row))


def services(cluster) -> None:
    """What every batch needs besides workers: an ingress (it creates the tenants topic the workers' budgets and
    limits read) and the ledger (cost rows, the spend topic)."""
    cluster.ingress("in")
    cluster.ledger()


def count_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_ten_thousand_lines_survive_kill9_of_a_worker_the_batch_role_and_collect(cluster, tmp_path):
    services(cluster)
    workers = [cluster.worker(f"w{i}")[0] for i in range(2)]
    role, _ = cluster.batch_role("batch1")
    infile = write_input(tmp_path / "in.jsonl", [chat_line(i) for i in range(LINES)])

    sub = run_cli(cluster, "submit", str(infile), "--tenant", "acme", "--metadata", "run=e2e")
    assert sub.returncode == 0, sub.stderr
    batch_id = sub.stdout.strip()
    assert batch_id.startswith("batch_") and len(batch_id) == 38, sub.stdout
    # The row exists as soon as submit returns, with every line counted.
    status = run_cli(cluster, "status", batch_id, "--json")
    assert status.returncode == 0, status.stderr
    obj = json.loads(status.stdout)
    assert obj["object"] == "batch" and obj["request_counts"]["total"] == LINES
    assert obj["metadata"] == {"run": "e2e"} and obj["llmgw"]["tenant"] == "acme"

    out = tmp_path / "out.jsonl"
    collect = subprocess.Popen([cluster.bin, "batch", "collect", batch_id, "--out", str(out), "--interval-ms", "100"],
                               env=cluster.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Midway: kill -9 a worker, the batch role and the collector.
    wait_for(lambda: (batch_row(cluster, batch_id) or {}).get("completed", 0) >= LINES // 4, 240,
             "a quarter of the batch done")
    wait_for(lambda: count_lines(out) > 0, 60, "collect writing")
    workers[0].kill9()
    role.kill9()
    collect.send_signal(signal.SIGKILL)
    collect.wait()
    # A partial last line, as a kill mid-write would leave it: the resumed collect truncates it.
    with open(out, "ab") as f:
        f.write(b'{"id":"batch_req_partial')
    written_before = count_lines(out)
    assert 0 < written_before < LINES
    cluster.worker("w2")
    cluster.batch_role("batch2")

    resumed = subprocess.run([cluster.bin, "batch", "collect", batch_id, "--out", str(out), "--interval-ms", "200"],
                             env=cluster.env(), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr and "partial line" in resumed.stderr, resumed.stderr

    lines = out.read_text().splitlines()
    assert len(lines) == LINES
    seen = [json.loads(line)["custom_id"] for line in lines]
    assert seen == [f"req-{i}" for i in range(LINES)]  # each once, in input order
    first = json.loads(lines[0])
    assert first["error"] is None and first["response"]["status_code"] == 200
    assert first["response"]["request_id"] == f"{batch_id}-0"
    assert first["response"]["body"]["object"] == "chat.completion"
    assert len({json.loads(line)["id"] for line in lines}) == LINES

    row = batch_row(cluster, batch_id)
    assert row["status"] == "completed" and row["total"] == LINES
    assert row["completed"] == LINES and row["failed"] == 0
    with cluster.db() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT idx), min(idx), max(idx) FROM batch_results WHERE batch_id = %s",
                    (batch_id,))
        assert cur.fetchone() == (LINES, LINES, 0, LINES - 1)
        # The ledger: one final, not-rerun cost row per line; a rerun after the kill is flagged, never a second one.
        def ledger_done():
            cur.execute("SELECT count(DISTINCT request_id) FROM cost_events WHERE request_id LIKE %s AND"
                        " COALESCE(final, true)", (batch_id + "-%",))
            return cur.fetchone()[0] == LINES
        wait_for(ledger_done, 60, "the ledger's rows for every line")
        cur.execute("SELECT request_id, count(*) FROM cost_events WHERE request_id LIKE %s AND COALESCE(final, true)"
                    " AND NOT rerun GROUP BY request_id HAVING count(*) <> 1", (batch_id + "-%",))
        assert cur.fetchall() == []
        cur.execute("SELECT COALESCE(sum(cost_nusd), 0) FROM cost_events WHERE request_id LIKE %s", (batch_id + "-%",))
        ledger_cost = cur.fetchone()[0]
    # The batch's cost so far is the ledger's spend for its lines (every run, each once).
    assert row["cost_nusd"] == ledger_cost

    # collect again on a complete file: nothing added.
    again = run_cli(cluster, "collect", batch_id, "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert count_lines(out) == LINES


def test_bad_lines_are_reported_with_line_numbers_and_nothing_is_sent(cluster, tmp_path):
    lines = [
        chat_line(0),
        '{"custom_id": "broken", ',                                    # 2: malformed JSON
        chat_line(2, url="/v1/completions"),                           # 3: wrong url
        chat_line(3, custom_id="req-0"),                               # 4: duplicate custom_id
        chat_line(4, body={"messages": [{"role": "user", "content": "x"}]}),  # 5: no model
        chat_line(5, body={"model": "echo", "messages": [{"role": "user", "content": "x" * 3000}]}),  # 6: too long
        chat_line(6, method="GET"),                                    # 7
    ]
    infile = write_input(tmp_path / "bad.jsonl", lines)
    res = run_cli(cluster, "submit", str(infile), "--tenant", "acme", LLMGW_BATCH_MAX_LINE_BYTES=2048)
    assert res.returncode == 1 and res.stdout == ""
    for lineno, code in [(2, "invalid_json"), (3, "invalid_url"), (4, "duplicate_custom_id"), (5, "invalid_body"),
                         (6, "line_too_large"), (7, "invalid_method")]:
        assert f"{infile}:{lineno}: {code}:" in res.stderr, res.stderr
    assert "nothing was sent" in res.stderr
    assert f"{infile}:1:" not in res.stderr
    # Nothing reached Kafka or the database: no batch row, and the batch topics hold no record.
    with cluster.db() as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('batches')")
        if cur.fetchone()[0] is not None:
            cur.execute("SELECT count(*) FROM batches")
            assert cur.fetchone()[0] == 0
    # A url that differs from the batch's endpoint (the first line's).
    infile2 = write_input(tmp_path / "mixed.jsonl", [chat_line(0), json.dumps(
        {"custom_id": "e", "method": "POST", "url": "/v1/embeddings", "body": {"model": "echo", "input": "x"}})])
    res = run_cli(cluster, "submit", str(infile2), "--tenant", "acme")
    assert res.returncode == 1 and f"{infile2}:2: mismatched_url:" in res.stderr, res.stderr


def test_skip_invalid_sends_the_valid_lines(cluster, tmp_path):
    services(cluster)
    cluster.worker("w")
    cluster.batch_role()
    infile = write_input(tmp_path / "in.jsonl", [chat_line(0), "not json", chat_line(2)])
    res = run_cli(cluster, "submit", str(infile), "--tenant", "acme", "--skip-invalid")
    assert res.returncode == 0, res.stderr
    assert f"{infile}:2: invalid_json:" in res.stderr
    batch_id = res.stdout.strip()
    out = tmp_path / "out.jsonl"
    col = run_cli(cluster, "collect", batch_id, "--out", str(out), "--interval-ms", "100", timeout=120)
    assert col.returncode == 0, col.stderr
    assert [json.loads(line)["custom_id"] for line in out.read_text().splitlines()] == ["req-0", "req-2"]


def test_cancel_answers_the_lines_not_run(cluster, tmp_path):
    # No worker yet: nothing runs until the cancel is on Kafka, so every line is answered batch_cancelled.
    services(cluster)
    cluster.batch_role()
    infile = write_input(tmp_path / "in.jsonl", [chat_line(i) for i in range(20)])
    res = run_cli(cluster, "submit", str(infile), "--tenant", "acme")
    assert res.returncode == 0, res.stderr
    batch_id = res.stdout.strip()
    cancel = run_cli(cluster, "cancel", batch_id)
    assert cancel.returncode == 0 and "cancelling" in cancel.stdout, cancel.stderr
    assert batch_row(cluster, batch_id)["status"] == "cancelling"
    cluster.worker("w")
    wait_for(lambda: batch_row(cluster, batch_id)["status"] == "cancelled", 120, "the batch cancelled")
    row = batch_row(cluster, batch_id)
    assert row["failed"] == 20 and row["completed"] == 0
    out = tmp_path / "out.jsonl"
    col = run_cli(cluster, "collect", batch_id, "--out", str(out))
    assert col.returncode == 0, col.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 20
    assert all(line["response"] is None and line["error"]["code"] == "batch_cancelled" for line in lines)
    assert [line["custom_id"] for line in lines] == [f"req-{i}" for i in range(20)]
    # A finished batch cannot be cancelled again; another tenant does not see it.
    again = run_cli(cluster, "cancel", batch_id)
    assert again.returncode == 1 and "cancelled already" in again.stderr
    other = run_cli(cluster, "status", batch_id, "--tenant", "other")
    assert other.returncode == 1 and "no batch" in other.stderr


def test_status_and_usage_errors(cluster, tmp_path):
    res = run_cli(cluster, "status", "batch_00000000000000000000000000000000")
    assert res.returncode == 1 and "no batch" in res.stderr
    res = run_cli(cluster, "submit", str(tmp_path / "x.jsonl"))
    assert res.returncode == 2 and "--tenant" in res.stderr
    res = run_cli(cluster, "collect", "batch_x")
    assert res.returncode == 2 and "--out" in res.stderr
    res = run_cli(cluster, "--help")
    assert res.returncode == 0 and "llmgw batch submit" in res.stdout
