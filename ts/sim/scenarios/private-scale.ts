// Owns the private-overlay scenario at scale (issue 17): N public nodes join; members of G groups (real
// group CAs and X.509 certificates, one group per member) run their groups beside the public overlay over
// one engine (ts/node/realms.ts). It measures, per group, each member's join time (from its daemon's start
// until its private ring neighbours on both sides are the true ones), the ring's consistency, pings between
// random members at their group addresses, and the public DHT operations discovery cost. It must not
// assert (tests and benches/sim/private-scale.ts judge the numbers).
import { join } from 'node:path';
import { keyPairFromPrivate } from '../../handshake/primitives.js';
import { seededRandom } from '../../handshake/seeded-random.js';
import { createRequest } from '../../pki/request.js';
import { signRequest } from '../../pki/ca.js';
import { CertificatePolicy } from '../../pki/group-policy.js';
import { toDer } from '../../pki/x509.js';
import { makeCa, tmpDir } from '../../pki/testkit.js';
import type { TrustAnchor } from '../../pki/anchor.js';
import { nodeIdOfKey, type NodeId } from '../../base/nodeid.js';
import { silentLogger } from '../../base/log.js';
import { crawl, type NeighbourView } from '../../core/crawl.js';
import { nearestMembers } from '../../node/group-discovery.js';
import { Xoshiro128 } from '../../core/rng.js';
import { VpnHarness } from '../vpn-harness.js';
import type { LatencyMatrix } from '../network.js';
import type { NatSpec } from '../nat-sites.js';

export interface PrivateScaleOptions {
  nodes: number;
  /** the size of each group (a member is in one group) */
  groups: number[];
  seed: number;
  matrix?: LatencyMatrix;
  joinEveryMs?: number;
  /** virtual time after the last join before the measurements (ms) */
  settleMs?: number;
  /** random member pairs pinged per group (up to 3 echo requests, 1 s apart) */
  pingsPerGroup?: number;
  nat?: (i: number) => NatSpec | null;
  progress?: (phase: string, detail: Record<string, number>) => void;
  /** the harness, once every node was added (tracing) */
  onHarness?: (h: VpnHarness) => void;
}

export interface GroupResult {
  size: number;
  /** members whose private ring neighbours on both sides were the true ones at the end */
  settled: number;
  /** join time per member (s from its daemon's start to correct ring neighbours): median and max; null if some never did */
  joinMedianS: number | null;
  joinMaxS: number | null;
  consistency: number;
  pings: { sent: number; answered: number; firstAnswered: number; lost: string[] };
  /** public DHT operations of the group's discovery: gets and puts per member over the whole run */
  dhtGetsPerMember: number;
  dhtPutsPerMember: number;
  /** private links at the end: direct, carried by the public data plane, on a member relay */
  paths: { direct: number; carried: number; relay: number };
}

export interface PrivateScaleResult {
  nodes: number; members: number; virtualS: number; wallMs: number; certMs: number;
  groups: GroupResult[];
}

interface Group { index: number; members: number[]; subnet: string; realm: Uint8Array; anchor: TrustAnchor; certs: Map<number, Uint8Array> }

/** Spread the members over the node indices (the first 3 are the public bootstrap nodes, never members). */
function pickMembers(nodes: number, sizes: number[], seed: number): number[][] {
  const rng = new Xoshiro128(seed ^ 0x51ab);
  const pool = Array.from({ length: nodes - 3 }, (_, i) => i + 3);
  for (let i = pool.length - 1; i > 0; i--) { const j = rng.u32() % (i + 1); [pool[i], pool[j]] = [pool[j]!, pool[i]!]; }
  let at = 0;
  return sizes.map((s) => pool.slice(at, (at += s)).sort((a, b) => a - b));
}

export async function runPrivateScale(o: PrivateScaleOptions): Promise<PrivateScaleResult> {
  const total = o.groups.reduce((a, b) => a + b, 0);
  if (total > o.nodes - 3) throw new RangeError(`${total} members do not fit in ${o.nodes - 3} nodes`);
  const t0 = Date.now();
  const tmp = tmpDir();
  // keys and realms from the seed, so that a run is repeatable (the CA keys are random: a real realm is their hash)
  const keys = Array.from({ length: o.nodes }, (_, i) => keyPairFromPrivate(seededRandom(`scale${o.seed}-${i}`)(32)));
  const groups: Group[] = [];
  const memberOf = new Map<number, Group>();
  try {
    for (const [k, members] of pickMembers(o.nodes, o.groups, o.seed).entries()) {
      const ca = await makeCa(tmp.dir, `Group ${k + 1} CA`, `ca${k}`);
      const subnet = `10.${100 + k}.0.0/16`;
      const certs = new Map<number, Uint8Array>();
      for (const [j, i] of members.entries()) {
        const { csrPem } = await createRequest({ name: `g${k + 1}m${j}`, noisePublicKey: keys[i]!.publicKey, identityKeyFile: join(tmp.dir, `g${k}-${i}.id`) });
        const r = await signRequest(ca.dir, csrPem, { address: `10.${100 + k}.${(10 + j) >> 8}.${(10 + j) & 255}` });
        certs.set(i, toDer(r.certPem, ['CERTIFICATE'])!);
      }
      const g: Group = { index: k + 1, members, subnet, realm: seededRandom(`scale${o.seed}-realm${k}`)(16), anchor: ca.anchor, certs };
      groups.push(g);
      for (const i of members) memberOf.set(i, g);
      o.progress?.('certificates', { group: k + 1, members: members.length });
    }
  } finally { tmp.cleanup(); }
  const certMs = Date.now() - t0;
  const wall = Date.now();
  const h = new VpnHarness({
    capacity: o.nodes, seed: o.seed, ...(o.matrix ? { matrix: o.matrix } : {}), wallOffsetMs: wall, keys: (i) => keys[i]!,
    ...(o.nat ? { nat: o.nat } : {}),
    realms: (i, kp) => {
      const g = memberOf.get(i);
      if (!g) return [];
      return [{
        realm: g.realm, group: new CertificatePolicy(g.anchor, g.certs.get(i)!, nodeIdOfKey(kp.publicKey), kp.publicKey, wall, silentLogger),
        lan: { net: `group-${g.index}`, subnet: g.subnet, domain: `g${g.index}`, name: `m${i}`, routes: [], leaseMs: 3600_000, dhcp: false },
      }];
    },
  });
  const every = o.joinEveryMs ?? 20;
  const startedAt: number[] = [];
  for (let i = 0; i < o.nodes; i++) { startedAt.push(i * every); h.addNode(i * every); }
  o.onHarness?.(h);

  // the true ring neighbours of every member, and when its private ring first had them
  const idOf = (i: number): NodeId => h.nodes[i]!.self;
  const truth = new Map<number, { left: NodeId; right: NodeId }>();
  for (const g of groups) {
    for (const i of g.members) {
      const [right, left] = nearestMembers(idOf(i), g.members.map(idOf), 1);
      truth.set(i, { left: left ?? right!, right: right! });
    }
  }
  const joinedAt = new Map<number, number>();
  const right = (i: number): boolean => {
    const n = h.realms[i]?.groups[0]?.node.overlay?.ringNeighbours();
    const w = truth.get(i)!;
    return n?.left1 === w.left && n?.right1 === w.right;
  };
  const end = o.nodes * every + (o.settleMs ?? 120_000);
  for (let s = 1_000; s <= end; s += 1_000) {
    h.at(s, () => {
      for (const i of memberOf.keys()) {
        if (right(i)) { if (!joinedAt.has(i)) joinedAt.set(i, h.now); } else joinedAt.delete(i);
      }
      if (s % 10_000 === 0) o.progress?.('running', { virtualS: s / 1000, settled: [...memberOf.keys()].filter((i) => joinedAt.has(i)).length, members: total });
    });
  }
  h.run(end);

  const rng = new Xoshiro128(o.seed ^ 0x77);
  const pings = groups.map((g) => {
    const recs = [];
    for (let p = 0; p < (o.pingsPerGroup ?? 20); p++) {
      const a = g.members[rng.u32() % g.members.length]!;
      let b = g.members[rng.u32() % g.members.length]!;
      if (b === a) b = g.members[(g.members.indexOf(a) + 1) % g.members.length]!;
      recs.push(h.pingAddressFrom(a, b, h.groupAddress(a, 1), h.groupAddress(b, 1), 3));
    }
    return recs;
  });
  h.run(end + 10_000);

  const results = groups.map((g, k): GroupResult => {
    const overlays = g.members.map((i) => h.realms[i]!.groups[0]!);
    const view = new Map<NodeId, NeighbourView>();
    for (const x of overlays) view.set(x.node.self, x.node.overlay!.ringNeighbours());
    const times = g.members.map((i) => (joinedAt.has(i) ? (joinedAt.get(i)! - startedAt[i]!) / 1000 : null));
    const ok = times.filter((x): x is number => x !== null).sort((a, b) => a - b);
    const sum = (key: string): number => overlays.reduce((n, x) => n + (x.node.counters.values[key] ?? 0), 0);
    const paths = { direct: 0, carried: 0, relay: 0 };
    for (const x of overlays) for (const p of x.node.links.peers.values()) if (p.established && p.linked) paths[p.endpoint ? 'direct' : p.carrier !== null ? 'carried' : 'relay']++;
    return {
      size: g.members.length, settled: ok.length,
      joinMedianS: ok.length === times.length ? ok[ok.length >> 1]! : null, joinMaxS: ok.length === times.length ? ok.at(-1)! : null,
      consistency: crawl(view).ok ? 1 : crawl(view).consistency,
      pings: { sent: pings[k]!.length, answered: pings[k]!.filter((r) => r.repliedAt !== null).length, firstAnswered: pings[k]!.filter((r) => r.firstAnswered).length, lost: pings[k]!.filter((r) => r.repliedAt === null).map((r) => `${r.from}->${r.to}`) },
      dhtGetsPerMember: sum('discovery_dht_get') / g.members.length, dhtPutsPerMember: sum('discovery_dht_put') / g.members.length,
      paths,
    };
  });
  return { nodes: o.nodes, members: total, virtualS: h.now / 1000, wallMs: Date.now() - t0, certMs, groups: results };
}
