// The console's whole state is the URL's query string, with the API's own parameter names:
// `service` (comma-separated), `q`, `level`, `since`, `until`, `target`, `field.<path>`, and the
// exclusions `q!`, `target!`, `field.<path>!`. Anything else is kept and passed on, so the API
// names a bad parameter itself.

const PLAIN = ['q', 'level', 'since', 'until', 'target'];

export function empty() {
  return { services: [], q: '', level: '', since: '', until: '', target: '', filters: [], extra: [] };
}

export function parse(search) {
  const s = empty();
  for (const [key, value] of new URLSearchParams(search)) {
    if (key === 'service') s.services = value.split(',').filter(Boolean);
    else if (PLAIN.includes(key)) s[key] = value;
    else if (key === 'q!' || key === 'target!' || (key.startsWith('field.') && key.length > 6)) {
      const not = key.endsWith('!');
      s.filters.push({ key: not ? key.slice(0, -1) : key, not, value });
    } else s.extra.push([key, value]);
  }
  return s;
}

// The filter parameters, in URL order. `time: false` leaves the window out (live streams).
export function pairs(s, { time = true, services = true } = {}) {
  const out = [];
  if (services && s.services.length) out.push(['service', s.services.join(',')]);
  for (const k of PLAIN) {
    if (s[k] && (time || (k !== 'since' && k !== 'until'))) out.push([k, s[k]]);
  }
  for (const f of s.filters) out.push([f.not ? `${f.key}!` : f.key, f.value]);
  return out.concat(s.extra);
}

// A query string that keeps `!`, `,` and `:` readable.
export function encode(list) {
  const enc = (t) => encodeURIComponent(t).replace(/%2C/g, ',').replace(/%3A/g, ':');
  return list.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&');
}

export function toSearch(s) {
  const q = encode(pairs(s));
  return q ? `?${q}` : location.pathname;
}

export function same(a, b) {
  return encode(pairs(a)) === encode(pairs(b));
}

export function withFilter(s, key, value, not) {
  const next = structuredClone(s);
  if (key === 'service' && !not) {
    next.services = [String(value)];
    return next;
  }
  const k = `field.${key}`;
  next.filters = next.filters.filter((f) => !(f.key === k && f.value === String(value)));
  next.filters.push({ key: k, not, value: String(value) });
  return next;
}
