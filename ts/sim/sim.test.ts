// Scenario tests on the simulator (sized for a shared 2-core machine): join to 100 % crawl consistency,
// exact delivery for 10,000 random pairs, mean hops <= log2 N, recovery after 10 % of nodes fail at once.
import test from 'ava';
import { buildJoined } from './scenarios/join.js';
import { probeDelivery, runUntilConsistent, crawlNow } from './measure.js';
import { randInt, shuffle } from '../core/rng.js';

test('1,000 nodes join, reach 100 % crawl consistency, deliver, and recover from a 10 % mass failure', (t) => {
  const { h, r } = buildJoined({ nodes: 1000, seed: 7, intervalMs: 20 });
  t.log(`join: consistent at ${r.consistentAtMs} ms virtual (last join at ${r.lastJoinMs} ms), ${r.connectionsPerNode.toFixed(1)} conns/node, ${r.events} events, ${r.wallMs.toFixed(0)} ms wall`);
  t.not(r.consistentAtMs, null);
  t.true(crawlNow(h).ok);

  // let shortcuts form and surplus links trim: steady state
  h.run(h.now + 60_000);
  t.true(crawlNow(h).ok);
  // surplus links were trimmed: 2·nearKeep near + ~2·ceil(0.5·log2 N) shortcuts (ours and others')
  const links = h.liveIndices().reduce((s, i) => s + h.nodes[i]!.connectionCount(), 0) / 1000;
  t.log(`steady state: ${links.toFixed(1)} links per node`);
  t.true(links <= 25);
  const p = probeDelivery(h, 10_000, 20_000);
  t.log(`delivery: ${p.delivered}/${p.sent}, mean hops ${p.meanHops.toFixed(2)}, p99 ${p.p99Hops}, mean latency ${p.meanLatencyMs.toFixed(0)} ms`);
  t.is(p.delivered, 10_000);
  t.is(p.misdelivered, 0);
  t.true(p.meanHops <= Math.log2(1000), `mean hops ${p.meanHops} <= log2 N`);

  // 10 % fail at once
  const live = shuffle(h.rng, h.liveIndices());
  for (const i of live.slice(0, 100)) h.crash(i);
  const failedAt = h.now;
  const at = runUntilConsistent(h, 60_000, 1_000);
  t.log(`mass failure: crawl consistent again after ${at === null ? 'never' : ((at - failedAt) / 1000).toFixed(1) + ' s'} virtual`);
  t.not(at, null);
  t.true((at as number) - failedAt <= 60_000);
  h.run(failedAt + 60_000);
  const p2 = probeDelivery(h, 2_000, 20_000);
  t.log(`delivery 60 s after the failure: ${p2.delivered}/${p2.sent}`);
  t.is(p2.delivered, p2.sent);
  void randInt;
});
