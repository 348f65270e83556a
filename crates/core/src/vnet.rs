//! Owns the virtio-net header (`struct virtio_net_hdr`, linux/virtio_net.h) that a TUN/TAP
//! device opened with IFF_VNET_HDR puts before every packet, and the Internet checksum used by
//! the offloads built on it (segment.rs splits, coalesce.rs merges). Must not allocate, do I/O
//! or panic on any input: hostile headers are typed errors, counted by the caller.
//!
//! ```text
//!  0        1        2                 4                 6                 8                10
//! +--------+--------+-----------------+-----------------+-----------------+-----------------+
//! | flags  |gso_type|    hdr_len      |    gso_size     |   csum_start    |   csum_offset   |
//! +--------+--------+-----------------+-----------------+-----------------+-----------------+
//!   flags: 1 = NEEDS_CSUM (the L4 checksum from csum_start is partial: only the pseudo-header
//!          sum is at csum_start + csum_offset), 2 = DATA_VALID (checksum already verified)
//!   gso_type: 0 none, 1 TCPv4, 4 TCPv6, 5 UDP_L4 (USO), | 0x80 ECN; gso_size = MSS
//!   all u16 little-endian (TUNSETVNETLE / native order on the little-endian hosts we run on)
//! ```

use crate::drop::DropReason;

pub const VNET_HDR_LEN: usize = 10;
pub const F_NEEDS_CSUM: u8 = 1;
pub const F_DATA_VALID: u8 = 2;
pub const GSO_NONE: u8 = 0;
pub const GSO_TCPV4: u8 = 1;
pub const GSO_TCPV6: u8 = 4;
pub const GSO_UDP_L4: u8 = 5;
pub const GSO_ECN: u8 = 0x80;

/// What a GSO packet is to be split into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gso {
    None,
    TcpV4,
    TcpV6,
    UdpL4,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VnetHdr {
    pub flags: u8,
    pub gso_type: u8,
    pub hdr_len: u16,
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

impl VnetHdr {
    /// Parse the first 10 bytes. Unknown flags or GSO types, or a GSO type without a segment
    /// size, are `vnet_header`; whether the offsets fit the packet is checked where they are used.
    pub fn decode(b: &[u8]) -> Result<VnetHdr, DropReason> {
        if b.len() < VNET_HDR_LEN {
            return Err(DropReason::VnetHeader);
        }
        let u = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        let h = VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u(2),
            gso_size: u(4),
            csum_start: u(6),
            csum_offset: u(8),
        };
        if h.flags & !(F_NEEDS_CSUM | F_DATA_VALID) != 0 {
            return Err(DropReason::VnetHeader);
        }
        let gso = h.gso()?;
        if gso != Gso::None && (h.gso_size == 0 || h.flags & F_NEEDS_CSUM == 0) {
            return Err(DropReason::VnetHeader);
        }
        Ok(h)
    }

    pub fn gso(&self) -> Result<Gso, DropReason> {
        match self.gso_type & !GSO_ECN {
            GSO_NONE if self.gso_type & GSO_ECN == 0 => Ok(Gso::None),
            GSO_TCPV4 => Ok(Gso::TcpV4),
            GSO_TCPV6 => Ok(Gso::TcpV6),
            GSO_UDP_L4 => Ok(Gso::UdpL4),
            _ => Err(DropReason::VnetGsoType),
        }
    }

    pub fn encode(&self, out: &mut [u8; VNET_HDR_LEN]) {
        out[0] = self.flags;
        out[1] = self.gso_type;
        out[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        out[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        out[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        out[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
    }
}

/// One's-complement sum of `data` (big-endian 16-bit words, an odd last byte padded) added to
/// `acc`, not folded. The sum does not depend on byte order (RFC 1071 2.B): 32-bit words in the
/// machine's order go into four 64-bit lanes (which the compiler vectorises), the lanes are folded
/// to 16 bits and the result swapped to big-endian once; the last bytes go 16 bits at a time.
pub fn sum(data: &[u8], acc: u64) -> u64 {
    let mut lanes = [0u64; 4];
    let mut blocks = data.chunks_exact(16);
    for b in &mut blocks {
        for (k, lane) in lanes.iter_mut().enumerate() {
            let w = [b[4 * k], b[4 * k + 1], b[4 * k + 2], b[4 * k + 3]];
            // at most 2^32 - 1 per word: a lane cannot overflow below 2^32 blocks (64 GiB)
            *lane += u64::from(u32::from_ne_bytes(w));
        }
    }
    let native = fold(
        lanes
            .iter()
            .fold(0u64, |a, &l| a + (l >> 32) + (l & 0xffff_ffff)),
    );
    let mut acc = acc
        + u64::from(if cfg!(target_endian = "little") {
            native.swap_bytes()
        } else {
            native
        });
    let mut rest = blocks.remainder().chunks_exact(2);
    for c in &mut rest {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = rest.remainder() {
        acc += u64::from(*b) << 8;
    }
    acc
}

/// Fold a sum to 16 bits (not complemented).
pub fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The pseudo-header sum of an IPv4 or IPv6 packet's L4 part (`l4_len` bytes), unfolded.
/// `ip` starts at the IP header; `None` when it is not a whole IPv4/IPv6 header.
pub fn pseudo_sum(ip: &[u8], proto: u8, l4_len: usize) -> Option<u64> {
    match ip.first()? >> 4 {
        4 if ip.len() >= 20 => Some(sum(&ip[12..20], u64::from(proto) + l4_len as u64)),
        6 if ip.len() >= 40 => Some(sum(&ip[8..40], u64::from(proto) + l4_len as u64)),
        _ => None,
    }
}

/// Complete a partial checksum (NEEDS_CSUM without GSO): the field at `start + offset` holds the
/// pseudo-header sum; the sum from `start` to the end, complemented, goes there.
pub fn complete_checksum(pkt: &mut [u8], start: usize, offset: usize) -> Result<(), DropReason> {
    let at = start.checked_add(offset).ok_or(DropReason::VnetHeader)?;
    if at.checked_add(2).is_none_or(|end| end > pkt.len()) {
        return Err(DropReason::VnetHeader);
    }
    let c = !fold(sum(&pkt[start..], 0));
    pkt[at..at + 2].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_golden_bytes() {
        let h = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_TCPV4,
            hdr_len: 54,
            gso_size: 1448,
            csum_start: 34,
            csum_offset: 16,
        };
        let mut b = [0u8; VNET_HDR_LEN];
        h.encode(&mut b);
        assert_eq!(b, [1, 1, 54, 0, 0xa8, 0x05, 34, 0, 16, 0]);
        assert_eq!(VnetHdr::decode(&b), Ok(h));
        assert_eq!(h.gso(), Ok(Gso::TcpV4));
    }

    #[test]
    fn hostile_headers_are_typed_errors() {
        assert_eq!(VnetHdr::decode(&[0; 9]), Err(DropReason::VnetHeader));
        assert_eq!(
            VnetHdr::decode(&[4, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(DropReason::VnetHeader),
            "unknown flag"
        );
        assert_eq!(
            VnetHdr::decode(&[1, 3, 0, 0, 0, 5, 0, 0, 0, 0]),
            Err(DropReason::VnetGsoType),
            "UFO (3) is not offered"
        );
        assert_eq!(
            VnetHdr::decode(&[0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(DropReason::VnetGsoType),
            "ECN without a GSO type"
        );
        assert_eq!(
            VnetHdr::decode(&[1, 1, 0, 0, 0, 0, 34, 0, 16, 0]),
            Err(DropReason::VnetHeader),
            "GSO without a segment size"
        );
        assert_eq!(
            VnetHdr::decode(&[0, 4, 0, 0, 0, 5, 0, 0, 0, 0]),
            Err(DropReason::VnetHeader),
            "GSO without NEEDS_CSUM"
        );
        assert_eq!(
            VnetHdr::decode(&[1, GSO_TCPV6 | GSO_ECN, 0, 0, 0, 5, 0, 0, 0, 0])
                .unwrap()
                .gso(),
            Ok(Gso::TcpV6)
        );
    }

    /// RFC 1071's example: the words 0001 f203 f4f5 f6f7 sum to 0xddf2 (folded).
    #[test]
    fn sum_matches_rfc1071_and_a_two_byte_reference() {
        assert_eq!(
            fold(sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7], 0)),
            0xddf2
        );
        let data: Vec<u8> = (0..1001u32).map(|i| (i * 7 + 3) as u8).collect();
        let reference = reference_sum(&data, 0);
        for split in [0, 1, 8, 9, 500, 1001] {
            // any split on an even boundary gives the same sum
            let split = split & !1;
            let s = fold(sum(&data[split..], sum(&data[..split], 0)));
            assert_eq!(s, reference);
        }
    }

    /// The two-byte reference, folded: what `fold(sum(data, acc))` must give.
    fn reference_sum(data: &[u8], acc: u64) -> u16 {
        let mut r = acc;
        for c in data.chunks(2) {
            r += u64::from(c[0]) << 8 | u64::from(*c.get(1).unwrap_or(&0));
        }
        fold(r)
    }

    proptest::proptest! {
        /// The lane sum in the machine's byte order equals big-endian 16-bit words summed one by
        /// one: any length (blocks of 16 and the tail), any start, sums that fold to 0xffff.
        #[test]
        fn lane_sum_equals_the_two_byte_reference(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000),
            ones in 0usize..3000,
            acc in 0u64..(1 << 40),
        ) {
            proptest::prop_assert_eq!(fold(sum(&data, acc)), reference_sum(&data, acc));
            let ff = vec![0xffu8; ones];
            proptest::prop_assert_eq!(fold(sum(&ff, acc)), reference_sum(&ff, acc));
            proptest::prop_assert_eq!(fold(sum(&ff, 0)), reference_sum(&ff, 0));
        }
    }

    #[test]
    fn complete_checksum_checks_bounds() {
        let mut p = [0u8; 8];
        assert_eq!(complete_checksum(&mut p, 4, 3), Err(DropReason::VnetHeader));
        assert_eq!(
            complete_checksum(&mut p, usize::MAX, 3),
            Err(DropReason::VnetHeader)
        );
        assert_eq!(complete_checksum(&mut p, 0, 6), Ok(()));
        assert_eq!(&p[6..], &[0xff, 0xff]);
    }
}
