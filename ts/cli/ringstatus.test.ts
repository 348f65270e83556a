// The NAT line of `ringvpn status` and `ringvpn netcheck`: the type, the reports, and predicted ports.
import test from 'ava';
import { natLine, gatewayLine, tunnelLines, groupLines } from './ringstatus.js';

test('nat line: type and reports; a sequential NAT shows the ports it predicts', (t) => {
  t.is(natLine({ type: 'cone', endpoints: ['5.5.5.5:4500'], observers: 3, predicted: [] }), 'cone (3 peer reports; seen as 5.5.5.5:4500)');
  t.is(natLine({ type: 'nat', endpoints: [], observers: 1 }), 'nat (1 peer report; seen as -)');
  t.is(natLine({ type: 'symmetric', endpoints: ['5.5.5.5:49155', '5.5.5.5:49152', '5.5.5.5:49153'], observers: 3, predicted: ['5.5.5.5:49156', '5.5.5.5:49154', '5.5.5.5:49157'] }),
    'symmetric (3 peer reports; seen as 5.5.5.5:49155, 5.5.5.5:49152, 5.5.5.5:49153; sequential ports, advertising the predicted 5.5.5.5:49156, 5.5.5.5:49154, 5.5.5.5:49157)');
});

test('gateway line: uplink, policy and the DHT record; nothing for a member that is not a gateway', (t) => {
  t.is(gatewayLine({ gateway: null, gateways: { announcing: false, lastPut: null } }, 0), null);
  t.is(gatewayLine({ gateway: { uplink: 'eth0', allow: ['*'] }, gateways: { announcing: true, lastPut: { at: 5_000, ok: true } } }, 17_400),
    'gateway: on, out of eth0 with masquerade, for every member; listed in the DHT (12 s ago)');
  t.regex(gatewayLine({ gateway: { uplink: 'eth0', allow: ['eng', 'ops'] }, gateways: { announcing: true, lastPut: null } }, 0)!, /for groups eng, ops; not listed in the DHT yet$/);
  t.regex(gatewayLine({ gateway: { uplink: 'eth0', allow: ['*'] }, gateways: { announcing: true, lastPut: { at: 1, ok: false } } }, 2)!, /refused its record \(retrying\)$/);
});

test('the full-tunnel lines: the gateway in use and the warm one, the candidates, a failover; none without a tunnel', (t) => {
  t.deepEqual(tunnelLines(null), []);
  const a = 'aa'.repeat(20), b = 'bb'.repeat(20);
  const lines = tunnelLines({
    inUse: { nodeId: a, address: '10.128.0.5', rttMs: 3.5, sinceMs: 12_400 }, warm: b,
    candidates: [{ nodeId: a, short: 'aaaaaaaa', address: '10.128.0.5', rttMs: 3.5, admitted: true, trusted: true, alive: true }, { nodeId: b, short: 'bbbbbbbb', address: '10.128.0.9', rttMs: null, admitted: false, trusted: false, alive: false }],
    switches: 2, lastFailover: { from: b, to: a, silentMs: 1_600 }, lookups: { ok: 3, failed: 0 },
  });
  t.deepEqual(lines, [
    'full tunnel: through aaaaaaaa (10.128.0.5, RTT 3.5 ms, for 12 s); bbbbbbbb warm',
    '  aaaaaaaa  10.128.0.5  RTT 3.5 ms  alive  admits us',
    '  bbbbbbbb  10.128.0.9  RTT ? ms  silent  REFUSES us  NOT TRUSTED (fullTunnel.gateways)',
    '  last failover: from bbbbbbbb to aaaaaaaa after 1600 ms of silence (2 switches)',
  ]);
  t.regex(tunnelLines({ inUse: null, warm: null, candidates: [], switches: 0, lastFailover: null, lookups: { ok: 1, failed: 0 } })[0]!, /NO GATEWAY \(Internet traffic is dropped, not leaked; none is listed in the DHT\)/);
});

test('a private group\'s lines: address on the device, ring, links by path, discovery and certificate', (t) => {
  const lines = groupLines({
    id: 'team-a', subnet: '10.201.0.0/16', domain: 'team-a', address: '10.201.0.10', onDevice: true, tag: '3f9a1c', sizeEstimate: 5,
    ring: { left1: '2b7537cd00000000000000000000000000000000', right1: '375558a800000000000000000000000000000000' },
    connections: [
      { short: '2b7537cd', kinds: ['near'], session: true, endpoint: '10.200.100.1:51820', path: 'direct', dataplane: null },
      { short: '375558a8', kinds: ['near'], session: true, endpoint: null, path: 'carried by the public overlay', dataplane: null },
    ],
    discovery: { registered: true, lastRead: { at: 1, members: 4, buckets: 16 }, linksAsked: 2 },
    pki: { ca: 'Group A CA', serial: '03', notAfter: '2027-12-03T00:00:00.000Z', revoked: 1 },
  });
  t.is(lines.length, 3);
  t.regex(lines[0]!, /^group team-a \(realm 3f9a1c\): address 10\.201\.0\.10  subnet 10\.201\.0\.0\/16  domain team-a  ring size ~5$/);
  t.regex(lines[1]!, /links 2 \(direct 1, carried by the public overlay 1, relayed 0\)/);
  t.regex(lines[2]!, /registered  members seen 4  links asked 2  CA "Group A CA"  certificate 03 until 2027-12-03T00:00:00\.000Z  revoked known 1/);
  t.regex(groupLines({ id: 'b', subnet: '10.202.0.0/16', domain: 'b', address: '10.202.0.5', onDevice: false })[0]!, /10\.202\.0\.5 \(not on the device yet\)/);
});
