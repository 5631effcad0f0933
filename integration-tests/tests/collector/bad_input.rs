//! Bad input gets a clear 4xx with a JSON error, is never written, and never takes the
//! server down.

use serde_json::{json, Value};

use crate::support::{http, Collector};

/// Posts `body`, asserts the status and a JSON `error`, and that nothing reached the disk.
fn refused(
    collector: &Collector,
    content_type: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
    status: u16,
) -> Value {
    let (got, answer) = collector.post_raw(content_type, encoding, body);
    assert_eq!(got, status, "{answer}");
    assert!(
        answer["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{answer}"
    );
    assert_eq!(
        collector.files(),
        Vec::<String>::new(),
        "something was written"
    );
    answer
}

#[test]
fn malformed_json_and_invalid_utf8_get_400() {
    let collector = Collector::start();
    for body in [
        &b"{\"service\":"[..],
        b"not json",
        b"[{\"a\":1},]",
        b"",
        b"{\"m\":\"\xff\xfe\"}",
    ] {
        refused(&collector, "application/json", None, body.to_vec(), 400);
    }
    refused(
        &collector,
        "application/x-ndjson",
        None,
        b"{\"a\":1}\n{oops}\n".to_vec(),
        400,
    );
    assert_eq!(collector.get("/health").0, 200);
}

#[test]
fn non_object_entries_get_400_naming_the_index() {
    let collector = Collector::start();
    for (body, index) in [
        ("[{\"a\":1},{\"b\":2},\"str\"]", 2),
        ("42", 0),
        ("[[1]]", 0),
        ("null", 0),
    ] {
        let answer = refused(&collector, "application/json", None, body.into(), 400);
        assert_eq!(answer["index"], index, "{body}: {answer}");
    }
}

#[test]
fn bad_service_names_are_refused_and_nothing_escapes_log_dir() {
    let collector = Collector::start();
    let long = "x".repeat(129);
    let names = [
        "../x",
        "a/b",
        "..",
        ".hidden",
        "",
        "a\u{0}b",
        "../../etc/passwd",
        &long,
    ];
    for name in names {
        let body = json!([{"service": "fine", "m": 1}, {"service": name, "m": 2}]);
        let answer = refused(
            &collector,
            "application/json",
            None,
            body.to_string().into(),
            400,
        );
        assert_eq!(answer["index"], 1, "{name:?}: {answer}");
    }
    for name in [5.into(), Value::Null, json!(["a"])] {
        refused(
            &collector,
            "application/json",
            None,
            json!({"service": name}).to_string().into(),
            400,
        );
    }
    let parent = collector.dir.parent().expect("parent");
    assert!(!parent.join("x.log").exists());
    for path in ["/logs/..%2Fx", "/logs/.hidden", "/logs/a%00b"] {
        let (status, answer) = collector.get(path);
        assert_eq!(status, 400, "{path}: {answer}");
        assert!(answer["error"].is_string());
    }
}

#[test]
fn one_bad_entry_refuses_the_whole_request() {
    let collector = Collector::start();
    let ndjson =
        "{\"service\":\"ok\",\"i\":0}\n{\"service\":\"ok\",\"i\":1}\n{\"service\":\"no/pe\"}\n";
    let answer = refused(&collector, "application/x-ndjson", None, ndjson.into(), 400);
    assert_eq!(answer["index"], 2);
    assert!(answer["error"].as_str().expect("error").contains("entry 2"));
}

#[test]
fn oversized_bodies_entries_and_gzip_bombs_get_413() {
    let collector = Collector::start_with(
        &["--max-body-bytes", "100000", "--max-entry-bytes", "1000"],
        &[],
    );
    let big = json!({"m": "x".repeat(200_000)}).to_string().into_bytes();
    refused(&collector, "application/json", None, big.clone(), 413);

    // Chunked (no Content-Length): refused while streaming, and the client still reads the 413.
    let response = post_chunked(&collector, &big);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("\"error\""), "{response}");
    assert_eq!(collector.files(), Vec::<String>::new());

    let bomb = gzip_best(format!("{{\"m\":\"{}\"}}", "0".repeat(50_000_000)).as_bytes());
    assert!(bomb.len() < 100_000, "the bomb itself is small");
    refused(&collector, "application/json", Some("gzip"), bomb, 413);

    let entries = json!([{"m": "small"}, {"m": "y".repeat(2000)}])
        .to_string()
        .into_bytes();
    let answer = refused(&collector, "application/json", None, entries, 413);
    assert_eq!(answer["index"], 1);
    assert_eq!(collector.get("/health").0, 200);
}

#[test]
fn amplifying_bodies_get_413_for_their_entry_count() {
    let collector = Collector::start();
    // 300 KB of `{}` lines would be 100,001 entries, each stored with a timestamp.
    let empties = "{}\n".repeat(100_001).into_bytes();
    let answer = refused(
        &collector,
        "application/x-ndjson",
        None,
        empties.clone(),
        413,
    );
    assert!(
        answer["error"].as_str().expect("error").contains("100000"),
        "{answer}"
    );
    // Compressed, the same body is 1 KB.
    let small = gzip_best(&empties);
    assert!(small.len() < 2_000, "{}", small.len());
    refused(&collector, "application/x-ndjson", Some("gzip"), small, 413);
    // At the bound, it is stored.
    let (status, answer) = collector.post_raw(
        "application/x-ndjson",
        None,
        "{\"service\":\"many\"}\n".repeat(100_000).into_bytes(),
    );
    assert_eq!((status, answer["accepted"].as_u64()), (201, Some(100_000)));
}

#[test]
fn the_defaults_store_a_one_mebibyte_message_with_its_fields() {
    let collector = Collector::start();
    // Control characters escape to six bytes each: ~1.08 MB once stored.
    let message: String = (0..1024 * 1024)
        .map(|i| if i % 64 == 0 { '\u{1}' } else { 'm' })
        .collect();
    let entry = json!({"service": "big", "message": message, "user": 7, "fields": {"a": 1}});
    let (status, answer) = collector.post_json(&entry);
    assert_eq!(status, 201, "{answer}");
    let (_, page) = collector.get("/logs/big?field.user=7");
    assert_eq!(page["logs"][0]["message"], json!(message));
    assert_eq!(page["logs"][0]["fields"]["a"], 1);
}

#[test]
fn unsupported_content_types_and_encodings_get_415_and_bad_gzip_400() {
    let collector = Collector::start();
    let body = br#"{"m":1}"#.to_vec();
    refused(&collector, "text/html", None, body.clone(), 415);
    refused(&collector, "multipart/form-data", None, body.clone(), 415);
    // curl's default type is read as JSON (issue 15): a real form body is a 400.
    refused(
        &collector,
        "application/x-www-form-urlencoded",
        None,
        b"m=1".to_vec(),
        400,
    );
    refused(
        &collector,
        "application/json; charset=latin1",
        None,
        body.clone(),
        415,
    );
    refused(
        &collector,
        "application/json",
        Some("br"),
        body.clone(),
        415,
    );
    refused(&collector, "application/json", Some("gzip"), body, 400);
}

#[test]
fn deeply_nested_entries_are_refused() {
    let collector = Collector::start();
    let deep = format!("{{\"a\":{}1{}}}", "[".repeat(10_000), "]".repeat(10_000));
    refused(&collector, "application/json", None, deep.into_bytes(), 400);
}

#[test]
fn bad_query_parameters_and_unknown_routes_get_json_errors() {
    let collector = Collector::start();
    for limit in ["0", "-1", "abc", "1.5", "10001", ""] {
        let (status, answer) = collector.get(&format!("/logs/s?limit={limit}"));
        assert_eq!(status, 400, "limit={limit}");
        assert_eq!(answer["parameter"], "limit");
    }
    let (status, answer) = collector.get("/nope");
    assert_eq!(status, 404);
    assert!(answer["error"].is_string());
    let resp = http()
        .delete(format!("{}/logs", collector.url))
        .send()
        .expect("delete");
    assert_eq!(resp.status().as_u16(), 405);
    assert!(resp.json::<Value>().expect("json")["error"].is_string());
}

/// Sends `body` with `Transfer-Encoding: chunked` over a raw socket; returns the raw response.
fn post_chunked(collector: &Collector, body: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", collector.port)).expect("connect");
    let head = "POST /logs HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
                transfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    stream.write_all(head.as_bytes()).expect("head");
    for chunk in body.chunks(8192) {
        write!(stream, "{:x}\r\n", chunk.len()).expect("chunk size");
        stream.write_all(chunk).expect("chunk");
        stream.write_all(b"\r\n").expect("chunk end");
    }
    stream.write_all(b"0\r\n\r\n").expect("last chunk");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    response
}

fn gzip_best(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}
