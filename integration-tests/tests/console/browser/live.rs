//! Following entries live and pausing, the keyboard, an entry's context, and a long list.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{rows_settled, CHECKOUT};
use crate::console::Browser;
use crate::support::Collector;

pub(super) fn follows_live_and_pauses(browser: &Browser, collector: &Collector) {
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
    rows_settled(browser, CHECKOUT + 2);
    // The count is updated at once, the rows at the next frame: wait for the rows.
    browser.until(
        "the held entry on top, above the one before it",
        "const r = document.querySelectorAll('#results .row'); \
         return r.length > 1 && r[0].textContent.includes('while paused') && r[1].textContent.includes('live one')",
    );
    let rows = browser.rows();
    assert!(!rows.iter().any(|r| r.contains("not here")), "{rows:?}");
    browser.click("#live");
    browser.until("live off", "return document.body.dataset.live === 'off'");
    pauses_when_scrolled_away(browser, collector);
}

/// Scrolling away from the top pauses live; "N new — back to live" returns to the top with
/// what arrived meanwhile. (A service of its own, so the others' counts stay as seeded.)
fn pauses_when_scrolled_away(browser: &Browser, collector: &Collector) {
    let entries: Vec<Value> = (0..60)
        .map(|i| json!({"service": "scroll", "message": format!("line {i}")}))
        .collect();
    assert_eq!(collector.post_json(&json!(entries)).0, 201);
    browser.goto(&format!("{}/?service=scroll", collector.url));
    rows_settled(browser, 60);
    browser.click("#live");
    browser.until(
        "the live stream",
        "return document.body.dataset.live === 'on'",
    );
    browser.js("document.getElementById('results').scrollTop = 400; return true");
    browser.until(
        "paused by scrolling",
        "return document.body.dataset.live === 'paused'",
    );
    let entry = json!({"service": "scroll", "message": "arrived while away"});
    assert_eq!(collector.post_json(&entry).0, 201);
    browser.until(
        "the new-entries button",
        "const b = document.getElementById('back-to-live'); return !b.hidden && b.textContent === '1 new — back to live'",
    );
    browser.click("#back-to-live");
    browser.until("live again", "return document.body.dataset.live === 'on'");
    let rows = rows_settled(browser, 61);
    assert!(rows[0].contains("arrived while away"), "{rows:?}");
    assert_eq!(
        browser.js("return document.getElementById('results').scrollTop"),
        json!(0)
    );
    browser.click("#live");
    browser.until("live off", "return document.body.dataset.live === 'off'");
}

pub(super) fn moves_with_the_keyboard_and_opens_context(browser: &Browser, collector: &Collector) {
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

    // A field named in the facets panel lists its values; one filters.
    browser.type_into("#facet-field", "fields.user_id\u{E007}");
    browser.click("#facet-list button[data-field='fields.user_id'][data-value='3']");
    browser.until(
        "the named facet in the URL",
        "return location.search === '?service=checkout&field.host=web-1&field.fields.user_id=3'",
    );
    rows_settled(browser, CHECKOUT / 4);

    // Nothing matching is said so.
    browser.type_into("#q", "no such text\u{E007}");
    rows_settled(browser, 0);

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

pub(super) fn scrolls_ten_thousand_entries_with_few_rows(browser: &Browser, collector: &Collector) {
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
