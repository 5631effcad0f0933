use std::io::Write;

use super::*;
use crate::filter::{LineFilter, Severity};
use crate::query::ScanBudget;
use crate::store::segments::{self, Segment};
use crate::timefmt::parse_rfc3339;

fn line(i: usize) -> String {
    let level = if i % 10 == 0 { "ERROR" } else { "INFO" };
    format!(
        "{{\"i\":{i},\"level\":\"{level}\",\"timestamp\":\"2026-01-01T00:{:02}:{:02}Z\"}}\n",
        i / 60,
        i % 60
    )
}

/// Three segments (one gzip, one plain, one pending) and an active file: entries 0..400.
fn fixture() -> (tempfile::TempDir, ServiceName) {
    let dir = tempfile::tempdir().expect("tempdir");
    let service = ServiceName::parse("svc").expect("name");
    let seg_dir = segments::service_dir(dir.path(), &service);
    std::fs::create_dir_all(&seg_dir).expect("dir");
    let mut offset = 0u64;
    let parts = [
        (0..100, true, true),
        (100..200, false, true),
        (200..300, false, false),
    ];
    for (k, (range, compress, ranged)) in parts.into_iter().enumerate() {
        let body: String = range.clone().map(line).collect();
        let (first, last) = (range.start, range.end - 1);
        let ts = |i: usize| {
            parse_rfc3339(&format!("2026-01-01T00:{:02}:{:02}Z", i / 60, i % 60)).expect("ts")
        };
        let span = ranged.then(|| (ts(first), ts(last)));
        let end = offset + body.len() as u64;
        let name = Segment::file_name(k as i128 + 1, offset, end, span, compress);
        let path = seg_dir.join(name);
        if compress {
            let mut enc = flate2::write::GzEncoder::new(
                File::create(&path).expect("create"),
                flate2::Compression::fast(),
            );
            enc.write_all(body.as_bytes()).expect("gz");
            enc.finish().expect("finish");
        } else {
            std::fs::write(&path, &body).expect("write");
        }
        offset = end;
    }
    let active: String = (300..400).map(line).collect();
    std::fs::write(dir.path().join("svc.log"), active + "{\"partial").expect("active");
    (dir, service)
}

fn run(dir: &Path, service: &ServiceName, request: &PageRequest) -> Page {
    scan(dir, service, &Arc::new(RwLock::new(())), request).expect("scan")
}

fn ids(outcome: &Page) -> Vec<u64> {
    outcome
        .hits
        .iter()
        .map(|h| {
            serde_json::from_slice::<serde_json::Value>(&h.line).expect("json")["i"]
                .as_u64()
                .expect("i")
        })
        .collect()
}

fn walk(direction: Direction, filter: LineFilter, limit: usize) -> Vec<u64> {
    walk_within(direction, filter, limit, &ScanBudget::default()).0
}

/// Every page of a query, each under `budget`; and how many pages stopped at it.
fn walk_within(
    direction: Direction,
    filter: LineFilter,
    limit: usize,
    budget: &ScanBudget,
) -> (Vec<u64>, usize) {
    let (dir, service) = fixture();
    let mut all = Vec::new();
    let mut cursor = None;
    let mut stopped = 0;
    loop {
        let request = PageRequest {
            filter: filter.clone(),
            limit,
            direction,
            cursor,
            budget: budget.clone(),
        };
        let outcome = run(dir.path(), &service, &request);
        stopped += usize::from(outcome.stopped.is_some());
        all.extend(ids(&outcome));
        match outcome.next_cursor {
            Some(next) => cursor = Some(next),
            None => return (all, stopped),
        }
    }
}

#[test]
fn a_scan_stops_at_its_budget_and_its_cursor_continues_without_gaps_or_repeats() {
    let budget = ScanBudget {
        max_bytes: Some(1),
        ..ScanBudget::default()
    };
    let errors = LineFilter {
        min_level: Some(Severity::Error),
        ..LineFilter::default()
    };
    let (backward, stopped) = walk_within(Direction::Backward, errors.clone(), 50, &budget);
    assert_eq!(
        backward,
        (0..400).rev().filter(|i| i % 10 == 0).collect::<Vec<_>>()
    );
    assert!(stopped >= 2, "pages stopped at the budget: {stopped}");
    let (forward, stopped) = walk_within(Direction::Forward, errors, 50, &budget);
    assert_eq!(
        forward,
        (0..400).filter(|i| i % 10 == 0).collect::<Vec<_>>()
    );
    // The fixture fits one forward read: the budget stops the walk once, after it.
    assert!(stopped >= 1, "pages stopped at the budget: {stopped}");
}

#[test]
fn a_cancelled_scan_ends_with_an_error_rather_than_a_page() {
    let (dir, service) = fixture();
    let request = PageRequest::newest(10);
    request.budget.cancel();
    let err =
        scan(dir.path(), &service, &Arc::new(RwLock::new(())), &request).expect_err("cancelled");
    assert_eq!(err.kind(), io::ErrorKind::Interrupted);
}

#[test]
fn cursors_walk_every_entry_once_in_both_directions() {
    let backward = walk(Direction::Backward, LineFilter::default(), 37);
    assert_eq!(backward, (0..400).rev().collect::<Vec<_>>());
    let forward = walk(Direction::Forward, LineFilter::default(), 41);
    assert_eq!(forward, (0..400).collect::<Vec<_>>());
}

#[test]
fn filters_apply_across_plain_gzip_and_active_files() {
    let errors = LineFilter {
        min_level: Some(Severity::Error),
        ..LineFilter::default()
    };
    assert_eq!(
        walk(Direction::Backward, errors.clone(), 7),
        (0..400).rev().filter(|i| i % 10 == 0).collect::<Vec<_>>()
    );
    assert_eq!(
        walk(Direction::Forward, errors, 3),
        (0..400).filter(|i| i % 10 == 0).collect::<Vec<_>>()
    );
}

#[test]
fn a_time_window_skips_segments_that_cannot_match() {
    let (dir, service) = fixture();
    let since = parse_rfc3339("2026-01-01T00:02:00Z");
    let until = parse_rfc3339("2026-01-01T00:02:30Z");
    let filter = LineFilter {
        since,
        until,
        ..LineFilter::default()
    };
    let request = PageRequest {
        filter,
        limit: 1000,
        direction: Direction::Forward,
        cursor: None,
        budget: ScanBudget::default(),
    };
    let outcome = run(dir.path(), &service, &request);
    assert_eq!(ids(&outcome), (120..=150).collect::<Vec<_>>());
    assert_eq!(
        outcome.work.segments_skipped, 1,
        "the first segment ends before the window"
    );
}

#[test]
fn the_default_page_reads_only_the_end_of_the_active_file() {
    let (dir, service) = fixture();
    let request = PageRequest {
        filter: LineFilter::default(),
        limit: 10,
        direction: Direction::Backward,
        cursor: None,
        budget: ScanBudget::default(),
    };
    let outcome = run(dir.path(), &service, &request);
    assert_eq!(ids(&outcome), (390..400).rev().collect::<Vec<_>>());
    assert_eq!(outcome.work.files_scanned, 1);
}

#[test]
fn backward_reads_join_lines_across_chunk_boundaries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let service = ServiceName::parse("big").expect("name");
    let pad = "x".repeat(1000);
    let body: String = (0..1000)
        .map(|i| format!("{{\"i\":{i},\"pad\":\"{pad}\"}}\n"))
        .collect();
    std::fs::write(dir.path().join("big.log"), body + "{\"torn").expect("write");
    let request = PageRequest {
        filter: LineFilter::default(),
        limit: 700,
        direction: Direction::Backward,
        cursor: None,
        budget: ScanBudget::default(),
    };
    let outcome = run(dir.path(), &service, &request);
    assert!(
        outcome.work.scanned_bytes > CHUNK as u64,
        "the test must cross a chunk boundary"
    );
    assert_eq!(ids(&outcome), (300..1000).rev().collect::<Vec<_>>());
}
