//! `estuary query` prints matches, readable or NDJSON, following cursors.

use std::process::Command;

use serde_json::json;

use crate::support::{estuary_bin, Collector};

fn query(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(estuary_bin())
        .arg("query")
        .args(args)
        .output()
        .expect("run estuary query");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn query_prints_filtered_entries_and_follows_cursors() {
    let collector = Collector::start();
    let body: Vec<_> = (0..2500)
        .map(|i| json!({"service": "cli", "level": if i % 2 == 0 { "ERROR" } else { "INFO" }, "message": format!("m{i}"), "i": i, "fields": {"k": i % 3}}))
        .collect();
    assert_eq!(collector.post_json(&json!(body)).0, 201);

    let (ok, out, err) = query(&[
        "cli",
        "--url",
        &collector.url,
        "--json",
        "--level",
        "error",
        "--limit",
        "1500",
    ]);
    assert!(ok, "{err}");
    let ids: Vec<u64> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("ndjson")["i"]
                .as_u64()
                .expect("i")
        })
        .collect();
    let want: Vec<u64> = (0..2500).filter(|i| i % 2 == 0).map(|i| i as u64).collect();
    assert_eq!(ids, want, "all 1,250 errors (over two pages), oldest first");

    let (ok, out, _) = query(&["cli", "--url", &collector.url, "--json", "--limit", "10"]);
    assert!(ok);
    let last: Vec<u64> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("ndjson")["i"]
                .as_u64()
                .expect("i")
        })
        .collect();
    assert_eq!(last, (2490..2500).collect::<Vec<_>>());

    let (ok, out, _) = query(&[
        "cli",
        "--url",
        &collector.url,
        "--json",
        "--all",
        "--field",
        "fields.k=1",
    ]);
    assert!(ok);
    assert_eq!(
        out.lines().count(),
        (0..2500).filter(|i| i % 3 == 1).count()
    );

    let (ok, out, _) = query(&["cli", "--url", &collector.url, "--grep", "m2499"]);
    assert!(ok);
    assert!(
        out.contains("INFO")
            && out.contains("cli")
            && out.contains("m2499")
            && out.contains("i=2499"),
        "{out}"
    );

    let (ok, _, err) = query(&["cli", "--url", &collector.url, "--level", "loud"]);
    assert!(!ok && err.contains("level"), "{err}");
}
