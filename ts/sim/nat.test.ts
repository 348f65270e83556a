// The simulator's NAT models: each kind's mapping and filtering rule on the box alone (the classic table:
// who may answer a mapping made by a packet to X:p), expiry and refresh, port allocation (preserved,
// random per destination, sequential), hairpinning; then whole VpnNodes behind NATs in the VpnHarness.
import test from 'ava';
import { Xoshiro128 } from '../core/rng.js';
import { LatencyMatrix } from './network.js';
import { NatBox, NAT_KINDS, type NatKind, type NatOptions } from './nat.js';
import { LAN_ONE_WAY_MS, natPublicIp, type NatSpec } from './nat-sites.js';
import { VpnHarness, type PingRecord } from './vpn-harness.js';
import { idShort } from '../base/nodeid.js';

const PUB = '12.0.0.1';
const A = '10.0.0.2:4500', B = '10.0.0.3:4500';
const Xp = '20.0.0.1:1000', Xq = '20.0.0.1:2000', Yp = '20.0.0.2:1000';

function box(kind: NatKind, o: Partial<NatOptions> = {}, seed = 1): NatBox {
  return new NatBox({ kind, publicIp: PUB, ...o }, new Xoshiro128(seed));
}
const portOf = (ep: string | null): number => Number(ep!.split(':')[1]);

// ------------------------------------------------------------------ the box alone
test('filtering: after A sends to X:p, who may send back to its mapping', (t) => {
  const want: Record<NatKind, [boolean, boolean, boolean]> = {
    'full-cone': [true, true, true],
    'address-restricted': [true, true, false],
    'port-restricted': [true, false, false],
    'symmetric': [true, false, false],
    'symmetric-sequential': [true, false, false],
  };
  for (const kind of NAT_KINDS) {
    const n = box(kind);
    const pub = n.outbound(0, A, Xp);
    t.truthy(pub, kind);
    t.true(pub!.startsWith(`${PUB}:`), `${kind}: the public source is the box's address`);
    const got = [Xp, Xq, Yp].map((src) => n.inbound(10, pub!, src) === A);
    t.deepEqual(got, want[kind], `${kind}: X:p, X:q, Y:p admitted`);
    const refused = got.filter((x) => !x).length;
    t.is(n.drops.filtered ?? 0, refused, `${kind}: refusals counted as filtered`);
  }
});

test('mapping: cone kinds keep one public endpoint for every destination, symmetric kinds one per destination', (t) => {
  for (const kind of NAT_KINDS) {
    const n = box(kind);
    const eps = [Xp, Xq, Yp].map((d) => n.outbound(0, A, d));
    const distinct = new Set(eps).size;
    if (kind.startsWith('symmetric')) t.is(distinct, 3, `${kind}: ${eps.join()}`);
    else t.is(distinct, 1, `${kind}: ${eps.join()}`);
    t.is(n.outbound(5, A, Xp), eps[0]!, `${kind}: the same destination reuses its mapping`);
  }
});

test('address-restricted: a second destination on one host opens every port of that host', (t) => {
  const n = box('address-restricted');
  const pub = n.outbound(0, A, Xp)!;
  t.is(n.inbound(1, pub, '20.0.0.1:3333'), A);
  t.is(n.inbound(1, pub, Yp), null);
  n.outbound(2, A, '20.0.0.2:9');
  t.is(n.inbound(3, pub, Yp), A);
});

test('ports: cone kinds keep the private port when free, else draw one; symmetric draws per destination; sequential counts up', (t) => {
  const cone = box('port-restricted');
  t.is(cone.outbound(0, A, Xp), `${PUB}:4500`, 'MASQUERADE keeps the source port');
  const second = portOf(cone.outbound(0, B, Xp));
  t.not(second, 4500, 'a second host with the same private port gets another public port');
  t.true(second >= 1024 && second <= 65535);

  const sym = (seed: number): number[] => { const n = box('symmetric', {}, seed); return [Xp, Xq, Yp].map((d) => portOf(n.outbound(0, A, d))); };
  const s1 = sym(1);
  t.deepEqual(sym(1), s1, 'same seed, same ports');
  t.true(s1.every((p) => p >= 1024 && p <= 65535) && new Set(s1).size === 3, `random ports ${s1.join()}`);
  t.false(s1[1] === s1[0]! + 1 && s1[2] === s1[1]! + 1, 'not sequential');

  const seq = box('symmetric-sequential');
  const ports = [Xp, Xq, Yp, '20.0.0.3:7'].map((d) => portOf(seq.outbound(0, A, d)));
  t.deepEqual(ports, [49152, 49153, 49154, 49155]);
  // whoever saw the last two mappings predicts the next one
  const predicted = ports[3]! + (ports[3]! - ports[2]!);
  t.is(portOf(seq.outbound(1, B, Xp)), predicted, 'the next mapping (any host) takes the next port');
  const seq2 = box('symmetric-sequential', { firstPort: 50_000 });
  t.deepEqual([Xp, Xq].map((d) => portOf(seq2.outbound(0, A, d))), [50_000, 50_001]);
});

test('expiry: a mapping lives timeoutMs after its last outbound packet; expired, then forgotten', (t) => {
  const n = box('port-restricted');
  const pub = n.outbound(0, A, Xp)!;
  t.is(n.inbound(29_999, pub, Xp), A);
  t.is(n.inbound(30_000, pub, Xp), null);
  t.is(n.lastDrop, 'expired');
  t.is(n.inbound(60_000, pub, Xp), null);
  t.is(n.lastDrop, 'no_mapping', 'one timeout past expiry the entry is gone');
  t.deepEqual(n.drops, { expired: 1, no_mapping: 1 });

  const r = box('port-restricted', { timeoutMs: 10_000 });
  const p2 = r.outbound(0, A, Xp)!;
  t.is(r.outbound(8_000, A, Xp), p2, 'outbound traffic refreshes');
  t.is(r.inbound(17_999, p2, Xp), A);
  t.is(r.inbound(18_000, p2, Xp), null);
  t.is(r.lastDrop, 'expired');
  t.deepEqual(r.mappings(18_000), []);
});

test('expiry: inbound traffic refreshes only with inboundRefresh (Linux conntrack); permissions expire one by one', (t) => {
  const plain = box('port-restricted');
  const p = plain.outbound(0, A, Xp)!;
  t.is(plain.inbound(20_000, p, Xp), A);
  t.is(plain.inbound(30_000, p, Xp), null, 'default: inbound does not refresh');

  const ct = box('port-restricted', { inboundRefresh: true });
  const q = ct.outbound(0, A, Xp)!;
  t.is(ct.inbound(20_000, q, Xp), A);
  t.is(ct.inbound(45_000, q, Xp), A, 'refreshed by the inbound packet at 20 s');
  t.is(ct.inbound(75_000, q, Xp), null);
  t.is(ct.lastDrop, 'expired');

  const two = box('port-restricted');
  const m = two.outbound(0, A, Xp)!;
  two.outbound(20_000, A, Yp);
  t.is(two.inbound(35_000, m, Yp), A, 'the mapping lives on traffic to Y');
  t.is(two.inbound(35_000, m, Xp), null, 'X:p\'s permission expired at 30 s');
  t.is(two.lastDrop, 'filtered');
});

test('expiry: a new mapping after expiry starts with no permissions', (t) => {
  const n = box('port-restricted');
  const p = n.outbound(0, A, Xp)!;
  const p2 = n.outbound(40_000, A, Yp);
  t.is(p2, p, 'the preserved port is taken again');
  t.is(n.inbound(40_001, p, Xp), null);
  t.is(n.lastDrop, 'filtered');
  t.is(n.inbound(40_001, p, Yp), A);
});

test('inbound: unknown port, foreign address', (t) => {
  const n = box('full-cone');
  n.outbound(0, A, Xp);
  t.is(n.inbound(1, `${PUB}:9`, Xp), null);
  t.is(n.lastDrop, 'no_mapping');
  t.is(n.inbound(1, '12.9.9.9:4500', Xp), null);
  t.is(n.lastDrop, 'not_mine');
  t.is(n.peek(`${PUB}:4500`), A);
  t.is(n.peek(`${PUB}:9`), null);
});

test('hairpinning: off drops packets to the box\'s own address; on delivers them through the filter', (t) => {
  const off = box('full-cone');
  const pubB = off.outbound(0, B, Xp)!;
  t.is(off.outbound(1, A, pubB), null);
  t.is(off.lastDrop, 'hairpin_off');
  t.is(off.drops.hairpin_off, 1);

  const cone = box('full-cone', { hairpin: true });
  const cb = cone.outbound(0, B, Xp)!;
  const ca = cone.outbound(1, A, cb)!;
  t.is(cone.inbound(1, cb, ca), B, 'full cone: A reaches B through the public side');

  const pr = box('port-restricted', { hairpin: true });
  const rb = pr.outbound(0, B, Xp)!;
  const ra = pr.outbound(1, A, rb)!;
  t.is(pr.inbound(1, rb, ra), null, 'port-restricted: B never sent to A\'s mapping');
  t.is(pr.lastDrop, 'filtered');
  t.is(pr.outbound(2, B, ra), rb);
  t.is(pr.inbound(2, ra, rb), A, 'B answers A');
  t.is(pr.inbound(3, rb, ra), B, 'and A\'s next packet passes');
});

// ------------------------------------------------------------------ whole nodes behind NATs
const WARM_MS = 30_000;

/** A public seed (node 0) and `members` nodes, member i behind `spec(i)`; uniform 20 ms RTT. */
function natNet(seed: number, members: number, spec: (i: number) => NatSpec | null): VpnHarness {
  const n = members + 1;
  const h = new VpnHarness({ capacity: n, seed, matrix: LatencyMatrix.uniform(n, 20), bootstrapCount: 1, nat: (i) => (i === 0 ? null : spec(i)) });
  for (let i = 0; i < n; i++) h.addNode(i * 200);
  h.run(WARM_MS);
  return h;
}

const show = (rs: PingRecord[]): string => rs.map((r) => `${r.from}->${r.to}:${r.repliedAt === null ? 'none' : `${r.requestHow}/${r.replyHow}`}`).join(' ');
const memberPair = (r: PingRecord): boolean => r.from !== 0 && r.to !== 0;

function assertJoined(t: import('ava').ExecutionContext, h: VpnHarness, what: string): void {
  const live = h.liveIndices();
  const addrs = live.map((i) => h.address(i));
  t.true(addrs.every((a) => a !== null), `${what}: every node has an address: ${addrs.join()}`);
  t.is(new Set(addrs).size, live.length, `${what}: addresses are distinct`);
  t.true(live.every((i) => h.nodes[i]!.joined()), `${what}: every node joined`);
}

test('full cone: a public seed and 3 members behind their own full-cone NATs all reach each other, later directly', (t) => {
  const h = natNet(11, 3, (i) => ({ site: i, kind: 'full-cone' }));
  assertJoined(t, h, 'full-cone');
  for (const i of [1, 2, 3]) {
    t.is(h.endpoint(i), `10.${i}.0.${i}:4500`, 'a NATed node binds a private endpoint');
    t.true(h.nodes[i]!.overlay!.endpoints.includes(`${natPublicIp(i)}:4500`), `member ${i} learned its public endpoint from a peer`);
  }
  const first = h.pingAll();
  t.log('first', show(first));
  t.true(first.every((r) => r.repliedAt !== null), `every pair answered: ${show(first)}`);
  h.run(h.now + 20_000);
  const later = h.pingAll();
  t.log('later', show(later), 'simDrops', JSON.stringify(h.simDrops));
  t.true(later.every((r) => r.repliedAt !== null && r.requestHow === 'direct' && r.replyHow === 'direct'), `later pings go direct: ${show(later)}`);
  t.is(h.simDrops.nat_filtered ?? 0, 0, 'a full cone filters nothing');
});

test('port-restricted (MASQUERADE): members join through the public seed; measured: pairs, paths, drops', (t) => {
  for (const seed of [11, 12, 13]) {
    const h = natNet(seed, 3, (i) => ({ site: i, kind: 'port-restricted' }));
    assertJoined(t, h, `seed ${seed}`);
    const first = h.pingAll();
    h.run(h.now + 20_000);
    const later = h.pingAll();
    t.log(`seed ${seed} first`, show(first));
    t.log(`seed ${seed} later`, show(later), 'simDrops', JSON.stringify(h.simDrops));
    // measured, stable over seeds: both ends link at once (CTM), so the first packet of one side is
    // filtered and the rest pass: the ring's own link attempts punch these NATs
    t.true((h.simDrops.nat_filtered ?? 0) > 0, `seed ${seed}: some first packets were filtered`);
    t.true(later.every((r) => r.repliedAt !== null && r.requestHow === 'direct'), `seed ${seed}: later pings direct: ${show(later)}`);
  }
});

test('symmetric: members never reach each other directly; they talk over relay links through the public seed', (t) => {
  const h = natNet(11, 3, (i) => ({ site: i, kind: 'symmetric' }));
  assertJoined(t, h, 'symmetric');
  const first = h.pingAll();
  h.run(h.now + 20_000);
  const later = h.pingAll();
  t.log('first', show(first));
  t.log('later', show(later), 'simDrops', JSON.stringify(h.simDrops));
  // a symmetric NAT's port toward a new peer is unknown to that peer: no direct path between two of them
  t.false([...first, ...later].some((r) => memberPair(r) && (r.requestHow === 'direct' || r.replyHow === 'direct')), 'no member pair direct');
  t.true((h.simDrops.nat_filtered ?? 0) > 0);
  t.true(later.every((r) => r.repliedAt !== null), `every pair answered: ${show(later)}`);
  // each member holds relay links to the other two, through the seed (their only common neighbour)
  for (const i of [1, 2, 3]) {
    const st = h.nodes[i]!.status() as { connections: { nodeId: string; path: string }[]; nat: { type: string } };
    const relayed = st.connections.filter((c) => c.path.startsWith('relay via'));
    t.is(relayed.length, 2, `member ${i}: ${JSON.stringify(st.connections.map((c) => c.path))}`);
    t.true(relayed.every((c) => c.path === `relay via ${idShort(h.nodes[0]!.self)}`), 'through the seed');
  }
});

test('one site, 4 members behind one port-restricted NAT: with hairpinning all reach each other directly at LAN latency', (t) => {
  const h = natNet(12, 4, () => ({ site: 1, kind: 'port-restricted', hairpin: true }));
  assertJoined(t, h, 'one site');
  h.pingAll();
  h.run(h.now + 20_000);
  const later = h.pingAll();
  t.log('later', show(later), 'simDrops', JSON.stringify(h.simDrops));
  t.true(later.every((r) => r.repliedAt !== null && r.requestHow === 'direct'), show(later));
  for (const r of later.filter(memberPair)) t.is(r.repliedAt! - r.sentAt, 2 * LAN_ONE_WAY_MS, `${r.from}->${r.to} stays on the site`);
  t.is(h.simDrops.nat_hairpin_off ?? 0, 0);

  const off = natNet(12, 4, () => ({ site: 1, kind: 'port-restricted' }));
  off.pingAll();
  off.run(off.now + 20_000);
  const offLater = off.pingAll();
  t.log('hairpin off, later', show(offLater), 'simDrops', JSON.stringify(off.simDrops));
  t.true((off.simDrops.nat_hairpin_off ?? 0) > 0, 'links to a sibling\'s public endpoint die in the NAT');
});

test('port prediction: members behind sequential symmetric NATs punch port-restricted ones directly; random-port pairs stay relayed', (t) => {
  // three public nodes (each member sees several of its mappings reported), then members 3..7; ten seeds
  const kinds: NatSpec['kind'][] = ['symmetric-sequential', 'port-restricted', 'symmetric-sequential', 'port-restricted', 'symmetric'];
  const P = 3, n = P + kinds.length;
  let punched = 0, punchable = 0;
  for (let seed = 21; seed <= 30; seed++) {
    const h = new VpnHarness({ capacity: n, seed, matrix: LatencyMatrix.uniform(n, 20), bootstrapCount: 1, nat: (i) => (i < P ? null : { site: i, kind: kinds[i - P]! }) });
    for (let i = 0; i < n; i++) h.addNode(i * 200);
    h.run(WARM_MS);
    assertJoined(t, h, `seed ${seed}`);
    h.pingAll();
    h.run(h.now + 20_000);
    const later = h.pingAll();
    t.true(later.every((r) => r.repliedAt !== null), `seed ${seed}: every pair answered: ${show(later)}`);
    const path = (a: number, b: number): string => {
      const p = h.nodes[a]!.links.peerOf(h.nodes[b]!.self);
      return !p?.established ? 'none' : p.endpoint ? 'direct' : p.relay !== null ? 'relay' : 'overlay';
    };
    for (const a of [3, 5]) {
      const nat = (h.nodes[a]!.status() as { nat: { type: string; predicted: string[] } }).nat;
      t.is(nat.type, 'symmetric');
      t.is(nat.predicted.length, 6, `seed ${seed}: member ${a} predicts its NAT's ports: ${JSON.stringify(nat)}`);
      t.true(nat.predicted.every((e) => h.nodes[a]!.overlay!.endpoints.slice(0, 8).includes(e)), 'and advertises them among the 8 a CTM carries');
      for (const b of [4, 6]) { punchable += 2; punched += Number(path(a, b) === 'direct') + Number(path(b, a) === 'direct'); }
    }
    // two sequential NATs: relayed, or direct when both sides' counted ports were right (punch-matrix.md)
    t.not(path(3, 5), 'none', `seed ${seed}: two sequential NATs hold a link`);
    t.deepEqual((h.nodes[7]!.status() as { nat: { predicted: string[] } }).nat.predicted, [], 'a random-port NAT is not predicted');
    for (const b of [4, 6]) t.is(path(7, b), 'relay', `seed ${seed}: random symmetric 7 -> port-restricted ${b}: relayed`);
  }
  // every one: a relayed pair's PUNCH carries the ports our probes to the far end will come from, counted
  // (NatClassifier.predictedToward), so a node whose own probes took more ports than it predicts still lands
  t.log(`sequential <-> port-restricted link ends direct: ${punched} of ${punchable}`);
  t.is(punched, punchable, `${punched} of ${punchable} direct`);
});
