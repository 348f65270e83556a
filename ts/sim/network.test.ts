// Tests of the simulator machinery: the event heap (order, FIFO ties, a million events), the latency
// model (PlanetLab rows, resampling with jitter), and the overlay under loss and a short partition.
import test from 'ava';
import { EventHeap } from './heap.js';
import { NetworkModel, LatencyMatrix } from './network.js';
import { Xoshiro128 } from '../core/rng.js';
import { buildJoined } from './scenarios/join.js';
import { crawlNow, probeDelivery, runUntilConsistent } from './measure.js';

test('event heap: a million events come out in time order, ties in insertion order', (t) => {
  const h = new EventHeap<number>();
  const rng = new Xoshiro128(1);
  const n = 1_000_000;
  for (let i = 0; i < n; i++) h.push(Math.floor(rng.next() * 1000), i);
  let lastT = -1, lastI = -1, count = 0, bad = 0;
  while (h.size) {
    const tm = h.peekTime();
    const i = h.pop() as number;
    if (tm < lastT || (tm === lastT && i < lastI)) bad++;
    lastT = tm; lastI = i; count++;
  }
  t.is(count, n);
  t.is(bad, 0);
  t.is(h.pop(), undefined);
});

test('latency model: distinct PlanetLab rows up to 490 nodes, resampled with bounded jitter beyond', (t) => {
  const m = LatencyMatrix.load();
  t.is(m.n, 490);
  const small = new NetworkModel(m, 490, new Xoshiro128(2));
  t.false(small.resampled);
  t.is(new Set(small.rows).size, 490);
  t.is(small.rtt(3, 7), m.get(small.rows[3]!, small.rows[7]!));
  t.is(small.rtt(3, 7), small.rtt(7, 3));
  const big = new NetworkModel(m, 5000, new Xoshiro128(2));
  t.true(big.resampled);
  for (let k = 0; k < 1000; k++) {
    const a = k, b = 4999 - k;
    const base = m.get(big.rows[a]!, big.rows[b]!);
    const r = big.rtt(a, b);
    t.is(r, big.rtt(b, a));
    if (base > 0) t.true(r >= base * 0.9 - 1e-9 && r <= base * 1.1 + 1e-9);
    else t.true(r >= 1 * 0.9 && r <= 10 * 1.1);
  }
});

test('2 % loss: 300 nodes still join to 100 % consistency; most messages arrive', (t) => {
  const { h, r } = buildJoined({ nodes: 300, seed: 4, harness: { net: { loss: 0.02 } } });
  t.not(r.consistentAtMs, null);
  h.run(h.now + 30_000);
  const p = probeDelivery(h, 1000, 10_000);
  t.log(`delivery under 2 % loss per link: ${p.delivered}/1000, mean hops ${p.meanHops.toFixed(2)}`);
  t.true(p.successRate > 0.85);
  t.true((h.simDrops['loss'] ?? 0) > 0);
});

test('a 10 s partition drops traffic across it; after healing the ring is whole and delivery is 100 %', (t) => {
  const { h } = buildJoined({ nodes: 200, seed: 6 });
  h.run(h.now + 30_000);
  const g = new Int32Array(200);
  for (let i = 100; i < 200; i++) g[i] = 1;
  h.net.partition(g);
  let across = 0;
  const got = new Set<number>();
  h.onDeliver = (at) => { got.add(at); };
  h.send(5, 150, Uint8Array.of(1)); across++;
  h.run(h.now + 10_000);
  t.false(got.has(150), 'nothing crosses the partition');
  t.true((h.simDrops['partition'] ?? 0) > 0);
  h.net.partition(null);
  h.onDeliver = null;
  t.not(runUntilConsistent(h, 60_000), null);
  t.true(crawlNow(h).ok);
  const p = probeDelivery(h, 1000, 10_000);
  t.is(p.delivered, 1000);
  void across;
});

test('a 60 s partition splits the ring in two; after healing, re-bootstrap probes merge them', (t) => {
  const { h } = buildJoined({ nodes: 200, seed: 6 });
  h.run(h.now + 30_000);
  const g = new Int32Array(200);
  for (let i = 0; i < 200; i++) g[i] = i % 2; // interleaved halves: every node loses its cross links
  h.net.partition(g);
  h.run(h.now + 60_000);
  const during = crawlNow(h);
  t.true(during.walked <= 100, `two separate rings (walk covers ${during.walked})`);
  t.false(during.ok);
  h.net.partition(null);
  const healed = h.now;
  const at = runUntilConsistent(h, 600_000, 5_000);
  t.log(`rings merged ${at === null ? 'never' : `${(at - healed) / 1000} s`} after the partition healed`);
  t.not(at, null);
  const p = probeDelivery(h, 1000, 10_000);
  t.is(p.delivered, 1000);
});
