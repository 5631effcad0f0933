//! The console in a real browser, against the real binary with real data: every scenario
//! of the issue, one after another in one chromedriver (a new page per scenario): finding
//! entries ([`search`]), following them live and moving around ([`live`]), and what a
//! whole session meets — the dark theme, a token, an unreachable collector ([`session`]).

mod live;
mod search;
mod session;

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;

use super::Browser;
use crate::support::{http, ChromeDriver, Collector};

pub(super) const INGEST: &str = "ingest-9f8e7d6c5b4a39281706f5e4d3c2b1a0";
pub(super) const QUERY: &str = "query-0a1b2c3d4e5f60718293a4b5c6d7e8f9";
pub(super) const HOSTILE: &str = "<img src=x onerror=alert(1)>";
/// Entries of `checkout`, one every 150 s back from two minutes ago (sent oldest first, as
/// logs arrive: the store lists entries in the order they came).
pub(super) const CHECKOUT: usize = 40;

pub(super) fn stamp(seconds_ago: i64) -> String {
    (time::OffsetDateTime::now_utc() - time::Duration::seconds(seconds_ago))
        .format(&Rfc3339)
        .expect("RFC 3339")
}

pub(super) fn seed(collector: &Collector) {
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
pub(super) fn api(collector: &Collector, path: &str, search: &str) -> Value {
    let sep = if path.contains('?') { '&' } else { '?' };
    let url = format!(
        "{}{path}{sep}{}",
        collector.url,
        search.trim_start_matches('?')
    );
    http().get(url).send().expect("API").json().expect("JSON")
}

pub(super) fn search_of(url: &str) -> String {
    url.split_once('?')
        .map(|(_, q)| q.to_owned())
        .unwrap_or_default()
}

/// Waits until the list holds `n` entries (the status says so and the rows are drawn), and
/// gives back the rows in the DOM (those on screen and a margin of 20, as `results.js` draws
/// them: all of them, for short lists).
pub(super) fn rows_settled(browser: &Browser, n: usize) -> Vec<String> {
    let status = if n == 0 {
        "No entries match.".to_owned()
    } else {
        format!("{n} entries")
    };
    browser.until(
        &format!("{n} entries"),
        &format!(
            "return document.getElementById('status').textContent.split(' ·')[0] === '{status}' \
             && !document.getElementById('results').hasAttribute('aria-busy') \
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

    search::opens_with_every_service(&browser, &collector);
    search::picks_searches_and_sets_a_level(&browser, &collector);
    search::filters_from_the_detail_view_and_reloads(&browser, &collector);
    search::zooms_with_the_histogram(&browser, &collector);
    search::renders_hostile_entries_as_text(&browser, &collector);
    search::names_the_bad_parameter(&browser, &collector);
    live::follows_live_and_pauses(&browser, &collector);
    live::moves_with_the_keyboard_and_opens_context(&browser, &collector);
    live::scrolls_ten_thousand_entries_with_few_rows(&browser, &collector);
    drop(browser);

    session::dark_theme(&driver, &collector);
    session::asks_for_a_token(&driver);
}
