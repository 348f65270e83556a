// Behaviour tests of the node state machine through its public API: RPC retransmission, path trace,
// delivery modes, liveness closing a silent peer, and determinism of the whole system under one seed.
import test from 'ava';
import { RpcManager } from './rpc.js';
import { OverlayNode } from './node.js';
import { Xoshiro128 } from './rng.js';
import { encode } from '../wire/overlay-codec.js';
import { ringDist } from './ring.js';
import { Harness } from '../sim/harness.js';
import { LatencyMatrix } from '../sim/network.js';
import { crawlNow, runUntilConsistent } from '../sim/measure.js';

test('rpc: retransmits after max(2 s, mean + 6σ), fails after 5 tries, learns RTT', (t) => {
  const sent: number[] = [];
  let now = 0;
  const rpc = new RpcManager({ minTimeoutMs: 2000, tries: 5 }, () => sent.push(now));
  let result = null as boolean | null;
  rpc.call(now, 1n, () => new Uint8Array(1), (ok) => { result = ok; });
  for (now = 0; now <= 20_000; now += 100) rpc.tick(now);
  t.deepEqual(sent, [0, 2000, 4000, 6000, 8000]);
  t.is(result, false);
  // replies teach it the RTT; with a wide spread the timeout grows past 2 s
  for (let i = 0; i < 20; i++) {
    const id = rpc.call(0, 2n, () => new Uint8Array(1), () => {});
    t.true(rpc.reply(i % 2 ? 100 : 1500, 2n, id));
  }
  t.true(rpc.timeoutMs() > 2000);
  t.false(rpc.reply(0, 2n, 999_999));
});

test('a lone seed is joined; a node with a bootstrap list asks for a leaf link by endpoint', (t) => {
  const seed = new OverlayNode({ id: 10n, endpoints: ['a'], rng: new Xoshiro128(1), bootstrap: [] });
  t.true(seed.joined);
  const n = new OverlayNode({ id: 20n, endpoints: ['b'], rng: new Xoshiro128(2), bootstrap: ['a'] });
  t.false(n.joined);
  n.tick(0);
  t.deepEqual(n.out.filter((o) => o.type === 'link'), [{ type: 'link', to: null, endpoints: ['a'] }]);
  n.out.length = 0;
  // hostile bytes from a linked peer are counted, never thrown
  n.linkUp(10, 10n, ['a']);
  n.receive(20, 10n, Uint8Array.of(1, 200, 3));
  n.receive(20, 99n, Uint8Array.of(1, 1, 0, 0, 0, 1));
  t.is(n.stats.drops['decode-bad-type'], 1);
  t.is(n.stats.drops['not-connected'], 1);
});

test('a ping from a peer we hold no connection with is answered with CLOSE; other messages and CLOSE are not', (t) => {
  const n = new OverlayNode({ id: 10n, endpoints: ['a'], rng: new Xoshiro128(1), bootstrap: [] });
  n.receive(0, 99n, encode({ type: 'status', joined: true, needs: 0, neighbours: [] }));
  n.receive(0, 99n, encode({ type: 'close', reason: 0 }));
  t.deepEqual(n.out, [], 'no answer to a status or a CLOSE');
  n.receive(0, 99n, encode({ type: 'ping', rpcId: 7 }));
  t.deepEqual(n.out, [{ type: 'send', to: 99n, bytes: encode({ type: 'close', reason: 0 }) }], 'the peer learns the connection is gone');
  t.is(n.stats.drops['not-connected'], 3);
});

function smallNet(nodes: number, seed: number): Harness {
  const h = new Harness({ capacity: nodes, seed, matrix: LatencyMatrix.uniform(nodes, 40) });
  for (let i = 0; i < nodes; i++) h.addNode(i * 50);
  h.run(nodes * 50 + 1000);
  return h;
}

test('path trace, exact / closest / directional delivery on a 40-node ring', (t) => {
  const h = smallNet(40, 11);
  t.not(runUntilConsistent(h, 60_000), null);
  h.run(h.now + 40_000);
  const got: { at: number; hops: number; trace?: bigint[] }[] = [];
  h.onDeliver = (at, o) => got.push({ at, hops: o.hops, trace: o.trace });
  const a = h.nodes[3] as OverlayNode, b = h.nodes[29] as OverlayNode;
  h.send(3, 29, Uint8Array.of(1), true);
  h.run(h.now + 5000);
  t.is(got.length, 1);
  const g = got[0]!;
  t.is(g.at, 29);
  t.deepEqual(g.trace?.[0], a.id);
  t.deepEqual(g.trace?.[g.trace.length - 1], b.id);
  t.is(g.trace?.length, g.hops + 1);
  // greedy: each hop strictly closer to the destination
  const tr = g.trace!;
  for (let i = 1; i < tr.length; i++) t.true(ringDist(tr[i]!, b.id) < ringDist(tr[i - 1]!, b.id));

  // closest mode to an address nobody has: delivered at the node nearest to it
  got.length = 0;
  const target = b.id + 1n;
  a.send(h.now, target, Uint8Array.of(2), { mode: 'closest' });
  h.drain(3);
  h.run(h.now + 5000);
  t.is(got.length, 1);
  let best = -1; let bestD = -1n;
  for (let i = 0; i < 40; i++) { const d = ringDist(h.nodes[i]!.id, target); if (best < 0 || d < bestD) { best = i; bestD = d; } }
  t.is(got[0]!.at, best);
  // exact mode to the same absent address is dropped with a reason, not delivered
  got.length = 0;
  a.send(h.now, target, Uint8Array.of(3));
  h.drain(3);
  h.run(h.now + 5000);
  t.is(got.length, 0);
  t.true((h.nodeDrops()['no-route'] ?? 0) + (h.nodeDrops()['not-for-me'] ?? 0) >= 1);
  // directional, ttl 2: the second node to the right
  got.length = 0;
  a.send(h.now, a.id, Uint8Array.of(4), { mode: 'directional', ttl: 2 });
  h.drain(3);
  h.run(h.now + 5000);
  t.is(got.length, 1);
  const sorted = h.nodes.map((n, i) => ({ i, id: n!.id })).sort((x, y) => (x.id < y.id ? -1 : 1));
  const pos = sorted.findIndex((x) => x.i === 3);
  t.is(got[0]!.at, sorted[(pos + 2) % 40]!.i);
});

test('liveness: a crashed neighbour is pinged after 15 s of silence and closed after failed pings', (t) => {
  const h = smallNet(30, 12);
  t.not(runUntilConsistent(h, 60_000), null);
  h.run(h.now + 30_000);
  const victim = 17;
  const vid = h.nodes[victim]!.id;
  const holders = h.liveIndices().filter((i) => h.nodes[i]!.table.has(vid));
  t.true(holders.length >= 4);
  h.crash(victim);
  const t0 = h.now;
  // silence counts from the last frame heard, so a ping may already be under way at the crash:
  // the earliest close is 4 retransmissions (8 s) after the crash, the latest 15 s + 5 tries + a tick
  const closedAt = new Map<number, number>();
  for (let s = t0; s <= t0 + 27_000; s += 100) {
    h.run(s);
    for (const i of holders) if (!closedAt.has(i) && !h.nodes[i]!.table.has(vid)) closedAt.set(i, h.now - t0);
  }
  t.log(`closed after (ms): ${[...closedAt.values()].sort((a, b) => a - b).join(', ')}`);
  t.is(closedAt.size, holders.length, 'everyone closed it after the pings failed');
  t.true([...closedAt.values()].every((d) => d >= 7_900), 'nobody closes before its pings had time to fail');
  t.true((h.nodeDrops()['no-link'] ?? 0) === 0);
  t.not(runUntilConsistent(h, 30_000), null);
  t.true(crawlNow(h).ok);
});

test('same seed, same result', (t) => {
  const run = (): string => {
    const h = smallNet(60, 99);
    h.run(h.now + 20_000);
    const v = [...h.view()].map(([id, n]) => `${id}:${n.left1}:${n.right1}`).join('|');
    return `${h.events}/${v}`;
  };
  t.is(run(), run());
});

test('on-demand: two nodes that exchange traffic get a direct link, dropped after it idles', (t) => {
  const h = new Harness({ capacity: 40, seed: 21, matrix: LatencyMatrix.uniform(40, 40), params: { onDemandIdleMs: 20_000 } });
  for (let i = 0; i < 40; i++) h.addNode(i * 50);
  h.run(60_000);
  // a pair that is not linked yet (and not bootstrap nodes, which re-bootstrap probes may link to)
  let a = -1, b = -1;
  for (let i = 3; i < 40 && a < 0; i++) for (let j = 3; j < 40; j++) {
    if (i !== j && !h.nodes[i]!.table.has(h.nodes[j]!.id)) { a = i; b = j; break; }
  }
  t.true(a >= 0);
  const A = h.nodes[a]!, B = h.nodes[b]!;
  h.send(a, b, Uint8Array.of(1));
  h.run(h.now + 3_000);
  t.false(A.table.has(B.id), 'one-way traffic does not make a link');
  h.send(b, a, Uint8Array.of(2));
  h.run(h.now + 3_000);
  t.true(A.table.has(B.id) && B.table.has(A.id), 'traffic both ways makes a link');
  t.true(((A.table.get(B.id)?.local ?? 0) & 8) !== 0, 'kind on-demand');
  // route now takes one hop
  let hops = -1;
  h.onDeliver = (_at, o) => { hops = o.hops; };
  h.send(a, b, Uint8Array.of(3));
  h.run(h.now + 2_000);
  t.is(hops, 1);
  // idle: the kind is dropped after onDemandIdleMs, the link trimmed after trimDelayMs
  h.run(h.now + 20_000 + 30_000 + 5_000);
  t.false(A.table.has(B.id));
  t.false(B.table.has(A.id));
});
