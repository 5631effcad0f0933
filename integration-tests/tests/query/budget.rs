//! Queries with a budget: a scan that reads `--max-scan-bytes` answers with what it found and
//! a cursor to go on; a scan whose client hangs up stops; shutdown does not wait for scans.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{entry_numbers, wait_until, Collector};

/// 3,000 entries over services a and b, every tenth an error, one per second.
fn fill(collector: &Collector) {
    let entries: Vec<Value> = (0..3000)
        .map(|i| {
            json!({
                "service": if i % 2 == 0 { "a" } else { "b" },
                "level": if i % 10 == 0 { "error" } else { "info" },
                "i": i,
                "pad": "p".repeat(60),
                "timestamp": format!("2026-11-20T{:02}:{:02}:{:02}Z", i / 3600, i / 60 % 60, i % 60),
            })
        })
        .collect();
    for chunk in entries.chunks(500) {
        assert_eq!(collector.post_json(&json!(chunk)).0, 201);
    }
}

/// Walks every page of `query` newest first; returns the `i`s and how many pages stopped
/// at the budget.
fn walk(collector: &Collector, query: &str) -> (Vec<u64>, usize) {
    let pages = collector.pages(&format!("{query}&order=desc"));
    let mut stopped = 0;
    for page in pages.iter().filter(|page| page.get("stopped").is_some()) {
        assert_eq!(page["stopped"], "scan_bytes", "{page}");
        assert!(
            page["next_cursor"].is_string(),
            "a stopped page continues: {page}"
        );
        stopped += 1;
    }
    (entry_numbers(&pages, "i"), stopped)
}

#[test]
fn a_query_over_its_budget_answers_what_it_found_and_its_cursor_goes_on() {
    let collector = Collector::start_with(&["--max-scan-bytes", "30000"], &[]);
    fill(&collector);
    let (status, first) = collector.get("/logs/a?level=error&limit=1000");
    assert_eq!(status, 200);
    assert_eq!(first["stopped"], "scan_bytes", "{first}");
    assert!(first["count"].as_u64().unwrap() < 150, "{first}");
    assert!(
        first["scanned_bytes"].as_u64().unwrap() < 100_000,
        "{first}"
    );

    let (ids, stopped) = walk(&collector, "/logs/a?level=error&limit=1000");
    let want: Vec<u64> = (0..3000).rev().filter(|i| i % 10 == 0).collect();
    assert_eq!(ids, want, "every error of a, once, newest first");
    assert!(stopped > 3, "{stopped}");

    // Merged: pages stop too, and the walk keeps the order by time across services.
    let (ids, stopped) = walk(&collector, "/logs?service=a,b&limit=1000&q=%22pad%22");
    assert_eq!(ids, (0..3000).rev().collect::<Vec<u64>>());
    assert!(stopped > 3, "{stopped}");

    // Counting scans have the same budget: a `q` histogram, which the count index cannot
    // answer, and facets say they stopped and count only part of the window.
    let window = "since=2026-11-20T00:00:00Z&until=2026-11-20T01:00:00Z";
    let (status, histogram) =
        collector.get(&format!("/histogram?service=a,b&q=%22pad%22&{window}"));
    assert_eq!(status, 200, "{histogram}");
    assert_eq!(histogram["stopped"], "scan_bytes", "{histogram}");
    let counted = histogram["total"].as_u64().unwrap();
    assert!(counted > 0 && counted < 3000, "{histogram}");
    let (status, facets) = collector.get(&format!(
        "/facets?service=a,b&field=level&q=%22pad%22&{window}"
    ));
    assert_eq!(status, 200, "{facets}");
    assert_eq!(facets["stopped"], "scan_bytes", "{facets}");
    assert_eq!(facets["exhaustive"], false, "{facets}");
    assert!(facets["entries"].as_u64().unwrap() < 3000, "{facets}");

    // Without the text filter the index answers: nothing to read, nothing stopped.
    let (_, indexed) = collector.get(&format!("/histogram?service=a,b&{window}"));
    assert_eq!(indexed["total"], 3000, "{indexed}");
    assert!(indexed.get("stopped").is_none(), "{indexed}");
}

/// A service of wide entries whose field-filtered scan takes seconds.
fn fill_wide(collector: &Collector) {
    let fields: serde_json::Map<String, Value> =
        (0..40).map(|j| (format!("k{j}"), json!(j))).collect();
    let line = |i: usize| {
        let mut entry = fields.clone();
        entry.insert("service".into(), json!("wide"));
        entry.insert("i".into(), json!(i));
        Value::Object(entry).to_string()
    };
    for batch in 0..12 {
        let body: String = (0..5000).map(|i| line(batch * 5000 + i) + "\n").collect();
        let (status, answer) = collector.post_raw("application/x-ndjson", None, body.into_bytes());
        assert_eq!(status, 201, "{answer}");
    }
}

fn queries_running(collector: &Collector) -> u64 {
    collector.get("/health").1["queries_running"]
        .as_u64()
        .expect("queries_running")
}

/// The queries of [`a_scan_stops_when_its_client_hangs_up_and_at_shutdown`]: a page, a
/// histogram and facets, each reading the whole service and matching nothing.
const SLOW_QUERIES: [&str; 3] = [
    "/logs/wide?field.k3=none",
    "/histogram?service=wide&field.k3=none",
    "/facets?service=wide&field=k3&field.k3=none",
];

#[test]
fn a_scan_stops_when_its_client_hangs_up_and_at_shutdown() {
    let mut collector = Collector::start_with(&["--max-scan-secs", "0"], &[]);
    fill_wide(&collector);
    let send_query = |path: &str| {
        let mut client = TcpStream::connect(("127.0.0.1", collector.port)).expect("connect");
        write!(client, "GET {path} HTTP/1.1\r\nHost: e\r\n\r\n").expect("send");
        // Each kind of query takes a query thread while it scans.
        wait_until(Duration::from_secs(10), "the scan to start", || {
            queries_running(&collector) == 1
        });
        client
    };
    for path in SLOW_QUERIES {
        let started = Instant::now();
        let (status, answer) = collector.get(path);
        let full_scan = started.elapsed();
        assert_eq!(status, 200, "{path}: {answer}");
        assert!(answer.get("stopped").is_none(), "{path}: {answer}");

        let client = send_query(path);
        let hung_up = Instant::now();
        drop(client);
        wait_until(full_scan, "the abandoned scan to stop", || {
            queries_running(&collector) == 0
        });
        let stopped_after = hung_up.elapsed();
        assert!(
            stopped_after * 3 < full_scan,
            "{path}: stopped {stopped_after:?} after the hang-up; a whole scan takes {full_scan:?}"
        );
    }

    // SIGTERM while a scan runs: the process exits without finishing it.
    let started = Instant::now();
    collector.get(SLOW_QUERIES[0]);
    let full_scan = started.elapsed();
    let _client = send_query(SLOW_QUERIES[0]);
    let asked = Instant::now();
    let exit = collector.terminate();
    assert!(exit.success(), "{exit}");
    assert!(
        asked.elapsed() < full_scan,
        "shutdown waited for the scan: {:?}",
        asked.elapsed()
    );
}
