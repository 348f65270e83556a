// Owns the DHT protocol of one node as a sans-IO state machine: client operations (put / create / get /
// remove) over R replica positions with majority results, the holder side (store, mirror to the next
// closest node, limits), leases (owners re-put renewMarginMs before expiry, never before TTL/2), hand-over
// when the ring view changes and range repair from the other replica positions (a digest of what we hold;
// only what we lack comes back). It must not do I/O, read a clock or draw entropy (injected).
import { type NodeId } from '../base/nodeid.js';
import { errors } from '../base/errors.js';
import { type Rng } from '../core/rng.js';
import { addOffset, cwDist } from '../core/ring.js';
import { type DhtMsg, type DhtStatus, type DhtEntry, type DhtValue, MAX_SYNC_FINGERPRINTS } from '../wire/overlay-codec.js';
import { ReplicaStore, bytesEqual, hexOf, contentOf, type Slot } from './store.js';
import { fingerprint } from './digest.js';
import { summarize, sameValues, emptyResult, type DhtErrorCode, type OpResult, type OpCallback } from './result.js';

export type { DhtErrorCode, OpResult, OpCallback, ValueView } from './result.js';
import { replicaPositions, replicaPosition, replicaStep, closestOf, covers, coveredInterval, inCwInterval, type RingView } from './placement.js';

export interface DhtParams {
  replicas: number;           // replica positions per key (Brunet: 8)
  majority: number;           // replies needed for a result (Brunet: 5)
  copies: number;             // nodes holding each position: the closest and the next closest
  maxValueBytes: number;      // Brunet MAX_BYTES = 1024
  maxKeyBytes: number;        // wire limit 255
  maxValuesPerKey: number;
  maxEntriesPerOwner: number; // per holder, over all keys
  maxTtlMs: number;
  retryMs: number;            // resend to positions that did not answer
  tries: number;
  timeoutMs: number;          // an operation ends then with what it has (Brunet: 20 s; rides out a dead hop's detection)
  renewErrorMs: number;       // re-put after a failed renewal (Brunet: 30 s)
  renewMarginMs: number;      // owners re-put this long before the lease ends, never before TTL/2 (Brunet: at TTL/2)
  createTries: number;        // a create that split without a majority rolls back and retries
  createBackoffMs: number;
  rollbackAgainMs: number;    // a lost create removes its copies at once and again this much later
  repairMs: number;           // periodic range repair from the other replica positions, first interval after a ring change (0: off)
  repairMaxMs: number;        // the interval doubles after each round while the ring view stays the same, up to this
  syncHops: number;           // how far a repair request walks along the ring
  syncDelayMs: number;        // after losing a neighbour, repair this much later (coalesces ring repair); after joining, once the view is this long unchanged
}

export const DEFAULT_DHT_PARAMS: DhtParams = {
  replicas: 8, majority: 5, copies: 2, maxValueBytes: 1024, maxKeyBytes: 255, maxValuesPerKey: 32,
  maxEntriesPerOwner: 4096, maxTtlMs: 7 * 24 * 3600_000, retryMs: 5_000, tries: 4, timeoutMs: 20_000,
  renewErrorMs: 30_000, renewMarginMs: 120_000, createTries: 8, createBackoffMs: 1_000, rollbackAgainMs: 3_000,
  repairMs: 240_000, repairMaxMs: 960_000, syncHops: 4, syncDelayMs: 3_000,
};

/**
 * When an owner re-puts a value it put with `ttlMs` (counted from the start of that put): renewMarginMs
 * before the replicas' lease ends (time for a renewal that fails to be retried after renewErrorMs, twice
 * with the defaults), but never before TTL/2.
 */
export function renewDelayMs(p: DhtParams, ttlMs: number): number { return Math.max(ttlMs / 2, ttlMs - p.renewMarginMs); }

/**
 * How much earlier than renewDelayMs an owner may renew, drawn per lease: up to a tenth of the TTL but never
 * before TTL/2, so that nodes that joined together (a restart of a whole site) do not all renew at once.
 */
export function renewSpreadMs(p: DhtParams, ttlMs: number): number { return Math.min(ttlMs / 10, renewDelayMs(p, ttlMs) - ttlMs / 2); }

/** What the DHT needs from the overlay node it runs on. */
export interface DhtHost {
  readonly id: NodeId;
  readonly rng: Rng;
  /** route a DHT message: 'closest' to a ring position, 'exact' to a node */
  route(now: number, dest: NodeId, msg: DhtMsg, mode: 'exact' | 'closest'): void;
  /** joined peers, sorted clockwise from self */
  peers(): readonly NodeId[];
}


type Kind = 'put' | 'create' | 'get' | 'remove';
interface Req {
  id: number; kind: Kind; key: Uint8Array; value: Uint8Array; ttlMs: number;
  positions: NodeId[]; replies: Map<number, { status: DhtStatus; values: DhtValue[]; hops: number }>;
  start: number; sentAt: number; tries: number; done: boolean; cb: OpCallback; attempt: number;
}
interface Lease { key: Uint8Array; value: Uint8Array; ttlMs: number; nextAt: number; busy: boolean }

/** syncEntriesSent: entries sent in answer to range repair requests (0 when every digest matched) */
export interface DhtStats {
  drops: Record<string, number>; transfersSent: number; syncsSent: number; syncEntriesSent: number; entriesReceived: number; repairs: number;
  /** times the ring view (copies + 1 nearest per side) changed: each may hand entries over */
  viewChanges: number;
}

const MAX_TRANSFER_BYTES = 48_000;

export class DhtCore {
  readonly p: DhtParams;
  readonly store: ReplicaStore;
  readonly stats: DhtStats = { drops: {}, transfersSent: 0, syncsSent: 0, syncEntriesSent: 0, entriesReceived: 0, repairs: 0, viewChanges: 0 };
  private readonly reqs = new Map<number, Req>();
  private readonly leases = new Map<string, Lease>();
  /** deferred work (create back-off), run from tick */
  private readonly timers: { at: number; fn: (now: number) => void }[] = [];
  private nextReq = 1;
  private view: RingView;
  private repairAt: number;
  private repairEvery: number;
  private repairSoonAt = Infinity;
  /** after joining: repair once the ring view has stayed the same for syncDelayMs */
  private settledRepairAt = Infinity;
  private now = 0;

  constructor(private readonly host: DhtHost, params: Partial<DhtParams> = {}) {
    this.p = { ...DEFAULT_DHT_PARAMS, ...params };
    const bad = (msg: string): Error => errors.E_DHT_PARAMS(`dht: ${msg}`);
    if (!(this.p.majority > this.p.replicas / 2 && this.p.majority <= this.p.replicas)) throw bad('majority must be > replicas/2 and <= replicas');
    if (!(this.p.replicas >= 1 && this.p.replicas <= 255) || this.p.copies < 1) throw bad('1..255 replicas, copies >= 1');
    this.store = new ReplicaStore(this.p);
    this.view = { self: host.id, left: [], right: [] };
    this.repairAt = this.p.repairMs > 0 ? host.rng.next() * this.p.repairMs : Infinity;
    this.repairEvery = this.p.repairMs;
  }

  // ================================================================ client API
  put(now: number, key: Uint8Array, value: Uint8Array, ttlMs: number, cb: OpCallback): void { this.start(now, 'put', key, value, ttlMs, cb); }
  /** Atomic put-if-absent: succeeds on a majority of replicas; a split rolls back and retries. */
  create(now: number, key: Uint8Array, value: Uint8Array, ttlMs: number, cb: OpCallback): void { this.start(now, 'create', key, value, ttlMs, cb); }
  get(now: number, key: Uint8Array, cb: OpCallback): void { this.start(now, 'get', key, new Uint8Array(0), 0, cb); }
  /** Remove our own value and stop renewing it. */
  remove(now: number, key: Uint8Array, value: Uint8Array, cb: OpCallback): void {
    this.leases.delete(leaseName(key, value));
    this.start(now, 'remove', key, value, 0, cb);
  }
  /** Stop renewing a value (it disappears when its TTL runs out). */
  stopRenewing(key: Uint8Array, value: Uint8Array): boolean { return this.leases.delete(leaseName(key, value)); }
  get leaseCount(): number { return this.leases.size; }
  /** Repair our ranges from the other replica positions soon (e.g. after the store was lost). */
  repairSoon(now: number): void { this.repairSoonAt = Math.min(this.repairSoonAt, now + this.p.syncDelayMs); }
  get pendingOps(): number { return this.reqs.size; }

  private start(now: number, kind: Kind, key: Uint8Array, value: Uint8Array, ttlMs: number, cb: OpCallback, attempt = 0): void {
    this.now = now;
    const bad: DhtStatus | null = key.length > this.p.maxKeyBytes ? 'key-too-large'
      : value.length > this.p.maxValueBytes ? 'value-too-large'
        : (kind === 'put' || kind === 'create') && !(ttlMs > 0 && ttlMs <= this.p.maxTtlMs && Number.isInteger(ttlMs)) ? 'bad-ttl' : null;
    if (bad) { cb(emptyResult(bad)); return; }
    const r: Req = {
      id: this.nextReq, kind, key: key.slice(), value: value.slice(), ttlMs, positions: replicaPositions(key, this.p.replicas),
      replies: new Map(), start: now, sentAt: now, tries: 1, done: false, cb, attempt,
    };
    this.nextReq = this.nextReq >= 0xffffffff ? 1 : this.nextReq + 1;
    this.reqs.set(r.id, r);
    // all positions, even if a local (synchronous) majority already finished the operation
    for (let i = 0; i < this.p.replicas; i++) this.sendReq(now, r, i);
  }

  private sendReq(now: number, r: Req, idx: number): void {
    const dest = r.positions[idx] as NodeId;
    const m: DhtMsg = r.kind === 'get' ? { type: 'dht', op: 'get', reqId: r.id, idx, key: r.key }
      : r.kind === 'remove' ? { type: 'dht', op: 'remove', reqId: r.id, idx, key: r.key, value: r.value }
        : { type: 'dht', op: 'put', reqId: r.id, idx, create: r.kind === 'create', ttlMs: r.ttlMs, key: r.key, value: r.value };
    this.host.route(now, dest, m, 'closest');
  }

  private onReply(now: number, reqId: number, idx: number, status: DhtStatus, values: DhtValue[], hops: number): void {
    const r = this.reqs.get(reqId);
    if (!r || r.done) { this.drop('reply-late'); return; }
    if (idx >= this.p.replicas || r.replies.has(idx)) { this.drop('reply-duplicate'); return; }
    r.replies.set(idx, { status, values, hops });
    this.check(now, r, false);
  }

  /** Decide whether an operation is finished (on a reply, or at its timeout when `final`). */
  private check(now: number, r: Req, final: boolean): void {
    const R = this.p.replicas, M = this.p.majority;
    const n = r.replies.size;
    if (r.kind === 'get') {
      const sets = [...r.replies.values()].filter((x) => x.status === 'ok').map((x) => x.values);
      const agree = sets.length >= M && sets.every((s) => sameValues(s, sets[0] as DhtValue[]));
      if (n === R || agree || final) this.finish(now, r, sets.length >= M ? 'ok' : final ? 'timeout' : 'no-majority');
      return;
    }
    let ok = 0;
    const bad = new Map<DhtStatus, number>();
    for (const x of r.replies.values()) {
      if (x.status === 'ok' || (r.kind === 'remove' && x.status === 'not-found')) ok++;
      else bad.set(x.status, (bad.get(x.status) ?? 0) + 1);
    }
    if (ok >= M) { this.finish(now, r, 'ok'); return; }
    const nbad = n - ok;
    if (nbad > R - M || n === R || final) {
      let code: DhtErrorCode = final && n < R ? 'timeout' : 'no-majority';
      let most = 0;
      for (const [s, c] of bad) if (c > most) { most = c; code = s; }
      this.finish(now, r, code);
    }
  }

  private finish(now: number, r: Req, code: DhtErrorCode): void {
    r.done = true;
    this.reqs.delete(r.id);
    const res = this.result(now, r, code);
    if (r.kind === 'create' && !res.ok && r.attempt + 1 < this.p.createTries) { this.createLost(now, r, res); return; }
    if ((r.kind === 'put' || r.kind === 'create') && res.ok) {
      // the replicas' leases run from when they got the put, after r.start
      this.leases.set(leaseName(r.key, r.value), { key: r.key, value: r.value, ttlMs: r.ttlMs, nextAt: r.start + renewDelayMs(this.p, r.ttlMs) - this.host.rng.next() * renewSpreadMs(this.p, r.ttlMs), busy: false });
      // positions that refused a create we won (a loser's value): append ours; the loser removes its own
      if (r.kind === 'create') {
        for (const [idx, x] of r.replies) {
          if (x.status !== 'exists') continue;
          this.host.route(now, r.positions[idx] as NodeId, { type: 'dht', op: 'put', reqId: 0, idx, create: false, ttlMs: r.ttlMs, key: r.key, value: r.value }, 'closest');
        }
      }
    }
    r.cb(res);
  }

  /** A create without a majority: undo our accepted copies, then either report the winner or retry. */
  private createLost(now: number, r: Req, res: OpResult): void {
    // every position that did not refuse may hold our value (replies and retransmissions still in flight
    // included): remove it now, and once more when anything still in flight has landed
    const rollback = (t: number): void => {
      for (let idx = 0; idx < this.p.replicas; idx++) {
        if (r.replies.get(idx)?.status === 'exists') continue;
        this.host.route(t, r.positions[idx] as NodeId, { type: 'dht', op: 'remove', reqId: 0, idx, key: r.key, value: r.value }, 'closest');
      }
    };
    rollback(now);
    this.timers.push({ at: now + this.p.rollbackAgainMs, fn: rollback });
    if (res.code !== 'exists' && res.code !== 'no-majority' && res.code !== 'timeout') { r.cb(res); return; }
    const retry = (): void => {
      // never before the second rollback, which would otherwise undo the new attempt
      const wait = this.p.rollbackAgainMs + this.p.createBackoffMs * (0.5 + this.host.rng.next()) * (r.attempt + 1);
      this.timers.push({ at: this.now + wait, fn: (t) => this.start(t, 'create', r.key, r.value, r.ttlMs, r.cb, r.attempt + 1) });
    };
    // read: if another value already holds a majority, the create has definitely lost
    this.start(now, 'get', r.key, r.value, 0, (g) => {
      const other = g.agreed.find((v) => !(v.owner === this.host.id && bytesEqual(v.value, r.value)));
      if (g.ok && other) r.cb({ ...res, code: 'exists', values: g.values, agreed: g.agreed, disagreement: g.disagreement });
      else retry();
    });
  }

  private result(now: number, r: Req, code: DhtErrorCode): OpResult {
    return summarize(r.replies.values(), code, this.p.majority, r.kind === 'get', now - r.start);
  }

  // ================================================================ inputs
  tick(now: number): void {
    this.now = now;
    for (let i = this.timers.length - 1; i >= 0; i--) {
      const t = this.timers[i] as { at: number; fn: (now: number) => void };
      if (t.at <= now) { this.timers.splice(i, 1); t.fn(now); }
    }
    for (const r of [...this.reqs.values()]) {
      if (r.done) continue;
      if (now - r.start >= this.p.timeoutMs) { this.check(now, r, true); continue; }
      if (now - r.sentAt >= this.p.retryMs && r.tries < this.p.tries) {
        r.tries++; r.sentAt = now;
        for (let i = 0; i < this.p.replicas && !r.done; i++) if (!r.replies.has(i)) this.sendReq(now, r, i);
      }
    }
    for (const l of this.leases.values()) {
      if (l.busy || now < l.nextAt) continue;
      l.busy = true;
      this.start(now, 'put', l.key, l.value, l.ttlMs, (res) => {
        l.busy = false;
        if (!res.ok) l.nextAt = this.now + Math.min(this.p.renewErrorMs, l.ttlMs / 4);
      });
    }
    this.store.expire(now);
    this.refreshView(now);
    if (now >= this.settledRepairAt) { this.settledRepairAt = Infinity; this.repairSoonAt = Math.min(this.repairSoonAt, now); }
    if (now >= this.repairAt || now >= this.repairSoonAt) {
      if (now >= this.repairAt) {
        this.repairAt = now + this.repairEvery;
        this.repairEvery = Math.min(2 * this.repairEvery, Math.max(this.p.repairMs, this.p.repairMaxMs));
      }
      this.repairSoonAt = Infinity;
      this.requestRepair(now);
    }
  }

  /** A routed DHT message was delivered here (closest mode: we are the nearest node we know). */
  receive(now: number, src: NodeId, hops: number, m: DhtMsg): void {
    this.now = now;
    const R = this.p.replicas;
    switch (m.op) {
      case 'put': case 'get': case 'remove': {
        const reply = (status: DhtStatus, values: DhtValue[] = []): void => {
          if (status !== 'ok') this.drop('refused-' + status);
          if (m.reqId === 0) return; // a rollback: nobody waits for it
          const op = m.op === 'put' ? 'put-reply' : m.op === 'get' ? 'get-reply' : 'remove-reply';
          const msg: DhtMsg = op === 'get-reply' ? { type: 'dht', op, reqId: m.reqId, idx: m.idx, status, reqHops: hops, values }
            : { type: 'dht', op, reqId: m.reqId, idx: m.idx, status, reqHops: hops };
          this.host.route(now, src, msg, 'exact');
        };
        if (m.idx >= R) { reply('bad-index'); return; }
        if (m.key.length > this.p.maxKeyBytes) { reply('key-too-large'); return; }
        if (m.op === 'get') { reply('ok', this.store.get(now, m.key, m.idx)); return; }
        if (m.value.length > this.p.maxValueBytes) { reply('value-too-large'); return; }
        const pos = replicaPosition(m.key, m.idx, R);
        if (m.op === 'remove') {
          const st = this.store.remove(m.key, m.idx, src, m.value);
          if (st === 'ok') this.mirror(now, pos, [{ idx: m.idx, key: m.key, owner: src, ttlMs: 0, value: m.value }]);
          reply(st);
          return;
        }
        if (!(m.ttlMs > 0 && m.ttlMs <= this.p.maxTtlMs)) { reply('bad-ttl'); return; }
        const st = this.store.put(now, m.key, m.idx, pos, src, m.value, m.ttlMs, m.create);
        if (st === 'ok') this.mirror(now, pos, [{ idx: m.idx, key: m.key, owner: src, ttlMs: m.ttlMs, value: m.value }]);
        reply(st);
        return;
      }
      case 'put-reply': case 'remove-reply': this.onReply(now, m.reqId, m.idx, m.status, [], m.reqHops); return;
      case 'get-reply': this.onReply(now, m.reqId, m.idx, m.status, m.values, m.reqHops); return;
      case 'transfer': this.onTransfer(now, m.entries); return;
      case 'sync': case 'sync-digest': this.onSync(now, m); return;
    }
  }

  // ================================================================ holders: mirror, hand-over, repair
  /** Copy a change to the other nodes that hold this position. */
  private mirror(now: number, pos: NodeId, entries: DhtEntry[]): void {
    for (const n of closestOf(this.view, pos, this.p.copies)) if (n !== this.host.id) this.sendEntries(now, n, entries);
  }

  private onTransfer(now: number, entries: DhtEntry[]): void {
    for (const e of entries) {
      if (e.idx >= this.p.replicas || e.key.length > this.p.maxKeyBytes || e.value.length > this.p.maxValueBytes || e.ttlMs > this.p.maxTtlMs) { this.drop('transfer-invalid'); continue; }
      if (e.ttlMs === 0) { this.store.remove(e.key, e.idx, e.owner, e.value); continue; }
      const pos = replicaPosition(e.key, e.idx, this.p.replicas);
      if (!covers(this.view, pos, this.p.copies + 1)) { this.drop('transfer-not-covered'); continue; }
      const st = this.store.put(now, e.key, e.idx, pos, e.owner, e.value, e.ttlMs, false);
      if (st === 'ok') this.stats.entriesReceived++; else this.drop('transfer-' + st);
    }
  }

  /**
   * A range repair request: send the requester what we hold in [from, to] (shifted to its replica index)
   * and it does not list (SYNC_DIGEST; a legacy SYNC lists nothing), then walk on along the ring.
   */
  private onSync(now: number, m: Extract<DhtMsg, { op: 'sync' | 'sync-digest' }>): void {
    const R = this.p.replicas;
    if (m.shift === 0 || m.shift >= R || (m.op === 'sync-digest' && m.fps.length > MAX_SYNC_FINGERPRINTS)) { this.drop('sync-invalid'); return; }
    if (m.requester !== this.host.id) {
      const have = m.op === 'sync-digest' && m.fps.length > 0 ? new Set(m.fps) : null;
      const salt = m.op === 'sync-digest' ? m.salt : 0;
      const out: DhtEntry[] = [];
      for (const s of this.store.all()) {
        if (!inCwInterval(s.pos, m.from, m.to)) continue;
        const idx = (s.idx - m.shift + R) % R;
        for (const v of s.values) {
          if (v.expires <= now || (have && have.has(fingerprint(contentOf(s, v), idx, salt)))) continue;
          out.push({ idx, key: s.key, owner: v.owner, ttlMs: v.expires - now, value: v.value });
        }
      }
      if (out.length) { this.stats.syncEntriesSent += out.length; this.sendEntries(now, m.requester, out); }
    }
    // a walk never goes further than we would send one (a hostile hopsLeft is cut)
    const hopsLeft = Math.min(m.hopsLeft, this.p.syncHops);
    if (hopsLeft === 0) return;
    const mine = coveredInterval(this.view, this.p.copies);
    const left = this.view.left[0], right = this.view.right[0];
    // walk on while the requested interval reaches past what we cover
    if (m.walk !== 2 && left !== undefined && mine.from !== m.from && inCwInterval(mine.from, m.from, m.to) && mine.from !== addOffset(this.host.id, 1n)) {
      this.host.route(now, left, { ...m, walk: 1, hopsLeft: hopsLeft - 1 }, 'exact');
    }
    if (m.walk !== 1 && right !== undefined && mine.to !== m.to && inCwInterval(mine.to, m.from, m.to) && mine.to !== this.host.id) {
      this.host.route(now, right, { ...m, walk: 2, hopsLeft: hopsLeft - 1 }, 'exact');
    }
  }

  /**
   * Ask the nodes at the other replica positions for what we should hold and lack: one SYNC_DIGEST per
   * position listing the fingerprints of what we hold in our range (a range holding more than
   * MAX_SYNC_FINGERPRINTS values is split into sub-ranges, at slot boundaries).
   */
  private requestRepair(now: number): void {
    const R = this.p.replicas, step = replicaStep(R);
    const iv = coveredInterval(this.view, this.p.copies);
    const salt = this.host.rng.u32();
    this.stats.repairs++;
    const held: { d: bigint; fps: number[] }[] = [];
    for (const s of this.store.all()) {
      if (!inCwInterval(s.pos, iv.from, iv.to)) continue;
      const fps: number[] = [];
      for (const v of s.values) if (v.expires > now) fps.push(fingerprint(contentOf(s, v), s.idx, salt));
      if (fps.length) held.push({ d: cwDist(iv.from, s.pos), fps });
    }
    held.sort((a, b) => (a.d < b.d ? -1 : a.d > b.d ? 1 : 0));
    // sub-ranges [from, to] as offsets from iv.from
    const chunks: { from: bigint; to: bigint; fps: number[] }[] = [];
    let cur = { from: 0n, to: 0n, fps: [] as number[] };
    for (const h of held) {
      if (cur.fps.length > 0 && cur.fps.length + h.fps.length > MAX_SYNC_FINGERPRINTS) {
        chunks.push(cur);
        cur = { from: cur.to + 1n, to: 0n, fps: [] };
      }
      cur.fps.push(...h.fps);
      cur.to = h.d;
    }
    cur.to = cwDist(iv.from, iv.to);
    chunks.push(cur);
    for (const c of chunks) {
      const fps = [...new Set(c.fps)].sort((a, b) => a - b);
      for (let j = 1; j < R; j++) {
        const off = BigInt(j) * step;
        const from = addOffset(iv.from, c.from + off), to = addOffset(iv.from, c.to + off);
        const mid = addOffset(from, cwDist(from, to) / 2n);
        this.stats.syncsSent++;
        this.host.route(now, mid, { type: 'dht', op: 'sync-digest', requester: this.host.id, from, to, shift: j, walk: 0, hopsLeft: this.p.syncHops, salt, fps }, 'closest');
      }
    }
  }

  /** Compare the ring view with the last one; hand entries to nodes that became holders; repair on loss. */
  private refreshView(now: number): void {
    const k = this.p.copies + 1;
    const peers = this.host.peers();
    const right = peers.slice(0, k);
    const left: NodeId[] = [];
    for (let i = peers.length - 1; i >= 0 && left.length < k; i--) left.push(peers[i] as NodeId);
    const old = this.view;
    if (sameIds(old.left, left) && sameIds(old.right, right)) return;
    const view: RingView = { self: this.host.id, left, right };
    this.view = view;
    this.stats.viewChanges++;
    const c = this.p.copies;
    // the ring around us changed: check our ranges again soon, then less and less often while it stays
    if (this.p.repairMs > 0) { this.repairEvery = this.p.repairMs; this.repairAt = Math.min(this.repairAt, now + this.p.repairMs); }
    // we now know our range (just joined, or restarted under the same id): fetch it from the other positions
    // once the view settles (while joining, the first peers are far away and the range seems huge)
    if ((wholeRing(old, c) && !wholeRing(view, c)) || this.settledRepairAt < Infinity) this.settledRepairAt = now + this.p.syncDelayMs;
    const lost = [...old.left.slice(0, c), ...old.right.slice(0, c)].some((id) => !left.includes(id) && !right.includes(id));
    const push = new Map<NodeId, DhtEntry[]>();
    const gone: Slot[] = [];
    for (const s of this.store.all()) {
      const was = closestOf(old, s.pos, c);
      for (const n of closestOf(view, s.pos, c)) {
        if (n === this.host.id || was.includes(n)) continue;
        let a = push.get(n);
        if (!a) { a = []; push.set(n, a); }
        for (const v of s.values) if (v.expires > now) a.push({ idx: s.idx, key: s.key, owner: v.owner, ttlMs: v.expires - now, value: v.value });
      }
      if (!covers(view, s.pos, c + 1)) gone.push(s);
    }
    for (const [n, es] of push) this.sendEntries(now, n, es);
    for (const s of gone) this.store.drop(s);
    if (lost && old.left.length + old.right.length > 0 && this.repairSoonAt === Infinity) this.repairSoonAt = now + this.p.syncDelayMs;
  }

  private sendEntries(now: number, to: NodeId, entries: DhtEntry[]): void {
    let batch: DhtEntry[] = [], bytes = 0;
    const flush = (): void => {
      if (!batch.length) return;
      this.stats.transfersSent++;
      this.host.route(now, to, { type: 'dht', op: 'transfer', entries: batch }, 'exact');
      batch = []; bytes = 0;
    };
    for (const e of entries) {
      const sz = 32 + e.key.length + e.value.length;
      if (batch.length >= 255 || bytes + sz > MAX_TRANSFER_BYTES) flush();
      batch.push(e); bytes += sz;
    }
    flush();
  }

  drop(reason: string): void { this.stats.drops[reason] = (this.stats.drops[reason] ?? 0) + 1; }
}

function leaseName(key: Uint8Array, value: Uint8Array): string { return hexOf(key) + '/' + hexOf(value); }

function wholeRing(view: RingView, c: number): boolean {
  const iv = coveredInterval(view, c);
  return iv.to === view.self && iv.from === addOffset(view.self, 1n);
}

function sameIds(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

