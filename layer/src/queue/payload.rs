//! [`Payload`]: the NDJSON lines of one batch, filled by the queue and sent by the worker,
//! with the line surgery the worker needs when the collector objects to some of them.

use std::time::Instant;

/// The NDJSON lines of one batch on their way to the collector (one request body, before
/// compression).
#[derive(Default)]
pub(crate) struct Payload {
    /// The lines, each ending in `\n`.
    pub(crate) buf: Vec<u8>,
    /// How many lines `buf` holds.
    pub(crate) entries: usize,
    /// Entries and bytes charged to the queue when sealed; the worker may remove lines
    /// (a rejected entry), but the queue is credited with what it was charged.
    pub(super) charged: (usize, usize),
    /// When the first line arrived (the batch interval runs from there).
    pub(super) started: Option<Instant>,
}

impl Payload {
    /// A payload of `entries` lines in `buf`, charged to nothing (the queue charges it when
    /// it seals it).
    pub(super) fn from_lines(buf: Vec<u8>, entries: usize) -> Self {
        Payload {
            buf,
            entries,
            charged: (0, 0),
            started: None,
        }
    }

    /// Copies of the first and second half of the lines, for a `413`. They are charged to
    /// nothing: the queue is credited when this payload, which holds the charge, finishes.
    pub(crate) fn halves(&self) -> (Payload, Payload) {
        let half = self.entries / 2;
        let cut = line_start(&self.buf, half);
        (
            Payload::from_lines(self.buf[..cut].to_vec(), half),
            Payload::from_lines(self.buf[cut..].to_vec(), self.entries - half),
        )
    }

    /// Removes line `index` (the entry the collector named as bad).
    pub(crate) fn remove_line(&mut self, index: usize) {
        let start = line_start(&self.buf, index);
        let end = line_start(&self.buf, index + 1);
        self.buf.drain(start..end);
        self.entries -= 1;
    }
}

/// Byte offset where line `n` (0-based) of NDJSON `buf` starts (`buf.len()` past the end).
fn line_start(buf: &[u8], n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    buf.iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(n - 1)
        .map_or(buf.len(), |(i, _)| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_found_and_removed() {
        let buf = b"{\"a\":0}\n{\"a\":1}\n{\"a\":2}\n".to_vec();
        assert_eq!(line_start(&buf, 0), 0);
        assert_eq!(line_start(&buf, 1), 8);
        assert_eq!(line_start(&buf, 3), buf.len());
        let mut payload = Payload::from_lines(buf, 3);
        payload.remove_line(1);
        assert_eq!(payload.buf, b"{\"a\":0}\n{\"a\":2}\n");
        assert_eq!(payload.entries, 2);
    }

    #[test]
    fn halves_split_at_a_line_and_carry_no_charge() {
        let mut payload = Payload::from_lines(b"{\"a\":0}\n{\"a\":1}\n{\"a\":2}\n".to_vec(), 3);
        payload.charged = (3, 24);
        let (first, second) = payload.halves();
        assert_eq!(
            (first.buf.as_slice(), first.entries),
            (&b"{\"a\":0}\n"[..], 1)
        );
        assert_eq!(
            (second.buf.as_slice(), second.entries),
            (&b"{\"a\":1}\n{\"a\":2}\n"[..], 2)
        );
        assert_eq!((first.charged, second.charged), ((0, 0), (0, 0)));
        assert_eq!(
            payload.entries, 3,
            "the original keeps its lines and its charge"
        );
    }
}
