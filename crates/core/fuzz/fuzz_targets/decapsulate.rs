//! Fuzz target: `Session::open` on arbitrary bytes against a fixed session, both as given and
//! with a valid DATA/CONTROL/RELAY header forced on (so the AEAD and replay paths are reached).
//! Must never panic and must never authenticate forged bytes.
#![no_main]

use std::sync::OnceLock;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use ringvpn_core::session::{Session, SessionKeys};

fn session() -> &'static (Session, Instant) {
    static S: OnceLock<(Session, Instant)> = OnceLock::new();
    S.get_or_init(|| {
        let now = Instant::now();
        let k = SessionKeys { local_index: 7, remote_index: 9, send_key: [1; 32], recv_key: [2; 32], initiator: false };
        (Session::new(&k, now), now)
    })
}

fuzz_target!(|data: &[u8]| {
    let (s, now) = session();
    let mut buf = data.to_vec();
    assert!(s.open(&mut buf, *now).is_err());
    if buf.len() >= 8 {
        let mut forced = data.to_vec();
        forced[0] = 4 + data[0] % 3; // DATA, CONTROL, RELAY (its link layer: relay_frame.rs)
        forced[1..4].fill(0);
        forced[4..8].copy_from_slice(&7u32.to_le_bytes());
        assert!(s.open(&mut forced, *now).is_err());
    }
});
