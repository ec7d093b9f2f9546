"""What the fake providers share: an HTTP/1.1 handler that sends promptly, JSON and chunked SSE writers,
a recorded-requests list, and the server start-up line the tests wait for."""
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
seen = []  # every request received: {"path", "headers", "body"}
# Whole-server behaviour a test switches mid-run with POST /_mode {"fail": status|null, "delay_ms": n}:
# every model call then waits delay_ms and, with fail set, answers that status with the provider's error body.
mode = {"fail": None, "delay_ms": 0}


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
        with lock:
            mode["fail"] = body.get("fail")
            mode["delay_ms"] = int(body.get("delay_ms", 0))
        self.send_json(200, dict(mode))

    def mode_now(self):
        """Applies the delay of the current mode and returns the status to fail with, or None."""
        with lock:
            fail, delay = mode["fail"], mode["delay_ms"]
        if delay:
            time.sleep(delay / 1000)
        return fail

    def read_json(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        with lock:
            seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
        return body


def serve(handler):
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()
