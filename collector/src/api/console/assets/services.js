// The service picker: every service with its volume and when it last logged; none ticked
// means all of them, several a merged view.

import { get } from './api.js';
import { ago, bytes, el } from './format.js';

export class Services {
  constructor(list, choose) {
    Object.assign(this, { list, choose });
    this.chosen = [];
    this.known = [];
    list.addEventListener('change', (e) => {
      const box = e.target;
      if (box.value === '*') {
        // Ticking "all" again keeps it ticked.
        this.choose([]);
        this.render();
        return;
      }
      const set = new Set(this.chosen);
      if (box.checked) set.add(box.value); else set.delete(box.value);
      this.choose([...set].sort());
    });
  }

  async refresh() {
    try {
      this.known = (await get('/services')).services;
    } catch {
      return;
    }
    this.render();
  }

  show(chosen) {
    this.chosen = chosen;
    this.render();
  }

  render() {
    const item = (value, name, meta, checked) => {
      const li = el('li', 'service');
      const label = el('label');
      const box = el('input');
      Object.assign(box, { type: 'checkbox', value, checked });
      box.dataset.service = value;
      label.append(box, el('span', 'name', name), el('span', 'meta', meta));
      li.append(label);
      return li;
    };
    const names = new Set(this.known.map((s) => s.service));
    const rows = [item('*', 'All services', `${this.known.length} services`, !this.chosen.length)];
    for (const s of this.known) {
      rows.push(item(s.service, s.service, `${bytes(s.bytes)} · ${s.last_timestamp ? ago(s.last_timestamp) : 'empty'}`, this.chosen.includes(s.service)));
    }
    for (const s of this.chosen) if (!names.has(s)) rows.push(item(s, s, 'unknown', true));
    this.list.replaceChildren(...rows);
  }
}
