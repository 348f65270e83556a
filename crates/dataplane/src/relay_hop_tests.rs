//! A relay hop's forwarding (A -> B -> C and a fourth id D, fixtures in relay_tests.rs): the greedy
//! next hop, what is never one (the sender, a data-only peer, an expired session), ttl expiry, and
//! the way on from a greedy dead end.

use super::tests::*;
use super::*;
use crate::config::DeviceMode;
use crate::pipeline::tests::{ipv4, sa};
use std::time::Duration;

#[test]
fn greedy_next_hop_and_ttl() {
    let now = Instant::now();
    let (a, b, c) = chain(DeviceMode::Tun, now);
    let inner = b"an opaque end-to-end inner frame";
    // D is no peer of B: C (0x90) is closer to D (0xd0) than B (0x50), and is not the sender.
    let (mut buf, len) = relay_frame(&a, 1, &relay_plain(D_ID, A_ID, 3, inner), now);
    assert_eq!(
        b.inbound(&mut buf, len, sa(A_UDP), now),
        RxAction::Forward { to: sa(C_UDP), len }
    );
    // C knows nobody closer to D than itself (B is farther; the sender is excluded anyway).
    assert_eq!(
        c.inbound(&mut buf, len, sa(B_UDP), now),
        RxAction::Drop(DropReason::RelayNoRoute)
    );
    // A data-only peer (hop: false, no overlay connection) is never a greedy next hop; it still
    // receives frames addressed to itself.
    set_hop(&b, false);
    let (mut buf, len) = relay_frame(&a, 1, &relay_plain(D_ID, A_ID, 3, inner), now);
    assert_eq!(
        b.inbound(&mut buf, len, sa(A_UDP), now),
        RxAction::Drop(DropReason::RelayNoRoute)
    );
    let (mut buf, len) = relay_frame(&a, 1, &relay_plain(C_ID, A_ID, 3, inner), now);
    assert_eq!(
        b.inbound(&mut buf, len, sa(A_UDP), now),
        RxAction::Forward { to: sa(C_UDP), len }
    );
    set_hop(&b, true);
    // The sender is never chosen even if it is the closest: from C, B only knows A besides C.
    let (mut buf, len) = relay_frame(&c, 1, &relay_plain(D_ID, C_ID, 3, inner), now);
    assert_eq!(
        b.inbound(&mut buf, len, sa(C_UDP), now),
        RxAction::Drop(DropReason::RelayNoRoute)
    );
    // Exact match wins even when it is not closer by distance (here: A itself, from C).
    let (mut buf, len) = relay_frame(&c, 1, &relay_plain(A_ID, C_ID, 3, inner), now);
    assert_eq!(
        b.inbound(&mut buf, len, sa(C_UDP), now),
        RxAction::Forward { to: sa(A_UDP), len }
    );
    // ttl 1 is forwarded (as 0); ttl 0 is dropped by a hop that is not the destination.
    let (mut buf, len) = relay_frame(&a, 1, &relay_plain(D_ID, A_ID, 1, inner), now);
    assert!(matches!(
        b.inbound(&mut buf, len, sa(A_UDP), now),
        RxAction::Forward { .. }
    ));
    assert_eq!(
        c.inbound(&mut buf, len, sa(B_UDP), now),
        RxAction::Drop(DropReason::RelayTtl)
    );
    let (mut buf, len) = relay_frame(&a, 1, &relay_plain(D_ID, A_ID, 0, inner), now);
    assert_eq!(
        b.inbound(&mut buf, len, sa(A_UDP), now),
        RxAction::Drop(DropReason::RelayTtl)
    );
    // ttl 0 still delivers at the destination (here B wraps a frame of its own C session).
    let data = e2e(
        &b,
        2,
        TYPE_DATA,
        &ipv4([10, 0, 0, 2], [10, 0, 0, 3], b"t0"),
        now,
    );
    let (mut buf, len) = relay_frame(&b, 2, &relay_plain(C_ID, B_ID, 0, &data), now);
    assert!(matches!(
        c.inbound(&mut buf, len, sa(B_UDP), now),
        RxAction::Write(_)
    ));
    // A peer whose session expired is not a next hop.
    let late = now + Duration::from_secs(200);
    link(&a, 1, &b, 1, 500, late);
    let (mut buf, len) = relay_frame(&a, 1, &relay_plain(D_ID, A_ID, 3, inner), late);
    assert_eq!(
        b.inbound(&mut buf, len, sa(A_UDP), late),
        RxAction::Drop(DropReason::RelayNoRoute)
    );
    assert_eq!(b.counters.relay_forwarded.load(Ordering::Relaxed), 4);
}

/// A dead end of greedy forwarding (no peer closer to the destination than this node: behind
/// symmetric NATs those are relay links) goes on through the hop nearest to the destination among
/// those closer to it than the frame's previous hop, and ends where there is none.
#[test]
fn a_dead_end_goes_on_through_a_hop_nearer_than_the_previous_one() {
    let now = Instant::now();
    let (a, b, c) = chain(DeviceMode::Tun, now);
    let inner = b"an opaque end-to-end inner frame";
    // 0x68: B (0x50) is 0x18 from it, C (0x90) 0x28, A (0x10) 0x58. B has nobody closer than
    // itself; C is closer than A, the frame's previous hop.
    let (mut buf, len) = relay_frame(&a, 1, &relay_plain(0x68, A_ID, 3, inner), now);
    assert_eq!(
        b.inbound(&mut buf, len, sa(A_UDP), now),
        RxAction::Forward { to: sa(C_UDP), len }
    );
    // At C, from B (0x18 away): no hop other than B, so the walk ends.
    assert_eq!(
        c.inbound(&mut buf, len, sa(B_UDP), now),
        RxAction::Drop(DropReason::RelayNoRoute)
    );
    // From C, B's other hop A is farther from 0x68 than C: nothing nearer than the previous hop.
    let (mut buf, len) = relay_frame(&c, 1, &relay_plain(0x68, C_ID, 3, inner), now);
    assert_eq!(
        b.inbound(&mut buf, len, sa(C_UDP), now),
        RxAction::Drop(DropReason::RelayNoRoute)
    );
}
