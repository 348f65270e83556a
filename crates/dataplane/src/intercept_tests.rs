//! DHCP/DNS interception, the service address (ARP, unhandled traffic) and route-miss events.

use super::*;
use crate::config::DeviceMode;
use crate::pipeline::tests::{arp_request, eth, hold, ipv4, out, shared, OS_MAC};
use crate::pipeline::Wait;
use ringvpn_core::ether::{
    parse_arp, BROADCAST_MAC, DEFAULT_VIRTUAL_MAC, ETHERTYPE_IPV4, ETH_HEADER_LEN,
};
use std::net::Ipv4Addr;
use std::time::Duration;

const SERVICE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 53);

fn udp(sport: u16, dport: u16, body: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + body.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(body);
    u
}

fn services(mode: DeviceMode, addr: Option<(Ipv4Addr, u8)>) -> Shared {
    let mut s = shared(mode, addr);
    s.intercept_dhcp = true;
    s.service_addr = Some(SERVICE);
    s
}

#[test]
fn dhcp_request_goes_up_whole() {
    let now = Instant::now();
    let s = services(DeviceMode::Tap, None);
    let discover = ipv4(
        [0, 0, 0, 0],
        [255, 255, 255, 255],
        &udp(68, 67, b"DHCPDISCOVER"),
    );
    let mut frame = eth(BROADCAST_MAC, OS_MAC, ETHERTYPE_IPV4, &discover);
    frame.extend_from_slice(&[0; 4]); // padding is part of the frame as read
    assert_eq!(out(&s, &frame, now).0, TxAction::Consumed);
    assert_eq!(
        s.events.drain(),
        vec![Event::Device {
            data: frame.clone()
        }]
    );
    assert_eq!(s.counters.device_intercepted.load(Ordering::Relaxed), 1);
    // Off by default: routed like anything else (no route; broadcast raises no miss).
    let mut off = shared(DeviceMode::Tap, None);
    off.service_addr = Some(SERVICE);
    assert_eq!(
        out(&off, &frame, now).0,
        TxAction::Drop(DropReason::NoRoute)
    );
    assert!(off.events.is_empty());
    // A non-first fragment has no UDP header: not intercepted.
    let mut frag = discover.clone();
    frag[7] = 1;
    assert_eq!(
        out(&s, &frag_frame(&frag), now).0,
        TxAction::Drop(DropReason::NoRoute)
    );
}

fn frag_frame(ip: &[u8]) -> Vec<u8> {
    eth(BROADCAST_MAC, OS_MAC, ETHERTYPE_IPV4, ip)
}

#[test]
fn dns_to_service_address_only() {
    let now = Instant::now();
    let s = services(DeviceMode::Tun, Some((Ipv4Addr::new(10, 0, 0, 1), 24)));
    s.tables
        .set_peer(1, None, crate::pipeline::tests::nets(&["10.0.0.0/24"]));
    let query = ipv4([10, 0, 0, 1], SERVICE.octets(), &udp(5353, 53, b"query"));
    assert_eq!(out(&s, &query, now).0, TxAction::Consumed);
    assert_eq!(s.events.drain(), vec![Event::Device { data: query }]);
    // Other traffic to the service address is dropped, not routed (a route covers it).
    let other_port = ipv4([10, 0, 0, 1], SERVICE.octets(), &udp(5353, 54, b""));
    let mut tcp = ipv4([10, 0, 0, 1], SERVICE.octets(), &udp(5353, 53, b""));
    tcp[9] = 6;
    for p in [other_port, tcp] {
        assert_eq!(
            out(&s, &p, now).0,
            TxAction::Drop(DropReason::ServiceUnhandled)
        );
    }
    // DNS to another address is routed normally.
    let elsewhere = ipv4([10, 0, 0, 1], [10, 0, 0, 7], &udp(5353, 53, b"q"));
    assert_eq!(
        out(&s, &elsewhere, now).0,
        hold("10.0.0.7", elsewhere.len(), Wait::Session(1))
    );
    assert_eq!(s.counters.device_intercepted.load(Ordering::Relaxed), 1);
}

#[test]
fn arp_for_service_address_without_own_address() {
    let now = Instant::now();
    let s = services(DeviceMode::Tap, None);
    let (act, _, reply) = out(
        &s,
        &arp_request(OS_MAC, [10, 0, 0, 1], SERVICE.octets()),
        now,
    );
    assert_eq!(act, TxAction::ArpReply);
    let r = parse_arp(&reply[ETH_HEADER_LEN..]).expect("reply");
    assert_eq!((r.sender_mac, r.sender_ip), (DEFAULT_VIRTUAL_MAC, SERVICE));
    // Other addresses are not answered without an address or route.
    assert_eq!(
        out(&s, &arp_request(OS_MAC, [10, 0, 0, 1], [10, 0, 0, 54]), now).0,
        TxAction::Drop(DropReason::ArpIgnored)
    );
    // Once set at runtime, the prefix is proxied.
    s.set_address(Some((Ipv4Addr::new(10, 0, 0, 1), 24)));
    assert_eq!(
        out(&s, &arp_request(OS_MAC, [10, 0, 0, 1], [10, 0, 0, 54]), now).0,
        TxAction::ArpReply
    );
}

#[test]
fn miss_events_are_rate_limited_per_destination() {
    let s = shared(DeviceMode::Tun, Some((Ipv4Addr::new(10, 0, 0, 1), 24)));
    let now = Instant::now(); // after the engine clock's epoch
    let to = |d: [u8; 4]| ipv4([10, 0, 0, 1], d, b"");
    let miss = |d: &str| Event::Miss {
        dst: d.parse().expect("ip"),
    };
    for t in [0u64, 1, 999] {
        let at = now + Duration::from_millis(t);
        assert_eq!(
            out(&s, &to([10, 0, 0, 9]), at).0,
            hold("10.0.0.9", 20, Wait::Route)
        );
    }
    out(&s, &to([10, 0, 0, 8]), now);
    assert_eq!(s.events.drain(), vec![miss("10.0.0.9"), miss("10.0.0.8")]);
    out(&s, &to([10, 0, 0, 9]), now + Duration::from_millis(1000));
    assert_eq!(s.events.drain(), vec![miss("10.0.0.9")]);
    // Broadcast, prefix broadcast and multicast destinations raise no miss.
    for d in [[255, 255, 255, 255], [10, 0, 0, 255], [224, 0, 0, 251]] {
        assert_eq!(out(&s, &to(d), now).0, TxAction::Drop(DropReason::NoRoute));
    }
    assert!(s.events.is_empty());
    // Many destinations: bounded, and each still raises its first miss.
    for i in 0..10_000u32 {
        let d = Ipv4Addr::from(0x0b00_0000 + i).octets();
        out(&s, &to(d), now);
    }
    assert_eq!(
        s.events.drain().len(),
        64,
        "event queue capacity bounds the burst"
    );
    assert!(s.counters.drops(DropReason::QueueFull) > 0);
}
