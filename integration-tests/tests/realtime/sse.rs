//! Live tail over SSE: replay then follow, filters, several collectors, slow clients.

use std::io::{Read, Write};
use std::time::Duration;

use serde_json::json;

use crate::support::live::SseReader;
use crate::support::redis_server::RedisServer;
use crate::support::{wait_until, Collector};

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn tail_replays_the_last_n_then_follows_without_duplicates() {
    let collector = Collector::start();
    let batch: Vec<_> = (0..10).map(|i| json!({"service": "t", "i": i})).collect();
    assert_eq!(collector.post_json(&json!(batch)).0, 201);
    let stream = SseReader::open(&format!("{}/logs/t/stream?tail=3", collector.url));
    for i in 7..10 {
        assert_eq!(stream.next_json(WAIT)["i"], i);
    }
    assert_eq!(
        collector.post_json(&json!({"service": "t", "i": 10})).0,
        201
    );
    assert_eq!(
        collector.post_json(&json!({"service": "other", "i": 99})).0,
        201
    );
    assert_eq!(
        collector.post_json(&json!({"service": "t", "i": 11})).0,
        201
    );
    assert_eq!(stream.next_json(WAIT)["i"], 10);
    assert_eq!(stream.next_json(WAIT)["i"], 11);
}

#[test]
fn field_target_and_exclusion_filters_apply_to_streams() {
    let collector = Collector::start();
    let url = format!(
        "{}/logs/stream?field.user=7&target!=app::health&q!=noise",
        collector.url
    );
    let stream = SseReader::open(&url);
    let entries = json!([
        {"service": "a", "user": 7, "target": "app::health", "message": "probe"},
        {"service": "a", "user": 8, "target": "app::http", "message": "other user"},
        {"service": "b", "user": 7, "target": "app::http", "message": "noise"},
        {"service": "b", "user": 7, "target": "app::http", "message": "kept"},
        {"service": "a", "user": 7, "message": "kept without target"}
    ]);
    assert_eq!(collector.post_json(&entries).0, 201);
    // Two services commit on their own: their events may come in either order.
    let mut got = [
        stream.next_json(WAIT)["message"].clone(),
        stream.next_json(WAIT)["message"].clone(),
    ];
    got.sort_by_key(|m| m.as_str().map(str::to_owned));
    assert_eq!(got, [json!("kept"), json!("kept without target")]);
    assert_eq!(
        collector
            .post_json(&json!({"service": "a", "user": 7, "message": "last"}))
            .0,
        201
    );
    assert_eq!(
        stream.next_json(WAIT)["message"],
        "last",
        "nothing else came through"
    );
    let (status, bad) = collector.get("/logs/stream?field.=1");
    assert_eq!(status, 400, "{bad}");
}

#[test]
fn level_and_text_filters_apply_to_the_all_services_stream() {
    let collector = Collector::start();
    let stream = SseReader::open(&format!("{}/logs/stream?level=warn&q=disk", collector.url));
    let entries = json!([
        {"service": "a", "level": "INFO", "message": "disk ok"},
        {"service": "b", "level": "error", "message": "disk full"},
        {"service": "a", "level": "ERROR", "message": "cpu hot"},
        {"service": "c", "level": "WARNING", "message": "disk slow"},
        {"service": "a", "level": "debug", "message": "disk debug"}
    ]);
    assert_eq!(collector.post_json(&entries).0, 201);
    assert_eq!(
        collector
            .post_json(&json!({"service": "z", "level": "fatal", "message": "disk end"}))
            .0,
        201
    );
    let mut got: Vec<_> = (0..3)
        .map(|_| stream.next_json(WAIT)["message"].clone())
        .collect();
    assert_eq!(got.pop(), Some(json!("disk end")));
    // Services are written by separate writers: their relative order is not fixed.
    got.sort_by_key(|m| m.as_str().map(str::to_owned));
    assert_eq!(got, vec![json!("disk full"), json!("disk slow")]);
}

#[test]
fn bad_stream_parameters_get_400() {
    let collector = Collector::start();
    for query in ["level=loud", "tail=-1", "tail=99999"] {
        let (status, body) = collector.get(&format!("/logs/stream?{query}"));
        assert_eq!(status, 400, "{query}");
        assert!(body["parameter"].is_string());
    }
    assert_eq!(collector.get("/logs/..%2Fx/stream").0, 400);
}

#[test]
fn two_collectors_sharing_redis_see_each_others_entries() {
    let redis = RedisServer::start();
    let env = [("REDIS_URL", redis.url())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = Collector::start_with(&[], &env);
    let b = Collector::start_with(&[], &env);
    let stream = SseReader::open(&format!("{}/logs/shared/stream", b.url));
    // B subscribes to the cluster channel asynchronously: post until one arrives.
    let mut n = 0;
    wait_until(WAIT, "an entry from A on B's stream", || {
        n += 1;
        assert_eq!(
            a.post_json(&json!({"service": "shared", "from": "a", "n": n}))
                .0,
            201
        );
        stream.next(Duration::from_millis(100)).is_some()
    });
    assert_eq!(
        a.post_json(&json!({"service": "shared", "from": "a", "n": "last"}))
            .0,
        201
    );
    wait_until(WAIT, "the last entry from A", || {
        stream
            .next(Duration::from_millis(100))
            .is_some_and(|e| e.data.contains("\"last\""))
    });
    // B's own entries appear once, not twice (local feed plus its own Redis echo).
    assert_eq!(
        b.post_json(&json!({"service": "shared", "from": "b"})).0,
        201
    );
    assert_eq!(
        a.post_json(&json!({"service": "shared", "from": "a", "n": "after"}))
            .0,
        201
    );
    let got = stream.next_json(WAIT);
    assert_eq!(got["from"], "b");
    let next = stream.next_json(WAIT);
    assert_eq!(next["n"], "after", "B's entry was delivered twice: {next}");
}

#[test]
fn a_stalled_client_never_slows_ingestion_and_is_told_what_it_missed() {
    let collector = Collector::start_with(&["--live-buffer", "4"], &[]);
    let mut stalled = std::net::TcpStream::connect(("127.0.0.1", collector.port)).expect("connect");
    stalled
        .write_all(b"GET /logs/stream HTTP/1.1\r\nhost: x\r\n\r\n")
        .expect("request");
    let mut head = [0u8; 12];
    stalled.read_exact(&mut head).expect("status line");
    assert_eq!(&head, b"HTTP/1.1 200");
    wait_until(WAIT, "the stream to be registered", || {
        collector.get("/health").1["live_streams"] == 1
    });

    let pad = "s".repeat(150);
    for batch in 0..300 {
        let body: Vec<_> = (0..1000)
            .map(|i| json!({"service": "flood", "b": batch, "i": i, "pad": pad}))
            .collect();
        assert_eq!(collector.post_json(&json!(body)).0, 201);
    }
    assert_eq!(collector.lines("flood").len(), 300_000);

    stalled.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut seen = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    let missed_at = loop {
        let n = stalled.read(&mut buf).expect("stream data");
        assert!(n > 0, "stream closed before the missed event");
        seen.extend_from_slice(&buf[..n]);
        if let Some(at) = find(&seen, b"event: missed") {
            break at;
        }
        if seen.len() > 64 << 20 {
            seen.drain(..seen.len() - 1024);
        }
    };
    let rest = String::from_utf8_lossy(&seen[missed_at..]).into_owned();
    let data = rest.lines().nth(1).expect("data line");
    let missed: serde_json::Value =
        serde_json::from_str(data.trim_start_matches("data: ")).expect("json");
    assert!(missed["missed"].as_u64().expect("count") > 0, "{data}");
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn tail_replays_across_rotated_segments() {
    let collector = Collector::start_with(&["--rotate-bytes", "300"], &[]);
    for i in 0..20 {
        assert_eq!(
            collector.post_json(&json!({"service": "rs", "i": i})).0,
            201
        );
    }
    assert!(
        collector.dir.join("segments/rs").exists(),
        "the test needs rotated segments"
    );
    let stream = SseReader::open(&format!("{}/logs/rs/stream?tail=15", collector.url));
    for i in 5..20 {
        assert_eq!(stream.next_json(WAIT)["i"], i);
    }
    assert_eq!(
        collector.post_json(&json!({"service": "rs", "i": 20})).0,
        201
    );
    assert_eq!(
        stream.next_json(WAIT)["i"],
        20,
        "follows after the replay, without duplicates"
    );
}
