//! Fuzz target: the device offload parsers (virtio-net header, GSO segmentation, TCP coalescing)
//! on arbitrary bytes. Must never panic; every segment written must be as long as announced, and
//! segments that coalesce back must not grow past the packet they came from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringvpn_core::coalesce::{tcp_seg, Run};
use ringvpn_core::segment::Segments;
use ringvpn_core::vnet::{self, VnetHdr, VNET_HDR_LEN};

fuzz_target!(|data: &[u8]| {
    let Some((&l3_sel, data)) = data.split_first() else { return };
    let l3 = if l3_sel & 1 == 0 { 0 } else { 14 }; // TUN or TAP layout
    if let Ok(h) = VnetHdr::decode(data) {
        let mut b = [0u8; VNET_HDR_LEN];
        h.encode(&mut b);
        assert_eq!(&b[..], &data[..VNET_HDR_LEN]);
        let pkt = &data[VNET_HDR_LEN..];
        if let Ok(s) = Segments::new(pkt, &h, l3) {
            let mut out = vec![0u8; 70_000];
            let mut run: Option<(Vec<u8>, Run)> = None;
            for i in 0..s.len().min(64) {
                let n = s.write(i, &mut out).expect("a segment fits 70,000 bytes");
                assert_eq!(n, s.segment_len(i));
                // what we split must be mergeable again, never into something larger
                if let Some(seg) = tcp_seg(&out[..n], l3) {
                    match run.as_mut() {
                        Some((buf, r)) if r.accepts(buf, &out[..n], &seg, 70_000) => r.append(buf, &out[..n], &seg),
                        _ => {
                            let mut buf = vec![0u8; 70_000];
                            buf[..n].copy_from_slice(&out[..n]);
                            run = Some((buf, Run::start(seg)));
                        }
                    }
                }
            }
            if let Some((mut buf, r)) = run {
                let _ = r.finish(&mut buf);
                assert!(r.len <= pkt.len());
            }
        }
        if h.flags & vnet::F_NEEDS_CSUM != 0 {
            let mut p = pkt.to_vec();
            let _ = vnet::complete_checksum(&mut p, usize::from(h.csum_start), usize::from(h.csum_offset));
        }
    }
    // a received packet as the coalescer sees it, against itself shifted by one segment
    if let Some(seg) = tcp_seg(data, l3) {
        let mut buf = vec![0u8; 65_535 + 100];
        buf[..data.len()].copy_from_slice(data);
        let mut r = Run::start(seg);
        if r.accepts(&buf, data, &seg, buf.len()) {
            r.append(&mut buf, data, &seg);
        }
        let _ = r.finish(&mut buf);
    }
});
