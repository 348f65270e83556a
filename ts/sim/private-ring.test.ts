// Private overlays over a public one in the simulator (issue 17): daemons run the public overlay and their
// groups over one engine (ts/node/realms.ts, the daemon's code). Members find each other in the public DHT,
// handshake through the public overlay with their group certificates, and form a ring of their own: its
// crawl is consistent, members ping each other at their group addresses, no member of one group ever holds
// a session in the other's realm, and public-only nodes hold none in either.
import test, { type ExecutionContext } from 'ava';
import { join } from 'node:path';
import { keyPairFromPrivate } from '../handshake/primitives.js';
import { seededRandom } from '../handshake/seeded-random.js';
import { createRequest } from '../pki/request.js';
import { signRequest } from '../pki/ca.js';
import { CertificatePolicy } from '../pki/group-policy.js';
import { toDer } from '../pki/x509.js';
import { tmpDir, makeCa } from '../pki/testkit.js';
import { nodeIdOfKey, type NodeId } from '../base/nodeid.js';
import { silentLogger } from '../base/log.js';
import { crawl, type NeighbourView } from '../core/crawl.js';
import { REALM_PEER_SPAN } from '../node/realms.js';
import type { GroupRealmOptions } from '../node/realms.js';
import { LatencyMatrix } from './network.js';
import type { NatSpec } from './nat-sites.js';
import { VpnHarness } from './vpn-harness.js';

const N = 40;
const GROUPS = [
  { name: 'A', subnet: '10.201.0.0/16', members: [3, 8, 14, 21, 27, 33] },
  { name: 'B', subnet: '10.202.0.0/16', members: [5, 8, 17, 30, 38] }, // node 8 is in both groups
];

async function twoGroups(t: ExecutionContext, seed: number, nat?: (i: number) => NatSpec | null): Promise<void> {
  const tmp = tmpDir();
  t.teardown(tmp.cleanup);
  // keys and realms drawn from the seed: the run is the same every time (the CA's own key is random, and
  // the realm would be its hash; ts/pki/realm.ts and the namespace test use the real one)
  const keys = Array.from({ length: N }, (_, i) => keyPairFromPrivate(seededRandom(`k${seed}-${i}`)(32)));
  const groups: (typeof GROUPS[number] & { realm: Uint8Array; anchor: Awaited<ReturnType<typeof makeCa>>['anchor']; certs: Map<number, Uint8Array> })[] = [];
  for (const g of GROUPS) {
    const ca = await makeCa(tmp.dir, `Group ${g.name} CA`, `ca-${g.name}`);
    const certs = new Map<number, Uint8Array>();
    for (const [k, i] of g.members.entries()) {
      const { csrPem } = await createRequest({ name: `${g.name.toLowerCase()}${i}`, noisePublicKey: keys[i]!.publicKey, identityKeyFile: join(tmp.dir, `${g.name}${i}.id`) });
      const r = await signRequest(ca.dir, csrPem, { address: g.subnet.replace('0.0/16', `0.${10 + k}`) });
      certs.set(i, toDer(r.certPem, ['CERTIFICATE'])!);
    }
    groups.push({ ...g, realm: seededRandom(`realm${seed}-${g.name}`)(16), anchor: ca.anchor, certs });
  }
  // virtual time 0 is now, after the certificates were signed (a handshake before a certificate's notBefore is refused)
  const wall = Date.now();
  const h = new VpnHarness({
    capacity: N, seed, matrix: LatencyMatrix.uniform(N, 20), wallOffsetMs: wall, keys: (i) => keys[i]!, ...(nat ? { nat, bootstrapCount: 2 } : {}),
    realms: (i, k) => groups.filter((g) => g.members.includes(i)).map((g): GroupRealmOptions => ({
      realm: g.realm,
      group: new CertificatePolicy(g.anchor, g.certs.get(i)!, nodeIdOfKey(k.publicKey), k.publicKey, wall, silentLogger),
      lan: { net: `group-${g.name}`, subnet: g.subnet, domain: g.name.toLowerCase(), name: `m${i}`, routes: [], leaseMs: 3600_000, dhcp: false },
    })),
  });
  for (let i = 0; i < N; i++) h.addNode(i * 200);
  h.run(N * 200 + 60_000);

  for (const [gi, g] of groups.entries()) {
    const k = gi + 1;
    const overlays = g.members.map((i) => h.realms[i]!.groups.find((x) => x.realm === g.realm)!);
    t.deepEqual(g.members.map((i) => h.groupAddress(i, overlays[g.members.indexOf(i)]!.index)), g.members.map((_, j) => g.subnet.replace('0.0/16', `0.${10 + j}`)), `group ${g.name}: members hold their certified addresses`);
    const view = new Map<NodeId, NeighbourView>();
    for (const o of overlays) view.set(o.node.self, o.node.overlay!.ringNeighbours());
    const c = crawl(view);
    t.true(c.ok, `group ${g.name}: the private ring is one consistent ring (consistency ${c.consistency}, walk ${c.walked}/${c.nodes})`);
    const ids = new Set(overlays.map((o) => o.node.self));
    for (const [j, o] of overlays.entries()) {
      const linked = [...o.node.links.peers.values()].filter((p) => p.established);
      t.true(linked.every((p) => ids.has(p.nodeId)), `group ${g.name}: member ${g.members[j]} holds sessions with members only`);
      t.true(linked.every((p) => Math.floor(p.peerId / REALM_PEER_SPAN) === o.index), 'in its own engine peer id range');
    }
    void k;
  }
  // public-only nodes: no session in a group's realm (their engines hold public peer ids only)
  for (let i = 0; i < N; i++) {
    if (h.realms[i]) continue;
    t.true([...h.engines[i]!.peers.keys()].every((id) => id < REALM_PEER_SPAN), `public node ${i} holds no private peer`);
  }

  // pings inside each group, at the group addresses
  const recs = [];
  for (const g of groups) {
    for (const a of g.members) for (const b of g.members) {
      if (a === b) continue;
      const ka = h.realms[a]!.groups.find((x) => x.realm === g.realm)!.index;
      const kb = h.realms[b]!.groups.find((x) => x.realm === g.realm)!.index;
      const src = h.groupAddress(a, ka), dst = h.groupAddress(b, kb);
      recs.push({ g: g.name, a, b, r: h.pingAddressFrom(a, b, src, dst, 3) });
    }
  }
  h.run(h.now + 10_000);
  const failed = recs.filter((x) => x.r.repliedAt === null).map((x) => `${x.g}:${x.a}->${x.b}`);
  for (const x of recs.filter((r) => r.r.repliedAt === null).slice(0, 4)) {
    // what each end holds for the other in the group's overlay (a failure explains itself)
    for (const [me, other] of [[x.a, x.b], [x.b, x.a]] as const) {
      const g = h.realms[me]!.groups.find((y) => y.realm === groups.find((z) => z.name === x.g)!.realm)!;
      const p = g.node.links.peerOf(h.nodes[other]!.self);
      t.log(`  ${x.g} ${me} about ${other}: ${p ? JSON.stringify({ peerId: p.peerId, endpoint: p.endpoint, carrier: p.carrier, via: p.via, relay: p.relay, established: p.established, linked: p.linked, allowed: p.allowed }) : 'no peer'}; ` +
        `engine ${JSON.stringify(p ? h.engines[me]!.peers.get(p.peerId) ?? null : null, (_k, v) => (typeof v === 'bigint' ? String(v) : v))?.slice(0, 300)}; drops ${JSON.stringify(h.engines[me]!.drops)}`);
    }
  }
  t.deepEqual(failed, [], 'every pair of members pings inside its group');
  const sum = (k: string) => groups.flatMap((g) => g.members.map((i) => h.realms[i]!.groups.find((x) => x.realm === g.realm)!.node.counters.values[k] ?? 0)).reduce((a, b) => a + b, 0);
  t.log(`carried handshakes ${sum('handshake_via_carrier')}, carried links ${sum('link_carried')}, endpoint from the public overlay ${sum('link_carrier_endpoint')}, discovery links asked ${sum('discovery_link')}`);
  const paths = { direct: 0, carried: 0, relay: 0 };
  for (const g of groups) for (const i of g.members) for (const p of h.realms[i]!.groups.find((x) => x.realm === g.realm)!.node.links.peers.values()) {
    if (p.established && p.linked) paths[p.endpoint ? 'direct' : p.carrier !== null ? 'carried' : 'relay']++;
  }
  t.log(`private links: ${paths.direct} direct, ${paths.carried} carried by the public data plane, ${paths.relay} on a member relay`);
  t.log(`pairs answered: ${recs.length - failed.length}/${recs.length}; first echo answered: ${recs.filter((x) => x.r.firstAnswered).length}`);
}

test('two groups over a public overlay of 40: each forms its own ring, members ping each other inside it, and nothing crosses', (t) => twoGroups(t, 17));

// every member behind its own NAT (port-restricted cone, as home routers; two symmetric), half the public
// overlay too: the first contact rides the public overlay, data the public data plane until a punch works
const MEMBERS = new Set(GROUPS.flatMap((g) => g.members));
const natOf = (i: number): NatSpec | null => {
  if (i < 2) return null;
  if (MEMBERS.has(i)) return { site: i, kind: i === 14 || i === 30 ? 'symmetric' : 'port-restricted' };
  return i % 2 ? { site: i, kind: 'port-restricted' } : null;
};
test('the same behind NATs: members with no public address form their rings through the public overlay', (t) => twoGroups(t, 23, natOf));

// the public network split in two from the start (interleaved halves, a seed in each): each half forms its own
// public ring and its own half of the group; when the split heals the public rings merge, and the group's
// discovery (a read every 300 s once settled, at once on a lost link) finds the other half and the rings merge
test('a group that formed in two halves of a split network merges once the split heals', async (t) => {
  const tmp = tmpDir();
  t.teardown(tmp.cleanup);
  const n = 60, members = [4, 9, 13, 18, 23, 30, 37, 41, 46, 55];
  const keys = Array.from({ length: n }, (_, i) => keyPairFromPrivate(seededRandom(`split-${i}`)(32)));
  const ca = await makeCa(tmp.dir, 'Split CA', 'ca-split');
  const certs = new Map<number, Uint8Array>();
  for (const [k, i] of members.entries()) {
    const { csrPem } = await createRequest({ name: `s${i}`, noisePublicKey: keys[i]!.publicKey, identityKeyFile: join(tmp.dir, `s${i}.id`) });
    certs.set(i, toDer((await signRequest(ca.dir, csrPem, { address: `10.203.0.${10 + k}` })).certPem, ['CERTIFICATE'])!);
  }
  const realm = seededRandom('realm-split')(16);
  const wall = Date.now();
  const h = new VpnHarness({
    capacity: n, seed: 31, matrix: LatencyMatrix.uniform(n, 20), wallOffsetMs: wall, keys: (i) => keys[i]!,
    realms: (i, k) => (members.includes(i) ? [{
      realm, group: new CertificatePolicy(ca.anchor, certs.get(i)!, nodeIdOfKey(k.publicKey), k.publicKey, wall, silentLogger),
      lan: { net: 'split', subnet: '10.203.0.0/16', domain: 'split', name: `m${i}`, routes: [], leaseMs: 3600_000, dhcp: false },
    }] : []),
  });
  const half = new Int32Array(n);
  for (let i = 0; i < n; i++) half[i] = i === 2 ? 1 : i === 1 ? 0 : i % 2; // seeds 0 and 1 on one side, 2 on the other
  h.net.partition(half);
  for (let i = 0; i < n; i++) h.addNode(i * 200);
  h.run(n * 200 + 90_000);
  const ringOf = (ms: number[]) => {
    const view = new Map<NodeId, NeighbourView>();
    for (const i of ms) { const g = h.realms[i]!.groups[0]!; view.set(g.node.self, g.node.overlay!.ringNeighbours()); }
    return crawl(view);
  };
  const sides = [members.filter((i) => half[i] === 0), members.filter((i) => half[i] === 1)];
  for (const side of sides) t.true(ringOf(side).ok, `half ${sides.indexOf(side)} (${side.length} members) formed its own ring`);
  t.false(ringOf(members).ok, 'the group is two rings while the network is split');
  h.net.partition(null);
  const healed = h.now;
  let merged: number | null = null;
  for (let s = 10; s <= 900 && merged === null; s += 10) {
    h.run(healed + s * 1000);
    if (ringOf(members).ok) merged = s;
  }
  t.log(`the group's two rings merged ${merged === null ? 'never (900 s)' : `${merged} s`} after the split healed`);
  t.not(merged, null);
  const a = members.find((i) => half[i] === 0)!, b = members.find((i) => half[i] === 1)!;
  const r = h.pingAddressFrom(a, b, h.groupAddress(a, 1), h.groupAddress(b, 1), 3);
  h.run(h.now + 5_000);
  t.not(r.repliedAt, null, 'members of the two former halves ping each other');
});
