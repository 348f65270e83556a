// The whole VPN node in the simulator, without root: VpnNodes (the daemon's own code) over in-memory
// engines. Asserts the packet walk a user sees: address claims through the DHT, the first packets to
// a new peer relayed end to end through the overlay, then an on-demand direct link; and healing.
import test from 'ava';
import { crawl } from '../core/crawl.js';
import { ringDist } from '../core/ring.js';
import { LatencyMatrix } from './network.js';
import { VpnHarness } from './vpn-harness.js';

function settle(h: VpnHarness, n: number, spacingMs: number, settleMs: number): void {
  for (let i = 0; i < n; i++) h.addNode(i * spacingMs);
  h.run(n * spacingMs + settleMs);
}

test('24 VPN nodes: distinct addresses, a consistent ring, first ping relayed through the overlay, later ones direct', (t) => {
  const h = new VpnHarness({ capacity: 24, seed: 7, matrix: LatencyMatrix.uniform(24, 20) });
  settle(h, 24, 200, 30_000);
  const addrs = h.liveIndices().map((i) => h.address(i));
  t.true(addrs.every((a) => a !== null), `every node has an address: ${addrs.filter((a) => !a).length} missing`);
  t.is(new Set(addrs).size, 24, 'addresses are distinct');
  const c = crawl(h.view());
  t.is(c.consistency, 1, `ring consistent: ${JSON.stringify(c)}`);

  const pairs: [number, number][] = [[0, 13], [5, 20], [17, 2], [9, 10], [23, 4]];
  const first = pairs.map(([a, b]) => h.ping(a, b));
  h.run(h.now + 3_000);
  for (const r of first) {
    t.not(r.repliedAt, null, `first ping ${r.from} -> ${r.to} answered`);
  }
  t.true(first.some((r) => r.requestHow === 'relayed'), `some first pings travel through the overlay: ${first.map((r) => r.requestHow).join()}`);
  h.run(h.now + 15_000);
  const later = pairs.map(([a, b]) => h.ping(a, b));
  h.run(h.now + 2_000);
  for (const r of later) {
    t.not(r.repliedAt, null);
    t.is(r.requestHow, 'direct', `ping ${r.from} -> ${r.to} later goes direct`);
    t.is(r.replyHow, 'direct');
  }
});

test('a newcomer firewalled from the member farthest from it on the ring reaches it on its first packet, end to end through the overlay', (t) => {
  // the namespace test of the same case (tests/net/pki.test.ts, captures) lost its first packets once in CI
  for (const seed of [1, 2, 3]) {
    const h = new VpnHarness({ capacity: 9, seed, matrix: LatencyMatrix.uniform(9, 2) });
    settle(h, 8, 200, 20_000);
    const n = h.addNode(h.now);
    const self = h.nodes[n]!.self;
    const far = h.liveIndices().reduce((a, b) => (ringDist(h.nodes[b]!.self, self) > ringDist(h.nodes[a]!.self, self) ? b : a));
    h.net.block(n, far);
    const until = h.now + 60_000;
    while (!(h.address(n) && h.nodes[n]!.joined()) && h.now < until) h.run(h.now + 100);
    h.run(h.now + 2_000);
    const r = h.ping(n, far);
    h.run(h.now + 3_000);
    t.not(r.repliedAt, null, `seed ${seed}: the first echo request to node ${far} is answered`);
    t.is(r.requestHow, 'relayed', `seed ${seed}: it went through the overlay`);
    h.run(h.now + 15_000);
    const later = h.ping(n, far);
    h.run(h.now + 3_000);
    t.not(later.repliedAt, null, `seed ${seed}: later pings are answered too`);
    t.is(later.requestHow, 'relayed', `seed ${seed}: still relayed: no direct path exists`);
    t.true((h.simDrops.partition ?? 0) > 0, `seed ${seed}: direct attempts hit the firewall`);
  }
});
