//! ClickHouse as forwarding target and query backend, against a real `clickhouse-server`
//! (Debian's 18.16): one shared server per test process, a database per test; the restart
//! test runs its own server.

mod cluster;
mod contract;
mod errors;
mod forward;

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{wait_until, ClickHouseServer, Collector};

/// How long a test waits for rows to arrive.
const ARRIVAL: Duration = Duration::from_secs(60);

/// The flags that forward into `database` on `server` as `name`, with short waits.
fn forwarding(server: &ClickHouseServer, database: &str, name: &str) -> Vec<String> {
    [
        "--clickhouse-url",
        &server.url(),
        "--clickhouse-database",
        database,
        "--collector-name",
        name,
        "--forward-batch-wait-ms",
        "50",
        "--forward-retry-min-ms",
        "20",
        "--forward-retry-max-ms",
        "200",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Starts a collector with `args` plus `extra`.
fn start(args: &[String], extra: &[&str]) -> Collector {
    let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
    all.extend_from_slice(extra);
    Collector::start_with(&all, &[])
}

/// Rows of the table once copies are merged away (`FINAL`).
fn rows(server: &ClickHouseServer, database: &str) -> u64 {
    server
        .query(&format!(
            "SELECT count() FROM {database}.estuary_logs FINAL"
        ))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

/// Waits until the table holds `count` rows.
fn wait_rows(server: &ClickHouseServer, database: &str, count: u64) {
    wait_until(ARRIVAL, &format!("{count} rows in {database}"), || {
        rows(server, database) == count
    });
}

/// Posts `entries` (JSON objects) in one request and checks the 201.
fn post(collector: &Collector, entries: Vec<Value>) {
    let (status, answer) = collector.post_json(&Value::Array(entries));
    assert_eq!(status, 201, "{answer}");
}

/// An entry of `service` numbered `n`, stamped `n` milliseconds after a fixed instant.
fn entry(service: &str, n: u64) -> Value {
    let ms = n % 1000;
    let secs = n / 1000;
    json!({
        "service": service,
        "timestamp": format!("2026-12-01T10:{:02}:{:02}.{ms:03}Z", secs / 60 % 60, secs % 60),
        "level": (["debug", "info", "warn", "error"][(n % 4) as usize]),
        "message": format!("entry {n}"),
        "n": n,
    })
}

/// `GET path` on `collector`: status, `Estuary-Backend` header, JSON body.
fn get(collector: &Collector, path: &str) -> (u16, String, Value) {
    let response = crate::support::http()
        .get(format!("{}{path}", collector.url))
        .send()
        .expect("GET");
    let status = response.status().as_u16();
    let backend = response
        .headers()
        .get("estuary-backend")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.json().unwrap_or(Value::Null);
    (status, backend, body)
}

/// The `/health` entry of the ClickHouse forwarder.
fn forwarder(collector: &Collector) -> Value {
    let (_, health) = collector.get("/health");
    health["forwarders"]
        .as_array()
        .and_then(|all| all.iter().find(|f| f["kind"] == "clickhouse"))
        .cloned()
        .unwrap_or(Value::Null)
}
