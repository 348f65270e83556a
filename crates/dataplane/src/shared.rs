//! Owns the state both pipelines and the command side share: tables, event queue, counters,
//! the engine's own address/prefix (swappable at runtime, lock-free), node id, service settings,
//! the event rate limiters, the wake-ups for held packets and the ARP-proxy rule. Must not hold per-packet logic (pipeline.rs,
//! relay.rs, intercept.rs) or take locks on the DATA path.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ringvpn_core::ether::{self, Mac};
use ringvpn_core::ip::IpNet;
use ringvpn_core::relay_frame::NodeId;
use ringvpn_core::DropReason;
use tokio::sync::Notify;

use crate::config::DeviceMode;
use crate::events::{Event, EventQueue, Refused};
use crate::handshake_limit::{
    ControlLimit, HandshakeLimit, CONTROL_LIMIT_CAPACITY, DEFAULT_CONTROL_BURST,
    DEFAULT_CONTROL_RATE, DEFAULT_HANDSHAKE_BURST, DEFAULT_HANDSHAKE_RATE,
    HANDSHAKE_LIMIT_CAPACITY,
};
use crate::limiter::RateLimiter;
use crate::relay_limit::{RelayLimit, DEFAULT_RELAY_MAX_SESSIONS};
use crate::stats::Counters;
use crate::tables::{PeerEntry, PeerState, SessionState, TableHandle};

/// need_session events for one peer are at least this far apart.
pub const NEED_SESSION_INTERVAL_MS: u64 = 1000;
/// miss events per destination and source_unknown events per node id: at most one per this.
pub const EVENT_INTERVAL_MS: u64 = 1000;
/// Destinations / source ids remembered by those limiters.
pub const LIMITER_CAPACITY: usize = 4096;

/// Set bit of a packed address word (below it: prefix length << 32 | IPv4 address).
const ADDR_PRESENT: u64 = 1 << 40;

fn pack_addr(a: Option<(Ipv4Addr, u8)>) -> u64 {
    a.map_or(0, |(ip, p)| {
        ADDR_PRESENT | (u64::from(p.min(32)) << 32) | u64::from(u32::from(ip))
    })
}

fn unpack_addr(v: u64) -> Option<(Ipv4Addr, u8)> {
    (v & ADDR_PRESENT != 0).then(|| (Ipv4Addr::from(v as u32), ((v >> 32) & 0xff) as u8))
}

fn pack_mac(m: &Mac) -> u64 {
    m.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b))
}

fn unpack_mac(v: u64) -> Mac {
    let b = v.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// Everything both pipelines and the command side share.
pub struct Shared {
    pub tables: TableHandle,
    pub events: EventQueue,
    pub counters: Counters,
    pub mode: DeviceMode,
    pub virtual_mac: Mac,
    /// This node's overlay id; relaying is disabled without it.
    pub node_id: Option<NodeId>,
    /// DNS queries (UDP port 53) to this address go to the control plane.
    pub service_addr: Option<Ipv4Addr>,
    /// DHCP requests (UDP to port 67) go to the control plane.
    pub intercept_dhcp: bool,
    /// Destinations a member's packet may have (EngineConfig::destinations); None: any.
    pub destinations: Option<Vec<IpNet>>,
    /// OS interface MAC packed in the low 48 bits; 0 = unknown (use broadcast).
    os_mac: AtomicU64,
    /// Own address and prefix length, packed (see `pack_addr`); 0 = none.
    address: AtomicU64,
    pub(crate) misses: Mutex<RateLimiter<IpAddr>>,
    pub(crate) unknown_sources: Mutex<RateLimiter<NodeId>>,
    /// Handshake-class datagrams per source address (handshake_limit.rs).
    pub handshake_limit: Mutex<HandshakeLimit>,
    /// CONTROL messages per peer (handshake_limit.rs).
    pub control_limit: Mutex<ControlLimit>,
    /// Limits on the relay links this node carries for others (set from the engine config).
    pub relay_limit: Mutex<RelayLimit>,
    /// Commands that may make held packets sendable (set_peer, set_session) wake the io loop,
    /// which owns the hold queue (pending.rs).
    pub pending_wake: Notify,
    /// set_peer / remove_peer wake the rx loop, which owns the inbound hold (rx_pending.rs).
    pub rx_pending_wake: Notify,
    epoch: Instant,
    epoch_unix_ms: u64,
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
            node_id: None,
            service_addr: None,
            intercept_dhcp: false,
            destinations: None,
            os_mac: AtomicU64::new(0),
            address: AtomicU64::new(pack_addr(address)),
            misses: Mutex::new(RateLimiter::new(LIMITER_CAPACITY, EVENT_INTERVAL_MS)),
            unknown_sources: Mutex::new(RateLimiter::new(LIMITER_CAPACITY, EVENT_INTERVAL_MS)),
            handshake_limit: Mutex::new(HandshakeLimit::new(
                HANDSHAKE_LIMIT_CAPACITY,
                DEFAULT_HANDSHAKE_RATE,
                DEFAULT_HANDSHAKE_BURST,
            )),
            control_limit: Mutex::new(ControlLimit::new(
                CONTROL_LIMIT_CAPACITY,
                DEFAULT_CONTROL_RATE,
                DEFAULT_CONTROL_BURST,
            )),
            relay_limit: Mutex::new(RelayLimit::new(DEFAULT_RELAY_MAX_SESSIONS, 0)),
            pending_wake: Notify::new(),
            rx_pending_wake: Notify::new(),
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

    /// The engine's own address and prefix length.
    pub fn address(&self) -> Option<(Ipv4Addr, u8)> {
        unpack_addr(self.address.load(Ordering::Relaxed))
    }

    /// Replace the own address and virtual prefix (one atomic store; readers see old or new).
    pub fn set_address(&self, a: Option<(Ipv4Addr, u8)>) {
        self.address.store(pack_addr(a), Ordering::Relaxed);
    }

    pub fn own_addr(&self) -> Option<Ipv4Addr> {
        self.address().map(|(a, _)| a)
    }

    /// The virtual network (own address with host bits cleared).
    pub fn virtual_prefix(&self) -> Option<IpNet> {
        self.address()
            .and_then(|(a, p)| IpNet::new(IpAddr::V4(a), p))
    }

    pub fn emit(&self, ev: Event) {
        match self.events.push(ev) {
            Ok(()) => {}
            Err(Refused::Full) => self.counters.drop(DropReason::QueueFull),
            Err(Refused::HandshakeShare) => self.counters.drop(DropReason::HandshakeQueue),
        }
    }

    /// The per-peer token bucket every CONTROL message passes before it is copied into the
    /// event queue.
    pub(crate) fn control_allowed(&self, peer: u32, now_ms: u64) -> bool {
        self.control_limit
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .allow(peer, now_ms)
    }

    /// The per-source token bucket every handshake-class datagram passes before it is copied
    /// into the event queue.
    pub(crate) fn handshake_allowed(&self, src: IpAddr, now_ms: u64) -> bool {
        self.handshake_limit
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .allow(src, now_ms)
    }

    pub(crate) fn need_session(&self, peer: &PeerState, now_ms: u64) {
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

    /// Tell the control plane that the peer with node id `node` sent from `addr`, outside its
    /// allowed prefixes (at most once per EVENT_INTERVAL_MS per node id).
    pub(crate) fn source_unknown(&self, node: &NodeId, addr: IpAddr, now: Instant) {
        let allowed = self
            .unknown_sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .allow(node, self.now_ms(now));
        if allowed {
            self.emit(Event::SourceUnknown { node: *node, addr });
        }
    }

    /// A frame authenticated with `s`: if it is `peer`'s unconfirmed responder session, it
    /// becomes the one to send on, and what was held for the peer can go.
    pub(crate) fn confirm_next(&self, peer: &PeerEntry, s: &Arc<SessionState>) {
        if peer.next.as_ref().is_some_and(|n| Arc::ptr_eq(n, s))
            && self.tables.confirm(peer.state.id, s.session.local_index)
        {
            self.pending_wake.notify_one();
        }
    }

    /// Emit `rekey` once per session when this side owns the rekey (wireguard-go's
    /// keepKeyFreshSending: the initiator after REKEY_AFTER_TIME, either side after
    /// REKEY_AFTER_MESSAGES). A responder's session lapses at REJECT_AFTER_TIME instead.
    pub(crate) fn check_rekey(&self, s: &SessionState, now: Instant) {
        if s.session.owns_rekey(now) && !s.rekey_signalled.swap(true, Ordering::Relaxed) {
            self.emit(Event::Rekey {
                peer: s.peer.id,
                local_index: s.session.local_index,
            });
        }
    }

    /// Is `ip` the broadcast address of the virtual prefix (for prefixes shorter than /31)?
    pub fn is_prefix_broadcast(&self, ip: Ipv4Addr) -> bool {
        self.virtual_prefix().is_some_and(|p| {
            let host_mask = u32::MAX.checked_shr(u32::from(p.prefix_len())).unwrap_or(0);
            p.prefix_len() < 31
                && p.contains(IpAddr::V4(ip))
                && u32::from(ip) & host_mask == host_mask
        })
    }

    /// Does the engine answer ARP for `ip`? The service address, routable addresses and the
    /// virtual prefix (except the OS interface's own address, the network and broadcast
    /// addresses).
    pub fn arp_routable(&self, ip: Ipv4Addr) -> bool {
        let own = self.address();
        if Some(ip) == own.map(|(a, _)| a) {
            return false;
        }
        if Some(ip) == self.service_addr {
            return true;
        }
        if self.tables.load().route(IpAddr::V4(ip)).is_some() {
            return true;
        }
        own.and_then(|(a, p)| IpNet::new(IpAddr::V4(a), p))
            .is_some_and(|p| {
                let host_mask = u32::MAX.checked_shr(u32::from(p.prefix_len())).unwrap_or(0);
                let host = u32::from(ip) & host_mask;
                p.contains(IpAddr::V4(ip))
                    && (p.prefix_len() >= 31 || (host != 0 && host != host_mask))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_packing() {
        for a in [
            None,
            Some((Ipv4Addr::new(10, 77, 0, 1), 24)),
            Some((Ipv4Addr::new(0, 0, 0, 0), 0)),
            Some((Ipv4Addr::new(255, 255, 255, 255), 32)),
        ] {
            assert_eq!(unpack_addr(pack_addr(a)), a);
        }
        let s = Shared::new(
            DeviceMode::Tun,
            ether::DEFAULT_VIRTUAL_MAC,
            None,
            EventQueue::new(4, Box::new(|| {})),
        );
        assert_eq!(s.virtual_prefix(), None);
        s.set_address(Some((Ipv4Addr::new(10, 77, 3, 9), 16)));
        assert_eq!(s.own_addr(), Some(Ipv4Addr::new(10, 77, 3, 9)));
        assert_eq!(
            s.virtual_prefix().map(|p| p.to_string()),
            Some("10.77.0.0/16".into())
        );
        assert!(s.is_prefix_broadcast(Ipv4Addr::new(10, 77, 255, 255)));
        assert!(!s.is_prefix_broadcast(Ipv4Addr::new(10, 77, 255, 254)));
        assert!(s.arp_routable(Ipv4Addr::new(10, 77, 0, 2)));
        s.set_address(None);
        assert!(!s.arp_routable(Ipv4Addr::new(10, 77, 0, 2)));
    }
}
