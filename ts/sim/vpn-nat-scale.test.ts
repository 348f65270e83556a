// The simulator acceptance for NAT traversal at scale (no root), at 300 VPN nodes in the test
// (2 min of wall time; 1,000 nodes take about 8 min: benches/sim/nat-scale-seeds.ts --nodes 1000), 30 % public,
// 40 % behind cone NATs (full, address-restricted, port-restricted), 30 % behind symmetric NATs, each
// NATed node on a site of its own. Every node gets a distinct address and the ring is consistent; random
// pairs ping (a first contact, then again 20 s later): every pair is reachable, pairs that can punch end
// direct and the others on relay links; 10 % of the relays crash and the pairs they carried recover;
// 10 % of all nodes crash and the ring heals. Long (minutes of wall time): one scenario, one test.
import test from 'ava';
import { runVpnScale } from './scenarios/vpn-scale.js';
import { natMix } from './scenarios/nat-mix.js';

test('300 VPN nodes behind a NAT mix: reachable, punchable pairs direct, the rest relayed, relays and nodes crash and heal', (t) => {
  t.timeout(20 * 60_000);
  const r = runVpnScale({ nodes: 300, seed: 1, pings: 1_500, tries: 3, nat: natMix() });
  t.log(`wall ${(r.wallMs / 1000).toFixed(0)} s for ${(r.virtualMs / 1000).toFixed(0)} virtual s`);
  t.log(`join consistency ${r.joinConsistency}; first pings ${JSON.stringify(r.first)}`);
  t.log(`second pings ${JSON.stringify(r.second)}; paths ${JSON.stringify(r.natPaths)}`);
  t.log(`relays crashed: ${JSON.stringify(r.relayKill)}`);
  t.log(`after ${r.killed} crashes: consistency ${r.healed.consistency}, ${JSON.stringify(r.healed.pings)}; engine drops ${JSON.stringify(r.engineDrops)}`);
  t.log(`pairs never answered: first ${r.first.lostPairs.join(' ') || '-'}; second ${r.second.lostPairs.join(' ') || '-'}; after relay crashes ${r.relayKill?.pairs.lostPairs.join(' ') || '-'}; after node crashes ${r.healed.pings.lostPairs.join(' ') || '-'}`);
  t.deepEqual(r.addresses, { assigned: 300, distinct: 300 });
  // measured (deterministic), seed 1: join consistency 1; first contact 1,500/1,500; 20 s later 1,500/1,500
  // (punchable pairs direct, the others relayed); the 169 pairs of the crashed relays recover; after 30
  // crashes the ring is consistent and 1,994/1,994 answer. A seed's rare losses move between phases with
  // any change: benches/sim/nat-scale-seeds.ts counts them over seeds (README: 1 of 15,720 over seeds 1-3).
  t.is(r.joinConsistency, 1, 'the ring is consistent behind the NATs');
  t.true(r.first.answered >= 0.996 * r.first.sent, `first contact: ${r.first.answered}/${r.first.sent}`);
  t.true(r.second.answered >= 0.998 * r.second.sent, `20 s later: ${r.second.answered}/${r.second.sent}`);
  const p = r.natPaths!;
  const punchable = Object.values(p.punchable).reduce((a, b) => a + b, 0);
  t.true((p.punchable.direct ?? 0) >= 0.998 * punchable, `pairs that can punch end direct: ${JSON.stringify(p.punchable)}`);
  t.is(p.punchable.relay ?? 0, 0, 'no pair that can punch ends relayed');
  t.is(p.relayOnly.direct ?? 0, 0, 'no pair that cannot punch claims a direct path');
  t.true((p.relayOnly.relay ?? 0) >= 0.97 * Object.values(p.relayOnly).reduce((a, b) => a + b, 0), `the others on relay links: ${JSON.stringify(p.relayOnly)}`);
  const k = r.relayKill!;
  t.true(k.killed >= 0.1 * k.relays - 1, `10 % of the ${k.relays} relays crashed (${k.killed})`);
  t.true(k.pairs.answered >= 0.99 * k.pairs.sent, `the pairs they carried recover: ${k.pairs.answered}/${k.pairs.sent}`);
  t.is(r.healed.consistency, 1, 'the ring heals after 10 % crash');
  t.true(r.healed.pings.answered >= 0.998 * r.healed.pings.sent, `surviving pairs reachable: ${JSON.stringify(r.healed.pings)}`);
});
