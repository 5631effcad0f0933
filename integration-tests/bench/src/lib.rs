//! Estuary's benchmarks: four binaries (`src/bin/bench_*.rs`) that start the release
//! `estuary` binary and measure it, each beside a baseline taken in the same run, and print
//! a markdown table. This library is what they share, compiled once:
//!
//! - the collector process ([`collector`]), a minimal HTTP client ([`http`]) and the
//!   closed-loop load it drives ([`load`]), the generated entries and logs ([`workload`]),
//!   the same-run baselines ([`baseline`]), the results table's pieces ([`report`]), and
//!   `bench_collector`'s results as printed ([`summary`]);
//! - the parts of each other benchmark, a folder each: [`realtime`] for `bench_realtime`,
//!   [`query`] for `bench_query`, [`forward`] for `bench_forward`.

pub mod baseline;
pub mod collector;
pub mod forward;
pub mod http;
pub mod load;
pub mod query;
pub mod realtime;
pub mod report;
pub mod summary;
pub mod workload;
