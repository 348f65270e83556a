//! Owns the device-side branches that end at the control plane instead of a peer: DHCP
//! requests and DNS queries to the service address (the frame goes up as a `device` event),
//! and route misses (a rate-limited `miss` event). Must not answer anything itself (TS builds
//! replies and writes them with `write_device`) nor let any other packet reach JavaScript.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::Instant;

use ringvpn_core::ip::{self, IpInfo};
use ringvpn_core::DropReason;

use crate::events::Event;
use crate::pipeline::TxAction;
use crate::shared::Shared;

pub const DHCP_SERVER_PORT: u16 = 67;
pub const DNS_PORT: u16 = 53;

impl Shared {
    /// Decide whether a parsed outbound packet goes to the control plane. `frame` is the whole
    /// device read (TAP: Ethernet frame; TUN: IP packet), `packet` the IP packet in it.
    /// `None`: not a service packet, route it.
    pub(crate) fn intercept(&self, frame: &[u8], packet: &[u8], info: &IpInfo) -> Option<TxAction> {
        let IpAddr::V4(dst) = info.dst else {
            return None;
        };
        if !self.intercept_dhcp && self.service_addr.is_none() {
            return None;
        }
        let udp_dst = ip::udp_ports(packet, info).map(|(_, d)| d);
        if self.intercept_dhcp && udp_dst == Some(DHCP_SERVER_PORT) {
            return Some(self.to_control_plane(frame));
        }
        if Some(dst) == self.service_addr {
            return Some(if udp_dst == Some(DNS_PORT) {
                self.to_control_plane(frame)
            } else {
                TxAction::Drop(DropReason::ServiceUnhandled)
            });
        }
        None
    }

    fn to_control_plane(&self, frame: &[u8]) -> TxAction {
        self.counters
            .device_intercepted
            .fetch_add(1, Ordering::Relaxed);
        self.emit(Event::Device {
            data: frame.to_vec(),
        });
        TxAction::Consumed
    }

    /// No route for `dst`: tell the control plane (unicast destinations only, at most once per
    /// EVENT_INTERVAL_MS per destination) so it can resolve the address and install a route.
    pub(crate) fn miss(&self, dst: IpAddr, now: Instant) {
        if !self.is_unicast(dst) {
            return;
        }
        let allowed = self
            .misses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .allow(&dst, self.now_ms(now));
        if allowed {
            self.emit(Event::Miss { dst });
        }
    }

    /// A destination a route miss is reported for and a packet may be held for: not
    /// multicast, broadcast (global or of the virtual prefix) or unspecified.
    pub(crate) fn is_unicast(&self, dst: IpAddr) -> bool {
        match dst {
            IpAddr::V4(a) => {
                !(a.is_multicast()
                    || a.is_broadcast()
                    || a.is_unspecified()
                    || self.is_prefix_broadcast(a))
            }
            IpAddr::V6(a) => !(a.is_multicast() || a.is_unspecified()),
        }
    }
}

#[cfg(test)]
#[path = "intercept_tests.rs"]
mod tests;
