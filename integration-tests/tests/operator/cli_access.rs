//! Issue 15, points 1 and 6: the CLI reads a token-protected collector (`--token`,
//! `ESTUARY_TOKEN`, `--token-file`), and its errors say what to do — permanent ones end the
//! command, transient ones (only in `tail`) are retried with their cause named.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{estuary, query};
use crate::support::{estuary_bin, free_port, http, Collector};

const INGEST: &str = "ingest-secret";
const QUERY: &str = "query-secret";

fn protected() -> Collector {
    let collector = Collector::start_with(&["--ingest-token", INGEST, "--query-token", QUERY], &[]);
    let status = http()
        .post(format!("{}/logs", collector.url))
        .bearer_auth(INGEST)
        .json(&json!({"service": "vault", "level": "INFO", "message": "sealed"}))
        .send()
        .expect("post")
        .status();
    assert_eq!(status, 201);
    collector
}

/// Runs `estuary ARGS` for at most `limit`; returns (exited in time, status code, stdout,
/// stderr). A run still going at the limit is killed.
fn run_for(
    args: &[&str],
    env: &[(&str, &str)],
    limit: Duration,
) -> (bool, Option<i32>, String, String) {
    let mut command = Command::new(estuary_bin());
    command
        .args(args)
        .env_remove("ESTUARY_TOKEN")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("spawn estuary");
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (mut out, mut err) = (String::new(), String::new());
    let _ = child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out);
    let _ = child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err);
    (status.is_some(), status.and_then(|s| s.code()), out, err)
}

#[test]
fn query_reads_a_protected_collector_with_a_flag_a_variable_or_a_file() {
    let collector = protected();
    let url = collector.url.as_str();

    let refused = query(url, &["vault"]);
    assert!(
        !refused.ok && refused.stdout.is_empty(),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("--token") && refused.stderr.contains("ESTUARY_TOKEN"),
        "a 401 says how to pass a token: {}",
        refused.stderr
    );

    let flag = query(url, &["vault", "--token", QUERY]);
    assert!(flag.ok, "{}", flag.stderr);
    assert!(flag.stdout.contains("sealed"), "{}", flag.stdout);

    let variable = estuary(
        &["query", "vault", "--url", url],
        &[("ESTUARY_TOKEN", QUERY)],
    );
    assert!(
        variable.ok && variable.stdout.contains("sealed"),
        "{}",
        variable.stderr
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{QUERY}\n")).expect("write token");
    let from_file = query(
        url,
        &["vault", "--token-file", file.to_str().expect("utf8")],
    );
    assert!(
        from_file.ok && from_file.stdout.contains("sealed"),
        "{}",
        from_file.stderr
    );

    let wrong = query(url, &["vault", "--token", "nope"]);
    assert!(!wrong.ok, "a wrong token fails");
    assert!(
        wrong.stderr.contains("does not accept the token"),
        "{}",
        wrong.stderr
    );
    let ingest_only = query(url, &["vault", "--token", INGEST]);
    assert!(
        !ingest_only.ok && ingest_only.stderr.contains("refused the token"),
        "{}",
        ingest_only.stderr
    );
}

#[test]
fn tail_reads_a_protected_collector_and_ends_on_a_refused_token() {
    let collector = protected();
    let url = collector.url.as_str();
    let (exited, code, out, err) = run_for(
        &["tail", "vault", "--url", url, "--tail", "1"],
        &[("ESTUARY_TOKEN", QUERY)],
        Duration::from_secs(3),
    );
    assert!(!exited, "tail follows until stopped: {err}");
    assert!(out.contains("sealed"), "the replayed entry: {out} / {err}");
    let _ = code;

    let (exited, code, out, err) = run_for(&["tail", "--url", url], &[], Duration::from_secs(10));
    assert!(
        exited,
        "a 401 is permanent: tail ends instead of retrying ({err})"
    );
    assert_eq!(code, Some(1));
    assert!(out.is_empty() && err.contains("--token"), "{err}");
    assert!(!err.contains("retrying"), "{err}");
}

#[test]
fn a_url_without_scheme_is_refused_with_the_likely_meaning() {
    let q = query("localhost:8005", &["api"]);
    assert!(!q.ok);
    assert!(
        q.stderr.contains("did you mean http://localhost:8005"),
        "{}",
        q.stderr
    );
    let (exited, code, _, err) = run_for(
        &["tail", "--url", "localhost:8005"],
        &[],
        Duration::from_secs(10),
    );
    assert!(
        exited && code == Some(1),
        "tail ends at once on a bad URL: {err}"
    );
    assert!(err.contains("did you mean http://localhost:8005"), "{err}");
    assert!(!err.contains("builder error"), "{err}");
}

#[test]
fn an_unreachable_collector_is_named_with_its_cause() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let q = query(&closed, &["api"]);
    assert!(
        !q.ok && q.stderr.contains("connection refused"),
        "{}",
        q.stderr
    );

    // tail waits for a collector that is down, saying why once rather than every second.
    let (exited, _, _, err) = run_for(
        &["tail", "--url", &closed],
        &[],
        Duration::from_millis(3500),
    );
    assert!(!exited, "refused connections are retried: {err}");
    assert!(err.contains("connection refused"), "{err}");
    assert_eq!(
        err.matches("connection refused").count(),
        1,
        "said once: {err}"
    );
}

#[test]
fn a_refused_parameter_ends_with_the_collectors_reason_and_no_backtrace() {
    let collector = Collector::start();
    let q = estuary(
        &[
            "query",
            "api",
            "--url",
            &collector.url,
            "--since",
            "last tuesday",
        ],
        &[("RUST_BACKTRACE", "1")],
    );
    assert_eq!(q.code, Some(1));
    assert!(q.stderr.contains("\"since\""), "{}", q.stderr);
    assert!(
        !q.stderr.to_lowercase().contains("backtrace"),
        "{}",
        q.stderr
    );
    assert_eq!(q.stderr.trim().lines().count(), 1, "one line: {}", q.stderr);

    let (exited, code, _, err) = run_for(
        &["tail", "--url", &collector.url, "--level", "loud"],
        &[],
        Duration::from_secs(10),
    );
    assert!(exited && code == Some(1), "a 400 ends tail: {err}");
    assert!(err.contains("level"), "{err}");
}
