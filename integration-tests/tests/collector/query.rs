//! Tail queries read backward from the end of the file.

use std::io::Write;

use serde_json::json;

use crate::support::Collector;

#[test]
fn limit_on_a_large_file_returns_the_true_tail() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let file = std::fs::File::create(dir.path().join("big.log")).expect("create");
        let mut out = std::io::BufWriter::new(file);
        for i in 0..200_000 {
            writeln!(
                out,
                "{{\"service\":\"big\",\"i\":{i},\"pad\":\"{}\"}}",
                "z".repeat(200)
            )
            .expect("write");
        }
    }
    let collector = Collector::start_in(dir.path(), crate::support::free_port(), &[], &[]);
    let (status, body) = collector.get("/logs/big?limit=100");
    assert_eq!(status, 200);
    assert_eq!(body["count"], 100);
    assert_eq!(body["logs"][0]["i"], 199_900);
    assert_eq!(body["logs"][99]["i"], 199_999);
    let (_, body) = collector.get("/logs/big?limit=10000");
    assert_eq!(body["count"], 10_000);
    assert_eq!(body["logs"][0]["i"], 190_000);
}

#[test]
fn the_stored_bytes_are_served_as_is() {
    let collector = Collector::start();
    let sent = r#"{"service":"p","n":1.0,"big":18446744073709551616123,"s":"é\u00e9"}"#;
    assert_eq!(
        collector.post_raw("application/json", None, sent.into()).0,
        201
    );
    let resp = crate::support::http()
        .get(format!("{}/logs/p", collector.url))
        .send()
        .expect("get");
    let text = resp.text().expect("text");
    assert!(
        text.contains(r#""n":1.0,"big":18446744073709551616123,"s":"é\u00e9""#),
        "{text}"
    );
    let body: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(body["logs"][0]["s"], json!("éé"));
}
