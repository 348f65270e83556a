//! Owns a fixed-size per-key rate limiter for events the hot path raises on behalf of many keys
//! (route misses per destination, unknown inner sources per node id). Must not allocate after
//! construction or grow: when a set is full the entry used longest ago is evicted.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};

/// Entries per hash set (a 4-way set-associative table).
pub(crate) const WAYS: usize = 4;

/// A fixed-size 4-way set-associative table of slots: a key hashes to one set of `WAYS` slots,
/// and the caller picks the slot (its own, an empty one, or one to evict). Shared by the limiters
/// here and the per-source token buckets (handshake_limit.rs).
pub(crate) struct SetTable<S> {
    slots: Box<[S]>,
    set_mask: usize,
    hasher: RandomState,
}

impl<S: Copy> SetTable<S> {
    /// `capacity` is rounded up to a power of two of at least `WAYS`; every slot starts as `empty`.
    pub(crate) fn new(capacity: usize, empty: S) -> Self {
        let sets = capacity.div_ceil(WAYS).max(1).next_power_of_two();
        SetTable {
            slots: vec![empty; sets * WAYS].into_boxed_slice(),
            set_mask: sets - 1,
            hasher: RandomState::new(),
        }
    }

    /// The `WAYS` slots `key` may live in.
    fn set_of<K: Hash>(&mut self, key: &K) -> &mut [S] {
        let set = (self.hasher.hash_one(key) as usize) & self.set_mask;
        let start = set * WAYS;
        self.slots.get_mut(start..start + WAYS).unwrap_or(&mut [])
    }

    /// The slot of the key `is_key` recognises in its set, or, when it has none, the slot to
    /// reuse for it: an empty one first, else the one `age` says was used longest ago.
    pub(crate) fn lookup<K: Hash>(
        &mut self,
        key: &K,
        is_key: impl Fn(&S) -> bool,
        age: impl Fn(&S) -> (bool, u64),
    ) -> Option<Entry<'_, S>> {
        let ways = self.set_of(key);
        if let Some(i) = ways.iter().position(&is_key) {
            return ways.get_mut(i).map(Entry::Found);
        }
        ways.iter_mut().min_by_key(|s| age(s)).map(Entry::Vacant)
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }
}

/// A key's slot in a `SetTable`: its own, or one to overwrite for it.
pub(crate) enum Entry<'a, S> {
    Found(&'a mut S),
    Vacant(&'a mut S),
}

#[derive(Clone, Copy)]
struct Slot<K> {
    key: Option<K>,
    last_ms: u64,
}

/// Allows one event per key per `interval_ms`, remembering at most `capacity` keys.
pub struct RateLimiter<K> {
    table: SetTable<Slot<K>>,
    interval_ms: u64,
}

impl<K: Copy + Eq + Hash> RateLimiter<K> {
    /// `capacity` is rounded up to a power of two of at least `WAYS`.
    pub fn new(capacity: usize, interval_ms: u64) -> Self {
        RateLimiter {
            table: SetTable::new(
                capacity,
                Slot {
                    key: None,
                    last_ms: 0,
                },
            ),
            interval_ms,
        }
    }

    /// True if an event for `key` may be raised at `now_ms` (and records it).
    pub fn allow(&mut self, key: &K, now_ms: u64) -> bool {
        let interval = self.interval_ms;
        match self.table.lookup(
            key,
            |s| s.key.as_ref() == Some(key),
            |s| (s.key.is_some(), s.last_ms),
        ) {
            Some(Entry::Found(s)) => {
                if now_ms.saturating_sub(s.last_ms) < interval {
                    return false;
                }
                s.last_ms = now_ms;
            }
            Some(Entry::Vacant(s)) => {
                *s = Slot {
                    key: Some(*key),
                    last_ms: now_ms,
                }
            }
            None => {}
        }
        true
    }

    pub fn capacity(&self) -> usize {
        self.table.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_per_interval_per_key_and_bounded() {
        let mut l = RateLimiter::<u32>::new(4096, 1000);
        assert_eq!(l.capacity(), 4096);
        assert!(l.allow(&1, 10));
        assert!(!l.allow(&1, 500));
        assert!(l.allow(&2, 500));
        assert!(!l.allow(&1, 1009));
        assert!(l.allow(&1, 1010));
        // Far more keys than slots: never panics, memory stays fixed, recent keys still limited.
        for k in 0..100_000u32 {
            l.allow(&k, 2000);
        }
        assert_eq!(l.capacity(), 4096);
        assert!(!l.allow(&99_999, 2001));
        let mut tiny = RateLimiter::<u32>::new(1, 1000);
        assert_eq!(tiny.capacity(), WAYS);
        for k in 0..10 {
            assert!(tiny.allow(&k, 1), "new keys always pass");
        }
    }
}
