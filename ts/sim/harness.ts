// Owns a simulated population of overlay nodes: the virtual-time loop (jump to the next event), the
// driver side of the node API (frames, link set-up after one RTT, link loss), crashes and joins.
// It must not reach into node internals beyond the public API; scenarios live in ts/sim/scenarios/.
import { OverlayNode, type Output } from '../core/node.js';
import { type NodeId } from '../base/nodeid.js';
import { Xoshiro128, forkRng, randomId, type Rng } from '../core/rng.js';
import { type Params } from '../core/params.js';
import { type NeighbourView } from '../core/crawl.js';
import { EventHeap } from './heap.js';
import { NetworkModel, LatencyMatrix, type NetworkOptions } from './network.js';
import { errors } from '../base/errors.js';

const E_TICK = 0, E_FRAME = 1, E_LINK_DONE = 2, E_LINK_FAIL = 3, E_LINK_DOWN = 4, E_CALL = 5;
const PAIR = 2 ** 21;

interface Ev { k: number; a: number; b: number; x?: Uint8Array | (() => void) | string[]; id?: NodeId | null }

export interface HarnessOptions {
  capacity: number;            // maximum number of nodes ever created
  seed: number;
  matrix?: LatencyMatrix;
  net?: NetworkOptions;
  params?: Partial<Params>;
  bootstrapCount?: number;     // first k nodes form the bootstrap list (default 3)
  linkFailMs?: number;         // a link to an unreachable node fails after this
}

export type DeliverHook = (at: number, o: Extract<Output, { type: 'deliver' }>) => void;

export class Harness {
  readonly heap = new EventHeap<Ev>();
  readonly net: NetworkModel;
  readonly rng: Rng;
  readonly nodes: (OverlayNode | null)[] = [];
  readonly alive: boolean[] = [];
  /** a node is started once its first heartbeat ran (joins are scheduled ahead) */
  readonly started: boolean[] = [];
  readonly idToIdx = new Map<NodeId, number>();
  private readonly linksOf: Set<number>[] = [];
  private readonly pendingPairs = new Set<number>();
  readonly bootstrap: string[] = [];
  now = 0;
  events = 0;
  simDrops: Record<string, number> = {};
  onDeliver: DeliverHook | null = null;
  private readonly linkFailMs: number;
  private readonly tickMs: number;

  constructor(readonly o: HarnessOptions) {
    this.rng = new Xoshiro128(o.seed);
    const matrix = o.matrix ?? LatencyMatrix.load();
    this.net = new NetworkModel(matrix, o.capacity, forkRng(this.rng), o.net);
    this.linkFailMs = o.linkFailMs ?? 5_000;
    this.tickMs = o.params?.heartbeatMs ?? 500;
    const k = Math.min(o.bootstrapCount ?? 3, o.capacity);
    for (let i = 0; i < k; i++) this.bootstrap.push(endpointOf(i));
  }

  get count(): number { return this.nodes.length; }

  /** Create the next node and start it at virtual time `at`. Returns its index. */
  addNode(at: number, id?: NodeId): number {
    const idx = this.nodes.length;
    if (idx >= this.o.capacity) throw errors.E_SIM('harness capacity exceeded');
    const rng = forkRng(this.rng);
    const nid = id ?? randomId(rng);
    const node = new OverlayNode({
      id: nid, endpoints: [endpointOf(idx)], rng, events: false, params: this.o.params,
      bootstrap: idx === 0 ? [] : this.bootstrap,
    });
    this.nodes.push(node);
    this.alive.push(true);
    this.started.push(false);
    this.linksOf.push(new Set());
    this.idToIdx.set(nid, idx);
    const phase = this.rng.next() * this.tickMs;
    this.heap.push(Math.max(at, this.now) + phase, { k: E_TICK, a: idx, b: 0 });
    return idx;
  }

  /** Crash a node: it stops; peers are not told (they find out by pinging). */
  crash(idx: number): void {
    if (!this.alive[idx]) return;
    this.alive[idx] = false;
    for (const p of this.linksOf[idx] as Set<number>) this.linksOf[p]?.delete(idx);
    (this.linksOf[idx] as Set<number>).clear();
    this.nodes[idx] = null;
  }

  at(time: number, fn: () => void): void { this.heap.push(time, { k: E_CALL, a: 0, b: 0, x: fn }); }

  send(from: number, to: number, payload: Uint8Array, trace = false): void {
    const n = this.nodes[from], d = this.nodes[to];
    if (!n || !d) throw errors.E_SIM('send between dead nodes');
    n.send(this.now, d.id, payload, { trace });
    this.drain(from);
  }

  /** Nodes that are started and not crashed. */
  liveIndices(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.nodes.length; i++) if (this.alive[i] && this.started[i]) out.push(i);
    return out;
  }

  /** Neighbour view of every started live node, for the crawl. */
  view(): Map<NodeId, NeighbourView> {
    const m = new Map<NodeId, NeighbourView>();
    for (let i = 0; i < this.nodes.length; i++) {
      const n = this.nodes[i];
      if (n && this.started[i]) m.set(n.id, n.ringNeighbours());
    }
    return m;
  }

  /** Run events until virtual time `until` (ms). `progress` is called about every 1 % of the span. */
  run(until: number, progress?: (now: number) => void): void {
    const start = this.now;
    const step = Math.max(1, (until - start) / 100);
    let nextProgress = start + step;
    const heap = this.heap;
    while (heap.size && heap.peekTime() <= until) {
      const t = heap.peekTime();
      const ev = heap.pop() as Ev;
      this.now = t;
      this.events++;
      this.dispatch(ev);
      if (progress && t >= nextProgress) { progress(t); nextProgress = t + step; }
    }
    this.now = until;
  }

  private dispatch(ev: Ev): void {
    switch (ev.k) {
      case E_TICK: {
        const n = this.nodes[ev.a];
        if (!n) return;
        this.started[ev.a] = true;
        n.tick(this.now);
        this.drain(ev.a);
        this.heap.push(this.now + this.tickMs, ev);
        return;
      }
      case E_FRAME: {
        const n = this.nodes[ev.b];
        const src = this.nodes[ev.a];
        if (!n) { this.simDrop('dead-receiver'); return; }
        if (!this.net.reachable(ev.a, ev.b)) { this.simDrop('partition'); return; }
        n.receive(this.now, ev.id as NodeId, ev.x as Uint8Array);
        void src;
        this.drain(ev.b);
        return;
      }
      case E_LINK_DONE: {
        const a = ev.a, b = ev.b;
        this.pendingPairs.delete(pairKey(a, b));
        const na = this.nodes[a], nb = this.nodes[b];
        if (!na) return;
        if (!nb || !this.net.reachable(a, b)) { na.linkFailed(this.now, ev.id ?? null, ev.x as string[]); this.drain(a); return; }
        (this.linksOf[a] as Set<number>).add(b);
        (this.linksOf[b] as Set<number>).add(a);
        na.linkUp(this.now, nb.id, nb.endpoints);
        nb.linkUp(this.now, na.id, na.endpoints);
        this.drain(a); this.drain(b);
        return;
      }
      case E_LINK_FAIL: {
        const na = this.nodes[ev.a];
        if (!na) return;
        na.linkFailed(this.now, ev.id ?? null, ev.x as string[]);
        this.drain(ev.a);
        return;
      }
      case E_LINK_DOWN: {
        const n = this.nodes[ev.a];
        if (!n) return;
        n.linkDown(this.now, ev.id as NodeId);
        this.drain(ev.a);
        return;
      }
      case E_CALL: (ev.x as () => void)(); return;
    }
  }

  /** Carry out what node `i` asked for. */
  drain(i: number): void {
    const n = this.nodes[i];
    if (!n) return;
    const out = n.out;
    for (let k = 0; k < out.length; k++) {
      const o = out[k] as Output;
      switch (o.type) {
        case 'send': {
          const j = this.idToIdx.get(o.to);
          if (j === undefined || !(this.linksOf[i] as Set<number>).has(j)) { this.simDrop('no-link'); break; }
          if (this.net.loss > 0 && this.rng.next() < this.net.loss) { this.simDrop('loss'); break; }
          this.heap.push(this.now + this.net.oneWay(i, j), { k: E_FRAME, a: i, b: j, x: o.bytes, id: n.id });
          break;
        }
        case 'link': this.link(i, o.to, o.endpoints); break;
        case 'unlink': {
          const j = this.idToIdx.get(o.to);
          if (j === undefined) break;
          const had = (this.linksOf[i] as Set<number>).delete(j);
          this.linksOf[j]?.delete(i);
          if (had && this.alive[j]) this.heap.push(this.now + this.net.oneWay(i, j), { k: E_LINK_DOWN, a: j, b: i, id: n.id });
          break;
        }
        case 'deliver': if (this.onDeliver) this.onDeliver(i, o); break;
        case 'event': break;
      }
    }
    out.length = 0;
  }

  private link(i: number, to: NodeId | null, endpoints: string[]): void {
    let j: number | undefined;
    if (to !== null) j = this.idToIdx.get(to);
    else for (const e of endpoints) { const x = indexOfEndpoint(e); if (x !== undefined && x < this.nodes.length) { j = x; break; } }
    const fail = (): void => { this.heap.push(this.now + this.linkFailMs, { k: E_LINK_FAIL, a: i, b: 0, x: endpoints, id: to }); };
    if (j === undefined || j === i) { fail(); return; }
    if ((this.linksOf[i] as Set<number>).has(j)) {
      const nj = this.nodes[j];
      if (nj) this.nodes[i]?.linkUp(this.now, nj.id, nj.endpoints);
      return;
    }
    if (!this.alive[j] || !this.net.reachable(i, j)) { fail(); return; }
    const key = pairKey(i, j);
    if (this.pendingPairs.has(key)) return; // the other side is already linking: one handshake completes both
    this.pendingPairs.add(key);
    this.heap.push(this.now + this.net.rtt(i, j), { k: E_LINK_DONE, a: i, b: j, x: endpoints, id: to });
  }

  private simDrop(reason: string): void { this.simDrops[reason] = (this.simDrops[reason] ?? 0) + 1; }

  /** Sum of the nodes' own drop counters. */
  nodeDrops(): Record<string, number> {
    const acc: Record<string, number> = {};
    for (const n of this.nodes) if (n) for (const [k, v] of Object.entries(n.stats.drops)) acc[k] = (acc[k] ?? 0) + v;
    return acc;
  }
}

export function endpointOf(i: number): string { return 's' + i; }
function indexOfEndpoint(e: string): number | undefined {
  if (e.length < 2 || e[0] !== 's') return undefined;
  const v = Number(e.slice(1));
  return Number.isInteger(v) && v >= 0 ? v : undefined;
}
function pairKey(a: number, b: number): number { return a < b ? a * PAIR + b : b * PAIR + a; }
