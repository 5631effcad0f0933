//! The parts of the `bench_collector` binary that are its own: the run's results as printed
//! ([`summary`]). The raw-write and `tail` baselines, the generated entries and log, the
//! HTTP client and closed-loop load are shared, from this crate.

pub mod summary;
