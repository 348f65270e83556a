// Group discovery's rules against a DHT held in a map: the realm key, registration with a lease and its
// retry, reads outwards from our bucket until the nearest members on both sides are certain, links asked
// only for unlinked nearest members, the join and steady read rates, junk records ignored.
import test from 'ava';
import { RING, idFromBytes, idToBytes, type NodeId } from '../base/nodeid.js';
import type { NodeDht } from './address-claim.js';
import { Counters } from './io.js';
import { bucketOf, DEFAULT_DISCOVERY, discoveryKey, encodeRecord, GroupDiscovery, nearestMembers, type DiscoveryHost } from './group-discovery.js';

/** synthetic ids: a member's "static key" is its id's 20 bytes, padded (idOfKey below reads them back) */
const keyOf = (id: NodeId): Uint8Array => { const k = new Uint8Array(32); k.set(idToBytes(id)); return k; };
const idOfKey = (k: Uint8Array): NodeId => idFromBytes(k.subarray(0, 20));
import { realmOf } from '../pki/realm.js';

type Value = { owner: NodeId; value: Uint8Array };

/** A DHT in a map, answering at once (or failing every op while `down`). */
class MapDht {
  readonly data = new Map<string, Value[]>();
  gets: string[] = [];
  puts: { key: string; ttlMs: number }[] = [];
  down = false;
  constructor(private readonly owner: () => NodeId) {}
  view(): NodeDht {
    const fail = { ok: false as const, code: 'timeout', values: [] };
    return {
      put: (k, v, ttlMs, cb) => {
        const key = new TextDecoder().decode(k);
        this.puts.push({ key, ttlMs });
        if (this.down) { cb(fail as never); return; }
        const vs = (this.data.get(key) ?? []).filter((x) => x.owner !== this.owner());
        this.data.set(key, [...vs, { owner: this.owner(), value: v }]);
        cb({ ok: true, values: [] } as never);
      },
      create: () => { throw new Error('not used'); },
      get: (k, cb) => {
        const key = new TextDecoder().decode(k);
        this.gets.push(key);
        cb(this.down ? fail as never : { ok: true, values: this.data.get(key) ?? [] } as never);
      },
      remove: () => { throw new Error('not used'); },
    };
  }
  /** other members' records, as their own puts would leave them */
  seed(realm: Uint8Array, members: NodeId[], buckets = DEFAULT_DISCOVERY.buckets, value?: Uint8Array): void {
    for (const m of members) {
      const key = new TextDecoder().decode(discoveryKey(realm, bucketOf(m, buckets)));
      this.data.set(key, [...(this.data.get(key) ?? []), { owner: m, value: value ?? encodeRecord(keyOf(m)) }]);
    }
  }
}

const at = (frac: number): NodeId => (RING * BigInt(Math.round(frac * 1e9))) / 1_000_000_000n;
const REALM = realmOf(Uint8Array.of(1, 2, 3));

function setup(self: NodeId, members: NodeId[], linked = new Set<NodeId>()) {
  const dht = new MapDht(() => self);
  dht.seed(REALM, members);
  const asked: NodeId[] = [];
  let settled = false;
  const host: DiscoveryHost = {
    dht: dht.view(), joined: () => true, settled: () => settled,
    linked: (m) => linked.has(m), link: (m, key) => { if (idOfKey(key) === m) asked.push(m); }, idOfKey,
  };
  const counters = new Counters();
  const d = new GroupDiscovery(REALM, self, keyOf(self), host, counters);
  return { d, dht, asked, counters, settle: () => { settled = true; } };
}

test('the realm key: a hash of the CA certificate (not guessable from the group name), bucketed by the top bits of the member id', (t) => {
  t.is(REALM.length, 16);
  t.notDeepEqual(realmOf(Uint8Array.of(1, 2, 4)), REALM, 'another CA, another realm');
  t.is(new TextDecoder().decode(discoveryKey(REALM, 5)), `private:${Buffer.from(REALM).toString('hex')}:5`);
  t.is(bucketOf(0n, 16), 0);
  t.is(bucketOf(RING - 1n, 16), 15);
  t.is(bucketOf(at(0.5), 16), 8);
  t.is(bucketOf(at(0.7), 1), 0);
  t.throws(() => new GroupDiscovery(REALM, 0n, keyOf(0n), {} as DiscoveryHost, new Counters(), { ...DEFAULT_DISCOVERY, buckets: 12 }), { instanceOf: RangeError });
});

test('nearest members: reach positions on each side in ring order, wrapping around, each once', (t) => {
  const self = at(0.5);
  const ms = [at(0.1), at(0.45), at(0.48), at(0.52), at(0.6), at(0.9), self];
  t.deepEqual(nearestMembers(self, ms, 2), [at(0.52), at(0.48), at(0.6), at(0.45)]);
  t.deepEqual(nearestMembers(at(0.95), [at(0.05), at(0.9), at(0.5)], 1), [at(0.05), at(0.9)], 'across 0');
  t.deepEqual(nearestMembers(self, [at(0.2), at(0.7)], 2), [at(0.7), at(0.2)], 'a group of three: the other two once');
  t.deepEqual(nearestMembers(self, [], 2), []);
});

test('registration: a leased record in our bucket once joined; a failed put is tried again after retryMs', (t) => {
  const self = at(0.3);
  const { d, dht, counters } = setup(self, []);
  let joined = false;
  const d2 = new GroupDiscovery(REALM, self, keyOf(self), { dht: dht.view(), joined: () => joined, settled: () => false, linked: () => false, link: () => {}, idOfKey }, counters);
  d2.at(0).tick();
  t.deepEqual(dht.puts, [], 'nothing before the public overlay has joined');
  joined = true;
  dht.down = true;
  d2.at(1000).tick();
  t.deepEqual(dht.puts, [{ key: new TextDecoder().decode(discoveryKey(REALM, bucketOf(self, 16))), ttlMs: 3_600_000 }]);
  d2.at(3000).tick();
  t.is(dht.puts.length, 1, 'not again before the retry time');
  dht.down = false;
  d2.at(6000).tick();
  t.is(dht.puts.length, 2, 'tried again');
  t.true(d2.status().registered);
  d2.at(7000).tick();
  t.is(dht.puts.length, 2, 'the DHT renews the lease; no put per tick');
  t.is(counters.values.discovery_put_failed, 1);
  t.is(counters.values.discovery_put, 1);
  t.truthy(d);
});

test('a read starts in our bucket and goes outwards only until the nearest members on both sides are certain', (t) => {
  const self = at(0.5 + 0.01);
  // a crowded bucket 8 (0.5 .. 0.5625): both sides of self certain after one read
  const crowded = [at(0.501), at(0.505), at(0.52), at(0.53), at(0.9)];
  const a = setup(self, crowded);
  a.d.at(0).tick();
  t.is(a.dht.gets.length, 1, `one bucket read: ${a.dht.gets.join(' ')}`);
  t.deepEqual(a.asked, [at(0.52), at(0.505), at(0.53), at(0.501)]);
  // a sparse group: the left neighbours are far away, read until found
  const sparse = [at(0.52), at(0.54), at(0.2), at(0.1)];
  const b = setup(self, sparse);
  b.d.at(0).tick();
  t.deepEqual(b.asked, [at(0.52), at(0.2), at(0.54), at(0.1)]);
  t.true(b.dht.gets.length > 1 && b.dht.gets.length < 16, `read ${b.dht.gets.length} buckets`);
  t.is(b.d.status().lastRead?.members, 4);
  // a group of two: every bucket is read, the other member is linked
  const c = setup(self, [at(0.05)]);
  c.d.at(0).tick();
  t.is(c.dht.gets.length, 16);
  t.deepEqual(c.asked, [at(0.05)]);
});

test('links are asked only for unlinked nearest members; reads every 10 s until the ring is settled, then every 300 s', (t) => {
  const self = at(0.5);
  const ms = [at(0.49), at(0.48), at(0.51), at(0.52), at(0.8)];
  const linked = new Set([at(0.49), at(0.51)]);
  const s = setup(self, ms, linked);
  s.d.at(0).tick();
  t.deepEqual(s.asked, [at(0.52), at(0.48)], 'the linked neighbours are not asked again; the far member not at all');
  const reads = () => s.counters.values.discovery_read ?? 0;
  s.d.at(5_000).tick();
  t.is(reads(), 1);
  s.d.at(10_000).tick();
  t.is(reads(), 2, 'joining: read again after 10 s');
  s.settle();
  s.d.at(20_000).tick();
  t.is(reads(), 3);
  s.d.at(200_000).tick();
  t.is(reads(), 3, 'settled: no read for 300 s');
  s.d.soon();
  s.d.at(200_500).tick();
  t.is(reads(), 4, 'unless asked to read soon (a ring neighbour was lost)');
  t.is(s.d.status().nextReadInMs, 300_000);
});

test('a record that is not a member record (another version byte, empty, a key that is not its owner\'s) is ignored and counted', (t) => {
  const self = at(0.5);
  const s = setup(self, [at(0.55)]);
  s.dht.seed(REALM, [at(0.45)], 16, Uint8Array.of(9));
  s.dht.seed(REALM, [at(0.46)], 16, new Uint8Array(0));
  s.dht.seed(REALM, [at(0.47)], 16, encodeRecord(keyOf(at(0.48))));
  s.d.at(0).tick();
  t.deepEqual(s.asked, [at(0.55)]);
  t.is(s.counters.values.discovery_bad_record, 3);
  t.deepEqual(s.d.keys.get(at(0.55)), keyOf(at(0.55)), 'a member\'s key comes with its record');
});

test('two halves of a group that formed apart merge: each side asks for links across the split', (t) => {
  const left = [at(0.1), at(0.2), at(0.3)], right = [at(0.6), at(0.7), at(0.8)];
  const all = [...left, ...right];
  const asked = new Map<NodeId, NodeId[]>();
  for (const self of all) {
    const half = new Set(left.includes(self) ? left : right);
    const s = setup(self, all, half);
    s.d.at(0).tick();
    asked.set(self, s.asked);
  }
  // the members at the edges of each half ask for the nearest members of the other half
  t.deepEqual(asked.get(at(0.3)), [at(0.6), at(0.7)]);
  t.deepEqual(asked.get(at(0.6)), [at(0.3), at(0.2)]);
  t.deepEqual(asked.get(at(0.1)), [at(0.8), at(0.7)]);
  t.true([...asked.values()].every((l) => l.every((m) => !(left.includes(m) && right.includes(m)))));
});

test('ready: after the first read, once the ring has its neighbours, or at once when nobody else is there (and it stays)', (t) => {
  const alone = setup(at(0.5), []);
  t.false(alone.d.ready(), 'not before the first read');
  alone.d.at(0).tick();
  t.true(alone.d.ready(), 'the first member: nobody else to wait for');
  const s = setup(at(0.5), [at(0.4), at(0.6)]);
  s.d.at(0).tick();
  t.false(s.d.ready(), 'members seen, the ring not formed yet');
  s.settle();
  t.true(s.d.ready());
});
