//! Counts and time windows against brute force: random entries (times in and out of order,
//! every kind of level, some without a time), with rotations, compression, retention,
//! restarts and a damaged index in between. Every histogram, facet count and windowed page
//! must equal what a full read of the stored lines gives.

use std::collections::HashMap;

use super::*;
use crate::filter::{EntryFacts, LineFilter, Severity};
use crate::query::{Direction, FacetRequest, Facets, HistogramRequest, ScanBudget, ScanMeter};
use crate::timefmt::Nanos;

/// A small, seeded generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const BASE: Nanos = 1_800_000_000_000_000_000;
const MINUTE: Nanos = 60_000_000_000;

fn rfc3339(ts: Nanos) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ts)
        .expect("in range")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formats")
}

/// One random entry around `clock` (which moves forward), as a stored line with `\n`.
fn entry(rng: &mut Rng, clock: &mut Nanos, i: u64) -> String {
    *clock += rng.below(3 * MINUTE as u64 / 100) as Nanos;
    let level = match rng.below(9) {
        0 => r#""level":"trace","#.to_owned(),
        1 => r#""level":"DEBUG","#.to_owned(),
        2 => r#""severity":"warning","#.to_owned(),
        3 => r#""level":"error","#.to_owned(),
        4 => r#""level":"critical","#.to_owned(),
        5 => r#""level":"bogus","#.to_owned(),
        6 => String::new(),
        _ => r#""level":"info","#.to_owned(),
    };
    let time = match rng.below(20) {
        0 => String::new(),
        1 => r#","timestamp":"yesterday""#.to_owned(),
        // Late entries, minutes out of order.
        2 => format!(
            r#","timestamp":"{}""#,
            rfc3339(*clock - rng.below(10) as Nanos * MINUTE)
        ),
        _ => format!(r#","timestamp":"{}""#, rfc3339(*clock)),
    };
    let user = rng.below(7);
    let pad = "x".repeat(rng.below(300) as usize);
    format!("{{{level}\"user\":{user},\"i\":{i},\"pad\":\"{pad}\"{time}}}\n")
}

fn config(dir: &std::path::Path, rotate: u64) -> StoreConfig {
    StoreConfig {
        rotation: RotationPolicy {
            max_bytes: rotate,
            daily: false,
            compress: true,
        },
        ..StoreConfig::new(dir)
    }
}

/// Every stored line of `service`, read in full.
fn all_lines(store: &Store, service: &ServiceName) -> Vec<Vec<u8>> {
    let mut reader = store.reader(service.clone());
    let (mut from, mut lines) = (0, Vec::new());
    loop {
        let chunk = reader.read(from, 10_000, 1 << 20).expect("read");
        lines.extend((0..chunk.lines.len()).map(|i| chunk.line(i).to_vec()));
        if chunk.next == from {
            return lines;
        }
        from = chunk.next;
    }
}

fn brute_histogram(lines: &[Vec<u8>], request: &HistogramRequest) -> Vec<[u64; 6]> {
    let mut buckets = vec![[0u64; 6]; request.buckets()];
    for line in lines {
        let facts = EntryFacts::of_line(line);
        let Some(ts) = facts.timestamp else { continue };
        let severity = Severity::of_slot(facts.level);
        if (request.since..=request.until).contains(&ts)
            && request.filter.min_level.is_none_or(|m| severity >= m)
            && request.filter.matches(line)
        {
            buckets[request.bucket_of(ts)][severity as usize] += 1;
        }
    }
    buckets
}

fn check(store: &Store, service: &ServiceName, rng: &mut Rng, end: Nanos) {
    let lines = all_lines(store, service);
    for round in 0..8 {
        let since = BASE + rng.below((end - BASE) as u64 + 1) as Nanos - 5 * MINUTE;
        let until = since + rng.below((end - since).max(1) as u64 + 10 * MINUTE as u64) as Nanos;
        let bucket = [MINUTE / 6, MINUTE, 5 * MINUTE, 15 * MINUTE][round % 4];
        let mut filter = LineFilter::default();
        if round % 3 == 1 {
            filter.min_level = Some(Severity::Warn);
        }
        if round % 5 == 2 {
            filter.text = Some("\"user\":3".into());
        }
        let request = HistogramRequest {
            filter: filter.clone(),
            since,
            until,
            bucket,
            budget: ScanBudget::default(),
        };
        let mut meter = ScanMeter::new(ScanBudget::default());
        let histogram = store
            .histogram(service, &request, &mut meter)
            .expect("histogram");
        assert_eq!(
            histogram.buckets,
            brute_histogram(&lines, &request),
            "round {round}: {request:?}"
        );
        // A windowed page, newest first and oldest first, equals the full scan's.
        filter.since = Some(since);
        filter.until = Some(until);
        let expected: Vec<&Vec<u8>> = lines.iter().filter(|l| filter.matches(l)).collect();
        for direction in [Direction::Backward, Direction::Forward] {
            let page = store
                .query(
                    service,
                    &PageRequest {
                        filter: filter.clone(),
                        limit: 100_000,
                        direction,
                        cursor: None,
                        budget: crate::query::ScanBudget::default(),
                    },
                )
                .expect("query");
            let mut got: Vec<&Vec<u8>> = page.hits.iter().map(|h| &h.line).collect();
            if direction == Direction::Backward {
                got.reverse();
            }
            assert_eq!(got, expected, "round {round} {direction:?}");
        }
        // Facets with an unlimited budget are exhaustive and exact.
        let facet = FacetRequest {
            filter: filter.clone(),
            field: vec!["user".into()],
            budget: ScanBudget::default(),
        };
        let mut facets = Facets {
            exhaustive: true,
            ..Facets::default()
        };
        let mut meter = ScanMeter::new(facet.budget.clone());
        store
            .facets(service, &facet, &mut meter, &mut facets)
            .expect("facets");
        let mut counted: HashMap<String, u64> = HashMap::new();
        for line in &expected {
            let entry: serde_json::Value = serde_json::from_slice(line).expect("json");
            *counted.entry(entry["user"].to_string()).or_default() += 1;
        }
        assert!(facets.exhaustive);
        assert_eq!(facets.values, counted, "round {round}");
        assert_eq!(facets.entries, expected.len() as u64);
    }
}

async fn write(store: &Store, service: &ServiceName, rng: &mut Rng, clock: &mut Nanos, n: u64) {
    let mut i = 0;
    while i < n {
        let batch = 1 + rng.below(40);
        let mut lines = String::new();
        for _ in 0..batch {
            lines.push_str(&entry(rng, clock, i));
            i += 1;
        }
        let lines = ServiceLines::from_lines(service.clone(), lines.into_bytes());
        store.append_all(vec![lines]).await.expect("append");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_and_windows_equal_a_full_read_through_rotation_retention_and_restarts() {
    for seed in [7u64, 99_991] {
        let dir = tempfile::tempdir().expect("tempdir");
        let service = ServiceName::parse("prop").expect("name");
        let mut rng = Rng(seed);
        let mut clock = BASE;
        let store = Store::open(config(dir.path(), 96 * 1024)).expect("open");
        write(&store, &service, &mut rng, &mut clock, 1500).await;
        store.close().await;
        check(&store, &service, &mut rng, clock);
        drop(store);

        // Restart, with one segment's index deleted and the active index torn.
        let seg_dir = segments::service_dir(dir.path(), &service);
        let sidecars: Vec<_> = std::fs::read_dir(&seg_dir)
            .expect("dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "idx"))
            .collect();
        assert!(sidecars.len() >= 3, "rotations left indexes: {sidecars:?}");
        std::fs::remove_file(&sidecars[0]).expect("remove");
        let base = segments::active_base(dir.path(), &service).expect("base");
        let active = index::sidecar(&seg_dir, base);
        if let Ok(len) = std::fs::metadata(&active).map(|m| m.len()) {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(&active)
                .expect("open");
            file.set_len(len.saturating_sub(7)).expect("tear");
        }
        let store = Store::open(config(dir.path(), 96 * 1024)).expect("reopen");
        check(&store, &service, &mut rng, clock);
        write(&store, &service, &mut rng, &mut clock, 700).await;
        // Retention keeps about half.
        let policy = RetentionPolicy {
            max_service_bytes: Some(200 * 1024),
            ..RetentionPolicy::default()
        };
        store.close().await;
        store
            .enforce_retention(&policy, &|_: &ServiceName| None)
            .expect("retention");
        check(&store, &service, &mut rng, clock);
    }
}
