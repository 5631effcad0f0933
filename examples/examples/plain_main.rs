//! The smallest adoption: a plain `fn main()` with no async runtime.
//!
//! Start a collector — `estuary` once installed (`cargo install --path collector`), or
//! `cargo run --release -p estuary-collector` (a release build: `target/release/estuary`) —
//! then:
//!
//! ```text
//! cargo run -p estuary-examples --example plain_main
//! ```
//!
//! It logs a few events inside nested spans and returns; dropping the guard at the end of
//! `main` delivers everything. Set `ESTUARY_URL` to use another collector. The entries land
//! in the collector's `LOG_DIR/plain-main.log` (`estuary query plain-main` prints them).

use tracing_subscriber::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (estuary, guard) = tracing_estuary::layer("plain-main")?;
    tracing_subscriber::registry()
        .with(estuary)
        .with(tracing_subscriber::fmt::layer())
        .init();

    let job = tracing::info_span!("job", report = "nightly-report", attempt = 1);
    let _job = job.enter();
    for (i, region) in ["eu", "us", "ap"].iter().enumerate() {
        let step = tracing::info_span!("region", region, index = i);
        let _step = step.enter();
        tracing::info!(
            rows = 1_000 * (i + 1),
            ratio = 0.25,
            ok = true,
            "region done"
        );
    }
    let err = std::io::Error::other("upstream timed out");
    tracing::warn!(error = &err as &dyn std::error::Error, "retrying later");

    // Dropping the guard would do the same; `shutdown` also returns the final counters.
    let stats = guard.shutdown()?;
    eprintln!("sent {} entries, dropped {}", stats.sent, stats.dropped());
    Ok(())
}
