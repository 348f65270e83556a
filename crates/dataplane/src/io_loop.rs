//! Owns the two run-to-completion loops, both on one `ringvpn-io` thread by default or one
//! thread each (`threads: 2`), on tokio current_thread + AsyncFd: batched device reads (TCP
//! super-packets split by offload.rs) -> `Shared::outbound` -> sendmmsg (holding first packets
//! in the loop's `Pending` queue, released on a command's wake-up, expired on its timer; this
//! loop also runs the liveness timers' 1 s tick and sends their passive keepalives), and
//! recvmmsg -> `Shared::inbound_with` -> device writes (TCP segments of one flow merged by
//! offload.rs) (relay forwards -> sendmmsg; packets from unlearned sources held in the rx loop's
//! `RxPending`, decided on set_peer's wake-up, expired on its timer). Must not contain
//! per-packet logic (that is pipeline.rs, pending.rs, rx_pending.rs and timers.rs) or allocate
//! per packet.

use std::io;
use std::net::UdpSocket;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringvpn_core::ether::ARP_FRAME_LEN;
use ringvpn_core::ip;
use ringvpn_core::DropReason;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio_util::sync::CancellationToken;

use crate::device::Device;
use crate::offload::{DeviceSink, RxMerge, TxSplit};
use crate::pending::Pending;
use crate::pipeline::{slot_len, RxAction, Shared, TxAction, Wait, BUF_LEN, HEADROOM, TAILROOM};
use crate::rx_pending::RxPending;
use crate::timers::TIMER_TICK;
use crate::udp::{Received, RecvBatch, SendBatch, BATCH};

/// Registers a borrowed fd with a runtime (the owner keeps it open).
struct FdRef(RawFd);

impl AsRawFd for FdRef {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Flush `batch`, waiting for writability when the socket buffer is full.
async fn flush(
    shared: &Shared,
    udp: &AsyncFd<FdRef>,
    batch: &mut SendBatch,
    cancel: &CancellationToken,
) -> io::Result<()> {
    loop {
        let (mut failed, mut bytes, mut pkts) = (0u64, 0u64, 0u64);
        let (gso, refused) = (batch.gso_sends, batch.gso_refused);
        let r = batch.flush(udp.get_ref().0, &mut failed, &mut bytes, &mut pkts);
        let c = &shared.counters;
        c.udp_gso_sends
            .fetch_add(batch.gso_sends - gso, Ordering::Relaxed);
        c.udp_gso_refused
            .fetch_add(batch.gso_refused - refused, Ordering::Relaxed);
        for _ in 0..failed {
            shared.counters.drop(DropReason::UdpSend);
        }
        shared
            .counters
            .tx
            .packets
            .fetch_add(pkts, Ordering::Relaxed);
        shared.counters.tx.bytes.fetch_add(bytes, Ordering::Relaxed);
        match r {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let mut g = tokio::select! {
                    biased;
                    _ = cancel.cancelled() => { batch.clear(); return Ok(()); }
                    g = udp.writable() => g?,
                };
                g.clear_ready();
            }
            Err(e) => return Err(e),
        }
    }
}

/// Expire held packets and send the releasable ones, a batch at a time.
async fn release(
    shared: &Shared,
    udp: &AsyncFd<FdRef>,
    pending: &mut Pending,
    batch: &mut SendBatch,
    cancel: &CancellationToken,
) -> io::Result<()> {
    loop {
        let room = batch.room();
        let more = pending.service(shared, Instant::now(), room, |frame, to| {
            batch.push(frame, &to);
        });
        // The frames point into `pending`'s slots: sent before anything new is held.
        if !batch.is_empty() {
            flush(shared, udp, batch, cancel).await?;
        }
        if !more {
            return Ok(());
        }
    }
}

/// The timers' tick (timers.rs): apply both rules to every peer, then send the passive
/// keepalives due, a batch at a time, each sealed in its own device slot.
async fn tick(
    shared: &Shared,
    udp: &AsyncFd<FdRef>,
    bufs: &mut [Box<[u8]>],
    batch: &mut SendBatch,
    owed: &mut Vec<u32>,
    cancel: &CancellationToken,
) -> io::Result<()> {
    let now = Instant::now();
    shared.timers(now, owed);
    for chunk in owed.chunks(BATCH) {
        for (&peer, buf) in chunk.iter().zip(bufs.iter_mut()) {
            match shared.passive_keepalive(peer, buf, now) {
                TxAction::Send { to, start, len } => {
                    batch.push(&buf[start..start + len], &to);
                }
                TxAction::Drop(r) => shared.counters.drop(r),
                _ => {}
            }
        }
        if !batch.is_empty() {
            flush(shared, udp, batch, cancel).await?;
        }
    }
    Ok(())
}

/// The loop's send batch: UDP GSO with the offloads (`offload` in the config), else one
/// message per datagram.
fn send_batch(dev: &Device) -> SendBatch {
    if dev.vnet() {
        SendBatch::new()
    } else {
        SendBatch::new().without_gso()
    }
}

/// Which pipeline(s) one hot-path thread runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Both pipelines as two futures of one task (OpenVPN's shape: the thread that writes a
    /// request to the device is the one that reads the answer, so a request/response
    /// exchange costs no cross-thread wake-up).
    Both,
    /// Device -> UDP only.
    Tx,
    /// UDP -> device only.
    Rx,
}

impl Role {
    pub fn thread_name(self) -> &'static str {
        match self {
            Role::Both => "ringvpn-io",
            Role::Tx => "ringvpn-tx",
            Role::Rx => "ringvpn-rx",
        }
    }
}

/// Runs `role`'s pipeline(s) on the calling thread until `cancel` fires.
pub fn run(
    role: Role,
    shared: Arc<Shared>,
    dev: Arc<Device>,
    udp: Arc<UdpSocket>,
    cancel: CancellationToken,
) -> io::Result<()> {
    runtime()?.block_on(async move {
        let udp_interest = match role {
            Role::Both => Interest::READABLE | Interest::WRITABLE,
            Role::Tx => Interest::WRITABLE,
            // Writable too: relayed frames are forwarded from the rx loop.
            Role::Rx => Interest::READABLE | Interest::WRITABLE,
        };
        // SAFETY: `dev` and `udp` own the fds and outlive these registrations (same scope).
        // One registration per fd and runtime: epoll refuses the same fd twice.
        let udp_fd =
            unsafe { AsyncFd::register_with_interest(FdRef(udp.as_raw_fd()), udp_interest)? };
        if role == Role::Rx {
            return rx_loop(&shared, &dev, &udp_fd, &cancel).await;
        }
        let dev_fd =
            unsafe { AsyncFd::register_with_interest(FdRef(dev.as_raw_fd()), Interest::READABLE)? };
        if role == Role::Tx {
            return tx_loop(&shared, &dev, &dev_fd, &udp_fd, &cancel).await;
        }
        tokio::try_join!(
            tx_loop(&shared, &dev, &dev_fd, &udp_fd, &cancel),
            rx_loop(&shared, &dev, &udp_fd, &cancel)
        )?;
        Ok(())
    })
}

async fn tx_loop(
    shared: &Shared,
    dev: &Device,
    dev_fd: &AsyncFd<FdRef>,
    udp_fd: &AsyncFd<FdRef>,
    cancel: &CancellationToken,
) -> io::Result<()> {
    {
        let slot = slot_len(dev.mtu());
        let mut bufs: Vec<Box<[u8]>> = (0..BATCH)
            .map(|_| vec![0u8; slot].into_boxed_slice())
            .collect();
        let mut lens = [0usize; BATCH];
        let mut batch = send_batch(dev);
        let mut arp = [0u8; ARP_FRAME_LEN];
        let off = shared.device_offset();
        // with virtio-net headers the header lands in the slot's headroom, just before the packet
        let mut split = dev.vnet().then(|| TxSplit::new(off, HEADROOM - off));
        let mut pending = Pending::new(dev.mtu() as usize);
        let mut owed = Vec::new();
        let mut timer = tokio::time::interval(TIMER_TICK);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let deadline = pending.next_deadline().map(tokio::time::Instant::from_std);
            let mut guard = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Ok(()),
                // set_peer / set_session: held packets may have a route and a session now.
                _ = shared.pending_wake.notified() => {
                    release(shared, udp_fd, &mut pending, &mut batch, cancel).await?;
                    continue;
                }
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)),
                    if deadline.is_some() => {
                    release(shared, udp_fd, &mut pending, &mut batch, cancel).await?;
                    continue;
                }
                _ = timer.tick() => {
                    tick(shared, udp_fd, &mut bufs, &mut batch, &mut owed, cancel).await?;
                    continue;
                }
                g = dev_fd.readable() => g?,
            };
            let mut n = 0;
            let mut failed = false;
            while n < BATCH && !split.as_ref().is_some_and(TxSplit::has_carry) {
                let read = guard.try_io(|_| match split.as_mut() {
                    Some(s) => {
                        let [a, b] = s.read_bufs(&mut bufs[n]);
                        dev.read_split(a, b)
                    }
                    None => dev.read(&mut bufs[n][off..slot - TAILROOM]),
                });
                match read {
                    Ok(Ok(len)) => match split.as_mut() {
                        Some(s) => {
                            let cut = |ip: &[u8]| {
                                ip::parse(ip)
                                    .map_or(0, |i| shared.segment_cut(i.dst, Instant::now()))
                            };
                            n = s.take(&mut bufs, &mut lens, n, len, &shared.counters, cut)
                        }
                        // the kernel says how long the packet was, also when it did not fit
                        None if off + len > slot - TAILROOM => {
                            shared.counters.drop(DropReason::Oversize)
                        }
                        None => {
                            lens[n] = len;
                            n += 1;
                        }
                    },
                    Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                    Ok(Err(_)) => {
                        failed = true;
                        break;
                    }
                    Err(_would_block) => break,
                }
            }
            drop(guard);
            if n == 0 && failed {
                // Persistent device error (e.g. link going away): back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            loop {
                let now = Instant::now();
                let mut behind = false;
                for (buf, &len) in bufs.iter_mut().zip(&lens).take(n) {
                    match shared.outbound(buf, len, now, &mut arp, &pending) {
                        TxAction::Send { to, start, len } => {
                            batch.push(&buf[start..start + len], &to);
                        }
                        TxAction::Hold { dst, len, why } => {
                            behind |= why == Wait::Behind;
                            pending.hold(shared, dst, why, buf, len, now);
                        }
                        TxAction::Consumed => {}
                        TxAction::ArpReply => {
                            if dev.write(&arp).is_err() {
                                shared.counters.drop(DropReason::DeviceWrite);
                            }
                        }
                        TxAction::Drop(r) => shared.counters.drop(r),
                    }
                }
                if !batch.is_empty() {
                    flush(shared, udp_fd, &mut batch, cancel).await?;
                }
                if behind {
                    // A route and session appeared before the wake-up: the held packets go now.
                    release(shared, udp_fd, &mut pending, &mut batch, cancel).await?;
                }
                // the rest of a super-packet that did not fit this batch's slots
                match split.as_mut() {
                    Some(s) if s.has_carry() => {
                        n = s.drain(&mut bufs, &mut lens, 0, &shared.counters)
                    }
                    _ => break,
                }
            }
        }
    }
}

/// Write a frame to the device, counting a failure (offload.rs's sink, one packet as it is).
fn write_device(shared: &Shared, dev: &Device, frame: &[u8]) {
    (dev, &shared.counters).packet(frame);
}

async fn rx_loop(
    shared: &Shared,
    dev: &Device,
    udp_fd: &AsyncFd<FdRef>,
    cancel: &CancellationToken,
) -> io::Result<()> {
    {
        let mut rb = RecvBatch::new(BUF_LEN);
        let mut batch = send_batch(dev);
        let mut meta = [Received::EMPTY; BATCH];
        let mut held = RxPending::new(dev.mtu() as usize);
        // with virtio-net headers, TCP segments of one flow go to the device merged (GRO)
        let mut merge = dev
            .vnet()
            .then(|| RxMerge::new(HEADROOM - shared.device_offset()));
        let counters = &shared.counters;
        let decide = |held: &mut RxPending| {
            held.service(shared, Instant::now(), |f| write_device(shared, dev, f));
        };
        loop {
            let deadline = held.next_deadline().map(tokio::time::Instant::from_std);
            let mut guard = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Ok(()),
                // set_peer / remove_peer: held packets of that peer are decided now.
                _ = shared.rx_pending_wake.notified() => {
                    decide(&mut held);
                    continue;
                }
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)),
                    if deadline.is_some() => {
                    decide(&mut held);
                    continue;
                }
                g = udp_fd.readable() => g?,
            };
            let n = match guard.try_io(|fd| rb.recv(fd.get_ref().0, &mut meta)) {
                Ok(Ok(n)) => {
                    // recvmmsg (MSG_DONTWAIT) stops short of a full batch only when the queue ran
                    // dry (the socket has no IP_RECVERR: no error is parked behind data), so the
                    // next recvmmsg would only say EAGAIN: skip it (one syscall per wake-up; a TCP_RR
                    // transaction costs a daemon 7 instead of 8.6). A datagram that lands after this call raises a
                    // new epoll edge, which this thread's driver sees before the next poll.
                    if n < BATCH {
                        guard.clear_ready();
                    }
                    n
                }
                // ICMP errors from earlier sends (ECONNREFUSED...) surface here: consumed, go on.
                Ok(Err(_)) => continue,
                Err(_would_block) => continue,
            };
            drop(guard);
            let now = Instant::now();
            for (i, m) in meta.iter().enumerate().take(n) {
                if m.truncated {
                    counters.rx.packets.fetch_add(1, Ordering::Relaxed);
                    counters.drop(DropReason::Oversize);
                    continue;
                }
                // one datagram, or with UDP GRO a run of them of one size
                for d in m.datagrams() {
                    counters.rx.packets.fetch_add(1, Ordering::Relaxed);
                    counters
                        .rx
                        .bytes
                        .fetch_add(d.len() as u64, Ordering::Relaxed);
                    let Some(from) = m.from else {
                        counters.drop(DropReason::ShortFrame);
                        continue;
                    };
                    let buf = &mut rb.bufs[i][d];
                    let len = buf.len();
                    match shared.inbound_with(buf, len, from, now, Some(&held)) {
                        RxAction::Write(r) => match merge.as_mut() {
                            Some(g) => g.push(&buf[r], &mut (dev, counters), counters),
                            None => write_device(shared, dev, &buf[r]),
                        },
                        RxAction::WriteAfterHeld(r) => {
                            if let Some(g) = merge.as_mut() {
                                g.flush(&mut (dev, counters), counters);
                            }
                            decide(&mut held);
                            write_device(shared, dev, &buf[r]);
                        }
                        RxAction::Hold {
                            peer,
                            gen,
                            start,
                            len,
                        } => match buf.get(start..start.saturating_add(len)) {
                            Some(p) => held.hold(shared, peer, gen, p, now),
                            None => counters.drop(DropReason::Oversize),
                        },
                        RxAction::Forward { to, len } => {
                            // a GRO run can hold more relayed frames than one send batch
                            if batch.room() == 0 {
                                flush(shared, udp_fd, &mut batch, cancel).await?;
                            }
                            batch.push(&buf[..len], &to);
                        }
                        RxAction::Consumed => {}
                        RxAction::Drop(r) => counters.drop(r),
                    }
                }
            }
            if let Some(g) = merge.as_mut() {
                g.flush(&mut (dev, counters), counters);
            }
            if !batch.is_empty() {
                flush(shared, udp_fd, &mut batch, cancel).await?;
            }
        }
    }
}
