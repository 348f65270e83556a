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

pub struct EventQueue {
    q: Mutex<VecDeque<Event>>,
    cap: usize,
    notify: Notify,
}

impl EventQueue {
    pub fn new(cap: usize, notify: Notify) -> Self {
        EventQueue {
            q: Mutex::new(VecDeque::with_capacity(cap.min(1024))),
            cap,
            notify,
        }
    }

    /// Queue an event; false if the queue is full (the caller counts `queue_full`).
    pub fn push(&self, ev: Event) -> bool {
        let was_empty = {
            let mut q = self.q.lock().unwrap_or_else(|e| e.into_inner());
            if q.len() >= self.cap {
                return false;
            }
            let was_empty = q.is_empty();
            q.push_back(ev);
            was_empty
        };
        if was_empty {
            (self.notify)();
        }
        true
    }

    /// Take every queued event.
    pub fn drain(&self) -> Vec<Event> {
        let mut q = self.q.lock().unwrap_or_else(|e| e.into_inner());
        q.drain(..).collect()
    }

    pub fn len(&self) -> usize {
        self.q.lock().unwrap_or_else(|e| e.into_inner()).len()
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
        assert!(q.push(Event::NeedSession { peer: 1 }));
        assert!(q.push(Event::NeedSession { peer: 2 }));
        assert!(q.push(Event::NeedSession { peer: 3 }));
        assert!(!q.push(Event::NeedSession { peer: 4 }));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let got = q.drain();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], Event::NeedSession { peer: 1 });
        assert!(q.is_empty());
        assert!(q.push(Event::NeedSession { peer: 5 }));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
