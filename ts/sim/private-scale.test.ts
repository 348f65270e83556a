// Private overlays at the scale in the simulator (issue 17): 2,000 public nodes and 20 groups of
// 10-50 members (real group CAs and certificates) beside them, over one engine per daemon. Every group
// converges (every member's private ring neighbours are the true ones, the crawl is one consistent ring),
// pings between random members of a group are answered at their group addresses, and the join time and
// the public DHT load of discovery per group are reported (the full table: npm run bench:private-sim).
import test from 'ava';
import { runPrivateScale } from './scenarios/private-scale.js';
import { LatencyMatrix } from './network.js';

test('2,000 public nodes, 20 groups of 10-50 members: every group converges and pings inside it', async (t) => {
  t.timeout(30 * 60_000);
  const sizes = Array.from({ length: 20 }, (_, k) => Math.round(10 + (k * 40) / 19));
  const r = await runPrivateScale({ nodes: 2000, groups: sizes, seed: 1, matrix: LatencyMatrix.load(), joinEveryMs: 10, settleMs: 60_000, pingsPerGroup: 20 });
  for (const [k, g] of r.groups.entries()) {
    t.is(g.settled, g.size, `group ${k + 1} (${g.size}): every member's ring neighbours are the true ones`);
    t.is(g.consistency, 1, `group ${k + 1}: one consistent ring`);
    t.deepEqual(g.pings.lost, [], `group ${k + 1}: pings inside the group answered`);
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  t.log(`${r.members} members; join time per group, median of the medians ${med(r.groups.map((g) => g.joinMedianS ?? Infinity))} s, worst member ${Math.max(...r.groups.map((g) => g.joinMaxS ?? Infinity))} s`);
  t.log(`public DHT gets per member: ${r.groups.map((g) => g.dhtGetsPerMember.toFixed(1)).join(' ')} (groups of 10 to 50); puts 1 each`);
  t.log(`pings answered ${r.groups.reduce((a, g) => a + g.pings.answered, 0)}/${r.groups.reduce((a, g) => a + g.pings.sent, 0)}, at the first echo ${r.groups.reduce((a, g) => a + g.pings.firstAnswered, 0)}; wall ${(r.wallMs / 1000).toFixed(0)} s for ${r.virtualS.toFixed(0)} virtual s`);
});
