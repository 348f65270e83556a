//! Owns the two run-to-completion loops (one OS thread each, tokio current_thread + AsyncFd):
//! batched device reads -> `Shared::outbound` -> sendmmsg, and recvmmsg -> `Shared::inbound`
//! -> device writes (relay forwards -> sendmmsg). Must not contain per-packet logic (that is pipeline.rs) or allocate per packet.

use std::io;
use std::net::UdpSocket;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringvpn_core::ether::ARP_FRAME_LEN;
use ringvpn_core::DropReason;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio_util::sync::CancellationToken;

use crate::device::Device;
use crate::pipeline::{RxAction, Shared, TxAction, BUF_LEN, TAILROOM};
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
        let r = batch.flush(udp.get_ref().0, &mut failed, &mut bytes, &mut pkts);
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
        let mut bufs: Vec<Box<[u8]>> = (0..BATCH)
            .map(|_| vec![0u8; BUF_LEN].into_boxed_slice())
            .collect();
        let mut lens = [0usize; BATCH];
        let mut batch = SendBatch::new();
        let mut arp = [0u8; ARP_FRAME_LEN];
        let off = shared.device_offset();
        loop {
            let mut guard = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Ok(()),
                g = dev_fd.readable() => g?,
            };
            let mut n = 0;
            let mut failed = false;
            while n < BATCH {
                match guard.try_io(|_| dev.read(&mut bufs[n][off..BUF_LEN - TAILROOM])) {
                    Ok(Ok(len)) => {
                        lens[n] = len;
                        n += 1;
                    }
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
            let now = Instant::now();
            for (buf, &len) in bufs.iter_mut().zip(&lens).take(n) {
                match shared.outbound(buf, len, now, &mut arp) {
                    TxAction::Send { to, start, len } => {
                        batch.push(&buf[start..start + len], &to);
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
        }
    }
}

async fn rx_loop(
    shared: &Shared,
    dev: &Device,
    udp_fd: &AsyncFd<FdRef>,
    cancel: &CancellationToken,
) -> io::Result<()> {
    {
        let mut rb = RecvBatch::new(BUF_LEN);
        let mut batch = SendBatch::new();
        let mut meta = [Received {
            len: 0,
            from: None,
            truncated: false,
        }; BATCH];
        loop {
            let mut guard = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Ok(()),
                g = udp_fd.readable() => g?,
            };
            let n = match guard.try_io(|fd| rb.recv(fd.get_ref().0, &mut meta)) {
                Ok(Ok(n)) => n,
                // ICMP errors from earlier sends (ECONNREFUSED...) surface here: consumed, go on.
                Ok(Err(_)) => continue,
                Err(_would_block) => continue,
            };
            drop(guard);
            let now = Instant::now();
            for (i, m) in meta.iter().enumerate().take(n) {
                shared.counters.rx.packets.fetch_add(1, Ordering::Relaxed);
                shared
                    .counters
                    .rx
                    .bytes
                    .fetch_add(m.len as u64, Ordering::Relaxed);
                if m.truncated {
                    shared.counters.drop(DropReason::Oversize);
                    continue;
                }
                let Some(from) = m.from else {
                    shared.counters.drop(DropReason::ShortFrame);
                    continue;
                };
                let buf = &mut rb.bufs[i];
                match shared.inbound(buf, m.len, from, now) {
                    RxAction::Write(r) => {
                        if dev.write(&buf[r]).is_err() {
                            shared.counters.drop(DropReason::DeviceWrite);
                        }
                    }
                    RxAction::Forward { to, len } => {
                        batch.push(&buf[..len], &to);
                    }
                    RxAction::Consumed => {}
                    RxAction::Drop(r) => shared.counters.drop(r),
                }
            }
            if !batch.is_empty() {
                flush(shared, udp_fd, &mut batch, cancel).await?;
            }
        }
    }
}
