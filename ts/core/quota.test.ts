// Tests the per-member quotas: the token buckets themselves, and a member of a 30-node ring that floods
// its neighbour with CONTROL messages, connect-to-me requests, broadcasts and DHT puts: it is throttled
// and counted per kind, and the ring stays consistent.
import test from 'ava';
import { DEFAULT_QUOTAS, QUOTA_TABLE_MAX, Quotas } from './quota.js';
import { encode } from '../wire/overlay-codec.js';
import { Harness } from '../sim/harness.js';
import { LatencyMatrix } from '../sim/network.js';
import { crawlNow, runUntilConsistent } from '../sim/measure.js';

test('a bucket per (kind, member): burst, then the steady rate; refusals are counted per kind and member', (t) => {
  const q = new Quotas({ ...DEFAULT_QUOTAS, ctm: { perSec: 2, burst: 5 } });
  let ok = 0;
  for (let i = 0; i < 100; i++) if (q.allow('ctm', 7n, 1000)) ok++;
  t.is(ok, 5, 'the burst');
  t.true(q.allow('ctm', 8n, 1000), 'another member has its own bucket');
  t.true(q.allow('bcast', 7n, 1000), 'and another kind its own');
  t.false(q.allow('ctm', 7n, 1400));
  t.true(q.allow('ctm', 7n, 1500), 'one token per 500 ms at 2/s');
  t.is(q.status().throttled.ctm, 96);
  t.deepEqual(q.status().members, [{ nodeId: (7n).toString(16).padStart(40, '0'), throttled: 96 }]);
});

test('the table is bounded whatever ids members claim', (t) => {
  const q = new Quotas();
  for (let i = 0; i < QUOTA_TABLE_MAX * 5; i++) q.allow('ctm', BigInt(i), 0);
  t.true((q as unknown as { buckets: Map<string, unknown> }).buckets.size <= QUOTA_TABLE_MAX);
});

test('a member flooding its neighbour is throttled per kind and counted; the ring stays consistent', (t) => {
  const n = 30;
  const h = new Harness({ capacity: n, seed: 21, matrix: LatencyMatrix.uniform(n, 40) });
  for (let i = 0; i < n; i++) h.addNode(i * 50);
  h.run(n * 50 + 1000);
  t.not(runUntilConsistent(h, 90_000), null, 'the ring formed');
  h.run(h.now + 20_000);
  const H = h.nodes[5]!;
  const vIdx = h.liveIndices().find((i) => i !== 5 && h.nodes[i]!.table.has(H.id))!;
  const V = h.nodes[vIdx]!;
  const t0 = h.now;
  // count what the victim's quotas let through, per kind
  const allowed: Record<string, number> = {};
  const allow = V.quotas.allow.bind(V.quotas);
  V.quotas.allow = (kind, id, now) => { const ok = allow(kind, id, now); if (ok && id === H.id) allowed[kind] = (allowed[kind] ?? 0) + 1; return ok; };
  // one second of flood from H over its link to V, on top of the ring's own traffic
  const N = 20_000;
  h.at(t0 + 1, () => {
    for (let i = 0; i < N; i++) {
      const now = t0 + 1 + (i * 1000) / N;
      switch (i % 4) {
        case 0: V.receive(now, H.id, encode({ type: 'ping', rpcId: i })); break;
        case 1: V.receive(now, H.id, encode({ type: 'routed', mode: 'exact', dir: 'right', ttl: 8, hops: 0, src: H.id, dest: V.id, inner: { type: 'ctm', token: i, kind: 0, endpoints: ['s5'] } })); break;
        case 2: V.receive(now, H.id, encode({ type: 'bcast', origin: H.id, seq: i, end: V.id, hops: 0, payload: Uint8Array.of(1) })); break;
        case 3: V.receive(now, H.id, encode({ type: 'routed', mode: 'closest', dir: 'right', ttl: 8, hops: 0, src: H.id, dest: V.id, inner: { type: 'dht', op: 'put', reqId: i, idx: 0, create: false, ttlMs: 60_000, key: Uint8Array.of(i & 0xff, i >> 8), value: Uint8Array.of(1) } })); break;
      }
    }
    h.drain(vIdx);
  });
  h.run(t0 + 2000);
  const d = V.stats.drops;
  V.quotas.allow = allow;
  t.log(`victim drops: ${JSON.stringify(d)}; allowed from the flooder ${JSON.stringify(allowed)}`);
  const c = DEFAULT_QUOTAS.control;
  const passed = allowed.control ?? 0;
  t.true(passed <= c.burst + c.perSec * 2.1, `${passed} of ${N} CONTROL messages passed the link's quota`);
  t.true((d['quota-control'] ?? 0) > 0);
  // of what passed the link, each kind is held to its own quota
  for (const [kind, rule] of [['ctm', DEFAULT_QUOTAS.ctm], ['bcast', DEFAULT_QUOTAS.bcast], ['dht-put', DEFAULT_QUOTAS['dht-put']]] as const) {
    t.true((d[`quota-${kind}`] ?? 0) > 0, `${kind} throttled`);
    t.is(V.quotas.status().throttled[kind], d[`quota-${kind}`] ?? 0);
    t.true((allowed[kind] ?? 0) <= rule.burst + rule.perSec * 2.1, `${kind}: ${allowed[kind]} got through, at most the burst and the rate`);
  }
  t.is(V.quotas.status().members[0]?.nodeId, H.id.toString(16).padStart(40, '0'), 'the flooder is named in status');
  h.run(h.now + 60_000);
  t.is(crawlNow(h).consistency, 1, 'the ring is still consistent');
  t.true(V.table.has(H.id), 'the flooder was throttled, not disconnected (its legitimate messages pass again)');
});
