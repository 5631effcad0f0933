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
//!   (the Event Timing API, for `j` presses sent through WebDriver every 200 ms) and how late
//!   the page's timers run (its event loop's lag). The entries come 100 every 100 ms, batched
//!   as `tracing-estuary` sends them.

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
    }
    // The first load also compiles the modules; the rest hit the browser's cache like a
    // returning operator.
    println!(
        "first rows after navigation, {total} entries: cold {:.0} ms, median {:.0} ms, max {:.0} ms ({firsts:.0?})",
        firsts[0],
        median(firsts[1..].to_vec()),
        firsts[1..].iter().copied().fold(0.0, f64::max)
    );
    let rows = browser.js("return document.querySelectorAll('#results .row').length");
    println!("rows in the DOM: {rows}");

    live_flood(&browser, &collector);
}

fn live_flood(browser: &Browser, collector: &Collector) {
    browser.goto(&format!("{}/?service=flood", collector.url));
    browser.until("the page", "return document.getElementById('status').textContent.length > 0 && document.getElementById('status').textContent !== 'Loading…'");
    browser.click("#live");
    browser.until(
        "the live stream",
        "return document.body.dataset.live === 'on'",
    );
    browser.js(
        "window.lag = []; window.inputs = []; let last = performance.now(); \
         const tick = () => { const now = performance.now(); lag.push(now - last - 50); last = now; if (!window.stopProbe) setTimeout(tick, 50); }; \
         setTimeout(tick, 50); \
         new PerformanceObserver((l) => { for (const e of l.getEntries()) inputs.push([e.name, e.duration, e.processingStart - e.startTime]); }) \
           .observe({ type: 'event', durationThreshold: 16, buffered: false }); \
         window.keys = 0; document.addEventListener('keydown', () => { keys += 1; }); return true",
    );
    let url = collector.url.clone();
    let producer = std::thread::spawn(move || {
        let client = http();
        let start = Instant::now();
        for tick in 0..100u32 {
            let batch: Vec<Value> = (0..100)
                .map(|i| json!({"service": "flood", "level": "INFO", "message": format!("flood {tick}-{i}")}))
                .collect();
            // 100 entries every 100 ms: 1,000 entries/s, batched as the layer sends them.
            client
                .post(format!("{url}/logs"))
                .json(&batch)
                .send()
                .expect("flood");
            let due = start + Duration::from_millis(100 * u64::from(tick + 1));
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        start.elapsed()
    });
    let mut presses = 0;
    let probe_start = Instant::now();
    while probe_start.elapsed() < Duration::from_secs(10) {
        let sent = Instant::now();
        browser.type_into("#results", "j");
        presses += 1;
        let round_trip = sent.elapsed();
        if round_trip > Duration::from_millis(100) {
            println!("a key press took {round_trip:?} through WebDriver");
        }
        std::thread::sleep(Duration::from_millis(200).saturating_sub(round_trip));
    }
    let took = producer.join().expect("producer");
    let report = browser.js(
        "window.stopProbe = true; const max = (a) => a.reduce((m, x) => Math.max(m, x), 0); \
         return { lag_max: max(lag), lag_p99: lag.slice().sort((a, b) => a - b)[Math.floor(lag.length * 0.99)], \
                  slow_inputs: inputs.filter(i => i[0].startsWith('key')).length, \
                  input_max: max(inputs.filter(i => i[0].startsWith('key')).map(i => i[1])), \
                  keys, rows: document.querySelectorAll('#results .row').length, \
                  status: document.getElementById('status').textContent, \
                  missed: document.getElementById('missed').textContent }",
    );
    println!("live flood: 10,000 entries in {took:.1?} ({presses} key presses): {report}");
    let kept = report["status"].as_str().unwrap_or("");
    assert!(kept.starts_with("10000 entries"), "{report}");
}
