//! The liveness timers driven as the io loop drives them (a tick every second, keepalives sent
//! at once) over in-memory nodes: one need_session for data unanswered for STALE_AFTER, passive
//! keepalives for a one-way flow and no need_session at its sender, nothing on idle links, and
//! the same end to end through a relay hop.

use super::*;
use crate::config::DeviceMode;
use crate::events::Event;
use crate::pipeline::tests::{ipv4, out, pair, sa, A_ADDR, B_ADDR};
use crate::pipeline::{RxAction, BUF_LEN};
use crate::relay::tests::{chain, keys, stat, AC, A_UDP, B_UDP, C_UDP};
use std::net::SocketAddr;

/// Nodes on an in-memory underlay, by UDP address; whole seconds from `t0` (after the nodes'
/// engine clocks started, so that engine-clock differences are exact).
struct Net<'a> {
    nodes: Vec<(SocketAddr, &'a Shared)>,
    t0: Instant,
}

impl<'a> Net<'a> {
    fn new(t0: Instant, nodes: &[(&str, &'a Shared)]) -> Self {
        let nodes = nodes.iter().map(|&(a, s)| (sa(a), s)).collect();
        Net { nodes, t0 }
    }

    fn at(&self, sec: u64) -> Instant {
        self.t0 + Duration::from_secs(sec)
    }

    fn node(&self, addr: SocketAddr) -> &'a Shared {
        self.nodes.iter().find(|n| n.0 == addr).expect("node").1
    }

    /// A datagram from `from` arrives at `to` and is handled as the rx loop does (forwards go
    /// on, drops are counted at the receiver).
    fn deliver(&self, from: SocketAddr, to: SocketAddr, frame: &[u8], now: Instant) {
        let s = self.node(to);
        let mut buf = vec![0u8; BUF_LEN];
        buf[..frame.len()].copy_from_slice(frame);
        match s.inbound(&mut buf, frame.len(), from, now) {
            RxAction::Forward { to: next, len } => self.deliver(to, next, &buf[..len], now),
            RxAction::Drop(r) => s.counters.drop(r),
            _ => {}
        }
    }

    /// The device of the node at `from` sends `pkt`.
    fn send(&self, from: &str, pkt: &[u8], now: Instant) {
        let s = self.node(sa(from));
        let (act, buf, _) = out(s, pkt, now);
        match act {
            TxAction::Send { to, len, .. } => self.deliver(sa(from), to, &buf[..len], now),
            act => panic!("{act:?}"),
        }
    }

    /// Every node's tick, its keepalives sent as the io loop sends them.
    fn tick(&self, now: Instant) {
        for &(addr, s) in &self.nodes {
            let mut owed = Vec::new();
            s.timers(now, &mut owed);
            for peer in owed {
                let mut buf = vec![0u8; BUF_LEN];
                match s.passive_keepalive(peer, &mut buf, now) {
                    TxAction::Send { to, start, len } => {
                        self.deliver(addr, to, &buf[start..start + len], now)
                    }
                    TxAction::Drop(r) => s.counters.drop(r),
                    _ => {}
                }
            }
        }
    }
}

/// The peers `s` asked a session for since the last call (other events are dropped).
fn asked(s: &Shared) -> Vec<u32> {
    s.events
        .drain()
        .into_iter()
        .filter_map(|e| match e {
            Event::NeedSession { peer } => Some(peer),
            _ => None,
        })
        .collect()
}

fn keepalives(s: &Shared, pid: u32) -> u64 {
    stat(s, pid, |p| &p.keepalives_sent)
}

fn stale(s: &Shared, pid: u32) -> u64 {
    stat(s, pid, |p| &p.stale_sessions)
}

fn global(c: &std::sync::atomic::AtomicU64) -> u64 {
    c.load(Relaxed)
}

/// A clock start one second after the nodes' engine clocks (see `Net`).
fn start() -> Instant {
    Instant::now() + Duration::from_secs(1)
}

const A_TO_B: [u8; 4] = [10, 0, 0, 2];

#[test]
fn unanswered_data_asks_for_a_session_once_per_episode() {
    let t0 = start();
    let (a, b) = pair(DeviceMode::Tun, t0);
    let net = Net::new(t0, &[(A_ADDR, &a), (B_ADDR, &b)]);
    let pkt = ipv4([10, 0, 0, 1], A_TO_B, b"one way");
    // B's control plane dropped the session; A keeps sealing with it, one packet a second.
    assert!(b.tables.remove_session(200));
    let mut when = Vec::new();
    for sec in 0..=40 {
        net.send(A_ADDR, &pkt, net.at(sec));
        net.tick(net.at(sec));
        when.extend(asked(&a).into_iter().map(|p| (sec, p)));
    }
    assert_eq!(
        when,
        vec![(15, 1)],
        "STALE_AFTER after the first unanswered send, once"
    );
    assert_eq!(b.counters.drops(DropReason::UnknownIndex), 41);
    assert_eq!((stale(&a, 1), global(&a.counters.stale_sessions)), (1, 1));
    assert!(
        b.events.is_empty() && keepalives(&b, 1) == 0,
        "B opened nothing"
    );
    // The control plane's answer: a new session on both sides. A's data is now answered by
    // B's passive keepalives, and A never asks again.
    let now = net.at(41);
    assert!(a.tables.set_session(1, &keys(110, 210), now, a.now_ms(now)));
    assert!(b.tables.set_session(1, &keys(210, 110), now, b.now_ms(now)));
    for sec in 41..=100 {
        net.send(A_ADDR, &pkt, net.at(sec));
        net.tick(net.at(sec));
        assert_eq!(asked(&a), Vec::<u32>::new(), "second {sec}");
    }
    assert_eq!(stale(&a, 1), 1);
    assert_eq!(keepalives(&b, 1), 5, "at 51, 62, 73, 84, 95");
    assert_eq!(stat(&b, 1, |p| &p.rx_data_packets), 60);
}

#[test]
fn unanswered_again_after_a_new_session_asks_again() {
    let t0 = start();
    let (a, b) = pair(DeviceMode::Tun, t0);
    let net = Net::new(t0, &[(A_ADDR, &a), (B_ADDR, &b)]);
    let pkt = ipv4([10, 0, 0, 1], A_TO_B, b"one way");
    assert!(b.tables.remove_session(200));
    let mut when = Vec::new();
    for sec in 0..=40 {
        if sec == 20 {
            // A handshake completed but B dropped that session too (or never used it).
            let now = net.at(sec);
            assert!(a.tables.set_session(1, &keys(110, 210), now, a.now_ms(now)));
        }
        net.send(A_ADDR, &pkt, net.at(sec));
        net.tick(net.at(sec));
        when.extend(asked(&a).into_iter().map(|p| (sec, p)));
    }
    assert_eq!(
        when,
        vec![(15, 1), (35, 1)],
        "a new session starts a new episode"
    );
    assert_eq!(global(&a.counters.stale_sessions), 2);
}

#[test]
fn one_way_flow_gets_passive_keepalives_and_no_need_session() {
    let t0 = start();
    let (a, b) = pair(DeviceMode::Tun, t0);
    let net = Net::new(t0, &[(A_ADDR, &a), (B_ADDR, &b)]);
    let pkt = ipv4([10, 0, 0, 1], A_TO_B, b"one way");
    let mut sent_at = Vec::new();
    for sec in 0..=100 {
        if sec < 60 {
            net.send(A_ADDR, &pkt, net.at(sec));
        }
        let before = keepalives(&b, 1);
        net.tick(net.at(sec));
        if keepalives(&b, 1) > before {
            sent_at.push(sec);
        }
        assert!(asked(&a).is_empty() && asked(&b).is_empty(), "second {sec}");
    }
    // KEEPALIVE_TIMEOUT after the first data nothing was sent back for (seen at the next tick),
    // and one last one for the data after the previous keepalive: then the link is idle.
    assert_eq!(sent_at, vec![10, 21, 32, 43, 54, 65]);
    assert_eq!(global(&b.counters.keepalives_sent), 6);
    assert_eq!((stale(&a, 1), keepalives(&a, 1)), (0, 0), "A heard no data");
    let st = a.tables.load().peers[&1].state.clone();
    assert_eq!(st.rx_data_ms.load(Relaxed), 0);
    assert!(st.rx_other_ms.load(Relaxed) > 0, "the keepalives arrived");
    assert_eq!(
        stat(&a, 1, |p| &p.tx_data_packets),
        60,
        "keepalives are not data"
    );
    assert_eq!(stat(&b, 1, |p| &p.tx_data_packets), 0);
    assert_eq!(stat(&b, 1, |p| &p.tx_packets), 6);
}

#[test]
fn two_way_flow_and_idle_links_get_neither() {
    let t0 = start();
    let (a, b) = pair(DeviceMode::Tun, t0);
    let net = Net::new(t0, &[(A_ADDR, &a), (B_ADDR, &b)]);
    let req = ipv4([10, 0, 0, 1], A_TO_B, b"request");
    let resp = ipv4(A_TO_B, [10, 0, 0, 1], b"response");
    for sec in 0..=120 {
        let now = net.at(sec);
        if sec < 40 {
            // Request / response, every second.
            net.send(A_ADDR, &req, now);
            net.send(B_ADDR, &resp, now);
        } else if sec % 5 == 0 {
            // Idle but for the control plane's CONTROL pings / keepalives: no data.
            let t = a.tables.load();
            let mut buf = vec![0u8; BUF_LEN];
            let TxAction::Send { to, start, len } = a.keepalive(&t, &t.peers[&1], &mut buf, now)
            else {
                panic!("keepalive")
            };
            net.deliver(sa(A_ADDR), to, &buf[start..start + len], now);
        }
        net.tick(now);
    }
    for s in [&a, &b] {
        assert!(asked(s).is_empty());
        assert_eq!(global(&s.counters.keepalives_sent), 0);
        assert_eq!(global(&s.counters.stale_sessions), 0);
    }
}

#[test]
fn relayed_one_way_flow_is_kept_quiet_end_to_end() {
    let t0 = start();
    let (a, b, c) = chain(DeviceMode::Tun, t0);
    let net = Net::new(t0, &[(A_UDP, &a), (B_UDP, &b), (C_UDP, &c)]);
    let pkt = ipv4([10, 0, 0, 1], [10, 0, 0, 3], b"through B");
    for sec in 0..=60 {
        net.send(A_UDP, &pkt, net.at(sec));
        net.tick(net.at(sec));
        for s in [&a, &b, &c] {
            assert!(asked(s).is_empty(), "second {sec}");
        }
    }
    assert_eq!(stat(&c, 2, |p| &p.rx_data_packets), 61);
    // C answers A end to end (through B), and each hop answers the RELAY data it received.
    assert!(keepalives(&c, 2) >= 5);
    // C's keepalives reach A through B: they count for the timers, not as heard directly
    assert!(stat(&a, 2, |p| &p.rx_relayed_other_ms) > 0);
    assert_eq!(
        stat(&a, 2, |p| &p.rx_relayed_data_ms)
            + stat(&a, 2, |p| &p.rx_data_ms)
            + stat(&a, 2, |p| &p.rx_other_ms),
        0
    );
    assert!(keepalives(&c, 1) + keepalives(&b, 1) > 0);
    for s in [&a, &b, &c] {
        assert_eq!(global(&s.counters.stale_sessions), 0);
        assert_eq!(s.counters.drops(DropReason::UnknownIndex), 0);
    }
}

#[test]
fn relayed_stale_end_to_end_session_asks_for_that_peer_only() {
    let t0 = start();
    let (a, b, c) = chain(DeviceMode::Tun, t0);
    let net = Net::new(t0, &[(A_UDP, &a), (B_UDP, &b), (C_UDP, &c)]);
    let pkt = ipv4([10, 0, 0, 1], [10, 0, 0, 3], b"through B");
    // C dropped its end-to-end session with A; the links A-B and B-C are fine.
    assert!(c.tables.remove_session(AC + 1));
    let mut when = Vec::new();
    for sec in 0..=40 {
        net.send(A_UDP, &pkt, net.at(sec));
        net.tick(net.at(sec));
        when.extend(asked(&a).into_iter().map(|p| (sec, p)));
        assert!(asked(&b).is_empty() && asked(&c).is_empty(), "second {sec}");
    }
    assert_eq!(when, vec![(15, 2)], "C (peer 2), not the hop B (peer 1)");
    assert_eq!(c.counters.drops(DropReason::UnknownIndex), 41);
    assert_eq!((stale(&a, 2), stale(&a, 1)), (1, 0));
    assert!(
        keepalives(&b, 1) > 0,
        "B answered A's RELAY data on the link"
    );
}

#[test]
fn what_counts_as_data() {
    assert!(!carries_data(TYPE_DATA, 0), "keepalive");
    assert!(carries_data(TYPE_DATA, 20));
    assert!(!carries_data(ringvpn_core::frame::TYPE_CONTROL, 100));
    let keepalive_relay = RELAY_HEADER_LEN + MIN_TRANSPORT_LEN;
    assert!(!carries_data(TYPE_RELAY, keepalive_relay));
    assert!(carries_data(TYPE_RELAY, keepalive_relay + 20));
    assert_eq!(STALE_AFTER, Duration::from_secs(15));
}
