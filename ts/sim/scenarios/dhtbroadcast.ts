// Owns range-broadcast scenarios: on the steady-state ring built directly from sorted ids (steady.ts,
// no joins) with PlanetLab latencies, and on a joined full-protocol harness. Every BCAST goes through
// the real codec and core/broadcast.ts. It must not change how the broadcast decides ranges.
import { buildStaticRing } from '../steady.js';
import { EventHeap } from '../heap.js';
import { NetworkModel, LatencyMatrix } from '../network.js';
import { buildJoined } from './join.js';
import { type Harness } from '../harness.js';
import { BroadcastService, type BroadcastParams } from '../../core/broadcast.js';
import { attachBroadcast } from '../../dht/attach.js';
import { type NodeId } from '../../base/nodeid.js';
import { cwDist } from '../../core/ring.js';
import { Xoshiro128, forkRng, randInt } from '../../core/rng.js';
import { encode, decode } from '../../wire/overlay-codec.js';
import { errors } from '../../base/errors.js';

export interface BroadcastRun { origin: number; reached: number; nodes: number; messages: number; duplicates: number; maxHops: number; meanHops: number; timeMs: number }
export interface BroadcastResult { model: 'steady' | 'joined'; nodes: number; seed: number; fanout: number; runs: BroadcastRun[]; wallMs: number }

function summarize(origin: number, nodes: number, hops: number[], times: number[], messages: number, duplicates: number): BroadcastRun {
  const got = hops.filter((h) => h >= 0);
  return {
    origin, nodes, reached: got.length, messages, duplicates,
    maxHops: Math.max(0, ...got), meanHops: got.reduce((s, x) => s + x, 0) / Math.max(1, got.length),
    timeMs: Math.max(0, ...times),
  };
}

/** Broadcast from `origins` random nodes of a steady-state ring of `nodes` (counted: origin included). */
export function broadcastSteady(o: { nodes: number; seed: number; origins: number; params?: Partial<BroadcastParams>; matrix?: LatencyMatrix }): BroadcastResult {
  const t0 = performance.now();
  const rng = new Xoshiro128(o.seed);
  const g = buildStaticRing(o.nodes, rng);
  const net = new NetworkModel(o.matrix ?? LatencyMatrix.load(), o.nodes, forkRng(rng));
  const peersOf = g.adj.map((adj, i) => [...adj].map((j) => g.ids[j] as NodeId).sort((a, b) => {
    const me = g.ids[i] as NodeId; const da = cwDist(me, a), db = cwDist(me, b); return da < db ? -1 : da > db ? 1 : 0;
  }));
  const heap = new EventHeap<{ from: number; to: number; bytes: Uint8Array }>();
  const runs: BroadcastRun[] = [];
  for (let r = 0; r < o.origins; r++) {
    const hops = new Array<number>(o.nodes).fill(-1), times = new Array<number>(o.nodes).fill(0);
    let messages = 0, now = 0;
    const svc: BroadcastService[] = g.ids.map((id, i) => new BroadcastService({
      id, peers: () => peersOf[i] as NodeId[],
      sendDirect: (to, msg) => { messages++; const j = g.index.get(to) as number; heap.push(now + net.oneWay(i, j), { from: i, to: j, bytes: encode(msg) }); return true; },
    }, (at, m) => { hops[i] = m.hops; times[i] = at; }, o.params));
    const origin = randInt(rng, o.nodes);
    hops[origin] = 0;
    (svc[origin] as BroadcastService).broadcast(0, Uint8Array.of(7));
    while (heap.size) {
      now = heap.peekTime();
      const ev = heap.pop() as { from: number; to: number; bytes: Uint8Array };
      const d = decode(ev.bytes);
      if (!d.ok || d.msg.type !== 'bcast') throw errors.E_SIM('broadcast frame did not decode');
      (svc[ev.to] as BroadcastService).receive(now, g.ids[ev.from] as NodeId, d.msg);
    }
    const dups = svc.reduce((s, b) => s + (b.stats.drops.duplicate ?? 0), 0);
    runs.push(summarize(origin, o.nodes, hops, times, messages, dups));
  }
  return { model: 'steady', nodes: o.nodes, seed: o.seed, fanout: o.params?.fanout ?? 0, runs, wallMs: performance.now() - t0 };
}

/** Broadcast from `origins` random nodes of a joined full-protocol ring (every node runs the overlay). */
export function broadcastJoined(o: { nodes: number; seed: number; origins: number; params?: Partial<BroadcastParams>; h?: Harness }): BroadcastResult {
  const t0 = performance.now();
  const h = o.h ?? buildJoined({ nodes: o.nodes, seed: o.seed, intervalMs: 10 }).h;
  if (!o.h) h.run(h.now + 30_000);
  const n = h.count;
  let hops: number[] = [], times: number[] = [];
  let start = 0;
  const svc = h.nodes.map((node, i) => node && attachBroadcast(node, (at, m) => { hops[i] = m.hops; times[i] = at - start; }, o.params));
  const sentBefore = (): number => svc.reduce((s, b) => s + (b ? b.stats.forwarded : 0), 0);
  const dupBefore = (): number => svc.reduce((s, b) => s + (b ? b.stats.drops.duplicate ?? 0 : 0), 0);
  const runs: BroadcastRun[] = [];
  const live = h.liveIndices();
  for (let r = 0; r < o.origins; r++) {
    hops = new Array<number>(n).fill(-1); times = new Array<number>(n).fill(0);
    for (let i = 0; i < n; i++) if (!h.nodes[i]) hops[i] = -2;
    const origin = live[randInt(h.rng, live.length)] as number;
    hops[origin] = 0;
    const m0 = sentBefore(), d0 = dupBefore();
    start = h.now;
    (svc[origin] as BroadcastService).broadcast(h.now, Uint8Array.of(7));
    h.drain(origin);
    h.run(h.now + 20_000);
    runs.push(summarize(origin, live.length, hops.filter((x) => x !== -2), times, sentBefore() - m0, dupBefore() - d0));
  }
  return { model: 'joined', nodes: live.length, seed: o.seed, fanout: o.params?.fanout ?? 0, runs, wallMs: performance.now() - t0 };
}
