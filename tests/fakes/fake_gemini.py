#!/usr/bin/env python3
"""A local fake of the Gemini API (generativelanguage v1beta) reproducing its wire format:
models/{m}:generateContent, :streamGenerateContent?alt=sse (one GenerateContentResponse per data event, no
[DONE], finishReason and usageMetadata on the last), :batchEmbedContents, x-goog-api-key, and error bodies
{"error":{"code","message","status"}}.
Behaviour by the last user text: "fail <status> <times>", "tool" (a functionCall when tools are declared),
else "fake: <text>". usageMetadata: promptTokenCount = 10 per content turn, candidatesTokenCount = words,
cachedContentTokenCount = 2 when there is a systemInstruction. GET /_requests lists what was received.
Run: fake_gemini.py PORT"""
import json

from fakebase import FakeHandler, lock, seen, serve

STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED",
          500: "INTERNAL", 503: "UNAVAILABLE"}
fails = {}


class Handler(FakeHandler):
    pass

    def do_GET(self):
        with lock:
            self.send_json(200, list(seen))

    def do_POST(self):
        body = self.read_json()
        if self.headers.get("x-goog-api-key") != "fake-gemini-key":
            return self.send_json(400, {"error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT"}})
        path = self.path.split("?")[0]
        if path.endswith(":batchEmbedContents"):
            embs = [{"values": [0.5] * r.get("outputDimensionality", 4)} for r in body["requests"]]
            return self.send_json(200, {"embeddings": embs})
        turns = body["contents"]
        text = "".join(p.get("text", "") for p in turns[-1]["parts"]) if turns else ""
        words = text.split()
        if words[:1] == ["fail"]:
            with lock:
                n = fails.get(text, 0)
                fails[text] = n + 1
            if n < int(words[2]):
                st = int(words[1])
                return self.send_json(st, {"error": {"code": st, "message": "fake failure", "status": STATUS[st]}})
        answer = f"fake: {text}"
        usage = {"promptTokenCount": 10 * len(turns), "candidatesTokenCount": len(answer.split()),
                 "totalTokenCount": 10 * len(turns) + len(answer.split())}
        if "systemInstruction" in body:
            usage["cachedContentTokenCount"] = 2
        if text == "tool" and body.get("tools"):
            name = body["tools"][0]["functionDeclarations"][0]["name"]
            parts = [{"functionCall": {"name": name, "args": {"location": "Rome"}}}]
        else:
            parts = [{"text": answer}]
        model = path.split("/models/")[1].split(":")[0]
        if path.endswith(":streamGenerateContent"):
            self.start_stream()
            pieces = [[{"text": w if i == 0 else " " + w}] for i, w in enumerate(answer.split(" "))] \
                if "text" in parts[0] else [parts]
            for i, ps in enumerate(pieces):
                last = i == len(pieces) - 1
                ev = {"candidates": [{"content": {"role": "model", "parts": ps}, "index": 0}], "modelVersion": model}
                if last:
                    ev["candidates"][0]["finishReason"] = "STOP"
                    ev["usageMetadata"] = usage
                self.write_chunk(f"data: {json.dumps(ev)}\r\n\r\n".encode())
            self.end_stream()
            return
        self.send_json(200, {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP",
                                             "index": 0}], "usageMetadata": usage, "modelVersion": model,
                             "responseId": "fake"})


if __name__ == "__main__":
    serve(Handler)
