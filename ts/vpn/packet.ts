// Owns the frame format of the service packets the data plane hands up (DHCP, DNS): Ethernet II (TAP)
// or bare IPv4 (TUN) carrying UDP, with both checksums. It must not interpret the UDP payload, keep
// state or throw on hostile bytes: parseUdpFrame returns {ok:false, code}.
//
// TAP frame (TUN frames start at the IPv4 header):
//  0                   6                   12        14
//  +-------------------+-------------------+---------+
//  | dst MAC           | src MAC           | 0x0800  |   Ethernet II, no VLAN tag
//  +-------------------+-------------------+---------+
// IPv4 header (20 bytes + options, IHL words):
//  +--------+--------+-----------------+-----------------+-------------------+
//  | 4|IHL  | TOS    | total length    | id              | flags|frag offset |
//  +--------+--------+-----------------+-----------------+-------------------+
//  | TTL    | 17     | header checksum | source address  | destination addr  |
//  +--------+--------+-----------------+-----------------+-------------------+
// UDP header (8 bytes), then the payload:
//  +-----------------+-----------------+-----------------+-----------------+
//  | source port     | dest port       | length (hdr+pl) | checksum (0=none)|
//  +-----------------+-----------------+-----------------+-----------------+
// Checksums: RFC 1071 one's complement sum; the UDP one covers the pseudo-header (src, dst, 0, 17,
// UDP length), the header and the payload, and a computed 0 is sent as 0xffff. Bytes after the IP
// total length (Ethernet padding) are ignored. Addresses are u32 numbers (big-endian order).

import { errors } from '../base/errors.js';
export type DeviceMode = 'tap' | 'tun';

export const ETH_HEADER_LEN = 14;
export const IPV4_HEADER_LEN = 20;
export const UDP_HEADER_LEN = 8;
export const ETHERTYPE_IPV4 = 0x0800;
export const IPPROTO_UDP = 17;
export const BROADCAST_IP = 0xffffffff;
export const BROADCAST_MAC = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
/** The data plane's default virtual MAC (crates/core/src/ether.rs DEFAULT_VIRTUAL_MAC). */
export const DEFAULT_VIRTUAL_MAC = new Uint8Array([0x02, 0x52, 0x56, 0x00, 0x00, 0x01]);
export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;
export const DNS_PORT = 53;

export interface UdpPacket {
  /** TAP only; null in TUN mode. */
  srcMac: Uint8Array | null;
  dstMac: Uint8Array | null;
  srcIp: number;
  dstIp: number;
  srcPort: number;
  dstPort: number;
  ttl: number;
  payload: Uint8Array;
}

export type PacketErrorCode =
  | 'too_short' | 'not_ipv4' | 'bad_version' | 'bad_ihl' | 'bad_total_length' | 'fragment'
  | 'not_udp' | 'bad_ip_checksum' | 'bad_udp_length' | 'bad_udp_checksum';
export type PacketResult = { ok: true; value: UdpPacket } | { ok: false; code: PacketErrorCode };

/** RFC 1071 sum of `b[start..end)` added to `acc`, not folded or complemented. */
function sum16(b: Uint8Array, start: number, end: number, acc: number): number {
  let i = start;
  for (; i + 1 < end; i += 2) acc += (b[i]! << 8) | b[i + 1]!;
  if (i < end) acc += b[i]! << 8;
  return acc;
}
function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + Math.floor(acc / 0x10000);
  return acc;
}

const pseudo = (src: number, dst: number, len: number): number =>
  (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + IPPROTO_UDP + len;

/** The IPv4 header checksum of the header at `ip[0..ihl)`, as it should be written (field taken as 0). */
export function ipv4HeaderChecksum(ip: Uint8Array, headerLen: number): number {
  const acc = sum16(ip, 0, headerLen, 0) - ((ip[10]! << 8) | ip[11]!);
  return ~fold(acc) & 0xffff;
}

/** The UDP checksum of `udp` (header + payload, checksum field taken as 0) between src and dst. */
export function udpChecksum(srcIp: number, dstIp: number, udp: Uint8Array): number {
  const acc = sum16(udp, 0, udp.length, pseudo(srcIp, dstIp, udp.length)) - ((udp[6]! << 8) | udp[7]!);
  const c = ~fold(acc) & 0xffff;
  return c === 0 ? 0xffff : c;
}

const u16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
const u32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

/** Parse one frame from the device into its UDP packet. Never throws. */
export function parseUdpFrame(frame: Uint8Array, mode: DeviceMode): PacketResult {
  let off = 0;
  let srcMac: Uint8Array | null = null, dstMac: Uint8Array | null = null;
  if (mode === 'tap') {
    if (frame.length < ETH_HEADER_LEN) return { ok: false, code: 'too_short' };
    if (u16(frame, 12) !== ETHERTYPE_IPV4) return { ok: false, code: 'not_ipv4' };
    dstMac = frame.slice(0, 6);
    srcMac = frame.slice(6, 12);
    off = ETH_HEADER_LEN;
  }
  if (frame.length - off < IPV4_HEADER_LEN) return { ok: false, code: 'too_short' };
  const ip = frame.subarray(off);
  if (ip[0]! >> 4 !== 4) return { ok: false, code: 'bad_version' };
  const ihl = (ip[0]! & 0x0f) * 4;
  if (ihl < IPV4_HEADER_LEN) return { ok: false, code: 'bad_ihl' };
  const total = u16(ip, 2);
  if (total < ihl || total > ip.length) return { ok: false, code: 'bad_total_length' };
  if ((u16(ip, 6) & 0x3fff) !== 0) return { ok: false, code: 'fragment' }; // MF set or offset != 0
  if (ip[9] !== IPPROTO_UDP) return { ok: false, code: 'not_udp' };
  if (fold(sum16(ip, 0, ihl, 0)) !== 0xffff) return { ok: false, code: 'bad_ip_checksum' };
  const srcIp = u32(ip, 12), dstIp = u32(ip, 16);
  if (total - ihl < UDP_HEADER_LEN) return { ok: false, code: 'bad_udp_length' };
  const udpLen = u16(ip, ihl + 4);
  if (udpLen < UDP_HEADER_LEN || udpLen > total - ihl) return { ok: false, code: 'bad_udp_length' };
  const udp = ip.subarray(ihl, ihl + udpLen);
  if (u16(udp, 6) !== 0 && fold(sum16(udp, 0, udpLen, pseudo(srcIp, dstIp, udpLen))) !== 0xffff) {
    return { ok: false, code: 'bad_udp_checksum' };
  }
  return {
    ok: true,
    value: { srcMac, dstMac, srcIp, dstIp, srcPort: u16(udp, 0), dstPort: u16(udp, 2), ttl: ip[8]!, payload: udp.slice(UDP_HEADER_LEN) },
  };
}

/** Build a frame (TAP: with Ethernet; TUN: bare IPv4) with both checksums. MACs are required in TAP mode. */
export function buildUdpFrame(p: UdpPacket, mode: DeviceMode): Uint8Array {
  const eth = mode === 'tap' ? ETH_HEADER_LEN : 0;
  const udpLen = UDP_HEADER_LEN + p.payload.length;
  const total = IPV4_HEADER_LEN + udpLen;
  if (total > 0xffff) throw errors.E_ARGUMENT('UDP payload too large for one IPv4 packet');
  const out = new Uint8Array(eth + total);
  const dv = new DataView(out.buffer);
  if (mode === 'tap') {
    if (!p.dstMac || !p.srcMac || p.dstMac.length !== 6 || p.srcMac.length !== 6) throw errors.E_ARGUMENT('TAP frames need 6-byte MACs');
    out.set(p.dstMac, 0);
    out.set(p.srcMac, 6);
    dv.setUint16(12, ETHERTYPE_IPV4);
  }
  const ip = out.subarray(eth);
  ip[0] = 0x45;
  dv.setUint16(eth + 2, total);
  ip[8] = p.ttl;
  ip[9] = IPPROTO_UDP;
  dv.setUint32(eth + 12, p.srcIp >>> 0);
  dv.setUint32(eth + 16, p.dstIp >>> 0);
  dv.setUint16(eth + 10, ipv4HeaderChecksum(ip, IPV4_HEADER_LEN));
  const u = eth + IPV4_HEADER_LEN;
  dv.setUint16(u, p.srcPort);
  dv.setUint16(u + 2, p.dstPort);
  dv.setUint16(u + 4, udpLen);
  out.set(p.payload, u + UDP_HEADER_LEN);
  dv.setUint16(u + 6, udpChecksum(p.srcIp >>> 0, p.dstIp >>> 0, out.subarray(u)));
  return out;
}

/** A reply to `req` (e.g. DNS): addresses, ports and MACs swapped. */
export function buildReply(req: UdpPacket, payload: Uint8Array, mode: DeviceMode): Uint8Array {
  return buildUdpFrame({
    srcMac: req.dstMac, dstMac: req.srcMac, srcIp: req.dstIp, dstIp: req.srcIp,
    srcPort: req.dstPort, dstPort: req.srcPort, ttl: 64, payload,
  }, mode);
}

export interface DhcpReplyAddressing {
  serverIp: number;
  /** TAP: our source MAC (the data plane's virtual MAC). */
  serverMac: Uint8Array;
  /** TAP: the client's MAC (chaddr). */
  clientMac: Uint8Array;
  /** Broadcast to ff:ff:ff:ff:ff:ff / 255.255.255.255 when set; otherwise unicast to clientMac / `to`. */
  broadcast: boolean;
  /** The unicast destination (the client's ciaddr, or yiaddr); ignored when broadcasting. */
  to: number;
}

/**
 * A DHCP server reply from port 67 to port 68. RFC 2131 §4.1: broadcast when the client asked for it
 * (flag) or has no address yet, unicast to ciaddr otherwise. busybox udhcpc and ISC dhclient read
 * replies through packet sockets while unconfigured and through a UDP socket on port 68 bound to
 * INADDR_ANY while renewing, so a broadcast reply reaches both in every state.
 */
export function buildDhcpReply(a: DhcpReplyAddressing, payload: Uint8Array, mode: DeviceMode): Uint8Array {
  return buildUdpFrame({
    srcMac: a.serverMac, dstMac: a.broadcast ? BROADCAST_MAC : a.clientMac,
    srcIp: a.serverIp, dstIp: a.broadcast ? BROADCAST_IP : a.to,
    srcPort: DHCP_SERVER_PORT, dstPort: DHCP_CLIENT_PORT, ttl: 64, payload,
  }, mode);
}

/** "02:52:56:00:00:01" (or with '-') -> 6 bytes, or null. */
export function parseMac(s: string): Uint8Array | null {
  const parts = s.split(/[:-]/);
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) return null;
  return Uint8Array.from(parts, (p) => parseInt(p, 16));
}

export function formatMac(m: Uint8Array): string {
  return Array.from(m, (b) => b.toString(16).padStart(2, '0')).join(':');
}
