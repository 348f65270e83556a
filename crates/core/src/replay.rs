//! Owns the anti-replay window for one receive session: 4096-bit bitmap ring as in RFC 6479 /
//! WireGuard. `check` before decrypting (cheap reject), `commit` only after the tag verifies.
//! Must not know about keys or frames, and never panics on any counter value.

use crate::limits::{REJECT_AFTER_MESSAGES, REPLAY_RING_BITS, REPLAY_WINDOW_SIZE};

const WORD_BITS: u64 = 64;
const WORDS: usize = (REPLAY_RING_BITS / WORD_BITS) as usize;
/// Total bits in the ring.
pub const BITS_TOTAL: u64 = REPLAY_RING_BITS;
/// Counters this far behind the newest one are still accepted (one word is kept as slack).
pub const WINDOW_SIZE: u64 = REPLAY_WINDOW_SIZE;
const _: () = assert!(WINDOW_SIZE == BITS_TOTAL - WORD_BITS && WORDS.is_power_of_two());

/// Replay window. `next` is one more than the highest committed counter (0 = none yet).
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    next: u64,
    bitmap: [u64; WORDS],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplayWindow {
    pub const fn new() -> Self {
        ReplayWindow {
            next: 0,
            bitmap: [0; WORDS],
        }
    }

    /// Would `counter` be accepted? Does not change state.
    pub fn check(&self, counter: u64) -> bool {
        if counter >= REJECT_AFTER_MESSAGES {
            return false;
        }
        let c = counter + 1; // shifted so that 0 means "nothing seen"
        if c + WINDOW_SIZE < self.next {
            return false; // too old
        }
        if c > self.next {
            return true; // newer than anything seen
        }
        let word = ((c / WORD_BITS) as usize) & (WORDS - 1);
        self.bitmap[word] & (1u64 << (c % WORD_BITS)) == 0
    }

    /// Record `counter` as received (after authentication). Returns false if it is a replay
    /// or out of the window (in which case the packet must be dropped).
    pub fn commit(&mut self, counter: u64) -> bool {
        if counter >= REJECT_AFTER_MESSAGES {
            return false;
        }
        let c = counter + 1;
        if c + WINDOW_SIZE < self.next {
            return false;
        }
        let index = c / WORD_BITS;
        if c > self.next {
            let current = self.next / WORD_BITS;
            let top = (index - current).min(WORDS as u64);
            for i in 1..=top {
                self.bitmap[((current + i) as usize) & (WORDS - 1)] = 0;
            }
            self.next = c;
        }
        let word = (index as usize) & (WORDS - 1);
        let bit = 1u64 << (c % WORD_BITS);
        let fresh = self.bitmap[word] & bit == 0;
        self.bitmap[word] |= bit;
        fresh
    }

    /// Highest committed counter, if any.
    pub fn highest(&self) -> Option<u64> {
        self.next.checked_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(w: &mut ReplayWindow, c: u64) -> bool {
        w.check(c) && w.commit(c)
    }

    #[test]
    fn in_order() {
        let mut w = ReplayWindow::new();
        for c in 0..10_000 {
            assert!(accept(&mut w, c), "{c}");
        }
        assert_eq!(w.highest(), Some(9_999));
    }

    #[test]
    fn counter_zero_once() {
        let mut w = ReplayWindow::new();
        assert!(w.check(0));
        assert!(w.commit(0));
        assert!(!w.check(0));
        assert!(!w.commit(0));
    }

    #[test]
    fn duplicates_rejected() {
        let mut w = ReplayWindow::new();
        for c in [5, 6, 7, 100] {
            assert!(accept(&mut w, c));
        }
        for c in [5, 6, 7, 100] {
            assert!(!w.check(c));
            assert!(!w.commit(c));
        }
        assert!(accept(&mut w, 4));
        assert!(accept(&mut w, 99));
    }

    #[test]
    fn reordered_within_window() {
        let mut w = ReplayWindow::new();
        assert!(accept(&mut w, 5000));
        // Everything within WINDOW_SIZE behind is accepted once, in any order.
        let lo = 5000 - WINDOW_SIZE;
        let order: Vec<u64> = (lo..5000)
            .rev()
            .step_by(3)
            .chain((lo..5000).step_by(7))
            .collect();
        let mut done = std::collections::HashSet::new();
        for &c in &order {
            assert_eq!(w.check(c), !done.contains(&c), "{c}");
            assert_eq!(w.commit(c), done.insert(c));
        }
        for &c in &order {
            assert!(!w.check(c));
        }
        assert!(!w.check(lo - 1));
    }

    #[test]
    fn too_old() {
        let mut w = ReplayWindow::new();
        assert!(accept(&mut w, 10_000));
        // Accepted: highest - WINDOW_SIZE ..= highest.
        let edge = 10_000 - WINDOW_SIZE - 1;
        assert!(!w.check(edge));
        assert!(!w.commit(edge));
        assert!(w.check(edge + 1));
        assert!(w.commit(edge + 1));
        assert!(!w.check(0));
    }

    #[test]
    fn huge_jumps_clear_the_ring() {
        let mut w = ReplayWindow::new();
        for c in 0..BITS_TOTAL {
            assert!(accept(&mut w, c));
        }
        assert!(accept(&mut w, 1 << 40));
        // The old bits must not alias into the new window.
        for back in 1..WINDOW_SIZE {
            assert!(w.check((1 << 40) - back), "{back}");
        }
        assert!(accept(&mut w, (1 << 40) + BITS_TOTAL * 3 + 17));
        assert!(accept(&mut w, (1 << 40) + BITS_TOTAL * 3 + 16));
        assert!(!w.check(1 << 40));
    }

    #[test]
    fn max_counters() {
        let mut w = ReplayWindow::new();
        assert!(!w.check(u64::MAX));
        assert!(!w.commit(u64::MAX));
        assert!(!w.check(REJECT_AFTER_MESSAGES));
        let last = REJECT_AFTER_MESSAGES - 1;
        assert!(accept(&mut w, last));
        assert!(!accept(&mut w, last));
        assert!(accept(&mut w, last - 1));
        assert!(!w.check(0));
    }

    #[test]
    fn check_matches_commit_randomised() {
        // Deterministic LCG: reorder within a sliding range, compare against a set model.
        let mut w = ReplayWindow::new();
        let mut seen = std::collections::HashSet::new();
        let mut x: u64 = 0x9e3779b97f4a7c15;
        let mut base = 0u64;
        for _ in 0..50_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let c = base + (x >> 33) % 3000;
            base += (x >> 60) % 3;
            let expect = !seen.contains(&c) && c + 1 + WINDOW_SIZE >= w.next;
            assert_eq!(w.check(c), expect, "counter {c}");
            if w.commit(c) {
                seen.insert(c);
            }
        }
    }
}
