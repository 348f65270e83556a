// Owns the one scenario interface the engine compliance suite (engine-compliance.test.ts) runs against,
// and its two implementations: MemoryEngines (ts/sim/memory-engine.ts) on an in-process underlay, and
// native engines (the binding's Engine, mode 'tun') each in its own network namespace on a bridged veth
// underlay, driven through tests/net/engine-agent.ts. Engine i has the virtual address 10.99.0.(i+1)/16,
// the underlay endpoint 172.30.0.(i+1):51820 and a fixed node id; both sides speak EngineCommand and
// NodeInput (ts/node/io.ts). Must not assert anything (the suite does).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { idFromBytes } from '../../ts/base/nodeid.js';
import { Netns, randomSuffix } from '../../ts/lab/netns.js';
import { repoRoot } from '../../ts/paths.js';
import type { EngineCommand, NodeInput } from '../../ts/node/io.js';
import { toInput } from '../../ts/runtime/daemon.js';
import type { EngineEvent, EngineStats } from '../../ts/runtime/engine.js';
import { MemoryEngine, type Datagram } from '../../ts/sim/memory-engine.js';

/** A datagram that reached an engine's OS side (a UDP socket on one of its local addresses). */
export interface Delivery { src: string; dst: string; marker: string }

/** Per-peer data counters, as both engines count them. */
export interface PeerCounters { txData: number; rxData: number; txRelayed: number; rxRelayed: number }

/** The counters the suite compares (non-zero drops only). */
export interface Counters {
  peers: Record<number, PeerCounters>;
  drops: Record<string, number>;
  relayForwarded: number;
  pendingHeld: number;
  pendingReleased: number;
  rxPendingHeld: number;
  rxPendingReleased: number;
}

/** `n` engines wired to each other on one underlay; i, j index them (0 = A, 1 = B, 2 = C). */
export interface Scenario {
  readonly kind: 'memory' | 'native';
  readonly n: number;
  /** Engine i's own virtual address (10.99.0.(i+1)). */
  ip(i: number): string;
  /** Engine i's underlay endpoint (host:port). */
  endpoint(i: number): string;
  /** Engine i's 20-byte node id. */
  nodeId(i: number): Uint8Array;
  /** Add a local address (CIDR) on engine i's OS side; datagrams to it are observed too. */
  addAddress(i: number, cidr: string): Promise<void>;
  /** Apply one engine command to engine i. */
  apply(i: number, c: EngineCommand): Promise<void>;
  /** Engine i's OS sends a UDP datagram carrying `marker` from its local address `src` to `dst`. */
  send(i: number, p: { src: string; dst: string; marker: string }): Promise<void>;
  /** Let in-flight work finish (native: wait a little; memory: nothing is in flight). */
  settle(): Promise<void>;
  /** What reached engine j's OS side so far, in order; waits (bounded) until at least `atLeast` have. */
  delivered(j: number, atLeast?: number): Promise<Delivery[]>;
  /** Engine i's events since the last call, as NodeInput. */
  events(i: number): Promise<NodeInput[]>;
  stats(i: number): Promise<Counters>;
  close(): Promise<void>;
}

/** Engine config every engine of a scenario starts with. */
export interface ScenarioOptions {
  /** the engine config's `destinations` (default: none given, any destination) */
  destinations?: string[];
}

export type MakeScenario = (n: number, opts?: ScenarioOptions) => Promise<Scenario>;

const PORT = 51820;
const ip = (i: number): string => `10.99.0.${i + 1}`;
const endpoint = (i: number): string => `172.30.0.${i + 1}:${PORT}`;
/** Node ids spread on the ring (A < B < C) so greedy forwarding has an obvious answer. */
const nodeId = (i: number): Uint8Array => { const b = new Uint8Array(20).fill(0x11 * (i + 1)); b[19] = i; return b; };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The setPeer/setSession commands that give engines i and j a direct session (real keys, mirrored). */
export function link(s: Scenario, i: number, j: number, o: { allowedAtI?: string[]; allowedAtJ?: string[]; index?: number } = {}): [number, EngineCommand][] {
  const k1 = new Uint8Array(randomBytes(32)), k2 = new Uint8Array(randomBytes(32));
  const base = o.index ?? 100 * (i + 1) + 10 * (j + 1);
  return [
    [i, { cmd: 'setPeer', peerId: j + 1, endpoint: s.endpoint(j), allowed: o.allowedAtI ?? [`${s.ip(j)}/32`], nodeId: s.nodeId(j), via: null }],
    [j, { cmd: 'setPeer', peerId: i + 1, endpoint: s.endpoint(i), allowed: o.allowedAtJ ?? [`${s.ip(i)}/32`], nodeId: s.nodeId(i), via: null }],
    [j, { cmd: 'setSession', peerId: i + 1, keys: { localIndex: base + 2, remoteIndex: base + 1, sendKey: k2, recvKey: k1, initiator: false } }],
    [i, { cmd: 'setSession', peerId: j + 1, keys: { localIndex: base + 1, remoteIndex: base + 2, sendKey: k1, recvKey: k2, initiator: true } }],
  ];
}

export async function applyAll(s: Scenario, cmds: [number, EngineCommand][]): Promise<void> {
  for (const [i, c] of cmds) await s.apply(i, c);
}

// ---------------------------------------------------------------- in memory

export const memoryScenario: MakeScenario = async (n, opts = {}) => {
  const t0 = performance.now();
  const clock = (): number => performance.now() - t0;
  const wire: { to: number; from: string; d: Datagram }[] = [];
  const engines: MemoryEngine[] = [];
  const addrs: Set<string>[] = [];
  const seen: Delivery[][] = [];
  const markers = new Map<number, string>();
  let nextId = 1;
  const pump = (): void => {
    for (let k = 0; k < 10_000 && wire.length; k++) {
      const w = wire.shift()!;
      if (w.to >= 0) engines[w.to]!.at(clock()).receive(w.from, w.d);
    }
  };
  for (let i = 0; i < n; i++) {
    const e = new MemoryEngine(endpoint(i), idFromBytes(nodeId(i)), { send: (from, to, d) => wire.push({ to: engines.findIndex((x) => x.endpoint === to), from, d }) }, { destinations: opts.destinations });
    e.apply({ cmd: 'setAddress', cidr: `${ip(i)}/16`, assign: true });
    // the OS: a datagram reaches a socket only at a local address
    e.onDevice = (pkt) => { if (addrs[i]!.has(pkt.dst)) seen[i]!.push({ src: pkt.src, dst: pkt.dst, marker: markers.get(pkt.id) ?? '?' }); };
    engines.push(e);
    addrs.push(new Set([ip(i)]));
    seen.push([]);
  }
  return {
    kind: 'memory', n, ip, endpoint, nodeId,
    async addAddress(i, cidr) { addrs[i]!.add(cidr.split('/')[0]!); },
    async apply(i, c) { engines[i]!.at(clock()).apply(c); pump(); },
    async send(i, p) {
      if (!addrs[i]!.has(p.src)) throw new Error(`${p.src} is not local at engine ${i}`);
      const id = nextId++;
      markers.set(id, p.marker);
      engines[i]!.at(clock()).fromDevice({ src: p.src, dst: p.dst, id, reply: false, bytes: 28 + p.marker.length });
      pump();
    },
    async settle() { for (const e of engines) e.tick(clock()); pump(); },
    async delivered(j) { return [...seen[j]!]; },
    async events(i) { engines[i]!.tick(clock()); pump(); return engines[i]!.events.splice(0); },
    async stats(i) {
      const e = engines[i]!;
      const s = e.stats();
      return {
        peers: Object.fromEntries(s.peers.map((p) => [p.peerId, { txData: p.txData, rxData: p.rxData, txRelayed: p.txRelayed, rxRelayed: p.rxRelayed }])),
        drops: nonZero(s.drops),
        relayForwarded: e.counters.relayForwarded,
        pendingHeld: e.counters.pendingHeld,
        pendingReleased: e.counters.pendingReleased,
        rxPendingHeld: e.counters.rxPendingHeld,
        rxPendingReleased: e.counters.rxPendingReleased,
      };
    },
    async close() {},
  };
};

function nonZero(d: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(d).filter(([, v]) => v > 0));
}

// ---------------------------------------------------------------- native, in namespaces

const AGENT = fileURLToPath(new URL('./engine-agent.ts', import.meta.url));

/** One engine-agent process inside a namespace, answering requests in order. */
class Agent {
  private nextId = 1;
  private readonly waiting = new Map<number, { res: (v: unknown) => void; rej: (e: Error) => void }>();
  private stderr = '';
  readonly exited: Promise<void>;

  constructor(readonly ns: Netns, private readonly child: ChildProcessWithoutNullStreams) {
    child.stderr.on('data', (b: Buffer) => { this.stderr = (this.stderr + b.toString()).slice(-4000); });
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (!line.startsWith('{"id"')) return;
      const m = JSON.parse(line) as { id: number; ok: boolean; result?: unknown; error?: string };
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (m.ok) w?.res(m.result); else w?.rej(new Error(`${this.ns.name}: ${m.error}`));
    });
    this.exited = new Promise((res) => child.on('exit', () => {
      for (const w of this.waiting.values()) w.rej(new Error(`${this.ns.name}: agent exited: ${this.stderr.trim().slice(-1000)}`));
      this.waiting.clear();
      res();
    }));
  }

  static start(ns: Netns): Agent {
    // `ip netns exec` execs node itself, so the child is the agent (ns.destroy() removes anything left)
    const child = spawn('ip', ['netns', 'exec', ns.name, process.execPath, '--import', 'tsx', AGENT], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
    return new Agent(ns, child);
  }

  call<T>(op: string, args: object = {}, timeoutMs = 15_000): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((res, rej) => {
      const timer = setTimeout(() => { this.waiting.delete(id); rej(new Error(`${this.ns.name}: ${op} timed out: ${this.stderr.trim().slice(-1000)}`)); }, timeoutMs);
      this.waiting.set(id, { res: (v) => { clearTimeout(timer); res(v as T); }, rej: (e) => { clearTimeout(timer); rej(e); } });
      this.child.stdin.write(JSON.stringify({ id, op, ...args }, (_k, v: unknown) => (v instanceof Uint8Array ? { hex: Buffer.from(v).toString('hex') } : v)) + '\n');
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    await Promise.race([this.call('close', {}, 3_000).catch(() => {}), sleep(3_000)]);
    await Promise.race([this.exited, sleep(2_000)]);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/** Turn the agent's { hex } fields back into Buffers, then the daemon's conversion. */
function fromWire(ev: Record<string, unknown>): NodeInput | null {
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(ev)) o[k] = v && typeof v === 'object' && 'hex' in v ? Buffer.from((v as { hex: string }).hex, 'hex') : v;
  return toInput(o as EngineEvent);
}

export const nativeScenario: MakeScenario = async (n, opts = {}) => {
  const sfx = randomSuffix();
  const namespaces: Netns[] = [];
  const agents: Agent[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(agents.map((a) => a.stop()));
    await Promise.all(namespaces.map((ns) => ns.destroy()));
  };
  try {
    const hub = await Netns.create(`rvcomp-hub-${sfx}`);
    namespaces.push(hub);
    await hub.ip(['link', 'add', 'br0', 'type', 'bridge']);
    await hub.ip(['link', 'set', 'br0', 'up']);
    const nss = await Promise.all(Array.from({ length: n }, (_, i) => Netns.create(`rvcomp${i}-${sfx}`)));
    namespaces.push(...nss);
    await Promise.all(nss.map(async (ns, i) => {
      // no IPv6: nothing but the test's own packets enters the tunnel
      for (const k of ['all', 'default']) await ns.exec('sysctl', ['-qw', `net.ipv6.conf.${k}.disable_ipv6=1`]);
      await ns.ip(['link', 'add', 'u0', 'type', 'veth', 'peer', 'name', `h${i}`, 'netns', hub.name]);
      await ns.ip(['addr', 'add', `172.30.0.${i + 1}/24`, 'dev', 'u0']);
      await ns.ip(['link', 'set', 'u0', 'up']);
      await hub.ip(['link', 'set', `h${i}`, 'master', 'br0', 'up']);
    }));
    agents.push(...nss.map((ns) => Agent.start(ns)));
    await Promise.all(agents.map((a, i) => a.call('start', { ifname: 'rvt0', address: `${ip(i)}/16`, listenPort: PORT, nodeId: Buffer.from(nodeId(i)).toString('hex'), destinations: opts.destinations }, 30_000)));
  } catch (e) {
    await close();
    throw e;
  }
  return {
    kind: 'native', n, ip, endpoint, nodeId,
    async addAddress(i, cidr) { await agents[i]!.call('addAddress', { cidr }); },
    async apply(i, c) { await agents[i]!.call('apply', { c }); },
    async send(i, p) { await agents[i]!.call('send', p); },
    async settle() { await sleep(250); },
    async delivered(j, atLeast = 0) {
      const deadline = Date.now() + 3_000;
      for (;;) {
        const d = await agents[j]!.call<Delivery[]>('delivered');
        if (d.length >= atLeast || Date.now() > deadline) return d;
        await sleep(25);
      }
    },
    async events(i) {
      const evs = await agents[i]!.call<Record<string, unknown>[]>('events');
      return evs.map(fromWire).filter((x): x is NodeInput => x !== null);
    },
    async stats(i) {
      const s = await agents[i]!.call<EngineStats>('stats');
      return {
        peers: Object.fromEntries(s.peers.map((p) => [p.peerId, { txData: p.txDataPackets, rxData: p.rxDataPackets, txRelayed: p.txRelayedPackets, rxRelayed: p.rxRelayedPackets }])),
        drops: nonZero(s.drops),
        relayForwarded: s.relayForwarded,
        pendingHeld: s.pendingHeld,
        pendingReleased: s.pendingReleased,
        rxPendingHeld: s.rxPendingHeld,
        rxPendingReleased: s.rxPendingReleased,
      };
    },
    close,
  };
};
