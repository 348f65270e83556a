//! Owns the data plane's relay paths: wrapping an end-to-end DATA frame for a peer without a
//! direct path in a RELAY frame for its `via` hop, forwarding RELAY frames in place (exact /
//! greedily closer next hop, inner frame untouched), and opening the end-to-end frame of a
//! RELAY frame for us. Must not own the header format (ringvpn_core::relay_frame does), allocate per
//! packet, open inner frames it only forwards, or choose relays: `via` and ids come from TS.

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use ringvpn_core::frame::{self, Frame, HEADER_LEN, TAG_LEN, TYPE_CONTROL, TYPE_DATA, TYPE_RELAY};
use ringvpn_core::relay_frame::{
    ring_distance, NodeId, RelayHeader, DEFAULT_TTL, RELAY_HEADER_LEN, TTL_OFFSET,
};
use ringvpn_core::DropReason;

use crate::pipeline::{RxAction, TxAction, DATA_START};
use crate::relay_limit::Verdict;
use crate::rx_pending::RxPending;
use crate::shared::Shared;
use crate::tables::{PeerEntry, SessionState, Tables};
use crate::timers::carries_data;

/// Bytes a relayed frame carries beyond a direct one: the outer RELAY header, the relay header
/// and the outer tag.
pub const RELAY_EXTRA: usize = HEADER_LEN + RELAY_HEADER_LEN + TAG_LEN;

type Hop<'t> = (&'t Arc<PeerEntry>, &'t Arc<SessionState>, SocketAddr);

/// A peer's current, unexpired session and its endpoint: what sending to it needs.
fn usable(p: &Arc<PeerEntry>, now: Instant) -> Option<Hop<'_>> {
    let s = p.send_session(now)?;
    Some((p, s, p.state.endpoint()?))
}

impl Shared {
    /// Outbound for `peer` (current session `s`) without a direct path (no endpoint, or
    /// `relay_only`): seal the payload at `buf[HEADROOM..][..ip_len]` (an IP packet, 0: a
    /// keepalive, or a CONTROL message) end to end as a `kind` frame (DATA or CONTROL) with `s`,
    /// put the relay header before it and seal both as a RELAY frame at `buf[0..]` with the
    /// `via` hop's session. No usable hop or unknown node ids: `no_endpoint`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn send_via(
        &self,
        tables: &Tables,
        peer: &PeerEntry,
        s: &SessionState,
        kind: u8,
        buf: &mut [u8],
        ip_len: usize,
        now: Instant,
    ) -> TxAction {
        let hop = peer.via.and_then(|v| tables.peers.get(&v));
        let ids = self.node_id.zip(peer.node_id);
        let (Some((hop, hs, to)), Some((src, dst))) = (hop.and_then(|h| usable(h, now)), ids)
        else {
            return TxAction::Drop(DropReason::NoEndpoint);
        };
        let inner_len = match self.seal_inner(peer, s, kind, buf, ip_len, now) {
            Ok(len) => len,
            Err(r) => return TxAction::Drop(r),
        };
        let Some(h) = buf
            .get_mut(HEADER_LEN..DATA_START)
            .and_then(|h| <&mut [u8; RELAY_HEADER_LEN]>::try_from(h).ok())
        else {
            return TxAction::Drop(DropReason::Oversize);
        };
        RelayHeader {
            dst,
            src,
            ttl: DEFAULT_TTL,
            // a relay link (the hop was chosen by both ends) is what the hop counts and limits
            link: peer.relay_only,
        }
        .write(h);
        match hs
            .session
            .seal(TYPE_RELAY, buf, RELAY_HEADER_LEN + inner_len, now)
        {
            Ok(len) => {
                self.check_rekey(hs, now);
                hop.state.tx_packets.fetch_add(1, Ordering::Relaxed);
                hop.state.tx_bytes.fetch_add(len as u64, Ordering::Relaxed);
                hop.state
                    .stamp_tx(kind == TYPE_DATA && ip_len > 0, self.now_ms(now));
                let st = &peer.state;
                st.tx_relayed_packets.fetch_add(1, Ordering::Relaxed);
                st.tx_relayed_bytes.fetch_add(len as u64, Ordering::Relaxed);
                TxAction::Send { to, start: 0, len }
            }
            Err(r) => TxAction::Drop(r),
        }
    }

    /// Bytes to take off the segment size when a TCP super-packet for `dst` is split: a relayed
    /// frame is RELAY_EXTRA longer than a direct one, so its segments are cut that much shorter.
    /// Its frames then fit wherever direct frames do (a full-size relayed frame does not fit a
    /// 1,500-byte underlay: it needs IP fragmentation, and cannot go in a UDP GSO run).
    pub fn segment_cut(&self, dst: IpAddr, now: Instant) -> usize {
        let tables = self.tables.load();
        match tables.route(dst) {
            Some(peer) if self.direct_endpoint(&tables, peer, now).is_none() => RELAY_EXTRA,
            _ => 0,
        }
    }

    /// Where our own frames for `peer` go: its endpoint, or None for its via hop: always for a relay
    /// link (`relay_only`), and for a data-only peer (not an overlay link) not heard from directly
    /// for DIRECT_FRESH_MS (its frames through the hop do not count) whose via hop is usable: behind a NAT its endpoint may be a mapping that is
    /// gone (the reply comes straight back and makes the endpoint fresh again).
    pub(crate) fn direct_endpoint(
        &self,
        tables: &Tables,
        peer: &PeerEntry,
        now: Instant,
    ) -> Option<SocketAddr> {
        if peer.relay_only {
            return None;
        }
        let ep = peer.state.endpoint()?;
        let stale = !peer.hop
            && self
                .now_ms(now)
                .saturating_sub(peer.state.last_direct_rx_ms())
                >= DIRECT_FRESH_MS;
        let via = peer.via.and_then(|v| tables.peers.get(&v));
        if stale && via.and_then(|h| usable(h, now)).is_some() {
            return None;
        }
        Some(ep)
    }

    /// Can our own frames for `peer` go anywhere: a direct endpoint, or a usable via hop (and both
    /// node ids for the relay header)? Without one, `send_via` drops them `no_endpoint`.
    pub(crate) fn has_path(&self, tables: &Tables, peer: &PeerEntry, now: Instant) -> bool {
        self.direct_endpoint(tables, peer, now).is_some()
            || (self.node_id.is_some()
                && peer.node_id.is_some()
                && peer
                    .via
                    .and_then(|v| tables.peers.get(&v))
                    .and_then(|h| usable(h, now))
                    .is_some())
    }

    /// An authenticated RELAY frame from `hop`; its plaintext is `dgram[range]`.
    pub(crate) fn inbound_relay(
        &self,
        tables: &Tables,
        hop: &PeerEntry,
        dgram: &mut [u8],
        range: Range<usize>,
        now: Instant,
        held: Option<&RxPending>,
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
            return self.relay_receive(tables, dgram, range, &h.src, now, held);
        }
        if h.ttl == 0 {
            return RxAction::Drop(DropReason::RelayTtl);
        }
        // Re-sealing in place needs the plaintext right after the header (as `open` leaves it).
        if range.start != HEADER_LEN {
            return RxAction::Drop(DropReason::RelayMalformed);
        }
        let Some((next, s, to)) =
            next_hop(tables, &own, &h.dst, hop.state.id, now, self.now_ms(now))
        else {
            return RxAction::Drop(DropReason::RelayNoRoute);
        };
        // A relay link through us (its source sent it to us, we hand it to its destination):
        // counted against this relay's limits. Greedy forwarding is not a relay link.
        if h.link && hop.node_id == Some(h.src) && next.node_id == Some(h.dst) {
            let verdict = self
                .relay_limit
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .admit(&h.src, &h.dst, range.len(), self.now_ms(now));
            match verdict {
                Verdict::Pass => {}
                Verdict::Full => return RxAction::Drop(DropReason::RelayFull),
                Verdict::Rate => return RxAction::Drop(DropReason::RelayRate),
            }
        }
        if let Some(ttl) = dgram.get_mut(range.start + TTL_OFFSET) {
            *ttl = h.ttl - 1;
        }
        match s.session.seal(TYPE_RELAY, dgram, range.len(), now) {
            Ok(len) => {
                self.check_rekey(s, now);
                next.state.tx_packets.fetch_add(1, Ordering::Relaxed);
                next.state.tx_bytes.fetch_add(len as u64, Ordering::Relaxed);
                next.state
                    .stamp_tx(carries_data(TYPE_RELAY, range.len()), self.now_ms(now));
                self.counters
                    .relay_forwarded
                    .fetch_add(1, Ordering::Relaxed);
                RxAction::Forward { to, len }
            }
            Err(r) => RxAction::Drop(r),
        }
    }

    /// A RELAY frame for us: its plaintext `dgram[range]` is the relay header and an end-to-end
    /// DATA/CONTROL frame that must open with a session of the peer whose node id is `src`.
    /// Counted and handled like a direct frame from that peer, except that it never moves the
    /// peer's endpoint (the datagram came from the hop).
    fn relay_receive(
        &self,
        tables: &Tables,
        dgram: &mut [u8],
        range: Range<usize>,
        src: &NodeId,
        now: Instant,
        held: Option<&RxPending>,
    ) -> RxAction {
        let outer_len = dgram.len();
        let start = range.start + RELAY_HEADER_LEN;
        let Some(inner) = dgram.get_mut(start..range.end) else {
            return RxAction::Drop(DropReason::RelayMalformed);
        };
        let receiver = match frame::parse(inner) {
            Ok(Frame::Transport {
                kind: TYPE_DATA | TYPE_CONTROL,
                receiver,
                ..
            }) => receiver,
            _ => return RxAction::Drop(DropReason::RelayMalformed),
        };
        let Some((s, peer)) = tables.by_index.get(&receiver) else {
            return RxAction::Drop(DropReason::UnknownIndex);
        };
        if peer.node_id.as_ref() != Some(src) {
            return RxAction::Drop(DropReason::RelaySrcMismatch);
        }
        let inner_len = inner.len();
        let (kind, r) = match s.session.open(inner, now) {
            Ok(x) => x,
            Err(r) => return RxAction::Drop(r),
        };
        self.confirm_next(peer, s);
        let st = &peer.state;
        st.rx_packets.fetch_add(1, Ordering::Relaxed);
        st.rx_bytes.fetch_add(inner_len as u64, Ordering::Relaxed);
        st.rx_relayed_packets.fetch_add(1, Ordering::Relaxed);
        st.rx_relayed_bytes
            .fetch_add(outer_len as u64, Ordering::Relaxed);
        st.stamp_rx_relayed(carries_data(kind, r.len()), self.now_ms(now));
        if peer.current.as_ref().is_some_and(|c| Arc::ptr_eq(c, s)) {
            self.check_rekey(s, now);
        }
        self.payload(peer, kind, dgram, start + r.start..start + r.end, now, held)
    }
}

/// A peer that is not an overlay link (`hop` false) is used as the last hop only if heard from
/// within this long: behind NATs an idle session's endpoint stops working when the peer's NAT
/// forgets the mapping (Linux: 30 s), while its keys stay valid for minutes.
pub const DIRECT_FRESH_MS: u64 = 25_000;

/// The next hop toward `dst`: the peer with that node id if it is usable (and an overlay link, or
/// heard from directly within DIRECT_FRESH_MS), else (greedy) the
/// usable peer other than `from` closest to `dst` on the ring, if strictly closer than us, else
/// the `via` hop of the peer with that node id (a relay link of ours: the common neighbour reaches
/// `dst` directly), if usable and not `from`, else the usable peer nearest to `dst` among those
/// closer to it than `from` (a dead end: the peers closer than us are relay links). Behind NATs
/// the node where greedy forwarding ends is often a ring neighbour of `dst` linked to it only
/// through a relay.
fn next_hop<'t>(
    tables: &'t Tables,
    own: &NodeId,
    dst: &NodeId,
    from: u32,
    now: Instant,
    now_ms: u64,
) -> Option<Hop<'t>> {
    let fresh = |p: &&Arc<PeerEntry>| {
        p.hop || now_ms.saturating_sub(p.state.last_direct_rx_ms()) < DIRECT_FRESH_MS
    };
    if let Some(hit) = tables
        .by_node
        .get(dst)
        .filter(fresh)
        .and_then(|p| usable(p, now))
    {
        return Some(hit);
    }
    let candidates = || {
        tables
            .relay_peers
            .iter()
            .filter(move |p| p.state.id != from)
            .filter_map(|p| Some((p.node_id.as_ref()?, p)))
    };
    greedy(own, dst, candidates(), |p| usable(p, now))
        .or_else(|| {
            let via = tables.by_node.get(dst)?.via?;
            if via == from {
                return None;
            }
            usable(tables.peers.get(&via)?, now)
        })
        .or_else(|| {
            // A dead end: every peer closer to `dst` is reached through a relay (behind symmetric
            // NATs), which cannot carry RELAY frames. The way out: the hop nearest to `dst` among
            // those closer to it than the frame's previous hop. Loop-free: the larger of the
            // distances of the last two nodes falls at every such step and never rises at a
            // greedy one.
            let prev = tables.peers.get(&from)?.node_id.as_ref()?;
            greedy(prev, dst, candidates(), |p| usable(p, now))
        })
}

/// Greedy forwarding's rule, pure: over `candidates` in order, the first of those closest to
/// `dst` by ring distance, if strictly closer than `own` (so `dst` itself, at distance 0, always
/// wins); `accept` turns a candidate into a hop and is asked only when it would be the best so
/// far (a refused one is skipped). tests/vectors/next-hop.json holds this rule and
/// ts/core/routing.ts `greedyNextHop` to the same answers.
pub fn greedy<'a, C, H>(
    own: &NodeId,
    dst: &NodeId,
    candidates: impl IntoIterator<Item = (&'a NodeId, C)>,
    mut accept: impl FnMut(C) -> Option<H>,
) -> Option<H> {
    let mut best = None;
    let mut best_d = ring_distance(own, dst);
    for (n, c) in candidates {
        let d = ring_distance(n, dst);
        if d < best_d {
            if let Some(h) = accept(c) {
                best = Some(h);
                best_d = d;
            }
        }
    }
    best
}

#[cfg(test)]
#[path = "relay_tests.rs"]
pub(crate) mod tests;

#[cfg(test)]
#[path = "relay_hop_tests.rs"]
mod hop_tests;

#[cfg(test)]
#[path = "relay_rx_tests.rs"]
mod rx_tests;

#[cfg(test)]
#[path = "relay_link_tests.rs"]
mod link_tests;
