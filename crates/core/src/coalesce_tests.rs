//! Tests of coalesce.rs: segments made by segment.rs merge back into the packet they came from
//! (and that packet splits into the same segments again); every rule that ends or refuses a run.

use super::*;
use crate::segment::Segments;
use crate::vnet::VnetHdr;

fn ipv4_tcp(seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![
        0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    p.extend_from_slice(&[0x1f, 0x90, 0xc3, 0x50]);
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 9, 0x80, flags, 0x01, 0xf5, 0, 0, 0, 0]);
    p.extend_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
    p.extend_from_slice(payload);
    let total = p.len() as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    fix(&mut p, 0);
    p
}

fn ipv6_tcp(seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0, 0, 0, 6, 64];
    p.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    p.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    p.extend_from_slice(&[0x1f, 0x90, 0xc3, 0x50]);
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 9, 0x50, flags, 0x01, 0xf5, 0, 0, 0, 0]);
    p.extend_from_slice(payload);
    let plen = (p.len() - 40) as u16;
    p[4..6].copy_from_slice(&plen.to_be_bytes());
    fix(&mut p, 0);
    p
}

/// Full IPv4 header and TCP checksums, as a sender's stack leaves them.
fn fix(p: &mut [u8], l3: usize) {
    let v4 = p[l3] >> 4 == 4;
    let l4 = if v4 { l3 + 20 } else { l3 + 40 };
    if v4 {
        p[l3 + 10..l3 + 12].fill(0);
        let c = !fold(sum(&p[l3..l4], 0));
        p[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
    }
    p[l4 + 16..l4 + 18].fill(0);
    let ps = pseudo_sum(&p[l3..], 6, p.len() - l4).unwrap();
    let c = !fold(sum(&p[l4..], ps));
    p[l4 + 16..l4 + 18].copy_from_slice(&c.to_be_bytes());
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 13 + 5) as u8).collect()
}

/// Merge `pkts` greedily into runs in one buffer per run; the runs' bytes and headers.
fn merge(pkts: &[Vec<u8>], l3: usize, capacity: usize) -> Vec<(Vec<u8>, VnetHdr, usize)> {
    let mut out = Vec::new();
    let mut cur: Option<(Vec<u8>, Run)> = None;
    for p in pkts {
        let seg = tcp_seg(p, l3);
        if let (Some((buf, run)), Some(s)) = (cur.as_mut(), seg.as_ref()) {
            if run.accepts(buf, p, s, capacity) {
                run.append(buf, p, s);
                continue;
            }
        }
        if let Some((mut buf, run)) = cur.take() {
            let h = run.finish(&mut buf);
            buf.truncate(run.len);
            out.push((buf, h, run.count));
        }
        match seg {
            Some(s) => {
                let mut buf = vec![0u8; capacity];
                buf[..p.len()].copy_from_slice(p);
                cur = Some((buf, Run::start(s)));
            }
            None => out.push((p.clone(), VnetHdr::default(), 1)),
        }
    }
    if let Some((mut buf, run)) = cur.take() {
        let h = run.finish(&mut buf);
        buf.truncate(run.len);
        out.push((buf, h, run.count));
    }
    out
}

#[test]
fn split_then_merge_gives_back_the_packet_and_splits_the_same_again() {
    for v6 in [false, true] {
        let payload = data(40_000);
        let mut big = if v6 {
            ipv6_tcp(0xffff_f000, 0x18, &payload)
        } else {
            ipv4_tcp(0xffff_f000, 0x18, &payload)
        };
        let l4 = if v6 { 40 } else { 20 };
        let gso = VnetHdr {
            flags: 1,
            gso_type: if v6 { 4 } else { 1 },
            hdr_len: 0,
            gso_size: 1400,
            csum_start: l4,
            csum_offset: 16,
        };
        let segs: Vec<Vec<u8>> = {
            let s = Segments::new(&big, &gso, 0).unwrap();
            (0..s.len())
                .map(|i| {
                    let mut o = vec![0; 2000];
                    let n = s.write(i, &mut o).unwrap();
                    o.truncate(n);
                    o
                })
                .collect()
        };
        assert_eq!(segs.len(), 29);
        let runs = merge(&segs, 0, 65_535);
        assert_eq!(runs.len(), 1, "one run");
        let (buf, h, count) = &runs[0];
        assert_eq!(*count, 29);
        assert_eq!(
            (h.gso_type, h.gso_size, h.csum_start, h.csum_offset, h.flags),
            (gso.gso_type, 1400, l4, 16, 1)
        );
        assert_eq!(
            usize::from(h.hdr_len),
            usize::from(l4) + if v6 { 20 } else { 32 },
            "IP and TCP headers with options"
        );
        assert_eq!(buf.len(), big.len());
        // the payload and every header field but the checksum (a partial sum now) are the original's
        let c = usize::from(l4) + 16;
        assert_eq!(&buf[c + 2..], &big[c + 2..]);
        assert_eq!(
            &buf[..c],
            &big[..c],
            "lengths, id and IPv4 checksum restored"
        );
        // the merged packet splits into the same segments
        let s = Segments::new(buf, h, 0).unwrap();
        for (i, seg) in segs.iter().enumerate() {
            let mut o = vec![0; 2000];
            let n = s.write(i, &mut o).unwrap();
            assert_eq!(&o[..n], &seg[..], "segment {i}");
        }
        big.clear();
    }
}

#[test]
fn what_ends_or_refuses_a_run() {
    let p = |seq: u32, flags: u8, n: usize| ipv4_tcp(seq, flags, &data(n));
    let counts = |pkts: &[Vec<u8>]| {
        merge(pkts, 0, 65_535)
            .iter()
            .map(|r| r.2)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        counts(&[p(0, 0x10, 100), p(100, 0x10, 100), p(200, 0x10, 100)]),
        [3]
    );
    assert_eq!(
        counts(&[p(0, 0x10, 100), p(101, 0x10, 100)]),
        [1, 1],
        "a gap in sequence"
    );
    assert_eq!(
        counts(&[p(0, 0x10, 100), p(100, 0x18, 100), p(200, 0x10, 100)]),
        [2, 1],
        "PSH ends a run"
    );
    assert_eq!(
        counts(&[p(0, 0x10, 100), p(100, 0x10, 50), p(150, 0x10, 50)]),
        [2, 1],
        "a shorter segment ends a run"
    );
    assert_eq!(
        counts(&[p(0, 0x10, 100), p(100, 0x10, 150)]),
        [1, 1],
        "a longer segment does not join"
    );
    assert_eq!(
        counts(&[p(0, 0x10, 100), p(100, 0x11, 100)]),
        [1, 1],
        "FIN is never merged"
    );
    assert_eq!(
        counts(&[p(0, 0x12, 100), p(100, 0x10, 100)]),
        [1, 1],
        "SYN is never merged"
    );
    assert_eq!(
        counts(&[p(0, 0x10, 0), p(0, 0x10, 100)]),
        [1, 1],
        "a bare ACK is not a head"
    );
    let mut bad = p(100, 0x10, 100);
    bad[60] ^= 1;
    assert_eq!(
        counts(&[p(0, 0x10, 100), bad]),
        [1, 1],
        "a bad checksum is never merged"
    );
    let mut other_ack = p(100, 0x10, 100);
    other_ack[31] = 10;
    fix(&mut other_ack, 0);
    assert_eq!(
        counts(&[p(0, 0x10, 100), other_ack]),
        [1, 1],
        "another ACK number"
    );
    let mut other_port = p(100, 0x10, 100);
    other_port[21] = 0x91;
    fix(&mut other_port, 0);
    assert_eq!(
        counts(&[p(0, 0x10, 100), other_port]),
        [1, 1],
        "another flow"
    );
    let mut ttl = p(100, 0x10, 100);
    ttl[8] = 63;
    fix(&mut ttl, 0);
    assert_eq!(counts(&[p(0, 0x10, 100), ttl]), [1, 1], "another TTL");
    let mut frag = p(100, 0x10, 100);
    frag[6] = 0x20;
    fix(&mut frag, 0);
    assert_eq!(counts(&[p(0, 0x10, 100), frag]), [1, 1], "a fragment");
    // capacity and the 16-bit length bound
    assert_eq!(
        merge(
            &[p(0, 0x10, 100), p(100, 0x10, 100), p(200, 0x10, 100)],
            0,
            52 + 250
        )
        .iter()
        .map(|r| r.2)
        .collect::<Vec<_>>(),
        [2, 1]
    );
    let big: Vec<Vec<u8>> = (0..50).map(|i| p(i * 1400, 0x10, 1400)).collect();
    let runs = merge(&big, 0, 200_000);
    assert!(
        runs.iter().all(|r| r.0.len() <= 65_535),
        "no run past 64 KiB"
    );
    assert_eq!(runs.iter().map(|r| r.2).sum::<usize>(), 50);
    // IPv6 too, and nothing merges across versions
    let q = |seq: u32, n: usize| ipv6_tcp(seq, 0x10, &data(n));
    assert_eq!(counts(&[q(0, 100), q(100, 100), p(200, 0x10, 100)]), [2, 1]);
}

#[test]
fn tap_frames_merge_only_with_the_same_ethernet_header() {
    let eth = |last: u8| vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, last, 0x08, 0x00];
    let frame = |last: u8, seq: u32| {
        let mut f = eth(last);
        f.extend_from_slice(&ipv4_tcp(seq, 0x10, &data(100)));
        f
    };
    let runs = merge(&[frame(2, 0), frame(2, 100), frame(3, 200)], 14, 65_535);
    assert_eq!(runs.iter().map(|r| r.2).collect::<Vec<_>>(), [2, 1]);
    assert_eq!((runs[0].1.csum_start, runs[0].1.hdr_len), (34, 66));
    assert_eq!(&runs[0].0[..14], &eth(2)[..]);
}

#[test]
fn hostile_packets_are_not_segments() {
    assert_eq!(tcp_seg(&[], 0), None);
    assert_eq!(tcp_seg(&[0x45; 30], 0), None);
    let mut p = ipv4_tcp(0, 0x10, &data(10));
    p[2] = 0xff; // total length past the buffer
    assert_eq!(tcp_seg(&p, 0), None);
    let mut q = ipv4_tcp(0, 0x10, &data(10));
    q[32] = 0xf0; // data offset past the end
    assert_eq!(tcp_seg(&q, 0), None);
    assert_eq!(tcp_seg(&ipv4_tcp(0, 0x10, &data(10)), 100), None);
    assert!(tcp_seg(&ipv4_tcp(0, 0x10, &data(10)), 0).is_some());
}
