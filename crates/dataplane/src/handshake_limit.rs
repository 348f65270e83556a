//! Owns the gates in front of the copy of a datagram towards TypeScript: a token bucket per source
//! IP address for every unauthenticated (handshake-class) datagram (WireGuard's ratelimiter.go: a
//! steady rate and a burst), and one per peer for authenticated CONTROL messages (a member that
//! floods must not grow the control plane's memory), each in a fixed-size set-associative table.
//! Must not allocate after construction or grow: when a set is full the entry refilled longest ago
//! is evicted (an attacker who cycles addresses only evicts other attackers' buckets or full ones).

use std::hash::Hash;
use std::net::IpAddr;

use crate::limiter::{Entry, SetTable};

/// Handshake-class datagrams (initiations, responses, cookie replies, probes) one source address
/// may send per second once its burst is spent. Generous next to WireGuard's 20: members behind
/// one carrier NAT share an address, and overlay probes ride this class too.
pub const DEFAULT_HANDSHAKE_RATE: u32 = 50;
/// Datagrams a quiet source may send at once.
pub const DEFAULT_HANDSHAKE_BURST: u32 = 100;
/// Source addresses remembered.
pub const HANDSHAKE_LIMIT_CAPACITY: usize = 4096;
/// CONTROL messages one peer may deliver per second once its burst is spent: twice the control
/// plane's own quota per link (ts/core/quota.ts), so that the quota stays the policy and this
/// only bounds what a flooding member costs before it.
pub const DEFAULT_CONTROL_RATE: u32 = 2000;
pub const DEFAULT_CONTROL_BURST: u32 = 8000;
/// Peers remembered by the CONTROL gate.
pub const CONTROL_LIMIT_CAPACITY: usize = 4096;

/// Tokens are kept in millitokens so that refill works at 1 ms resolution.
const MILLI: u64 = 1000;

#[derive(Clone, Copy)]
struct Bucket<K> {
    key: Option<K>,
    millitokens: u64,
    last_ms: u64,
}

/// A token bucket per key, bounded to `capacity` keys.
pub struct TokenBuckets<K> {
    table: SetTable<Bucket<K>>,
    rate: u64,
    burst: u64,
}

/// Per source address (handshake-class datagrams).
pub type HandshakeLimit = TokenBuckets<IpAddr>;
/// Per peer id (CONTROL messages).
pub type ControlLimit = TokenBuckets<u32>;

impl<K: Copy + Eq + Hash> TokenBuckets<K> {
    /// `capacity` is rounded up to a power of two of at least 4; `rate` per second, `burst` ≥ 1.
    pub fn new(capacity: usize, rate: u32, burst: u32) -> Self {
        TokenBuckets {
            table: SetTable::new(
                capacity,
                Bucket {
                    key: None,
                    millitokens: 0,
                    last_ms: 0,
                },
            ),
            rate: u64::from(rate),
            burst: u64::from(burst.max(1)),
        }
    }

    /// True if a datagram from `src` may pass at `now_ms` (and takes its token).
    pub fn allow(&mut self, src: K, now_ms: u64) -> bool {
        let (rate, full) = (self.rate, self.burst * MILLI);
        match self.table.lookup(
            &src,
            |b| b.key == Some(src),
            |b| (b.key.is_some(), b.last_ms),
        ) {
            Some(Entry::Found(b)) => {
                let elapsed = now_ms.saturating_sub(b.last_ms);
                b.millitokens = (b.millitokens + elapsed.saturating_mul(rate)).min(full);
                b.last_ms = now_ms;
                if b.millitokens < MILLI {
                    return false;
                }
                b.millitokens -= MILLI;
            }
            // A new source starts with a full burst, in an empty slot or the one idle longest.
            Some(Entry::Vacant(b)) => {
                *b = Bucket {
                    key: Some(src),
                    millitokens: full - MILLI,
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

    fn ip(i: u32) -> IpAddr {
        IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i))
    }

    #[test]
    fn burst_then_the_steady_rate() {
        let mut l = HandshakeLimit::new(64, 50, 10);
        let passed = (0..100).filter(|_| l.allow(ip(1), 1000)).count();
        assert_eq!(passed, 10, "a burst of 10 at once");
        // one second later: 50 more tokens, capped at the burst of 10
        let passed = (0..100).filter(|_| l.allow(ip(1), 2000)).count();
        assert_eq!(passed, 10);
        // 20 ms later: exactly one token (50/s)
        assert!(l.allow(ip(1), 2020));
        assert!(!l.allow(ip(1), 2020));
        // another source is not affected
        assert!(l.allow(ip(2), 2020));
    }

    #[test]
    fn a_flood_passes_at_the_rate_only() {
        let mut l = HandshakeLimit::new(64, 50, 100);
        let mut passed = 0;
        // 200,000 datagrams/s for 10 s from one address, 200 per ms
        for ms in 0..10_000u64 {
            for _ in 0..200 {
                passed += usize::from(l.allow(ip(7), 5000 + ms));
            }
        }
        assert!(
            (500..=600).contains(&passed),
            "{passed} passed: burst 100 + 50/s for 10 s"
        );
    }

    #[test]
    fn control_messages_per_peer() {
        let mut l = ControlLimit::new(
            CONTROL_LIMIT_CAPACITY,
            DEFAULT_CONTROL_RATE,
            DEFAULT_CONTROL_BURST,
        );
        // a member sending 11,000 CONTROL messages a second for 15 s (the flood test's rate)
        let mut passed = 0u64;
        for ms in 0..15_000u64 {
            for _ in 0..11 {
                passed += u64::from(l.allow(7, 1 + ms));
            }
        }
        let most = u64::from(DEFAULT_CONTROL_BURST) + 15 * u64::from(DEFAULT_CONTROL_RATE);
        assert!(
            passed <= most && passed >= most - 10,
            "{passed} passed of 165,000"
        );
        assert!(l.allow(8, 15_001), "another peer has its own bucket");
    }

    #[test]
    fn bounded_whatever_the_number_of_sources() {
        let mut l = HandshakeLimit::new(4096, 50, 100);
        let cap = l.capacity();
        for i in 0..1_000_000 {
            l.allow(ip(i), 1);
        }
        assert_eq!(l.capacity(), cap, "the table never grows");
        // a source seen once is remembered until its set fills up with others
        let mut l = HandshakeLimit::new(64, 50, 2);
        assert!(l.allow(ip(1), 1));
        assert!(l.allow(ip(1), 1));
        assert!(!l.allow(ip(1), 1));
    }
}
