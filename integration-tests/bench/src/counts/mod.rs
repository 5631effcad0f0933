//! The parts of the `bench_counts` binary: the entries it posts, spread over a day of entry
//! time ([`entries`]), the loader that posts them and the timed `/histogram` client
//! ([`client`]), and the run's results as printed ([`summary`]).

pub mod client;
pub mod entries;
pub mod summary;
