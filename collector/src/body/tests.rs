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

/// Both ways of minifying `json`: the copy (when [`is_compact`] allows it) and the walk.
fn minified_both_ways(json: &str) -> (Result<Vec<u8>, String>, Result<Vec<u8>, String>) {
    let (mut fast, mut walk) = (b"prefix".to_vec(), b"prefix".to_vec());
    let fast = append_minified(&mut fast, json.as_bytes()).map(|()| fast);
    let walk = append_minified_walk(&mut walk, json.as_bytes()).map(|()| walk);
    (fast, walk)
}

#[test]
fn compact_lines_are_copied_and_the_rest_walked_to_the_same_bytes() {
    let compact = [
        r#"{"a":"hello world","b":[1,2.5e3,{"c":null}],"d":true}"#,
        r#"{"a":"quote \" and backslash \\ inside","b":"x"}"#,
        r#"{}"#,
    ];
    for json in compact {
        assert!(is_compact(json.as_bytes()), "{json}");
        let (fast, walk) = minified_both_ways(json);
        assert_eq!(fast, walk, "{json}");
    }
    let spaced = [
        r#"{"a" :1}"#,
        r#"{ "a":1}"#,
        r#"{"a":1 }"#,
        r#"[1 ,2]"#,
        "{\"a\":\t1}",
        "{\"a\":1}\r",
        r#" {"a":1}"#,
        r#"{"a":1} "#,
        r#"{"m":"a, b: c"}"#,
        r#"{"m":"[ x ]"}"#,
    ];
    for json in spaced {
        assert!(!is_compact(json.as_bytes()), "{json}");
        let (fast, walk) = minified_both_ways(json);
        assert_eq!(fast, walk, "{json}");
    }
    // At the depth limit, past it, and brackets inside a string that only look deep.
    let nested = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    assert!(is_compact(nested(MAX_DEPTH).as_bytes()));
    assert!(minified_both_ways(&nested(MAX_DEPTH)).0.is_ok());
    assert!(!is_compact(nested(MAX_DEPTH + 1).as_bytes()));
    assert!(minified_both_ways(&nested(MAX_DEPTH + 1)).0.is_err());
    let looks_deep = format!("{{\"s\":\"{}\"}}", "[".repeat(MAX_DEPTH + 1));
    assert!(!is_compact(looks_deep.as_bytes()));
    let (fast, walk) = minified_both_ways(&looks_deep);
    assert_eq!(fast, walk);
    assert!(fast.is_ok());
}

#[test]
fn random_json_is_minified_the_same_either_way() {
    // A small seeded generator (xorshift64*), so a failure reproduces.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
        }
    }
    fn space(rng: &mut Rng, out: &mut String, spacing: bool) {
        if spacing && rng.below(3) == 0 {
            out.push_str([" ", "  ", "\t", "\n", "\r\n"][rng.below(5) as usize]);
        }
    }
    fn string(rng: &mut Rng, out: &mut String) {
        out.push('"');
        for _ in 0..rng.below(6) {
            let pieces = [
                "a", " ", ", ", ": ", "{", "[", "}", "]", "\\\"", "\\\\", "é", "x y",
            ];
            out.push_str(pieces[rng.below(pieces.len() as u64) as usize]);
        }
        out.push('"');
    }
    fn value(rng: &mut Rng, out: &mut String, depth: usize, spacing: bool) {
        match if depth > 4 {
            rng.below(3)
        } else {
            rng.below(5)
        } {
            0 => string(rng, out),
            1 => out.push_str(["1", "-2.5e-3", "true", "null"][rng.below(4) as usize]),
            2 => out.push('0'),
            3 => {
                out.push('[');
                for i in 0..rng.below(4) {
                    if i > 0 {
                        space(rng, out, spacing);
                        out.push(',');
                    }
                    space(rng, out, spacing);
                    value(rng, out, depth + 1, spacing);
                    space(rng, out, spacing);
                }
                out.push(']');
            }
            _ => {
                out.push('{');
                for i in 0..rng.below(4) {
                    if i > 0 {
                        out.push(',');
                    }
                    space(rng, out, spacing);
                    string(rng, out);
                    space(rng, out, spacing);
                    out.push(':');
                    space(rng, out, spacing);
                    value(rng, out, depth + 1, spacing);
                    space(rng, out, spacing);
                }
                out.push('}');
            }
        }
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut copied = 0;
    for case in 0..5_000 {
        let mut json = String::new();
        let spacing = case % 2 == 0;
        space(&mut rng, &mut json, spacing);
        value(&mut rng, &mut json, 0, spacing);
        space(&mut rng, &mut json, spacing);
        assert!(
            serde_json::from_str::<serde::de::IgnoredAny>(&json).is_ok(),
            "the generator made invalid JSON: {json:?}"
        );
        let (fast, walk) = minified_both_ways(&json);
        assert_eq!(fast, walk, "{json:?}");
        copied += usize::from(is_compact(json.as_bytes()));
    }
    assert!(copied > 1_000, "the copy was taken for {copied} of 5,000");
}
