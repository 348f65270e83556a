// Owns the DHCP message format: RFC 2131 fixed fields, the magic cookie, RFC 2132 options (with RFC
// 3396 long options and option 52 overload) and the RFC 3442 classless route encoding. It must not
// decide what to answer or keep state, and decoding hostile bytes returns {ok:false, code}, never throws.
//
//  0        1        2        3
//  +--------+--------+--------+--------+
//  | op     | htype  | hlen   | hops   |   op: 1 BOOTREQUEST, 2 BOOTREPLY; Ethernet: htype 1, hlen 6
//  +--------+--------+--------+--------+
//  | xid (transaction id)              |
//  +-----------------+-----------------+
//  | secs            | flags           |   flags bit 15 = BROADCAST
//  +-----------------+-----------------+
//  | ciaddr  (client's current address)|
//  | yiaddr  (your address)            |
//  | siaddr  (next server)             |
//  | giaddr  (relay agent)             |
//  +-----------------------------------+
//  | chaddr (16)  sname (64)  file (128)
//  +-----------------------------------+   offset 236
//  | 99     | 130    | 83     | 99     |   magic cookie
//  +--------+--------+--------+--------+   offset 240
//  | options: code u8, len u8, data[len]; code 0 = pad (no length), 255 = end
//
// Unknown options are kept in order as {code, data}; an option repeated is one value, the parts
// concatenated (RFC 3396), and longer values are split the same way when encoding. Replies are padded
// to 300 bytes (the BOOTP minimum some clients still assume). Addresses are u32 numbers.

import { errors } from '../base/errors.js';
import { maskOf } from '../base/ip.js';
export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
export const FLAG_BROADCAST = 0x8000;
export const FIXED_LEN = 236;
export const MAGIC_COOKIE = 0x63825363;
export const MIN_MESSAGE_LEN = 300;

export const MSG = { DISCOVER: 1, OFFER: 2, REQUEST: 3, DECLINE: 4, ACK: 5, NAK: 6, RELEASE: 7, INFORM: 8 } as const;
export type MessageTypeName = 'discover' | 'offer' | 'request' | 'decline' | 'ack' | 'nak' | 'release' | 'inform';
export const MSG_NAMES: readonly MessageTypeName[] = ['discover', 'offer', 'request', 'decline', 'ack', 'nak', 'release', 'inform'];

export const OPT = {
  PAD: 0, SUBNET_MASK: 1, ROUTER: 3, DNS_SERVERS: 6, HOST_NAME: 12, DOMAIN_NAME: 15, INTERFACE_MTU: 26,
  REQUESTED_ADDRESS: 50, LEASE_TIME: 51, OVERLOAD: 52, MESSAGE_TYPE: 53, SERVER_ID: 54, PARAMETER_LIST: 55,
  MESSAGE: 56, MAX_MESSAGE_SIZE: 57, RENEWAL_TIME: 58, REBINDING_TIME: 59, CLIENT_ID: 61,
  CLASSLESS_ROUTES: 121, END: 255,
} as const;

export interface DhcpOption { code: number; data: Uint8Array }

export interface DhcpMessage {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: number;
  yiaddr: number;
  siaddr: number;
  giaddr: number;
  /** 16 bytes; the hardware address is the first hlen. */
  chaddr: Uint8Array;
  /** 64 and 128 bytes, kept raw. */
  sname: Uint8Array;
  file: Uint8Array;
  /** In wire order, without pad/end; from sname/file too when option 52 says so. */
  options: DhcpOption[];
}

export type DhcpErrorCode = 'too_short' | 'bad_cookie' | 'bad_op' | 'bad_hlen' | 'truncated_option' | 'bad_overload';
export type DhcpResult = { ok: true; value: DhcpMessage } | { ok: false; code: DhcpErrorCode };

const u32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

/** Options in b[start..end) appended to `out`; false when one runs past the end. Stops at END. */
function readOptions(b: Uint8Array, start: number, end: number, out: DhcpOption[]): boolean {
  let i = start;
  while (i < end) {
    const code = b[i]!;
    if (code === OPT.END) return true;
    if (code === OPT.PAD) { i++; continue; }
    if (i + 2 > end) return false;
    const len = b[i + 1]!;
    if (i + 2 + len > end) return false;
    out.push({ code, data: b.slice(i + 2, i + 2 + len) });
    i += 2 + len;
  }
  return true; // a missing END is tolerated (several clients and servers omit it)
}

export function decodeDhcp(b: Uint8Array): DhcpResult {
  if (b.length < FIXED_LEN + 4) return { ok: false, code: 'too_short' };
  if (u32(b, FIXED_LEN) !== MAGIC_COOKIE) return { ok: false, code: 'bad_cookie' };
  const op = b[0]!;
  if (op !== BOOTREQUEST && op !== BOOTREPLY) return { ok: false, code: 'bad_op' };
  const hlen = b[2]!;
  if (hlen > 16) return { ok: false, code: 'bad_hlen' };
  const options: DhcpOption[] = [];
  if (!readOptions(b, FIXED_LEN + 4, b.length, options)) return { ok: false, code: 'truncated_option' };
  const m: DhcpMessage = {
    op, htype: b[1]!, hlen, hops: b[3]!, xid: u32(b, 4), secs: (b[8]! << 8) | b[9]!, flags: (b[10]! << 8) | b[11]!,
    ciaddr: u32(b, 12), yiaddr: u32(b, 16), siaddr: u32(b, 20), giaddr: u32(b, 24),
    chaddr: b.slice(28, 44), sname: b.slice(44, 108), file: b.slice(108, 236), options,
  };
  const overload = getOption(m, OPT.OVERLOAD);
  if (overload) {
    const v = overload.length === 1 ? overload[0]! : 0;
    if (v < 1 || v > 3) return { ok: false, code: 'bad_overload' };
    if ((v & 1) && !readOptions(b, 108, 236, options)) return { ok: false, code: 'truncated_option' };
    if ((v & 2) && !readOptions(b, 44, 108, options)) return { ok: false, code: 'truncated_option' };
  }
  return { ok: true, value: m };
}

/** Encode a message: fixed fields, cookie, options (split past 255 bytes), END, padded to 300 bytes. */
export function encodeDhcp(m: DhcpMessage): Uint8Array {
  let optLen = 1;
  for (const o of m.options) {
    if (o.code === OPT.PAD || o.code === OPT.END) continue;
    optLen += 2 * Math.max(1, Math.ceil(o.data.length / 255)) + o.data.length;
  }
  const out = new Uint8Array(Math.max(MIN_MESSAGE_LEN, FIXED_LEN + 4 + optLen));
  const dv = new DataView(out.buffer);
  out[0] = m.op; out[1] = m.htype; out[2] = m.hlen; out[3] = m.hops;
  dv.setUint32(4, m.xid >>> 0);
  dv.setUint16(8, m.secs); dv.setUint16(10, m.flags);
  dv.setUint32(12, m.ciaddr >>> 0); dv.setUint32(16, m.yiaddr >>> 0);
  dv.setUint32(20, m.siaddr >>> 0); dv.setUint32(24, m.giaddr >>> 0);
  out.set(m.chaddr.subarray(0, 16), 28);
  out.set(m.sname.subarray(0, 64), 44);
  out.set(m.file.subarray(0, 128), 108);
  dv.setUint32(FIXED_LEN, MAGIC_COOKIE);
  let i = FIXED_LEN + 4;
  for (const o of m.options) {
    if (o.code === OPT.PAD || o.code === OPT.END) continue;
    let p = 0;
    do {
      const n = Math.min(255, o.data.length - p);
      out[i++] = o.code; out[i++] = n;
      out.set(o.data.subarray(p, p + n), i);
      i += n; p += n;
    } while (p < o.data.length);
  }
  out[i] = OPT.END;
  return out;
}

/** The value of an option (all its instances concatenated), or null when absent. */
export function getOption(m: DhcpMessage, code: number): Uint8Array | null {
  const parts = m.options.filter((o) => o.code === code);
  if (parts.length === 0) return null;
  if (parts.length === 1) return parts[0]!.data;
  const out = new Uint8Array(parts.reduce((n, o) => n + o.data.length, 0));
  let i = 0;
  for (const o of parts) { out.set(o.data, i); i += o.data.length; }
  return out;
}

/** Option 53 (1..8), or null when missing or malformed. */
export function messageType(m: DhcpMessage): number | null {
  const v = getOption(m, OPT.MESSAGE_TYPE);
  return v && v.length === 1 && v[0]! >= 1 && v[0]! <= 8 ? v[0]! : null;
}

export function messageTypeName(t: number): MessageTypeName | null {
  return MSG_NAMES[t - 1] ?? null;
}

/** A 4-byte address option, or null when absent or not 4 bytes. */
export function getIpOption(m: DhcpMessage, code: number): number | null {
  const v = getOption(m, code);
  return v && v.length === 4 ? u32(v, 0) : null;
}

/** A list-of-addresses option (e.g. 3, 6), or null when absent or not a multiple of 4. */
export function getIpsOption(m: DhcpMessage, code: number): number[] | null {
  const v = getOption(m, code);
  if (!v || v.length === 0 || v.length % 4 !== 0) return null;
  return Array.from({ length: v.length / 4 }, (_, k) => u32(v, 4 * k));
}

export function getU32Option(m: DhcpMessage, code: number): number | null {
  return getIpOption(m, code);
}

export function getU16Option(m: DhcpMessage, code: number): number | null {
  const v = getOption(m, code);
  return v && v.length === 2 ? (v[0]! << 8) | v[1]! : null;
}

/** A text option (12, 15): bytes as latin1 (no decoding failure possible), or null. */
export function getStringOption(m: DhcpMessage, code: number): string | null {
  const v = getOption(m, code);
  return v ? Buffer.from(v.buffer, v.byteOffset, v.length).toString('latin1') : null;
}

export const u8Option = (code: number, v: number): DhcpOption => ({ code, data: Uint8Array.of(v & 255) });
export const u16Option = (code: number, v: number): DhcpOption => ({ code, data: Uint8Array.of((v >>> 8) & 255, v & 255) });
export const u32Option = (code: number, v: number): DhcpOption => ipsOption(code, [v]);
export function ipsOption(code: number, ips: readonly number[]): DhcpOption {
  const data = new Uint8Array(4 * ips.length);
  const dv = new DataView(data.buffer);
  ips.forEach((ip, k) => dv.setUint32(4 * k, ip >>> 0));
  return { code, data };
}
/** A text option; characters outside latin1 are not expected (host and domain names are ASCII). */
export const stringOption = (code: number, s: string): DhcpOption => ({ code, data: Uint8Array.from(s, (c) => c.charCodeAt(0) & 255) });

export interface ClasslessRoute { dest: number; prefix: number; gateway: number }

/** RFC 3442: per route, prefix length, the significant octets of the destination, the router. */
export function encodeClasslessRoutes(routes: readonly ClasslessRoute[]): Uint8Array {
  const parts: number[] = [];
  for (const r of routes) {
    if (!Number.isInteger(r.prefix) || r.prefix < 0 || r.prefix > 32) throw errors.E_ARGUMENT(`bad prefix length ${r.prefix}`);
    parts.push(r.prefix);
    const dest = maskOf(r.prefix) & r.dest;
    for (let k = 0; k < Math.ceil(r.prefix / 8); k++) parts.push((dest >>> (24 - 8 * k)) & 255);
    for (let k = 0; k < 4; k++) parts.push((r.gateway >>> (24 - 8 * k)) & 255);
  }
  return Uint8Array.from(parts);
}

export type RoutesResult = { ok: true; value: ClasslessRoute[] } | { ok: false; code: 'bad_routes' };

export function decodeClasslessRoutes(b: Uint8Array): RoutesResult {
  const routes: ClasslessRoute[] = [];
  let i = 0;
  while (i < b.length) {
    const prefix = b[i++]!;
    if (prefix > 32) return { ok: false, code: 'bad_routes' };
    const n = Math.ceil(prefix / 8);
    if (i + n + 4 > b.length) return { ok: false, code: 'bad_routes' };
    let dest = 0;
    for (let k = 0; k < 4; k++) dest = dest * 256 + (k < n ? b[i + k]! : 0);
    i += n;
    routes.push({ dest: (dest & maskOf(prefix)) >>> 0, prefix, gateway: u32(b, i) });
    i += 4;
  }
  return { ok: true, value: routes };
}
