//! The parts of the `bench_query` binary: the generated data ([`dataset`]), a client that
//! times queries and follows their cursors ([`client`]), the same-run baselines
//! ([`baseline`]), and the run's results as printed ([`summary`]). The shared pieces (the
//! collector process, the HTTP client, report helpers) come from this crate.

pub mod baseline;
pub mod client;
pub mod dataset;
pub mod summary;
