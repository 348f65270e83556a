//! Owns the peer, session and forwarding tables. Readers (the hot path) take a lock-free
//! arc-swap snapshot; writers (commands) serialize on a mutex, clone, modify and swap.
//! Must not decide anything: entries only change through commands or authenticated roaming.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::{ArcSwap, ArcSwapOption};
use ringvpn_core::ip::IpNet;
use ringvpn_core::relay::NodeId;
use ringvpn_core::session::{Session, SessionKeys};

/// At most this many sessions per peer (the newest are kept).
pub const MAX_SESSIONS_PER_PEER: usize = 4;

/// Per-peer state mutated on the hot path (atomics; never replaced while the peer exists).
#[derive(Debug)]
pub struct PeerState {
    pub id: u32,
    pub endpoint: ArcSwapOption<SocketAddr>,
    pub rx_packets: AtomicU64,
    pub rx_bytes: AtomicU64,
    pub tx_packets: AtomicU64,
    pub tx_bytes: AtomicU64,
    /// This peer's packets sent as RELAY frames through its `via` hop (frame bytes).
    pub tx_relayed_packets: AtomicU64,
    pub tx_relayed_bytes: AtomicU64,
    /// RELAY frames delivered to the device whose inner source is this peer (frame bytes).
    pub rx_relayed_packets: AtomicU64,
    pub rx_relayed_bytes: AtomicU64,
    /// Engine-clock milliseconds + 1 (0 = never).
    pub last_rx_ms: AtomicU64,
    pub last_handshake_ms: AtomicU64,
    pub need_session_ms: AtomicU64,
}

impl PeerState {
    fn new(id: u32, endpoint: Option<SocketAddr>) -> Self {
        PeerState {
            id,
            endpoint: ArcSwapOption::new(endpoint.map(Arc::new)),
            rx_packets: AtomicU64::new(0),
            rx_bytes: AtomicU64::new(0),
            tx_packets: AtomicU64::new(0),
            tx_bytes: AtomicU64::new(0),
            tx_relayed_packets: AtomicU64::new(0),
            tx_relayed_bytes: AtomicU64::new(0),
            rx_relayed_packets: AtomicU64::new(0),
            rx_relayed_bytes: AtomicU64::new(0),
            last_rx_ms: AtomicU64::new(0),
            last_handshake_ms: AtomicU64::new(0),
            need_session_ms: AtomicU64::new(0),
        }
    }

    pub fn endpoint(&self) -> Option<SocketAddr> {
        self.endpoint.load().as_deref().copied()
    }
}

/// A session plus the peer it belongs to and its once-only rekey flag.
pub struct SessionState {
    pub session: Session,
    pub peer: Arc<PeerState>,
    pub rekey_signalled: AtomicBool,
}

/// A peer's command-controlled configuration (immutable inside a snapshot).
#[derive(Clone)]
pub struct PeerEntry {
    pub state: Arc<PeerState>,
    pub allowed: Vec<IpNet>,
    /// Current send session.
    pub current: Option<Arc<SessionState>>,
    /// All sessions that may decrypt, newest first (includes `current`).
    pub sessions: Vec<Arc<SessionState>>,
    /// The peer's overlay node id (relay destination / source check).
    pub node_id: Option<NodeId>,
    /// Peer id of the overlay next hop used when this peer has no endpoint (or `relay_only`).
    pub via: Option<u32>,
    /// Send through `via` even when the peer has an endpoint.
    pub relay_only: bool,
}

/// Relay settings of a `set_peer` call: `None` keeps the current value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerOpts {
    pub node_id: Option<NodeId>,
    /// `Some(None)` clears the via hop.
    pub via: Option<Option<u32>>,
    pub relay_only: Option<bool>,
}

impl PeerEntry {
    #[inline]
    pub fn allows_source(&self, src: IpAddr) -> bool {
        self.allowed.iter().any(|n| n.contains(src))
    }
}

/// One immutable snapshot of all tables.
#[derive(Clone, Default)]
pub struct Tables {
    pub peers: HashMap<u32, Arc<PeerEntry>>,
    /// local index -> (session, peer entry).
    pub by_index: HashMap<u32, (Arc<SessionState>, Arc<PeerEntry>)>,
    /// Allowed prefixes, longest first: the first match is the longest-prefix match.
    pub routes: Vec<(IpNet, Arc<PeerEntry>)>,
    /// node id -> peer (the lowest peer id wins if two peers claim one id).
    pub by_node: HashMap<NodeId, Arc<PeerEntry>>,
    /// Peers with a node id, by peer id: the candidates for greedy relay forwarding.
    pub relay_peers: Vec<Arc<PeerEntry>>,
}

impl Tables {
    fn rebuild(peers: HashMap<u32, Arc<PeerEntry>>) -> Tables {
        let mut by_index = HashMap::new();
        let mut routes = Vec::new();
        let mut relay_peers: Vec<Arc<PeerEntry>> = peers
            .values()
            .filter(|p| p.node_id.is_some())
            .cloned()
            .collect();
        relay_peers.sort_by_key(|p| p.state.id);
        let mut by_node = HashMap::new();
        for p in &relay_peers {
            if let Some(n) = p.node_id {
                by_node.entry(n).or_insert_with(|| p.clone());
            }
        }
        for p in peers.values() {
            for s in &p.sessions {
                by_index.insert(s.session.local_index, (s.clone(), p.clone()));
            }
            for n in &p.allowed {
                routes.push((*n, p.clone()));
            }
        }
        // Longest prefix first; ties broken by peer id so lookups are deterministic.
        routes.sort_by(|a, b| {
            b.0.prefix_len()
                .cmp(&a.0.prefix_len())
                .then(a.1.state.id.cmp(&b.1.state.id))
        });
        Tables {
            peers,
            by_index,
            routes,
            by_node,
            relay_peers,
        }
    }

    /// Longest-prefix match of a destination address.
    #[inline]
    pub fn route(&self, dst: IpAddr) -> Option<&Arc<PeerEntry>> {
        self.routes
            .iter()
            .find(|(n, _)| n.contains(dst))
            .map(|(_, p)| p)
    }
}

/// The shared, swappable tables.
#[derive(Default)]
pub struct TableHandle {
    current: ArcSwap<Tables>,
    writer: Mutex<()>,
}

impl TableHandle {
    pub fn new() -> Self {
        Self::default()
    }

    /// Lock-free read of the current snapshot.
    #[inline]
    pub fn load(&self) -> arc_swap::Guard<Arc<Tables>> {
        self.current.load()
    }

    fn update<R>(&self, f: impl FnOnce(&mut HashMap<u32, Arc<PeerEntry>>) -> R) -> R {
        let _w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut peers = self.current.load().peers.clone();
        let r = f(&mut peers);
        self.current.store(Arc::new(Tables::rebuild(peers)));
        r
    }

    /// Add or update a peer without touching its relay settings.
    pub fn set_peer(&self, id: u32, endpoint: Option<SocketAddr>, allowed: Vec<IpNet>) {
        self.set_peer_with(id, endpoint, allowed, PeerOpts::default());
    }

    /// Add or update a peer. Updating keeps its sessions and counters; `endpoint` and the
    /// fields of `opts` replace the current values only when given.
    pub fn set_peer_with(
        &self,
        id: u32,
        endpoint: Option<SocketAddr>,
        allowed: Vec<IpNet>,
        opts: PeerOpts,
    ) {
        self.update(|peers| {
            let mut entry = match peers.get(&id) {
                Some(old) => {
                    if let Some(e) = endpoint {
                        old.state.endpoint.store(Some(Arc::new(e)));
                    }
                    PeerEntry {
                        allowed,
                        ..(**old).clone()
                    }
                }
                None => PeerEntry {
                    state: Arc::new(PeerState::new(id, endpoint)),
                    allowed,
                    current: None,
                    sessions: Vec::new(),
                    node_id: None,
                    via: None,
                    relay_only: false,
                },
            };
            if let Some(n) = opts.node_id {
                entry.node_id = Some(n);
            }
            if let Some(v) = opts.via {
                entry.via = v;
            }
            if let Some(r) = opts.relay_only {
                entry.relay_only = r;
            }
            peers.insert(id, Arc::new(entry));
        });
    }

    pub fn remove_peer(&self, id: u32) -> bool {
        self.update(|peers| peers.remove(&id).is_some())
    }

    /// Install a new current session for `peer`. Returns false if the peer is unknown.
    /// A session with the same local index (of any peer) is replaced; sessions beyond
    /// MAX_SESSIONS_PER_PEER are dropped (oldest first).
    pub fn set_session(&self, peer: u32, keys: &SessionKeys, now: Instant, now_ms: u64) -> bool {
        self.update(|peers| {
            let Some(old) = peers.get(&peer).cloned() else {
                return false;
            };
            remove_index(peers, keys.local_index);
            let old = peers.get(&peer).cloned().unwrap_or(old);
            let state = Arc::new(SessionState {
                session: Session::new(keys, now),
                peer: old.state.clone(),
                rekey_signalled: AtomicBool::new(false),
            });
            let mut sessions = vec![state.clone()];
            sessions.extend(
                old.sessions
                    .iter()
                    .filter(|s| !s.session.is_expired(now))
                    .take(MAX_SESSIONS_PER_PEER - 1)
                    .cloned(),
            );
            old.state.last_handshake_ms.store(now_ms, Ordering::Relaxed);
            old.state.need_session_ms.store(0, Ordering::Relaxed);
            peers.insert(
                peer,
                Arc::new(PeerEntry {
                    current: Some(state),
                    sessions,
                    ..(*old).clone()
                }),
            );
            true
        })
    }

    /// Remove a session by local index (from whichever peer holds it).
    pub fn remove_session(&self, local_index: u32) -> bool {
        self.update(|peers| remove_index(peers, local_index))
    }
}

fn remove_index(peers: &mut HashMap<u32, Arc<PeerEntry>>, local_index: u32) -> bool {
    let holder = peers
        .values()
        .find(|p| {
            p.sessions
                .iter()
                .any(|s| s.session.local_index == local_index)
        })
        .cloned();
    let Some(p) = holder else {
        return false;
    };
    let mut e = (*p).clone();
    e.sessions.retain(|s| s.session.local_index != local_index);
    if e.current
        .as_ref()
        .is_some_and(|c| c.session.local_index == local_index)
    {
        e.current = None;
    }
    peers.insert(e.state.id, Arc::new(e));
    true
}

#[cfg(test)]
mod tests {
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
    fn relay_settings_and_node_index() {
        let t = TableHandle::new();
        let opts = PeerOpts {
            node_id: Some([7; 20]),
            via: Some(Some(2)),
            relay_only: Some(true),
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
}
