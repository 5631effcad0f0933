use super::*;

const NOW: &str = "2026-11-25T12:00:00.123456789Z";

fn parse(body: &str, format: BodyFormat) -> Result<ParsedBody, EntryError> {
    parse_body(body.as_bytes(), format, 1024, NOW)
}

fn lines(parsed: &ParsedBody, service: &str) -> String {
    let batch = parsed
        .per_service
        .iter()
        .find(|b| b.service.as_str() == service)
        .expect("service batch");
    String::from_utf8(batch.lines.clone()).expect("utf8")
}

#[test]
fn keeps_key_order_and_values_and_appends_the_timestamp() {
    let parsed = parse(
        r#" { "z": 1.50, "service" : "api", "a": "x y\n", "n": 12345678901234567890123 } "#,
        BodyFormat::Json,
    )
    .expect("valid");
    assert!(parsed.single);
    assert_eq!(
        lines(&parsed, "api"),
        format!(
            "{{\"z\":1.50,\"service\":\"api\",\"a\":\"x y\\n\",\"n\":12345678901234567890123,\"timestamp\":\"{NOW}\"}}\n"
        )
    );
}

#[test]
fn keeps_a_given_timestamp_and_defaults_the_service_to_unknown() {
    let parsed = parse(
        r#"{"timestamp":"yesterday","m":"\"quoted\" \\"}"#,
        BodyFormat::Json,
    )
    .expect("valid");
    assert_eq!(
        lines(&parsed, "unknown"),
        "{\"timestamp\":\"yesterday\",\"m\":\"\\\"quoted\\\" \\\\\"}\n"
    );
}

#[test]
fn stamps_an_empty_object() {
    let parsed = parse("{ }", BodyFormat::Json).expect("valid");
    assert_eq!(
        lines(&parsed, "unknown"),
        format!("{{\"timestamp\":\"{NOW}\"}}\n")
    );
}

#[test]
fn groups_arrays_and_ndjson_by_service_in_order() {
    let array = r#"[{"service":"a","i":0},{"service":"b","i":1},{"service":"a","i":2}]"#;
    let ndjson = "{\"service\":\"a\",\"i\":0}\r\n\n{\"service\":\"b\",\"i\":1}\n{\"service\":\"a\",\"i\":2}\n";
    for (body, format) in [(array, BodyFormat::Json), (ndjson, BodyFormat::Ndjson)] {
        let parsed = parse(body, format).expect("valid");
        assert!(!parsed.single);
        assert_eq!(parsed.entries(), 3);
        let a = lines(&parsed, "a");
        assert!(a.starts_with("{\"service\":\"a\",\"i\":0,"), "{a}");
        assert!(a.contains("\n{\"service\":\"a\",\"i\":2,"), "{a}");
        assert_eq!(lines(&parsed, "b").lines().count(), 1);
    }
}

#[test]
fn an_escaped_service_name_is_decoded_before_validation() {
    let parsed = parse(r#"{"service":"ap\u0069"}"#, BodyFormat::Json).expect("valid");
    assert_eq!(parsed.per_service[0].service.as_str(), "api");
    let err = parse(r#"{"service":"..\u002fx"}"#, BodyFormat::Json).expect_err("traversal");
    assert_eq!(err.index(), Some(0));
}

#[test]
fn refuses_bad_entries_naming_the_index() {
    let cases = [
        (r#"[{"a":1}, 5]"#, BodyFormat::Json, 1),
        ("{\"a\":1}\n[1]\n", BodyFormat::Ndjson, 1),
        ("{\"a\":1}\n{\"a\":\n", BodyFormat::Ndjson, 1),
        (
            r#"[{"service":"ok"},{"service":"a/b"}]"#,
            BodyFormat::Json,
            1,
        ),
        (r#"[{"service":5}]"#, BodyFormat::Json, 0),
        (r#"[{"service":null}]"#, BodyFormat::Json, 0),
        (r#"[{"service":"a","service":"b"}]"#, BodyFormat::Json, 0),
        (r#""just a string""#, BodyFormat::Json, 0),
        (r#"{"a":1}{"b":2}"#, BodyFormat::Json, 0),
    ];
    for (body, format, index) in cases {
        let err = parse(body, format).expect_err(body);
        assert_eq!(err.index(), Some(index), "{body}: {err}");
    }
}

#[test]
fn refuses_malformed_empty_and_non_utf8_bodies() {
    assert_eq!(
        parse("  \n", BodyFormat::Json).unwrap_err(),
        EntryError::EmptyBody
    );
    assert!(matches!(
        parse("[{\"a\":1},", BodyFormat::Json).unwrap_err(),
        EntryError::Malformed(_)
    ));
    let err = parse_body(b"{\"a\":\"\xff\"}", BodyFormat::Json, 1024, NOW).unwrap_err();
    assert_eq!(err, EntryError::InvalidUtf8);
}

#[test]
fn refuses_an_entry_over_the_limit() {
    let big = format!("[{{\"a\":1}},{{\"m\":\"{}\"}}]", "x".repeat(2000));
    let err = parse(&big, BodyFormat::Json).unwrap_err();
    assert!(
        matches!(err, EntryError::TooLarge { index: 1, .. }),
        "{err}"
    );
}

#[test]
fn refuses_deep_nesting_without_crashing() {
    let deep = format!("{{\"a\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
    let err = parse_body(deep.as_bytes(), BodyFormat::Json, usize::MAX, NOW).unwrap_err();
    assert_eq!(err.index(), Some(0));
}
