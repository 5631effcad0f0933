//! Wrong credentials, an unreachable server, a table with an incompatible schema, and a
//! query backend that does not answer: clear errors in `/health` or the answer, never a
//! silent stall.

use serde_json::Value;

use super::{entry, forwarding, get, post, start, ARRIVAL};
use crate::support::{free_port, wait_until, ClickHouseServer, Collector};

/// Waits until `/health` is degraded with a reason containing every one of `words`.
fn wait_degraded(collector: &Collector, words: &[&str]) -> Value {
    let mut last = Value::Null;
    wait_until(
        ARRIVAL,
        &format!("/health degraded naming {words:?}"),
        || {
            last = collector.get("/health").1;
            last["status"] == "degraded"
                && last["reason"]
                    .as_str()
                    .is_some_and(|r| words.iter().all(|w| r.contains(w)))
        },
    );
    last
}

#[test]
fn wrong_credentials_show_in_health_naming_the_flags() {
    let server = ClickHouseServer::shared();
    let db = server.database("creds");
    let mut args = forwarding(server, &db, "c-creds");
    args.extend(["--clickhouse-user".into(), "intruder".into()]);
    args.extend(["--clickhouse-password".into(), "nope".into()]);
    let collector = start(&args, &[]);
    post(&collector, vec![entry("svc", 1)]);
    let health = wait_degraded(
        &collector,
        &["clickhouse", "credentials", "--clickhouse-user"],
    );
    // The password never shows.
    assert!(!health.to_string().contains("nope"), "{health}");
    // Ingestion goes on: the entry is in the files, waiting.
    assert_eq!(collector.lines("svc").len(), 1);
}

#[test]
fn an_unreachable_server_shows_in_health_and_queries_answer_503() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let collector = Collector::start_with(
        &[
            "--clickhouse-url",
            &url,
            "--query-backend",
            "clickhouse",
            "--forward-retry-max-ms",
            "200",
        ],
        &[],
    );
    post(&collector, vec![entry("svc", 1)]);
    wait_degraded(&collector, &["clickhouse", "unreachable", &url]);
    let (status, backend, body) = get(&collector, "/logs/svc");
    assert_eq!((status, backend.as_str()), (503, "clickhouse"), "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("query backend"),
        "{body}"
    );
}

#[test]
fn a_table_with_an_incompatible_schema_shows_in_health() {
    let server = ClickHouseServer::shared();
    let db = server.database("schema");
    server.exec(&format!(
        "CREATE TABLE {db}.estuary_logs (ts DateTime, service String, line String) \
         ENGINE = MergeTree PARTITION BY toYYYYMMDD(ts) ORDER BY (service, ts)"
    ));
    let collector = start(&forwarding(server, &db, "c-schema"), &[]);
    post(&collector, vec![entry("svc", 1)]);
    wait_degraded(
        &collector,
        &["incompatible schema", "ns", "--clickhouse-table"],
    );
    let count = server.exec(&format!("SELECT count() FROM {db}.estuary_logs"));
    assert_eq!(count.trim(), "0");
}

#[test]
fn the_query_backend_needs_a_clickhouse_url_and_names_must_be_identifiers() {
    let dir = tempfile::tempdir().unwrap();
    let err = Collector::try_start_in(
        dir.path(),
        free_port(),
        &["--query-backend", "clickhouse"],
        &[],
    )
    .err()
    .expect("refused")
    .to_string();
    assert!(err.contains("--clickhouse-url"), "{err}");
    let err = Collector::try_start_in(
        dir.path(),
        free_port(),
        &[
            "--clickhouse-url",
            "http://127.0.0.1:1",
            "--clickhouse-table",
            "x; DROP",
        ],
        &[],
    )
    .err()
    .expect("refused")
    .to_string();
    assert!(err.contains("--clickhouse-table"), "{err}");
}

#[test]
fn a_clickhouse_query_over_its_budget_answers_422_and_within_it_answers() {
    let server = ClickHouseServer::shared();
    let db = server.database("budget");
    let args = forwarding(server, &db, "c-budget");
    let files = start(&args, &[]);
    post(&files, (0..200).map(|n| entry("svc", n)).collect());
    super::wait_rows(server, &db, 200);
    // ClickHouse counts the bytes it reads uncompressed: 200 rows are far more than 100.
    let tight = start(
        &args,
        &["--query-backend", "clickhouse", "--max-scan-bytes", "100"],
    );
    // 18.16 applies `max_bytes_to_read` to the scans that read everything (a filter that
    // matches little, the merged newest page), not to `ORDER BY … LIMIT` from the start
    // or to the aggregations of histograms and facets over `FINAL`; those stay bounded by
    // the request timeout.
    for path in ["/logs/svc?limit=5&q=nowhere", "/logs?limit=5"] {
        let (status, backend, body) = get(&tight, path);
        assert_eq!(
            (status, backend.as_str()),
            (422, "clickhouse"),
            "{path}: {body}"
        );
        assert!(
            body["error"].as_str().unwrap().contains("--max-scan-bytes"),
            "{path}: {body}"
        );
    }
    let roomy = start(&args, &["--query-backend", "clickhouse"]);
    let (status, _, body) = get(&roomy, "/logs/svc?limit=5");
    assert_eq!((status, body["count"].as_u64()), (200, Some(5)), "{body}");
}
