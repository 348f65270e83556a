// The gateway list in the DHT, in the simulator (the daemon's own VpnNode): gateways announce themselves
// with a lease, every member reads the list, and a gateway that died leaves it once its lease runs out.
import test from 'ava';
import { LatencyMatrix } from './network.js';
import { VpnHarness } from './vpn-harness.js';
import { GATEWAY_LEASE_MS, type GatewayRecord } from '../node/gateways.js';
import { idToHex } from '../base/nodeid.js';

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

test('a full-tunnel client uses the fastest gateway, keeps the other warm, and fails over within 3 s of its death', (t) => {
  const n = 12, CLIENT = 5, FAR = 3, NEAR = 8, OUT = '198.51.100.1';
  const m = LatencyMatrix.uniform(n, 10);
  const h = new VpnHarness({ capacity: n, seed: 7, matrix: m, gateway: (i) => i === FAR || i === NEAR, fullTunnel: (i) => i === CLIENT });
  const row = (i: number): number => h.net.rows[i]!;
  m.rtt[row(CLIENT) * n + row(FAR)] = m.rtt[row(FAR) * n + row(CLIENT)] = 60;
  for (let i = 0; i < n; i++) h.addNode(i * 200);
  h.run(n * 200 + 30_000);
  const client = h.nodes[CLIENT]!;
  const tun = () => client.tunnel!.at(h.now).status();
  t.is(client.tunnel!.gateway, h.nodes[NEAR]!.self, 'the client uses the gateway with the lower RTT');
  const st = tun();
  t.is(st.candidates.length, 2);
  t.is(st.warm, idToHex(h.nodes[FAR]!.self), 'the other one is kept warm');
  t.true(st.candidates.every((c) => c.admitted === true && c.alive), JSON.stringify(st.candidates));
  t.true(st.inUse!.rttMs! < 30 && st.candidates.find((c) => c.nodeId === st.warm)!.rttMs! > 50, `RTTs measured: ${JSON.stringify(st.candidates.map((c) => c.rttMs))}`);
  t.is(h.nodes[4]!.tunnel, null, 'a member without fullTunnel has no tunnel');

  const before = h.pingOut(CLIENT, OUT, 3);
  h.run(h.now + 3_000);
  t.not(before.repliedAt, null, 'the Internet answers through the tunnel');
  t.is(before.answeredBy, NEAR, 'through the gateway in use');
  const denied = h.pingOut(4, OUT, 3);
  h.run(h.now + 3_000);
  t.is(denied.repliedAt, null, 'a member without a tunnel has no route out');

  const deadAt = h.now, nearId = h.nodes[NEAR]!.self;
  h.crash(NEAR);
  let switchedAt: number | null = null;
  while (h.now < deadAt + 10_000 && switchedAt === null) {
    h.run(h.now + 50);
    if (client.tunnel!.gateway === h.nodes[FAR]!.self) switchedAt = h.now;
  }
  t.not(switchedAt, null, 'the client failed over');
  t.log(`failover ${switchedAt! - deadAt} ms after the gateway died`);
  t.true(switchedAt! - deadAt <= 3_000, `within 3 s (${switchedAt! - deadAt} ms)`);
  t.like(tun().lastFailover, { from: idToHex(nearId), to: idToHex(h.nodes[FAR]!.self) });
  const after = h.pingOut(CLIENT, OUT, 3);
  h.run(h.now + 3_000);
  t.is(after.answeredBy, FAR, 'new traffic leaves through the other gateway');
  t.not(after.repliedAt, null);
});
