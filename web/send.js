// send.js - the request form: what it asks for, and one answer shown as it arrives (token by token when
// streamed) with its routing decision.
import { chat } from './chat.js';
import { $, noteSimulated, showAlert, simBadge } from './dom.js';
import { count, ms, usd } from './format.js';

// The form's values as chat() takes them.
export function formOptions() {
  const max = Number.parseInt($('max-tokens').value, 10);
  return {
    prompt: $('prompt').value,
    strategy: $('strategy').value,
    model: $('model').value.trim() || 'auto',
    maxTokens: Number.isFinite(max) && max > 0 ? max : 256,
    stream: $('stream').checked,
    cache: $('cache').checked,
  };
}

function setField(id, text) {
  $(id).textContent = text == null || text === '' ? '–' : String(text);
}

function showDecision(result) {
  const d = result.decision;
  setField('d-provider', d.provider);
  setField('d-model', d.model);
  setField('d-strategy', d.strategy);
  setField('d-attempts', d.attempts);
  setField('d-fallbacks', d.fallbacks);
  setField('d-cache', d.cache);
  setField('d-latency', result.totalMs == null ? null : ms(result.totalMs));
  setField('d-ttft', result.ttftMs == null ? (result.ok ? 'not streamed' : null) : ms(result.ttftMs));
  const u = result.usage;
  setField('d-tokens', u ? `${count(u.prompt_tokens)} / ${count(u.completion_tokens)}` : null);
  setField('d-cost', d.cost == null ? null : usd(d.cost) + (d.costEstimated ? ' (estimated)' : ''));
  $('d-cost').dataset.value = d.cost || '';
  setField('d-route', d.route);
  setField('d-request-id', d.requestId);
  $('answer-badges').replaceChildren(...(d.simulated ? [simBadge()] : []));
  if (d.simulated) noteSimulated('answer', true);
}

function clearAnswer() {
  $('answer').hidden = false;
  $('answer').setAttribute('aria-busy', 'true');
  $('answer-text').textContent = '';
  showAlert($('answer-error'), '');
  showDecision({ decision: {}, usage: null, totalMs: null, ttftMs: null });
}

// Sends the form once and shows the answer; resolves to chat()'s result.
export async function sendForm() {
  clearAnswer();
  const text = document.createTextNode('');
  $('answer-text').append(text);
  const result = await chat(formOptions(), (delta) => text.appendData(delta));
  showDecision(result);
  if (result.error) showAlert($('answer-error'), result.error);
  else if (result.decision.budgetWarning) showAlert($('answer-error'), `Budget warning: ${result.decision.budgetWarning}`);
  $('answer').setAttribute('aria-busy', 'false');
  $('answer').dataset.requestId = result.decision.requestId || '';
  return result;
}
