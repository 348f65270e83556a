// RelayLinks alone over a stand-in link table: the two relay policies rank common neighbours as the
// issue says (latency: lowest RTT sum through the relay; stability: the oldest links on both sides),
// keep the rest in reserve and fail over to it; with no reserve left a new relay is sought at the next
// tick; the smaller id follows the far end's fail-over off a silent relay; a sync whose key does not hash
// to its sender is refused.
import test from 'ava';
import { nodeIdOfKey, type NodeId } from '../base/nodeid.js';
import type { AppMsg } from '../wire/app.js';
import { Counters } from './io.js';
import type { LinkTable } from './link-table.js';
import type { LinkPeer } from './link-peer.js';
import { DEFAULT_RELAY, RelayLinks, type RelayPolicy } from './relay-links.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const key = (b: number): Uint8Array => new Uint8Array(32).fill(b);
const SELF = nodeIdOfKey(key(1)), FAR_KEY = key(2), FAR = nodeIdOfKey(FAR_KEY);
const R1 = 101n, R2 = 102n, R3 = 103n;

function setup(policy: RelayPolicy) {
  const now = 1_000_000;
  // our direct links: R1 old and slow, R2 young and fast, R3 not linked on the far side
  const direct = new Map<NodeId, Partial<LinkPeer>>([
    [R1, { nodeId: R1, linkedAt: now - 1_000_000, rttMs: 50, endpoint: '1.0.0.1:1' }],
    [R2, { nodeId: R2, linkedAt: now - 10_000, rttMs: 5, endpoint: '1.0.0.2:1' }],
    [R3, { nodeId: R3, linkedAt: now - 500_000, rttMs: 1, endpoint: '1.0.0.3:1' }],
  ]);
  const calls: { far: NodeId; hop: NodeId | null; initiate: boolean }[] = [];
  const table = {
    directLinks: () => [...direct.values()],
    peerOf: () => undefined,
    setRelay: (far: NodeId, hop: NodeId | null, _k: Uint8Array | null, initiate: boolean) => { calls.push({ far, hop, initiate }); return {}; },
    probeDirect: () => {},
    relayLost: () => {},
    link: () => {},
  } as unknown as LinkTable;
  const sent: AppMsg[] = [], kept: [NodeId, boolean][] = [];
  const fullSet = new Set<NodeId>(), refusing = new Set<NodeId>();
  const heard = new Map<NodeId, number>();
  const counters = new Counters();
  const r = new RelayLinks({ ...DEFAULT_RELAY, policy }, SELF, key(1), table, {
    send: (_to, m) => sent.push(m), keep: (hop, on) => kept.push([hop, on]), rtt: () => null, endpoints: () => ['9.9.9.9:1'], full: (id) => fullSet.has(id) || refusing.has(id), refuses: (id) => refusing.has(id), heardAt: (id) => heard.get(id) ?? null,
  }, counters, quiet).at(now);
  const theirs = [
    { id: R1, ageS: 900, rttMs: 40, endpoints: [] },
    { id: R2, ageS: 20, rttMs: 5, endpoints: [] },
    { id: 999n, ageS: 5000, rttMs: 1, endpoints: [] },
  ];
  return { r, calls, sent, kept, theirs, direct, fullSet, refusing, heard, counters };
}

test('latency policy: the common neighbour with the lowest RTT through it, the other in reserve', (t) => {
  const { r, calls, sent, kept, theirs } = setup('latency');
  r.onSync(FAR, { app: 'relay-sync', reply: false, key: FAR_KEY, endpoints: [], candidates: theirs });
  t.is(sent.length, 1, 'a request is answered with our own links');
  t.like(sent[0], { app: 'relay-sync', reply: true });
  t.deepEqual(calls, [{ far: FAR, hop: R2, initiate: SELF < FAR }]);
  t.deepEqual(kept, [[R2, true]]);
  t.deepEqual(r.list().map((x) => [x.relay, x.reserve]), [[R2, 1]]);
});

test('stability policy: the oldest links on both sides win (not the youngest, as Brunet\'s code does)', (t) => {
  const { r, calls, theirs } = setup('stability');
  r.onSync(FAR, { app: 'relay-sync', reply: true, key: FAR_KEY, endpoints: [], candidates: theirs });
  t.deepEqual(calls.map((c) => c.hop), [R1]);
});

test('fail-over: the relay goes down, the link moves to the reserve; with none left it is lost', (t) => {
  const { r, calls, kept, theirs, direct } = setup('latency');
  r.onSync(FAR, { app: 'relay-sync', reply: true, key: FAR_KEY, endpoints: [], candidates: theirs });
  direct.delete(R2);
  r.down(R2);
  t.deepEqual(calls.map((c) => c.hop), [R2, R1]);
  t.is(r.stats.failovers, 1);
  t.deepEqual(kept.at(-1), [R1, true]);
  direct.delete(R1);
  r.down(R1);
  t.is(r.stats.lost, 1);
  t.is(r.links.size, 0);
});

test('a link whose relay died with no reserve left seeks a new relay at the next tick, not before (the dead link would carry the sync)', (t) => {
  const { r, sent, theirs, direct, counters } = setup('latency');
  r.onSync(FAR, { app: 'relay-sync', reply: true, key: FAR_KEY, endpoints: [], candidates: theirs });
  direct.clear();
  const before = sent.length;
  r.down(R2);
  t.is(r.stats.lost, 1);
  t.is(sent.length, before, 'nothing sent while the overlay still holds the dead link');
  r.at(1_000_500).tick();
  t.is(sent.length, before + 1);
  t.like(sent.at(-1), { app: 'relay-sync', reply: false });
  t.is(counters.values.relay_resync, 1);
  r.at(1_001_000).tick();
  t.is(sent.length, before + 1, 'once');
});

test('the smaller id follows the far end\'s fail-over to another relay when its own relay is silent, and keeps it when heard lately', (t) => {
  t.true(SELF < FAR, 'the test is written for the smaller id (the end whose choice binds)');
  const failover = (theirs: ReturnType<typeof setup>['theirs']) => ({ app: 'relay-sync' as const, reply: true, uses: true, key: FAR_KEY, endpoints: [], candidates: [theirs[0]!, theirs[1]!] });
  const now = 1_000_000;
  {
    const { r, calls, theirs, heard } = setup('latency');
    r.onSync(FAR, { app: 'relay-sync', reply: true, key: FAR_KEY, endpoints: [], candidates: theirs });
    t.is(calls.at(-1)?.hop, R2);
    heard.set(R2, now - 500);
    r.onSync(FAR, failover(theirs));
    t.is(calls.at(-1)?.hop, R2, 'a relay heard 0.5 s ago stays');
  }
  {
    const { r, calls, theirs, heard } = setup('latency');
    r.onSync(FAR, { app: 'relay-sync', reply: true, key: FAR_KEY, endpoints: [], candidates: theirs });
    heard.set(R2, now - 3_000);
    r.onSync(FAR, failover(theirs));
    t.is(calls.at(-1)?.hop, R1, 'a relay silent for 3 s gives way to the far end\'s choice');
    t.is(r.links.get(FAR)?.hop, R1);
  }
});

test('a failed ping to the far end moves the link to a reserve when the relay is silent too, not when the relay was heard since', (t) => {
  const { r, calls, kept, theirs, heard } = setup('latency');
  const t0 = 1_000_000; // the link is made at t0
  r.onSync(FAR, { app: 'relay-sync', reply: true, key: FAR_KEY, endpoints: [], candidates: theirs });
  t.deepEqual(calls.map((c) => c.hop), [R2]);
  // the relay answered after the ping began: the far end is the one gone, the link is not moved
  heard.set(R2, t0 + 1_500);
  t.false(r.at(t0 + 4_000).pathFailed(FAR, t0 + 1_000));
  t.is(r.stats.failovers, 0);
  // the relay silent since the ping began: the link moves to the reserve, which the next ping tries
  heard.set(R2, t0 + 900);
  t.true(r.at(t0 + 4_000).pathFailed(FAR, t0 + 1_000));
  t.deepEqual(calls.map((c) => c.hop), [R2, R1]);
  t.deepEqual(kept.slice(-2), [[R2, false], [R1, true]], 'the silent relay released, the new one kept');
  t.deepEqual(r.list().map((x) => [x.relay, x.reserve]), [[R1, 0]]);
  // a ping that began before that move failed too: it said nothing about the new relay
  t.true(r.at(t0 + 4_500).pathFailed(FAR, t0 + 2_000));
  t.is(r.stats.failovers, 1);
  // no reserve left: the overlay declares the far end dead as before
  heard.set(R1, t0 + 4_000);
  t.false(r.at(t0 + 8_000).pathFailed(FAR, t0 + 5_000));
  t.false(r.pathFailed(999n, 0), 'a peer that is not relayed');
});

test('a sync whose key is not the sender\'s is refused; no common neighbour links to one of theirs', (t) => {
  const { r, calls } = setup('latency');
  const c = new Counters();
  (r as unknown as { counters: Counters }).counters = c;
  r.onSync(FAR, { app: 'relay-sync', reply: true, key: key(7), endpoints: [], candidates: [] });
  t.is(c.values.relay_sync_bad_key, 1);
  r.onSync(FAR, { app: 'relay-sync', reply: true, key: FAR_KEY, endpoints: [], candidates: [{ id: 555n, ageS: 1, rttMs: 1, endpoints: ['5.5.5.5:5'] }] });
  t.is(calls.length, 0);
  t.is(r.stats.noOverlap, 1);
  t.is(r.stats.overlapLinks, 1);
});

test('load: a full neighbour is offered and chosen last; one that refuses (its data plane at its limit) carries no new relay link', (t) => {
  const { r, calls, sent, theirs, fullSet, refusing } = setup('latency');
  fullSet.add(R2);
  r.onSync(FAR, { app: 'relay-sync', reply: false, key: FAR_KEY, endpoints: [], candidates: theirs });
  t.deepEqual(calls.map((c) => c.hop), [R1], 'R2 (fastest) is full: R1');
  const offered = sent[0]!.app === 'relay-sync' ? sent[0]!.candidates.map((c) => c.id) : [];
  t.is(offered.at(-1), R2, 'offered last to the other side');
  fullSet.add(R1);
  r.onSync(FAR, { app: 'relay-sync', reply: true, key: FAR_KEY, endpoints: [], candidates: theirs });
  t.deepEqual(calls.map((c) => c.hop), [R1, R1], 'a link a full relay already carries stays on it');
  const far2Key = key(3), far2 = nodeIdOfKey(far2Key);
  r.onSync(far2, { app: 'relay-sync', reply: true, key: far2Key, endpoints: [], candidates: theirs });
  t.deepEqual(calls.map((c) => c.hop), [R1, R1, R2], 'every shared relay full: the best of them all the same, so a new pair keeps a path');
  refusing.add(R1).add(R2);
  const far3Key = key(4), far3 = nodeIdOfKey(far3Key);
  r.onSync(far3, { app: 'relay-sync', reply: true, key: far3Key, endpoints: [], candidates: theirs });
  t.is(calls.length, 3, 'every shared relay refuses: no new relay link (the pair stays on overlay routing)');
  t.false(r.links.has(far3));
});

test('both ends carry a link through the same relay, though their own rankings differ (the smaller id decides)', (t) => {
  const now = 1_000_000;
  type Side = { r: RelayLinks; id: NodeId; hop: () => NodeId | undefined };
  const inbox: { to: NodeId; from: NodeId; m: AppMsg }[] = [];
  const side = (k: Uint8Array, rtts: Map<NodeId, number>): Side => {
    const id = nodeIdOfKey(k);
    const direct = [...rtts.keys()].map((n) => ({ nodeId: n, linkedAt: now - 1000, rttMs: rtts.get(n)!, endpoint: '1.0.0.1:1' }));
    const table = {
      directLinks: () => direct, peerOf: () => undefined, setRelay: () => ({}), probeDirect: () => {}, relayLost: () => {}, link: () => {},
    } as unknown as LinkTable;
    const r = new RelayLinks({ ...DEFAULT_RELAY, policy: 'latency' }, id, k, table, {
      send: (to, m) => inbox.push({ to, from: id, m }), keep: () => {}, rtt: (n) => rtts.get(n) ?? null, endpoints: () => [], full: () => false, refuses: () => false, heardAt: () => null,
    }, new Counters(), quiet).at(now);
    return { r, id, hop: () => r.links.get(id === a.id ? b.id : a.id)?.hop };
  };
  // each side sees a different relay as the fastest (its own link to it is fast, and the other side's RTT report is the same)
  const a: Side = side(key(1), new Map([[R1, 1], [R2, 30]]));
  const b: Side = side(key(2), new Map([[R1, 30], [R2, 1]]));
  const deliver = (): void => {
    for (let i = 0; i < 20 && inbox.length; i++) {
      const x = inbox.shift()!;
      const to = x.to === a.id ? a : b;
      if (x.m.app === 'relay-sync') to.r.onSync(x.from, x.m);
    }
  };
  a.r.wanted(b.id, now);
  deliver();
  t.truthy(a.hop());
  t.is(a.hop(), b.hop(), 'one relay for both directions');
  const decider = a.id < b.id ? a : b;
  const before = decider.hop();
  // the other end asks again (a fresh request): the decider keeps its relay, the other end follows it
  (decider === a ? b : a).r.links.clear();
  (decider === a ? b : a).r.wanted(decider.id, now, undefined, true);
  deliver();
  t.is(decider.hop(), before);
  t.is(a.hop(), b.hop());
});

test('a common neighbour beyond the 16 links we offer is found: two well-linked nodes may offer disjoint lists', (t) => {
  const { r, calls, direct } = setup('latency');
  // 20 fast links of ours the far side does not have: they fill the 16 we offer; R1 (50 ms) is not among them
  for (let i = 0; i < 20; i++) direct.set(BigInt(200 + i), { nodeId: BigInt(200 + i), linkedAt: 0, rttMs: 1, endpoint: `1.0.1.${i}:1` });
  const offered = (r as unknown as { candidates(): { id: NodeId }[] }).candidates().map((c) => c.id);
  t.false(offered.includes(R1), 'R1 is not in the list we offer');
  r.onSync(FAR, { app: 'relay-sync', reply: true, key: FAR_KEY, endpoints: [], candidates: [{ id: R1, ageS: 900, rttMs: 40, endpoints: [] }] });
  t.deepEqual(calls.map((c) => c.hop), [R1], 'their only candidate is a direct link of ours all the same');
});
