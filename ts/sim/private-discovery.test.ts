// Private-group discovery over a real public overlay in the simulator: VpnNodes (the daemon's code) form
// the public ring and its DHT; the members of two groups run GroupDiscovery through their node's DHT.
// Every member ends up asked-for-linked with the nearest members of its own group (by one end or the
// other; none of the other group's), and the DHT load per member is measured. Links are not made here: a link asked
// for counts as made (the private ring itself is not built yet: docs/private-overlays.md).
import test from 'ava';
import type { NodeId } from '../base/nodeid.js';
import type { NodeDht } from '../node/address-claim.js';
import { Counters } from '../node/io.js';
import { GroupDiscovery, nearestMembers } from '../node/group-discovery.js';
import { realmOf } from '../pki/realm.js';
import { LatencyMatrix } from './network.js';
import { VpnHarness } from './vpn-harness.js';

test('80 public nodes, groups of 12 and 5: each member asks for links to its group\'s nearest members, and only those', (t) => {
  const N = 80;
  const h = new VpnHarness({ capacity: N, seed: 11, matrix: LatencyMatrix.uniform(N, 20) });
  for (let i = 0; i < N; i++) h.addNode(i * 100);
  h.run(N * 100 + 30_000);
  const groups = [
    { realm: realmOf(Uint8Array.of(0xa)), members: Array.from({ length: 12 }, (_, k) => 3 + k * 6) },
    { realm: realmOf(Uint8Array.of(0xb)), members: [5, 22, 41, 60, 77] },
  ];
  const idOf = (i: number): NodeId => h.nodes[i]!.self;
  const runs = groups.flatMap((g) => g.members.map((i) => {
    const node = h.nodes[i]!;
    const dht: NodeDht = {
      put: (k, v, ttl, cb) => node.dht!.put(h.now, k, v, ttl, cb),
      create: (k, v, ttl, cb) => node.dht!.create(h.now, k, v, ttl, cb),
      get: (k, cb) => node.dht!.get(h.now, k, cb),
      remove: (k, v, cb) => node.dht!.remove(h.now, k, v, cb),
    };
    const linked = new Set<NodeId>();
    let gets = 0;
    const counted: NodeDht = { ...dht, get: (k, cb) => { gets++; dht.get(k, cb); } };
    const d = new GroupDiscovery(g.realm, node.self, h.keys[i]!.publicKey, {
      dht: counted, joined: () => node.overlay!.joined, settled: () => linked.size >= 2,
      linked: (m) => linked.has(m), link: (m) => { linked.add(m); },
    }, new Counters());
    return { i, g, d, linked, gets: () => gets };
  }));
  // every member ticks once a second for 60 s; the first to register find few others, later reads fill in
  const t0 = h.now;
  for (let s = 0; s <= 60; s++) {
    h.at(t0 + s * 1000, () => { for (const r of runs) { r.d.at(h.now).tick(); h.pump(r.i); } });
  }
  h.run(t0 + 62_000);
  // a link is made by either end: the one that registered later finds the earlier one at its first read
  const byId = new Map(runs.map((r) => [idOf(r.i), r]));
  for (const r of runs) {
    const want = nearestMembers(idOf(r.i), r.g.members.map(idOf), 2);
    const missing = want.filter((m) => !r.linked.has(m) && !byId.get(m)!.linked.has(idOf(r.i)));
    t.deepEqual(missing, [], `member ${r.i}'s nearest members are linked with it (asked by one end or the other)`);
    const others = groups.filter((g) => g !== r.g).flatMap((g) => g.members.map(idOf));
    t.false([...r.linked].some((m) => others.includes(m)), `member ${r.i} never asks for a member of another group`);
  }
  const gets = runs.map((r) => r.gets()).sort((a, b) => a - b);
  t.log(`DHT gets per member in 60 s (reads every 10 s while joining, then every 300 s): median ${gets[gets.length >> 1]}, max ${gets.at(-1)}; links asked per member: median ${runs.map((r) => r.linked.size).sort((a, b) => a - b)[runs.length >> 1]}`);
  t.true(gets.at(-1)! <= 7 * 16, 'at most 7 reads of 16 buckets each');
});
