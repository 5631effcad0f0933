//! Batches, NDJSON and gzip; bytes pass through as sent.

use serde_json::json;

use crate::support::{gzip, Collector};

#[test]
fn an_array_batch_is_accepted_whole_and_split_per_service() {
    let collector = Collector::start();
    let body = json!([
        {"service": "a", "n": 1},
        {"service": "b", "n": 2},
        {"service": "a", "n": 3}
    ]);
    let (status, answer) = collector.post_json(&body);
    assert_eq!(status, 201);
    assert_eq!(answer, json!({"status": "logged", "accepted": 3}));
    let a: Vec<_> = collector
        .lines("a")
        .iter()
        .map(|l| l["n"].clone())
        .collect();
    assert_eq!(a, vec![json!(1), json!(3)]);
    assert_eq!(collector.lines("b").len(), 1);
}

#[test]
fn ndjson_and_gzip_are_accepted_in_every_combination() {
    let collector = Collector::start();
    let ndjson: String = (0..100)
        .map(|i| format!("{{\"service\":\"nd\",\"i\":{i}}}\n"))
        .collect();
    let array = format!(
        "[{}]",
        (0..100)
            .map(|i| format!("{{\"service\":\"arr\",\"i\":{i}}}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let cases = [
        ("application/x-ndjson", None, ndjson.clone().into_bytes()),
        (
            "application/x-ndjson",
            Some("gzip"),
            gzip(ndjson.as_bytes()),
        ),
        ("application/json", Some("gzip"), gzip(array.as_bytes())),
        (
            "application/json; charset=utf-8",
            None,
            array.clone().into_bytes(),
        ),
    ];
    for (content_type, encoding, body) in cases {
        let (status, answer) = collector.post_raw(content_type, encoding, body);
        assert_eq!(status, 201, "{content_type} {encoding:?}: {answer}");
        assert_eq!(answer["accepted"], 100);
    }
    let nd = collector.lines("nd");
    assert_eq!(nd.len(), 200);
    assert!(nd.iter().take(100).enumerate().all(|(i, l)| l["i"] == i));
    assert_eq!(collector.lines("arr").len(), 200);
}

#[test]
fn the_stored_line_is_the_entry_as_sent_minified_plus_timestamp() {
    let collector = Collector::start();
    let sent = r#"{ "zeta": 1.50, "service": "exact", "big": 123456789012345678901234567890,
        "text": "a  b\tc", "nested": {"y": [1, 2], "x": null} }"#;
    let (status, _) = collector.post_raw("application/json", None, sent.as_bytes().to_vec());
    assert_eq!(status, 201);
    let raw = String::from_utf8(collector.raw("exact")).expect("utf8");
    let expected_prefix = r#"{"zeta":1.50,"service":"exact","big":123456789012345678901234567890,"text":"a  b\tc","nested":{"y":[1,2],"x":null},"timestamp":""#;
    assert!(raw.starts_with(expected_prefix), "{raw}");
    assert!(raw.ends_with("\"}\n") && raw.lines().count() == 1, "{raw}");
}
