//! The dark theme, the token prompt and an unreachable collector.

use serde_json::json;

use super::{rows_settled, CHECKOUT, INGEST, QUERY};
use crate::console::Browser;
use crate::support::{http, ChromeDriver, Collector};

pub(super) fn dark_theme(driver: &ChromeDriver, collector: &Collector) {
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
    browser.click("#results .row[data-i='5']");
    browser.until(
        "the detail view",
        "return !document.getElementById('detail').hidden",
    );
    browser.screenshot("console-dark.png");
}

pub(super) fn asks_for_a_token(driver: &ChromeDriver) {
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
