//! Cursors walk every page with no gaps or duplicates while writes continue.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::json;

use crate::support::{http, Collector};

#[test]
fn cursors_are_stable_while_new_entries_keep_arriving() {
    let collector = Collector::start_with(&["--rotate-bytes", "50000"], &[]);
    let body: Vec<_> = (0..3000)
        .map(|i| json!({"service": "p", "seq": i}))
        .collect();
    assert_eq!(collector.post_json(&json!(body)).0, 201);

    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (url, stop) = (format!("{}/logs", collector.url), stop.clone());
        std::thread::spawn(move || {
            let client = http();
            let mut n = 3000;
            while !stop.load(Ordering::Relaxed) {
                let batch: Vec<_> = (0..50)
                    .map(|k| json!({"service": "p", "seq": n + k}))
                    .collect();
                n += 50;
                assert_eq!(
                    client
                        .post(&url)
                        .json(&batch)
                        .send()
                        .expect("post")
                        .status()
                        .as_u16(),
                    201
                );
            }
        })
    };
    // Backward from the first page: new entries land above the cursor, never inside the walk.
    let (_, first) = collector.get("/logs/p?order=desc&limit=100");
    let top = first["logs"][0]["seq"].as_u64().expect("seq");
    let mut seen: Vec<u64> = first["logs"]
        .as_array()
        .expect("logs")
        .iter()
        .map(|l| l["seq"].as_u64().expect("seq"))
        .collect();
    let mut cursor = first["next_cursor"].as_str().expect("more").to_owned();
    loop {
        let (status, page) =
            collector.get(&format!("/logs/p?order=desc&limit=100&cursor={cursor}"));
        assert_eq!(status, 200, "{page}");
        seen.extend(
            page["logs"]
                .as_array()
                .expect("logs")
                .iter()
                .map(|l| l["seq"].as_u64().expect("seq")),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");
    let want: Vec<u64> = (0..=top).rev().collect();
    assert_eq!(seen.len(), want.len(), "gaps or duplicates");
    assert_eq!(seen, want);
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len());
}
