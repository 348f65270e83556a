// The NAT line of `ringvpn status` and `ringvpn netcheck`: the type, the reports, and predicted ports.
import test from 'ava';
import { natLine } from './ringstatus.js';

test('nat line: type and reports; a sequential NAT shows the ports it predicts', (t) => {
  t.is(natLine({ type: 'cone', endpoints: ['5.5.5.5:4500'], observers: 3, predicted: [] }), 'cone (3 peer reports; seen as 5.5.5.5:4500)');
  t.is(natLine({ type: 'nat', endpoints: [], observers: 1 }), 'nat (1 peer report; seen as -)');
  t.is(natLine({ type: 'symmetric', endpoints: ['5.5.5.5:49155', '5.5.5.5:49152', '5.5.5.5:49153'], observers: 3, predicted: ['5.5.5.5:49156', '5.5.5.5:49154', '5.5.5.5:49157'] }),
    'symmetric (3 peer reports; seen as 5.5.5.5:49155, 5.5.5.5:49152, 5.5.5.5:49153; sequential ports, advertising the predicted 5.5.5.5:49156, 5.5.5.5:49154, 5.5.5.5:49157)');
});
