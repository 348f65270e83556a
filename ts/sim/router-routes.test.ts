// Router mode in the simulator (the daemon's own VpnNode): a router's announced subnets reach every
// member through the DHT's routes record and a broadcast, and a change made while running (a reload)
// reaches them too: a withdrawn subnet is forgotten, a new one learned, without a restart.
import test from 'ava';
import { LatencyMatrix } from './network.js';
import { VpnHarness } from './vpn-harness.js';

test('a router announces its subnets, changes them while running, and every member follows within seconds', (t) => {
  const n = 10, ROUTER = 4;
  const h = new VpnHarness({ capacity: n, seed: 11, matrix: LatencyMatrix.uniform(n, 10), routes: (i) => (i === ROUTER ? ['192.168.50.0/24', '192.168.51.0/24'] : []) });
  for (let i = 0; i < n; i++) h.addNode(i * 200);
  h.run(n * 200 + 20_000);
  const learned = (i: number): string[] => h.nodes[i]!.lan!.routes().map((r) => r.cidr).sort();
  const members = [...Array(n).keys()].filter((i) => i !== ROUTER);
  for (const i of members) t.deepEqual(learned(i), ['192.168.50.0/24', '192.168.51.0/24'], `member ${i} learned both subnets`);
  const at = h.now;
  const r = h.nodes[ROUTER]!.setRoutes(h.now, ['192.168.51.0/24', '192.168.60.0/24']);
  t.deepEqual(r, { added: ['192.168.60.0/24'], removed: ['192.168.50.0/24'] });
  let all = -1;
  while (h.now < at + 60_000) {
    h.run(h.now + 250);
    if (members.every((i) => learned(i).join() === '192.168.51.0/24,192.168.60.0/24')) { all = h.now - at; break; }
  }
  t.true(all >= 0, `every member follows the change (${members.map((i) => `${i}: ${learned(i).join(' ')}`).join('; ')})`);
  t.true(all <= 10_000, `within 10 s of the reload (took ${all} ms)`);
  t.log(`every member followed the change in ${all} ms`);
  const routerId = h.nodes[ROUTER]!.self;
  const carried = (i: number): string[] => [...h.engines[i]!.peers.values()].filter((p) => p.nodeId === routerId).flatMap((p) => p.allowedText);
  for (const i of members) {
    const c = carried(i);
    t.false(c.includes('192.168.50.0/24'), `member ${i}'s data plane no longer sends the withdrawn subnet to the router (${c.join(' ')})`);
  }
  h.nodes[ROUTER]!.setRoutes(h.now, []);
  h.run(h.now + 10_000);
  for (const i of members) {
    t.deepEqual(learned(i), [], `member ${i} forgets a router that withdrew every subnet`);
    t.false(carried(i).some((c) => c.startsWith('192.168.')), `and its data plane carries none of them to it (${carried(i).join(' ')})`);
  }
  const ev = h.events.filter((e) => e.node === members[0] && e.at >= at && e.e.type === 'routes');
  t.true(ev.length >= 1, 'members emit a routes event (the DHCP server and the OS routes follow it)');
  t.deepEqual(h.nodes[ROUTER]!.lan!.status().routesAnnounced, [], 'the router reports what it announces now');
});
