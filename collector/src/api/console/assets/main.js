// Wires the views to the state in the URL: every change of state is a history entry, and
// every view redraws from the state alone, so reload, back and forward just work.

import { get } from './api.js';
import { empty, pairs, parse, same, toSearch, withFilter } from './state.js';
import { MAX_KEPT, Results } from './results.js';
import { BUCKETS, Histogram } from './histogram.js';
import { Detail } from './detail.js';
import { Live } from './live.js';
import { Facets } from './facets.js';
import { Services } from './services.js';
import { Search } from './search.js';

const $ = (id) => document.getElementById(id);
// The first page is small so it shows fast; later ones are larger so scrolling far needs few requests.
const PAGE = 200;
const MORE = 1000;

let state = parse(location.search);
let cursor = null;
let loading = false;
let listing = null;
let counting = null;
let paused = false;
let held = [];
let heldCount = 0;
let missed = 0;

function describe(err) {
  if (err.status === 0) return 'The collector is unreachable: is it running? Search again to retry.';
  if (err.status === 400) {
    return err.parameter ? `Bad parameter "${err.parameter}": ${err.message}` : `Bad request: ${err.message}`;
  }
  if (err.status === 401 || err.status === 403) return `Not allowed: ${err.message}`;
  return `The collector answered ${err.status}: ${err.message}`;
}

function alert(text) {
  $('banner').textContent = text;
  $('banner').hidden = !text;
}

function status() {
  const n = results.entries.length;
  $('status').textContent = n
    ? `${n} entries${cursor ? ' · scroll for more' : ''}`
    : 'No entries match.';
}

function navigate(next) {
  if (same(next, state)) return;
  state = next;
  history.pushState(null, '', toSearch(state));
  apply();
}

const change = (next) => navigate(next);
const filter = (path, value, not) => navigate(withFilter(state, path, value, not));

const results = new Results($('results'), $('results-spacer'), {
  open: (entry) => detail.show(entry),
  more: () => more(),
  scrolled: (top) => { if (live.on && !paused && top > 48) pause(true); },
});
const histogram = new Histogram($('histogram'), (since, until) => navigate({ ...structuredClone(state), since, until }));
const detail = new Detail($('detail'), {
  filter,
  trace: (id) => navigate({ ...empty(), filters: [{ key: 'field.trace_id', not: false, value: id }] }),
  around: async (e) => {
    const path = `/logs/${encodeURIComponent(e.service)}`;
    const [before, after] = await Promise.all([
      get(path, [['until', e.timestamp], ['order', 'desc'], ['limit', '6']]),
      get(path, [['since', e.timestamp], ['order', 'asc'], ['limit', '6']]),
    ]).catch((err) => { alert(describe(err)); return [{ logs: [] }, { logs: [] }]; });
    return { before: before.logs, after: after.logs };
  },
});
const facets = new Facets($('facet-list'), $('facet-form'), filter);
const services = new Services($('service-list'), (chosen) => navigate({ ...structuredClone(state), services: chosen }));
const search = new Search($('search'), $('chips'), change);
const live = new Live({
  entries: (batch) => {
    if (paused) {
      heldCount += batch.length;
      held = held.concat(batch).slice(-MAX_KEPT);
      showLive();
      return;
    }
    results.prepend(batch);
    status();
  },
  missed: (n) => {
    missed += n;
    $('missed').textContent = `${missed} entries missed: the stream fell behind`;
    $('missed').hidden = false;
  },
  opened: () => showLive(true),
  ended: (err) => {
    if (err) alert(describe(err));
    setLive(false);
  },
});

async function load() {
  listing?.abort();
  listing = new AbortController();
  const { signal } = listing;
  cursor = null;
  loading = true;
  $('status').textContent = 'Loading…';
  try {
    const page = await get('/logs', pairs(state).concat([['order', 'desc'], ['limit', String(PAGE)]]), signal);
    alert('');
    cursor = page.next_cursor ?? null;
    results.reset(page.logs, state.q);
    status();
    // The first rows drawn after navigation, for the performance measurements.
    if (!performance.getEntriesByName('estuary:first-rows').length) {
      requestAnimationFrame(() => performance.mark('estuary:first-rows'));
    }
  } catch (err) {
    if (err.name === 'AbortError') return;
    results.reset([], '');
    alert(describe(err));
    $('status').textContent = '';
  } finally {
    if (!signal.aborted) loading = false;
  }
}

async function more() {
  if (loading || !cursor || results.entries.length >= MAX_KEPT) return;
  loading = true;
  const { signal } = listing;
  try {
    const page = await get('/logs', pairs(state).concat([['order', 'desc'], ['limit', String(MORE)], ['cursor', cursor]]), signal);
    cursor = page.next_cursor ?? null;
    results.append(page.logs);
    status();
  } catch (err) {
    if (err.name !== 'AbortError') alert(describe(err));
  } finally {
    if (!signal.aborted) loading = false;
  }
}

async function count() {
  counting?.abort();
  counting = new AbortController();
  try {
    histogram.render(await get('/histogram', pairs(state).concat([['buckets', String(BUCKETS)]]), counting.signal));
  } catch {
    // The list says what went wrong.
  }
}

function apply() {
  search.show(state);
  services.show(state.services);
  detail.close();
  // The list first: the counts can scan a lot, and they wait until the rows are drawn.
  load().then(() => {
    count();
    facets.load(state).catch(() => {});
  });
  if (live.on) setLive(true);
}

function setLive(on) {
  $('live').setAttribute('aria-pressed', String(on));
  paused = false;
  held = [];
  heldCount = 0;
  missed = 0;
  $('missed').hidden = true;
  if (on) live.start(state); else live.stop();
  showLive(false);
}

function pause(p) {
  if (!live.on) return;
  paused = p;
  if (!p) {
    if (held.length) results.prepend(held);
    held = [];
    heldCount = 0;
    results.box.scrollTop = 0;
    status();
  }
  showLive();
}

function showLive(connected = document.body.dataset.live === 'on' || document.body.dataset.live === 'paused') {
  const b = $('back-to-live');
  b.hidden = !(live.on && paused);
  b.textContent = heldCount ? `${heldCount} new — back to live` : 'Paused — back to live';
  // `connecting` until the stream answers: what arrives from then on is shown.
  document.body.dataset.live = !live.on ? 'off' : !connected ? 'connecting' : paused ? 'paused' : 'on';
}

$('live').addEventListener('click', (e) => {
  setLive(!live.on);
  e.currentTarget.blur();
});
$('back-to-live').addEventListener('click', () => pause(false));
window.addEventListener('popstate', () => { state = parse(location.search); apply(); });
window.addEventListener('resize', () => { if (histogram.data) histogram.render(histogram.data); });

document.addEventListener('keydown', (e) => {
  if (e.target.closest('input, select, textarea, dialog')) {
    if (e.key === 'Escape' && !e.target.closest('dialog')) e.target.blur();
    return;
  }
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const step = (d) => {
    results.select(results.selected + d);
    if (detail.isOpen && results.current()) detail.show(results.current());
  };
  switch (e.key) {
    case '/': e.preventDefault(); search.focus(); break;
    case 'j': step(1); break;
    case 'k': step(-1); break;
    case 'Enter': if (results.current()) detail.show(results.current()); break;
    case 'Escape': detail.close(); break;
    case ' ': if (live.on) { e.preventDefault(); pause(!paused); } break;
    default:
  }
});

services.refresh();
setInterval(() => services.refresh(), 15000);
apply();
