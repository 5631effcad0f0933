//! Requests that were stored in part: a body with entries for several services whose
//! storage failed for some of them after others were written. The answer names which
//! services were stored; the ledger here remembers them, so that a retry of the same body
//! stores only the rest and never duplicates an entry.
//!
//! Requests are told apart by a keyed hash of their raw body (the key is random per
//! process, so nobody can craft a body that passes for another). The ledger is bounded
//! ([`MAX_REMEMBERED`] requests, each for [`REMEMBERED_FOR`]) and lives in memory: a retry
//! that reaches another collector, or this one after a restart, is stored whole. While the
//! ledger is empty — whenever storage works — no body is hashed.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::service::ServiceName;

/// The most partly stored requests remembered at once.
pub const MAX_REMEMBERED: usize = 4096;
/// How long a partly stored request is remembered for its retry.
pub const REMEMBERED_FOR: Duration = Duration::from_secs(15 * 60);

/// Which services of which partly stored request are stored already.
#[derive(Debug, Default)]
pub struct PartlyStored {
    hasher: RandomState,
    remembered: Mutex<HashMap<u64, Remembered>>,
    /// `remembered.len()`, readable without the lock.
    count: AtomicUsize,
}

#[derive(Debug)]
struct Remembered {
    at: Instant,
    stored: Vec<ServiceName>,
}

/// A request's identity in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestKey(u64);

impl PartlyStored {
    /// The key of a request body.
    pub fn key(&self, body: &[u8]) -> RequestKey {
        RequestKey(self.hasher.hash_one(body))
    }

    /// When the ledger holds anything: the body's key and the services of it stored
    /// before (empty when this body is not a retry).
    pub fn stored_before(&self, body: &[u8]) -> Option<(RequestKey, Vec<ServiceName>)> {
        if self.count.load(Ordering::Acquire) == 0 {
            return None;
        }
        let key = self.key(body);
        let remembered = self.lock();
        let stored = remembered
            .get(&key.0)
            .filter(|r| r.at.elapsed() < REMEMBERED_FOR)
            .map(|r| r.stored.clone())
            .unwrap_or_default();
        Some((key, stored))
    }

    /// Remembers that `stored` services of the request are stored.
    pub fn remember(&self, key: RequestKey, stored: Vec<ServiceName>) {
        let mut remembered = self.lock();
        remembered.retain(|_, r| r.at.elapsed() < REMEMBERED_FOR);
        if remembered.len() >= MAX_REMEMBERED && !remembered.contains_key(&key.0) {
            if let Some(oldest) = remembered.iter().min_by_key(|(_, r)| r.at).map(|(k, _)| *k) {
                remembered.remove(&oldest);
            }
        }
        let at = Instant::now();
        remembered.insert(key.0, Remembered { at, stored });
        self.count.store(remembered.len(), Ordering::Release);
    }

    /// Forgets the request: it is stored whole now.
    pub fn forget(&self, key: RequestKey) {
        let mut remembered = self.lock();
        if remembered.remove(&key.0).is_some() {
            self.count.store(remembered.len(), Ordering::Release);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Remembered>> {
        self.remembered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_finds_what_was_stored_and_the_ledger_empties_when_it_is_stored_whole() {
        let ledger = PartlyStored::default();
        assert_eq!(
            ledger.stored_before(b"body"),
            None,
            "nothing hashed while empty"
        );
        let a = ServiceName::parse("a").unwrap();
        ledger.remember(ledger.key(b"body"), vec![a.clone()]);
        let (key, stored) = ledger.stored_before(b"body").expect("tracked");
        assert_eq!(stored, vec![a]);
        assert_eq!(ledger.stored_before(b"other").expect("tracked").1, vec![]);
        ledger.forget(key);
        assert_eq!(ledger.stored_before(b"body"), None);
    }

    #[test]
    fn the_ledger_is_bounded() {
        let ledger = PartlyStored::default();
        for i in 0..MAX_REMEMBERED + 10 {
            ledger.remember(ledger.key(&i.to_le_bytes()), Vec::new());
        }
        assert_eq!(ledger.count.load(Ordering::Acquire), MAX_REMEMBERED);
    }
}
