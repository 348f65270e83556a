//! The hold queue driven as the io loop drives it: device packets held without a route or a
//! session, released in order by set_peer / set_session (direct and through a relay hop),
//! packets that arrive after the session keep their place, overflow and expiry are counted.

use super::*;
use crate::config::DeviceMode;
use crate::events::Event;
use crate::pipeline::tests::{ipv4, nets, pair, sa, shared, slot, A_ADDR, B_ADDR};
use crate::pipeline::RxAction;
use crate::relay::tests::{chain, keys, stat, AC, A_UDP, B_UDP, C_UDP};
use ringvpn_core::ether::ARP_FRAME_LEN;
use ringvpn_core::session::SessionKeys;
use std::net::Ipv4Addr;

/// One device read through `outbound`, holding what it asks to hold, as the tx loop does.
fn read(s: &Shared, p: &mut Pending, pkt: &[u8], now: Instant) -> TxAction {
    let mut buf = slot(s, pkt);
    let mut arp = [0u8; ARP_FRAME_LEN];
    let act = s.outbound(&mut buf, pkt.len(), now, &mut arp, p);
    if let TxAction::Hold { dst, len, why } = act {
        p.hold(s, dst, why, &buf, len, now);
    }
    act
}

/// Run `service` with room for `room` frames; the frames come back in receive slots.
fn service(
    s: &Shared,
    p: &mut Pending,
    now: Instant,
    room: usize,
) -> (Vec<(Vec<u8>, usize, SocketAddr)>, bool) {
    let mut sent = Vec::new();
    let more = p.service(s, now, room, |f, to| {
        let mut rx = vec![0u8; crate::pipeline::BUF_LEN];
        rx[..f.len()].copy_from_slice(f);
        sent.push((rx, f.len(), to));
    });
    (sent, more)
}

/// What the receiver writes to its device for each frame, in order.
fn delivered(
    rx: &Shared,
    frames: Vec<(Vec<u8>, usize, SocketAddr)>,
    from: &str,
    now: Instant,
) -> Vec<Vec<u8>> {
    frames
        .into_iter()
        .map(
            |(mut f, len, _)| match rx.inbound(&mut f, len, sa(from), now) {
                RxAction::Write(r) => f[r].to_vec(),
                other => panic!("{other:?}"),
            },
        )
        .collect()
}

fn pkt(i: u8) -> Vec<u8> {
    ipv4([10, 0, 0, 1], [10, 0, 0, 2], &[i; 3])
}

fn ka() -> SessionKeys {
    SessionKeys {
        local_index: 100,
        remote_index: 200,
        send_key: [1; 32],
        recv_key: [2; 32],
        initiator: true,
    }
}

#[test]
fn held_without_route_then_released_in_order_by_set_peer() {
    let now = Instant::now();
    let (a, b) = pair(DeviceMode::Tun, now);
    let mut p = Pending::new(1500);
    a.tables.set_peer(1, None, vec![]); // the session stays, the route goes
    for i in 0..3 {
        let act = read(&a, &mut p, &pkt(i), now);
        assert!(
            matches!(
                act,
                TxAction::Hold {
                    why: Wait::Route,
                    ..
                }
            ),
            "{act:?}"
        );
    }
    assert_eq!(
        a.events.drain(),
        vec![Event::Miss {
            dst: "10.0.0.2".parse().expect("ip")
        }]
    );
    assert_eq!(
        (p.len(), service(&a, &mut p, now, 32).0.len()),
        (3, 0),
        "no route yet: kept"
    );
    a.tables.set_peer(1, None, nets(&["10.0.0.2/32"]));
    let (frames, more) = service(&a, &mut p, now, 32);
    assert!(!more && p.is_empty());
    assert!(frames.iter().all(|f| f.2 == sa(B_ADDR)));
    assert_eq!(
        delivered(&b, frames, A_ADDR, now),
        vec![pkt(0), pkt(1), pkt(2)]
    );
    let c = &a.counters;
    assert_eq!(c.pending_held.load(Ordering::Relaxed), 3);
    assert_eq!(c.pending_released.load(Ordering::Relaxed), 3);
    assert_eq!(stat(&a, 1, |s| &s.pending_released), 3);
    assert_eq!(
        stat(&a, 1, |s| &s.pending_held),
        0,
        "held for a route, not for this peer"
    );
    assert_eq!(stat(&a, 1, |s| &s.tx_data_packets), 3);
    assert_eq!(c.drops(DropReason::NoRoute), 0);
}

#[test]
fn held_without_session_then_released_by_set_session_and_later_packets_wait_behind() {
    let now = Instant::now();
    let (a, b) = pair(DeviceMode::Tun, now);
    let mut p = Pending::new(1500);
    assert!(a.tables.remove_session(100));
    for i in 0..2 {
        assert!(matches!(
            read(&a, &mut p, &pkt(i), now),
            TxAction::Hold {
                why: Wait::Session(1),
                ..
            }
        ));
    }
    assert_eq!(a.events.drain(), vec![Event::NeedSession { peer: 1 }]);
    assert!(a.tables.set_session(1, &ka(), now, 1));
    // The session is there before the loop released: the next packet keeps its place.
    assert!(matches!(
        read(&a, &mut p, &pkt(2), now),
        TxAction::Hold {
            why: Wait::Behind,
            ..
        }
    ));
    // Another destination is not held up.
    a.tables
        .set_peer(2, Some(sa("192.0.2.9:9")), nets(&["10.0.0.9/32"]));
    assert!(a.tables.set_session(2, &keys(7, 8), now, 1));
    let other = ipv4([10, 0, 0, 1], [10, 0, 0, 9], b"x");
    assert!(matches!(
        read(&a, &mut p, &other, now),
        TxAction::Send { .. }
    ));
    // Room for two frames: two now, the third after a flush.
    let (first, more) = service(&a, &mut p, now, 2);
    assert!(more);
    let (rest, more) = service(&a, &mut p, now, 32);
    assert!(!more && p.is_empty());
    let got: Vec<_> = delivered(&b, first, A_ADDR, now)
        .into_iter()
        .chain(delivered(&b, rest, A_ADDR, now))
        .collect();
    assert_eq!(got, vec![pkt(0), pkt(1), pkt(2)]);
    assert_eq!(stat(&a, 1, |s| &s.pending_held), 2);
    assert_eq!(stat(&a, 1, |s| &s.pending_released), 3);
    assert_eq!(a.counters.pending_held.load(Ordering::Relaxed), 3);
    // Nothing held: packets go straight out again.
    assert!(matches!(
        read(&a, &mut p, &pkt(3), now),
        TxAction::Send { .. }
    ));
}

#[test]
fn relayed_destination_released_through_the_via_hop() {
    let now = Instant::now();
    let (a, b, c) = chain(DeviceMode::Tun, now);
    let mut p = Pending::new(1500);
    assert!(a.tables.remove_session(AC)); // route to C via B, no end-to-end session
    let to_c = |i: u8| ipv4([10, 0, 0, 1], [10, 0, 0, 3], &[i; 5]);
    for i in 0..2 {
        assert!(matches!(
            read(&a, &mut p, &to_c(i), now),
            TxAction::Hold {
                why: Wait::Session(2),
                ..
            }
        ));
    }
    assert_eq!(
        service(&a, &mut p, now, 32).0.len(),
        0,
        "the hop's session is not enough"
    );
    assert!(a.tables.set_session(2, &keys(AC, AC + 1), now, 1));
    let (frames, _) = service(&a, &mut p, now, 32);
    assert!(frames.iter().all(|f| f.2 == sa(B_UDP)));
    let mut got = Vec::new();
    for (mut f, len, _) in frames {
        let RxAction::Forward { to, len } = b.inbound(&mut f, len, sa(A_UDP), now) else {
            panic!("B forwards")
        };
        assert_eq!(to, sa(C_UDP));
        let RxAction::Write(r) = c.inbound(&mut f, len, sa(B_UDP), now) else {
            panic!("C delivers")
        };
        got.push(f[r].to_vec());
    }
    assert_eq!(got, vec![to_c(0), to_c(1)]);
    assert_eq!(stat(&a, 2, |s| &s.tx_relayed_packets), 2);
    assert_eq!(stat(&a, 2, |s| &s.pending_released), 2);
    assert_eq!(
        stat(&c, 2, |s| &s.rx_data_packets),
        2,
        "relayed end-to-end data counts"
    );
}

/// A peer with a session but no path (its via hop gone): held and a `need_session` raised (the
/// control plane looks for a new hop), not dropped; released through the hop once one is set.
#[test]
fn pathless_destination_held_until_a_via_hop_comes() {
    use crate::tables::PeerOpts;
    let now = Instant::now();
    let (a, b, c) = chain(DeviceMode::Tun, now);
    let mut p = Pending::new(1500);
    let via = |v: Option<u32>| PeerOpts {
        via: Some(v),
        ..PeerOpts::default()
    };
    a.tables
        .set_peer_with(2, None, nets(&["10.0.0.3/32"]), via(None));
    a.events.drain();
    let to_c = ipv4([10, 0, 0, 1], [10, 0, 0, 3], b"held");
    assert!(matches!(
        read(&a, &mut p, &to_c, now),
        TxAction::Hold {
            why: Wait::Path(2),
            ..
        }
    ));
    assert_eq!(a.events.drain(), vec![Event::NeedSession { peer: 2 }]);
    assert_eq!(service(&a, &mut p, now, 32).0.len(), 0, "still no path");
    assert_eq!(stat(&a, 2, |s| &s.pending_held), 1);
    a.tables
        .set_peer_with(2, None, nets(&["10.0.0.3/32"]), via(Some(1)));
    let (frames, _) = service(&a, &mut p, now, 32);
    assert_eq!(frames.len(), 1);
    let (mut f, len, to) = frames.into_iter().next().expect("one frame");
    assert_eq!(to, sa(B_UDP));
    let RxAction::Forward { len, .. } = b.inbound(&mut f, len, sa(A_UDP), now) else {
        panic!("B forwards")
    };
    let RxAction::Write(r) = c.inbound(&mut f, len, sa(B_UDP), now) else {
        panic!("C delivers")
    };
    assert_eq!(f[r].to_vec(), to_c);
    assert_eq!(a.counters.drops(DropReason::NoEndpoint), 0);
}

#[test]
fn overflow_is_counted() {
    let now = Instant::now();
    let s = shared(DeviceMode::Tun, Some((Ipv4Addr::new(10, 0, 0, 1), 24)));
    let mut p = Pending::new(1500);
    for i in 0..6 {
        read(&s, &mut p, &pkt(i), now);
    }
    assert_eq!(
        (p.len(), s.counters.drops(DropReason::PendingOverflow)),
        (PENDING_PER_DESTINATION, 2)
    );
    for d in 1..=PENDING_DESTINATIONS as u32 {
        let dst = Ipv4Addr::from(0x0b00_0000 + d).octets();
        read(&s, &mut p, &ipv4([10, 0, 0, 1], dst, b""), now);
    }
    // 64 destinations: 10.0.0.2 and 63 of the new ones.
    assert_eq!(p.len(), PENDING_PER_DESTINATION + PENDING_DESTINATIONS - 1);
    assert_eq!(s.counters.drops(DropReason::PendingOverflow), 3);
    assert_eq!(
        s.counters.pending_held.load(Ordering::Relaxed),
        p.len() as u64
    );
    // Multicast is never held; the byte budget bounds slots for a large MTU.
    let mcast = ipv4([10, 0, 0, 1], [224, 0, 0, 251], b"");
    assert_eq!(
        read(&s, &mut p, &mcast, now),
        TxAction::Drop(DropReason::NoRoute)
    );
    let mut big = Pending::new(65_000);
    let slots = PENDING_BYTES / (HEADROOM + 65_000 + TAILROOM);
    for d in 0..=slots as u32 {
        let dst = Ipv4Addr::from(0x0c00_0000 + d).octets();
        read(&s, &mut big, &ipv4([10, 0, 0, 1], dst, b""), now);
    }
    assert_eq!(big.len(), slots);
    assert_eq!(s.counters.drops(DropReason::PendingOverflow), 4);
    // A packet larger than a slot is refused, not truncated.
    let mut small = Pending::new(0);
    small.hold(
        &s,
        "10.0.0.2".parse().expect("ip"),
        Wait::Route,
        &slot(&s, &pkt(0)),
        23,
        now,
    );
    assert_eq!(
        (small.len(), s.counters.drops(DropReason::Oversize)),
        (0, 1)
    );
}

#[test]
fn expiry_is_counted_and_timed() {
    let now = Instant::now();
    let (a, _) = pair(DeviceMode::Tun, now);
    let mut p = Pending::new(1500);
    assert!(a.tables.remove_session(100));
    read(&a, &mut p, &pkt(0), now);
    let t1 = now + Duration::from_millis(500);
    read(&a, &mut p, &pkt(1), t1);
    assert_eq!(p.next_deadline(), Some(now + PENDING_HOLD));
    service(
        &a,
        &mut p,
        now + PENDING_HOLD - Duration::from_millis(1),
        32,
    );
    assert_eq!(p.len(), 2);
    service(&a, &mut p, now + PENDING_HOLD, 32);
    assert_eq!((p.len(), p.next_deadline()), (1, Some(t1 + PENDING_HOLD)));
    assert_eq!(a.counters.drops(DropReason::PendingExpired), 1);
    service(&a, &mut p, t1 + PENDING_HOLD, 32);
    assert!(p.is_empty() && p.next_deadline().is_none());
    assert_eq!(a.counters.drops(DropReason::PendingExpired), 2);
    assert_eq!(a.counters.pending_released.load(Ordering::Relaxed), 0);
    // The freed slots and destinations are reusable.
    read(&a, &mut p, &pkt(2), t1 + PENDING_HOLD);
    assert_eq!(p.len(), 1);
}
