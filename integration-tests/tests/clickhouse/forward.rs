//! The forwarder: rows and their columns, visibility after the batch wait, a server
//! restart mid-stream, and copies from a resend merged away.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{entry, forwarder, forwarding, get, post, rows, start, wait_rows, ARRIVAL};
use crate::support::{wait_until, ClickHouseServer};

#[test]
fn entries_become_rows_with_the_documented_columns() {
    let server = ClickHouseServer::shared();
    let db = server.database("columns");
    let collector = start(&forwarding(server, &db, "c-one"), &[]);
    let hostile = "it's \\ \"quoted\" é '); DROP TABLE x; --";
    post(
        &collector,
        vec![
            json!({"service": "api", "timestamp": "2026-12-01T10:00:00.123456789Z", "level": "WARN",
                   "target": "api::db", "message": hostile, "trace_id": "t1", "span_id": "s1",
                   "fields": {"user": {"id": 7}, "ok": true}}),
            json!({"service": "api", "timestamp": "2026-12-01T10:00:01Z", "msg": "short", "severity": "ERROR"}),
        ],
    );
    wait_rows(server, &db, 2);
    let answer = server.exec(&format!(
        "SELECT toUInt32(ts) AS secs, ns, service, severity, level, target, message, trace_id, span_id, \
         attr_keys, attr_values, line, collector, stream_offset FROM {db}.estuary_logs ORDER BY stream_offset FORMAT JSONEachRow"
    ));
    let rows: Vec<Value> = answer
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let stored = collector.raw("api");
    let lines: Vec<&[u8]> = stored
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(rows[0]["secs"], 1_796_119_200);
    assert_eq!(rows[0]["ns"], 123_456_789);
    assert_eq!(rows[0]["service"], "api");
    assert_eq!(rows[0]["severity"], 3);
    assert_eq!(rows[0]["level"], "WARN");
    assert_eq!(rows[0]["target"], "api::db");
    assert_eq!(rows[0]["message"], hostile);
    assert_eq!(
        (&rows[0]["trace_id"], &rows[0]["span_id"]),
        (&json!("t1"), &json!("s1"))
    );
    let keys = rows[0]["attr_keys"].as_array().unwrap();
    let at = keys
        .iter()
        .position(|k| k == "fields.user.id")
        .expect("nested key");
    assert_eq!(rows[0]["attr_values"][at], "j7");
    assert_eq!(rows[0]["collector"], "c-one");
    assert_eq!(rows[0]["stream_offset"], "0");
    // The whole stored line, byte for byte.
    assert_eq!(rows[0]["line"].as_str().unwrap().as_bytes(), lines[0]);
    assert_eq!(rows[1]["line"].as_str().unwrap().as_bytes(), lines[1]);
    assert_eq!(
        (&rows[1]["severity"], &rows[1]["message"]),
        (&json!(4), &json!("short"))
    );
    assert_eq!(rows[1]["stream_offset"], (lines[0].len() + 1).to_string());
    wait_until(ARRIVAL, "the forwarder reports its delivery", || {
        let status = forwarder(&collector);
        status["sent_entries"] == 2 && status["lag_entries"] == 0
    });
    assert_eq!(collector.get("/health").1["status"], "healthy");
}

#[test]
fn uncompressed_inserts_in_small_batches_store_the_same_rows_as_gzip_ones() {
    let server = ClickHouseServer::shared();
    let (gzip_db, plain_db) = (server.database("gzip"), server.database("plain"));
    let gzip = start(&forwarding(server, &gzip_db, "c-same"), &[]);
    let plain = start(
        &forwarding(server, &plain_db, "c-same"),
        &[
            "--clickhouse-compression",
            "none",
            "--clickhouse-batch-entries",
            "7",
        ],
    );
    let entries: Vec<Value> = (0..30)
        .map(|i| {
            json!({"service": "same", "timestamp": format!("2026-12-01T10:00:{i:02}Z"),
                   "level": "info", "message": format!("é \"{i}\" \\ \u{1}"), "fields": {"n": i, "x": 1.50}})
        })
        .collect();
    post(&gzip, entries.clone());
    post(&plain, entries);
    wait_rows(server, &gzip_db, 30);
    wait_rows(server, &plain_db, 30);
    let select = |db: &str| {
        server.exec(&format!(
            "SELECT toUInt32(ts), ns, service, severity, level, target, message, attr_keys, attr_values, \
             line, collector, stream_offset FROM {db}.estuary_logs ORDER BY stream_offset FORMAT JSONEachRow"
        ))
    };
    let (zipped, unzipped) = (select(&gzip_db), select(&plain_db));
    assert_eq!(zipped.lines().count(), 30);
    assert_eq!(zipped, unzipped);
    // Batches of at most 7: at least five inserts, each writing a part of level 0 (merged
    // parts have higher levels; replaced ones stay listed, inactive, for minutes).
    let inserts = |db: &str| -> u64 {
        server
            .exec(&format!(
                "SELECT count() FROM system.parts WHERE database = '{db}' AND level = 0"
            ))
            .trim()
            .parse()
            .unwrap()
    };
    assert!(inserts(&plain_db) >= 5, "{}", inserts(&plain_db));
    assert!(inserts(&gzip_db) < inserts(&plain_db));
}

#[test]
fn entries_are_visible_to_queries_within_the_batch_wait_and_one_insert() {
    let server = ClickHouseServer::shared();
    let db = server.database("visible");
    let wait_ms = 200;
    let mut args = forwarding(server, &db, "c-vis");
    let at = args
        .iter()
        .position(|a| a == "--forward-batch-wait-ms")
        .unwrap();
    args[at + 1] = wait_ms.to_string();
    let collector = start(&args, &["--query-backend", "clickhouse"]);
    post(&collector, vec![entry("vis", 1)]);
    // Let the table be created first, so the measurement below is one insert.
    wait_rows(server, &db, 1);
    let posted = Instant::now();
    post(&collector, vec![entry("vis", 2)]);
    wait_until(ARRIVAL, "the entry is visible", || {
        get(&collector, "/logs/vis").2["count"] == 2
    });
    let visible = posted.elapsed();
    // The documented bound: the batch wait, plus the idle poll (1 s) when a wake-up is
    // missed, plus one insert; generous here, for a loaded CI machine.
    let bound = Duration::from_millis(wait_ms) + Duration::from_secs(1) + Duration::from_secs(10);
    assert!(visible < bound, "visible after {visible:?}");
}

#[test]
fn a_clickhouse_restart_mid_stream_loses_nothing_and_a_resend_leaves_no_copies() {
    let mut server = ClickHouseServer::start();
    let db = server.database("restart");
    let mut collector = start(&forwarding(&server, &db, "c-restart"), &[]);
    let mut n = 0;
    let mut send = |count: u64| {
        for _ in 0..count / 20 {
            post(&collector, (n..n + 20).map(|i| entry("svc", i)).collect());
            n += 20;
        }
    };
    send(100);
    wait_rows(&server, &db, 100);
    server.stop();
    send(100);
    wait_until(ARRIVAL, "the outage shows in /health", || {
        let (_, health) = collector.get("/health");
        health["status"] == "degraded"
            && health["reason"]
                .as_str()
                .is_some_and(|r| r.contains("clickhouse") && r.contains("unreachable"))
    });
    send(100);
    server.restart();
    wait_rows(&server, &db, 300);
    wait_until(ARRIVAL, "healthy again", || {
        collector.get("/health").1["status"] == "healthy"
    });
    // A crash between an insert and its checkpoint sends rows again: do it wholesale by
    // forgetting the checkpoint.
    collector.terminate();
    std::fs::remove_file(collector.dir.join(".forward").join("clickhouse.json")).unwrap();
    collector.start_again();
    wait_until(ARRIVAL, "everything sent again", || {
        forwarder(&collector)["sent_entries"] == 300
    });
    // Reads use FINAL: no copy is ever counted.
    assert_eq!(rows(&server, &db), 300);
    let distinct = server.exec(&format!(
        "SELECT uniqExact(stream_offset) FROM {db}.estuary_logs FINAL"
    ));
    assert_eq!(distinct.trim(), "300");
    // And a merge removes them from disk.
    server.exec(&format!("OPTIMIZE TABLE {db}.estuary_logs FINAL"));
    let left = server.exec(&format!("SELECT count() FROM {db}.estuary_logs"));
    assert_eq!(left.trim(), "300");
}
