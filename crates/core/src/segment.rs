//! Owns splitting a GSO super-packet read from the device (TSO: TCP over IPv4 or IPv6; USO: UDP)
//! into packets of at most `gso_size` payload bytes, each with its own IP length, IPv4 id and
//! header checksum, TCP sequence number and flags or UDP length, and L4 checksum (the rules of
//! Linux's tcp_gso_segment and udp4/6 USO). Pure: the caller hands each segment its output buffer;
//! nothing is allocated. Must not trust the virtio-net header's offsets: they are checked here.

use crate::drop::DropReason;
use crate::vnet::{fold, pseudo_sum, sum, Gso, VnetHdr};

const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_CWR: u8 = 0x80;

/// A validated GSO packet and the segments it splits into.
#[derive(Debug, Clone, Copy)]
pub struct Segments<'a> {
    pkt: &'a [u8],
    l3: usize,
    l4: usize,
    payload: usize,
    mss: usize,
    count: usize,
    v4: bool,
    tcp: bool,
}

impl<'a> Segments<'a> {
    /// `pkt`: the packet after the virtio-net header (an Ethernet frame in TAP mode); `l3`: the
    /// offset of its IP header (0 in TUN mode, 14 in TAP mode).
    pub fn new(pkt: &'a [u8], h: &VnetHdr, l3: usize) -> Result<Segments<'a>, DropReason> {
        let gso = h.gso()?;
        let bad = DropReason::VnetHeader;
        let ip = pkt.get(l3..).ok_or(bad)?;
        let (v4, ip_hlen, proto) = match ip.first().map(|b| b >> 4) {
            Some(4) if ip.len() >= 20 => (true, usize::from(ip[0] & 0x0f) * 4, ip[9]),
            Some(6) if ip.len() >= 40 => (false, 40, ip[6]),
            _ => return Err(bad),
        };
        let tcp = match (gso, v4, proto) {
            (Gso::TcpV4, true, PROTO_TCP) | (Gso::TcpV6, false, PROTO_TCP) => true,
            (Gso::UdpL4, _, PROTO_UDP) => false,
            _ => return Err(bad),
        };
        let l4 = l3 + ip_hlen;
        if ip_hlen < 20 || usize::from(h.csum_start) != l4 {
            return Err(bad);
        }
        let l4_hlen = if tcp {
            let doff = usize::from(*pkt.get(l4 + 12).ok_or(bad)? >> 4) * 4;
            if doff < 20 || usize::from(h.csum_offset) != 16 {
                return Err(bad);
            }
            doff
        } else {
            if usize::from(h.csum_offset) != 6 {
                return Err(bad);
            }
            8
        };
        let payload = l4 + l4_hlen;
        if payload > pkt.len() {
            return Err(bad);
        }
        let mss = usize::from(h.gso_size);
        let count = (pkt.len() - payload).div_ceil(mss).max(1);
        Ok(Segments {
            pkt,
            l3,
            l4,
            payload,
            mss,
            count,
            v4,
            tcp,
        })
    }

    /// Number of segments (at least one).
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Bytes of segment `i` (headers included).
    pub fn segment_len(&self, i: usize) -> usize {
        let start = self.payload + i * self.mss;
        self.payload + (self.pkt.len().saturating_sub(start)).min(self.mss)
    }

    /// Write segment `i` into `out`; its length, or `None` when `i` is out of range or `out` is
    /// too small.
    pub fn write(&self, i: usize, out: &mut [u8]) -> Option<usize> {
        if i >= self.count {
            return None;
        }
        let n = self.segment_len(i);
        let out = out.get_mut(..n)?;
        let h = self.payload;
        let from = h + i * self.mss;
        out[..h].copy_from_slice(&self.pkt[..h]);
        out[h..].copy_from_slice(&self.pkt[from..from + (n - h)]);
        let (l3, l4) = (self.l3, self.l4);
        let l4_len = n - l4;
        if self.v4 {
            let total = (n - l3) as u16;
            out[l3 + 2..l3 + 4].copy_from_slice(&total.to_be_bytes());
            let id = u16::from_be_bytes([out[l3 + 4], out[l3 + 5]]).wrapping_add(i as u16);
            out[l3 + 4..l3 + 6].copy_from_slice(&id.to_be_bytes());
            out[l3 + 10..l3 + 12].fill(0);
            let c = !fold(sum(&out[l3..l4], 0));
            out[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
        } else {
            out[l3 + 4..l3 + 6].copy_from_slice(&((n - l4) as u16).to_be_bytes());
        }
        let proto = if self.tcp { PROTO_TCP } else { PROTO_UDP };
        let check = if self.tcp {
            let seq = u32::from_be_bytes([out[l4 + 4], out[l4 + 5], out[l4 + 6], out[l4 + 7]])
                .wrapping_add((i * self.mss) as u32);
            out[l4 + 4..l4 + 8].copy_from_slice(&seq.to_be_bytes());
            if i + 1 < self.count {
                out[l4 + 13] &= !(TCP_FIN | TCP_PSH);
            }
            if i > 0 {
                out[l4 + 13] &= !TCP_CWR;
            }
            l4 + 16
        } else {
            out[l4 + 4..l4 + 6].copy_from_slice(&(l4_len as u16).to_be_bytes());
            l4 + 6
        };
        out[check..check + 2].fill(0);
        let ps = pseudo_sum(&out[l3..], proto, l4_len)?;
        let mut c = !fold(sum(&out[l4..], ps));
        if !self.tcp && c == 0 {
            c = 0xffff; // UDP: 0 would mean "no checksum"
        }
        out[check..check + 2].copy_from_slice(&c.to_be_bytes());
        Some(n)
    }
}

#[cfg(test)]
#[path = "segment_tests.rs"]
mod tests;
