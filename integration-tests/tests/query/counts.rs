//! `GET /histogram`, `GET /facets` and `estuary stats` against the real binary: counts equal
//! what was sent, with and without filters, across rotated segments; time windows read only
//! the blocks that can hold them.

use std::process::Command;

use serde_json::{json, Value};

use crate::support::{estuary_bin, Collector};

const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "fatal"];

/// 3,000 entries over two services, one per second ending two minutes ago, levels and
/// users cycling; entries with no level count as info.
fn fill(collector: &Collector) -> Vec<Value> {
    let end = time::OffsetDateTime::now_utc() - time::Duration::minutes(2);
    let entries: Vec<Value> = (0..3000i64)
        .map(|i| {
            let ts = end - time::Duration::seconds(3000 - i);
            let mut entry = json!({
                "service": if i % 3 == 0 { "count-b" } else { "count-a" },
                "message": format!("m{i}"),
                "user": format!("u{}", i % 7),
                "timestamp": ts.format(&time::format_description::well_known::Rfc3339).unwrap(),
            });
            if i % 10 != 0 {
                entry["level"] = json!(LEVELS[(i % 6) as usize].to_uppercase());
            }
            entry
        })
        .collect();
    for chunk in entries.chunks(500) {
        assert_eq!(collector.post_json(&json!(chunk)).0, 201);
    }
    entries
}

fn level_of(entry: &Value) -> &str {
    entry["level"].as_str().map_or("info", |l| {
        LEVELS
            .iter()
            .find(|x| x.eq_ignore_ascii_case(l))
            .copied()
            .unwrap_or("info")
    })
}

#[test]
fn histograms_and_facets_count_exactly_what_was_stored() {
    // Small rotations: the counts cross gzip segments and the active file.
    let collector = Collector::start_with(&["--rotate-bytes", "60000"], &[]);
    let entries = fill(&collector);

    let (status, all) = collector.get("/histogram?since=2h&bucket=1m");
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["total"], 3000, "{all}");
    for level in LEVELS {
        let expected = entries.iter().filter(|e| level_of(e) == level).count();
        assert_eq!(all["totals"][level], expected, "{level}: {all}");
    }
    assert_eq!(all["bucket_seconds"], 60.0);
    let bucket_sum: u64 = all["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["total"].as_u64().unwrap())
        .sum();
    assert_eq!(bucket_sum, 3000);
    assert!(
        all["index_blocks"].as_u64().unwrap() > 0,
        "answered from the index: {all}"
    );

    let (_, errors) = collector.get("/histogram?service=count-a&since=2h&level=error");
    let expected = entries
        .iter()
        .filter(|e| e["service"] == "count-a" && matches!(level_of(e), "error" | "fatal"))
        .count();
    assert_eq!(errors["total"], expected, "{errors}");
    assert_eq!(errors["services"], json!(["count-a"]));

    let (_, text) = collector.get("/histogram?since=2h&q=%22u3%22");
    let expected = entries.iter().filter(|e| e["user"] == "u3").count();
    assert_eq!(text["total"], expected, "{text}");

    let (status, facets) = collector.get("/facets?since=2h&field=user&top=3");
    assert_eq!(status, 200, "{facets}");
    assert_eq!(facets["exhaustive"], true);
    assert_eq!(facets["entries"], 3000);
    assert_eq!(facets["distinct"], 7);
    let values = facets["values"].as_array().unwrap();
    assert_eq!(values.len(), 3);
    assert_eq!(values[0]["count"], 429); // 3000 = 7 × 428 + 4: u0…u3 have 429
    assert_eq!(values[0]["value"], "u0");

    let (status, bad) = collector.get("/facets?since=2h");
    assert_eq!((status, bad["parameter"].as_str()), (400, Some("field")));
    let (status, bad) = collector.get("/histogram?bucket=soon");
    assert_eq!((status, bad["parameter"].as_str()), (400, Some("bucket")));
}

#[test]
fn a_short_window_reads_only_the_blocks_that_can_hold_it() {
    let collector = Collector::start();
    let entries = fill(&collector);
    let full = collector.get("/logs/count-a?limit=10000").1;
    // The last five minutes of data: the window starts about 400 entries from the end.
    let since = entries[2600]["timestamp"].as_str().unwrap().to_owned();
    let (_, window) = collector.get(&format!("/logs/count-a?limit=10000&since={since}"));
    let expected = entries[2600..]
        .iter()
        .filter(|e| e["service"] == "count-a")
        .count();
    assert_eq!(window["count"], expected, "{window}");
    let (all_bytes, window_bytes) = (
        full["scanned_bytes"].as_u64().unwrap(),
        window["scanned_bytes"].as_u64().unwrap(),
    );
    assert!(
        window_bytes * 3 < all_bytes,
        "a window of 1/7 of the data read {window_bytes} of {all_bytes} bytes"
    );
    // Oldest first, the same window, the same entries, the same saving.
    let (_, asc) = collector.get(&format!(
        "/logs/count-a?limit=10000&order=asc&since={since}"
    ));
    assert_eq!(asc["count"], expected, "{asc}");
    let asc_bytes = asc["scanned_bytes"].as_u64().unwrap();
    assert!(
        asc_bytes * 3 < all_bytes,
        "oldest first read {asc_bytes} of {all_bytes} bytes"
    );
}

#[test]
fn estuary_stats_prints_bars_and_totals() {
    let collector = Collector::start();
    fill(&collector);
    let run = |args: &[&str]| {
        let out = Command::new(estuary_bin())
            .arg("stats")
            .args(args)
            .args(["--url", &collector.url, "--since", "2h"])
            .output()
            .expect("run estuary stats");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf8")
    };
    let json: Value = serde_json::from_str(&run(&["count-b", "--json"])).expect("json");
    assert_eq!(json["total"], 1000);
    let bars = run(&["--bucket", "10m"]);
    let lines: Vec<&str> = bars.lines().collect();
    assert_eq!(
        lines.len(),
        14,
        "13 ten-minute buckets cover 2 h, and a totals line:\n{bars}"
    );
    assert!(lines.last().unwrap().starts_with("total 3000:"), "{bars}");
    assert!(lines.iter().any(|l| l.contains('█')), "{bars}");
    assert!(!bars.contains('\x1b'), "no colours when not on a terminal");
}

#[test]
fn counts_stay_exact_after_a_kill_and_a_damaged_index() {
    let mut collector = Collector::start_with(&["--rotate-bytes", "60000"], &[]);
    fill(&collector);
    let before = collector.get("/histogram?since=2h&bucket=1m").1;
    assert_eq!(before["total"], 3000);
    // Killed with blocks still open in memory: the index is behind the data.
    collector.kill();
    // And one segment's index torn, another's gone.
    let folder = collector.dir.join("segments").join("count-a");
    // The segments' indexes (the active file's, named by its start, is left alone).
    let base = std::fs::read_to_string(folder.join("base")).unwrap();
    let mut sidecars: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "idx"))
        .filter(|p| !p.ends_with(format!("{}.idx", base.trim())))
        .collect();
    sidecars.sort();
    assert!(sidecars.len() >= 3, "{sidecars:?}");
    let torn = std::fs::read(&sidecars[0]).unwrap();
    std::fs::write(&sidecars[0], &torn[..torn.len() - 9]).unwrap();
    std::fs::remove_file(&sidecars[1]).unwrap();
    collector.start_again();
    let after = collector.get("/histogram?since=2h&bucket=1m").1;
    assert_eq!(after["buckets"], before["buckets"], "{after}");
    // The deleted index comes back (rebuilt in the background from its segment).
    crate::support::wait_until(
        std::time::Duration::from_secs(20),
        "the index rebuilt",
        || sidecars[1].exists(),
    );
}
