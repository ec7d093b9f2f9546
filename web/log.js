// log.js - the request log: the newest ledger rows from GET /v1/analytics/requests (every request of the
// key's tenant, not only this browser's), filtered by model, provider and status.
import { getJson } from './api.js';
import { $, el, noteSimulated, simBadge } from './dom.js';
import { clock, count, ms, usd } from './format.js';

const ROWS = 50;

function filters() {
  const params = { limit: String(ROWS) };
  const model = $('f-model').value.trim();
  const provider = $('f-provider').value.trim();
  const status = $('f-status').value;
  if (model) params.model = model;
  if (provider) params.provider = provider;
  if (status) params.status = status;
  return params;
}

// Fetches and draws the log over the last rangeMs. Throws ApiError.
export async function refreshLog(rangeMs) {
  const answer = await getJson('/v1/analytics/requests', { ...filters(), from: String(Date.now() - rangeMs) });
  const rows = answer.data || [];
  noteSimulated('log', rows.some(simulated));
  const body = $('log');
  if (!rows.length) {
    body.replaceChildren(el('tr', {}, el('td', { colspan: 11, class: 'empty' },
      'No requests yet in this range: route a request to see provider decisions.')));
    return;
  }
  body.replaceChildren(...rows.map(row));
}

// A row from before the simulation existed has no `simulated`; its provider's name still says.
function simulated(r) {
  return r.simulated === true || (r.simulated == null && /-sim$/.test(r.provider || ''));
}

function statusCell(r) {
  const cls = r.status >= 400 ? 'bad' : 'ok';
  const note = r.final === false ? ' (billed attempt)' : '';
  return el('td', { class: `num ${cls}`, 'data-testid': 'log-status', title: r.outcome || '' }, `${r.status}${note}`);
}

function row(r) {
  const provider = el('td', { 'data-testid': 'log-provider' }, r.provider || '–',
    simulated(r) ? ' ' : null, simulated(r) ? simBadge() : null);
  const tokens = `${count(r.input_tokens)} / ${count(r.output_tokens)}`;
  const cost = r.cost_known === false ? 'unknown' : usd(r.cost_usd);
  return el('tr', { 'data-testid': 'log-row', 'data-request-id': r.request_id, 'data-final': String(r.final !== false) },
    el('td', {}, clock(r.ts_ms)), provider,
    el('td', { 'data-testid': 'log-model' }, r.model || '–'),
    el('td', { 'data-testid': 'log-strategy' }, r.strategy || '–'),
    statusCell(r),
    el('td', { class: 'num' }, count(r.route_attempts)),
    el('td', {}, r.cache_hit ? 'hit' : '–'),
    el('td', { class: 'num' }, ms(r.latency_ms)),
    el('td', { class: 'num' }, ms(r.ttft_ms)),
    el('td', { class: 'num' }, tokens),
    el('td', { class: 'num', 'data-testid': 'log-cost', 'data-value': r.cost_usd }, cost + (r.cost_estimated ? ' (est.)' : '')));
}
