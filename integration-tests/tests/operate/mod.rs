//! Operating the collector where other people's services can reach it: access control,
//! rate limits, timeouts and caps, its own metrics, hostile input and fault drills — all
//! against the real binary. (Disk full is in `collector::durability`.)

mod access;
mod connections;
mod hostile;
mod limits;
mod metrics;
mod open_files;
mod openapi;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use reqwest::blocking::RequestBuilder;
use serde_json::Value;

use crate::support::Collector;

/// A JSON answer with its status and headers.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
}

/// Sends `request` and parses the answer as JSON (panics when it is not JSON).
pub fn send(request: RequestBuilder) -> Answer {
    let response = request.send().expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().expect("body");
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("non-JSON answer ({status}): {e}: {text}"));
    Answer {
        status,
        headers,
        json,
    }
}

/// `POST /logs` of a JSON value with extra headers.
pub fn post(collector: &Collector, headers: &[(&str, &str)], body: &Value) -> Answer {
    let mut request = crate::support::http()
        .post(format!("{}/logs", collector.url))
        .header("content-type", "application/json")
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(request)
}

/// `GET` a path with extra headers.
pub fn get(collector: &Collector, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = crate::support::http().get(format!("{}{path}", collector.url));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(request)
}

/// Opens `path` over a raw connection and reads up to the end of the response headers;
/// returns the status line and the open connection (a live stream stays open in it).
pub fn raw_get(collector: &Collector, path: &str) -> (String, TcpStream) {
    let mut stream = TcpStream::connect(("127.0.0.1", collector.port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: estuary\r\n\r\n").expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            stream.read(&mut byte).expect("read headers"),
            1,
            "closed mid-headers"
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    (head.lines().next().unwrap_or_default().to_owned(), stream)
}

/// Raises this process's open-file limit (the children inherit it), so a test can hold
/// many connections on both ends.
pub fn raise_open_files(wanted: u64) {
    #[allow(unsafe_code)]
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by pointer.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < wanted {
            limit.rlim_cur = wanted.min(limit.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}
