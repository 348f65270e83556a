// Owns the DHT scenarios on the full simulator (every node runs the overlay protocol and the DHT):
// building a joined ring with a DHT per node, running operations to completion, checking replication
// against the true ring, mass failure + repair, the create race and hop/latency measurement against N.
// It must not reach into DHT internals beyond the store it audits and the public operations.
import { Harness, type HarnessOptions } from '../harness.js';
import { buildJoined } from './join.js';
import { crawlNow } from '../measure.js';
import { type NodeId } from '../../base/nodeid.js';
import { ringDist } from '../../core/ring.js';
import { randInt, shuffle } from '../../core/rng.js';
import { DhtCore, type DhtParams, type OpResult } from '../../dht/dht.js';
import { attachDht } from '../../dht/attach.js';
import { replicaPositions } from '../../dht/placement.js';
import { bytesEqual } from '../../dht/store.js';
import { type LatencyMatrix } from '../network.js';
import { errors } from '../../base/errors.js';

export interface DhtNet { h: Harness; dhts: (DhtCore | null)[]; params: Partial<DhtParams> }

export interface DhtNetOptions { nodes: number; seed: number; dht?: Partial<DhtParams>; matrix?: LatencyMatrix; harness?: Partial<HarnessOptions>; settleMs?: number }

/** Join `nodes` nodes (the full protocol), give each a DHT, let shortcuts form. */
export function buildDhtNet(o: DhtNetOptions): DhtNet {
  const { h } = buildJoined({ nodes: o.nodes, seed: o.seed, intervalMs: 10, harness: { matrix: o.matrix, ...o.harness } });
  const net: DhtNet = { h, dhts: [], params: o.dht ?? {} };
  for (let i = 0; i < h.count; i++) { const n = h.nodes[i]; net.dhts.push(n ? attachDht(n, net.params) : null); }
  h.run(h.now + (o.settleMs ?? 30_000));
  return net;
}

/** Add a node that joins now, with its DHT. */
export function joinDhtNode(net: DhtNet): number {
  const i = net.h.addNode(net.h.now);
  net.dhts[i] = attachDht(net.h.nodes[i]!, net.params);
  return i;
}

export function crashDhtNode(net: DhtNet, i: number): void { net.h.crash(i); net.dhts[i] = null; }

export type Op = { kind: 'put' | 'create'; key: Uint8Array; value: Uint8Array; ttlMs: number } | { kind: 'get'; key: Uint8Array } | { kind: 'remove'; key: Uint8Array; value: Uint8Array };

/** Start an operation at node `i` now; the result lands in the returned holder when it completes. */
export function startOp(net: DhtNet, i: number, op: Op): { result: OpResult | null } {
  const d = net.dhts[i];
  if (!d) throw errors.E_SIM('operation on a dead node');
  const box: { result: OpResult | null } = { result: null };
  const cb = (r: OpResult): void => { box.result = r; };
  const now = net.h.now;
  if (op.kind === 'get') d.get(now, op.key, cb);
  else if (op.kind === 'remove') d.remove(now, op.key, op.value, cb);
  else if (op.kind === 'create') d.create(now, op.key, op.value, op.ttlMs, cb);
  else d.put(now, op.key, op.value, op.ttlMs, cb);
  net.h.drain(i);
  return box;
}

/** Run the simulation until every box has a result or `limitMs` passes. */
export function runUntilDone(net: DhtNet, boxes: { result: OpResult | null }[], limitMs = 60_000, stepMs = 500): boolean {
  const end = net.h.now + limitMs;
  while (net.h.now < end) {
    if (boxes.every((b) => b.result !== null)) return true;
    net.h.run(net.h.now + stepMs);
  }
  return boxes.every((b) => b.result !== null);
}

export function liveDhtIndices(net: DhtNet): number[] { return net.h.liveIndices().filter((i) => net.dhts[i]); }

/** Sorted ids of the live started nodes, to find the true closest nodes to a position. */
export function liveRing(net: DhtNet): { ids: NodeId[]; idx: number[] } {
  const live = liveDhtIndices(net).map((i) => ({ id: net.h.nodes[i]!.id, i })).sort((a, b) => (a.id < b.id ? -1 : 1));
  return { ids: live.map((x) => x.id), idx: live.map((x) => x.i) };
}

/** The `c` live nodes truly closest to `pos` (harness indices). */
export function trueClosest(ring: { ids: NodeId[]; idx: number[] }, pos: NodeId, c: number): number[] {
  const n = ring.ids.length;
  let lo = 0, hi = n;
  while (lo < hi) { const m = (lo + hi) >> 1; if ((ring.ids[m] as NodeId) < pos) lo = m + 1; else hi = m; }
  const cand: number[] = [];
  for (let k = -c; k < c; k++) cand.push(((lo + k) % n + n) % n);
  return [...new Set(cand)].sort((a, b) => { const da = ringDist(ring.ids[a] as NodeId, pos), db = ringDist(ring.ids[b] as NodeId, pos); return da < db ? -1 : da > db ? 1 : 0; })
    .slice(0, c).map((k) => ring.idx[k] as number);
}

export interface ReplicaAudit { keys: number; fullKeys: number; positionsHeld: number; positionsTotal: number; copiesHeld: number; copiesTotal: number; minPositions: number }

/**
 * Audit replication against the true ring: a position is held when its closest live node stores the
 * value; a copy is held when each of the `copies` closest live nodes does. Full = every copy held.
 */
export function auditReplication(net: DhtNet, items: { key: Uint8Array; value: Uint8Array; owner: NodeId }[], replicas = 8, copies = 2): ReplicaAudit {
  const ring = liveRing(net);
  const a: ReplicaAudit = { keys: items.length, fullKeys: 0, positionsHeld: 0, positionsTotal: 0, copiesHeld: 0, copiesTotal: 0, minPositions: replicas };
  const now = net.h.now;
  for (const it of items) {
    let pos = 0, cp = 0;
    replicaPositions(it.key, replicas).forEach((p, idx) => {
      const holders = trueClosest(ring, p, copies);
      const has = holders.map((hi) => net.dhts[hi]!.store.get(now, it.key, idx).some((v) => v.owner === it.owner && bytesEqual(v.value, it.value)));
      if (has[0]) pos++;
      cp += has.filter(Boolean).length;
    });
    a.positionsHeld += pos; a.positionsTotal += replicas;
    a.copiesHeld += cp; a.copiesTotal += replicas * copies;
    if (cp === replicas * copies) a.fullKeys++;
    a.minPositions = Math.min(a.minPositions, pos);
  }
  return a;
}

export function keyOf(k: number): Uint8Array { return new TextEncoder().encode('key-' + k); }
export function valueOf(k: number, tag = 'v'): Uint8Array { return new TextEncoder().encode(`${tag}-${k}`); }

export interface GetSummary { ok: number; total: number; agreedRight: number; disagreements: number; meanHops: number; meanLatencyMs: number; p99LatencyMs: number }

/** Read every item from random live nodes, `batch` at a time; count majority reads that return the value. */
export function readAll(net: DhtNet, items: { key: Uint8Array; value: Uint8Array; owner: NodeId }[], batch = 1000): GetSummary {
  const live = liveDhtIndices(net);
  const res: { r: { result: OpResult | null }; it: (typeof items)[number] }[] = [];
  for (let s = 0; s < items.length; s += batch) {
    const boxes = items.slice(s, s + batch).map((it) => ({ r: startOp(net, live[randInt(net.h.rng, live.length)] as number, { kind: 'get', key: it.key }), it }));
    runUntilDone(net, boxes.map((b) => b.r));
    res.push(...boxes);
  }
  let ok = 0, agreedRight = 0, dis = 0, hops = 0;
  const lat: number[] = [];
  for (const { r, it } of res) {
    const g = r.result;
    if (!g) continue;
    if (g.ok) { ok++; hops += g.hops; lat.push(g.latencyMs); }
    if (g.disagreement) dis++;
    if (g.ok && g.agreed.some((v) => v.owner === it.owner && bytesEqual(v.value, it.value))) agreedRight++;
  }
  lat.sort((x, y) => x - y);
  return {
    ok, total: items.length, agreedRight, disagreements: dis, meanHops: ok ? hops / ok : NaN,
    meanLatencyMs: lat.length ? lat.reduce((s, x) => s + x, 0) / lat.length : NaN,
    p99LatencyMs: lat.length ? (lat[Math.min(lat.length - 1, Math.floor(0.99 * lat.length))] as number) : NaN,
  };
}

export interface PutSummary { ok: number; total: number; meanHops: number; meanLatencyMs: number; items: { key: Uint8Array; value: Uint8Array; owner: NodeId }[] }

/** `keys` puts from random live owners, `batch` at a time. */
export function putMany(net: DhtNet, keys: number, ttlMs: number, batch = 1000, tag = 'v'): PutSummary {
  const live = liveDhtIndices(net);
  const all: { r: { result: OpResult | null }; it: PutSummary['items'][number] }[] = [];
  for (let s = 0; s < keys; s += batch) {
    const boxes: typeof all = [];
    for (let k = s; k < Math.min(keys, s + batch); k++) {
      const i = live[randInt(net.h.rng, live.length)] as number;
      const it = { key: keyOf(k), value: valueOf(k, tag), owner: net.h.nodes[i]!.id };
      boxes.push({ r: startOp(net, i, { kind: 'put', key: it.key, value: it.value, ttlMs }), it });
    }
    runUntilDone(net, boxes.map((b) => b.r));
    all.push(...boxes);
  }
  const okr = all.filter((b) => b.r.result?.ok);
  return {
    ok: okr.length, total: keys, items: okr.map((b) => b.it),
    meanHops: okr.reduce((s, b) => s + b.r.result!.hops, 0) / Math.max(1, okr.length),
    meanLatencyMs: okr.reduce((s, b) => s + b.r.result!.latencyMs, 0) / Math.max(1, okr.length),
  };
}

/** Crash a fraction of the live nodes at once (never the first 3: the bootstrap list for later joins). */
export function massFailure(net: DhtNet, fraction: number): number[] {
  const live = shuffle(net.h.rng, liveDhtIndices(net).filter((i) => i >= 3));
  const n = Math.round(fraction * (live.length + 3));
  const dead = live.slice(0, n);
  for (const i of dead) crashDhtNode(net, i);
  return dead;
}

export function crawlOk(net: DhtNet): boolean { return crawlNow(net.h).ok; }
