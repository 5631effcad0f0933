//! Client subcommands that talk to a running collector over HTTP.

pub mod query;
pub mod render;
pub mod stats;
pub mod tail;

/// The collector URL used when neither `--url` nor `ESTUARY_URL` says otherwise.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8005";
