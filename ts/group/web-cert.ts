// Owns the group server's own HTTPS certificate: made once (ECDSA P-256, self-signed, naming the
// server's host) in <data>/web/, kept mode 0600, and its SHA-256 pin that join codes carry. It must not
// touch the groups' CAs (those sign members, this one only the web server).
import { createHash, webcrypto } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isIpv4, isIpv6 } from '../base/ip.js';
import { x509, toDer } from '../pki/x509.js';

export interface WebCert { cert: string; key: string; pin: string; created: boolean }

/** SHA-256 of a certificate's DER (hex): what a join code pins. */
export function certPin(pemOrDer: string | Uint8Array): string {
  const der = typeof pemOrDer === 'string' ? toDer(pemOrDer, ['CERTIFICATE']) : pemOrDer;
  if (!der) throw new TypeError('not a certificate');
  return createHash('sha256').update(der).digest('hex');
}

/** The server's certificate and key, made on first use for `host` (a name or an address). */
export async function loadOrCreateWebCert(dataDir: string, host: string): Promise<WebCert> {
  const dir = join(dataDir, 'web'), certFile = join(dir, 'server.crt'), keyFile = join(dir, 'server.key');
  if (existsSync(certFile) && existsSync(keyFile)) {
    const cert = readFileSync(certFile, 'utf8');
    return { cert, key: readFileSync(keyFile, 'utf8'), pin: certPin(cert), created: false };
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']) as CryptoKeyPair;
  const bare = host.replace(/^\[|\]$/g, '');
  const san = isIpv4(bare) || isIpv6(bare) ? { type: 'ip' as const, value: bare } : { type: 'dns' as const, value: bare };
  const now = Date.now();
  const c = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(8))).toString('hex').replace(/^[89a-f]/, '1'),
    name: [{ CN: [`ringvpn group server ${bare}`] }],
    notBefore: new Date(now - 300_000), notAfter: new Date(now + 10 * 365 * 86_400_000),
    keys, signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([san]),
    ],
  }, webcrypto as unknown as Crypto);
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64').replace(/(.{64})/g, '$1\n');
  const key = `-----BEGIN PRIVATE KEY-----\n${pkcs8}\n-----END PRIVATE KEY-----\n`;
  const cert = c.toString('pem') + '\n';
  writeFileSync(keyFile, key, { mode: 0o600 });
  writeFileSync(certFile, cert, { mode: 0o644 });
  return { cert, key, pin: certPin(cert), created: true };
}
