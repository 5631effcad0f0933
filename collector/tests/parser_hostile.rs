//! The ingestion parser against a generated hostile corpus (deep nesting, 100k keys, huge
//! numbers, invalid UTF-8, overlong service names) and fixed-seed random input: it never
//! panics, refuses what is invalid, and whatever it accepts is stored as lines that parse.
//! The deterministic sibling of the `cargo fuzz` target in `collector/fuzz`; crash inputs
//! found by fuzzing belong in `regressions()`.

use std::collections::HashMap;

use estuary_collector::body::{parse_body, BodyFormat, EntryError, ParsedBody};
use serde_json::value::RawValue;

const STAMP: &str = "2026-01-01T00:00:00.000000000Z";
const MAX_ENTRY: usize = 1 << 20;

/// A fixed-seed xorshift64: the same "random" input on every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn parse(body: &[u8], format: BodyFormat) -> Result<ParsedBody, EntryError> {
    parse_body(body, format, MAX_ENTRY, STAMP)
}

/// What an accepted body must look like: complete lines, each a JSON object with a
/// timestamp, filed under a valid service.
fn check_accepted(parsed: &ParsedBody) {
    for batch in &parsed.per_service {
        assert!(batch.lines.ends_with(b"\n"));
        let lines: Vec<&[u8]> = batch
            .lines
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(lines.len(), batch.entries);
        for line in lines {
            // Raw values, so numbers beyond f64 (which pass through as sent) still parse.
            let object: HashMap<String, &RawValue> =
                serde_json::from_slice(line).expect("stored line is an object");
            assert!(object.contains_key("timestamp"));
            let service = object.get("service").map_or_else(
                || "unknown".to_owned(),
                |raw| serde_json::from_str::<String>(raw.get()).expect("service is a string"),
            );
            assert_eq!(service, batch.service.as_str());
        }
    }
}

fn refused(body: impl AsRef<[u8]>, format: BodyFormat) -> EntryError {
    match parse(body.as_ref(), format) {
        Ok(parsed) => panic!("accepted {} entries of a hostile body", parsed.entries()),
        Err(err) => err,
    }
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let deep = 200_000;
    for format in [BodyFormat::Json, BodyFormat::Ndjson] {
        refused(
            format!("{}1{}", "{\"a\":".repeat(deep), "}".repeat(deep)),
            format,
        );
        refused(
            format!("{{\"a\":{}{}}}", "[".repeat(deep), "]".repeat(deep)),
            format,
        );
        refused("[".repeat(deep), format);
        refused(
            format!("{{\"a\":{}1{}}}", "[".repeat(128), "]".repeat(128)),
            format,
        );
    }
    refused(
        format!("{}{}", "[".repeat(deep), "]".repeat(deep)),
        BodyFormat::Json,
    );
    let ok = parse(
        format!("{{\"a\":{}1{}}}", "[".repeat(127), "]".repeat(127)).as_bytes(),
        BodyFormat::Json,
    );
    check_accepted(&ok.expect("127 levels inside an object are fine"));
}

#[test]
fn a_hundred_thousand_keys_are_parsed_or_refused_whole() {
    let keys: String = (0..100_000).map(|i| format!("\"k{i}\":{i},")).collect();
    let big = MAX_ENTRY * 4;
    let ok = parse_body(
        format!("{{{keys}\"end\":1}}").as_bytes(),
        BodyFormat::Json,
        big,
        STAMP,
    );
    check_accepted(&ok.expect("a valid object with 100k keys"));
    for bad in [
        format!("{{{keys}}}"),
        format!("{{{keys}\"service\":5}}"),
        format!("{{{keys}"),
    ] {
        assert!(parse_body(bad.as_bytes(), BodyFormat::Json, big, STAMP).is_err());
    }
    let dupes = format!("{{{}\"m\":1}}", "\"service\":\"a\",".repeat(100_000));
    assert!(parse_body(dupes.as_bytes(), BodyFormat::Json, big, STAMP).is_err());
    assert!(matches!(
        refused(format!("{{{keys}\"end\":1}}"), BodyFormat::Json),
        EntryError::TooLarge { .. }
    ));
}

#[test]
fn huge_numbers_pass_through_as_sent_or_are_refused() {
    let body = format!(
        "{{\"big\":1e999999,\"long\":{},\"tiny\":-0.0e-400}}",
        "7".repeat(10_000)
    );
    let parsed = parse(body.as_bytes(), BodyFormat::Json).expect("syntactically valid numbers");
    assert!(parsed.per_service[0]
        .lines
        .starts_with(&body.as_bytes()[..body.len() - 1]));
    for bad in [
        "{\"service\":1e999999}",
        "[1e999999]",
        "{\"n\":1e}",
        "{\"n\":01}",
        "{\"n\":NaN}",
        "{\"n\":-}",
    ] {
        refused(bad, BodyFormat::Json);
    }
}

#[test]
fn invalid_utf8_is_refused_in_every_position() {
    for bad in [
        &b"\xff"[..],
        b"\xc0\x80",
        b"\xed\xa0\x80",
        b"\xe2\x82",
        b"\xf8\x88\x80\x80\x80",
    ] {
        for (before, after) in [
            (&b"{\"m\":\""[..], &b"\"}"[..]),
            (b"{\"", b"\":1}"),
            (b"{\"service\":\"", b"\"}"),
        ] {
            let body = [before, bad, after].concat();
            assert_eq!(refused(&body, BodyFormat::Json), EntryError::InvalidUtf8);
            assert_eq!(
                refused([b"{}\n", &body[..]].concat(), BodyFormat::Ndjson),
                EntryError::InvalidUtf8
            );
        }
    }
}

#[test]
fn overlong_and_unsafe_service_names_are_refused() {
    let names = [
        "x".repeat(129),
        "x".repeat(1 << 19),
        "../x".into(),
        "..\\/x".into(),
        "a\\u0000b".into(),
        "\\ud800".into(),
        "é".into(),
        String::new(),
    ];
    for name in names {
        let err = refused(
            format!("[{{\"service\":\"ok\"}},{{\"service\":\"{name}\"}}]"),
            BodyFormat::Json,
        );
        assert_eq!(err.index(), Some(1), "{name:.20}: {err}");
    }
}

#[test]
fn random_bytes_never_panic_and_what_is_kept_parses() {
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    for _ in 0..20_000 {
        let len = rng.below(512) as usize;
        let body = rng.bytes(len);
        let format = if rng.below(2) == 0 {
            BodyFormat::Json
        } else {
            BodyFormat::Ndjson
        };
        if let Ok(parsed) = parse(&body, format) {
            // Random bytes that happen to be a JSON object (say `{}`) are fine if well-formed.
            check_accepted(&parsed);
        }
    }
}

#[test]
fn random_json_shaped_text_never_panics_and_what_is_kept_parses() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let alphabet = b"{}[]\":,0123456789.eE+-aeflnrstu\\ \n\t";
    let (mut accepted, mut total) = (0, 0);
    for _ in 0..20_000 {
        let len = 1 + rng.below(256) as usize;
        let body: Vec<u8> = (0..len)
            .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
            .collect();
        for format in [BodyFormat::Json, BodyFormat::Ndjson] {
            total += 1;
            if let Ok(parsed) = parse(&body, format) {
                accepted += 1;
                check_accepted(&parsed);
            }
        }
    }
    assert!(
        accepted < total / 10,
        "{accepted} of {total} random texts were accepted"
    );
}

#[test]
fn mutated_valid_bodies_never_panic_and_what_is_kept_parses() {
    let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
    let seeds: [&[u8]; 4] = [
        br#"{"service":"api","level":"INFO","message":"hi \"there\"","n":[1,2,{"x":null}]}"#,
        br#"[{"service":"a","timestamp":"2020-01-01T00:00:00Z"},{"m":"\u00e9\n"}]"#,
        b"{\"service\":\"a\"}\n{\"service\":\"b\",\"m\":1.5e3}\n\n{}\n",
        br#"{ "service" : "spaced" , "deep" : { "a" : [ true , false ] } }"#,
    ];
    for _ in 0..50_000 {
        let mut body = seeds[rng.below(seeds.len() as u64) as usize].to_vec();
        for _ in 0..=rng.below(4) {
            let at = rng.below(body.len() as u64 + 1) as usize;
            match rng.below(3) {
                0 if at < body.len() => body[at] = rng.next() as u8,
                1 if at < body.len() => drop(body.remove(at)),
                _ => body.insert(at, b"{}[]\",:\\\n"[rng.below(9) as usize]),
            }
        }
        for format in [BodyFormat::Json, BodyFormat::Ndjson] {
            if let Ok(parsed) = parse(&body, format) {
                check_accepted(&parsed);
            }
        }
    }
}

/// Inputs that once broke the parser (none yet: add `cargo fuzz` crash files here).
fn regressions() -> Vec<(&'static [u8], BodyFormat)> {
    vec![
        (b"{\"a\":\"\\\\\"}", BodyFormat::Json),
        (b"{\"\\\"\":1,\"timestamp\":2}", BodyFormat::Ndjson),
    ]
}

/// Found by `cargo fuzz` (crash-88ed9261…, selector byte 0x10): the target assumed an
/// accepted body holds at least one entry, but an empty array is an empty batch — accepted
/// (201, `"accepted":0`), nothing stored. The parser was right; the oracle was fixed.
#[test]
fn an_empty_array_is_an_empty_batch() {
    for body in [&b"[\t\t]"[..], b"[]", b" [ ] "] {
        let parsed = parse(body, BodyFormat::Json).expect("an empty batch");
        assert_eq!((parsed.entries(), parsed.single), (0, false));
    }
    assert_eq!(refused("[\t\t]", BodyFormat::Ndjson).index(), Some(0));
}

#[test]
fn known_tricky_inputs_stay_fixed() {
    for (body, format) in regressions() {
        if let Ok(parsed) = parse(body, format) {
            check_accepted(&parsed);
        }
    }
}
