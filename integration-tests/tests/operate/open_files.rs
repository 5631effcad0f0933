//! Open files are bounded and given back: writers close when idle and least recently used
//! first at the bound, under a small `ulimit -n`, with every entry stored.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{wait_until, Collector};

/// Descriptors the process holds now.
fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Resident memory of the process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[test]
fn twenty_thousand_services_under_ulimit_1024_are_all_stored_with_files_bounded() {
    let collector = Collector::start_with_open_file_limit(1024, &["--writer-idle-secs", "1"], &[]);
    let pid = collector.pid();
    let (_, health) = collector.get("/health");
    let max_writers = health["max_open_writers"].as_u64().expect("bound");
    assert_eq!(
        max_writers, 256,
        "half of 1024 files, two per writer: {health}"
    );
    let rss_before = rss_kib(pid);

    const SERVICES: usize = 20_000;
    let mut most_descriptors = 0;
    let mut most_writers = 0;
    for chunk in (0..SERVICES).collect::<Vec<_>>().chunks(500) {
        let body: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"service": format!("svc-{i:05}"), "i": i}))
            .collect();
        let (status, answer) = collector.post_json(&json!(body));
        assert_eq!(status, 201, "{answer}");
        most_descriptors = most_descriptors.max(open_descriptors(pid));
        let (_, health) = collector.get("/health");
        assert_eq!(health["status"], "healthy", "{health}");
        most_writers = most_writers.max(health["open_writers"].as_u64().expect("writers"));
    }
    assert!(
        most_descriptors < 1024 * 3 / 4,
        "descriptors stayed well under the limit: {most_descriptors}"
    );
    assert!(
        most_writers <= max_writers + 500,
        "writers beyond the bound only while retiring: {most_writers}"
    );

    // Every entry is stored, once, and reads work for old and new services alike.
    let mut stored = 0;
    for entry in std::fs::read_dir(&collector.dir).expect("log dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "log") {
            let text = std::fs::read_to_string(&path).expect("read");
            assert_eq!(text.lines().count(), 1, "{}", path.display());
            stored += 1;
        }
    }
    assert_eq!(stored, SERVICES);
    for service in ["svc-00000", "svc-12345", "svc-19999"] {
        let (status, page) = collector.get(&format!("/logs/{service}"));
        assert_eq!((status, page["count"].as_u64()), (200, Some(1)), "{page}");
    }
    let (status, services) = collector.get("/services");
    assert_eq!(status, 200);
    assert_eq!(
        services["services"].as_array().expect("list").len(),
        SERVICES
    );

    // Idle writers close: the files are given back and memory returns near its start.
    wait_until(Duration::from_secs(30), "idle writers to close", || {
        collector.get("/health").1["open_writers"] == 0
    });
    assert!(
        open_descriptors(pid) < 64,
        "only the listener, logs and a few more stay open: {}",
        open_descriptors(pid)
    );
    // Within the blocking pool's keep-alive (its idle threads exit after 10 s).
    wait_until(
        Duration::from_secs(15),
        "memory back near its start",
        || rss_kib(pid) < rss_before + 16 * 1024,
    );

    // A service that wrote before gets a new writer that appends after its old line.
    let (status, _) = collector.post_json(&json!({"service": "svc-00000", "i": "again"}));
    assert_eq!(status, 201);
    assert_eq!(collector.get("/logs/svc-00000").1["count"], 2);
}
