// Owns the byte format of the daemon's own messages carried as routed DATA payloads (the overlay
// treats them as opaque): today the crawl's neighbour query. Decoding hostile bytes returns
// {ok:false, code}; it must not route, time or do I/O.
//
//   0      1        5
//  +------+--------+-----------------------------------------------+
//  | app  | reqId  | body                                          |
//  +------+--------+-----------------------------------------------+
//  app 1 NEIGHBOURS_REQ    (no body)
//  app 2 NEIGHBOURS_REPLY  flags u8 (bit i: slot i present; slots left1, left2, right1, right2) | ids [20] each
//  app 3 HANDSHAKE         a handshake frame (types 1/2, ts/handshake/messages.ts), carried end to end (reqId 0)
//  app 4 REVOCATION        a CA-signed revocation record (ts/pki/revocation.ts), as a broadcast payload (reqId 0)
import { type NodeId, ID_BYTES, idFromBytes, idToBytes } from '../core/nodeid.js';

export const APP_NEIGHBOURS_REQ = 1, APP_NEIGHBOURS_REPLY = 2, APP_HANDSHAKE = 3, APP_REVOCATION = 4;
const MAX_OPAQUE = 2048;
const SLOTS = ['left1', 'left2', 'right1', 'right2'] as const;
export type NeighbourSlots = Partial<Record<(typeof SLOTS)[number], NodeId>>;

export type AppMsg =
  | { app: 'neighbours-req'; reqId: number }
  | { app: 'neighbours-reply'; reqId: number; view: NeighbourSlots }
  | { app: 'handshake'; bytes: Uint8Array }
  | { app: 'revocation'; record: Uint8Array };

export function encodeApp(m: AppMsg): Uint8Array {
  if (m.app === 'neighbours-req') return header(APP_NEIGHBOURS_REQ, m.reqId, 0);
  if (m.app === 'handshake' || m.app === 'revocation') {
    const body = m.app === 'handshake' ? m.bytes : m.record;
    const b = header(m.app === 'handshake' ? APP_HANDSHAKE : APP_REVOCATION, 0, body.length);
    b.set(body, 5);
    return b;
  }
  const present = SLOTS.filter((s) => m.view[s] !== undefined);
  const b = header(APP_NEIGHBOURS_REPLY, m.reqId, 1 + present.length * ID_BYTES);
  let flags = 0, off = 6;
  SLOTS.forEach((s, i) => { const id = m.view[s]; if (id !== undefined) { flags |= 1 << i; idToBytes(id, b, off); off += ID_BYTES; } });
  b[5] = flags;
  return b;
}

export function decodeApp(b: Uint8Array): { ok: true; msg: AppMsg } | { ok: false; code: 'truncated' | 'bad-type' | 'bad-value' } {
  if (b.length < 5) return { ok: false, code: 'truncated' };
  const reqId = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(1, true);
  if (b[0] === APP_HANDSHAKE || b[0] === APP_REVOCATION) {
    const body = b.slice(5);
    if (!body.length || body.length > MAX_OPAQUE) return { ok: false, code: 'bad-value' };
    return { ok: true, msg: b[0] === APP_HANDSHAKE ? { app: 'handshake', bytes: body } : { app: 'revocation', record: body } };
  }
  if (b[0] === APP_NEIGHBOURS_REQ) return b.length === 5 ? { ok: true, msg: { app: 'neighbours-req', reqId } } : { ok: false, code: 'bad-value' };
  if (b[0] !== APP_NEIGHBOURS_REPLY) return { ok: false, code: 'bad-type' };
  if (b.length < 6) return { ok: false, code: 'truncated' };
  const flags = b[5]!;
  if (flags > 15) return { ok: false, code: 'bad-value' };
  const view: NeighbourSlots = {};
  let off = 6;
  for (const [i, s] of SLOTS.entries()) {
    if (!(flags & (1 << i))) continue;
    if (b.length < off + ID_BYTES) return { ok: false, code: 'truncated' };
    view[s] = idFromBytes(b, off); off += ID_BYTES;
  }
  return off === b.length ? { ok: true, msg: { app: 'neighbours-reply', reqId, view } } : { ok: false, code: 'bad-value' };
}

function header(app: number, reqId: number, bodyLen: number): Uint8Array {
  const b = new Uint8Array(5 + bodyLen);
  b[0] = app;
  new DataView(b.buffer).setUint32(1, reqId >>> 0, true);
  return b;
}
