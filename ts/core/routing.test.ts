// The ordered greedy next hop (binary search over clockwise-ordered peers) against the plain scan:
// the same answer for random rings, destinations and usable subsets; and the nearest usable peer (the way
// out where greedy has no closer hop) against a scan.
import test from 'ava';
import { greedyNextHop, greedyNextHopOrdered, nearestUsableOrdered } from './routing.js';
import { cwDist, ringDist } from './ring.js';
import { Xoshiro128, randomId } from './rng.js';
import type { NodeId } from '../base/nodeid.js';

/** Up to 39 random peers in clockwise order from self (as OverlayNode.ringPeers() gives them). */
function randomRing(rng: Xoshiro128, self: NodeId): NodeId[] {
  const n = Math.floor(rng.next() * 40);
  return Array.from({ length: n }, () => randomId(rng)).sort((a, b) => { const da = cwDist(self, a), db = cwDist(self, b); return da < db ? -1 : da > db ? 1 : 0; });
}

test('greedyNextHopOrdered agrees with greedyNextHop on 5,000 random cases', (t) => {
  const rng = new Xoshiro128(11);
  let forwarded = 0;
  for (let c = 0; c < 5_000; c++) {
    const self = randomId(rng);
    const peers = randomRing(rng, self);
    const ok = new Set(peers.filter(() => rng.next() < 0.7));
    const dest = rng.next() < 0.2 && peers.length ? peers[Math.floor(rng.next() * peers.length)]! : randomId(rng);
    const want = greedyNextHop(self, dest, peers.filter((p) => ok.has(p)));
    const got = greedyNextHopOrdered(self, dest, peers, (p) => ok.has(p));
    if (want !== null) forwarded++;
    if (got !== want) { t.fail(`case ${c}: ${got} != ${want}`); return; }
  }
  t.true(forwarded > 2_000, `${forwarded} cases forwarded`);
});

test('nearestUsableOrdered is the usable peer nearest to dest, closer than self or not', (t) => {
  const rng = new Xoshiro128(12);
  let fartherThanSelf = 0;
  for (let c = 0; c < 5_000; c++) {
    const self = randomId(rng);
    const peers = randomRing(rng, self);
    const ok = peers.filter(() => rng.next() < 0.5);
    const dest = randomId(rng);
    const got = nearestUsableOrdered(self, dest, peers, (p) => ok.includes(p));
    if (!ok.length) { if (got !== null) { t.fail(`case ${c}: ${got} with nothing usable`); return; } continue; }
    const best = ok.reduce((m, p) => (ringDist(p, dest) < ringDist(m, dest) ? p : m));
    if (got === null || ringDist(got, dest) !== ringDist(best, dest)) { t.fail(`case ${c}: ${got} != ${best}`); return; }
    if (ringDist(got, dest) >= ringDist(self, dest)) fartherThanSelf++;
  }
  t.true(fartherThanSelf > 200, `${fartherThanSelf} cases where no usable peer is closer than self`);
});
