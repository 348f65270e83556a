import test from 'ava';
import { randomBytes } from 'node:crypto';
import { encodeApp, decodeApp } from './app.js';

test('neighbour query and reply round trip', (t) => {
  t.deepEqual(decodeApp(encodeApp({ app: 'neighbours-req', reqId: 9 })), { ok: true, msg: { app: 'neighbours-req', reqId: 9 } });
  const view = { left1: 5n, right1: (1n << 159n) + 3n, right2: 77n };
  t.deepEqual(decodeApp(encodeApp({ app: 'neighbours-reply', reqId: 1, view })), { ok: true, msg: { app: 'neighbours-reply', reqId: 1, view } });
});

test('handshake and revocation payloads round trip', (t) => {
  const bytes = new Uint8Array([1, 0, 0, 0, 9, 9]);
  t.deepEqual(decodeApp(encodeApp({ app: 'handshake', bytes })), { ok: true, msg: { app: 'handshake', bytes } });
  t.deepEqual(decodeApp(encodeApp({ app: 'revocation', record: bytes })), { ok: true, msg: { app: 'revocation', record: bytes } });
  t.false(decodeApp(new Uint8Array([3, 0, 0, 0, 0])).ok);
});

test('hostile app payloads never throw', (t) => {
  for (let i = 0; i < 5000; i++) {
    const b = new Uint8Array(randomBytes(i % 90));
    if (b.length) b[0] = 1 + (i % 3);
    t.notThrows(() => decodeApp(b));
  }
  t.false(decodeApp(new Uint8Array([2, 0, 0, 0, 0, 1])).ok);
});
