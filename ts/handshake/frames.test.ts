// Tests the handshake wire format: layout, round trips, typed decode errors and the mac1 check.
// It must not depend on the handshake machine.
import test from 'ava';
import {
  MAC1_LEN,
  MAC2_LEN,
  MACS_LEN,
  MAX_NOISE_LEN,
  MIN_NOISE_LEN,
  checkMac1,
  decodeHandshake,
  encodeInitiation,
  encodeResponse,
  mac1Key,
  realmTagOf,
} from './frames.js';

const key = mac1Key(new Uint8Array(32).fill(9));
const noise = (n: number) => new Uint8Array(n).map((_, i) => i & 0xff);

// Golden vector, computed independently (Python: hmac.new(blake2s(b"mac1----" + key).digest(), body, blake2s)).
// mac1 is HMAC-BLAKE2s; WireGuard's keyed BLAKE2s-128 of the same bytes would be 5fb56907fcdb4683776389d7a05fb8e6.
test('golden bytes: mac1 key and mac1 of an initiation', (t) => {
  t.is(Buffer.from(key).toString('hex'), '248139402e7359c192c496c58a8397a55274981f3bd3f714ac08105ee678c8c7');
  const bytes = encodeInitiation({ sender: 0x04030201, noise: noise(108) }, key);
  t.is(Buffer.from(bytes.subarray(0, 8)).toString('hex'), '0100000001020304');
  t.is(Buffer.from(bytes.subarray(116, 132)).toString('hex'), '2ec3d64189dcdc9f2d048af311c58563');
  t.is(Buffer.from(bytes.subarray(132)).toString('hex'), '00'.repeat(MAC2_LEN), 'mac2 is zero without a cookie');
});

test('initiation layout and round trip', (t) => {
  const bytes = encodeInitiation({ sender: 0x04030201, noise: noise(108) }, key);
  t.is(bytes.length, 4 + 4 + 108 + MAC1_LEN + MAC2_LEN);
  t.is(bytes.length, 148, 'the size of a WireGuard initiation');
  t.deepEqual([...bytes.subarray(0, 8)], [1, 0, 0, 0, 1, 2, 3, 4]);
  t.true(checkMac1(key, bytes));
  const d = decodeHandshake(bytes);
  t.true(d.ok);
  if (d.ok && d.value.kind === 'initiation') {
    t.is(d.value.sender, 0x04030201);
    t.deepEqual(d.value.noise, noise(108));
    t.deepEqual(d.value.mac1, bytes.subarray(bytes.length - MACS_LEN, bytes.length - MAC2_LEN));
    t.deepEqual(d.value.mac2, bytes.subarray(bytes.length - MAC2_LEN));
  } else t.fail();
});

test('response layout and round trip', (t) => {
  const bytes = encodeResponse({ sender: 0xffffffff, receiver: 7, noise: noise(48) }, key);
  t.is(bytes.length, 12 + 48 + MACS_LEN);
  t.deepEqual([...bytes.subarray(0, 12)], [2, 0, 0, 0, 255, 255, 255, 255, 7, 0, 0, 0]);
  const d = decodeHandshake(bytes);
  t.true(d.ok);
  if (d.ok && d.value.kind === 'response') {
    t.is(d.value.sender, 0xffffffff);
    t.is(d.value.receiver, 7);
    t.deepEqual(d.value.noise, noise(48));
  } else t.fail();
});

test('mac1 covers every byte before it and depends on the key; mac2 covers mac1 too', (t) => {
  const bytes = encodeInitiation({ sender: 1, noise: noise(108) }, key, (c) => c.subarray(c.length - MAC2_LEN));
  t.deepEqual(bytes.subarray(bytes.length - MAC2_LEN), bytes.subarray(bytes.length - MACS_LEN, bytes.length - MAC2_LEN), 'mac2 is computed over everything up to and including mac1');
  for (let i = 0; i < bytes.length - MAC2_LEN; i++) {
    const bad = new Uint8Array(bytes);
    bad[i]! ^= 0x80;
    t.false(checkMac1(key, bad), `flip at ${i}`);
  }
  t.false(checkMac1(mac1Key(new Uint8Array(32)), bytes));
  t.false(checkMac1(key, new Uint8Array(3)));
});

test('decode errors are typed codes', (t) => {
  t.deepEqual(decodeHandshake(new Uint8Array(0)), { ok: false, code: 'too_short' });
  t.deepEqual(decodeHandshake(Uint8Array.of(4, 0, 0, 0)), { ok: false, code: 'unknown_type' });
  t.deepEqual(decodeHandshake(Uint8Array.of(1, 0, 0, 0, 1, 2)), { ok: false, code: 'too_short' });
  const ok = encodeInitiation({ sender: 1, noise: noise(MIN_NOISE_LEN) }, key);
  t.true(decodeHandshake(ok).ok);
  t.deepEqual(decodeHandshake(ok.subarray(0, ok.length - 1)), { ok: false, code: 'too_short' });
  // an initiation's bytes 1-3 are its realm tag; a response's must be zero
  const tagged = encodeInitiation({ sender: 1, noise: noise(MIN_NOISE_LEN), realm: 0xabcdef }, key);
  t.deepEqual([...tagged.subarray(0, 4)], [1, 0xab, 0xcd, 0xef]);
  const d = decodeHandshake(tagged);
  t.true(d.ok && d.value.kind === 'initiation' && d.value.realm === 0xabcdef);
  t.is(realmTagOf(tagged), 0xabcdef);
  t.is(realmTagOf(ok), 0);
  t.is(realmTagOf(Uint8Array.of(2, 1, 2, 3, 0, 0, 0, 0)), null);
  t.throws(() => encodeInitiation({ sender: 1, noise: noise(MIN_NOISE_LEN), realm: 1 << 24 }, key));
  const resp = encodeResponse({ sender: 1, receiver: 2, noise: noise(MIN_NOISE_LEN) }, key);
  const reserved = new Uint8Array(resp);
  reserved[2] = 1;
  t.deepEqual(decodeHandshake(reserved), { ok: false, code: 'bad_reserved' });
  const big = new Uint8Array(8 + MAX_NOISE_LEN + MACS_LEN + 1);
  big[0] = 1;
  t.deepEqual(decodeHandshake(big), { ok: false, code: 'too_long' });
});

test('encoders refuse out-of-range noise lengths (programmer error)', (t) => {
  t.throws(() => encodeInitiation({ sender: 1, noise: noise(MIN_NOISE_LEN - 1) }, key));
  t.throws(() => encodeResponse({ sender: 1, receiver: 2, noise: noise(MAX_NOISE_LEN + 1) }, key));
});

test('random bytes never throw', (t) => {
  let x = 12345;
  const next = () => ((x = (x * 1103515245 + 12345) >>> 0), x >>> 16);
  for (let i = 0; i < 2000; i++) {
    const b = new Uint8Array(next() % 200).map(() => next() & 0xff);
    if (b.length > 0 && i % 2 === 0) b[0] = 1 + (i % 4 === 0 ? 1 : 0);
    t.notThrows(() => {
      decodeHandshake(b);
      checkMac1(key, b);
    });
  }
});
