// The side panel: the most frequent values of level, target, host and a field the reader
// names, over the current window; a click adds the value as a filter.

import { get } from './api.js';
import { pairs } from './state.js';
import { el } from './format.js';

const FIELDS = ['level', 'target', 'host'];

export class Facets {
  constructor(list, form, filter) {
    Object.assign(this, { list, filter });
    this.extra = '';
    this.controller = null;
    this.input = form.querySelector('input');
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.extra = this.input.value.trim();
      if (this.state) this.load(this.state);
    });
    list.addEventListener('click', (e) => {
      const b = e.target.closest('button[data-field]');
      if (b) this.filter(b.dataset.field, b.dataset.value, false);
    });
  }

  async load(state) {
    this.state = state;
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    const fields = this.extra ? FIELDS.concat(this.extra) : FIELDS;
    const base = pairs(state);
    const answers = await Promise.all(fields.map((field) =>
      get('/facets', base.concat([['field', field], ['top', '8']]), controller.signal).catch(() => null)));
    if (controller.signal.aborted) return;
    const frag = document.createDocumentFragment();
    answers.forEach((answer, i) => {
      if (!answer?.values.length) return;
      frag.append(el('h3', '', answer.exhaustive ? fields[i] : `${fields[i]} (sample)`));
      for (const { value, count } of answer.values) {
        const b = el('button', 'facet');
        b.type = 'button';
        Object.assign(b.dataset, { field: fields[i], value });
        b.append(el('span', '', value), el('span', 'count', String(count)));
        frag.append(b);
      }
    });
    this.list.replaceChildren(frag);
  }
}
