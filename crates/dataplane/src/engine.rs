//! Owns the engine's lifecycle and command surface: opening the device and socket, starting and
//! joining the hot-path thread(s) (one by default, two with `threads: 2`), table commands, the
//! runtime address, raw/control/keepalive sends, device writes, events and stats. Must not decide
//! policy (who is a peer, which keys, which relay): callers do.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use ringvpn_core::ether::ETH_HEADER_LEN;
use ringvpn_core::frame::{HEADER_LEN, TAG_LEN, TYPE_CONTROL};
use ringvpn_core::ip::{IpNet, IPV4_MIN_HEADER};
use ringvpn_core::session::SessionKeys;
use ringvpn_core::DropReason;
use tokio_util::sync::CancellationToken;

use crate::config::{DeviceMode, EngineConfig};
use crate::device::Device;
use crate::error::Error;
use crate::events::{Event, EventQueue, Notify};
use crate::io_loop::{run, Role};
use crate::pipeline::{TxAction, HEADROOM, TAILROOM};
use crate::relay_limit::RelayLimit;
use crate::routes::{DeviceRoute, RouteSet};
use crate::shared::Shared;
use crate::stats::{PeerStats, Stats};
use crate::tables::PeerOpts;
use crate::udp;

struct Running {
    cancel: CancellationToken,
    threads: Vec<JoinHandle<()>>,
    device: Arc<Device>,
}

/// A running data plane. Dropping it shuts it down.
pub struct Engine {
    shared: Arc<Shared>,
    udp: Arc<UdpSocket>,
    local: SocketAddr,
    ifname: String,
    /// The device offloads the kernel accepted (TUN_F_* flags).
    offloads: u32,
    /// Whether the kernel accepted UDP GRO on the socket.
    udp_gro: bool,
    running: Mutex<Option<Running>>,
    /// The OS routes installed through the device (routes.rs), and the socket that made them.
    routes: Mutex<RouteSet>,
}

impl Engine {
    /// Open the device and socket and start the hot-path thread(s) (`cfg.threads`). `notify`
    /// is called (from an engine thread) whenever the event queue goes from empty to non-empty.
    pub fn start(cfg: EngineConfig, notify: Notify) -> Result<Engine, Error> {
        cfg.validate()?;
        let sock = udp::bind(cfg.listen, cfg.fwmark).map_err(|e| {
            let mark = cfg
                .fwmark
                .map_or(String::new(), |m| format!(" with fwmark {m:#x}"));
            Error::Socket(format!("bind {}{mark}: {e}", cfg.listen))
        })?;
        // best effort: a kernel without UDP GRO delivers one datagram per buffer, as before
        let udp_gro = cfg.offload && udp::enable_gro(&sock);
        let local = sock
            .local_addr()
            .map_err(|e| Error::Socket(e.to_string()))?;
        let dev = Device::open(cfg.mode, &cfg.ifname, cfg.mtu, cfg.address, cfg.offload).map_err(
            |e| {
                let hint = if e.kind() == std::io::ErrorKind::PermissionDenied {
                    " (needs root or CAP_NET_ADMIN)"
                } else {
                    ""
                };
                Error::Device(format!("open {} {:?}: {e}{hint}", cfg.ifname, cfg.mode))
            },
        )?;
        let mut shared = Shared::new(
            cfg.mode,
            cfg.virtual_mac,
            cfg.address,
            EventQueue::new(cfg.event_capacity, notify),
        );
        shared.node_id = cfg.node_id;
        shared.service_addr = cfg.service_address;
        shared.intercept_dhcp = cfg.intercept_dhcp;
        shared.destinations = cfg.destinations.clone();
        shared.relay_limit = Mutex::new(RelayLimit::new(
            cfg.relay_max_sessions,
            cfg.relay_rate_bytes,
        ));
        let shared = Arc::new(shared);
        if cfg.mode == DeviceMode::Tap {
            if let Ok(m) = dev.hw_addr() {
                shared.set_os_mac(&m);
            }
        }
        let ifname = dev.name().to_string();
        let offloads = dev.offloads();
        let device = Arc::new(dev);
        let udp = Arc::new(sock);
        let cancel = CancellationToken::new();
        let mut threads = Vec::new();
        let roles: &[Role] = if cfg.threads == 1 {
            &[Role::Both]
        } else {
            &[Role::Tx, Role::Rx]
        };
        for &role in roles {
            let (s, d, u, c) = (shared.clone(), device.clone(), udp.clone(), cancel.clone());
            let name = role.thread_name();
            let h = std::thread::Builder::new()
                .name(name.into())
                .spawn(move || {
                    let r = run(role, s, d, u, c);
                    if let Err(e) = r {
                        eprintln!("ringvpn: {name} thread stopped: {e}");
                    }
                })
                .map_err(|e| Error::Device(format!("spawn {name}: {e}")));
            match h {
                Ok(h) => threads.push(h),
                Err(e) => {
                    cancel.cancel();
                    for t in threads {
                        let _ = t.join();
                    }
                    return Err(e);
                }
            }
        }
        Ok(Engine {
            shared,
            udp,
            local,
            ifname,
            offloads,
            udp_gro,
            routes: Mutex::new(RouteSet::default()),
            running: Mutex::new(Some(Running {
                cancel,
                threads,
                device,
            })),
        })
    }

    fn ensure_running(&self) -> Result<(), Error> {
        self.device().map(|_| ())
    }

    /// The open device, or `Closed`.
    fn device(&self) -> Result<Arc<Device>, Error> {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|r| r.device.clone())
            .ok_or(Error::Closed)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    /// Add or update a peer; `opts` fields that are `None` keep their current values.
    pub fn set_peer(
        &self,
        peer: u32,
        endpoint: Option<SocketAddr>,
        allowed: Vec<IpNet>,
        opts: PeerOpts,
    ) -> Result<(), Error> {
        if opts.via == Some(Some(peer)) {
            return Err(Error::Peer(format!("peer {peer} cannot be its own via")));
        }
        self.shared
            .tables
            .set_peer_with(peer, endpoint, allowed, opts);
        // A new route may release packets held for it (pending.rs, on the device side), and the
        // peer's new prefixes decide its packets held for their source (rx_pending.rs, rx side).
        self.shared.pending_wake.notify_one();
        self.shared.rx_pending_wake.notify_one();
        Ok(())
    }

    /// Replace the engine's own address and virtual prefix (ARP proxy, miss filtering); with
    /// `assign` also set it on the OS interface (`None` removes it there).
    pub fn set_address(&self, address: Option<(Ipv4Addr, u8)>, assign: bool) -> Result<(), Error> {
        if let Some((_, p)) = address {
            if p > 32 {
                return Err(Error::Addr(format!("prefix length {p} > 32")));
            }
        }
        if assign {
            let dev = self.device()?;
            dev.set_address(address)
                .map_err(|e| Error::Device(format!("set address on {}: {e}", self.ifname)))?;
        }
        self.shared.set_address(address);
        Ok(())
    }

    /// Make the OS route exactly these IPv4 prefixes through the device (netlink, routes.rs): new ones are
    /// added, ones no longer wanted removed; routes we did not add are never touched. TUN: on-link; TAP:
    /// via the service address when there is one (the engine answers its ARP), else on-link (the engine
    /// answers ARP for every routed address). A prefix the host already routes (its LAN, another tool's
    /// route) is left alone and counted as skipped; /0 is never installed (a full tunnel does that by
    /// policy routing). Ours are added again when missing (the kernel drops a device's routes when it
    /// loses its last address, e.g. a DHCP client's deconfig), so calling it again with the same list
    /// repairs them. Returns how many were added (or restored), removed and skipped.
    pub fn set_routes(&self, prefixes: &[IpNet]) -> Result<(usize, usize, usize), Error> {
        let gateway = match self.shared.mode {
            DeviceMode::Tap => self.shared.service_addr,
            DeviceMode::Tun => None,
        };
        let want: HashSet<DeviceRoute> = prefixes
            .iter()
            .filter(|n| n.prefix_len() > 0)
            .filter_map(|n| DeviceRoute::new(*n, gateway))
            .collect();
        let ifindex = crate::device::if_index(&self.ifname);
        if ifindex == 0 {
            return Err(Error::Device(format!(
                "{} has no interface index",
                self.ifname
            )));
        }
        let mut g = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        g.sync(ifindex, want)
            .map_err(|e| Error::Device(format!("routes through {}: {e}", self.ifname)))
    }

    pub fn address(&self) -> Option<(Ipv4Addr, u8)> {
        self.shared.address()
    }

    /// Write one frame to the device (TAP: Ethernet frame; TUN: IP packet), e.g. a DHCP or DNS
    /// reply built by the control plane. Rejected and failed writes count `device_write`.
    pub fn write_device(&self, frame: &[u8]) -> Result<(), Error> {
        let dev = self.device()?;
        let mtu = dev.mtu() as usize;
        let (min, max) = match self.shared.mode {
            DeviceMode::Tun => (IPV4_MIN_HEADER, mtu),
            DeviceMode::Tap => (ETH_HEADER_LEN, mtu + ETH_HEADER_LEN),
        };
        if !(min..=max).contains(&frame.len()) {
            self.shared.counters.drop(DropReason::DeviceWrite);
            return Err(Error::Frame(format!(
                "device frame of {} bytes outside {min}..={max}",
                frame.len()
            )));
        }
        match dev.write(frame) {
            Ok(_) => Ok(()),
            Err(e) => {
                self.shared.counters.drop(DropReason::DeviceWrite);
                Err(Error::Device(format!("write to {}: {e}", self.ifname)))
            }
        }
    }

    pub fn remove_peer(&self, peer: u32) -> bool {
        let removed = self.shared.tables.remove_peer(peer);
        // Its packets held for their source are dropped now rather than at expiry.
        self.shared.rx_pending_wake.notify_one();
        removed
    }

    pub fn set_session(&self, peer: u32, keys: &SessionKeys) -> Result<(), Error> {
        let now = Instant::now();
        if self
            .shared
            .tables
            .set_session(peer, keys, now, self.shared.now_ms(now))
        {
            self.shared.pending_wake.notify_one();
            Ok(())
        } else {
            Err(Error::Peer(format!("unknown peer {peer}")))
        }
    }

    pub fn remove_session(&self, local_index: u32) -> bool {
        self.shared.tables.remove_session(local_index)
    }

    /// Send raw bytes (a handshake message) from the engine's socket.
    pub fn send_frame(&self, to: SocketAddr, data: &[u8]) -> Result<(), Error> {
        self.ensure_running()?;
        match self.udp.send_to(data, to) {
            Ok(n) => {
                self.shared
                    .counters
                    .tx
                    .packets
                    .fetch_add(1, Ordering::Relaxed);
                self.shared
                    .counters
                    .tx
                    .bytes
                    .fetch_add(n as u64, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.shared.counters.drop(DropReason::UdpSend);
                Err(Error::Socket(format!("send to {to}: {e}")))
            }
        }
    }

    /// Seal `payload` as a `kind` frame with the peer's current session (or its unconfirmed
    /// next one) and send it: directly to its endpoint, or end to end inside a RELAY frame
    /// through its via hop when it has none (or is `relay_only`): a relay link.
    fn send_sealed(&self, peer: u32, kind: u8, payload: &[u8]) -> Result<(), Error> {
        self.ensure_running()?;
        let tables = self.shared.tables.load();
        let p = tables
            .peers
            .get(&peer)
            .ok_or_else(|| Error::Peer(format!("unknown peer {peer}")))?;
        let now = Instant::now();
        let s = p
            .control_session(now)
            .ok_or_else(|| Error::Session(format!("peer {peer} has no valid session")))?;
        let Some(to) = self.shared.direct_endpoint(&tables, p, now) else {
            let mut buf = vec![0u8; HEADROOM + payload.len() + TAILROOM];
            buf[HEADROOM..HEADROOM + payload.len()].copy_from_slice(payload);
            return match self
                .shared
                .send_via(&tables, p, s, kind, &mut buf, payload.len(), now)
            {
                TxAction::Send { to, start, len } => self.send_frame(to, &buf[start..start + len]),
                TxAction::Drop(DropReason::NoEndpoint) => Err(Error::Session(format!(
                    "peer {peer} has no endpoint and no usable via hop"
                ))),
                TxAction::Drop(r) => Err(Error::Session(format!("to peer {peer}: {r}"))),
                _ => Ok(()),
            };
        };
        let mut buf = vec![0u8; HEADER_LEN + payload.len() + TAG_LEN];
        buf[HEADER_LEN..HEADER_LEN + payload.len()].copy_from_slice(payload);
        let len = s
            .session
            .seal(kind, &mut buf, payload.len(), now)
            .map_err(|r| Error::Session(format!("seal: {r}")))?;
        self.send_frame(to, &buf[..len])?;
        p.state.tx_packets.fetch_add(1, Ordering::Relaxed);
        p.state.tx_bytes.fetch_add(len as u64, Ordering::Relaxed);
        p.state.stamp_tx(false, self.shared.now_ms(now));
        Ok(())
    }

    /// Seal `data` as a CONTROL frame with the peer's current session and send it.
    pub fn send_control(&self, peer: u32, data: &[u8]) -> Result<(), Error> {
        self.send_sealed(peer, TYPE_CONTROL, data)
    }

    /// Send an empty DATA frame (keepalive) with the peer's current session: direct to its
    /// endpoint, or end to end through its via hop (as its data goes).
    pub fn send_keepalive(&self, peer: u32) -> Result<(), Error> {
        self.ensure_running()?;
        let tables = self.shared.tables.load();
        let p = tables
            .peers
            .get(&peer)
            .ok_or_else(|| Error::Peer(format!("unknown peer {peer}")))?;
        let mut buf = [0u8; HEADROOM + TAILROOM];
        match self.shared.keepalive(&tables, p, &mut buf, Instant::now()) {
            TxAction::Send { to, start, len } => self.send_frame(to, &buf[start..start + len]),
            TxAction::Drop(DropReason::NoSession) => {
                Err(Error::Session(format!("peer {peer} has no valid session")))
            }
            TxAction::Drop(DropReason::NoEndpoint) => Err(Error::Session(format!(
                "peer {peer} has no endpoint and no usable via hop"
            ))),
            TxAction::Drop(r) => Err(Error::Session(format!("keepalive to peer {peer}: {r}"))),
            _ => Ok(()),
        }
    }

    pub fn drain_events(&self) -> Vec<Event> {
        self.shared.events.drain()
    }

    pub fn stats(&self) -> Stats {
        let c = &self.shared.counters;
        let (relay_pairs, relay_max) = {
            let l = self
                .shared
                .relay_limit
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            (l.live(self.shared.now_ms(Instant::now())), l.max())
        };
        let tables = self.shared.tables.load();
        let mut peers: Vec<PeerStats> = tables
            .peers
            .values()
            .map(|p| {
                let s = &p.state;
                PeerStats {
                    peer: s.id,
                    endpoint: s.endpoint(),
                    rx_packets: s.rx_packets.load(Ordering::Relaxed),
                    rx_bytes: s.rx_bytes.load(Ordering::Relaxed),
                    tx_packets: s.tx_packets.load(Ordering::Relaxed),
                    tx_bytes: s.tx_bytes.load(Ordering::Relaxed),
                    tx_data_packets: s.tx_data_packets.load(Ordering::Relaxed),
                    tx_data_bytes: s.tx_data_bytes.load(Ordering::Relaxed),
                    rx_data_packets: s.rx_data_packets.load(Ordering::Relaxed),
                    rx_data_bytes: s.rx_data_bytes.load(Ordering::Relaxed),
                    tx_relayed_packets: s.tx_relayed_packets.load(Ordering::Relaxed),
                    tx_relayed_bytes: s.tx_relayed_bytes.load(Ordering::Relaxed),
                    rx_relayed_packets: s.rx_relayed_packets.load(Ordering::Relaxed),
                    rx_relayed_bytes: s.rx_relayed_bytes.load(Ordering::Relaxed),
                    pending_held: s.pending_held.load(Ordering::Relaxed),
                    pending_released: s.pending_released.load(Ordering::Relaxed),
                    rx_pending_held: s.rx_pending_held.load(Ordering::Relaxed),
                    rx_pending_released: s.rx_pending_released.load(Ordering::Relaxed),
                    keepalives_sent: s.keepalives_sent.load(Ordering::Relaxed),
                    stale_sessions: s.stale_sessions.load(Ordering::Relaxed),
                    node_id: p.node_id,
                    via: p.via,
                    relay_only: p.relay_only,
                    last_handshake_ms: self
                        .shared
                        .unix_ms(s.last_handshake_ms.load(Ordering::Relaxed)),
                    last_rx_ms: self.shared.unix_ms(s.last_rx_ms()),
                    sessions: p.sessions.len(),
                }
            })
            .collect();
        peers.sort_by_key(|p| p.peer);
        Stats {
            rx_packets: c.rx.packets.load(Ordering::Relaxed),
            rx_bytes: c.rx.bytes.load(Ordering::Relaxed),
            tx_packets: c.tx.packets.load(Ordering::Relaxed),
            tx_bytes: c.tx.bytes.load(Ordering::Relaxed),
            relay_forwarded: c.relay_forwarded.load(Ordering::Relaxed),
            relay_pairs: relay_pairs as u64,
            relay_max_pairs: relay_max as u64,
            device_intercepted: c.device_intercepted.load(Ordering::Relaxed),
            pending_held: c.pending_held.load(Ordering::Relaxed),
            pending_released: c.pending_released.load(Ordering::Relaxed),
            rx_pending_held: c.rx_pending_held.load(Ordering::Relaxed),
            rx_pending_released: c.rx_pending_released.load(Ordering::Relaxed),
            keepalives_sent: c.keepalives_sent.load(Ordering::Relaxed),
            stale_sessions: c.stale_sessions.load(Ordering::Relaxed),
            offloads: self.offloads,
            udp_gro: self.udp_gro,
            gso_reads: c.gso_reads.load(Ordering::Relaxed),
            gso_segments: c.gso_segments.load(Ordering::Relaxed),
            gro_merged: c.gro_merged.load(Ordering::Relaxed),
            gro_writes: c.gro_writes.load(Ordering::Relaxed),
            udp_gso_sends: c.udp_gso_sends.load(Ordering::Relaxed),
            udp_gso_refused: c.udp_gso_refused.load(Ordering::Relaxed),
            drops: c.drop_list(),
            peers,
        }
    }

    /// Stop the hot-path thread(s), join them and close the device. Idempotent.
    pub fn shutdown(&self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(r) = running {
            r.cancel.cancel();
            for t in r.threads {
                let _ = t.join();
            }
            drop(r.device);
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown();
    }
}
