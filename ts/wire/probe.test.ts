import test from 'ava';
import { randomBytes } from 'node:crypto';
import { encodeProbeRequest, encodeProbeReply, decodeProbe, isProbeFrame, PROBE_REQUEST_LEN, PROBE_REPLY_LEN } from './probe.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const KEY = Uint8Array.from({ length: 32 }, (_, i) => i);

// Golden vectors: type 7, version 1, kind, 0, token u32BE, then the endpoint block (family, port u16BE, 16 address bytes).
const REQ_V4 = '07 01 01 00 deadbeef' + ' 04 ca6c 0ac80001' + '00'.repeat(12) + '00'.repeat(37);
const REQ_NONE = '07 01 01 00 00000005' + '00'.repeat(19) + '00'.repeat(37);
const REP_V6 = '07 01 02 00 00000102' + hex(KEY) + ' 06 0009 fd000000000000000000000000010002';
const REP_V4 = '07 01 02 00 ffffffff' + hex(KEY) + ' 04 01bb c0000201' + '00'.repeat(12);

test('golden bytes for requests and replies', (t) => {
  t.is(hex(encodeProbeRequest(0xdeadbeef, '10.200.0.1:51820')), REQ_V4.replace(/\s+/g, ''));
  t.is(hex(encodeProbeRequest(5)), REQ_NONE.replace(/\s+/g, ''));
  t.is(hex(encodeProbeReply(0x102, KEY, '[fd00::1:2]:9')), REP_V6.replace(/\s+/g, ''));
  t.is(hex(encodeProbeReply(0xffffffff, KEY, '192.0.2.1:443')), REP_V4.replace(/\s+/g, ''));
  t.deepEqual(decodeProbe(unhex(REQ_V4)), { ok: true, value: { kind: 'request', token: 0xdeadbeef, target: '10.200.0.1:51820' } });
  t.deepEqual(decodeProbe(unhex(REQ_NONE)), { ok: true, value: { kind: 'request', token: 5, target: null } });
  t.deepEqual(decodeProbe(unhex(REP_V6)), { ok: true, value: { kind: 'reply', token: 0x102, staticKey: KEY, observed: '[fd00::1:2]:9' } });
  t.deepEqual(decodeProbe(unhex(REP_V4)), { ok: true, value: { kind: 'reply', token: 0xffffffff, staticKey: KEY, observed: '192.0.2.1:443' } });
  t.is(unhex(REQ_V4).length, PROBE_REQUEST_LEN);
  t.is(unhex(REP_V6).length, PROBE_REPLY_LEN);
  t.true(isProbeFrame(unhex(REQ_V4)));
  t.false(isProbeFrame(Uint8Array.of(1, 0, 0, 0)));
});

test('probe request and reply round trip; a reply is never larger than its request', (t) => {
  t.deepEqual(decodeProbe(encodeProbeRequest(0xdeadbeef)), { ok: true, value: { kind: 'request', token: 0xdeadbeef, target: null } });
  const key = new Uint8Array(randomBytes(32));
  const rep = decodeProbe(encodeProbeReply(7, key, '10.200.0.3:51820'));
  t.deepEqual(rep, { ok: true, value: { kind: 'reply', token: 7, staticKey: key, observed: '10.200.0.3:51820' } });
  t.true(PROBE_REPLY_LEN <= PROBE_REQUEST_LEN);
});

test('endpoint text: IPv4 and [IPv6]:port, printed in RFC 5952 form; anything else is "none"', (t) => {
  const seen = (ep: string): string | null => {
    const d = decodeProbe(encodeProbeRequest(1, ep));
    return d.ok && d.value.kind === 'request' ? d.value.target : 'error';
  };
  t.is(seen('0.0.0.0:0'), '0.0.0.0:0');
  t.is(seen('255.255.255.255:65535'), '255.255.255.255:65535');
  t.is(seen('[::]:1'), '[::]:1');
  t.is(seen('[::1]:51820'), '[::1]:51820');
  t.is(seen('[FD00:0:0:0:0:0:0:1]:2'), '[fd00::1]:2');
  t.is(seen('[1:0:0:2:0:0:0:3]:4'), '[1:0:0:2::3]:4');
  t.is(seen('[1:0:2:3:4:5:6:7]:4'), '[1:0:2:3:4:5:6:7]:4');
  t.is(seen('[2001:db8::]:80'), '[2001:db8::]:80');
  t.is(seen('[::FFFF:102:304]:1'), '[::ffff:1.2.3.4]:1'); // IPv4-mapped, as a dual-stack socket reports it
  for (const bad of ['256.1.1.1:1', '1.2.3.4:65536', '1.2.3.4', 'host:80', '[1::2::3]:1', '[1:2:3:4:5:6:7:8:9]:1',
    '[12345::]:1', '[1:2:3:4:5:6:7]:1', '::1:80', '']) {
    t.is(seen(bad), null, bad);
  }
});

test('hostile probe bytes decode to typed errors, never throw', (t) => {
  t.deepEqual(decodeProbe(new Uint8Array(1)), { ok: false, code: 'short' });
  t.deepEqual(decodeProbe(Uint8Array.of(1, 1, 1, 0, 0, 0, 0, 0)), { ok: false, code: 'not_probe' });
  for (const v of [0, 2, 255]) {
    const b = encodeProbeRequest(1); b[1] = v;
    t.deepEqual(decodeProbe(b), { ok: false, code: 'bad_version' });
  }
  t.deepEqual(decodeProbe(Uint8Array.of(7, 1, 1)), { ok: false, code: 'short' });
  const pad = encodeProbeRequest(1); pad[3] = 1;
  t.deepEqual(decodeProbe(pad), { ok: false, code: 'bad_padding' });
  const kind = encodeProbeRequest(1); kind[2] = 9;
  t.deepEqual(decodeProbe(kind), { ok: false, code: 'bad_kind' });
  t.deepEqual(decodeProbe(encodeProbeRequest(1).subarray(0, 20)), { ok: false, code: 'bad_length' });
  t.deepEqual(decodeProbe(encodeProbeReply(1, KEY, null).subarray(0, 58)), { ok: false, code: 'bad_length' });
  const fam = encodeProbeRequest(1); fam[8] = 5;
  t.deepEqual(decodeProbe(fam), { ok: false, code: 'bad_family' });
  for (let i = 0; i < 5000; i++) {
    const b = new Uint8Array(randomBytes(1 + (i % 80)));
    if (i % 2) b[0] = 7;
    if (i % 4 === 1 && b.length > 1) b[1] = 1;
    t.notThrows(() => decodeProbe(b));
  }
});
