use super::*;
use crate::aead::{RingAead, RustCryptoAead};

fn keys(a_to_b: [u8; 32], b_to_a: [u8; 32]) -> (SessionKeys, SessionKeys) {
    let a = SessionKeys {
        local_index: 1,
        remote_index: 2,
        send_key: a_to_b,
        recv_key: b_to_a,
        initiator: true,
    };
    let b = SessionKeys {
        local_index: 2,
        remote_index: 1,
        send_key: b_to_a,
        recv_key: a_to_b,
        initiator: false,
    };
    (a, b)
}

fn pair<A: Aead>(now: Instant) -> (Session<A>, Session<A>) {
    let (a, b) = keys([1; 32], [2; 32]);
    (Session::new(&a, now), Session::new(&b, now))
}

fn sealed<A: Aead>(s: &Session<A>, kind: u8, payload: &[u8], now: Instant) -> Vec<u8> {
    let mut buf = vec![0u8; HEADER_LEN + payload.len() + TAG_LEN];
    buf[HEADER_LEN..HEADER_LEN + payload.len()].copy_from_slice(payload);
    let n = s.seal(kind, &mut buf, payload.len(), now).expect("seal");
    assert_eq!(n, buf.len());
    buf
}

#[test]
fn round_trip_data_and_control() {
    let now = Instant::now();
    let (a, b) = pair::<DefaultAead>(now);
    for (i, kind) in [TYPE_DATA, TYPE_CONTROL, TYPE_DATA].into_iter().enumerate() {
        let payload = vec![i as u8; 100 * i];
        let mut f = sealed(&a, kind, &payload, now);
        let (k, r) = b.open(&mut f, now).expect("open");
        assert_eq!(k, kind);
        assert_eq!(&f[r], &payload[..]);
    }
    // And back the other way.
    let mut f = sealed(&b, TYPE_DATA, b"pong", now);
    let (_, r) = a.open(&mut f, now).expect("open");
    assert_eq!(&f[r], b"pong");
    assert_eq!(a.sent(), 3);
}

#[test]
fn replayed_frame_refused() {
    let now = Instant::now();
    let (a, b) = pair::<DefaultAead>(now);
    let f = sealed(&a, TYPE_DATA, b"x", now);
    assert!(b.open(&mut f.clone(), now).is_ok());
    assert_eq!(b.open(&mut f.clone(), now), Err(DropReason::Replay));
}

#[test]
fn every_flipped_bit_fails() {
    let now = Instant::now();
    let (a, b) = pair::<DefaultAead>(now);
    let f = sealed(&a, TYPE_DATA, b"0123456789abcdef", now);
    for bit in 0..f.len() * 8 {
        let mut g = f.clone();
        g[bit / 8] ^= 1 << (bit % 8);
        assert!(b.open(&mut g, now).is_err(), "bit {bit} accepted");
    }
    // The untouched frame still opens afterwards (failures did not commit the counter).
    assert!(b.open(&mut f.clone(), now).is_ok());
}

#[test]
fn wrong_key_fails() {
    let now = Instant::now();
    let (ka, _) = keys([1; 32], [2; 32]);
    let (_, kb) = keys([3; 32], [2; 32]);
    let (a, b) = (
        Session::<DefaultAead>::new(&ka, now),
        Session::<DefaultAead>::new(&kb, now),
    );
    let mut f = sealed(&a, TYPE_DATA, b"secret", now);
    assert_eq!(b.open(&mut f, now), Err(DropReason::AuthFailed));
}

#[test]
fn wrong_index_and_short() {
    let now = Instant::now();
    let (a, _) = pair::<DefaultAead>(now);
    let (_, b2) = keys([1; 32], [2; 32]);
    let other = Session::<DefaultAead>::new(
        &SessionKeys {
            local_index: 9,
            ..b2
        },
        now,
    );
    let mut f = sealed(&a, TYPE_DATA, b"x", now);
    assert_eq!(other.open(&mut f, now), Err(DropReason::UnknownIndex));
    assert_eq!(other.open(&mut [4u8; 10], now), Err(DropReason::ShortFrame));
    assert_eq!(
        other.open(&mut [1u8; 40], now),
        Err(DropReason::UnknownType)
    );
}

#[test]
fn expired_by_time_refuses() {
    let t0 = Instant::now();
    let (a, b) = pair::<DefaultAead>(t0);
    let f = sealed(&a, TYPE_DATA, b"x", t0);
    let later = t0 + REJECT_AFTER_TIME;
    assert!(a.is_expired(later));
    assert!(!a.is_expired(later - Duration::from_millis(1)));
    assert_eq!(
        b.open(&mut f.clone(), later),
        Err(DropReason::SessionExpired)
    );
    let mut buf = [0u8; 64];
    assert_eq!(
        a.seal(TYPE_DATA, &mut buf, 8, later),
        Err(DropReason::SessionExpired)
    );
    assert!(b
        .open(&mut f.clone(), later - Duration::from_secs(1))
        .is_ok());
}

#[test]
fn expired_by_counter_refuses() {
    let now = Instant::now();
    let (a, b) = pair::<DefaultAead>(now);
    a.send_counter
        .store(REJECT_AFTER_MESSAGES - 1, Ordering::Relaxed);
    let mut f = sealed(&a, TYPE_DATA, b"last", now);
    assert!(b.open(&mut f, now).is_ok());
    let mut buf = [0u8; 64];
    assert_eq!(
        a.seal(TYPE_DATA, &mut buf, 8, now),
        Err(DropReason::SessionExpired)
    );
    assert_eq!(
        a.seal(TYPE_DATA, &mut buf, 8, now),
        Err(DropReason::SessionExpired)
    );
    assert!(a.is_expired(now));
    assert_eq!(a.sent(), REJECT_AFTER_MESSAGES);
}

#[test]
fn rekey_thresholds() {
    let t0 = Instant::now();
    let (a, _) = pair::<DefaultAead>(t0);
    assert!(!a.needs_rekey(t0 + REKEY_AFTER_TIME - Duration::from_millis(1)));
    assert!(a.needs_rekey(t0 + REKEY_AFTER_TIME));
    a.send_counter
        .store(REKEY_AFTER_MESSAGES, Ordering::Relaxed);
    assert!(a.needs_rekey(t0));
    // A clock that goes backwards is treated as age zero.
    let (c, _) = pair::<DefaultAead>(t0 + Duration::from_secs(5));
    assert!(!c.needs_rekey(t0));
}

#[test]
fn seal_limits() {
    let now = Instant::now();
    let (a, _) = pair::<DefaultAead>(now);
    let mut buf = [0u8; 40];
    assert_eq!(
        a.seal(TYPE_DATA, &mut buf, 9, now),
        Err(DropReason::Oversize)
    );
    assert_eq!(a.seal(1, &mut buf, 0, now), Err(DropReason::UnknownType));
    assert_eq!(a.seal(TYPE_DATA, &mut buf, 8, now), Ok(40));
}

/// Key bytes 0..32, remote index 0x11223344, counter 0, DATA, payload "ringvpn golden vector".
/// Expected bytes computed independently with Node's crypto (OpenSSL chacha20-poly1305).
const GOLDEN: &str = "040000004433221100000000000000006ad12c56db96c8f1740e3005ca2d6e519dd2879a93054b6146b91be89d0609c4a9bc2a9650";

/// The golden vectors' keys: key bytes 0..32 from index 7 to index 0x11223344 (sender, receiver).
fn golden_keys() -> (SessionKeys, SessionKeys) {
    let mut key = [0u8; 32];
    for (i, b) in key.iter_mut().enumerate() {
        *b = i as u8;
    }
    let tx = SessionKeys {
        local_index: 7,
        remote_index: 0x1122_3344,
        send_key: key,
        recv_key: [0; 32],
        initiator: true,
    };
    let rx = SessionKeys {
        local_index: 0x1122_3344,
        remote_index: 7,
        send_key: [0; 32],
        recv_key: key,
        initiator: false,
    };
    (tx, rx)
}

fn golden_frame<A: Aead>() -> Vec<u8> {
    let s = Session::<A>::new(&golden_keys().0, Instant::now());
    sealed(&s, TYPE_DATA, b"ringvpn golden vector", s.created)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn golden_vector_ring_and_rustcrypto_agree() {
    let r = golden_frame::<RingAead>();
    let c = golden_frame::<RustCryptoAead>();
    assert_eq!(hex(&r), GOLDEN);
    assert_eq!(r, c);
    #[cfg(feature = "aws-lc")]
    assert_eq!(hex(&golden_frame::<crate::aead::AwsLcAead>()), GOLDEN);
    // And it opens on the receiving side.
    let s = Session::<RustCryptoAead>::new(&golden_keys().1, Instant::now());
    let mut f = r.clone();
    let (kind, range) = s.open(&mut f, s.created).expect("open golden");
    assert_eq!(
        (kind, &f[range]),
        (TYPE_DATA, &b"ringvpn golden vector"[..])
    );
}

#[test]
fn cross_impl_open() {
    let now = Instant::now();
    let (ka, kb) = keys([9; 32], [8; 32]);
    let a = Session::<RingAead>::new(&ka, now);
    let b = Session::<RustCryptoAead>::new(&kb, now);
    let mut f = sealed(&a, TYPE_CONTROL, &[0xab; 1400], now);
    let (_, r) = b.open(&mut f, now).expect("open");
    assert_eq!(&f[r], &[0xab; 1400][..]);
}

/// A RELAY payload: relay header (dst 0xaa.., src 0x55.., ttl 16, FLAG_LINK) and a 40-byte inner
/// frame 0x40..0x68 (its header 0x40..0x50, body 0x50..0x58, tag 0x58..0x68).
fn relay_payload() -> Vec<u8> {
    let mut p = vec![0xaa; 20];
    p.extend([0x55; 20]);
    p.extend([16, crate::relay_frame::FLAG_LINK, 0, 0]);
    p.extend(0x40..0x68u8);
    p
}

/// Key bytes 0..32, remote index 0x11223344, counter 0, RELAY, `relay_payload()`: the relay
/// header encrypted, the inner frame in place, AAD per relay_frame.rs `link_aad`. Expected
/// bytes computed independently with Node's crypto (OpenSSL chacha20-poly1305).
const GOLDEN_RELAY: &str = "06000000443322110000000000000000b212e89b074c0c7bb9cbf6cb05e9e48d521b595fb4f80e09b9ada9477f602009275d5d3884bb69088d805824404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f6061626364656667274fd185fc581022352a032d3380595a";

#[test]
fn relay_link_layer_golden_and_round_trip() {
    let (tx, rx) = golden_keys();
    let payload = relay_payload();
    let r = Session::<RingAead>::new(&tx, Instant::now());
    let f = sealed(&r, TYPE_RELAY, &payload, r.created);
    assert_eq!(hex(&f), GOLDEN_RELAY);
    let c = Session::<RustCryptoAead>::new(&tx, Instant::now());
    assert_eq!(sealed(&c, TYPE_RELAY, &payload, c.created), f);
    // the relay header is ciphertext on the wire, the inner frame travels as it was sealed
    assert_ne!(f[16..60], payload[..44]);
    assert_eq!(f[60..100], payload[44..]);
    let open = Session::<RingAead>::new(&rx, Instant::now());
    let mut g = f.clone();
    let (kind, range) = open.open(&mut g, open.created).expect("open relay");
    assert_eq!((kind, &g[range]), (TYPE_RELAY, &payload[..]));
    let s = Session::<RustCryptoAead>::new(&rx, Instant::now());
    let mut g = f.clone();
    let (_, range) = s.open(&mut g, s.created).expect("open relay (RustCrypto)");
    assert_eq!(&g[range], &payload[..]);
}

#[test]
fn relay_link_layer_tampering() {
    let now = Instant::now();
    let (a, _) = pair::<DefaultAead>(now);
    let payload = relay_payload();
    let f = sealed(&a, TYPE_RELAY, &payload, now);
    for byte in 0..f.len() {
        let mut g = f.clone();
        g[byte] ^= 0x10;
        let (_, b) = pair::<DefaultAead>(now);
        let got = b.open(&mut g, now);
        if (60 + 16..60 + 24).contains(&byte) {
            // the inner body is the end-to-end layer's to authenticate (its tag is in the AAD)
            let (_, range) = got.expect("inner body is not the link layer's");
            assert_ne!(g[range], payload[..]);
        } else {
            assert!(got.is_err(), "flipped byte {byte} accepted");
        }
    }
    // a shorter or longer inner frame (same header and tag) fails: the length is in the AAD
    for cut in [1usize, 8] {
        let mut g = f.clone();
        g.drain(76..76 + cut);
        let (_, b) = pair::<DefaultAead>(now);
        assert_eq!(b.open(&mut g, now), Err(DropReason::AuthFailed));
    }
    let mut g = f.clone();
    g.splice(80..80, [0u8; 4]);
    let (_, b) = pair::<DefaultAead>(now);
    assert_eq!(b.open(&mut g, now), Err(DropReason::AuthFailed));
    // too short to hold a relay header and an inner frame: refused on both sides, no counter used
    let (_, b) = pair::<DefaultAead>(now);
    let mut short = f[..f.len() - 16 - 9].to_vec();
    short.extend_from_slice(&f[f.len() - 16..]);
    assert_eq!(b.open(&mut short, now), Err(DropReason::RelayMalformed));
    let mut buf = vec![0u8; 200];
    assert_eq!(
        a.seal(TYPE_RELAY, &mut buf, MIN_RELAY_PAYLOAD - 1, now),
        Err(DropReason::RelayMalformed)
    );
    assert_eq!(a.sent(), 1);
    assert_eq!(
        a.seal(TYPE_RELAY, &mut buf, MIN_RELAY_PAYLOAD, now),
        Ok(MIN_RELAY_PAYLOAD + 32)
    );
}
