import test from 'ava';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadCa, refreshCrl, revoke } from './ca.js';
import { parseCertificate } from './cert.js';
import { parseCrl, RevokedSet } from './crl.js';
import { parseRequest } from './request.js';
import {
  decodeRevocation, encodeRevocation, REVOCATION_MAX_BYTES, signRevocation, verifyRevocation,
} from './revocation.js';
import { enrol, makeCa, tmpDir } from './testkit.js';
import { toDer } from './x509.js';

const tmp = tmpDir();
test.after.always(() => tmp.cleanup());

const setup = (async () => {
  const ca = await makeCa(tmp.dir, 'Rev CA');
  const a = await enrol(ca.dir, tmp.dir, 'rev-a', { address: '10.2.0.1' });
  const b = await enrol(ca.dir, tmp.dir, 'rev-b', { address: '10.2.0.2' });
  const c = await enrol(ca.dir, tmp.dir, 'rev-c', { address: '10.2.0.3' });
  const other = await makeCa(tmp.dir, 'Other CA', 'ca-other');
  return { ca, a, b, c, other };
})();

test.serial('CRL round trip: revoke, parse, verify refuses the revoked certificate only', async (t) => {
  const { ca, a, b, c } = await setup;
  const empty = parseCrl(readFileSync(loadCa(ca.dir).paths.crl), ca.anchor);
  t.true(empty.ok && empty.serials.size === 0, 'init writes an empty CRL');
  const now = Date.now();
  const ra = await revoke(ca.dir, a.certPem, 'keyCompromise', { now, crlDays: 2 });
  const rb = await revoke(ca.dir, b.cert.serial, 'left the company', { now });
  t.is(ra.serial, a.cert.serial);
  t.is(rb.nodeId, b.cert.nodeId);
  const crl = parseCrl(readFileSync(rb.crlFile, 'utf8'), ca.anchor);
  if (!crl.ok) return t.fail(`${crl.code}: ${crl.why}`);
  t.deepEqual([...crl.serials].sort(), [a.cert.serial, b.cert.serial].sort());
  t.is(crl.thisUpdate, Math.floor(now / 1000) * 1000);
  t.is(crl.nextUpdate, Math.floor(now / 1000) * 1000 + 7 * 86_400_000);
  t.true((crl.crlNumber ?? 0) >= 3);
  const set = new RevokedSet();
  t.deepEqual(set.addCrl(crl).sort(), [a.cert.serial, b.cert.serial].sort());
  const code = (der: Uint8Array) => { const r = ca.anchor.verify(der, { now: Date.now(), isRevoked: set.isRevoked }); return r.ok ? 'ok' : r.code; };
  t.is(code(a.der), 'revoked');
  t.is(code(b.der), 'revoked');
  t.is(code(c.der), 'ok');
  // DER works as well as PEM; revoking twice keeps the first time
  t.true(parseCrl(toDer(readFileSync(rb.crlFile, 'utf8'), ['X509 CRL'])!, ca.anchor).ok);
  const again = await revoke(ca.dir, a.cert.serial);
  t.true(again.alreadyRevoked);
  t.is(again.revokedAt, ra.revokedAt);
  // refresh moves nextUpdate
  const later = now + 3 * 86_400_000;
  await refreshCrl(ca.dir, { now: later, crlDays: 1 });
  const fresh = parseCrl(readFileSync(rb.crlFile), ca.anchor);
  t.true(fresh.ok && fresh.nextUpdate === Math.floor(later / 1000) * 1000 + 86_400_000 && fresh.serials.size === 2);
});

test.serial('a CRL from another CA is unknown_ca; a tampered CRL is bad_signature', async (t) => {
  const { ca, other } = await setup;
  const otherCrl = readFileSync(loadCa(other.dir).paths.crl);
  const r1 = parseCrl(otherCrl, ca.anchor);
  t.is(r1.ok ? 'ok' : r1.code, 'unknown_ca');
  await revoke(ca.dir, '03');
  const der = Buffer.from(toDer(readFileSync(loadCa(ca.dir).paths.crl, 'utf8'), ['X509 CRL'])!);
  const tampered = Buffer.from(der);
  tampered[tampered.length - 70]! ^= 0x01; // last byte of the tbs (before the 64-byte signature and its header)
  const r2 = parseCrl(tampered, ca.anchor);
  t.false(r2.ok);
  if (!r2.ok) t.true(r2.code === 'bad_signature' || r2.code === 'malformed');
  const sig = Buffer.from(der); sig[sig.length - 1]! ^= 0x01;
  const r3 = parseCrl(sig, ca.anchor);
  t.is(r3.ok ? 'ok' : r3.code, 'bad_signature');
});

test.serial('revocation record: round trip, size, tamper, wrong CA', async (t) => {
  const { ca, c, other } = await setup;
  const key = loadCa(ca.dir).key;
  const rec = signRevocation(key, { serial: c.cert.serial, nodeId: c.cert.nodeId, revokedAt: 1_700_000_000_123 });
  t.true(rec.length <= REVOCATION_MAX_BYTES && REVOCATION_MAX_BYTES <= 1024);
  t.log(`revocation record: ${rec.length} bytes (max ${REVOCATION_MAX_BYTES})`);
  const v = verifyRevocation(rec, ca.anchor);
  t.deepEqual(v, { ok: true, serial: c.cert.serial, nodeId: c.cert.nodeId, revokedAt: 1_700_000_000_123 });
  const set = new RevokedSet();
  t.true(set.addRecord(v));
  t.false(set.addRecord(v));
  t.true(set.nodes.get(c.cert.nodeId)?.has(c.cert.serial));
  const r = ca.anchor.verify(c.der, { now: Date.now(), isRevoked: set.isRevoked });
  t.is(r.ok ? 'ok' : r.code, 'revoked');
  for (let i = 0; i < rec.length; i++) {
    const bad = Uint8Array.from(rec); bad[i]! ^= 0x04;
    t.false(verifyRevocation(bad, ca.anchor).ok, `flip at byte ${i}`);
  }
  const wrong = verifyRevocation(rec, other.anchor);
  t.is(wrong.ok ? 'ok' : wrong.code, 'bad_signature');
  const v2 = Uint8Array.from(rec); v2[0] = 2;
  const u = verifyRevocation(v2, ca.anchor);
  t.is(u.ok ? 'ok' : u.code, 'unsupported_version');
  // 20-byte serials and the layout of the signed part
  const long = signRevocation(key, { serial: '7f' + 'ab'.repeat(19), nodeId: 'cd'.repeat(20), revokedAt: 0 });
  t.is(long.length, REVOCATION_MAX_BYTES);
  const d = decodeRevocation(long);
  t.true(d.ok && d.serial === '7f' + 'ab'.repeat(19));
  const body = encodeRevocation({ serial: '01', nodeId: 'cd'.repeat(20), revokedAt: 258 });
  t.deepEqual([...body.subarray(0, 3)], [1, 1, 1]);
  t.deepEqual([...body.subarray(-2)], [1, 2]);
  t.throws(() => encodeRevocation({ serial: 'xyz', nodeId: 'cd'.repeat(20), revokedAt: 0 }));
  // the CA's revoke() returns a record the anchor accepts
  const rr = await revoke(ca.dir, c.cert.serial);
  t.true(verifyRevocation(rr.record, ca.anchor).ok);
  t.deepEqual(new Uint8Array(readFileSync(rr.recordFile)), rr.record);
});

test.serial('hostile bytes never throw (fuzz)', async (t) => {
  const { ca, a } = await setup;
  const crl = toDer(readFileSync(loadCa(ca.dir).paths.crl, 'utf8'), ['X509 CRL'])!;
  const csr = toDer(a.csrPem, ['CERTIFICATE REQUEST'])!;
  const rec = signRevocation(generateKeyPairSync('ed25519').privateKey, { serial: '01', nodeId: a.cert.nodeId, revokedAt: 1 });
  const seeds = [a.der, crl, csr, rec];
  let rng = 12345;
  const rand = (n: number) => { rng = (rng * 1103515245 + 12345) >>> 0; return rng % n; };
  const mutate = (s: Uint8Array): Uint8Array => {
    const m = rand(5);
    if (m === 0) return randomBytes(rand(600));
    if (m === 1) return s.subarray(0, rand(s.length + 1));
    const b = Uint8Array.from(s);
    for (let k = 1 + rand(4); k > 0; k--) {
      const i = rand(b.length);
      b[i] = m === 2 ? b[i]! ^ (1 << rand(8)) : m === 3 ? rand(256) : [0x00, 0x80, 0xff, 0x30, 0x84][rand(5)]!;
    }
    return b;
  };
  let accepted = 0;
  const n = 6000;
  for (let i = 0; i < n; i++) {
    const input = mutate(seeds[i % seeds.length]!);
    const ctx = `input ${Buffer.from(input).toString('hex')}`;
    const v = ca.anchor.verify(input, { now: Date.now() });
    const results = [
      parseCertificate(input), v, parseCrl(input, ca.anchor), parseRequest(input), verifyRevocation(input, ca.anchor), decodeRevocation(input),
    ];
    for (const r of results) if (typeof r.ok !== 'boolean') t.fail(ctx);
    if (v.ok && !Buffer.from(input).equals(a.der)) {
      accepted++;
      // a mutated certificate may only verify if it still says exactly what the CA signed
      t.is(v.cert.nodeId, a.cert.nodeId, ctx);
      t.is(v.cert.address, a.cert.address, ctx);
      t.is(v.cert.serial, a.cert.serial, ctx);
    }
  }
  t.log(`${n} hostile inputs through 6 parsers, none threw; ${accepted} changed certificates still verified (with identical fields)`);
  // non-Uint8Array junk and PEM junk
  for (const junk of ['', '-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----', '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----']) {
    t.false(parseCrl(junk, ca.anchor).ok);
    t.false(parseRequest(junk).ok);
  }
  t.false(parseCertificate(undefined as unknown as Uint8Array).ok);
  t.false(decodeRevocation(null as unknown as Uint8Array).ok);
});
