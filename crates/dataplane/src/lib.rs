//! ringvpn-dataplane: the I/O engine. Owns the TUN/TAP device, the one UDP socket, the
//! forwarding/session tables, the hold queues for first packets (outbound: no route or session
//! yet; inbound: source not learned yet) and the hot-path thread(s) (one by default, two with
//! `threads: 2`); reports events to the control plane.
//! It must not make policy decisions: every table entry comes from a command (TypeScript).

pub mod config;
pub mod device;
pub mod engine;
pub mod error;
pub mod events;
pub mod handshake_limit;
pub mod hold;
pub mod intercept;
pub mod io_loop;
pub mod limiter;
pub mod offload;
pub mod peer_state;
pub mod pending;
pub mod pipeline;
pub mod relay;
pub mod relay_limit;
pub mod routes;
pub mod rx_pending;
pub mod shared;
pub mod stats;
pub mod tables;
pub mod timers;
pub mod udp;

pub use config::{DeviceMode, EngineConfig};
pub use engine::Engine;
pub use error::Error;
pub use events::Event;
pub use ringvpn_core::relay_frame::NodeId;
pub use ringvpn_core::session::SessionKeys;
pub use stats::{PeerStats, Stats};
pub use tables::PeerOpts;

/// glibc's threshold (bytes) past which free memory at the top of an arena goes back to the OS,
/// and past which one allocation is its own mapping: glibc's starting values, held fixed.
pub const HEAP_TRIM_THRESHOLD: usize = 128 << 10;
pub const HEAP_MMAP_THRESHOLD: usize = 128 << 10;

/// Hold glibc's trim and mmap thresholds at HEAP_TRIM_THRESHOLD and HEAP_MMAP_THRESHOLD (mallopt);
/// true if glibc took both. Left dynamic, glibc raises them each time a large mapped block is
/// freed (up to 32 and 64 MiB), and then keeps whatever is free at the top of a thread's arena:
/// `malloc_trim` releases free pages inside arenas but never the top of any arena but the main
/// one. The soak measured a flood's first minute leaving about 1 MiB resident this way in each V8
/// worker's arena (TurboFan's compile zones, freed but not returned). A no-op elsewhere than glibc.
pub fn fix_heap_thresholds() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets the allocator's parameters; both values are in glibc's range.
        unsafe {
            libc::mallopt(libc::M_TRIM_THRESHOLD, HEAP_TRIM_THRESHOLD as libc::c_int) == 1
                && libc::mallopt(libc::M_MMAP_THRESHOLD, HEAP_MMAP_THRESHOLD as libc::c_int) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Give the heap's free pages back to the OS (glibc `malloc_trim`); true if any were released.
/// After a burst (a flood filling the event queue to its bound) glibc keeps freed memory inside
/// its arenas, and RSS shows it until trimmed (an arena's top is `fix_heap_thresholds`'s part):
/// the daemon calls this after its periodic full collection (ts/runtime/memory-budget.ts). A no-op
/// elsewhere than glibc.
pub fn trim_heap() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only walks the allocator's own free lists.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
