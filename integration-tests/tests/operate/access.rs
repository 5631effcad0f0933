//! Tokens with scopes, service-restricted tokens, the header alternative, secrets kept out
//! of the logs, and an open collector that says so.

use std::process::{Command, Stdio};

use serde_json::json;

use super::{get, post, raw_get};
use crate::support::{estuary_bin, free_port, Collector};

const INGEST: &str = "ingest-9f8e7d6c5b4a39281706f5e4d3c2b1a0";
const QUERY: &str = "query-0a1b2c3d4e5f60718293a4b5c6d7e8f9";

fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

#[test]
fn each_route_needs_a_token_with_its_scope_and_health_stays_open() {
    let collector = Collector::start_with(
        &["--ingest-token", INGEST, "--query-token", QUERY],
        &[("RUST_LOG", "debug")],
    );
    let entry = json!({"service": "billing", "m": 1});

    let missing = post(&collector, &[], &entry);
    assert_eq!(missing.status, 401, "{}", missing.json);
    assert_eq!(missing.headers["www-authenticate"], "Bearer");
    assert!(missing.json["error"].is_string());
    assert_eq!(
        post(&collector, &[("authorization", "Bearer wrong")], &entry).status,
        401
    );
    assert_eq!(
        post(
            &collector,
            &[("authorization", &format!("Basic {INGEST}"))],
            &entry
        )
        .status,
        401
    );
    let (name, value) = bearer(QUERY);
    let wrong_scope = post(&collector, &[(name, &value)], &entry);
    assert_eq!(wrong_scope.status, 403, "{}", wrong_scope.json);
    assert_eq!(
        collector.files(),
        Vec::<String>::new(),
        "a refused request wrote something"
    );

    let (name, value) = bearer(INGEST);
    assert_eq!(post(&collector, &[(name, &value)], &entry).status, 201);
    assert_eq!(
        post(&collector, &[("x-estuary-token", INGEST)], &entry).status,
        201
    );

    assert_eq!(get(&collector, "/logs/billing", &[]).status, 401);
    assert_eq!(
        get(&collector, "/logs/billing", &[("x-estuary-token", INGEST)]).status,
        403
    );
    let read = get(&collector, "/logs/billing", &[("x-estuary-token", QUERY)]);
    assert_eq!((read.status, read.json["count"].clone()), (200, json!(2)));
    let (name, value) = bearer(QUERY);
    assert_eq!(
        get(&collector, "/logs/billing", &[(name, &value)]).status,
        200
    );
    assert!(raw_get(&collector, "/logs/stream").0.contains(" 401 "));

    assert_eq!(get(&collector, "/health", &[]).status, 200);
    assert_eq!(
        crate::support::http()
            .get(format!("{}/metrics", collector.url))
            .send()
            .expect("metrics")
            .status(),
        200
    );

    let stderr = collector.stderr();
    assert!(
        stderr.contains("request refused"),
        "debug logging was on: {stderr}"
    );
    assert!(
        !stderr.contains(INGEST) && !stderr.contains(QUERY),
        "a token reached the log"
    );
}

#[test]
fn a_token_limited_to_services_writes_only_those_and_nothing_of_a_mixed_request() {
    let tokens = tempfile::NamedTempFile::new().expect("tokens file");
    std::fs::write(
        tokens.path(),
        "# token            scopes        services\n\
         billing-only-token ingest        billing billing-worker\n\
         with-unknown-token ingest        billing unknown   # may write strays too\n\
         \n\
         reader-token       query\n",
    )
    .expect("write tokens");
    let file = tokens.path().to_str().expect("utf8 path");
    let collector = Collector::start_with(&[], &[("ESTUARY_TOKENS_FILE", file)]);
    let only = [("x-estuary-token", "billing-only-token")];

    let mixed = json!([{"service": "billing", "m": 1}, {"service": "api", "m": 2}]);
    let refused = post(&collector, &only, &mixed);
    assert_eq!(refused.status, 403, "{}", refused.json);
    assert!(refused.json["error"]
        .as_str()
        .expect("error")
        .contains("api"));
    assert_eq!(
        collector.files(),
        Vec::<String>::new(),
        "part of a refused request was written"
    );

    let own = json!([{"service": "billing", "m": 1}, {"service": "billing-worker", "m": 2}]);
    assert_eq!(post(&collector, &only, &own).status, 201);
    assert_eq!(
        post(&collector, &only, &json!({"m": "stray"})).status,
        403,
        "unknown is not listed"
    );
    assert_eq!(
        post(
            &collector,
            &[("x-estuary-token", "with-unknown-token")],
            &json!({"m": "stray"})
        )
        .status,
        201
    );
    assert_eq!(
        post(&collector, &[("x-estuary-token", "reader-token")], &own).status,
        403
    );
    assert_eq!(
        collector.files(),
        vec!["billing-worker.log", "billing.log", "unknown.log"]
    );
    assert_eq!(
        get(
            &collector,
            "/logs/billing",
            &[("x-estuary-token", "reader-token")]
        )
        .json["count"],
        1
    );
}

#[test]
fn tokens_from_the_environment_are_comma_separated_and_metrics_can_require_one() {
    let collector = Collector::start_with(
        &["--metrics-token-required"],
        &[
            ("ESTUARY_INGEST_TOKENS", "first-token,second-token"),
            ("ESTUARY_QUERY_TOKENS", QUERY),
        ],
    );
    let entry = json!({"service": "env", "m": 1});
    assert_eq!(
        post(&collector, &[("x-estuary-token", "first-token")], &entry).status,
        201
    );
    assert_eq!(
        post(&collector, &[("x-estuary-token", "second-token")], &entry).status,
        201
    );
    assert_eq!(get(&collector, "/metrics", &[]).status, 401);
    let metrics = crate::support::http()
        .get(format!("{}/metrics", collector.url))
        .header("x-estuary-token", QUERY)
        .send()
        .expect("metrics");
    assert_eq!(metrics.status(), 200);
    assert_eq!(get(&collector, "/health", &[]).status, 200);
}

#[test]
fn an_open_api_and_any_cors_origin_are_announced_at_start_up() {
    let open = Collector::start_with(&[], &[("RUST_LOG", "info")]);
    let said = open.stderr();
    assert!(said.contains("no API tokens configured"), "{said}");
    assert!(said.contains("CORS allows any origin"), "{said}");

    let closed = Collector::start_with(
        &[
            "--ingest-token",
            INGEST,
            "--cors-origins",
            "https://ok.example",
        ],
        &[("RUST_LOG", "info")],
    );
    let said = closed.stderr();
    assert!(said.contains("API tokens required"), "{said}");
    assert!(
        !said.contains("no API tokens configured") && !said.contains("CORS allows any origin"),
        "{said}"
    );
    assert!(!said.contains(INGEST));
}

#[test]
fn a_bad_tokens_file_stops_start_up_naming_the_line_but_not_the_token() {
    let tokens = tempfile::NamedTempFile::new().expect("tokens file");
    std::fs::write(
        tokens.path(),
        "good-token-123 ingest\nsecret-in-bad-line admin\n",
    )
    .expect("write");
    let dir = tempfile::tempdir().expect("dir");
    let output = Command::new(estuary_bin())
        .args(["serve", "--tokens-file"])
        .arg(tokens.path())
        .env("PORT", free_port().to_string())
        .env("LOG_DIR", dir.path())
        .env_remove("REDIS_URL")
        .stdin(Stdio::null())
        .output()
        .expect("run estuary");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(":2:") && stderr.contains("unknown scope"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("secret-in-bad-line") && !stderr.contains("good-token-123"),
        "{stderr}"
    );
}
