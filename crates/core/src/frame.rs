//! Owns the outer frame format (the first bytes of every UDP datagram): type constants,
//! header layout, parsing and header writing. Must not decrypt, allocate, or panic on any
//! input: `parse` maps every byte string to a `Frame` or a `DropReason`.
//!
//! ```text
//!  0        1        2        3        4                8                       16
//!  +--------+--------+--------+--------+----------------+-----------------------+----------------+------+
//!  | type   | 0      | 0      | 0      | receiver u32LE | counter u64LE          | ciphertext ... | tag16|   DATA(4) / CONTROL(5) / RELAY(6)
//!  +--------+--------+--------+--------+----------------+-----------------------+----------------+------+
//!  | type 1/2/3/7 | ... body owned by TypeScript (ts/handshake/messages.ts, overlay probes) ...             HANDSHAKE_INIT(1) / RESP(2) / COOKIE(3) / PROBE(7)
//! ```
//! Transport class (4, 5, 6): sealed with the session of the peer the frame is for; nonce =
//! 4 zero bytes || counter (u64 LE); AAD = the 16-byte header (the type byte is authenticated).
//! A RELAY payload is the relay header owned by relay_frame.rs followed by an end-to-end
//! DATA/CONTROL frame (this same format, sealed with the destination's session); its link
//! layer encrypts only the relay header, with relay_frame.rs's `link_aad` as AAD. Handshake
//! class (1, 2, 3, 7): the whole datagram goes to TypeScript unchanged.

use crate::drop::DropReason;

pub const TYPE_HANDSHAKE_INIT: u8 = 1;
pub const TYPE_HANDSHAKE_RESP: u8 = 2;
pub const TYPE_COOKIE: u8 = 3;
pub const TYPE_DATA: u8 = 4;
pub const TYPE_CONTROL: u8 = 5;
/// A frame relayed through overlay hops (plaintext = relay header + end-to-end DATA/CONTROL
/// frame sealed with the destination's session; hops never open the inner frame).
pub const TYPE_RELAY: u8 = 6;
/// An overlay probe (e.g. NAT/liveness probes before a session exists); TypeScript owns the body.
pub const TYPE_PROBE: u8 = 7;

/// DATA/CONTROL/RELAY header length (type, 3 zero bytes, receiver, counter).
pub const HEADER_LEN: usize = 16;
/// Poly1305 tag length.
pub const TAG_LEN: usize = 16;
/// Smallest valid transport frame (empty plaintext, e.g. a keepalive).
pub const MIN_TRANSPORT_LEN: usize = HEADER_LEN + TAG_LEN;
/// Largest frame we accept or produce (max UDP payload).
pub const MAX_FRAME_LEN: usize = 65_507;

/// A parsed outer frame borrowing the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// Types 1..3 and 7: passed to TypeScript unchanged (the whole datagram).
    Handshake { kind: u8, bytes: &'a [u8] },
    /// DATA, CONTROL or RELAY: `body` is ciphertext followed by the 16-byte tag.
    Transport {
        kind: u8,
        receiver: u32,
        counter: u64,
        header: &'a [u8; HEADER_LEN],
        body: &'a [u8],
    },
}

/// Parse a datagram. Never panics.
pub fn parse(buf: &[u8]) -> Result<Frame<'_>, DropReason> {
    let Some(&kind) = buf.first() else {
        return Err(DropReason::ShortFrame);
    };
    match kind {
        TYPE_HANDSHAKE_INIT | TYPE_HANDSHAKE_RESP | TYPE_COOKIE | TYPE_PROBE => {
            Ok(Frame::Handshake { kind, bytes: buf })
        }
        TYPE_DATA | TYPE_CONTROL | TYPE_RELAY => {
            if buf.len() < MIN_TRANSPORT_LEN {
                return Err(DropReason::ShortFrame);
            }
            if buf.len() > MAX_FRAME_LEN {
                return Err(DropReason::Oversize);
            }
            let (header, body) = buf.split_at(HEADER_LEN);
            let header: &[u8; HEADER_LEN] =
                header.try_into().map_err(|_| DropReason::ShortFrame)?;
            if header[1..4] != [0, 0, 0] {
                return Err(DropReason::UnknownType);
            }
            let (receiver, counter) = read_indices(header);
            Ok(Frame::Transport {
                kind,
                receiver,
                counter,
                header,
                body,
            })
        }
        _ => Err(DropReason::UnknownType),
    }
}

fn read_indices(header: &[u8; HEADER_LEN]) -> (u32, u64) {
    let receiver = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let mut c = [0u8; 8];
    c.copy_from_slice(&header[8..16]);
    (receiver, u64::from_le_bytes(c))
}

/// Write a transport (DATA/CONTROL/RELAY) header into `buf[..16]`.
pub fn write_header(buf: &mut [u8; HEADER_LEN], kind: u8, receiver: u32, counter: u64) {
    buf[0] = kind;
    buf[1..4].fill(0);
    buf[4..8].copy_from_slice(&receiver.to_le_bytes());
    buf[8..16].copy_from_slice(&counter.to_le_bytes());
}

/// The 12-byte ChaCha20-Poly1305 nonce for a counter: 4 zero bytes || counter LE.
pub fn nonce_bytes(counter: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_le_bytes());
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let mut h = [0xffu8; HEADER_LEN];
        write_header(&mut h, TYPE_DATA, 0x0102_0304, 0x1122_3344_5566_7788);
        assert_eq!(
            h,
            [4, 0, 0, 0, 4, 3, 2, 1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]
        );
        let mut frame = h.to_vec();
        frame.extend_from_slice(&[0u8; TAG_LEN]);
        match parse(&frame) {
            Ok(Frame::Transport {
                kind,
                receiver,
                counter,
                body,
                ..
            }) => {
                assert_eq!(
                    (kind, receiver, counter, body.len()),
                    (TYPE_DATA, 0x0102_0304, 0x1122_3344_5566_7788, 16)
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects() {
        assert_eq!(parse(&[]), Err(DropReason::ShortFrame));
        assert_eq!(parse(&[TYPE_DATA; 31]), Err(DropReason::ShortFrame));
        assert_eq!(parse(&[0u8; 40]), Err(DropReason::UnknownType));
        assert_eq!(parse(&[TYPE_RELAY; 40]), Err(DropReason::UnknownType));
        assert_eq!(parse(&[TYPE_RELAY; 31]), Err(DropReason::ShortFrame));
        assert_eq!(parse(&[8u8; 40]), Err(DropReason::UnknownType));
        assert_eq!(parse(&[0xffu8; 40]), Err(DropReason::UnknownType));
        let mut f = [0u8; 32];
        f[0] = TYPE_CONTROL;
        f[2] = 1;
        assert_eq!(parse(&f), Err(DropReason::UnknownType));
        assert_eq!(
            parse(&vec![TYPE_DATA; MAX_FRAME_LEN + 1]),
            Err(DropReason::Oversize)
        );
    }

    #[test]
    fn handshake_passes_through() {
        let f = [TYPE_HANDSHAKE_RESP, 9, 9];
        assert_eq!(parse(&f), Ok(Frame::Handshake { kind: 2, bytes: &f }));
        assert!(matches!(parse(&[1]), Ok(Frame::Handshake { kind: 1, .. })));
        let probe = [TYPE_PROBE, 0, 0, 0, 1, 2];
        assert_eq!(
            parse(&probe),
            Ok(Frame::Handshake {
                kind: TYPE_PROBE,
                bytes: &probe
            })
        );
    }

    #[test]
    fn relay_is_transport_class() {
        let mut f = [0u8; 48];
        write_header(
            (&mut f[..HEADER_LEN]).try_into().expect("16 bytes"),
            TYPE_RELAY,
            9,
            3,
        );
        assert!(matches!(
            parse(&f),
            Ok(Frame::Transport {
                kind: TYPE_RELAY,
                receiver: 9,
                counter: 3,
                ..
            })
        ));
    }

    #[test]
    fn nonce_layout() {
        assert_eq!(nonce_bytes(1), [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    }
}
