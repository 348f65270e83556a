//! Owns the engine configuration and its validation (interface name, MTU, addresses, MAC).
//! Must not open devices or sockets.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ringvpn_core::ether::{self, Mac, DEFAULT_VIRTUAL_MAC};
use ringvpn_core::ip::IpNet;
use ringvpn_core::relay_frame::NodeId;

use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceMode {
    /// Layer 2: Ethernet frames; the engine answers ARP and adds/strips Ethernet headers.
    Tap,
    /// Layer 3: raw IP packets.
    Tun,
}

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub mode: DeviceMode,
    pub ifname: String,
    pub mtu: u32,
    pub listen: SocketAddr,
    /// Device address and prefix length (e.g. 10.77.0.1/24).
    pub address: Option<(Ipv4Addr, u8)>,
    pub virtual_mac: Mac,
    /// Bounded event queue towards TypeScript.
    pub event_capacity: usize,
    /// Hot-path threads: 1 (both directions on one thread, lowest request/response latency)
    /// or 2 (one per direction).
    pub threads: u8,
    /// This node's overlay id; relaying is disabled without it.
    pub node_id: Option<NodeId>,
    /// DNS queries (UDP port 53) to this address are handed to the control plane; other
    /// packets to it are dropped (`service_unhandled`); the ARP proxy answers for it.
    pub service_address: Option<Ipv4Addr>,
    /// Hand DHCP requests (IPv4 UDP to port 67) to the control plane.
    pub intercept_dhcp: bool,
    /// As a relay for others' relay links: node-id pairs carried at once (relay_limit.rs).
    pub relay_max_sessions: u32,
    /// As a relay: bytes per second per pair; 0: no rate limit.
    pub relay_rate_bytes: u64,
    /// Offloads: device virtio-net headers with checksum and TCP segmentation offload (the
    /// kernel hands over 64 KB TCP super-packets, split in offload.rs; received TCP segments
    /// are merged into large writes) and UDP GSO sends. Off: one packet per read, write and send.
    pub offload: bool,
    /// Destinations a member's packet may have to be written to the device (overlay mode: the
    /// virtual subnet, the subnets this node routes, broadcast and multicast); others are
    /// dropped `dst_not_allowed`. None: any (a static mesh routes as configured, like WireGuard).
    pub destinations: Option<Vec<IpNet>>,
    /// Firewall mark on every datagram of the engine's socket (SO_MARK): a full tunnel's policy
    /// routing sends unmarked traffic into the tunnel and marked traffic (ours) by the main table.
    pub fwmark: Option<u32>,
}

pub const DEFAULT_MTU: u32 = 1420;
pub const DEFAULT_EVENT_CAPACITY: usize = 4096;
pub const DEFAULT_THREADS: u8 = 1;
pub const IFNAMSIZ: usize = 16;

impl EngineConfig {
    pub fn new(mode: DeviceMode, ifname: &str, listen: SocketAddr) -> Self {
        EngineConfig {
            mode,
            ifname: ifname.to_string(),
            mtu: DEFAULT_MTU,
            listen,
            address: None,
            virtual_mac: DEFAULT_VIRTUAL_MAC,
            event_capacity: DEFAULT_EVENT_CAPACITY,
            threads: DEFAULT_THREADS,
            node_id: None,
            service_address: None,
            destinations: None,
            fwmark: None,
            intercept_dhcp: false,
            relay_max_sessions: crate::relay_limit::DEFAULT_RELAY_MAX_SESSIONS,
            relay_rate_bytes: 0,
            offload: true,
        }
    }

    pub fn validate(&self) -> Result<(), Error> {
        let n = self.ifname.as_bytes();
        if n.is_empty()
            || n.len() >= IFNAMSIZ
            || n.iter()
                .any(|&b| b == b'/' || b == 0 || b.is_ascii_whitespace())
        {
            return Err(Error::Config(format!(
                "interface name {:?} must be 1..15 bytes without '/' or spaces",
                self.ifname
            )));
        }
        if !(576..=65_000).contains(&self.mtu) {
            return Err(Error::Config(format!(
                "mtu {} out of range 576..65000",
                self.mtu
            )));
        }
        if !ether::is_unicast(&self.virtual_mac) {
            return Err(Error::Config(
                "virtual MAC must be unicast and non-zero".into(),
            ));
        }
        if let Some((_, p)) = self.address {
            if p > 32 {
                return Err(Error::Config(format!("prefix length {p} > 32")));
            }
        }
        if self.event_capacity == 0 {
            return Err(Error::Config("event capacity must be > 0".into()));
        }
        if let Some(a) = self.service_address {
            if a.is_unspecified() || a.is_multicast() || a.is_broadcast() {
                return Err(Error::Config(format!(
                    "service address {a} must be a unicast IPv4 address"
                )));
            }
        }
        if !(1..=2).contains(&self.threads) {
            return Err(Error::Config(format!(
                "threads {} must be 1 or 2",
                self.threads
            )));
        }
        if self.relay_max_sessions > crate::relay_limit::RELAY_MAX_SESSIONS_LIMIT {
            return Err(Error::Config(format!(
                "relay max sessions {} above {}",
                self.relay_max_sessions,
                crate::relay_limit::RELAY_MAX_SESSIONS_LIMIT
            )));
        }
        Ok(())
    }

    /// The configured virtual network (address with host bits cleared).
    pub fn virtual_prefix(&self) -> Option<IpNet> {
        self.address.and_then(|(a, p)| IpNet::new(IpAddr::V4(a), p))
    }
}

/// Parse "10.77.0.1/24" keeping the host part.
pub fn parse_address(s: &str) -> Result<(Ipv4Addr, u8), Error> {
    let bad = || Error::Addr(format!("expected IPv4 CIDR like 10.77.0.1/24, got {s:?}"));
    let (a, p) = s.split_once('/').ok_or_else(bad)?;
    let addr: Ipv4Addr = a.trim().parse().map_err(|_| bad())?;
    let prefix: u8 = p.trim().parse().map_err(|_| bad())?;
    if prefix > 32 {
        return Err(bad());
    }
    Ok((addr, prefix))
}

pub fn parse_mac(s: &str) -> Result<Mac, Error> {
    ether::parse_mac(s).ok_or_else(|| Error::Config(format!("bad MAC address {s:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        let mut c = EngineConfig::new(DeviceMode::Tap, "rv0", "127.0.0.1:0".parse().expect("addr"));
        assert!(c.validate().is_ok());
        c.ifname = "a-very-long-interface".into();
        assert_eq!(c.validate().map_err(|e| e.code()), Err("E_CONFIG"));
        c.ifname = "rv0".into();
        c.mtu = 100;
        assert!(c.validate().is_err());
        c.mtu = 1420;
        c.virtual_mac = [1, 0, 0, 0, 0, 0];
        assert!(c.validate().is_err());
        assert_eq!(
            parse_address("10.77.0.1/24").ok(),
            Some((Ipv4Addr::new(10, 77, 0, 1), 24))
        );
        assert!(parse_address("10.77.0.1").is_err());
        assert!(parse_address("10.77.0.1/40").is_err());
        c.virtual_mac = DEFAULT_VIRTUAL_MAC;
        c.service_address = Some(Ipv4Addr::BROADCAST);
        assert!(c.validate().is_err());
        c.service_address = Some(Ipv4Addr::new(10, 77, 255, 53));
        assert!(c.validate().is_ok());
        c.address = Some((Ipv4Addr::new(10, 77, 0, 1), 24));
        assert_eq!(
            c.virtual_prefix().map(|p| p.to_string()),
            Some("10.77.0.0/24".into())
        );
    }
}
