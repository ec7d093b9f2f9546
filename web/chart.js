// chart.js - the page's two kinds of chart, drawn as inline SVG at the width of their box: a time chart
// (bars or lines over evenly spaced buckets; a missing value is a gap in a line) and a list of horizontal
// bars. Colours come from classes in app.css, so both themes apply; each mark has a <title> for a tooltip.
const NS = 'http://www.w3.org/2000/svg';
const HEIGHT = 180;
const PAD = { left: 58, right: 12, top: 12, bottom: 26 };

function svgEl(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text != null) node.textContent = text;
  return node;
}

function titled(node, text) {
  node.append(svgEl('title', {}, text));
  return node;
}

// A round upper bound for the axis: 1, 2 or 5 times a power of ten, at least max.
function niceMax(max) {
  if (!(max > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  return [1, 2, 5, 10].map((m) => m * p).find((v) => v >= max);
}

function frame(box, label, height) {
  const width = Math.max(240, Math.floor(box.clientWidth || 600));
  const svg = svgEl('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label });
  svg.append(svgEl('title', {}, label));
  return { svg, width };
}

// Grid lines with their values; only the zero line when there is nothing to scale.
function yAxis(svg, width, top, bottom, max, format, scaled) {
  for (const f of scaled ? [0, 0.5, 1] : [0]) {
    const y = bottom - (bottom - top) * f;
    svg.append(svgEl('line', { class: 'grid-line', x1: PAD.left, x2: width - PAD.right, y1: y, y2: y }));
    svg.append(svgEl('text', { class: 'axis', x: PAD.left - 6, y: y + 4, 'text-anchor': 'end' }, format(max * f)));
  }
}

function xLabels(svg, buckets, xOf, bottom, label) {
  if (!buckets.length) return;
  const picks = buckets.length > 2 ? [0, Math.floor((buckets.length - 1) / 2), buckets.length - 1] : [0, buckets.length - 1];
  for (const i of new Set(picks)) {
    const anchor = i === 0 ? 'start' : i === buckets.length - 1 ? 'end' : 'middle';
    svg.append(svgEl('text', { class: 'axis', x: xOf(i), y: bottom + 16, 'text-anchor': anchor }, label(buckets[i])));
  }
}

function empty(svg, width, height, text) {
  svg.append(svgEl('text', { class: 'axis empty-note', x: width / 2, y: height / 2, 'text-anchor': 'middle' }, text));
}

// Whether a series has anything to show: a bar above zero, or any point of a line (0 ms is a point).
function hasData(s) {
  return s.values.some((v) => v != null && (s.kind === 'line' || v > 0));
}

// spec: {label, buckets: [ts], bucketLabel(ts), yFormat(v), minMax (the smallest top of the axis),
// series: [{name, cls, kind: 'bar'|'line', values: [number|null], tip(i)}], emptyText}
export function timeChart(box, spec) {
  const { svg, width } = frame(box, spec.label, HEIGHT);
  const top = PAD.top;
  const bottom = HEIGHT - PAD.bottom;
  const n = spec.buckets.length;
  const all = spec.series.flatMap((s) => s.values).filter((v) => v != null);
  const some = spec.series.some(hasData);
  const max = niceMax(Math.max(spec.minMax || 0, ...all));
  const step = (width - PAD.left - PAD.right) / Math.max(1, n);
  const xOf = (i) => PAD.left + step * (i + 0.5);
  const yOf = (v) => bottom - (bottom - top) * (v / max);
  yAxis(svg, width, top, bottom, max, spec.yFormat, some);
  xLabels(svg, spec.buckets, xOf, bottom, spec.bucketLabel);
  for (const s of spec.series) {
    if (s.kind === 'bar') bars(svg, s, xOf, yOf, bottom, step);
    else line(svg, s, xOf, yOf);
  }
  if (!some) empty(svg, width, HEIGHT, spec.emptyText || 'no requests in this range');
  box.replaceChildren(svg, legend(spec.series));
}

function bars(svg, s, xOf, yOf, bottom, step) {
  const w = Math.max(1, step * 0.7);
  s.values.forEach((v, i) => {
    if (!v) return;
    const y = yOf(v);
    const rect = svgEl('rect', { class: `mark ${s.cls}`, x: xOf(i) - w / 2, y, width: w, height: Math.max(1, bottom - y) });
    svg.append(titled(rect, s.tip(i)));
  });
}

function line(svg, s, xOf, yOf) {
  let run = [];
  const flush = () => {
    if (run.length > 1) svg.append(svgEl('polyline', { class: `line ${s.cls}`, points: run.join(' ') }));
    run = [];
  };
  s.values.forEach((v, i) => {
    if (v == null) return flush();
    run.push(`${xOf(i).toFixed(1)},${yOf(v).toFixed(1)}`);
    svg.append(titled(svgEl('circle', { class: `dot ${s.cls}`, cx: xOf(i), cy: yOf(v), r: 3 }), s.tip(i)));
    return undefined;
  });
  flush();
}

function legend(series) {
  const box = document.createElement('div');
  box.className = 'legend';
  for (const s of series) {
    const item = document.createElement('span');
    const swatch = document.createElement('span');
    swatch.className = `swatch ${s.cls}`;
    item.append(swatch, s.name);
    box.append(item);
  }
  return box;
}

// spec: {label, items: [{label, value: number, text}], emptyText}; the longest bar is the largest value.
export function barList(box, spec) {
  const rowH = 24;
  const height = Math.max(60, spec.items.length * rowH + 8);
  const { svg, width } = frame(box, spec.label, height);
  if (!spec.items.length) {
    empty(svg, width, height, spec.emptyText || 'nothing in this range');
    box.replaceChildren(svg);
    return;
  }
  const labelW = Math.min(170, Math.floor(width * 0.38));
  const textW = 84;
  const max = Math.max(...spec.items.map((it) => it.value)) || 1;
  const span = Math.max(10, width - labelW - textW - 8);
  spec.items.forEach((it, i) => {
    const y = 4 + i * rowH;
    const name = it.label.length > 26 ? `${it.label.slice(0, 25)}…` : it.label;
    svg.append(titled(svgEl('text', { class: 'axis', x: labelW - 6, y: y + 15, 'text-anchor': 'end' }, name), it.label));
    const w = Math.max(it.value > 0 ? 2 : 0, (span * it.value) / max);
    svg.append(titled(svgEl('rect', { class: 'mark c1', x: labelW, y: y + 3, width: w, height: rowH - 8 }),
      `${it.label}: ${it.text}`));
    svg.append(svgEl('text', { class: 'axis', x: labelW + w + 6, y: y + 15 }, it.text));
  });
  box.replaceChildren(svg);
}
