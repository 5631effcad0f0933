//! The layer's own problems go to stderr — never through `tracing`, which would feed them
//! back into the layer — and at most once per interval per kind, so an outage does not
//! flood the terminal.

use std::fmt::Display;
use std::time::{Duration, Instant};

/// Minimum time between two messages of the same kind.
const INTERVAL: Duration = Duration::from_secs(10);

/// Rate-limited stderr reporting, owned by the worker thread.
#[derive(Default)]
pub(crate) struct Diag {
    /// Per kind: when it was last printed and how many were suppressed since.
    last: Vec<(&'static str, Instant, u64)>,
}

impl Diag {
    /// Prints `tracing-estuary: <msg>` unless a message of `kind` was printed recently.
    pub(crate) fn warn(&mut self, kind: &'static str, msg: impl Display) {
        let now = Instant::now();
        match self.last.iter_mut().find(|(k, _, _)| *k == kind) {
            Some((_, at, suppressed)) if now.duration_since(*at) < INTERVAL => *suppressed += 1,
            Some((_, at, suppressed)) => {
                let more = std::mem::take(suppressed);
                *at = now;
                print(msg, more);
            }
            None => {
                self.last.push((kind, now, 0));
                print(msg, 0);
            }
        }
    }
}

/// `eprintln!` would panic on a closed stderr; a lost diagnostic is better than a dead worker.
fn print(msg: impl Display, suppressed: u64) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = if suppressed > 0 {
        writeln!(
            err,
            "tracing-estuary: {msg} ({suppressed} similar messages suppressed)"
        )
    } else {
        writeln!(err, "tracing-estuary: {msg}")
    };
}
