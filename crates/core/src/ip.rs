//! Owns IPv4/IPv6 header validation (version, addresses, lengths) and IP prefixes (CIDR)
//! used for forwarding and source checks. Must not rewrite packets, allocate per packet,
//! or panic on any input.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::drop::DropReason;

pub const IPV4_MIN_HEADER: usize = 20;
pub const IPV6_HEADER: usize = 40;
pub const PROTO_ICMPV6: u8 = 58;
pub const PROTO_UDP: u8 = 17;

/// What the data plane needs to know about an IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpInfo {
    pub version: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Length from the header (may be shorter than the buffer: Ethernet padding).
    pub total_len: usize,
    /// IPv4 protocol / IPv6 next header.
    pub protocol: u8,
    pub header_len: usize,
}

/// Validate an IP header. `NotIp` for other versions, `MalformedIp` for bad lengths.
pub fn parse(buf: &[u8]) -> Result<IpInfo, DropReason> {
    let Some(&b0) = buf.first() else {
        return Err(DropReason::NotIp);
    };
    match b0 >> 4 {
        4 => {
            if buf.len() < IPV4_MIN_HEADER {
                return Err(DropReason::MalformedIp);
            }
            let header_len = usize::from(b0 & 0x0f) * 4;
            let total_len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
            if header_len < IPV4_MIN_HEADER || total_len < header_len || total_len > buf.len() {
                return Err(DropReason::MalformedIp);
            }
            let src = Ipv4Addr::new(buf[12], buf[13], buf[14], buf[15]);
            let dst = Ipv4Addr::new(buf[16], buf[17], buf[18], buf[19]);
            Ok(IpInfo {
                version: 4,
                src: src.into(),
                dst: dst.into(),
                total_len,
                protocol: buf[9],
                header_len,
            })
        }
        6 => {
            if buf.len() < IPV6_HEADER {
                return Err(DropReason::MalformedIp);
            }
            let total_len = IPV6_HEADER + usize::from(u16::from_be_bytes([buf[4], buf[5]]));
            if total_len > buf.len() {
                return Err(DropReason::MalformedIp);
            }
            let mut s = [0u8; 16];
            let mut d = [0u8; 16];
            s.copy_from_slice(&buf[8..24]);
            d.copy_from_slice(&buf[24..40]);
            Ok(IpInfo {
                version: 6,
                src: Ipv6Addr::from(s).into(),
                dst: Ipv6Addr::from(d).into(),
                total_len,
                protocol: buf[6],
                header_len: IPV6_HEADER,
            })
        }
        _ => Err(DropReason::NotIp),
    }
}

/// IPv6 neighbour discovery (ICMPv6 types 133..=137 directly after the fixed header).
pub fn is_ipv6_nd(buf: &[u8], info: &IpInfo) -> bool {
    info.version == 6
        && info.protocol == PROTO_ICMPV6
        && buf
            .get(IPV6_HEADER)
            .is_some_and(|t| (133..=137).contains(t))
}

/// UDP (source, destination) ports of a parsed packet: only for UDP directly after the IP
/// header, in an unfragmented packet or the first fragment, with the 8-byte UDP header present.
pub fn udp_ports(buf: &[u8], info: &IpInfo) -> Option<(u16, u16)> {
    if info.protocol != PROTO_UDP {
        return None;
    }
    if info.version == 4 {
        let frag = buf.get(6..8)?;
        if u16::from_be_bytes([frag[0], frag[1]]) & 0x1fff != 0 {
            return None;
        }
    }
    let udp = buf
        .get(..info.total_len)?
        .get(info.header_len..)?
        .get(..8)?;
    Some((
        u16::from_be_bytes([udp[0], udp[1]]),
        u16::from_be_bytes([udp[2], udp[3]]),
    ))
}

/// An IP prefix (CIDR). Host bits are always zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// `None` if the prefix length is too long for the address family. Host bits are cleared.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<IpNet> {
        match addr {
            IpAddr::V4(a) if prefix <= 32 => Some(IpNet {
                addr: Ipv4Addr::from(u32::from(a) & mask32(prefix)).into(),
                prefix,
            }),
            IpAddr::V6(a) if prefix <= 128 => Some(IpNet {
                addr: Ipv6Addr::from(u128::from(a) & mask128(prefix)).into(),
                prefix,
            }),
            _ => None,
        }
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn prefix_len(&self) -> u8 {
        self.prefix
    }

    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => u32::from(a) & mask32(self.prefix) == u32::from(n),
            (IpAddr::V6(n), IpAddr::V6(a)) => u128::from(a) & mask128(self.prefix) == u128::from(n),
            _ => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(prefix.min(128)))
        .unwrap_or(0)
}

/// Error from parsing a CIDR string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPrefix(pub String);

impl fmt::Display for BadPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid IP prefix {:?}", self.0)
    }
}

impl std::error::Error for BadPrefix {}

impl FromStr for IpNet {
    type Err = BadPrefix;

    /// "10.0.0.0/8", "fd00::/64", or a bare address (host prefix).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadPrefix(s.to_string());
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().map_err(|_| bad())?;
        let prefix = match p {
            Some(p) => p.trim().parse::<u8>().map_err(|_| bad())?,
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        IpNet::new(addr, prefix).ok_or_else(bad)
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(src: [u8; 4], dst: [u8; 4], total: u16, buf_len: usize) -> Vec<u8> {
        let mut p = vec![0u8; buf_len];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p[9] = 17;
        p[12..16].copy_from_slice(&src);
        p[16..20].copy_from_slice(&dst);
        p
    }

    #[test]
    fn ipv4() {
        let p = v4([10, 0, 0, 1], [10, 0, 0, 2], 28, 60);
        let i = parse(&p).expect("v4");
        assert_eq!(i.version, 4);
        assert_eq!(i.src, IpAddr::from([10, 0, 0, 1]));
        assert_eq!(i.dst, IpAddr::from([10, 0, 0, 2]));
        assert_eq!((i.total_len, i.protocol, i.header_len), (28, 17, 20));
        assert_eq!(
            parse(&v4([0; 4], [0; 4], 61, 60)),
            Err(DropReason::MalformedIp)
        );
        assert_eq!(
            parse(&v4([0; 4], [0; 4], 19, 60)),
            Err(DropReason::MalformedIp)
        );
        let mut bad_ihl = v4([0; 4], [0; 4], 20, 20);
        bad_ihl[0] = 0x44;
        assert_eq!(parse(&bad_ihl), Err(DropReason::MalformedIp));
        assert_eq!(parse(&[0x45; 19]), Err(DropReason::MalformedIp));
    }

    #[test]
    fn ipv6_and_nd() {
        let mut p = vec![0u8; 48];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&8u16.to_be_bytes());
        p[6] = PROTO_ICMPV6;
        p[23] = 1;
        p[24] = 0xff;
        p[40] = 135;
        let i = parse(&p).expect("v6");
        assert_eq!(i.src, "::1".parse::<IpAddr>().expect("addr"));
        assert_eq!(i.dst, "ff00::".parse::<IpAddr>().expect("addr"));
        assert_eq!(i.total_len, 48);
        assert!(is_ipv6_nd(&p, &i));
        p[40] = 128;
        assert!(!is_ipv6_nd(&p, &i));
        p[5] = 9;
        assert_eq!(parse(&p), Err(DropReason::MalformedIp));
        assert_eq!(parse(&p[..39]), Err(DropReason::MalformedIp));
    }

    #[test]
    fn udp_port_extraction() {
        let mut p = v4([0; 4], [255; 4], 28, 28);
        p[20..24].copy_from_slice(&[0, 68, 0, 67]);
        let i = parse(&p).expect("v4");
        assert_eq!(udp_ports(&p, &i), Some((68, 67)));
        let mut frag = p.clone();
        frag[7] = 1; // non-first fragment: no UDP header here
        assert_eq!(udp_ports(&frag, &i), None);
        let short = v4([0; 4], [255; 4], 27, 28);
        assert_eq!(udp_ports(&short, &parse(&short).expect("v4")), None);
        let mut tcp = p.clone();
        tcp[9] = 6;
        assert_eq!(udp_ports(&tcp, &parse(&tcp).expect("v4")), None);
        let mut v6 = vec![0u8; 48];
        v6[0] = 0x60;
        v6[5] = 8;
        v6[6] = PROTO_UDP;
        v6[40..44].copy_from_slice(&[0x12, 0x34, 0, 53]);
        assert_eq!(udp_ports(&v6, &parse(&v6).expect("v6")), Some((0x1234, 53)));
    }

    #[test]
    fn not_ip() {
        assert_eq!(parse(&[]), Err(DropReason::NotIp));
        assert_eq!(parse(&[0x50; 40]), Err(DropReason::NotIp));
    }

    #[test]
    fn prefixes() {
        let n: IpNet = "10.77.1.9/16".parse().expect("net");
        assert_eq!(n.to_string(), "10.77.0.0/16");
        assert!(n.contains([10, 77, 200, 1].into()));
        assert!(!n.contains([10, 78, 0, 1].into()));
        assert!(!n.contains("::1".parse().expect("addr")));
        let all: IpNet = "0.0.0.0/0".parse().expect("net");
        assert!(all.contains([1, 2, 3, 4].into()));
        let host: IpNet = "10.0.0.1".parse().expect("net");
        assert_eq!(host.prefix_len(), 32);
        let v6: IpNet = "fd00:1::5/64".parse().expect("net");
        assert_eq!(v6.to_string(), "fd00:1::/64");
        assert!(v6.contains("fd00:1::ffff".parse().expect("addr")));
        assert!("::/0"
            .parse::<IpNet>()
            .expect("net")
            .contains("1::".parse().expect("addr")));
        for bad in [
            "10.0.0.0/33",
            "fd00::/129",
            "x/3",
            "10.0.0.0/",
            "10.0.0/8",
            "",
        ] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
    }
}
