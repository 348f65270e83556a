//! Owns the per-packet hot path: outbound (device -> intercept -> lookup -> seal -> UDP, or hold
//! until a route/session exists) and inbound (UDP -> parse -> session -> replay -> open -> source
//! check -> device, or hold until the control plane answers for the source), plus the slot
//! layout (head/tailroom) they share; relay.rs, intercept.rs, pending.rs and rx_pending.rs hold
//! the relay, service and hold branches. Must not allocate per data packet, hop
//! threads, or take locks other than the uncontended replay-window mutex; only rare events
//! (handshake/control/intercepted/miss) copy or lock.

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use ringvpn_core::ether::{
    self, ARP_FRAME_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETH_HEADER_LEN,
};
use ringvpn_core::frame::{self, Frame, HEADER_LEN, TAG_LEN, TYPE_CONTROL, TYPE_DATA, TYPE_RELAY};
use ringvpn_core::ip::{self, IpInfo};
use ringvpn_core::relay_frame::RELAY_HEADER_LEN;
use ringvpn_core::DropReason;

use crate::config::DeviceMode;
use crate::events::Event;
use crate::pending::Pending;
use crate::rx_pending::RxPending;
pub use crate::shared::{Shared, NEED_SESSION_INTERVAL_MS};
use crate::tables::{PeerEntry, SessionState};
use crate::timers::carries_data;

/// Bytes reserved in every slot before the IP packet: room for the largest prefix any frame
/// needs, so every kind is sealed in place. Device slot layouts (the IP packet at HEADROOM;
/// TAP frames are read at `HEADROOM - 14` so the IP header still lands there):
/// ```text
/// direct:  ........................ | DATA hdr 16 | IP packet | tag |
/// relayed: | RELAY hdr 16 | relay hdr 44 | DATA hdr 16 | IP packet | inner tag | outer tag |
///          0              16            DATA_START    HEADROOM
/// ```
pub const HEADROOM: usize = HEADER_LEN + RELAY_HEADER_LEN + HEADER_LEN;
/// Where the (direct or end-to-end) DATA frame of a device slot starts.
pub const DATA_START: usize = HEADROOM - HEADER_LEN;
/// Bytes reserved after the largest packet: the inner and the outer tag of a relayed frame.
pub const TAILROOM: usize = 2 * TAG_LEN;
/// A receive slot or a super-packet buffer: headroom + largest packet + tailroom.
pub const BUF_LEN: usize = HEADROOM + 65_535 + TAILROOM;

/// An 802.1Q tag, which a TAP frame may carry after its Ethernet addresses.
const VLAN_TAG_LEN: usize = 4;

/// A device (tx) slot: headroom + one packet of the device's MTU with an Ethernet header (VLAN
/// tagged) + tailroom. Super-packets continue in `TxSplit`'s own buffer; at the default MTU the
/// 32 slots of a loop take 57 KB, not 2 MB of 64 KB slots that each large read dirtied.
pub fn slot_len(mtu: u32) -> usize {
    (HEADROOM + ETH_HEADER_LEN + VLAN_TAG_LEN + mtu as usize + TAILROOM).min(BUF_LEN)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxAction {
    /// `buf[start..start + len]` is a sealed frame for `to`.
    Send {
        to: SocketAddr,
        start: usize,
        len: usize,
    },
    /// The ARP reply buffer holds a frame to write back to the device.
    ArpReply,
    /// Handed to the control plane (intercepted DHCP/DNS).
    Consumed,
    /// Hold the IP packet at `buf[HEADROOM..][..len]` for `dst` until a route and a session
    /// exist (pending.rs); `Route` raised a `miss` event, `Session` a `need_session` one.
    Hold {
        dst: IpAddr,
        len: usize,
        why: Wait,
    },
    Drop(DropReason),
}

/// Why a device packet is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// No route for the (unicast) destination.
    Route,
    /// The route's peer (this id) has no usable session.
    Session(u32),
    /// The route's peer (this id) has a session but no path: no direct endpoint and no usable
    /// via hop (its hop died); the control plane, told by a `need_session`, looks for a new hop.
    Path(u32),
    /// Route and session exist but older packets for the destination are still held: this one
    /// keeps its place behind them, and the held packets should be released now.
    Behind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RxAction {
    /// Write `buf[range]` to the device.
    Write(Range<usize>),
    /// `buf[..len]` was re-sealed as a RELAY frame for the next hop `to` (inner frame untouched).
    Forward {
        to: SocketAddr,
        len: usize,
    },
    /// Write `buf[range]` to the device, after the packets held from the same peer that a
    /// set_peer has decided since (`RxPending::service` first, so they keep their order).
    WriteAfterHeld(Range<usize>),
    /// Hold the IP packet `buf[start..start + len]` from overlay peer `peer`, whose inner source
    /// is outside the prefixes of the peer's config generation `gen`, until a set_peer decides
    /// it (rx_pending.rs; a `source_unknown` event asked the control plane).
    Hold {
        peer: u32,
        gen: u64,
        start: usize,
        len: usize,
    },
    /// Handled (handshake/control event, keepalive).
    Consumed,
    Drop(DropReason),
}

impl Shared {
    /// Offset at which device reads land in a slot.
    pub fn device_offset(&self) -> usize {
        match self.mode {
            DeviceMode::Tun => HEADROOM,
            DeviceMode::Tap => HEADROOM - ETH_HEADER_LEN,
        }
    }

    /// Process one packet read from the device into `buf[device_offset()..][..read_len]`.
    /// `pending` is the io loop's hold queue (asked only whether it holds the destination).
    pub fn outbound(
        &self,
        buf: &mut [u8],
        read_len: usize,
        now: Instant,
        arp_out: &mut [u8; ARP_FRAME_LEN],
        pending: &Pending,
    ) -> TxAction {
        let start = self.device_offset();
        let Some(frame) = buf.get(start..start + read_len) else {
            return TxAction::Drop(DropReason::Oversize);
        };
        let ip_len = match self.mode {
            DeviceMode::Tun => read_len,
            DeviceMode::Tap => {
                let eth = match ether::parse(frame) {
                    Ok(e) => e,
                    Err(r) => return TxAction::Drop(r),
                };
                self.set_os_mac(&eth.src);
                match eth.ethertype {
                    ETHERTYPE_ARP => {
                        return match ether::answer_arp(
                            frame,
                            self.virtual_mac,
                            |ip| self.arp_routable(ip),
                            arp_out,
                        ) {
                            Ok(()) => TxAction::ArpReply,
                            Err(r) => TxAction::Drop(r),
                        }
                    }
                    ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => read_len - ETH_HEADER_LEN,
                    _ => return TxAction::Drop(DropReason::NotIp),
                }
            }
        };
        let packet = &buf[HEADROOM..HEADROOM + ip_len];
        let info = match ip::parse(packet) {
            Ok(i) => i,
            Err(r) => return TxAction::Drop(r),
        };
        if self.mode == DeviceMode::Tap && ip::is_ipv6_nd(packet, &info) {
            return TxAction::Drop(DropReason::Ipv6Nd);
        }
        if let Some(act) = self.intercept(&buf[start..start + read_len], packet, &info) {
            return act;
        }
        self.route_out(buf, &info, now, Some(pending))
    }

    /// Route the parsed IP packet at `buf[HEADROOM..]` and seal it for its peer (direct or
    /// through its `via` hop). Without a route, a session or a path it is held (given the hold
    /// queue, unicast destinations only) or dropped `no_route` / `no_session` / `no_endpoint`;
    /// with all three, it is still held while older packets for its destination are (they go first).
    pub(crate) fn route_out(
        &self,
        buf: &mut [u8],
        info: &IpInfo,
        now: Instant,
        pending: Option<&Pending>,
    ) -> TxAction {
        let hold_or = |why: Wait, r: DropReason| {
            if pending.is_some() && self.is_unicast(info.dst) {
                TxAction::Hold {
                    dst: info.dst,
                    len: info.total_len,
                    why,
                }
            } else {
                TxAction::Drop(r)
            }
        };
        let tables = self.tables.load();
        let Some(peer) = tables.route(info.dst) else {
            self.miss(info.dst, now);
            return hold_or(Wait::Route, DropReason::NoRoute);
        };
        let Some(s) = peer.send_session(now) else {
            if !peer.awaiting_confirmation(now) {
                self.need_session(&peer.state, self.now_ms(now));
            }
            return hold_or(Wait::Session(peer.state.id), DropReason::NoSession);
        };
        if pending.is_some_and(|p| !p.is_empty() && p.holds(info.dst)) {
            return TxAction::Hold {
                dst: info.dst,
                len: info.total_len,
                why: Wait::Behind,
            };
        }
        let Some(to) = self.direct_endpoint(&tables, peer, now) else {
            if !self.has_path(&tables, peer, now) {
                self.need_session(&peer.state, self.now_ms(now));
                return hold_or(Wait::Path(peer.state.id), DropReason::NoEndpoint);
            }
            return self.send_via(&tables, peer, s, TYPE_DATA, buf, info.total_len, now);
        };
        match self.seal_data(peer, s, buf, info.total_len, now) {
            Ok(len) => TxAction::Send {
                to,
                start: DATA_START,
                len,
            },
            Err(r) => TxAction::Drop(r),
        }
    }

    /// Seal the IP packet at `buf[HEADROOM..][..ip_len]` with `peer`'s session `s` as a DATA
    /// frame at `buf[DATA_START..]` and count it on `peer` (`ip_len` 0: a keepalive, not data).
    /// Returns the frame length.
    pub(crate) fn seal_data(
        &self,
        peer: &PeerEntry,
        s: &SessionState,
        buf: &mut [u8],
        ip_len: usize,
        now: Instant,
    ) -> Result<usize, DropReason> {
        self.seal_inner(peer, s, TYPE_DATA, buf, ip_len, now)
    }

    /// `seal_data` for a frame of any end-to-end `kind` (DATA or CONTROL); only non-empty DATA
    /// counts as data.
    pub(crate) fn seal_inner(
        &self,
        peer: &PeerEntry,
        s: &SessionState,
        kind: u8,
        buf: &mut [u8],
        ip_len: usize,
        now: Instant,
    ) -> Result<usize, DropReason> {
        let out = buf.get_mut(DATA_START..).ok_or(DropReason::Oversize)?;
        match s.session.seal(kind, out, ip_len, now) {
            Ok(len) => {
                self.check_rekey(s, now);
                let st = &peer.state;
                let data = kind == TYPE_DATA && ip_len > 0;
                st.tx_packets.fetch_add(1, Ordering::Relaxed);
                st.tx_bytes.fetch_add(len as u64, Ordering::Relaxed);
                st.stamp_tx(data, self.now_ms(now));
                if data {
                    st.tx_data_packets.fetch_add(1, Ordering::Relaxed);
                    st.tx_data_bytes.fetch_add(ip_len as u64, Ordering::Relaxed);
                }
                Ok(len)
            }
            Err(r) => {
                if r == DropReason::SessionExpired {
                    self.need_session(&peer.state, self.now_ms(now));
                }
                Err(r)
            }
        }
    }

    /// Process one datagram `buf[..len]` from `from`, without an inbound hold: a packet from an
    /// unlearned source is dropped `source_not_allowed`.
    pub fn inbound(&self, buf: &mut [u8], len: usize, from: SocketAddr, now: Instant) -> RxAction {
        self.inbound_with(buf, len, from, now, None)
    }

    /// Process one datagram `buf[..len]` from `from`. `held` is the rx loop's inbound hold
    /// (asked only what it holds): with it, a packet from an overlay peer's unlearned source is
    /// held (`RxAction::Hold`) instead of dropped.
    pub fn inbound_with(
        &self,
        buf: &mut [u8],
        len: usize,
        from: SocketAddr,
        now: Instant,
        held: Option<&RxPending>,
    ) -> RxAction {
        let Some(dgram) = buf.get_mut(..len) else {
            return RxAction::Drop(DropReason::Oversize);
        };
        let receiver = match frame::parse(dgram) {
            Ok(Frame::Handshake { bytes, .. }) => {
                // unauthenticated: the per-source bucket first, then one bounded copy
                if !self.handshake_allowed(from.ip(), self.now_ms(now)) {
                    return RxAction::Drop(DropReason::HandshakeRate);
                }
                self.emit(Event::Handshake {
                    from,
                    data: bytes.to_vec(),
                });
                return RxAction::Consumed;
            }
            Ok(Frame::Transport { receiver, .. }) => receiver,
            Err(r) => return RxAction::Drop(r),
        };
        let tables = self.tables.load();
        let Some((s, peer)) = tables.by_index.get(&receiver) else {
            return RxAction::Drop(DropReason::UnknownIndex);
        };
        let (kind, range) = match s.session.open(dgram, now) {
            Ok(x) => x,
            Err(r) => return RxAction::Drop(r),
        };
        // Authenticated from here on.
        self.confirm_next(peer, s);
        let st = &peer.state;
        st.rx_packets.fetch_add(1, Ordering::Relaxed);
        st.rx_bytes.fetch_add(len as u64, Ordering::Relaxed);
        st.stamp_rx(carries_data(kind, range.len()), self.now_ms(now));
        if st.endpoint.load().as_deref() != Some(&from) {
            st.endpoint.store(Some(Arc::new(from)));
            self.emit(Event::Endpoint {
                peer: st.id,
                addr: from,
            });
        }
        if peer.current.as_ref().is_some_and(|c| Arc::ptr_eq(c, s)) {
            self.check_rekey(s, now);
        }
        if kind == TYPE_RELAY {
            return self.inbound_relay(&tables, peer, dgram, range, now, held);
        }
        self.payload(peer, kind, dgram, range, now, held)
    }

    /// The opened plaintext `dgram[range]` of a DATA or CONTROL frame from `peer`, direct or
    /// relayed end to end: CONTROL goes up as an event, an empty DATA is a keepalive, and a
    /// DATA packet is written to the device if its source is one of the peer's prefixes (else
    /// held, given `held` and a peer with a node id, or dropped).
    pub(crate) fn payload(
        &self,
        peer: &PeerEntry,
        kind: u8,
        dgram: &mut [u8],
        range: Range<usize>,
        now: Instant,
        held: Option<&RxPending>,
    ) -> RxAction {
        match kind {
            TYPE_CONTROL => {
                if !self.control_allowed(peer.state.id, self.now_ms(now)) {
                    return RxAction::Drop(DropReason::ControlRate);
                }
                self.emit(Event::Control {
                    peer: peer.state.id,
                    data: dgram.get(range).map(<[u8]>::to_vec).unwrap_or_default(),
                });
                RxAction::Consumed
            }
            _ if range.is_empty() => RxAction::Consumed, // keepalive
            _ => {
                let info = match dgram.get(range.clone()).map(ip::parse) {
                    Some(Ok(i)) => i,
                    Some(Err(r)) => return RxAction::Drop(r),
                    None => return RxAction::Drop(DropReason::MalformedIp),
                };
                // before the source check, so a held packet was checked too
                if !peer.gateway_client && !self.serves(info.dst) {
                    return RxAction::Drop(DropReason::DstNotAllowed);
                }
                if !peer.allows_source(info.src) {
                    // An overlay peer sending from an address we have not learned yet: ask the
                    // control plane to check it (rate-limited) and hold the packet meanwhile.
                    // A static-mesh peer (no node id) has all its prefixes: dropped.
                    let Some(node) = peer.node_id.as_ref() else {
                        return RxAction::Drop(DropReason::SourceNotAllowed);
                    };
                    self.source_unknown(node, info.src, now);
                    if held.is_none() {
                        return RxAction::Drop(DropReason::SourceNotAllowed);
                    }
                    return RxAction::Hold {
                        peer: peer.state.id,
                        gen: peer.config_gen,
                        start: range.start,
                        len: info.total_len,
                    };
                }
                let st = &peer.state;
                st.rx_data_packets.fetch_add(1, Ordering::Relaxed);
                st.rx_data_bytes
                    .fetch_add(info.total_len as u64, Ordering::Relaxed);
                match self.deliver(dgram, range.start, &info) {
                    RxAction::Write(r)
                        if held.is_some_and(|h| h.decided(peer.state.id, peer.config_gen)) =>
                    {
                        RxAction::WriteAfterHeld(r)
                    }
                    act => act,
                }
            }
        }
    }

    /// Whether a member's packet for `dst` may go to the device (EngineConfig::destinations).
    fn serves(&self, dst: IpAddr) -> bool {
        self.destinations
            .as_ref()
            .is_none_or(|d| d.iter().any(|n| n.contains(dst)))
    }

    /// Device write of the checked IP packet at `dgram[ip_start..]`: as is (TUN) or behind an
    /// Ethernet header written into the 14 bytes before it (TAP).
    pub(crate) fn deliver(&self, dgram: &mut [u8], ip_start: usize, info: &IpInfo) -> RxAction {
        let end = ip_start + info.total_len;
        match self.mode {
            DeviceMode::Tun => RxAction::Write(ip_start..end),
            DeviceMode::Tap => {
                let Some(eth_start) = ip_start.checked_sub(ETH_HEADER_LEN) else {
                    return RxAction::Drop(DropReason::Oversize);
                };
                let ethertype = if info.version == 4 {
                    ETHERTYPE_IPV4
                } else {
                    ETHERTYPE_IPV6
                };
                let dst = self.os_mac().unwrap_or(ether::BROADCAST_MAC);
                if let Some(h) = dgram
                    .get_mut(eth_start..ip_start)
                    .and_then(|h| <&mut [u8; ETH_HEADER_LEN]>::try_from(h).ok())
                {
                    ether::write_header(h, dst, self.virtual_mac, ethertype);
                }
                RxAction::Write(eth_start..end)
            }
        }
    }
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
pub(crate) mod tests;

#[cfg(test)]
#[path = "confirm_tests.rs"]
mod confirm_tests;

#[cfg(test)]
#[path = "destinations_tests.rs"]
mod destinations_tests;
