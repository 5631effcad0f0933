//! One query contract, two backends: a collector answering from its files and one
//! answering from the ClickHouse table the first forwards to give the same pages, cursors,
//! filters, merged order, histogram and facet counts for the same data.

use serde_json::{json, Value};

use super::{forwarding, get, post, start, wait_rows};
use crate::support::{ClickHouseServer, Collector};

/// Entries of `alpha` (even milliseconds) and `beta` (odd), with levels, targets and
/// fields to filter on.
fn data() -> Vec<Value> {
    (0..120u64)
        .map(|n| {
            let service = if n % 2 == 0 { "alpha" } else { "beta" };
            json!({
                "service": service,
                "timestamp": format!("2026-12-01T10:00:{:02}.{:03}Z", n / 10, n % 1000),
                "level": (["debug", "info", "warn", "error", "fatal"][(n % 5) as usize]),
                "target": (["app::db", "app::http", "app::dbx", "other"][(n % 4) as usize]),
                "message": format!("entry {n} it's \"quoted\""),
                "fields": {"user": format!("u{}", n % 3), "code": n % 7, "ok": n % 2 == 0},
                "n": n,
            })
        })
        .collect()
}

/// Entries of `gamma` over 45 days, then ten a minute apart: backward pages from
/// ClickHouse look in growing windows back from the newest entry, and this walks them all.
fn spread() -> Vec<Value> {
    let base = 1_790_812_800i64; // 2026-10-01T00:00:00Z
    (0..100i64)
        .map(|n| {
            let at = if n < 90 {
                base + n * 43_200
            } else {
                base + 89 * 43_200 + (n - 89) * 60
            };
            let time = time::OffsetDateTime::from_unix_timestamp(at)
                .unwrap()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap();
            json!({"service": "gamma", "timestamp": time, "level": if n % 3 == 0 { "error" } else { "info" }, "n": n})
        })
        .collect()
}

/// Every page of `path` (which has a `limit`), following `next_cursor`; panics when the
/// answer is not 200 or names another backend.
fn walk(collector: &Collector, path: &str, backend: &str) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            None => path.to_owned(),
            Some(c) => format!("{path}&cursor={}", encode(c)),
        };
        let (status, named, body) = get(collector, &url);
        assert_eq!(status, 200, "{url}: {body}");
        assert_eq!(named, backend, "{url}");
        pages.push(body["logs"].clone());
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return pages,
        }
        assert!(pages.len() < 200, "{url}: cursors do not end");
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn files_and_clickhouse_answer_the_same_queries_the_same_way() {
    let server = ClickHouseServer::shared();
    let db = server.database("contract");
    let files = start(&forwarding(server, &db, "c-files"), &[]);
    let clickhouse = start(
        &forwarding(server, &db, "c-reader"),
        &["--query-backend", "clickhouse"],
    );
    let mut all = data();
    all.extend(spread());
    for chunk in all.chunks(40) {
        post(&files, chunk.to_vec());
    }
    wait_rows(server, &db, all.len() as u64);

    let window = "since=2026-12-01T10:00:01.000Z&until=2026-12-01T10:00:08.500Z";
    let queries = [
        "/logs/alpha?limit=7".to_owned(),
        "/logs/alpha?limit=7&order=asc".to_owned(),
        "/logs/beta?limit=11&order=desc".to_owned(),
        "/logs/alpha?limit=5&level=warn".to_owned(),
        "/logs/beta?limit=5&q=entry%201".to_owned(),
        "/logs/alpha?limit=4&target=app::db".to_owned(),
        "/logs/alpha?limit=4&field.fields.user=u1".to_owned(),
        "/logs/beta?limit=4&field.fields.code=3&order=asc".to_owned(),
        "/logs/alpha?limit=4&field.fields.ok=true".to_owned(),
        "/logs/alpha?limit=4&field.n=4".to_owned(),
        format!("/logs/alpha?limit=6&{window}"),
        "/logs?service=alpha,beta&limit=9".to_owned(),
        "/logs?service=alpha,beta&limit=9&order=asc&level=error".to_owned(),
        "/logs?limit=13&order=desc&target=app::http".to_owned(),
        format!("/logs?limit=8&{window}&field.fields.user=u2"),
        "/logs/nobody?limit=5".to_owned(),
        "/logs/gamma?limit=7".to_owned(),
        "/logs/gamma?limit=4&level=error".to_owned(),
        "/logs?service=gamma,alpha&limit=9&order=desc".to_owned(),
        "/logs/alpha?limit=6&q!=entry%201&target!=app::db".to_owned(),
        "/logs?limit=10&field.fields.user!=u1&field.fields.code!=3&order=asc".to_owned(),
    ];
    for query in &queries {
        let expected = walk(&files, query, "files");
        let got = walk(&clickhouse, query, "clickhouse");
        assert_eq!(got, expected, "{query}");
        assert!(
            expected
                .iter()
                .map(|p| p.as_array().unwrap().len())
                .sum::<usize>()
                > 0
                || query.contains("nobody"),
            "{query} matches something"
        );
    }

    for query in [
        format!("/histogram?service=alpha,beta&{window}&bucket=1s"),
        format!("/histogram?{window}&bucket=5s&level=warn"),
        format!("/histogram?service=beta&{window}&bucket=2s&field.fields.user=u0"),
        format!("/histogram?{window}&bucket=1s&target!=app&q!=entry%202"),
    ] {
        let (_, f_backend, f) = get(&files, &query);
        let (_, c_backend, c) = get(&clickhouse, &query);
        assert_eq!(
            (f_backend.as_str(), c_backend.as_str()),
            ("files", "clickhouse")
        );
        assert_eq!(c["buckets"], f["buckets"], "{query}");
        assert_eq!(c["totals"], f["totals"], "{query}");
        assert!(f["total"].as_u64() > Some(0), "{query}: {f}");
    }

    for query in [
        format!("/facets?field=fields.user&{window}"),
        format!("/facets?field=target&service=alpha&{window}&level=warn"),
        format!("/facets?field=fields.code&{window}&top=3"),
        format!("/facets?field=level&{window}&field.fields.ok!=true"),
    ] {
        let (_, _, f) = get(&files, &query);
        let (_, _, c) = get(&clickhouse, &query);
        assert_eq!(c["values"], f["values"], "{query}");
        assert_eq!(c["entries"], f["entries"], "{query}");
        assert_eq!(c["distinct"], f["distinct"], "{query}");
        assert!(!f["values"].as_array().unwrap().is_empty(), "{query}: {f}");
    }

    let names = |c: &Collector| -> Vec<Value> {
        let (status, _, body) = get(c, "/services");
        assert_eq!(status, 200);
        body["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["service"].clone())
            .collect()
    };
    assert_eq!(names(&clickhouse), names(&files));

    // A cursor of one backend is refused by the other, with a 400 naming it.
    let (_, _, page) = get(&files, "/logs/alpha?limit=2");
    let cursor = page["next_cursor"].as_str().unwrap();
    let (status, _, body) = get(&clickhouse, &format!("/logs/alpha?limit=2&cursor={cursor}"));
    assert_eq!(
        (status, body["parameter"].as_str()),
        (400, Some("cursor")),
        "{body}"
    );
}
