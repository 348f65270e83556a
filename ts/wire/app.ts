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
import { type NodeId, ID_BYTES, idFromBytes, idToBytes } from '../base/nodeid.js';

export const APP_VERSION = 1;
export const APP_HEADER_LEN = 6;
export const APP_NEIGHBOURS_REQ = 1, APP_NEIGHBOURS_REPLY = 2, APP_HANDSHAKE = 3, APP_REVOCATION = 4, APP_ROUTES = 5;
export const APP_MAX_OPAQUE = 2048;
const SLOTS = ['left1', 'left2', 'right1', 'right2'] as const;
export type NeighbourSlots = Partial<Record<(typeof SLOTS)[number], NodeId>>;

export type AppMsg =
  | { app: 'neighbours-req'; reqId: number }
  | { app: 'neighbours-reply'; reqId: number; view: NeighbourSlots }
  | { app: 'handshake'; bytes: Uint8Array }
  | { app: 'revocation'; record: Uint8Array }
  | { app: 'routes' };

export type AppDecodeErrorCode = 'truncated' | 'bad-version' | 'bad-type' | 'bad-value';
export type AppDecodeResult = { ok: true; msg: AppMsg } | { ok: false; code: AppDecodeErrorCode };

export function encodeApp(m: AppMsg): Uint8Array {
  if (m.app === 'neighbours-req') return header(APP_NEIGHBOURS_REQ, m.reqId, 0);
  if (m.app === 'routes') return header(APP_ROUTES, 0, 0);
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
