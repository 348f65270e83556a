//! N-API binding for the ringvpn data plane: translates JS values to engine commands and
//! engine events/stats back to plain JS objects. Must not hold logic or state of its own:
//! everything lives in ringvpn-dataplane / ringvpn-core. Errors are `E_CODE: message`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use ringvpn_core::relay::{self, NodeId};
use ringvpn_core::{frame, ip::IpNet, DropReason};
use ringvpn_dataplane::{config, DeviceMode, Event, PeerOpts, SessionKeys};

// ---- constants shared with TypeScript (defined once, in ringvpn-core) ----
#[napi]
pub const FRAME_TYPE_HANDSHAKE_INIT: u32 = frame::TYPE_HANDSHAKE_INIT as u32;
#[napi]
pub const FRAME_TYPE_HANDSHAKE_RESP: u32 = frame::TYPE_HANDSHAKE_RESP as u32;
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
pub const RELAY_HEADER_LEN: u32 = relay::RELAY_HEADER_LEN as u32;
#[napi]
pub const RELAY_DEFAULT_TTL: u32 = relay::DEFAULT_TTL as u32;
#[napi]
pub const NODE_ID_LEN: u32 = relay::NODE_ID_LEN as u32;

/// Every drop reason code, in counter order.
#[napi]
pub fn drop_reasons() -> Vec<String> {
    DropReason::ALL
        .iter()
        .map(|r| r.as_str().to_string())
        .collect()
}

fn err(code: &str, msg: impl std::fmt::Display) -> Error {
    Error::from_reason(format!("{code}: {msg}"))
}

fn engine_err(e: ringvpn_dataplane::Error) -> Error {
    Error::from_reason(e.to_string())
}

fn parse_endpoint(s: &str) -> Result<SocketAddr> {
    s.parse().map_err(|_| {
        err(
            "E_ADDR",
            format!("bad endpoint {s:?} (want host:port or [v6]:port)"),
        )
    })
}

#[napi(object)]
pub struct EngineConfig {
    #[napi(ts_type = "'tap' | 'tun'")]
    pub mode: String,
    pub ifname: String,
    /// Default 1420.
    pub mtu: Option<u32>,
    pub listen_port: u32,
    /// Default 0.0.0.0.
    pub listen_address: Option<String>,
    /// Device address as CIDR, e.g. 10.77.0.1/24.
    pub address: Option<String>,
    /// Default 02:52:56:00:00:01.
    pub virtual_mac: Option<String>,
    /// Hot-path threads, 1 (default: both directions on one thread) or 2 (one per direction).
    pub threads: Option<u32>,
    /// This node's 20-byte overlay id; relaying is disabled without it.
    pub node_id: Option<Buffer>,
    /// IPv4 address whose UDP port 53 queries are handed up as `device` events.
    pub service_address: Option<String>,
    /// Hand DHCP requests (IPv4 UDP to port 67) up as `device` events. Default false.
    pub intercept_dhcp: Option<bool>,
}

#[napi(object)]
pub struct SessionInit {
    pub local_index: u32,
    pub remote_index: u32,
    pub send_key: Buffer,
    pub recv_key: Buffer,
    pub initiator: bool,
}

#[napi(object)]
pub struct EngineEvent {
    #[napi(
        ts_type = "'handshake' | 'control' | 'need_session' | 'rekey' | 'endpoint' | 'device' | 'miss' | 'source_unknown'"
    )]
    pub kind: String,
    /// handshake: source address; endpoint: the peer's new address; miss: the destination IP;
    /// source_unknown: the inner source IP that is not in the peer's allowed prefixes.
    pub from: Option<String>,
    pub peer_id: Option<u32>,
    /// rekey: the session's local index.
    pub local_index: Option<u32>,
    /// handshake: the whole frame; control: the decrypted payload; device: the intercepted
    /// frame (TAP: Ethernet frame, TUN: IP packet); source_unknown: the peer's 20-byte node id.
    pub data: Option<Buffer>,
}

#[napi(object)]
pub struct PeerStats {
    pub peer_id: u32,
    pub endpoint: Option<String>,
    pub rx_packets: i64,
    pub rx_bytes: i64,
    pub tx_packets: i64,
    pub tx_bytes: i64,
    /// This peer's end-to-end frames sent inside RELAY frames through its via hop (outer frame
    /// bytes; the inner frames also count in txPackets/txBytes).
    pub tx_relayed_packets: i64,
    pub tx_relayed_bytes: i64,
    /// RELAY frames for us whose end-to-end frame from this peer opened (outer frame bytes;
    /// the inner frames also count in rxPackets/rxBytes).
    pub rx_relayed_packets: i64,
    pub rx_relayed_bytes: i64,
    /// Hex node id, or null.
    pub node_id: Option<String>,
    /// Peer id of the via hop, or null.
    pub via: Option<u32>,
    /// Sent through the via hop even with an endpoint.
    pub relay_only: bool,
    /// Unix ms of the last setSession.
    pub last_handshake_ms: Option<i64>,
    /// Unix ms of the last authenticated packet.
    pub last_rx_ms: Option<i64>,
    pub sessions: u32,
}

#[napi(object)]
pub struct EngineStats {
    pub rx_packets: i64,
    pub rx_bytes: i64,
    pub tx_packets: i64,
    pub tx_bytes: i64,
    /// RELAY frames forwarded to a next hop.
    pub relay_forwarded: i64,
    /// Device frames handed up as `device` events.
    pub device_intercepted: i64,
    #[napi(ts_type = "Record<string, number>")]
    pub drops: HashMap<String, i64>,
    pub peers: Vec<PeerStats>,
}

fn to_config(c: EngineConfig) -> Result<config::EngineConfig> {
    let mode = match c.mode.as_str() {
        "tap" => DeviceMode::Tap,
        "tun" => DeviceMode::Tun,
        m => {
            return Err(err(
                "E_CONFIG",
                format!("mode must be 'tap' or 'tun', got {m:?}"),
            ))
        }
    };
    let port = u16::try_from(c.listen_port)
        .map_err(|_| err("E_CONFIG", format!("listenPort {} > 65535", c.listen_port)))?;
    let host: IpAddr = match c.listen_address.as_deref() {
        None | Some("") => IpAddr::from([0, 0, 0, 0]),
        Some(a) => a
            .parse()
            .map_err(|_| err("E_ADDR", format!("bad listenAddress {a:?}")))?,
    };
    let mut cfg = config::EngineConfig::new(mode, &c.ifname, SocketAddr::new(host, port));
    if let Some(m) = c.mtu {
        cfg.mtu = m;
    }
    if let Some(a) = c.address.as_deref() {
        cfg.address = Some(config::parse_address(a).map_err(engine_err)?);
    }
    if let Some(m) = c.virtual_mac.as_deref() {
        cfg.virtual_mac = config::parse_mac(m).map_err(engine_err)?;
    }
    if let Some(t) = c.threads {
        cfg.threads = u8::try_from(t).unwrap_or(u8::MAX);
    }
    if let Some(b) = c.node_id.as_ref() {
        cfg.node_id = Some(node_id(b, "nodeId")?);
    }
    if let Some(a) = c.service_address.as_deref() {
        cfg.service_address = Some(
            a.parse::<Ipv4Addr>()
                .map_err(|_| err("E_ADDR", format!("bad serviceAddress {a:?} (want IPv4)")))?,
        );
    }
    cfg.intercept_dhcp = c.intercept_dhcp.unwrap_or(false);
    cfg.validate().map_err(engine_err)?;
    Ok(cfg)
}

fn key(b: &Buffer, name: &str) -> Result<[u8; 32]> {
    <[u8; 32]>::try_from(&b[..]).map_err(|_| {
        err(
            "E_CONFIG",
            format!("{name} must be 32 bytes, got {}", b.len()),
        )
    })
}

fn node_id(b: &Buffer, name: &str) -> Result<NodeId> {
    <NodeId>::try_from(&b[..]).map_err(|_| {
        err(
            "E_CONFIG",
            format!(
                "{name} must be {} bytes, got {}",
                relay::NODE_ID_LEN,
                b.len()
            ),
        )
    })
}

fn event(e: Event) -> EngineEvent {
    let mut out = EngineEvent {
        kind: String::new(),
        from: None,
        peer_id: None,
        local_index: None,
        data: None,
    };
    match e {
        Event::Handshake { from, data } => {
            out.kind = "handshake".into();
            out.from = Some(from.to_string());
            out.data = Some(data.into());
        }
        Event::Control { peer, data } => {
            out.kind = "control".into();
            out.peer_id = Some(peer);
            out.data = Some(data.into());
        }
        Event::NeedSession { peer } => {
            out.kind = "need_session".into();
            out.peer_id = Some(peer);
        }
        Event::Rekey { peer, local_index } => {
            out.kind = "rekey".into();
            out.peer_id = Some(peer);
            out.local_index = Some(local_index);
        }
        Event::Endpoint { peer, addr } => {
            out.kind = "endpoint".into();
            out.peer_id = Some(peer);
            out.from = Some(addr.to_string());
        }
        Event::Device { data } => {
            out.kind = "device".into();
            out.data = Some(data.into());
        }
        Event::Miss { dst } => {
            out.kind = "miss".into();
            out.from = Some(dst.to_string());
        }
        Event::SourceUnknown { node, addr } => {
            out.kind = "source_unknown".into();
            out.from = Some(addr.to_string());
            out.data = Some(node.to_vec().into());
        }
    }
    out
}

fn n(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The native data plane: a TUN/TAP device, one UDP socket and two packet threads.
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
        let cfg = to_config(config)?;
        let notify = Box::new(move || {
            let _ = on_events.call((), ThreadsafeFunctionCallMode::NonBlocking);
        });
        let inner = ringvpn_dataplane::Engine::start(cfg, notify).map_err(engine_err)?;
        Ok(Engine { inner })
    }

    /// Add or update a peer. `endpoint` null keeps the current one (or none). `opts.nodeId`
    /// (20 bytes) sets the peer's overlay id; `opts.via` sets (number) or clears (null) the
    /// peer id of the overlay hop that carries this peer's end-to-end frames while it has no
    /// endpoint; `opts.relayOnly` (default false) sends through `via` even with an endpoint.
    /// Omitted fields keep their current values.
    #[napi(
        ts_args_type = "peerId: number, endpoint: string | null, allowedIps: string[], opts?: { nodeId?: Buffer; via?: number | null; relayOnly?: boolean }"
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
        }
        self.inner
            .set_peer(peer_id, endpoint, allowed, po)
            .map_err(engine_err)
    }

    #[napi]
    pub fn remove_peer(&self, peer_id: u32) -> bool {
        self.inner.remove_peer(peer_id)
    }

    #[napi]
    pub fn set_session(&self, peer_id: u32, session: SessionInit) -> Result<()> {
        let keys = SessionKeys {
            local_index: session.local_index,
            remote_index: session.remote_index,
            send_key: key(&session.send_key, "sendKey")?,
            recv_key: key(&session.recv_key, "recvKey")?,
            initiator: session.initiator,
        };
        self.inner.set_session(peer_id, &keys).map_err(engine_err)
    }

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

    /// Send an empty DATA frame to the peer.
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

    /// Write one frame to the device (TAP: Ethernet frame; TUN: IP packet).
    #[napi]
    pub fn write_device(&self, frame: Buffer) -> Result<()> {
        self.inner.write_device(&frame).map_err(engine_err)
    }

    #[napi]
    pub fn drain_events(&self) -> Vec<EngineEvent> {
        self.inner.drain_events().into_iter().map(event).collect()
    }

    #[napi]
    pub fn stats(&self) -> EngineStats {
        let s = self.inner.stats();
        EngineStats {
            rx_packets: n(s.rx_packets),
            rx_bytes: n(s.rx_bytes),
            tx_packets: n(s.tx_packets),
            tx_bytes: n(s.tx_bytes),
            relay_forwarded: n(s.relay_forwarded),
            device_intercepted: n(s.device_intercepted),
            drops: s
                .drops
                .iter()
                .map(|(r, c)| (r.as_str().to_string(), n(*c)))
                .collect(),
            peers: s
                .peers
                .into_iter()
                .map(|p| PeerStats {
                    peer_id: p.peer,
                    endpoint: p.endpoint.map(|e| e.to_string()),
                    rx_packets: n(p.rx_packets),
                    rx_bytes: n(p.rx_bytes),
                    tx_packets: n(p.tx_packets),
                    tx_bytes: n(p.tx_bytes),
                    tx_relayed_packets: n(p.tx_relayed_packets),
                    tx_relayed_bytes: n(p.tx_relayed_bytes),
                    rx_relayed_packets: n(p.rx_relayed_packets),
                    rx_relayed_bytes: n(p.rx_relayed_bytes),
                    node_id: p.node_id.as_ref().map(relay::to_hex),
                    via: p.via,
                    relay_only: p.relay_only,
                    last_handshake_ms: p.last_handshake_ms.map(n),
                    last_rx_ms: p.last_rx_ms.map(n),
                    sessions: u32::try_from(p.sessions).unwrap_or(u32::MAX),
                })
                .collect(),
        }
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
