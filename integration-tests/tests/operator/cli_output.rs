//! Issue 15, points 2–5 and 7: what `estuary query` and `estuary tail` print — readable
//! fmt-like lines, levels as people write them, several services, a word on stderr when
//! nothing is there, and the stored lines as stored with `--json`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use super::query;
use crate::support::{estuary_bin, wait_until, Collector};

/// An entry as the layer sends it from the axum example (raw: the key order matters).
const AXUM_ENTRY: &str = r#"{"timestamp":"2026-12-01T10:00:00.25Z","level":"INFO","service":"shop-api","target":"shop_api","message":"request finished","fields":{"status":201,"latency_ms":12,"note":"two words"},"spans":[{"name":"request","method":"POST","path":"/orders"}],"span":{"name":"request","method":"POST","path":"/orders"},"file":"examples/axum_service.rs","line":76,"module_path":"shop_api","thread_name":"tokio-runtime-worker","thread_id":2,"host":"web-1","pid":4242,"version":"0.1.0"}"#;

#[test]
fn lines_read_like_fmt_with_span_context_and_without_origin_noise() {
    let collector = Collector::start();
    let posted = collector.post_raw("application/json", None, AXUM_ENTRY.as_bytes().to_vec());
    assert_eq!(posted.0, 201);
    let multi = json!({"timestamp": "2026-12-01T10:00:01Z", "level": "WARN", "service": "db", "message": "slow\nquery"});
    assert_eq!(collector.post_json(&multi).0, 201);

    let run = query(&collector.url, &["shop-api,db"]);
    assert!(run.ok, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "one line per entry, even with a newline inside: {}",
        run.stdout
    );
    assert_eq!(
        lines[0],
        r#"2026-12-01T10:00:00.250000Z  INFO shop-api request{method=POST path=/orders}: request finished status=201 latency_ms=12 note="two words" version=0.1.0"#,
        "fields in the order the app wrote them"
    );
    assert_eq!(
        lines[1],
        r#"2026-12-01T10:00:01.000000Z  WARN db       slow\nquery"#
    );

    let verbose = query(&collector.url, &["shop-api", "--verbose"]);
    for origin in [
        "target=shop_api",
        "file=examples/axum_service.rs",
        "line=76",
        "thread_id=2",
        "pid=4242",
        "host=web-1",
    ] {
        assert!(
            verbose.stdout.contains(origin),
            "{origin} in {}",
            verbose.stdout
        );
    }
    // Piped output has no colours.
    assert!(!run.stdout.contains('\u{1b}'));
}

#[test]
fn levels_as_people_write_them_show_and_filter_alike() {
    let collector = Collector::start();
    let entries = json!([
        {"service": "lv", "m": "critical", "severity": "CRITICAL"},
        {"service": "lv", "m": "pino-error", "level": 50},
        {"service": "lv", "m": "pino-info", "level": 30},
        {"service": "lv", "m": "syslog-err", "level": 3},
        {"service": "lv", "m": "syslog-debug", "level": 7},
        {"service": "lv", "m": "none"},
        {"service": "lv", "m": "warning", "level": "warning"}
    ]);
    assert_eq!(collector.post_json(&entries).0, 201);
    let all = query(&collector.url, &["lv"]);
    let level_of = |m: &str| {
        let line = all
            .stdout
            .lines()
            .find(|l| l.contains(&format!("m={m}")))
            .unwrap_or_else(|| panic!("{m} in {}", all.stdout));
        line[28..33].trim().to_owned()
    };
    assert_eq!(level_of("critical"), "FATAL");
    assert_eq!(level_of("pino-error"), "ERROR");
    assert_eq!(level_of("pino-info"), "INFO");
    assert_eq!(level_of("syslog-err"), "ERROR");
    assert_eq!(level_of("syslog-debug"), "DEBUG");
    assert_eq!(level_of("none"), "INFO");
    assert_eq!(level_of("warning"), "WARN");

    let errors = query(&collector.url, &["lv", "--level", "error", "--json"]);
    let picked: Vec<String> = errors
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["m"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(picked, ["critical", "pino-error", "syslog-err"]);
    let infos = query(&collector.url, &["lv", "--level", "info", "--json"]);
    assert_eq!(
        infos.stdout.lines().count(),
        6,
        "everything but debug: {}",
        infos.stdout
    );
}

#[test]
fn several_services_all_of_them_a_trace_an_order_and_a_hint_for_more() {
    let collector = Collector::start();
    for (i, service) in ["a", "b", "c"].iter().enumerate() {
        let batch: Vec<_> = (0..3)
            .map(|k| json!({"service": service, "timestamp": format!("2026-12-01T10:00:0{}Z", k * 3 + i), "n": k * 3 + i, "trace_id": if k == 1 { "t-1" } else { "t-0" }}))
            .collect();
        assert_eq!(collector.post_json(&json!(batch)).0, 201);
    }
    let ns = |run: &super::Run| -> Vec<u64> {
        run.stdout
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["n"]
                    .as_u64()
                    .unwrap()
            })
            .collect()
    };
    let two = query(&collector.url, &["a,c", "--json"]);
    assert!(two.ok, "{}", two.stderr);
    assert_eq!(ns(&two), [0, 2, 3, 5, 6, 8]);
    assert_eq!(
        ns(&query(&collector.url, &["--json"])),
        (0..9).collect::<Vec<_>>()
    );
    assert_eq!(
        ns(&query(&collector.url, &["--all-services", "--json"])),
        (0..9).collect::<Vec<_>>()
    );
    assert_eq!(
        ns(&query(&collector.url, &["--trace", "t-1", "--json"])),
        [3, 4, 5]
    );
    assert_eq!(
        ns(&query(
            &collector.url,
            &["--order", "desc", "--limit", "2", "--json"]
        )),
        [8, 7]
    );
    assert_eq!(
        ns(&query(
            &collector.url,
            &["--order", "asc", "--limit", "2", "--json"]
        )),
        [0, 1]
    );

    let cut = query(&collector.url, &["--limit", "4", "--json"]);
    assert_eq!(ns(&cut), [5, 6, 7, 8]);
    assert!(
        cut.stderr.contains("more entries available"),
        "{}",
        cut.stderr
    );
    let whole = query(&collector.url, &["--limit", "9", "--json"]);
    assert!(!whole.stderr.contains("more entries"), "{}", whole.stderr);
}

#[test]
fn nothing_there_is_said_on_stderr_with_close_matches() {
    let collector = Collector::start();
    assert_eq!(
        collector
            .post_json(&json!({"service": "checkout", "m": 1}))
            .0,
        201
    );
    assert_eq!(
        collector
            .post_json(&json!({"service": "Billing", "m": 1}))
            .0,
        201
    );

    let typo = query(&collector.url, &["chekout"]);
    assert!(
        typo.ok && typo.stdout.is_empty(),
        "stdout stays clean: {}",
        typo.stdout
    );
    assert!(
        typo.stderr.contains("\"chekout\" has no entries")
            && typo.stderr.contains("did you mean \"checkout\""),
        "{}",
        typo.stderr
    );
    let case = query(&collector.url, &["billing"]);
    assert!(
        case.stderr.contains("did you mean \"Billing\""),
        "{}",
        case.stderr
    );
    let unknown = query(&collector.url, &["zzz"]);
    assert!(
        unknown.stderr.contains("\"zzz\" has no entries")
            && !unknown.stderr.contains("did you mean"),
        "{}",
        unknown.stderr
    );
    let filtered = query(&collector.url, &["checkout", "--grep", "absent"]);
    assert!(
        filtered.stdout.is_empty() && filtered.stderr.contains("no entries match"),
        "{}",
        filtered.stderr
    );

    let mut tail = Command::new(estuary_bin())
        .args(["tail", "chekout", "--url", &collector.url])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tail");
    let mut first = String::new();
    let mut stderr = BufReader::new(tail.stderr.take().expect("stderr"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = stderr.read_line(&mut first);
        let _ = tx.send(first);
    });
    let mut said = String::new();
    wait_until(
        Duration::from_secs(10),
        "tail to say the service is empty",
        || {
            if let Ok(line) = rx.try_recv() {
                said = line;
            }
            !said.is_empty()
        },
    );
    let _ = tail.kill();
    let _ = tail.wait();
    assert!(
        said.contains("\"chekout\" has no entries yet")
            && said.contains("did you mean \"checkout\""),
        "{said}"
    );
}

#[test]
fn json_prints_the_stored_line_byte_for_byte() {
    let collector = Collector::start();
    let body = r#"{"zeta":1.50,"service":"exact","big":123456789012345678901234567890,"text":"caf\u00e9 \"q\"","nested":{"y":[1,2],"x":null}}"#;
    assert_eq!(
        collector
            .post_raw("application/json", None, body.as_bytes().to_vec())
            .0,
        201
    );
    let stored = String::from_utf8(collector.raw("exact")).expect("utf8");
    let run = query(&collector.url, &["exact", "--json"]);
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(
        run.stdout, stored,
        "key order, number spelling and escapes as stored"
    );
}
