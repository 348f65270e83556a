use super::*;
use crate::events::EventQueue;
use crate::pending::Pending;
use ringvpn_core::ether::{parse_arp, Mac, ARP_OP_REPLY, DEFAULT_VIRTUAL_MAC};
use ringvpn_core::ip::IpNet;
use ringvpn_core::session::{SessionKeys, REKEY_AFTER_TIME};
use std::net::Ipv4Addr;
use std::sync::atomic::AtomicU64;
use std::sync::OnceLock;
use std::time::Duration;

pub(crate) const A_ADDR: &str = "192.0.2.1:5000";
pub(crate) const B_ADDR: &str = "192.0.2.2:6000";

pub(crate) fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket addr")
}

pub(crate) fn nets(s: &[&str]) -> Vec<IpNet> {
    s.iter().map(|x| x.parse().expect("net")).collect()
}

pub(crate) fn shared(mode: DeviceMode, addr: Option<(Ipv4Addr, u8)>) -> Shared {
    Shared::new(
        mode,
        DEFAULT_VIRTUAL_MAC,
        addr,
        EventQueue::new(64, Box::new(|| {})),
    )
}

/// A (10.0.0.1) and B (10.0.0.2), each knowing the other as peer 1 with one session.
pub(crate) fn pair(mode: DeviceMode, created: Instant) -> (Shared, Shared) {
    let a = shared(mode, Some((Ipv4Addr::new(10, 0, 0, 1), 24)));
    let b = shared(mode, Some((Ipv4Addr::new(10, 0, 0, 2), 24)));
    a.tables
        .set_peer(1, Some(sa(B_ADDR)), nets(&["10.0.0.2/32", "fd00::2/128"]));
    b.tables
        .set_peer(1, Some(sa(A_ADDR)), nets(&["10.0.0.1/32", "fd00::1/128"]));
    let ka = SessionKeys {
        local_index: 100,
        remote_index: 200,
        send_key: [1; 32],
        recv_key: [2; 32],
        initiator: true,
    };
    let kb = SessionKeys {
        local_index: 200,
        remote_index: 100,
        send_key: [2; 32],
        recv_key: [1; 32],
        initiator: false,
    };
    assert!(a.tables.set_session(1, &ka, created, 1));
    assert!(b.tables.set_session(1, &kb, created, 1));
    (a, b)
}

pub(crate) fn ipv4(src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let total = 20 + payload.len();
    let mut p = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0,
        0,
        64,
        17,
        0,
        0,
    ];
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(payload);
    p
}

/// Place a device read into a fresh slot the way the tx loop does.
pub(crate) fn slot(s: &Shared, bytes: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; BUF_LEN];
    let off = s.device_offset();
    buf[off..off + bytes.len()].copy_from_slice(bytes);
    buf
}

/// An empty hold queue: `out` does not keep what `outbound` asks to hold (pending_tests.rs does).
pub(crate) fn no_pending() -> &'static Pending {
    static P: OnceLock<Pending> = OnceLock::new();
    P.get_or_init(|| Pending::new(0))
}

pub(crate) fn hold(dst: &str, len: usize, why: Wait) -> TxAction {
    TxAction::Hold {
        dst: dst.parse().expect("ip"),
        len,
        why,
    }
}

/// Run `outbound`; a sent frame is returned at the start of a fresh receive slot, the way the
/// peer's rx loop would see it.
pub(crate) fn out(
    s: &Shared,
    bytes: &[u8],
    now: Instant,
) -> (TxAction, Vec<u8>, [u8; ARP_FRAME_LEN]) {
    let mut buf = slot(s, bytes);
    let mut arp = [0u8; ARP_FRAME_LEN];
    let act = s.outbound(&mut buf, bytes.len(), now, &mut arp, no_pending());
    if let TxAction::Send { start, len, .. } = act {
        let mut rx = vec![0u8; BUF_LEN];
        rx[..len].copy_from_slice(&buf[start..start + len]);
        buf = rx;
    }
    (act, buf, arp)
}

#[test]
fn tun_round_trip() {
    let now = Instant::now();
    let (a, b) = pair(DeviceMode::Tun, now);
    let pkt = ipv4([10, 0, 0, 1], [10, 0, 0, 2], b"hello");
    let (act, mut buf, _) = out(&a, &pkt, now);
    let TxAction::Send { to, len, .. } = act else {
        panic!("{act:?}")
    };
    assert_eq!((to, len), (sa(B_ADDR), HEADER_LEN + pkt.len() + TAG_LEN));
    let act = b.inbound(&mut buf, len, sa(A_ADDR), now);
    let RxAction::Write(r) = act else {
        panic!("{act:?}")
    };
    assert_eq!(&buf[r], &pkt[..]);
    assert!(b.events.is_empty(), "same endpoint: no roaming event");
    let st = &b.tables.load().peers[&1].state;
    assert_eq!(st.rx_packets.load(Ordering::Relaxed), 1);
    assert!(st.last_rx_ms() > 0);
    // Replaying the same datagram is refused.
    let (_, mut again, _) = out(&a, &pkt, now);
    let mut copy = again.clone();
    assert!(matches!(
        b.inbound(&mut again, len, sa(A_ADDR), now),
        RxAction::Write(_)
    ));
    assert_eq!(
        b.inbound(&mut copy, len, sa(A_ADDR), now),
        RxAction::Drop(DropReason::Replay)
    );
}

#[test]
fn tx_drops_and_need_session_coalescing() {
    let now = Instant::now();
    let (a, _) = pair(DeviceMode::Tun, now);
    assert_eq!(
        out(&a, &ipv4([10, 0, 0, 1], [10, 9, 9, 9], b""), now).0,
        hold("10.9.9.9", 20, Wait::Route)
    );
    assert_eq!(
        a.events.drain(),
        vec![Event::Miss {
            dst: "10.9.9.9".parse().expect("ip")
        }]
    );
    assert_eq!(
        out(&a, &[0x45, 0, 0], now).0,
        TxAction::Drop(DropReason::MalformedIp)
    );
    assert_eq!(
        out(&a, &[0x10; 30], now).0,
        TxAction::Drop(DropReason::NotIp)
    );
    a.tables.set_peer(2, None, nets(&["10.0.0.3/32"]));
    let to3 = ipv4([10, 0, 0, 1], [10, 0, 0, 3], b"x");
    for _ in 0..5 {
        assert_eq!(out(&a, &to3, now).0, hold("10.0.0.3", 21, Wait::Session(2)));
    }
    assert_eq!(a.events.drain(), vec![Event::NeedSession { peer: 2 }]);
    assert_eq!(
        out(&a, &to3, now + Duration::from_millis(1001)).0,
        hold("10.0.0.3", 21, Wait::Session(2))
    );
    assert_eq!(a.events.drain(), vec![Event::NeedSession { peer: 2 }]);
    // Session but no endpoint.
    let k = SessionKeys {
        local_index: 7,
        remote_index: 8,
        send_key: [3; 32],
        recv_key: [4; 32],
        initiator: true,
    };
    assert!(a.tables.set_session(2, &k, now, 1));
    assert_eq!(out(&a, &to3, now).0, hold("10.0.0.3", 21, Wait::Path(2)));
    assert_eq!(
        a.events.drain(),
        vec![Event::NeedSession { peer: 2 }],
        "no path: the control plane looks for a hop"
    );
    // Expired session: need_session again.
    let late = now + Duration::from_secs(200);
    assert_eq!(
        out(&a, &ipv4([10, 0, 0, 1], [10, 0, 0, 2], b""), late).0,
        hold("10.0.0.2", 20, Wait::Session(1))
    );
    assert_eq!(a.events.drain(), vec![Event::NeedSession { peer: 1 }]);
}

#[test]
fn rekey_event_once_per_session_initiator_only() {
    let t0 = Instant::now();
    let (a, b) = pair(DeviceMode::Tun, t0);
    let pkt = ipv4([10, 0, 0, 1], [10, 0, 0, 2], b"");
    let later = t0 + REKEY_AFTER_TIME + Duration::from_secs(1);
    assert!(matches!(out(&a, &pkt, t0).0, TxAction::Send { .. }));
    assert!(a.events.is_empty());
    for _ in 0..3 {
        assert!(matches!(out(&a, &pkt, later).0, TxAction::Send { .. }));
    }
    assert_eq!(
        a.events.drain(),
        vec![Event::Rekey {
            peer: 1,
            local_index: 100
        }]
    );
    // B responded to this session: once A's packet confirmed it, sending or receiving on it
    // past REKEY_AFTER_TIME raises nothing (wireguard-go's keepKeyFreshSending).
    let (act, mut buf, _) = out(&a, &pkt, later);
    let TxAction::Send { len, .. } = act else {
        panic!("{act:?}")
    };
    assert!(matches!(
        b.inbound(&mut buf, len, sa(A_ADDR), later),
        RxAction::Write(_)
    ));
    let back = ipv4([10, 0, 0, 2], [10, 0, 0, 1], b"");
    for _ in 0..3 {
        assert!(matches!(out(&b, &back, later).0, TxAction::Send { .. }));
    }
    assert!(b.events.is_empty(), "responder: no rekey event");
}

#[test]
fn rx_checks_events_and_roaming() {
    let now = Instant::now();
    let (a, b) = pair(DeviceMode::Tun, now);
    // Handshake frames go up unchanged with their source.
    let mut hs = vec![1u8, 9, 9, 9];
    assert_eq!(
        b.inbound(&mut hs, 4, sa("198.51.100.1:1"), now),
        RxAction::Consumed
    );
    assert_eq!(
        b.events.drain(),
        vec![Event::Handshake {
            from: sa("198.51.100.1:1"),
            data: vec![1, 9, 9, 9]
        }]
    );
    // Spoofed inner source.
    let (act, mut buf, _) = out(&a, &ipv4([10, 0, 0, 9], [10, 0, 0, 2], b"spoof"), now);
    let TxAction::Send { len, .. } = act else {
        panic!("{act:?}")
    };
    assert_eq!(
        b.inbound(&mut buf, len, sa(A_ADDR), now),
        RxAction::Drop(DropReason::SourceNotAllowed)
    );
    // Roaming: authenticated packet from a new address updates the endpoint and emits once.
    let roamed = sa("203.0.113.5:7777");
    for i in 0..2 {
        let (act, mut buf, _) = out(&a, &ipv4([10, 0, 0, 1], [10, 0, 0, 2], &[i]), now);
        let TxAction::Send { len, .. } = act else {
            panic!("{act:?}")
        };
        assert!(matches!(
            b.inbound(&mut buf, len, roamed, now),
            RxAction::Write(_)
        ));
    }
    assert_eq!(
        b.events.drain(),
        vec![Event::Endpoint {
            peer: 1,
            addr: roamed
        }]
    );
    assert_eq!(b.tables.load().peers[&1].state.endpoint(), Some(roamed));
    // A forged packet from yet another address does not move the endpoint.
    let (act, mut forged, _) = out(&a, &ipv4([10, 0, 0, 1], [10, 0, 0, 2], b"f"), now);
    let TxAction::Send { len, .. } = act else {
        panic!("{act:?}")
    };
    forged[HEADER_LEN] ^= 1;
    assert_eq!(
        b.inbound(&mut forged, len, sa("203.0.113.6:1"), now),
        RxAction::Drop(DropReason::AuthFailed)
    );
    assert_eq!(b.tables.load().peers[&1].state.endpoint(), Some(roamed));
    // Garbage and unknown indices.
    assert_eq!(
        b.inbound(&mut [9u8; 40], 40, roamed, now),
        RxAction::Drop(DropReason::UnknownType)
    );
    assert_eq!(
        b.inbound(&mut [4u8; 20], 20, roamed, now),
        RxAction::Drop(DropReason::ShortFrame)
    );
    let mut unknown = [0u8; 40];
    unknown[0] = 4;
    unknown[4] = 55;
    assert_eq!(
        b.inbound(&mut unknown, 40, roamed, now),
        RxAction::Drop(DropReason::UnknownIndex)
    );
}

#[test]
fn control_and_keepalive() {
    let now = Instant::now();
    let (a, b) = pair(DeviceMode::Tun, now);
    let s = a.tables.load().peers[&1].current.clone().expect("session");
    for (kind, payload) in [(TYPE_CONTROL, &b"ctl"[..]), (TYPE_DATA, &b""[..])] {
        let mut buf = vec![0u8; HEADER_LEN + payload.len() + TAG_LEN];
        buf[HEADER_LEN..HEADER_LEN + payload.len()].copy_from_slice(payload);
        let len = s
            .session
            .seal(kind, &mut buf, payload.len(), now)
            .expect("seal");
        assert_eq!(
            b.inbound(&mut buf, len, sa(A_ADDR), now),
            RxAction::Consumed
        );
    }
    assert_eq!(
        b.events.drain(),
        vec![Event::Control {
            peer: 1,
            data: b"ctl".to_vec()
        }]
    );
    // Data counters see neither CONTROL nor keepalives; a packet counts its IP bytes.
    let st = b.tables.load().peers[&1].state.clone();
    assert_eq!(st.rx_packets.load(Ordering::Relaxed), 2);
    assert_eq!(st.rx_data_packets.load(Ordering::Relaxed), 0);
    let pkt = ipv4([10, 0, 0, 1], [10, 0, 0, 2], b"data");
    let (act, mut buf, _) = out(&a, &pkt, now);
    let TxAction::Send { len, .. } = act else {
        panic!("{act:?}")
    };
    assert!(matches!(
        b.inbound(&mut buf, len, sa(A_ADDR), now),
        RxAction::Write(_)
    ));
    let sa_ = a.tables.load().peers[&1].state.clone();
    let data = |x: &AtomicU64| x.load(Ordering::Relaxed);
    assert_eq!(
        (data(&st.rx_data_packets), data(&st.rx_data_bytes)),
        (1, pkt.len() as u64)
    );
    assert_eq!(
        (data(&sa_.tx_data_packets), data(&sa_.tx_data_bytes)),
        (1, pkt.len() as u64)
    );
    // Inner packet that is not IP.
    let mut buf = vec![0u8; HEADER_LEN + 4 + TAG_LEN];
    buf[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&[0x10, 0, 0, 0]);
    let len = s.session.seal(TYPE_DATA, &mut buf, 4, now).expect("seal");
    assert_eq!(
        b.inbound(&mut buf, len, sa(A_ADDR), now),
        RxAction::Drop(DropReason::NotIp)
    );
}

pub(crate) fn eth(dst: Mac, src: Mac, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

pub(crate) fn arp_request(sender_mac: Mac, sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let mut body = vec![0, 1, 8, 0, 6, 4, 0, 1];
    body.extend_from_slice(&sender_mac);
    body.extend_from_slice(&sender);
    body.extend_from_slice(&[0; 6]);
    body.extend_from_slice(&target);
    eth(ether::BROADCAST_MAC, sender_mac, ETHERTYPE_ARP, &body)
}

pub(crate) const OS_MAC: Mac = [0x52, 0x54, 0, 1, 2, 3];

#[test]
fn tap_arp_proxy() {
    let now = Instant::now();
    let (a, _) = pair(DeviceMode::Tap, now);
    a.tables.set_peer(5, None, nets(&["172.16.0.0/16"]));
    // Routed peer address, virtual-prefix address, routed non-prefix address: answered.
    for target in [[10, 0, 0, 2], [10, 0, 0, 77], [172, 16, 3, 4]] {
        let (act, _, reply) = out(&a, &arp_request(OS_MAC, [10, 0, 0, 1], target), now);
        assert_eq!(act, TxAction::ArpReply, "{target:?}");
        let r = parse_arp(&reply[ETH_HEADER_LEN..]).expect("reply");
        assert_eq!(
            (r.op, r.sender_mac, r.sender_ip.octets()),
            (ARP_OP_REPLY, DEFAULT_VIRTUAL_MAC, target)
        );
        assert_eq!(
            (r.target_mac, r.target_ip.octets()),
            (OS_MAC, [10, 0, 0, 1])
        );
        assert_eq!(&reply[0..6], &OS_MAC);
    }
    // Own address, network/broadcast, outside everything, gratuitous: ignored.
    for (sender, target) in [
        ([10, 0, 0, 9], [10, 0, 0, 1]),
        ([10, 0, 0, 1], [10, 0, 0, 255]),
        ([10, 0, 0, 1], [10, 0, 0, 0]),
        ([10, 0, 0, 1], [8, 8, 8, 8]),
        ([10, 0, 0, 1], [10, 0, 0, 1]),
    ] {
        assert_eq!(
            out(&a, &arp_request(OS_MAC, sender, target), now).0,
            TxAction::Drop(DropReason::ArpIgnored),
            "{target:?}"
        );
    }
    assert_eq!(a.os_mac(), Some(OS_MAC));
}

#[test]
fn tap_round_trip_and_l2_drops() {
    let now = Instant::now();
    let (a, b) = pair(DeviceMode::Tap, now);
    let pkt = ipv4([10, 0, 0, 1], [10, 0, 0, 2], b"over tap");
    let mut frame = eth(DEFAULT_VIRTUAL_MAC, OS_MAC, ETHERTYPE_IPV4, &pkt);
    frame.extend_from_slice(&[0; 6]); // Ethernet padding must not be encrypted/forwarded
    let (act, mut buf, _) = out(&a, &frame, now);
    let TxAction::Send { len, .. } = act else {
        panic!("{act:?}")
    };
    assert_eq!(len, HEADER_LEN + pkt.len() + TAG_LEN);
    // B has not learned its OS MAC yet: broadcast destination.
    let RxAction::Write(r) = b.inbound(&mut buf, len, sa(A_ADDR), now) else {
        panic!()
    };
    assert_eq!(&buf[r.clone()][..6], &ether::BROADCAST_MAC);
    b.set_os_mac(&[0x52, 0x54, 0, 9, 9, 9]);
    let (act, mut buf, _) = out(&a, &frame, now);
    let TxAction::Send { len, .. } = act else {
        panic!("{act:?}")
    };
    let RxAction::Write(r) = b.inbound(&mut buf, len, sa(A_ADDR), now) else {
        panic!()
    };
    let f = &buf[r];
    assert_eq!(&f[0..6], &[0x52, 0x54, 0, 9, 9, 9]);
    assert_eq!(&f[6..12], &DEFAULT_VIRTUAL_MAC);
    assert_eq!(&f[12..14], &[0x08, 0x00]);
    assert_eq!(&f[14..], &pkt[..]);
    // Not IP, malformed, IPv6 neighbour discovery.
    assert_eq!(
        out(&a, &eth(DEFAULT_VIRTUAL_MAC, OS_MAC, 0x88cc, &[0; 46]), now).0,
        TxAction::Drop(DropReason::NotIp)
    );
    assert_eq!(
        out(&a, &[0u8; 10], now).0,
        TxAction::Drop(DropReason::MalformedEther)
    );
    let mut ns = vec![0x60, 0, 0, 0, 0, 8, 58, 255];
    ns.extend_from_slice(&[0; 32]);
    ns.extend_from_slice(&[135, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        out(
            &a,
            &eth(ether::BROADCAST_MAC, OS_MAC, ETHERTYPE_IPV6, &ns),
            now
        )
        .0,
        TxAction::Drop(DropReason::Ipv6Nd)
    );
}
