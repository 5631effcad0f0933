//! An axum web service instrumented with tracing-estuary: every request runs in a
//! `request` span with its method, path, a request id, and (recorded when it finishes) its
//! status and latency; handlers log with their own fields inside it.
//!
//! Start a collector — `estuary` once installed (`cargo install --path collector`), or
//! `cargo run --release -p estuary-collector` (a release build: `target/release/estuary`) —
//! then:
//!
//! ```text
//! cargo run -p estuary-examples --example axum_service
//! curl -s localhost:3000/
//! curl -s -XPOST localhost:3000/orders -H 'content-type: application/json' \
//!      -d '{"sku":"tea-1kg","quantity":2}'
//! ```
//!
//! Ctrl-C stops it; the guard then delivers what is queued. Entries land in the collector's
//! `LOG_DIR/shop-api.log`; read them with `estuary query shop-api` (or
//! `target/release/estuary query shop-api`), which shows each request span's method and path. `PORT` (default 3000) and `ESTUARY_URL` can be set.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tracing::field::Empty;
use tracing::Instrument;
use tracing_subscriber::prelude::*;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (estuary, _guard) = tracing_estuary::Builder::new("shop-api")
        .static_field("version", env!("CARGO_PKG_VERSION"))
        .build()?;
    tracing_subscriber::registry()
        .with(estuary)
        .with(tracing_subscriber::fmt::layer())
        .init();

    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    axum::serve(listener, app())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    tracing::info!("shut down");
    Ok(()) // `_guard` drops here: queued entries are delivered before the process exits
}

/// The routes, wrapped in the request-span middleware.
fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "hello from shop-api\n" }))
        .route("/orders", post(create_order))
        .layer(middleware::from_fn(request_span))
}

/// Runs the request inside a span; records status and latency when it is done.
async fn request_span(req: Request, next: Next) -> Response {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = NEXT_ID.fetch_add(1, Ordering::Relaxed),
        status = Empty,
        latency_ms = Empty,
    );
    let started = Instant::now();
    let response = next.run(req).instrument(span.clone()).await;
    span.record("status", response.status().as_u16());
    span.record("latency_ms", started.elapsed().as_secs_f64() * 1000.0);
    span.in_scope(|| tracing::info!("request finished"));
    response
}

/// `POST /orders {"sku": "...", "quantity": n}`: logs inside a `create_order` span.
async fn create_order(Json(order): Json<Value>) -> (StatusCode, Json<Value>) {
    static NEXT_ORDER: AtomicU64 = AtomicU64::new(1000);
    let sku = order["sku"].as_str().unwrap_or("").to_owned();
    let quantity = order["quantity"].as_u64().unwrap_or(0);
    let span = tracing::info_span!("create_order", sku = %sku, quantity);
    let _entered = span.enter(); // no `.await` below, so entering is fine here
    if sku.is_empty() || quantity == 0 {
        tracing::warn!(
            reason = "sku and a positive quantity are required",
            "order rejected"
        );
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": "sku and a positive quantity are required"})),
        );
    }
    let order_id = NEXT_ORDER.fetch_add(1, Ordering::Relaxed);
    tracing::info!(order_id, total_cents = 1_299 * quantity, "order placed");
    (StatusCode::CREATED, Json(json!({ "order_id": order_id })))
}
