#![doc = include_str!("../README.md")]

mod backoff;
mod builder;
pub mod defaults;
mod diag;
mod error;
mod format;
mod guard;
mod handle;
mod json;
mod layer;
mod no_feedback;
mod queue;
mod record;
mod scope_cache;
mod span_fields;
mod stats;
mod transport;
mod worker;

#[cfg(test)]
mod tests;

pub use builder::Builder;
pub use error::{Error, FlushError};
pub use guard::WorkerGuard;
pub use handle::Handle;
pub use layer::EstuaryLayer;
pub use queue::Overflow;
pub use stats::Stats;

/// Starts a layer for `service` with every default: the one line to adopt Estuary.
///
/// The endpoint comes from `ESTUARY_URL`, else `http://127.0.0.1:8005`. Keep the guard until
/// the end of `main`: dropping it delivers what is queued.
///
/// # Errors
///
/// [`Error::InvalidService`] for a name the collector would refuse,
/// [`Error::InvalidEndpoint`] for a bad `ESTUARY_URL`, [`Error::Worker`] if the worker
/// thread cannot start.
///
/// # Examples
///
/// ```no_run
/// use tracing_subscriber::prelude::*;
///
/// let (layer, _guard) = tracing_estuary::layer("checkout")?;
/// tracing_subscriber::registry().with(layer).init();
/// tracing::info!(user = "ada", "signed in");
/// # Ok::<(), tracing_estuary::Error>(())
/// ```
pub fn layer(service: &str) -> Result<(EstuaryLayer, WorkerGuard), Error> {
    Builder::new(service).build()
}
