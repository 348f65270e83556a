//! Tests of segment.rs: splits verified field by field, with checksums checked by a separate,
//! byte-at-a-time reference (not vnet::sum), at MSS boundaries, in TUN and TAP layouts.

use super::*;
use crate::vnet::{F_NEEDS_CSUM, GSO_TCPV4, GSO_TCPV6, GSO_UDP_L4};

/// Reference one's-complement sum, two bytes at a time into a u32.
fn ref_sum(parts: &[&[u8]]) -> u16 {
    let mut bytes = Vec::new();
    for p in parts {
        bytes.extend_from_slice(p);
    }
    let mut s: u32 = 0;
    for c in bytes.chunks(2) {
        s += (u32::from(c[0]) << 8) | u32::from(*c.get(1).unwrap_or(&0));
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// An L4 checksum is right when the sum over pseudo-header and segment is 0xffff.
fn l4_ok(ip: &[u8], proto: u8) -> bool {
    let (src_dst, l4) = if ip[0] >> 4 == 4 {
        let hl = usize::from(ip[0] & 15) * 4;
        (
            &ip[12..20],
            &ip[hl..usize::from(u16::from_be_bytes([ip[2], ip[3]]))],
        )
    } else {
        (
            &ip[8..40],
            &ip[40..40 + usize::from(u16::from_be_bytes([ip[4], ip[5]]))],
        )
    };
    let len = (l4.len() as u32).to_be_bytes();
    ref_sum(&[src_dst, &[0, proto], &len[2..], l4]) == 0xffff
}

fn ipv4(proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut p = vec![
        0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    let total = (p.len() + l4.len()) as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p.extend_from_slice(l4);
    p
}

fn ipv6(proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    p.extend_from_slice(&[proto, 64]);
    p.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    p.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    p.extend_from_slice(l4);
    p
}

/// TCP header with a 12-byte option block (NOP NOP timestamp), flags as given, then the payload.
fn tcp(flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = vec![
        0x1f, 0x90, 0xc3, 0x50, 0xff, 0xff, 0xff, 0x00, 0, 0, 0, 9, 0x80, flags, 0x01, 0xf5, 0xab,
        0xcd, 0, 0,
    ];
    t.extend_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
    t.extend_from_slice(payload);
    t
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 + 7) as u8).collect()
}

fn hdr(gso_type: u8, mss: u16, csum_start: u16, csum_offset: u16) -> VnetHdr {
    VnetHdr {
        flags: F_NEEDS_CSUM,
        gso_type,
        hdr_len: 0,
        gso_size: mss,
        csum_start,
        csum_offset,
    }
}

fn split(pkt: &[u8], h: &VnetHdr, l3: usize) -> Vec<Vec<u8>> {
    let s = Segments::new(pkt, h, l3).expect("valid GSO packet");
    (0..s.len())
        .map(|i| {
            let mut out = vec![0u8; 70_000];
            let n = s.write(i, &mut out).expect("segment fits");
            assert_eq!(n, s.segment_len(i));
            out.truncate(n);
            out
        })
        .collect()
}

#[test]
fn tcp_v4_with_options_splits_into_mss_segments() {
    let data = payload(2500);
    let pkt = ipv4(6, &tcp(0x80 | 0x18 | 0x01, &data)); // CWR, PSH|ACK, FIN
    let segs = split(&pkt, &hdr(GSO_TCPV4, 1000, 20, 16), 0);
    assert_eq!(segs.len(), 3);
    let mut joined = Vec::new();
    for (i, s) in segs.iter().enumerate() {
        let want = if i < 2 { 1000 } else { 500 };
        assert_eq!(s.len(), 20 + 32 + want);
        assert_eq!(
            u16::from_be_bytes([s[2], s[3]]) as usize,
            s.len(),
            "IPv4 total length"
        );
        assert_eq!(
            u16::from_be_bytes([s[4], s[5]]),
            0x1234 + i as u16,
            "IPv4 id increments"
        );
        assert_eq!(ref_sum(&[&s[..20]]), 0xffff, "IPv4 header checksum");
        let seq = u32::from_be_bytes([s[24], s[25], s[26], s[27]]);
        assert_eq!(
            seq,
            0xffff_ff00u32.wrapping_add(1000 * i as u32),
            "sequence wraps"
        );
        let flags = s[33];
        assert_eq!(flags & 0x80 != 0, i == 0, "CWR only on the first");
        assert_eq!(flags & 0x09 != 0, i == 2, "PSH and FIN only on the last");
        assert_eq!(flags & 0x10, 0x10, "ACK on every segment");
        assert_eq!(&s[40..52], &pkt[40..52], "options copied");
        assert!(l4_ok(s, 6), "TCP checksum of segment {i}");
        joined.extend_from_slice(&s[52..]);
    }
    assert_eq!(joined, data);
}

#[test]
fn tcp_v6_and_mss_boundaries() {
    for (n, want) in [
        (0usize, 1usize),
        (1, 1),
        (1199, 1),
        (1200, 1),
        (1201, 2),
        (2400, 2),
        (2401, 3),
    ] {
        let data = payload(n);
        let pkt = ipv6(6, &tcp(0x18, &data));
        let segs = split(&pkt, &hdr(GSO_TCPV6, 1200, 40, 16), 0);
        assert_eq!(segs.len(), want, "{n} bytes");
        let mut joined = Vec::new();
        for s in &segs {
            assert_eq!(
                40 + usize::from(u16::from_be_bytes([s[4], s[5]])),
                s.len(),
                "IPv6 payload length"
            );
            assert!(l4_ok(s, 6));
            joined.extend_from_slice(&s[72..]);
        }
        assert_eq!(joined, data);
        assert_eq!(
            segs.last().unwrap()[53] & 0x08,
            0x08,
            "PSH stays on the last"
        );
    }
}

#[test]
fn udp_l4_segments_carry_their_own_length_and_checksum() {
    let data = payload(3000);
    let mut u = vec![0x30, 0x39, 0x13, 0x88, 0, 0, 0, 0];
    u[4..6].copy_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    u.extend_from_slice(&data);
    for (pkt, l3) in [(ipv4(17, &u), 20usize), (ipv6(17, &u), 40)] {
        let segs = split(&pkt, &hdr(GSO_UDP_L4, 1400, l3 as u16, 6), 0);
        assert_eq!(segs.len(), 3);
        for (i, s) in segs.iter().enumerate() {
            let want = if i < 2 { 1400 } else { 200 };
            assert_eq!(
                usize::from(u16::from_be_bytes([s[l3 + 4], s[l3 + 5]])),
                8 + want
            );
            assert!(l4_ok(s, 17));
            assert_ne!(&s[l3 + 6..l3 + 8], &[0, 0]);
        }
    }
}

#[test]
fn tap_layout_keeps_the_ethernet_header() {
    let data = payload(3000);
    let mut frame = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    frame.extend_from_slice(&ipv4(6, &tcp(0x10, &data)));
    let segs = split(&frame, &hdr(GSO_TCPV4, 1448, 34, 16), 14);
    assert_eq!(segs.len(), 3);
    for s in &segs {
        assert_eq!(&s[..14], &frame[..14]);
        assert_eq!(ref_sum(&[&s[14..34]]), 0xffff);
        assert!(l4_ok(&s[14..], 6));
    }
}

#[test]
fn hostile_offsets_and_types_are_refused() {
    let pkt = ipv4(6, &tcp(0x10, &payload(100)));
    let bad = Err(DropReason::VnetHeader);
    let e = |p: &[u8], h: VnetHdr, l3: usize| Segments::new(p, &h, l3).map(|s| s.len());
    let with = |at: usize, v: u8, len: usize| {
        let mut p = pkt[..len].to_vec();
        p[at] = v;
        p
    };
    let tcp4 = hdr(GSO_TCPV4, 50, 20, 16);
    let cases: [(Vec<u8>, VnetHdr, usize, &str); 9] = [
        (
            pkt.clone(),
            hdr(GSO_TCPV4, 50, 21, 16),
            0,
            "csum_start not at the TCP header",
        ),
        (
            pkt.clone(),
            hdr(GSO_TCPV4, 50, 20, 6),
            0,
            "csum_offset not TCP's",
        ),
        (
            pkt.clone(),
            hdr(GSO_TCPV6, 50, 20, 16),
            0,
            "TCPv6 GSO on an IPv4 packet",
        ),
        (pkt.clone(), hdr(GSO_UDP_L4, 50, 20, 6), 0, "USO on TCP"),
        (pkt[..30].to_vec(), tcp4, 0, "truncated TCP header"),
        (pkt.clone(), tcp4, 200, "l3 past the end"),
        (
            with(32, 0x40, pkt.len()),
            tcp4,
            0,
            "data offset under 5 words",
        ),
        (with(32, 0xf0, 60), tcp4, 0, "options past the end"),
        (
            with(0, 0x44, pkt.len()),
            hdr(GSO_TCPV4, 50, 16, 16),
            0,
            "IHL under 5 words",
        ),
    ];
    for (p, h, l3, why) in &cases {
        assert_eq!(e(p, *h, *l3), bad, "{why}");
    }
    assert_eq!(e(&pkt, hdr(3, 50, 20, 16), 0), Err(DropReason::VnetGsoType));
    let s = Segments::new(&pkt, &hdr(GSO_TCPV4, 50, 20, 16), 0).unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s.write(2, &mut [0u8; 200]), None, "index out of range");
    assert_eq!(s.write(0, &mut [0u8; 60]), None, "output too small");
}
