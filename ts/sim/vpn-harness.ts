// Owns a simulated population of whole VPN nodes: VpnNode (the daemon's own code) over MemoryEngine,
// datagrams on a virtual underlay with the latency matrix, loss, partitions and optional NATs (nat-sites.ts), virtual time that jumps
// to the next event, and pings between virtual addresses with the path they took. It must not reach
// into a node beyond its public API; scenarios and assertions live in tests and ts/sim/scenarios.
import { VpnNode, type VpnNodeOptions } from '../node/vpn-node.js';
import { Realms, type GroupRealmOptions, type RealmEvent } from '../node/realms.js';
import type { GroupPolicy } from '../node/group.js';
import type { EngineCommand, NodeEvent, NodeInput } from '../node/io.js';
import { keyPairFromPrivate } from '../handshake/primitives.js';
import { Xoshiro128, forkRng, type Rng } from '../core/rng.js';
import { REAL_NETWORK_PARAMS, type Params } from '../core/params.js';
import type { NeighbourView } from '../core/crawl.js';
import type { NodeId } from '../base/nodeid.js';
import type { Logger } from '../base/log.js';
import { EventHeap } from './heap.js';
import { errors } from '../base/errors.js';
import { NetworkModel, LatencyMatrix, type NetworkOptions } from './network.js';
import { MemoryEngine, type Datagram, type SimPacket } from './memory-engine.js';
import { NatSites, type NatSpec } from './nat-sites.js';
import { DEFAULT_RELAY, type RelayOptions } from '../node/relay-links.js';
import { servedDestinations } from '../vpn/addressing.js';

const E_TICK = 0, E_DGRAM = 1, E_TRAFFIC = 2, E_CALL = 3;
const TRAFFIC_EVERY_MS = 5_000;
/** wall clock of virtual time 0 (handshake timestamps and certificate windows) */
export const SIM_EPOCH_MS = Date.UTC(2026, 0, 1);

interface Ev { k: number; a: number; b?: number; d?: Datagram; from?: string; fn?: () => void }

export interface VpnHarnessOptions {
  capacity: number;
  seed: number;
  matrix?: LatencyMatrix;
  net?: NetworkOptions;
  params?: Partial<Params>;
  bootstrapCount?: number;
  subnet?: string;
  leaseMs?: number;
  /** node i's static keys (default: drawn from the seed) */
  keys?: (i: number) => { privateKey: Uint8Array; publicKey: Uint8Array };
  /** a private group: the policy of node i (keys given), or undefined for an open network */
  group?: (i: number, keys: { privateKey: Uint8Array; publicKey: Uint8Array }) => GroupPolicy | undefined;
  /** wall clock at virtual time 0 (default SIM_EPOCH_MS); certificates are checked against it */
  wallOffsetMs?: number;
  /** relay link options of every node (ts/node/relay-links.ts) */
  relay?: Partial<RelayOptions>;
  /** node i is a gateway (gateway.enable, every member admitted) */
  gateway?: (i: number) => boolean;
  /** the subnets node i announces as a router (network.routes; default none) */
  routes?: (i: number) => string[];
  /** node i is a full-tunnel client (fullTunnel.enable) */
  fullTunnel?: (i: number) => boolean;
  /** node i behind a NAT (ts/sim/nat-sites.ts), or public (null); without it every node is public, as before */
  nat?: (i: number) => NatSpec | null;
  /** the private groups node i is a member of, beside the public overlay (ts/node/realms.ts); none: a plain VpnNode */
  realms?: (i: number, keys: { privateKey: Uint8Array; publicKey: Uint8Array }) => GroupRealmOptions[];
  log?: Logger;
}

/**
 * One ping as `ping -c <tries> -i 1` sees it: echo requests a second apart until one is answered.
 * `firstAnswered`: the very first request got its reply; `requestHow`/`replyHow`: the path of the
 * first request and reply that arrived.
 */
export interface PingRecord {
  id: number; from: number; to: number; sentAt: number; repliedAt: number | null; requestHow: string | null; replyHow: string | null;
  tries: number; firstAnswered: boolean;
  /** the node whose device the first request reached (for an address outside the subnet: the gateway, whose OS answers for the Internet) */
  answeredBy?: number;
}

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** What the harness drives: a VpnNode, or a daemon's overlays over one engine (Realms). */
interface Driven { tick(now: number): void; handle(now: number, i: NodeInput): void; pollCommands(): EngineCommand[]; pollEvents(): (NodeEvent | RealmEvent)[] }

export class VpnHarness {
  readonly heap = new EventHeap<Ev>();
  readonly net: NetworkModel;
  readonly rng: Rng;
  /** node i's public overlay (a member of private groups: realms[i].public) */
  readonly nodes: (VpnNode | null)[] = [];
  /** node i's overlays when it is a member of private groups (option realms) */
  readonly realms: (Realms | null)[] = [];
  private readonly drivers: (Driven | null)[] = [];
  readonly engines: (MemoryEngine | null)[] = [];
  readonly keys: { privateKey: Uint8Array; publicKey: Uint8Array }[] = [];
  readonly started: boolean[] = [];
  readonly bootstrap: string[] = [];
  readonly pings = new Map<number, PingRecord>();
  readonly events: { at: number; node: number; e: NodeEvent | RealmEvent }[] = [];
  readonly simDrops: Record<string, number> = {};
  /** datagrams and bytes put on the underlay per node (sent) */
  readonly sent: { n: number; bytes: number }[] = [];
  /** the NAT sites (option `nat`), null when every node is public */
  readonly nat: NatSites | null;
  now = 0;
  private nextPing = 1;
  private readonly firstEcho = new Set<number>();
  private readonly tickMs: number;
  private readonly byEndpoint = new Map<string, number>();
  onEvent: ((node: number, e: NodeEvent | RealmEvent) => void) | null = null;
  /** every datagram a node puts on the underlay (benchmarks classify them) */
  onSend: ((node: number, d: Datagram, bytes: number) => void) | null = null;
  /** a datagram the underlay (a NAT, a partition, loss) dropped (tracing) */
  onSimDrop: ((code: string, d: Datagram, to: string | null) => void) | null = null;

  constructor(readonly o: VpnHarnessOptions) {
    this.rng = new Xoshiro128(o.seed);
    this.net = new NetworkModel(o.matrix ?? LatencyMatrix.load(), o.capacity, forkRng(this.rng), o.net);
    this.tickMs = o.params?.heartbeatMs ?? REAL_NETWORK_PARAMS.heartbeatMs ?? 500;
    this.nat = o.nat ? new NatSites(o.nat, o.seed, {
      net: this.net, rng: this.rng, now: () => this.now, indexOf: (ep) => this.byEndpoint.get(ep),
      deliver: (at, b, from, d) => this.heap.push(at, { k: E_DGRAM, a: b, d, from }),
      at: (t, fn) => this.at(t, fn), drop: (k, d, to) => this.simDrop(k, d, to),
    }) : null;
    const k = Math.min(o.bootstrapCount ?? 3, o.capacity);
    // a bootstrap node behind a NAT is listed by its private endpoint: reachable from its own site only
    for (let i = 0; i < k; i++) this.bootstrap.push(this.endpoint(i));
  }

  get count(): number { return this.nodes.length; }

  /** Node i's own endpoint: `endpointOf(i)`, or its private one behind a NAT. */
  endpoint(i: number): string { return this.nat?.privateEndpoint(i) ?? endpointOf(i); }

  /** Create node i and start it at virtual time `at` (its first heartbeat comes within one tick). */
  addNode(at: number): number {
    const i = this.nodes.length;
    if (i >= this.o.capacity) throw new Error('harness capacity exceeded');
    const rng = forkRng(this.rng);
    const random = (n: number): Uint8Array => { const b = new Uint8Array(n); for (let j = 0; j < n; j++) b[j] = rng.u32() & 0xff; return b; };
    const kp = this.o.keys?.(i) ?? keyPairFromPrivate(random(32));
    const keys = { privateKey: kp.privateKey, publicKey: kp.publicKey };
    const group = this.o.group?.(i, keys);
    const ep = this.nat?.register(i) ?? endpointOf(i);
    const subnet = this.o.subnet ?? '10.128.0.0/16';
    const opts: VpnNodeOptions = {
      keys, random, seed: rng.u32(), wallOffsetMs: this.o.wallOffsetMs ?? SIM_EPOCH_MS, log: this.o.log ?? quiet,
      overlay: { bootstrap: i === 0 ? [] : this.bootstrap, endpoints: [ep], params: { ...REAL_NETWORK_PARAMS, ...this.o.params }, ...(this.o.relay ? { relay: this.o.relay } : {}) },
      lan: { net: 'sim', subnet, domain: 'sim', name: `n${i}`, routes: this.o.routes?.(i) ?? [], leaseMs: this.o.leaseMs ?? 3600_000, dhcp: false },
      ...(group ? { group } : {}),
      ...(this.o.gateway?.(i) ? { gateway: { allow: ['*'] } } : {}),
      ...(this.o.fullTunnel?.(i) ? { fullTunnel: {} } : {}),
    };
    const groups = this.o.realms?.(i, keys) ?? [];
    const realms = groups.length ? new Realms(opts, groups) : null;
    const node = realms ? realms.public : new VpnNode(opts);
    const relay = { ...DEFAULT_RELAY, ...this.o.relay };
    const destinations = [...servedDestinations(subnet, []), ...groups.map((g) => g.lan.subnet)];
    const engine = new MemoryEngine(ep, node.self, { send: (f, t, d) => this.send(f, t, d) }, { maxSessions: relay.maxSessions, rateBytes: relay.maxRateMbps * 125_000, destinations });
    engine.onDevice = (pkt, how) => this.onDevice(i, pkt, how);
    this.nodes.push(node);
    this.realms.push(realms);
    this.drivers.push(realms ?? node);
    this.engines.push(engine);
    this.keys.push(keys);
    this.started.push(false);
    this.sent.push({ n: 0, bytes: 0 });
    this.byEndpoint.set(ep, i);
    const phase = this.rng.next() * this.tickMs;
    this.heap.push(Math.max(at, this.now) + phase, { k: E_TICK, a: i });
    this.heap.push(Math.max(at, this.now) + phase + TRAFFIC_EVERY_MS, { k: E_TRAFFIC, a: i });
    return i;
  }

  /** Crash node i: it stops at once; peers find out by themselves. */
  crash(i: number): void { this.nodes[i] = null; this.engines[i] = null; this.realms[i] = null; this.drivers[i] = null; }

  at(time: number, fn: () => void): void { this.heap.push(time, { k: E_CALL, a: 0, fn }); }

  liveIndices(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.nodes.length; i++) if (this.nodes[i] && this.started[i]) out.push(i);
    return out;
  }

  /** Ring views of every live node (for the crawl's consistency check). */
  view(): Map<NodeId, NeighbourView> {
    const m = new Map<NodeId, NeighbourView>();
    for (const i of this.liveIndices()) { const n = this.nodes[i]!; if (n.overlay) m.set(n.self, n.overlay.ringNeighbours()); }
    return m;
  }

  /** The virtual address node i holds (null until claimed). */
  address(i: number): string | null { return this.nodes[i]?.lan?.address ?? null; }

  /** The address node i holds in its g-th private group (1-based; null until it has one). */
  groupAddress(i: number, g: number): string | null { return this.realms[i]?.groups[g - 1]?.node.lan?.address ?? null; }

  /** Node `from` pings node `to` from one of its addresses to one of `to`'s (a private group's). */
  pingAddressFrom(from: number, to: number, src: string | null, dst: string | null, tries = 1, everyMs = 1_000): PingRecord {
    return this.pingAddress(from, to, dst, tries, everyMs, src);
  }

  /** Node `from` pings node `to`'s virtual address; the record fills in when the reply arrives. */
  ping(from: number, to: number, tries = 1, everyMs = 1_000): PingRecord {
    return this.pingAddress(from, to, this.address(to), tries, everyMs);
  }

  /** Node `from` pings an address outside the virtual subnet (to: -1); a gateway's OS answers for the Internet. */
  pingOut(from: number, dst: string, tries = 1, everyMs = 1_000): PingRecord {
    return this.pingAddress(from, -1, dst, tries, everyMs);
  }

  private pingAddress(from: number, to: number, dst: string | null, tries: number, everyMs: number, srcAddress?: string | null): PingRecord {
    const src = srcAddress === undefined ? this.address(from) : srcAddress;
    if (!src || !dst || !this.engines[from]) throw errors.E_SIM(`ping ${from} -> ${to}: no address yet`);
    const rec: PingRecord = { id: this.nextPing, from, to, sentAt: this.now, repliedAt: null, requestHow: null, replyHow: null, tries: 0, firstAnswered: false };
    const echo = (): void => {
      const e = this.engines[from];
      if (rec.repliedAt !== null || !e || rec.tries >= tries) return;
      const id = this.nextPing++;
      this.pings.set(id, rec);
      if (rec.tries++ === 0) this.firstEcho.add(id);
      e.at(this.now).fromDevice({ src, dst, id, reply: false, bytes: 84 });
      this.pump(from);
      if (rec.tries < tries) this.at(this.now + everyMs, echo);
    };
    echo();
    return rec;
  }

  /** Every ordered pair of live nodes pings (`tries` echo requests a second apart); the records once `waitMs` passed. */
  pingAll(tries = 3, waitMs = 5_000): PingRecord[] {
    const out: PingRecord[] = [];
    const live = this.liveIndices();
    for (const a of live) for (const b of live) if (a !== b) out.push(this.ping(a, b, tries));
    this.run(this.now + waitMs);
    return out;
  }

  run(until: number, progress?: (now: number) => void): void {
    const step = Math.max(1, (until - this.now) / 100);
    let nextProgress = this.now + step;
    while (this.heap.size && this.heap.peekTime() <= until) {
      const t = this.heap.peekTime();
      const ev = this.heap.pop() as Ev;
      this.now = t;
      this.dispatch(ev);
      if (progress && t >= nextProgress) { progress(t); nextProgress = t + step; }
    }
    this.now = until;
  }

  private dispatch(ev: Ev): void {
    const i = ev.a;
    switch (ev.k) {
      case E_TICK: {
        const n = this.drivers[i];
        if (!n) return;
        this.started[i] = true;
        this.engines[i]!.tick(this.now);
        n.tick(this.now);
        this.pump(i);
        this.heap.push(this.now + this.tickMs, ev);
        return;
      }
      case E_DGRAM: {
        const e = this.engines[i];
        if (!e) { this.simDrop('dead_receiver'); return; }
        e.at(this.now).receive(ev.from!, ev.d!);
        this.pump(i);
        return;
      }
      case E_TRAFFIC: {
        const n = this.drivers[i], e = this.engines[i];
        if (!n || !e) return;
        n.handle(this.now, e.traffic());
        this.pump(i);
        this.heap.push(this.now + TRAFFIC_EVERY_MS, ev);
        return;
      }
      case E_CALL: ev.fn!(); return;
    }
  }

  /** Move commands from node i to its engine and engine events back, until both are quiet. */
  pump(i: number): void {
    const n = this.drivers[i], e = this.engines[i];
    if (!n || !e) return;
    e.at(this.now);
    for (let round = 0; round < 1000; round++) {
      const cmds = n.pollCommands();
      for (const c of cmds) e.apply(c);
      const evs = e.events.splice(0);
      for (const x of evs) n.handle(this.now, x);
      if (!cmds.length && !evs.length) break;
    }
    for (const x of n.pollEvents()) { this.events.push({ at: this.now, node: i, e: x }); this.onEvent?.(i, x); }
  }

  /** The underlay: deliver after the one-way latency unless lost or partitioned (through the NAT sites if any). */
  private send(from: string, to: string, d: Datagram): void {
    const a = this.byEndpoint.get(from);
    if (a === undefined) return;
    const s = this.sent[a]!;
    const bytes = datagramBytes(d);
    s.n++; s.bytes += bytes;
    this.onSend?.(a, d, bytes);
    if (this.nat) { this.nat.send(a, from, to, d); return; }
    const b = this.byEndpoint.get(to);
    if (b === undefined) { this.simDrop('unknown_endpoint'); return; }
    if (!this.net.reachable(a, b)) { this.simDrop('partition'); return; }
    if (this.net.loss > 0 && this.rng.next() < this.net.loss) { this.simDrop('loss'); return; }
    this.heap.push(this.now + this.net.oneWay(a, b), { k: E_DGRAM, a: b, d, from });
  }

  private onDevice(i: number, pkt: SimPacket, how: 'direct' | 'relayed'): void {
    const rec = this.pings.get(pkt.id);
    if (!rec) return;
    if (!pkt.reply) {
      if (rec.requestHow === null) { rec.requestHow = how; rec.answeredBy = i; }
      // the destination's OS answers the echo request
      this.engines[i]!.fromDevice({ src: pkt.dst, dst: pkt.src, id: pkt.id, reply: true, bytes: pkt.bytes });
      this.heap.push(this.now, { k: E_CALL, a: 0, fn: () => this.pump(i) });
    } else {
      // as ping counts icmp_seq=1: the first request is answered when its reply arrives, even after a
      // later request's reply (two requests held together may take different relay paths)
      if (this.firstEcho.has(pkt.id)) rec.firstAnswered = true;
      if (rec.repliedAt === null) { rec.repliedAt = this.now; rec.replyHow = how; }
    }
  }

  private simDrop(k: string, d?: Datagram, to?: string): void { this.simDrops[k] = (this.simDrops[k] ?? 0) + 1; if (d) this.onSimDrop?.(k, d, to ?? null); }
}

/** Node i's underlay endpoint. */
export function endpointOf(i: number): string { return `11.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:4500`; }

/** Wire size of a datagram as the native engine would send it (headers, tag, UDP/IPv4). */
export function datagramBytes(d: Datagram): number {
  const udp = 28, frame = 32;
  switch (d.t) {
    case 'raw': return udp + d.bytes.length;
    case 'data': return udp + frame + d.pkt.bytes;
    case 'control': return udp + frame + d.bytes.length;
    case 'keepalive': return udp + frame;
    case 'relay': return udp + frame + 44 + frame + (d.inner.pkt?.bytes ?? 0);
  }
}
