//! The inbound hold driven as the rx loop drives it: packets from an overlay peer's unlearned
//! source are held, decided by the peer's next set_peer (written in order if now allowed, else
//! kept until a later set_peer allows them), later packets wait behind decided ones, expiry,
//! overflow and a removed peer count `source_not_allowed`, relayed end-to-end packets hold
//! alike, static-mesh peers drop at once.

use super::*;
use crate::config::DeviceMode;
use crate::events::Event;
use crate::pending::PENDING_BYTES;
use crate::pipeline::tests::{eth, ipv4, nets, out, pair, sa, A_ADDR, OS_MAC};
use crate::pipeline::{TxAction, BUF_LEN};
use crate::relay::tests::{chain, keys, stat, A_UDP, B_UDP, C_UDP};
use crate::tables::PeerOpts;
use ringvpn_core::ether::{DEFAULT_VIRTUAL_MAC, ETHERTYPE_IPV4};
use std::time::Duration;

const NODE: [u8; 20] = [7; 20];

/// The rx loop over in-memory datagrams: its hold and what reaches the device, in order.
struct Rx<'s> {
    s: &'s Shared,
    held: RxPending,
    dev: Vec<Vec<u8>>,
}

impl<'s> Rx<'s> {
    fn new(s: &'s Shared) -> Self {
        Rx {
            s,
            held: RxPending::new(1500),
            dev: Vec::new(),
        }
    }

    fn recv(&mut self, dgram: &[u8], from: &str, now: Instant) -> RxAction {
        let mut buf = vec![0u8; BUF_LEN];
        buf[..dgram.len()].copy_from_slice(dgram);
        let act = self
            .s
            .inbound_with(&mut buf, dgram.len(), sa(from), now, Some(&self.held));
        match &act {
            RxAction::Write(r) => self.dev.push(buf[r.clone()].to_vec()),
            RxAction::WriteAfterHeld(r) => {
                self.service(now);
                self.dev.push(buf[r.clone()].to_vec());
            }
            RxAction::Hold {
                peer,
                gen,
                start,
                len,
            } => self
                .held
                .hold(self.s, *peer, *gen, &buf[*start..start + len], now),
            _ => {}
        }
        act
    }

    fn service(&mut self, now: Instant) {
        let dev = &mut self.dev;
        self.held.service(self.s, now, |f| dev.push(f.to_vec()));
    }
}

/// A's frame for B carrying `pkt` (A sends whatever source its device hands over).
fn from_a(a: &Shared, pkt: &[u8], now: Instant) -> Vec<u8> {
    let (act, buf, _) = out(a, pkt, now);
    let TxAction::Send { len, .. } = act else {
        panic!("{act:?}")
    };
    buf[..len].to_vec()
}

/// A (10.0.0.1) and B as in `pair`, B knowing A as an overlay peer (node id NODE).
fn overlay_pair(mode: DeviceMode, now: Instant) -> (Shared, Shared) {
    let (a, b) = pair(mode, now);
    set_a(&b, &["10.0.0.1/32"], Some(NODE));
    (a, b)
}

/// B's set_peer for A (peer 1) with these prefixes.
fn set_a(b: &Shared, allowed: &[&str], node_id: Option<[u8; 20]>) {
    let opts = PeerOpts {
        node_id,
        ..PeerOpts::default()
    };
    b.tables.set_peer_with(1, None, nets(allowed), opts);
}

fn from(src: u8, i: u8) -> Vec<u8> {
    ipv4([10, 0, 0, src], [10, 0, 0, 2], &[i; 4])
}

fn held_count(s: &Shared) -> (u64, u64) {
    let c = &s.counters;
    (
        c.rx_pending_held.load(Ordering::Relaxed),
        c.rx_pending_released.load(Ordering::Relaxed),
    )
}

#[test]
fn held_until_set_peer_allows_the_source_then_written_in_order() {
    let now = Instant::now();
    let (a, b) = overlay_pair(DeviceMode::Tun, now);
    let mut rx = Rx::new(&b);
    for i in 0..3 {
        let act = rx.recv(&from_a(&a, &from(9, i), now), A_ADDR, now);
        assert!(matches!(act, RxAction::Hold { peer: 1, .. }), "{act:?}");
    }
    assert_eq!(
        b.events.drain(),
        vec![Event::SourceUnknown {
            node: NODE,
            addr: "10.0.0.9".parse().expect("ip")
        }],
        "the control plane is asked as before (1/s per node)"
    );
    // An allowed source is not held up by the undecided packets.
    rx.recv(&from_a(&a, &from(1, 7), now), A_ADDR, now);
    assert_eq!(rx.dev, vec![from(1, 7)]);
    // A new session is no answer about the source: still held.
    assert!(b.tables.set_session(1, &keys(500, 501), now, 1));
    rx.service(now);
    assert_eq!((rx.held.len(), rx.dev.len()), (3, 1));
    set_a(&b, &["10.0.0.1/32", "10.0.0.9/32"], None);
    rx.service(now);
    assert!(rx.held.is_empty() && rx.held.next_deadline().is_none());
    assert_eq!(rx.dev, vec![from(1, 7), from(9, 0), from(9, 1), from(9, 2)]);
    assert_eq!(held_count(&b), (3, 3));
    assert_eq!(stat(&b, 1, |s| &s.rx_pending_held), 3);
    assert_eq!(stat(&b, 1, |s| &s.rx_pending_released), 3);
    assert_eq!(stat(&b, 1, |s| &s.rx_data_packets), 4);
    assert_eq!(stat(&b, 1, |s| &s.pending_held), 0, "outbound stays apart");
    assert_eq!(b.counters.drops(DropReason::SourceNotAllowed), 0);
    // Learned: the next packet from there goes straight through.
    let act = rx.recv(&from_a(&a, &from(9, 3), now), A_ADDR, now);
    assert!(matches!(act, RxAction::Write(_)), "{act:?}");
}

#[test]
fn still_not_allowed_after_set_peer_stays_held_and_a_removed_peer_drops_all() {
    let now = Instant::now();
    let (a, b) = overlay_pair(DeviceMode::Tun, now);
    let mut rx = Rx::new(&b);
    for (src, i) in [(9, 0), (8, 1), (9, 2)] {
        rx.recv(&from_a(&a, &from(src, i), now), A_ADDR, now);
    }
    set_a(&b, &["10.0.0.1/32", "10.0.0.9/32"], None);
    rx.service(now);
    assert_eq!(rx.dev, vec![from(9, 0), from(9, 2)]);
    assert_eq!(b.counters.drops(DropReason::SourceNotAllowed), 0);
    assert_eq!(
        rx.held.len(),
        1,
        "the .8 packet waits for a set_peer that allows it"
    );
    assert_eq!(held_count(&b), (3, 2));
    // an update for another reason (same prefixes) keeps it; one that allows it writes it
    set_a(&b, &["10.0.0.1/32", "10.0.0.9/32"], None);
    rx.service(now);
    assert_eq!(rx.held.len(), 1);
    set_a(&b, &["10.0.0.1/32", "10.0.0.8/32", "10.0.0.9/32"], None);
    rx.service(now);
    assert_eq!(rx.dev, vec![from(9, 0), from(9, 2), from(8, 1)]);
    assert!(rx.held.is_empty());
    assert_eq!(held_count(&b), (3, 3));
    // Held under the new prefixes, then the peer goes away: dropped.
    rx.recv(&from_a(&a, &from(7, 3), now), A_ADDR, now);
    assert_eq!(rx.held.len(), 1);
    rx.service(now);
    assert_eq!(rx.held.len(), 1, "no set_peer since: undecided");
    assert!(b.tables.remove_peer(1));
    rx.service(now);
    assert!(rx.held.is_empty());
    assert_eq!(b.counters.drops(DropReason::SourceNotAllowed), 1);
}

#[test]
fn a_packet_after_the_set_peer_waits_behind_the_decided_ones() {
    let now = Instant::now();
    let (a, b) = overlay_pair(DeviceMode::Tun, now);
    let mut rx = Rx::new(&b);
    rx.recv(&from_a(&a, &from(9, 0), now), A_ADDR, now);
    rx.recv(&from_a(&a, &from(9, 1), now), A_ADDR, now);
    // set_peer lands, and the next packet arrives before the loop saw the wake-up.
    set_a(&b, &["10.0.0.1/32", "10.0.0.9/32"], None);
    let act = rx.recv(&from_a(&a, &from(9, 2), now), A_ADDR, now);
    assert!(matches!(act, RxAction::WriteAfterHeld(_)), "{act:?}");
    assert_eq!(rx.dev, vec![from(9, 0), from(9, 1), from(9, 2)]);
    assert!(rx.held.is_empty());
}

#[test]
fn expiry_counts_source_not_allowed() {
    let now = Instant::now();
    let (a, b) = overlay_pair(DeviceMode::Tun, now);
    let mut rx = Rx::new(&b);
    rx.recv(&from_a(&a, &from(9, 0), now), A_ADDR, now);
    let t1 = now + Duration::from_millis(700);
    rx.recv(&from_a(&a, &from(9, 1), t1), A_ADDR, t1);
    assert_eq!(rx.held.next_deadline(), Some(now + PENDING_HOLD));
    rx.service(now + PENDING_HOLD - Duration::from_millis(1));
    assert_eq!(rx.held.len(), 2);
    rx.service(now + PENDING_HOLD);
    assert_eq!(
        (rx.held.len(), rx.held.next_deadline()),
        (1, Some(t1 + PENDING_HOLD))
    );
    assert_eq!(b.counters.drops(DropReason::SourceNotAllowed), 1);
    rx.service(t1 + PENDING_HOLD);
    assert!(rx.held.is_empty() && rx.dev.is_empty());
    assert_eq!(b.counters.drops(DropReason::SourceNotAllowed), 2);
    assert_eq!(held_count(&b), (2, 0));
    // A set_peer after expiry finds nothing to release.
    set_a(&b, &["10.0.0.1/32", "10.0.0.9/32"], None);
    rx.service(t1 + PENDING_HOLD);
    assert!(rx.dev.is_empty());
}

#[test]
fn overflow_counts_source_not_allowed() {
    let now = Instant::now();
    let (a, b) = overlay_pair(DeviceMode::Tun, now);
    let mut rx = Rx::new(&b);
    for i in 0..6 {
        rx.recv(&from_a(&a, &from(9, i), now), A_ADDR, now);
    }
    assert_eq!(rx.held.len(), RX_PENDING_PER_PEER);
    assert_eq!(b.counters.drops(DropReason::SourceNotAllowed), 2);
    // At most RX_PENDING_PEERS peers (ids need not exist to be held).
    let pkt = from(9, 0);
    for peer in 2..=RX_PENDING_PEERS as u32 + 1 {
        rx.held.hold(&b, peer, 1, &pkt, now);
    }
    assert_eq!(rx.held.len(), RX_PENDING_PER_PEER + RX_PENDING_PEERS - 1);
    assert_eq!(b.counters.drops(DropReason::SourceNotAllowed), 3);
    // The released ones are in order; the overflowing ones never show up. The other ids are
    // no peers: decided, dropped.
    set_a(&b, &["10.0.0.1/32", "10.0.0.9/32"], None);
    rx.service(now);
    assert_eq!(rx.dev, (0..4).map(|i| from(9, i)).collect::<Vec<_>>());
    assert!(rx.held.is_empty());
    let dropped = 3 + RX_PENDING_PEERS as u64 - 1;
    assert_eq!(b.counters.drops(DropReason::SourceNotAllowed), dropped);
    // The byte budget bounds slots for a large MTU; a packet larger than a slot is oversize.
    let mut big = RxPending::new(65_000);
    let slots = PENDING_BYTES / (ETH_HEADER_LEN + 65_000);
    for peer in 0..=slots as u32 {
        big.hold(&b, peer, 1, &pkt, now);
    }
    assert_eq!(big.len(), slots);
    assert_eq!(b.counters.drops(DropReason::SourceNotAllowed), dropped + 1);
    let mut small = RxPending::new(pkt.len() - 1);
    small.hold(&b, 1, 1, &pkt, now);
    assert_eq!(
        (small.len(), b.counters.drops(DropReason::Oversize)),
        (0, 1)
    );
}

#[test]
fn relayed_end_to_end_packet_is_held_then_written() {
    let now = Instant::now();
    let (a, b, c) = chain(DeviceMode::Tun, now);
    let mut rx = Rx::new(&c);
    // A (C's peer 2, reached through B) sends from 10.0.0.9, which C has not learned for it.
    let pkt = |i: u8| ipv4([10, 0, 0, 9], [10, 0, 0, 3], &[i; 6]);
    for i in 0..2 {
        let mut f = vec![0u8; BUF_LEN];
        let sent = from_a(&a, &pkt(i), now);
        f[..sent.len()].copy_from_slice(&sent);
        let RxAction::Forward { to, len } = b.inbound(&mut f, sent.len(), sa(A_UDP), now) else {
            panic!("B forwards")
        };
        assert_eq!(to, sa(C_UDP));
        let act = rx.recv(&f[..len], B_UDP, now);
        assert!(matches!(act, RxAction::Hold { peer: 2, .. }), "{act:?}");
    }
    let node = c.tables.load().peers[&2].node_id.expect("A's node id");
    assert_eq!(
        c.events.drain(),
        vec![Event::SourceUnknown {
            node,
            addr: "10.0.0.9".parse().expect("ip")
        }]
    );
    assert_eq!(stat(&c, 2, |s| &s.rx_relayed_packets), 2);
    c.tables.set_peer_with(
        2,
        None,
        nets(&["10.0.0.1/32", "10.0.0.9/32"]),
        PeerOpts::default(),
    );
    rx.service(now);
    assert_eq!(rx.dev, vec![pkt(0), pkt(1)]);
    assert_eq!(stat(&c, 2, |s| &s.rx_pending_released), 2);
    assert_eq!(stat(&c, 2, |s| &s.rx_data_packets), 2);
}

#[test]
fn static_mesh_peer_still_drops_at_once() {
    let now = Instant::now();
    let (a, b) = pair(DeviceMode::Tun, now); // no node ids
    let mut rx = Rx::new(&b);
    let act = rx.recv(&from_a(&a, &from(9, 0), now), A_ADDR, now);
    assert_eq!(act, RxAction::Drop(DropReason::SourceNotAllowed));
    assert!(rx.held.is_empty() && b.events.is_empty());
    assert_eq!(held_count(&b), (0, 0));
    // And without a hold (Shared::inbound) an overlay peer's packet drops as before.
    set_a(&b, &["10.0.0.1/32"], Some(NODE));
    let mut f = from_a(&a, &from(9, 1), now);
    let len = f.len();
    assert_eq!(
        b.inbound(&mut f, len, sa(A_ADDR), now),
        RxAction::Drop(DropReason::SourceNotAllowed)
    );
}

#[test]
fn tap_release_writes_the_ethernet_header() {
    let now = Instant::now();
    let (a, b) = overlay_pair(DeviceMode::Tap, now);
    b.set_os_mac(&OS_MAC);
    let mut rx = Rx::new(&b);
    let pkt = from(9, 0);
    let read = eth(DEFAULT_VIRTUAL_MAC, OS_MAC, ETHERTYPE_IPV4, &pkt);
    rx.recv(&from_a(&a, &read, now), A_ADDR, now);
    assert_eq!(rx.held.len(), 1);
    set_a(&b, &["10.0.0.0/24"], None);
    rx.service(now);
    assert_eq!(
        rx.dev,
        vec![eth(OS_MAC, DEFAULT_VIRTUAL_MAC, ETHERTYPE_IPV4, &pkt)]
    );
}
