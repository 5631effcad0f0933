//! Acknowledged data is never lost: concurrency, SIGKILL, torn tails, graceful shutdown.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::support::{http, wait_until, Collector};

#[test]
fn two_hundred_concurrent_clients_times_fifty_entries_give_exactly_ten_thousand_lines() {
    let collector = Collector::start();
    let url = format!("{}/logs", collector.url);
    let clients: Vec<_> = (0..200)
        .map(|client| {
            let url = url.clone();
            std::thread::spawn(move || {
                let http = http();
                for seq in 0..50 {
                    let entry = json!({"service": "busy", "client": client, "seq": seq, "pad": "p".repeat(100)});
                    let resp = http.post(&url).json(&entry).send().expect("post");
                    assert_eq!(resp.status().as_u16(), 201);
                }
            })
        })
        .collect();
    for client in clients {
        client.join().expect("client thread");
    }
    let lines = collector.lines("busy");
    assert_eq!(lines.len(), 10_000);
    let mut next_seq = vec![0i64; 200];
    for line in &lines {
        let client = line["client"].as_u64().expect("client") as usize;
        // Each client waited for its 201 before sending the next: the file keeps that order.
        assert_eq!(
            line["seq"], next_seq[client],
            "client {client} out of order"
        );
        next_seq[client] += 1;
    }
    assert!(next_seq.iter().all(|n| *n == 50));
}

/// Eight threads posting small batches until stopped, recording every acknowledged id.
struct Load {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<HashSet<String>>>,
    count: Arc<AtomicUsize>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    /// Starts the load and returns once `entries` were acknowledged.
    fn start(collector: &Collector, entries: usize) -> Self {
        let mut load = Load {
            stop: Arc::default(),
            acked: Arc::default(),
            count: Arc::default(),
            workers: Vec::new(),
        };
        let url = format!("{}/logs", collector.url);
        for t in 0..8 {
            let (url, stop, acked, count) = (
                url.clone(),
                load.stop.clone(),
                load.acked.clone(),
                load.count.clone(),
            );
            load.workers.push(std::thread::spawn(move || {
                post_until_stopped(&url, t, &stop, &acked, &count)
            }));
        }
        let count = load.count.clone();
        wait_until(Duration::from_secs(30), "acknowledged entries", || {
            count.load(Ordering::Relaxed) >= entries
        });
        load
    }

    /// Stops the threads and returns every acknowledged id.
    fn finish(self) -> HashSet<String> {
        self.stop.store(true, Ordering::Relaxed);
        for worker in self.workers {
            worker.join().expect("worker");
        }
        std::mem::take(&mut *self.acked.lock().expect("lock"))
    }
}

fn post_until_stopped(
    url: &str,
    thread: usize,
    stop: &AtomicBool,
    acked: &Mutex<HashSet<String>>,
    count: &AtomicUsize,
) {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let ids: Vec<String> = (0..10).map(|k| format!("{thread}-{n}-{k}")).collect();
        n += 1;
        let body: Vec<_> = ids
            .iter()
            .map(|id| json!({"service": "crashy", "id": id}))
            .collect();
        if let Ok(resp) = http.post(url).json(&body).send() {
            if resp.status().as_u16() == 201 {
                count.fetch_add(ids.len(), Ordering::Relaxed);
                acked.lock().expect("lock").extend(ids);
            }
        }
    }
}

fn stored_ids(collector: &Collector) -> HashSet<String> {
    collector
        .lines("crashy")
        .iter()
        .map(|l| l["id"].as_str().expect("id").to_owned())
        .collect()
}

#[test]
fn every_acknowledged_entry_survives_sigkill_under_load() {
    let mut collector = Collector::start();
    let load = Load::start(&collector, 5_000);
    collector.kill();
    let acked = load.finish();
    collector.start_again();
    // `lines` panics on a torn or unparsable line.
    let stored = stored_ids(&collector);
    let missing: Vec<_> = acked.difference(&stored).take(5).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    assert_eq!(
        collector
            .post_json(&json!({"service": "crashy", "id": "after"}))
            .0,
        201
    );
}

#[test]
fn sigterm_finishes_in_flight_requests_flushes_and_exits_zero() {
    let mut collector = Collector::start();
    let load = Load::start(&collector, 2_000);
    let status = collector.terminate();
    let acked = load.finish();
    assert!(status.success(), "exit status {status}");
    let stored = stored_ids(&collector);
    assert!(
        acked.is_subset(&stored),
        "an acknowledged entry was lost on shutdown"
    );
}

#[test]
fn a_torn_last_line_is_repaired_at_start_and_logged() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("torn.log"),
        "{\"i\":1}\n{\"i\":2}\n{\"i\":3,\"mess",
    )
    .expect("seed file");
    let collector = Collector::start_in(dir.path(), crate::support::free_port(), &[], &[]);
    assert_eq!(collector.raw("torn"), b"{\"i\":1}\n{\"i\":2}\n");
    assert!(
        collector.stderr().contains("torn"),
        "repair not logged: {}",
        collector.stderr()
    );
    assert_eq!(
        collector.post_json(&json!({"service": "torn", "i": 4})).0,
        201
    );
    let ids: Vec<_> = collector
        .lines("torn")
        .iter()
        .map(|l| l["i"].clone())
        .collect();
    assert_eq!(ids, vec![json!(1), json!(2), json!(4)]);
}

#[test]
fn fsync_batch_mode_acknowledges_and_stores() {
    let collector = Collector::start_with(&["--fsync", "batch"], &[]);
    let batch: Vec<_> = (0..500)
        .map(|i| json!({"service": "synced", "i": i}))
        .collect();
    assert_eq!(collector.post_json(&json!(batch)).0, 201);
    assert_eq!(collector.lines("synced").len(), 500);
    assert_eq!(collector.get("/health").1["fsync"], "batch");
}

/// Caps the size of any file the process `pid` writes (as a full disk would).
fn limit_file_size(pid: u32, bytes: u64) {
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: prlimit(2) reads `limit` and writes nothing through the null pointer.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_FSIZE,
            &limit,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(rc, 0, "prlimit failed: {}", std::io::Error::last_os_error());
}

#[test]
fn a_full_disk_answers_507_leaves_no_partial_line_and_recovers() {
    let collector = Collector::start();
    assert_eq!(
        collector.post_json(&json!({"service": "full", "i": 0})).0,
        201
    );
    let before = collector.raw("full");
    limit_file_size(collector.pid(), before.len() as u64 + 1_000);

    let batch: Vec<_> = (1..100)
        .map(|i| json!({"service": "full", "i": i, "pad": "f".repeat(50)}))
        .collect();
    let (status, answer) = collector.post_json(&json!(batch));
    assert_eq!(status, 507, "{answer}");
    assert!(
        answer["error"].as_str().expect("error").contains("full"),
        "{answer}"
    );
    assert_eq!(
        collector.raw("full"),
        before,
        "a partial write was left behind"
    );

    limit_file_size(collector.pid(), libc::RLIM_INFINITY);
    assert_eq!(
        collector.post_json(&json!({"service": "full", "i": 100})).0,
        201
    );
    let ids: Vec<_> = collector
        .lines("full")
        .iter()
        .map(|l| l["i"].clone())
        .collect();
    assert_eq!(ids, vec![json!(0), json!(100)]);
}

/// One request with entries for two services, the second too big for its file.
fn two_service_request() -> serde_json::Value {
    json!([
        {"service": "part-a", "i": 1},
        {"service": "part-b", "i": 2, "pad": "p".repeat(300_000)}
    ])
}

#[test]
fn a_request_stored_in_part_says_which_services_and_its_retries_never_duplicate() {
    let collector = Collector::start();
    assert_eq!(
        collector.post_json(&json!({"service": "part-b", "i": 0})).0,
        201
    );
    limit_file_size(collector.pid(), 100_000);

    for attempt in 0..3 {
        let (status, answer) = collector.post_json(&two_service_request());
        assert_eq!(status, 507, "attempt {attempt}: {answer}");
        assert_eq!(answer["stored"], json!({"part-a": 1}), "{answer}");
        assert_eq!(answer["not_stored"], json!({"part-b": 1}), "{answer}");
        assert!(answer["error"].as_str().expect("error").contains("retry"));
        assert_eq!(
            collector.lines("part-a").len(),
            1,
            "attempt {attempt} duplicated part-a"
        );
    }

    limit_file_size(collector.pid(), libc::RLIM_INFINITY);
    let (status, answer) = collector.post_json(&two_service_request());
    assert_eq!(status, 201, "{answer}");
    assert_eq!(
        collector.lines("part-a").len(),
        1,
        "the retry stored part-a again"
    );
    assert_eq!(collector.lines("part-b").len(), 2);
    // Stored whole, the request is forgotten: sending it again is a new request.
    assert_eq!(collector.post_json(&two_service_request()).0, 201);
    assert_eq!(collector.lines("part-a").len(), 2);
}

#[test]
fn out_of_descriptors_a_resent_request_stores_each_entry_once() {
    // Few descriptors and no writer bound to protect them: writers fail to open files.
    let collector = Collector::start_with_open_file_limit(
        48,
        &["--max-open-files", "100000", "--writer-idle-secs", "1"],
        &[],
    );
    let body: Vec<_> = (0..40)
        .map(|i| json!({"service": format!("fd-{i:02}"), "i": i}))
        .collect();
    let body = json!(body);
    let mut refusals = 0;
    let mut degraded = false;
    wait_until(
        Duration::from_secs(60),
        "the request to be stored whole",
        || {
            let (status, answer) = collector.post_json(&body);
            if status == 201 {
                return true;
            }
            assert_eq!(status, 503, "{answer}");
            refusals += 1;
            degraded |= collector.get("/health").1["status"] == "degraded";
            std::thread::sleep(Duration::from_millis(300));
            false
        },
    );
    assert!(
        refusals > 0,
        "the limit was never reached: the test proves nothing"
    );
    assert!(degraded, "/health said degraded while descriptors ran out");
    for i in 0..40 {
        let service = format!("fd-{i:02}");
        assert_eq!(collector.lines(&service).len(), 1, "{service}");
    }
}
