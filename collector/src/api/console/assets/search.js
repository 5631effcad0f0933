// The search bar and the filter chips: they show the state and turn edits into a new state.

import { el } from './format.js';
import { empty } from './state.js';

const PRESETS = ['15m', '1h', '24h', '7d'];

// `2026-12-02T04:00:00Z` ⇄ the value of a UTC datetime-local input.
const toInput = (t) => (Number.isNaN(Date.parse(t)) ? '' : new Date(t).toISOString().slice(0, 19));
const fromInput = (v) => (v ? `${v.length === 16 ? `${v}:00` : v}Z` : '');

export class Search {
  constructor(form, chips, change) {
    Object.assign(this, { form, chips, change });
    this.q = form.querySelector('#q');
    this.level = form.querySelector('#level');
    this.range = form.querySelector('#range');
    this.custom = form.querySelector('#custom-range');
    this.from = form.querySelector('#from');
    this.to = form.querySelector('#to');
    form.addEventListener('submit', (e) => { e.preventDefault(); this.submit(); });
    form.querySelector('#exclude-text').addEventListener('click', () => {
      const text = this.q.value;
      if (!text) return;
      this.q.value = '';
      this.submit({ key: 'q', not: true, value: text });
    });
    for (const input of [this.level, this.from, this.to]) input.addEventListener('change', () => this.submit());
    this.range.addEventListener('change', () => {
      this.custom.hidden = this.range.value !== 'custom';
      if (this.range.value !== 'custom') this.submit();
    });
    chips.addEventListener('click', (e) => {
      const b = e.target.closest('button[data-chip]');
      if (b) this.remove(Number(b.dataset.chip));
    });
  }

  submit(exclusion) {
    const s = structuredClone(this.state ?? empty());
    if (exclusion) s.filters.push(exclusion);
    s.q = this.q.value;
    s.level = this.level.value;
    if (this.range.value === 'custom') {
      s.since = fromInput(this.from.value);
      s.until = fromInput(this.to.value);
    } else {
      s.since = this.range.value;
      s.until = '';
    }
    this.change(s);
  }

  remove(i) {
    const s = structuredClone(this.state);
    const chip = this.list[i];
    if (chip.kind === 'filter') s.filters.splice(chip.index, 1);
    else if (chip.kind === 'extra') s.extra.splice(chip.index, 1);
    else s[chip.kind] = '';
    this.change(s);
  }

  show(state) {
    this.state = state;
    this.q.value = state.q;
    this.level.value = state.level;
    const preset = !state.until && (state.since === '' || PRESETS.includes(state.since));
    this.range.value = preset ? state.since : 'custom';
    this.custom.hidden = preset;
    if (!preset) {
      this.from.value = toInput(state.since);
      this.to.value = toInput(state.until);
    }
    this.list = [];
    if (state.target) this.list.push({ kind: 'target', text: `target = ${state.target}` });
    state.filters.forEach((f, index) => {
      const name = f.key.startsWith('field.') ? f.key.slice(6) : f.key;
      const op = f.key === 'q' ? (f.not ? 'does not contain' : 'contains') : f.not ? '≠' : '=';
      this.list.push({ kind: 'filter', index, not: f.not, text: `${name} ${op} ${f.value}` });
    });
    state.extra.forEach(([k, v], index) => this.list.push({ kind: 'extra', index, text: `${k}=${v}` }));
    this.chips.replaceChildren(...this.list.map((c, i) => {
      const chip = el('span', c.not ? 'chip not' : 'chip', c.text);
      const x = el('button', '', '×');
      Object.assign(x, { type: 'button', title: 'Remove this filter' });
      x.dataset.chip = i;
      chip.append(x);
      return chip;
    }));
  }

  focus() {
    this.q.focus();
    this.q.select();
  }
}
