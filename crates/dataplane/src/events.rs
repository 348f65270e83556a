//! Owns the bounded event queue from the engine to the control plane and its wake-up rule:
//! the notify callback runs only when the queue goes from empty to non-empty; the control
//! plane then drains everything in one call. Must not block the hot path for long or call JS.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use ringvpn_core::relay_frame::NodeId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A handshake frame (types 1..3), copied unchanged.
    Handshake { from: SocketAddr, data: Vec<u8> },
    /// A decrypted CONTROL payload.
    Control { peer: u32, data: Vec<u8> },
    /// The device wanted to send to a peer without a usable session (the packets are held until
    /// set_session, pending.rs), or data sent to the peer went unanswered for STALE_AFTER (15 s):
    /// its session may be gone at the peer (timers.rs, once per episode). At most 1/s per peer.
    NeedSession { peer: u32 },
    /// The current session of a peer reached REKEY_AFTER_TIME and this side initiated it, or it
    /// sent REKEY_AFTER_MESSAGES (once per session; wireguard-go's keepKeyFreshSending).
    Rekey { peer: u32, local_index: u32 },
    /// An authenticated packet arrived from a new address: the peer's endpoint moved.
    Endpoint { peer: u32, addr: SocketAddr },
    /// An intercepted device frame (DHCP request, DNS query to the service address), whole as
    /// read: TAP: Ethernet frame; TUN: IP packet.
    Device { data: Vec<u8> },
    /// The device sent to the unicast `dst` and no route matched (at most 1/s per destination);
    /// the packets are held until a route and a session exist (pending.rs).
    Miss { dst: IpAddr },
    /// An authenticated packet (direct or relayed end to end) from the peer with node id `node`
    /// had inner source `addr`, which is not in that peer's allowed prefixes (at most 1/s per
    /// node); the packet is held until the peer's next set_peer decides it (rx_pending.rs).
    SourceUnknown { node: NodeId, addr: IpAddr },
}

pub type Notify = Box<dyn Fn() + Send + Sync>;

/// Why an event was not queued (the caller counts it as a drop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The queue holds `cap` events.
    Full,
    /// The queue holds its share of handshake-class events: the rest stays for authenticated
    /// peers' events (CONTROL, need_session, ...), whatever strangers send.
    HandshakeShare,
}

struct Inner {
    q: VecDeque<Event>,
    handshakes: usize,
    bytes: usize,
}

/// Payload bytes the queue holds at most (handshakes, CONTROL payloads, device frames): with
/// 64 KiB CONTROL messages a count bound alone would allow 256 MiB.
pub const EVENT_QUEUE_MAX_BYTES: usize = 4 << 20;

fn payload_len(ev: &Event) -> usize {
    match ev {
        Event::Handshake { data, .. } | Event::Control { data, .. } | Event::Device { data } => {
            data.len()
        }
        _ => 0,
    }
}

pub struct EventQueue {
    q: Mutex<Inner>,
    cap: usize,
    handshake_cap: usize,
    notify: Notify,
}

impl EventQueue {
    /// At most `cap` events, of which at most a quarter are handshake-class (at least 1).
    pub fn new(cap: usize, notify: Notify) -> Self {
        EventQueue {
            q: Mutex::new(Inner {
                q: VecDeque::with_capacity(cap.min(1024)),
                handshakes: 0,
                bytes: 0,
            }),
            cap,
            handshake_cap: (cap / 4).max(1),
            notify,
        }
    }

    /// Queue an event, or say why not (the caller counts the drop).
    pub fn push(&self, ev: Event) -> Result<(), Refused> {
        let was_empty = {
            let mut inner = self.q.lock().unwrap_or_else(|e| e.into_inner());
            let len = payload_len(&ev);
            if inner.q.len() >= self.cap || inner.bytes + len > EVENT_QUEUE_MAX_BYTES {
                return Err(Refused::Full);
            }
            if matches!(ev, Event::Handshake { .. }) {
                if inner.handshakes >= self.handshake_cap {
                    return Err(Refused::HandshakeShare);
                }
                inner.handshakes += 1;
            }
            // counted only once queued: a refused stranger's bytes must not use up the room
            inner.bytes += len;
            let was_empty = inner.q.is_empty();
            inner.q.push_back(ev);
            was_empty
        };
        if was_empty {
            (self.notify)();
        }
        Ok(())
    }

    /// Take every queued event.
    pub fn drain(&self) -> Vec<Event> {
        let mut inner = self.q.lock().unwrap_or_else(|e| e.into_inner());
        inner.handshakes = 0;
        inner.bytes = 0;
        inner.q.drain(..).collect()
    }

    pub fn len(&self) -> usize {
        self.q.lock().unwrap_or_else(|e| e.into_inner()).q.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn notifies_on_empty_to_non_empty_only_and_bounds() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let q = EventQueue::new(
            3,
            Box::new(move || {
                c.fetch_add(1, Ordering::SeqCst);
            }),
        );
        assert!(q.push(Event::NeedSession { peer: 1 }).is_ok());
        assert!(q.push(Event::NeedSession { peer: 2 }).is_ok());
        assert!(q.push(Event::NeedSession { peer: 3 }).is_ok());
        assert_eq!(q.push(Event::NeedSession { peer: 4 }), Err(Refused::Full));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let got = q.drain();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], Event::NeedSession { peer: 1 });
        assert!(q.is_empty());
        assert!(q.push(Event::NeedSession { peer: 5 }).is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn handshakes_take_at_most_a_quarter() {
        let q = EventQueue::new(8, Box::new(|| {}));
        let hs = || Event::Handshake {
            from: "10.0.0.1:1".parse().expect("addr"),
            data: vec![1],
        };
        assert!(q.push(hs()).is_ok());
        assert!(q.push(hs()).is_ok());
        assert_eq!(q.push(hs()), Err(Refused::HandshakeShare));
        for p in 0..6 {
            assert!(
                q.push(Event::NeedSession { peer: p }).is_ok(),
                "room left for peers' events"
            );
        }
        assert_eq!(q.push(Event::NeedSession { peer: 9 }), Err(Refused::Full));
        assert_eq!(q.drain().len(), 8);
        assert!(
            q.push(hs()).is_ok(),
            "the share is free again after a drain"
        );
    }

    #[test]
    fn bounded_in_bytes_too() {
        let q = EventQueue::new(4096, Box::new(|| {}));
        let big = || Event::Control {
            peer: 1,
            data: vec![0; 60_000],
        };
        let mut n = 0;
        while q.push(big()).is_ok() {
            n += 1;
        }
        assert_eq!(n, EVENT_QUEUE_MAX_BYTES / 60_000);
        assert!(
            q.push(Event::NeedSession { peer: 1 }).is_ok(),
            "events without payload still fit"
        );
        q.drain();
        assert!(q.push(big()).is_ok());
    }

    #[test]
    fn refused_handshakes_do_not_use_up_the_byte_room() {
        let q = EventQueue::new(4096, Box::new(|| {}));
        let hs = || Event::Handshake {
            from: "10.0.0.1:1".parse().expect("addr"),
            data: vec![1; 548],
        };
        while q.push(hs()).is_ok() {}
        // a flood far past the handshake share, between two drains
        for _ in 0..20_000 {
            assert_eq!(q.push(hs()), Err(Refused::HandshakeShare));
        }
        assert!(
            q.push(Event::Control {
                peer: 1,
                data: vec![0; 60_000],
            })
            .is_ok(),
            "a member's CONTROL message still fits"
        );
    }
}
