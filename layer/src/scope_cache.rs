//! The current span stack as JSON (`,"spans":[…],"span":{…}`), kept per thread from one
//! event to the next.
//!
//! Looking the stack up in the registry costs an event more than everything else it writes
//! (a slot reference and an extensions lock per span), yet the stack only changes when this
//! thread enters or exits a span, or when some thread `record`s a field of a span. So each
//! event checks a key made of those three things and copies the bytes when it still holds.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Gives every layer its own id, so a cache filled for one layer is never read by another
/// (each layer belongs to one registry, whose span ids mean nothing to the others).
static NEXT_LAYER_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// Bumped whenever this thread enters or exits a span (the stack may have changed).
    static STACK_MOVES: Cell<u64> = const { Cell::new(0) };
}

/// What the cached JSON was rendered from; equal keys mean equal JSON.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct ScopeKey {
    /// The layer that rendered it.
    layer: u64,
    /// That layer's count of span `record`s at the time.
    records: u64,
    /// This thread's enters and exits at the time.
    moves: u64,
}

/// A layer's side of the cache: its id and its count of span `record`s.
pub(crate) struct ScopeVersion {
    layer: u64,
    records: AtomicU64,
}

impl ScopeVersion {
    pub(crate) fn new() -> Self {
        ScopeVersion {
            layer: NEXT_LAYER_ID.fetch_add(1, Ordering::Relaxed),
            records: AtomicU64::new(0),
        }
    }

    /// A span's fields changed (on any thread): every thread renders its stack afresh.
    pub(crate) fn span_recorded(&self) {
        self.records.fetch_add(1, Ordering::Relaxed);
    }

    /// The key for the current thread's stack now, or `None` during thread teardown.
    #[inline]
    pub(crate) fn key(&self) -> Option<ScopeKey> {
        let moves = STACK_MOVES.try_with(Cell::get).ok()?;
        Some(ScopeKey {
            layer: self.layer,
            records: self.records.load(Ordering::Relaxed),
            moves,
        })
    }
}

/// This thread entered or exited a span.
#[inline]
pub(crate) fn stack_moved() {
    let _ = STACK_MOVES.try_with(|m| m.set(m.get().wrapping_add(1)));
}

/// The rendered stack and the key it was rendered under (kept in the thread's scratch).
#[derive(Default)]
pub(crate) struct ScopeCache {
    key: Option<ScopeKey>,
    /// `,"spans":[…],"span":{…}`, or empty outside spans.
    pub(crate) json: Vec<u8>,
}

impl ScopeCache {
    pub(crate) const fn new() -> Self {
        ScopeCache {
            key: None,
            json: Vec::new(),
        }
    }

    /// The cached JSON when it was rendered under `key`; otherwise `render` fills it anew.
    pub(crate) fn get_or_render(
        &mut self,
        key: Option<ScopeKey>,
        render: impl FnOnce(&mut Vec<u8>),
    ) -> &[u8] {
        if key.is_none() || self.key != key {
            self.json.clear();
            render(&mut self.json);
            self.key = key;
        }
        &self.json
    }

    /// Forgets the JSON (after a buffer was shrunk, or for an event with an explicit parent).
    pub(crate) fn clear(&mut self) {
        self.key = None;
        self.json.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_changes_with_moves_records_and_layers() {
        let (a, b) = (ScopeVersion::new(), ScopeVersion::new());
        let first = a.key();
        assert!(first.is_some());
        assert!(a.key() == first, "nothing happened: same key");
        assert!(b.key() != first, "another layer");
        stack_moved();
        let moved = a.key();
        assert!(moved != first, "an enter or exit");
        b.span_recorded();
        assert!(a.key() == moved, "another layer's record");
        a.span_recorded();
        assert!(a.key() != moved, "a record");
    }

    #[test]
    fn renders_only_when_the_key_changed() {
        let version = ScopeVersion::new();
        let mut cache = ScopeCache::new();
        let mut renders = 0;
        let mut get = |cache: &mut ScopeCache, key| {
            cache
                .get_or_render(key, |buf| {
                    renders += 1;
                    buf.extend_from_slice(b",\"spans\":[]");
                })
                .to_vec()
        };
        let key = version.key();
        assert_eq!(get(&mut cache, key), b",\"spans\":[]");
        assert_eq!(get(&mut cache, key), b",\"spans\":[]");
        stack_moved();
        get(&mut cache, version.key());
        get(&mut cache, None);
        get(&mut cache, None);
        assert_eq!(
            renders, 4,
            "first, after a move, and every time without a key"
        );
    }
}
