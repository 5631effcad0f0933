//! tracing-estuary against the real collector: apps built on the layer (plain `main`,
//! `#[tokio::main]` both flavors) and in-process layers through collector outages.

mod apps;
mod outage;
