//! Owns the data plane's relay paths: sending a packet for a peer without a usable session as a
//! RELAY frame through its `via` hop, and handling authenticated inbound RELAY frames (deliver
//! after the source check, or forward in place to the exact / greedily closer next hop).
//! Must not own the header format (ringvpn_core::relay does), allocate per packet, or choose
//! relays: `via` and node ids come from the control plane.

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use ringvpn_core::frame::{HEADER_LEN, TAG_LEN, TYPE_RELAY};
use ringvpn_core::ip;
use ringvpn_core::relay::{
    ring_distance, NodeId, RelayHeader, DEFAULT_TTL, RELAY_HEADER_LEN, TTL_OFFSET,
};
use ringvpn_core::DropReason;

use crate::events::Event;
use crate::pipeline::{RxAction, TxAction, HEADROOM};
use crate::shared::Shared;
use crate::tables::{PeerEntry, SessionState, Tables};

/// Offset of a RELAY frame in a device slot (the IP packet sits at HEADROOM).
const RELAY_FRAME_START: usize = HEADROOM - HEADER_LEN - RELAY_HEADER_LEN;

type Hop<'t> = (&'t Arc<PeerEntry>, &'t Arc<SessionState>, SocketAddr);

/// A peer's current, unexpired session and its endpoint: what sending to it needs.
fn usable(p: &Arc<PeerEntry>, now: Instant) -> Option<Hop<'_>> {
    let s = p.current.as_ref().filter(|s| !s.session.is_expired(now))?;
    Some((p, s, p.state.endpoint()?))
}

impl Shared {
    /// Outbound for `peer`, which has no usable session: if its `via` hop has a session and an
    /// endpoint and both node ids are known, seal the IP packet at `buf[HEADROOM..][..ip_len]`
    /// as a RELAY frame for the hop. `None`: no relay possible (the caller drops `no_session`).
    pub(crate) fn send_via(
        &self,
        tables: &Tables,
        peer: &PeerEntry,
        buf: &mut [u8],
        ip_len: usize,
        now: Instant,
    ) -> Option<TxAction> {
        let src = self.node_id?;
        let dst = peer.node_id?;
        let (hop, s, to) = usable(tables.peers.get(&peer.via?)?, now)?;
        let Some(out) = buf.get_mut(RELAY_FRAME_START..HEADROOM + ip_len + TAG_LEN) else {
            return Some(TxAction::Drop(DropReason::Oversize));
        };
        let Some(h) = out
            .get_mut(HEADER_LEN..HEADER_LEN + RELAY_HEADER_LEN)
            .and_then(|h| <&mut [u8; RELAY_HEADER_LEN]>::try_from(h).ok())
        else {
            return Some(TxAction::Drop(DropReason::Oversize));
        };
        RelayHeader {
            dst,
            src,
            ttl: DEFAULT_TTL,
        }
        .write(h);
        Some(
            match s
                .session
                .seal(TYPE_RELAY, out, RELAY_HEADER_LEN + ip_len, now)
            {
                Ok(len) => {
                    self.check_rekey(s, now);
                    hop.state.tx_packets.fetch_add(1, Ordering::Relaxed);
                    hop.state.tx_bytes.fetch_add(len as u64, Ordering::Relaxed);
                    peer.state
                        .tx_relayed_packets
                        .fetch_add(1, Ordering::Relaxed);
                    peer.state
                        .tx_relayed_bytes
                        .fetch_add(len as u64, Ordering::Relaxed);
                    TxAction::Send {
                        to,
                        start: RELAY_FRAME_START,
                        len,
                    }
                }
                Err(r) => TxAction::Drop(r),
            },
        )
    }

    /// An authenticated RELAY frame from `hop`; its plaintext is `dgram[range]`.
    pub(crate) fn inbound_relay(
        &self,
        tables: &Tables,
        hop: &PeerEntry,
        dgram: &mut [u8],
        range: Range<usize>,
        now: Instant,
    ) -> RxAction {
        let Some(own) = self.node_id else {
            return RxAction::Drop(DropReason::RelayNoRoute);
        };
        let h = match dgram.get(range.clone()).map(RelayHeader::parse) {
            Some(Ok(h)) => h,
            Some(Err(r)) => return RxAction::Drop(r),
            None => return RxAction::Drop(DropReason::RelayMalformed),
        };
        if h.dst == own {
            return self.relay_deliver(tables, dgram, range, &h, now);
        }
        if h.ttl == 0 {
            return RxAction::Drop(DropReason::RelayTtl);
        }
        // Re-sealing in place needs the plaintext right after the header (as `open` leaves it).
        if range.start != HEADER_LEN {
            return RxAction::Drop(DropReason::RelayMalformed);
        }
        let Some((next, s, to)) = next_hop(tables, &own, &h.dst, hop.state.id, now) else {
            return RxAction::Drop(DropReason::RelayNoRoute);
        };
        if let Some(ttl) = dgram.get_mut(range.start + TTL_OFFSET) {
            *ttl = h.ttl - 1;
        }
        match s.session.seal(TYPE_RELAY, dgram, range.len(), now) {
            Ok(len) => {
                self.check_rekey(s, now);
                next.state.tx_packets.fetch_add(1, Ordering::Relaxed);
                next.state.tx_bytes.fetch_add(len as u64, Ordering::Relaxed);
                self.counters
                    .relay_forwarded
                    .fetch_add(1, Ordering::Relaxed);
                RxAction::Forward { to, len }
            }
            Err(r) => RxAction::Drop(r),
        }
    }

    /// A relayed packet for us: the inner source must route to the peer owning `h.src`.
    fn relay_deliver(
        &self,
        tables: &Tables,
        dgram: &mut [u8],
        range: Range<usize>,
        h: &RelayHeader,
        now: Instant,
    ) -> RxAction {
        let inner = range.start + RELAY_HEADER_LEN;
        let info = match dgram.get(inner..range.end).map(ip::parse) {
            Some(Ok(i)) => i,
            Some(Err(r)) => return RxAction::Drop(r),
            None => return RxAction::Drop(DropReason::RelayMalformed),
        };
        let owner = tables
            .route(info.src)
            .and_then(|q| q.node_id.map(|n| (q, n)));
        let Some((q, node)) = owner else {
            self.unknown_source(&h.src, info.src, now);
            return RxAction::Drop(DropReason::RelayUnknownSource);
        };
        if node != h.src {
            return RxAction::Drop(DropReason::SourceNotAllowed);
        }
        q.state.rx_relayed_packets.fetch_add(1, Ordering::Relaxed);
        q.state
            .rx_relayed_bytes
            .fetch_add(dgram.len() as u64, Ordering::Relaxed);
        self.deliver(dgram, inner, &info)
    }

    /// Tell the control plane about a relay source it has no route for (1/s per source id).
    pub(crate) fn unknown_source(&self, node: &NodeId, addr: IpAddr, now: Instant) {
        let allowed = self
            .relay_sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .allow(node, self.now_ms(now));
        if allowed {
            self.emit(Event::RelaySource { node: *node, addr });
        }
    }
}

/// The next hop toward `dst`: the peer with that node id if it is usable, else (greedy) the
/// usable peer other than `from` closest to `dst` on the ring, if strictly closer than us.
fn next_hop<'t>(
    tables: &'t Tables,
    own: &NodeId,
    dst: &NodeId,
    from: u32,
    now: Instant,
) -> Option<Hop<'t>> {
    if let Some(hit) = tables.by_node.get(dst).and_then(|p| usable(p, now)) {
        return Some(hit);
    }
    let mut best = None;
    let mut best_d = ring_distance(own, dst);
    for p in &tables.relay_peers {
        let Some(n) = p.node_id.as_ref() else {
            continue;
        };
        if p.state.id == from {
            continue;
        }
        let d = ring_distance(n, dst);
        if d < best_d {
            if let Some(hop) = usable(p, now) {
                best = Some(hop);
                best_d = d;
            }
        }
    }
    best
}

#[cfg(test)]
#[path = "relay_tests.rs"]
mod tests;
