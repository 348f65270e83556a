// DHT core behaviour: a lone node (every replica position is its own) for limits, create, leases and
// remove; a 30-node simulated overlay for hostile DHT messages.
import test from 'ava';
import { DhtCore, type OpResult, type DhtParams } from './dht.js';
import { RingvpnError } from '../base/errors.js';
import { replicaPositions } from './placement.js';
import { keyPosition } from './sha1.js';
import { Xoshiro128 } from '../core/rng.js';
import { RING } from '../base/nodeid.js';
import { buildDhtNet, startOp, runUntilDone } from '../sim/scenarios/dht-scenario.js';
import { LatencyMatrix } from '../sim/network.js';
import { encode } from '../wire/overlay-codec.js';

const te = new TextEncoder();
const K = (s: string): Uint8Array => te.encode(s);

/** One node alone: routed messages loop back to itself. */
function lone(params: Partial<DhtParams> = {}): { d: DhtCore; call: (f: (cb: (r: OpResult) => void) => void) => OpResult } {
  const box: { d?: DhtCore } = {};
  const d = new DhtCore({ id: 42n, rng: new Xoshiro128(1), peers: () => [], route: (now, _dest, msg) => box.d!.receive(now, 42n, 0, msg) }, params);
  box.d = d;
  const call = (f: (cb: (r: OpResult) => void) => void): OpResult => { let r: OpResult | null = null; f((x) => { r = x; }); if (!r) throw new Error('no result'); return r; };
  return { d, call };
}

test('placement: SHA-1 first, the others spaced 2^160/R apart', (t) => {
  const p = replicaPositions(K('abc'), 8);
  t.is(p[0], keyPosition(K('abc')));
  for (let i = 1; i < 8; i++) t.is(((p[i]! - p[i - 1]!) % RING + RING) % RING, RING / 8n);
});

test('lone node: put / get / create / remove, and limits with stable codes', (t) => {
  const { d, call } = lone({ maxValuesPerKey: 3, maxEntriesPerOwner: 8 * 4 });
  t.true(call((cb) => d.put(0, K('k'), K('a'), 60_000, cb)).ok);
  const g = call((cb) => d.get(0, K('k'), cb));
  t.true(g.ok);
  t.is(g.replies, 5, 'a majority that agrees ends the read');
  t.deepEqual(g.agreed.map((v) => [v.value, v.replicas, v.ttlMs]), [[K('a'), 5, 60_000]]);
  t.false(g.disagreement);
  t.is(call((cb) => d.create(0, K('k'), K('b'), 60_000, cb)).code, 'exists');
  t.true(call((cb) => d.create(0, K('k2'), K('b'), 60_000, cb)).ok);
  t.true(call((cb) => d.create(0, K('k2'), K('b'), 60_000, cb)).ok, 'a repeated identical create is idempotent');
  t.true(call((cb) => d.put(0, K('k'), K('a2'), 60_000, cb)).ok);
  t.true(call((cb) => d.put(0, K('k'), K('a3'), 60_000, cb)).ok);
  t.is(call((cb) => d.put(0, K('k'), K('a4'), 60_000, cb)).code, 'too-many-values');
  t.is(call((cb) => d.put(0, K('k3'), K('x'), 60_000, cb)).code, 'owner-quota'); // 4 values x 8 positions held
  t.is(call((cb) => d.put(0, K('k'), new Uint8Array(1025), 60_000, cb)).code, 'value-too-large');
  t.is(call((cb) => d.put(0, new Uint8Array(256), K('x'), 60_000, cb)).code, 'key-too-large');
  t.is(call((cb) => d.put(0, K('k'), K('x'), 0, cb)).code, 'bad-ttl');
  t.true(call((cb) => d.remove(0, K('k'), K('a2'), cb)).ok);
  t.deepEqual(call((cb) => d.get(0, K('k'), cb)).agreed.map((v) => new TextDecoder().decode(v.value)).sort(), ['a', 'a3']);
});

test('replication numbers are configurable; impossible ones throw with a stable code', (t) => {
  const { d, call } = lone({ replicas: 4, majority: 3 });
  t.true(call((cb) => d.put(0, K('k'), K('v'), 1000, cb)).ok);
  t.is(d.store.size, 4);
  t.throws(() => lone({ replicas: 8, majority: 4 }), { message: /majority/ });
  const e = t.throws(() => lone({ replicas: 0, majority: 1 }));
  t.is((e as Error & { code?: string }).code, 'E_DHT_PARAMS');
});

test('lone node: leases are renewed at TTL/2 until stopped, then expire', (t) => {
  const { d, call } = lone();
  t.true(call((cb) => d.put(0, K('k'), K('live'), 10_000, cb)).ok);
  t.true(call((cb) => d.put(0, K('k'), K('dead'), 10_000, cb)).ok);
  t.true(d.stopRenewing(K('k'), K('dead')));
  for (let now = 0; now <= 30_000; now += 500) d.tick(now);
  const g = call((cb) => d.get(30_000, K('k'), cb));
  t.deepEqual(g.agreed.map((v) => new TextDecoder().decode(v.value)), ['live']);
  t.true(g.agreed[0]!.ttlMs > 4_000, 'renewed within the last half TTL');
  t.is(d.leaseCount, 1);
  t.true(d.store.expired >= 8);
});

test('hostile DHT messages on a 30-node overlay are refused and counted, never crash', (t) => {
  const net = buildDhtNet({ nodes: 30, seed: 4, matrix: LatencyMatrix.uniform(30, 40), settleMs: 10_000 });
  const src = net.h.nodes[5]!;
  const pos = keyPosition(K('evil'));
  src.routeInner(net.h.now, pos, { type: 'dht', op: 'put', reqId: 77, idx: 200, create: false, ttlMs: 1000, key: K('evil'), value: K('x') }, 'closest');
  src.routeInner(net.h.now, pos, { type: 'dht', op: 'put', reqId: 78, idx: 0, create: false, ttlMs: 1000, key: K('evil'), value: new Uint8Array(5000) }, 'closest');
  src.routeInner(net.h.now, pos, { type: 'dht', op: 'put', reqId: 79, idx: 0, create: false, ttlMs: 0, key: K('evil'), value: K('x') }, 'closest');
  src.routeInner(net.h.now, pos, { type: 'dht', op: 'transfer', entries: [{ idx: 99, key: K('evil'), owner: 1n, ttlMs: 5, value: K('x') }] }, 'closest');
  src.routeInner(net.h.now, pos, { type: 'dht', op: 'sync', requester: src.id, from: 0n, to: 1n, shift: 0, walk: 0, hopsLeft: 1 }, 'closest');
  net.h.drain(5);
  // garbage straight from a linked peer
  const peer = src.ringPeers()[0]!;
  src.receive(net.h.now, peer, Uint8Array.of(1, 9, 4, 0, 0));
  src.receive(net.h.now, peer, encode({ type: 'dht', op: 'get', reqId: 1, idx: 0, key: K('k') })); // DHT outside ROUTED
  net.h.run(net.h.now + 5_000);
  const drops: Record<string, number> = {};
  for (const d of net.dhts) if (d) for (const [k, v] of Object.entries(d.stats.drops)) drops[k] = (drops[k] ?? 0) + v;
  t.is(drops['refused-bad-index'], 1);
  t.is(drops['refused-value-too-large'], 1);
  t.is(drops['refused-bad-ttl'], 1);
  t.is(drops['transfer-invalid'], 1);
  t.is(drops['sync-invalid'], 1);
  t.is(drops['reply-late'], 3, 'the refusals came back to a sender that was not waiting');
  t.is(src.stats.drops['decode-truncated'], 1);
  t.is(src.stats.drops['unrouted-inner'], 1);
  // and the DHT still works
  const box = startOp(net, 7, { kind: 'put', key: K('fine'), value: K('v'), ttlMs: 60_000 });
  t.true(runUntilDone(net, [box]));
  t.true(box.result!.ok);
});
