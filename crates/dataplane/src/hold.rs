//! Owns the storage behind both hold queues (pending.rs: device packets by destination,
//! rx_pending.rs: received packets by peer): per key a FIFO of up to PER_KEY packets, at most
//! KEYS keys, slots preallocated within BYTES, a deadline and a tag per packet. Must not
//! allocate after construction, parse or count packets, or decide what is released.

use std::time::Instant;

use ringvpn_core::DropReason;

/// Packets held per key.
pub const PER_KEY: usize = 4;
/// Keys with held packets.
pub const KEYS: usize = 64;
/// Buffer budget of one queue: fewer slots than KEYS x PER_KEY when they are large (at least one).
pub const BYTES: usize = 1 << 20;

/// One held packet: `len` bytes at the queue's offset in slot `slot`.
#[derive(Debug, Clone, Copy)]
pub struct Held {
    pub slot: usize,
    pub len: usize,
    pub until: Instant,
    /// The owner's mark (rx_pending.rs: the peer's config generation when it was held).
    pub tag: u64,
}

/// The held packets of one key, oldest first (`held[..n]`).
#[derive(Debug)]
struct Entry<K> {
    key: K,
    held: [Option<Held>; PER_KEY],
    n: usize,
}

impl<K> Entry<K> {
    fn front(&self) -> Option<Held> {
        self.held[..self.n].first().copied().flatten()
    }

    fn pop_front(&mut self) -> Option<Held> {
        let h = self.front()?;
        self.held.copy_within(1..self.n, 0);
        self.n -= 1;
        self.held[self.n] = None;
        Some(h)
    }
}

/// Keys in the order their first packet was held; slots of `at + max_len + tail` bytes.
pub struct HoldQueue<K> {
    arena: Box<[u8]>,
    slot_len: usize,
    /// Where a packet starts in its slot (room before it for headers written in place).
    at: usize,
    /// Largest packet a slot takes.
    max_len: usize,
    free: Vec<usize>,
    entries: Vec<Entry<K>>,
    held: usize,
}

impl<K: Copy + PartialEq> HoldQueue<K> {
    pub fn new(at: usize, max_len: usize, tail: usize) -> Self {
        let slot_len = at + max_len + tail;
        let slots = (BYTES / slot_len.max(1)).clamp(1, KEYS * PER_KEY);
        HoldQueue {
            arena: vec![0u8; slots * slot_len].into_boxed_slice(),
            slot_len,
            at,
            max_len,
            free: (0..slots).rev().collect(),
            entries: Vec::with_capacity(KEYS),
            held: 0,
        }
    }

    /// Packets held now.
    pub fn len(&self) -> usize {
        self.held
    }

    pub fn is_empty(&self) -> bool {
        self.held == 0
    }

    /// Keys with held packets (indices `0..keys()`).
    pub fn keys(&self) -> usize {
        self.entries.len()
    }

    pub fn key(&self, i: usize) -> Option<K> {
        self.entries.get(i).map(|e| e.key)
    }

    pub fn position(&self, key: K) -> Option<usize> {
        self.entries.iter().position(|e| e.key == key)
    }

    /// The oldest packet of key `i`.
    pub fn front(&self, i: usize) -> Option<Held> {
        self.entries.get(i).and_then(Entry::front)
    }

    /// When the oldest held packet expires.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.entries
            .iter()
            .filter_map(Entry::front)
            .map(|h| h.until)
            .min()
    }

    /// Copy `packet` in behind the packets of `key`. A packet larger than a slot is `oversize`;
    /// a full key, a 65th key or no free slot is `overflow`.
    pub fn push(
        &mut self,
        key: K,
        packet: &[u8],
        tag: u64,
        until: Instant,
        overflow: DropReason,
    ) -> Result<(), DropReason> {
        if packet.len() > self.max_len {
            return Err(DropReason::Oversize);
        }
        let i = match self.position(key) {
            Some(i) if self.entries[i].n >= PER_KEY => return Err(overflow),
            Some(i) => i,
            None if self.entries.len() >= KEYS => return Err(overflow),
            None => self.entries.len(),
        };
        let slot = self.free.pop().ok_or(overflow)?;
        if i == self.entries.len() {
            self.entries.push(Entry {
                key,
                held: [None; PER_KEY],
                n: 0,
            });
        }
        let start = slot * self.slot_len + self.at;
        self.arena[start..start + packet.len()].copy_from_slice(packet);
        let e = &mut self.entries[i];
        e.held[e.n] = Some(Held {
            slot,
            len: packet.len(),
            until,
            tag,
        });
        e.n += 1;
        self.held += 1;
        Ok(())
    }

    /// Take the oldest packet of key `i` and its whole slot (the packet at the queue's `at`).
    /// The slot is free again: use it before anything new is pushed.
    pub fn pop(&mut self, i: usize) -> Option<(Held, &mut [u8])> {
        let h = self.entries.get_mut(i)?.pop_front()?;
        self.held -= 1;
        self.free.push(h.slot);
        let slot = self.arena.get_mut(h.slot * self.slot_len..)?;
        Some((h, &mut slot[..self.slot_len]))
    }

    /// Visit the packets of key `i`, oldest first: `f` gets each one (it may change its tag) and
    /// its whole slot; a packet for which it returns true leaves the queue and its slot is freed,
    /// the others stay in order.
    pub fn retain_unless(&mut self, i: usize, mut f: impl FnMut(&mut Held, &mut [u8]) -> bool) {
        let Some(e) = self.entries.get_mut(i) else {
            return;
        };
        let mut kept = 0;
        for k in 0..e.n {
            let Some(mut h) = e.held[k] else {
                continue;
            };
            let start = h.slot * self.slot_len;
            let taken = match self.arena.get_mut(start..start + self.slot_len) {
                Some(slot) => f(&mut h, slot),
                None => true,
            };
            if taken {
                self.free.push(h.slot);
                self.held -= 1;
            } else {
                e.held[kept] = Some(h);
                kept += 1;
            }
        }
        for k in kept..e.n {
            e.held[k] = None;
        }
        e.n = kept;
    }

    /// Forget key `i` if it holds nothing (later keys move down one); true if removed.
    pub fn remove_if_empty(&mut self, i: usize) -> bool {
        if self.entries.get(i).is_some_and(|e| e.n == 0) {
            self.entries.remove(i);
            return true;
        }
        false
    }

    /// Drop every packet held past its deadline, calling `dropped` with its key.
    pub fn expire(&mut self, now: Instant, mut dropped: impl FnMut(K)) {
        let mut i = 0;
        while i < self.entries.len() {
            while self.front(i).is_some_and(|h| h.until <= now) {
                if self.pop(i).is_some() {
                    dropped(self.entries[i].key);
                }
            }
            if !self.remove_if_empty(i) {
                i += 1;
            }
        }
    }
}
