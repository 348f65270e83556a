// Owns the PKI tests' fixtures: temporary CAs, enrolled nodes, and certificates forged with a CA's
// key that skip signRequest's checks. It must not be imported by non-test code.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, type KeyPair } from '../config/keys.js';
import { TrustAnchor } from './anchor.js';
import { initCa, loadCa, signRequest, type SignOptions } from './ca.js';
import type { NodeCert } from './cert.js';
import { sanUris } from './identity.js';
import { createRequest } from './request.js';
import { cryptoKeysOf, ED25519, toDer, x509 } from './x509.js';

export function tmpDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'ringvpn-pki-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function makeCa(root: string, name = 'Test CA', sub = 'ca'): Promise<{ dir: string; anchor: TrustAnchor }> {
  const dir = join(root, sub);
  const r = await initCa(dir, { name, days: 3650 });
  return { dir, anchor: new TrustAnchor(r.certPem) };
}

export interface Enrolled {
  noise: KeyPair;
  csrPem: string;
  certPem: string;
  der: Uint8Array;
  cert: NodeCert;
  identityKeyFile: string;
}

export async function enrol(caDir: string, root: string, name: string, o: SignOptions): Promise<Enrolled> {
  const noise = generateKeyPair();
  const identityKeyFile = join(root, `${name}.identity.key`);
  const { csrPem } = await createRequest({ name, noisePublicKey: noise.publicKey, identityKeyFile });
  const r = await signRequest(caDir, csrPem, o);
  return { noise, csrPem, certPem: r.certPem, der: toDer(r.certPem, ['CERTIFICATE'])!, cert: r.cert, identityKeyFile };
}

export interface ForgeParams {
  name?: string;
  nodeId: string;
  noiseKey: Uint8Array;
  address?: string;
  serial?: string;
  notBefore?: number;
  notAfter?: number;
}

/** A node certificate signed directly with the CA's key, with whatever fields the test wants. */
export async function forgeCert(caDir: string, p: ForgeParams): Promise<Uint8Array> {
  const ca = loadCa(caDir);
  const { publicKey } = await cryptoKeysOf(generateKeyPairSync('ed25519').privateKey);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: p.serial ?? '7f01',
    subject: [{ CN: [p.name ?? 'forged'] }],
    issuer: ca.cert.subjectName,
    notBefore: new Date(p.notBefore ?? now - 60_000),
    notAfter: new Date(p.notAfter ?? now + 86_400_000),
    publicKey,
    signingKey: (await cryptoKeysOf(ca.key)).privateKey,
    signingAlgorithm: ED25519,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.SubjectAlternativeNameExtension([
        { type: 'ip', value: p.address ?? '10.9.9.9' },
        ...sanUris({ nodeId: p.nodeId, noiseKey: p.noiseKey, subnets: [], groups: [] }).map((value) => ({ type: 'url' as const, value })),
      ]),
      new x509.AuthorityKeyIdentifierExtension(ca.anchor.keyId),
    ],
  });
  return new Uint8Array(cert.rawData);
}
