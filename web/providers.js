// providers.js - the provider status panel and the Active Providers tile, from GET /v1/providers: each
// provider's configured or simulated state, its circuit breaker (colour and words), observed latency and
// calls. Also raises the simulation banner when any provider is simulated.
import { getJson } from './api.js';
import { $, el, noteSimulated, simBadge } from './dom.js';
import { clock, count, ms } from './format.js';

const BREAKER = {
  closed: 'closed: taking calls',
  half_open: 'half open: trying a call',
  open: 'open: skipped until its cooldown ends',
  unknown: 'unknown: no calls yet',
};

// Serving: configured (a key) or simulated, and its breaker not open.
export function isActive(p) {
  return (p.configured || p.simulated) && p.state !== 'open';
}

// Fetches and draws the panel; returns the providers (an empty list when the endpoint is missing). Throws
// ApiError for anything but a 404.
export async function refreshProviders() {
  let answer;
  try {
    answer = await getJson('/v1/providers');
  } catch (e) {
    if (e.status !== 404) throw e;
    unavailable();
    return [];
  }
  const list = answer.data || [];
  $('providers').replaceChildren(...list.map(row));
  const active = list.filter(isActive).length;
  const tile = $('tile-providers');
  tile.textContent = `${active} of ${list.length}`;
  tile.dataset.value = String(active);
  noteSimulated('providers', list.some((p) => p.simulated));
  $('prov-updated').textContent = answer.updated_at ? `reported ${clock(Date.parse(answer.updated_at))}` : '';
  $('provider-names').replaceChildren(...list.map((p) => el('option', { value: p.id })));
  return list;
}

function unavailable() {
  $('providers').replaceChildren(el('tr', {}, el('td', { colspan: 7, class: 'empty' },
    'This gateway does not report provider status (GET /v1/providers answered 404).')));
  const tile = $('tile-providers');
  tile.textContent = '–';
  tile.dataset.value = '';
}

function breaker(state) {
  const s = BREAKER[state] ? state : 'unknown';
  return el('span', { class: `state state-${s}`, 'data-testid': 'breaker' }, el('span', { class: 'dot', 'aria-hidden': 'true' }),
    BREAKER[s]);
}

function modelsList(p) {
  if (!p.models || !p.models.length) return null;
  const items = p.models.map((m) => el('li', {}, `${m.id}: ${m.state || 'unknown'}, ${ms(m.latency_ms)}, `
    + `${count(m.calls)} calls, ${count(m.failures)} failures`));
  return el('details', {}, el('summary', {}, `${p.models.length} model${p.models.length > 1 ? 's' : ''}`),
    el('ul', { class: 'models' }, ...items));
}

function row(p) {
  const name = el('td', {}, el('strong', {}, p.name || p.id), ' ', el('span', { class: 'muted' }, p.id),
    p.simulated ? ' ' : null, p.simulated ? simBadge() : null, modelsList(p));
  const configured = p.simulated ? 'simulated' : p.configured ? 'yes (key set)' : 'no key';
  return el('tr', { 'data-testid': 'provider-row', 'data-provider': p.id, 'data-state': p.state },
    name, el('td', {}, configured), el('td', {}, breaker(p.state)),
    el('td', { class: 'num' }, ms(p.latency_ms)), el('td', { class: 'num' }, count(p.inflight)),
    el('td', { class: 'num' }, count(p.calls)), el('td', { class: 'num' }, count(p.failures)));
}
