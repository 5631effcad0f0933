//! The parts of the `bench_realtime` binary: a private Redis ([`redis_server`]), paced
//! open-loop load whose every acknowledgement is stamped ([`pacer`]), the live consumers
//! whose arrivals are stamped ([`receivers`]), matching the two ([`delivery`]), and the
//! run's results as printed ([`summary`]). The shared pieces (the collector process, the
//! HTTP client, closed-loop load, report helpers) come from this crate.

pub mod delivery;
pub mod pacer;
pub mod receivers;
pub mod redis_server;
pub mod summary;
