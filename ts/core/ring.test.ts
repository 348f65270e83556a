// Unit and property tests for ids and ring math: byte/hex round trips, distance identities,
// the Symphony draw's distribution, the size estimate and the crawl check.
import test from 'ava';
import { idFromBytes, idToBytes, idToHex, idFromHex, RING, HALF_RING } from '../base/nodeid.js';
import { cwDist, ccwDist, ringDist, addOffset, symphonyTarget, desiredShortcuts, estimateSize, pow2Big } from './ring.js';
import { Xoshiro128, randomId } from './rng.js';
import { crawl, idealView } from './crawl.js';

test('id bytes and hex round trip, including the extremes', (t) => {
  const rng = new Xoshiro128(3);
  for (const id of [0n, 1n, RING - 1n, 1n << 80n, (1n << 112n) - 1n]) {
    t.is(idFromBytes(idToBytes(id)), id);
    t.is(idFromHex(idToHex(id)), id);
  }
  for (let i = 0; i < 5000; i++) {
    const id = randomId(rng);
    const b = idToBytes(id);
    t.is(Buffer.from(b).toString('hex'), idToHex(id));
    t.is(idFromBytes(b), id);
  }
  t.is(idFromHex('xyz'), null);
});

test('ring distances: cw + ccw = ring, ringDist is the shorter, direction agrees', (t) => {
  const rng = new Xoshiro128(4);
  for (let i = 0; i < 5000; i++) {
    const a = randomId(rng), b = randomId(rng);
    if (a === b) continue;
    t.is(cwDist(a, b) + ccwDist(a, b), RING);
    const r = ringDist(a, b);
    t.is(r, cwDist(a, b) < ccwDist(a, b) ? cwDist(a, b) : ccwDist(a, b));
    t.true(r <= HALF_RING);
    t.is(ringDist(a, b), ringDist(b, a));
  }
  t.is(cwDist(RING - 1n, 0n), 1n);
  t.is(addOffset(RING - 1n, 2n), 1n);
});

test('Symphony draw is harmonic: log-distance uniform over [space/N, space]', (t) => {
  const rng = new Xoshiro128(5);
  const n = 1024;
  const buckets = new Array(10).fill(0) as number[];
  const draws = 20000;
  for (let i = 0; i < draws; i++) {
    const from = randomId(rng);
    const d = ringDist(from, symphonyTarget(from, n, rng));
    // log2(d) - (160 - 10) in [0, 10): one bucket per octave; distances above space/2 fold back by ringDist
    const l = d.toString(2).length - 1 - 150;
    if (l >= 0 && l < 9) buckets[l] = (buckets[l] as number) + 1;
  }
  // octaves 6-9 also receive draws folded back from beyond half the ring; check the lower six
  for (let b = 0; b < 6; b++) t.true(Math.abs((buckets[b] as number) / draws - 0.1) < 0.015, `octave ${b}: ${buckets[b]}`);
  t.is(desiredShortcuts(1000), 5);
  t.is(desiredShortcuts(8), 0);
  t.is(pow2Big(159), 1n << 159n);
});

test('size estimate from the near-neighbour span recovers N on an evenly spaced ring', (t) => {
  for (const n of [100, 1000, 100000]) {
    const gap = RING / BigInt(n);
    const est = estimateSize(2n * gap, 2n * gap, 4, 5);
    t.true(Math.abs(est / n - 1) < 0.01, `${est} vs ${n}`);
  }
});

test('crawl: an ideal ring is consistent; a broken pointer or a split ring is not', (t) => {
  const rng = new Xoshiro128(6);
  const ids = Array.from({ length: 50 }, () => randomId(rng));
  const v = idealView(ids);
  t.true(crawl(v).ok);
  const some = [...v.keys()][7] as bigint;
  const bad = new Map(v);
  bad.set(some, { ...(v.get(some) ?? {}), right2: undefined });
  const r = crawl(bad);
  t.false(r.ok);
  t.true(r.consistentNodes < 50);
  // two separate consistent rings: every local check passes, the walk does not cover everyone
  const a = idealView(ids.slice(0, 25)), b = idealView(ids.slice(25));
  const split = new Map([...a, ...b]);
  const s = crawl(split);
  t.is(s.consistency, 1);
  t.false(s.ok);
});
