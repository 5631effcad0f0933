//! Two collectors, each with its own `LOG_DIR`, one Redis, one ClickHouse: a query to
//! either answers with both halves in order, and a live stream on either shows both.

use std::time::Duration;

use serde_json::{json, Value};

use super::{entry, forwarding, get, post, wait_rows};
use crate::support::live::SseReader;
use crate::support::redis_server::RedisServer;
use crate::support::{wait_until, ClickHouseServer, Collector};

fn member(server: &ClickHouseServer, db: &str, name: &str, redis: &RedisServer) -> Collector {
    let mut args = forwarding(server, db, name);
    args.extend(["--query-backend".into(), "clickhouse".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Collector::start_with(&args, &[("REDIS_URL", &redis.url())])
}

#[test]
fn two_collectors_answer_every_entry_in_order_and_stream_both_halves() {
    let server = ClickHouseServer::shared();
    let db = server.database("cluster");
    let redis = RedisServer::start();
    let (a, b) = (
        member(server, &db, "c-a", &redis),
        member(server, &db, "c-b", &redis),
    );
    // Half to each, alternating, in time order; batches of 10 like a load balancer would.
    let total = 200u64;
    for start in (0..total).step_by(10) {
        let batch: Vec<Value> = (start..start + 10).map(|n| entry("shop", n)).collect();
        post(if start % 20 == 0 { &a } else { &b }, batch);
    }
    wait_rows(server, &db, total);
    for collector in [&a, &b] {
        let mut seen = Vec::new();
        let mut cursor = String::new();
        loop {
            let path = format!("/logs/shop?order=asc&limit=37{cursor}");
            let (status, backend, body) = get(collector, &path);
            assert_eq!((status, backend.as_str()), (200, "clickhouse"), "{body}");
            seen.extend(
                body["logs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["n"].clone()),
            );
            match body["next_cursor"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => break,
            }
        }
        let expected: Vec<Value> = (0..total).map(|n| json!(n)).collect();
        assert_eq!(seen, expected);
        // The merged query too, newest first.
        let (_, _, merged) = get(collector, "/logs?limit=3&order=desc");
        let newest: Vec<&Value> = merged["logs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["n"])
            .collect();
        assert_eq!(newest, [&json!(199), &json!(198), &json!(197)]);
    }

    // Live: a stream on either collector shows what the other one ingests.
    for (reader, writer) in [(&a, &b), (&b, &a)] {
        let stream = SseReader::open(&format!("{}/logs/live/stream", reader.url));
        let mut n = 1000;
        wait_until(
            Duration::from_secs(30),
            "an entry from the other collector",
            || {
                n += 1;
                post(writer, vec![json!({"service": "live", "n": n})]);
                stream
                    .next(Duration::from_millis(100))
                    .is_some_and(|e| e.data.contains("\"n\":"))
            },
        );
    }
}
