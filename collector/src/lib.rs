//! # estuary-collector
//!
//! The Estuary collector: one place for every service to send its logs, and one place
//! for operators to read them.
//!
//! Data flows through the modules in this order:
//!
//! - [`config`]: every setting, from flags and environment variables.
//! - [`api`]: the HTTP surface. [`api::ingest`] (`POST /logs`) limits, decodes and
//!   validates bodies with [`entry`]; [`api::query`] (`GET /logs/{service}`, `GET /logs`,
//!   `GET /services`) answers queries with [`filter`]; [`api::stream`] serves live SSE;
//!   [`api::auth`] and [`api::protect`] gate and bound requests; [`api::openapi`]
//!   describes it all at `GET /openapi.json`.
//! - [`service`]: the validated service name that becomes a file name.
//! - [`store`]: one writer task per service that group-commits entries to
//!   `LOG_DIR/<service>.log` and acknowledges only after the write; rotation into
//!   segments, retention, and the scan engine behind queries.
//! - [`live`] (in-process) and [`fanout`] (Redis pub/sub): every commit, after the write.
//! - [`forward`]: forwarders to Loki and Elasticsearch, reading the stored files from a
//!   persisted checkpoint (at least once).
//! - [`metrics`]: the collector's own Prometheus metrics (`GET /metrics`).
//! - [`cli`]: `estuary tail` and `estuary query`, clients of a running collector.
//! - [`server`]: wires state, router and shutdown together; [`shutdown`] listens for signals;
//!   [`timefmt`] holds the time formats.
//!
//! # Examples
//!
//! Run a collector on an ephemeral port until a shutdown future resolves:
//!
//! ```no_run
//! use clap::Parser;
//! use estuary_collector::{config::ServeArgs, server};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = ServeArgs::parse_from(["serve", "--log-dir", "/tmp/estuary-logs"]).settings()?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! server::run(settings, listener, async { /* resolve to stop */ }).await?;
//! # Ok(())
//! # }
//! ```

pub mod api;
pub mod body;
pub mod cli;
pub mod config;
pub mod fanout;
pub mod filter;
pub mod forward;
pub mod live;
pub mod metrics;
pub mod query;
pub mod server;
pub mod service;
pub mod shutdown;
pub mod store;
pub mod timefmt;
