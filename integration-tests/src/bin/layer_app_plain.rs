//! A test app for `tests/layer`: a plain `fn main()` with no async runtime that logs
//! `LAYER_APP_EVENTS` events (default 10,000) inside nested spans and returns from `main` at
//! once, leaving delivery to the guard's drop.
//!
//! Environment: `ESTUARY_URL`, `LAYER_APP_SERVICE` (default `layer-plain`),
//! `LAYER_APP_EVENTS`, and `RUST_LOG` (when set, an `EnvFilter` is installed globally, so
//! `RUST_LOG=trace` enables every library's events, reqwest's and hyper's included).

use tracing::field::Empty;
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let service = std::env::var("LAYER_APP_SERVICE").unwrap_or_else(|_| "layer-plain".into());
    let events: u64 = std::env::var("LAYER_APP_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let (layer, _guard) = tracing_estuary::layer(&service)?;
    let env_filter = std::env::var("RUST_LOG")
        .ok()
        .map(|_| EnvFilter::from_default_env());
    tracing_subscriber::registry()
        .with(env_filter)
        .with(layer)
        .init();

    let job = tracing::info_span!("job", job_id = 7u64, kind = "import");
    let _job = job.enter();
    let batch = tracing::info_span!("batch", index = 3, size = Empty);
    batch.record("size", 250);
    let _batch = batch.enter();
    // From another thread too: the span is passed explicitly as the parent.
    let parent = batch.clone();
    std::thread::spawn(move || tracing::info!(parent: &parent, from = "helper", "helper thread"))
        .join()
        .expect("helper thread");
    for i in 0..events {
        tracing::info!(
            i,
            even = i % 2 == 0,
            ratio = 0.5,
            label = "quote \" and ✓",
            "event {i}"
        );
    }
    Ok(()) // `_guard` drops here: everything queued is delivered before the process exits
}
