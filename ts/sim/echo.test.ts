// `ringvpn ping` in the simulator: an echo through the overlay reports its round trip and hops; the traffic
// asks for an on-demand link, after which echoes take one hop each way; an unknown node gives no answer.
import test from 'ava';
import { LatencyMatrix } from './network.js';
import { VpnHarness } from './vpn-harness.js';
import type { EchoResult } from '../node/vpn-node.js';

test('echo: round trip and hops, then one hop once the on-demand link is up; silence for a node that does not exist', (t) => {
  const n = 16;
  const h = new VpnHarness({ capacity: n, seed: 11, matrix: LatencyMatrix.uniform(n, 10) });
  for (let i = 0; i < n; i++) h.addNode(i * 200);
  h.run(n * 200 + 30_000);
  const a = h.nodes[0]!;
  // a target the overlay does not hold directly
  const far = h.nodes.findIndex((x, i) => i > 0 && x !== null && !a.overlay!.table.has(x.self));
  t.true(far > 0, 'some member is not a direct connection of node 0');
  const echo = (to: bigint): EchoResult | null => {
    let got: EchoResult | null | undefined;
    a.echo(h.now, to, 2_000, (r) => { got = r; });
    h.pump(0);
    const until = h.now + 3_000;
    while (got === undefined && h.now < until) h.run(h.now + 10);
    return got ?? null;
  };
  const first = echo(h.nodes[far]!.self);
  t.truthy(first, 'the echo is answered');
  t.true(first!.hopsThere >= 2 && first!.rttMs >= 20, `routed through the overlay first: ${JSON.stringify(first)}`);
  h.run(h.now + 5_000);
  const later = echo(h.nodes[far]!.self);
  t.deepEqual([later?.hopsThere, later?.hopsBack], [1, 1], `then over the on-demand link: ${JSON.stringify(later)}`);
  t.true(later!.rttMs >= 10 && later!.rttMs < 15, `one round trip (${later!.rttMs} ms)`);
  t.deepEqual(echo(a.self), { rttMs: 0, hopsThere: 0, hopsBack: 0 });
  t.is(echo(12345n), null, 'nobody answers for a node that does not exist');
});
