// The gateway list in the DHT, in the simulator (the daemon's own VpnNode): gateways announce themselves
// with a lease, every member reads the list, and a gateway that died leaves it once its lease runs out.
import test from 'ava';
import { LatencyMatrix } from './network.js';
import { VpnHarness } from './vpn-harness.js';
import { GATEWAY_LEASE_MS, type GatewayRecord } from '../node/gateways.js';

test('gateways are listed in the DHT with their addresses, and a dead one drops off after its lease', (t) => {
  const h = new VpnHarness({ capacity: 12, seed: 5, matrix: LatencyMatrix.uniform(12, 10), gateway: (i) => i === 3 || i === 8 });
  for (let i = 0; i < 12; i++) h.addNode(i * 200);
  h.run(12 * 200 + 30_000);
  const list = (i: number): GatewayRecord[] | null => {
    let got: GatewayRecord[] | null | undefined;
    h.nodes[i]!.gateways!.at(h.now).lookup((g) => { got = g; });
    const until = h.now + 10_000;
    while (got === undefined && h.now < until) h.run(h.now + 100);
    return got ?? null;
  };
  const names = (g: GatewayRecord[] | null): string[] => (g ?? []).map((x) => x.address).sort();
  const want = [h.address(3)!, h.address(8)!].sort();
  for (const i of [0, 5, 11]) t.deepEqual(names(list(i)), want, `member ${i} sees both gateways`);
  t.deepEqual(names(list(3)), [h.address(8)!], 'a gateway does not list itself');
  t.is((list(5) ?? []).find((g) => g.address === h.address(3))?.node, h.nodes[3]!.self, 'the record names the gateway node');
  h.crash(8);
  h.run(h.now + GATEWAY_LEASE_MS + 5_000);
  t.deepEqual(names(list(0)), [h.address(3)!], 'the crashed gateway left the list after its lease; the live one re-put its record');
});
