// api.js - the gateway's public API as the page calls it: the key (kept in this tab's session storage only,
// sent as Authorization: Bearer), JSON GETs with it, and an error answer turned into a sentence for people.
import { duration } from './format.js';

const KEY = 'llmgw.key';

export function getKey() {
  try {
    return sessionStorage.getItem(KEY) || '';
  } catch {
    return ''; // storage disabled: the page works keyless
  }
}

export function setKey(key) {
  try {
    if (key) sessionStorage.setItem(KEY, key);
    else sessionStorage.removeItem(KEY);
  } catch {
    // storage disabled: nothing to keep
  }
}

// Request headers with the key when there is one.
export function authHeaders(extra = {}) {
  const headers = { ...extra };
  const key = getKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  return headers;
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// What went wrong, in words, from the status, the OpenAI-style error body and Retry-After.
export function describe(status, body, retryAfter) {
  const err = body && typeof body.error === 'object' && body.error ? body.error : {};
  const msg = err.message ? String(err.message) : `HTTP ${status}`;
  const code = err.code || err.type || '';
  const wait = retryAfter ? ` Retry after ${duration(retryAfter)}.` : '';
  if (status === 401) {
    return getKey()
      ? `The key was refused (401): ${msg} Enter another key above, or clear it.`
      : `This gateway needs a key (401): ${msg} Enter it above.`;
  }
  if (status === 403) return `Not allowed with this key (403): ${msg}`;
  if (status === 429 && code === 'insufficient_quota') {
    return `Budget reached: requests are stopped until it resets (429 insufficient_quota): ${msg}` +
      (retryAfter ? ` It resets in ${duration(retryAfter)}.` : '');
  }
  if (status === 429) return `Rate limited (429${code ? ` ${code}` : ''}): ${msg}${wait}`;
  if (status >= 500) return `The gateway could not answer (${status}${code ? ` ${code}` : ''}): ${msg}${wait}`;
  return `The request was refused (${status}${code ? ` ${code}` : ''}): ${msg}`;
}

// An ApiError from a failed answer (its body read as JSON when it is).
export async function errorFrom(resp) {
  let body = null;
  try {
    body = await resp.json();
  } catch {
    // not JSON: the status says enough
  }
  const code = body && body.error ? body.error.code || '' : '';
  return new ApiError(resp.status, code, describe(resp.status, body, resp.headers.get('retry-after')));
}

export function unreachable(e) {
  return new ApiError(0, 'network', `Cannot reach the gateway: ${e.message || e}.`);
}

// GET path?params as JSON; throws ApiError. params: an object or a list of pairs.
export async function getJson(path, params) {
  const query = params ? `?${new URLSearchParams(params)}` : '';
  let resp;
  try {
    resp = await fetch(path + query, { headers: authHeaders({ Accept: 'application/json' }), cache: 'no-store' });
  } catch (e) {
    throw unreachable(e);
  }
  if (!resp.ok) throw await errorFrom(resp);
  return resp.json();
}
