//! The collector's contract, tested over HTTP against the real binary.

mod bad_input;
mod durability;
mod ingest;
mod query;
mod seed;
