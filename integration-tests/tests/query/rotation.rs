//! Rotation under load loses and duplicates nothing; compressed segments are read; retention
//! deletes the right segments and only those.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::support::{entry_numbers, free_port, wait_until, Collector};

fn segment_files(dir: &Path, service: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("segments").join(service))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(".log"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn all_seqs(collector: &Collector, service: &str) -> Vec<u64> {
    entry_numbers(
        &collector.pages(&format!("/logs/{service}?order=asc&limit=1000")),
        "seq",
    )
}

#[test]
fn rotation_under_load_loses_and_duplicates_nothing_and_gzip_segments_are_read() {
    let collector = Collector::start_with(&["--rotate-bytes", "20000"], &[]);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let url = format!("{}/logs", collector.url);
            std::thread::spawn(move || {
                let client = crate::support::http();
                for b in 0..25 {
                    let batch: Vec<_> = (0..50).map(|k| json!({"service": "rot", "seq": t * 10_000 + b * 50 + k, "pad": "r".repeat(40)})).collect();
                    assert_eq!(client.post(&url).json(&batch).send().expect("post").status().as_u16(), 201);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("thread");
    }
    wait_until(Duration::from_secs(20), "segments to be compressed", || {
        let names = segment_files(&collector.dir, "rot");
        names.len() >= 5 && names.iter().all(|n| n.ends_with(".log.gz"))
    });
    let names = segment_files(&collector.dir, "rot");
    assert!(
        names.iter().all(|n| n.split('_').count() == 5),
        "time ranges in names: {names:?}"
    );
    let mut seqs = all_seqs(&collector, "rot");
    assert_eq!(seqs.len(), 5000, "lost or duplicated entries");
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 5000);
    // Each thread's entries stay in order across segments.
    let per_thread = all_seqs(&collector, "rot");
    for t in 0..4u64 {
        let mine: Vec<u64> = per_thread
            .iter()
            .copied()
            .filter(|s| s / 10_000 == t)
            .collect();
        assert!(
            mine.windows(2).all(|w| w[0] < w[1]),
            "thread {t} out of order"
        );
    }
    let (_, tail) = collector.get("/logs/rot?limit=2000");
    assert_eq!(tail["count"], 2000);
    assert!(
        tail["files_scanned"].as_u64().expect("files") > 1,
        "the tail spans segments"
    );
}

#[test]
fn a_time_bounded_query_skips_segments_outside_the_window() {
    let collector = Collector::start_with(
        &["--rotate-bytes", "2000", "--compress-segments", "false"],
        &[],
    );
    for hour in 0..8 {
        let batch: Vec<_> = (0..40).map(|m| json!({"service": "tw", "seq": hour * 100 + m, "timestamp": format!("2026-11-20T{hour:02}:{m:02}:00Z")})).collect();
        assert_eq!(collector.post_json(&json!(batch)).0, 201);
    }
    wait_until(
        Duration::from_secs(20),
        "segments named with their time range",
        || {
            let names = segment_files(&collector.dir, "tw");
            names.len() >= 8 && names.iter().all(|n| n.split('_').count() == 5)
        },
    );
    let (_, body) =
        collector.get("/logs/tw?since=2026-11-20T03:00:00Z&until=2026-11-20T03:59:59Z&limit=1000");
    assert_eq!(body["count"], 40);
    assert!(
        body["segments_skipped"].as_u64().expect("skipped") >= 6,
        "{body}"
    );
}

#[test]
fn retention_deletes_the_oldest_segments_beyond_the_byte_budget_and_only_those() {
    let collector = Collector::start_with(
        &[
            "--rotate-bytes",
            "10000",
            "--compress-segments",
            "false",
            "--retain-service-bytes",
            "40000",
            "--retention-interval-secs",
            "1",
        ],
        &[("RUST_LOG", "info")],
    );
    for b in 0..30 {
        let batch: Vec<_> = (0..20)
            .map(|k| json!({"service": "ret", "seq": b * 20 + k, "pad": "x".repeat(60)}))
            .collect();
        assert_eq!(collector.post_json(&json!(batch)).0, 201);
    }
    let dir = collector.dir.join("segments").join("ret");
    wait_until(Duration::from_secs(20), "retention to trim", || {
        let segs: u64 = segment_files(&collector.dir, "ret")
            .iter()
            .map(|n| std::fs::metadata(dir.join(n)).map_or(0, |m| m.len()))
            .sum();
        let active = std::fs::metadata(collector.log_path("ret")).map_or(0, |m| m.len());
        segs + active <= 40_000
    });
    let seqs = all_seqs(&collector, "ret");
    assert!(!seqs.is_empty());
    assert_eq!(
        *seqs.last().expect("newest"),
        599,
        "the newest entries are kept"
    );
    let oldest = seqs[0];
    assert!(oldest > 0, "the oldest were deleted");
    assert_eq!(
        seqs,
        (oldest..600).collect::<Vec<_>>(),
        "only whole oldest segments go"
    );
    assert!(
        collector.log_path("ret").exists(),
        "the active file is never deleted"
    );
    assert!(collector.stderr().contains("retention deleted a segment"));
}

#[test]
fn retention_by_age_deletes_old_segments_and_keeps_recent_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seg = dir.path().join("segments").join("aged");
    std::fs::create_dir_all(&seg).expect("dir");
    let old = "20200101T000000.000000000Z_0_12.log";
    let recent = format!("{}_12_24.log", time_now_compact());
    std::fs::write(seg.join(old), "{\"seq\":0}\n{\"s\":1}\n").expect("old");
    std::fs::write(seg.join(&recent), "{\"seq\":1}\n{\"s\":2}\n").expect("recent");
    let collector = Collector::start_in(
        dir.path(),
        free_port(),
        &["--retain-age", "1h", "--retention-interval-secs", "1"],
        &[],
    );
    // At start-up both pending segments are finished (renamed, compressed): follow them by
    // their stream range, which the new names keep.
    let old_range = "_0_12";
    let recent_range = recent
        .trim_end_matches(".log")
        .split_once('_')
        .expect("name")
        .1;
    wait_until(Duration::from_secs(20), "the old segment to go", || {
        segment_files(dir.path(), "aged")
            .iter()
            .all(|name| !name.contains(old_range))
    });
    let left = segment_files(dir.path(), "aged");
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].contains(&format!("_{recent_range}")), "{left:?}");
    let (_, body) = collector.get("/logs/aged?limit=10");
    assert_eq!(body["logs"][0]["seq"], 1);
}

fn time_now_compact() -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y%m%dT%H%M%S.000000000Z"])
        .output()
        .expect("date");
    String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_owned()
}

#[test]
fn daily_rotation_closes_yesterdays_file_before_todays_first_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let active = dir.path().join("daily.log");
    std::fs::write(
        &active,
        "{\"seq\":0,\"timestamp\":\"2026-01-01T00:00:00Z\"}\n",
    )
    .expect("seed");
    let yesterday = std::time::SystemTime::now() - Duration::from_secs(36 * 3600);
    std::fs::File::options()
        .write(true)
        .open(&active)
        .and_then(|f| f.set_modified(yesterday))
        .expect("set mtime");
    let collector = Collector::start_in(
        dir.path(),
        free_port(),
        &["--rotate-daily", "--compress-segments", "false"],
        &[],
    );
    assert_eq!(
        collector
            .post_json(&json!({"service": "daily", "seq": 1}))
            .0,
        201
    );
    // The closed segment is renamed once its time range is known: wait for its final name.
    wait_until(
        Duration::from_secs(20),
        "the segment to be finished",
        || {
            segment_files(dir.path(), "daily")
                .iter()
                .any(|n| n.split('_').count() == 5)
        },
    );
    let segments = segment_files(dir.path(), "daily");
    assert_eq!(segments.len(), 1, "{segments:?}");
    let rotated = std::fs::read_to_string(dir.path().join("segments/daily").join(&segments[0]))
        .expect("segment");
    assert!(
        rotated.contains("\"seq\":0") && !rotated.contains("\"seq\":1"),
        "{rotated}"
    );
    assert_eq!(
        collector.lines("daily").len(),
        1,
        "today's entry starts the new active file"
    );
    assert_eq!(all_seqs(&collector, "daily"), vec![0, 1]);
}
