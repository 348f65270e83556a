// Owns the whole-VPN scenario at scale: N VpnNodes join, every node claims a distinct address, random
// pings between virtual addresses (each pair twice: the first packet to a new peer, then once more
// after the on-demand link), then 10 % of the nodes crash and the survivors must heal. It must not
// assert (tests and benches/sim/vpn-scale.ts judge the numbers); it only runs and measures.
import { crawl } from '../../core/crawl.js';
import { VpnHarness, type PingRecord } from '../vpn-harness.js';
import type { LatencyMatrix } from '../network.js';
import { canPunch, type NatSpec } from '../nat-sites.js';
import type { Logger } from '../../base/log.js';

export interface VpnScaleOptions {
  nodes: number;
  seed: number;
  matrix?: LatencyMatrix;
  /** spacing of joins (ms) and settle time after the last join (ms) */
  joinEveryMs?: number;
  settleMs?: number;
  /** random pairs pinged (each twice), spread over pingSpreadMs */
  pings: number;
  pingSpreadMs?: number;
  /** the second ping of a pair follows the first by this much (ms) */
  secondAfterMs?: number;
  /** fraction of nodes crashed after the pings, and how long the survivors get to heal (ms) */
  killFraction?: number;
  healMs?: number;
  /** pairs pinged among survivors after healing */
  healPings?: number;
  /** echo requests per ping, a second apart, until one is answered (ping -c N) */
  tries?: number;
  /** idle virtual time run at the end (the scale figure: 10 minutes) */
  idleMs?: number;
  progress?: (phase: string, detail: Record<string, number | string[]>) => void;
  heapUsed?: () => number;
  /** node i behind a NAT (null: public); the bootstrap nodes (0-2) should be public */
  nat?: (i: number) => NatSpec | null;
  /** with NATs: the fraction of relays (nodes carrying relay links) crashed after the pings, before the general crash */
  killRelayFraction?: number;
  /** called once every node was added, before anything runs (tracing: engine and harness hooks) */
  onHarness?: (h: VpnHarness) => void;
  /** every node's logger (tracing) */
  log?: Logger;
}

/** `answered`: pings answered within their tries; `firstAnswered`: answered at the very first echo request. */
export interface PingSummary {
  sent: number; answered: number; firstAnswered: number; how: Record<string, number>; medianMs: number | null; p99Ms: number | null;
  /** the pairs never answered, as "from->to" (node indices) */
  lostPairs: string[];
}

export interface VpnScaleResult {
  nodes: number;
  addresses: { assigned: number; distinct: number };
  joinConsistency: number;
  first: PingSummary;
  second: PingSummary;
  killed: number;
  healed: { consistency: number; pings: PingSummary };
  /** with NATs: second pings by whether the pair can punch, and the path the sender holds (direct / relay / other) */
  natPaths?: { punchable: Record<string, number>; relayOnly: Record<string, number> };
  /** with NATs: relay links before the relay crash, relays crashed, and the pairs they carried pinged again */
  relayKill?: { relayLinks: number; relays: number; killed: number; pairs: PingSummary; consistency: number };
  wallMs: number;
  virtualMs: number;
  heapBytesPerNode: number | null;
  engineDrops: Record<string, number>;
}

function summarize(recs: PingRecord[]): PingSummary {
  const how: Record<string, number> = {};
  for (const r of recs) { const k = r.repliedAt === null ? 'lost' : `${r.requestHow}/${r.replyHow}`; how[k] = (how[k] ?? 0) + 1; }
  const rtts = recs.flatMap((r) => (r.repliedAt === null ? [] : [r.repliedAt - r.sentAt])).sort((a, b) => a - b);
  const q = (f: number): number | null => (rtts.length ? Math.round(rtts[Math.min(rtts.length - 1, Math.floor(f * rtts.length))]!) : null);
  const lostPairs = recs.filter((r) => r.repliedAt === null).map((r) => `${r.from}->${r.to}`);
  return { sent: recs.length, answered: rtts.length, firstAnswered: recs.filter((r) => r.firstAnswered).length, how, medianMs: q(0.5), p99Ms: q(0.99), lostPairs };
}

export function runVpnScale(o: VpnScaleOptions): VpnScaleResult {
  const t0 = performance.now();
  const heap0 = o.heapUsed?.() ?? 0;
  const say = o.progress ?? (() => {});
  const h = new VpnHarness({ capacity: o.nodes, seed: o.seed, ...(o.matrix ? { matrix: o.matrix } : {}), ...(o.nat ? { nat: o.nat } : {}), ...(o.log ? { log: o.log } : {}) });
  const every = o.joinEveryMs ?? 20;
  for (let i = 0; i < o.nodes; i++) h.addNode(i * every);
  o.onHarness?.(h);
  const joined = o.nodes * every + (o.settleMs ?? 60_000);
  h.run(joined, (now) => say('join', { virtualS: Math.round(now / 1000), of: Math.round(joined / 1000) }));
  const addrs = h.liveIndices().map((i) => h.address(i));
  const assigned = addrs.filter((a) => a !== null).length;
  const joinConsistency = crawl(h.view()).consistency;
  say('joined', { assigned, distinct: new Set(addrs.filter(Boolean)).size, consistency: joinConsistency });

  const firsts: PingRecord[] = [], seconds: PingRecord[] = [];
  const tries = o.tries ?? 3;
  const spread = o.pingSpreadMs ?? 50_000, second = o.secondAfterMs ?? 20_000;
  const start = h.now;
  for (let k = 0; k < o.pings; k++) {
    const a = Math.floor(h.rng.next() * o.nodes);
    let b = Math.floor(h.rng.next() * (o.nodes - 1));
    if (b >= a) b++;
    const at = start + (k * spread) / o.pings;
    h.at(at, () => firsts.push(h.ping(a, b, tries)));
    h.at(at + second, () => seconds.push(h.ping(a, b, 1)));
  }
  const pingsEnd = start + spread + second + 5_000;
  h.run(pingsEnd, (now) => say('pings', { virtualS: Math.round((now - start) / 1000), of: Math.round((pingsEnd - start) / 1000) }));

  let natPaths: VpnScaleResult['natPaths'];
  let relayKill: VpnScaleResult['relayKill'];
  if (o.nat) {
    const nat = o.nat;
    natPaths = { punchable: {}, relayOnly: {} };
    for (const r of seconds) {
      const p = h.nodes[r.from]?.links.peerOf(h.nodes[r.to]!.self);
      const path = r.repliedAt === null ? 'lost' : p?.established && p.endpoint ? 'direct' : p?.established && p.relay !== null ? 'relay' : 'other';
      const bucket = canPunch(nat(r.from), nat(r.to)) ? natPaths.punchable : natPaths.relayOnly;
      bucket[path] = (bucket[path] ?? 0) + 1;
    }
    // crash a fraction of the relays; every pair they carried must recover (a reserve, or a new relay)
    const carried = new Map<number, [number, number][]>();
    const indexOf = new Map(h.nodes.map((n, i) => [n?.self, i]));
    let relayLinks = 0;
    for (const i of h.liveIndices()) {
      for (const l of h.nodes[i]!.relays?.list() ?? []) {
        relayLinks++;
        const hop = indexOf.get(l.relay), far = indexOf.get(l.peer);
        if (hop === undefined || far === undefined) continue;
        let c = carried.get(hop);
        if (!c) carried.set(hop, c = []);
        c.push([i, far]);
      }
    }
    const hops = [...carried.keys()].sort((a, b) => a - b);
    const kill = Math.max(1, Math.round((o.killRelayFraction ?? 0.1) * hops.length));
    const dead = new Set<number>();
    while (dead.size < Math.min(kill, hops.length)) dead.add(hops[Math.floor(h.rng.next() * hops.length)]!);
    for (const d of dead) h.crash(d);
    h.run(h.now + 30_000);
    const again: PingRecord[] = [];
    const pairs = [...dead].flatMap((d) => carried.get(d)!).filter(([a, b]) => !dead.has(a) && !dead.has(b));
    pairs.forEach(([a, b], k) => h.at(h.now + k * 5, () => again.push(h.ping(a, b, tries))));
    h.run(h.now + pairs.length * 5 + 5_000);
    relayKill = { relayLinks, relays: hops.length, killed: dead.size, pairs: summarize(again), consistency: crawl(h.view()).consistency };
    say('relays-killed', { relays: hops.length, killed: dead.size, pairs: pairs.length, lost: relayKill.pairs.lostPairs });
  }

  const victims = new Set<number>();
  const kill = Math.round((o.killFraction ?? 0.1) * o.nodes);
  while (victims.size < kill) { const v = Math.floor(h.rng.next() * o.nodes); if (h.nodes[v]) victims.add(v); }
  for (const v of victims) h.crash(v);
  const healEnd = h.now + (o.healMs ?? 60_000);
  h.run(healEnd);
  const healConsistency = crawl(h.view()).consistency;
  const alive = h.liveIndices();
  const heals: PingRecord[] = [];
  const hp = o.healPings ?? 2_000;
  for (let k = 0; k < hp; k++) {
    const a = alive[Math.floor(h.rng.next() * alive.length)]!;
    const b = alive[Math.floor(h.rng.next() * alive.length)]!;
    if (a === b || !h.address(a) || !h.address(b)) continue;
    h.at(h.now + k * 5, () => heals.push(h.ping(a, b, tries)));
  }
  h.run(h.now + hp * 5 + 5_000);
  say('healed', { killed: kill, consistency: healConsistency });
  if (o.idleMs) h.run(h.now + o.idleMs, (now) => say('idle', { virtualS: Math.round(now / 1000) }));

  const engineDrops: Record<string, number> = {};
  for (const e of h.engines) if (e) for (const [k, v] of Object.entries(e.drops)) engineDrops[k] = (engineDrops[k] ?? 0) + v;
  const heap = o.heapUsed ? (o.heapUsed() - heap0) / alive.length : null;
  return {
    nodes: o.nodes, addresses: { assigned, distinct: new Set(addrs.filter(Boolean)).size }, joinConsistency,
    first: summarize(firsts), second: summarize(seconds), killed: kill,
    healed: { consistency: healConsistency, pings: summarize(heals) },
    ...(natPaths ? { natPaths } : {}), ...(relayKill ? { relayKill } : {}),
    wallMs: Math.round(performance.now() - t0), virtualMs: Math.round(h.now), heapBytesPerNode: heap === null ? null : Math.round(heap), engineDrops,
  };
}
