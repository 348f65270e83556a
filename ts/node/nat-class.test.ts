// NatClassifier alone: the NAT type from what peers report (public, one report, cone, symmetric).
import test from 'ava';
import { NatClassifier } from './nat-class.js';

test('types from the reports: public, nat, cone, symmetric', (t) => {
  const pub = new NatClassifier(['1.2.3.4:4500']);
  pub.observe(0, '1.2.3.4:4500', 'a');
  t.is(pub.type(), 'public');
  const c = new NatClassifier(['10.0.0.2:4500']);
  t.is(c.type(), 'unknown');
  c.observe(0, '5.5.5.5:4500', 'a');
  t.is(c.type(), 'nat');
  c.observe(1, '5.5.5.5:4500', 'b');
  t.is(c.type(), 'cone');
  c.observe(2, '5.5.5.5:4501', 'c');
  t.is(c.type(), 'symmetric');
});
