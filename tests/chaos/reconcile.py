"""The chaos suite's verdict on one fault: what the load driver saw, matched per request id against the ledger's
cost rows, the times the fault cost, and the bounds that separate right from wrong. Also the table."""
import statistics
from collections import Counter


def read_rows(db) -> list:
    """Every cost row of a fault's database as dicts (each fault has a database of its own)."""
    with db.cursor() as cur:
        cur.execute("SELECT user_id, request_id, event_id, rerun, final, outcome FROM cost_events")
        keys = ("user_id", "request_id", "event_id", "rerun", "final", "outcome")
        return [dict(zip(keys, row)) for row in cur.fetchall()]


def is_final(row) -> bool:
    """A final, non-rerun row: the one row that bills a request (a NULL final is an old row's only event)."""
    return not row["rerun"] and row["final"] is not False


def _p50(xs):
    return round(statistics.median(xs), 3) if xs else None


def reconcile(spec, outcomes: list, rows: list, t: dict) -> dict:
    """spec: the fault (name, bounds); outcomes: driver.Outcome list; rows: read_rows(); t: the fault's times
    (monotonic): fault (injected), restore (its end), killed (port -> time an ingress was killed -9),
    stopped (port -> time an ingress was sent SIGTERM), ledger_s (how long the ledger took to hold every 200)."""
    by_rid = {}
    for row in rows:
        by_rid.setdefault(row["user_id"], []).append(row)
    rids = {o.rid for o in outcomes}
    killed = t.get("killed", {})

    ok, errors, cut, refused, lost, bad200 = [], [], [], [], [], []
    for o in outcomes:
        if o.status == 200:
            ok.append(o)
            finals = [r for r in by_rid.get(o.rid, []) if is_final(r)]
            if not o.body_ok or len(finals) != 1 or finals[0]["request_id"] != o.request_id:
                bad200.append(o)
        elif o.status and o.clean:
            errors.append(o)
        elif o.exc_kind == "refused" or (o.exc_kind == "cut" and o.port in killed and o.sent > killed[o.port]):
            refused.append(o)  # never reached a live gateway: refused, or sent on a connection of a dead ingress
        elif o.exc_kind == "cut" and o.port in killed:
            cut.append(o)  # in flight at an ingress killed -9: its connection died with it
        else:
            lost.append(o)  # no answer from a live ingress, a hang, or an error without a clean body

    # 503s of an ingress that could not reach its broker ("The gateway cannot reach its message broker", "...
    # lost its message broker ..."): the fault's own answer in the broker faults; in the others, the broker's
    # probe went unanswered for a moment on a loaded machine, which is not what the fault tests, so the bounds
    # of those faults leave them aside (spec.broker_errors_aside) and the notes say how many there were.
    broker_errs = [o for o in errors if o.status == 503 and "message broker" in o.message]
    rerun_rows = [r for r in rows if r["rerun"]]
    double = [rid for rid, rs in by_rid.items() if sum(1 for r in rs if is_final(r)) > 1]
    billed_cut = [o.rid for o in cut if o.rid in by_rid]
    billed_err = [o.rid for o in errors if o.rid in by_rid]
    unknown = sorted(set(by_rid) - rids)
    events = [r["event_id"] for r in rows]
    dup_events = len(events) - len(set(events))

    t_fault, t_restore = t["fault"], t["restore"]
    # New requests (sent after the fault began): how soon the first failed and how fast they fail. The slowest
    # failure counts the requests that were waiting at the fault too (answered at an outage grace, a deadline).
    new_errs = [o for o in errors if o.sent >= t_fault]
    first_fail = min((o.done for o in new_errs), default=None)
    new_lat = [o.latency for o in new_errs]
    err_lat = [o.latency for o in errors if o.done >= t_fault]
    recover = min((o.done for o in ok if o.sent >= t_restore), default=None)
    marks = [t_fault] + sorted(o.done for o in ok if o.done >= t_fault)
    gap = max((b - a for a, b in zip(marks, marks[1:])), default=None)

    res = {
        "fault": spec.name,
        "what": spec.what,
        "sent": len(outcomes),
        "ok": len(ok),
        "errors": dict(sorted(Counter(o.status for o in errors).items())),
        "error_codes": dict(Counter(f"{o.status} {o.code}" for o in errors)),
        "errors_broker_unreachable": len(broker_errs),
        "refused": len(refused),
        "cut": len(cut),
        "lost": len(lost),
        "lost_examples": [(o.rid, o.status, o.exc or o.code) for o in lost[:5]],
        "bad_200": len(bad200),
        "bad_200_examples": [(o.rid, o.request_id, [(r["request_id"], r["rerun"], r["final"], r["outcome"])
                                                    for r in by_rid.get(o.rid, [])]) for o in bad200[:5]],
        "double_billed": len(double),
        "rerun_rows": len(rerun_rows),
        "rerun_requests_answered_200": sum(1 for o in ok if any(r["rerun"] for r in by_rid.get(o.rid, []))),
        "billed_after_ingress_died": len(billed_cut),
        "billed_error_answers": len(billed_err),
        # What the rows of requests not answered 200 say (a failed call is recorded too, at its real cost).
        "outcomes_not_200": dict(Counter(r["outcome"] for o in errors + cut + refused + lost
                                         for r in by_rid.get(o.rid, []))),
        "unknown_rows": len(unknown),
        "duplicate_event_ids": dup_events,
        "rows": len(rows),
        "first_fail_s": round(first_fail - t_fault, 3) if first_fail is not None else None,
        "fail_latency_p50_s": _p50(new_lat),
        "fail_latency_max_s": round(max(err_lat), 3) if err_lat else None,
        "recover_s": round(recover - t_restore, 3) if recover is not None else None,
        "longest_gap_s": round(gap, 3) if gap is not None else None,
        "fault_lasted_s": round(t_restore - t_fault, 3),
        "ledger_s": t.get("ledger_s"),
        "notes": list(t.get("notes", [])),
    }
    res["checks"] = check(spec, res)
    res["passed"] = all(c[1] for c in res["checks"])
    return res


def check(spec, res) -> list:
    """The bounds: (what, held, detail). Every fault: nothing lost, every 200 billed once, no event twice; the
    fault's own bounds are generous, set to separate right from wrong rather than to time the machine."""
    checks = [
        ("no request lost", res["lost"] == 0, res["lost_examples"]),
        ("every 200 has exactly one final non-rerun row", res["bad_200"] == 0, res["bad_200_examples"]),
        ("no request billed twice", res["double_billed"] == 0, res["double_billed"]),
        ("no event id twice", res["duplicate_event_ids"] == 0, res["duplicate_event_ids"]),
        ("no row without a request", res["unknown_rows"] == 0, res["unknown_rows"]),
        ("load ran before the fault", res["ok"] > 0, res["ok"]),
        ("answered 200 again after the fault", res["recover_s"] is not None, res["recover_s"]),
    ]
    if not spec.cut_ok:
        checks.append(("no connection cut", res["cut"] == 0, res["cut"]))
    errors = dict(res["errors"])
    aside = res["errors_broker_unreachable"] if spec.broker_errors_aside else 0
    if aside:
        errors[503] -= aside
        errors = {k: v for k, v in errors.items() if v}
    bad_status = sorted(set(errors) - set(spec.statuses))
    checks.append((f"errors only {sorted(spec.statuses)}", not bad_status, bad_status))
    if spec.max_err_share is not None:
        share = sum(errors.values()) / max(res["sent"], 1)
        checks.append((f"errors <= {spec.max_err_share:.0%} of requests", share <= spec.max_err_share, round(share, 4)))
    if spec.fail_fast_s is not None:
        p50 = res["fail_latency_p50_s"]
        checks.append((f"failures fast (p50 <= {spec.fail_fast_s} s)", p50 is None or p50 <= spec.fail_fast_s, p50))
    if spec.fail_max_s is not None:
        mx = res["fail_latency_max_s"]
        checks.append((f"no failure slower than {spec.fail_max_s} s", mx is None or mx <= spec.fail_max_s, mx))
    if spec.must_fail:
        checks.append(("the fault was felt (some errors)", sum(res["errors"].values()) > 0, res["errors"]))
    if spec.recover_max_s is not None:
        r = res["recover_s"]
        checks.append((f"recovered within {spec.recover_max_s} s", r is not None and r <= spec.recover_max_s, r))
    for what, held, detail in res.get("extra_checks", []):
        checks.append((what, held, detail))
    return checks


COLUMNS = [  # header, width, value
    ("fault", 17, lambda r: r["fault"]),
    ("sent", 5, lambda r: r["sent"]),
    ("200", 5, lambda r: r["ok"]),
    ("errors", 17, lambda r: " ".join(f"{k}:{v}" for k, v in r["errors"].items()) or "-"),
    ("refused", 7, lambda r: r["refused"]),
    ("cut", 3, lambda r: r["cut"]),
    ("lost", 4, lambda r: r["lost"]),
    ("200!=1row", 9, lambda r: r["bad_200"]),
    ("reruns", 6, lambda r: r["rerun_rows"]),
    ("billed:cut/err", 14, lambda r: f"{r['billed_after_ingress_died']}/{r['billed_error_answers']}"),
    ("dupev", 5, lambda r: r["duplicate_event_ids"]),
    ("1st fail s", 10, lambda r: _fmt(r["first_fail_s"])),
    ("fail p50/max s", 14, lambda r: f"{_fmt(r['fail_latency_p50_s'])}/{_fmt(r['fail_latency_max_s'])}"),
    ("recover s", 9, lambda r: _fmt(r["recover_s"])),
    ("gap s", 6, lambda r: _fmt(r["longest_gap_s"])),
    ("ledger s", 8, lambda r: _fmt(r["ledger_s"])),
    ("ok", 4, lambda r: "PASS" if r["passed"] else "FAIL"),
]


def _fmt(x):
    return "-" if x is None else f"{x:.2f}"


def table(results: list) -> str:
    head = "  ".join(h.ljust(w) for h, w, _ in COLUMNS).rstrip()
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append("  ".join(str(f(r)).ljust(w) for _, w, f in COLUMNS).rstrip())
    return "\n".join(lines)
