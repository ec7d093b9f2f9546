"""The chaos suite's load: a few threads sending chat requests at a steady total rate to one or more ingresses
until stopped, each request with its own id (sent as the body's "user", which the ledger stores as user_id, so
every cost row is matched to the request that caused it, answered or not) and its outcome recorded: status,
the error body's code, latency, the gateway's x-request-id, or the exception that ended it."""
import http.client
import json
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Outcome:
    rid: str  # the driver's id of the request (the body's "user")
    port: int  # the ingress it was sent to
    sent: float  # time.monotonic() when it was sent
    done: float = 0.0  # when its answer (or its failure) came
    status: int = 0  # HTTP status; 0: no answer (see exc)
    code: str = ""  # error.code (or error.type when code is null) of an error body
    message: str = ""  # error.message of an error body (its first 200 characters)
    clean: bool = False  # an error answered with a JSON OpenAI-style error body
    request_id: str = ""  # x-request-id
    exc: str = ""  # the exception that ended a request without an answer
    exc_kind: str = ""  # refused (nothing reached a gateway), cut (connection dropped), timeout, other
    body_ok: bool = False  # a 200 whose answer is this request's own
    extra: dict = field(default_factory=dict)

    @property
    def latency(self) -> float:
        return self.done - self.sent


def _kind(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, (TimeoutError,)) or "timed out" in str(exc):
        return "timeout"
    if isinstance(exc, (ConnectionError, http.client.RemoteDisconnected, http.client.IncompleteRead,
                        http.client.BadStatusLine, BrokenPipeError)):
        return "cut"
    return "other"


class Load:
    """THREADS keep-alive clients pacing themselves to RATE requests/s in total over the given ingress ports (more
    clients than the rate needs, so that most are idle at any moment and a fault meets new requests at once). A
    client whose connection fails or that is answered 503 moves to the next port for its next request, as a load
    balancer takes a failing instance out. timeout bounds one request (a hang shows up as exc_kind "timeout").
    slow_threads more clients ask the fake provider to take SLOW_MS over each answer ("slow <ms>"), so that a
    fault always finds requests in flight at the gateway (a job at the worker killed, an ingress draining)."""

    SLOW_MS = 1500

    def __init__(self, name: str, ports: list, headers: dict, model: str, rate: float = 60.0, threads: int = 16,
                 timeout: float = 40.0, slow_threads: int = 0):
        self.name, self.ports, self.headers, self.model = name, list(ports), headers, model
        self.interval = threads / rate
        self.timeout = timeout
        self.outcomes: list = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._client, args=(c, c >= threads), daemon=True)
                        for c in range(threads + slow_threads)]

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self, join_timeout: float = 90.0):
        """Stops sending; waits for the requests in flight to end (each is bounded by the request timeout)."""
        self.stopping.set()
        for t in self.threads:
            t.join(join_timeout)
        return [t.name for t in self.threads if t.is_alive()]

    def results(self) -> list:
        with self.lock:
            return list(self.outcomes)

    def _client(self, c: int, slow: bool):
        slot = c % len(self.ports)
        conn = None
        n = 0
        next_at = time.monotonic() + self.interval * c / len(self.threads)  # spread the clients' first sends
        while not self.stopping.is_set():
            now = time.monotonic()
            if next_at > now:
                time.sleep(next_at - now)
            next_at = max(next_at + self.interval, time.monotonic())  # a slow answer delays, never bursts
            port = self.ports[slot]
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=self.timeout)
            rid = f"chaos-{self.name}-{c}-{n}"
            n += 1
            text = f"slow {self.SLOW_MS} {rid}" if slow else f"chaos {rid}"
            body = json.dumps({"model": self.model, "user": rid, "messages": [{"role": "user", "content": text}]})
            out = Outcome(rid, port, time.monotonic())
            move = False
            try:
                conn.request("POST", "/v1/chat/completions", body, self.headers)
                r = conn.getresponse()
                raw = r.read()
                out.done = time.monotonic()
                out.status = r.status
                out.request_id = r.getheader("x-request-id") or ""
                try:
                    data = json.loads(raw)
                except ValueError:
                    data = None
                if r.status == 200:
                    try:
                        out.body_ok = data["choices"][0]["message"]["content"] == "fake: " + text
                    except (TypeError, KeyError, IndexError):
                        out.body_ok = False
                else:
                    err = data.get("error") if isinstance(data, dict) else None
                    out.clean = isinstance(err, dict) and bool(err.get("message")) and bool(err.get("type"))
                    if out.clean:
                        out.code = str(err.get("code") or err.get("type"))
                        out.message = str(err.get("message"))[:200]
                    move = r.status == 503
                if (r.getheader("connection") or "").lower() == "close":
                    conn.close()
                    conn = None
            except Exception as exc:  # recorded and judged by the reconciliation, never swallowed
                out.done = time.monotonic()
                out.exc = repr(exc)
                out.exc_kind = _kind(exc)
                conn.close()
                conn = None
                move = True
            if move and len(self.ports) > 1:
                slot = (slot + 1) % len(self.ports)
                if conn is not None:
                    conn.close()
                    conn = None
            with self.lock:
                self.outcomes.append(out)
        if conn is not None:
            conn.close()
