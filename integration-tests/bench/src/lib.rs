//! The parts of the `bench_collector` binary, one per concern: the collector process
//! ([`collector`]), a minimal HTTP client ([`http`]) and the load it drives ([`load`]), the
//! generated entries and log ([`workload`]), the same-run baselines ([`baseline`]), the
//! results table's pieces ([`report`]) and the run's results as printed ([`summary`]).
//!
//! The other bench binaries include this module for those shared pieces and keep their own
//! parts in a subfolder each (`realtime/` for `bench_realtime`, `query/` for `bench_query`).

pub mod baseline;
pub mod collector;
pub mod http;
pub mod load;
pub mod report;
pub mod summary;
pub mod workload;
