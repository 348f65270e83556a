//! Three engines on the loopback underlay, A -> B -> C: A and C each have a link only with B,
//! plus an end-to-end session with each other but no endpoint. A packet A's device sends to
//! C's prefix crosses B as a RELAY frame and comes out of C's device, while no datagram on the
//! underlay and nothing B writes carries its plaintext. Needs root; otherwise it skips.

mod common;
use common::*;

use ringvpn_dataplane::{DeviceMode, Engine, EngineConfig, NodeId, PeerOpts, SessionKeys};

const MARKER: &[u8] = b"RELAYED-BUT-PRIVATE";

fn nid(v: u8) -> NodeId {
    let mut n = [0u8; 20];
    n[19] = v;
    n
}

fn relay_engine(ifname: &str, node: u8) -> Engine {
    let mut cfg = EngineConfig::new(
        DeviceMode::Tun,
        ifname,
        "127.0.0.1:0".parse().expect("addr"),
    );
    cfg.mtu = 1400;
    cfg.node_id = Some(nid(node));
    Engine::start(cfg, Box::new(|| {})).expect("engine starts")
}

fn peer(e: &Engine, id: u32, to: Option<&Engine>, allowed: &[&str], node: u8, via: Option<u32>) {
    let allowed = allowed.iter().map(|s| s.parse().expect("net")).collect();
    let opts = PeerOpts {
        node_id: Some(nid(node)),
        via: Some(via),
        relay_only: None,
        hop: None,
        gateway_client: None,
        forget_endpoint: false,
    };
    e.set_peer(id, to.map(Engine::local_addr), allowed, opts)
        .expect("peer");
}

fn session(x: &Engine, xp: u32, y: &Engine, yp: u32, idx: u32) {
    let k = |local: u32, remote: u32| SessionKeys {
        local_index: local,
        remote_index: remote,
        send_key: [local as u8; 32],
        recv_key: [remote as u8; 32],
        initiator: local < remote,
    };
    x.set_session(xp, &k(idx, idx + 1)).expect("session");
    y.set_session(yp, &k(idx + 1, idx)).expect("session");
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn relayed_end_to_end_over_loopback() {
    if !can_run() {
        return;
    }
    let (na, nb, nc) = (name("ra"), name("rb"), name("rc"));
    let (a, b, c) = (
        relay_engine(&na, 0x10),
        relay_engine(&nb, 0x50),
        relay_engine(&nc, 0x90),
    );
    peer(&a, 1, Some(&b), &[], 0x50, None);
    peer(&a, 2, None, &["239.255.77.0/24"], 0x90, Some(1));
    peer(&b, 1, Some(&a), &[], 0x10, None);
    peer(&b, 2, Some(&c), &[], 0x90, None);
    peer(&c, 1, Some(&b), &[], 0x50, None);
    peer(&c, 2, None, &["10.201.0.1/32"], 0x10, Some(1));
    session(&a, 1, &b, 1, 11);
    session(&b, 2, &c, 1, 21);
    session(&a, 2, &c, 2, 31);
    let (lo, _) = packet_socket("lo", false);
    let (pa, ia) = packet_socket(&na, true);
    let (pb, _) = packet_socket(&nb, true);
    let (pc, _) = packet_socket(&nc, true);
    // A small packet and one of the full device MTU (the relayed datagram is 108 bytes longer).
    for size in [60usize, 1400] {
        let payload: Vec<u8> = MARKER.iter().copied().cycle().take(size - 28).collect();
        let pkt = multicast_udp([10, 201, 0, 1], &payload);
        inject(&pa, ia, ETH_P_IP, &pkt);
        let got = capture(&pc, |p| p == &pkt[..]);
        assert!(
            got.is_some(),
            "{size}-byte packet crossed A -> B -> C; stats A {:?} B {:?} C {:?}",
            a.stats(),
            b.stats(),
            c.stats()
        );
    }
    let underlay = drain(&lo);
    assert!(underlay.len() >= 4, "the sniffer saw the datagrams");
    assert!(
        underlay.iter().all(|f| !contains(f, MARKER)),
        "plaintext on the underlay"
    );
    assert!(
        drain(&pb).iter().all(|f| !contains(f, MARKER)),
        "B's device saw it"
    );
    let (sa, sb, sc) = (a.stats(), b.stats(), c.stats());
    assert_eq!(sa.peers[1].tx_relayed_packets, 2, "{sa:?}");
    assert_eq!(sb.relay_forwarded, 2, "{sb:?}");
    assert_eq!(sc.peers[1].rx_relayed_packets, 2, "{sc:?}");
    assert_eq!(sc.peers[1].endpoint, None, "C never learned A's address");
    for e in [a, b, c] {
        e.shutdown();
    }
}
