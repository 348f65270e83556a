import test from 'ava';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { generateKeyPair } from '../config/keys.js';
import { idFromBytes, idToHex, nodeIdOfKey } from '../base/nodeid.js';
import { TrustAnchor } from './anchor.js';
import { caPaths, signRequest } from './ca.js';
import { parseCertificate } from './cert.js';
import { sanUris } from './identity.js';
import { createRequest, parseRequest } from './request.js';
import { enrol, forgeCert, makeCa, tmpDir } from './testkit.js';
import { cryptoKeysOf, ED25519, ed25519PrivateFromPem, toDer, x509 } from './x509.js';

const tmp = tmpDir();
test.after.always(() => tmp.cleanup());

const setup = (async () => {
  const ca = await makeCa(tmp.dir, 'Acme VPN');
  const alpha = await enrol(ca.dir, tmp.dir, 'alpha', { address: '10.128.0.5', subnets: ['192.168.7.0/24'], groups: ['eng', 'ops'] });
  return { ca, alpha };
})();

test.serial('init -> request -> sign -> verify: the certificate carries every field', async (t) => {
  const { ca, alpha } = await setup;
  const p = caPaths(ca.dir);
  t.is(statSync(p.key).mode & 0o777, 0o600);
  t.is(statSync(alpha.identityKeyFile).mode & 0o777, 0o600);
  const r = ca.anchor.verify(alpha.der, { now: Date.now(), noiseKey: alpha.noise.publicKey, nodeId: alpha.cert.nodeId });
  if (!r.ok) return t.fail(`${r.code}: ${r.why}`);
  const c = r.cert;
  t.is(c.name, 'alpha');
  t.is(c.address, '10.128.0.5');
  t.deepEqual(c.subnets, ['192.168.7.0/24']);
  t.deepEqual(c.groups, ['eng', 'ops']);
  t.deepEqual(c.noiseKey, alpha.noise.publicKey);
  t.is(c.serial, '01');
  t.is(c.issuer, 'CN=Acme VPN');
  t.is(c.issuerKeyId, ca.anchor.keyId);
  // the same node id as nodeIdOfKey (ts/base/nodeid.ts), computed here independently
  t.is(c.nodeId, idToHex(idFromBytes(createHash('sha256').update(alpha.noise.publicKey).digest())));
  t.true(c.notAfter - c.notBefore > 364 * 86_400_000);
  // the subject key is the identity key that signed the request
  const id = ed25519PrivateFromPem(readFileSync(alpha.identityKeyFile, 'utf8'), 'id');
  t.deepEqual(Buffer.from(c.identityKey).toString('base64url'), id.export({ format: 'jwk' }).x);
  t.log(`node certificate: ${alpha.der.length} bytes DER, ${alpha.certPem.length} bytes PEM; CA certificate ${ca.anchor.der.length} bytes`);
  // nodeId may be given as a bigint too
  t.true(ca.anchor.verify(alpha.der, { now: Date.now(), nodeId: BigInt('0x' + c.nodeId) }).ok);
  // parseCertificate alone agrees
  const pc = parseCertificate(alpha.der);
  t.true(pc.ok && pc.cert.nodeId === c.nodeId);
  t.true(readFileSync(join(p.certs, '01.crt'), 'utf8').includes('BEGIN CERTIFICATE'));
});

test.serial('a certificate from another CA is unknown_ca (another name, or the same name with another key)', async (t) => {
  const { alpha } = await setup;
  const other = await makeCa(tmp.dir, 'Other CA', 'ca-other');
  const sameName = await makeCa(tmp.dir, 'Acme VPN', 'ca-same-name');
  for (const a of [other.anchor, sameName.anchor]) {
    const r = a.verify(alpha.der, { now: Date.now() });
    t.false(r.ok);
    if (!r.ok) t.is(r.code, 'unknown_ca');
  }
});

test.serial('validity window: expired and not yet valid', async (t) => {
  const { ca, alpha } = await setup;
  const code = (now: number) => { const r = ca.anchor.verify(alpha.der, { now }); return r.ok ? 'ok' : r.code; };
  t.is(code(alpha.cert.notAfter + 1000), 'expired');
  t.is(code(alpha.cert.notBefore - 1000), 'not_yet_valid');
  t.is(code(alpha.cert.notAfter), 'ok');
  // a certificate issued to start tomorrow
  const later = await enrol(ca.dir, tmp.dir, 'later', { address: '10.128.0.40', notBefore: Date.now() + 86_400_000, days: 2 });
  const r = ca.anchor.verify(later.der, { now: Date.now() });
  t.is(r.ok ? 'ok' : r.code, 'not_yet_valid');
});

test.serial('key mismatch and wrong node id', async (t) => {
  const { ca, alpha } = await setup;
  const other = generateKeyPair().publicKey;
  const km = ca.anchor.verify(alpha.der, { now: Date.now(), noiseKey: other });
  t.is(km.ok ? 'ok' : km.code, 'key_mismatch');
  const wid = ca.anchor.verify(alpha.der, { now: Date.now(), nodeId: idToHex(nodeIdOfKey(other)) });
  t.is(wid.ok ? 'ok' : wid.code, 'wrong_node_id');
});

test.serial('a CA-signed certificate whose node id is not the hash of its noise key is node_id_mismatch', async (t) => {
  const { ca } = await setup;
  const k = generateKeyPair().publicKey;
  const der = await forgeCert(ca.dir, { nodeId: idToHex(nodeIdOfKey(generateKeyPair().publicKey)), noiseKey: k });
  const r = ca.anchor.verify(der, { now: Date.now() });
  t.is(r.ok ? 'ok' : r.code, 'node_id_mismatch');
  const good = await forgeCert(ca.dir, { nodeId: idToHex(nodeIdOfKey(k)), noiseKey: k });
  t.true(ca.anchor.verify(good, { now: Date.now() }).ok, 'the forge helper makes valid certificates otherwise');
});

test.serial('the CA refuses a request whose node id is not the hash of its noise key', async (t) => {
  const { ca } = await setup;
  const priv = ed25519PrivateFromPem(readFileSync(join(tmp.dir, 'alpha.identity.key'), 'utf8'), 'id');
  const noise = generateKeyPair().publicKey;
  const uris = sanUris({ nodeId: 'ab'.repeat(20), noiseKey: noise, subnets: [], groups: [] });
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=mallory', keys: await cryptoKeysOf(priv), signingAlgorithm: ED25519,
    extensions: [new x509.SubjectAlternativeNameExtension(uris.map((value) => ({ type: 'url' as const, value })))],
  });
  const pr = parseRequest(csr.toString('pem'));
  t.is(pr.ok ? 'ok' : pr.code, 'node_id_mismatch');
  const e = await t.throwsAsync(signRequest(ca.dir, csr.toString('pem'), { address: '10.128.0.66' }));
  t.is((e as { code?: string }).code, 'E_PKI');
  t.regex(e!.message, /node_id_mismatch/);
});

test.serial('the CA refuses a request with a bad signature (no proof of possession)', async (t) => {
  const { ca, alpha } = await setup;
  const der = Buffer.from(toDer(alpha.csrPem, ['CERTIFICATE REQUEST'])!);
  der[der.length - 5]! ^= 0x01; // inside the signature
  const pr = parseRequest(der);
  t.is(pr.ok ? 'ok' : pr.code, 'bad_signature');
  await t.throwsAsync(signRequest(ca.dir, der, { address: '10.128.0.67' }), { message: /bad_signature/ });
});

test.serial('an address held by another live certificate is refused; renewal and reuse after revocation are allowed', async (t) => {
  const { dir, anchor } = await makeCa(tmp.dir, 'Addr CA', 'ca-addr');
  const a = await enrol(dir, tmp.dir, 'addr-a', { address: '10.1.0.1' });
  const noise = generateKeyPair();
  const { csrPem } = await createRequest({ name: 'addr-b', noisePublicKey: noise.publicKey, identityKeyFile: join(tmp.dir, 'addr-b.key') });
  await t.throwsAsync(signRequest(dir, csrPem, { address: '10.1.0.1' }), { message: /10\.1\.0\.1 is held by live certificate 01/ });
  const renewed = await signRequest(dir, a.csrPem, { address: '10.1.0.1' });
  t.is(renewed.cert.serial, '02');
  const { revoke } = await import('./ca.js');
  await revoke(dir, '01');
  await revoke(dir, '02');
  const b = await signRequest(dir, csrPem, { address: '10.1.0.1' });
  t.true(anchor.verify(new Uint8Array(toDer(b.certPem, ['CERTIFICATE'])!), { now: Date.now() }).ok);
});

test.serial('tampered certificates fail with bad_signature', async (t) => {
  const { ca, alpha } = await setup;
  const der = Buffer.from(alpha.der);
  const at = der.indexOf(Buffer.from('ringvpn:group:eng'));
  t.true(at > 0);
  const t1 = Buffer.from(der); t1[at + 'ringvpn:group:'.length] = 'f'.charCodeAt(0); // eng -> fng
  const t2 = Buffer.from(der); t2[t2.length - 1]! ^= 0x80; // signature
  const ip = der.indexOf(Buffer.from([10, 128, 0, 5]));
  const t3 = Buffer.from(der); t3[ip + 3] = 6; // address 10.128.0.6
  for (const bad of [t1, t2, t3]) {
    const r = ca.anchor.verify(bad, { now: Date.now() });
    t.is(r.ok ? 'ok' : r.code, 'bad_signature');
  }
  const p = parseCertificate(t3);
  t.true(p.ok && p.cert.address === '10.128.0.6', 'the tampered field parses; only the signature catches it');
});

test.serial('the trust anchor rejects what is not a CA certificate', async (t) => {
  const { alpha } = await setup;
  t.throws(() => new TrustAnchor(alpha.certPem), { message: /not a CA certificate/ });
  t.throws(() => new TrustAnchor('hello'), { message: /not a PEM CERTIFICATE/ });
  t.throws(() => new TrustAnchor(new Uint8Array(100)), { message: /not an X.509/ });
  t.throws(() => TrustAnchor.fromFile(join(tmp.dir, 'nope.crt')), { message: /cannot read/ });
});

test.serial('verification speed (informational)', async (t) => {
  const { ca, alpha } = await setup;
  const opts = { now: Date.now(), noiseKey: alpha.noise.publicKey, nodeId: alpha.cert.nodeId, isRevoked: () => false };
  for (let i = 0; i < 200; i++) ca.anchor.verify(alpha.der, opts);
  const uncached = new TrustAnchor(ca.anchor.der, 'CA', { cacheSize: 0 });
  const per = (f: () => unknown, n = 3000): number => {
    for (let i = 0; i < 200; i++) f();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) f();
    return Number(process.hrtime.bigint() - t0) / n / 1000;
  };
  const coldUs = per(() => { if (!uncached.verify(alpha.der, opts).ok) throw new Error('verify'); });
  const parseUs = per(() => parseCertificate(alpha.der));
  const warmUs = per(() => { if (!ca.anchor.verify(alpha.der, opts).ok) throw new Error('verify'); });
  t.log(`TrustAnchor.verify: ${coldUs.toFixed(1)} µs for a certificate not seen before (parse ${parseUs.toFixed(1)} µs + Ed25519), ${warmUs.toFixed(1)} µs for one already verified`);
  // the cache never changes an answer
  t.is((() => { const r = ca.anchor.verify(alpha.der, { ...opts, isRevoked: () => true }); return r.ok ? 'ok' : r.code; })(), 'revoked');
  t.is((() => { const r = ca.anchor.verify(alpha.der, { now: 0 }); return r.ok ? 'ok' : r.code; })(), 'not_yet_valid');
});
