//! Owns the inbound hold: authenticated DATA packets (direct, or end to end inside a RELAY frame)
//! from an overlay peer whose inner source is outside its allowed prefixes wait here while the
//! control plane checks the source (`source_unknown`), up to RX_PENDING_PER_PEER for each of up
//! to RX_PENDING_PEERS peers, for PENDING_HOLD, in slots preallocated within PENDING_BYTES
//! (hold.rs). A set_peer of the peer decides them: now allowed -> written in order; the others
//! stay held (the update may be for another reason: an endpoint, a via) until a later set_peer
//! allows them or they expire (`source_not_allowed`, as are overflowing ones and those of a
//! removed peer). The rx loop owns it (no lock;
//! set_peer/remove_peer wake it). Must not allocate after construction, emit events (payload
//! does) or write to the device itself.

use std::ops::Range;
use std::sync::atomic::Ordering;
use std::time::Instant;

use ringvpn_core::ether::ETH_HEADER_LEN;
use ringvpn_core::ip;
use ringvpn_core::DropReason;

use crate::hold::{self, HoldQueue};
use crate::pending::PENDING_HOLD;
use crate::pipeline::RxAction;
use crate::shared::Shared;
use crate::tables::PeerEntry;

/// Packets held per peer (more are dropped `source_not_allowed`).
pub const RX_PENDING_PER_PEER: usize = hold::PER_KEY;
/// Peers with held packets (a packet from one more is dropped `source_not_allowed`).
pub const RX_PENDING_PEERS: usize = hold::KEYS;

/// The inbound hold, keyed by peer id. Each packet is tagged with the peer's `config_gen` under
/// which its source failed; it is decided once the peer's entry has another one (or is gone).
/// Slots keep ETH_HEADER_LEN bytes before the IP packet for the TAP header.
pub struct RxPending {
    q: HoldQueue<u32>,
}

impl RxPending {
    /// `max_ip_len`: the largest IP packet held (the device MTU).
    pub fn new(max_ip_len: usize) -> Self {
        RxPending {
            q: HoldQueue::new(ETH_HEADER_LEN, max_ip_len, 0),
        }
    }

    /// Packets held now.
    pub fn len(&self) -> usize {
        self.q.len()
    }

    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// When the oldest held packet expires.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.q.next_deadline()
    }

    /// Are packets from `peer` held that a set_peer has decided (its generation is now `gen`)?
    /// A new packet from that peer must then wait for `service`.
    pub fn decided(&self, peer: u32, gen: u64) -> bool {
        !self.q.is_empty()
            && self
                .q
                .position(peer)
                .and_then(|i| self.q.front(i))
                .is_some_and(|h| h.tag != gen)
    }

    /// Hold `packet` (an `RxAction::Hold`) from `peer`, failed under its generation `gen`, or
    /// count why it cannot be held.
    pub fn hold(&mut self, shared: &Shared, peer: u32, gen: u64, packet: &[u8], now: Instant) {
        let until = now + PENDING_HOLD;
        if let Err(r) = self
            .q
            .push(peer, packet, gen, until, DropReason::SourceNotAllowed)
        {
            shared.counters.drop(r);
            return;
        }
        shared
            .counters
            .rx_pending_held
            .fetch_add(1, Ordering::Relaxed);
        if let Some(p) = shared.tables.load().peers.get(&peer) {
            p.state.rx_pending_held.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Drop expired packets (`source_not_allowed`), then decide, oldest first, the packets of
    /// every peer that was set (or removed) since they were held: `write` gets each one whose
    /// source is allowed now (the frame the device takes: the IP packet, in TAP mode behind an
    /// Ethernet header); the others stay held under the peer's new generation (a removed peer's
    /// are dropped `source_not_allowed`).
    pub fn service(&mut self, shared: &Shared, now: Instant, mut write: impl FnMut(&[u8])) {
        self.q
            .expire(now, |_| shared.counters.drop(DropReason::SourceNotAllowed));
        if self.is_empty() {
            return;
        }
        let tables = shared.tables.load();
        let mut i = 0;
        while let Some(id) = self.q.key(i) {
            let peer = tables.peers.get(&id);
            let gen = peer.map(|p| p.config_gen);
            if self.q.front(i).is_some_and(|h| Some(h.tag) != gen) {
                self.q.retain_unless(i, |h, slot| {
                    let Some(p) = peer else {
                        shared.counters.drop(DropReason::SourceNotAllowed);
                        return true;
                    };
                    if h.tag == p.config_gen {
                        return false;
                    }
                    match release(shared, p, slot, h.len) {
                        Ok(r) => {
                            shared
                                .counters
                                .rx_pending_released
                                .fetch_add(1, Ordering::Relaxed);
                            p.state.rx_pending_released.fetch_add(1, Ordering::Relaxed);
                            write(&slot[r]);
                            true
                        }
                        Err(DropReason::SourceNotAllowed) => {
                            h.tag = p.config_gen;
                            false
                        }
                        Err(r) => {
                            shared.counters.drop(r);
                            true
                        }
                    }
                });
            }
            if !self.q.remove_if_empty(i) {
                i += 1;
            }
        }
    }
}

/// The device frame of a held packet from `peer` now that it is decided: the packet (at
/// ETH_HEADER_LEN in `slot`) if its source is allowed, counted as delivered data.
fn release(
    shared: &Shared,
    peer: &PeerEntry,
    slot: &mut [u8],
    len: usize,
) -> Result<Range<usize>, DropReason> {
    let packet = slot
        .get(ETH_HEADER_LEN..ETH_HEADER_LEN + len)
        .ok_or(DropReason::Oversize)?;
    let info = ip::parse(packet)?;
    if !peer.allows_source(info.src) {
        return Err(DropReason::SourceNotAllowed);
    }
    let st = &peer.state;
    st.rx_data_packets.fetch_add(1, Ordering::Relaxed);
    st.rx_data_bytes
        .fetch_add(info.total_len as u64, Ordering::Relaxed);
    match shared.deliver(slot, ETH_HEADER_LEN, &info) {
        RxAction::Write(r) => Ok(r),
        RxAction::Drop(r) => Err(r),
        _ => Err(DropReason::Oversize),
    }
}

#[cfg(test)]
#[path = "rx_pending_tests.rs"]
mod tests;
