// main.js - the dashboard's wiring: the key form, the theme, the time range, the send and compare buttons,
// and the refresh every few seconds (paused while the tab is hidden).
import { getJson, getKey, setKey } from './api.js';
import { compareStrategies } from './compare.js';
import { $, el, showAlert } from './dom.js';
import { clock } from './format.js';
import { refreshLog } from './log.js';
import { RANGES, refreshOverview } from './overview.js';
import { refreshProviders } from './providers.js';
import { sendForm } from './send.js';

const REFRESH_MS = 5000;
const THEMES = ['auto', 'light', 'dark'];
let timer = 0;
let running = null;

function rangeKey() {
  return $('range').value in RANGES ? $('range').value : '1h';
}

// One refresh of everything the page shows; a failure of any part is said in the status line.
async function refreshOnce() {
  const range = rangeKey();
  const results = await Promise.allSettled([refreshOverview(range), refreshLog(RANGES[range].ms), refreshProviders()]);
  const failed = results.find((r) => r.status === 'rejected');
  showAlert($('status'), failed ? failed.reason.message || String(failed.reason) : '');
  $('updated').textContent = `updated ${clock(Date.now())}`;
}

// A refresh asked for while one runs joins it.
function refreshAll() {
  if (!running) running = refreshOnce().finally(() => { running = null; });
  return running;
}

function schedule(delay = REFRESH_MS) {
  clearTimeout(timer);
  timer = setTimeout(async () => {
    if (!document.hidden) await refreshAll();
    schedule();
  }, delay);
}

async function loadModels() {
  try {
    const answer = await getJson('/v1/models');
    $('models').replaceChildren(...answer.data.map((m) => el('option', { value: m.id })));
  } catch {
    // the refresh says what is wrong (the same key answers both)
  }
}

function showKeyState() {
  $('key-state').textContent = getKey() ? 'key set for this tab' : 'no key';
  $('key-clear').disabled = !getKey();
}

function keyChanged() {
  showKeyState();
  loadModels();
  refreshAll();
}

function applyTheme(theme) {
  if (theme === 'auto') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  $('theme').textContent = `Theme: ${theme}`;
  $('theme').setAttribute('aria-label', `Colour theme: ${theme} (change)`);
}

function storedTheme() {
  try {
    const t = localStorage.getItem('llmgw.theme');
    return THEMES.includes(t) ? t : 'auto';
  } catch {
    return 'auto';
  }
}

function nextTheme() {
  const theme = THEMES[(THEMES.indexOf(storedTheme()) + 1) % THEMES.length];
  try {
    localStorage.setItem('llmgw.theme', theme);
  } catch {
    // storage disabled: the theme lasts this page only
  }
  applyTheme(theme);
}

// Runs action with the form's buttons disabled, then refreshes soon: the ledger writes the new rows within
// a fraction of a second.
async function busy(action) {
  const buttons = [$('send'), $('compare')];
  if ($('send').disabled) return; // one at a time (Ctrl+Enter reaches here while a request runs)
  buttons.forEach((b) => { b.disabled = true; });
  try {
    await action();
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
    schedule(400);
  }
}

function wire() {
  $('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    setKey($('key').value.trim());
    $('key').value = ''; // kept in session storage only, not shown
    keyChanged();
  });
  $('key-clear').addEventListener('click', () => {
    setKey('');
    $('key').value = '';
    keyChanged();
  });
  $('theme').addEventListener('click', nextTheme);
  $('range').addEventListener('change', () => refreshAll());
  $('send-form').addEventListener('submit', (e) => {
    e.preventDefault();
    busy(sendForm);
  });
  $('prompt').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) $('send-form').requestSubmit();
  });
  $('compare').addEventListener('click', () => busy(compareStrategies));
  $('log-filters').addEventListener('submit', (e) => {
    e.preventDefault();
    refreshAll();
  });
  let resize = 0;
  window.addEventListener('resize', () => {
    clearTimeout(resize);
    resize = setTimeout(refreshAll, 250); // charts are drawn at their box's width
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) schedule(0);
  });
}

applyTheme(storedTheme());
showKeyState();
wire();
loadModels();
refreshAll().then(() => schedule());
