//! Tests of the responder's confirmation rule (tables.rs `next`/`confirm`, WireGuard's "next"
//! keypair): a responder sends on a new session only once a frame arrived on it.

use super::tests::{hold, ipv4, out, pair, sa, A_ADDR};
use super::*;
use crate::relay::tests::keys;
use ringvpn_core::limits::REKEY_TIMEOUT;
use std::time::Duration;

/// B's end of `pair`: the responder session it holds, confirmed by A's first packet.
fn first_from_a(a: &Shared, b: &Shared, now: Instant) {
    let (act, mut buf, _) = out(a, &ipv4([10, 0, 0, 1], [10, 0, 0, 2], b"hi"), now);
    let TxAction::Send { len, .. } = act else {
        panic!("{act:?}")
    };
    assert!(matches!(
        b.inbound(&mut buf, len, sa(A_ADDR), now),
        RxAction::Write(_)
    ));
}

#[test]
fn responder_sends_on_a_new_session_only_after_something_arrived_on_it() {
    let t0 = Instant::now();
    let (a, b) = pair(DeviceMode::Tun, t0);
    let back = ipv4([10, 0, 0, 2], [10, 0, 0, 1], b"");
    // Nothing arrived yet: held, and no new handshake asked for (the initiator's is under way).
    assert_eq!(out(&b, &back, t0).0, hold("10.0.0.1", 20, Wait::Session(1)));
    assert!(b.events.is_empty(), "{:?}", b.events.drain());
    assert!(b.tables.load().peers[&1].current.is_none());
    first_from_a(&a, &b, t0);
    let t = b.tables.load();
    let p = &t.peers[&1];
    assert_eq!(p.current.as_ref().map(|s| s.session.local_index), Some(200));
    assert!(p.next.is_none());
    assert!(matches!(out(&b, &back, t0).0, TxAction::Send { .. }));
}

#[test]
fn responder_keeps_sending_on_the_old_session_until_the_new_one_is_confirmed() {
    let t0 = Instant::now();
    let (a, b) = pair(DeviceMode::Tun, t0);
    first_from_a(&a, &b, t0);
    // A rekeys: A sends on 101 at once, B holds 201 as next and keeps sending on 200.
    let (ka, kb) = (keys(101, 201), keys(201, 101));
    assert!(b.tables.set_session(1, &kb, t0, 2));
    let back = ipv4([10, 0, 0, 2], [10, 0, 0, 1], b"");
    let (act, buf, _) = out(&b, &back, t0);
    assert!(matches!(act, TxAction::Send { .. }), "{act:?}");
    assert_eq!(&buf[4..8], &100u32.to_le_bytes(), "old session's receiver");
    assert!(a.tables.set_session(1, &ka, t0, 2));
    first_from_a(&a, &b, t0);
    let (act, buf, _) = out(&b, &back, t0);
    assert!(matches!(act, TxAction::Send { .. }), "{act:?}");
    assert_eq!(&buf[4..8], &101u32.to_le_bytes(), "new session's receiver");
}

#[test]
fn an_unconfirmed_responder_session_asks_for_a_handshake_after_rekey_timeout() {
    let t0 = Instant::now();
    let (_a, b) = pair(DeviceMode::Tun, t0);
    let back = ipv4([10, 0, 0, 2], [10, 0, 0, 1], b"");
    let late = t0 + REKEY_TIMEOUT + Duration::from_millis(1);
    assert_eq!(
        out(&b, &back, late).0,
        hold("10.0.0.1", 20, Wait::Session(1))
    );
    assert_eq!(b.events.drain(), vec![Event::NeedSession { peer: 1 }]);
}
