//! Capped exponential backoff with jitter, so many apps losing the same collector do not
//! retry in lockstep when it returns.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::Duration;

/// The delay before each retry of one failing batch; reset once a request succeeds.
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    /// The un-jittered delay of the last retry (zero before the first).
    current: Duration,
    /// xorshift state: jitter needs no cryptographic randomness, just no lockstep.
    rng: u64,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        // `RandomState` is seeded randomly per process: a free, dependency-less seed.
        let seed = RandomState::new().hash_one(std::process::id()) | 1;
        Backoff {
            min,
            max,
            current: Duration::ZERO,
            rng: seed,
        }
    }

    /// The next delay: doubled from the last (from `min`, capped at `max`), then jittered
    /// to a uniform value in its upper half (`[d/2, d]`), so it still grows.
    pub(crate) fn next_delay(&mut self) -> Duration {
        self.current = if self.current.is_zero() {
            self.min
        } else {
            (self.current * 2).min(self.max)
        };
        let half = self.current / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        let jitter = if nanos == 0 {
            0
        } else {
            self.random() % (nanos + 1)
        };
        half + Duration::from_nanos(jitter)
    }

    /// A request succeeded: the next failure starts from `min` again.
    pub(crate) fn reset(&mut self) {
        self.current = Duration::ZERO;
    }

    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_with_jitter_in_the_upper_half() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(2));
        let mut b = Backoff::new(min, max);
        let mut nominal = min;
        for _ in 0..10 {
            let d = b.next_delay();
            assert!(
                d >= nominal / 2 && d <= nominal,
                "{d:?} not in [{nominal:?}/2, {nominal:?}]"
            );
            nominal = (nominal * 2).min(max);
        }
        b.reset();
        assert!(b.next_delay() <= min);
    }

    #[test]
    fn jitter_varies() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(1));
        let delays: std::collections::HashSet<_> = (0..20).map(|_| b.next_delay()).collect();
        assert!(delays.len() > 10);
    }
}
