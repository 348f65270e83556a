//! Owns the peer, session and forwarding tables. Readers (the hot path) take a lock-free
//! arc-swap snapshot; writers (commands) serialize on a mutex, clone, modify and swap.
//! Must not decide anything: entries only change through commands or authenticated roaming.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::ArcSwap;
use ringvpn_core::ip::IpNet;
use ringvpn_core::limits::REKEY_TIMEOUT;
use ringvpn_core::relay_frame::NodeId;
use ringvpn_core::session::{Session, SessionKeys};

pub use crate::peer_state::PeerState;

/// At most this many sessions per peer (the newest are kept).
pub const MAX_SESSIONS_PER_PEER: usize = 4;

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
    /// A responder's new session, not yet sent on (WireGuard's "next" keypair): it decrypts at
    /// once, and becomes `current` when the first frame arrives on it (`confirm`), so nothing we
    /// send on it can reach the initiator before the handshake response does.
    pub next: Option<Arc<SessionState>>,
    /// All sessions that may decrypt, newest first (includes `current`).
    pub sessions: Vec<Arc<SessionState>>,
    /// The peer's overlay node id (relay destination / source check).
    pub node_id: Option<NodeId>,
    /// Peer id of the overlay next hop used when this peer has no endpoint (or `relay_only`).
    pub via: Option<u32>,
    /// Send through `via` even when the peer has an endpoint.
    pub relay_only: bool,
    /// A candidate next hop for greedy relay forwarding (an overlay connection the control
    /// plane keeps alive); a data-only peer is not, so a dead one cannot swallow relayed frames.
    pub hop: bool,
    /// A gateway's client (issue 14): its packets may be for any destination, not only those the
    /// node serves (`dst_not_allowed`); the control plane sets it on a gateway, by its policy.
    pub gateway_client: bool,
    /// Changes with every set_peer of this peer (a table-wide sequence, never reused; not on
    /// session changes): packets held for their source (rx_pending.rs) under an older value
    /// have seen the control plane's answer.
    pub config_gen: u64,
}

/// Relay settings of a `set_peer` call: `None` keeps the current value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerOpts {
    pub node_id: Option<NodeId>,
    /// `Some(None)` clears the via hop.
    pub via: Option<Option<u32>>,
    pub relay_only: Option<bool>,
    /// Whether the peer may carry other peers' relayed frames as a greedy next hop.
    pub hop: Option<bool>,
    /// PeerEntry::gateway_client.
    pub gateway_client: Option<bool>,
    /// Drop the current endpoint (a relay link: the last direct path stopped answering). The
    /// next authenticated packet that arrives directly sets it again and raises an Endpoint
    /// event, which is how the control plane learns that a direct path works once more.
    /// A given `endpoint` wins over it.
    pub forget_endpoint: bool,
}

impl PeerEntry {
    /// The session to send on: the current one while it is valid.
    #[inline]
    pub fn send_session(&self, now: Instant) -> Option<&Arc<SessionState>> {
        self.current.as_ref().filter(|s| !s.session.is_expired(now))
    }

    /// The session CONTROL goes on: the current one, or else a responder's unconfirmed one (the
    /// link's first messages travel the direct path its handshake response took, so they cannot
    /// overtake it, and must not wait for the initiator).
    #[inline]
    pub fn control_session(&self, now: Instant) -> Option<&Arc<SessionState>> {
        self.send_session(now)
            .or_else(|| self.next.as_ref().filter(|s| !s.session.is_expired(now)))
    }

    /// A responder's new session waits for its first frame (for at most REKEY_TIMEOUT, the
    /// initiator's retransmission interval): packets are held, and no new handshake is asked for.
    #[inline]
    pub fn awaiting_confirmation(&self, now: Instant) -> bool {
        self.next
            .as_ref()
            .is_some_and(|n| n.session.age(now) < REKEY_TIMEOUT && !n.session.is_expired(now))
    }

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
    /// Peers with a node id that may be hops, by peer id: the candidates for greedy relay forwarding.
    pub relay_peers: Vec<Arc<PeerEntry>>,
}

impl Tables {
    fn rebuild(peers: HashMap<u32, Arc<PeerEntry>>) -> Tables {
        let mut by_index = HashMap::new();
        let mut routes = Vec::new();
        let mut with_id: Vec<Arc<PeerEntry>> = peers
            .values()
            .filter(|p| p.node_id.is_some())
            .cloned()
            .collect();
        with_id.sort_by_key(|p| p.state.id);
        let mut by_node = HashMap::new();
        for p in &with_id {
            if let Some(n) = p.node_id {
                by_node.entry(n).or_insert_with(|| p.clone());
            }
        }
        let relay_peers = with_id.into_iter().filter(|p| p.hop).collect();
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
    /// Serializes writers; holds the last `config_gen` handed out.
    writer: Mutex<u64>,
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

    fn update<R>(&self, f: impl FnOnce(&mut HashMap<u32, Arc<PeerEntry>>, &mut u64) -> R) -> R {
        let mut gen = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut peers = self.current.load().peers.clone();
        let r = f(&mut peers, &mut gen);
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
        self.update(|peers, gen| {
            *gen += 1;
            let mut entry = match peers.get(&id) {
                Some(old) => {
                    if let Some(e) = endpoint {
                        old.state.endpoint.store(Some(Arc::new(e)));
                    } else if opts.forget_endpoint {
                        old.state.endpoint.store(None);
                    }
                    PeerEntry {
                        allowed,
                        config_gen: *gen,
                        ..(**old).clone()
                    }
                }
                None => PeerEntry {
                    state: Arc::new(PeerState::new(id, endpoint)),
                    allowed,
                    current: None,
                    next: None,
                    sessions: Vec::new(),
                    node_id: None,
                    via: None,
                    relay_only: false,
                    hop: true,
                    gateway_client: false,
                    config_gen: *gen,
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
            if let Some(h) = opts.hop {
                entry.hop = h;
            }
            if let Some(g) = opts.gateway_client {
                entry.gateway_client = g;
            }
            peers.insert(id, Arc::new(entry));
        });
    }

    pub fn remove_peer(&self, id: u32) -> bool {
        self.update(|peers, _| peers.remove(&id).is_some())
    }

    /// Install a new session for `peer`. Returns false if the peer is unknown. An initiator's
    /// session becomes current at once; a responder's waits in `next` until something arrives
    /// on it (`confirm`), the current one (if any) carrying traffic meanwhile. A session with the
    /// same local index (of any peer) is replaced; sessions beyond MAX_SESSIONS_PER_PEER are
    /// dropped (oldest first).
    pub fn set_session(&self, peer: u32, keys: &SessionKeys, now: Instant, now_ms: u64) -> bool {
        self.update(|peers, _| {
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
            let kept = |x: &Option<Arc<SessionState>>| {
                x.as_ref()
                    .filter(|c| sessions.iter().any(|s| Arc::ptr_eq(s, c)))
                    .cloned()
            };
            let (current, next) = if keys.initiator {
                (Some(state), None)
            } else {
                (kept(&old.current), Some(state))
            };
            old.state.last_handshake_ms.store(now_ms, Ordering::Relaxed);
            old.state.need_session_ms.store(0, Ordering::Relaxed);
            peers.insert(
                peer,
                Arc::new(PeerEntry {
                    current,
                    next,
                    sessions,
                    ..(*old).clone()
                }),
            );
            true
        })
    }

    /// The first frame arrived on `peer`'s `next` session (local index `local_index`): it
    /// becomes current. False when it is no longer the peer's next session.
    pub fn confirm(&self, peer: u32, local_index: u32) -> bool {
        self.update(|peers, _| {
            let Some(p) = peers.get(&peer) else {
                return false;
            };
            let Some(n) = p
                .next
                .as_ref()
                .filter(|n| n.session.local_index == local_index)
            else {
                return false;
            };
            let e = PeerEntry {
                current: Some(n.clone()),
                next: None,
                ..(**p).clone()
            };
            peers.insert(peer, Arc::new(e));
            true
        })
    }

    /// Remove a session by local index (from whichever peer holds it).
    pub fn remove_session(&self, local_index: u32) -> bool {
        self.update(|peers, _| remove_index(peers, local_index))
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
    if e.next
        .as_ref()
        .is_some_and(|c| c.session.local_index == local_index)
    {
        e.next = None;
    }
    peers.insert(e.state.id, Arc::new(e));
    true
}

#[cfg(test)]
#[path = "tables_tests.rs"]
mod tests;
