//! Owns WireGuard's two liveness timers (wireguard-go `timers.go`), evaluated on the io loop's
//! coarse tick (TIMER_TICK) from the per-peer clocks the hot path stamps (tables.rs `PeerState`,
//! one store per frame), and the definition of which frames count as data for them:
//! 1. stale session: data sent to a peer and nothing authenticated received from it for
//!    STALE_AFTER (KEEPALIVE_TIMEOUT + REKEY_TIMEOUT) -> the peer may have dropped the session:
//!    one `need_session` per episode, either side of the session (the control plane initiates);
//! 2. passive keepalive: data received from a peer and nothing sent back for KEEPALIVE_TIMEOUT
//!    -> one keepalive on the current session, direct or through the via hop as data goes, so
//!    that the sender's rule 1 stays quiet on a healthy one-way flow.
//!
//! Must not run per packet, keep per-packet state beyond those stamps, or decide handshakes.

use std::time::{Duration, Instant};

use ringvpn_core::frame::{MIN_TRANSPORT_LEN, TYPE_DATA, TYPE_RELAY};
use ringvpn_core::limits::{KEEPALIVE_TIMEOUT, REKEY_TIMEOUT};
use ringvpn_core::relay_frame::RELAY_HEADER_LEN;
use ringvpn_core::DropReason;
use std::sync::atomic::Ordering::Relaxed;

use crate::pipeline::{TxAction, DATA_START};
use crate::shared::Shared;
use crate::tables::{PeerEntry, PeerState, Tables};

/// How often the io loop evaluates the timers: an episode starts at the first tick that sees
/// it, so each rule fires up to one tick after its nominal time (never before).
pub const TIMER_TICK: Duration = Duration::from_secs(1);
/// Data unanswered this long (wireguard-go: KeepaliveTimeout + RekeyTimeout): `need_session`.
pub const STALE_AFTER: Duration =
    Duration::from_millis((KEEPALIVE_TIMEOUT.as_millis() + REKEY_TIMEOUT.as_millis()) as u64);
const STALE_AFTER_MS: u64 = STALE_AFTER.as_millis() as u64;
const KEEPALIVE_MS: u64 = KEEPALIVE_TIMEOUT.as_millis() as u64;

// A receiver's keepalive (at most KEEPALIVE_TIMEOUT + a tick after the data) must reach the
// sender before its rule 1 fires (at least STALE_AFTER after the first unanswered send).
const _: () = assert!(KEEPALIVE_MS + TIMER_TICK.as_millis() as u64 + 2_000 < STALE_AFTER_MS);

/// Does an opened frame of type `kind` with `plain_len` plaintext bytes carry an inner packet?
/// DATA with a payload (an empty one is a keepalive); on a hop's session, a RELAY frame whose
/// end-to-end frame is longer than a keepalive. CONTROL is never data.
#[inline]
pub(crate) fn carries_data(kind: u8, plain_len: usize) -> bool {
    match kind {
        TYPE_DATA => plain_len > 0,
        TYPE_RELAY => plain_len > RELAY_HEADER_LEN + MIN_TRANSPORT_LEN,
        _ => false,
    }
}

impl Shared {
    /// One tick at `now`: apply both rules to every peer (rule 1 emits its `need_session`
    /// here); `keepalives` is refilled with the peers owed a passive keepalive, which the
    /// caller sends with `passive_keepalive` (the list is reused from tick to tick).
    pub fn timers(&self, now: Instant, keepalives: &mut Vec<u32>) {
        keepalives.clear();
        let now_ms = self.now_ms(now);
        let tables = self.tables.load();
        for p in tables.peers.values() {
            self.stale_rule(p, now, now_ms);
            if keepalive_rule(&p.state, now_ms) {
                keepalives.push(p.state.id);
            }
        }
    }

    /// Rule 1. An episode starts at the first tick that sees data sent after the last receive,
    /// and ends with a receive; a new session (set_session) also starts a new one, so a peer
    /// that answered the handshake but still not the data is asked again STALE_AFTER later.
    /// (Stamps are whole milliseconds: one in the tick's own millisecond does not count as
    /// after it, else the next tick would restart the episode.)
    fn stale_rule(&self, p: &PeerEntry, now: Instant, now_ms: u64) {
        let st = &p.state;
        let sent = st.tx_data_ms.load(Relaxed);
        let heard = st.last_rx_ms();
        let since = st.unanswered_since_ms.load(Relaxed);
        if sent <= heard {
            if since != 0 {
                st.unanswered_since_ms.store(0, Relaxed);
            }
            return;
        }
        let handshake = st.last_handshake_ms.load(Relaxed);
        if since == 0 || heard > since || handshake > since {
            st.unanswered_since_ms.store(now_ms, Relaxed);
            st.stale_fired.store(false, Relaxed);
            return;
        }
        if st.stale_fired.load(Relaxed) || now_ms.saturating_sub(since) < STALE_AFTER_MS {
            return;
        }
        st.stale_fired.store(true, Relaxed);
        // Without a usable session the next packet asks by itself (route_out).
        if p.current
            .as_ref()
            .is_some_and(|s| !s.session.is_expired(now))
        {
            st.stale_sessions.fetch_add(1, Relaxed);
            self.counters.stale_sessions.fetch_add(1, Relaxed);
            self.need_session(st, now_ms);
        }
    }

    /// Send-side of rule 2: seal a keepalive for `peer` into the device-shaped slot `buf` (at
    /// least HEADROOM + TAILROOM bytes) and count it as passive. A peer removed since the tick
    /// gives `Consumed`; one without a session or path, `Drop` with the reason.
    pub fn passive_keepalive(&self, peer: u32, buf: &mut [u8], now: Instant) -> TxAction {
        let tables = self.tables.load();
        let Some(p) = tables.peers.get(&peer) else {
            return TxAction::Consumed;
        };
        let act = self.keepalive(&tables, p, buf, now);
        if matches!(act, TxAction::Send { .. }) {
            p.state.keepalives_sent.fetch_add(1, Relaxed);
            self.counters.keepalives_sent.fetch_add(1, Relaxed);
        }
        act
    }

    /// Seal a keepalive (an empty DATA frame) with `peer`'s current session into the
    /// device-shaped slot `buf`: direct to its endpoint, or end to end inside a RELAY frame for
    /// its via hop, the way its data goes (route_out). No session: `no_session`; no path:
    /// `no_endpoint`.
    pub(crate) fn keepalive(
        &self,
        tables: &Tables,
        peer: &PeerEntry,
        buf: &mut [u8],
        now: Instant,
    ) -> TxAction {
        let Some(s) = peer.current.as_ref().filter(|s| !s.session.is_expired(now)) else {
            return TxAction::Drop(DropReason::NoSession);
        };
        let Some(to) = self.direct_endpoint(tables, peer, now) else {
            return self.send_via(tables, peer, s, TYPE_DATA, buf, 0, now);
        };
        match self.seal_data(peer, s, buf, 0, now) {
            Ok(len) => TxAction::Send {
                to,
                start: DATA_START,
                len,
            },
            Err(r) => TxAction::Drop(r),
        }
    }
}

/// Rule 2's decision: an episode starts at the first tick that sees data received after the
/// last send and ends with a send; KEEPALIVE_TIMEOUT into it a keepalive is owed (once: its
/// send ends the episode; a failed one starts a new one at the next tick).
fn keepalive_rule(st: &PeerState, now_ms: u64) -> bool {
    let heard = st.last_rx_data_ms();
    let sent = st.last_tx_ms();
    let since = st.keepalive_owed_since_ms.load(Relaxed);
    if heard <= sent {
        if since != 0 {
            st.keepalive_owed_since_ms.store(0, Relaxed);
        }
        return false;
    }
    if since == 0 || sent > since {
        st.keepalive_owed_since_ms.store(now_ms, Relaxed);
        return false;
    }
    if now_ms.saturating_sub(since) < KEEPALIVE_MS {
        return false;
    }
    st.keepalive_owed_since_ms.store(0, Relaxed);
    true
}

#[cfg(test)]
#[path = "timers_tests.rs"]
mod tests;
