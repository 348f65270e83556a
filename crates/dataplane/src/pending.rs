//! Owns the hold queue for the first device packets to a destination without a route, a usable
//! session or a path (WireGuard stages packets until its handshake completes): up to
//! PENDING_PER_DESTINATION packets for each of up to PENDING_DESTINATIONS destinations, each for
//! at most PENDING_HOLD, in slots preallocated within PENDING_BYTES (hold.rs stores them). The io
//! loop's device side owns it (no lock); commands only wake that loop (`Shared::pending_wake`).
//! Must not allocate after construction, decide routes, or send by itself: released packets
//! take `route_out`.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ringvpn_core::ip;
use ringvpn_core::DropReason;

use crate::hold::{self, HoldQueue};
use crate::pipeline::{TxAction, Wait, HEADROOM, TAILROOM};
use crate::shared::Shared;

/// Packets held per destination (more are dropped `pending_overflow`).
pub const PENDING_PER_DESTINATION: usize = hold::PER_KEY;
/// Destinations with held packets (a packet for one more is dropped `pending_overflow`).
pub const PENDING_DESTINATIONS: usize = hold::KEYS;
/// How long a packet is held before it is dropped (`pending_expired` here; inbound,
/// rx_pending.rs, `source_not_allowed`): a first packet over a WAN waits for a DHT lookup and a
/// handshake through the overlay (about 1-2.5 s measured in the simulator).
pub const PENDING_HOLD: Duration = Duration::from_secs(5);
/// Buffer budget: fewer slots than 64 x 4 when the device MTU is large (at least one).
pub const PENDING_BYTES: usize = hold::BYTES;

/// The hold queue. Slots are device-slot shaped (HEADROOM, packet, TAILROOM) so a released
/// packet is sealed in place, direct or wrapped for a relay hop.
pub struct Pending {
    q: HoldQueue<IpAddr>,
}

impl Pending {
    /// `max_ip_len`: the largest IP packet the device hands over (its MTU).
    pub fn new(max_ip_len: usize) -> Self {
        Pending {
            q: HoldQueue::new(HEADROOM, max_ip_len, TAILROOM),
        }
    }

    /// Packets held now.
    pub fn len(&self) -> usize {
        self.q.len()
    }

    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// Are packets for `dst` held (a new one must wait behind them)?
    pub fn holds(&self, dst: IpAddr) -> bool {
        self.q.position(dst).is_some()
    }

    /// When the oldest held packet expires.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.q.next_deadline()
    }

    /// Hold the IP packet `buf[HEADROOM..][..len]` for `dst` (a `TxAction::Hold` of a device
    /// slot), or count why it cannot be held.
    pub fn hold(
        &mut self,
        shared: &Shared,
        dst: IpAddr,
        why: Wait,
        buf: &[u8],
        len: usize,
        now: Instant,
    ) {
        let held = match buf.get(HEADROOM..HEADROOM.saturating_add(len)) {
            Some(packet) => self.q.push(
                dst,
                packet,
                0,
                now + PENDING_HOLD,
                DropReason::PendingOverflow,
            ),
            None => Err(DropReason::Oversize),
        };
        if let Err(r) = held {
            shared.counters.drop(r);
            return;
        }
        shared.counters.pending_held.fetch_add(1, Ordering::Relaxed);
        if let Wait::Session(peer) | Wait::Path(peer) = why {
            if let Some(p) = shared.tables.load().peers.get(&peer) {
                p.state.pending_held.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Drop expired packets (`pending_expired`), then send, oldest first, the packets whose
    /// destination now has a route, a usable session and a path, through `Shared::route_out` (a packet
    /// that still cannot go is dropped with its reason). At most `room` frames are passed to
    /// `send`; returns true when more are ready (flush, then call again). The frames point into
    /// this queue's slots: the caller sends them before it holds anything new.
    pub fn service(
        &mut self,
        shared: &Shared,
        now: Instant,
        mut room: usize,
        mut send: impl FnMut(&[u8], SocketAddr),
    ) -> bool {
        self.q
            .expire(now, |_| shared.counters.drop(DropReason::PendingExpired));
        if self.is_empty() {
            return false;
        }
        let tables = shared.tables.load();
        let mut i = 0;
        while let Some(dst) = self.q.key(i) {
            let Some(peer) = tables.route(dst) else {
                i += 1;
                continue;
            };
            if peer.send_session(now).is_none() {
                if !peer.awaiting_confirmation(now) {
                    shared.need_session(&peer.state, shared.now_ms(now));
                }
                i += 1;
                continue;
            }
            // a session but no path (its via hop died): held until a new hop comes or they expire
            if !shared.has_path(&tables, peer, now) {
                shared.need_session(&peer.state, shared.now_ms(now));
                i += 1;
                continue;
            }
            while room > 0 {
                let Some((h, slot)) = self.q.pop(i) else {
                    break;
                };
                let info = match ip::parse(&slot[HEADROOM..HEADROOM + h.len]) {
                    Ok(info) => info,
                    Err(r) => {
                        shared.counters.drop(r);
                        continue;
                    }
                };
                match shared.route_out(slot, &info, now, None) {
                    TxAction::Send { to, start, len } => {
                        send(&slot[start..start + len], to);
                        room -= 1;
                        shared
                            .counters
                            .pending_released
                            .fetch_add(1, Ordering::Relaxed);
                        peer.state.pending_released.fetch_add(1, Ordering::Relaxed);
                    }
                    TxAction::Drop(r) => shared.counters.drop(r),
                    _ => shared.counters.drop(DropReason::NoSession),
                }
            }
            if !self.q.remove_if_empty(i) {
                return true; // out of room
            }
        }
        false
    }
}

#[cfg(test)]
#[path = "pending_tests.rs"]
mod tests;
