"""Two ingress instances and two workers on the real broker: 2,000 requests from 200 concurrent clients,
each answered with its own content, every answered request in the ledger exactly once."""
import loadgen
from conftest import assert_ledger_complete


def test_two_ingress_two_workers_2000_requests(cluster):
    cluster.ledger()
    cluster.worker("w1")
    cluster.worker("w2")
    i1, port1 = cluster.ingress("i1")
    i2, port2 = cluster.ingress("i2")

    results = loadgen.run([port1, port2], n=2000, concurrency=200, headers=cluster.headers(), tag="load")

    failures = [r for r in results if r.status != 200]
    assert not failures, f"{len(failures)} failed, first: {failures[0]}"
    for r in results:
        assert loadgen.echo_of(r) == r.content, f"request {r.index} got another client's answer"
        assert r.request_id
    ids = {r.request_id for r in results}
    assert len(ids) == 2000

    db = cluster.db()
    cur = db.cursor()

    assert_ledger_complete(cur, list(ids))
    cur.execute("SELECT DISTINCT tenant, provider, model, outcome, status, cost_nusd, cost_known FROM cost_events")
    assert cur.fetchall() == [("acme", "echo", "echo", "ok", 200, 0, True)]
    cur.execute("SELECT min(input_tokens), min(output_tokens) FROM cost_events")
    assert min(cur.fetchone()) > 0

    # Secrets and prompts never reach the logs.
    for proc in cluster.procs:
        text = proc.output()
        assert cluster.key not in text, f"{proc.name} logged the tenant key"
        assert "load request" not in text, f"{proc.name} logged a prompt"
