#!/usr/bin/env python3
"""A local fake of the OpenAI API that reproduces its published wire format (status codes, headers, SSE
events, error bodies), for testing llmgw's OpenAI adapter without the network.

Behaviour is chosen by the last user message, so a test can ask for each case through the real gateway:
  "fail <status> <times>"  answer <status> with OpenAI's real error body <times> times for this message,
                            then succeed (429s carry retry-after: 0)
  "quota <times>"           429 insufficient_quota with x-should-retry: false, as OpenAI answers an
                            account out of credit, <times> times
  "slow <ms>"               wait before answering
  "slowonce <ms>"           wait before answering the first time this message comes, answer at once after
  "truncate"                stream two chunks, then close without [DONE]
  "badjson"                 200 with a body that is not JSON
  "tool"                    answer with a tool call (when the request has tools)
  anything else             answer "fake: <message>"
Usage is deterministic: prompt_tokens = 10 * messages, completion_tokens = words in the answer,
cached_tokens = 4 when the request has a "prompt_cache_key".

With --key=KEY, the API key it accepts is KEY instead of sk-fake-test-key (a test that plants a unique key).
With --mistral, a stream ends the way Mistral's does: usage on the final chunk, whether or not it was asked.
GET /_requests returns every request received (path, headers, body) for assertions; POST /_reset clears;
POST /_mode {"fail": status|null, "delay_ms": n, "behave": null|"hang"|"reset"|"garbage"} makes every call
slow, fail, hang, reset its connection or answer garbage until changed (fakebase.py).
Run: fake_openai.py PORT
"""
import base64
import json
import struct
import sys
import time

from fakebase import FakeHandler, lock, seen, serve

ERRORS = {
    400: ("invalid_request_error", "context_length_exceeded", "This model's maximum context length is 128000 tokens."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided: sk-***. You can find your API key at https://platform.openai.com/account/api-keys."),
    404: ("invalid_request_error", "model_not_found", "The model `x` does not exist or you do not have access to it."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Country, region, or territory not supported"),
    408: ("server_error", None, "Request timed out."),
    409: ("invalid_request_error", None, "Another request is modifying this resource; try again."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again in 0s."),
    500: ("server_error", None, "The server had an error processing your request. Sorry about that!"),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
    504: ("server_error", None, "Gateway timeout."),
}

fail_counts = {}
aborted = []  # messages whose stream the caller hung up on


def last_user(body):
    for m in reversed(body.get("messages", [])):
        if m.get("role") == "user":
            c = m.get("content")
            return c if isinstance(c, str) else "".join(p.get("text", "") for p in c if isinstance(p, dict))
    return ""


class Handler(FakeHandler):
    json_headers = {"x-request-id": "req_fake", "openai-processing-ms": "1"}

    def do_GET(self):
        if self.path == "/_requests":
            with lock:
                self.send_json(200, list(seen))
        elif self.path == "/_aborted":
            with lock:
                self.send_json(200, aborted)
        else:
            self.send_json(404, {"error": {"message": "no such route", "type": "invalid_request_error", "param": None, "code": None}})

    def do_POST(self):
        if self.path == "/_mode":
            return self.set_mode()
        if self.path == "/_reset":
            self.rfile.read(int(self.headers.get("content-length", 0)))
            with lock:
                seen.clear()
                fail_counts.clear()
            return self.send_json(200, {})
        body = self.read_json()
        # OpenAI's bearer key, or Azure OpenAI's api-key header (deployment URLs, ?api-version=)
        if self.headers.get("authorization") != f"Bearer {API_KEY}" and self.headers.get("api-key") != API_KEY:
            t, c, m = ERRORS[401]
            return self.send_json(401, {"error": {"message": m, "type": t, "param": None, "code": c}})
        path = self.path.split("?", 1)[0]
        if path.endswith("/embeddings"):
            return self.embeddings(body)
        if not path.endswith("/chat/completions"):
            return self.send_json(404, {"error": {"message": "no such route", "type": "invalid_request_error", "param": None, "code": None}})
        forced = self.mode_now()
        if forced:
            t, c, m = ERRORS[forced]
            return self.send_json(forced, {"error": {"message": m, "type": t, "param": None, "code": c}})
        text = last_user(body)
        words = text.split()
        if words[:1] == ["fail"]:
            status, times = int(words[1]), int(words[2])
            with lock:
                n = fail_counts.get(text, 0)
                fail_counts[text] = n + 1
            if n < times:
                t, c, m = ERRORS[status]
                extra = {"retry-after": "0"} if status == 429 else {}
                return self.send_json(status, {"error": {"message": m, "type": t, "param": None, "code": c}}, extra)
        if words[:1] == ["quota"]:
            with lock:
                n = fail_counts.get(text, 0)
                fail_counts[text] = n + 1
            if n < int(words[1]):
                return self.send_json(429, {"error": {
                    "message": "You exceeded your current quota, please check your plan and billing details.",
                    "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}},
                    {"x-should-retry": "false"})
        if words[:1] == ["slow"]:
            time.sleep(int(words[1]) / 1000)
        if words[:1] == ["slowonce"]:
            with lock:
                n = fail_counts.get(text, 0)
                fail_counts[text] = n + 1
            if n == 0:
                time.sleep(int(words[1]) / 1000)
        if text == "badjson":
            data = b"{this is not json"
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        answer = f"fake: {text}"
        tool_call = text == "tool" and body.get("tools")
        usage = {"prompt_tokens": 10 * len(body["messages"]), "completion_tokens": len(answer.split()),
                 "total_tokens": 10 * len(body["messages"]) + len(answer.split()),
                 "prompt_tokens_details": {"cached_tokens": 4 if "prompt_cache_key" in body else 0, "audio_tokens": 0},
                 "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                               "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}
        if body.get("stream") and words[:1] == ["slowstream"]:
            return self.slow_stream(body, text, int(words[1]))
        if body.get("stream") and words[:1] == ["bigstream"]:
            return self.slow_stream(body, text, int(words[1]), pause=0.002, pad=1000)
        if body.get("stream"):
            return self.stream(body, answer, usage, text == "truncate", tool_call)
        message = {"role": "assistant", "content": answer, "refusal": None, "annotations": []}
        finish = "stop"
        if tool_call:
            name = body["tools"][0]["function"]["name"]
            message = {"role": "assistant", "content": None, "refusal": None, "annotations": [],
                       "tool_calls": [{"id": "call_fake1", "type": "function",
                                       "function": {"name": name, "arguments": "{\"location\": \"Boston, MA\"}"}}]}
            finish = "tool_calls"
        self.send_json(200, {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                             "model": body["model"] + "-2024-07-18", "choices": [{"index": 0, "message": message,
                             "logprobs": None, "finish_reason": finish}], "usage": usage,
                             "service_tier": "default", "system_fingerprint": "fp_fake"})

    def stream(self, body, answer, usage, truncate, tool_call):
        self.start_stream("text/event-stream; charset=utf-8")
        include_usage = (body.get("stream_options") or {}).get("include_usage")
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                "model": body["model"] + "-2024-07-18", "system_fingerprint": "fp_fake"}

        def send(obj):
            if include_usage and "usage" not in obj:
                obj["usage"] = None
            self.write_chunk(("data: " + json.dumps(obj) + "\n\n").encode())

        def choice(delta, finish=None):
            return dict(base, choices=[{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}])

        send(choice({"role": "assistant", "content": "", "refusal": None}))
        if tool_call:
            name = body["tools"][0]["function"]["name"]
            send(choice({"tool_calls": [{"index": 0, "id": "call_fake1", "type": "function",
                                         "function": {"name": name, "arguments": ""}}]}))
            for frag in ["{\"location\"", ": \"Boston, MA\"}"]:
                send(choice({"tool_calls": [{"index": 0, "function": {"arguments": frag}}]}))
            send(choice({}, "tool_calls"))
        else:
            for i, word in enumerate(answer.split(" ")):
                send(choice({"content": word if i == 0 else " " + word}))
                if truncate and i == 1:
                    self.end_stream()  # end the HTTP body without [DONE]
                    return
            if MISTRAL:  # Mistral puts usage on its final chunk, asked or not (docs.mistral.ai release note 2024-01-16)
                send(dict(choice({}, "stop"), usage=usage))
            else:
                send(choice({}, "stop"))
        if include_usage and not MISTRAL:
            send(dict(base, choices=[], usage=usage))
        self.write_chunk(b"data: [DONE]\n\n")
        self.end_stream()

    def slow_stream(self, body, text, n, pause=0.1, pad=0):
        """n words, 100 ms apart: long enough for a caller to leave in the middle ("bigstream": 2 ms apart, each
        word padded to about 1 KB, for a caller that stops reading)."""
        self.start_stream("text/event-stream; charset=utf-8")
        try:
            for i in range(n):
                chunk = {"id": "chatcmpl-slow", "object": "chat.completion.chunk", "created": int(time.time()),
                         "model": body["model"], "choices": [{"index": 0, "delta": {"content": f"w{i} " + "x" * pad},
                                                              "logprobs": None, "finish_reason": None}]}
                self.write_chunk(("data: " + json.dumps(chunk) + "\n\n").encode())
                time.sleep(pause)
            self.write_chunk(b"data: [DONE]\n\n")
            self.end_stream()
        except (BrokenPipeError, ConnectionResetError):
            with lock:
                aborted.append(text)

    def embeddings(self, body):
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        dims = body.get("dimensions", 8)
        data = []
        for i, text in enumerate(inputs):
            vec = [((sum(map(ord, str(text))) >> (k % 8)) % 7) / 7.0 for k in range(dims)]
            if body.get("encoding_format") == "base64":  # what the official SDK asks for by default
                vec = base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode()
            data.append({"object": "embedding", "index": i, "embedding": vec})
        tokens = sum(len(str(t).split()) for t in inputs)
        self.send_json(200, {"object": "list", "data": data, "model": body["model"],
                             "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


MISTRAL = "--mistral" in sys.argv  # answer streams the way Mistral's API does
API_KEY = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--key=")), "sk-fake-test-key")

if __name__ == "__main__":
    serve(Handler)
