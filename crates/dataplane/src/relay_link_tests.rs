//! Relay links (a peer reached only through its `via` hop, fixtures in relay_tests.rs): their
//! CONTROL messages go end to end through the hop, and at the end of greedy forwarding a node hands
//! a frame to its relay link's relay; a silent data-only peer is not a last hop.

use super::tests::*;
use super::*;
use crate::config::DeviceMode;
use crate::events::Event;
use crate::pipeline::tests::sa;
use crate::pipeline::{BUF_LEN, HEADROOM};
use std::time::Duration;

/// A relay link's overlay messages: A seals a CONTROL message for C end to end and sends it
/// through its via hop B (send_via with TYPE_CONTROL); B forwards it unopened; C gets a control
/// event for peer A. It counts as traffic on the link, not as data.
#[test]
fn control_through_the_via_hop() {
    let now = Instant::now();
    let (a, b, c) = chain(DeviceMode::Tun, now);
    let msg = b"overlay ping through a relay";
    let tables = a.tables.load();
    let p = &tables.peers[&2];
    let s = p.control_session(now).expect("A-C session").clone();
    let mut buf = vec![0u8; BUF_LEN];
    buf[HEADROOM..HEADROOM + msg.len()].copy_from_slice(msg);
    let act = a.send_via(&tables, p, &s, TYPE_CONTROL, &mut buf, msg.len(), now);
    let TxAction::Send { to, start, len } = act else {
        panic!("{act:?}")
    };
    assert_eq!((to, start, buf[0]), (sa(B_UDP), 0, TYPE_RELAY));
    assert!(!contains(&buf[..len], msg), "B sees only ciphertext");
    assert_eq!(
        stat(&a, 2, |s| &s.tx_data_packets),
        0,
        "control is not data"
    );
    assert_eq!(stat(&a, 2, |s| &s.tx_relayed_packets), 1);
    assert!(matches!(
        b.inbound(&mut buf, len, sa(A_UDP), now),
        RxAction::Forward { .. }
    ));
    assert_eq!(c.inbound(&mut buf, len, sa(B_UDP), now), RxAction::Consumed);
    assert_eq!(
        c.events.drain(),
        vec![Event::Control {
            peer: 2,
            data: msg.to_vec()
        }]
    );
}

/// The last hop behind NATs: a data-only peer (hop: false) silent for DIRECT_FRESH_MS may sit
/// behind a NAT mapping that is gone, so B does not send to it; a dst that B reaches only through
/// its own relay link (no endpoint, via C) is handed to that relay.
#[test]
fn stale_last_hop_and_the_relay_link_fallback() {
    let now = Instant::now();
    let (a, b, _c) = chain(DeviceMode::Tun, now);
    let inner = b"an opaque end-to-end inner frame";
    set_hop(&b, false);
    let later = now + Duration::from_millis(DIRECT_FRESH_MS + 1_000);
    let (mut buf, len) = relay_frame(&a, 1, &relay_plain(C_ID, A_ID, 3, inner), later);
    assert_eq!(
        b.inbound(&mut buf, len, sa(A_UDP), later),
        RxAction::Drop(DropReason::RelayNoRoute),
        "never heard from for 26 s and not an overlay link: not a last hop"
    );
    // B knows E (0x48, next to B's 0x50) only through a relay link via C (peer 3 without an
    // endpoint, via peer 2): nobody B reaches directly is closer to E than B, so greedy forwarding
    // ends here and the frame goes to E's relay.
    set_hop(&b, true);
    const E_ID: u8 = 0x48;
    peer(&b, 3, None, &["10.0.0.4/32"], E_ID, Some(2));
    let (mut buf, len) = relay_frame(&a, 1, &relay_plain(E_ID, A_ID, 3, inner), now);
    assert_eq!(
        b.inbound(&mut buf, len, sa(A_UDP), now),
        RxAction::Forward { to: sa(C_UDP), len }
    );
}

/// B as the relay of relay links: a frame flagged FLAG_LINK (sent by a relay-only peer's source)
/// that B hands from its source to its destination counts against B's limits, a pair at a time
/// and by rate; greedy forwarding (no flag) does not.
#[test]
fn relay_limits_count_relay_links_only() {
    use crate::relay_limit::RelayLimit;
    use ringvpn_core::relay_frame::{FLAG_LINK, TTL_OFFSET};
    let now = Instant::now();
    let (a, b, _c) = chain(DeviceMode::Tun, now);
    let frame = |link: bool| {
        let mut p = relay_plain(C_ID, A_ID, 3, b"an opaque end-to-end inner frame");
        if link {
            p[TTL_OFFSET + 1] = FLAG_LINK;
        }
        relay_frame(&a, 1, &p, now)
    };
    let fwd = |(mut buf, len): (Vec<u8>, usize)| b.inbound(&mut buf, len, sa(A_UDP), now);
    *b.relay_limit.lock().unwrap() = RelayLimit::new(0, 0);
    assert!(
        matches!(fwd(frame(false)), RxAction::Forward { .. }),
        "greedy forwarding is not limited"
    );
    assert_eq!(fwd(frame(true)), RxAction::Drop(DropReason::RelayFull));
    // one pair at 160 bytes/s: the relay header and the 32-byte inner frame are 76 bytes
    *b.relay_limit.lock().unwrap() = RelayLimit::new(1, 160);
    assert!(matches!(fwd(frame(true)), RxAction::Forward { .. }));
    assert!(matches!(fwd(frame(true)), RxAction::Forward { .. }));
    assert_eq!(fwd(frame(true)), RxAction::Drop(DropReason::RelayRate));
    // the sender sets the flag for a relay-only peer
    let tables = a.tables.load();
    let mut p = (*tables.peers[&2]).clone();
    p.relay_only = true;
    let s = p.control_session(now).expect("A-C session").clone();
    let mut buf = vec![0u8; BUF_LEN];
    let TxAction::Send { len, .. } = a.send_via(&tables, &p, &s, TYPE_CONTROL, &mut buf, 1, now)
    else {
        panic!("no send")
    };
    let seen = peek(&keys(AB + 1, AB), &buf[..len], now);
    assert_eq!(RelayHeader::parse(&seen).map(|h| h.link), Ok(true));
}

/// Our own frames to a data-only peer (not an overlay link) not heard from directly for DIRECT_FRESH_MS go through
/// its via hop, not to an endpoint whose NAT mapping may be gone; once it is heard from again they
/// go direct. An overlay link (hop) keeps its endpoint however long it is silent.
#[test]
fn a_stale_data_only_peer_is_reached_through_its_via_hop() {
    use crate::pipeline::tests::{ipv4, nets, out};
    use crate::tables::PeerOpts;
    let now = Instant::now();
    let (a, b, c) = chain(DeviceMode::Tun, now);
    let opts = |hop: bool| PeerOpts {
        hop: Some(hop),
        ..PeerOpts::default()
    };
    a.tables
        .set_peer_with(2, Some(sa(C_UDP)), nets(&["10.0.0.3/32"]), opts(false));
    let pkt = ipv4([10, 0, 0, 1], [10, 0, 0, 3], b"x");
    let later = now + Duration::from_millis(DIRECT_FRESH_MS + 1_000);
    let (act, mut buf, _) = out(&a, &pkt, later);
    let TxAction::Send { to, start: 0, len } = act else {
        panic!("{act:?}")
    };
    assert_eq!(
        (to, buf[0]),
        (sa(B_UDP), TYPE_RELAY),
        "silent 26 s: through B"
    );
    assert!(matches!(
        b.inbound(&mut buf, len, sa(A_UDP), later),
        RxAction::Forward { .. }
    ));
    assert!(matches!(
        c.inbound(&mut buf, len, sa(B_UDP), later),
        RxAction::Write(_)
    ));
    // C answers through B: an authenticated packet from C, but not from its endpoint, so it
    // says nothing of C's NAT mapping: A still goes through B
    let (act, mut back, _) = out(&c, &ipv4([10, 0, 0, 3], [10, 0, 0, 1], b"y"), later);
    let TxAction::Send { to, len: blen, .. } = act else {
        panic!("{act:?}")
    };
    assert_eq!(to, sa(B_UDP), "C knows no endpoint of A");
    assert!(matches!(
        b.inbound(&mut back, blen, sa(C_UDP), later),
        RxAction::Forward { .. }
    ));
    assert!(matches!(
        a.inbound(&mut back, blen, sa(B_UDP), later),
        RxAction::Write(_)
    ));
    let (act, _, _) = out(&a, &pkt, later);
    assert!(
        matches!(act, TxAction::Send { to, .. } if to == sa(B_UDP)),
        "a relayed answer: still through B, {act:?}"
    );
    // C answers straight from its endpoint: fresh again, direct
    c.tables
        .set_peer_with(2, Some(sa(A_UDP)), nets(&["10.0.0.1/32"]), opts(true));
    let (act, mut back, _) = out(&c, &ipv4([10, 0, 0, 3], [10, 0, 0, 1], b"z"), later);
    let TxAction::Send { to, len: blen, .. } = act else {
        panic!("{act:?}")
    };
    assert_eq!(to, sa(A_UDP));
    assert!(matches!(
        a.inbound(&mut back, blen, sa(C_UDP), later),
        RxAction::Write(_)
    ));
    let (act, _, _) = out(&a, &pkt, later);
    assert!(
        matches!(act, TxAction::Send { to, .. } if to == sa(C_UDP)),
        "{act:?}"
    );
    // an overlay link keeps its endpoint
    a.tables
        .set_peer_with(2, None, nets(&["10.0.0.3/32"]), opts(true));
    let much_later = later + Duration::from_millis(2 * DIRECT_FRESH_MS);
    let (act, _, _) = out(&a, &pkt, much_later);
    assert!(
        matches!(act, TxAction::Send { to, .. } if to == sa(C_UDP)),
        "{act:?}"
    );
}

/// A TCP super-packet for a peer behind a relay is split into segments shorter by what a relayed
/// frame adds (RELAY_EXTRA), so its frames are no longer than direct ones; a direct peer's and
/// an unrouted destination's are not cut. A relayed full-size frame is exactly that much longer.
#[test]
fn relayed_peers_get_shorter_segments() {
    let now = Instant::now();
    let (a, _b, _c) = chain(DeviceMode::Tun, now);
    let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
    assert_eq!(a.segment_cut(ip("10.0.0.3"), now), RELAY_EXTRA, "C: via B");
    assert_eq!(a.segment_cut(ip("10.0.0.2"), now), 0, "B: direct");
    assert_eq!(a.segment_cut(ip("10.9.9.9"), now), 0, "no route");
    let tables = a.tables.load();
    let mut buf = vec![0u8; BUF_LEN];
    let direct = a
        .seal_data(
            &tables.peers[&1],
            tables.peers[&1].send_session(now).expect("AB"),
            &mut buf,
            1000,
            now,
        )
        .expect("seal");
    let s = tables.peers[&2].send_session(now).expect("AC").clone();
    let TxAction::Send { len, .. } = a.send_via(
        &tables,
        &tables.peers[&2],
        &s,
        TYPE_DATA,
        &mut buf,
        1000,
        now,
    ) else {
        panic!("relayed")
    };
    assert_eq!(len, direct + RELAY_EXTRA);
}
