//! In-process contract tests of the HTTP API: each request goes through [`router`] with
//! `tower::ServiceExt::oneshot` (no port, no binary), over a store in a temporary folder.
//! What they check is the contract the README states: status codes, bodies, the JSON error
//! shape, and that a refused request stores nothing.

mod access;
mod ingest;
mod query;

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use super::auth::AccessControl;
use super::protect::{Limits, Protection};
use super::{router, ApiSettings, AppResources, AppState};
use crate::query::PageRequest;
use crate::service::ServiceName;
use crate::store::{Store, StoreConfig};

/// A router over a fresh store.
struct TestApi {
    app: Router,
    store: Store,
    /// Kept for the store's lifetime.
    _dir: tempfile::TempDir,
}

/// What the router answered.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    /// The body as JSON (panics, naming the body, when it is not).
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "{} answered a non-JSON body ({err}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn header(&self, name: impl header::AsHeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an error answer: `status`, a JSON content type and `{"error": "<text>", ...}`.
    fn assert_error(&self, status: StatusCode) -> Value {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.header(header::CONTENT_TYPE), Some("application/json"));
        let json = self.json();
        let error = json["error"].as_str().expect("an \"error\" string");
        assert!(!error.is_empty());
        json
    }
}

impl TestApi {
    /// The defaults of `estuary serve`: open access, no rate limit.
    fn new() -> Self {
        Self::with(
            ApiSettings::default(),
            AccessControl::default(),
            Limits::default(),
        )
    }

    fn with(settings: ApiSettings, access: AccessControl, limits: Limits) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(StoreConfig::new(dir.path())).expect("store");
        let state = AppState::new(AppResources {
            store: store.clone(),
            settings: Arc::new(settings),
            started: Instant::now(),
            live: crate::live::LiveHub::new(16),
            fanout: None,
            shutdown: Default::default(),
            access: Arc::new(access),
            protect: Arc::new(Protection::new(limits).unwrap()),
            metrics: crate::metrics::install(),
            forwarders: Default::default(),
            backend: Default::default(),
        });
        TestApi {
            app: router(state),
            store,
            _dir: dir,
        }
    }

    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self
            .app
            .clone()
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("response body").to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    async fn get(&self, uri: &str) -> Reply {
        self.send(request(Method::GET, uri).body(Body::empty()).unwrap())
            .await
    }

    /// `POST /logs` with a JSON body.
    async fn post_json(&self, body: &str) -> Reply {
        self.post("application/json", body.to_owned()).await
    }

    async fn post(&self, content_type: &str, body: impl Into<Body>) -> Reply {
        self.send(
            request(Method::POST, "/logs")
                .header(header::CONTENT_TYPE, content_type)
                .body(body.into())
                .unwrap(),
        )
        .await
    }

    /// Every stored line of `service`, oldest first, read from the store itself.
    fn stored(&self, service: &str) -> Vec<Value> {
        let service = ServiceName::parse(service).expect("service name");
        let page = self
            .store
            .query(&service, &PageRequest::newest(10_000))
            .expect("query");
        page.hits
            .iter()
            .rev()
            .map(|hit| serde_json::from_slice(&hit.line).expect("stored JSON"))
            .collect()
    }

    /// Every service with stored entries.
    fn services(&self) -> Vec<String> {
        self.store
            .services()
            .expect("services")
            .iter()
            .map(ToString::to_string)
            .collect()
    }
}

fn request(method: Method, uri: &str) -> axum::http::request::Builder {
    Request::builder().method(method).uri(uri)
}

/// The `field` of each entry of a JSON array.
fn field(entries: &Value, field: &str) -> Vec<Value> {
    entries
        .as_array()
        .expect("an array")
        .iter()
        .map(|e| e[field].clone())
        .collect()
}
