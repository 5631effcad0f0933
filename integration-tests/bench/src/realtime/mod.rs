//! The parts of the `bench_realtime` binary: paced open-loop load whose every
//! acknowledgement is stamped ([`pacer`]), the live consumers whose arrivals are stamped
//! ([`receivers`]), matching the two ([`delivery`]), and the run's results as printed
//! ([`summary`]). The private `redis-server` and the collector process come from
//! `estuary-test-support`; the HTTP client, closed-loop load and report helpers from this
//! crate.

pub mod delivery;
pub mod pacer;
pub mod receivers;
pub mod summary;
