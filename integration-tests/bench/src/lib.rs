//! Estuary's benchmarks: five binaries (`src/bin/bench_*.rs`) that start the release
//! `estuary` binary and measure it, each beside a baseline taken in the same run, and print
//! a markdown table. This library is what they share, compiled once:
//!
//! - a run's set-up and the note on the machine ([`run`]), what `/proc` says about the
//!   processes ([`process`]), a minimal HTTP client ([`http`]) and the closed-loop load it
//!   drives ([`load`]), the generated entries and logs ([`workload`]), the same-run
//!   baselines ([`baseline`]), and the results table's pieces ([`report`]);
//! - the parts of each benchmark, a folder each: [`collector`] for `bench_collector`,
//!   [`realtime`] for `bench_realtime`, [`query`] for `bench_query`, [`forward`] for
//!   `bench_forward`, [`counts`] for `bench_counts`.
//!
//! The collector process, the private `redis-server` and the fake Loki/Elasticsearch are
//! the ones the end-to-end tests use, from `estuary-test-support`.

pub mod baseline;
pub mod collector;
pub mod counts;
pub mod forward;
pub mod http;
pub mod load;
pub mod process;
pub mod query;
pub mod realtime;
pub mod report;
pub mod run;
pub mod workload;
