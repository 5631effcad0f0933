//! A thousand connections held open — idle, stuck mid-headers or mid-body — while another
//! client keeps ingesting.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

use super::raise_open_files;
use crate::support::{http, Collector};

const HELD: usize = 1000;

/// What each held connection has sent so far.
fn hold(port: u16, index: usize) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let sent: &[u8] = match index % 3 {
        0 => b"",
        1 => b"GET /health HTTP/1.1\r\nHost: estuary\r\n",
        _ => b"POST /logs HTTP/1.1\r\nHost: estuary\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"service\":\"held\"",
    };
    stream.write_all(sent).expect("partial request");
    stream
}

#[test]
fn a_thousand_connections_held_open_do_not_stop_ingestion() {
    raise_open_files(4 * HELD as u64);
    let collector = Collector::start();
    let mut held: Vec<TcpStream> = (0..HELD).map(|i| hold(collector.port, i)).collect();

    let client = http();
    let started = Instant::now();
    for seq in 0..200 {
        let resp = client
            .post(format!("{}/logs", collector.url))
            .json(&json!({"service": "busy", "seq": seq}))
            .send()
            .expect("post while connections are held");
        assert_eq!(resp.status().as_u16(), 201);
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "ingestion crawled: {:?}",
        started.elapsed()
    );
    assert_eq!(collector.lines("busy").len(), 200);
    assert!(!collector.log_path("held").exists());

    // The server kept every connection: the idle ones are open, and the ones stuck
    // mid-headers are served once their request is complete.
    for stream in held.iter().step_by(3) {
        stream.set_nonblocking(true).expect("nonblocking");
        let mut byte = [0u8; 1];
        let peek = stream.peek(&mut byte);
        assert!(
            matches!(&peek, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "{peek:?}"
        );
    }
    for stream in held.iter_mut().skip(1).step_by(3).take(20) {
        stream
            .write_all(b"Connection: close\r\n\r\n")
            .expect("finish request");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("answer");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    assert_eq!(collector.get("/health").0, 200);
}
