//! Queries, rotation and retention against the real binary.

mod cli;
mod counts;
mod filters;
mod pages;
mod rotation;
