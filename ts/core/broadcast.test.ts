// Range broadcast: the range split (contiguous, disjoint, fan-out limit), duplicate suppression, and
// complete coverage with N-1 messages on a 10,000-node steady-state ring and a 500-node joined ring.
import test from 'ava';
import { planRange, BroadcastService } from './broadcast.js';
import { RING } from '../base/nodeid.js';
import { cwDist } from './ring.js';
import { broadcastSteady, broadcastJoined } from '../sim/scenarios/dhtbroadcast.js';
import { type BcastMsg } from '../wire/overlay-codec.js';

test('planRange: each peer gets the sub-range up to the next; the whole ring at the origin; fan-out limit', (t) => {
  const self = 100n;
  const peers = [RING - 5n, 300n, 200n, 1000n, 5000n]; // unsorted, one on the left
  const all = planRange(self, self, peers);
  t.deepEqual(all.map((h) => h.to), [200n, 300n, 1000n, 5000n, RING - 5n]);
  t.deepEqual(all.map((h) => h.end), [300n, 1000n, 5000n, RING - 5n, self]);
  // a sub-range (self, 1000): only peers strictly inside
  t.deepEqual(planRange(self, 1000n, peers), [{ to: 200n, end: 300n }, { to: 300n, end: 1000n }]);
  // fan-out 2: the nearest right peer is always chosen, ranges stay contiguous up to the end
  const two = planRange(self, self, peers, 2);
  t.is(two.length, 2);
  t.is(two[0]?.to, 200n);
  t.is(two[1]?.end, self);
  t.is(two[0]?.end, two[1]?.to);
  t.true(cwDist(self, two[1]!.to) > cwDist(self, 200n));
  t.deepEqual(planRange(self, 150n, peers), []);
});

test('duplicate (origin, seq) pairs are delivered once and counted', (t) => {
  const got: number[] = [];
  const sent: bigint[] = [];
  const b = new BroadcastService({ id: 10n, peers: () => [20n, 30n], sendDirect: (to) => { sent.push(to); return true; } }, (_n, m) => got.push(m.seq), { seenMax: 2 });
  const m: BcastMsg = { type: 'bcast', origin: 5n, seq: 1, end: 25n, hops: 0, payload: new Uint8Array(0) };
  b.receive(0, 5n, m);
  b.receive(0, 5n, m);
  t.deepEqual(got, [1]);
  t.deepEqual(sent, [20n]); // 30 is outside (10, 25)
  t.is(b.stats.drops.duplicate, 1);
  b.receive(0, 5n, { ...m, seq: 2 }); b.receive(0, 5n, { ...m, seq: 3 });
  b.receive(0, 5n, m); // forgotten (seenMax 2): delivered again
  t.deepEqual(got, [1, 2, 3, 1]);
});

test('10,000-node steady-state ring: every broadcast reaches 100 % with N-1 messages', (t) => {
  const r = broadcastSteady({ nodes: 10_000, seed: 1, origins: 3 });
  for (const x of r.runs) {
    t.log(`origin ${x.origin}: reached ${x.reached}/${x.nodes}, ${x.messages} messages, hops mean ${x.meanHops.toFixed(2)} max ${x.maxHops}, ${x.timeMs.toFixed(0)} ms virtual`);
    t.is(x.reached, 10_000);
    t.true(x.messages <= 1.1 * 10_000);
    t.is(x.duplicates, 0);
  }
  const f = broadcastSteady({ nodes: 10_000, seed: 2, origins: 1, params: { fanout: 3 } }).runs[0]!;
  t.log(`fan-out 3: reached ${f.reached}, ${f.messages} messages, max hops ${f.maxHops}, ${f.timeMs.toFixed(0)} ms virtual; wall ${r.wallMs.toFixed(0)} ms`);
  t.is(f.reached, 10_000);
  t.true(f.messages <= 1.1 * 10_000);
});

test('500-node joined ring (full protocol): broadcast reaches every node, messages <= 1.1 N', (t) => {
  const r = broadcastJoined({ nodes: 500, seed: 3, origins: 3 });
  for (const x of r.runs) {
    t.log(`origin ${x.origin}: reached ${x.reached}/${x.nodes}, ${x.messages} messages, max hops ${x.maxHops}, ${x.timeMs.toFixed(0)} ms virtual`);
    t.is(x.reached, x.nodes);
    t.true(x.messages <= 1.1 * x.nodes);
  }
});
