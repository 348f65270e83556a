// Owns the byte format of the daemon's own messages carried as routed DATA payloads and broadcast
// payloads (the overlay treats them as opaque): the crawl's neighbour query, handshake frames carried
// end to end, and revocation records. Decoding hostile bytes returns {ok:false, code} and never
// throws; an unknown version decodes to code 'bad-version'. It must not route, time or do I/O.
//
//   0      1      2                  6
//  +------+------+------------------+-----------------------------------------------+
//  | ver  | app  | reqId u32BE      | body                                          |
//  +------+------+------------------+-----------------------------------------------+
//  ver = APP_VERSION (1). Every multi-byte field is big-endian.
//  app 1 NEIGHBOURS_REQ    (no body)
//  app 2 NEIGHBOURS_REPLY  flags u8 (bit i: slot i present; slots left1, left2, right1, right2) | ids [20] each
//  app 3 HANDSHAKE         a handshake frame (types 1/2, ts/handshake/frames.ts), 1..2048 bytes, carried end to end (reqId 0)
//  app 4 REVOCATION        a CA-signed revocation record (ts/pki/revocation.ts), 1..2048 bytes, as a broadcast payload (reqId 0)
//  app 5 ROUTES            (no body, reqId 0) a broadcast payload: a member announced subnets; read the routes record now
//  app 6 RELAY_SYNC        flags u8 (bit0 reply, bit1 uses) | static key [32] | endpoints | u8 n | n x candidate    (reqId 0)
//                          candidate = id [20] | age u32BE (s the link has been up) | rtt u16BE (ms, 0xffff unknown) | endpoints
//                          endpoints = u8 n (<= 8) | n x (u8 len (1..64) | ASCII host:port)
//                          the sender's direct links a relay link could go through (ts/node/relay-links.ts);
//                          the key lets the other side handshake with it (its node id is the key's hash);
//                          uses: candidate 0 is the relay the sender carries this link through (the smaller
//                          node id's choice binds both ends, so the relay keeps its links to both)
//  app 7 PUNCH             [endpoints] (reqId 0) over a relay link: probe my endpoints now (I probe yours), to go
//                          direct; the body, when present, is the sender's current endpoints (port predictions
//                          included), encoded as in RELAY_SYNC
//  app 8 GATEWAY_PING      (no body) a full-tunnel client asks a gateway whether it is alive and serves it (RTT)
//  app 9 GATEWAY_PONG      flags u8 (bit0: the gateway's policy admits the sender), same reqId as the ping
//  app 10 ECHO_REQUEST     (no body) `ringvpn ping`: any member answers
//  app 11 ECHO_REPLY       hops u8 (the overlay hops the request took, 255 = 255 or more), same reqId as the request
import { type NodeId, ID_BYTES, idFromBytes, idToBytes } from '../base/nodeid.js';

export const APP_VERSION = 1;
export const APP_HEADER_LEN = 6;
export const APP_NEIGHBOURS_REQ = 1, APP_NEIGHBOURS_REPLY = 2, APP_HANDSHAKE = 3, APP_REVOCATION = 4, APP_ROUTES = 5, APP_RELAY_SYNC = 6, APP_PUNCH = 7, APP_GATEWAY_PING = 8, APP_GATEWAY_PONG = 9, APP_ECHO_REQUEST = 10, APP_ECHO_REPLY = 11;
export const RELAY_MAX_CANDIDATES = 16, RELAY_MAX_ENDPOINTS = 8, RELAY_RTT_UNKNOWN = 0xffff;
const KEY_BYTES = 32, MAX_EP_LEN = 64;
export const APP_MAX_OPAQUE = 2048;
const SLOTS = ['left1', 'left2', 'right1', 'right2'] as const;
export type NeighbourSlots = Partial<Record<(typeof SLOTS)[number], NodeId>>;

/** A direct link of the sender that a relay link could use: the neighbour, how long the link has been up, its RTT. */
export interface RelayCandidate { id: NodeId; ageS: number; rttMs: number | null; endpoints: string[] }

export type AppMsg =
  | { app: 'neighbours-req'; reqId: number }
  | { app: 'neighbours-reply'; reqId: number; view: NeighbourSlots }
  | { app: 'handshake'; bytes: Uint8Array }
  | { app: 'revocation'; record: Uint8Array }
  | { app: 'routes' }
  | { app: 'relay-sync'; reply: boolean; key: Uint8Array; endpoints: string[]; candidates: RelayCandidate[]; uses?: boolean }
  | { app: 'punch'; endpoints?: string[] }
  | { app: 'gateway-ping'; reqId: number }
  | { app: 'gateway-pong'; reqId: number; admitted: boolean }
  | { app: 'echo-request'; reqId: number }
  | { app: 'echo-reply'; reqId: number; hops: number };

export type AppDecodeErrorCode = 'truncated' | 'bad-version' | 'bad-type' | 'bad-value';
export type AppDecodeResult = { ok: true; msg: AppMsg } | { ok: false; code: AppDecodeErrorCode };

export function encodeApp(m: AppMsg): Uint8Array {
  if (m.app === 'neighbours-req') return header(APP_NEIGHBOURS_REQ, m.reqId, 0);
  if (m.app === 'routes') return header(APP_ROUTES, 0, 0);
  if (m.app === 'gateway-ping') return header(APP_GATEWAY_PING, m.reqId, 0);
  if (m.app === 'gateway-pong') { const b = header(APP_GATEWAY_PONG, m.reqId, 1); b[APP_HEADER_LEN] = m.admitted ? 1 : 0; return b; }
  if (m.app === 'echo-request') return header(APP_ECHO_REQUEST, m.reqId, 0);
  if (m.app === 'echo-reply') { const b = header(APP_ECHO_REPLY, m.reqId, 1); b[APP_HEADER_LEN] = Math.max(0, Math.min(255, m.hops)); return b; }
  if (m.app === 'punch') {
    if (!m.endpoints?.length) return header(APP_PUNCH, 0, 0);
    const own = relayEndpoints(m.endpoints);
    const b = header(APP_PUNCH, 0, 1 + own.reduce((n, e) => n + 1 + e.length, 0));
    let off = APP_HEADER_LEN;
    b[off++] = own.length;
    for (const e of own) { b[off++] = e.length; b.set(e, off); off += e.length; }
    return b;
  }
  if (m.app === 'relay-sync') return encodeRelaySync(m);
  if (m.app === 'handshake' || m.app === 'revocation') {
    const body = m.app === 'handshake' ? m.bytes : m.record;
    const b = header(m.app === 'handshake' ? APP_HANDSHAKE : APP_REVOCATION, 0, body.length);
    b.set(body, APP_HEADER_LEN);
    return b;
  }
  const present = SLOTS.filter((s) => m.view[s] !== undefined);
  const b = header(APP_NEIGHBOURS_REPLY, m.reqId, 1 + present.length * ID_BYTES);
  let flags = 0, off = APP_HEADER_LEN + 1;
  SLOTS.forEach((s, i) => { const id = m.view[s]; if (id !== undefined) { flags |= 1 << i; idToBytes(id, b, off); off += ID_BYTES; } });
  b[APP_HEADER_LEN] = flags;
  return b;
}

export function decodeApp(b: Uint8Array): AppDecodeResult {
  if (b.length < 1) return { ok: false, code: 'truncated' };
  if (b[0] !== APP_VERSION) return { ok: false, code: 'bad-version' };
  if (b.length < APP_HEADER_LEN) return { ok: false, code: 'truncated' };
  const app = b[1];
  const reqId = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(2, false);
  if (app === APP_HANDSHAKE || app === APP_REVOCATION) {
    const body = b.slice(APP_HEADER_LEN);
    if (!body.length || body.length > APP_MAX_OPAQUE) return { ok: false, code: 'bad-value' };
    return { ok: true, msg: app === APP_HANDSHAKE ? { app: 'handshake', bytes: body } : { app: 'revocation', record: body } };
  }
  if (app === APP_ROUTES) return b.length === APP_HEADER_LEN ? { ok: true, msg: { app: 'routes' } } : { ok: false, code: 'bad-value' };
  if (app === APP_PUNCH) return decodePunch(b);
  if (app === APP_GATEWAY_PING) return b.length === APP_HEADER_LEN ? { ok: true, msg: { app: 'gateway-ping', reqId } } : { ok: false, code: 'bad-value' };
  if (app === APP_ECHO_REQUEST) return b.length === APP_HEADER_LEN ? { ok: true, msg: { app: 'echo-request', reqId } } : { ok: false, code: 'bad-value' };
  if (app === APP_ECHO_REPLY) return b.length === APP_HEADER_LEN + 1 ? { ok: true, msg: { app: 'echo-reply', reqId, hops: b[APP_HEADER_LEN]! } } : { ok: false, code: 'bad-value' };
  if (app === APP_GATEWAY_PONG) {
    return b.length === APP_HEADER_LEN + 1 && b[APP_HEADER_LEN]! <= 1 ? { ok: true, msg: { app: 'gateway-pong', reqId, admitted: b[APP_HEADER_LEN] === 1 } } : { ok: false, code: 'bad-value' };
  }
  if (app === APP_RELAY_SYNC) return decodeRelaySync(b);
  if (app === APP_NEIGHBOURS_REQ) return b.length === APP_HEADER_LEN ? { ok: true, msg: { app: 'neighbours-req', reqId } } : { ok: false, code: 'bad-value' };
  if (app !== APP_NEIGHBOURS_REPLY) return { ok: false, code: 'bad-type' };
  if (b.length < APP_HEADER_LEN + 1) return { ok: false, code: 'truncated' };
  const flags = b[APP_HEADER_LEN]!;
  if (flags > 15) return { ok: false, code: 'bad-value' };
  const view: NeighbourSlots = {};
  let off = APP_HEADER_LEN + 1;
  for (const [i, s] of SLOTS.entries()) {
    if (!(flags & (1 << i))) continue;
    if (b.length < off + ID_BYTES) return { ok: false, code: 'truncated' };
    view[s] = idFromBytes(b, off); off += ID_BYTES;
  }
  return off === b.length ? { ok: true, msg: { app: 'neighbours-reply', reqId, view } } : { ok: false, code: 'bad-value' };
}

function header(app: number, reqId: number, bodyLen: number): Uint8Array {
  const b = new Uint8Array(APP_HEADER_LEN + bodyLen);
  b[0] = APP_VERSION;
  b[1] = app;
  new DataView(b.buffer).setUint32(2, reqId >>> 0, false);
  return b;
}

// ------------------------------------------------------------------ RELAY_SYNC
/** Endpoints as RELAY_SYNC and PUNCH carry them: printable ASCII, 1..64 bytes each, at most 8. */
function relayEndpoints(list: string[]): Uint8Array[] {
  return list.filter((e) => e.length >= 1 && e.length <= MAX_EP_LEN && /^[\x21-\x7e]+$/.test(e)).slice(0, RELAY_MAX_ENDPOINTS).map((e) => new TextEncoder().encode(e));
}

/**
 * Read an endpoint list at `off` (the format relayEndpoints writes): the list and the offset after it,
 * or the error code ('truncated' when a count or length byte is missing).
 */
function readEndpoints(b: Uint8Array, at: number): { eps: string[]; off: number } | { code: 'truncated' | 'bad-value' } {
  let off = at;
  if (off >= b.length) return { code: 'truncated' };
  const n = b[off++]!;
  if (n > RELAY_MAX_ENDPOINTS) return { code: 'bad-value' };
  const eps: string[] = [];
  for (let i = 0; i < n; i++) {
    if (off >= b.length) return { code: 'truncated' };
    const l = b[off++]!;
    if (l < 1 || l > MAX_EP_LEN || off + l > b.length) return { code: 'bad-value' };
    let s = '';
    for (let k = 0; k < l; k++) { const c = b[off + k]!; if (c < 0x21 || c > 0x7e) return { code: 'bad-value' }; s += String.fromCharCode(c); }
    off += l;
    eps.push(s);
  }
  return { eps, off };
}

function decodePunch(b: Uint8Array): AppDecodeResult {
  if (b.length === APP_HEADER_LEN) return { ok: true, msg: { app: 'punch' } };
  const r = readEndpoints(b, APP_HEADER_LEN);
  if ('code' in r) return { ok: false, code: r.code };
  if (r.off !== b.length) return { ok: false, code: 'bad-value' };
  return { ok: true, msg: { app: 'punch', endpoints: r.eps } };
}

function encodeRelaySync(m: Extract<AppMsg, { app: 'relay-sync' }>): Uint8Array {
  if (m.key.length !== KEY_BYTES) throw new RangeError('relay-sync: key must be 32 bytes');
  const eps = relayEndpoints;
  const epLen = (l: Uint8Array[]): number => 1 + l.reduce((n, e) => n + 1 + e.length, 0);
  const own = eps(m.endpoints);
  const cands = m.candidates.slice(0, RELAY_MAX_CANDIDATES).map((c) => ({ c, eps: eps(c.endpoints) }));
  const len = 1 + KEY_BYTES + epLen(own) + 1 + cands.reduce((n, x) => n + ID_BYTES + 4 + 2 + epLen(x.eps), 0);
  const b = header(APP_RELAY_SYNC, 0, len);
  const dv = new DataView(b.buffer);
  let off = APP_HEADER_LEN;
  b[off++] = (m.reply ? 1 : 0) | (m.uses && cands.length ? 2 : 0);
  b.set(m.key, off); off += KEY_BYTES;
  const putEps = (l: Uint8Array[]): void => { b[off++] = l.length; for (const e of l) { b[off++] = e.length; b.set(e, off); off += e.length; } };
  putEps(own);
  b[off++] = cands.length;
  for (const { c, eps: ce } of cands) {
    idToBytes(c.id, b, off); off += ID_BYTES;
    dv.setUint32(off, Math.max(0, Math.min(0xffffffff, Math.floor(c.ageS))), false); off += 4;
    dv.setUint16(off, c.rttMs === null ? RELAY_RTT_UNKNOWN : Math.max(0, Math.min(RELAY_RTT_UNKNOWN - 1, Math.round(c.rttMs))), false); off += 2;
    putEps(ce);
  }
  return b;
}

function decodeRelaySync(b: Uint8Array): AppDecodeResult {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let off = APP_HEADER_LEN;
  const need = (k: number): boolean => off + k <= b.length;
  const getEps = (): string[] | null => {
    const r = readEndpoints(b, off);
    if ('code' in r) return null;
    off = r.off;
    return r.eps;
  };
  if (!need(1 + KEY_BYTES)) return { ok: false, code: 'truncated' };
  const flags = b[off++]!;
  if (flags > 3) return { ok: false, code: 'bad-value' };
  const key = b.slice(off, off + KEY_BYTES); off += KEY_BYTES;
  const endpoints = getEps();
  if (!endpoints || !need(1)) return { ok: false, code: endpoints ? 'truncated' : 'bad-value' };
  const n = b[off++]!;
  if (n > RELAY_MAX_CANDIDATES) return { ok: false, code: 'bad-value' };
  const candidates: RelayCandidate[] = [];
  for (let i = 0; i < n; i++) {
    if (!need(ID_BYTES + 6)) return { ok: false, code: 'truncated' };
    const id = idFromBytes(b, off); off += ID_BYTES;
    const ageS = dv.getUint32(off, false); off += 4;
    const rtt = dv.getUint16(off, false); off += 2;
    const eps = getEps();
    if (!eps) return { ok: false, code: 'bad-value' };
    candidates.push({ id, ageS, rttMs: rtt === RELAY_RTT_UNKNOWN ? null : rtt, endpoints: eps });
  }
  if (off !== b.length || ((flags & 2) && !n)) return { ok: false, code: 'bad-value' };
  return { ok: true, msg: { app: 'relay-sync', reply: (flags & 1) === 1, key, endpoints, candidates, ...(flags & 2 ? { uses: true } : {}) } };
}
