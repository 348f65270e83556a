//! Owns Ethernet II headers and ARP (request parsing, proxy reply construction) for TAP mode,
//! plus MAC address helpers. Must not decide routing itself: the caller says whether an
//! address is routable. Never answers gratuitous ARP, ARP probes or a host's own address.

use std::net::Ipv4Addr;

use crate::drop::DropReason;

pub const ETH_HEADER_LEN: usize = 14;
pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
pub const ARP_LEN: usize = 28;
/// Ethernet header + ARP body.
pub const ARP_FRAME_LEN: usize = ETH_HEADER_LEN + ARP_LEN;
pub const ARP_OP_REQUEST: u16 = 1;
pub const ARP_OP_REPLY: u16 = 2;
pub const BROADCAST_MAC: Mac = [0xff; 6];
/// Locally administered, unicast: the MAC every remote address appears behind.
pub const DEFAULT_VIRTUAL_MAC: Mac = [0x02, 0x52, 0x56, 0x00, 0x00, 0x01];

pub type Mac = [u8; 6];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthHeader {
    pub dst: Mac,
    pub src: Mac,
    pub ethertype: u16,
}

/// Parse the Ethernet II header; the payload is `&buf[ETH_HEADER_LEN..]`.
pub fn parse(buf: &[u8]) -> Result<EthHeader, DropReason> {
    if buf.len() < ETH_HEADER_LEN {
        return Err(DropReason::MalformedEther);
    }
    let mut dst = [0u8; 6];
    let mut src = [0u8; 6];
    dst.copy_from_slice(&buf[0..6]);
    src.copy_from_slice(&buf[6..12]);
    Ok(EthHeader {
        dst,
        src,
        ethertype: u16::from_be_bytes([buf[12], buf[13]]),
    })
}

pub fn write_header(buf: &mut [u8; ETH_HEADER_LEN], dst: Mac, src: Mac, ethertype: u16) {
    buf[0..6].copy_from_slice(&dst);
    buf[6..12].copy_from_slice(&src);
    buf[12..14].copy_from_slice(&ethertype.to_be_bytes());
}

/// An Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arp {
    pub op: u16,
    pub sender_mac: Mac,
    pub sender_ip: Ipv4Addr,
    pub target_mac: Mac,
    pub target_ip: Ipv4Addr,
}

/// Parse an ARP body (after the Ethernet header). Only Ethernet/IPv4 ARP is accepted.
pub fn parse_arp(buf: &[u8]) -> Result<Arp, DropReason> {
    if buf.len() < ARP_LEN || buf[0..6] != [0x00, 0x01, 0x08, 0x00, 6, 4] {
        return Err(DropReason::MalformedEther);
    }
    let mac = |o: usize| -> Mac {
        [
            buf[o],
            buf[o + 1],
            buf[o + 2],
            buf[o + 3],
            buf[o + 4],
            buf[o + 5],
        ]
    };
    let ip = |o: usize| Ipv4Addr::new(buf[o], buf[o + 1], buf[o + 2], buf[o + 3]);
    Ok(Arp {
        op: u16::from_be_bytes([buf[6], buf[7]]),
        sender_mac: mac(8),
        sender_ip: ip(14),
        target_mac: mac(18),
        target_ip: ip(24),
    })
}

/// Answer `frame` (a whole Ethernet frame holding an ARP request) into `out` if it asks for an
/// address the caller says is routable. Returns `ArpIgnored` for requests we must not answer:
/// replies, gratuitous ARP (target == sender), probes (sender 0.0.0.0), unroutable targets.
pub fn answer_arp(
    frame: &[u8],
    virtual_mac: Mac,
    routable: impl FnOnce(Ipv4Addr) -> bool,
    out: &mut [u8; ARP_FRAME_LEN],
) -> Result<(), DropReason> {
    let eth = parse(frame)?;
    if eth.ethertype != ETHERTYPE_ARP {
        return Err(DropReason::NotIp);
    }
    let req = parse_arp(&frame[ETH_HEADER_LEN..])?;
    if req.op != ARP_OP_REQUEST
        || req.sender_ip.is_unspecified()
        || req.target_ip == req.sender_ip
        || req.sender_mac != eth.src
        || !routable(req.target_ip)
    {
        return Err(DropReason::ArpIgnored);
    }
    write_arp_reply(out, &req, virtual_mac);
    Ok(())
}

/// "target_ip is at virtual_mac", sent to the asker.
pub fn write_arp_reply(out: &mut [u8; ARP_FRAME_LEN], req: &Arp, virtual_mac: Mac) {
    let (eth, arp) = out.split_at_mut(ETH_HEADER_LEN);
    if let Ok(eth) = <&mut [u8; ETH_HEADER_LEN]>::try_from(eth) {
        write_header(eth, req.sender_mac, virtual_mac, ETHERTYPE_ARP);
    }
    arp[0..6].copy_from_slice(&[0x00, 0x01, 0x08, 0x00, 6, 4]);
    arp[6..8].copy_from_slice(&ARP_OP_REPLY.to_be_bytes());
    arp[8..14].copy_from_slice(&virtual_mac);
    arp[14..18].copy_from_slice(&req.target_ip.octets());
    arp[18..24].copy_from_slice(&req.sender_mac);
    arp[24..28].copy_from_slice(&req.sender_ip.octets());
}

/// Parse "02:52:56:00:00:01" (or with '-').
pub fn parse_mac(s: &str) -> Option<Mac> {
    let mut mac = [0u8; 6];
    let mut parts = s.split([':', '-']);
    for b in mac.iter_mut() {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

pub fn format_mac(m: &Mac) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// Unicast (not group) MAC that is not all zeros.
pub fn is_unicast(m: &Mac) -> bool {
    m[0] & 1 == 0 && *m != [0; 6]
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASKER: Mac = [0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc];

    fn request(sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&ASKER);
        f.extend_from_slice(&[0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01]);
        f.extend_from_slice(&ASKER);
        f.extend_from_slice(&sender);
        f.extend_from_slice(&[0; 6]);
        f.extend_from_slice(&target);
        f.extend_from_slice(&[0; 18]); // Ethernet padding
        f
    }

    #[test]
    fn arp_reply_fields() {
        let f = request([10, 77, 0, 1], [10, 77, 0, 9]);
        let mut out = [0u8; ARP_FRAME_LEN];
        let vm = DEFAULT_VIRTUAL_MAC;
        answer_arp(&f, vm, |ip| ip == Ipv4Addr::new(10, 77, 0, 9), &mut out).expect("answered");
        assert_eq!(&out[0..6], &ASKER, "eth dst = asker");
        assert_eq!(&out[6..12], &vm, "eth src = virtual mac");
        assert_eq!(&out[12..14], &[0x08, 0x06], "ethertype ARP");
        assert_eq!(&out[14..16], &[0, 1], "htype ethernet");
        assert_eq!(&out[16..18], &[8, 0], "ptype ipv4");
        assert_eq!((out[18], out[19]), (6, 4), "hlen, plen");
        assert_eq!(&out[20..22], &[0, 2], "op reply");
        assert_eq!(&out[22..28], &vm, "sender mac");
        assert_eq!(&out[28..32], &[10, 77, 0, 9], "sender ip = asked address");
        assert_eq!(&out[32..38], &ASKER, "target mac");
        assert_eq!(&out[38..42], &[10, 77, 0, 1], "target ip = asker");
        let reply = parse_arp(&out[14..]).expect("parse reply");
        assert_eq!(reply.op, ARP_OP_REPLY);
    }

    #[test]
    fn arp_not_answered() {
        let mut out = [0u8; ARP_FRAME_LEN];
        let yes = |_| true;
        let gratuitous = request([10, 77, 0, 1], [10, 77, 0, 1]);
        assert_eq!(
            answer_arp(&gratuitous, DEFAULT_VIRTUAL_MAC, yes, &mut out),
            Err(DropReason::ArpIgnored)
        );
        let probe = request([0, 0, 0, 0], [10, 77, 0, 5]);
        assert_eq!(
            answer_arp(&probe, DEFAULT_VIRTUAL_MAC, yes, &mut out),
            Err(DropReason::ArpIgnored)
        );
        let unroutable = request([10, 77, 0, 1], [10, 77, 0, 5]);
        assert_eq!(
            answer_arp(&unroutable, DEFAULT_VIRTUAL_MAC, |_| false, &mut out),
            Err(DropReason::ArpIgnored)
        );
        let mut reply = request([10, 77, 0, 1], [10, 77, 0, 5]);
        reply[21] = 2;
        assert_eq!(
            answer_arp(&reply, DEFAULT_VIRTUAL_MAC, yes, &mut out),
            Err(DropReason::ArpIgnored)
        );
        let mut bad = request([10, 77, 0, 1], [10, 77, 0, 5]);
        bad[18] = 8;
        assert_eq!(
            answer_arp(&bad, DEFAULT_VIRTUAL_MAC, yes, &mut out),
            Err(DropReason::MalformedEther)
        );
        assert_eq!(
            answer_arp(&bad[..20], DEFAULT_VIRTUAL_MAC, yes, &mut out),
            Err(DropReason::MalformedEther)
        );
        assert_eq!(
            answer_arp(&[0u8; 10], DEFAULT_VIRTUAL_MAC, yes, &mut out),
            Err(DropReason::MalformedEther)
        );
    }

    #[test]
    fn header_round_trip() {
        let mut h = [0u8; ETH_HEADER_LEN];
        write_header(&mut h, ASKER, DEFAULT_VIRTUAL_MAC, ETHERTYPE_IPV6);
        let e = parse(&h).expect("eth");
        assert_eq!(
            (e.dst, e.src, e.ethertype),
            (ASKER, DEFAULT_VIRTUAL_MAC, ETHERTYPE_IPV6)
        );
    }

    #[test]
    fn macs() {
        assert_eq!(parse_mac("02:52:56:00:00:01"), Some(DEFAULT_VIRTUAL_MAC));
        assert_eq!(
            parse_mac("02-52-56-00-00-0A"),
            Some([2, 0x52, 0x56, 0, 0, 10])
        );
        for bad in [
            "02:52:56:00:00",
            "02:52:56:00:00:01:02",
            "2:52:56:00:00:01",
            "zz:52:56:00:00:01",
            "",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
        assert_eq!(format_mac(&DEFAULT_VIRTUAL_MAC), "02:52:56:00:00:01");
        assert!(is_unicast(&DEFAULT_VIRTUAL_MAC));
        assert!(!is_unicast(&BROADCAST_MAC));
        assert!(!is_unicast(&[0; 6]));
    }
}
