//! Owns a fixed-size per-key rate limiter for events the hot path raises on behalf of many keys
//! (route misses per destination, unknown inner sources per node id). Must not allocate after
//! construction or grow: when a set is full the entry used longest ago is evicted.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};

/// Entries per hash set (a 4-way set-associative table).
const WAYS: usize = 4;

#[derive(Clone, Copy)]
struct Slot<K> {
    key: Option<K>,
    last_ms: u64,
}

/// Allows one event per key per `interval_ms`, remembering at most `capacity` keys.
pub struct RateLimiter<K> {
    slots: Box<[Slot<K>]>,
    set_mask: usize,
    interval_ms: u64,
    hasher: RandomState,
}

impl<K: Copy + Eq + Hash> RateLimiter<K> {
    /// `capacity` is rounded up to a power of two of at least `WAYS`.
    pub fn new(capacity: usize, interval_ms: u64) -> Self {
        let sets = capacity.div_ceil(WAYS).max(1).next_power_of_two();
        RateLimiter {
            slots: vec![
                Slot {
                    key: None,
                    last_ms: 0
                };
                sets * WAYS
            ]
            .into_boxed_slice(),
            set_mask: sets - 1,
            interval_ms,
            hasher: RandomState::new(),
        }
    }

    /// True if an event for `key` may be raised at `now_ms` (and records it).
    pub fn allow(&mut self, key: &K, now_ms: u64) -> bool {
        let set = (self.hasher.hash_one(key) as usize) & self.set_mask;
        let Some(ways) = self.slots.get_mut(set * WAYS..set * WAYS + WAYS) else {
            return false;
        };
        if let Some(s) = ways.iter_mut().find(|s| s.key.as_ref() == Some(key)) {
            if now_ms.saturating_sub(s.last_ms) < self.interval_ms {
                return false;
            }
            s.last_ms = now_ms;
            return true;
        }
        // Empty slots first, then the one used longest ago.
        if let Some(victim) = ways.iter_mut().min_by_key(|s| (s.key.is_some(), s.last_ms)) {
            *victim = Slot {
                key: Some(*key),
                last_ms: now_ms,
            };
        }
        true
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
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
