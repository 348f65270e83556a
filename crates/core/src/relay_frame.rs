//! Owns the relay header (the start of every RELAY frame's plaintext), what a RELAY frame's
//! link layer authenticates, and the ring distance between 160-bit node ids. Must not decrypt,
//! choose next hops, allocate, or panic on any input: `RelayHeader::parse` maps every byte
//! string to a header or `relay_malformed`.
//!
//! ```text
//!  0                        20                       40       41                44
//!  +------------------------+------------------------+--------+--------+--------+--------+-------------------------+
//!  | dst node id (20 B, BE) | src node id (20 B, BE) | ttl u8 | flags  | 0      | 0      | inner DATA/CONTROL frame|
//!  +------------------------+------------------------+--------+--------+--------+--------+-------------------------+
//!  \______________ encrypted with the hop's link session ______________________________/ \_ sealed end to end ____/
//! ```
//! flags bit0 (`FLAG_LINK`): `src` sends through this hop as its relay link to `dst` (a relay
//! chosen by both ends, not greedy forwarding); the relay counts such pairs against its limits.
//! Other flag bits must be zero.
//! The whole thing is the payload of an outer RELAY frame (frame.rs, type 6) protected with the
//! link session of each hop, and the inner frame is sealed end to end with the session between
//! `src` and `dst`. The link layer encrypts only the relay header: its ChaCha20-Poly1305 AAD is
//! `link_aad` (the outer header, the inner frame's header and tag, and the inner frame's
//! length), so a hop authenticates the whole frame without a second pass of the cipher over a
//! body that is already ciphertext. A changed inner body fails at `dst`'s end-to-end open; a
//! changed inner header, tag or length fails at the hop. A hop that is not `dst` checks
//! ttl > 0, decrements it and re-seals the relay header for the next hop without touching the
//! inner frame; `dst` opens the inner frame with a session of the peer whose node id is `src`.
//! Node ids are 160-bit unsigned big-endian integers on a ring modulo 2^160.

use crate::drop::DropReason;
use crate::frame::{HEADER_LEN, MIN_TRANSPORT_LEN, TAG_LEN};

pub const NODE_ID_LEN: usize = 20;
/// A 160-bit overlay node id, big-endian.
pub type NodeId = [u8; NODE_ID_LEN];
/// dst id + src id + ttl + 3 reserved zero bytes.
pub const RELAY_HEADER_LEN: usize = 2 * NODE_ID_LEN + 4;
/// Offset of the ttl byte inside the header (hops decrement it in place).
pub const TTL_OFFSET: usize = 2 * NODE_ID_LEN;
/// The ttl a relayed packet starts with.
pub const DEFAULT_TTL: u8 = 16;
/// Flags bit0: a relay link's frame (see the module diagram).
pub const FLAG_LINK: u8 = 1;

/// A parsed relay header (copied out of the packet: 41 bytes on the stack).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayHeader {
    pub dst: NodeId,
    pub src: NodeId,
    pub ttl: u8,
    /// `FLAG_LINK`: a relay link's frame.
    pub link: bool,
}

impl RelayHeader {
    /// Parse the header at the start of `buf`; the inner frame is `&buf[RELAY_HEADER_LEN..]`.
    /// Never panics.
    pub fn parse(buf: &[u8]) -> Result<RelayHeader, DropReason> {
        let Some(h) = buf.get(..RELAY_HEADER_LEN) else {
            return Err(DropReason::RelayMalformed);
        };
        if h[TTL_OFFSET + 1] & !FLAG_LINK != 0 || h[TTL_OFFSET + 2..] != [0, 0] {
            return Err(DropReason::RelayMalformed);
        }
        let mut dst = [0u8; NODE_ID_LEN];
        let mut src = [0u8; NODE_ID_LEN];
        dst.copy_from_slice(&h[..NODE_ID_LEN]);
        src.copy_from_slice(&h[NODE_ID_LEN..TTL_OFFSET]);
        Ok(RelayHeader {
            dst,
            src,
            ttl: h[TTL_OFFSET],
            link: h[TTL_OFFSET + 1] & FLAG_LINK != 0,
        })
    }

    /// Write the header (reserved bytes zeroed).
    pub fn write(&self, out: &mut [u8; RELAY_HEADER_LEN]) {
        out[..NODE_ID_LEN].copy_from_slice(&self.dst);
        out[NODE_ID_LEN..TTL_OFFSET].copy_from_slice(&self.src);
        out[TTL_OFFSET] = self.ttl;
        out[TTL_OFFSET + 1] = if self.link { FLAG_LINK } else { 0 };
        out[TTL_OFFSET + 2..].fill(0);
    }
}

/// Length of a RELAY frame's link-layer AAD (`link_aad`).
pub const LINK_AAD_LEN: usize = HEADER_LEN + HEADER_LEN + TAG_LEN + 4;
/// The smallest RELAY payload: the relay header and an empty inner transport frame.
pub const MIN_RELAY_PAYLOAD: usize = RELAY_HEADER_LEN + MIN_TRANSPORT_LEN;

/// The AAD of a RELAY frame's link layer: the outer header, then the inner frame's header and
/// tag, then the inner frame's length (u32 LE). `payload` is the RELAY payload (relay header
/// and inner frame); shorter than `MIN_RELAY_PAYLOAD`: `relay_malformed`.
pub fn link_aad(
    header: &[u8; HEADER_LEN],
    payload: &[u8],
) -> Result<[u8; LINK_AAD_LEN], DropReason> {
    let inner = match payload.get(RELAY_HEADER_LEN..) {
        Some(i) if i.len() >= MIN_TRANSPORT_LEN => i,
        _ => return Err(DropReason::RelayMalformed),
    };
    let len = u32::try_from(inner.len()).map_err(|_| DropReason::RelayMalformed)?;
    let mut aad = [0u8; LINK_AAD_LEN];
    aad[..HEADER_LEN].copy_from_slice(header);
    aad[HEADER_LEN..2 * HEADER_LEN].copy_from_slice(&inner[..HEADER_LEN]);
    aad[2 * HEADER_LEN..2 * HEADER_LEN + TAG_LEN].copy_from_slice(&inner[inner.len() - TAG_LEN..]);
    aad[2 * HEADER_LEN + TAG_LEN..].copy_from_slice(&len.to_le_bytes());
    Ok(aad)
}

/// `a - b` modulo 2^160 (big-endian, with borrow).
fn sub_mod(a: &NodeId, b: &NodeId) -> NodeId {
    let mut out = [0u8; NODE_ID_LEN];
    let mut borrow = 0u16;
    for i in (0..NODE_ID_LEN).rev() {
        let d = u16::from(a[i])
            .wrapping_sub(u16::from(b[i]))
            .wrapping_sub(borrow);
        out[i] = d as u8; // low byte; the borrow is in the high bits
        borrow = u16::from(d > 0xff);
    }
    out
}

/// Ring distance: min(clockwise, counter-clockwise) between two ids modulo 2^160. The result
/// is itself a big-endian 160-bit number, so distances compare with `<` on the arrays.
pub fn ring_distance(a: &NodeId, b: &NodeId) -> NodeId {
    let cw = sub_mod(b, a);
    let ccw = sub_mod(a, b);
    cw.min(ccw)
}

/// Lowercase hex of a node id (for stats and logs).
pub fn to_hex(id: &NodeId) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(last: u8) -> NodeId {
        let mut n = [0u8; NODE_ID_LEN];
        n[NODE_ID_LEN - 1] = last;
        n
    }

    #[test]
    fn round_trip() {
        let h = RelayHeader {
            dst: [0xaa; NODE_ID_LEN],
            src: [0x55; NODE_ID_LEN],
            ttl: 7,
            link: false,
        };
        let mut out = [0xffu8; RELAY_HEADER_LEN];
        h.write(&mut out);
        assert_eq!(&out[40..], &[7, 0, 0, 0]);
        let l = RelayHeader { link: true, ..h };
        let mut lo = [0u8; RELAY_HEADER_LEN];
        l.write(&mut lo);
        assert_eq!(&lo[40..], &[7, FLAG_LINK, 0, 0]);
        assert_eq!(RelayHeader::parse(&lo), Ok(l));
        let mut pkt = out.to_vec();
        pkt.extend_from_slice(b"inner");
        assert_eq!(RelayHeader::parse(&pkt), Ok(h));
        assert_eq!(&pkt[RELAY_HEADER_LEN..], b"inner");
        // Header alone (empty inner frame) parses; the caller rejects the inner frame.
        assert_eq!(RelayHeader::parse(&out), Ok(h));
    }

    #[test]
    fn hostile_bytes() {
        assert_eq!(RelayHeader::parse(&[]), Err(DropReason::RelayMalformed));
        assert_eq!(
            RelayHeader::parse(&[0u8; RELAY_HEADER_LEN - 1]),
            Err(DropReason::RelayMalformed)
        );
        for i in TTL_OFFSET + 2..RELAY_HEADER_LEN {
            let mut b = [0u8; RELAY_HEADER_LEN];
            b[i] = 1;
            assert_eq!(RelayHeader::parse(&b), Err(DropReason::RelayMalformed));
        }
        for flags in 2..=255u8 {
            let mut b = [0u8; RELAY_HEADER_LEN];
            b[TTL_OFFSET + 1] = flags;
            assert_eq!(RelayHeader::parse(&b), Err(DropReason::RelayMalformed));
        }
        let mut b = [0xffu8; 64];
        b[41..44].fill(0);
        assert_eq!(RelayHeader::parse(&b).map(|h| h.ttl), Ok(0xff));
    }

    #[test]
    fn link_aad_covers_outer_header_inner_header_tag_and_length() {
        let header = [6u8; HEADER_LEN];
        let mut payload = vec![0u8; RELAY_HEADER_LEN];
        payload.extend((0..40u8).map(|i| i + 1)); // a 40-byte inner frame: header 1..=16, tag 25..=40
        let aad = link_aad(&header, &payload).unwrap();
        assert_eq!(aad[..16], [6u8; 16]);
        assert_eq!(aad[16..32], *(1..=16u8).collect::<Vec<_>>());
        assert_eq!(aad[32..48], *(25..=40u8).collect::<Vec<_>>());
        assert_eq!(aad[48..], 40u32.to_le_bytes());
        // The inner body (17..=24) is not in it: the end-to-end tag covers it.
        assert!(!aad.contains(&20));
        assert!(link_aad(&header, &payload[..MIN_RELAY_PAYLOAD]).is_ok());
        assert_eq!(
            link_aad(&header, &payload[..MIN_RELAY_PAYLOAD - 1]),
            Err(DropReason::RelayMalformed)
        );
        assert_eq!(link_aad(&header, &[]), Err(DropReason::RelayMalformed));
    }

    #[test]
    fn distances() {
        assert_eq!(ring_distance(&id(5), &id(5)), [0; NODE_ID_LEN]);
        assert_eq!(ring_distance(&id(5), &id(9)), id(4));
        assert_eq!(ring_distance(&id(9), &id(5)), id(4));
        // Across zero: 2^160 - 1 and 2 are 3 apart.
        let max = [0xff; NODE_ID_LEN];
        assert_eq!(ring_distance(&max, &id(2)), id(3));
        assert_eq!(ring_distance(&id(2), &max), id(3));
        // Antipodes: exactly half the ring either way.
        let mut half = [0u8; NODE_ID_LEN];
        half[0] = 0x80;
        assert_eq!(ring_distance(&[0; NODE_ID_LEN], &half), half);
        // Borrow propagates across bytes.
        let mut a = [0u8; NODE_ID_LEN];
        a[18] = 1; // 256
        assert_eq!(ring_distance(&a, &id(1)), id(255));
        assert!(ring_distance(&id(1), &id(3)) < ring_distance(&id(1), &id(4)));
        assert_eq!(to_hex(&id(0xab))[36..], *"00ab");
        assert_eq!(to_hex(&max).len(), 40);
    }
}
