//! A test app for `tests/layer`: the layer inside `#[tokio::main]`, multi-thread (argument
//! `multi`, the default) or current-thread (argument `current`). It is built inside the
//! runtime, used from several tasks and a blocking thread, and its guard is dropped inside
//! the runtime when `main` returns.
//!
//! Environment: `ESTUARY_URL`, `LAYER_APP_SERVICE` (default `layer-tokio`),
//! `LAYER_APP_EVENTS` (default 2,000, split over 4 tasks).

use tracing::Instrument;
use tracing_subscriber::prelude::*;

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("current") => current_thread(),
        _ => multi_thread(),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn current_thread() {
    app("current_thread").await;
}

#[tokio::main]
async fn multi_thread() {
    app("multi_thread").await;
}

async fn app(flavor: &'static str) {
    let service = std::env::var("LAYER_APP_SERVICE").unwrap_or_else(|_| "layer-tokio".into());
    let events: u64 = std::env::var("LAYER_APP_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let (layer, _guard) = tracing_estuary::layer(&service).expect("layer");
    tracing_subscriber::registry().with(layer).init();

    let tasks: Vec<_> = (0..4u64)
        .map(|task| {
            let span = tracing::info_span!("task", task, flavor);
            tokio::spawn(
                async move {
                    for i in 0..events / 4 {
                        tracing::info!(i, "tick");
                        if i % 50 == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                }
                .instrument(span),
            )
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    tokio::task::spawn_blocking(move || tracing::info!(flavor, "from a blocking thread"))
        .await
        .expect("blocking");
    // `_guard` drops here, inside the runtime: it must neither panic nor lose anything.
}
