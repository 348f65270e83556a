//! Owns the per-packet hot path: outbound (device -> intercept -> lookup -> seal -> UDP) and
//! inbound (UDP -> parse -> session -> replay -> open -> source check -> device), plus the slot
//! layout (head/tailroom) they share; relay.rs and intercept.rs hold the relay and service branches.
//! Must not allocate per data packet, hop threads, or take locks other than the uncontended
//! replay-window mutex; only rare events (handshake/control/intercepted/miss) copy or lock.

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use ringvpn_core::ether::{
    self, ARP_FRAME_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETH_HEADER_LEN,
};
use ringvpn_core::frame::{self, Frame, HEADER_LEN, TAG_LEN, TYPE_CONTROL, TYPE_DATA, TYPE_RELAY};
use ringvpn_core::ip::{self, IpInfo};
use ringvpn_core::relay::RELAY_HEADER_LEN;
use ringvpn_core::DropReason;

use crate::config::DeviceMode;
use crate::events::Event;
pub use crate::shared::{Shared, NEED_SESSION_INTERVAL_MS};
use crate::tables::{PeerEntry, SessionState};

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
/// Per-slot buffer: headroom + largest packet + tailroom.
pub const BUF_LEN: usize = HEADROOM + 65_535 + TAILROOM;

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
    Drop(DropReason),
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
    pub fn outbound(
        &self,
        buf: &mut [u8],
        read_len: usize,
        now: Instant,
        arp_out: &mut [u8; ARP_FRAME_LEN],
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
        let tables = self.tables.load();
        let Some(peer) = tables.route(info.dst) else {
            self.miss(info.dst, now);
            return TxAction::Drop(DropReason::NoRoute);
        };
        let Some(s) = peer.current.as_ref().filter(|s| !s.session.is_expired(now)) else {
            self.need_session(&peer.state, self.now_ms(now));
            return TxAction::Drop(DropReason::NoSession);
        };
        let direct = if peer.relay_only {
            None
        } else {
            peer.state.endpoint()
        };
        let Some(to) = direct else {
            return self.send_via(&tables, peer, s, buf, info.total_len, now);
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
    /// frame at `buf[DATA_START..]` and count it on `peer`. Returns the frame length.
    pub(crate) fn seal_data(
        &self,
        peer: &PeerEntry,
        s: &SessionState,
        buf: &mut [u8],
        ip_len: usize,
        now: Instant,
    ) -> Result<usize, DropReason> {
        let out = buf.get_mut(DATA_START..).ok_or(DropReason::Oversize)?;
        match s.session.seal(TYPE_DATA, out, ip_len, now) {
            Ok(len) => {
                self.check_rekey(s, now);
                peer.state.tx_packets.fetch_add(1, Ordering::Relaxed);
                peer.state.tx_bytes.fetch_add(len as u64, Ordering::Relaxed);
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

    /// Process one datagram `buf[..len]` from `from`.
    pub fn inbound(&self, buf: &mut [u8], len: usize, from: SocketAddr, now: Instant) -> RxAction {
        let Some(dgram) = buf.get_mut(..len) else {
            return RxAction::Drop(DropReason::Oversize);
        };
        let receiver = match frame::parse(dgram) {
            Ok(Frame::Handshake { bytes, .. }) => {
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
        let st = &peer.state;
        st.rx_packets.fetch_add(1, Ordering::Relaxed);
        st.rx_bytes.fetch_add(len as u64, Ordering::Relaxed);
        st.last_rx_ms.store(self.now_ms(now), Ordering::Relaxed);
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
            return self.inbound_relay(&tables, peer, dgram, range, now);
        }
        self.payload(peer, kind, dgram, range, now)
    }

    /// The opened plaintext `dgram[range]` of a DATA or CONTROL frame from `peer`, direct or
    /// relayed end to end: CONTROL goes up as an event, an empty DATA is a keepalive, and a
    /// DATA packet is written to the device if its source is one of the peer's prefixes.
    pub(crate) fn payload(
        &self,
        peer: &PeerEntry,
        kind: u8,
        dgram: &mut [u8],
        range: Range<usize>,
        now: Instant,
    ) -> RxAction {
        match kind {
            TYPE_CONTROL => {
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
                if !peer.allows_source(info.src) {
                    // A linked peer sending from an address we have not learned yet: ask the
                    // control plane to check it (rate-limited); the packet is dropped meanwhile.
                    if let Some(node) = peer.node_id.as_ref() {
                        self.source_unknown(node, info.src, now);
                    }
                    return RxAction::Drop(DropReason::SourceNotAllowed);
                }
                self.deliver(dgram, range.start, &info)
            }
        }
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
