//! Rate limits, the body deadline, the live-stream cap and the connection cap.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{get, post, raw_get};
use crate::support::{wait_until, Collector};

#[test]
fn over_the_rate_limit_a_client_gets_429_with_retry_after_and_health_is_never_limited() {
    let collector = Collector::start_with(&["--rate-limit", "1", "--rate-limit-burst", "3"], &[]);
    let entry = json!({"service": "rl", "m": 1});
    let statuses: Vec<u16> = (0..8)
        .map(|_| post(&collector, &[], &entry).status)
        .collect();
    assert_eq!(&statuses[..3], &[201, 201, 201], "{statuses:?}");
    let limited = post(&collector, &[], &entry);
    assert_eq!(limited.status, 429, "{statuses:?}");
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=3).contains(&retry), "Retry-After {retry}");
    assert_eq!(limited.json["retry_after"], retry);
    assert!(limited.json["error"]
        .as_str()
        .expect("error")
        .contains("rate limit"));
    assert!((0..20).all(|_| get(&collector, "/health", &[]).status == 200));

    std::thread::sleep(Duration::from_secs(retry));
    assert_eq!(
        post(&collector, &[], &entry).status,
        201,
        "allowed again after Retry-After"
    );
    let stored = collector.lines("rl").len();
    assert_eq!(stored, statuses.iter().filter(|s| **s == 201).count() + 1);
}

#[test]
fn without_a_rate_limit_a_burst_is_never_refused() {
    let collector = Collector::start();
    let url = format!("{}/logs", collector.url);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let url = url.clone();
            std::thread::spawn(move || {
                let http = crate::support::http();
                (0..100)
                    .map(|i| {
                        http.post(&url)
                            .json(&json!({"service": "burst", "t": t, "i": i}))
                            .send()
                            .expect("post")
                            .status()
                            .as_u16()
                    })
                    .filter(|status| *status != 201)
                    .count()
            })
        })
        .collect();
    let refused: usize = threads.into_iter().map(|t| t.join().expect("thread")).sum();
    assert_eq!(refused, 0);
    assert_eq!(collector.lines("burst").len(), 400);
}

#[test]
fn a_trickling_body_is_cut_off_with_408_and_nothing_is_written() {
    let collector = Collector::start_with(&["--body-timeout-secs", "1"], &[]);
    let mut stream = TcpStream::connect(("127.0.0.1", collector.port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    let head = "POST /logs HTTP/1.1\r\nHost: estuary\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n";
    stream.write_all(head.as_bytes()).expect("headers");
    let mut writer = stream.try_clone().expect("clone");
    let started = Instant::now();
    let trickle = std::thread::spawn(move || {
        for byte in b"{\"service\":\"slow\",\"m\":\"".iter().cycle().take(100) {
            if writer.write_all(&[*byte]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let elapsed = started.elapsed();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"error\""), "{answer}");
    assert!(
        elapsed < Duration::from_secs(5),
        "cut off after {elapsed:?}"
    );
    trickle.join().expect("trickle");
    assert_eq!(collector.files(), Vec::<String>::new());
    assert_eq!(
        post(&collector, &[], &json!({"service": "fast"})).status,
        201
    );
}

#[test]
fn trickling_headers_get_the_connection_closed() {
    let collector = Collector::start_with(&["--header-timeout-secs", "1"], &[]);
    let mut stream = TcpStream::connect(("127.0.0.1", collector.port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    stream
        .write_all(b"GET /health HTTP/1.1\r\n")
        .expect("request line");
    let mut writer = stream.try_clone().expect("clone");
    let started = Instant::now();
    let trickle = std::thread::spawn(move || {
        for byte in b"X-Slow: ".iter().cycle().take(100) {
            if writer.write_all(&[*byte]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(5),
        "still open after {elapsed:?}"
    );
    assert!(!String::from_utf8_lossy(&answer).contains("healthy"));
    trickle.join().expect("trickle");
    assert_eq!(collector.get("/health").0, 200);
}

#[test]
fn live_streams_beyond_the_cap_get_503_until_one_closes() {
    let collector =
        Collector::start_with(&["--max-streams", "2", "--sse-heartbeat-secs", "1"], &[]);
    let (first, _one) = raw_get(&collector, "/logs/stream");
    let (second, two) = raw_get(&collector, "/logs/a/stream");
    assert!(
        first.contains(" 200 ") && second.contains(" 200 "),
        "{first} / {second}"
    );
    let refused = get(&collector, "/logs/stream", &[]);
    assert_eq!(refused.status, 503, "{}", refused.json);
    assert!(refused.json["error"]
        .as_str()
        .expect("error")
        .contains("streams"));
    assert_eq!(
        get(&collector, "/logs/a", &[]).status,
        200,
        "queries are not streams"
    );

    drop(two);
    // The server notices the closed stream at its next heartbeat write.
    wait_until(Duration::from_secs(10), "a freed stream slot", || {
        raw_get(&collector, "/logs/stream").0.contains(" 200 ")
    });
}

#[test]
fn at_the_connection_cap_health_still_answers_and_beyond_the_reserve_clients_wait() {
    let collector = Collector::start_with(&["--max-connections", "2"], &[]);
    let connect = || TcpStream::connect(("127.0.0.1", collector.port)).expect("connect");
    let held: Vec<TcpStream> = (0..2).map(|_| connect()).collect();
    // Each held connection is accepted (and takes its slot) once the server has seen it.
    wait_until(
        Duration::from_secs(5),
        "the reserve to serve /health",
        || {
            let (status, _) = raw_get(&collector, "/health");
            status.starts_with("HTTP/1.1 200")
        },
    );
    let (status, mut refused) = raw_get(&collector, "/logs/x");
    assert!(status.starts_with("HTTP/1.1 503"), "{status}");
    let mut rest = String::new();
    let _ = refused.read_to_string(&mut rest);
    assert!(rest.contains("connection limit"), "{rest}");

    // With the reserve held too, a new connection waits in the backlog.
    let reserve: Vec<TcpStream> = (0..4).map(|_| connect()).collect();
    let quick = reqwest::blocking::Client::builder()
        .timeout(Duration::from_millis(700))
        .build()
        .expect("client");
    wait_until(Duration::from_secs(5), "a new connection to wait", || {
        quick
            .get(format!("{}/health", collector.url))
            .send()
            .is_err()
    });

    drop(held);
    drop(reserve);
    let (status, _) = collector.get("/health");
    assert_eq!(status, 200);
}

#[test]
fn one_address_cannot_hold_every_connection() {
    let collector = Collector::start_with(
        &[
            "--max-connections",
            "100",
            "--max-connections-per-address",
            "3",
        ],
        &[],
    );
    let held: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(("127.0.0.1", collector.port)).expect("connect"))
        .collect();
    // A fourth connection from the same address is closed without an answer.
    let mut fourth = TcpStream::connect(("127.0.0.1", collector.port)).expect("connect");
    fourth
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let _ = write!(fourth, "GET /health HTTP/1.1\r\nHost: e\r\n\r\n");
    let mut answer = Vec::new();
    let read = fourth.read_to_end(&mut answer);
    assert!(
        read.is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset) || answer.is_empty(),
        "the fourth connection was served: {}",
        String::from_utf8_lossy(&answer)
    );
    drop(held);
    wait_until(
        Duration::from_secs(5),
        "a slot of the address to free",
        || collector.get("/health").0 == 200,
    );
}
