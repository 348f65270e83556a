//! Owns the OS routes the engine installs through its device for prefixes it carries (a static mesh's
//! peers' `allowedIps`, subnets routers announce in the overlay): RTM_NEWROUTE / RTM_DELROUTE over a
//! NETLINK_ROUTE socket, tagged with our own protocol number so they are recognisable and never
//! confused with routes someone else made. It must not touch a route it did not add, and never
//! shells out. The kernel drops them with the device (on close, or when a killed process's TUN/TAP
//! goes away), so nothing outlives the engine.
//!
//! ```text
//!  nlmsghdr (16)           rtmsg (12)                                  attributes (4-byte aligned)
//! +----+----+----+---+---++----+----+---+---+-----+-----+----+----++-----------+---------+--------+
//! |len |type|flag|seq|pid||fam |dlen|sl |tos|table|proto|scope|type|| RTA_DST   | RTA_OIF | RTA_GW |
//! +----+----+----+---+---++----+----+---+---+-----+-----+----+----+|  flags u32 ...       (TAP)  |
//! ```

use std::collections::HashSet;
use std::io;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use ringvpn_core::ip::IpNet;

/// `rtm_protocol` of our routes (`ip route` shows `proto 82`): not a kernel, boot, static or DHCP route.
pub const RTPROT_RINGVPN: u8 = 82;

const NLMSG_HDR: usize = 16;
const RTMSG_LEN: usize = 12;
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RT_TABLE_MAIN: u8 = 254;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_LINK: u8 = 253;
const RTN_UNICAST: u8 = 1;
/// rtm_flags: the gateway is on the link even if no address of the device covers it (TAP before DHCP).
const RTNH_F_ONLINK: u32 = 4;

/// One route through the device: `dst` (IPv4), via `gateway` when the device is Ethernet (TAP: the
/// service address, whose ARP the engine answers), else on-link (TUN).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeviceRoute {
    pub dst: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
}

impl DeviceRoute {
    /// IPv4 only (the virtual network is IPv4); IpNet has its host bits cleared already.
    pub fn new(net: IpNet, gateway: Option<Ipv4Addr>) -> Option<DeviceRoute> {
        match net.addr() {
            IpAddr::V4(dst) => Some(DeviceRoute {
                dst,
                prefix: net.prefix_len(),
                gateway,
            }),
            IpAddr::V6(_) => None,
        }
    }
}

/// The request bytes for adding or deleting `r` on interface `ifindex` (pure; tested). Adding is
/// exclusive: a route the host already has for that prefix (its LAN, another tool's) fails EEXIST and
/// stays as it is.
pub fn route_message(add: bool, ifindex: u32, r: &DeviceRoute, seq: u32) -> Vec<u8> {
    let mut b = vec![0u8; NLMSG_HDR + RTMSG_LEN];
    let ty = if add { RTM_NEWROUTE } else { RTM_DELROUTE };
    let flags = NLM_F_REQUEST | NLM_F_ACK | if add { NLM_F_CREATE | NLM_F_EXCL } else { 0 };
    b[4..6].copy_from_slice(&ty.to_ne_bytes());
    b[6..8].copy_from_slice(&flags.to_ne_bytes());
    b[8..12].copy_from_slice(&seq.to_ne_bytes());
    let m = NLMSG_HDR;
    b[m] = libc::AF_INET as u8;
    b[m + 1] = r.prefix;
    b[m + 4] = RT_TABLE_MAIN;
    b[m + 5] = RTPROT_RINGVPN;
    b[m + 6] = if r.gateway.is_some() {
        RT_SCOPE_UNIVERSE
    } else {
        RT_SCOPE_LINK
    };
    b[m + 7] = RTN_UNICAST;
    if r.gateway.is_some() {
        b[m + 8..m + 12].copy_from_slice(&RTNH_F_ONLINK.to_ne_bytes());
    }
    attr(&mut b, RTA_DST, &r.dst.octets());
    attr(&mut b, RTA_OIF, &ifindex.to_ne_bytes());
    if let Some(g) = r.gateway {
        attr(&mut b, RTA_GATEWAY, &g.octets());
    }
    let len = b.len() as u32;
    b[0..4].copy_from_slice(&len.to_ne_bytes());
    b
}

fn attr(b: &mut Vec<u8>, ty: u16, data: &[u8]) {
    let len = 4 + data.len();
    b.extend_from_slice(&(len as u16).to_ne_bytes());
    b.extend_from_slice(&ty.to_ne_bytes());
    b.extend_from_slice(data);
    while b.len() % 4 != 0 {
        b.push(0);
    }
}

/// The errno of the ACK for `seq` in `reply` (0: done), or None if the reply holds no such ACK.
pub fn ack_errno(reply: &[u8], seq: u32) -> Option<i32> {
    let mut off = 0;
    while off + NLMSG_HDR <= reply.len() {
        let len = u32::from_ne_bytes(reply[off..off + 4].try_into().ok()?) as usize;
        if len < NLMSG_HDR || off + len > reply.len() {
            return None;
        }
        let ty = u16::from_ne_bytes(reply[off + 4..off + 6].try_into().ok()?);
        let s = u32::from_ne_bytes(reply[off + 8..off + 12].try_into().ok()?);
        if ty == NLMSG_ERROR && s == seq && len >= NLMSG_HDR + 4 {
            return Some(-i32::from_ne_bytes(
                reply[off + NLMSG_HDR..off + NLMSG_HDR + 4]
                    .try_into()
                    .ok()?,
            ));
        }
        off += (len + 3) & !3;
    }
    None
}

/// A NETLINK_ROUTE socket for route changes.
pub struct RouteSocket {
    fd: OwnedFd,
    seq: u32,
}

impl RouteSocket {
    pub fn open() -> io::Result<RouteSocket> {
        // SAFETY: plain socket(2) call; the fd is owned below.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let tv = libc::timeval {
            tv_sec: 2,
            tv_usec: 0,
        };
        // SAFETY: valid fd and option value.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                size_of::<libc::timeval>() as libc::socklen_t,
            );
        }
        Ok(RouteSocket { fd, seq: 1 })
    }

    /// Add or delete one route; an error names the kernel's reason (EEXIST: the host has one already).
    pub fn change(&mut self, add: bool, ifindex: u32, r: &DeviceRoute) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let msg = route_message(add, ifindex, r, self.seq);
        // SAFETY: sending our own buffer on our fd (the kernel is the default destination).
        let n = unsafe { libc::send(self.fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: receiving into our buffer.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            match ack_errno(&buf[..n as usize], self.seq) {
                Some(0) => return Ok(()),
                Some(e) => return Err(io::Error::from_raw_os_error(e)),
                None => continue,
            }
        }
    }
}

/// The routes one device holds that we added, and the socket that made them.
#[derive(Default)]
pub struct RouteSet {
    sock: Option<RouteSocket>,
    have: HashSet<DeviceRoute>,
}

impl RouteSet {
    /// Make ours exactly `want` on `ifindex`: remove ours no longer wanted, add (or restore) the rest; a
    /// prefix someone else routes (EEXIST, not ours) is left alone. Returns (added, removed, skipped).
    pub fn sync(
        &mut self,
        ifindex: u32,
        want: HashSet<DeviceRoute>,
    ) -> io::Result<(usize, usize, usize)> {
        if self.sock.is_none() {
            self.sock = Some(RouteSocket::open()?);
        }
        let sock = self.sock.as_mut().expect("opened above");
        let (mut added, mut removed, mut skipped) = (0, 0, 0);
        for r in self
            .have
            .iter()
            .filter(|r| !want.contains(r))
            .copied()
            .collect::<Vec<_>>()
        {
            match sock.change(false, ifindex, &r) {
                Ok(()) => removed += 1,
                // already gone (the device lost its address, someone deleted it): forget it too
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                Err(e) => return Err(e),
            }
            self.have.remove(&r);
        }
        for r in want {
            match sock.change(true, ifindex, &r) {
                Ok(()) => {
                    self.have.insert(r);
                    added += 1;
                }
                // ours and still there: nothing to do; someone else's: left alone
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                    if !self.have.contains(&r) {
                        skipped += 1;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok((added, removed, skipped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_bytes_for_a_tun_and_a_tap_route() {
        let r = DeviceRoute::new("192.168.20.7/24".parse().unwrap(), None).unwrap();
        assert_eq!(
            r.dst,
            Ipv4Addr::new(192, 168, 20, 0),
            "the host bits are cleared"
        );
        let m = route_message(true, 7, &r, 9);
        assert_eq!(m.len(), 16 + 12 + 8 + 8);
        assert_eq!(
            u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize,
            m.len()
        );
        assert_eq!(
            u16::from_ne_bytes(m[4..6].try_into().unwrap()),
            RTM_NEWROUTE
        );
        assert_eq!(
            u16::from_ne_bytes(m[6..8].try_into().unwrap()),
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
        );
        assert_eq!(
            &m[16..28],
            &[
                2,
                24,
                0,
                0,
                RT_TABLE_MAIN,
                RTPROT_RINGVPN,
                RT_SCOPE_LINK,
                RTN_UNICAST,
                0,
                0,
                0,
                0
            ]
        );
        assert_eq!(&m[28..36], &[8, 0, 1, 0, 192, 168, 20, 0], "RTA_DST");
        assert_eq!(&m[36..44], &[8, 0, 4, 0, 7, 0, 0, 0], "RTA_OIF");
        let tap = DeviceRoute::new(
            "10.1.0.0/16".parse().unwrap(),
            Some(Ipv4Addr::new(10, 128, 0, 1)),
        )
        .unwrap();
        let d = route_message(false, 3, &tap, 10);
        assert_eq!(
            u16::from_ne_bytes(d[4..6].try_into().unwrap()),
            RTM_DELROUTE
        );
        assert_eq!(
            u16::from_ne_bytes(d[6..8].try_into().unwrap()),
            NLM_F_REQUEST | NLM_F_ACK
        );
        assert_eq!(d[22], RT_SCOPE_UNIVERSE, "a route via a gateway");
        assert_eq!(
            &d[24..28],
            &RTNH_F_ONLINK.to_ne_bytes(),
            "on-link: it need not wait for the device's address"
        );
        assert_eq!(&d[44..52], &[8, 0, 5, 0, 10, 128, 0, 1], "RTA_GATEWAY");
        assert!(DeviceRoute::new("::1/128".parse().unwrap(), None).is_none());
    }

    #[test]
    fn acks_are_found_by_sequence_number() {
        let ack = |seq: u32, err: i32| {
            let mut b = vec![0u8; 36];
            b[0..4].copy_from_slice(&36u32.to_ne_bytes());
            b[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
            b[8..12].copy_from_slice(&seq.to_ne_bytes());
            b[16..20].copy_from_slice(&err.to_ne_bytes());
            b
        };
        let mut two = ack(4, -17);
        two.extend(ack(5, 0));
        assert_eq!(ack_errno(&two, 4), Some(17));
        assert_eq!(ack_errno(&two, 5), Some(0));
        assert_eq!(ack_errno(&two, 6), None);
        assert_eq!(
            ack_errno(&two[..20], 5),
            None,
            "a cut reply is not an answer"
        );
        assert_eq!(ack_errno(&[], 1), None);
    }
}
