// Owns the probe wire format (outer frame type 7): "who is at this endpoint?" before a handshake, so
// a node can learn the static key (and with it the node id) behind a bootstrap endpoint, and learn
// the endpoint it is seen from. It must not hold state or throw on hostile bytes: decode returns a typed error.
//
// Request (64 bytes; padded so a reply is never larger than what asked for it):
//  0        1        2        3        4                8
//  +--------+--------+--------+--------+----------------+------------------------------------+
//  | 7      | 1      | 0      | 0      | token u32LE    | target: family | port | address 16 | 37 zero bytes
//  +--------+--------+--------+--------+----------------+------------------------------------+
//  target = the endpoint the prober sent this to (family 0: none), so a node that only answers
//  (a seed) also learns the endpoint others reach it at.
// Reply (59 bytes):
//  +--------+--------+--------+--------+----------------+------------------+--------+--------+----------------+
//  | 7      | 2      | 0      | 0      | token u32LE    | static key 32    | family | port   | address 16     |
//  |        |        |        |        |                |                  | 4 or 6 | u16BE  | (v4: 4 + 12 0) |
//  +--------+--------+--------+--------+----------------+------------------+--------+--------+----------------+
// The reply is unauthenticated: the handshake that follows proves the key, and the node id is the
// hash of the key, so a forged reply can only cause a failed or wrong-id link, never a false identity.
import { isIPv4, isIPv6 } from 'node:net';

export const FRAME_PROBE = 7;
export const PROBE_REQUEST = 1;
export const PROBE_REPLY = 2;
export const PROBE_REQUEST_LEN = 64;
export const PROBE_REPLY_LEN = 59;

export type Probe =
  | { kind: 'request'; token: number; target: string | null }
  | { kind: 'reply'; token: number; staticKey: Uint8Array; observed: string | null };

export type ProbeError = 'short' | 'not_probe' | 'bad_kind' | 'bad_length' | 'bad_padding' | 'bad_family';

export function encodeProbeRequest(token: number, target: string | null = null): Uint8Array {
  const b = new Uint8Array(PROBE_REQUEST_LEN);
  b[0] = FRAME_PROBE; b[1] = PROBE_REQUEST;
  new DataView(b.buffer).setUint32(4, token >>> 0, true);
  writeEndpoint(b, 8, target);
  return b;
}

export function encodeProbeReply(token: number, staticKey: Uint8Array, observed: string | null): Uint8Array {
  const b = new Uint8Array(PROBE_REPLY_LEN);
  const v = new DataView(b.buffer);
  b[0] = FRAME_PROBE; b[1] = PROBE_REPLY;
  v.setUint32(4, token >>> 0, true);
  b.set(staticKey.subarray(0, 32), 8);
  writeEndpoint(b, 40, observed);
  return b;
}

function writeEndpoint(b: Uint8Array, at: number, endpoint: string | null): void {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const ep = endpoint ? splitEndpoint(endpoint) : null;
  if (ep && isIPv4(ep.host)) {
    b[at] = 4; v.setUint16(at + 1, ep.port, false);
    ep.host.split('.').forEach((o, i) => { b[at + 3 + i] = Number(o); });
  } else if (ep && isIPv6(ep.host)) {
    b[at] = 6; v.setUint16(at + 1, ep.port, false);
    b.set(ipv6Bytes(ep.host), at + 3);
  }
}

function readEndpoint(b: Uint8Array, at: number): { ok: true; ep: string | null } | { ok: false } {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const fam = b[at], port = v.getUint16(at + 1, false);
  if (fam === 4) return { ok: true, ep: `${b[at + 3]}.${b[at + 4]}.${b[at + 5]}.${b[at + 6]}:${port}` };
  if (fam === 6) return { ok: true, ep: `[${ipv6Text(b.subarray(at + 3, at + 19))}]:${port}` };
  return fam === 0 ? { ok: true, ep: null } : { ok: false };
}

export function decodeProbe(b: Uint8Array): { ok: true; value: Probe } | { ok: false; code: ProbeError } {
  if (b.length < 8) return { ok: false, code: 'short' };
  if (b[0] !== FRAME_PROBE) return { ok: false, code: 'not_probe' };
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b[2] !== 0 || b[3] !== 0) return { ok: false, code: 'bad_padding' };
  const token = v.getUint32(4, true);
  if (b[1] === PROBE_REQUEST) {
    if (b.length !== PROBE_REQUEST_LEN) return { ok: false, code: 'bad_length' };
    const t = readEndpoint(b, 8);
    if (!t.ok) return { ok: false, code: 'bad_family' };
    return { ok: true, value: { kind: 'request', token, target: t.ep } };
  }
  if (b[1] !== PROBE_REPLY) return { ok: false, code: 'bad_kind' };
  if (b.length !== PROBE_REPLY_LEN) return { ok: false, code: 'bad_length' };
  const staticKey = b.slice(8, 40);
  const o = readEndpoint(b, 40);
  if (!o.ok) return { ok: false, code: 'bad_family' };
  return { ok: true, value: { kind: 'reply', token, staticKey, observed: o.ep } };
}

function splitEndpoint(s: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([\d.]+)):(\d{1,5})$/.exec(s);
  return m ? { host: m[1] ?? m[2]!, port: Number(m[3]) } : null;
}

function ipv6Bytes(host: string): Uint8Array {
  const out = new Uint8Array(16);
  const [head, tail] = host.includes('::') ? host.split('::') as [string, string] : [host, null];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === null ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  groups.slice(0, 8).forEach((g: string, i: number) => { const n = parseInt(g || '0', 16); out[2 * i] = n >> 8; out[2 * i + 1] = n & 255; });
  return out;
}

function ipv6Text(b: Uint8Array): string {
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return g.join(':');
}
