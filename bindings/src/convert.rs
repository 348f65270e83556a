//! Owns the translation between JS values and engine types: the config, session keys, the event
//! union (one napi structured enum, so index.d.ts has a real discriminated union) and the stats
//! objects. Must not hold state or logic of its own; errors are `E_CODE: message`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use napi::bindgen_prelude::*;
use napi_derive::napi;
use ringvpn_core::relay_frame::{self, NodeId};
use ringvpn_dataplane::{config, DeviceMode, Event, SessionKeys};

pub(crate) fn err(code: &str, msg: impl std::fmt::Display) -> Error {
    Error::from_reason(format!("{code}: {msg}"))
}

pub(crate) fn engine_err(e: ringvpn_dataplane::Error) -> Error {
    Error::from_reason(e.to_string())
}

pub(crate) fn parse_endpoint(s: &str) -> Result<SocketAddr> {
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
    /// Destinations (CIDR) a member's packet may have to be written to the device: overlay mode
    /// gives the virtual subnet, the subnets this node routes, broadcast and multicast; others
    /// are dropped `dst_not_allowed`. Absent: any (a static mesh routes as configured).
    pub destinations: Option<Vec<String>>,
    /// Firewall mark (SO_MARK, 1..2^32-1) on the engine's UDP datagrams, for a full tunnel's policy
    /// routing; needs CAP_NET_ADMIN. Absent: none.
    pub fwmark: Option<u32>,
    /// As a relay for others' relay links: node-id pairs carried at once (default 512, at most
    /// 65536; 0 relays none); beyond it frames are dropped `relay_full`.
    pub relay_max_sessions: Option<u32>,
    /// As a relay: bytes per second per pair (default 0: no limit); beyond it `relay_rate`.
    pub relay_rate_bytes: Option<f64>,
    /// Device offloads (default true): virtio-net headers with checksum and TCP segmentation
    /// offload, so the kernel hands over 64 KB TCP super-packets that the engine splits. A kernel
    /// that refuses them leaves `offloads` at 0 in the stats.
    pub offload: Option<bool>,
}

/// Transport keys from the handshake (sendKey/recvKey 32 bytes each).
#[napi(object, js_name = "SessionKeys")]
pub struct SessionKeysInit {
    pub local_index: u32,
    pub remote_index: u32,
    pub send_key: Buffer,
    pub recv_key: Buffer,
    pub initiator: bool,
}

/// One engine event, tagged by `kind`. Addresses are strings (`from`: host:port, `dst`/`src`: IP).
/// handshake: a frame of type 1/2/3/7 as received from `from`; control: a decrypted CONTROL
/// payload; need_session: the device sent to a peer without a usable session (the packets are
/// held), or data sent to the peer went unanswered for LIMIT_KEEPALIVE_TIMEOUT_MS +
/// LIMIT_REKEY_TIMEOUT_MS (a stale session: once per such episode, either side); at most 1/s per
/// peer; rekey: this side's current session to the peer is due for a new handshake (its
/// initiator after 120 s, either side after 2^60 messages; once per session);
/// endpoint: an authenticated packet came from a new address `from`; device: an intercepted
/// DHCP/DNS frame (TAP: Ethernet frame, TUN: IP packet); miss: no route for the unicast `dst`
/// (at most 1/s each; the packets are held); source_unknown: an authenticated packet from the
/// peer with the 20-byte `nodeId` had inner source `src` outside its allowed prefixes (at most
/// 1/s per node id; the packet is held until a setPeer of that peer allows the source, or it
/// expires after PENDING_HOLD_MS and is dropped `source_not_allowed`).
#[napi(
    discriminant = "kind",
    discriminant_case = "snake_case",
    object_from_js = false
)]
pub enum EngineEvent {
    Handshake { from: String, data: Buffer },
    Control { peer_id: u32, data: Buffer },
    NeedSession { peer_id: u32 },
    Rekey { peer_id: u32, local_index: u32 },
    Endpoint { peer_id: u32, from: String },
    Device { data: Buffer },
    Miss { dst: String },
    SourceUnknown { node_id: Buffer, src: String },
}

#[napi(object, use_nullable = true)]
pub struct PeerStats {
    pub peer_id: u32,
    pub endpoint: Option<String>,
    /// Transport frames of every kind sealed or opened with this peer's sessions, frame bytes.
    pub rx_packets: i64,
    pub rx_bytes: i64,
    pub tx_packets: i64,
    pub tx_bytes: i64,
    /// DATA frames carrying an inner packet (not CONTROL, not keepalives), direct or relayed
    /// end to end; bytes are the inner IP packets'. rx counts packets delivered to the device.
    pub tx_data_packets: i64,
    pub tx_data_bytes: i64,
    pub rx_data_packets: i64,
    pub rx_data_bytes: i64,
    /// This peer's end-to-end frames sent inside RELAY frames through its via hop (outer frame
    /// bytes; the inner frames also count in txPackets/txBytes).
    pub tx_relayed_packets: i64,
    pub tx_relayed_bytes: i64,
    /// RELAY frames for us whose end-to-end frame from this peer opened (outer frame bytes;
    /// the inner frames also count in rxPackets/rxBytes).
    pub rx_relayed_packets: i64,
    pub rx_relayed_bytes: i64,
    /// Device packets held while this peer had the route but no usable session.
    pub pending_held: i64,
    /// Held packets (waiting for a route or a session) later sent to this peer.
    pub pending_released: i64,
    /// Packets from this peer held while their inner source was outside its allowed prefixes
    /// (a `source_unknown` event asked), and held packets a later setPeer allowed and wrote.
    pub rx_pending_held: i64,
    pub rx_pending_released: i64,
    /// Passive keepalives sent to this peer: it sent data and nothing went back for
    /// LIMIT_KEEPALIVE_TIMEOUT_MS (checked every second).
    pub keepalives_sent: i64,
    /// Times data to this peer went unanswered for LIMIT_KEEPALIVE_TIMEOUT_MS +
    /// LIMIT_REKEY_TIMEOUT_MS (its session may be gone at the peer): a `need_session` asked.
    pub stale_sessions: i64,
    /// Hex node id.
    pub node_id: Option<String>,
    /// Peer id of the via hop.
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
    /// Relay-link pairs this node carries for others (active within the last 60 s), and its limit
    /// (`relayMaxSessions`).
    pub relay_pairs: i64,
    pub relay_max_pairs: i64,
    /// Device frames handed up as `device` events.
    pub device_intercepted: i64,
    /// Device packets held for a route or a session (PENDING_*), and held packets later sent;
    /// the others were dropped `pending_overflow` / `pending_expired` (or on the way out).
    pub pending_held: i64,
    pub pending_released: i64,
    /// Received packets held for their inner source (overlay peers, up to PENDING_PER_DESTINATION
    /// per peer, PENDING_DESTINATIONS peers, PENDING_HOLD_MS), and held packets later written to
    /// the device; the others were dropped `source_not_allowed` (or `oversize`).
    pub rx_pending_held: i64,
    pub rx_pending_released: i64,
    /// Passive keepalives sent (data received, nothing sent back for LIMIT_KEEPALIVE_TIMEOUT_MS).
    pub keepalives_sent: i64,
    /// Stale sessions: data unanswered for LIMIT_KEEPALIVE_TIMEOUT_MS + LIMIT_REKEY_TIMEOUT_MS,
    /// a `need_session` event asked for a new handshake.
    pub stale_sessions: i64,
    /// The device offloads the kernel accepted (TUN_F_* flags: 1 checksum, 2 TSO4, 4 TSO6, 32
    /// USO4, 64 USO6 (Linux 6.2+); 0 none), TCP and UDP super-packets read from the device and
    /// the packets they were split into.
    pub offloads: u32,
    /// Whether the kernel accepted UDP GRO on the socket (false: one datagram per receive buffer).
    pub udp_gro: bool,
    pub gso_reads: i64,
    pub gso_segments: i64,
    /// Received TCP segments merged into a larger device write (GRO), and those writes.
    pub gro_merged: i64,
    pub gro_writes: i64,
    /// UDP GSO messages sent (several datagrams each), and kernel refusals (then one each).
    pub udp_gso_sends: i64,
    pub udp_gso_refused: i64,
    #[napi(ts_type = "Record<string, number>")]
    pub drops: HashMap<String, i64>,
    pub peers: Vec<PeerStats>,
}

pub(crate) fn to_config(c: EngineConfig) -> Result<config::EngineConfig> {
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
    if let Some(m) = c.fwmark {
        if m == 0 {
            return Err(err(
                "E_CONFIG",
                "fwmark 0 marks nothing (want 1..4294967295)",
            ));
        }
        cfg.fwmark = Some(m);
    }
    if let Some(d) = c.destinations.as_ref() {
        cfg.destinations = Some(
            d.iter()
                .map(|s| {
                    s.parse::<ringvpn_core::ip::IpNet>()
                        .map_err(|e| err("E_ADDR", format!("bad destination {s:?}: {e}")))
                })
                .collect::<Result<_>>()?,
        );
    }
    cfg.offload = c.offload.unwrap_or(true);
    if let Some(n) = c.relay_max_sessions {
        cfg.relay_max_sessions = n;
    }
    if let Some(r) = c.relay_rate_bytes {
        if !(0.0..=9_007_199_254_740_991.0).contains(&r) {
            return Err(err(
                "E_CONFIG",
                format!("relayRateBytes {r} must be a non-negative integer"),
            ));
        }
        cfg.relay_rate_bytes = r as u64;
    }
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

pub(crate) fn session_keys(k: &SessionKeysInit) -> Result<SessionKeys> {
    Ok(SessionKeys {
        local_index: k.local_index,
        remote_index: k.remote_index,
        send_key: key(&k.send_key, "sendKey")?,
        recv_key: key(&k.recv_key, "recvKey")?,
        initiator: k.initiator,
    })
}

pub(crate) fn node_id(b: &Buffer, name: &str) -> Result<NodeId> {
    <NodeId>::try_from(&b[..]).map_err(|_| {
        err(
            "E_CONFIG",
            format!(
                "{name} must be {} bytes, got {}",
                relay_frame::NODE_ID_LEN,
                b.len()
            ),
        )
    })
}

/// A V8-owned copy of `data`; the caller drops the engine's `Vec` right after. (An external
/// Buffer over the `Vec` would keep it alive until V8 finalizes the Buffer, uncounted by V8.)
fn copied(env: &Env, data: &[u8]) -> Result<Buffer> {
    BufferSlice::copy_from(env, data)?.into_buffer(env)
}

pub(crate) fn event(env: &Env, e: Event) -> Result<EngineEvent> {
    Ok(match e {
        Event::Handshake { from, data } => EngineEvent::Handshake {
            from: from.to_string(),
            data: copied(env, &data)?,
        },
        Event::Control { peer, data } => EngineEvent::Control {
            peer_id: peer,
            data: copied(env, &data)?,
        },
        Event::NeedSession { peer } => EngineEvent::NeedSession { peer_id: peer },
        Event::Rekey { peer, local_index } => EngineEvent::Rekey {
            peer_id: peer,
            local_index,
        },
        Event::Endpoint { peer, addr } => EngineEvent::Endpoint {
            peer_id: peer,
            from: addr.to_string(),
        },
        Event::Device { data } => EngineEvent::Device {
            data: copied(env, &data)?,
        },
        Event::Miss { dst } => EngineEvent::Miss {
            dst: dst.to_string(),
        },
        Event::SourceUnknown { node, addr } => EngineEvent::SourceUnknown {
            node_id: copied(env, &node)?,
            src: addr.to_string(),
        },
    })
}

fn n(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn stats(s: ringvpn_dataplane::Stats) -> EngineStats {
    EngineStats {
        rx_packets: n(s.rx_packets),
        rx_bytes: n(s.rx_bytes),
        tx_packets: n(s.tx_packets),
        tx_bytes: n(s.tx_bytes),
        relay_forwarded: n(s.relay_forwarded),
        relay_pairs: n(s.relay_pairs),
        relay_max_pairs: n(s.relay_max_pairs),
        device_intercepted: n(s.device_intercepted),
        pending_held: n(s.pending_held),
        pending_released: n(s.pending_released),
        rx_pending_held: n(s.rx_pending_held),
        rx_pending_released: n(s.rx_pending_released),
        keepalives_sent: n(s.keepalives_sent),
        stale_sessions: n(s.stale_sessions),
        offloads: s.offloads,
        udp_gro: s.udp_gro,
        gso_reads: n(s.gso_reads),
        gso_segments: n(s.gso_segments),
        gro_merged: n(s.gro_merged),
        gro_writes: n(s.gro_writes),
        udp_gso_sends: n(s.udp_gso_sends),
        udp_gso_refused: n(s.udp_gso_refused),
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
                tx_data_packets: n(p.tx_data_packets),
                tx_data_bytes: n(p.tx_data_bytes),
                rx_data_packets: n(p.rx_data_packets),
                rx_data_bytes: n(p.rx_data_bytes),
                tx_relayed_packets: n(p.tx_relayed_packets),
                tx_relayed_bytes: n(p.tx_relayed_bytes),
                rx_relayed_packets: n(p.rx_relayed_packets),
                rx_relayed_bytes: n(p.rx_relayed_bytes),
                pending_held: n(p.pending_held),
                pending_released: n(p.pending_released),
                rx_pending_held: n(p.rx_pending_held),
                rx_pending_released: n(p.rx_pending_released),
                keepalives_sent: n(p.keepalives_sent),
                stale_sessions: n(p.stale_sessions),
                node_id: p.node_id.as_ref().map(relay_frame::to_hex),
                via: p.via,
                relay_only: p.relay_only,
                last_handshake_ms: p.last_handshake_ms.map(n),
                last_rx_ms: p.last_rx_ms.map(n),
                sessions: u32::try_from(p.sessions).unwrap_or(u32::MAX),
            })
            .collect(),
    }
}
