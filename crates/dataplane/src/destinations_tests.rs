//! The destination rule (EngineConfig::destinations): in overlay mode a member's packet reaches
//! the device only for the virtual subnet, routed subnets, broadcast and multicast; anything
//! else is `dst_not_allowed`, held or not. A static mesh (None) routes as configured.

use super::tests::{eth, ipv4, nets, out, pair, sa, A_ADDR, OS_MAC};
use super::*;
use crate::config::DeviceMode;
use ringvpn_core::ether::{DEFAULT_VIRTUAL_MAC, ETHERTYPE_IPV4};

/// A's packet from 10.0.0.1 to `dst`, as B receives it (A routes everything to B here).
fn from_a(a: &Shared, b: &Shared, dst: [u8; 4], now: Instant) -> RxAction {
    from_a_as(a, b, [10, 0, 0, 1], dst, now)
}

/// The same from source address `src`.
fn from_a_as(a: &Shared, b: &Shared, src: [u8; 4], dst: [u8; 4], now: Instant) -> RxAction {
    let ip = ipv4(src, dst, b"x");
    let pkt = match a.mode {
        DeviceMode::Tun => ip,
        DeviceMode::Tap => eth(DEFAULT_VIRTUAL_MAC, OS_MAC, ETHERTYPE_IPV4, &ip),
    };
    let (act, mut buf, _) = out(a, &pkt, now);
    let TxAction::Send { len, .. } = act else {
        panic!("{act:?}")
    };
    b.inbound(&mut buf, len, sa(A_ADDR), now)
}

#[test]
fn members_reach_only_the_destinations_this_node_serves() {
    let now = Instant::now();
    for mode in [DeviceMode::Tun, DeviceMode::Tap] {
        let (a, mut b) = pair(mode, now);
        a.tables
            .set_peer(1, Some(sa("192.0.2.2:51820")), nets(&["0.0.0.0/0"]));
        // a static mesh (no list): as configured, even the Internet
        assert!(matches!(
            from_a(&a, &b, [8, 8, 8, 8], now),
            RxAction::Write(_)
        ));
        b.destinations = Some(nets(&[
            "10.0.0.0/24",
            "192.168.50.0/24",
            "255.255.255.255/32",
            "224.0.0.0/4",
        ]));
        for ok in [
            [10, 0, 0, 2],
            [10, 0, 0, 255],
            [192, 168, 50, 7],
            [224, 0, 0, 251],
        ] {
            assert!(
                matches!(from_a(&a, &b, ok, now), RxAction::Write(_)),
                "{ok:?}"
            );
        }
        for bad in [
            [8, 8, 8, 8],
            [10, 0, 1, 1],
            [192, 168, 1, 1],
            [127, 0, 0, 1],
        ] {
            assert_eq!(
                from_a(&a, &b, bad, now),
                RxAction::Drop(DropReason::DstNotAllowed),
                "{bad:?}"
            );
        }
    }
}

/// TUN pair where A routes everything to B and B serves only 10.0.0.0/24.
fn serving_lan(now: Instant) -> (Shared, Shared) {
    let (a, mut b) = pair(DeviceMode::Tun, now);
    a.tables
        .set_peer(1, Some(sa("192.0.2.2:51820")), nets(&["0.0.0.0/0"]));
    b.destinations = Some(nets(&["10.0.0.0/24"]));
    (a, b)
}

#[test]
fn an_unlearned_source_is_not_held_for_a_destination_never_served() {
    let now = Instant::now();
    let (a, b) = serving_lan(now);
    assert_eq!(
        from_a_as(&a, &b, [10, 0, 0, 9], [1, 1, 1, 1], now),
        RxAction::Drop(DropReason::DstNotAllowed)
    );
    assert!(b.events.is_empty(), "no source_unknown event for it");
}

#[test]
fn a_gateway_client_may_send_anywhere_its_peers_may_not() {
    use crate::tables::PeerOpts;
    let now = Instant::now();
    let (a, b) = serving_lan(now);
    assert_eq!(
        from_a(&a, &b, [198, 51, 100, 7], now),
        RxAction::Drop(DropReason::DstNotAllowed)
    );
    // B is a gateway whose policy admits A
    let client = |on: bool| PeerOpts {
        gateway_client: Some(on),
        ..PeerOpts::default()
    };
    b.tables
        .set_peer_with(1, None, nets(&["10.0.0.1/32"]), client(true));
    assert!(matches!(
        from_a(&a, &b, [198, 51, 100, 7], now),
        RxAction::Write(_)
    ));
    // still only from its own address
    assert_eq!(
        from_a_as(&a, &b, [10, 0, 0, 9], [198, 51, 100, 7], now),
        RxAction::Drop(DropReason::SourceNotAllowed)
    );
    // and the policy can take it back
    b.tables
        .set_peer_with(1, None, nets(&["10.0.0.1/32"]), client(false));
    assert_eq!(
        from_a(&a, &b, [198, 51, 100, 7], now),
        RxAction::Drop(DropReason::DstNotAllowed)
    );
}
