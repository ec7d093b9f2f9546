"""A worker joining or leaving the group while provider calls run (workers/handover.h).

A revoked partition is given up only once its jobs in flight have ended (or the grace period has passed), so its
next owner does not run them again. That wait used to block the worker's rebalance callback, and with it its
consume loop. The eager protocol (llmgw's default) revokes every partition of every member at each rebalance, so
there a worker that joins holds every job behind the longest provider call in flight anywhere (measured: requests
sent during the join took 5.8 s at the median and up to 7.9 s, behind 8 s calls). With the cooperative protocol
configured (LLMGW_KAFKA_REBALANCE=cooperative), only the partitions that move are revoked, and the
worker now holds them paused while their jobs end, consuming the others meanwhile; before, its consume loop
stopped for the wait, and before that a worker on that protocol consumed nothing at all (librdkafka refused its
rd_kafka_assign)."""
import http.client
import json
import re
import threading
import time

from conftest import assert_ledger_complete, chat_body, fake_fixture, wait_for

SLOW_MS = 8000
QUICK_FOR_S = 4.0
QUICK_EVERY_S = 0.05


fake = fake_fixture("fake_openai.py")


def post(port, headers, content, model, out, lock):
    t0, wall = time.monotonic(), time.time()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/v1/chat/completions", chat_body(content, model), headers)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    with lock:
        out.append({"sent": t0, "wall": wall, "done": time.monotonic(), "status": resp.status,
                    "rid": resp.getheader("x-request-id"), "body": body})


def in_flight(ops_port):
    conn = http.client.HTTPConnection("127.0.0.1", ops_port, timeout=5)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    m = re.search(r"^llmgw_jobs_in_flight (\d+)", text, re.M)
    return int(m.group(1)) if m else 0


def revocation_began(log):
    """The wall-clock time of the worker's first "revoking" or "revoked" line, or None."""
    for line in log.splitlines():
        if re.search(r"revok(ing|ed) \d+ partition", line):
            return json.loads(line)["ts"]
    return None


def join_while_calls_run(cluster, fake, worker_env):
    """w1 holds four provider calls of SLOW_MS; w2 joins; a quick request goes out every QUICK_EVERY_S for
    QUICK_FOR_S from then on. Returns (quick answers, those sent after w1's revocation began and answered before the
    first slow call ended, w1)."""
    cluster.extra_env.update({"LLMGW_OPENAI_BASE_URL": f"http://127.0.0.1:{fake}/v1",
                              "LLMGW_OPENAI_API_KEY": "sk-fake-test-key",
                              "LLMGW_SHUTDOWN_GRACE_MS": "30000"})
    cluster.ledger()
    _, port = cluster.ingress("i1")
    w1, w1_ops = cluster.worker("w1", **worker_env)
    headers, lock = cluster.headers(), threading.Lock()
    slow, quick, threads = [], [], []
    for i in range(4):
        threads.append(threading.Thread(target=post, args=(port, headers, f"slow {SLOW_MS} #{i}", "gpt-4o-mini", slow,
                                                           lock)))
        threads[-1].start()
    wait_for(lambda: in_flight(w1_ops) >= 4, 30, "w1 holding the four slow calls")
    joined = threading.Thread(target=cluster.worker, args=("w2",), kwargs=worker_env)
    joined.start()
    end = time.monotonic() + QUICK_FOR_S
    i = 0
    while time.monotonic() < end:
        threads.append(threading.Thread(target=post, args=(port, headers, f"quick {i}", "echo", quick, lock)))
        threads[-1].start()
        i += 1
        time.sleep(QUICK_EVERY_S)
    for t in threads:
        t.join(90)
    joined.join(90)
    assert all(r["status"] == 200 for r in slow + quick), [r for r in slow + quick if r["status"] != 200][:3]
    assert len(slow) == 4 and len(quick) == i
    assert_ledger_complete(cluster.db().cursor(), [r["rid"] for r in slow + quick])
    began = revocation_began(w1.output())
    assert began, w1.output()[-3000:]
    first_slow = min(r["done"] for r in slow)
    during = [r for r in quick if r["wall"] > began and r["done"] < first_slow]
    waits = sorted((r["done"] - r["sent"]) * 1000 for r in quick)
    print(f"quick requests: {len(quick)}, sent after the revocation began and answered while the slow calls ran: "
          f"{len(during)}; time to answer p50 {waits[len(waits) // 2]:.1f} ms, max {waits[-1]:.1f} ms")  # figures
    return quick, during, w1


COOPERATIVE = {"LLMGW_KAFKA_REBALANCE": "cooperative"}


def test_a_joining_worker_does_not_stop_the_partitions_that_stay(cluster, fake):
    """Cooperative, configured: w1 gives up only the partitions that move to w2, once their calls end, and goes on
    taking jobs from the others meanwhile."""
    quick, during, w1 = join_while_calls_run(cluster, fake, COOPERATIVE)
    out = w1.output()
    revoked = [int(n) for n in re.findall(r"revoked (\d+) partition", out)]
    assert revoked and all(0 < n < 16 for n in revoked), out[-3000:]  # only those that moved
    assert "assigned 16 partition(s)" in out and "assign: " not in out, out[-3000:]
    assert "ignored by this producer" not in out, out[-3000:]  # the setting reaches the group's consumer only
    assert during, "no quick request was answered while the slow calls ran: w1 stopped all its partitions"


def test_the_eager_protocol_holds_every_partition_while_the_calls_end(cluster, fake):
    """The default (eager): every partition is revoked and held paused while the calls end. No job of a revoked
    partition is taken (none is run twice), and every request is answered, late."""
    quick, during, w1 = join_while_calls_run(cluster, fake, {})
    out = w1.output()
    assert re.search(r"revoking 16 partition\(s\): waiting for their [4-9] job\(s\) in flight", out), out[-3000:]
    assert "revoked 16 partition(s)" in out, out[-3000:]
    assert not during, "a job was taken from a revoked partition"


def test_a_worker_on_the_other_protocol_waits_for_the_old_members_and_reports_ready(cluster):
    """A rolling deploy that switches the workers to the cooperative protocol: the group refuses the new worker's
    protocol until the old (eager) members have left. The new worker says ready meanwhile (a deploy that waits for
    readiness goes on to stop the old ones), and joins once they are gone; nothing is lost."""
    cluster.ledger()
    _, port = cluster.ingress("i1")
    old, _ = cluster.worker("old")
    new, _ = cluster.worker("new", **COOPERATIVE)  # returns once /readyz says ready
    assert "has members on the other rebalance protocol" in new.output(), new.output()[-3000:]
    assert "assigned" not in new.output()
    answers, lock = [], threading.Lock()
    for i in range(5):
        post(port, cluster.headers(), f"during {i}", "echo", answers, lock)
    assert old.stop() == 0
    wait_for(lambda: "assigned 16 partition(s)" in new.output(), 30, "the new worker to join")
    for i in range(5):
        post(port, cluster.headers(), f"after {i}", "echo", answers, lock)
    assert [r["status"] for r in answers] == [200] * 10, answers
    assert json.loads(answers[-1]["body"])["choices"][0]["message"]["content"]
    assert_ledger_complete(cluster.db().cursor(), [r["rid"] for r in answers])
