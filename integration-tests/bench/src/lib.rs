//! Estuary's benchmarks: four binaries (`src/bin/bench_*.rs`) that start the release
//! `estuary` binary and measure it, each beside a baseline taken in the same run, and print
//! a markdown table. This library is what they share, compiled once:
//!
//! - checks before a run ([`run`]), what `/proc` says about the processes ([`process`]),
//!   a minimal HTTP client ([`http`]) and the closed-loop load it drives ([`load`]), the generated entries and logs ([`workload`]),
//!   the same-run baselines ([`baseline`]), the results table's pieces ([`report`]), and
//!   `bench_collector`'s results as printed ([`summary`]);
//! - the parts of each other benchmark, a folder each: [`realtime`] for `bench_realtime`,
//!   [`query`] for `bench_query`, [`forward`] for `bench_forward`.
//!
//! The collector process and the private `redis-server` are the same launchers the
//! end-to-end tests use, from `estuary-test-support`.

pub mod baseline;
pub mod forward;
pub mod http;
pub mod load;
pub mod process;
pub mod query;
pub mod realtime;
pub mod report;
pub mod run;
pub mod summary;
pub mod workload;
