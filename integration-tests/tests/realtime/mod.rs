//! Real time: Redis fan-out, live tail over SSE, `estuary tail` — against the real binary
//! and a private `redis-server`.

mod fanout;
mod sse;
mod tail_cli;
