// format.js - how figures are written on the page. Money stays exact: the API gives USD as decimal strings
// with nine fractional digits (integer nano-dollars), which are added as BigInt nano-dollars, never floats.

const NANO = 1000000000n;

// "0.000012345" -> 12345n; null for anything else (null, "unknown").
export function usdToNano(text) {
  const m = /^(-?)(\d+)(?:\.(\d{1,9}))?$/.exec(text == null ? '' : String(text));
  if (!m) return null;
  const nano = BigInt(m[2]) * NANO + BigInt((m[3] || '').padEnd(9, '0'));
  return m[1] ? -nano : nano;
}

// 12345n -> "0.000012345": the API's own form.
export function nanoToUsd(nano) {
  const neg = nano < 0n;
  const abs = neg ? -nano : nano;
  return `${neg ? '-' : ''}${abs / NANO}.${String(abs % NANO).padStart(9, '0')}`;
}

// For reading: "$1.23", "$0.0123", "$0.0000123" (three significant digits below a cent), "$0".
export function usd(text) {
  if (text === 'unknown') return 'unknown';
  const nano = usdToNano(text);
  if (nano === null) return '–';
  if (nano === 0n) return '$0';
  const v = Number(nano) / 1e9;
  const a = Math.abs(v);
  if (a >= 1) return `$${v.toFixed(2)}`;
  if (a >= 0.01) return `$${v.toFixed(4)}`;
  const decimals = Math.min(9, 2 - Math.floor(Math.log10(a)));
  return `$${v.toFixed(decimals)}`;
}

export function count(n) {
  return n == null ? '–' : Number(n).toLocaleString('en-US');
}

export function ms(n) {
  if (n == null || Number.isNaN(n)) return '–';
  return n >= 10000 ? `${(n / 1000).toFixed(1)} s` : `${Math.round(n)} ms`;
}

const pad = (n) => String(n).padStart(2, '0');

// Local wall-clock time of epoch ms: "14:05:09", with the date when it is not today.
export function clock(tsMs) {
  const d = new Date(tsMs);
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const today = new Date();
  if (d.toDateString() === today.toDateString()) return time;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}

// An axis label for a bucket start: minutes and hours in local time ("14:05"), days as the API counts them,
// in UTC ("12-02").
export function bucketLabel(tsMs, unit) {
  const d = new Date(tsMs);
  if (unit === 'day') return `${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// Seconds to "45 s", "12 min", "3 h 20 min": a Retry-After for people.
export function duration(seconds) {
  const s = Math.max(0, Math.round(Number(seconds)));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}
