//! Owns the global counters (rx/tx bytes and packets, held packets both ways, passive keepalives,
//! stale sessions, drops per reason) and the stats snapshot types. Must not aggregate
//! policy-level metrics; counters are relaxed atomics.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use ringvpn_core::relay_frame::NodeId;
use ringvpn_core::DropReason;

/// Counters for one direction, on their own cache line so rx and tx threads (`threads: 2`) do
/// not share one.
#[repr(align(64))]
#[derive(Debug, Default)]
pub struct DirCounters {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
}

#[derive(Debug)]
pub struct Counters {
    /// UDP datagrams received (all, before any check).
    pub rx: DirCounters,
    /// UDP datagrams sent (data plane and commands).
    pub tx: DirCounters,
    /// RELAY frames forwarded to a next hop (not for us).
    pub relay_forwarded: AtomicU64,
    /// Device frames handed to the control plane (DHCP/DNS).
    pub device_intercepted: AtomicU64,
    /// Device packets held for a route or session (pending.rs), and held packets later sent.
    pub pending_held: AtomicU64,
    pub pending_released: AtomicU64,
    /// Received packets held for their inner source (rx_pending.rs), and held packets later
    /// written to the device.
    pub rx_pending_held: AtomicU64,
    pub rx_pending_released: AtomicU64,
    /// Passive keepalives sent (timers.rs rule 2), and stale sessions: data unanswered for
    /// KEEPALIVE_TIMEOUT + REKEY_TIMEOUT, a `need_session` asked for a handshake (rule 1).
    pub keepalives_sent: AtomicU64,
    pub stale_sessions: AtomicU64,
    /// Device offloads: TCP and UDP super-packets read (TSO, USO) and the packets they were split into.
    pub gso_reads: AtomicU64,
    pub gso_segments: AtomicU64,
    /// Received TCP segments merged into a run, and the merged runs written (GRO).
    pub gro_merged: AtomicU64,
    pub gro_writes: AtomicU64,
    /// UDP GSO messages sent (several datagrams each), and kernel refusals (then one each).
    pub udp_gso_sends: AtomicU64,
    pub udp_gso_refused: AtomicU64,
    drops: [AtomicU64; DropReason::COUNT],
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            rx: DirCounters::default(),
            tx: DirCounters::default(),
            relay_forwarded: AtomicU64::new(0),
            device_intercepted: AtomicU64::new(0),
            pending_held: AtomicU64::new(0),
            pending_released: AtomicU64::new(0),
            rx_pending_held: AtomicU64::new(0),
            rx_pending_released: AtomicU64::new(0),
            keepalives_sent: AtomicU64::new(0),
            stale_sessions: AtomicU64::new(0),
            gso_reads: AtomicU64::new(0),
            gso_segments: AtomicU64::new(0),
            gro_merged: AtomicU64::new(0),
            gro_writes: AtomicU64::new(0),
            udp_gso_sends: AtomicU64::new(0),
            udp_gso_refused: AtomicU64::new(0),
            drops: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Counters {
    #[inline]
    pub fn drop(&self, r: DropReason) {
        self.drops[r as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn drops(&self, r: DropReason) -> u64 {
        self.drops[r as usize].load(Ordering::Relaxed)
    }

    pub fn drop_list(&self) -> Vec<(DropReason, u64)> {
        DropReason::ALL
            .iter()
            .map(|&r| (r, self.drops(r)))
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStats {
    pub peer: u32,
    pub endpoint: Option<SocketAddr>,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// DATA frames carrying an inner packet (not CONTROL, not keepalives), direct or relayed
    /// end to end; bytes are the inner IP packets'. rx: packets delivered to the device.
    pub tx_data_packets: u64,
    pub tx_data_bytes: u64,
    pub rx_data_packets: u64,
    pub rx_data_bytes: u64,
    /// This peer's end-to-end frames sent inside RELAY frames through its via hop (outer
    /// frame bytes; the inner frames also count in tx_packets/tx_bytes).
    pub tx_relayed_packets: u64,
    pub tx_relayed_bytes: u64,
    /// RELAY frames for us whose end-to-end frame from this peer opened (outer frame bytes;
    /// the inner frames also count in rx_packets/rx_bytes).
    pub rx_relayed_packets: u64,
    pub rx_relayed_bytes: u64,
    /// Device packets held while this peer had the route but no session; held packets (for
    /// a route or a session) later sent to this peer.
    pub pending_held: u64,
    pub pending_released: u64,
    /// Packets from this peer held while their inner source was outside its allowed prefixes,
    /// and held packets later written to the device.
    pub rx_pending_held: u64,
    pub rx_pending_released: u64,
    /// Passive keepalives sent to this peer (data received, nothing sent back for
    /// KEEPALIVE_TIMEOUT), and the times data to it went unanswered for KEEPALIVE_TIMEOUT +
    /// REKEY_TIMEOUT (a `need_session` asked for a new handshake).
    pub keepalives_sent: u64,
    pub stale_sessions: u64,
    pub node_id: Option<NodeId>,
    /// Peer id of the via hop.
    pub via: Option<u32>,
    /// Always sent through the via hop, even with an endpoint.
    pub relay_only: bool,
    /// Unix time in milliseconds.
    pub last_handshake_ms: Option<u64>,
    pub last_rx_ms: Option<u64>,
    pub sessions: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// RELAY frames forwarded to a next hop.
    pub relay_forwarded: u64,
    /// Relay-link pairs this node carries (active within RELAY_IDLE_MS), and its limit.
    pub relay_pairs: u64,
    pub relay_max_pairs: u64,
    /// Device frames handed to the control plane.
    pub device_intercepted: u64,
    /// Device packets held for a route or a session, and held packets later sent.
    pub pending_held: u64,
    pub pending_released: u64,
    /// Received packets held for their inner source, and held packets later written.
    pub rx_pending_held: u64,
    pub rx_pending_released: u64,
    /// Passive keepalives sent, and stale sessions detected (need_session asked).
    pub keepalives_sent: u64,
    pub stale_sessions: u64,
    /// The device's accepted offloads (TUN_F_* flags; 0: none), TCP and UDP super-packets read
    /// from it and the packets they were split into.
    pub offloads: u32,
    /// Whether the kernel accepted UDP GRO on the socket (false: one datagram per buffer).
    pub udp_gro: bool,
    pub gso_reads: u64,
    pub gso_segments: u64,
    /// Received TCP segments merged into a larger write, and the merged writes.
    pub gro_merged: u64,
    pub gro_writes: u64,
    /// UDP GSO messages sent, and refusals by the kernel (then one message per datagram).
    pub udp_gso_sends: u64,
    pub udp_gso_refused: u64,
    /// Every reason, including zeros.
    pub drops: Vec<(DropReason, u64)>,
    pub peers: Vec<PeerStats>,
}
