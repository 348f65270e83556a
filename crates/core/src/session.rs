//! Owns one data session (a pair of transport keys from the TS handshake): sealing and
//! opening transport frames (DATA/CONTROL/RELAY) in place, counters, replay protection, applying
//! WireGuard's limits (limits.rs). Must not read the clock (callers pass `now`) or choose keys/indices.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::aead::{Aead, DefaultAead};
use crate::drop::DropReason;
use crate::frame::{self, HEADER_LEN, MAX_FRAME_LEN, TAG_LEN, TYPE_CONTROL, TYPE_DATA, TYPE_RELAY};
use crate::relay_frame::{link_aad, MIN_RELAY_PAYLOAD, RELAY_HEADER_LEN};
use crate::replay::ReplayWindow;

// The limits live in limits.rs; re-exported here for callers that name them through the session.
pub use crate::limits::{
    REJECT_AFTER_MESSAGES, REJECT_AFTER_TIME, REKEY_AFTER_MESSAGES, REKEY_AFTER_TIME,
};

/// Transport keys and indices handed over by the TypeScript handshake.
#[derive(Clone)]
pub struct SessionKeys {
    pub local_index: u32,
    pub remote_index: u32,
    pub send_key: [u8; 32],
    pub recv_key: [u8; 32],
    pub initiator: bool,
}

impl core::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SessionKeys")
            .field("local_index", &self.local_index)
            .field("remote_index", &self.remote_index)
            .field("initiator", &self.initiator)
            .finish_non_exhaustive()
    }
}

/// One data session. Shared between the sending paths (`seal`, atomic counter: device loop and
/// commands) and the receive path (`open`), which may run on different threads. The replay window is behind a `Mutex` that only the rx path takes, so it is
/// uncontended (two short critical sections per packet: check, then commit).
pub struct Session<A: Aead = DefaultAead> {
    pub local_index: u32,
    pub remote_index: u32,
    pub initiator: bool,
    pub created: Instant,
    send: A,
    recv: A,
    send_counter: AtomicU64,
    replay: Mutex<ReplayWindow>,
}

impl<A: Aead> Session<A> {
    pub fn new(keys: &SessionKeys, created: Instant) -> Self {
        Session {
            local_index: keys.local_index,
            remote_index: keys.remote_index,
            initiator: keys.initiator,
            created,
            send: A::new(&keys.send_key),
            recv: A::new(&keys.recv_key),
            send_counter: AtomicU64::new(0),
            replay: Mutex::new(ReplayWindow::new()),
        }
    }

    /// Time since the session was installed.
    pub fn age(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.created)
    }

    /// Messages sent so far (the next send counter).
    pub fn sent(&self) -> u64 {
        self.send_counter.load(Ordering::Relaxed)
    }

    /// Too old or out of counters: refuses to seal and open.
    pub fn is_expired(&self, now: Instant) -> bool {
        self.age(now) >= REJECT_AFTER_TIME || self.sent() >= REJECT_AFTER_MESSAGES
    }

    /// Time (REKEY_AFTER_TIME) or message count (REKEY_AFTER_MESSAGES) says: start a new handshake.
    pub fn needs_rekey(&self, now: Instant) -> bool {
        self.age(now) >= REKEY_AFTER_TIME || self.sent() >= REKEY_AFTER_MESSAGES
    }

    /// wireguard-go's `keepKeyFreshSending`: this side starts the new handshake when it sent
    /// REKEY_AFTER_MESSAGES, or when it initiated this session and it is REKEY_AFTER_TIME old.
    /// A responder leaves the time rule to the initiator: its session lapses at
    /// REJECT_AFTER_TIME, and a packet sent after that asks for a handshake (need_session).
    pub fn owns_rekey(&self, now: Instant) -> bool {
        self.sent() >= REKEY_AFTER_MESSAGES || (self.initiator && self.age(now) >= REKEY_AFTER_TIME)
    }

    /// Seal a frame in place. `buf[16..16 + payload_len]` holds the plaintext; the header is
    /// written into `buf[..16]` and the tag after the payload (so `buf` needs 16 bytes of
    /// tailroom). Returns the frame length.
    pub fn seal(
        &self,
        kind: u8,
        buf: &mut [u8],
        payload_len: usize,
        now: Instant,
    ) -> Result<usize, DropReason> {
        if !matches!(kind, TYPE_DATA | TYPE_CONTROL | TYPE_RELAY) {
            return Err(DropReason::UnknownType);
        }
        let len = HEADER_LEN + payload_len + TAG_LEN;
        if len > buf.len() || len > MAX_FRAME_LEN {
            return Err(DropReason::Oversize);
        }
        if kind == TYPE_RELAY && payload_len < MIN_RELAY_PAYLOAD {
            return Err(DropReason::RelayMalformed);
        }
        if self.age(now) >= REJECT_AFTER_TIME {
            return Err(DropReason::SessionExpired);
        }
        let counter = self.send_counter.fetch_add(1, Ordering::Relaxed);
        if counter >= REJECT_AFTER_MESSAGES {
            // Keep the counter pinned so it can never wrap around to reuse a nonce.
            self.send_counter
                .store(REJECT_AFTER_MESSAGES, Ordering::Relaxed);
            return Err(DropReason::SessionExpired);
        }
        let (header, rest) = buf.split_at_mut(HEADER_LEN);
        let header: &mut [u8; HEADER_LEN] = header.try_into().map_err(|_| DropReason::Oversize)?;
        frame::write_header(header, kind, self.remote_index, counter);
        let (payload, tail) = rest.split_at_mut(payload_len);
        let tag = if kind == TYPE_RELAY {
            // the link layer encrypts the relay header; the inner frame is AAD (relay_frame.rs)
            let aad = link_aad(header, payload)?;
            self.send
                .seal_in_place(counter, &aad, &mut payload[..RELAY_HEADER_LEN])
        } else {
            self.send.seal_in_place(counter, header, payload)
        };
        tail[..TAG_LEN].copy_from_slice(&tag);
        Ok(len)
    }

    /// Open a transport frame (DATA/CONTROL/RELAY) in place. Returns its type and the plaintext range in `buf`.
    /// Order: parse, index, expiry, replay check, decrypt + verify, replay commit.
    pub fn open(&self, buf: &mut [u8], now: Instant) -> Result<(u8, Range<usize>), DropReason> {
        let (kind, receiver, counter) = match frame::parse(buf)? {
            frame::Frame::Transport {
                kind,
                receiver,
                counter,
                ..
            } => (kind, receiver, counter),
            frame::Frame::Handshake { .. } => return Err(DropReason::UnknownType),
        };
        if receiver != self.local_index {
            return Err(DropReason::UnknownIndex);
        }
        if self.age(now) >= REJECT_AFTER_TIME {
            return Err(DropReason::SessionExpired);
        }
        if !self.replay_window().check(counter) {
            return Err(DropReason::Replay);
        }
        let (header, body) = buf.split_at_mut(HEADER_LEN);
        let plain_len = if kind == TYPE_RELAY {
            self.open_relay(counter, header, body)?
        } else {
            self.recv
                .open_in_place(counter, header, body)
                .map_err(|_| DropReason::AuthFailed)?
        };
        if !self.replay_window().commit(counter) {
            return Err(DropReason::Replay);
        }
        Ok((kind, HEADER_LEN..HEADER_LEN + plain_len))
    }

    /// The link layer of a RELAY frame: `body` is the encrypted relay header, the inner frame and
    /// the tag; the relay header and tag are opened in a 60-byte copy (the AEAD wants them
    /// adjacent), and the relay header is written back in clear. Returns the payload length.
    fn open_relay(
        &self,
        counter: u64,
        header: &[u8],
        body: &mut [u8],
    ) -> Result<usize, DropReason> {
        let header: &[u8; HEADER_LEN] = header.try_into().map_err(|_| DropReason::ShortFrame)?;
        let payload_len = body
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(DropReason::RelayMalformed)?;
        // refuses a payload shorter than MIN_RELAY_PAYLOAD, so the slices below are in bounds
        let aad = link_aad(header, &body[..payload_len])?;
        let mut sealed = [0u8; RELAY_HEADER_LEN + TAG_LEN];
        sealed[..RELAY_HEADER_LEN].copy_from_slice(&body[..RELAY_HEADER_LEN]);
        sealed[RELAY_HEADER_LEN..].copy_from_slice(&body[payload_len..]);
        self.recv
            .open_in_place(counter, &aad, &mut sealed)
            .map_err(|_| DropReason::AuthFailed)?;
        body[..RELAY_HEADER_LEN].copy_from_slice(&sealed[..RELAY_HEADER_LEN]);
        Ok(payload_len)
    }

    fn replay_window(&self) -> std::sync::MutexGuard<'_, ReplayWindow> {
        // A poisoned lock only means another thread panicked mid-update of plain integers.
        self.replay.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
