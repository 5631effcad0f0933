// Entries per time bucket, stacked by level, drawn as SVG from `GET /histogram`. Hover shows
// the counts; a click zooms to a bar, a drag to the bars it crosses.

import { LEVELS, el } from './format.js';

const NS = 'http://www.w3.org/2000/svg';
export const BUCKETS = 60;

function svg(tag, attrs) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

const short = (t) => t.replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, '');

export class Histogram {
  constructor(root, zoom) {
    this.svg = root.querySelector('svg');
    this.tip = root.querySelector('.tip');
    this.axis = root.querySelector('.axis');
    this.zoom = zoom;
    this.data = null;
    this.dragFrom = null;
    this.svg.addEventListener('pointerdown', (e) => {
      const i = this.index(e);
      if (i !== null) { this.dragFrom = i; this.svg.setPointerCapture(e.pointerId); }
    });
    this.svg.addEventListener('pointermove', (e) => this.hover(e));
    this.svg.addEventListener('pointerleave', () => { this.tip.hidden = true; });
    this.svg.addEventListener('pointerup', (e) => {
      const to = this.index(e);
      const from = this.dragFrom;
      this.dragFrom = null;
      if (from === null || to === null || !this.data) return;
      const [a, b] = [Math.min(from, to), Math.max(from, to)];
      const start = this.data.buckets[a].start;
      const end = new Date(Date.parse(this.data.buckets[b].start) + this.data.bucket_seconds * 1000);
      this.zoom(start, end.toISOString().replace('.000Z', 'Z'));
    });
  }

  index(e) {
    if (!this.data?.buckets.length) return null;
    const box = this.svg.getBoundingClientRect();
    const i = Math.floor(((e.clientX - box.left) / box.width) * this.data.buckets.length);
    return Math.max(0, Math.min(this.data.buckets.length - 1, i));
  }

  hover(e) {
    const i = this.index(e);
    if (i === null) return;
    const b = this.data.buckets[i];
    const lines = [`${short(b.start)}  ${b.total}`];
    for (const l of LEVELS.slice().reverse()) if (b.counts[l]) lines.push(`${l} ${b.counts[l]}`);
    this.tip.textContent = lines.join('\n');
    this.tip.hidden = false;
    const x = e.clientX - this.svg.getBoundingClientRect().left;
    this.tip.style.left = `${Math.min(x + 16, this.svg.clientWidth - 120)}px`;
    if (this.dragFrom !== null) this.mark(this.dragFrom, i);
  }

  mark(a, b) {
    this.svg.querySelector('.sel')?.remove();
    const w = this.svg.clientWidth / this.data.buckets.length;
    const x = Math.min(a, b) * w;
    this.svg.append(svg('rect', { class: 'sel', x, y: 0, width: (Math.abs(a - b) + 1) * w, height: this.svg.clientHeight }));
  }

  render(data) {
    this.data = data;
    const width = this.svg.clientWidth || 600;
    const height = this.svg.clientHeight || 80;
    const n = data.buckets.length || 1;
    const max = Math.max(1, ...data.buckets.map((b) => b.total));
    const w = width / n;
    const frag = document.createDocumentFragment();
    data.buckets.forEach((b, i) => {
      const g = svg('g', { class: 'bucket', 'data-start': b.start, 'data-total': b.total });
      g.append(svg('rect', { class: 'hit', x: i * w, y: 0, width: w, height }));
      let y = height;
      for (const level of LEVELS) {
        const c = b.counts[level];
        if (!c) continue;
        const h = (c / max) * height;
        y -= h;
        g.append(svg('rect', { class: `l-${level}`, x: i * w + 0.5, y, width: Math.max(1, w - 1), height: h }));
      }
      frag.append(g);
    });
    this.svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
    this.svg.setAttribute('aria-label', `${data.total} entries from ${data.since} to ${data.until}`);
    this.svg.replaceChildren(frag);
    this.axis.replaceChildren(
      el('span', '', short(data.since)),
      el('span', '', `${data.total} entries · ${data.bucket_seconds} s buckets${data.stopped ? ' · partial: the scan reached its budget' : ''}`),
      el('span', '', short(data.until)),
    );
  }
}
