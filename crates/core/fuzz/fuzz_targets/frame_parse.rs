//! Fuzz target: every parser in ringvpn-core (outer frame, relay header, Ethernet, ARP, IP)
//! on arbitrary bytes. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringvpn_core::{ether, frame, ip, relay_frame as relay};

fuzz_target!(|data: &[u8]| {
    if let Ok(frame::Frame::Transport { header, body, .. }) = frame::parse(data) {
        assert_eq!(header.len() + body.len(), data.len());
    }
    if let Ok(info) = ip::parse(data) {
        assert!(info.total_len <= data.len());
        let _ = ip::is_ipv6_nd(data, &info);
        let _ = ip::udp_ports(data, &info);
    }
    if let Ok(h) = relay::RelayHeader::parse(data) {
        let mut out = [0u8; relay::RELAY_HEADER_LEN];
        h.write(&mut out);
        assert_eq!(&out[..], &data[..relay::RELAY_HEADER_LEN]);
    }
    if let (Some(a), Some(b)) = (data.get(..20), data.get(20..40)) {
        let (a, b): (relay::NodeId, relay::NodeId) = (a.try_into().unwrap(), b.try_into().unwrap());
        assert_eq!(relay::ring_distance(&a, &b), relay::ring_distance(&b, &a));
    }
    let _ = ether::parse(data);
    let _ = ether::parse_arp(data);
    let mut out = [0u8; ether::ARP_FRAME_LEN];
    let _ = ether::answer_arp(data, ether::DEFAULT_VIRTUAL_MAC, |ip| ip.octets()[3] & 1 == 1, &mut out);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = s.parse::<ip::IpNet>();
        let _ = ether::parse_mac(s);
    }
});
