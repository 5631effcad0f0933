//! The issue's performance figures, measured in the browser (ignored by default: run with
//! a release collector, see `docs/benchmarks/console.md`):
//!
//! ```sh
//! cargo build --release -p estuary-collector
//! ESTUARY_BIN=target/release/estuary cargo test -p integration-tests --test main \
//!     console::perf -- --ignored --nocapture
//! ```
//!
//! - the first rendered page of a service holding `ESTUARY_CONSOLE_ENTRIES` entries (10 M by
//!   default), from navigation to the first rows drawn (`performance.mark` in `main.js`);
//! - live at 1,000 entries/s for 10 s: how long input events take to be handled and painted
//!   (the Event Timing API, for keys typed into the search box through WebDriver every 200 ms) and how late
//!   the page's timers run (its event loop's lag). The entries come 100 every 100 ms, batched
//!   as `tracing-estuary` sends them.
//!
//! Each beside its baseline from the same run: the same page straight from the API, and the
//! same probe with live on and nothing arriving.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::Browser;
use crate::support::{http, ChromeDriver, Collector};

/// Entries per seeding request (NDJSON).
const BATCH: usize = 20_000;

fn seed(collector: &Collector, service: &str, total: usize) {
    let started = Instant::now();
    let client = http();
    let mut sent = 0;
    while sent < total {
        let n = BATCH.min(total - sent);
        let mut body = String::with_capacity(n * 120);
        for i in sent..sent + n {
            body.push_str(&format!(
                "{{\"service\":\"{service}\",\"level\":\"{}\",\"target\":\"perf::seed\",\"message\":\"entry {i} of the seed\",\"fields\":{{\"user_id\":{}}}}}\n",
                if i % 10 == 0 { "WARN" } else { "INFO" },
                i % 1000
            ));
        }
        let answer = client
            .post(format!("{}/logs", collector.url))
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .expect("seed");
        assert_eq!(
            answer.status(),
            201,
            "{}",
            answer.text().unwrap_or_default()
        );
        sent += n;
    }
    eprintln!("seeded {total} entries in {:.1?}", started.elapsed());
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
#[ignore = "a measurement: minutes of seeding, run by hand with a release collector"]
fn console_performance() {
    let total: usize = std::env::var("ESTUARY_CONSOLE_ENTRIES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000_000);
    let collector = Collector::start();
    seed(&collector, "big", total);
    let driver = ChromeDriver::start().expect("chromedriver");
    let browser = Browser::open(&driver, &[]);

    let mut firsts = Vec::new();
    for _ in 0..7 {
        browser.goto(&format!("{}/?service=big", collector.url));
        let ms = browser.until(
            "the first rows",
            "const m = performance.getEntriesByName('estuary:first-rows')[0]; return m && m.startTime",
        );
        firsts.push(ms.as_f64().unwrap());
        // Each navigation on a quiet collector: its histogram and facets (which scan up to
        // 256 MiB each) finish before the next one starts.
        browser.until_within(
            Duration::from_secs(60),
            "the counts",
            "return document.querySelectorAll('#facet-list .facet').length > 0 \
                 && document.querySelectorAll('#histogram-svg .bucket').length > 0",
        );
    }
    // The first load also compiles the modules; the rest hit the browser's cache like a
    // returning operator.
    println!(
        "first rows after navigation, {total} entries: cold {:.0} ms, median {:.0} ms, max {:.0} ms ({firsts:.0?})",
        firsts[0],
        median(firsts[1..].to_vec()),
        firsts[1..].iter().copied().fold(0.0, f64::max)
    );
    // The baseline: the same request straight to the API, from this process.
    let client = http();
    let url = format!("{}/logs?service=big&order=desc&limit=200", collector.url);
    let api: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            let body = client
                .get(&url)
                .send()
                .and_then(|r| r.bytes())
                .expect("API");
            assert!(body.len() > 1000);
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    println!(
        "baseline: the same page from the API: median {:.0} ms ({api:.0?})",
        median(api.clone())
    );
    let rows = browser.js("return document.querySelectorAll('#results .row').length");
    println!("rows in the DOM: {rows}");
    // The big collector may still be counting for the pages above (aborted requests finish
    // on the server): the live figures get a quiet collector of their own.
    drop(collector);
    let collector = Collector::start();

    browser.goto(&format!("{}/?service=flood", collector.url));
    browser.until(
        "the page",
        "return document.getElementById('status').textContent === 'No entries match.'",
    );
    browser.click("#live");
    browser.until(
        "the live stream",
        "return document.body.dataset.live === 'on'",
    );
    let idle = probe(&browser, &collector, 0);
    browser.js("document.getElementById('q').value = ''; return true");
    println!("live, idle (baseline): {idle}");
    let flood = probe(&browser, &collector, 100);
    println!("live, 1,000 entries/s: {flood}");
    let status = flood["status"].as_str().unwrap_or("");
    assert!(status.starts_with("10000 entries"), "{flood}");
}

/// For 10 s, types `j` into the search box through WebDriver every 200 ms (typing, not
/// submitting: moving down the list would pause live by design) while `per_tick` entries are sent
/// every 100 ms (100: 1,000 entries/s, batched as `tracing-estuary` sends them), and reads
/// back what the page measured: input event durations (Event Timing, those over 16 ms) and
/// how late a 50 ms timer ran.
fn probe(browser: &Browser, collector: &Collector, per_tick: usize) -> Value {
    browser.js(
        "window.lag = []; window.inputs = []; window.keys = 0; window.stopProbe = false; \
         let last = performance.now(); \
         const tick = () => { const now = performance.now(); lag.push(now - last - 50); last = now; \
                              if (!window.stopProbe) setTimeout(tick, 50); }; \
         setTimeout(tick, 50); \
         window.observer?.disconnect(); \
         window.observer = new PerformanceObserver((l) => { for (const e of l.getEntries()) inputs.push([e.name, e.duration]); }); \
         observer.observe({ type: 'event', durationThreshold: 16 }); \
         if (!window.counting) { window.counting = true; document.addEventListener('keydown', () => { keys += 1; }); } \
         return true",
    );
    let url = collector.url.clone();
    let producer = std::thread::spawn(move || {
        let client = http();
        let start = Instant::now();
        for tick in 0..100u32 {
            if per_tick > 0 {
                let batch: Vec<Value> = (0..per_tick)
                    .map(|i| json!({"service": "flood", "level": "INFO", "message": format!("flood {tick}-{i}")}))
                    .collect();
                client
                    .post(format!("{url}/logs"))
                    .json(&batch)
                    .send()
                    .expect("flood");
            }
            let due = start + Duration::from_millis(100 * u64::from(tick + 1));
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        start.elapsed()
    });
    let mut presses = 0;
    let mut slowest_press = Duration::ZERO;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        let sent = Instant::now();
        browser.type_into("#q", "j");
        presses += 1;
        slowest_press = slowest_press.max(sent.elapsed());
        std::thread::sleep(Duration::from_millis(200).saturating_sub(sent.elapsed()));
    }
    let took = producer.join().expect("producer");
    let mut report = browser.js(
        "window.stopProbe = true; const max = (a) => a.reduce((m, x) => Math.max(m, x), 0); \
         const keyed = inputs.filter(i => i[0].startsWith('key')).map(i => i[1]); \
         return { timer_lag_max_ms: Math.round(max(lag)), \
                  timer_lag_p99_ms: Math.round(lag.slice().sort((a, b) => a - b)[Math.floor(lag.length * 0.99)]), \
                  key_events_over_16ms: keyed.length, key_event_max_ms: max(keyed), keys, \
                  rows_in_dom: document.querySelectorAll('#results .row').length, \
                  status: document.getElementById('status').textContent, \
                  missed: document.getElementById('missed').textContent }",
    );
    report["presses"] = json!(presses);
    report["slowest_webdriver_press_ms"] = json!(slowest_press.as_millis() as u64);
    report["sent_over_s"] = json!(took.as_secs_f64());
    report
}
