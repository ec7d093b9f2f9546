"""The W3C trace context travels with a request across Kafka: the client's `traceparent` (or a new one when
it sent none or an invalid one) is on the job record, on every reply record (stream chunks and the final
reply) and on the cost event record, and every record's `llmgw-id` header is its key, the request id."""
import http.client
import json
import re

import pytest

from conftest import chat_body, read_records

TRACEPARENT = re.compile(r"^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$")
CLIENT_TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def gw(cluster):
    cluster.ledger()
    cluster.worker("w1")
    _, port = cluster.ingress("i1")
    return cluster, port


def post(cluster, port, body, traceparent=None, tracestate=None):
    """Sends a chat request (streamed when body asks); returns the request id."""
    headers = cluster.headers()
    if traceparent is not None:
        headers["traceparent"] = traceparent
    if tracestate is not None:
        headers["tracestate"] = tracestate
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/v1/chat/completions", body, headers)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert resp.status == 200
    rid = resp.getheader("x-request-id")
    assert rid
    return rid


def records_of(cluster, rids):
    """The job, reply and cost records of every request id in rids, once each has its job, its final reply
    and its cost event: {rid: {"job": [Record], "reply": [Record], "cost": [Record]}}."""
    p = cluster.prefix
    topics = {"job": f"{p}.jobs.chat", "reply": f"{p}.replies.{p}-i1", "cost": f"{p}.cost"}

    def mine(got, what, rid):
        return [r for r in got[topics[what]] if r.key == rid]

    def complete(got):
        return all(mine(got, "job", rid) and mine(got, "cost", rid) and
                   any(r.value.get("final") for r in mine(got, "reply", rid)) for rid in rids)

    got = read_records(cluster.kafka, list(topics.values()), complete)
    return {rid: {what: mine(got, what, rid) for what in topics} for rid in rids}


def all_records(by_kind):
    return [r for records in by_kind.values() for r in records]


def test_client_traceparent_is_on_job_reply_and_cost(gw):
    cluster, port = gw
    plain = post(cluster, port, chat_body("traced"), CLIENT_TP)
    streamed = post(cluster, port, json.dumps({"model": "echo", "stream": True,
                                               "messages": [{"role": "user", "content": "traced and streamed"}]}),
                    CLIENT_TP)
    got = records_of(cluster, [plain, streamed])
    assert len(got[streamed]["reply"]) > 2, "stream chunks, then the final reply"
    for rid in (plain, streamed):
        for rec in all_records(got[rid]):
            assert rec.headers.get("llmgw-id") == rid, (rec.topic, rec.headers)
            assert rec.headers.get("traceparent") == CLIENT_TP, (rec.topic, rec.headers)


def test_missing_or_invalid_traceparent_gets_a_new_one(gw):
    cluster, port = gw
    t, p = CLIENT_TP[3:35], CLIENT_TP[36:52]
    sent = {"none": None, "garbage": "garbage", "empty": "",
            "uppercase": CLIENT_TP.upper(),
            "uppercase version": f"FF-{t}-{p}-01",
            "version ff": f"ff-{t}-{p}-01",
            "version not hex": f"0x-{t}-{p}-01",
            "zero trace id": f"00-{'0' * 32}-{p}-01",
            "zero parent id": f"00-{t}-{'0' * 16}-01",
            "non-hex trace id": f"00-{t[:-1]}g-{p}-01",
            "short trace id": f"00-{t[:-1]}-{p}-01",
            "short parent id": f"00-{t}-{p[:-1]}-01",
            "version 00 with more after it": f"{CLIENT_TP}-extra",
            "later version without a dash": f"01-{t}-{p}-01x",
            "wrong separators": f"00_{t}_{p}_01"}
    rids = {name: post(cluster, port, chat_body(f"untraced {name}"), tp) for name, tp in sent.items()}
    got = records_of(cluster, list(rids.values()))
    trace_ids = set()
    for name, rid in rids.items():
        records = all_records(got[rid])
        assert all(rec.headers.get("llmgw-id") == rid for rec in records), name
        tps = {rec.headers.get("traceparent") for rec in records}
        assert len(tps) == 1, f"{name}: one traceparent on job, reply and cost event, got {tps}"
        tp = tps.pop()
        assert tp and TRACEPARENT.match(tp), f"{name}: {tp!r}"
        assert tp != sent[name]
        trace_ids.add(tp.split("-")[1])
    assert len(trace_ids) == len(rids), "each request starts its own trace"


def test_later_version_is_carried_on_as_00(gw):
    """W3C: a version this code does not know is read by version 00's layout and passed on as 00."""
    cluster, port = gw
    rid = post(cluster, port, chat_body("from the future"), "01" + CLIENT_TP[2:] + "-more-fields")
    for rec in all_records(records_of(cluster, [rid])[rid]):
        assert rec.headers.get("traceparent") == CLIENT_TP, (rec.topic, rec.headers)


def test_tracestate_travels_with_the_traceparent(gw):
    """The client's tracestate is on the job, every reply record (a stream's chunks too) and the cost event,
    its members in order without the optional whitespace; a malformed one is dropped whole, and one without a
    valid traceparent is ignored."""
    cluster, port = gw
    sent = " rojo=00f067aa0ba902b7 ,congo=t61rcWkgMzE,, fw529a3039@dt=a b"
    kept = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,fw529a3039@dt=a b"
    plain = post(cluster, port, chat_body("with vendor data"), CLIENT_TP, sent)
    streamed = post(cluster, port, json.dumps({"model": "echo", "stream": True,
                                               "messages": [{"role": "user", "content": "vendor data streamed"}]}),
                    CLIENT_TP, sent)
    bad = {"uppercase key": "Rojo=1", "key twice": "a=1,a=2", "no value": "rojo",
           "33 members": ",".join(f"k{i}=v" for i in range(33)), "too long": "a=" + "v" * 256 + ",b=" + "v" * 254}
    bad_rids = {name: post(cluster, port, chat_body(f"bad tracestate {name}"), CLIENT_TP, ts)
                for name, ts in bad.items()}
    orphan = post(cluster, port, chat_body("tracestate alone"), None, "rojo=1")
    recs = records_of(cluster, [plain, streamed, orphan, *bad_rids.values()])
    for rid in (plain, streamed):
        records = all_records(recs[rid])
        assert len(records) >= 3
        for rec in records:
            assert rec.headers.get("tracestate") == kept, (rec.topic, rec.headers)
            assert rec.headers.get("traceparent") == CLIENT_TP
    assert len(recs[streamed]["reply"]) > 1  # chunks and the final reply: each carries it
    for name, rid in bad_rids.items():
        for rec in all_records(recs[rid]):
            assert "tracestate" not in rec.headers, (name, rec.topic, rec.headers)
            assert rec.headers.get("traceparent") == CLIENT_TP  # the trace goes on without it
    for rec in all_records(recs[orphan]):
        assert "tracestate" not in rec.headers, (rec.topic, rec.headers)
