//! Owns the per-packet hot path: outbound (device -> lookup -> seal -> UDP) and inbound
//! (UDP -> parse -> session -> replay -> open -> source check -> device); the
//! loops in io_loop.rs drive these. Must not allocate per data packet, hop threads, or take locks
//! other than the uncontended replay-window mutex; only rare events (handshake/control) copy.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ringvpn_core::ether::{
    self, Mac, ARP_FRAME_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETH_HEADER_LEN,
};
use ringvpn_core::frame::{self, Frame, HEADER_LEN, TAG_LEN, TYPE_CONTROL, TYPE_DATA};
use ringvpn_core::ip::{self, IpNet};
use ringvpn_core::DropReason;

use crate::config::DeviceMode;
use crate::events::{Event, EventQueue};
use crate::stats::Counters;
use crate::tables::{PeerState, SessionState, TableHandle};

/// Bytes reserved before the IP packet for the 16-byte frame header (TAP frames are read at
/// HEADROOM - 14 so the IP header still lands at HEADROOM).
pub const HEADROOM: usize = HEADER_LEN;
/// Per-slot buffer: headroom + largest packet + tag.
pub const BUF_LEN: usize = HEADROOM + 65_535 + TAG_LEN;
/// need_session events for one peer are at least this far apart.
pub const NEED_SESSION_INTERVAL_MS: u64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxAction {
    /// `buf[..len]` is a sealed frame for `to`.
    Send {
        to: SocketAddr,
        len: usize,
    },
    /// The ARP reply buffer holds a frame to write back to the device.
    ArpReply,
    Drop(DropReason),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RxAction {
    /// Write `buf[range]` to the device.
    Write(Range<usize>),
    /// Handled (handshake/control event, keepalive).
    Consumed,
    Drop(DropReason),
}

/// Everything both pipelines and the command side share.
pub struct Shared {
    pub tables: TableHandle,
    pub events: EventQueue,
    pub counters: Counters,
    pub mode: DeviceMode,
    pub virtual_mac: Mac,
    /// OS interface MAC packed in the low 48 bits; 0 = unknown (use broadcast).
    os_mac: AtomicU64,
    pub own_addr: Option<Ipv4Addr>,
    pub virtual_prefix: Option<IpNet>,
    epoch: Instant,
    epoch_unix_ms: u64,
}

fn pack_mac(m: &Mac) -> u64 {
    m.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b))
}

fn unpack_mac(v: u64) -> Mac {
    let b = v.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

impl Shared {
    pub fn new(
        mode: DeviceMode,
        virtual_mac: Mac,
        address: Option<(Ipv4Addr, u8)>,
        events: EventQueue,
    ) -> Self {
        let epoch_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Shared {
            tables: TableHandle::new(),
            events,
            counters: Counters::default(),
            mode,
            virtual_mac,
            os_mac: AtomicU64::new(0),
            own_addr: address.map(|(a, _)| a),
            virtual_prefix: address.and_then(|(a, p)| IpNet::new(IpAddr::V4(a), p)),
            epoch: Instant::now(),
            epoch_unix_ms,
        }
    }

    /// Engine clock in milliseconds, + 1 so that 0 can mean "never".
    pub fn now_ms(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_millis() as u64 + 1
    }

    /// Convert an engine-clock stamp to Unix milliseconds.
    pub fn unix_ms(&self, stamp: u64) -> Option<u64> {
        stamp.checked_sub(1).map(|ms| self.epoch_unix_ms + ms)
    }

    pub fn os_mac(&self) -> Option<Mac> {
        match self.os_mac.load(Ordering::Relaxed) {
            0 => None,
            v => Some(unpack_mac(v)),
        }
    }

    pub fn set_os_mac(&self, m: &Mac) {
        if ether::is_unicast(m) && *m != self.virtual_mac {
            let v = pack_mac(m);
            if self.os_mac.load(Ordering::Relaxed) != v {
                self.os_mac.store(v, Ordering::Relaxed);
            }
        }
    }

    /// Offset at which device reads land in a slot.
    pub fn device_offset(&self) -> usize {
        match self.mode {
            DeviceMode::Tun => HEADROOM,
            DeviceMode::Tap => HEADROOM - ETH_HEADER_LEN,
        }
    }

    pub fn emit(&self, ev: Event) {
        if !self.events.push(ev) {
            self.counters.drop(DropReason::QueueFull);
        }
    }

    fn need_session(&self, peer: &PeerState, now_ms: u64) {
        let last = peer.need_session_ms.load(Ordering::Relaxed);
        if (last == 0 || now_ms.saturating_sub(last) >= NEED_SESSION_INTERVAL_MS)
            && peer
                .need_session_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.emit(Event::NeedSession { peer: peer.id });
        }
    }

    fn check_rekey(&self, s: &SessionState, now: Instant) {
        if s.session.needs_rekey(now) && !s.rekey_signalled.swap(true, Ordering::Relaxed) {
            self.emit(Event::Rekey {
                peer: s.peer.id,
                local_index: s.session.local_index,
            });
        }
    }

    /// Does the engine answer ARP for `ip`? Routable addresses and the virtual prefix
    /// (except the OS interface's own address, the network and broadcast addresses).
    pub fn arp_routable(&self, ip: Ipv4Addr) -> bool {
        if Some(ip) == self.own_addr {
            return false;
        }
        if self.tables.load().route(IpAddr::V4(ip)).is_some() {
            return true;
        }
        self.virtual_prefix.is_some_and(|p| {
            let host_mask = u32::MAX.checked_shr(u32::from(p.prefix_len())).unwrap_or(0);
            let host = u32::from(ip) & host_mask;
            p.contains(IpAddr::V4(ip)) && (p.prefix_len() >= 31 || (host != 0 && host != host_mask))
        })
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
        let tables = self.tables.load();
        let Some(peer) = tables.route(info.dst) else {
            return TxAction::Drop(DropReason::NoRoute);
        };
        let Some(s) = peer.current.as_ref().filter(|s| !s.session.is_expired(now)) else {
            self.need_session(&peer.state, self.now_ms(now));
            return TxAction::Drop(DropReason::NoSession);
        };
        let Some(to) = peer.state.endpoint() else {
            return TxAction::Drop(DropReason::NoEndpoint);
        };
        let total = HEADROOM + info.total_len + TAG_LEN;
        let Some(out) = buf.get_mut(..total) else {
            return TxAction::Drop(DropReason::Oversize);
        };
        match s.session.seal(TYPE_DATA, out, info.total_len, now) {
            Ok(len) => {
                self.check_rekey(s, now);
                peer.state.tx_packets.fetch_add(1, Ordering::Relaxed);
                peer.state.tx_bytes.fetch_add(len as u64, Ordering::Relaxed);
                TxAction::Send { to, len }
            }
            Err(r) => {
                if r == DropReason::SessionExpired {
                    self.need_session(&peer.state, self.now_ms(now));
                }
                TxAction::Drop(r)
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
        if kind == TYPE_CONTROL {
            self.emit(Event::Control {
                peer: st.id,
                data: dgram[range].to_vec(),
            });
            return RxAction::Consumed;
        }
        if range.is_empty() {
            return RxAction::Consumed; // keepalive
        }
        let info = match ip::parse(&dgram[range.clone()]) {
            Ok(i) => i,
            Err(r) => return RxAction::Drop(r),
        };
        if !peer.allows_source(info.src) {
            return RxAction::Drop(DropReason::SourceNotAllowed);
        }
        let end = range.start + info.total_len;
        match self.mode {
            DeviceMode::Tun => RxAction::Write(range.start..end),
            DeviceMode::Tap => {
                let eth_start = range.start - ETH_HEADER_LEN;
                let ethertype = if info.version == 4 {
                    ETHERTYPE_IPV4
                } else {
                    ETHERTYPE_IPV6
                };
                let dst = self.os_mac().unwrap_or(ether::BROADCAST_MAC);
                if let Ok(h) =
                    <&mut [u8; ETH_HEADER_LEN]>::try_from(&mut dgram[eth_start..range.start])
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
mod tests;
