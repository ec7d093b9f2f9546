// compare.js - "Compare strategies": the form's prompt sent once per strategy, all four at once and not
// streamed, shown side by side: the provider and model each strategy picked, its cost and latency, or its
// error.
import { chat } from './chat.js';
import { $, el, simBadge } from './dom.js';
import { ms, usd } from './format.js';
import { formOptions } from './send.js';

export const STRATEGIES = ['cost', 'latency', 'capability', 'round-robin'];

function field(label, value, testid) {
  return el('div', {}, el('dt', {}, label), el('dd', { 'data-testid': testid }, value == null ? '–' : String(value)));
}

function card(strategy, r) {
  const d = r.decision;
  const head = el('h3', {}, strategy, d.simulated ? ' ' : null, d.simulated ? simBadge() : null);
  const body = r.error
    ? el('p', { class: 'alert', role: 'alert', 'data-testid': 'compare-error' }, r.error)
    : el('dl', { class: 'decision' },
      field('Provider', d.provider, 'c-provider'),
      field('Model', d.model, 'c-model'),
      field('Cost', d.cost == null ? null : usd(d.cost), 'c-cost'),
      field('Latency', ms(r.totalMs), 'c-latency'),
      field('Attempts', d.attempts, 'c-attempts'));
  return el('article', {
    class: `compare-card${r.error ? ' failed' : ''}`, 'data-testid': 'compare-card', 'data-strategy': strategy,
    'data-provider': d.provider || '', 'data-request-id': d.requestId || '', 'data-cost': d.cost || '',
  }, head, body);
}

// Sends the four requests and shows each as it comes back; resolves when all have.
export async function compareStrategies() {
  const base = { ...formOptions(), stream: false };
  const box = $('compare-results');
  box.setAttribute('aria-busy', 'true');
  const slots = STRATEGIES.map((s) => el('article', { class: 'compare-card pending', 'data-strategy': s },
    el('h3', {}, s), el('p', { class: 'muted' }, 'waiting…')));
  box.replaceChildren(...slots);
  await Promise.all(STRATEGIES.map(async (strategy, i) => {
    const result = await chat({ ...base, strategy });
    slots[i].replaceWith(card(strategy, result));
  }));
  box.setAttribute('aria-busy', 'false');
}
