//! Three in-memory pipelines A -> B -> C (and a fourth id D only B's neighbour C knows): end-to-
//! end frames relayed through `via` (B never sees the plaintext), in-place forwarding and the
//! sender's path rules. Greedy next hops and ttl: relay_hop_tests.rs; receive-side checks:
//! relay_rx_tests.rs; relay links: relay_link_tests.rs.

use super::*;
use crate::config::DeviceMode;
use crate::events::Event;
use crate::pipeline::tests::{eth, hold, ipv4, nets, out, sa, shared, OS_MAC};
use crate::pipeline::BUF_LEN;
use crate::tables::{PeerOpts, PeerState};
use ringvpn_core::ether::{DEFAULT_VIRTUAL_MAC, ETHERTYPE_IPV4, ETH_HEADER_LEN};
use ringvpn_core::frame::TAG_LEN;
use ringvpn_core::relay_frame::{MIN_RELAY_PAYLOAD, NODE_ID_LEN};
use ringvpn_core::session::{Session, SessionKeys};
use std::net::Ipv4Addr;
use std::sync::atomic::AtomicU64;

pub(crate) const A_UDP: &str = "192.0.2.1:1000";
pub(crate) const B_UDP: &str = "192.0.2.2:2000";
pub(crate) const C_UDP: &str = "192.0.2.3:3000";

pub(super) fn id(v: u8) -> NodeId {
    let mut n = [0u8; NODE_ID_LEN];
    n[NODE_ID_LEN - 1] = v;
    n
}
pub(super) const A_ID: u8 = 0x10;
pub(super) const B_ID: u8 = 0x50;
pub(super) const C_ID: u8 = 0x90;
pub(super) const D_ID: u8 = 0xd0;
/// Session indices (the first side's; the other side's is + 1): links A-B and B-C, and the
/// end-to-end session A-C.
pub(super) const AB: u32 = 100;
pub(super) const BC: u32 = 200;
pub(crate) const AC: u32 = 300;
/// In every IP payload A sends C: it must never show up in anything B holds.
pub(super) const MARKER: &[u8] = b"END-TO-END-SECRET-MARKER";

fn node(mode: DeviceMode, last: u8, nid: u8) -> Shared {
    let mut s = shared(mode, Some((Ipv4Addr::new(10, 0, 0, last), 24)));
    s.node_id = Some(id(nid));
    s
}

pub(super) fn peer(
    s: &Shared,
    pid: u32,
    udp: Option<&str>,
    allowed: &[&str],
    nid: u8,
    via: Option<u32>,
) {
    s.tables.set_peer_with(
        pid,
        udp.map(sa),
        nets(allowed),
        PeerOpts {
            node_id: Some(id(nid)),
            via: Some(via),
            relay_only: None,
            hop: None,
            gateway_client: None,
            forget_endpoint: false,
        },
    );
}

/// The keys of one side of a session: the other side has `keys(remote, local)`.
pub(crate) fn keys(local: u32, remote: u32) -> SessionKeys {
    SessionKeys {
        local_index: local,
        remote_index: remote,
        send_key: [local as u8; 32],
        recv_key: [remote as u8; 32],
        initiator: local < remote,
    }
}

/// Give `x`'s peer `xp` and `y`'s peer `yp` one matching session.
pub(super) fn link(x: &Shared, xp: u32, y: &Shared, yp: u32, idx: u32, now: Instant) {
    assert!(x.tables.set_session(xp, &keys(idx, idx + 1), now, 1));
    assert!(y.tables.set_session(yp, &keys(idx + 1, idx), now, 1));
}

/// A (10.0.0.1) -- B (10.0.0.2) -- C (10.0.0.3): links A-B and B-C; A and C share an end-to-end
/// session but know no endpoint of each other.
/// A: peer 1 = B, peer 2 = C via 1. B: peer 1 = A, peer 2 = C. C: peer 1 = B, peer 2 = A via 1.
pub(crate) fn chain(mode: DeviceMode, now: Instant) -> (Shared, Shared, Shared) {
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
    link(&a, 1, &b, 1, AB, now);
    link(&b, 2, &c, 1, BC, now);
    link(&a, 2, &c, 2, AC, now);
    (a, b, c)
}

pub(crate) fn stat(s: &Shared, pid: u32, f: impl Fn(&PeerState) -> &AtomicU64) -> u64 {
    f(&s.tables.load().peers[&pid].state).load(Ordering::Relaxed)
}

/// What the holder of session `k` reads in `frame`: its plaintext, opened with an independent
/// copy of the session (so the real one's replay window is untouched).
pub(super) fn peek(k: &SessionKeys, frame: &[u8], now: Instant) -> Vec<u8> {
    let s: Session = Session::new(k, now);
    let mut f = frame.to_vec();
    let (_, r) = s.open(&mut f, now).expect("the hop opens its link frame");
    f[r].to_vec()
}

pub(super) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Seal `plain` as a `kind` frame with `x`'s current session to peer `xp`, in a receive slot.
pub(super) fn sealed(
    x: &Shared,
    xp: u32,
    kind: u8,
    plain: &[u8],
    now: Instant,
) -> (Vec<u8>, usize) {
    let s = x.tables.load().peers[&xp].current.clone().expect("session");
    let mut buf = vec![0u8; BUF_LEN];
    buf[HEADER_LEN..HEADER_LEN + plain.len()].copy_from_slice(plain);
    let len = s
        .session
        .seal(kind, &mut buf, plain.len(), now)
        .expect("seal");
    (buf, len)
}

/// A hand-made relay payload sealed as a hop would (`x`'s session to peer `xp`). A payload too
/// short for the link layer (under MIN_RELAY_PAYLOAD) cannot be sealed: the frame is built as a
/// hostile sender would, with the tag of a zero-padded copy, and the receiver refuses it unopened.
pub(super) fn relay_frame(x: &Shared, xp: u32, plain: &[u8], now: Instant) -> (Vec<u8>, usize) {
    if plain.len() >= MIN_RELAY_PAYLOAD {
        return sealed(x, xp, TYPE_RELAY, plain, now);
    }
    let mut padded = plain.to_vec();
    padded.resize(MIN_RELAY_PAYLOAD, 0);
    let (full, len) = sealed(x, xp, TYPE_RELAY, &padded, now);
    let mut buf = vec![0u8; BUF_LEN];
    buf[..HEADER_LEN].copy_from_slice(&full[..HEADER_LEN]);
    buf[HEADER_LEN..HEADER_LEN + plain.len()].copy_from_slice(plain);
    let short = HEADER_LEN + plain.len() + TAG_LEN;
    buf[short - TAG_LEN..short].copy_from_slice(&full[len - TAG_LEN..len]);
    (buf, short)
}

/// An end-to-end frame: `payload` sealed as `kind` with `x`'s session to peer `xp`.
pub(super) fn e2e(x: &Shared, xp: u32, kind: u8, payload: &[u8], now: Instant) -> Vec<u8> {
    let (buf, len) = sealed(x, xp, kind, payload, now);
    buf[..len].to_vec()
}

pub(super) fn relay_plain(dst: u8, src: u8, ttl: u8, inner: &[u8]) -> Vec<u8> {
    let mut h = [0u8; RELAY_HEADER_LEN];
    RelayHeader {
        dst: id(dst),
        src: id(src),
        ttl,
        link: false,
    }
    .write(&mut h);
    let mut p = h.to_vec();
    p.extend_from_slice(inner);
    p
}

fn device_read(mode: DeviceMode, pkt: &[u8]) -> Vec<u8> {
    match mode {
        DeviceMode::Tun => pkt.to_vec(),
        DeviceMode::Tap => eth(DEFAULT_VIRTUAL_MAC, OS_MAC, ETHERTYPE_IPV4, pkt),
    }
}

fn end_to_end(mode: DeviceMode) {
    let now = Instant::now();
    let (a, b, c) = chain(mode, now);
    c.set_os_mac(&OS_MAC);
    let pkt = ipv4([10, 0, 0, 1], [10, 0, 0, 3], MARKER);
    // A: session with C but no endpoint: an end-to-end DATA frame inside a RELAY frame for B.
    let (act, mut buf, _) = out(&a, &device_read(mode, &pkt), now);
    let TxAction::Send { to, start, len } = act else {
        panic!("{act:?}")
    };
    let inner_len = HEADER_LEN + pkt.len() + TAG_LEN;
    assert_eq!((to, start), (sa(B_UDP), 0));
    assert_eq!(len, HEADER_LEN + RELAY_HEADER_LEN + inner_len + TAG_LEN);
    assert_eq!(buf[0], TYPE_RELAY);
    assert!(
        a.events.is_empty(),
        "A has a session with C: no need_session"
    );
    assert_eq!(stat(&a, 2, |s| &s.tx_relayed_packets), 1);
    assert_eq!(stat(&a, 2, |s| &s.tx_relayed_bytes), len as u64);
    assert_eq!(stat(&a, 2, |s| &s.tx_packets), 1);
    assert_eq!(stat(&a, 2, |s| &s.tx_bytes), inner_len as u64);
    assert_eq!(stat(&a, 1, |s| &s.tx_packets), 1);
    assert_eq!(stat(&a, 1, |s| &s.tx_bytes), len as u64);
    // Everything B can read: the relay header and an opaque DATA frame for C's index.
    assert!(!contains(&buf[..len], MARKER));
    let seen = peek(&keys(AB + 1, AB), &buf[..len], now);
    let want = RelayHeader {
        dst: id(C_ID),
        src: id(A_ID),
        ttl: DEFAULT_TTL,
        link: false,
    };
    assert_eq!(RelayHeader::parse(&seen), Ok(want));
    let inner = seen[RELAY_HEADER_LEN..].to_vec();
    assert_eq!(inner.len(), inner_len);
    assert!(matches!(
        frame::parse(&inner),
        Ok(Frame::Transport { kind: TYPE_DATA, receiver, .. }) if receiver == AC + 1
    ));
    assert!(!contains(&seen, MARKER), "B sees only ciphertext");
    // B: not for it; C is its peer with a session: forward in place, inner frame untouched.
    let act = b.inbound(&mut buf, len, sa(A_UDP), now);
    assert_eq!(act, RxAction::Forward { to: sa(C_UDP), len });
    assert!(!contains(&buf, MARKER), "B's whole slot");
    let fwd = peek(&keys(BC + 1, BC), &buf[..len], now);
    assert_eq!(fwd[TTL_OFFSET], DEFAULT_TTL - 1);
    assert_eq!(&fwd[RELAY_HEADER_LEN..], &inner[..]);
    assert_eq!(b.counters.relay_forwarded.load(Ordering::Relaxed), 1);
    assert_eq!(stat(&b, 1, |s| &s.rx_packets), 1);
    assert_eq!(stat(&b, 2, |s| &s.tx_packets), 1);
    assert!(b.events.is_empty());
    // C: for it; the inner frame opens with the session of peer 2 (node id A): deliver.
    let RxAction::Write(r) = c.inbound(&mut buf, len, sa(B_UDP), now) else {
        panic!("not delivered")
    };
    match mode {
        DeviceMode::Tun => assert_eq!(&buf[r], &pkt[..]),
        DeviceMode::Tap => {
            let f = &buf[r];
            assert_eq!(&f[..6], &OS_MAC);
            assert_eq!(&f[6..12], &DEFAULT_VIRTUAL_MAC);
            assert_eq!(&f[ETH_HEADER_LEN..], &pkt[..]);
        }
    }
    assert_eq!(stat(&c, 2, |s| &s.rx_relayed_packets), 1);
    assert_eq!(stat(&c, 2, |s| &s.rx_relayed_bytes), len as u64);
    assert_eq!(stat(&c, 2, |s| &s.rx_packets), 1);
    assert_eq!(stat(&c, 2, |s| &s.rx_bytes), inner_len as u64);
    assert!(c.tables.load().peers[&2].state.last_rx_ms() > 0);
    assert_eq!(stat(&c, 1, |s| &s.rx_packets), 1, "the link frame is B's");
    assert_eq!(
        c.tables.load().peers[&2].state.endpoint(),
        None,
        "no roaming"
    );
    assert!(c.events.is_empty());
    // The reverse direction works the same way (C -> B -> A).
    let back = ipv4([10, 0, 0, 3], [10, 0, 0, 1], MARKER);
    let (act, mut buf, _) = out(&c, &device_read(mode, &back), now);
    let TxAction::Send { len, .. } = act else {
        panic!("{act:?}")
    };
    assert!(matches!(
        b.inbound(&mut buf, len, sa(C_UDP), now),
        RxAction::Forward { .. }
    ));
    assert!(!contains(&buf, MARKER));
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

/// B's peer 2 (C) as a greedy next hop or not.
pub(super) fn set_hop(b: &Shared, v: bool) {
    b.tables.set_peer_with(
        2,
        None,
        nets(&["10.0.0.3/32"]),
        PeerOpts {
            hop: Some(v),
            ..PeerOpts::default()
        },
    );
}

fn relay_only(a: &Shared, v: Option<bool>) {
    let opts = PeerOpts {
        relay_only: v,
        ..PeerOpts::default()
    };
    a.tables
        .set_peer_with(2, Some(sa(C_UDP)), nets(&["10.0.0.3/32"]), opts);
}

#[test]
fn relay_only_forces_the_relay() {
    let now = Instant::now();
    let (a, b, c) = chain(DeviceMode::Tun, now);
    let to_c = ipv4([10, 0, 0, 1], [10, 0, 0, 3], b"x");
    let direct = TxAction::Send {
        to: sa(C_UDP),
        start: crate::pipeline::DATA_START,
        len: HEADER_LEN + to_c.len() + TAG_LEN,
    };
    // With an endpoint the end-to-end session goes direct.
    relay_only(&a, None);
    let (act, mut buf, _) = out(&a, &to_c, now);
    assert_eq!(act, direct);
    assert!(matches!(
        c.inbound(&mut buf, HEADER_LEN + to_c.len() + TAG_LEN, sa(A_UDP), now),
        RxAction::Write(_)
    ));
    // relayOnly: through B although C has an endpoint; a plain update keeps the flag.
    for set in [Some(true), None] {
        relay_only(&a, set);
        let (act, mut buf, _) = out(&a, &to_c, now);
        let TxAction::Send { to, start: 0, len } = act else {
            panic!("{act:?}")
        };
        assert_eq!(to, sa(B_UDP));
        assert!(matches!(
            b.inbound(&mut buf, len, sa(A_UDP), now),
            RxAction::Forward { .. }
        ));
        assert!(matches!(
            c.inbound(&mut buf, len, sa(B_UDP), now),
            RxAction::Write(_)
        ));
    }
    assert_eq!(stat(&a, 2, |s| &s.tx_relayed_packets), 2);
    assert_eq!(stat(&a, 2, |s| &s.tx_packets), 3);
    assert_eq!(stat(&c, 2, |s| &s.rx_relayed_packets), 2);
    assert_eq!(stat(&c, 2, |s| &s.rx_packets), 3);
    relay_only(&a, Some(false));
    assert_eq!(out(&a, &to_c, now).0, direct);
    // relayOnly without a usable via hop: no path (held while the control plane looks for one).
    relay_only(&a, Some(true));
    assert!(a.tables.remove_session(AB));
    assert_eq!(
        out(&a, &to_c, now).0,
        hold("10.0.0.3", to_c.len(), crate::pipeline::Wait::Path(2))
    );
}

#[test]
fn relay_tx_needs_e2e_session_via_hop_and_ids() {
    let now = Instant::now();
    let to_c = ipv4([10, 0, 0, 1], [10, 0, 0, 3], b"x");
    // No end-to-end session: held + need_session, never a raw relay.
    let (a, _, _) = chain(DeviceMode::Tun, now);
    assert!(a.tables.remove_session(AC));
    assert_eq!(
        out(&a, &to_c, now).0,
        hold("10.0.0.3", to_c.len(), crate::pipeline::Wait::Session(2))
    );
    assert_eq!(a.events.drain(), vec![Event::NeedSession { peer: 2 }]);
    assert_eq!(stat(&a, 1, |s| &s.tx_packets), 0);
    assert_eq!(stat(&a, 2, |s| &s.tx_relayed_packets), 0);
    // Via hop without a session: no path, and the end-to-end session is not used; held, and the
    // control plane is asked (need_session) to find a hop.
    let no_path = hold("10.0.0.3", to_c.len(), crate::pipeline::Wait::Path(2));
    let (a, _, _) = chain(DeviceMode::Tun, now);
    assert!(a.tables.remove_session(AB));
    assert_eq!(out(&a, &to_c, now).0, no_path);
    assert_eq!(stat(&a, 2, |s| &s.tx_packets), 0);
    assert_eq!(a.events.drain(), vec![Event::NeedSession { peer: 2 }]);
    // No via at all.
    let (a, _, _) = chain(DeviceMode::Tun, now);
    let clear = PeerOpts {
        via: Some(None),
        ..PeerOpts::default()
    };
    a.tables
        .set_peer_with(2, None, nets(&["10.0.0.3/32"]), clear);
    assert_eq!(out(&a, &to_c, now).0, no_path);
    // No own node id: relay disabled.
    let (mut a, _, _) = chain(DeviceMode::Tun, now);
    a.node_id = None;
    assert_eq!(out(&a, &to_c, now).0, no_path);
    // Destination peer without a node id.
    let (a, _, _) = chain(DeviceMode::Tun, now);
    let via = PeerOpts {
        via: Some(Some(1)),
        ..PeerOpts::default()
    };
    a.tables.set_peer_with(3, None, nets(&["10.0.0.4/32"]), via);
    assert!(a.tables.set_session(3, &keys(400, 401), now, 1));
    assert_eq!(
        out(&a, &ipv4([10, 0, 0, 1], [10, 0, 0, 4], b"x"), now).0,
        hold("10.0.0.4", 21, crate::pipeline::Wait::Path(3))
    );
    assert_eq!(stat(&a, 3, |s| &s.tx_relayed_packets), 0);
}
