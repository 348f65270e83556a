import test from 'ava';
import { claimAddress, candidate, lookupAddress, lookupHost, serviceAddress, dhtKeys, type Dht } from './addressing.js';
import { parseCidr } from '../config/schema.js';
import type { OpResult, ValueView } from '../dht/result.js';
import type { NodeId } from '../core/nodeid.js';
import { nodeIdOfKey } from '../pki/identity.js';
import { randomBytes } from 'node:crypto';

const keyOf = new Map<NodeId, Uint8Array>();
/** A node with a real key: its id is the hash of the key (self-certifying). */
function mk(): NodeId { const k = new Uint8Array(randomBytes(32)); const id = nodeIdOfKey(k); keyOf.set(id, k); return id; }

/** A one-replica DHT with the real create semantics (put-if-absent; the same owner and value refreshes). */
function fakeDht(owner: NodeId, store: Map<string, ValueView[]>): Dht {
  const k = (b: Uint8Array) => Buffer.from(b).toString('hex');
  const res = (ok: boolean, code: string, values: ValueView[]): OpResult =>
    ({ ok, code, replies: 1, accepted: ok ? 1 : 0, values, agreed: values, disagreement: false, hops: 0, latencyMs: 0 }) as OpResult;
  const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));
  return {
    async create(key, value) {
      const vs = store.get(k(key)) ?? [];
      if (vs.length && !vs.some((v) => v.owner === owner && same(v.value, value))) throw Object.assign(new Error('exists'), { code: 'exists', result: res(false, 'exists', vs) });
      if (!vs.length) store.set(k(key), [{ value, owner, ttlMs: 1000, replicas: 1 }]);
      return res(true, 'ok', []);
    },
    async put(key, value) {
      const vs = (store.get(k(key)) ?? []).filter((v) => v.owner !== owner);
      store.set(k(key), [...vs, { value, owner, ttlMs: 1000, replicas: 1 }]);
      return res(true, 'ok', []);
    },
    async get(key) { return res(true, 'ok', store.get(k(key)) ?? []); },
    async remove() { return res(true, 'ok', []); },
  };
}

const subnet = parseCidr('10.128.0.0/16')!;

test('candidates stay inside the host range and skip the network, service and broadcast addresses', (t) => {
  const small = parseCidr('10.1.2.0/29')!;
  t.is(serviceAddress(small), '10.1.2.1');
  for (let i = 0; i < 200; i++) {
    const ip = candidate(small, BigInt(i) * 7919n, i);
    const last = Number(ip.split('.')[3]);
    t.true(last >= 2 && last <= 6, ip);
  }
});

test('two nodes never hold one address; a restarted node gets its address back; lookups agree', async (t) => {
  const store = new Map<string, ValueView[]>();
  const a = mk(), b = mk();
  // make b's first candidate collide with a's by pre-claiming it for a
  const ipA = await claimAddress(fakeDht(a, store), { net: 'n', subnet, self: a, key: keyOf.get(a)!, leaseMs: 60_000, fixed: candidate(subnet, b, 0) });
  const ipB = await claimAddress(fakeDht(b, store), { net: 'n', subnet, self: b, key: keyOf.get(b)!, leaseMs: 60_000 });
  t.not(ipA, ipB);
  t.is(ipB, candidate(subnet, b, 1));
  t.is((await lookupAddress(fakeDht(a, store), 'n', ipB))?.node, b);
  t.is(await lookupHost(fakeDht(a, store), 'n', b), ipB);
  // restart: b claims again and keeps its address (its host record names it)
  t.is(await claimAddress(fakeDht(b, store), { net: 'n', subnet, self: b, key: keyOf.get(b)!, leaseMs: 60_000 }), ipB);
});

test('a fixed address held by another node is a clear error', async (t) => {
  const store = new Map<string, ValueView[]>();
  const x = mk(), y = mk();
  await claimAddress(fakeDht(x, store), { net: 'n', subnet, self: x, key: keyOf.get(x)!, leaseMs: 60_000, fixed: '10.128.0.9' });
  const e = await t.throwsAsync(claimAddress(fakeDht(y, store), { net: 'n', subnet, self: y, key: keyOf.get(y)!, leaseMs: 60_000, fixed: '10.128.0.9' }));
  t.is((e as { code?: string }).code, 'E_ADDRESS_TAKEN');
  t.truthy(dhtKeys.ip('n', '10.128.0.9'));
});

test('an address record whose key does not hash to its owner is ignored', async (t) => {
  const store = new Map<string, ValueView[]>();
  const liarId = mk(), victimId = mk();
  const liar = fakeDht(liarId, store);
  await liar.create(dhtKeys.ip('n', '10.128.0.50'), keyOf.get(victimId)!, 1000); // the victim's key, owned by the liar
  t.is(await lookupAddress(liar, 'n', '10.128.0.50'), null);
});
