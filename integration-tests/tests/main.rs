//! End-to-end tests: the real `estuary` binary, real apps using the layer, a real
//! `redis-server`. Built as one test binary (one link, shared helpers in `support`).

mod collector;
mod forward;
mod layer;
mod operate;
mod query;
mod realtime;
mod support;
