//! The parts of the `bench_forward` binary: the entries it stores ([`entries`]) and how it
//! loads the collector and reads its forwarder's counters ([`client`]), the pre-loaded
//! `LOG_DIR` seen from outside and read back as the floor of forwarding ([`stored`]), an
//! optional `perf record` of the collector ([`profile`]), and the run's results as printed
//! ([`summary`]). The fake destination that accepts at once and counts what arrives is
//! `estuary_test_support::fake_sink`, the one the forwarding tests use; the HTTP client,
//! closed-loop load and report helpers come from this crate.

pub mod client;
pub mod entries;
pub mod profile;
pub mod stored;
pub mod summary;
