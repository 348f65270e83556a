//! Owns the list of reasons a packet can be dropped, with stable snake_case codes that
//! TypeScript and the stats output rely on (never renumber or rename; append only).
//! Must not carry data or do any I/O: counting happens in the data plane.

macro_rules! drop_reasons {
    ($($(#[$doc:meta])* $variant:ident = $code:literal,)*) => {
        /// Why a packet was dropped. `as u8` is the index into counters.
        #[repr(u8)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum DropReason {
            $($(#[$doc])* $variant,)*
        }

        impl DropReason {
            /// Every reason, in discriminant order (`ALL[r as usize] == r`).
            pub const ALL: &'static [DropReason] = &[$(DropReason::$variant,)*];
            /// Number of reasons (size of a counter array).
            pub const COUNT: usize = Self::ALL.len();

            /// Stable snake_case code.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(DropReason::$variant => $code,)*
                }
            }
        }
    };
}

drop_reasons! {
    /// Frame shorter than its type's minimum (e.g. DATA under header + tag).
    ShortFrame = "short_frame",
    /// Unknown outer type byte, or non-zero reserved bytes in a transport header.
    UnknownType = "unknown_type",
    /// Transport frame's receiver index matches no session.
    UnknownIndex = "unknown_index",
    /// Counter already seen or older than the replay window.
    Replay = "replay",
    /// Poly1305 tag did not verify.
    AuthFailed = "auth_failed",
    /// Session too old or counter exhausted (REJECT_AFTER_*).
    SessionExpired = "session_expired",
    /// No forwarding entry for the inner destination address, and the packet is not held
    /// (multicast/broadcast destinations are never held).
    NoRoute = "no_route",
    /// Peer has no usable send session (TS is told with a need_session event) and the packet is
    /// not held; packets are never relayed without one.
    NoSession = "no_session",
    /// Peer has a session but no usable path: no known UDP endpoint (or `relayOnly`) and no
    /// usable via hop.
    NoEndpoint = "no_endpoint",
    /// Ethernet frame / plaintext that is neither ARP, IPv4 nor IPv6.
    NotIp = "not_ip",
    /// IP header fails validation (version, lengths).
    MalformedIp = "malformed_ip",
    /// Malformed Ethernet or ARP frame.
    MalformedEther = "malformed_ether",
    /// ARP request we do not answer (not routable, gratuitous, probe, or our own address).
    ArpIgnored = "arp_ignored",
    /// IPv6 neighbour discovery in TAP mode (no ND proxy yet).
    Ipv6Nd = "ipv6_nd",
    /// Packet does not fit the buffer / frame size limits.
    Oversize = "oversize",
    /// Decrypted packet's inner source is not in the peer's allowed prefixes: at once for a
    /// static-mesh peer; for an overlay peer once it was held and the peer's next set_peer still
    /// did not allow it, or it waited past the hold time, or the hold was full.
    SourceNotAllowed = "source_not_allowed",
    /// Writing to the TUN/TAP device failed.
    DeviceWrite = "device_write",
    /// Sending on the UDP socket failed.
    UdpSend = "udp_send",
    /// Event queue to TypeScript was full.
    QueueFull = "queue_full",
    /// RELAY plaintext shorter than the relay header, or with unknown flags or non-zero reserved bytes.
    RelayMalformed = "relay_malformed",
    /// Unused since relayed packets travel as end-to-end frames (the raw-IP relay checked its
    /// inner source by route); kept so the codes stay stable.
    RelayUnknownSource = "relay_unknown_source",
    /// Relayed packet not for us with ttl 0.
    RelayTtl = "relay_ttl",
    /// Relayed packet not for us and no peer closer to its destination (or relay disabled:
    /// no own node id).
    RelayNoRoute = "relay_no_route",
    /// Packet to the service address that is not intercepted (only UDP port 53 is).
    ServiceUnhandled = "service_unhandled",
    /// Relayed end-to-end frame for us whose session belongs to a peer whose node id is not
    /// the relay header's src.
    RelaySrcMismatch = "relay_src_mismatch",
    /// A device packet waiting for a route or session found its hold queue full (too many
    /// packets for its destination, too many destinations, or no free buffer).
    PendingOverflow = "pending_overflow",
    /// A device packet waited for a route or session longer than the hold time.
    PendingExpired = "pending_expired",
    /// A relay link's frame for a new pair while this relay carries its maximum number of pairs.
    RelayFull = "relay_full",
    /// A relay link's frame over its pair's byte rate at this relay.
    RelayRate = "relay_rate",
    /// A handshake-class datagram (initiation, response, cookie reply, probe) over its source
    /// address's token bucket; dropped before any copy towards the control plane.
    HandshakeRate = "handshake_rate",
    /// A handshake-class datagram while the event queue holds its share of them (a quarter).
    HandshakeQueue = "handshake_queue",
    /// An authenticated CONTROL message over its peer's token bucket (2,000/s, burst 8,000): a
    /// flooding member is cut down in the data plane before any copy (the control plane's
    /// per-link quota is the policy below it).
    ControlRate = "control_rate",
    /// A device packet whose virtio-net header is malformed or does not fit the packet (offsets
    /// past its end, a GSO packet that is not the TCP or UDP it claims).
    VnetHeader = "vnet_header",
    /// A device packet with a GSO type the device was not offered (UFO, ECN alone, unknown).
    VnetGsoType = "vnet_gso_type",
    /// A member's packet for a destination this node does not serve (outside the virtual
    /// subnet and the subnets it routes): a member must not reach this host's LAN or the
    /// Internet through its IP forwarding. Overlay mode only; a static mesh routes as configured.
    DstNotAllowed = "dst_not_allowed",
}

impl core::fmt::Display for DropReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_discriminant_order_and_codes_unique() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
            let s = r.as_str();
            assert!(s
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit()));
        }
        let mut codes: Vec<_> = DropReason::ALL.iter().map(|r| r.as_str()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), DropReason::COUNT);
        assert_eq!(DropReason::ShortFrame.as_str(), "short_frame");
        assert_eq!(DropReason::QueueFull.to_string(), "queue_full");
    }
}
