//! Three in-memory pipelines A -> B -> C (and a fourth id D only B's neighbour C knows):
//! relaying through `via`, in-place forwarding, greedy next hops, ttl expiry, source checks.

use super::*;
use crate::config::DeviceMode;
use crate::pipeline::tests::{eth, ipv4, nets, out, sa, shared, OS_MAC};
use crate::pipeline::BUF_LEN;
use crate::tables::PeerOpts;
use ringvpn_core::ether::{DEFAULT_VIRTUAL_MAC, ETHERTYPE_IPV4, ETH_HEADER_LEN};
use ringvpn_core::relay::NODE_ID_LEN;
use ringvpn_core::session::SessionKeys;
use std::net::Ipv4Addr;
use std::time::Duration;

const A_UDP: &str = "192.0.2.1:1000";
const B_UDP: &str = "192.0.2.2:2000";
const C_UDP: &str = "192.0.2.3:3000";

fn id(v: u8) -> NodeId {
    let mut n = [0u8; NODE_ID_LEN];
    n[NODE_ID_LEN - 1] = v;
    n
}
const A_ID: u8 = 0x10;
const B_ID: u8 = 0x50;
const C_ID: u8 = 0x90;
const D_ID: u8 = 0xd0;

fn node(mode: DeviceMode, last: u8, nid: u8) -> Shared {
    let mut s = shared(mode, Some((Ipv4Addr::new(10, 0, 0, last), 24)));
    s.node_id = Some(id(nid));
    s
}

fn peer(s: &Shared, pid: u32, udp: Option<&str>, allowed: &[&str], nid: u8, via: Option<u32>) {
    s.tables.set_peer_with(
        pid,
        udp.map(sa),
        nets(allowed),
        PeerOpts {
            node_id: Some(id(nid)),
            via: Some(via),
        },
    );
}

/// Give `x`'s peer `xp` and `y`'s peer `yp` one matching session.
fn link(x: &Shared, xp: u32, y: &Shared, yp: u32, idx: u32, now: Instant) {
    let k = |local, remote, send: u32, recv: u32, initiator| SessionKeys {
        local_index: local,
        remote_index: remote,
        send_key: [send as u8; 32],
        recv_key: [recv as u8; 32],
        initiator,
    };
    assert!(x
        .tables
        .set_session(xp, &k(idx, idx + 1, idx, idx + 1, true), now, 1));
    assert!(y
        .tables
        .set_session(yp, &k(idx + 1, idx, idx + 1, idx, false), now, 1));
}

/// A (10.0.0.1) -- B (10.0.0.2) -- C (10.0.0.3); A and C have no session with each other.
/// A: peer 1 = B, peer 2 = C via 1. B: peer 1 = A, peer 2 = C. C: peer 1 = B, peer 2 = A via 1.
fn chain(mode: DeviceMode, now: Instant) -> (Shared, Shared, Shared) {
    let (a, b, c) = (
        node(mode, 1, A_ID),
        node(mode, 2, B_ID),
        node(mode, 3, C_ID),
    );
    peer(&a, 1, Some(B_UDP), &["10.0.0.2/32"], B_ID, None);
    peer(&a, 2, None, &["10.0.0.3/32"], C_ID, Some(1));
    peer(&b, 1, Some(A_UDP), &["10.0.0.1/32"], A_ID, None);
    peer(&b, 2, Some(C_UDP), &["10.0.0.3/32"], C_ID, None);
    peer(&c, 1, Some(B_UDP), &["10.0.0.2/32"], B_ID, None);
    peer(&c, 2, None, &["10.0.0.1/32"], A_ID, Some(1));
    link(&a, 1, &b, 1, 100, now);
    link(&b, 2, &c, 1, 200, now);
    (a, b, c)
}

fn stat(s: &Shared, pid: u32, f: impl Fn(&PeerState) -> &std::sync::atomic::AtomicU64) -> u64 {
    f(&s.tables.load().peers[&pid].state).load(Ordering::Relaxed)
}
use crate::tables::PeerState;

/// Seal a hand-made relay plaintext with `x`'s session to peer `xp` (as a hop would).
fn relay_frame(x: &Shared, xp: u32, plain: &[u8], now: Instant) -> (Vec<u8>, usize) {
    let s = x.tables.load().peers[&xp].current.clone().expect("session");
    let mut buf = vec![0u8; BUF_LEN];
    buf[HEADER_LEN..HEADER_LEN + plain.len()].copy_from_slice(plain);
    let len = s
        .session
        .seal(TYPE_RELAY, &mut buf, plain.len(), now)
        .expect("seal");
    (buf, len)
}

fn relay_plain(dst: u8, src: u8, ttl: u8, inner: &[u8]) -> Vec<u8> {
    let mut h = [0u8; RELAY_HEADER_LEN];
    RelayHeader {
        dst: id(dst),
        src: id(src),
        ttl,
    }
    .write(&mut h);
    let mut p = h.to_vec();
    p.extend_from_slice(inner);
    p
}

fn end_to_end(mode: DeviceMode) {
    let now = Instant::now();
    let (a, b, c) = chain(mode, now);
    c.set_os_mac(&OS_MAC);
    let pkt = ipv4([10, 0, 0, 1], [10, 0, 0, 3], b"relayed hello");
    let read = match mode {
        DeviceMode::Tun => pkt.clone(),
        DeviceMode::Tap => eth(DEFAULT_VIRTUAL_MAC, OS_MAC, ETHERTYPE_IPV4, &pkt),
    };
    // A: no session with C, so the packet goes to B as a RELAY frame; need_session still fires.
    let (act, mut buf, _) = out(&a, &read, now);
    let TxAction::Send { to, start, len } = act else {
        panic!("{act:?}")
    };
    assert_eq!((to, start), (sa(B_UDP), 0));
    assert_eq!(len, HEADER_LEN + RELAY_HEADER_LEN + pkt.len() + TAG_LEN);
    assert_eq!(buf[0], TYPE_RELAY);
    assert_eq!(a.events.drain(), vec![Event::NeedSession { peer: 2 }]);
    assert_eq!(stat(&a, 2, |s| &s.tx_relayed_packets), 1);
    assert_eq!(stat(&a, 2, |s| &s.tx_relayed_bytes), len as u64);
    assert_eq!(stat(&a, 1, |s| &s.tx_packets), 1);
    // B: not for it; C is its peer with a session: forward in place.
    let act = b.inbound(&mut buf, len, sa(A_UDP), now);
    assert_eq!(act, RxAction::Forward { to: sa(C_UDP), len });
    assert_eq!(b.counters.relay_forwarded.load(Ordering::Relaxed), 1);
    assert_eq!(stat(&b, 1, |s| &s.rx_packets), 1);
    assert_eq!(stat(&b, 2, |s| &s.tx_packets), 1);
    // C: for it; the inner source routes to peer 2 whose node id is A's: deliver.
    let RxAction::Write(r) = c.inbound(&mut buf, len, sa(B_UDP), now) else {
        panic!("not delivered")
    };
    match mode {
        DeviceMode::Tun => {
            assert_eq!(&buf[r], &pkt[..]);
            assert_eq!(
                buf[HEADER_LEN + TTL_OFFSET],
                DEFAULT_TTL - 1,
                "B decremented ttl"
            );
        }
        DeviceMode::Tap => {
            let f = &buf[r];
            assert_eq!(&f[..6], &OS_MAC);
            assert_eq!(&f[6..12], &DEFAULT_VIRTUAL_MAC);
            assert_eq!(&f[ETH_HEADER_LEN..], &pkt[..]);
        }
    }
    assert_eq!(stat(&c, 2, |s| &s.rx_relayed_packets), 1);
    assert_eq!(stat(&c, 2, |s| &s.rx_relayed_bytes), len as u64);
    assert_eq!(stat(&c, 2, |s| &s.rx_packets), 0, "link counters are B's");
    assert_eq!(stat(&c, 1, |s| &s.rx_packets), 1);
    assert!(c.events.is_empty());
    // The reverse direction works the same way (C -> B -> A).
    let back = ipv4([10, 0, 0, 3], [10, 0, 0, 1], b"back");
    let read = match mode {
        DeviceMode::Tun => back.clone(),
        DeviceMode::Tap => eth(DEFAULT_VIRTUAL_MAC, OS_MAC, ETHERTYPE_IPV4, &back),
    };
    let (act, mut buf, _) = out(&c, &read, now);
    let TxAction::Send { len, .. } = act else {
        panic!("{act:?}")
    };
    assert!(matches!(
        b.inbound(&mut buf, len, sa(C_UDP), now),
        RxAction::Forward { .. }
    ));
    assert!(matches!(
        a.inbound(&mut buf, len, sa(B_UDP), now),
        RxAction::Write(_)
    ));
}

#[test]
fn relay_end_to_end_tun() {
    end_to_end(DeviceMode::Tun);
}

#[test]
fn relay_end_to_end_tap() {
    end_to_end(DeviceMode::Tap);
}

#[test]
fn relay_tx_needs_via_session_and_both_ids() {
    let now = Instant::now();
    let (a, _, _) = chain(DeviceMode::Tun, now);
    let to_c = ipv4([10, 0, 0, 1], [10, 0, 0, 3], b"x");
    // Via hop without a session: drop as before.
    assert!(a.tables.remove_session(100));
    assert_eq!(out(&a, &to_c, now).0, TxAction::Drop(DropReason::NoSession));
    assert_eq!(a.events.drain(), vec![Event::NeedSession { peer: 2 }]);
    // No via at all.
    let (a, _, _) = chain(DeviceMode::Tun, now);
    a.tables.set_peer_with(
        2,
        None,
        nets(&["10.0.0.3/32"]),
        PeerOpts {
            node_id: None,
            via: Some(None),
        },
    );
    assert_eq!(out(&a, &to_c, now).0, TxAction::Drop(DropReason::NoSession));
    // No own node id: relay disabled.
    let (mut a, _, _) = chain(DeviceMode::Tun, now);
    a.node_id = None;
    assert_eq!(out(&a, &to_c, now).0, TxAction::Drop(DropReason::NoSession));
    // Destination peer without a node id.
    let (a, _, _) = chain(DeviceMode::Tun, now);
    a.tables.set_peer(3, None, nets(&["10.0.0.4/32"]));
    a.tables.set_peer_with(
        3,
        None,
        nets(&["10.0.0.4/32"]),
        PeerOpts {
            node_id: None,
            via: Some(Some(1)),
        },
    );
    assert_eq!(
        out(&a, &ipv4([10, 0, 0, 1], [10, 0, 0, 4], b"x"), now).0,
        TxAction::Drop(DropReason::NoSession)
    );
    assert_eq!(stat(&a, 3, |s| &s.tx_relayed_packets), 0);
}

#[test]
fn greedy_next_hop_and_ttl() {
    let now = Instant::now();
    let (a, b, c) = chain(DeviceMode::Tun, now);
    let inner = ipv4([10, 0, 0, 1], [10, 0, 0, 4], b"to d");
    // D is no peer of B: C (0x90) is closer to D (0xd0) than B (0x50), and is not the sender.
    let (mut buf, len) = relay_frame(&a, 1, &relay_plain(D_ID, A_ID, 3, &inner), now);
    assert_eq!(
        b.inbound(&mut buf, len, sa(A_UDP), now),
        RxAction::Forward { to: sa(C_UDP), len }
    );
    // C knows nobody closer to D than itself (B is farther; the sender is excluded anyway).
    assert_eq!(
        c.inbound(&mut buf, len, sa(B_UDP), now),
        RxAction::Drop(DropReason::RelayNoRoute)
    );
    // The sender is never chosen even if it is the closest: from C, B only knows A besides C.
    let (mut buf, len) = relay_frame(&c, 1, &relay_plain(D_ID, C_ID, 3, &inner), now);
    assert_eq!(
        b.inbound(&mut buf, len, sa(C_UDP), now),
        RxAction::Drop(DropReason::RelayNoRoute)
    );
    // Exact match wins even when it is not closer by distance (here: A itself, from C).
    let (mut buf, len) = relay_frame(&c, 1, &relay_plain(A_ID, C_ID, 3, &inner), now);
    assert_eq!(
        b.inbound(&mut buf, len, sa(C_UDP), now),
        RxAction::Forward { to: sa(A_UDP), len }
    );
    // ttl 1 is forwarded (as 0); ttl 0 is dropped by a hop that is not the destination.
    let (mut buf, len) = relay_frame(&a, 1, &relay_plain(D_ID, A_ID, 1, &inner), now);
    assert!(matches!(
        b.inbound(&mut buf, len, sa(A_UDP), now),
        RxAction::Forward { .. }
    ));
    assert_eq!(
        c.inbound(&mut buf, len, sa(B_UDP), now),
        RxAction::Drop(DropReason::RelayTtl)
    );
    let (mut buf, len) = relay_frame(&a, 1, &relay_plain(D_ID, A_ID, 0, &inner), now);
    assert_eq!(
        b.inbound(&mut buf, len, sa(A_UDP), now),
        RxAction::Drop(DropReason::RelayTtl)
    );
    // ttl 0 still delivers at the destination.
    let to_c = ipv4([10, 0, 0, 2], [10, 0, 0, 3], b"ttl0");
    let (mut buf, len) = relay_frame(&b, 2, &relay_plain(C_ID, B_ID, 0, &to_c), now);
    assert!(matches!(
        c.inbound(&mut buf, len, sa(B_UDP), now),
        RxAction::Write(_)
    ));
    // A peer whose session expired is not a next hop.
    let late = now + Duration::from_secs(200);
    link(&a, 1, &b, 1, 300, late);
    let (mut buf, len) = relay_frame(&a, 1, &relay_plain(D_ID, A_ID, 3, &inner), late);
    assert_eq!(
        b.inbound(&mut buf, len, sa(A_UDP), late),
        RxAction::Drop(DropReason::RelayNoRoute)
    );
    assert_eq!(b.counters.relay_forwarded.load(Ordering::Relaxed), 3);
}

#[test]
fn source_check_and_relay_source_event() {
    let now = Instant::now();
    let (_, b, c) = chain(DeviceMode::Tun, now);
    // Inner source belongs to A (C's peer 2) but the relay header claims D.
    let spoof = ipv4([10, 0, 0, 1], [10, 0, 0, 3], b"spoof");
    let (mut buf, len) = relay_frame(&b, 2, &relay_plain(C_ID, D_ID, 5, &spoof), now);
    assert_eq!(
        c.inbound(&mut buf, len, sa(B_UDP), now),
        RxAction::Drop(DropReason::SourceNotAllowed)
    );
    // Unknown inner source: dropped, and TS hears about it once per second per source id.
    let unknown = ipv4([10, 0, 0, 99], [10, 0, 0, 3], b"who");
    for t in [0u64, 10, 500] {
        let at = now + Duration::from_millis(t);
        let (mut buf, len) = relay_frame(&b, 2, &relay_plain(C_ID, D_ID, 5, &unknown), at);
        assert_eq!(
            c.inbound(&mut buf, len, sa(B_UDP), at),
            RxAction::Drop(DropReason::RelayUnknownSource)
        );
    }
    let ev = Event::RelaySource {
        node: id(D_ID),
        addr: "10.0.0.99".parse().expect("ip"),
    };
    assert_eq!(c.events.drain(), vec![ev.clone()]);
    let later = now + Duration::from_millis(1100);
    let (mut buf, len) = relay_frame(&b, 2, &relay_plain(C_ID, D_ID, 5, &unknown), later);
    c.inbound(&mut buf, len, sa(B_UDP), later);
    assert_eq!(c.events.drain(), vec![ev]);
    // A route to a peer without a node id is an unknown source too.
    c.tables.set_peer(9, None, nets(&["10.0.0.9/32"]));
    let anon = ipv4([10, 0, 0, 9], [10, 0, 0, 3], b"anon");
    let (mut buf, len) = relay_frame(&b, 2, &relay_plain(C_ID, A_ID, 5, &anon), now);
    assert_eq!(
        c.inbound(&mut buf, len, sa(B_UDP), now),
        RxAction::Drop(DropReason::RelayUnknownSource)
    );
    // Malformed header, bad inner packet, and relay disabled (no own node id).
    let (mut buf, len) = relay_frame(&b, 2, &[0u8; 10], now);
    assert_eq!(
        c.inbound(&mut buf, len, sa(B_UDP), now),
        RxAction::Drop(DropReason::RelayMalformed)
    );
    let (mut buf, len) = relay_frame(&b, 2, &relay_plain(C_ID, A_ID, 5, &[0x45, 0, 0]), now);
    assert_eq!(
        c.inbound(&mut buf, len, sa(B_UDP), now),
        RxAction::Drop(DropReason::MalformedIp)
    );
    let mut c = c;
    c.node_id = None;
    let ok = ipv4([10, 0, 0, 1], [10, 0, 0, 3], b"ok");
    let (mut buf, len) = relay_frame(&b, 2, &relay_plain(C_ID, A_ID, 5, &ok), now);
    assert_eq!(
        c.inbound(&mut buf, len, sa(B_UDP), now),
        RxAction::Drop(DropReason::RelayNoRoute)
    );
}
