// Owns hostile certificate requests for the group server's tests: a request whose node id is not the
// hash of its Noise key, and one whose signature is broken. It must not be used outside tests.
import { generateKeyPairSync } from 'node:crypto';
import { x509, ED25519, cryptoKeysOf } from '../pki/x509.js';
import { sanUris } from '../pki/identity.js';
import { idToHex, nodeIdOfKey } from '../base/nodeid.js';
import { generateKeyPair } from '../config/keys.js';

export async function forgeRequest(o: { name: string; nodeIdFromOtherKey?: boolean; breakSignature?: boolean }): Promise<string> {
  const noise = generateKeyPair().publicKey;
  const nodeId = idToHex(nodeIdOfKey(o.nodeIdFromOtherKey ? generateKeyPair().publicKey : noise));
  const { privateKey } = generateKeyPairSync('ed25519');
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [o.name] }],
    keys: await cryptoKeysOf(privateKey),
    signingAlgorithm: ED25519,
    extensions: [new x509.SubjectAlternativeNameExtension(sanUris({ nodeId, noiseKey: noise, subnets: [], groups: [] }).map((value) => ({ type: 'url' as const, value })))],
  });
  const der = new Uint8Array(csr.rawData);
  if (o.breakSignature) der[der.length - 5]! ^= 0xff;
  return `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from(der).toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
}
