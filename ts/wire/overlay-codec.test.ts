// Property tests for the control-message codec: round trips for every type with random fields,
// and hostile input (random bytes, truncations, bit flips) that must decode to a typed error, never throw.
import test from 'ava';
import { encode, decode, patchForward, kindOf, type Msg, type InnerMsg, type Neighbour, type RouteMode, WIRE_VERSION } from './overlay-codec.js';
import { Xoshiro128, randInt, randomId, type Rng } from '../core/rng.js';

const CASES = 400;

function rEndpoint(rng: Rng): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789.:[]-é日';
  let s = '';
  const n = randInt(rng, 30);
  for (let i = 0; i < n; i++) s += alphabet[randInt(rng, alphabet.length)];
  return s;
}
const rEndpoints = (rng: Rng): string[] => Array.from({ length: randInt(rng, 9) }, () => rEndpoint(rng));
const rNeighbours = (rng: Rng): Neighbour[] =>
  Array.from({ length: randInt(rng, 17) }, () => ({ id: randomId(rng), endpoints: rEndpoints(rng) }));

function rInner(rng: Rng): InnerMsg {
  switch (randInt(rng, 3)) {
    case 0: {
      const m: InnerMsg = { type: 'ctm', token: rng.u32(), kind: randInt(rng, 256), endpoints: rEndpoints(rng) };
      if (rng.next() < 0.5) m.forwarder = randomId(rng);
      return m;
    }
    case 1: return { type: 'ctm-reply', token: rng.u32(), kind: randInt(rng, 256), endpoints: rEndpoints(rng), neighbours: rNeighbours(rng) };
    default: return { type: 'data', payload: Uint8Array.from({ length: randInt(rng, 300) }, () => randInt(rng, 256)) };
  }
}

function rMsg(rng: Rng, t: number): Msg {
  switch (t) {
    case 0: return { type: 'ping', rpcId: rng.u32() };
    case 1: return { type: 'pong', rpcId: rng.u32() };
    case 2: return { type: 'status', joined: rng.next() < 0.5, needs: randInt(rng, 256), neighbours: rNeighbours(rng) };
    case 3: return { type: 'close', reason: randInt(rng, 256) };
    case 4: {
      const m: Msg = {
        type: 'routed', mode: (['exact', 'closest', 'directional'] as RouteMode[])[randInt(rng, 3)] as RouteMode,
        dir: rng.next() < 0.5 ? 'left' : 'right', ttl: randInt(rng, 256), hops: randInt(rng, 256),
        src: randomId(rng), dest: randomId(rng), inner: rInner(rng),
      };
      if (rng.next() < 0.5) m.via = randomId(rng);
      if (rng.next() < 0.5) m.trace = Array.from({ length: randInt(rng, 10) }, () => randomId(rng));
      return m;
    }
    default: return rInner(rng);
  }
}

test('round trip: every message type with random field values', (t) => {
  const rng = new Xoshiro128(1);
  for (let i = 0; i < CASES; i++) {
    for (let ty = 0; ty < 6; ty++) {
      const m = rMsg(rng, ty);
      const b = encode(m);
      t.is(b[0], WIRE_VERSION);
      const r = decode(b);
      if (!r.ok) { t.fail(`decode failed ${r.code} for ${m.type}`); return; }
      t.deepEqual(r.msg, m);
    }
  }
});

test('kindOf reads the kind from the header as decode would name it; hostile bytes give undecodable', (t) => {
  const rng = new Xoshiro128(3);
  const named = (m: Msg): string => (m.type !== 'routed' ? (m.type === 'dht' ? 'dht' : m.type)
    : m.inner.type === 'dht' ? `dht_${m.inner.op}` : `routed_${m.inner.type}`);
  for (let i = 0; i < CASES; i++) {
    for (let ty = 0; ty < 6; ty++) { const m = rMsg(rng, ty); t.is(kindOf(encode(m)), named(m)); }
  }
  for (const b of [new Uint8Array(0), Uint8Array.of(WIRE_VERSION), Uint8Array.of(2, 1), Uint8Array.of(WIRE_VERSION, 99), Uint8Array.of(WIRE_VERSION, 5, 0, 0, 0, 3)]) {
    t.is(kindOf(b), 'undecodable');
  }
});

test('random bytes, truncations and bit flips never throw and give a typed code', (t) => {
  const rng = new Xoshiro128(2);
  const codes = new Set<string>();
  let errors = 0;
  const check = (b: Uint8Array): void => {
    let r;
    try { r = decode(b); } catch (e) { t.fail(`threw on ${Buffer.from(b).toString('hex')}: ${String(e)}`); return; }
    if (!r.ok) { errors++; codes.add(r.code); t.is(typeof r.code, 'string'); }
  };
  for (let i = 0; i < 3000; i++) {
    const n = randInt(rng, 80);
    const b = Uint8Array.from({ length: n }, () => randInt(rng, 256));
    if (n > 1 && rng.next() < 0.7) { b[0] = WIRE_VERSION; b[1] = 1 + randInt(rng, 8); }
    check(b);
  }
  for (let i = 0; i < 300; i++) {
    const good = encode(rMsg(rng, randInt(rng, 6)));
    for (let cut = 0; cut < good.length; cut += 1 + randInt(rng, 4)) check(good.subarray(0, cut));
    for (let k = 0; k < 5; k++) {
      const f = good.slice(); const p = randInt(rng, f.length);
      f[p] = (f[p] as number) ^ (1 << randInt(rng, 8)); check(f);
    }
  }
  t.true(errors > 1000);
  for (const c of ['truncated', 'bad-version', 'bad-type']) t.true(codes.has(c), `saw code ${c}`);
});

test('decode rejects a wrong version, unknown type, nested ROUTED and trailing bytes with stable codes', (t) => {
  const ping = encode({ type: 'ping', rpcId: 7 });
  const v2 = ping.slice(); v2[0] = 2;
  t.deepEqual(decode(v2), { ok: false, code: 'bad-version' });
  t.deepEqual(decode(Uint8Array.of(1, 99)), { ok: false, code: 'bad-type' });
  t.deepEqual(decode(Uint8Array.of(...ping, 0)), { ok: false, code: 'trailing-bytes' });
  t.deepEqual(decode(new Uint8Array(0)), { ok: false, code: 'truncated' });
  const inner = encode({ type: 'ping', rpcId: 1 });
  const routed = encode({ type: 'routed', mode: 'exact', dir: 'right', ttl: 3, hops: 0, src: 1n, dest: 2n, inner: { type: 'data', payload: new Uint8Array(0) } });
  const head = routed.subarray(0, routed.length - 2 - 2);
  const bad = new Uint8Array(head.length + 2 + inner.length);
  bad.set(head); bad[head.length] = 0; bad[head.length + 1] = inner.length; bad.set(inner, head.length + 2);
  t.deepEqual(decode(bad), { ok: false, code: 'bad-nesting' });
});

test('patchForward decrements ttl and increments hops without re-encoding', (t) => {
  const m: Msg = { type: 'routed', mode: 'closest', dir: 'right', ttl: 9, hops: 2, src: 5n, dest: 6n, inner: { type: 'data', payload: Uint8Array.of(1, 2) } };
  const p = patchForward(encode(m));
  t.truthy(p);
  const r = decode(p as Uint8Array);
  t.true(r.ok && r.msg.type === 'routed' && r.msg.ttl === 8 && r.msg.hops === 3);
  t.is(patchForward(encode({ ...m, trace: [1n] })), null);
});

test('STATUS flags: bit0 joined, bit1 relay-full, bit2 relay-refuses (with bit1); other bits refused', (t) => {
  const m: Msg = { type: 'status', joined: true, needs: 16, neighbours: [], relayFull: true };
  const b = encode(m);
  t.is(b[2], 3, 'flags byte after version and type');
  t.deepEqual(decode(b), { ok: true, msg: m });
  const plain = encode({ type: 'status', joined: false, needs: 2, neighbours: [] });
  t.is(plain[2], 0);
  t.deepEqual(decode(plain), { ok: true, msg: { type: 'status', joined: false, needs: 2, neighbours: [] } });
  const bad = b.slice(); bad[2] = 4;
  t.like(decode(bad), { ok: false }, 'refuses without full');
  const refuses: Msg = { type: 'status', joined: true, needs: 16, neighbours: [], relayFull: true, relayRefuses: true };
  t.is(encode(refuses)[2], 7);
  t.deepEqual(decode(encode(refuses)), { ok: true, msg: refuses });
  const worse = b.slice(); worse[2] = 8;
  t.like(decode(worse), { ok: false });
});
