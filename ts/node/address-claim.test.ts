// DHT-DHCP's procedures against a one-replica DHT with the real create semantics (put-if-absent; the
// same owner and value refreshes): claims never collide, restarts keep their address, lookups verify.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { claimAddress, lookupAddress, lookupHost, type ClaimResult, type NodeDht } from './address-claim.js';
import { candidate, serviceAddress, dhtKeys } from '../vpn/addressing.js';
import { parseCidr } from '../base/ip.js';
import type { OpResult, ValueView } from '../dht/result.js';
import { nodeIdOfKey, type NodeId } from '../base/nodeid.js';

const keyOf = new Map<NodeId, Uint8Array>();
/** A node with a real key: its id is the hash of the key (self-certifying). */
function mk(): NodeId { const k = new Uint8Array(randomBytes(32)); const id = nodeIdOfKey(k); keyOf.set(id, k); return id; }

function fakeDht(owner: NodeId, store: Map<string, ValueView[]>): NodeDht {
  const k = (b: Uint8Array) => Buffer.from(b).toString('hex');
  const res = (ok: boolean, code: OpResult['code'], values: ValueView[]): OpResult =>
    ({ ok, code, replies: 1, accepted: ok ? 1 : 0, values, agreed: values, disagreement: false, hops: 0, latencyMs: 0 });
  const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));
  return {
    create(key, value, _ttl, cb) {
      const vs = store.get(k(key)) ?? [];
      if (vs.length && !vs.some((v) => v.owner === owner && same(v.value, value))) return cb(res(false, 'exists', vs));
      if (!vs.length) store.set(k(key), [{ value, owner, ttlMs: 1000, replicas: 1 }]);
      cb(res(true, 'ok', []));
    },
    put(key, value, _ttl, cb) {
      const vs = (store.get(k(key)) ?? []).filter((v) => v.owner !== owner);
      store.set(k(key), [...vs, { value, owner, ttlMs: 1000, replicas: 1 }]);
      cb(res(true, 'ok', []));
    },
    get(key, cb) { cb(res(true, 'ok', store.get(k(key)) ?? [])); },
    remove(key, value, cb) {
      store.set(k(key), (store.get(k(key)) ?? []).filter((v) => !(v.owner === owner && same(v.value, value))));
      cb(res(true, 'ok', []));
    },
  };
}

const subnet = parseCidr('10.128.0.0/16')!;
const claim = (dht: NodeDht, self: NodeId, fixed?: string): ClaimResult => {
  let out: ClaimResult | undefined;
  claimAddress(dht, { net: 'n', subnet, self, key: keyOf.get(self)!, leaseMs: 60_000, fixed }, (r) => { out = r; });
  if (!out) throw new Error('the claim did not finish on a synchronous DHT');
  return out;
};
const addr = (r: ClaimResult): string => (r.ok ? r.address : `error ${r.code}`);

test('candidates stay inside the host range and skip the network, service and broadcast addresses', (t) => {
  const small = parseCidr('10.1.2.0/29')!;
  t.is(serviceAddress(small), '10.1.2.1');
  for (let i = 0; i < 200; i++) {
    const ip = candidate(small, BigInt(i) * 7919n, i);
    const last = Number(ip.split('.')[3]);
    t.true(last >= 2 && last <= 6, ip);
  }
});

test('two nodes never hold one address; a restarted node gets its address back; lookups agree', (t) => {
  const store = new Map<string, ValueView[]>();
  const a = mk(), b = mk();
  // make b's first candidate collide with a's by pre-claiming it for a
  const ipA = addr(claim(fakeDht(a, store), a, candidate(subnet, b, 0)));
  const ipB = addr(claim(fakeDht(b, store), b));
  t.not(ipA, ipB);
  t.is(ipB, candidate(subnet, b, 1));
  lookupAddress(fakeDht(a, store), 'n', ipB, false, (r) => t.is(r?.node, b));
  lookupHost(fakeDht(a, store), 'n', b, (ip) => t.is(ip, ipB));
  // restart: b claims again and keeps its address (its host record names it)
  t.is(addr(claim(fakeDht(b, store), b)), ipB);
});

test('a fixed address held by another node is a clear error and leaves the record alone', (t) => {
  const store = new Map<string, ValueView[]>();
  const x = mk(), y = mk();
  t.is(addr(claim(fakeDht(x, store), x, '10.128.0.9')), '10.128.0.9');
  const r = claim(fakeDht(y, store), y, '10.128.0.9');
  t.false(r.ok);
  t.is(!r.ok && r.code, 'E_ADDRESS_TAKEN');
  t.regex(!r.ok ? r.message : '', /10\.128\.0\.9 is held by another node/);
  lookupAddress(fakeDht(y, store), 'n', '10.128.0.9', false, (held) => { t.is(held?.node, x); t.deepEqual(held?.key, keyOf.get(x)); });
  t.deepEqual(store.get(Buffer.from(dhtKeys.ip('n', '10.128.0.9')).toString('hex'))?.map((v) => v.owner), [x]);
});

test('an address record whose key does not hash to its owner is ignored', (t) => {
  const store = new Map<string, ValueView[]>();
  const liarId = mk(), victimId = mk();
  const liar = fakeDht(liarId, store);
  liar.create(dhtKeys.ip('n', '10.128.0.50'), keyOf.get(victimId)!, 1000, () => {});
  let seen: unknown = 'not called';
  lookupAddress(liar, 'n', '10.128.0.50', true, (r) => { seen = r; });
  t.is(seen, null, 'not even as a lone answer in a private group');
});

test('a lone answer short of a majority: used in a private group (certified addresses), never in an open network; two different ones never', (t) => {
  const x = mk(), y = mk();
  const view = (owner: NodeId): ValueView => ({ owner, value: keyOf.get(owner)!, replicas: 4, ttlMs: 1000 } as ValueView);
  const dhtWith = (values: ValueView[]): NodeDht => ({
    get: (_k, cb) => cb({ ok: true, code: 'ok', replies: 8, accepted: 8, values, agreed: [], disagreement: true, hops: 0, latencyMs: 0 } as OpResult),
    put: () => {}, create: () => {}, remove: () => {},
  });
  const got: unknown[] = [];
  lookupAddress(dhtWith([view(x)]), 'n', '10.128.0.7', true, (r) => got.push(r?.node ?? null));
  lookupAddress(dhtWith([view(x)]), 'n', '10.128.0.7', false, (r) => got.push(r?.node ?? null));
  lookupAddress(dhtWith([view(x), view(y)]), 'n', '10.128.0.7', true, (r) => got.push(r?.node ?? null));
  t.deepEqual(got, [x, null, null]);
});
