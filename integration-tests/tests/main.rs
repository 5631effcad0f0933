//! End-to-end tests: the real `estuary` binary, real apps using the layer, a real
//! `redis-server`. Built as one test binary (one link); the launchers and helpers are the
//! `estuary-test-support` crate (`integration-tests/support`), which the benchmarks share.

mod clickhouse;
mod collector;
mod console;
mod forward;
mod layer;
mod operate;
mod operator;
mod protocols;
mod query;
mod realtime;

use estuary_test_support as support;
