//! Owns this node's limits as a relay for others' relay links: at most `max_sessions` node-id
//! pairs at once (a pair silent for RELAY_IDLE_MS no longer counts) and, when set, a byte rate per
//! pair (a token bucket with one second of burst). Must not parse frames, choose relays or
//! allocate after construction (the table is sized once).

use std::collections::HashMap;

use ringvpn_core::relay_frame::NodeId;

/// A relayed pair silent this long gives its place to a new one.
pub const RELAY_IDLE_MS: u64 = 60_000;
/// Default number of relay-link pairs carried at once.
pub const DEFAULT_RELAY_MAX_SESSIONS: u32 = 512;
/// Upper bound of the configurable number (the table is allocated at this size at most).
pub const RELAY_MAX_SESSIONS_LIMIT: u32 = 65_536;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// A new pair while `max_sessions` pairs are live (`relay_full`).
    Full,
    /// The pair is over its byte rate (`relay_rate`).
    Rate,
}

#[derive(Debug, Clone, Copy)]
struct Pair {
    last_ms: u64,
    tokens: u64,
    refill_ms: u64,
}

pub struct RelayLimit {
    pairs: HashMap<(NodeId, NodeId), Pair>,
    max: usize,
    /// bytes per second per pair; 0: no rate limit
    rate: u64,
}

impl RelayLimit {
    pub fn new(max_sessions: u32, rate_bytes_per_s: u64) -> Self {
        let max = max_sessions.min(RELAY_MAX_SESSIONS_LIMIT) as usize;
        RelayLimit {
            pairs: HashMap::with_capacity(max),
            max,
            rate: rate_bytes_per_s,
        }
    }

    /// May a relay-link frame of `len` bytes between `a` and `b` pass at `now_ms`?
    pub fn admit(&mut self, a: &NodeId, b: &NodeId, len: usize, now_ms: u64) -> Verdict {
        let key = if a <= b { (*a, *b) } else { (*b, *a) };
        let rate = self.rate;
        if !self.pairs.contains_key(&key) {
            if self.pairs.len() >= self.max && !self.evict_idle(now_ms) {
                return Verdict::Full;
            }
            self.pairs.insert(
                key,
                Pair {
                    last_ms: now_ms,
                    tokens: rate,
                    refill_ms: now_ms,
                },
            );
        }
        let Some(p) = self.pairs.get_mut(&key) else {
            return Verdict::Full;
        };
        p.last_ms = now_ms;
        if rate == 0 {
            return Verdict::Pass;
        }
        let add = now_ms.saturating_sub(p.refill_ms).saturating_mul(rate) / 1000;
        if add > 0 {
            p.tokens = p.tokens.saturating_add(add).min(rate);
            p.refill_ms = now_ms;
        }
        let len = len as u64;
        if p.tokens < len {
            return Verdict::Rate;
        }
        p.tokens -= len;
        Verdict::Pass
    }

    /// The configured number of pairs.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Pairs that passed within RELAY_IDLE_MS of `now_ms`.
    pub fn live(&self, now_ms: u64) -> usize {
        self.pairs
            .values()
            .filter(|p| now_ms.saturating_sub(p.last_ms) < RELAY_IDLE_MS)
            .count()
    }

    /// Drop every idle pair; true if one was dropped (the table is full only on new pairs).
    fn evict_idle(&mut self, now_ms: u64) -> bool {
        let before = self.pairs.len();
        self.pairs
            .retain(|_, p| now_ms.saturating_sub(p.last_ms) < RELAY_IDLE_MS);
        self.pairs.len() < before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> NodeId {
        [n; 20]
    }

    #[test]
    fn sessions_are_pairs_in_either_direction_and_idle_ones_make_room() {
        let mut l = RelayLimit::new(2, 0);
        assert_eq!(l.admit(&id(1), &id(2), 100, 0), Verdict::Pass);
        assert_eq!(l.admit(&id(2), &id(1), 100, 1), Verdict::Pass, "same pair");
        assert_eq!(l.admit(&id(3), &id(4), 100, 2), Verdict::Pass);
        assert_eq!(l.admit(&id(5), &id(6), 100, 3), Verdict::Full);
        assert_eq!(l.live(3), 2);
        // the first pair keeps talking, the second goes quiet: after RELAY_IDLE_MS a new one fits
        assert_eq!(l.admit(&id(1), &id(2), 100, RELAY_IDLE_MS), Verdict::Pass);
        assert_eq!(
            l.admit(&id(5), &id(6), 100, RELAY_IDLE_MS + 2),
            Verdict::Pass
        );
        assert_eq!(
            l.admit(&id(3), &id(4), 100, RELAY_IDLE_MS + 3),
            Verdict::Full,
            "it lost its place"
        );
        assert_eq!(
            RelayLimit::new(0, 0).admit(&id(1), &id(2), 1, 0),
            Verdict::Full,
            "0: relays nothing"
        );
    }

    #[test]
    fn a_rate_per_pair_with_one_second_of_burst() {
        let mut l = RelayLimit::new(8, 10_000);
        assert_eq!(l.admit(&id(1), &id(2), 6_000, 0), Verdict::Pass);
        assert_eq!(
            l.admit(&id(2), &id(1), 6_000, 0),
            Verdict::Rate,
            "both directions share the pair's rate"
        );
        assert_eq!(
            l.admit(&id(3), &id(4), 6_000, 0),
            Verdict::Pass,
            "another pair has its own"
        );
        assert_eq!(
            l.admit(&id(1), &id(2), 6_000, 200),
            Verdict::Pass,
            "200 ms refill 2,000 bytes"
        );
        assert_eq!(l.admit(&id(1), &id(2), 1, 200), Verdict::Rate);
        // the burst is capped at one second
        assert_eq!(l.admit(&id(1), &id(2), 10_000, 60_000), Verdict::Pass);
        assert_eq!(l.admit(&id(1), &id(2), 1, 60_000), Verdict::Rate);
    }
}
