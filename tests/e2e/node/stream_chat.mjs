// The official openai npm package, unmodified, streaming a chat completion through llmgw.
// Usage: node stream_chat.mjs BASE_URL API_KEY MODEL TEXT  -> prints {"text": ..., "usage": ..., "chunks": n}
import OpenAI from "openai";

const [baseURL, apiKey, model, text] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
const stream = await client.chat.completions.create({
  model,
  messages: [{ role: "user", content: text }],
  stream: true,
  stream_options: { include_usage: true },
});
let out = "";
let usage = null;
let chunks = 0;
for await (const chunk of stream) {
  chunks++;
  if (chunk.usage) usage = chunk.usage;
  for (const choice of chunk.choices) out += choice.delta?.content ?? "";
}
console.log(JSON.stringify({ text: out, usage, chunks }));
