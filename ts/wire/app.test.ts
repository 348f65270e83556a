import test from 'ava';
import { randomBytes } from 'node:crypto';
import { encodeApp, decodeApp, APP_VERSION } from './app.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

test('golden bytes: version first, then app, then reqId big-endian', (t) => {
  t.is(hex(encodeApp({ app: 'neighbours-req', reqId: 0x01020304 })), '01' + '01' + '01020304');
  const view = { left1: 5n, right2: (1n << 159n) + 0xabn };
  t.is(hex(encodeApp({ app: 'neighbours-reply', reqId: 9, view })),
    '01' + '02' + '00000009' + '09' + '00'.repeat(19) + '05' + '80' + '00'.repeat(18) + 'ab');
  t.is(hex(encodeApp({ app: 'handshake', bytes: Uint8Array.of(1, 0, 0, 0, 9, 9) })), '01' + '03' + '00000000' + '010000000909');
  t.is(hex(encodeApp({ app: 'revocation', record: Uint8Array.of(1, 2, 3) })), '01' + '04' + '00000000' + '010203');
  t.is(hex(encodeApp({ app: 'routes' })), '01' + '05' + '00000000');
  t.deepEqual(decodeApp(unhex('01 05 00000000')), { ok: true, msg: { app: 'routes' } });
  t.deepEqual(decodeApp(unhex('01 05 00000000 00')), { ok: false, code: 'bad-value' });
  // and the other way: fixed bytes decode to the documented values
  t.deepEqual(decodeApp(unhex('01 01 fffffffe')), { ok: true, msg: { app: 'neighbours-req', reqId: 0xfffffffe } });
  t.deepEqual(decodeApp(unhex('01 02 00000100 04' + '00'.repeat(19) + '07')), { ok: true, msg: { app: 'neighbours-reply', reqId: 256, view: { right1: 7n } } });
});

test('neighbour query and reply round trip', (t) => {
  t.deepEqual(decodeApp(encodeApp({ app: 'neighbours-req', reqId: 9 })), { ok: true, msg: { app: 'neighbours-req', reqId: 9 } });
  const view = { left1: 5n, right1: (1n << 159n) + 3n, right2: 77n };
  t.deepEqual(decodeApp(encodeApp({ app: 'neighbours-reply', reqId: 1, view })), { ok: true, msg: { app: 'neighbours-reply', reqId: 1, view } });
});

test('handshake and revocation payloads round trip', (t) => {
  const bytes = new Uint8Array([1, 0, 0, 0, 9, 9]);
  t.deepEqual(decodeApp(encodeApp({ app: 'handshake', bytes })), { ok: true, msg: { app: 'handshake', bytes } });
  t.deepEqual(decodeApp(encodeApp({ app: 'revocation', record: bytes })), { ok: true, msg: { app: 'revocation', record: bytes } });
  t.deepEqual(decodeApp(unhex('01 03 00000000')), { ok: false, code: 'bad-value' }); // empty handshake
  t.deepEqual(decodeApp(new Uint8Array([1, 3, 0, 0, 0, 0, ...new Uint8Array(2049)])), { ok: false, code: 'bad-value' });
});

test('an unknown version, type or length is a typed error value', (t) => {
  t.deepEqual(decodeApp(new Uint8Array(0)), { ok: false, code: 'truncated' });
  for (const v of [0, 2, 255]) t.deepEqual(decodeApp(unhex(v.toString(16).padStart(2, '0') + '01 00000001')), { ok: false, code: 'bad-version' });
  t.deepEqual(decodeApp(unhex('01 01 0000')), { ok: false, code: 'truncated' });
  t.deepEqual(decodeApp(unhex('01 0c 00000000')), { ok: false, code: 'bad-type' });
  t.deepEqual(decodeApp(unhex('01 01 00000000 00')), { ok: false, code: 'bad-value' });
  t.deepEqual(decodeApp(unhex('01 02 00000000')), { ok: false, code: 'truncated' });
  t.deepEqual(decodeApp(unhex('01 02 00000000 10')), { ok: false, code: 'bad-value' });
  t.deepEqual(decodeApp(unhex('01 02 00000000 01' + '00'.repeat(19))), { ok: false, code: 'truncated' });
  t.deepEqual(decodeApp(unhex('01 02 00000000 00 00')), { ok: false, code: 'bad-value' });
  t.is(APP_VERSION, 1);
});

test('hostile app payloads never throw', (t) => {
  for (let i = 0; i < 5000; i++) {
    const b = new Uint8Array(randomBytes(i % 90));
    if (b.length > 1 && i % 3) { b[0] = APP_VERSION; b[1] = 1 + (i % 7); }
    t.notThrows(() => decodeApp(b));
  }
});

test('relay sync: golden bytes, round trip, limits', (t) => {
  const key = new Uint8Array(32).fill(0xaa);
  const m = { app: 'relay-sync' as const, reply: true, key, endpoints: ['1.2.3.4:5'], candidates: [{ id: 7n, ageS: 300, rttMs: 12, endpoints: ['9.9.9.9:1'] }, { id: 8n, ageS: 1, rttMs: null, endpoints: [] }] };
  t.is(hex(encodeApp(m)), '01' + '06' + '00000000' + '01' + 'aa'.repeat(32) + '01' + '09' + hex(new TextEncoder().encode('1.2.3.4:5'))
    + '02' + '00'.repeat(19) + '07' + '0000012c' + '000c' + '01' + '09' + hex(new TextEncoder().encode('9.9.9.9:1'))
    + '00'.repeat(19) + '08' + '00000001' + 'ffff' + '00');
  t.deepEqual(decodeApp(encodeApp(m)), { ok: true, msg: m });
  t.deepEqual(decodeApp(encodeApp({ app: 'punch' })), { ok: true, msg: { app: 'punch' } });
  const punch = { app: 'punch' as const, endpoints: ['5.5.5.5:49161', '5.5.5.5:49162'] };
  t.is(hex(encodeApp(punch)), '01' + '07' + '00000000' + '02' + '0d' + hex(new TextEncoder().encode('5.5.5.5:49161')) + '0d' + hex(new TextEncoder().encode('5.5.5.5:49162')));
  t.deepEqual(decodeApp(encodeApp(punch)), { ok: true, msg: punch });
  t.deepEqual(decodeApp(unhex('01 07 00000000 09')), { ok: false, code: 'bad-value' }, 'more than 8 endpoints');
  t.deepEqual(decodeApp(unhex('01 07 00000000 01 05 3132')), { ok: false, code: 'bad-value' }, 'an endpoint cut short');
  t.deepEqual(decodeApp(unhex('01 07 00000000 01')), { ok: false, code: 'truncated' });
  t.deepEqual(decodeApp(unhex('01 07 00000000 00 00')), { ok: false, code: 'bad-value' }, 'bytes after the list');
  // a candidate list longer than 16 is cut on encoding and refused on decoding
  const many = { ...m, candidates: Array.from({ length: 20 }, (_, i) => ({ id: BigInt(i + 1), ageS: i, rttMs: i, endpoints: [] })) };
  const enc = encodeApp(many);
  const d = decodeApp(enc);
  t.true(d.ok && d.msg.app === 'relay-sync' && d.msg.candidates.length === 16);
  const bad = enc.slice(); bad[6 + 1 + 32 + 1 + 10] = 17; // the candidate count
  t.like(decodeApp(bad), { ok: false });
  t.deepEqual(decodeApp(enc.slice(0, enc.length - 1)), { ok: false, code: 'bad-value' });
  t.deepEqual(decodeApp(unhex('01 06 00000000 04' + 'aa'.repeat(32) + '00 00')), { ok: false, code: 'bad-value' }, 'unknown flag');
  t.deepEqual(decodeApp(unhex('01 06 00000000 02' + 'aa'.repeat(32) + '00 00')), { ok: false, code: 'bad-value' }, '"uses" without a candidate');
  const uses = { ...m, uses: true };
  t.is(encodeApp(uses)[6], 3, 'flags: reply and uses');
  t.deepEqual(decodeApp(encodeApp(uses)), { ok: true, msg: uses });
  t.deepEqual(decodeApp(unhex('01 06 00000000 00' + 'aa'.repeat(10))), { ok: false, code: 'truncated' });
});

test('gateway ping and pong: golden bytes, round trip, hostile bytes', (t) => {
  t.is(hex(encodeApp({ app: 'gateway-ping', reqId: 0x01020304 })), '01' + '08' + '01020304');
  t.is(hex(encodeApp({ app: 'gateway-pong', reqId: 7, admitted: true })), '01' + '09' + '00000007' + '01');
  for (const m of [{ app: 'gateway-ping' as const, reqId: 9 }, { app: 'gateway-pong' as const, reqId: 9, admitted: false }, { app: 'gateway-pong' as const, reqId: 0xffffffff, admitted: true }]) {
    t.deepEqual(decodeApp(encodeApp(m)), { ok: true, msg: m });
  }
  t.deepEqual(decodeApp(unhex('01 08 00000001 00')), { ok: false, code: 'bad-value' }, 'a ping has no body');
  t.deepEqual(decodeApp(unhex('01 09 00000001')), { ok: false, code: 'bad-value' }, 'a pong without its flags');
  t.deepEqual(decodeApp(unhex('01 09 00000001 02')), { ok: false, code: 'bad-value' }, 'unknown flag bits');
  t.deepEqual(decodeApp(unhex('01 09 00000001 01 00')), { ok: false, code: 'bad-value' }, 'bytes after the flags');
});

test('echo request and reply: golden bytes, round trip, hostile bytes', (t) => {
  t.is(hex(encodeApp({ app: 'echo-request', reqId: 5 })), '01' + '0a' + '00000005');
  t.is(hex(encodeApp({ app: 'echo-reply', reqId: 5, hops: 3 })), '01' + '0b' + '00000005' + '03');
  t.deepEqual(decodeApp(encodeApp({ app: 'echo-reply', reqId: 5, hops: 300 })), { ok: true, msg: { app: 'echo-reply', reqId: 5, hops: 255 } }, 'hops saturate at 255');
  t.deepEqual(decodeApp(encodeApp({ app: 'echo-request', reqId: 9 })), { ok: true, msg: { app: 'echo-request', reqId: 9 } });
  t.deepEqual(decodeApp(unhex('01 0a 00000001 00')), { ok: false, code: 'bad-value' });
  t.deepEqual(decodeApp(unhex('01 0b 00000001')), { ok: false, code: 'bad-value' });
  t.deepEqual(decodeApp(unhex('01 0b 00000001 01 02')), { ok: false, code: 'bad-value' });
});
