// The results: a virtual list that keeps every loaded entry in memory but only the rows on
// screen (plus a margin) in the DOM, so 10,000 entries scroll as smoothly as 100.

import { el, highlighted, keyFields, levelOf, messageOf, timeOf } from './format.js';

const ROW = 24;
const MARGIN = 20;
// The most entries kept; the oldest go first.
export const MAX_KEPT = 20000;

export function row(entry, needle) {
  const level = levelOf(entry);
  const node = el('div', 'row');
  node.append(
    el('span', 'time', timeOf(entry)),
    el('span', `lvl ${level}`, level),
    el('span', 'svc', String(entry.service ?? '')),
    el('span', 'tgt', String(entry.target ?? '')),
  );
  const msg = el('span', 'msg');
  msg.append(highlighted(messageOf(entry), needle));
  const kv = keyFields(entry);
  if (kv) msg.append(' ', el('span', 'kv', kv));
  node.append(msg);
  return node;
}

export class Results {
  constructor(box, spacer, { open, more, scrolled }) {
    Object.assign(this, { box, spacer, open, more, scrolled });
    this.entries = [];
    this.selected = -1;
    this.needle = '';
    this.queued = false;
    box.addEventListener('scroll', () => { this.draw(); this.scrolled(box.scrollTop); });
    box.addEventListener('click', (e) => {
      const r = e.target.closest('.row');
      if (r) { this.select(Number(r.dataset.i)); this.open(this.entries[this.selected]); }
    });
    new ResizeObserver(() => this.draw()).observe(box);
  }

  // Replaces the list (a new search).
  reset(entries, needle) {
    this.entries = entries;
    this.needle = needle;
    this.selected = -1;
    this.box.scrollTop = 0;
    this.draw();
  }

  append(entries) {
    this.entries = this.entries.concat(entries);
    this.draw();
  }

  // Newer entries on top (live); they arrive oldest first.
  prepend(entries) {
    const fresh = entries.reverse();
    this.entries = fresh.concat(this.entries).slice(0, MAX_KEPT);
    if (this.selected >= 0) this.selected += fresh.length;
    // A reader scrolled down keeps looking at the same rows.
    if (this.box.scrollTop > 0) this.box.scrollTop += fresh.length * ROW;
    this.draw();
  }

  select(i) {
    if (!this.entries.length) return;
    this.selected = Math.max(0, Math.min(this.entries.length - 1, i));
    const top = this.selected * ROW;
    const { scrollTop, clientHeight } = this.box;
    if (top < scrollTop) this.box.scrollTop = top;
    else if (top + ROW > scrollTop + clientHeight) this.box.scrollTop = top + ROW - clientHeight;
    this.draw();
  }

  current() {
    return this.entries[this.selected];
  }

  draw() {
    if (this.queued) return;
    this.queued = true;
    // Busy until the next frame draws the rows: the count is already new, the rows not yet.
    this.box.setAttribute('aria-busy', 'true');
    requestAnimationFrame(() => {
      this.queued = false;
      this.render();
      this.box.removeAttribute('aria-busy');
    });
  }

  render() {
    const { scrollTop, clientHeight } = this.box;
    this.spacer.style.height = `${this.entries.length * ROW}px`;
    const first = Math.max(0, Math.floor(scrollTop / ROW) - MARGIN);
    const last = Math.min(this.entries.length, Math.ceil((scrollTop + clientHeight) / ROW) + MARGIN);
    const frag = document.createDocumentFragment();
    for (let i = first; i < last; i += 1) {
      const node = row(this.entries[i], this.needle);
      node.dataset.i = i;
      node.style.top = `${i * ROW}px`;
      if (i === this.selected) node.classList.add('selected');
      frag.append(node);
    }
    this.spacer.replaceChildren(frag);
    if (last >= this.entries.length - MARGIN) this.more();
  }
}
