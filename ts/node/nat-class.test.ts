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

test('port prediction: a sequential symmetric NAT\'s next ports; none for random ports, a cone or too few reports', (t) => {
  const seq = new NatClassifier(['10.0.0.2:4500']);
  seq.observe(0, '5.5.5.5:49152', 'a');
  seq.observe(1, '5.5.5.5:49153', 'b');
  t.deepEqual(seq.predicted(), [], 'two reports: not enough to tell a sequence');
  seq.observe(2, '5.5.5.5:49155', 'c');
  t.is(seq.type(), 'symmetric');
  t.deepEqual(seq.predicted(), ['5.5.5.5:49156', '5.5.5.5:49154', '5.5.5.5:49157', '5.5.5.5:49158', '5.5.5.5:49159', '5.5.5.5:49160'],
    'the ports after the highest, and in turn the unreported one in between (a mapping toward a peer that never answered)');
  t.deepEqual(seq.summary().predicted, seq.predicted());
  const gaps = new NatClassifier([]);
  for (const [i, p] of [40000, 40010, 40030].entries()) gaps.observe(i, `5.5.5.5:${p}`, `o${i}`);
  t.deepEqual(gaps.predicted(), ['5.5.5.5:40031', '5.5.5.5:40029', '5.5.5.5:40032', '5.5.5.5:40028', '5.5.5.5:40033', '5.5.5.5:40027'], 'next and gaps (the highest first) in turn, 6 in all');
  const top = new NatClassifier([]);
  for (const [i, p] of [65530, 65532, 65533].entries()) top.observe(i, `5.5.5.5:${p}`, `o${i}`);
  t.deepEqual(top.predicted(), ['5.5.5.5:65534', '5.5.5.5:65531', '5.5.5.5:65535'], 'never past port 65535');

  const random = new NatClassifier([]);
  for (const [i, p] of [1200, 33000, 61000, 17000].entries()) random.observe(i, `5.5.5.5:${p}`, `o${i}`);
  t.is(random.type(), 'symmetric');
  t.deepEqual(random.predicted(), [], 'random ports are not predicted');
  const cone = new NatClassifier([]);
  for (const o of ['a', 'b', 'c', 'd']) cone.observe(0, '5.5.5.5:4500', o);
  t.deepEqual(cone.predicted(), [], 'one mapping: nothing to predict');
  const bad = new NatClassifier([]);
  for (const [i, e] of ['5.5.5.5:x', '5.5.5.5:', 'nonsense', '5.5.5.5:7'].entries()) bad.observe(i, e, `o${i}`);
  t.deepEqual(bad.predicted(), [], 'malformed reports are ignored');
});

test('counted prediction: each new destination beyond our network takes the next port; a known one keeps its own', (t) => {
  // a sequential NAT from port 40000: destinations in the order sent to, private ones never cross it
  const c = new NatClassifier(['10.0.0.2:4500']);
  const dests = ['9.0.0.1:4500', '9.0.0.2:4500', '10.9.9.9:4500', '9.0.0.3:4500', '9.0.0.4:4500', '192.168.7.7:4500', '9.0.0.5:4500'];
  t.deepEqual(dests.map((d) => c.sent(d)), [true, true, false, true, true, false, true], 'private destinations are not counted');
  t.false(c.sent('9.0.0.1:4500'), 'a destination sent to before is not new');
  // public peers 1, 2 and 4 report mappings 40000, 40001, 40003 (9.0.0.3 -> 40002 and 9.0.0.5 -> 40004 unreported)
  c.observe(0, '7.7.7.7:40000', '9.0.0.1:4500');
  c.observe(1, '7.7.7.7:40001', '9.0.0.2:4500');
  c.observe(2, '7.7.7.7:40003', '9.0.0.4:4500');
  t.is(c.type(), 'symmetric');
  const p = c.predicted();
  t.is(p.length, 6);
  t.deepEqual(p.slice(0, 4), ['7.7.7.7:40004', '7.7.7.7:40005', '7.7.7.7:40006', '7.7.7.7:40007'], 'from the newest unreported mapping (one below the next) upward');
  t.true(p.includes('7.7.7.7:40004'), 'the punch under way to 9.0.0.5');
  // toward a peer: its public endpoint sent to before keeps 40002; its new endpoints take 40005 and 40006
  t.deepEqual(c.predictedToward(['10.3.3.3:4500', '9.0.0.3:4500', '8.8.8.8:4500', '8.8.8.9:4500']), ['7.7.7.7:40002', '7.7.7.7:40005', '7.7.7.7:40006']);
  c.sent('8.8.8.8:4500');
  t.is(c.predicted()[0], '7.7.7.7:40005', 'one more destination moves the window');
  // no anchor (reports of destinations we never sent to): Brunet's guess from the highest port
  const b = new NatClassifier([]);
  for (const [k, port] of [40000, 40002, 40003].entries()) b.observe(k, `7.7.7.7:${port}`, `9.0.0.${k}:4500`);
  t.deepEqual(b.predicted().slice(0, 3), ['7.7.7.7:40004', '7.7.7.7:40001', '7.7.7.7:40005']);
  t.deepEqual(b.predictedToward(['9.9.9.9:1']), [], 'nothing counted toward a peer without an anchor');
});
