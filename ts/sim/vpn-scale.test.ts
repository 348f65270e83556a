// Whole VPN nodes at the scale, in the simulator (no root): 1,000 VpnNodes join and claim
// distinct addresses; 10,000 random pings between virtual addresses, each first through the overlay
// and 20 s later over a direct link; 10 % of the nodes crash and every surviving pair pinged is
// reachable again within 60 virtual seconds. Long (several minutes of wall time): one scenario, one test.
import test from 'ava';
import { runVpnScale } from './scenarios/vpn-scale.js';

test('1,000 VPN nodes: distinct addresses, 10,000 pings relayed first then direct, healing after 10 % crash', (t) => {
  t.timeout(30 * 60_000);
  const r = runVpnScale({ nodes: 1000, seed: 1, pings: 10_000, tries: 3 });
  t.log(`wall ${(r.wallMs / 1000).toFixed(0)} s for ${(r.virtualMs / 1000).toFixed(0)} virtual s`);
  t.log(`first pings: ${JSON.stringify(r.first)}`);
  t.log(`second pings: ${JSON.stringify(r.second)}`);
  t.log(`after ${r.killed} crashes: consistency ${r.healed.consistency}, ${JSON.stringify(r.healed.pings)}; engine drops ${JSON.stringify(r.engineDrops)}`);
  t.deepEqual(r.addresses, { assigned: 1000, distinct: 1000 }, 'every node claimed an address, no two the same');
  t.is(r.joinConsistency, 1, 'the ring is consistent after the joins');
  // measured: 9,999/10,000 at f855a6d and with 3 near links per side. At f855a6d the lost ping reached
  // node 2 (a bootstrap node), whose DHT lookup of the sender's address took longer than the 5 s the
  // engine holds packets from an unknown source (source_not_allowed); with 3 near links per side the
  // packets of one pair expired in the sender's hold (pending_expired 4: its lookup or handshake did
  // not complete in 5 s). Not fixed yet: at most one lost of 10,000 is what this asserts.
  t.true(r.first.answered >= r.first.sent - 1, `every ping to a new peer is answered within 3 echo requests but at most one: ${r.first.answered}/${r.first.sent}`);
  // counted as ping counts icmp_seq=1 (its reply may arrive after a later request's): measured 9,996-9,998/10,000
  t.true(r.first.firstAnswered >= 0.999 * r.first.sent, `the very first echo request is answered for ${r.first.firstAnswered}/${r.first.sent}`);
  const relayedFirst = Object.entries(r.first.how).filter(([k]) => k.startsWith('relayed')).reduce((a, [, v]) => a + v, 0);
  // measured 89 % before the first packet to a new peer asked for the on-demand link at once (issue 11);
  // since then the direct link often wins the race with the handshake through the overlay: 73.6 %, the
  // rest of the first requests held until the direct session and sent straight (median RTT 1.87 -> 1.74 s)
  t.true(relayedFirst >= 0.6 * r.first.sent, `first requests travel through the overlay (${relayedFirst}; the rest went direct)`);
  // one request 20 s later: all direct but at most one lost (measured 9,999 direct + 1 lost, see above)
  const direct2 = r.second.how['direct/direct'] ?? 0;
  t.true(direct2 >= r.second.sent - 1 && direct2 + (r.second.how.lost ?? 0) === r.second.sent, `the same pairs 20 s later go direct both ways: ${JSON.stringify(r.second.how)}`);
  t.is(r.healed.consistency, 1, 'the ring is consistent 60 s after the crashes');
  t.is(r.healed.pings.answered, r.healed.pings.sent, 'every surviving pair pinged is reachable');
});
