// The NAT line of `ringvpn status` and `ringvpn netcheck`: the type, the reports, and predicted ports.
import test from 'ava';
import { natLine, gatewayLine } from './ringstatus.js';

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
