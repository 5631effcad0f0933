//! A generated corpus of malformed and hostile bodies, sent over HTTP: every one gets a
//! 4xx with a JSON error, the server stays up, and nothing reaches the disk.

use serde_json::json;

use super::{send, Answer};
use crate::support::{gzip, http, Collector};

/// One hostile request: what it is, its content type and encoding, its body, and the
/// status it must get.
struct Case {
    name: String,
    content_type: &'static str,
    encoding: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
}

fn case(name: impl Into<String>, body: impl Into<Vec<u8>>) -> Case {
    Case {
        name: name.into(),
        content_type: "application/json",
        encoding: None,
        body: body.into(),
        status: 400,
    }
}

/// A case refused for its size (413).
fn too_large(case: Case) -> Case {
    Case {
        status: 413,
        ..case
    }
}

/// A case refused for its media type (415).
fn unsupported(case: Case) -> Case {
    Case {
        status: 415,
        ..case
    }
}

/// A fixed-seed xorshift64, so the "random" cases are the same on every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Between 1 and `max` random bytes.
    fn bytes(&mut self, max: u64) -> Vec<u8> {
        let len = 1 + self.next() % max;
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// Between `min` and `min + spread` bytes drawn from `alphabet`.
    fn pick(&mut self, alphabet: &[u8], min: u64, spread: u64) -> Vec<u8> {
        let len = min + self.next() % spread.max(1);
        (0..len)
            .map(|_| alphabet[self.next() as usize % alphabet.len()])
            .collect()
    }
}

fn many_keys(count: usize, last: &str, close: &str) -> String {
    let mut body = String::from("{");
    for i in 0..count {
        body.push_str(&format!("\"k{i}\":{i},"));
    }
    body.push_str(last);
    body.push_str(close);
    body
}

fn nesting() -> Vec<Case> {
    let deep = 100_000;
    vec![
        case(
            "deep objects",
            format!("{}1{}", "{\"a\":".repeat(deep), "}".repeat(deep)),
        ),
        case(
            "deep arrays",
            format!("{}{}", "[".repeat(deep), "]".repeat(deep)),
        ),
        case("deep unclosed", "[{\"a\":".repeat(deep)),
        case(
            "just over the depth limit",
            format!("{{\"a\":{}1{}}}", "[".repeat(129), "]".repeat(129)),
        ),
        Case {
            content_type: "application/x-ndjson",
            ..case(
                "deep ndjson line",
                format!("{{}}\n{}\n", "{\"a\":".repeat(deep)),
            )
        },
    ]
}

fn many_keys_cases() -> Vec<Case> {
    vec![
        case("100k keys, trailing comma", many_keys(100_000, "", "}")),
        case("100k keys, unclosed", many_keys(100_000, "\"end\":1", "")),
        case(
            "100k keys, bad last value",
            many_keys(100_000, "\"end\":tru", "}"),
        ),
        case(
            "100k keys, service not a string",
            many_keys(100_000, "\"service\":5", "}"),
        ),
        case(
            "100k duplicate service keys",
            format!("{{{}\"m\":1}}", "\"service\":\"a\",".repeat(100_000)),
        ),
        too_large(case(
            "entry over the limit",
            many_keys(400_000, "\"end\":1", "}"),
        )),
    ]
}

fn numbers() -> Vec<Case> {
    let mut cases: Vec<Case> = [
        "1e",
        "01",
        "1.",
        "-",
        "NaN",
        "Infinity",
        "-Infinity",
        "1e+",
        "0x10",
        ".5",
        "+1",
    ]
    .iter()
    .map(|n| case(format!("number {n}"), format!("{{\"n\":{n}}}")))
    .collect();
    cases.push(case("huge service number", "{\"service\":1e999999}"));
    cases.push(case("huge number, not an object", "[1e999999]"));
    cases.push(too_large(case(
        "5 MiB of digits",
        format!("{{\"n\":{}}}", "9".repeat(5 << 20)),
    )));
    cases
}

fn encodings() -> Vec<Case> {
    let mut cases: Vec<Case> = [
        &b"\xff"[..],
        b"\xc0\x80",
        b"\xed\xa0\x80",
        b"\xe2\x82",
        b"\xf8\x88\x80\x80\x80",
        b"\xfe\xff",
    ]
    .iter()
    .map(|bad| {
        let mut body = b"{\"m\":\"".to_vec();
        body.extend_from_slice(bad);
        body.extend_from_slice(b"\"}");
        case(format!("invalid UTF-8 {bad:?}"), body)
    })
    .collect();
    cases.push(case(
        "lone surrogate escape in service",
        "{\"service\":\"\\ud800\"}",
    ));
    cases.push(unsupported(Case {
        content_type: "text/plain",
        ..case("text/plain", "{}")
    }));
    cases.push(unsupported(Case {
        content_type: "application/json; charset=latin1",
        ..case("latin1", "{}")
    }));
    cases.push(unsupported(Case {
        encoding: Some("br"),
        ..case("brotli", "{}")
    }));
    cases
}

fn service_names() -> Vec<Case> {
    [
        "x".repeat(129),
        "x".repeat(1 << 20),
        "../etc/passwd".into(),
        "..\\/x".into(),
        "a\\u0000b".into(),
        "sérvice".into(),
        ".hidden".into(),
        String::new(),
    ]
    .iter()
    .map(|name| {
        case(
            format!("service {:.20}", name),
            format!("[{{\"service\":\"ok\"}},{{\"service\":\"{name}\"}}]"),
        )
    })
    .collect()
}

fn gzip_bombs() -> Vec<Case> {
    let gz = |name: &str, body: Vec<u8>| Case {
        encoding: Some("gzip"),
        ..case(name, body)
    };
    let spaces = gzip(&vec![b' '; 32 << 20]);
    let mut two_members = spaces.clone();
    two_members.extend_from_slice(&spaces);
    let mut truncated = gzip(b"{\"service\":\"gz\"}");
    truncated.truncate(truncated.len() / 2);
    vec![
        too_large(gz("32 MiB of spaces", spaces.clone())),
        too_large(gz("two 32 MiB members", two_members)),
        gz("bomb inside a bomb", gzip(&spaces)),
        too_large(gz("brackets bomb", gzip(&vec![b'['; 16 << 20]))),
        gz("truncated gzip", truncated),
        gz("not gzip at all", b"{\"service\":\"plain\"}".to_vec()),
    ]
}

fn random(rng: &mut XorShift) -> Vec<Case> {
    let mut cases: Vec<Case> = (0..30)
        .map(|i| case(format!("random bytes {i}"), rng.bytes(4096)))
        .collect();
    let alphabet = b"{}[]\":,0123456789.eE+-aeflnrstu\\ \n";
    cases.extend((0..30).map(|i| case(format!("json-ish {i}"), rng.pick(alphabet, 64, 512))));
    cases.extend((0..10).map(|i| Case {
        content_type: "application/x-ndjson",
        ..case(format!("ndjson-ish {i}"), rng.pick(alphabet, 256, 1))
    }));
    cases
}

fn corpus() -> Vec<Case> {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut all = nesting();
    all.extend(many_keys_cases());
    all.extend(numbers());
    all.extend(encodings());
    all.extend(service_names());
    all.extend(gzip_bombs());
    all.extend(random(&mut rng));
    all.push(case("empty", ""));
    all.push(case("whitespace", " \n\t "));
    all.push(Case {
        content_type: "application/x-ndjson",
        ..case(
            "one bad ndjson line",
            "{\"service\":\"a\"}\n{\"service\":\"b\"\n{\"service\":\"c\"}\n",
        )
    });
    all
}

fn post(collector: &Collector, case: &Case) -> Answer {
    let mut request = http()
        .post(format!("{}/logs", collector.url))
        .header("content-type", case.content_type)
        .body(case.body.clone());
    if let Some(encoding) = case.encoding {
        request = request.header("content-encoding", encoding);
    }
    send(request)
}

#[test]
fn every_hostile_body_gets_a_4xx_json_error_and_nothing_is_written() {
    let collector = Collector::start_with(&["--max-entry-bytes", "4194304"], &[]);
    let corpus = corpus();
    assert!(corpus.len() > 100);
    for case in &corpus {
        let answer = post(&collector, case);
        assert_eq!(answer.status, case.status, "{}: {}", case.name, answer.json);
        assert!(
            answer.json["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{}: {}",
            case.name,
            answer.json
        );
        assert_eq!(
            collector.get("/health").0,
            200,
            "{} took the server down",
            case.name
        );
    }
    assert_eq!(
        collector.files(),
        Vec::<String>::new(),
        "something hostile was written"
    );
    assert_eq!(
        collector.post_json(&json!({"service": "after", "m": 1})).0,
        201
    );
}

#[test]
fn huge_but_valid_numbers_pass_through_byte_for_byte() {
    let collector = Collector::start();
    let body = format!(
        "{{\"service\":\"nums\",\"big\":1e999999,\"long\":{},\"neg\":-0.0e-400}}",
        "7".repeat(400)
    );
    assert_eq!(
        collector
            .post_raw("application/json", None, body.clone().into_bytes())
            .0,
        201
    );
    let raw = String::from_utf8(collector.raw("nums")).expect("utf8");
    assert!(raw.starts_with(&body[..body.len() - 1]), "{raw}");
}
