//! Owns one peer's hot-path state: counters, endpoint and the clocks of what was last received
//! and sent, all atomics that the io loops update lock-free. Must not hold routes or sessions
//! (tables.rs) or decide anything from the clocks (timers.rs, relay.rs do).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwapOption;

/// Per-peer state mutated on the hot path (atomics; never replaced while the peer exists).
#[derive(Debug, Default)]
pub struct PeerState {
    pub id: u32,
    pub endpoint: ArcSwapOption<SocketAddr>,
    /// Transport frames sealed or opened with this peer's sessions (DATA, CONTROL, keepalives,
    /// RELAY as a hop, end-to-end frames inside RELAY), frame bytes.
    pub rx_packets: AtomicU64,
    pub rx_bytes: AtomicU64,
    pub tx_packets: AtomicU64,
    pub tx_bytes: AtomicU64,
    /// DATA frames carrying an inner packet (no CONTROL, no keepalives), direct or relayed end
    /// to end, and the inner packets' IP bytes: rx counts packets delivered to the device.
    pub tx_data_packets: AtomicU64,
    pub tx_data_bytes: AtomicU64,
    pub rx_data_packets: AtomicU64,
    pub rx_data_bytes: AtomicU64,
    /// This peer's packets sent as RELAY frames through its `via` hop (frame bytes).
    pub tx_relayed_packets: AtomicU64,
    pub tx_relayed_bytes: AtomicU64,
    /// RELAY frames delivered to the device whose inner source is this peer (frame bytes).
    pub rx_relayed_packets: AtomicU64,
    pub rx_relayed_bytes: AtomicU64,
    /// Device packets held while this peer had the route but no usable session (pending.rs),
    /// and held packets (for any reason) later sent to this peer.
    pub pending_held: AtomicU64,
    pub pending_released: AtomicU64,
    /// Received packets held while their inner source was outside this peer's allowed prefixes
    /// (rx_pending.rs), and held packets later written to the device.
    pub rx_pending_held: AtomicU64,
    pub rx_pending_released: AtomicU64,
    /// When frames were last opened from / sealed for this peer, engine-clock milliseconds + 1
    /// (0 = never), split by kind so that the hot path stamps one clock per frame: `*_data_ms`
    /// frames with an inner packet (DATA with a payload, direct or end to end; on a hop's
    /// session, RELAY frames whose end-to-end frame is not a keepalive), `*_other_ms` the rest
    /// (keepalives, CONTROL). `last_rx_ms()` / `last_tx_ms()` are the later of each pair.
    pub rx_data_ms: AtomicU64,
    pub rx_other_ms: AtomicU64,
    /// The same two clocks for end-to-end frames that came through a via hop (relay.rs): they
    /// count for the timers but not for the direct endpoint's freshness (`last_direct_rx_ms`).
    pub rx_relayed_data_ms: AtomicU64,
    pub rx_relayed_other_ms: AtomicU64,
    pub tx_data_ms: AtomicU64,
    pub tx_other_ms: AtomicU64,
    /// Engine-clock milliseconds + 1 (0 = never).
    pub last_handshake_ms: AtomicU64,
    pub need_session_ms: AtomicU64,
    /// The timers' episodes (timers.rs), written only by their tick: when the tick first saw
    /// data sent and nothing received since (0 = none) and whether that episode already asked
    /// for a session; when it first saw data received and nothing sent since (0 = none).
    pub unanswered_since_ms: AtomicU64,
    pub stale_fired: AtomicBool,
    pub keepalive_owed_since_ms: AtomicU64,
    /// Passive keepalives sent to this peer (timers.rs), and the times its data went unanswered
    /// for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT (a `need_session` asked for a new handshake).
    pub keepalives_sent: AtomicU64,
    pub stale_sessions: AtomicU64,
}

impl PeerState {
    pub(crate) fn new(id: u32, endpoint: Option<SocketAddr>) -> Self {
        PeerState {
            id,
            endpoint: ArcSwapOption::new(endpoint.map(Arc::new)),
            ..PeerState::default()
        }
    }

    pub fn endpoint(&self) -> Option<SocketAddr> {
        self.endpoint.load().as_deref().copied()
    }

    /// An authenticated frame from this peer (`data`: it carried an inner packet): one store.
    #[inline]
    pub fn stamp_rx(&self, data: bool, now_ms: u64) {
        stamp(&self.rx_data_ms, &self.rx_other_ms, data, now_ms);
    }

    /// An authenticated end-to-end frame from this peer through a via hop: one store.
    #[inline]
    pub fn stamp_rx_relayed(&self, data: bool, now_ms: u64) {
        stamp(
            &self.rx_relayed_data_ms,
            &self.rx_relayed_other_ms,
            data,
            now_ms,
        );
    }

    /// A frame sealed for this peer (`data`: it carries an inner packet): one store.
    #[inline]
    pub fn stamp_tx(&self, data: bool, now_ms: u64) {
        stamp(&self.tx_data_ms, &self.tx_other_ms, data, now_ms);
    }

    /// The last authenticated frame received from this peer, directly or through a via hop
    /// (engine clock, 0 = never).
    pub fn last_rx_ms(&self) -> u64 {
        self.last_direct_rx_ms()
            .max(self.rx_relayed_data_ms.load(Ordering::Relaxed))
            .max(self.rx_relayed_other_ms.load(Ordering::Relaxed))
    }

    /// The last authenticated frame that came straight from the peer's endpoint: what says its
    /// NAT mapping is still there (relay.rs direct_endpoint, next_hop).
    pub fn last_direct_rx_ms(&self) -> u64 {
        let d = self.rx_data_ms.load(Ordering::Relaxed);
        d.max(self.rx_other_ms.load(Ordering::Relaxed))
    }

    /// The last authenticated frame with an inner packet, directly or through a via hop.
    pub fn last_rx_data_ms(&self) -> u64 {
        let d = self.rx_data_ms.load(Ordering::Relaxed);
        d.max(self.rx_relayed_data_ms.load(Ordering::Relaxed))
    }

    /// The last frame sealed for this peer (engine clock, 0 = never).
    pub fn last_tx_ms(&self) -> u64 {
        let d = self.tx_data_ms.load(Ordering::Relaxed);
        d.max(self.tx_other_ms.load(Ordering::Relaxed))
    }
}

/// One store: into the data clock for a frame with an inner packet, else into the other one.
#[inline]
fn stamp(data_clock: &AtomicU64, other_clock: &AtomicU64, data: bool, now_ms: u64) {
    let clock = if data { data_clock } else { other_clock };
    clock.store(now_ms, Ordering::Relaxed);
}
