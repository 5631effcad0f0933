// How entries read: their level, time, message and a few key fields, from any producer's shape.

export const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

const NAMES = {
  trace: 'trace', debug: 'debug', verbose: 'debug', info: 'info', information: 'info',
  informational: 'info', notice: 'info', warn: 'warn', warning: 'warn', error: 'error', err: 'error',
  fatal: 'fatal', critical: 'fatal', crit: 'fatal', alert: 'fatal', emerg: 'fatal', emergency: 'fatal',
  panic: 'fatal',
};

// The severity of an entry, as the collector reads it (`level`, else `severity`; numbers as pino's).
export function levelOf(entry) {
  const raw = entry.level ?? entry.severity;
  if (typeof raw === 'number' || (typeof raw === 'string' && /^\d+$/.test(raw))) {
    const n = Number(raw);
    if (n >= 60) return 'fatal';
    if (n >= 10) return LEVELS[Math.floor(n / 10) - 1];
    return n <= 2 ? 'fatal' : n === 3 ? 'error' : n === 4 ? 'warn' : n === 7 ? 'debug' : 'info';
  }
  return (typeof raw === 'string' && NAMES[raw.toLowerCase()]) || 'info';
}

export function messageOf(entry) {
  const m = entry.message ?? entry.msg ?? entry.fields?.message ?? '';
  return typeof m === 'string' ? m : JSON.stringify(m);
}

// `2026-12-02 04:31:07.123`, in UTC like the API.
export function timeOf(entry) {
  const t = entry.timestamp;
  if (typeof t !== 'string') return '';
  return t.replace('T', ' ').replace(/(\.\d{3})\d*/, '$1').replace(/Z$/, '');
}

const SHOWN = new Set(['timestamp', 'level', 'severity', 'service', 'target', 'message', 'msg',
  'fields', 'span', 'spans', 'thread_name', 'thread_id', 'pid', 'module_path', 'file', 'line']);

// A few `key=value` pairs worth a glance: the event's own fields first, then unknown top-level keys.
export function keyFields(entry, max = 3) {
  const out = [];
  const add = (k, v) => {
    if (out.length < max && v !== null && typeof v !== 'object') out.push(`${k}=${v}`);
  };
  if (entry.fields && typeof entry.fields === 'object') {
    for (const [k, v] of Object.entries(entry.fields)) if (k !== 'message') add(k, v);
  }
  for (const [k, v] of Object.entries(entry)) if (!SHOWN.has(k)) add(k, v);
  return out.join(' ');
}

export function bytes(n) {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${n < 10 && i ? n.toFixed(1) : Math.round(n)} ${units[i]}`;
}

export function ago(timestamp) {
  const ms = Date.now() - Date.parse(timestamp);
  if (!Number.isFinite(ms)) return 'never';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

// An element with text (never markup) and an optional class.
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// `text` as nodes with every occurrence of `needle` in a <mark>.
export function highlighted(text, needle) {
  const frag = document.createDocumentFragment();
  if (!needle) { frag.append(text); return frag; }
  let at = 0;
  for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, at)) {
    frag.append(text.slice(at, i), el('mark', '', needle));
    at = i + needle.length;
  }
  frag.append(text.slice(at));
  return frag;
}
