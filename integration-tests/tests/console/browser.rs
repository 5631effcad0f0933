//! The console in a real browser, against the real binary with real data: every scenario
//! of the issue, one after another in one chromedriver (a new page per scenario).

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;

use super::Browser;
use crate::support::{http, ChromeDriver, Collector};

const INGEST: &str = "ingest-9f8e7d6c5b4a39281706f5e4d3c2b1a0";
const QUERY: &str = "query-0a1b2c3d4e5f60718293a4b5c6d7e8f9";
const HOSTILE: &str = "<img src=x onerror=alert(1)>";
/// Entries of `checkout`, one every 150 s back from two minutes ago (sent oldest first, as
/// logs arrive: the store lists entries in the order they came).
const CHECKOUT: usize = 40;

fn stamp(seconds_ago: i64) -> String {
    (time::OffsetDateTime::now_utc() - time::Duration::seconds(seconds_ago))
        .format(&Rfc3339)
        .expect("RFC 3339")
}

fn seed(collector: &Collector) {
    let levels = ["INFO", "INFO", "WARN", "INFO", "ERROR"];
    let checkout: Vec<Value> = (0..CHECKOUT)
        .rev()
        .map(|i| {
            json!({
                "service": "checkout", "level": levels[i % 5], "target": "checkout::orders",
                "message": format!("order placed {i}"), "host": format!("web-{}", i % 2),
                "fields": {"user_id": i % 4}, "timestamp": stamp(120 + 150 * i as i64),
            })
        })
        .collect();
    let billing = json!([
        {"service": "billing", "level": "INFO", "message": "invoice sent", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "timestamp": stamp(90)},
        {"service": "billing", "level": "WARN", "message": HOSTILE, "timestamp": stamp(60)},
    ]);
    assert_eq!(collector.post_json(&json!(checkout)).0, 201);
    assert_eq!(collector.post_json(&billing).0, 201);
}

/// The API's answer to the console's own query (the page's URL search).
fn api(collector: &Collector, path: &str, search: &str) -> Value {
    let sep = if path.contains('?') { '&' } else { '?' };
    let url = format!(
        "{}{path}{sep}{}",
        collector.url,
        search.trim_start_matches('?')
    );
    http().get(url).send().expect("API").json().expect("JSON")
}

fn search_of(url: &str) -> String {
    url.split_once('?')
        .map(|(_, q)| q.to_owned())
        .unwrap_or_default()
}

/// Waits until the list holds `n` entries (the status says so and the rows are drawn), and
/// gives back the rows in the DOM (those on screen and a margin of 20, as `results.js` draws
/// them: all of them, for short lists).
fn rows_settled(browser: &Browser, n: usize) -> Vec<String> {
    let status = if n == 0 {
        "No entries match.".to_owned()
    } else {
        format!("{n} entries")
    };
    browser.until(
        &format!("{n} entries"),
        &format!(
            "return document.getElementById('status').textContent.split(' ·')[0] === '{status}' \
             && document.querySelectorAll('#results .row').length \
             === Math.min({n}, Math.ceil(document.getElementById('results').clientHeight / 24) + 20)"
        ),
    );
    browser.rows()
}

#[test]
fn the_console_in_chromium() {
    let collector = Collector::start();
    seed(&collector);
    let driver = ChromeDriver::start().expect("chromedriver");
    let browser = Browser::open(&driver, &[]);

    opens_with_every_service(&browser, &collector);
    picks_searches_and_sets_a_level(&browser, &collector);
    filters_from_the_detail_view_and_reloads(&browser, &collector);
    zooms_with_the_histogram(&browser, &collector);
    renders_hostile_entries_as_text(&browser, &collector);
    names_the_bad_parameter(&browser, &collector);
    follows_live_and_pauses(&browser, &collector);
    moves_with_the_keyboard_and_opens_context(&browser, &collector);
    scrolls_ten_thousand_entries_with_few_rows(&browser, &collector);
    drop(browser);

    dark_theme(&driver, &collector);
    asks_for_a_token(&driver);
}

fn opens_with_every_service(browser: &Browser, collector: &Collector) {
    browser.goto(&format!("{}/", collector.url));
    let rows = rows_settled(browser, CHECKOUT + 2);
    // Newest first, across services.
    assert!(rows[0].contains(HOSTILE), "{rows:?}");
    assert!(rows[2].contains("order placed 0"), "{rows:?}");
    let services = browser.until(
        "the service list",
        "const s = [...document.querySelectorAll('#service-list input')].map(i => i.value); return s.length === 3 && s",
    );
    assert_eq!(services, json!(["*", "billing", "checkout"]));
    browser.until(
        "facets",
        "return document.querySelectorAll('#facet-list .facet').length > 0",
    );
    browser.until(
        "histogram bars",
        "return document.querySelectorAll('#histogram-svg .bucket').length > 0",
    );
    browser.screenshot("console-light.png");
}

fn picks_searches_and_sets_a_level(browser: &Browser, collector: &Collector) {
    browser.click("#service-list input[value=checkout]");
    browser.until(
        "service in the URL",
        "return location.search === '?service=checkout'",
    );
    let rows = rows_settled(browser, CHECKOUT);
    assert!(rows.iter().all(|r| r.contains("checkout")), "{rows:?}");

    browser.type_into("#q", "placed 1\u{E007}");
    browser.until(
        "q in the URL",
        "return location.search === '?service=checkout&q=placed%201'",
    );
    let expected = api(
        collector,
        "/logs",
        "service=checkout&q=placed%201&limit=1000",
    );
    let rows = rows_settled(browser, expected["count"].as_u64().unwrap() as usize);
    assert!(rows.iter().all(|r| r.contains("placed 1")), "{rows:?}");
    let marks = browser
        .js("return [...document.querySelectorAll('#results mark')].map(m => m.textContent)");
    assert!(
        marks
            .as_array()
            .is_some_and(|m| m.len() == rows.len() && m.iter().all(|t| t == "placed 1")),
        "{marks}"
    );

    browser.click("#level option[value=error]");
    browser.until(
        "level in the URL",
        "return location.search.endsWith('&level=error')",
    );
    let expected = api(collector, "/logs", &search_of(&browser.url()));
    let rows = rows_settled(browser, expected["count"].as_u64().unwrap() as usize);
    assert!(
        !rows.is_empty() && rows.iter().all(|r| r.contains("error")),
        "{rows:?}"
    );

    // Back goes to the previous state, rows and all.
    browser.back();
    browser.until(
        "the level gone",
        "return !location.search.includes('level')",
    );
    browser.until(
        "the level select cleared",
        "return document.getElementById('level').value === ''",
    );
}

fn filters_from_the_detail_view_and_reloads(browser: &Browser, collector: &Collector) {
    browser.goto(&format!("{}/?service=checkout", collector.url));
    rows_settled(browser, CHECKOUT);
    browser.click("#results .row[data-i='0']");
    browser.until(
        "the detail view",
        "return !document.getElementById('detail').hidden",
    );
    let tree = browser.js("return document.getElementById('detail-tree').textContent");
    assert!(
        tree.as_str().unwrap().contains("\"order placed 0\""),
        "{tree}"
    );
    browser.click("#detail-tree button[data-path='fields.user_id'][data-not='0']");
    browser.until(
        "the filter in the URL",
        "return location.search === '?service=checkout&field.fields.user_id=0'",
    );
    let expected = api(
        collector,
        "/logs",
        "service=checkout&field.fields.user_id=0",
    );
    let rows = rows_settled(browser, expected["count"].as_u64().unwrap() as usize);
    assert_eq!(rows.len(), CHECKOUT / 4);
    assert!(rows.iter().all(|r| r.contains("user_id=0")), "{rows:?}");
    let chips = browser.js("return document.getElementById('chips').textContent");
    assert!(
        chips.as_str().unwrap().contains("fields.user_id = 0"),
        "{chips}"
    );

    browser.refresh();
    let again = rows_settled(browser, rows.len());
    assert_eq!(again, rows);
    let chips = browser.js("return document.getElementById('chips').textContent");
    assert!(
        chips.as_str().unwrap().contains("fields.user_id = 0"),
        "{chips}"
    );

    // Removing the chip brings every entry back.
    browser.click("#chips button[data-chip='0']");
    browser.until(
        "no filter",
        "return location.search === '?service=checkout'",
    );
    rows_settled(browser, CHECKOUT);

    // Exclusions: a value from the detail view, and text typed in the search box.
    browser.click("#results .row[data-i='0']");
    browser.click("#detail-tree button[data-path='host'][data-not='1']");
    browser.until(
        "the exclusion in the URL",
        "return location.search === '?service=checkout&field.host!=web-0'",
    );
    let rows = rows_settled(browser, CHECKOUT / 2);
    assert!(rows.iter().all(|r| r.contains("host=web-1")), "{rows:?}");
    browser.type_into("#q", "placed 1");
    browser.click("#exclude-text");
    browser.until(
        "the text exclusion in the URL",
        "return location.search === '?service=checkout&field.host!=web-0&q!=placed%201'",
    );
    let expected = api(
        collector,
        "/logs",
        "service=checkout&field.host!=web-0&q!=placed%201",
    );
    let rows = rows_settled(browser, expected["count"].as_u64().unwrap() as usize);
    assert!(rows.len() < CHECKOUT / 2, "{rows:?}");
    assert!(!rows.iter().any(|r| r.contains("placed 1")), "{rows:?}");
    let chips = browser.js("return document.getElementById('chips').textContent");
    let chips = chips.as_str().unwrap();
    assert!(
        chips.contains("host ≠ web-0") && chips.contains("q does not contain placed 1"),
        "{chips}"
    );
}

fn zooms_with_the_histogram(browser: &Browser, collector: &Collector) {
    browser.goto(&format!("{}/?service=checkout&since=24h", collector.url));
    rows_settled(browser, CHECKOUT);
    let start = browser.until(
        "a bar with entries",
        "const b = [...document.querySelectorAll('#histogram-svg .bucket')].filter(b => b.dataset.total > 0); return b.length > 1 && b[b.length - 1].dataset.start",
    );
    let start = start.as_str().unwrap();
    browser.click(&format!("#histogram-svg .bucket[data-start='{start}']"));
    let search = browser.until(
        "the zoomed window in the URL",
        &format!("return location.search.includes('since={start}') && location.search"),
    );
    let search = search.as_str().unwrap().trim_start_matches('?').to_owned();
    assert!(search.contains("&until="), "{search}");
    let expected = api(collector, "/histogram", &format!("{search}&buckets=60"));
    let totals: Vec<u64> = expected["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["total"].as_u64().unwrap())
        .collect();
    let since = expected["since"].as_str().unwrap().to_owned();
    let bars = browser.until(
        "the zoomed histogram",
        &format!(
            "const b = [...document.querySelectorAll('#histogram-svg .bucket')]; \
             return b.length > 0 && b[0].dataset.start === '{}' && b.map(x => Number(x.dataset.total))",
            expected["buckets"][0]["start"].as_str().unwrap()
        ),
    );
    assert_eq!(bars, json!(totals), "bars against the API over {since}");
    let in_window = api(collector, "/logs", &format!("{search}&limit=1000"));
    let count = in_window["count"].as_u64().unwrap() as usize;
    assert!(count > 0 && count < CHECKOUT, "{count}");
    assert_eq!(count as u64, expected["total"].as_u64().unwrap());
    rows_settled(browser, count);
}

fn renders_hostile_entries_as_text(browser: &Browser, collector: &Collector) {
    browser.goto(&format!("{}/?service=billing", collector.url));
    let rows = rows_settled(browser, 2);
    assert!(rows[0].contains(HOSTILE), "{rows:?}");
    browser.click("#results .row[data-i='0']");
    browser.until(
        "the detail view",
        "return !document.getElementById('detail').hidden",
    );
    let tree = browser.js("return document.getElementById('detail-tree').textContent");
    assert!(tree.as_str().unwrap().contains(HOSTILE), "{tree}");
    // Nothing became markup, and nothing ran (an alert would fail this very call).
    assert_eq!(
        browser.js("return document.querySelectorAll('img').length"),
        json!(0)
    );
}

fn names_the_bad_parameter(browser: &Browser, collector: &Collector) {
    browser.goto(&format!("{}/?level=loud", collector.url));
    let banner = browser.until(
        "the error banner",
        "const b = document.getElementById('banner'); return !b.hidden && b.textContent",
    );
    assert!(banner.as_str().unwrap().contains("\"level\""), "{banner}");
    let chips = browser.js("return document.getElementById('chips').textContent");
    assert_eq!(chips, json!(""), "level is no chip: it is the level select");
}

fn follows_live_and_pauses(browser: &Browser, collector: &Collector) {
    browser.goto(&format!("{}/?service=checkout&q!=noisy", collector.url));
    rows_settled(browser, CHECKOUT);
    browser.click("#live");
    browser.until(
        "the live stream",
        "return document.body.dataset.live === 'on'",
    );
    let posted = Instant::now();
    let entry = json!({"service": "checkout", "level": "INFO", "message": "live one"});
    assert_eq!(collector.post_json(&entry).0, 201);
    browser.until_within(
        Duration::from_secs(1),
        "the live entry within a second",
        "const r = document.querySelector('#results .row[data-i=\"0\"]'); return r && r.textContent.includes('live one')",
    );
    assert!(posted.elapsed() < Duration::from_secs(1));
    // Entries of other services, and those the filters leave out, stay out.
    for entry in [
        json!({"service": "billing", "message": "not here"}),
        json!({"service": "checkout", "message": "noisy, not here either"}),
    ] {
        assert_eq!(collector.post_json(&entry).0, 201);
    }

    browser.type_into("#results", " ");
    browser.until("paused", "return document.body.dataset.live === 'paused'");
    let entry = json!({"service": "checkout", "level": "INFO", "message": "while paused"});
    assert_eq!(collector.post_json(&entry).0, 201);
    browser.until(
        "the new-entries button",
        "const b = document.getElementById('back-to-live'); return !b.hidden && b.textContent.startsWith('1 new')",
    );
    assert!(!browser.rows().iter().any(|r| r.contains("while paused")));
    browser.type_into("#results", " ");
    browser.until("live again", "return document.body.dataset.live === 'on'");
    let rows = rows_settled(browser, CHECKOUT + 2);
    assert!(
        rows[0].contains("while paused") && rows[1].contains("live one"),
        "{rows:?}"
    );
    assert!(!rows.iter().any(|r| r.contains("not here")), "{rows:?}");
    browser.click("#live");
    browser.until("live off", "return document.body.dataset.live === 'off'");
}

fn moves_with_the_keyboard_and_opens_context(browser: &Browser, collector: &Collector) {
    browser.goto(&format!("{}/?service=checkout", collector.url));
    // The seeded entries and three live ones (one of them noisy).
    rows_settled(browser, CHECKOUT + 3);
    browser.type_into("#results", "jjj");
    browser.until(
        "the third row selected",
        "return document.querySelector('#results .row.selected')?.dataset.i === '2'",
    );
    browser.type_into("#results", "k\u{E007}");
    let tree = browser.until(
        "the detail of the second row",
        "const d = document.getElementById('detail'); return !d.hidden && d.textContent",
    );
    assert!(
        tree.as_str()
            .unwrap()
            .contains("\"noisy, not here either\""),
        "{tree}"
    );
    browser.type_into("#results", "\u{E00C}");
    browser.until(
        "the detail closed",
        "return document.getElementById('detail').hidden",
    );
    browser.type_into("#results", "/");
    browser.until(
        "the search box focused",
        "return document.activeElement.id === 'q'",
    );

    // The entries around one in its service, the current one marked.
    browser.click("#results .row[data-i='10']");
    browser.click("#detail-around");
    let around = browser.until(
        "surrounding entries",
        "const r = [...document.querySelectorAll('#detail-around-list .row')]; return r.length > 4 && r.map(x => x.textContent + (x.classList.contains('current') ? ' <-' : ''))",
    );
    let around: Vec<String> = serde_json::from_value(around).unwrap();
    assert!(
        around
            .iter()
            .any(|r| r.contains("order placed 7 ") && r.ends_with(" <-")),
        "{around:?}"
    );
    assert!(
        around.iter().any(|r| r.contains("order placed 4 ")),
        "{around:?}"
    );
    assert!(
        around.iter().any(|r| r.contains("order placed 10 ")),
        "{around:?}"
    );

    // A facet value filters.
    browser.type_into("#results", "\u{E00C}");
    browser.until(
        "the detail closed",
        "return document.getElementById('detail').hidden",
    );
    browser.click("#facet-list button[data-field='host'][data-value='web-1']");
    browser.until(
        "the facet in the URL",
        "return location.search === '?service=checkout&field.host=web-1'",
    );
    rows_settled(browser, CHECKOUT / 2);

    // A trace id lists that trace across services.
    browser.goto(&format!("{}/?service=billing", collector.url));
    // The two seeded entries and the one the live scenario sent.
    rows_settled(browser, 3);
    browser.click("#results .row[data-i='2']");
    browser.click("#detail-trace");
    browser.until(
        "the trace in the URL",
        "return location.search === '?field.trace_id=4bf92f3577b34da6a3ce929d0e0e4736'",
    );
    let rows = rows_settled(browser, 1);
    assert!(rows[0].contains("invoice sent"), "{rows:?}");
}

fn scrolls_ten_thousand_entries_with_few_rows(browser: &Browser, collector: &Collector) {
    const N: usize = 10_000;
    let entries: Vec<Value> = (0..N)
        .map(|i| json!({"service": "bulk", "level": "INFO", "message": format!("entry {i}")}))
        .collect();
    assert_eq!(collector.post_json(&json!(entries)).0, 201);
    browser.goto(&format!("{}/?service=bulk", collector.url));
    browser.until(
        "the first page",
        "return document.getElementById('status').textContent.startsWith('200 entries')",
    );
    let mut most_rows = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let step = browser.js(
            "const r = document.getElementById('results'); r.scrollTop = r.scrollHeight; \
             return [document.querySelectorAll('#results .row').length, document.getElementById('status').textContent]",
        );
        most_rows = most_rows.max(step[0].as_u64().unwrap());
        if step[1] == json!(format!("{N} entries")) {
            break;
        }
        assert!(Instant::now() < deadline, "still {step} after 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let last = browser.until(
        "the last row drawn",
        "const box = document.getElementById('results'); box.scrollTop = box.scrollHeight; \
         const r = document.querySelector('#results .row:last-child'); return r && r.dataset.i === '9999' && r.textContent",
    );
    assert!(last.as_str().unwrap().contains("entry 0"), "{last}");
    // A screen holds about 20 rows; the list keeps a margin of 20 on each side.
    assert!(
        most_rows <= 80,
        "{most_rows} rows in the DOM for {N} entries"
    );
}

fn dark_theme(driver: &ChromeDriver, collector: &Collector) {
    let browser = Browser::open(
        driver,
        &[
            "--force-dark-mode",
            "--blink-settings=preferredColorScheme=0",
        ],
    );
    browser.goto(&format!("{}/?service=checkout", collector.url));
    rows_settled(&browser, CHECKOUT + 3);
    assert_eq!(
        browser.js("return matchMedia('(prefers-color-scheme: dark)').matches"),
        json!(true)
    );
    browser.click("#results .row[data-i='2']");
    browser.until(
        "the detail view",
        "return !document.getElementById('detail').hidden",
    );
    browser.screenshot("console-dark.png");
}

fn asks_for_a_token(driver: &ChromeDriver) {
    let mut collector =
        Collector::start_with(&["--ingest-token", INGEST, "--query-token", QUERY], &[]);
    let stored = http()
        .post(format!("{}/logs", collector.url))
        .bearer_auth(INGEST)
        .json(&json!({"service": "vault", "message": "behind a token"}))
        .send()
        .expect("POST");
    assert_eq!(stored.status(), 201);
    let browser = Browser::open(driver, &[]);
    browser.goto(&format!("{}/", collector.url));
    browser.until(
        "the token prompt",
        "return document.getElementById('token-dialog').open",
    );
    browser.type_into("#token-input", "wrong-token\u{E007}");
    browser.until(
        "the prompt again, saying the token was refused",
        "return document.getElementById('token-dialog').open && !document.getElementById('token-error').hidden",
    );
    browser.type_into("#token-input", &format!("{QUERY}\u{E007}"));
    let rows = rows_settled(&browser, 1);
    assert!(rows[0].contains("behind a token"), "{rows:?}");
    assert_eq!(
        browser.js("return sessionStorage.getItem('estuary.token')"),
        json!(QUERY)
    );
    // Kept for the tab: a reload asks nothing.
    browser.refresh();
    rows_settled(&browser, 1);
    assert_eq!(
        browser.js("return document.getElementById('token-dialog').open"),
        json!(false)
    );

    // A collector that went away is said so, not shown as an empty list.
    collector.kill();
    browser.type_into("#q", "anything\u{E007}");
    let banner = browser.until(
        "the unreachable banner",
        "const b = document.getElementById('banner'); return !b.hidden && b.textContent",
    );
    assert!(banner.as_str().unwrap().contains("unreachable"), "{banner}");
}
