//! Queries, rotation and retention against the real binary.

mod budget;
mod cli;
mod counts;
mod filters;
mod pages;
mod rotation;
