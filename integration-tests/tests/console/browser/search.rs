//! Finding entries: services, text, level, filters and exclusions, the histogram, hostile
//! entries and bad parameters.

use serde_json::json;

use super::{api, rows_settled, search_of, CHECKOUT, HOSTILE};
use crate::console::Browser;
use crate::support::Collector;

pub(super) fn opens_with_every_service(browser: &Browser, collector: &Collector) {
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

pub(super) fn picks_searches_and_sets_a_level(browser: &Browser, collector: &Collector) {
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

pub(super) fn filters_from_the_detail_view_and_reloads(browser: &Browser, collector: &Collector) {
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

pub(super) fn zooms_with_the_histogram(browser: &Browser, collector: &Collector) {
    browser.goto(&format!("{}/?service=checkout&since=24h", collector.url));
    rows_settled(browser, CHECKOUT);
    let start = browser.until(
        "a bar with entries",
        "const b = [...document.querySelectorAll('#histogram-svg .bucket')].filter(b => b.dataset.total > 0); return b.length > 1 && b[b.length - 1].dataset.start",
    );
    let start = start.as_str().unwrap();
    let bar = format!("#histogram-svg .bucket[data-start='{start}']");
    // Hovering shows the bar's counts.
    browser.hover(&bar);
    let tip = browser.until(
        "the tooltip",
        "const t = document.getElementById('histogram-tip'); return !t.hidden && t.textContent",
    );
    let total = browser.js(&format!(
        "return document.querySelector(\"{bar}\").dataset.total"
    ));
    assert!(
        tip.as_str()
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .ends_with(&format!(" {}", total.as_str().unwrap())),
        "{tip} for a bar of {total}"
    );
    browser.click(&bar);
    let search = browser.until(
        "the zoomed window in the URL",
        &format!("return location.search.includes('since={start}') && location.search"),
    );
    let search = search.as_str().unwrap().trim_start_matches('?').to_owned();
    assert!(search.contains("&until="), "{search}");
    // The time range shows the window as from–to (UTC).
    let range = browser.js(
        "return [document.getElementById('range').value, document.getElementById('from').value]",
    );
    // (Chromium leaves out zero seconds.)
    assert_eq!(range, json!(["custom", &start[..16]]), "{range}");
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

    // Back to the day, and a drag across the bars with entries zooms to exactly them.
    browser.back();
    rows_settled(browser, CHECKOUT);
    let ends = browser.until(
        "the day's bars",
        "const b = [...document.querySelectorAll('#histogram-svg .bucket')].filter(b => b.dataset.total > 0); \
         return b.length > 1 && [b[0].dataset.start, b[b.length - 1].dataset.start]",
    );
    let (first, last) = (ends[0].as_str().unwrap(), ends[1].as_str().unwrap());
    browser.drag(
        &format!("#histogram-svg .bucket[data-start='{first}']"),
        &format!("#histogram-svg .bucket[data-start='{last}']"),
    );
    let search = browser.until(
        "the dragged window in the URL",
        &format!("return location.search.includes('since={first}') && location.search"),
    );
    let search = search.as_str().unwrap().trim_start_matches('?').to_owned();
    let expected = api(collector, "/logs", &format!("{search}&limit=1000"));
    assert_eq!(expected["count"], json!(CHECKOUT), "{search}");
    rows_settled(browser, CHECKOUT);
}

pub(super) fn renders_hostile_entries_as_text(browser: &Browser, collector: &Collector) {
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

pub(super) fn names_the_bad_parameter(browser: &Browser, collector: &Collector) {
    browser.goto(&format!("{}/?level=loud", collector.url));
    let banner = browser.until(
        "the error banner",
        "const b = document.getElementById('banner'); return !b.hidden && b.textContent",
    );
    assert!(banner.as_str().unwrap().contains("\"level\""), "{banner}");
    let chips = browser.js("return document.getElementById('chips').textContent");
    assert_eq!(chips, json!(""), "level is no chip: it is the level select");
}
