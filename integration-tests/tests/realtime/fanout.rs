//! Every stored entry reaches `logs:all` and `logs:<service>`, only after the write, and
//! Redis trouble never touches ingestion.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::live::Subscriber;
use crate::support::redis_server::RedisServer;
use crate::support::{wait_until, Collector};

const WAIT: Duration = Duration::from_secs(30);

fn collector_on(redis: &RedisServer) -> Collector {
    Collector::start_with(&[], &[("REDIS_URL", &redis.url())])
}

#[test]
fn every_entry_of_a_ten_thousand_entry_load_is_published_in_order_per_service() {
    let redis = RedisServer::start();
    let collector = collector_on(&redis);
    let all = Subscriber::start(&redis.url(), &["logs:all"]);
    let per_service = Subscriber::start(&redis.url(), &["logs:fa", "logs:fb"]);

    for batch in 0..10 {
        let body: Vec<_> = (0..1000)
            .map(|i| {
                let seq = batch * 1000 + i;
                json!({"service": if seq % 2 == 0 { "fa" } else { "fb" }, "seq": seq})
            })
            .collect();
        assert_eq!(collector.post_json(&json!(body)).0, 201);
    }
    let published = all.take(10_000, WAIT);
    let mut last = [-1i64, -1];
    for (_, payload) in &published {
        let entry: Value = serde_json::from_str(payload).expect("json");
        let seq = entry["seq"].as_i64().expect("seq");
        let slot = (seq % 2) as usize;
        assert!(seq > last[slot], "out of order: {seq} after {}", last[slot]);
        last[slot] = seq;
    }
    let own = per_service.take(10_000, WAIT);
    assert_eq!(own.iter().filter(|(c, _)| c == "logs:fa").count(), 5_000);
    // Commits of both services share script calls: each line still goes to its own channel.
    for (channel, payload) in &own {
        let entry: Value = serde_json::from_str(payload).expect("json");
        let service = entry["service"].as_str().expect("service");
        assert_eq!(channel, &format!("logs:{service}"), "{payload}");
    }
    // What is published is exactly what is stored.
    let stored = String::from_utf8(collector.raw("fa")).expect("utf8");
    let first_fa = own
        .iter()
        .find(|(c, _)| c == "logs:fa")
        .expect("fa")
        .1
        .clone();
    assert_eq!(stored.lines().next(), Some(first_fa.as_str()));
}

#[test]
fn nothing_is_published_for_a_rejected_request() {
    let redis = RedisServer::start();
    let collector = collector_on(&redis);
    let all = Subscriber::start(&redis.url(), &["logs:all"]);
    let bad = json!([{"service": "ok", "m": "must not appear"}, {"service": "../x"}]);
    assert_eq!(collector.post_json(&bad).0, 400);
    assert_eq!(
        collector
            .post_json(&json!({"service": "ok", "m": "marker"}))
            .0,
        201
    );
    let (_, first) = all.next(WAIT).expect("marker published");
    assert!(first.contains("marker"), "{first}");
}

#[test]
fn a_redis_outage_never_fails_ingestion_and_publishing_resumes_on_its_own() {
    let mut redis = RedisServer::start();
    let collector = collector_on(&redis);
    let all = Subscriber::start(&redis.url(), &["logs:all"]);
    assert_eq!(
        collector.post_json(&json!({"service": "o", "i": -1})).0,
        201
    );
    all.next(WAIT).expect("published while up");

    redis.stop();
    for i in 0..200 {
        assert_eq!(collector.post_json(&json!({"service": "o", "i": i})).0, 201);
    }
    assert_eq!(collector.lines("o").len(), 201);
    wait_until(WAIT, "skipped entries in /health", || {
        let health = collector.get("/health").1;
        health["fanout"]["skipped"].as_u64().unwrap_or(0) > 0
            && health["fanout"]["connected"] == false
    });

    let outage_logs = collector.stderr().matches("Redis fan-out is down").count();
    assert_eq!(outage_logs, 1, "the outage is logged once, not per entry");

    redis.restart();
    let all = Subscriber::start(&redis.url(), &["logs:all"]);
    let mut n = 0;
    wait_until(WAIT, "publishing to resume", || {
        n += 1;
        assert_eq!(
            collector.post_json(&json!({"service": "o", "resume": n})).0,
            201
        );
        all.next(Duration::from_millis(100)).is_some()
    });
    assert_eq!(collector.get("/health").1["fanout"]["connected"], true);
}

/// A section of the server's `INFO`.
fn info(redis: &RedisServer, section: &str) -> String {
    let client = redis::Client::open(redis.url()).expect("redis url");
    let mut connection = client.get_connection().expect("redis connection");
    redis::cmd("INFO")
        .arg(section)
        .query(&mut connection)
        .expect("INFO")
}

/// Calls of `command` (lower case) Redis has run so far, those made by the collector's
/// script included.
fn calls(redis: &RedisServer, command: &str) -> u64 {
    let prefix = format!("cmdstat_{command}:calls=");
    info(redis, "commandstats")
        .lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .map_or(0, |rest| {
            rest.split(',')
                .next()
                .unwrap_or("0")
                .parse()
                .expect("calls")
        })
}

/// The channels of the next `count` messages, sorted.
fn channels_of_next(subscriber: &Subscriber, count: usize) -> Vec<String> {
    let mut channels: Vec<_> = subscriber
        .take(count, WAIT)
        .into_iter()
        .map(|(channel, _)| channel)
        .collect();
    channels.sort();
    channels
}

#[test]
fn channels_nobody_listens_to_are_not_published_to() {
    let redis = RedisServer::start();
    let collector = collector_on(&redis);
    let fa = Subscriber::start(&redis.url(), &["logs:fa"]);
    let before = calls(&redis, "publish");
    // fb's entries come first: once fa's last one is out, the publisher is past them too.
    for i in 0..2 {
        assert_eq!(
            collector.post_json(&json!({"service": "fb", "i": i})).0,
            201
        );
    }
    let batch: Vec<_> = (0..3).map(|i| json!({"service": "fa", "i": i})).collect();
    assert_eq!(collector.post_json(&json!(batch)).0, 201);
    let got = fa.take(3, WAIT);
    assert!(
        got.iter().all(|(channel, _)| channel == "logs:fa"),
        "{got:?}"
    );
    // Nobody on logs:all or logs:fb: only fa's three lines on logs:fa were published.
    assert_eq!(calls(&redis, "publish") - before, 3);
    assert_eq!(collector.get("/health").1["fanout"]["published"], 5);

    // A pattern subscriber could match any channel: then every channel is published to.
    let everything = Subscriber::start(&redis.url(), &["logs:*"]);
    assert_eq!(
        collector.post_json(&json!({"service": "fb", "i": 2})).0,
        201
    );
    assert_eq!(channels_of_next(&everything, 2), ["logs:all", "logs:fb"]);
}

#[test]
fn no_line_is_sent_to_redis_while_nobody_listens() {
    let redis = RedisServer::start();
    let collector = collector_on(&redis);
    let batch: Vec<_> = (0..20)
        .map(|i| json!({"service": if i % 2 == 0 { "na" } else { "nb" }, "i": i}))
        .collect();
    assert_eq!(collector.post_json(&json!(batch)).0, 201);
    for i in 20..25 {
        assert_eq!(
            collector.post_json(&json!({"service": "na", "i": i})).0,
            201
        );
    }
    wait_until(WAIT, "the 25 entries to be handled", || {
        collector.get("/health").1["fanout"]["published"] == 25
    });
    // Redis was asked who listens, and was sent none of the lines.
    assert!(calls(&redis, "pubsub|numsub") > 0);
    assert_eq!(calls(&redis, "evalsha"), 0);
    assert_eq!(calls(&redis, "publish"), 0);

    // The next entry after a subscription is published: who listens is asked again for
    // every group, not remembered.
    let all = Subscriber::start(&redis.url(), &["logs:all"]);
    assert_eq!(
        collector.post_json(&json!({"service": "nb", "i": 25})).0,
        201
    );
    let (channel, line) = all.take(1, WAIT).remove(0);
    assert_eq!(channel, "logs:all");
    assert_eq!(serde_json::from_str::<Value>(&line).expect("json")["i"], 25);
}

#[test]
fn subscribers_on_a_replica_get_every_channel() {
    let primary = RedisServer::start();
    let port = primary.port.to_string();
    let replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port]);
    // In sync on both sides: the replica has loaded the primary's data, and the primary
    // counts it (what the collector asks).
    wait_until(WAIT, "the replica to be in sync", || {
        info(&replica, "replication").contains("master_link_status:up")
            && info(&primary, "replication").contains("connected_slaves:1")
    });
    let collector = collector_on(&primary);
    // Nobody listens on the primary; the replica's subscriber is not counted there.
    let on_replica = Subscriber::start(&replica.url(), &["logs:all", "logs:fr"]);
    assert_eq!(
        collector.post_json(&json!({"service": "fr", "m": 1})).0,
        201
    );
    assert_eq!(channels_of_next(&on_replica, 2), ["logs:all", "logs:fr"]);
}

#[test]
fn the_channel_prefix_is_configurable() {
    let redis = RedisServer::start();
    let collector =
        Collector::start_with(&["--redis-prefix", "app:"], &[("REDIS_URL", &redis.url())]);
    let sub = Subscriber::start(&redis.url(), &["app:all", "app:svc"]);
    assert_eq!(
        collector.post_json(&json!({"service": "svc", "m": 1})).0,
        201
    );
    assert_eq!(channels_of_next(&sub, 2), ["app:all", "app:svc"]);
}

#[test]
fn a_redis_url_with_password_and_database_works() {
    let redis = RedisServer::start_with(&["--requirepass", "s3cret"]);
    let url = format!("redis://:s3cret@127.0.0.1:{}/3", redis.port);
    let collector = Collector::start_with(&[], &[("REDIS_URL", &url)]);
    let all = Subscriber::start(&url, &["logs:all"]);
    assert_eq!(
        collector.post_json(&json!({"service": "auth", "m": 1})).0,
        201
    );
    let (_, payload) = all.next(WAIT).expect("published with a password");
    assert!(payload.contains("\"auth\""));
    assert_eq!(collector.get("/health").1["fanout"]["skipped"], 0);
}

#[test]
fn a_rediss_url_publishes_over_tls() {
    let redis = RedisServer::start_tls();
    assert!(redis.url().starts_with("rediss://"), "{}", redis.url());
    let collector = collector_on(&redis);
    wait_until(WAIT, "a publish over TLS", || {
        assert_eq!(
            collector.post_json(&json!({"service": "tls", "m": 1})).0,
            201
        );
        let fanout = collector.get("/health").1["fanout"].clone();
        fanout["published"].as_u64().unwrap_or(0) > 0
    });
}

#[test]
fn the_live_tail_example_prints_entries_from_redis() {
    use std::io::{BufRead, BufReader};
    let example = crate::support::estuary_bin()
        .with_file_name("examples")
        .join("live_tail_redis");
    assert!(
        example.exists(),
        "{} is built by `cargo test --workspace`",
        example.display()
    );
    let redis = RedisServer::start();
    let collector = collector_on(&redis);
    let mut child = std::process::Command::new(example)
        .env("REDIS_URL", redis.url())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("example");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // The example subscribes asynchronously: post until it prints.
    let mut line = None;
    wait_until(WAIT, "the example to print an entry", || {
        assert_eq!(
            collector
                .post_json(&json!({"service": "ex", "m": "from-example"}))
                .0,
            201
        );
        line = rx.recv_timeout(Duration::from_millis(200)).ok();
        line.is_some()
    });
    let line = line.expect("line");
    assert!(
        line.starts_with("logs:all\t") || line.starts_with("logs:ex\t"),
        "{line}"
    );
    assert!(line.contains("from-example"));
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn fanout_beyond_the_rate_cap_is_skipped_and_counted_never_refused() {
    let redis = RedisServer::start();
    let collector = Collector::start_with(
        &["--fanout-max-rate", "1000"],
        &[("REDIS_URL", &redis.url())],
    );
    for batch in 0..5 {
        let body: Vec<_> = (0..1000)
            .map(|i| json!({"service": "cap", "n": batch * 1000 + i}))
            .collect();
        assert_eq!(collector.post_json(&json!(body)).0, 201);
    }
    assert_eq!(
        collector.lines("cap").len(),
        5000,
        "ingestion is never refused"
    );
    wait_until(WAIT, "the publisher to settle", || {
        let fanout = collector.get("/health").1["fanout"].clone();
        let (published, skipped) = (
            fanout["published"].as_u64().unwrap_or(0),
            fanout["skipped"].as_u64().unwrap_or(0),
        );
        published + skipped == 5000
    });
    let fanout = collector.get("/health").1["fanout"].clone();
    assert!(
        fanout["skipped"].as_u64().expect("skipped") >= 3000,
        "{fanout}"
    );
}
