import test from 'ava';
import { randomBytes } from 'node:crypto';
import { encodeProbeRequest, encodeProbeReply, decodeProbe, PROBE_REQUEST_LEN, PROBE_REPLY_LEN } from './probe.js';

test('probe request and reply round trip; a reply is never larger than its request', (t) => {
  const req = decodeProbe(encodeProbeRequest(0xdeadbeef));
  t.deepEqual(req, { ok: true, value: { kind: 'request', token: 0xdeadbeef, target: null } });
  t.deepEqual(decodeProbe(encodeProbeRequest(5, '10.200.0.1:51820')), { ok: true, value: { kind: 'request', token: 5, target: '10.200.0.1:51820' } });
  const key = new Uint8Array(randomBytes(32));
  const rep = decodeProbe(encodeProbeReply(7, key, '10.200.0.3:51820'));
  t.true(rep.ok);
  if (rep.ok && rep.value.kind === 'reply') {
    t.deepEqual(rep.value.staticKey, key);
    t.is(rep.value.observed, '10.200.0.3:51820');
  }
  const r6 = decodeProbe(encodeProbeReply(7, key, '[fd00::1:2]:9'));
  t.true(r6.ok && r6.value.kind === 'reply' && r6.value.observed === '[fd00:0:0:0:0:0:1:2]:9');
  t.true(PROBE_REPLY_LEN <= PROBE_REQUEST_LEN);
});

test('hostile probe bytes decode to typed errors, never throw', (t) => {
  t.deepEqual(decodeProbe(new Uint8Array(3)), { ok: false, code: 'short' });
  const bad = encodeProbeRequest(1); bad[1] = 9;
  t.deepEqual(decodeProbe(bad), { ok: false, code: 'bad_kind' });
  t.deepEqual(decodeProbe(encodeProbeRequest(1).subarray(0, 20)), { ok: false, code: 'bad_length' });
  for (let i = 0; i < 5000; i++) {
    const b = new Uint8Array(randomBytes(1 + (i % 80)));
    if (i % 2) b[0] = 7;
    t.notThrows(() => decodeProbe(b));
  }
});
