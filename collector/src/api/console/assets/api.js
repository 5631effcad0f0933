// Every request to the collector goes through here: it adds the query token when there is one,
// asks for it on a 401 (once for all waiting requests) and keeps it for the tab.

import { encode } from './state.js';

const KEY = 'estuary.token';
let asking = null;

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error || `HTTP ${status}`);
    this.status = status;
    this.parameter = body?.parameter;
  }
}

function headers() {
  const token = sessionStorage.getItem(KEY);
  return token ? { authorization: `Bearer ${token}` } : {};
}

function askToken(refused) {
  if (!asking) {
    asking = new Promise((resolve) => {
      const dialog = document.getElementById('token-dialog');
      const input = document.getElementById('token-input');
      document.getElementById('token-error').hidden = !refused;
      input.value = '';
      dialog.addEventListener('close', () => {
        asking = null;
        if (input.value) sessionStorage.setItem(KEY, input.value.trim());
        resolve();
      }, { once: true });
      dialog.showModal();
    });
  }
  return asking;
}

// `fetch` with the token; on 401 asks for one and tries again.
export async function open(path, params = [], signal) {
  const url = params.length ? `${path}?${encode(params)}` : path;
  for (let tries = 0; ; tries += 1) {
    let res;
    try {
      res = await fetch(url, { headers: headers(), signal, cache: 'no-store' });
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      throw new ApiError(0, { error: 'The collector is unreachable.' });
    }
    if (res.status === 401 && tries < 5) {
      await askToken(tries > 0 || sessionStorage.getItem(KEY) !== null);
      continue;
    }
    if (!res.ok) {
      let body = null;
      try { body = await res.json(); } catch { /* not JSON */ }
      throw new ApiError(res.status, body);
    }
    return res;
  }
}

export async function get(path, params, signal) {
  return (await open(path, params, signal)).json();
}

// Reads a Server-Sent Events answer, calling `on(event, data)` for each event, until it ends.
export async function events(path, params, signal, on, opened = () => {}) {
  const res = await open(path, params, signal);
  opened();
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(line[5] === ' ' ? 6 : 5));
      }
      if (data.length) on(event, data.join('\n'));
    }
  }
}
