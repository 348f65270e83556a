//! The destination side of end-to-end relaying (A -> B -> C, fixtures in relay_tests.rs): the
//! inner frame's session must belong to the relay header's src and opens with the usual checks
//! (index, tag, replay), then the source check; hostile relay plaintexts never panic.

use super::tests::*;
use super::*;
use crate::config::DeviceMode;
use crate::events::Event;
use crate::pipeline::tests::{ipv4, nets, out, sa};
use crate::tables::PeerOpts;
use proptest::prelude::*;
use ringvpn_core::relay_frame::NODE_ID_LEN;
use ringvpn_core::session::Session;
use std::time::Duration;

/// A's packet for C as B opens it: relay header + A's end-to-end frame.
fn from_a(a: &Shared, pkt: &[u8], now: Instant) -> Vec<u8> {
    let (act, buf, _) = out(a, pkt, now);
    let TxAction::Send { len, .. } = act else {
        panic!("{act:?}")
    };
    peek(&keys(AB + 1, AB), &buf[..len], now)
}

/// B hands `plain` on to C in a fresh RELAY frame; C's verdict.
fn via_b(b: &Shared, c: &Shared, plain: &[u8], now: Instant) -> RxAction {
    let (mut buf, len) = relay_frame(b, 2, plain, now);
    c.inbound(&mut buf, len, sa(B_UDP), now)
}

fn with_src(plain: &[u8], src: u8) -> Vec<u8> {
    let mut p = plain.to_vec();
    p[NODE_ID_LEN..2 * NODE_ID_LEN].copy_from_slice(&id(src));
    p
}

#[test]
fn src_must_own_the_inner_session() {
    let now = Instant::now();
    let (a, b, c) = chain(DeviceMode::Tun, now);
    let plain = from_a(&a, &ipv4([10, 0, 0, 1], [10, 0, 0, 3], b"hi"), now);
    // B claims the frame comes from D, or from itself: the session is A's.
    for src in [D_ID, B_ID] {
        assert_eq!(
            via_b(&b, &c, &with_src(&plain, src), now),
            RxAction::Drop(DropReason::RelaySrcMismatch)
        );
    }
    assert_eq!(stat(&c, 2, |s| &s.rx_packets), 0);
    // The mismatch is found before opening: the honest frame still delivers.
    assert!(matches!(via_b(&b, &c, &plain, now), RxAction::Write(_)));
    // The check uses the node id of the peer the inner session belongs to.
    let moved = PeerOpts {
        node_id: Some(id(D_ID)),
        ..PeerOpts::default()
    };
    c.tables
        .set_peer_with(2, None, nets(&["10.0.0.1/32"]), moved);
    let plain = from_a(&a, &ipv4([10, 0, 0, 1], [10, 0, 0, 3], b"2"), now);
    assert_eq!(
        via_b(&b, &c, &plain, now),
        RxAction::Drop(DropReason::RelaySrcMismatch)
    );
    assert!(matches!(
        via_b(&b, &c, &with_src(&plain, D_ID), now),
        RxAction::Write(_)
    ));
}

#[test]
fn inner_tamper_and_replay() {
    let now = Instant::now();
    let (a, b, c) = chain(DeviceMode::Tun, now);
    let plain = from_a(&a, &ipv4([10, 0, 0, 1], [10, 0, 0, 3], b"once"), now);
    // A hop flipping inner ciphertext, tag or header bytes: auth_failed (never delivered).
    for at in [
        RELAY_HEADER_LEN + HEADER_LEN,
        plain.len() - 1,
        RELAY_HEADER_LEN + 9,
    ] {
        let mut bad = plain.clone();
        bad[at] ^= 1;
        assert_eq!(
            via_b(&b, &c, &bad, now),
            RxAction::Drop(DropReason::AuthFailed)
        );
    }
    // On the wire (not re-sealed by a hop): a flipped inner body passes the link layer and
    // fails end to end; a flipped inner header or tag fails the link layer (both auth_failed).
    for at in [
        HEADER_LEN + RELAY_HEADER_LEN + HEADER_LEN,
        HEADER_LEN + RELAY_HEADER_LEN + 5,
        HEADER_LEN + plain.len() - 1,
    ] {
        let (mut buf, len) = relay_frame(&b, 2, &plain, now);
        buf[at] ^= 1;
        assert_eq!(
            c.inbound(&mut buf, len, sa(B_UDP), now),
            RxAction::Drop(DropReason::AuthFailed)
        );
    }
    assert_eq!(stat(&c, 2, |s| &s.rx_packets), 0);
    assert!(matches!(via_b(&b, &c, &plain, now), RxAction::Write(_)));
    // The same inner frame again, in a fresh outer frame: replay (the end-to-end window).
    assert_eq!(
        via_b(&b, &c, &plain, now),
        RxAction::Drop(DropReason::Replay)
    );
    // The same datagram again: replay (the link window).
    let (mut buf, len) = relay_frame(
        &b,
        2,
        &from_a(&a, &ipv4([10, 0, 0, 1], [10, 0, 0, 3], b"x"), now),
        now,
    );
    let mut copy = buf.clone();
    assert!(matches!(
        c.inbound(&mut buf, len, sa(B_UDP), now),
        RxAction::Write(_)
    ));
    assert_eq!(
        c.inbound(&mut copy, len, sa(B_UDP), now),
        RxAction::Drop(DropReason::Replay)
    );
    assert_eq!(stat(&c, 2, |s| &s.rx_relayed_packets), 2);
}

#[test]
fn source_check_and_source_unknown_event() {
    let now = Instant::now();
    let (a, b, c) = chain(DeviceMode::Tun, now);
    // A (authenticated end to end) sends from an address C has not learned for it.
    let spoof = ipv4([10, 0, 0, 9], [10, 0, 0, 3], b"new address");
    for t in [0u64, 10, 500] {
        let at = now + Duration::from_millis(t);
        assert_eq!(
            via_b(&b, &c, &from_a(&a, &spoof, at), at),
            RxAction::Drop(DropReason::SourceNotAllowed)
        );
    }
    let ev = Event::SourceUnknown {
        node: id(A_ID),
        addr: "10.0.0.9".parse().expect("ip"),
    };
    assert_eq!(c.events.drain(), vec![ev.clone()], "1/s per node id");
    let later = now + Duration::from_millis(1100);
    via_b(&b, &c, &from_a(&a, &spoof, later), later);
    assert_eq!(c.events.drain(), vec![ev]);
    assert_eq!(stat(&c, 2, |s| &s.rx_relayed_packets), 4, "authenticated");
    // A direct DATA frame failing the source check raises the same event for its peer.
    let d = e2e(
        &b,
        2,
        TYPE_DATA,
        &ipv4([10, 0, 0, 77], [10, 0, 0, 3], b"d"),
        now,
    );
    let mut buf = d.clone();
    assert_eq!(
        c.inbound(&mut buf, d.len(), sa(B_UDP), now),
        RxAction::Drop(DropReason::SourceNotAllowed)
    );
    assert_eq!(
        c.events.drain(),
        vec![Event::SourceUnknown {
            node: id(B_ID),
            addr: "10.0.0.77".parse().expect("ip")
        }]
    );
}

#[test]
fn inner_kinds_indices_and_disabled_relay() {
    let now = Instant::now();
    let (a, b, c) = chain(DeviceMode::Tun, now);
    let wrap = |inner: &[u8]| relay_plain(C_ID, A_ID, DEFAULT_TTL, inner);
    // End-to-end CONTROL: an event for the peer the session belongs to.
    let ctl = e2e(&a, 2, TYPE_CONTROL, b"e2e control", now);
    assert_eq!(via_b(&b, &c, &wrap(&ctl), now), RxAction::Consumed);
    assert_eq!(
        c.events.drain(),
        vec![Event::Control {
            peer: 2,
            data: b"e2e control".to_vec()
        }]
    );
    // End-to-end keepalive: consumed and counted.
    let ka = e2e(&a, 2, TYPE_DATA, &[], now);
    assert_eq!(via_b(&b, &c, &wrap(&ka), now), RxAction::Consumed);
    assert_eq!(stat(&c, 2, |s| &s.rx_packets), 2);
    assert!(c.events.is_empty());
    // Other inner types and malformed inner frames.
    let nested = e2e(&a, 2, TYPE_RELAY, &wrap(&ka), now);
    let mut hs = ka.clone();
    hs[0] = 1;
    let mut reserved = ka.clone();
    reserved[2] = 1;
    for inner in [&nested[..], &hs, &reserved, &[], &ka[..20]] {
        assert_eq!(
            via_b(&b, &c, &wrap(inner), now),
            RxAction::Drop(DropReason::RelayMalformed)
        );
    }
    // Inner frame for an index C does not have.
    let stranger: Session = Session::new(&keys(900, 901), now);
    let mut f = vec![0u8; 64];
    let n = stranger.seal(TYPE_DATA, &mut f, 0, now).expect("seal");
    assert_eq!(
        via_b(&b, &c, &wrap(&f[..n]), now),
        RxAction::Drop(DropReason::UnknownIndex)
    );
    // Bad inner IP packet.
    let bad_ip = e2e(&a, 2, TYPE_DATA, &[0x45, 0, 0], now);
    assert_eq!(
        via_b(&b, &c, &wrap(&bad_ip), now),
        RxAction::Drop(DropReason::MalformedIp)
    );
    // Relay disabled (no own node id).
    let mut c = c;
    c.node_id = None;
    let ok = e2e(
        &a,
        2,
        TYPE_DATA,
        &ipv4([10, 0, 0, 1], [10, 0, 0, 3], b"ok"),
        now,
    );
    assert_eq!(
        via_b(&b, &c, &wrap(&ok), now),
        RxAction::Drop(DropReason::RelayNoRoute)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any relay plaintext (authenticated by B's link, so it reaches the relay code) is handled
    /// without panicking and never reaches the device unless an end-to-end frame opened.
    #[test]
    fn hostile_relay_plaintext_never_panics(
        body in proptest::collection::vec(any::<u8>(), 0..300),
        ttl in any::<u8>(),
        to_c in any::<bool>(),
        force_header in any::<bool>(),
    ) {
        let now = Instant::now();
        let (_, b, c) = chain(DeviceMode::Tun, now);
        let mut body = body;
        if force_header && body.len() >= HEADER_LEN {
            // A well-formed DATA header for the A-C session: reaches the AEAD.
            body[..4].copy_from_slice(&[TYPE_DATA, 0, 0, 0]);
            body[4..8].copy_from_slice(&(AC + 1).to_le_bytes());
        }
        let plain = relay_plain(if to_c { C_ID } else { D_ID }, A_ID, ttl, &body);
        let act = via_b(&b, &c, &plain, now);
        prop_assert!(!matches!(act, RxAction::Write(_) | RxAction::Consumed), "{:?}", act);
        // Raw hostile bytes as the whole plaintext too.
        let act = via_b(&b, &c, &body, now);
        prop_assert!(!matches!(act, RxAction::Write(_)), "{:?}", act);
    }
}
