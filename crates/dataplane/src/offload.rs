//! Owns the device offloads (IFF_VNET_HDR) in the loops. Reads: the virtio-net header before each
//! packet is checked, a partial checksum completed, and a TCP super-packet (TSO) split into
//! MTU-sized packets, one device slot each, carrying over the segments that do not fit this
//! batch (`TxSplit`). Writes: consecutive decrypted TCP segments of one flow are merged into one
//! super-packet with a GSO header, written at the end of a receive batch (`RxMerge`). Must not
//! know about peers or frames; the parsing itself is crates/core (vnet.rs, segment.rs, coalesce.rs).

use std::sync::atomic::Ordering;

use ringvpn_core::coalesce::{tcp_seg, Run, MAX_COALESCED};
use ringvpn_core::segment::Segments;
use ringvpn_core::vnet::{complete_checksum, Gso, VnetHdr, F_NEEDS_CSUM, VNET_HDR_LEN};
use ringvpn_core::DropReason;

use crate::device::Device;
use crate::pipeline::{BUF_LEN, TAILROOM};
use crate::stats::Counters;

/// The smallest segment payload a cut leaves (IPv4's minimum MSS).
const MIN_SEGMENT: u16 = 536;

/// The super-packet being split: its header, its length after the header, the next segment.
#[derive(Debug, Clone, Copy)]
struct Carry {
    h: VnetHdr,
    len: usize,
    next: usize,
}

/// Turns device reads with virtio-net headers into packets in the tx loop's slots.
pub struct TxSplit {
    /// A device read's second buffer: what does not fit the slot (a super-packet's rest). The
    /// super-packet being split is then made whole here, at the slot's offsets.
    spare: Box<[u8]>,
    carry: Option<Carry>,
    /// Where the packet starts in a slot (the IP header in TUN mode, Ethernet in TAP mode).
    off: usize,
    /// The IP header's offset in the packet: 0 (TUN) or 14 (TAP).
    l3: usize,
}

impl TxSplit {
    pub fn new(off: usize, l3: usize) -> TxSplit {
        assert!(
            off >= VNET_HDR_LEN,
            "the slot's headroom holds the virtio-net header"
        );
        TxSplit {
            spare: vec![0u8; BUF_LEN].into_boxed_slice(),
            carry: None,
            off,
            l3,
        }
    }

    /// Where a device read goes: the header lands in the slot's headroom, the packet at `off`,
    /// and what does not fit the slot continues in the second buffer (one `readv`). Slots need
    /// only hold one packet of the device's MTU, so a loop's 32 slots are not 32 x 64 KB.
    pub fn read_bufs<'a>(&'a mut self, slot: &'a mut [u8]) -> [&'a mut [u8]; 2] {
        let start = self.off - VNET_HDR_LEN;
        let end = slot.len() - TAILROOM;
        [
            &mut slot[start..end],
            &mut self.spare[end..BUF_LEN - TAILROOM],
        ]
    }

    /// Segments of a super-packet are still waiting for slots.
    pub fn has_carry(&self) -> bool {
        self.carry.is_some()
    }

    /// A read of `total` bytes into `bufs[n][read_range()]`: the packets it yields fill the
    /// slots from `n` (their lengths in `lens`); returns the next free slot. `cut` says, for a
    /// TCP super-packet's IP header, how many bytes shorter than the kernel's segment size its
    /// segments must be (a longer path frame, such as a relay's); UDP segments are never cut
    /// (their size is the application's datagram size).
    pub fn take(
        &mut self,
        bufs: &mut [Box<[u8]>],
        lens: &mut [usize],
        n: usize,
        total: usize,
        counters: &Counters,
        cut: impl FnOnce(&[u8]) -> usize,
    ) -> usize {
        let off = self.off;
        let Some(len) = total.checked_sub(VNET_HDR_LEN) else {
            counters.drop(DropReason::VnetHeader);
            return n;
        };
        // the slot's part of the read (the rest is in `spare`, from the slot's end on)
        let end = bufs[n].len() - TAILROOM;
        if off + len > BUF_LEN - TAILROOM {
            counters.drop(DropReason::Oversize);
            return n;
        }
        let h = match VnetHdr::decode(&bufs[n][off - VNET_HDR_LEN..off])
            .and_then(|h| h.gso().map(|g| (h, g)))
        {
            Ok(x) => x,
            Err(r) => {
                counters.drop(r);
                return n;
            }
        };
        match h {
            (_, Gso::None) if off + len > end => {
                // one packet larger than a slot: beyond the device's MTU
                counters.drop(DropReason::Oversize);
                n
            }
            (h, Gso::None) => {
                if h.flags & F_NEEDS_CSUM != 0 {
                    let pkt = &mut bufs[n][off..off + len];
                    if let Err(r) = complete_checksum(
                        pkt,
                        usize::from(h.csum_start),
                        usize::from(h.csum_offset),
                    ) {
                        counters.drop(r);
                        return n;
                    }
                }
                lens[n] = len;
                n + 1
            }
            (mut h, g) => {
                // the super-packet made whole in `spare`: its head (at most a slot) copied over
                let head = off..(off + len).min(end);
                self.spare[head.clone()].copy_from_slice(&bufs[n][head]);
                if matches!(g, Gso::TcpV4 | Gso::TcpV6) {
                    let ip = self.spare.get(off + self.l3..off + len).unwrap_or_default();
                    let c = u16::try_from(cut(ip)).unwrap_or(u16::MAX);
                    h.gso_size = h.gso_size.saturating_sub(c).max(MIN_SEGMENT);
                }
                counters.gso_reads.fetch_add(1, Ordering::Relaxed);
                self.carry = Some(Carry { h, len, next: 0 });
                self.drain(bufs, lens, n, counters)
            }
        }
    }

    /// Split the carried super-packet into the slots from `n` on, as many as fit; returns the
    /// next free slot. A super-packet whose header does not match its packet is dropped whole.
    pub fn drain(
        &mut self,
        bufs: &mut [Box<[u8]>],
        lens: &mut [usize],
        mut n: usize,
        counters: &Counters,
    ) -> usize {
        let TxSplit {
            spare,
            carry,
            off,
            l3,
        } = self;
        let Some(c) = carry.as_mut() else { return n };
        let segs = match Segments::new(&spare[*off..*off + c.len], &c.h, *l3) {
            Ok(s) => s,
            Err(r) => {
                counters.drop(r);
                *carry = None;
                return n;
            }
        };
        while c.next < segs.len() && n < bufs.len() {
            let end = bufs[n].len() - TAILROOM;
            match segs.write(c.next, &mut bufs[n][*off..end]) {
                Some(len) => {
                    lens[n] = len;
                    n += 1;
                    counters.gso_segments.fetch_add(1, Ordering::Relaxed);
                }
                None => counters.drop(DropReason::VnetHeader),
            }
            c.next += 1;
        }
        if c.next >= segs.len() {
            *carry = None;
        }
        n
    }
}

/// Where decrypted packets for the device go: TCP segments of one flow are merged into a run.
pub trait DeviceSink {
    /// One packet as it is (an all-zero virtio-net header goes first).
    fn packet(&mut self, pkt: &[u8]);
    /// A whole write, virtio-net header included.
    fn raw(&mut self, buf: &[u8]);
}

impl DeviceSink for (&Device, &Counters) {
    fn packet(&mut self, pkt: &[u8]) {
        if self.0.write(pkt).is_err() {
            self.1.drop(DropReason::DeviceWrite);
        }
    }
    fn raw(&mut self, buf: &[u8]) {
        if self.0.write_raw(buf).is_err() {
            self.1.drop(DropReason::DeviceWrite);
        }
    }
}

/// Merges consecutive TCP segments of one flow (Linux's GRO rules, coalesce.rs) into one write.
pub struct RxMerge {
    /// The virtio-net header, then the run's packet.
    buf: Box<[u8]>,
    run: Option<Run>,
    /// The IP header's offset in a packet: 0 (TUN) or 14 (TAP).
    l3: usize,
}

impl RxMerge {
    pub fn new(l3: usize) -> RxMerge {
        RxMerge {
            buf: vec![0u8; VNET_HDR_LEN + l3 + MAX_COALESCED].into_boxed_slice(),
            run: None,
            l3,
        }
    }

    /// A decrypted packet for the device: appended to the run when it continues it; otherwise
    /// the run is written first (order is kept), and the packet starts a new run (a TCP
    /// segment that may take part in one) or is written as it is.
    pub fn push(&mut self, pkt: &[u8], out: &mut impl DeviceSink, counters: &Counters) {
        let seg = tcp_seg(pkt, self.l3);
        if let (Some(run), Some(s)) = (self.run.as_mut(), seg.as_ref()) {
            let body = &mut self.buf[VNET_HDR_LEN..];
            if run.accepts(body, pkt, s, body.len()) {
                run.append(body, pkt, s);
                counters.gro_merged.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        self.flush(out, counters);
        match seg {
            Some(s) if pkt.len() <= self.buf.len() - VNET_HDR_LEN => {
                let run = Run::start(s);
                if run.closed {
                    out.packet(pkt); // nothing can follow it
                    return;
                }
                self.buf[VNET_HDR_LEN..VNET_HDR_LEN + pkt.len()].copy_from_slice(pkt);
                self.run = Some(run);
            }
            _ => out.packet(pkt),
        }
    }

    /// Write the run, if any: a merged one with its GSO header, a lone segment as it arrived.
    pub fn flush(&mut self, out: &mut impl DeviceSink, counters: &Counters) {
        let Some(run) = self.run.take() else { return };
        let h = run.finish(&mut self.buf[VNET_HDR_LEN..]);
        let mut hb = [0u8; VNET_HDR_LEN];
        h.encode(&mut hb);
        self.buf[..VNET_HDR_LEN].copy_from_slice(&hb);
        if run.count > 1 {
            counters.gro_writes.fetch_add(1, Ordering::Relaxed);
        }
        out.raw(&self.buf[..VNET_HDR_LEN + run.len]);
    }
}

#[cfg(test)]
#[path = "offload_tests.rs"]
mod tests;
