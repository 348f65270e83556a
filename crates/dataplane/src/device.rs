//! Owns the TUN/TAP device: opening /dev/net/tun (IFF_TUN|IFF_TAP, IFF_NO_PI, and with
//! offloads IFF_VNET_HDR + TUNSETOFFLOAD), MTU, IPv4 address (at start, replaced at runtime),
//! txqueuelen, link up, and non-blocking packet read/write (a write gets an all-zero virtio-net
//! header when the device has them). Opened through libc directly (no tun crate). Must not
//! parse packets or know about peers (offload.rs reads the headers).

use std::ffi::CStr;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::config::{DeviceMode, IFNAMSIZ};
use ringvpn_core::ether::Mac;
use ringvpn_core::vnet::VNET_HDR_LEN;

// Kernel UAPI (linux/if_tun.h, linux/sockios.h); defined here so old libc versions work too.
const TUNSETIFF: u64 = 0x4004_54ca;
const IFF_TUN: i16 = 0x0001;
const IFF_TAP: i16 = 0x0002;
const IFF_NO_PI: i16 = 0x1000;
const IFF_VNET_HDR: i16 = 0x4000;
const TUNSETOFFLOAD: u64 = 0x4004_54d0;
/// TUNSETOFFLOAD flags: the kernel may hand us packets with a partial checksum, and TCP
/// super-packets over IPv4 and IPv6 (split in offload.rs).
pub const TUN_F_CSUM: u32 = 0x01;
pub const TUN_F_TSO4: u32 = 0x02;
pub const TUN_F_TSO6: u32 = 0x04;
/// UDP segmentation offload (Linux 6.2 and later): UDP super-packets from senders using UDP_SEGMENT.
pub const TUN_F_USO4: u32 = 0x20;
pub const TUN_F_USO6: u32 = 0x40;
const SIOCGIFFLAGS: u64 = 0x8913;
const SIOCSIFFLAGS: u64 = 0x8914;
const SIOCGIFADDR: u64 = 0x8915;
const SIOCSIFADDR: u64 = 0x8916;
const SIOCSIFNETMASK: u64 = 0x891c;
const SIOCSIFMTU: u64 = 0x8922;
const SIOCGIFHWADDR: u64 = 0x8927;
const SIOCSIFTXQLEN: u64 = 0x8943;
const IFF_UP: i16 = 0x1;
const IFF_RUNNING: i16 = 0x40;
const TX_QUEUE_LEN: i32 = 1000;

/// `struct ifreq`: 16-byte name + 24-byte union.
#[repr(C)]
struct IfReq {
    name: [u8; IFNAMSIZ],
    data: [u8; 24],
}

impl IfReq {
    fn new(name: &str) -> io::Result<IfReq> {
        let b = name.as_bytes();
        if b.is_empty() || b.len() >= IFNAMSIZ || b.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bad interface name",
            ));
        }
        let mut r = IfReq {
            name: [0; IFNAMSIZ],
            data: [0; 24],
        };
        r.name[..b.len()].copy_from_slice(b);
        Ok(r)
    }

    fn set_i16(&mut self, v: i16) {
        self.data[..2].copy_from_slice(&v.to_ne_bytes());
    }

    fn get_i16(&self) -> i16 {
        i16::from_ne_bytes([self.data[0], self.data[1]])
    }

    fn set_i32(&mut self, v: i32) {
        self.data[..4].copy_from_slice(&v.to_ne_bytes());
    }

    fn set_sockaddr_in(&mut self, a: Ipv4Addr) {
        self.data = [0; 24];
        self.data[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        self.data[4..8].copy_from_slice(&a.octets());
    }
}

fn ioctl(fd: RawFd, req: u64, ifr: &mut IfReq) -> io::Result<()> {
    // SAFETY: `ifr` is a valid, properly sized `struct ifreq` for every request used here.
    let r = unsafe { libc::ioctl(fd, req as _, ifr as *mut IfReq) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// An open TUN/TAP device. Closed (and, being non-persistent, removed) on drop.
#[derive(Debug)]
pub struct Device {
    fd: OwnedFd,
    name: String,
    mode: DeviceMode,
    mtu: u32,
    /// Every read and write starts with a virtio-net header (IFF_VNET_HDR).
    vnet: bool,
    /// The TUNSETOFFLOAD flags the kernel accepted (0: none, or offloads off).
    offloads: u32,
}

impl Device {
    /// Create the interface, set MTU / address / txqueuelen and bring it up. With `offload`,
    /// the device carries virtio-net headers and is offered checksum and TCP segmentation
    /// offloads; a kernel that refuses them leaves the headers on and `offloads()` at 0.
    pub fn open(
        mode: DeviceMode,
        name: &str,
        mtu: u32,
        address: Option<(Ipv4Addr, u8)>,
        offload: bool,
    ) -> io::Result<Device> {
        let path = c"/dev/net/tun";
        // SAFETY: path is a valid NUL-terminated string.
        let raw = unsafe {
            libc::open(
                path.as_ptr(),
                libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut ifr = IfReq::new(name)?;
        ifr.set_i16(
            IFF_NO_PI
                | if offload { IFF_VNET_HDR } else { 0 }
                | if mode == DeviceMode::Tap {
                    IFF_TAP
                } else {
                    IFF_TUN
                },
        );
        ioctl(fd.as_raw_fd(), TUNSETIFF, &mut ifr)?;
        let mut offloads = 0;
        if offload {
            // with USO where the kernel has it (6.2+), else TCP only; a kernel that refuses both leaves 0
            let tcp = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
            for want in [tcp | TUN_F_USO4 | TUN_F_USO6, tcp] {
                // SAFETY: TUNSETOFFLOAD takes its flags as the integer argument itself.
                if unsafe {
                    libc::ioctl(
                        fd.as_raw_fd(),
                        TUNSETOFFLOAD as _,
                        libc::c_ulong::from(want),
                    )
                } == 0
                {
                    offloads = want;
                    break;
                }
            }
        }
        let actual = CStr::from_bytes_until_nul(&ifr.name)
            .map(|c| c.to_string_lossy().into_owned())
            .unwrap_or_else(|_| name.to_string());
        let dev = Device {
            fd,
            name: actual,
            mode,
            mtu,
            vnet: offload,
            offloads,
        };
        dev.configure(address)?;
        Ok(dev)
    }

    fn configure(&self, address: Option<(Ipv4Addr, u8)>) -> io::Result<()> {
        let ctl = control_socket()?;
        let s = ctl.as_raw_fd();
        let mut ifr = IfReq::new(&self.name)?;
        ifr.set_i32(
            i32::try_from(self.mtu).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
        );
        ioctl(s, SIOCSIFMTU, &mut ifr)?;
        let mut ifr = IfReq::new(&self.name)?;
        ifr.set_i32(TX_QUEUE_LEN);
        // Best effort: a short queue only costs drops under load.
        let _ = ioctl(s, SIOCSIFTXQLEN, &mut ifr);
        if address.is_some() {
            self.assign(s, address)?;
        }
        let mut ifr = IfReq::new(&self.name)?;
        ioctl(s, SIOCGIFFLAGS, &mut ifr)?;
        let flags = ifr.get_i16() | IFF_UP | IFF_RUNNING;
        ifr.set_i16(flags);
        ioctl(s, SIOCSIFFLAGS, &mut ifr)
    }

    /// Replace the interface's IPv4 address and netmask (`None` removes the address).
    pub fn set_address(&self, address: Option<(Ipv4Addr, u8)>) -> io::Result<()> {
        let ctl = control_socket()?;
        self.assign(ctl.as_raw_fd(), address)
    }

    fn assign(&self, ctl: RawFd, address: Option<(Ipv4Addr, u8)>) -> io::Result<()> {
        let mut ifr = IfReq::new(&self.name)?;
        // SIOCSIFADDR replaces the primary address; 0.0.0.0 deletes it without adding one.
        ifr.set_sockaddr_in(address.map_or(Ipv4Addr::UNSPECIFIED, |(a, _)| a));
        ioctl(ctl, SIOCSIFADDR, &mut ifr)?;
        if let Some((_, prefix)) = address {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            let mut ifr = IfReq::new(&self.name)?;
            ifr.set_sockaddr_in(Ipv4Addr::from(mask));
            ioctl(ctl, SIOCSIFNETMASK, &mut ifr)?;
        }
        Ok(())
    }

    /// The OS side's MAC (TAP only); the engine also learns it from frames.
    pub fn hw_addr(&self) -> io::Result<Mac> {
        let ctl = control_socket()?;
        let mut ifr = IfReq::new(&self.name)?;
        ioctl(ctl.as_raw_fd(), SIOCGIFHWADDR, &mut ifr)?;
        let mut m = [0u8; 6];
        m.copy_from_slice(&ifr.data[2..8]);
        Ok(m)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn mode(&self) -> DeviceMode {
        self.mode
    }

    pub fn mtu(&self) -> u32 {
        self.mtu
    }

    /// Reads and writes start with a virtio-net header.
    pub fn vnet(&self) -> bool {
        self.vnet
    }

    /// The offloads the kernel accepted (TUN_F_* flags).
    pub fn offloads(&self) -> u32 {
        self.offloads
    }

    /// Non-blocking read of one packet/frame.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: buf is valid for writes of buf.len() bytes.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// Non-blocking read of one packet/frame into `a`, continued in `b` (`readv`): a slot, then
    /// the room for the rest of a super-packet.
    pub fn read_split(&self, a: &mut [u8], b: &mut [u8]) -> io::Result<usize> {
        let iov = [
            libc::iovec {
                iov_base: a.as_mut_ptr().cast(),
                iov_len: a.len(),
            },
            libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: b.len(),
            },
        ];
        // SAFETY: both iovecs point at live, exclusively borrowed buffers of their lengths.
        let n = unsafe { libc::readv(self.fd.as_raw_fd(), iov.as_ptr(), 2) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// Non-blocking write of a buffer that starts with its own virtio-net header (a device with
    /// them only: offload.rs's merged runs).
    pub fn write_raw(&self, buf: &[u8]) -> io::Result<usize> {
        debug_assert!(self.vnet);
        // SAFETY: buf is valid for reads of buf.len() bytes.
        let n = unsafe { libc::write(self.fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// Non-blocking write of one packet/frame (thread-safe: one syscall per packet). With
    /// virtio-net headers, an all-zero one goes first (no offload asked), from its own iovec.
    pub fn write(&self, buf: &[u8]) -> io::Result<usize> {
        let n = if self.vnet {
            let hdr = [0u8; VNET_HDR_LEN];
            let iov = [
                libc::iovec {
                    iov_base: hdr.as_ptr() as *mut _,
                    iov_len: hdr.len(),
                },
                libc::iovec {
                    iov_base: buf.as_ptr() as *mut _,
                    iov_len: buf.len(),
                },
            ];
            // SAFETY: both iovecs point at live buffers of the given lengths; writev only reads them.
            unsafe { libc::writev(self.fd.as_raw_fd(), iov.as_ptr(), 2) }
        } else {
            // SAFETY: buf is valid for reads of buf.len() bytes.
            unsafe { libc::write(self.fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) }
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok((n as usize).saturating_sub(if self.vnet { VNET_HDR_LEN } else { 0 }))
        }
    }
}

impl AsRawFd for Device {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

fn control_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call.
    let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if s < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(s) })
}

/// Interface index by name (0 if absent). Used by tests and diagnostics.
pub fn if_index(name: &str) -> u32 {
    match std::ffi::CString::new(name) {
        // SAFETY: valid C string.
        Ok(c) => unsafe { libc::if_nametoindex(c.as_ptr()) },
        Err(_) => 0,
    }
}

/// The primary IPv4 address of interface `name`, if it has one. Used by tests and diagnostics.
pub fn if_ipv4(name: &str) -> io::Result<Option<Ipv4Addr>> {
    let ctl = control_socket()?;
    let mut ifr = IfReq::new(name)?;
    match ioctl(ctl.as_raw_fd(), SIOCGIFADDR, &mut ifr) {
        Ok(()) => Ok(Some(Ipv4Addr::new(
            ifr.data[4],
            ifr.data[5],
            ifr.data[6],
            ifr.data[7],
        ))),
        Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => Ok(None),
        Err(e) => Err(e),
    }
}
