"""What the fake providers share: an HTTP/1.1 handler that sends promptly, JSON and chunked SSE writers,
a recorded-requests list, and the server start-up line the tests wait for."""
import json
import select
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
seen = []  # every request received: {"path", "headers", "body"}
# Whole-server behaviour a test switches mid-run with POST /_mode {"fail": status|null, "delay_ms": n,
# "behave": null|"hang"|"reset"|"garbage"}: every model call then waits delay_ms and, with fail set, answers
# that status with the provider's error body. "behave" is a provider going wrong below HTTP errors (the chaos
# suite, tests/chaos): "hang" reads the request and never answers (until the caller hangs up, at most
# HANG_LIMIT_S), "reset" closes the connection with a TCP reset instead of answering, "garbage" answers 200
# with a body that is not JSON.
mode = {"fail": None, "delay_ms": 0, "behave": None}
BEHAVIOURS = (None, "hang", "reset", "garbage")
HANG_LIMIT_S = 600  # a hung call still ends some day, so a forgotten fake never holds threads for ever


class Misbehaved(Exception):
    """The call was answered (or refused an answer) by the "behave" mode; the handler sends nothing more."""


class FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    json_headers: dict = {}  # provider-specific headers on every JSON answer

    def setup(self):
        super().setup()
        # Headers and each SSE chunk are separate small writes: without this, Nagle plus the client's
        # delayed ACK hold every chunk back ~40 ms, which no real provider does.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except Misbehaved:
            self.close_connection = True

    def finish(self):
        try:
            super().finish()
        except OSError:  # the "reset" mode closed the socket under the buffered writer
            pass

    def send_json(self, status, obj, extra=None, content_type="application/json"):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        for k, v in {**self.json_headers, **(extra or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def start_stream(self, content_type="text/event-stream"):
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()

    def write_chunk(self, data: bytes):
        """One HTTP chunk, flushed at once."""
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def end_stream(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def set_mode(self):
        """POST /_mode: replaces the server-wide behaviour (see `mode`)."""
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        if body.get("behave") not in BEHAVIOURS:
            return self.send_json(400, {"error": f"behave must be one of {BEHAVIOURS}"})
        with lock:
            mode["fail"] = body.get("fail")
            mode["delay_ms"] = int(body.get("delay_ms", 0))
            mode["behave"] = body.get("behave")
        self.send_json(200, dict(mode))

    def mode_now(self):
        """Applies the delay of the current mode and returns the status to fail with, or None. With a "behave"
        mode set, carries it out and raises Misbehaved (the caller's handler sends nothing more)."""
        with lock:
            fail, delay, behave = mode["fail"], mode["delay_ms"], mode["behave"]
        if delay:
            time.sleep(delay / 1000)
        if behave:
            self.misbehave(behave)
            raise Misbehaved(behave)
        return fail

    def misbehave(self, behave):
        sock = self.request
        if behave == "hang":
            # Holds the call until the caller gives up: its close makes the socket readable with no data.
            deadline = time.monotonic() + HANG_LIMIT_S
            while time.monotonic() < deadline:
                if select.select([sock], [], [], 0.5)[0]:
                    try:
                        if not sock.recv(1, socket.MSG_PEEK):
                            return
                    except OSError:
                        return
        elif behave == "reset":
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN: "connection reset by peer".
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        elif behave == "garbage":
            data = b"\x00\xffnot json <html>502 Bad Gateway</html>{{"
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

    def read_json(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        with lock:
            seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
        return body


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A caller that hung up (a gateway killed, a call given up on) is not the fake's error: no traceback.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


def serve(handler):
    server = Server(("127.0.0.1", int(sys.argv[1])), handler)
    print("ready", flush=True)
    server.serve_forever()
