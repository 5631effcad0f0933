//! Matching arrivals with acknowledgements: for each message sent in the window, how long
//! after its acknowledgement (and after its send) a consumer had it.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use super::pacer::Ack;
use crate::report::Latencies;

/// How one consumer received the messages sent in the window.
#[derive(Default)]
pub struct Delivery {
    /// Messages sent and acknowledged in the window.
    pub expected: usize,
    /// Of those, how many arrived (once each; repeats are counted apart).
    pub arrived: usize,
    /// Messages that arrived more than once.
    pub repeated: usize,
    /// Arrivals that came before the acknowledgement was read.
    pub before_ack: usize,
    /// From reading the acknowledgement to arrival; zero for those that came first.
    pub after_ack: Latencies,
    /// From sending to arrival.
    pub after_send: Latencies,
}

/// Matches `stamps` (`(seq, arrival)`, in any order, possibly with messages outside the
/// window) with `acks`.
pub fn match_arrivals(acks: &[Ack], stamps: &[(u64, Instant)]) -> Delivery {
    let by_seq: HashMap<u64, &Ack> = acks.iter().map(|ack| (ack.seq, ack)).collect();
    let mut seen = HashSet::with_capacity(acks.len());
    let mut delivery = Delivery {
        expected: acks.len(),
        ..Delivery::default()
    };
    for (seq, at) in stamps {
        let Some(ack) = by_seq.get(seq) else {
            continue;
        };
        if !seen.insert(*seq) {
            delivery.repeated += 1;
            continue;
        }
        delivery.arrived += 1;
        if *at < ack.acked {
            delivery.before_ack += 1;
        }
        delivery
            .after_ack
            .record(at.saturating_duration_since(ack.acked));
        delivery.after_send.record(*at - ack.sent);
    }
    delivery
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn matches_by_seq_and_clamps_early_arrivals() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let acks = [
            Ack {
                seq: 1,
                sent: t0,
                acked: t0 + ms(2),
            },
            Ack {
                seq: 2,
                sent: t0,
                acked: t0 + ms(2),
            },
        ];
        let stamps = [(1, t0 + ms(5)), (2, t0 + ms(1)), (2, t0 + ms(6)), (9, t0)];
        let delivery = match_arrivals(&acks, &stamps);
        assert_eq!((delivery.expected, delivery.arrived), (2, 2));
        assert_eq!((delivery.repeated, delivery.before_ack), (1, 1));
        assert_eq!(delivery.after_ack.percentile(100.0), ms(3));
        assert_eq!(delivery.after_ack.percentile(50.0), Duration::ZERO);
    }
}
