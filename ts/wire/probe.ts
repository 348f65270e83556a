// Owns the probe wire format (outer frame type 7, FRAME_TYPE_PROBE): "who is at this endpoint?" before
// a handshake, so a node can learn the static key (and with it the node id) behind a bootstrap
// endpoint, and learn the endpoint it is seen from. It must not hold state or throw on hostile bytes:
// decode returns a typed error (an unknown version is 'bad_version'). Multi-byte fields are big-endian.
//
// Request (64 bytes; padded so a reply is never larger than what asked for it):
//  0        1        2        3        4                8                       27                 64
//  +--------+--------+--------+--------+----------------+-----------------------+------------------+
//  | 7      | ver=1  | kind=1 | 0      | token u32BE    | target endpoint (19)  | 37 zero bytes    |
//  +--------+--------+--------+--------+----------------+-----------------------+------------------+
//  target = the endpoint the prober sent this to (family 0: none), so a node that only answers
//  (a seed) also learns the endpoint others reach it at.
// Reply (59 bytes):
//  0        1        2        3        4                8                  40                      59
//  +--------+--------+--------+--------+----------------+------------------+-----------------------+
//  | 7      | ver=1  | kind=2 | 0      | token u32BE    | static key 32    | observed endpoint (19)|
//  +--------+--------+--------+--------+----------------+------------------+-----------------------+
//  observed = the source address the request came from, as the replier saw it.
// Endpoint (19 bytes): family u8 (0 none, 4 IPv4, 6 IPv6) | port u16BE | address 16 (IPv4: 4 bytes then
// 12 zero bytes; none: all zero). Endpoint text is "a.b.c.d:port" or "[v6]:port" as ts/base/ip.ts parses and
// prints it (RFC 5952); any other text encodes as family 0.
// The reply is unauthenticated: the handshake that follows proves the key, and the node id is the
// hash of the key, so a forged reply can only cause a failed or wrong-id link, never a false identity.
import { formatEndpoint, parseEndpoint } from '../base/ip.js';
import { FRAME_TYPE_PROBE } from './frame-types.js';

export const PROBE_VERSION = 1;
export const PROBE_REQUEST = 1;
export const PROBE_REPLY = 2;
export const PROBE_REQUEST_LEN = 64;
export const PROBE_REPLY_LEN = 59;
const HEADER_LEN = 8;

export type Probe =
  | { kind: 'request'; token: number; target: string | null }
  | { kind: 'reply'; token: number; staticKey: Uint8Array; observed: string | null };

export type ProbeError = 'short' | 'not_probe' | 'bad_version' | 'bad_kind' | 'bad_length' | 'bad_padding' | 'bad_family';

/** True when the datagram is a probe frame (any version); decodeProbe says whether it is a good one. */
export function isProbeFrame(b: Uint8Array): boolean {
  return b[0] === FRAME_TYPE_PROBE;
}

export function encodeProbeRequest(token: number, target: string | null = null): Uint8Array {
  const b = header(PROBE_REQUEST_LEN, PROBE_REQUEST, token);
  writeEndpoint(b, HEADER_LEN, target);
  return b;
}

export function encodeProbeReply(token: number, staticKey: Uint8Array, observed: string | null): Uint8Array {
  const b = header(PROBE_REPLY_LEN, PROBE_REPLY, token);
  b.set(staticKey.subarray(0, 32), HEADER_LEN);
  writeEndpoint(b, HEADER_LEN + 32, observed);
  return b;
}

export function decodeProbe(b: Uint8Array): { ok: true; value: Probe } | { ok: false; code: ProbeError } {
  if (b.length < 2) return { ok: false, code: 'short' };
  if (b[0] !== FRAME_TYPE_PROBE) return { ok: false, code: 'not_probe' };
  if (b[1] !== PROBE_VERSION) return { ok: false, code: 'bad_version' };
  if (b.length < HEADER_LEN) return { ok: false, code: 'short' };
  if (b[3] !== 0) return { ok: false, code: 'bad_padding' };
  const token = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(4, false);
  if (b[2] === PROBE_REQUEST) {
    if (b.length !== PROBE_REQUEST_LEN) return { ok: false, code: 'bad_length' };
    const t = readEndpoint(b, HEADER_LEN);
    if (!t.ok) return { ok: false, code: 'bad_family' };
    return { ok: true, value: { kind: 'request', token, target: t.ep } };
  }
  if (b[2] !== PROBE_REPLY) return { ok: false, code: 'bad_kind' };
  if (b.length !== PROBE_REPLY_LEN) return { ok: false, code: 'bad_length' };
  const staticKey = b.slice(HEADER_LEN, HEADER_LEN + 32);
  const o = readEndpoint(b, HEADER_LEN + 32);
  if (!o.ok) return { ok: false, code: 'bad_family' };
  return { ok: true, value: { kind: 'reply', token, staticKey, observed: o.ep } };
}

function header(len: number, kind: number, token: number): Uint8Array {
  const b = new Uint8Array(len);
  b[0] = FRAME_TYPE_PROBE; b[1] = PROBE_VERSION; b[2] = kind;
  new DataView(b.buffer).setUint32(4, token >>> 0, false);
  return b;
}

// ---------------------------------------------------------------- endpoints

function writeEndpoint(b: Uint8Array, at: number, text: string | null): void {
  const ep = text === null ? null : parseEndpoint(text);
  if (!ep) return; // family 0, all zero
  b[at] = ep.family;
  b[at + 1] = ep.port >> 8; b[at + 2] = ep.port & 0xff;
  b.set(ep.address, at + 3);
}

function readEndpoint(b: Uint8Array, at: number): { ok: true; ep: string | null } | { ok: false } {
  const fam = b[at], port = (b[at + 1]! << 8) | b[at + 2]!;
  if (fam === 4) return { ok: true, ep: formatEndpoint(b.subarray(at + 3, at + 7), port) };
  if (fam === 6) return { ok: true, ep: formatEndpoint(b.subarray(at + 3, at + 19), port) };
  return fam === 0 ? { ok: true, ep: null } : { ok: false };
}
