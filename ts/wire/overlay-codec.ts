// Owns the byte format of every overlay control message (one codec, versioned). Encoding is total;
// decoding hostile bytes returns {ok:false, code} and never throws. It must not route, time or do I/O.
//
//  Every message:            ROUTED body:
//   0      1      2           2     3     4     5     6          26         46
//  +------+------+------      +-----+-----+-----+-----+----------+----------+--------+-------+-------+
//  | ver  | type | body       |mode | ttl |hops |flags| src [20] | dest[20] |[via 20]|[trace]| inner |
//  +------+------+------      +-----+-----+-----+-----+----------+----------+--------+-------+-------+
//  ver = 1. flags: bit0 trace present, bit1 via present, bit2 direction=left (directional mode).
//  trace = u8 count + count*20 id bytes; inner = u16 length + one encoded CTM / CTM_REPLY / DATA
//  (so a routed DATA payload is at most 65,533 bytes; the node refuses larger ones before encoding).
//
//  type 0x01 PING      rpcId u32          type 0x02 PONG     rpcId u32
//  type 0x03 STATUS    flags u8 (bit0 joined, bit1 relay-full: new relay links go elsewhere if they can, bit2 relay-refuses:
//                      its data plane carries no more relay-link pairs, set with bit1) | needs u8 (kind bits) | neighbours
//  type 0x04 CLOSE     reason u8
//  type 0x05 ROUTED    (above)
//  type 0x06 CTM       token u32 | kind u8 | flags u8 (bit0 forwarder) | [forwarder 20] | endpoints
//                      (connect-to-me request; the forwarder relays the reply to a node not yet in the ring)
//  type 0x07 CTM_REPLY token u32 | kind u8 | endpoints | neighbours
//  type 0x08 DATA      payload: rest of the message
//  endpoints  = u8 count (<= 8), each: u8 length + UTF-8 bytes
//  neighbours = u8 count (<= 16), each: id [20] + endpoints
//  type 0x09 DHT       op u8 | body (routed inner only; see the DHT block below)
//  type 0x0A BCAST     origin [20] | seq u32 | end [20] | hops u8 | payload: rest (direct between linked peers)
//
//  DHT bodies (key = u8 length + bytes; value = u16 length + bytes; status u8, see DHT_STATUS):
//   op 1 PUT          reqId u32 | idx u8 | flags u8 (bit0 create) | ttlMs u32 | key | value
//   op 2 PUT_REPLY    reqId u32 | idx u8 | status u8 | reqHops u8
//   op 3 GET          reqId u32 | idx u8 | key
//   op 4 GET_REPLY    reqId u32 | idx u8 | status u8 | reqHops u8 | u8 count, each: owner [20] | ttlMs u32 | value
//   op 5 REMOVE       reqId u32 | idx u8 | key | value
//   op 6 REMOVE_REPLY reqId u32 | idx u8 | status u8 | reqHops u8
//   op 7 TRANSFER     u8 count, each: idx u8 | key | owner [20] | ttlMs u32 | value
//   op 8 SYNC         requester [20] | from [20] | to [20] | shift u8 | walk u8 (0 both, 1 left, 2 right) | hopsLeft u8
//                     (legacy full sync: the holder sends everything it has in the range; answered, no longer sent)
//   op 9 SYNC_DIGEST  requester [20] | from [20] | to [20] | shift u8 | walk u8 | hopsLeft u8 | salt u32 |
//                     u16 count (<= MAX_SYNC_FINGERPRINTS) | count * u32 fingerprint (ascending)
//                     (SYNC plus what the requester already holds in the range; the holder sends only the
//                     entries whose fingerprint is not listed; see ts/dht/digest.ts for the fingerprint)
import { type NodeId, ID_BYTES, idFromBytes, idToBytes } from '../base/nodeid.js';

export const WIRE_VERSION = 1;
export const T_PING = 1, T_PONG = 2, T_STATUS = 3, T_CLOSE = 4, T_ROUTED = 5, T_CTM = 6, T_CTM_REPLY = 7, T_DATA = 8;
export const MAX_ENDPOINTS = 8;
export const MAX_NEIGHBOURS = 16;
export const MAX_TRACE = 64;
export const T_DHT = 9, T_BCAST = 10;
/** Fingerprints in one SYNC_DIGEST (4 bytes each; a larger range is split into several requests). */
export const MAX_SYNC_FINGERPRINTS = 256;
/** DHT status codes in wire order (append only). */
export const DHT_STATUS = ['ok', 'exists', 'value-too-large', 'key-too-large', 'too-many-values', 'owner-quota', 'bad-ttl', 'not-found', 'bad-index'] as const;
export type DhtStatus = (typeof DHT_STATUS)[number];

export type RouteMode = 'exact' | 'closest' | 'directional';
const MODES: readonly RouteMode[] = ['exact', 'closest', 'directional'];

export interface Neighbour { id: NodeId; endpoints: string[] }

export type PingMsg = { type: 'ping'; rpcId: number };
export type PongMsg = { type: 'pong'; rpcId: number };
export type StatusMsg = { type: 'status'; joined: boolean; needs: number; neighbours: Neighbour[]; relayFull?: boolean; relayRefuses?: boolean };
export type CloseMsg = { type: 'close'; reason: number };
export type CtmMsg = { type: 'ctm'; token: number; kind: number; forwarder?: NodeId; endpoints: string[] };
export type CtmReplyMsg = { type: 'ctm-reply'; token: number; kind: number; endpoints: string[]; neighbours: Neighbour[] };
export type DataMsg = { type: 'data'; payload: Uint8Array };
export type DhtValue = { owner: NodeId; ttlMs: number; value: Uint8Array };
export type DhtEntry = { idx: number; key: Uint8Array; owner: NodeId; ttlMs: number; value: Uint8Array };
export type DhtMsg = { type: 'dht' } & (
  | { op: 'put'; reqId: number; idx: number; create: boolean; ttlMs: number; key: Uint8Array; value: Uint8Array }
  | { op: 'put-reply'; reqId: number; idx: number; status: DhtStatus; reqHops: number }
  | { op: 'get'; reqId: number; idx: number; key: Uint8Array }
  | { op: 'get-reply'; reqId: number; idx: number; status: DhtStatus; reqHops: number; values: DhtValue[] }
  | { op: 'remove'; reqId: number; idx: number; key: Uint8Array; value: Uint8Array }
  | { op: 'remove-reply'; reqId: number; idx: number; status: DhtStatus; reqHops: number }
  | { op: 'transfer'; entries: DhtEntry[] }
  | { op: 'sync'; requester: NodeId; from: NodeId; to: NodeId; shift: number; walk: 0 | 1 | 2; hopsLeft: number }
  | { op: 'sync-digest'; requester: NodeId; from: NodeId; to: NodeId; shift: number; walk: 0 | 1 | 2; hopsLeft: number; salt: number; fps: number[] });
export type BcastMsg = { type: 'bcast'; origin: NodeId; seq: number; end: NodeId; hops: number; payload: Uint8Array };
export type InnerMsg = CtmMsg | CtmReplyMsg | DataMsg | DhtMsg;
export type RoutedMsg = {
  type: 'routed'; mode: RouteMode; dir: 'left' | 'right'; ttl: number; hops: number;
  src: NodeId; dest: NodeId; via?: NodeId; trace?: NodeId[]; inner: InnerMsg;
};
export type Msg = PingMsg | PongMsg | StatusMsg | CloseMsg | RoutedMsg | InnerMsg | BcastMsg;

export type DecodeErrorCode =
  | 'truncated' | 'bad-version' | 'bad-type' | 'bad-value' | 'too-many' | 'trailing-bytes' | 'bad-nesting' | 'bad-utf8';
export type DecodeResult<T = Msg> = { ok: true; msg: T } | { ok: false; code: DecodeErrorCode };

// ---------------------------------------------------------------- encoding
const te = new TextEncoder();
const td = new TextDecoder('utf-8', { fatal: true });

class Writer {
  buf: Uint8Array; dv: DataView; n = 0;
  constructor(cap = 64) { this.buf = new Uint8Array(cap); this.dv = new DataView(this.buf.buffer); }
  setU16(at: number, x: number): void { this.dv.setUint16(at, x); }
  ensure(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const nb = new Uint8Array(Math.max(this.buf.length * 2, this.n + k));
    nb.set(this.buf.subarray(0, this.n)); this.buf = nb; this.dv = new DataView(nb.buffer);
  }
  u8(x: number): void { this.ensure(1); this.buf[this.n++] = x & 0xff; }
  u16(x: number): void { this.ensure(2); this.dv.setUint16(this.n, x); this.n += 2; }
  u32(x: number): void { this.ensure(4); this.dv.setUint32(this.n, x >>> 0); this.n += 4; }
  id(x: NodeId): void { this.ensure(ID_BYTES); idToBytes(x, this.buf, this.n); this.n += ID_BYTES; }
  bytes(b: Uint8Array): void { this.ensure(b.length); this.buf.set(b, this.n); this.n += b.length; }
  done(): Uint8Array { return this.buf.slice(0, this.n); }
}

// Endpoint strings repeat endlessly (every STATUS lists the same peers): keep their UTF-8 bytes.
const epCache = new Map<string, Uint8Array>();
function endpointBytes(e: string): Uint8Array {
  let b = epCache.get(e);
  if (b) return b;
  b = te.encode(e);
  if (b.length > 255) b = te.encode(e.slice(0, 60)); // stays valid UTF-8; endpoints are short
  if (epCache.size >= 65_536) epCache.clear();
  epCache.set(e, b);
  return b;
}

function wEndpoints(w: Writer, eps: readonly string[]): void {
  const n = Math.min(eps.length, MAX_ENDPOINTS);
  w.u8(n);
  for (let i = 0; i < n; i++) { const b = endpointBytes(eps[i] as string); w.u8(b.length); w.bytes(b); }
}

function wNeighbours(w: Writer, ns: readonly Neighbour[]): void {
  const list = ns.slice(0, MAX_NEIGHBOURS);
  w.u8(list.length);
  for (const n of list) { w.id(n.id); wEndpoints(w, n.endpoints); }
}

function wBody(w: Writer, m: Msg): void {
  switch (m.type) {
    case 'ping': w.u8(T_PING); w.u32(m.rpcId); return;
    case 'pong': w.u8(T_PONG); w.u32(m.rpcId); return;
    case 'status': w.u8(T_STATUS); w.u8((m.joined ? 1 : 0) | (m.relayFull || m.relayRefuses ? 2 : 0) | (m.relayRefuses ? 4 : 0)); w.u8(m.needs); wNeighbours(w, m.neighbours); return;
    case 'close': w.u8(T_CLOSE); w.u8(m.reason); return;
    case 'ctm':
      w.u8(T_CTM); w.u32(m.token); w.u8(m.kind); w.u8(m.forwarder !== undefined ? 1 : 0);
      if (m.forwarder !== undefined) w.id(m.forwarder);
      wEndpoints(w, m.endpoints); return;
    case 'ctm-reply':
      w.u8(T_CTM_REPLY); w.u32(m.token); w.u8(m.kind); wEndpoints(w, m.endpoints); wNeighbours(w, m.neighbours); return;
    case 'data': w.u8(T_DATA); w.bytes(m.payload); return;
    case 'dht': w.u8(T_DHT); wDht(w, m); return;
    case 'bcast':
      w.u8(T_BCAST); w.id(m.origin); w.u32(m.seq); w.id(m.end); w.u8(Math.min(255, m.hops)); w.bytes(m.payload); return;
    case 'routed': {
      w.u8(T_ROUTED); w.u8(MODES.indexOf(m.mode)); w.u8(m.ttl); w.u8(m.hops);
      const trace = m.trace ? m.trace.slice(-MAX_TRACE) : undefined;
      w.u8((trace ? 1 : 0) | (m.via !== undefined ? 2 : 0) | (m.dir === 'left' ? 4 : 0));
      w.id(m.src); w.id(m.dest);
      if (m.via !== undefined) w.id(m.via);
      if (trace) { w.u8(trace.length); for (const t of trace) w.id(t); }
      const at = w.n;
      w.u16(0);
      w.u8(WIRE_VERSION); wBody(w, m.inner);
      w.setU16(at, w.n - at - 2);
      return;
    }
  }
}

// keys and values longer than their length field are cut (the DHT refuses them before encoding)
function wKey(w: Writer, k: Uint8Array): void { const b = k.subarray(0, 255); w.u8(b.length); w.bytes(b); }
function wVal(w: Writer, v: Uint8Array): void { const b = v.subarray(0, 65_535); w.u16(b.length); w.bytes(b); }
function wStatus(w: Writer, s: DhtStatus): void { w.u8(DHT_STATUS.indexOf(s)); }

function wDht(w: Writer, m: DhtMsg): void {
  switch (m.op) {
    case 'put': w.u8(1); w.u32(m.reqId); w.u8(m.idx); w.u8(m.create ? 1 : 0); w.u32(m.ttlMs); wKey(w, m.key); wVal(w, m.value); return;
    case 'put-reply': w.u8(2); w.u32(m.reqId); w.u8(m.idx); wStatus(w, m.status); w.u8(Math.min(255, m.reqHops)); return;
    case 'get': w.u8(3); w.u32(m.reqId); w.u8(m.idx); wKey(w, m.key); return;
    case 'get-reply': {
      w.u8(4); w.u32(m.reqId); w.u8(m.idx); wStatus(w, m.status); w.u8(Math.min(255, m.reqHops));
      const vs = m.values.slice(0, 255);
      w.u8(vs.length);
      for (const v of vs) { w.id(v.owner); w.u32(v.ttlMs); wVal(w, v.value); }
      return;
    }
    case 'remove': w.u8(5); w.u32(m.reqId); w.u8(m.idx); wKey(w, m.key); wVal(w, m.value); return;
    case 'remove-reply': w.u8(6); w.u32(m.reqId); w.u8(m.idx); wStatus(w, m.status); w.u8(Math.min(255, m.reqHops)); return;
    case 'transfer': {
      w.u8(7);
      const es = m.entries.slice(0, 255);
      w.u8(es.length);
      for (const e of es) { w.u8(e.idx); wKey(w, e.key); w.id(e.owner); w.u32(e.ttlMs); wVal(w, e.value); }
      return;
    }
    case 'sync': w.u8(8); w.id(m.requester); w.id(m.from); w.id(m.to); w.u8(m.shift); w.u8(m.walk); w.u8(m.hopsLeft); return;
    case 'sync-digest': {
      // more fingerprints than the limit are cut (the DHT splits its ranges before encoding)
      w.u8(9); w.id(m.requester); w.id(m.from); w.id(m.to); w.u8(m.shift); w.u8(m.walk); w.u8(m.hopsLeft); w.u32(m.salt);
      const n = Math.min(m.fps.length, MAX_SYNC_FINGERPRINTS);
      w.u16(n);
      for (let i = 0; i < n; i++) w.u32(m.fps[i] as number);
      return;
    }
  }
}

// One scratch writer reused by every encode (single-threaded; encode never re-enters itself).
const scratch = new Writer(4096);

export function encode(m: Msg): Uint8Array {
  const w = scratch;
  w.n = 0;
  w.u8(WIRE_VERSION);
  wBody(w, m);
  return w.done();
}

// ---------------------------------------------------------------- decoding
class Fail { constructor(readonly code: DecodeErrorCode) {} }

class Reader {
  i = 0;
  constructor(readonly b: Uint8Array) {}
  need(k: number): void { if (this.i + k > this.b.length) throw new Fail('truncated'); }
  u8(): number { this.need(1); return this.b[this.i++] as number; }
  u16(): number { this.need(2); const b = this.b, i = this.i; this.i += 2; return ((b[i] as number) << 8) | (b[i + 1] as number); }
  u32(): number {
    this.need(4);
    const b = this.b, i = this.i;
    this.i += 4;
    return (((b[i] as number) << 24) | ((b[i + 1] as number) << 16) | ((b[i + 2] as number) << 8) | (b[i + 3] as number)) >>> 0;
  }
  id(): NodeId { this.need(ID_BYTES); const v = idFromBytes(this.b, this.i); this.i += ID_BYTES; return v; }
  take(k: number): Uint8Array { this.need(k); const v = this.b.subarray(this.i, this.i + k); this.i += k; return v; }
  rest(): Uint8Array { const v = this.b.slice(this.i); this.i = this.b.length; return v; }
}

function rEndpoints(r: Reader): string[] {
  const n = r.u8();
  if (n > MAX_ENDPOINTS) throw new Fail('too-many');
  const out: string[] = [];
  for (let k = 0; k < n; k++) {
    const len = r.u8();
    const raw = r.take(len);
    let ascii = true;
    for (let i = 0; i < raw.length; i++) if ((raw[i] as number) >= 0x80) { ascii = false; break; }
    if (ascii) { out.push(String.fromCharCode.apply(null, raw as unknown as number[])); continue; }
    try { out.push(td.decode(raw)); } catch { throw new Fail('bad-utf8'); }
  }
  return out;
}

function rNeighbours(r: Reader): Neighbour[] {
  const n = r.u8();
  if (n > MAX_NEIGHBOURS) throw new Fail('too-many');
  const out: Neighbour[] = [];
  for (let k = 0; k < n; k++) { const id = r.id(); out.push({ id, endpoints: rEndpoints(r) }); }
  return out;
}

function rMessage(r: Reader, nested: boolean): Msg {
  const ver = r.u8();
  if (ver !== WIRE_VERSION) throw new Fail('bad-version');
  const t = r.u8();
  switch (t) {
    case T_PING: return { type: 'ping', rpcId: r.u32() };
    case T_PONG: return { type: 'pong', rpcId: r.u32() };
    case T_STATUS: {
      const f = r.u8();
      if (f > 7 || (f & 6) === 4) throw new Fail('bad-value');
      const needs = r.u8();
      const st: StatusMsg = { type: 'status', joined: (f & 1) !== 0, needs, neighbours: rNeighbours(r) };
      if (f & 2) st.relayFull = true;
      if (f & 4) st.relayRefuses = true;
      return st;
    }
    case T_CLOSE: return { type: 'close', reason: r.u8() };
    case T_CTM: {
      const token = r.u32(); const kind = r.u8(); const f = r.u8();
      if (f > 1) throw new Fail('bad-value');
      const m: CtmMsg = { type: 'ctm', token, kind, endpoints: [] };
      if (f === 1) m.forwarder = r.id();
      m.endpoints = rEndpoints(r);
      return m;
    }
    case T_CTM_REPLY: {
      const token = r.u32(); const kind = r.u8(); const endpoints = rEndpoints(r);
      return { type: 'ctm-reply', token, kind, endpoints, neighbours: rNeighbours(r) };
    }
    case T_DATA: return { type: 'data', payload: r.rest() };
    case T_DHT: return rDht(r);
    case T_BCAST: {
      if (nested) throw new Fail('bad-nesting');
      const origin = r.id(); const seq = r.u32(); const end = r.id(); const hops = r.u8();
      return { type: 'bcast', origin, seq, end, hops, payload: r.rest() };
    }
    case T_ROUTED: {
      if (nested) throw new Fail('bad-nesting');
      const mi = r.u8();
      const mode = MODES[mi];
      if (mode === undefined) throw new Fail('bad-value');
      const ttl = r.u8(); const hops = r.u8(); const flags = r.u8();
      if (flags > 7) throw new Fail('bad-value');
      const src = r.id(); const dest = r.id();
      const m: RoutedMsg = {
        type: 'routed', mode, dir: flags & 4 ? 'left' : 'right', ttl, hops, src, dest,
        inner: undefined as unknown as InnerMsg,
      };
      if (flags & 2) m.via = r.id();
      if (flags & 1) {
        const n = r.u8();
        if (n > MAX_TRACE) throw new Fail('too-many');
        const tr: NodeId[] = [];
        for (let k = 0; k < n; k++) tr.push(r.id());
        m.trace = tr;
      }
      const len = r.u16();
      const innerBytes = r.take(len);
      const ir = new Reader(innerBytes);
      const inner = rMessage(ir, true);
      if (ir.i !== innerBytes.length) throw new Fail('trailing-bytes');
      if (inner.type !== 'ctm' && inner.type !== 'ctm-reply' && inner.type !== 'data' && inner.type !== 'dht') throw new Fail('bad-nesting');
      m.inner = inner;
      return m;
    }
    default: throw new Fail('bad-type');
  }
}

function rKey(r: Reader): Uint8Array { return r.take(r.u8()).slice(); }
function rVal(r: Reader): Uint8Array { return r.take(r.u16()).slice(); }
function rStatus(r: Reader): DhtStatus {
  const s = DHT_STATUS[r.u8()];
  if (s === undefined) throw new Fail('bad-value');
  return s;
}

function rDht(r: Reader): DhtMsg {
  const op = r.u8();
  switch (op) {
    case 1: {
      const reqId = r.u32(); const idx = r.u8(); const f = r.u8();
      if (f > 1) throw new Fail('bad-value');
      const ttlMs = r.u32(); const key = rKey(r);
      return { type: 'dht', op: 'put', reqId, idx, create: f === 1, ttlMs, key, value: rVal(r) };
    }
    case 2: case 6: {
      const reqId = r.u32(); const idx = r.u8(); const status = rStatus(r); const reqHops = r.u8();
      return { type: 'dht', op: op === 2 ? 'put-reply' : 'remove-reply', reqId, idx, status, reqHops };
    }
    case 3: { const reqId = r.u32(); const idx = r.u8(); return { type: 'dht', op: 'get', reqId, idx, key: rKey(r) }; }
    case 4: {
      const reqId = r.u32(); const idx = r.u8(); const status = rStatus(r); const reqHops = r.u8();
      const n = r.u8();
      const values: DhtValue[] = [];
      for (let k = 0; k < n; k++) { const owner = r.id(); const ttlMs = r.u32(); values.push({ owner, ttlMs, value: rVal(r) }); }
      return { type: 'dht', op: 'get-reply', reqId, idx, status, reqHops, values };
    }
    case 5: { const reqId = r.u32(); const idx = r.u8(); const key = rKey(r); return { type: 'dht', op: 'remove', reqId, idx, key, value: rVal(r) }; }
    case 7: {
      const n = r.u8();
      const entries: DhtEntry[] = [];
      for (let k = 0; k < n; k++) {
        const idx = r.u8(); const key = rKey(r); const owner = r.id(); const ttlMs = r.u32();
        entries.push({ idx, key, owner, ttlMs, value: rVal(r) });
      }
      return { type: 'dht', op: 'transfer', entries };
    }
    case 8: {
      const requester = r.id(); const from = r.id(); const to = r.id(); const shift = r.u8(); const walk = r.u8(); const hopsLeft = r.u8();
      if (walk > 2) throw new Fail('bad-value');
      return { type: 'dht', op: 'sync', requester, from, to, shift, walk: walk as 0 | 1 | 2, hopsLeft };
    }
    case 9: {
      const requester = r.id(); const from = r.id(); const to = r.id(); const shift = r.u8(); const walk = r.u8(); const hopsLeft = r.u8();
      if (walk > 2) throw new Fail('bad-value');
      const salt = r.u32(); const n = r.u16();
      if (n > MAX_SYNC_FINGERPRINTS) throw new Fail('too-many');
      r.need(4 * n);
      const fps: number[] = new Array<number>(n);
      for (let k = 0; k < n; k++) fps[k] = r.u32();
      return { type: 'dht', op: 'sync-digest', requester, from, to, shift, walk: walk as 0 | 1 | 2, hopsLeft, salt, fps };
    }
    default: throw new Fail('bad-type');
  }
}

export function decode(bytes: Uint8Array): DecodeResult {
  try {
    const r = new Reader(bytes);
    const msg = rMessage(r, false);
    if (r.i !== bytes.length) return { ok: false, code: 'trailing-bytes' };
    return { ok: true, msg };
  } catch (e) {
    if (e instanceof Fail) return { ok: false, code: e.code };
    return { ok: false, code: 'bad-value' }; // defensive: no path is known to reach this
  }
}

const TYPE_NAMES: Record<number, string> = { [T_PING]: 'ping', [T_PONG]: 'pong', [T_STATUS]: 'status', [T_CLOSE]: 'close', [T_CTM]: 'ctm', [T_CTM_REPLY]: 'ctm-reply', [T_DATA]: 'data', [T_DHT]: 'dht', [T_BCAST]: 'bcast' };
const DHT_OP_NAMES = ['', 'put', 'put-reply', 'get', 'get-reply', 'remove', 'remove-reply', 'transfer', 'sync', 'sync-digest'];

/**
 * A message's kind for counters, read from its header without decoding it: the type ('ping', 'status',
 * ...), a routed message's inner type ('routed_ctm', 'routed_data', ...) or DHT op ('dht_get', ...);
 * 'undecodable' for bytes too short or of an unknown type. Never throws.
 */
export function kindOf(b: Uint8Array): string {
  const bad = 'undecodable';
  if (b.length < 2 || b[0] !== WIRE_VERSION) return bad;
  if (b[1] !== T_ROUTED) return TYPE_NAMES[b[1]!] ?? bad;
  // ROUTED: ver type mode ttl hops flags src dest [via] [trace] len inner(ver type [op])
  const flags = b[5];
  if (flags === undefined) return bad;
  let i = 6 + 2 * ID_BYTES + (flags & 2 ? ID_BYTES : 0);
  if (flags & 1) { const n = b[i]; if (n === undefined) return bad; i += 1 + n * ID_BYTES; }
  i += 2;
  const t = b[i + 1];
  if (t === undefined) return bad;
  if (t !== T_DHT) return TYPE_NAMES[t] ? `routed_${TYPE_NAMES[t]}` : bad;
  const op = DHT_OP_NAMES[b[i + 2] ?? 0];
  return op ? `dht_${op}` : bad;
}

/**
 * Fast path for forwarding a routed message without a trace: a copy with ttl-1 and hops+1 patched in.
 * Returns null when the bytes are not a trace-free ROUTED message (the caller then re-encodes).
 */
export function patchForward(bytes: Uint8Array): Uint8Array | null {
  if (bytes.length < 6 || bytes[0] !== WIRE_VERSION || bytes[1] !== T_ROUTED) return null;
  const flags = bytes[5] as number;
  if (flags & 1) return null;
  const out = bytes.slice();
  out[3] = ((out[3] as number) - 1) & 0xff;
  out[4] = Math.min(255, (out[4] as number) + 1);
  return out;
}
