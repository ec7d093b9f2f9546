#!/usr/bin/env python3
"""A local fake of Anthropic's Messages API (POST /v1/messages) reproducing its wire format: x-api-key and
anthropic-version headers, message objects, the streaming event sequence (message_start,
content_block_start/delta/stop, ping, message_delta with usage, message_stop, error), and error bodies
{"type":"error","error":{"type","message"}} with their statuses (529 overloaded included).

Behaviour by the last user text:  "fail <status> <times>" (then succeed), "tool" (a tool_use block when the
request has tools), "overload-midstream" (an error event after the first text delta), else "fake: <text>".
Usage: input_tokens = 10 per message, cache_creation_input_tokens = 5 when there is a system prompt,
cache_read_input_tokens = 3 when the system prompt says "cached", output_tokens = words in the answer.
GET /_requests lists what was received. Run: fake_anthropic.py PORT
"""
import json

from fakebase import FakeHandler, lock, seen, serve

ERRORS = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
          429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}
fails = {}


def last_user_text(body):
    for m in reversed(body["messages"]):
        if m["role"] == "user":
            c = m["content"]
            if isinstance(c, str):
                return c
            return "".join(b.get("text", "") for b in c if b.get("type") == "text")
    return ""


class Handler(FakeHandler):
    json_headers = {"request-id": "req_fake"}

    def error(self, status, message):
        self.send_json(status, {"type": "error", "error": {"type": ERRORS.get(status, "api_error"), "message": message},
                                "request_id": "req_fake"}, {"retry-after": "0"} if status in (429, 529) else None)

    def do_GET(self):
        with lock:
            self.send_json(200, list(seen))

    def do_POST(self):
        if self.path == "/_mode":
            return self.set_mode()
        body = self.read_json()
        if self.headers.get("x-api-key") != "sk-ant-fake" or self.headers.get("anthropic-version") != "2023-06-01":
            return self.error(401, "invalid x-api-key")
        forced = self.mode_now()
        if forced:
            return self.error(forced, "Overloaded" if forced == 529 else "fake failure")
        if "max_tokens" not in body:
            return self.error(400, "max_tokens: Field required")
        text = last_user_text(body)
        words = text.split()
        if words[:1] == ["fail"]:
            with lock:
                n = fails.get(text, 0)
                fails[text] = n + 1
            if n < int(words[2]):
                return self.error(int(words[1]), "Overloaded" if words[1] == "529" else "fake failure")
        answer = f"fake: {text}"
        system = body.get("system")
        system_text = "".join(b["text"] for b in system) if isinstance(system, list) else (system or "")
        usage = {"input_tokens": 10 * len(body["messages"]),
                 "cache_creation_input_tokens": 5 if system else 0,
                 "cache_read_input_tokens": 3 if "cached" in system_text else 0,
                 "output_tokens": len(answer.split()), "service_tier": "standard"}
        tool = text == "tool" and body.get("tools")
        content = [{"type": "text", "text": answer}]
        stop = "end_turn"
        if tool:
            content = [{"type": "text", "text": "Checking."},
                       {"type": "tool_use", "id": "toolu_fake1", "name": body["tools"][0]["name"],
                        "input": {"location": "Paris"}}]
            stop = "tool_use"
        if body.get("stream"):
            return self.stream(body, content, usage, stop, text == "overload-midstream")
        self.send_json(200, {"id": "msg_fake", "type": "message", "role": "assistant", "model": body["model"],
                             "content": content, "stop_reason": stop, "stop_sequence": None, "usage": usage})

    def stream(self, body, content, usage, stop, overload):
        self.start_stream()

        def send(name, obj):
            self.write_chunk(f"event: {name}\ndata: {json.dumps(obj)}\n\n".encode())

        start_usage = dict(usage, output_tokens=1)
        send("message_start", {"type": "message_start", "message": {"id": "msg_fake", "type": "message",
             "role": "assistant", "model": body["model"], "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": start_usage}})
        send("ping", {"type": "ping"})
        for i, block in enumerate(content):
            if block["type"] == "text":
                send("content_block_start", {"type": "content_block_start", "index": i,
                                             "content_block": {"type": "text", "text": ""}})
                for j, word in enumerate(block["text"].split(" ")):
                    send("content_block_delta", {"type": "content_block_delta", "index": i,
                                                 "delta": {"type": "text_delta", "text": word if j == 0 else " " + word}})
                    if overload:
                        send("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
                        self.end_stream()
                        return
            else:
                send("content_block_start", {"type": "content_block_start", "index": i, "content_block":
                     {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}})
                for frag in ['{"locati', 'on": "Paris"}']:
                    send("content_block_delta", {"type": "content_block_delta", "index": i,
                                                 "delta": {"type": "input_json_delta", "partial_json": frag}})
            send("content_block_stop", {"type": "content_block_stop", "index": i})
        send("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                               "usage": {"output_tokens": usage["output_tokens"]}})
        send("message_stop", {"type": "message_stop"})
        self.end_stream()


if __name__ == "__main__":
    serve(Handler)
