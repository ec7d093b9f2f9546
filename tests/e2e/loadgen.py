"""A small threaded load generator for the end-to-end tests: N chat requests, each with unique content,
from C concurrent keep-alive clients spread over the given ingress ports. Records every outcome."""
import http.client
import json
import threading
from dataclasses import dataclass


@dataclass
class Result:
    index: int
    content: str
    status: int
    body: dict
    request_id: str
    error: str = ""


def run(ports, n: int, concurrency: int, headers: dict, tag: str, timeout: float = 60.0, on_progress=None):
    results = [None] * n
    lock = threading.Lock()
    next_index = [0]
    done = [0]

    def client(worker_no: int):
        port = ports[worker_no % len(ports)]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        while True:
            with lock:
                i = next_index[0]
                next_index[0] += 1
            if i >= n:
                break
            content = f"{tag} request {i} from client {worker_no}"
            body = json.dumps({"model": "echo", "messages": [{"role": "user", "content": content}]})
            try:
                conn.request("POST", "/v1/chat/completions", body, headers)
                resp = conn.getresponse()
                raw = resp.read()
                results[i] = Result(i, content, resp.status, json.loads(raw), resp.getheader("x-request-id") or "")
            except Exception as exc:  # recorded and asserted on by the test, never swallowed
                results[i] = Result(i, content, 0, {}, "", repr(exc))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            with lock:
                done[0] += 1
                count = done[0]
            if on_progress:
                on_progress(count)
        conn.close()

    threads = [threading.Thread(target=client, args=(w,)) for w in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def echo_of(result: Result) -> str:
    return result.body["choices"][0]["message"]["content"]
