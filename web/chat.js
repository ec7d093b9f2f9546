// chat.js - one chat request as the form describes it, plain or streamed, measured from this browser: total
// latency, and time to the first token of a stream. The answer's decision comes from its x-llmgw-* headers,
// completed (cost, cache) by a stream's final `llmgw` object.
import { authHeaders, errorFrom, unreachable } from './api.js';

// opts: {prompt, strategy, model, maxTokens, stream, cache}. onText(delta) gets each piece of text as it
// arrives. Resolves (never rejects) to {ok, status, error, text, decision, usage, totalMs, ttftMs}.
export async function chat(opts, onText = () => {}) {
  const t0 = performance.now();
  const result = { ok: false, status: 0, error: '', text: '', decision: {}, usage: null, totalMs: null, ttftMs: null };
  let resp;
  try {
    resp = await fetch('/v1/chat/completions', {
      method: 'POST', headers: requestHeaders(opts), body: JSON.stringify(requestBody(opts)), cache: 'no-store',
    });
  } catch (e) {
    result.error = unreachable(e).message;
    return result;
  }
  result.status = resp.status;
  result.decision = decisionFrom(resp.headers);
  if (!resp.ok) {
    result.error = (await errorFrom(resp)).message;
  } else if ((resp.headers.get('content-type') || '').startsWith('text/event-stream')) {
    await readStream(resp.body, result, onText, t0);
  } else {
    readMessage(await resp.json(), result, onText);
  }
  result.totalMs = performance.now() - t0;
  result.ok = !result.error;
  return result;
}

function requestHeaders(opts) {
  const headers = authHeaders({ 'Content-Type': 'application/json', 'x-llmgw-strategy': opts.strategy });
  if (!opts.cache) headers['Cache-Control'] = 'no-cache'; // skip the lookup (the answer is still stored)
  return headers;
}

function requestBody(opts) {
  const body = {
    model: opts.model || 'auto',
    messages: [{ role: 'user', content: opts.prompt }],
    max_tokens: opts.maxTokens,
  };
  if (opts.stream) {
    body.stream = true;
    body.stream_options = { include_usage: true }; // the usage chunk carries the cost
  }
  return body;
}

function decisionFrom(h) {
  const num = (name) => (h.get(name) == null ? null : Number(h.get(name)));
  return {
    requestId: h.get('x-request-id'),
    provider: h.get('x-llmgw-provider'),
    model: h.get('x-llmgw-model'),
    strategy: h.get('x-llmgw-strategy'),
    attempts: num('x-llmgw-attempts'),
    fallbacks: num('x-llmgw-fallbacks'),
    route: h.get('x-llmgw-route'),
    cache: h.get('x-llmgw-cache'),
    cost: h.get('x-llmgw-cost-usd'),
    costEstimated: h.get('x-llmgw-cost-estimated') === 'true',
    simulated: h.get('x-llmgw-simulated') === 'true',
    budgetWarning: h.get('x-llmgw-budget-warning'),
  };
}

function readMessage(body, result, onText) {
  const text = body.choices && body.choices[0] && body.choices[0].message ? body.choices[0].message.content : '';
  result.text = text || '';
  result.usage = body.usage || null;
  if (result.text) onText(result.text);
}

// The stream's final `llmgw` object says what headers could not (sent before the cost was known).
function mergeLlmgw(decision, g) {
  if (g.provider) decision.provider = g.provider;
  if (g.model) decision.model = g.model;
  if (g.attempts != null) decision.attempts = g.attempts;
  if (g.cache) decision.cache = g.cache;
  decision.cost = g.cost_usd === null ? 'unknown' : g.cost_usd;
  decision.costEstimated = !!g.cost_estimated;
  if (g.simulated) decision.simulated = true;
}

function onChunk(chunk, result, onText, t0) {
  if (chunk.error) {
    result.error = `The stream ended with an error: ${chunk.error.message || chunk.error.code || 'unknown'}`;
    return;
  }
  const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
  if (delta && delta.content) {
    if (result.ttftMs === null) result.ttftMs = performance.now() - t0;
    result.text += delta.content;
    onText(delta.content);
  }
  if (chunk.usage) result.usage = chunk.usage;
  if (chunk.llmgw) mergeLlmgw(result.decision, chunk.llmgw);
}

// Reads an SSE body line by line: `data:` lines make up an event, an empty line ends it, [DONE] ends the
// answer (the body is still read to its end, so the connection closes cleanly).
async function readStream(body, result, onText, t0) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = '';
  let data = [];
  let finished = false;
  const dispatch = () => {
    const payload = data.join('\n');
    data = [];
    if (payload === '[DONE]') {
      finished = true;
      return;
    }
    try {
      onChunk(JSON.parse(payload), result, onText, t0);
    } catch {
      result.error = 'The stream sent a record that is not JSON.';
    }
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += value;
    let nl;
    while (!finished && (nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl).replace(/\r$/, '');
      pending = pending.slice(nl + 1);
      if (line.startsWith('data:')) data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
      else if (line === '' && data.length) dispatch();
    }
  }
  if (!finished && !result.error) result.error = 'The stream ended before its last record ([DONE]).';
}
