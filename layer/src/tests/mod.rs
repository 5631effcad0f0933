//! Unit tests of the whole layer: scoped subscribers (never a global one) and an in-process
//! HTTP server; no collector binary needed.

mod context;
mod delivery;
mod schema;
mod server;
mod spans;
mod stats;

use serde_json::Value;
use tracing_subscriber::prelude::*;

use crate::{Builder, Stats};
use server::TestServer;

/// Runs `f` under a scoped subscriber with a layer built by `configure`, shuts the layer
/// down (delivering everything), and returns what the server stored and the final stats.
fn capture(
    configure: impl FnOnce(Builder) -> Builder,
    f: impl FnOnce(),
) -> (Vec<Value>, Vec<String>, Stats) {
    let server = TestServer::start();
    let builder = configure(Builder::new("unit-test").endpoint(&server.url));
    let (layer, guard) = builder.build().expect("build");
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
    let stats = guard.shutdown().expect("everything delivered");
    (server.json(), server.lines(), stats)
}

/// Polls `cond` every 5 ms for up to 10 s.
pub(crate) fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
