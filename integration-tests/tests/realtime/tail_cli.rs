//! `estuary tail` prints entries as they arrive and exits cleanly on Ctrl-C.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::json;

use crate::support::{estuary_bin, signal, wait_until, Collector};

const WAIT: Duration = Duration::from_secs(20);

/// Runs `estuary tail ARGS` and returns the child and a channel of its stdout lines.
fn spawn_tail(args: &[&str]) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut child = Command::new(estuary_bin())
        .arg("tail")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn tail");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Posts entries until the tail prints one (its stream connects asynchronously).
fn first_line(
    collector: &Collector,
    rx: &mpsc::Receiver<String>,
    entry: serde_json::Value,
) -> String {
    let mut line = None;
    wait_until(WAIT, "tail to print an entry", || {
        assert_eq!(collector.post_json(&entry).0, 201);
        line = rx.recv_timeout(Duration::from_millis(200)).ok();
        line.is_some()
    });
    line.expect("line")
}

#[test]
fn json_mode_prints_the_stored_lines_as_they_arrive() {
    let collector = Collector::start();
    let (mut child, rx) = spawn_tail(&["svc", "--url", &collector.url, "--json"]);
    let line = first_line(
        &collector,
        &rx,
        json!({"service": "svc", "message": "hello"}),
    );
    let stored = String::from_utf8(collector.raw("svc")).expect("utf8");
    assert!(
        stored.lines().any(|l| l == line),
        "printed {line}, stored {stored}"
    );
    assert!(
        collector
            .post_json(&json!({"service": "svc", "message": "second"}))
            .0
            == 201
    );
    wait_until(WAIT, "the second entry", || {
        rx.recv_timeout(Duration::from_millis(100))
            .is_ok_and(|l| l.contains("second"))
    });
    signal(child.id(), libc::SIGINT);
    let status = child.wait().expect("wait");
    assert!(status.success(), "tail exited with {status}");
}

#[test]
fn readable_mode_shows_time_level_service_message_and_fields_and_filters() {
    let collector = Collector::start();
    let (mut child, rx) =
        spawn_tail(&["--url", &collector.url, "--level", "warn", "--grep", "pay"]);
    let entry =
        json!({"service": "billing", "level": "ERROR", "message": "payment failed", "order": 42});
    let line = first_line(&collector, &rx, entry);
    assert!(
        line.contains("ERROR") && line.contains("billing") && line.contains("payment failed"),
        "{line}"
    );
    assert!(line.contains("order=42"), "{line}");
    assert_eq!(
        collector
            .post_json(&json!({"service": "billing", "level": "INFO", "message": "payment ok"}))
            .0,
        201
    );
    assert_eq!(
        collector
            .post_json(&json!({"service": "billing", "level": "WARN", "message": "payment slow"}))
            .0,
        201
    );
    let next = rx.recv_timeout(WAIT).expect("next line");
    assert!(
        next.contains("payment slow"),
        "the INFO entry was not filtered: {next}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn tail_reconnects_after_the_collector_restarts() {
    let mut collector = Collector::start();
    let (mut child, rx) = spawn_tail(&["r", "--url", &collector.url, "--json"]);
    first_line(&collector, &rx, json!({"service": "r", "m": "before"}));
    collector.restart();
    let line = first_line(&collector, &rx, json!({"service": "r", "m": "after"}));
    assert!(line.contains("after") || line.contains("before"), "{line}");
    let _ = child.kill();
    let _ = child.wait();
}
