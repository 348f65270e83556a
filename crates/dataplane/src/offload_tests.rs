//! Tests of offload.rs: a TSO super-packet read into a slot is split into MTU-sized packets across
//! the slots, the rest carried over to the next batch; partial checksums completed; hostile
//! headers dropped and counted.

use super::*;
use ringvpn_core::vnet::{fold, sum, VnetHdr, F_NEEDS_CSUM, GSO_TCPV4};

const OFF: usize = 76;

/// An IPv4 TCP packet (20-byte headers) with `payload` bytes of payload, checksum fields zero.
fn tcp4(payload: usize) -> Vec<u8> {
    let total = 40 + payload;
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 6;
    p[12..16].copy_from_slice(&[10, 0, 0, 1]);
    p[16..20].copy_from_slice(&[10, 0, 0, 2]);
    p[20..22].copy_from_slice(&1000u16.to_be_bytes());
    p[22..24].copy_from_slice(&2000u16.to_be_bytes());
    p[24..28].copy_from_slice(&7u32.to_be_bytes());
    p[32] = 5 << 4;
    p[33] = 0x18; // PSH|ACK
    for (i, b) in p[40..].iter_mut().enumerate() {
        *b = i as u8;
    }
    p
}

/// The header the kernel puts before a TCP/IPv4 super-packet (20-byte IP and TCP headers).
fn tso4(gso_size: u16) -> VnetHdr {
    VnetHdr {
        flags: F_NEEDS_CSUM,
        gso_type: GSO_TCPV4,
        hdr_len: 40,
        gso_size,
        csum_start: 20,
        csum_offset: 16,
    }
}

/// Slots as the tx loop makes them for a 1,420-byte MTU.
fn slots(k: usize) -> Vec<Box<[u8]>> {
    (0..k)
        .map(|_| vec![0u8; crate::pipeline::slot_len(1420)].into_boxed_slice())
        .collect()
}

/// Put header + packet where a device read (`readv` into the slot, then the split's buffer)
/// would.
fn read_into(s: &mut TxSplit, slot: &mut [u8], h: &VnetHdr, pkt: &[u8]) -> usize {
    let mut hb = [0u8; VNET_HDR_LEN];
    h.encode(&mut hb);
    let bytes = [&hb[..], pkt].concat();
    let [a, b] = s.read_bufs(slot);
    let k = bytes.len().min(a.len());
    a[..k].copy_from_slice(&bytes[..k]);
    b[..bytes.len() - k].copy_from_slice(&bytes[k..]);
    bytes.len()
}

fn checksum_ok(ip: &[u8]) -> bool {
    let hl = usize::from(ip[0] & 15) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let mut ps = sum(&ip[12..20], 0);
    ps += 6 + (total - hl) as u64;
    fold(sum(&ip[..hl], 0)) == 0xffff && fold(sum(&ip[hl..total], ps)) == 0xffff
}

#[test]
fn super_packet_split_across_batches() {
    let c = Counters::default();
    let mut bufs = slots(3);
    let mut lens = [0usize; 3];
    let mut s = TxSplit::new(OFF, 0);
    let [a, b] = s.read_bufs(&mut bufs[0]);
    assert_eq!(
        (a.len(), a.len() + b.len()),
        (
            crate::pipeline::slot_len(1420) - TAILROOM - (OFF - VNET_HDR_LEN),
            BUF_LEN - TAILROOM - (OFF - VNET_HDR_LEN)
        ),
        "a read fills the slot, then the split's buffer up to a 64 KB packet"
    );
    let pkt = tcp4(5 * 1000 + 1);
    let h = tso4(1000);
    let total = read_into(&mut s, &mut bufs[1], &h, &pkt);
    // read into slot 1 with slot 0 taken: slots 1 and 2 get segments 0 and 1, the rest waits
    let n = s.take(&mut bufs, &mut lens, 1, total, &c, |_| 0);
    assert_eq!(n, 3);
    assert!(s.has_carry());
    let mut seqs = Vec::new();
    let mut got = 0;
    let mut check =
        |bufs: &[Box<[u8]>], lens: &[usize], from: usize, n: usize, seqs: &mut Vec<u32>| {
            for i in from..n {
                let p = &bufs[i][OFF..OFF + lens[i]];
                assert!(checksum_ok(p), "segment checksums");
                assert!(lens[i] <= 1040);
                seqs.push(u32::from_be_bytes([p[24], p[25], p[26], p[27]]));
                got += lens[i] - 40;
            }
        };
    check(&bufs, &lens, 1, n, &mut seqs);
    let n = s.drain(&mut bufs, &mut lens, 0, &c);
    assert_eq!(n, 3);
    assert!(s.has_carry());
    check(&bufs, &lens, 0, n, &mut seqs);
    let n = s.drain(&mut bufs, &mut lens, 0, &c);
    assert_eq!(n, 1, "the last, 1-byte segment");
    assert!(!s.has_carry());
    check(&bufs, &lens, 0, n, &mut seqs);
    assert_eq!(seqs, vec![7, 1007, 2007, 3007, 4007, 5007]);
    assert_eq!(got, 5001);
    assert_eq!(c.gso_reads.load(Ordering::Relaxed), 1);
    assert_eq!(c.gso_segments.load(Ordering::Relaxed), 6);
    assert_eq!(s.drain(&mut bufs, &mut lens, 0, &c), 0, "nothing carried");
}

#[test]
fn a_cut_makes_shorter_segments() {
    // a relayed peer's frames are longer: the segments are cut by what the path adds
    let c = Counters::default();
    let mut bufs = slots(8);
    let mut lens = [0usize; 8];
    let mut s = TxSplit::new(OFF, 0);
    let pkt = tcp4(3000);
    let h = tso4(1000);
    let total = read_into(&mut s, &mut bufs[0], &h, &pkt);
    let mut seen = Vec::new();
    let n = s.take(&mut bufs, &mut lens, 0, total, &c, |ip| {
        seen.extend_from_slice(&ip[16..20]);
        76
    });
    assert_eq!(seen, [10, 0, 0, 2], "the cut is asked with the IP header");
    assert_eq!(n, 4, "3000 bytes in segments of 924");
    let mut seqs = Vec::new();
    for i in 0..n {
        let p = &bufs[i][OFF..OFF + lens[i]];
        assert!(checksum_ok(p));
        seqs.push(u32::from_be_bytes([p[24], p[25], p[26], p[27]]));
    }
    assert_eq!(&lens[..4], [964, 964, 964, 268]);
    assert_eq!(seqs, vec![7, 931, 1855, 2779]);
    // a cut never leaves less than 536 bytes a segment
    let total = read_into(&mut s, &mut bufs[0], &h, &pkt);
    let n = s.take(&mut bufs, &mut lens, 0, total, &c, |_| 5000);
    assert_eq!((n, lens[0]), (6, 576));
}

#[test]
fn plain_packets_and_partial_checksums() {
    let c = Counters::default();
    let mut bufs = slots(2);
    let mut lens = [0usize; 2];
    let mut s = TxSplit::new(OFF, 0);
    let mut pkt = tcp4(100);
    // a partial checksum: the pseudo-header sum at the checksum field, as the kernel leaves it
    let ps = fold(sum(&pkt[12..20], 6 + 120));
    pkt[36..38].copy_from_slice(&ps.to_be_bytes());
    let ipc = !fold(sum(&pkt[..20], 0));
    pkt[10..12].copy_from_slice(&ipc.to_be_bytes());
    let h = VnetHdr {
        flags: F_NEEDS_CSUM,
        csum_start: 20,
        csum_offset: 16,
        ..VnetHdr::default()
    };
    let total = read_into(&mut s, &mut bufs[0], &h, &pkt);
    assert_eq!(s.take(&mut bufs, &mut lens, 0, total, &c, |_| 0), 1);
    assert_eq!(lens[0], 140);
    assert!(checksum_ok(&bufs[0][OFF..OFF + 140]), "completed");
    let total = read_into(&mut s, &mut bufs[1], &VnetHdr::default(), &pkt);
    assert_eq!(
        s.take(&mut bufs, &mut lens, 1, total, &c, |_| 0),
        2,
        "no flags: as read"
    );
    assert_eq!(c.gso_reads.load(Ordering::Relaxed), 0);
}

#[test]
fn hostile_headers_dropped_and_counted() {
    let c = Counters::default();
    let mut bufs = slots(4);
    let mut lens = [0usize; 4];
    let mut s = TxSplit::new(OFF, 0);
    // shorter than a header
    assert_eq!(s.take(&mut bufs, &mut lens, 0, 5, &c, |_| 0), 0);
    // an unknown GSO type
    let pkt = tcp4(3000);
    let bad = VnetHdr {
        gso_type: 9,
        gso_size: 1000,
        csum_start: 20,
        csum_offset: 16,
        ..VnetHdr::default()
    };
    let total = read_into(&mut s, &mut bufs[0], &bad, &pkt);
    assert_eq!(s.take(&mut bufs, &mut lens, 0, total, &c, |_| 0), 0);
    // TSO whose checksum start is not the TCP header: the whole super-packet goes
    let off = VnetHdr {
        gso_type: GSO_TCPV4,
        gso_size: 1000,
        csum_start: 24,
        csum_offset: 16,
        ..VnetHdr::default()
    };
    let total = read_into(&mut s, &mut bufs[0], &off, &pkt);
    assert_eq!(s.take(&mut bufs, &mut lens, 0, total, &c, |_| 0), 0);
    assert!(!s.has_carry());
    // a partial checksum pointing past the packet
    let past = VnetHdr {
        flags: F_NEEDS_CSUM,
        csum_start: 3000,
        csum_offset: 16,
        ..VnetHdr::default()
    };
    let total = read_into(&mut s, &mut bufs[0], &past, &tcp4(10));
    assert_eq!(s.take(&mut bufs, &mut lens, 0, total, &c, |_| 0), 0);
    let dropped: u64 = c.drop_list().iter().map(|(_, n)| n).sum();
    assert_eq!(dropped, 4, "{:?}", c.drop_list());
}

#[test]
fn a_super_packet_within_one_slot_and_packets_that_fit_no_slot() {
    let c = Counters::default();
    let mut bufs = slots(4);
    let mut lens = [0usize; 4];
    let mut s = TxSplit::new(OFF, 0);
    // two 600-byte segments: the whole read is in the slot, and it is split all the same
    let total = read_into(&mut s, &mut bufs[0], &tso4(600), &tcp4(1200));
    assert!(total < bufs[0].len() - OFF);
    assert_eq!(s.take(&mut bufs, &mut lens, 0, total, &c, |_| 0), 2);
    assert_eq!(&lens[..2], [640, 640]);
    assert!(checksum_ok(&bufs[0][OFF..OFF + 640]) && checksum_ok(&bufs[1][OFF..OFF + 640]));
    // a plain packet longer than a slot (past the device's MTU) is dropped, not split or cut
    let total = read_into(&mut s, &mut bufs[0], &VnetHdr::default(), &tcp4(3000));
    assert_eq!(s.take(&mut bufs, &mut lens, 0, total, &c, |_| 0), 0);
    // a read the kernel says was longer than both buffers together
    assert_eq!(s.take(&mut bufs, &mut lens, 0, BUF_LEN, &c, |_| 0), 0);
    assert_eq!(c.drops(DropReason::Oversize), 2, "{:?}", c.drop_list());
}

/// What a device would have been handed: (vnet header, packet) per write.
#[derive(Default)]
struct Sink(Vec<(VnetHdr, Vec<u8>)>);

impl DeviceSink for Sink {
    fn packet(&mut self, pkt: &[u8]) {
        self.0.push((VnetHdr::default(), pkt.to_vec()));
    }
    fn raw(&mut self, buf: &[u8]) {
        let h = VnetHdr::decode(&buf[..VNET_HDR_LEN]).expect("a header");
        self.0.push((h, buf[VNET_HDR_LEN..].to_vec()));
    }
}

/// A whole, checksummed TCP segment: `seq`, `payload` bytes, the flags given.
fn seg(seq: u32, payload: usize, flags: u8) -> Vec<u8> {
    let mut p = tcp4(payload);
    p[24..28].copy_from_slice(&seq.to_be_bytes());
    p[33] = flags;
    let ipc = !fold(sum(&p[..20], 0));
    p[10..12].copy_from_slice(&ipc.to_be_bytes());
    let ps = sum(&p[12..20], 6 + (20 + payload) as u64);
    let c = !fold(sum(&p[20..], ps));
    p[36..38].copy_from_slice(&c.to_be_bytes());
    assert!(checksum_ok(&p));
    p
}

#[test]
fn rx_merge_runs_in_order() {
    let c = Counters::default();
    let mut m = RxMerge::new(0);
    let mut out = Sink::default();
    // three full segments and a PSH one merge; then a non-TCP packet; then a segment of a new run
    for (i, f) in [0x10u8, 0x10, 0x10, 0x18].iter().enumerate() {
        m.push(&seg(1000 + 1000 * i as u32, 1000, *f), &mut out, &c);
    }
    let udp = vec![
        0x45u8, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0, 1, 0, 2, 0, 8, 0,
        0,
    ];
    m.push(&udp, &mut out, &c);
    m.push(&seg(9000, 500, 0x10), &mut out, &c);
    m.flush(&mut out, &c);
    assert_eq!(out.0.len(), 3);
    let (h, p) = &out.0[0];
    assert_eq!(
        (h.gso_type, h.gso_size, h.csum_start, h.csum_offset),
        (GSO_TCPV4, 1000, 20, 16)
    );
    assert_eq!(p.len(), 40 + 4000);
    assert_eq!(
        u16::from_be_bytes([p[2], p[3]]),
        4040,
        "the merged IPv4 length"
    );
    assert_eq!(p[33] & 0x08, 0x08, "the last segment's PSH carried over");
    assert_eq!(out.0[1].1, udp, "the UDP packet after the run, as it was");
    assert_eq!(
        out.0[2].0,
        VnetHdr::default(),
        "a lone segment keeps its own checksum"
    );
    assert_eq!(c.gro_merged.load(Ordering::Relaxed), 3);
    assert_eq!(c.gro_writes.load(Ordering::Relaxed), 1);
}

#[test]
fn rx_merge_refuses_gaps_and_bad_checksums() {
    let c = Counters::default();
    let mut m = RxMerge::new(0);
    let mut out = Sink::default();
    m.push(&seg(0, 1000, 0x10), &mut out, &c);
    m.push(&seg(2000, 1000, 0x10), &mut out, &c); // a gap: a new run
    let mut bad = seg(3000, 1000, 0x10);
    bad[100] ^= 1; // corrupted payload: never merged, written as it is
    m.push(&bad, &mut out, &c);
    m.flush(&mut out, &c);
    assert_eq!(out.0.len(), 3);
    assert!(out.0.iter().all(|(h, _)| *h == VnetHdr::default()));
    assert_eq!(out.0[2].1, bad);
    assert_eq!(c.gro_merged.load(Ordering::Relaxed), 0);
}
