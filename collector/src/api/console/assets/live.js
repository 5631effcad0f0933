// Live tail: follows `GET /logs/stream` (or one service's stream) with the current filters,
// hands entries over in batches (one per animation frame) and reports `missed` events.

import { events } from './api.js';
import { pairs } from './state.js';

function lookup(entry, path) {
  let v = entry;
  for (const part of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = v[part];
  }
  return v;
}

// What the stream may not filter itself is checked here too: the services and each filter.
export function keeps(state, entry, line) {
  if (state.services.length && !state.services.includes(entry.service)) return false;
  for (const f of state.filters) {
    let hit;
    if (f.key === 'q') hit = line.includes(f.value);
    else if (f.key === 'target') hit = typeof entry.target === 'string' && (entry.target === f.value || entry.target.startsWith(`${f.value}::`));
    else {
      const v = lookup(entry, f.key.slice(6).split('.'));
      hit = v !== undefined && v !== null && typeof v !== 'object' && String(v) === f.value;
    }
    if (hit === f.not) return false;
  }
  return true;
}

export class Live {
  constructor({ entries, missed, ended, opened }) {
    Object.assign(this, { entries, missed, ended, opened });
    this.controller = null;
    this.batch = [];
  }

  get on() { return this.controller !== null; }

  start(state) {
    this.stop();
    const controller = new AbortController();
    this.controller = controller;
    const one = state.services.length === 1;
    const path = one ? `/logs/${encodeURIComponent(state.services[0])}/stream` : '/logs/stream';
    const params = pairs(state, { time: false, services: false });
    events(path, params, controller.signal, (event, data) => {
      if (event === 'missed') {
        this.missed(JSON.parse(data).missed);
        return;
      }
      let entry;
      try { entry = JSON.parse(data); } catch { return; }
      if (!keeps(state, entry, data)) return;
      if (!this.batch.length) requestAnimationFrame(() => this.flush());
      this.batch.push(entry);
    }, () => this.opened()).then(
      () => { if (this.controller === controller) this.ended(null); },
      (err) => { if (err.name !== 'AbortError' && this.controller === controller) this.ended(err); },
    );
  }

  flush() {
    const batch = this.batch;
    this.batch = [];
    if (this.on && batch.length) this.entries(batch);
  }

  stop() {
    this.controller?.abort();
    this.controller = null;
    this.batch = [];
  }
}
