//! # estuary-collector
//!
//! The Estuary collector: one place for every service to send its logs, and one place
//! for operators to read them.
//!
//! ```text
//!  POST /logs ─▶ api::ingest ─▶ body (parse ▸ validate ▸ stamp) ─▶ store ─▶ 201
//!  POST /v1/logs, /loki/api/v1/push, /_bulk ─▶ api::{otlp, loki_push, bulk} ─▶ (same) ─▶ store
//!                                                                    │ after each commit:
//!                                        live (SSE, estuary tail) ◀──┤
//!                                      fanout (Redis pub/sub)     ◀──┤
//!                                      forward (Loki, ES, ClickHouse) ◀── reads the store from a checkpoint
//!  GET /logs… ─▶ api::query ─▶ query::PageRequest ─▶ store ─▶ query::Page (lines as stored)
//!  GET /histogram, /facets ─▶ api::counts ─▶ query::HistogramRequest ─▶ store (count index)
//! ```
//!
//! The modules, in the order data flows:
//!
//! - [`config`]: the command line, parsed once into [`config::Settings`] — each domain
//!   module gets its own settings type and never sees a flag.
//! - [`api`]: the HTTP surface. [`api::ingest`] (`POST /logs`) limits and decodes bodies with
//!   [`body`]; the protocol adapters [`api::otlp`] (`POST /v1/logs`), [`api::loki_push`]
//!   (`POST /loki/api/v1/push`) and [`api::bulk`] (`POST /_bulk`, `GET /`) decode with their
//!   ecosystem's types, map each entry to a line once, and share its receive and store steps;
//!   [`api::query`] (`GET /logs/{service}`, `GET /logs`, `GET /services`) answers
//!   with [`query`] types and [`filter`]; [`api::counts`] (`GET /histogram`, `GET /facets`)
//!   counts before listing; [`api::live`] serves live SSE; [`api::console`] is the web console
//!   (`GET /` in a browser: ES modules embedded in the binary, over the same API); [`api::auth`] and
//!   [`api::protect`] gate and bound requests; [`api::openapi`] describes it all.
//! - [`service`]: the validated service name.
//! - [`store`]: **the only module that knows files**. One writer per service group-commits
//!   and acknowledges after the write; rotation, segments, retention, checkpoints and the
//!   readers live inside it, and so does the count index written with the data (per block
//!   of each file: stream range, time range, entries per level), behind a small API (append,
//!   query a page, read forward from a position, histogram, facets, end, usage, services,
//!   retention, checkpoints).
//! - [`query`]: what a query asks and gets back — plain types, no files, so another backend
//!   can answer the same requests.
//! - After each commit, in-process and outward:
//!   [`live`] is the in-process ring behind live streams (local commits and those of peer
//!   collectors); [`fanout`] publishes to Redis and, in [`fanout::peers`], brings peer
//!   collectors' commits into [`live`]; [`forward`] ships stored entries to Loki,
//!   Elasticsearch and ClickHouse from a checkpoint (at least once).
//! - [`clickhouse`]: the ClickHouse table several collectors share — its schema per server
//!   version, the rows the forwarder inserts, and the reads behind `--query-backend
//!   clickhouse` ([`api::backend`] picks files or ClickHouse for every query endpoint).
//! - [`metrics`]: the collector's own Prometheus metrics (`GET /metrics`).
//! - [`cli`]: `estuary tail`, `estuary query` and `estuary stats`, clients of a running collector: the
//!   token, fmt-like lines ([`cli::render`]), and errors that say what to do.
//! - [`server`]: wires it together and owns the shutdown order; [`shutdown`] listens for
//!   signals; [`timefmt`] holds the time formats and how an entry's `timestamp` becomes an
//!   instant; [`filter::Severity`] is the one mapping from written levels to severities.
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
pub mod clickhouse;
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
