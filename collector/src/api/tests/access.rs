//! What every route shares: `/health`, the JSON 404/405 fallbacks, CORS, token gates and
//! rate limits.

use std::io::Write;

use axum::body::Body;
use axum::http::{header, Method, StatusCode};
use serde_json::json;

use super::{request, TestApi};
use crate::api::auth::{AccessControl, AccessSettings, Secret, TOKEN_HEADER};
use crate::api::protect::Limits;
use crate::api::ApiSettings;

const INGEST: &str = "ingest-secret";
const QUERY: &str = "query-secret";

/// An API with one ingest token and one query token.
fn with_tokens() -> TestApi {
    let access = AccessControl::new(&AccessSettings {
        ingest_tokens: vec![Secret::from(INGEST)],
        query_tokens: vec![Secret::from(QUERY)],
        ..AccessSettings::default()
    })
    .unwrap();
    TestApi::with(ApiSettings::default(), access, Limits::default())
}

fn post_as(token: Option<&str>, body: &'static str) -> axum::http::Request<Body> {
    let mut builder =
        request(Method::POST, "/logs").header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    builder.body(Body::from(body)).unwrap()
}

fn get_as(token: Option<&str>, uri: &str) -> axum::http::Request<Body> {
    let mut builder = request(Method::GET, uri);
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    builder.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn health_reports_the_collector() {
    let settings = ApiSettings {
        service_name: "test-collector".into(),
        ..ApiSettings::default()
    };
    let api = TestApi::with(settings, AccessControl::default(), Limits::default());
    let health = api.get("/health").await;
    assert_eq!(health.status, StatusCode::OK);
    let health = health.json();
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["service"], "test-collector");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert!(health["uptime_seconds"].is_u64());
    assert_eq!(health["log_dir"], api.store.dir().display().to_string());
    assert_eq!(health["fsync"], "never");
    assert_eq!(health["open_writers"], 0);
    assert_eq!(health["live_streams"], 0);
    assert_eq!(health["fanout"], json!({"enabled": false}));
    assert_eq!(health["forwarders"], json!([]));

    api.post_json(r#"{"service":"api"}"#).await;
    assert_eq!(api.get("/health").await.json()["open_writers"], 1);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let api = TestApi::new();
    for uri in ["/nope", "/logs/api/extra", "/logs/"] {
        let error = api.get(uri).await.assert_error(StatusCode::NOT_FOUND);
        assert_eq!(error["error"], "no such endpoint", "{uri}");
    }
    for (method, uri) in [
        (Method::DELETE, "/logs"),
        (Method::PUT, "/health"),
        (Method::POST, "/services"),
        (Method::POST, "/logs/api"),
    ] {
        let reply = api
            .send(request(method.clone(), uri).body(Body::empty()).unwrap())
            .await;
        let error = reply.assert_error(StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(error["error"], "method not allowed", "{method} {uri}");
    }
}

#[tokio::test]
async fn any_origin_is_allowed_by_default() {
    let api = TestApi::new();
    let reply = api
        .send(
            request(Method::GET, "/health")
                .header(header::ORIGIN, "https://dashboard.example")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header(header::ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"));

    // A browser's preflight for a JSON POST with a token.
    let reply = api
        .send(
            request(Method::OPTIONS, "/logs")
                .header(header::ORIGIN, "https://dashboard.example")
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
                .header(
                    header::ACCESS_CONTROL_REQUEST_HEADERS,
                    "content-type,authorization",
                )
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header(header::ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"));
    let methods = reply
        .header(header::ACCESS_CONTROL_ALLOW_METHODS)
        .unwrap_or_default()
        .to_owned();
    assert!(methods.contains("POST"), "{methods}");
    let headers = reply
        .header(header::ACCESS_CONTROL_ALLOW_HEADERS)
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(headers.contains("authorization"), "{headers}");
    assert!(headers.contains(TOKEN_HEADER), "{headers}");
    assert!(api.services().is_empty(), "a preflight stores nothing");
}

#[tokio::test]
async fn configured_origins_are_the_only_ones_allowed() {
    let settings = ApiSettings {
        cors_origins: vec!["https://ops.example".into()],
        ..ApiSettings::default()
    };
    let api = TestApi::with(settings, AccessControl::default(), Limits::default());
    let from = |origin: &str| {
        request(Method::GET, "/health")
            .header(header::ORIGIN, origin)
            .body(Body::empty())
            .unwrap()
    };
    let reply = api.send(from("https://ops.example")).await;
    assert_eq!(
        reply.header(header::ACCESS_CONTROL_ALLOW_ORIGIN),
        Some("https://ops.example")
    );
    let reply = api.send(from("https://elsewhere.example")).await;
    assert_eq!(reply.header(header::ACCESS_CONTROL_ALLOW_ORIGIN), None);
}

#[tokio::test]
async fn tokens_gate_each_route_by_scope() {
    let api = with_tokens();
    let entry = r#"{"service":"api","m":1}"#;

    // Sending: no token 401 (with the Bearer challenge), unknown 401, a query token 403.
    let reply = api.send(post_as(None, entry)).await;
    reply.assert_error(StatusCode::UNAUTHORIZED);
    assert_eq!(reply.header(header::WWW_AUTHENTICATE), Some("Bearer"));
    api.send(post_as(Some("guess"), entry))
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    api.send(post_as(Some(QUERY), entry))
        .await
        .assert_error(StatusCode::FORBIDDEN);
    assert!(api.services().is_empty(), "refused requests store nothing");
    let reply = api.send(post_as(Some(INGEST), entry)).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    // The token header works where `Authorization` cannot be set.
    let reply = api
        .send(
            request(Method::POST, "/logs")
                .header(TOKEN_HEADER, INGEST)
                .body(Body::from(entry))
                .unwrap(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(api.stored("api").len(), 2);

    // Reading: every read route needs the query scope.
    for uri in ["/logs/api", "/logs?service=api", "/services"] {
        api.send(get_as(None, uri))
            .await
            .assert_error(StatusCode::UNAUTHORIZED);
        api.send(get_as(Some(INGEST), uri))
            .await
            .assert_error(StatusCode::FORBIDDEN);
        let reply = api.send(get_as(Some(QUERY), uri)).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}");
    }
    let page = api.send(get_as(Some(QUERY), "/logs/api")).await.json();
    assert_eq!(page["count"], 2);

    // `/health` stays open.
    assert_eq!(api.get("/health").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_token_limited_to_services_writes_only_those() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "# token scopes services").unwrap();
    writeln!(file, "billing-token ingest billing billing-worker").unwrap();
    let access = AccessControl::new(&AccessSettings {
        tokens_file: Some(file.path().to_owned()),
        ..AccessSettings::default()
    })
    .unwrap();
    let api = TestApi::with(ApiSettings::default(), access, Limits::default());
    let token = Some("billing-token");

    let reply = api
        .send(post_as(token, r#"{"service":"billing","m":1}"#))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    for body in [
        r#"{"service":"checkout"}"#,
        r#"[{"service":"billing"},{"service":"checkout"}]"#,
        r#"{"m":"no service is unknown, not billing"}"#,
    ] {
        let error = api
            .send(post_as(token, body))
            .await
            .assert_error(StatusCode::FORBIDDEN);
        assert!(
            error["error"]
                .as_str()
                .unwrap()
                .contains("nothing was stored"),
            "{error}"
        );
    }
    assert_eq!(api.services(), ["billing"]);
    assert_eq!(api.stored("billing").len(), 1);
}

#[tokio::test]
async fn a_client_over_its_rate_gets_429_with_retry_after_and_health_stays_open() {
    let limits = Limits {
        rate_limit: 1,
        rate_limit_burst: 1,
        ..Limits::default()
    };
    let api = TestApi::with(ApiSettings::default(), AccessControl::default(), limits);
    assert_eq!(api.get("/services").await.status, StatusCode::OK);
    // The allowance is one request a second: one of the next few (milliseconds apart)
    // must be refused, however slow the machine.
    let mut stored = 0;
    let refused = loop {
        let reply = api.post_json(r#"{"service":"api"}"#).await;
        if reply.status == StatusCode::CREATED {
            stored += 1;
            assert!(stored < 5, "the rate limit never refused a request");
            continue;
        }
        break reply;
    };
    let error = refused.assert_error(StatusCode::TOO_MANY_REQUESTS);
    let wait = error["retry_after"].as_u64().expect("retry_after");
    assert!(wait >= 1);
    assert_eq!(
        refused.header(header::RETRY_AFTER),
        Some(wait.to_string().as_str())
    );
    assert_eq!(
        api.services().len(),
        usize::from(stored > 0),
        "a 429 stores nothing"
    );
    for _ in 0..5 {
        assert_eq!(api.get("/health").await.status, StatusCode::OK);
    }
}
