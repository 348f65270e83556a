//! ringvpn-core: the pure part of the data plane (frames, relay header, AEAD sessions, replay
//! window, Ethernet/ARP/IP parsing, drop reasons). It owns formats and per-packet logic.
//! It must not do I/O, read clocks or use randomness: time and keys come from the caller.

pub mod aead;
pub mod coalesce;
pub mod drop;
pub mod ether;
pub mod frame;
pub mod ip;
pub mod limits;
pub mod relay_frame;
pub mod replay;
pub mod segment;
pub mod session;
pub mod vnet;

pub use drop::DropReason;
pub use session::Session;
