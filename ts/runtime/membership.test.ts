// Certificates inside the Noise handshake, without any network: two Handshakers wired through
// Membership, and every refusal the group PKI must make before a session exists.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Handshaker, type Action } from '../handshake/handshake.js';
import { Membership } from './membership.js';
import { tmpDir, makeCa, enrol, forgeCert } from '../pki/testkit.js';
import { revoke, signRequest } from '../pki/ca.js';
import { toDer } from '../pki/x509.js';
import { idToHex, nodeIdOfKey } from '../base/nodeid.js';
import { silentLogger } from '../base/log.js';

const log = silentLogger;
const rnd = (n: number) => new Uint8Array(randomBytes(n));

async function setup() {
  const tmp = tmpDir();
  const ca = await makeCa(tmp.dir);
  const a = await enrol(ca.dir, tmp.dir, 'a', { address: '10.128.0.2' });
  const b = await enrol(ca.dir, tmp.dir, 'b', { address: '10.128.0.3' });
  const pem = (name: string, der: Uint8Array) => {
    const f = join(tmp.dir, name);
    writeFileSync(f, `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64')}\n-----END CERTIFICATE-----\n`);
    return f;
  };
  const caCrt = join(ca.dir, 'ca.crt');
  return { tmp, ca, a, b, pem, caCrt };
}

function member(caCrt: string, certFile: string, key: { privateKey: Uint8Array; publicKey: Uint8Array }) {
  return new Membership({ ca: caCrt, cert: certFile, crlPollSeconds: 60 }, nodeIdOfKey(key.publicKey), key.publicKey, log, () => {});
}

function hs(key: { privateKey: Uint8Array; publicKey: Uint8Array }, m: Membership, certDer: Uint8Array, expect: Map<number, bigint>) {
  return new Handshaker({
    staticPrivate: key.privateKey, staticPublic: key.publicKey, random: rnd, admit: () => 1,
    certificate: () => certDer,
    verifyPeer: (c) => { const v = m.verify(c.staticPublic, c.certificate, c.weInitiated && c.peerId !== null ? expect.get(c.peerId) : undefined, Date.now()); return v.ok ? { ok: true } : { ok: false, code: v.code }; },
  });
}

const sends = (acts: Action[]) => acts.filter((x): x is Extract<Action, { kind: 'send' }> => x.kind === 'send');

test('certified nodes handshake; the peer certificate is checked on both sides', async (t) => {
  const s = await setup();
  const ma = member(s.caCrt, s.pem('a.crt', s.a.der), s.a.noise), mb = member(s.caCrt, s.pem('b.crt', s.b.der), s.b.noise);
  const A = hs(s.a.noise, ma, s.a.der, new Map([[1, nodeIdOfKey(s.b.noise.publicKey)]]));
  const B = hs(s.b.noise, mb, s.b.der, new Map());
  A.addPeer(1, s.b.noise.publicKey);
  const init = sends(A.initiate(1, 1000))[0]!;
  const r = B.receive(init.bytes, 1000);
  t.true(r.some((x) => x.kind === 'established'));
  const fin = A.receive(sends(r)[0]!.bytes, 1001);
  t.true(fin.some((x) => x.kind === 'established'));
  t.is(mb.certOf(nodeIdOfKey(s.a.noise.publicKey))?.address, '10.128.0.2');
  t.is(ma.certOf(nodeIdOfKey(s.b.noise.publicKey))?.address, '10.128.0.3');
  s.tmp.cleanup();
});

test('refused before any session: no certificate, unknown CA, expired, key mismatch (a member in the middle), revoked', async (t) => {
  const s = await setup();
  const mb = member(s.caCrt, s.pem('b.crt', s.b.der), s.b.noise);
  const B = hs(s.b.noise, mb, s.b.der, new Map());
  const tryWith = (key: { privateKey: Uint8Array; publicKey: Uint8Array }, cert: Uint8Array | null) => {
    const X = new Handshaker({ staticPrivate: key.privateKey, staticPublic: key.publicKey, random: rnd, certificate: () => cert, verifyPeer: () => ({ ok: true }) });
    X.addPeer(1, s.b.noise.publicKey);
    const out = B.receive(sends(X.initiate(1, Date.now()))[0]!.bytes, Date.now());
    return out.find((x) => x.kind === 'rejected') as { code: string } | undefined;
  };
  t.is(tryWith(s.a.noise, null)?.code, 'cert_missing');
  const other = await makeCa(s.tmp.dir, 'Other CA', 'other');
  const alien = await enrol(other.dir, s.tmp.dir, 'alien', { address: '10.128.0.9' });
  t.is(tryWith(alien.noise, alien.der)?.code, 'cert_unknown_ca');
  const expired = await forgeCert(s.ca.dir, { nodeId: idToHex(nodeIdOfKey(s.a.noise.publicKey)), noiseKey: s.a.noise.publicKey, address: '10.128.0.2', serial: '7f02', notBefore: Date.now() - 3 * 86400_000, notAfter: Date.now() - 86400_000 });
  t.is(tryWith(s.a.noise, expired)?.code, 'cert_expired');
  // the victim's certificate presented with another key (a member in the middle)
  const m2 = await enrol(s.ca.dir, s.tmp.dir, 'mitm', { address: '10.128.0.4' });
  t.is(tryWith(m2.noise, s.a.der)?.code, 'cert_key_mismatch');
  // revocation through a signed record
  const rv = await revoke(s.ca.dir, s.a.certPem);
  t.true(mb.applyRecord(rv.record, 'test').fresh);
  t.is(tryWith(s.a.noise, s.a.der)?.code, 'cert_revoked');
  s.tmp.cleanup();
});

test('the initiator refuses a responder whose certificate names another node than the one it meant to reach', async (t) => {
  const s = await setup();
  const ma = member(s.caCrt, s.pem('a.crt', s.a.der), s.a.noise), mb = member(s.caCrt, s.pem('b.crt', s.b.der), s.b.noise);
  // A believes peer 1 is some other node id, but reaches B's key
  const A = hs(s.a.noise, ma, s.a.der, new Map([[1, 12345n]]));
  const B = hs(s.b.noise, mb, s.b.der, new Map());
  A.addPeer(1, s.b.noise.publicKey);
  const r = B.receive(sends(A.initiate(1, 1000))[0]!.bytes, 1000);
  const fin = A.receive(sends(r)[0]!.bytes, 1001);
  t.is((fin.find((x) => x.kind === 'rejected') as { code: string } | undefined)?.code, 'cert_wrong_node_id');
  t.false(fin.some((x) => x.kind === 'established'));
  s.tmp.cleanup();
});

test('a reload reads pki.cert again: a renewed certificate replaces ours; another address, another key or garbage change nothing', async (t) => {
  const s = await setup();
  const file = s.pem('a.crt', s.a.der);
  const ma = member(s.caCrt, file, s.a.noise);
  t.deepEqual(ma.rereadCert(), { ok: true, changed: false }, 'the same file: nothing to do');
  // the same request signed again (a renewal), now also in a group
  const renewed = await signRequest(s.ca.dir, s.a.csrPem, { address: '10.128.0.2', groups: ['ops'], days: 30 });
  writeFileSync(file, renewed.certPem);
  t.deepEqual(ma.rereadCert(), { ok: true, changed: true });
  t.is(ma.own.serial, renewed.cert.serial, 'ours is the renewed one');
  t.deepEqual(ma.own.groups, ['ops']);
  t.true(Buffer.from(ma.ownDer).equals(Buffer.from(toDer(renewed.certPem, ['CERTIFICATE'])!)), 'handshakes present it from now on');
  const moved = await signRequest(s.ca.dir, s.a.csrPem, { address: '10.128.0.9' });
  writeFileSync(file, moved.certPem);
  const r1 = ma.rereadCert();
  t.like(r1, { ok: false, code: 'E_RESTART_NEEDED' }, 'another address takes a restart');
  t.is(ma.own.serial, renewed.cert.serial, 'and ours stays');
  writeFileSync(file, s.b.certPem);
  t.like(ma.rereadCert(), { ok: false, code: 'E_PKI' }, 'a certificate for another key is refused');
  writeFileSync(file, 'not a certificate');
  t.like(ma.rereadCert(), { ok: false, code: 'E_PKI' }, 'so is garbage');
  t.is(ma.own.serial, renewed.cert.serial);
  t.is(ma.counters.own_certificate_replaced, 1);
  s.tmp.cleanup();
});
