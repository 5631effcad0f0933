// One entry in full: a JSON tree whose every value can become a filter or an exclusion, a
// copy button, the entries around it in its service, and a link to its whole trace.

import { el } from './format.js';
import { row } from './results.js';

export class Detail {
  constructor(root, { filter, trace, around }) {
    Object.assign(this, { root, filter, trace, around });
    this.entry = null;
    this.tree = root.querySelector('#detail-tree');
    this.list = root.querySelector('#detail-around-list');
    root.querySelector('#detail-close').addEventListener('click', () => this.close());
    root.querySelector('#detail-copy').addEventListener('click', () => {
      navigator.clipboard?.writeText(JSON.stringify(this.entry, null, 2));
    });
    root.querySelector('#detail-around').addEventListener('click', () => this.showAround());
    this.traceButton = root.querySelector('#detail-trace');
    this.traceButton.addEventListener('click', () => this.trace(this.entry.trace_id));
    this.tree.addEventListener('click', (e) => {
      const b = e.target.closest('button[data-path]');
      if (b) this.filter(b.dataset.path, b.dataset.value, b.dataset.not === '1');
    });
  }

  get isOpen() { return !this.root.hidden; }

  show(entry) {
    this.entry = entry;
    this.root.hidden = false;
    const top = el('ul');
    for (const [k, v] of Object.entries(entry)) top.append(this.node(k, v, k));
    this.tree.replaceChildren(top);
    this.list.replaceChildren();
    this.traceButton.hidden = typeof entry.trace_id !== 'string';
  }

  node(key, value, path) {
    const li = el('li');
    li.append(el('span', 'key', key), ': ');
    if (value !== null && typeof value === 'object') {
      const ul = el('ul');
      for (const [k, v] of Object.entries(value)) ul.append(this.node(k, v, `${path}.${k}`));
      li.append(Array.isArray(value) ? '[' : '{', ul, Array.isArray(value) ? ']' : '}');
      return li;
    }
    const kind = value === null ? 'null' : typeof value === 'string' ? 'str' : typeof value === 'number' ? 'num' : 'bool';
    li.append(el('span', kind, kind === 'str' ? JSON.stringify(value) : String(value)));
    if (value !== null) {
      const acts = el('span', 'acts');
      for (const [label, not, title] of [['=', '0', 'filter on this'], ['≠', '1', 'exclude this']]) {
        const b = el('button', not === '1' ? 'exclude' : 'filter', label);
        Object.assign(b.dataset, { path, value: String(value), not });
        b.type = 'button';
        b.title = title;
        acts.append(b);
      }
      li.append(acts);
    }
    return li;
  }

  async showAround() {
    const e = this.entry;
    if (!e?.service || !e.timestamp) return;
    const { before, after } = await this.around(e);
    const list = document.createDocumentFragment();
    list.append(el('h3', '', 'Before'));
    const same = JSON.stringify(e);
    // Both halves include the entry itself (its instant bounds both): list it once, marked.
    for (const x of before.reverse().filter((y) => JSON.stringify(y) !== same)) list.append(this.aroundRow(x, e));
    list.append(el('h3', '', 'After'));
    for (const x of after) list.append(this.aroundRow(x, e));
    this.list.replaceChildren(list);
  }

  aroundRow(x, current) {
    const r = row(x, '');
    if (JSON.stringify(x) === JSON.stringify(current)) r.classList.add('current');
    r.addEventListener('click', () => this.show(x));
    return r;
  }

  close() {
    this.root.hidden = true;
    this.entry = null;
  }
}
