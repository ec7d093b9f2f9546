// overview.js - the tiles (requests, cost, average latency over the chosen range) and the charts, from
// GET /v1/analytics/summary: the total, the range in time buckets, and the spend by model and by provider.
import { getJson } from './api.js';
import { barList, timeChart } from './chart.js';
import { $ } from './dom.js';
import { bucketLabel, count, ms, nanoToUsd, usd, usdToNano } from './format.js';

// Each range and the bucket its charts use: about 15 to 170 points.
export const RANGES = {
  '15m': { ms: 15 * 60e3, unit: 'minute' },
  '1h': { ms: 3600e3, unit: 'minute' },
  '24h': { ms: 86400e3, unit: 'hour' },
  '7d': { ms: 7 * 86400e3, unit: 'hour' },
  '30d': { ms: 30 * 86400e3, unit: 'day' },
};
const UNIT_MS = { minute: 60e3, hour: 3600e3, day: 86400e3 };
const TOP = 8; // bars before the rest is summed as "other"

// Fetches everything the overview shows for rangeKey and draws it. Throws ApiError.
export async function refreshOverview(rangeKey) {
  const range = RANGES[rangeKey] || RANGES['1h'];
  // `to` is left to the gateway's clock (now): a browser clock behind it would hide the newest requests.
  const from = { from: String(Date.now() - range.ms) };
  const [total, series, byModel, byProvider] = await Promise.all([
    getJson('/v1/analytics/summary', from),
    getJson('/v1/analytics/summary', { ...from, group_by: range.unit }),
    getJson('/v1/analytics/summary', { ...from, group_by: 'model' }),
    getJson('/v1/analytics/summary', { ...from, group_by: 'provider' }),
  ]);
  showTiles(total.data[0] || {});
  drawSeries(series, range.unit);
  drawSpend($('chart-models'), 'Spend by model', byModel.data, 'model');
  drawSpend($('chart-providers'), 'Spend by provider', byProvider.data, 'provider');
}

function setTile(id, text, value) {
  const node = $(id);
  node.textContent = text;
  node.dataset.value = value == null ? '' : String(value);
}

function showTiles(row) {
  setTile('tile-requests', count(row.requests), row.requests);
  setTile('tile-cost', usd(row.cost_usd), row.cost_usd);
  const avg = row.latency_ms ? row.latency_ms.avg : null;
  setTile('tile-latency', ms(avg), avg);
}

// Every bucket of the answer's range, with the rows that have one (a bucket with no request has no row).
function buckets(answer, unit) {
  const step = UNIT_MS[unit];
  const start = Math.floor(Date.parse(answer.from) / step) * step;
  const end = Date.parse(answer.to);
  const byTime = new Map(answer.data.map((r) => [Date.parse(r[unit]), r]));
  const out = [];
  for (let t = start; t < end; t += step) out.push({ t, row: byTime.get(t) });
  return out;
}

function drawSeries(answer, unit) {
  const b = buckets(answer, unit);
  const ts = b.map((x) => x.t);
  const when = (i) => bucketLabel(ts[i], unit === 'day' ? 'day' : 'minute');
  const label = (t) => bucketLabel(t, unit);
  const req = b.map((x) => (x.row ? x.row.requests : 0));
  timeChart($('chart-requests'), {
    label: `Requests per ${unit}`, buckets: ts, bucketLabel: label, yFormat: count, minMax: 2,
    series: [{ name: 'requests', cls: 'c1', kind: 'bar', values: req, tip: (i) => `${when(i)}: ${req[i]} requests` }],
  });
  const cost = b.map((x) => (x.row ? x.row.cost_usd : '0.000000000'));
  timeChart($('chart-cost'), {
    label: `Cost per ${unit} (USD)`, buckets: ts, bucketLabel: label, yFormat: (v) => usd(nanoToUsd(BigInt(Math.round(v)))),
    emptyText: 'no spend in this range',
    series: [{ name: 'cost', cls: 'c2', kind: 'bar', values: cost.map((c) => Number(usdToNano(c))),
      tip: (i) => `${when(i)}: ${usd(cost[i])}` }],
  });
  const p = (k) => b.map((x) => (x.row && x.row.latency_ms ? x.row.latency_ms[k] : null));
  const p50 = p('p50');
  const p95 = p('p95');
  timeChart($('chart-latency'), {
    label: `Latency p50 and p95 per ${unit} (ms)`, buckets: ts, bucketLabel: label, yFormat: ms, minMax: 10,
    series: [
      { name: 'p50', cls: 'c1', kind: 'line', values: p50, tip: (i) => `${when(i)}: p50 ${ms(p50[i])}` },
      { name: 'p95', cls: 'c3', kind: 'line', values: p95, tip: (i) => `${when(i)}: p95 ${ms(p95[i])}` },
    ],
  });
}

// The largest spenders, then everything else as one "other" bar.
function drawSpend(box, label, rows, key) {
  const items = rows
    .map((r) => ({ label: r[key] == null || r[key] === '' ? '(none)' : String(r[key]), nano: usdToNano(r.cost_usd) || 0n }))
    .sort((a, b) => (a.nano === b.nano ? 0 : a.nano > b.nano ? -1 : 1));
  const top = items.slice(0, TOP);
  if (items.length > TOP) {
    top.push({ label: 'other', nano: items.slice(TOP).reduce((sum, it) => sum + it.nano, 0n) });
  }
  barList(box, {
    label, emptyText: 'no spend in this range',
    items: top.map((it) => ({ label: it.label, value: Number(it.nano), text: usd(nanoToUsd(it.nano)) })),
  });
}
