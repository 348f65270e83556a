//! The liveness timers through real engines on the loopback underlay (A with one hot-path
//! thread, B with two, so B's keepalives leave from its tx thread while the data arrives on its
//! rx thread): a one-way flow A -> B gets B's passive keepalives and A never asks for a session;
//! once B drops the session, A's unanswered data raises one `need_session` at least
//! KEEPALIVE_TIMEOUT + REKEY_TIMEOUT after the last frame it heard. About 30 s. Needs root;
//! otherwise it skips.

mod common;
use common::*;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ringvpn_core::DropReason;
use ringvpn_dataplane::timers::STALE_AFTER;
use ringvpn_dataplane::{Engine, Event, PeerOpts};

fn start(ifname: &str, threads: u8) -> Engine {
    tun_engine(ifname, threads, None)
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn need_sessions(e: &Engine) -> usize {
    e.drain_events()
        .iter()
        .filter(|ev| matches!(ev, Event::NeedSession { peer: 1 }))
        .count()
}

#[test]
fn passive_keepalives_then_a_stale_session_over_loopback() {
    if !can_run() {
        return;
    }
    let (na, nb) = (name("ka"), name("kb"));
    let (a, b) = (start(&na, 1), start(&nb, 2));
    let peer = |e: &Engine, to: &Engine, allowed: &str| {
        let allowed = vec![allowed.parse().expect("net")];
        e.set_peer(1, Some(to.local_addr()), allowed, PeerOpts::default())
            .expect("peer");
    };
    peer(&a, &b, "239.255.77.0/24");
    peer(&b, &a, "10.201.0.1/32");
    a.set_session(1, &keys(11, 22)).expect("session a");
    b.set_session(1, &keys(22, 11)).expect("session b");
    let (pa, ia) = packet_socket(&na, true);
    let pkt = multicast_udp([10, 201, 0, 1], b"one way");

    // A one-way flow for 12.5 s: B answers with a keepalive 10-11 s after the first packet.
    let until = Instant::now() + Duration::from_millis(12_500);
    let mut asked = 0;
    while Instant::now() < until {
        inject(&pa, ia, ETH_P_IP, &pkt);
        std::thread::sleep(Duration::from_millis(250));
        asked += need_sessions(&a);
    }
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!(asked, 0, "a healthy one-way flow never asks");
    assert!(sb.keepalives_sent >= 1, "{sb:?}");
    assert_eq!(sb.peers[0].keepalives_sent, sb.keepalives_sent);
    assert!(sb.peers[0].rx_data_packets >= 40, "{sb:?}");
    assert_eq!((sa.stale_sessions, sa.keepalives_sent), (0, 0), "{sa:?}");
    assert!(sa.peers[0].rx_packets >= 1, "A heard the keepalive: {sa:?}");

    // B's control plane drops the session: A's data now dies there as unknown_index, and A asks
    // for a new session once, STALE_AFTER (+ at most a tick) after the first unanswered send.
    assert!(b.remove_session(22));
    let until = Instant::now() + STALE_AFTER + Duration::from_secs(3);
    let mut asked_at = None;
    while Instant::now() < until && asked_at.is_none() {
        inject(&pa, ia, ETH_P_IP, &pkt);
        std::thread::sleep(Duration::from_millis(250));
        if need_sessions(&a) > 0 {
            asked_at = Some(unix_ms());
        }
    }
    let sa = a.stats();
    let asked_at = asked_at.unwrap_or_else(|| panic!("no need_session: {sa:?}"));
    let heard = sa.peers[0].last_rx_ms.expect("A heard B before");
    assert!(
        asked_at + 300 >= heard + STALE_AFTER.as_millis() as u64,
        "asked {} ms after the last frame heard",
        asked_at - heard
    );
    eprintln!(
        "keepalives from B: {}; need_session {} ms after A last heard B",
        sb.keepalives_sent,
        asked_at - heard
    );
    assert_eq!(sa.stale_sessions, 1);
    assert_eq!(sa.peers[0].stale_sessions, 1);
    assert!(b.stats().drops[DropReason::UnknownIndex as usize].1 > 0);
}
