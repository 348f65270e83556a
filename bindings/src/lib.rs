//! N-API binding for the ringvpn data plane: the constants shared with TypeScript and the
//! `Engine` class, whose methods turn JS calls into engine commands (convert.rs translates the
//! values). Must not hold logic or state of its own: everything lives in ringvpn-dataplane /
//! ringvpn-core. Errors are `E_CODE: message`.

mod convert;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use ringvpn_core::ip::IpNet;
use ringvpn_core::{frame, limits, relay_frame, DropReason};
use ringvpn_dataplane::{config, pending, PeerOpts};

use convert::{
    engine_err, err, node_id, parse_endpoint, EngineConfig, EngineEvent, EngineStats,
    SessionKeysInit,
};

// ---- constants shared with TypeScript (defined once, in ringvpn-core / ringvpn-dataplane) ----
#[napi]
pub const FRAME_TYPE_HANDSHAKE_INIT: u32 = frame::TYPE_HANDSHAKE_INIT as u32;
#[napi]
pub const FRAME_TYPE_HANDSHAKE_RESP: u32 = frame::TYPE_HANDSHAKE_RESP as u32;
/// Reserved (a WireGuard-style cookie reply); nothing sends it yet.
#[napi]
pub const FRAME_TYPE_COOKIE: u32 = frame::TYPE_COOKIE as u32;
#[napi]
pub const FRAME_TYPE_DATA: u32 = frame::TYPE_DATA as u32;
#[napi]
pub const FRAME_TYPE_CONTROL: u32 = frame::TYPE_CONTROL as u32;
#[napi]
pub const FRAME_TYPE_RELAY: u32 = frame::TYPE_RELAY as u32;
#[napi]
pub const FRAME_TYPE_PROBE: u32 = frame::TYPE_PROBE as u32;
#[napi]
pub const FRAME_HEADER_LEN: u32 = frame::HEADER_LEN as u32;
#[napi]
pub const FRAME_TAG_LEN: u32 = frame::TAG_LEN as u32;
#[napi]
pub const RELAY_HEADER_LEN: u32 = relay_frame::RELAY_HEADER_LEN as u32;
#[napi]
pub const RELAY_DEFAULT_TTL: u32 = relay_frame::DEFAULT_TTL as u32;
#[napi]
pub const NODE_ID_LEN: u32 = relay_frame::NODE_ID_LEN as u32;
/// A peer that is not an overlay link is the last hop of a relayed frame only if heard from within
/// this many ms (its NAT mapping may be gone otherwise).
#[napi]
pub const RELAY_DIRECT_FRESH_MS: u32 = ringvpn_dataplane::relay::DIRECT_FRESH_MS as u32;

// WireGuard's limits (crates/core/src/limits.rs), times in milliseconds. The message limits
// (2^60, 2^64 - 2^13 - 1) are not exported: no JS number holds them, and only Rust counts messages.
/// The initiator of a session starts a new handshake when it is this old.
#[napi]
pub const LIMIT_REKEY_AFTER_TIME_MS: u32 = limits::REKEY_AFTER_TIME.as_millis() as u32;
/// A session older than this neither seals nor opens.
#[napi]
pub const LIMIT_REJECT_AFTER_TIME_MS: u32 = limits::REJECT_AFTER_TIME.as_millis() as u32;
/// An unanswered initiation is resent after this (plus jitter).
#[napi]
pub const LIMIT_REKEY_TIMEOUT_MS: u32 = limits::REKEY_TIMEOUT.as_millis() as u32;
/// Upper bound of the jitter added to LIMIT_REKEY_TIMEOUT_MS.
#[napi]
pub const LIMIT_REKEY_TIMEOUT_JITTER_MAX_MS: u32 =
    limits::REKEY_TIMEOUT_JITTER_MAX.as_millis() as u32;
/// A handshake attempt is abandoned after this.
#[napi]
pub const LIMIT_REKEY_ATTEMPT_TIME_MS: u32 = limits::REKEY_ATTEMPT_TIME.as_millis() as u32;
/// Received data with nothing sent back for this long: the engine sends a keepalive (and data
/// unanswered for this + LIMIT_REKEY_TIMEOUT_MS raises `need_session`).
#[napi]
pub const LIMIT_KEEPALIVE_TIMEOUT_MS: u32 = limits::KEEPALIVE_TIMEOUT.as_millis() as u32;
/// Cookie secrets are replaced at this age (reserved).
#[napi]
pub const LIMIT_COOKIE_REFRESH_TIME_MS: u32 = limits::COOKIE_REFRESH_TIME.as_millis() as u32;
/// Counters this far behind the newest one are still accepted.
#[napi]
pub const LIMIT_REPLAY_WINDOW_SIZE: u32 = limits::REPLAY_WINDOW_SIZE as u32;

// The hold queues for first packets (crates/dataplane/src/pending.rs, rx_pending.rs).
/// Device packets held per destination without a route or session; also received packets held
/// per overlay peer for an unlearned inner source.
#[napi]
pub const PENDING_PER_DESTINATION: u32 = pending::PENDING_PER_DESTINATION as u32;
/// Destinations with held packets; also peers with held received packets.
#[napi]
pub const PENDING_DESTINATIONS: u32 = pending::PENDING_DESTINATIONS as u32;
/// How long a packet is held, both ways: then a device packet is dropped `pending_expired`, a
/// received one `source_not_allowed`.
#[napi]
pub const PENDING_HOLD_MS: u32 = pending::PENDING_HOLD.as_millis() as u32;

/// Every drop reason code, in counter order.
#[napi]
pub fn drop_reasons() -> Vec<String> {
    DropReason::ALL
        .iter()
        .map(|r| r.as_str().to_string())
        .collect()
}

/// The native data plane: a TUN/TAP device, one UDP socket and one hot-path thread (two with
/// `threads: 2`).
#[napi]
pub struct Engine {
    inner: ringvpn_dataplane::Engine,
}

#[napi]
impl Engine {
    /// Open the device and socket and start the data plane. `onEvents` is called (without
    /// arguments, never blocking, not keeping Node alive) when events become available;
    /// call `drainEvents()` then.
    #[napi(factory, ts_args_type = "config: EngineConfig, onEvents: () => void")]
    pub fn start(
        config: EngineConfig,
        on_events: ThreadsafeFunction<(), Unknown<'static>, (), Status, false, true>,
    ) -> Result<Self> {
        let cfg = convert::to_config(config)?;
        let notify = Box::new(move || {
            let _ = on_events.call((), ThreadsafeFunctionCallMode::NonBlocking);
        });
        let inner = ringvpn_dataplane::Engine::start(cfg, notify).map_err(engine_err)?;
        Ok(Engine { inner })
    }

    /// Add or update a peer. `endpoint` null keeps the current one (or none). `opts.nodeId`
    /// (20 bytes) sets the peer's overlay id; `opts.via` sets (number) or clears (null) the
    /// peer id of the overlay hop that carries this peer's end-to-end frames while it has no
    /// endpoint; `opts.relayOnly` (default false) sends through `via` even with an endpoint;
    /// `opts.forgetEndpoint` (true, with a null endpoint) drops the current endpoint, so that
    /// the next packet arriving directly sets it again with an endpoint event;
    /// `opts.hop` (default true) lets greedy relay forwarding use this peer as a next hop;
    /// `opts.gatewayClient` (default false) lets its packets be for any destination (a gateway's
    /// client), not only the engine's `destinations`.
    /// Omitted fields keep their current values. Packets held for a destination this peer now
    /// routes are sent once it also has a session; packets received from this peer and held for
    /// their source are written if `allowedIps` now covers it, else dropped.
    #[napi(
        ts_args_type = "peerId: number, endpoint: string | null, allowedIps: string[], opts?: { nodeId?: Buffer; via?: number | null; relayOnly?: boolean; hop?: boolean; gatewayClient?: boolean; forgetEndpoint?: boolean }"
    )]
    pub fn set_peer(
        &self,
        peer_id: u32,
        endpoint: Option<String>,
        allowed_ips: Vec<String>,
        opts: Option<Object>,
    ) -> Result<()> {
        let endpoint = endpoint.as_deref().map(parse_endpoint).transpose()?;
        let allowed = allowed_ips
            .iter()
            .map(|s| s.parse::<IpNet>().map_err(|e| err("E_ADDR", e)))
            .collect::<Result<Vec<_>>>()?;
        let mut po = PeerOpts::default();
        if let Some(o) = opts {
            if let Some(b) = o
                .get::<Buffer>("nodeId")
                .map_err(|_| err("E_CONFIG", "opts.nodeId must be a Buffer"))?
            {
                po.node_id = Some(node_id(&b, "opts.nodeId")?);
            }
            // get() maps a missing/undefined field to None, so null stays distinguishable.
            po.via = match o
                .get::<Either<u32, Null>>("via")
                .map_err(|_| err("E_CONFIG", "opts.via must be a peer id or null"))?
            {
                None => None,
                Some(Either::A(v)) => Some(Some(v)),
                Some(Either::B(Null)) => Some(None),
            };
            po.relay_only = o
                .get::<bool>("relayOnly")
                .map_err(|_| err("E_CONFIG", "opts.relayOnly must be a boolean"))?;
            po.hop = o
                .get::<bool>("hop")
                .map_err(|_| err("E_CONFIG", "opts.hop must be a boolean"))?;
            po.gateway_client = o
                .get::<bool>("gatewayClient")
                .map_err(|_| err("E_CONFIG", "opts.gatewayClient must be a boolean"))?;
            po.forget_endpoint = o
                .get::<bool>("forgetEndpoint")
                .map_err(|_| err("E_CONFIG", "opts.forgetEndpoint must be a boolean"))?
                .unwrap_or(false);
        }
        self.inner
            .set_peer(peer_id, endpoint, allowed, po)
            .map_err(engine_err)
    }

    /// Remove a peer; false if there was none.
    #[napi]
    pub fn remove_peer(&self, peer_id: u32) -> bool {
        self.inner.remove_peer(peer_id)
    }

    /// Install a new current session for the peer (E_PEER if unknown); packets held for it go out.
    #[napi]
    pub fn set_session(&self, peer_id: u32, session: SessionKeysInit) -> Result<()> {
        let keys = convert::session_keys(&session)?;
        self.inner.set_session(peer_id, &keys).map_err(engine_err)
    }

    /// Remove a session by local index; false if there was none.
    #[napi]
    pub fn remove_session(&self, local_index: u32) -> bool {
        self.inner.remove_session(local_index)
    }

    /// Send raw bytes (handshake messages) from the engine's UDP socket.
    #[napi]
    pub fn send_frame(&self, endpoint: String, data: Buffer) -> Result<()> {
        let to = parse_endpoint(&endpoint)?;
        self.inner.send_frame(to, &data).map_err(engine_err)
    }

    /// Seal `data` as a CONTROL frame with the peer's current session and send it.
    #[napi]
    pub fn send_control(&self, peer_id: u32, data: Buffer) -> Result<()> {
        self.inner.send_control(peer_id, &data).map_err(engine_err)
    }

    /// Send an empty DATA frame (keepalive) with the peer's current session: direct to its
    /// endpoint, or end to end through its via hop (as its data goes).
    #[napi]
    pub fn send_keepalive(&self, peer_id: u32) -> Result<()> {
        self.inner.send_keepalive(peer_id).map_err(engine_err)
    }

    /// Replace the engine's own address and virtual prefix (CIDR like 10.77.0.5/16, or null to
    /// clear); with `assign` also set it on the OS interface.
    #[napi]
    pub fn set_address(&self, cidr: Option<String>, assign: bool) -> Result<()> {
        let a = cidr
            .as_deref()
            .map(config::parse_address)
            .transpose()
            .map_err(engine_err)?;
        self.inner.set_address(a, assign).map_err(engine_err)
    }

    /// Make the OS route exactly these IPv4 prefixes (CIDRs) through the device (netlink; routes we did
    /// not add are never touched, a prefix the host routes already is skipped; they go with the device).
    /// Returns [added, removed, skipped].
    #[napi]
    pub fn set_routes(&self, cidrs: Vec<String>) -> Result<Vec<u32>> {
        let nets = cidrs
            .iter()
            .map(|c| c.parse::<IpNet>().map_err(|e| err("E_ADDR", e)))
            .collect::<Result<Vec<_>>>()?;
        let (a, r, s) = self.inner.set_routes(&nets).map_err(engine_err)?;
        Ok(vec![a as u32, r as u32, s as u32])
    }

    /// Write one frame to the device (TAP: Ethernet frame; TUN: IP packet).
    #[napi]
    pub fn write_device(&self, frame: Buffer) -> Result<()> {
        self.inner.write_device(&frame).map_err(engine_err)
    }

    /// Take every queued event (call it when `onEvents` fires). Payloads are copied into
    /// V8-owned Buffers and the engine's copies freed here, so a slow control plane holds its
    /// events in memory V8 accounts for (and collects), not in the I/O thread's heap.
    #[napi]
    pub fn drain_events(&self, env: Env) -> Result<Vec<EngineEvent>> {
        self.inner
            .drain_events()
            .into_iter()
            .map(|e| convert::event(&env, e))
            .collect()
    }

    #[napi]
    pub fn stats(&self) -> EngineStats {
        convert::stats(self.inner.stats())
    }

    /// The bound UDP address, e.g. "0.0.0.0:51820".
    #[napi]
    pub fn local_addr(&self) -> String {
        self.inner.local_addr().to_string()
    }

    /// The device's interface name.
    #[napi]
    pub fn ifname(&self) -> String {
        self.inner.ifname().to_string()
    }

    /// Stop the threads and close the device. Idempotent; later sends fail with E_CLOSED.
    #[napi]
    pub fn close(&self) {
        self.inner.shutdown();
    }
}

/// Hold glibc's trim and mmap thresholds fixed (mallopt; see ringvpn_dataplane::fix_heap_thresholds),
/// so that memory freed at the top of a thread's arena goes back to the OS; true if glibc took
/// them. Process-wide: the daemon calls it once at start.
#[napi]
pub fn fix_native_heap_thresholds() -> bool {
    ringvpn_dataplane::fix_heap_thresholds()
}

/// Give the native heap's free pages back to the OS (glibc malloc_trim); true if any were
/// released. The daemon calls it after its periodic full collection.
#[napi]
pub fn trim_native_heap() -> bool {
    ringvpn_dataplane::trim_heap()
}
