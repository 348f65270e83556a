// The DHT and BCAST messages appended to the control codec: round trips of every op with random fields,
// DHT inside ROUTED, and hostile bytes (truncation, bad op/status/walk, BCAST nested) -> typed errors.
import test from 'ava';
import { encode, decode, DHT_STATUS, MAX_SYNC_FINGERPRINTS, type DhtMsg, type Msg, type BcastMsg } from '../wire/overlay-codec.js';
import { Xoshiro128, randInt, randomId, type Rng } from '../core/rng.js';

const bytes = (rng: Rng, max: number): Uint8Array => Uint8Array.from({ length: randInt(rng, max + 1) }, () => randInt(rng, 256));
const status = (rng: Rng): (typeof DHT_STATUS)[number] => DHT_STATUS[randInt(rng, DHT_STATUS.length)] as (typeof DHT_STATUS)[number];

function rDht(rng: Rng, op: number): DhtMsg {
  const reqId = rng.u32(), idx = randInt(rng, 256);
  switch (op) {
    case 0: return { type: 'dht', op: 'put', reqId, idx, create: rng.next() < 0.5, ttlMs: rng.u32(), key: bytes(rng, 255), value: bytes(rng, 1500) };
    case 1: return { type: 'dht', op: 'put-reply', reqId, idx, status: status(rng), reqHops: randInt(rng, 256) };
    case 2: return { type: 'dht', op: 'get', reqId, idx, key: bytes(rng, 255) };
    case 3: return {
      type: 'dht', op: 'get-reply', reqId, idx, status: status(rng), reqHops: randInt(rng, 256),
      values: Array.from({ length: randInt(rng, 20) }, () => ({ owner: randomId(rng), ttlMs: rng.u32(), value: bytes(rng, 200) })),
    };
    case 4: return { type: 'dht', op: 'remove', reqId, idx, key: bytes(rng, 255), value: bytes(rng, 300) };
    case 5: return { type: 'dht', op: 'remove-reply', reqId, idx, status: status(rng), reqHops: randInt(rng, 256) };
    case 6: return {
      type: 'dht', op: 'transfer',
      entries: Array.from({ length: randInt(rng, 30) }, () => ({ idx: randInt(rng, 256), key: bytes(rng, 40), owner: randomId(rng), ttlMs: rng.u32(), value: bytes(rng, 100) })),
    };
    case 7: return { type: 'dht', op: 'sync', requester: randomId(rng), from: randomId(rng), to: randomId(rng), shift: randInt(rng, 256), walk: randInt(rng, 3) as 0 | 1 | 2, hopsLeft: randInt(rng, 256) };
    default: return {
      type: 'dht', op: 'sync-digest', requester: randomId(rng), from: randomId(rng), to: randomId(rng), shift: randInt(rng, 256), walk: randInt(rng, 3) as 0 | 1 | 2,
      hopsLeft: randInt(rng, 256), salt: rng.u32(), fps: Array.from({ length: randInt(rng, 3) === 0 ? 0 : randInt(rng, MAX_SYNC_FINGERPRINTS + 1) }, () => rng.u32()),
    };
  }
}

test('DHT and BCAST round trip, alone and inside ROUTED', (t) => {
  const rng = new Xoshiro128(4);
  for (let i = 0; i < 200; i++) {
    for (let op = 0; op < 9; op++) {
      const m = rDht(rng, op);
      const routed: Msg = { type: 'routed', mode: 'closest', dir: 'right', ttl: 64, hops: 3, src: randomId(rng), dest: randomId(rng), inner: m };
      for (const x of [m, routed]) {
        const r = decode(encode(x));
        if (!r.ok) { t.fail(`${op}: ${r.code}`); return; }
        t.deepEqual(r.msg, x);
      }
    }
    const b: BcastMsg = { type: 'bcast', origin: randomId(rng), seq: rng.u32(), end: randomId(rng), hops: randInt(rng, 256), payload: bytes(rng, 500) };
    const r = decode(encode(b));
    t.true(r.ok && r.msg.type === 'bcast');
    if (r.ok) t.deepEqual(r.msg, b);
  }
});

test('hostile DHT / BCAST bytes decode to a typed error, never throw', (t) => {
  const rng = new Xoshiro128(9);
  const codes = new Set<string>();
  for (let i = 0; i < 3000; i++) {
    const good = encode(i % 10 === 9
      ? { type: 'bcast', origin: randomId(rng), seq: 1, end: randomId(rng), hops: 0, payload: bytes(rng, 20) }
      : rDht(rng, i % 10));
    const bad = good.slice(0, randInt(rng, good.length));
    if (rng.next() < 0.5 && bad.length > 2) { const k = 2 + randInt(rng, bad.length - 2); bad[k] = (bad[k] as number) ^ (1 << randInt(rng, 8)); }
    const r = decode(bad);
    if (!r.ok) codes.add(r.code);
  }
  t.true(codes.has('truncated'));
  // unknown op, unknown status, bad walk, BCAST nested in ROUTED
  t.deepEqual(decode(Uint8Array.of(1, 9, 99)), { ok: false, code: 'bad-type' });
  t.deepEqual(decode(Uint8Array.of(1, 9, 2, 0, 0, 0, 1, 0, 200, 0)), { ok: false, code: 'bad-value' });
  const sync = encode({ type: 'dht', op: 'sync', requester: 1n, from: 2n, to: 3n, shift: 1, walk: 2, hopsLeft: 1 });
  sync[sync.length - 2] = 3;
  t.deepEqual(decode(sync), { ok: false, code: 'bad-value' });
  const inner = encode({ type: 'bcast', origin: 1n, seq: 1, end: 2n, hops: 0, payload: new Uint8Array(0) });
  const routed = encode({ type: 'routed', mode: 'exact', dir: 'right', ttl: 1, hops: 0, src: 1n, dest: 2n, inner: { type: 'data', payload: new Uint8Array(inner.length - 2) } });
  routed.set(inner, routed.length - inner.length); // the nested DATA becomes a BCAST of the same length
  t.deepEqual(decode(routed), { ok: false, code: 'bad-nesting' });
  // an over-long key is cut to the u8 length field, never mis-framed
  const r = decode(encode({ type: 'dht', op: 'get', reqId: 1, idx: 0, key: new Uint8Array(300) }));
  t.true(r.ok && r.msg.type === 'dht' && r.msg.op === 'get' && r.msg.key.length === 255);
});

test('SYNC_DIGEST golden bytes; truncated, wrong version, bad walk and oversized counts are typed errors', (t) => {
  const m: DhtMsg = { type: 'dht', op: 'sync-digest', requester: 1n, from: 2n, to: 3n, shift: 5, walk: 2, hopsLeft: 4, salt: 0xdeadbeef, fps: [7, 0xfffffffe] };
  const id = (x: number): string => '00'.repeat(19) + x.toString(16).padStart(2, '0');
  const hex = Buffer.from(encode(m)).toString('hex');
  t.is(hex, '010909' + id(1) + id(2) + id(3) + '05' + '02' + '04' + 'deadbeef' + '0002' + '00000007' + 'fffffffe');
  const ok = decode(encode(m));
  t.true(ok.ok);
  if (ok.ok) t.deepEqual(ok.msg, m);
  const b = encode(m);
  for (let k = 0; k < b.length; k++) t.deepEqual(decode(b.subarray(0, k)), { ok: false, code: 'truncated' }, `cut at ${k}`);
  const v = b.slice(); v[0] = 2;
  t.deepEqual(decode(v), { ok: false, code: 'bad-version' });
  const w = b.slice(); w[3 + 60 + 1] = 3;
  t.deepEqual(decode(w), { ok: false, code: 'bad-value' });
  // a count above the limit is refused before reading the list; a count above the bytes present is truncated
  const over = new Uint8Array(b.length - 8 + 4 * (MAX_SYNC_FINGERPRINTS + 1));
  over.set(b.subarray(0, b.length - 10));
  over[b.length - 10] = (MAX_SYNC_FINGERPRINTS + 1) >> 8; over[b.length - 9] = (MAX_SYNC_FINGERPRINTS + 1) & 0xff;
  t.deepEqual(decode(over), { ok: false, code: 'too-many' });
  const c = b.slice(); c[b.length - 9] = 3;
  t.deepEqual(decode(c), { ok: false, code: 'truncated' });
  const x = new Uint8Array(b.length + 1); x.set(b);
  t.deepEqual(decode(x), { ok: false, code: 'trailing-bytes' });
  // more fingerprints than the limit are cut when encoding, never mis-framed
  const big = decode(encode({ ...m, fps: Array.from({ length: MAX_SYNC_FINGERPRINTS + 9 }, (_, k) => k) }));
  t.true(big.ok && big.msg.type === 'dht' && big.msg.op === 'sync-digest' && big.msg.fps.length === MAX_SYNC_FINGERPRINTS);
});
