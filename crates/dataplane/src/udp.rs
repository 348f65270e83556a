//! Owns the one UDP socket: creation (32 MiB buffers, FORCE variants when privileged), and
//! batched recvmmsg/sendmmsg with preallocated message arrays; consecutive datagrams of one
//! size to one destination go out as one UDP_SEGMENT (GSO) message, falling back to one
//! message each when the kernel refuses (and for datagrams too big for the path MTU, which
//! only IP fragmentation carries). Must not parse frames.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

pub const SOCKET_BUFFER: usize = 32 << 20;
/// Datagrams per recvmmsg/sendmmsg call.
pub const BATCH: usize = 32;
/// linux/udp.h: the segment size of a GSO send, as a u16 control message at SOL_UDP.
const UDP_SEGMENT: libc::c_int = 103;
/// linux/udp.h: deliver runs of datagrams of one flow as one buffer; the segment size comes
/// as an int control message at SOL_UDP.
const UDP_GRO: libc::c_int = 104;
/// Bytes one GSO message carries at most (its datagrams' payloads; the IP packet limit).
const GSO_MAX_BYTES: usize = 65_000;

/// Bind the engine's UDP socket (non-blocking, close-on-exec), its datagrams carrying firewall
/// mark `mark` if given (SO_MARK, needs CAP_NET_ADMIN: a full tunnel's policy routing keeps
/// marked traffic out of the tunnel).
pub fn bind(addr: SocketAddr, mark: Option<u32>) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Some(m) = mark {
        s.set_mark(m)?;
    }
    if addr.is_ipv6() {
        // Dual-stack when bound to [::].
        let _ = s.set_only_v6(false);
    }
    set_buffer(&s, libc::SO_RCVBUFFORCE, libc::SO_RCVBUF);
    set_buffer(&s, libc::SO_SNDBUFFORCE, libc::SO_SNDBUF);
    s.set_nonblocking(true)?;
    s.bind(&SockAddr::from(addr))?;
    Ok(s.into())
}

/// Ask the kernel to deliver runs of datagrams of one flow as one buffer (UDP GRO); false when
/// it refuses (then every datagram comes alone, as before).
pub fn enable_gro(s: &UdpSocket) -> bool {
    let one: libc::c_int = 1;
    // SAFETY: setsockopt with a valid int pointer and length.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_UDP,
            UDP_GRO,
            (&one as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        ) == 0
    }
}

/// Try the FORCE variant (needs CAP_NET_ADMIN), then the plain one; failures are quiet.
fn set_buffer(s: &Socket, force: libc::c_int, plain: libc::c_int) {
    let v = SOCKET_BUFFER as libc::c_int;
    for opt in [force, plain] {
        // SAFETY: setsockopt with a valid int pointer and length.
        let r = unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&v as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == 0 {
            return;
        }
    }
}

pub fn to_storage(addr: &SocketAddr, st: &mut libc::sockaddr_storage) -> libc::socklen_t {
    // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in/sockaddr_in6.
    unsafe {
        match addr {
            SocketAddr::V4(a) => {
                let sin = &mut *(st as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>();
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = a.port().to_be();
                sin.sin_addr = libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                };
                sin.sin_zero = [0; 8];
                size_of::<libc::sockaddr_in>() as libc::socklen_t
            }
            SocketAddr::V6(a) => {
                let sin6 = &mut *(st as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>();
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = a.port().to_be();
                sin6.sin6_flowinfo = a.flowinfo();
                sin6.sin6_addr = libc::in6_addr {
                    s6_addr: a.ip().octets(),
                };
                sin6.sin6_scope_id = a.scope_id();
                size_of::<libc::sockaddr_in6>() as libc::socklen_t
            }
        }
    }
}

pub fn from_storage(st: &libc::sockaddr_storage) -> Option<SocketAddr> {
    // SAFETY: the family field says which struct the storage holds.
    unsafe {
        match st.ss_family as libc::c_int {
            libc::AF_INET => {
                let sin = &*(st as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>();
                let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                Some(SocketAddr::V4(SocketAddrV4::new(
                    ip,
                    u16::from_be(sin.sin_port),
                )))
            }
            libc::AF_INET6 => {
                let sin6 = &*(st as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>();
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                // Unmap v4-mapped addresses so endpoints compare equal across families.
                let port = u16::from_be(sin6.sin6_port);
                Some(match ip.to_ipv4_mapped() {
                    Some(v4) => SocketAddr::V4(SocketAddrV4::new(v4, port)),
                    None => SocketAddr::V6(SocketAddrV6::new(
                        ip,
                        port,
                        sin6.sin6_flowinfo,
                        sin6.sin6_scope_id,
                    )),
                })
            }
            _ => None,
        }
    }
}

/// Preallocated recvmmsg state: BATCH buffers of `buf_len` bytes each.
pub struct RecvBatch {
    pub bufs: Vec<Box<[u8]>>,
    addrs: Vec<libc::sockaddr_storage>,
    iovs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
    /// Control messages (the UDP GRO segment size).
    ctrl: Vec<[u64; 4]>,
}

/// One received buffer: a datagram, or with UDP GRO a run of datagrams of `seg` bytes each
/// (the last one may be shorter).
#[derive(Debug, Clone, Copy)]
pub struct Received {
    pub len: usize,
    pub from: Option<SocketAddr>,
    pub truncated: bool,
    /// The datagrams' size in a GRO run; 0: one datagram.
    pub seg: usize,
}

impl Received {
    pub const EMPTY: Received = Received {
        len: 0,
        from: None,
        truncated: false,
        seg: 0,
    };

    /// The datagrams in the buffer, as ranges.
    pub fn datagrams(&self) -> impl Iterator<Item = std::ops::Range<usize>> {
        let (len, step) = (
            self.len,
            if self.seg == 0 {
                self.len.max(1)
            } else {
                self.seg
            },
        );
        (0..len).step_by(step).map(move |k| k..(k + step).min(len))
    }
}

impl RecvBatch {
    pub fn new(buf_len: usize) -> Self {
        RecvBatch {
            bufs: (0..BATCH)
                .map(|_| vec![0u8; buf_len].into_boxed_slice())
                .collect(),
            // SAFETY: all-zero is a valid sockaddr_storage / iovec / mmsghdr.
            addrs: (0..BATCH).map(|_| unsafe { zeroed() }).collect(),
            iovs: (0..BATCH).map(|_| unsafe { zeroed() }).collect(),
            msgs: (0..BATCH).map(|_| unsafe { zeroed() }).collect(),
            ctrl: vec![[0u64; 4]; BATCH],
        }
    }

    /// One recvmmsg call (non-blocking). Returns how many datagrams landed in `bufs[..n]`;
    /// `meta[i]` describes `bufs[i]`.
    pub fn recv(&mut self, fd: RawFd, meta: &mut [Received; BATCH]) -> io::Result<usize> {
        for i in 0..BATCH {
            self.iovs[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr().cast(),
                iov_len: self.bufs[i].len(),
            };
            let h = &mut self.msgs[i].msg_hdr;
            h.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = self.ctrl[i].as_mut_ptr().cast();
            h.msg_controllen = size_of::<[u64; 4]>() as _;
            h.msg_flags = 0;
            self.msgs[i].msg_len = 0;
        }
        // SAFETY: msgs/iovs/addrs/bufs are live for the call and sized BATCH.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.msgs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        for (i, m) in meta.iter_mut().enumerate().take(n) {
            let h = &self.msgs[i];
            *m = Received {
                len: (h.msg_len as usize).min(self.bufs[i].len()),
                from: from_storage(&self.addrs[i]),
                truncated: h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
                seg: gro_segment(&h.msg_hdr),
            };
        }
        Ok(n)
    }
}

/// The UDP GRO segment size in a received message's control data (0 when there is none).
fn gro_segment(h: &libc::msghdr) -> usize {
    // SAFETY: the kernel filled msg_control up to msg_controllen; CMSG_FIRSTHDR/NXTHDR stay
    // inside it and the data of a (SOL_UDP, UDP_GRO) message is an int.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_UDP && (*c).cmsg_type == UDP_GRO {
                let v = libc::CMSG_DATA(c).cast::<libc::c_int>().read_unaligned();
                return usize::try_from(v).unwrap_or(0);
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    0
}

/// Preallocated sendmmsg state; entries point into caller-owned buffers between `push` and `flush`.
pub struct SendBatch {
    addrs: Vec<libc::sockaddr_storage>,
    iovs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
    /// GSO messages built at flush: each points at a run of `iovs`, with its control message.
    gmsgs: Vec<libc::mmsghdr>,
    gcount: Vec<usize>,
    ctrl: Vec<[u64; 4]>,
    len: usize,
    sent: usize,
    /// Send runs as GSO messages (off after the kernel refused one).
    gso: bool,
    /// The largest datagram sent in GSO runs: a GSO segment must fit the route's MTU (no IP
    /// fragmentation), so after EMSGSIZE datagrams of that size and above go one per message.
    gso_seg_max: usize,
    /// GSO messages sent, and how often the kernel refused one (GSO off, or a segment size
    /// too big for the MTU: then one message per datagram of that size and above).
    pub gso_sends: u64,
    pub gso_refused: u64,
}

impl Default for SendBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl SendBatch {
    pub fn new() -> Self {
        SendBatch {
            // SAFETY: all-zero is valid for these C structs.
            addrs: (0..BATCH).map(|_| unsafe { zeroed() }).collect(),
            iovs: (0..BATCH).map(|_| unsafe { zeroed() }).collect(),
            msgs: (0..BATCH).map(|_| unsafe { zeroed() }).collect(),
            gmsgs: (0..BATCH).map(|_| unsafe { zeroed() }).collect(),
            gcount: vec![0; BATCH],
            ctrl: vec![[0u64; 4]; BATCH],
            len: 0,
            sent: 0,
            gso: true,
            gso_seg_max: usize::MAX,
            gso_sends: 0,
            gso_refused: 0,
        }
    }

    /// One message per datagram from now on (as when the kernel refuses GSO).
    pub fn without_gso(mut self) -> Self {
        self.gso = false;
        self
    }

    /// Datagrams of `max + 1` bytes and above go one per message (as after EMSGSIZE).
    pub fn with_gso_segment_limit(mut self, max: usize) -> Self {
        self.gso_seg_max = max;
        self
    }

    pub fn is_empty(&self) -> bool {
        self.len == self.sent
    }

    /// Datagrams that can still be queued before a flush.
    pub fn room(&self) -> usize {
        BATCH - self.len
    }

    /// Queue `data` for `to`. The caller must keep `data` alive and unmodified until `clear`.
    pub fn push(&mut self, data: &[u8], to: &SocketAddr) -> bool {
        if self.len == BATCH {
            return false;
        }
        let i = self.len;
        let namelen = to_storage(to, &mut self.addrs[i]);
        self.iovs[i] = libc::iovec {
            iov_base: data.as_ptr() as *mut libc::c_void,
            iov_len: data.len(),
        };
        let h = &mut self.msgs[i].msg_hdr;
        h.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
        h.msg_namelen = namelen;
        h.msg_iov = &mut self.iovs[i];
        h.msg_iovlen = 1;
        h.msg_control = std::ptr::null_mut();
        h.msg_controllen = 0;
        h.msg_flags = 0;
        self.len += 1;
        true
    }

    fn same_destination(&self, i: usize, j: usize) -> bool {
        let (a, b) = (&self.msgs[i].msg_hdr, &self.msgs[j].msg_hdr);
        if a.msg_namelen != b.msg_namelen {
            return false;
        }
        let n = a.msg_namelen as usize;
        // SAFETY: both storages are live, initialised by to_storage, and at least n bytes long.
        unsafe {
            std::slice::from_raw_parts(
                (&self.addrs[i] as *const libc::sockaddr_storage).cast::<u8>(),
                n,
            ) == std::slice::from_raw_parts(
                (&self.addrs[j] as *const libc::sockaddr_storage).cast::<u8>(),
                n,
            )
        }
    }

    /// Group the pending datagrams into GSO messages: runs to one destination whose datagrams
    /// all have the first one's size but a shorter last one. Returns the number of messages.
    fn group(&mut self) -> usize {
        let (mut i, mut g) = (self.sent, 0);
        while i < self.len {
            let seg = self.iovs[i].iov_len;
            let (mut j, mut bytes) = (i + 1, seg);
            while j < self.len
                && seg <= self.gso_seg_max
                && self.iovs[j - 1].iov_len == seg
                && self.iovs[j].iov_len <= seg
                && self.iovs[j].iov_len > 0
                && bytes + self.iovs[j].iov_len <= GSO_MAX_BYTES
                && self.same_destination(i, j)
            {
                bytes += self.iovs[j].iov_len;
                j += 1;
            }
            let h = &mut self.gmsgs[g].msg_hdr;
            *h = self.msgs[i].msg_hdr;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = (j - i) as _;
            if j - i > 1 {
                let cm = self.ctrl[g].as_mut_ptr().cast::<libc::cmsghdr>();
                // SAFETY: ctrl[g] is 32 aligned bytes, enough for CMSG_SPACE(2); the header and
                // its data are written inside it.
                unsafe {
                    (*cm).cmsg_level = libc::SOL_UDP;
                    (*cm).cmsg_type = UDP_SEGMENT;
                    (*cm).cmsg_len = libc::CMSG_LEN(2) as _;
                    libc::CMSG_DATA(cm)
                        .cast::<u16>()
                        .write_unaligned(seg as u16);
                    h.msg_control = cm.cast();
                    h.msg_controllen = libc::CMSG_SPACE(2) as _;
                }
            }
            self.gcount[g] = j - i;
            g += 1;
            i = j;
        }
        g
    }

    /// Send what is pending. Ok(()) when all went out (failed datagrams are skipped and
    /// counted in the returned number); Err(WouldBlock) means wait for writability and retry.
    pub fn flush(
        &mut self,
        fd: RawFd,
        failed: &mut u64,
        sent_bytes: &mut u64,
        sent_packets: &mut u64,
    ) -> io::Result<()> {
        while self.sent < self.len {
            let gso = self.gso && self.len - self.sent > 1;
            let (msgs, count) = if gso {
                (self.gmsgs.as_mut_ptr(), self.group())
            } else {
                // SAFETY: sent < len <= BATCH.
                (
                    unsafe { self.msgs.as_mut_ptr().add(self.sent) },
                    self.len - self.sent,
                )
            };
            // SAFETY: msgs[..count] were filled by push (and group) and their buffers are alive
            // (caller contract).
            let n = unsafe { libc::sendmmsg(fd, msgs, count as libc::c_uint, libc::MSG_DONTWAIT) };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock => return Err(e),
                    io::ErrorKind::Interrupted => continue,
                    // A GSO segment bigger than the route's MTU (a relayed full-size frame: one
                    // datagram alone is IP-fragmented, a GSO segment never is): datagrams of
                    // this size and above go one per message from now on.
                    _ if gso && self.gcount[0] > 1 && e.raw_os_error() == Some(libc::EMSGSIZE) => {
                        self.gso_seg_max = self.iovs[self.sent].iov_len - 1;
                        self.gso_refused += 1;
                    }
                    // A kernel or device without UDP GSO: one message per datagram from now on.
                    _ if gso
                        && self.gcount[0] > 1
                        && matches!(
                            e.raw_os_error(),
                            Some(libc::EINVAL | libc::EIO | libc::EOPNOTSUPP | libc::ENOPROTOOPT)
                        ) =>
                    {
                        self.gso = false;
                        self.gso_refused += 1;
                    }
                    // The first pending message failed (e.g. unreachable): skip its datagrams.
                    _ => {
                        let k = if gso { self.gcount[0] } else { 1 };
                        *failed += k as u64;
                        self.sent += k;
                    }
                }
            } else if gso {
                for (m, &k) in self.gmsgs[..n as usize].iter().zip(&self.gcount) {
                    *sent_bytes += u64::from(m.msg_len);
                    *sent_packets += k as u64;
                    self.sent += k;
                    if k > 1 {
                        self.gso_sends += 1;
                    }
                }
            } else {
                for m in &self.msgs[self.sent..self.sent + n as usize] {
                    *sent_bytes += u64::from(m.msg_len);
                }
                *sent_packets += n as u64;
                self.sent += n as usize;
            }
        }
        self.clear();
        Ok(())
    }

    pub fn clear(&mut self) {
        self.len = 0;
        self.sent = 0;
    }
}

#[cfg(test)]
#[path = "udp_tests.rs"]
mod tests;
