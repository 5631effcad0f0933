//! Issue 15, points 8–12: time that sorts as time, storage failures found early and shown
//! in `/health`, help with headings, start-up messages that name the flag, colour only on
//! a terminal, and curl's default content type.

use serde_json::json;

use super::estuary;
use crate::support::{free_port, http, Collector};

/// `2026-12-01T10:00:SSZ` in unix seconds.
fn epoch(second: u64) -> u64 {
    1_796_119_200 + second
}

fn merged(collector: &Collector, query: &str) -> Vec<String> {
    let (status, body) = collector.get(&format!("/logs?{query}"));
    assert_eq!(status, 200, "{body}");
    body["logs"]
        .as_array()
        .expect("logs")
        .iter()
        .map(|e| e["m"].as_str().expect("m").to_owned())
        .collect()
}

#[test]
fn merged_queries_order_instants_not_text() {
    let collector = Collector::start();
    // 02:09:49+02:00 is 00:09:49Z: earlier than 00:10:19Z, though it sorts later as text.
    let east = json!({"service": "east", "m": "east", "timestamp": "2026-12-02T02:09:49+02:00"});
    let west = json!({"service": "west", "m": "west", "timestamp": "2026-12-02T00:10:19Z"});
    assert_eq!(collector.post_json(&east).0, 201);
    assert_eq!(collector.post_json(&west).0, 201);
    assert_eq!(
        merged(&collector, "service=east,west&order=asc"),
        ["east", "west"]
    );
    assert_eq!(
        merged(&collector, "service=east,west&order=desc"),
        ["west", "east"]
    );
    assert_eq!(merged(&collector, "service=east,west"), ["east", "west"]);
    let cli = super::query(&collector.url, &["--json"]);
    let order: Vec<&str> = cli
        .stdout
        .lines()
        .map(|l| if l.contains("east") { "east" } else { "west" })
        .collect();
    assert_eq!(order, ["east", "west"], "{}", cli.stdout);
}

#[test]
fn epoch_numbers_are_times_and_other_strings_keep_their_arrival_place() {
    let collector = Collector::start();
    let s1 = json!([
        {"service": "s1", "m": "s1@0", "timestamp": "2026-12-01T10:00:00Z"},
        {"service": "s1", "m": "s1@yesterday", "timestamp": "yesterday"},
        {"service": "s1", "m": "s1@2", "timestamp": "2026-12-01T10:00:02Z"}
    ]);
    let s2 = json!([
        {"service": "s2", "m": "s2@1s", "timestamp": epoch(1)},
        {"service": "s2", "m": "s2@3ms", "timestamp": epoch(3) * 1000},
        {"service": "s2", "m": "s2@4str", "timestamp": epoch(4).to_string()}
    ]);
    assert_eq!(collector.post_json(&s1).0, 201);
    assert_eq!(collector.post_json(&s2).0, 201);
    let want = ["s1@0", "s1@yesterday", "s2@1s", "s1@2", "s2@3ms", "s2@4str"];
    assert_eq!(merged(&collector, "service=s1,s2&order=asc"), want);
    let mut backwards = want;
    backwards.reverse();
    assert_eq!(merged(&collector, "order=desc"), backwards);
    // Paging a merge with limit 1 visits every entry once, in the same order.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (_, body) = collector.get(&format!("/logs?order=asc&limit=1{cursor}"));
        seen.extend(
            body["logs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["m"].as_str().unwrap().to_owned()),
        );
        match body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen, want);
    // Time windows understand epoch numbers too.
    let since = "2026-12-01T10:00:03Z";
    assert_eq!(
        merged(&collector, &format!("order=asc&since={since}")),
        ["s2@3ms", "s2@4str"]
    );
}

#[test]
fn collector_stamps_always_have_nine_fraction_digits() {
    let collector = Collector::start();
    let batch: Vec<_> = (0..200)
        .map(|i| json!({"service": "stamp", "i": i}))
        .collect();
    assert_eq!(collector.post_json(&json!(batch)).0, 201);
    for entry in collector.lines("stamp") {
        let stamp = entry["timestamp"].as_str().expect("stamp");
        assert_eq!(stamp.len(), 30, "{stamp}");
        let fraction = &stamp[20..29];
        assert!(
            stamp.ends_with('Z') && fraction.bytes().all(|b| b.is_ascii_digit()),
            "{stamp}"
        );
    }
}

#[test]
fn curl_default_content_type_is_read_as_json() {
    let collector = Collector::start();
    let form = "application/x-www-form-urlencoded";
    let (status, body) = collector.post_raw(form, None, br#"{"service":"curl","m":"hi"}"#.to_vec());
    assert_eq!(status, 201, "{body}");
    assert_eq!(collector.lines("curl").len(), 1);
    let (status, body) = collector.post_raw(form, None, b"service=curl&m=hi".to_vec());
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("x-www-form-urlencoded"),
        "{body}"
    );
    assert_eq!(
        collector.lines("curl").len(),
        1,
        "a real form body is not stored"
    );
}

/// A directory this process cannot create files in (root ignores permission bits, so it
/// gets a read-only system directory).
fn unwritable_dir(tmp: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let locked = tmp.join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    for candidate in [locked, "/proc/self".into(), "/sys/fs".into()] {
        if std::fs::File::create(candidate.join("probe")).is_err() {
            return candidate;
        }
    }
    panic!("no unwritable directory to test with");
}

#[test]
fn an_unwritable_log_dir_stops_start_up_with_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = unwritable_dir(tmp.path());
    let err = Collector::try_start_in(&dir, free_port(), &[], &[])
        .err()
        .expect("start-up fails");
    let text = err.to_string();
    assert!(
        text.contains("not writable") && text.contains("--log-dir"),
        "{text}"
    );
}

#[test]
fn health_is_degraded_while_writes_fail_and_healthy_once_they_work() {
    let collector = Collector::start();
    let metric = || {
        let text = http()
            .get(format!("{}/metrics", collector.url))
            .send()
            .unwrap()
            .text()
            .unwrap();
        text.lines()
            .find(|l| l.starts_with("estuary_storage_failing_services "))
            .map(|l| l.rsplit(' ').next().unwrap().to_owned())
    };
    assert_eq!(collector.get("/health").1["status"], "healthy");
    // A directory where the service's file should be: every write of it fails.
    let blocker = collector.dir.join("broken.log");
    std::fs::create_dir(&blocker).unwrap();
    let (status, _) = collector.post_json(&json!({"service": "broken", "m": 1}));
    assert_eq!(status, 503);
    let (_, health) = collector.get("/health");
    assert_eq!(health["status"], "degraded", "{health}");
    assert!(
        health["reason"].as_str().unwrap().contains("broken"),
        "{health}"
    );
    assert!(
        health["storage"]["failing"]["broken"].is_string(),
        "{health}"
    );
    assert_eq!(metric().as_deref(), Some("1"));

    std::fs::remove_dir(&blocker).unwrap();
    assert_eq!(
        collector.post_json(&json!({"service": "broken", "m": 2})).0,
        201
    );
    let (_, health) = collector.get("/health");
    assert_eq!(health["status"], "healthy", "{health}");
    assert_eq!(metric().as_deref(), Some("0"));
}

#[test]
fn a_port_in_use_and_a_bad_redis_url_name_the_flag() {
    let collector = Collector::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    let port = collector.port.to_string();
    let taken = estuary(&["serve", "--port", &port, "--log-dir", dir], &[]);
    assert_eq!(taken.code, Some(1));
    assert!(
        taken.stderr.contains("already in use")
            && taken.stderr.contains("--port")
            && taken.stderr.contains("PORT"),
        "{}",
        taken.stderr
    );

    let redis = estuary(
        &[
            "serve",
            "--redis-url",
            "localhost:6379",
            "--log-dir",
            dir,
            "--port",
            "0",
        ],
        &[],
    );
    assert_eq!(redis.code, Some(1));
    assert!(
        redis.stderr.contains("--redis-url")
            && redis.stderr.contains("\"localhost:6379\"")
            && redis.stderr.contains("redis://"),
        "{}",
        redis.stderr
    );
}

#[test]
fn the_collectors_own_log_has_no_colour_when_redirected() {
    let collector = Collector::start_with(&[], &[("RUST_LOG", "info")]);
    let stderr = collector.stderr();
    assert!(stderr.contains("listening"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "no ANSI escapes in a file: {stderr:?}"
    );
}

#[test]
fn help_has_headings_examples_and_no_doc_test() {
    let top = estuary(&["--help"], &[]);
    assert!(top.ok);
    for unwanted in ["assert_eq", "use clap", "--max-commit-bytes"] {
        assert!(
            !top.stdout.contains(unwanted),
            "{unwanted} in {}",
            top.stdout
        );
    }
    assert!(
        top.stdout.contains("Commands:") && top.stdout.contains("Examples:"),
        "{}",
        top.stdout
    );

    let serve = estuary(&["serve", "--help"], &[]);
    for heading in [
        "Network:",
        "Storage:",
        "Retention:",
        "Fan-out (Redis):",
        "Live streams:",
        "Access:",
        "Protection:",
        "Forwarding (Loki, Elasticsearch, ClickHouse):",
        "Examples, by group:",
    ] {
        assert!(serve.stdout.contains(heading), "{heading} in serve --help");
    }
    assert!(
        !serve.stdout.to_lowercase().contains("seed"),
        "{}",
        serve.stdout
    );
    for command in ["query", "tail"] {
        let help = estuary(&[command, "--help"], &[]);
        assert!(
            help.stdout.contains("Connection:")
                && help.stdout.contains("--token")
                && help.stdout.contains("Examples:"),
            "{}",
            help.stdout
        );
    }
}
