//! Helpers shared by the loopback integration tests: engines on 127.0.0.1, AF_PACKET sockets
//! bound to their devices for injecting and capturing packets, and a harmless test packet.
//! Must not change anything outside the devices the tests create.
#![allow(dead_code)]

use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringvpn_dataplane::device::if_index;
use ringvpn_dataplane::{DeviceMode, Engine, EngineConfig, Event, SessionKeys};

pub const ETH_P_ALL: u16 = 0x0003;
pub const ETH_P_IP: u16 = 0x0800;
pub const PACKET_OUTGOING: u8 = 4;

pub fn can_run() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root || !std::path::Path::new("/dev/net/tun").exists() {
        eprintln!("SKIP: needs root and /dev/net/tun to create TUN/TAP devices");
        return false;
    }
    true
}

pub fn name(tag: &str) -> String {
    format!("rvt{}{}", std::process::id() % 100_000, tag)
}

pub fn engine(mode: DeviceMode, ifname: &str) -> (Engine, Arc<AtomicUsize>) {
    let mut cfg = EngineConfig::new(mode, ifname, "127.0.0.1:0".parse().expect("addr"));
    cfg.mtu = 1400;
    let wakeups = Arc::new(AtomicUsize::new(0));
    let w = wakeups.clone();
    let e = Engine::start(
        cfg,
        Box::new(move || {
            w.fetch_add(1, Ordering::SeqCst);
        }),
    )
    .expect("engine starts");
    (e, wakeups)
}

/// A TUN engine on 127.0.0.1 with `threads` hot-path threads and an optional overlay node id.
pub fn tun_engine(ifname: &str, threads: u8, node_id: Option<[u8; 20]>) -> Engine {
    let mut cfg = EngineConfig::new(
        DeviceMode::Tun,
        ifname,
        "127.0.0.1:0".parse().expect("addr"),
    );
    cfg.mtu = 1400;
    cfg.threads = threads;
    cfg.node_id = node_id;
    Engine::start(cfg, Box::new(|| {})).expect("engine starts")
}

/// Session keys mirrored by the peer with (remote, local): the lower index is the initiator.
pub fn keys(local: u32, remote: u32) -> SessionKeys {
    SessionKeys {
        local_index: local,
        remote_index: remote,
        send_key: [local as u8; 32],
        recv_key: [remote as u8; 32],
        initiator: local < remote,
    }
}

pub fn packet_socket(ifname: &str, dgram: bool) -> (OwnedFd, i32) {
    let idx = if_index(ifname) as i32;
    assert!(idx > 0, "interface {ifname} exists");
    let ty = if dgram {
        libc::SOCK_DGRAM
    } else {
        libc::SOCK_RAW
    };
    // SAFETY: plain socket/bind/setsockopt calls with valid, sized arguments.
    unsafe {
        let fd = libc::socket(
            libc::AF_PACKET,
            ty | libc::SOCK_CLOEXEC,
            i32::from(ETH_P_ALL.to_be()),
        );
        assert!(
            fd >= 0,
            "packet socket: {}",
            std::io::Error::last_os_error()
        );
        let fd = OwnedFd::from_raw_fd(fd);
        let mut sll: libc::sockaddr_ll = zeroed();
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETH_P_ALL.to_be();
        sll.sll_ifindex = idx;
        let r = libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as u32,
        );
        assert_eq!(
            r,
            0,
            "bind packet socket: {}",
            std::io::Error::last_os_error()
        );
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 100_000,
        };
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            size_of::<libc::timeval>() as u32,
        );
        (fd, idx)
    }
}

pub fn inject(fd: &OwnedFd, idx: i32, proto: u16, bytes: &[u8]) {
    // SAFETY: valid buffer and sockaddr_ll.
    unsafe {
        let mut sll: libc::sockaddr_ll = zeroed();
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto.to_be();
        sll.sll_ifindex = idx;
        let r = libc::sendto(
            fd.as_raw_fd(),
            bytes.as_ptr().cast(),
            bytes.len(),
            0,
            (&sll as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as u32,
        );
        assert_eq!(
            r,
            bytes.len() as isize,
            "inject: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Wait for an incoming (not outgoing) packet matching `pred`.
pub fn capture(fd: &OwnedFd, pred: impl Fn(&[u8]) -> bool) -> Option<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut buf = vec![0u8; 65536];
    while Instant::now() < deadline {
        // SAFETY: valid buffer and sockaddr_ll out-parameter.
        let (n, pkttype) = unsafe {
            let mut sll: libc::sockaddr_ll = zeroed();
            let mut len = size_of::<libc::sockaddr_ll>() as u32;
            let n = libc::recvfrom(
                fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                (&mut sll as *mut libc::sockaddr_ll).cast(),
                &mut len,
            );
            (n, sll.sll_pkttype)
        };
        if n > 0 && pkttype != PACKET_OUTGOING && pred(&buf[..n as usize]) {
            return Some(buf[..n as usize].to_vec());
        }
    }
    None
}

/// IPv4/UDP to an organisation-local multicast group with TTL 1: the kernel never forwards
/// it and sends no ICMP about it, so nothing leaves the test.
pub fn multicast_udp(src: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let total = 28 + payload.len();
    let mut p = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0x40,
        0,
        1,
        17,
        0,
        0,
    ];
    p.extend_from_slice(&src);
    p.extend_from_slice(&[239, 255, 77, 1]);
    let sum = {
        let mut s: u32 = p
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .sum();
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    };
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    let udp_len = (8 + payload.len()) as u16;
    p.extend_from_slice(&[0x9c, 0x40, 0x9c, 0x41]);
    p.extend_from_slice(&udp_len.to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

pub fn wait_events(e: &Engine, want: usize) -> Vec<Event> {
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut got = Vec::new();
    while got.len() < want && Instant::now() < deadline {
        got.extend(e.drain_events());
        std::thread::sleep(Duration::from_millis(10));
    }
    got
}

/// Everything queued on a packet socket (both directions), until a read times out.
pub fn drain(fd: &OwnedFd) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        // SAFETY: valid buffer; no address wanted.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n <= 0 {
            return out;
        }
        out.push(buf[..n as usize].to_vec());
    }
}
