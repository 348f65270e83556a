//! The inbound hold through real engines on the loopback underlay, with one hot-path thread and
//! with two (the rx loop on its own thread): B holds A's packet from a source it has not learned
//! for A (an overlay peer), asks with `source_unknown`, and writes it to its device once a
//! set_peer allows the source. Needs root; otherwise it skips.

mod common;
use common::*;

use std::time::{Duration, Instant};

use ringvpn_core::DropReason;
use ringvpn_dataplane::{Engine, Event, PeerOpts};

const A_NODE: [u8; 20] = [5; 20];

fn start(ifname: &str, threads: u8) -> Engine {
    tun_engine(ifname, threads, Some([threads; 20]))
}

/// B's view of A: an overlay peer (node id) with these prefixes.
fn set_a(b: &Engine, allowed: &[&str]) {
    let allowed = allowed.iter().map(|s| s.parse().expect("net")).collect();
    let opts = PeerOpts {
        node_id: Some(A_NODE),
        ..PeerOpts::default()
    };
    b.set_peer(1, None, allowed, opts).expect("peer");
}

fn wait(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn held_then_released(threads: u8) {
    let (na, nb) = (name(&format!("h{threads}a")), name(&format!("h{threads}b")));
    let (a, b) = (start(&na, threads), start(&nb, threads));
    let group = vec!["239.255.77.0/24".parse().expect("net")];
    a.set_peer(1, Some(b.local_addr()), group, PeerOpts::default())
        .expect("peer a");
    set_a(&b, &["10.201.0.1/32"]);
    a.set_session(1, &keys(11, 22)).expect("session a");
    b.set_session(1, &keys(22, 11)).expect("session b");
    let (pa, ia) = packet_socket(&na, true);
    let (pb, _) = packet_socket(&nb, true);

    let first = multicast_udp([10, 201, 0, 7], b"first packet from a new address");
    inject(&pa, ia, ETH_P_IP, &first);
    wait("the hold", || b.stats().rx_pending_held == 1);
    let ev = wait_events(&b, 2);
    assert!(
        ev.contains(&Event::SourceUnknown {
            node: A_NODE,
            addr: "10.201.0.7".parse().expect("ip")
        }),
        "{ev:?}"
    );
    set_a(&b, &["10.201.0.1/32", "10.201.0.7/32"]);
    assert!(
        capture(&pb, |p| p == &first[..]).is_some(),
        "held packet written after set_peer; stats B {:?}",
        b.stats()
    );
    let s = b.stats();
    assert_eq!((s.rx_pending_held, s.rx_pending_released), (1, 1), "{s:?}");
    assert_eq!(
        (s.peers[0].rx_pending_held, s.peers[0].rx_pending_released),
        (1, 1)
    );
    assert_eq!(s.drops[DropReason::SourceNotAllowed as usize].1, 0);
    assert_eq!(
        (s.pending_held, s.pending_released),
        (0, 0),
        "outbound apart"
    );
    a.shutdown();
    b.shutdown();
}

#[test]
fn inbound_hold_one_thread() {
    if can_run() {
        held_then_released(1);
    }
}

#[test]
fn inbound_hold_two_threads() {
    if can_run() {
        held_then_released(2);
    }
}
