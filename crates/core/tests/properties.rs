//! Property tests: arbitrary bytes never panic the parsers or `Session::open`, and sealed
//! frames always open exactly once.

use std::time::Instant;

use proptest::prelude::*;
use ringvpn_core::frame::{self, HEADER_LEN, TAG_LEN, TYPE_CONTROL, TYPE_DATA};
use ringvpn_core::relay_frame::{self, RelayHeader, NODE_ID_LEN, RELAY_HEADER_LEN};
use ringvpn_core::session::{Session, SessionKeys};
use ringvpn_core::{ether, ip};

fn session(local: u32, remote: u32, send: u8, recv: u8) -> Session {
    let k = SessionKeys {
        local_index: local,
        remote_index: remote,
        send_key: [send; 32],
        recv_key: [recv; 32],
        initiator: true,
    };
    Session::new(&k, Instant::now())
}

proptest! {
    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = frame::parse(&bytes);
        let _ = ip::parse(&bytes);
        let _ = ether::parse(&bytes);
        let _ = ether::parse_arp(&bytes);
        let mut out = [0u8; ether::ARP_FRAME_LEN];
        let _ = ether::answer_arp(&bytes, ether::DEFAULT_VIRTUAL_MAC, |_| true, &mut out);
        if let Ok(info) = ip::parse(&bytes) {
            let _ = ip::udp_ports(&bytes, &info);
        }
    }

    #[test]
    fn relay_parse_never_panics_and_round_trips(
        mut bytes in proptest::collection::vec(any::<u8>(), 0..256),
        zero_reserved in any::<bool>(),
    ) {
        if zero_reserved && bytes.len() >= RELAY_HEADER_LEN {
            bytes[41..44].fill(0);
        }
        match RelayHeader::parse(&bytes) {
            Ok(h) => {
                let mut out = [0u8; RELAY_HEADER_LEN];
                h.write(&mut out);
                prop_assert_eq!(&out[..], &bytes[..RELAY_HEADER_LEN]);
            }
            Err(r) => prop_assert_eq!(r, ringvpn_core::DropReason::RelayMalformed),
        }
    }

    #[test]
    fn ring_distance_is_symmetric_and_at_most_half(a in any::<[u8; NODE_ID_LEN]>(), b in any::<[u8; NODE_ID_LEN]>()) {
        let d = relay_frame::ring_distance(&a, &b);
        prop_assert_eq!(d, relay_frame::ring_distance(&b, &a));
        let mut half = [0u8; NODE_ID_LEN];
        half[0] = 0x80;
        prop_assert!(d <= half);
        prop_assert_eq!(d == [0u8; NODE_ID_LEN], a == b);
    }

    #[test]
    fn open_never_panics(mut bytes in proptest::collection::vec(any::<u8>(), 0..2048), kind in 0u8..8, idx in any::<bool>()) {
        let s = session(7, 9, 1, 2);
        if let Some(b) = bytes.first_mut() { *b = kind; }
        if idx && bytes.len() >= 8 { bytes[1..4].fill(0); bytes[4..8].copy_from_slice(&7u32.to_le_bytes()); }
        let r = s.open(&mut bytes, s.created);
        prop_assert!(r.is_err(), "random bytes authenticated");
    }

    #[test]
    fn sealed_opens_once(payload in proptest::collection::vec(any::<u8>(), 0..1500), control in any::<bool>()) {
        let a = session(1, 2, 3, 4);
        let b = session(2, 1, 4, 3);
        let kind = if control { TYPE_CONTROL } else { TYPE_DATA };
        let mut buf = vec![0u8; HEADER_LEN + payload.len() + TAG_LEN];
        buf[HEADER_LEN..HEADER_LEN + payload.len()].copy_from_slice(&payload);
        let n = a.seal(kind, &mut buf, payload.len(), a.created).expect("seal");
        let copy = buf.clone();
        let (k, r) = b.open(&mut buf[..n], b.created).expect("open");
        prop_assert_eq!(k, kind);
        prop_assert_eq!(&buf[r], &payload[..]);
        prop_assert!(b.open(&mut copy.clone(), b.created).is_err());
    }
}
