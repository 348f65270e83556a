//! Owns merging consecutive TCP segments of one flow, decrypted from peers, into one large packet
//! written to the device with a GSO virtio-net header (the receive half of the offloads; the rules
//! of Linux's tcp_gro_receive: same flow and IP fields, contiguous sequence numbers, same ACK and
//! options, only ACK/PSH flags, equal segment sizes with a shorter or PSH segment ending a run).
//! Pure and allocation-free: the caller owns the buffers and keeps one run per flow. Must not
//! merge anything it cannot prove mergeable; a segment with a bad checksum is never merged.

use crate::vnet::{fold, pseudo_sum, sum, VnetHdr, F_NEEDS_CSUM, GSO_TCPV4, GSO_TCPV6};

const PROTO_TCP: u8 = 6;
const TCP_ACK: u8 = 0x10;
const TCP_PSH: u8 = 0x08;
/// IPv4 total length and IPv6 payload length are 16 bits.
pub const MAX_COALESCED: usize = 65_535;

/// What a run needs to know about a TCP segment (offsets relative to the packet's start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSeg {
    pub v4: bool,
    pub l3: usize,
    pub l4: usize,
    pub payload: usize,
    pub len: usize,
    pub seq: u32,
    pub flags: u8,
}

impl TcpSeg {
    pub fn payload_len(&self) -> usize {
        self.len - self.payload
    }
}

/// A TCP segment that may take part in a run: IPv4 without options or fragments, or IPv6 without
/// extension headers; a whole, checksum-valid TCP segment whose flags are ACK with at most PSH.
/// `None` for everything else (written to the device as it is).
pub fn tcp_seg(pkt: &[u8], l3: usize) -> Option<TcpSeg> {
    let ip = pkt.get(l3..)?;
    let (v4, l4, len) = match ip.first()? >> 4 {
        4 if ip.len() >= 20 && ip[0] == 0x45 && ip[9] == PROTO_TCP => {
            let frag = u16::from_be_bytes([ip[6], ip[7]]);
            if frag & 0x3fff != 0 {
                return None; // MF or an offset: a fragment
            }
            (
                true,
                l3 + 20,
                l3 + usize::from(u16::from_be_bytes([ip[2], ip[3]])),
            )
        }
        6 if ip.len() >= 40 && ip[6] == PROTO_TCP => (
            false,
            l3 + 40,
            l3 + 40 + usize::from(u16::from_be_bytes([ip[4], ip[5]])),
        ),
        _ => return None,
    };
    if len > pkt.len() || l4 + 20 > len {
        return None;
    }
    let doff = usize::from(pkt[l4 + 12] >> 4) * 4;
    let flags = pkt[l4 + 13];
    if doff < 20 || l4 + doff > len || flags & !(TCP_ACK | TCP_PSH) != 0 || flags & TCP_ACK == 0 {
        return None;
    }
    let ps = pseudo_sum(&pkt[l3..], PROTO_TCP, len - l4)?;
    if fold(sum(&pkt[l4..len], ps)) != 0xffff {
        return None;
    }
    let seq = u32::from_be_bytes([pkt[l4 + 4], pkt[l4 + 5], pkt[l4 + 6], pkt[l4 + 7]]);
    Some(TcpSeg {
        v4,
        l3,
        l4,
        payload: l4 + doff,
        len,
        seq,
        flags,
    })
}

/// A run being built in the caller's buffer: the first segment's headers, all payloads so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub head: TcpSeg,
    /// bytes of the run in the buffer
    pub len: usize,
    /// segments merged (1 = the head alone)
    pub count: usize,
    /// the payload size of every segment but a shorter last one
    pub mss: usize,
    /// the run takes no more segments (a shorter or PSH segment ended it)
    pub closed: bool,
}

impl Run {
    pub fn start(head: TcpSeg) -> Run {
        Run {
            head,
            len: head.len,
            count: 1,
            mss: head.payload_len(),
            closed: head.flags & TCP_PSH != 0 || head.payload_len() == 0,
        }
    }

    /// Whether `next` (parsed from `next_pkt`) continues this run held in `buf`.
    pub fn accepts(&self, buf: &[u8], next_pkt: &[u8], next: &TcpSeg, capacity: usize) -> bool {
        let h = &self.head;
        let hdr = h.payload - h.l3;
        if self.closed
            || next.v4 != h.v4
            || next.payload - next.l3 != hdr
            || next.payload_len() == 0
            || next.payload_len() > self.mss
            || self.len + next.payload_len() > capacity
            || self.len - h.l3 + next.payload_len() > MAX_COALESCED
            || next.seq != h.seq.wrapping_add((self.len - h.payload) as u32)
        {
            return false;
        }
        let (a, b) = (&buf[h.l3..h.payload], &next_pkt[next.l3..next.payload]);
        // same link-layer header (TAP), then the IP fields that must match
        if buf[..h.l3] != next_pkt[..next.l3] {
            return false;
        }
        let ip_same = if h.v4 {
            // version/IHL and TOS, DF, TTL and protocol, addresses (not length, id or checksum)
            a[0..2] == b[0..2] && a[6] == b[6] && a[8..10] == b[8..10] && a[12..20] == b[12..20]
        } else {
            // traffic class and flow label, next header and hop limit, addresses
            a[0..4] == b[0..4] && a[6..40] == b[6..40]
        };
        let t = h.l4 - h.l3;
        // ports, ACK number, data offset, window, options (not sequence, flags or checksum)
        ip_same
            && a[t..t + 4] == b[t..t + 4]
            && a[t + 8..t + 13] == b[t + 8..t + 13]
            && a[t + 14..t + 16] == b[t + 14..t + 16]
            && a[t + 18..] == b[t + 18..]
    }

    /// Append `next`'s payload (after `accepts` said yes); a PSH or shorter segment closes the run.
    pub fn append(&mut self, buf: &mut [u8], next_pkt: &[u8], next: &TcpSeg) {
        let p = &next_pkt[next.payload..next.len];
        buf[self.len..self.len + p.len()].copy_from_slice(p);
        self.len += p.len();
        self.count += 1;
        let t = self.head.l4 + 13;
        buf[t] |= next.flags & TCP_PSH;
        if next.flags & TCP_PSH != 0 || p.len() < self.mss {
            self.closed = true;
        }
    }

    /// Fix the lengths and checksums of a run of more than one segment and return the
    /// virtio-net header to write before it (a GSO packet whose TCP checksum field holds the
    /// pseudo-header sum, as NEEDS_CSUM requires). A single segment is left as it arrived.
    pub fn finish(&self, buf: &mut [u8]) -> VnetHdr {
        let h = &self.head;
        if self.count == 1 {
            return VnetHdr::default();
        }
        let (l3, l4) = (h.l3, h.l4);
        if h.v4 {
            buf[l3 + 2..l3 + 4].copy_from_slice(&((self.len - l3) as u16).to_be_bytes());
            buf[l3 + 10..l3 + 12].fill(0);
            let c = !fold(sum(&buf[l3..l4], 0));
            buf[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
        } else {
            buf[l3 + 4..l3 + 6].copy_from_slice(&((self.len - l4) as u16).to_be_bytes());
        }
        // the pseudo-header sum of the whole run; the kernel completes it (or never needs to)
        let ps = pseudo_sum(&buf[l3..], PROTO_TCP, self.len - l4).unwrap_or(0);
        buf[l4 + 16..l4 + 18].copy_from_slice(&fold(ps).to_be_bytes());
        VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: if h.v4 { GSO_TCPV4 } else { GSO_TCPV6 },
            hdr_len: h.payload as u16,
            gso_size: self.mss as u16,
            csum_start: l4 as u16,
            csum_offset: 16,
        }
    }
}

#[cfg(test)]
#[path = "coalesce_tests.rs"]
mod tests;
