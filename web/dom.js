// dom.js - building the page's elements. Text goes in as text (textContent), never as HTML: model names,
// provider messages and prompts are data. No style attributes either: the CSP allows only app.css.

export const $ = (id) => document.getElementById(id);

// el('td', {class: 'num', 'data-testid': 'x'}, 'text', childNode, ...)
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// The "simulated" label shown next to every simulated provider and answer.
export function simBadge() {
  return el('span', { class: 'badge sim', 'data-testid': 'sim-badge', title: 'made up by llmgw dev --simulate' },
    'simulated');
}

// The simulation banner shows while any source (the provider list, the request log, the last answer) has
// seen a simulated provider.
const simulatedSeen = new Set();
export function noteSimulated(source, seen) {
  if (seen) simulatedSeen.add(source);
  else simulatedSeen.delete(source);
  document.getElementById('sim-banner').hidden = simulatedSeen.size === 0;
}

// Shows message in an alert element (hidden when message is empty). The same message again changes
// nothing, so a screen reader does not repeat it at every refresh.
export function showAlert(node, message) {
  const text = message || '';
  if (node.textContent !== text) node.textContent = text;
  node.hidden = !text;
}

// Replaces every child of node.
export function replaceChildren(node, children) {
  node.replaceChildren(...children);
}
