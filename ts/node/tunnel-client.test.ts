// The gateway choice alone, with a scripted host: policy refusals, RTT ranking, failover to nobody.
import test from 'ava';
import { TunnelClient, DEAD_MS } from './tunnel-client.js';
import { Counters } from './io.js';
import type { GatewayRecord } from './gateways.js';
import type { NodeId } from '../base/nodeid.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

function rig(list: GatewayRecord[], trusted: (n: NodeId) => boolean | null = () => true) {
  const pings: { node: NodeId; reqId: number }[] = [];
  const used: (NodeId | null)[] = [];
  let lookups = 0;
  const counters = new Counters();
  const c = new TunnelClient({
    lookup: (cb) => { lookups++; cb(list); },
    reach: () => {},
    ping: (node, reqId) => pings.push({ node, reqId }),
    use: (node) => used.push(node),
    trusted,
  }, counters, quiet);
  return { c, pings, used, counters, lookups: () => lookups };
}

test('a gateway whose policy refuses us is never used; the fastest admitting one is', (t) => {
  const r = rig([{ node: 1n, address: '10.0.0.1' }, { node: 2n, address: '10.0.0.2' }, { node: 3n, address: '10.0.0.3' }]);
  r.c.at(0).tick(true);
  t.is(r.pings.length, 3, 'every candidate is pinged');
  const rtt: Record<string, number> = { 1: 5, 2: 30, 3: 20 };
  const answers = r.pings.splice(0).sort((a, b) => rtt[String(a.node)]! - rtt[String(b.node)]!);
  for (const p of answers) r.c.at(rtt[String(p.node)]!).onPong(p.node, p.reqId, p.node !== 1n);
  t.is(r.c.gateway, 3n, 'node 1 is fastest but refuses us; node 3 answered first among the others');
  t.deepEqual(r.used, [3n], 'and it stays: node 2 is not much faster (no flapping)');
  const st = r.c.status();
  t.is(st.candidates.find((x) => x.address === '10.0.0.1')?.admitted, false);
  t.is(st.warm, (2n).toString(16).padStart(40, '0'));
  r.c.onPong(9n, 12345, true);
  t.is(r.counters.values.tunnel_pong_unexpected, 1, 'a pong nobody asked for is counted');
});

test('with every gateway dead the Internet goes nowhere and the list is read again', (t) => {
  const r = rig([{ node: 7n, address: '10.0.0.7' }]);
  r.c.at(0).tick(true);
  for (const p of r.pings.splice(0)) r.c.at(4).onPong(p.node, p.reqId, true);
  t.is(r.c.gateway, 7n);
  const before = r.lookups();
  let now = 4;
  while (r.c.gateway !== null && now < 10_000) { now += 500; r.c.at(now).tick(true); }
  t.is(r.c.gateway, null);
  t.true(now <= 4 + 500 + DEAD_MS + 500, `declared dead at ${now} ms`);
  t.is(r.used.at(-1), null, 'the Internet route is withdrawn (the engine drops, counted)');
  t.like(r.c.status().lastFailover, { to: null });
  r.c.at(now + 1).tick(true);
  t.true(r.lookups() > before, 'the list is read again at once');
  t.is(r.counters.values.tunnel_failover, 1);
});

test('a gateway without the groups fullTunnel.gateways names is never used, however fast', (t) => {
  const r = rig([{ node: 1n, address: '10.0.0.1' }, { node: 2n, address: '10.0.0.2' }], (n) => (n === 1n ? false : n === 2n ? true : null));
  r.c.at(0).tick(true);
  for (const p of r.pings.splice(0)) r.c.at(p.node === 1n ? 2 : 40).onPong(p.node, p.reqId, true);
  t.is(r.c.gateway, 2n);
  t.deepEqual(r.used, [2n]);
  t.is(r.c.status().candidates.find((c) => c.address === '10.0.0.1')?.trusted, false);
});
