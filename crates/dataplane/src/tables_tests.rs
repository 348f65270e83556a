//! The tables: longest-prefix routes, sessions and their indices, config generations, relay
//! settings and the node index, and what survives a set_peer update.

use super::*;

fn keys(local: u32) -> SessionKeys {
    SessionKeys {
        local_index: local,
        remote_index: local + 1000,
        send_key: [1; 32],
        recv_key: [2; 32],
        initiator: true,
    }
}

fn nets(s: &[&str]) -> Vec<IpNet> {
    s.iter().map(|x| x.parse().expect("net")).collect()
}

#[test]
fn longest_prefix_match() {
    let t = TableHandle::new();
    t.set_peer(1, None, nets(&["10.0.0.0/8"]));
    t.set_peer(2, None, nets(&["10.1.0.0/16", "fd00::/64"]));
    t.set_peer(3, None, nets(&["10.1.2.3/32"]));
    let s = t.load();
    let id = |ip: &str| s.route(ip.parse().expect("ip")).map(|p| p.state.id);
    assert_eq!(id("10.9.9.9"), Some(1));
    assert_eq!(id("10.1.9.9"), Some(2));
    assert_eq!(id("10.1.2.3"), Some(3));
    assert_eq!(id("fd00::7"), Some(2));
    assert_eq!(id("11.0.0.1"), None);
    assert!(t.remove_peer(3));
    assert!(!t.remove_peer(3));
    assert_eq!(
        t.load()
            .route("10.1.2.3".parse().expect("ip"))
            .map(|p| p.state.id),
        Some(2)
    );
}

#[test]
fn sessions_and_indices() {
    let t = TableHandle::new();
    let now = Instant::now();
    assert!(!t.set_session(1, &keys(10), now, 1));
    t.set_peer(
        1,
        Some("127.0.0.1:1".parse().expect("addr")),
        nets(&["10.0.0.1/32"]),
    );
    for i in 10..16 {
        assert!(t.set_session(1, &keys(i), now, 1));
    }
    let s = t.load();
    let p = s.peers.get(&1).expect("peer");
    assert_eq!(p.current.as_ref().map(|c| c.session.local_index), Some(15));
    assert_eq!(p.sessions.len(), MAX_SESSIONS_PER_PEER);
    assert!(s.by_index.contains_key(&12) && !s.by_index.contains_key(&11));
    drop(s);
    // Counters and endpoint survive a set_peer update; allowed prefixes are replaced.
    let st = t.load().peers[&1].state.clone();
    st.rx_packets.store(5, Ordering::Relaxed);
    t.set_peer(1, None, nets(&["10.0.0.2/32"]));
    let s = t.load();
    assert_eq!(s.peers[&1].state.rx_packets.load(Ordering::Relaxed), 5);
    assert_eq!(
        s.peers[&1].state.endpoint(),
        Some("127.0.0.1:1".parse().expect("addr"))
    );
    assert!(s.route("10.0.0.1".parse().expect("ip")).is_none());
    assert_eq!(s.peers[&1].sessions.len(), MAX_SESSIONS_PER_PEER);
    drop(s);
    assert!(t.remove_session(15));
    assert!(!t.remove_session(15));
    let s = t.load();
    assert!(s.peers[&1].current.is_none());
    assert!(s.by_index.contains_key(&14));
    drop(s);
    // Moving an index to another peer replaces it.
    t.set_peer(2, None, vec![]);
    assert!(t.set_session(2, &keys(14), now, 1));
    let s = t.load();
    assert_eq!(s.by_index[&14].1.state.id, 2);
    assert!(s.peers[&1]
        .sessions
        .iter()
        .all(|x| x.session.local_index != 14));
    drop(s);
    assert!(t.remove_peer(2));
    assert!(!t.load().by_index.contains_key(&14));
}

#[test]
fn config_gen_changes_with_set_peer_only() {
    let t = TableHandle::new();
    let gen = |t: &TableHandle| t.load().peers[&1].config_gen;
    t.set_peer(1, None, vec![]);
    t.set_peer(2, None, vec![]);
    let g1 = gen(&t);
    assert!(t.set_session(1, &keys(10), Instant::now(), 1));
    assert!(t.remove_session(10));
    t.set_peer(2, None, nets(&["10.0.0.2/32"]));
    assert_eq!(gen(&t), g1, "sessions and other peers leave it");
    t.set_peer(1, None, vec![]);
    let g2 = gen(&t);
    assert!(g2 > g1, "any set_peer of the peer, even unchanged");
    t.remove_peer(1);
    t.set_peer(1, None, vec![]);
    assert!(gen(&t) > g2, "never reused");
}

#[test]
fn relay_settings_and_node_index() {
    let t = TableHandle::new();
    let opts = PeerOpts {
        node_id: Some([7; 20]),
        via: Some(Some(2)),
        relay_only: Some(true),
        hop: None,
        gateway_client: None,
        forget_endpoint: false,
    };
    t.set_peer_with(3, None, nets(&["10.0.0.3/32"]), opts);
    t.set_peer_with(
        1,
        None,
        vec![],
        PeerOpts {
            node_id: Some([7; 20]),
            ..PeerOpts::default()
        },
    );
    t.set_peer(2, None, vec![]);
    let s = t.load();
    assert_eq!(
        s.by_node[&[7; 20]].state.id, 1,
        "lowest id wins a shared node id"
    );
    let ids: Vec<u32> = s.relay_peers.iter().map(|p| p.state.id).collect();
    assert_eq!(ids, vec![1, 3]);
    drop(s);
    // A plain update keeps node id, via and relay_only; explicit values replace them.
    t.set_peer(3, None, nets(&["10.0.0.4/32"]));
    let p = t.load().peers[&3].clone();
    assert_eq!(
        (p.node_id, p.via, p.relay_only),
        (Some([7; 20]), Some(2), true)
    );
    assert!(!t.load().peers[&1].relay_only, "default false");
    t.set_peer_with(
        3,
        None,
        vec![],
        PeerOpts {
            via: Some(None),
            relay_only: Some(false),
            ..PeerOpts::default()
        },
    );
    let p = t.load().peers[&3].clone();
    assert_eq!(
        (p.node_id, p.via, p.relay_only),
        (Some([7; 20]), None, false)
    );
    assert!(t.remove_peer(1));
    assert_eq!(t.load().by_node[&[7; 20]].state.id, 3);
}

#[test]
fn forget_endpoint_drops_it_unless_one_is_given() {
    let t = TableHandle::new();
    let ep: SocketAddr = "192.0.2.1:4500".parse().unwrap();
    t.set_peer(1, Some(ep), vec![]);
    let forget = || PeerOpts {
        forget_endpoint: true,
        ..PeerOpts::default()
    };
    t.set_peer_with(1, Some(ep), vec![], forget());
    assert_eq!(
        t.load().peers[&1].state.endpoint(),
        Some(ep),
        "a given endpoint wins"
    );
    t.set_peer(1, None, vec![]);
    assert_eq!(
        t.load().peers[&1].state.endpoint(),
        Some(ep),
        "null keeps it"
    );
    t.set_peer_with(1, None, vec![], forget());
    assert_eq!(t.load().peers[&1].state.endpoint(), None, "forgotten");
}
