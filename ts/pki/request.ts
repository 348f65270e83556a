// Owns the node's side of enrolment: its Ed25519 identity key file and the PKCS#10 request that
// carries its name, node id and Noise key, signed with the identity key (proof of possession).
// It must not issue anything (ca.ts does); parseRequest never throws on hostile bytes.
import { generateKeyPairSync, verify as edVerify, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificationRequest } from '@peculiar/asn1-csr';
import { Extensions, SubjectAlternativeName } from '@peculiar/asn1-x509';
import { commonName, extensionMap, isEd25519, OID_SAN } from './cert.js';
import { idToHex, nodeIdOfKey } from '../base/nodeid.js';
import { fieldsFromUris, isNodeName, NOISE_KEY_BYTES, sanUris } from './identity.js';
import { cryptoKeysOf, ed25519PrivateFromPem, ed25519PublicFromRaw, parseAsn, pkiError, toDer, x509, ED25519 } from './x509.js';

const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
export const MAX_CSR_BYTES = 8192;

export interface NodeRequest {
  name: string;
  nodeId: string;
  noiseKey: Uint8Array;
  /** the Ed25519 identity key that signed the request; it becomes the certificate's subject key */
  identityKey: Uint8Array;
  der: Uint8Array;
}

export type RequestCode = 'malformed' | 'bad_signature' | 'node_id_mismatch';
export type RequestResult = { ok: true; req: NodeRequest } | { ok: false; code: RequestCode; why: string };

/** Reads the identity key (PKCS#8 PEM, Ed25519), creating it with mode 0600 if the file is missing. */
export function loadOrCreateIdentityKey(path: string): { key: KeyObject; created: boolean } {
  if (existsSync(path)) return { key: ed25519PrivateFromPem(readFileSync(path, 'utf8'), `identity key ${path}`), created: false };
  const { privateKey } = generateKeyPairSync('ed25519');
  try {
    writeFileSync(path, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
  } catch (e) {
    throw pkiError(`cannot write identity key ${path}: ${(e as Error).message}`, e);
  }
  return { key: privateKey, created: true };
}

export interface CreateRequestParams {
  name: string;
  noisePublicKey: Uint8Array;
  identityKeyFile: string;
}

export interface CreatedRequest {
  csrPem: string;
  nodeId: string;
  identityKeyFile: string;
  /** true if the identity key file did not exist and was generated */
  identityKeyCreated: boolean;
}

/** Builds the CSR: subject CN = name, SAN URIs ringvpn:node and ringvpn:noise, signed by the identity key. */
export async function createRequest(p: CreateRequestParams): Promise<CreatedRequest> {
  if (!isNodeName(p.name)) throw pkiError(`node name ${JSON.stringify(p.name)} is not a DNS label (letters, digits and -)`);
  if (p.noisePublicKey.length !== NOISE_KEY_BYTES) throw pkiError('the Noise public key must be 32 bytes');
  const { key, created } = loadOrCreateIdentityKey(p.identityKeyFile);
  const nodeId = idToHex(nodeIdOfKey(p.noisePublicKey));
  const uris = sanUris({ nodeId, noiseKey: p.noisePublicKey, subnets: [], groups: [] });
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [p.name] }],
    keys: await cryptoKeysOf(key),
    signingAlgorithm: ED25519,
    extensions: [new x509.SubjectAlternativeNameExtension(uris.map((value) => ({ type: 'url' as const, value })))],
  });
  return { csrPem: csr.toString('pem') + '\n', nodeId, identityKeyFile: p.identityKeyFile, identityKeyCreated: created };
}

/** Reads a CSR (PEM or DER), checks its signature and that its node id is the hash of its Noise key. */
export function parseRequest(data: Uint8Array | string): RequestResult {
  const bad = (code: RequestCode, why: string): RequestResult => ({ ok: false, code, why });
  const der = toDer(data, ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST']);
  if (!der || der.length > MAX_CSR_BYTES) return bad('malformed', 'not a PEM CERTIFICATE REQUEST or DER PKCS#10 request');
  const c = parseAsn(der, CertificationRequest);
  if (!c?.certificationRequestInfoRaw) return bad('malformed', 'not a PKCS#10 certificate request');
  try {
    const info = c.certificationRequestInfo;
    const spki = info.subjectPKInfo;
    if (!isEd25519(c.signatureAlgorithm) || !isEd25519(spki.algorithm) || spki.subjectPublicKey.byteLength !== 32) {
      return bad('malformed', 'the request is not signed with an Ed25519 identity key');
    }
    const identityKey = new Uint8Array(spki.subjectPublicKey.slice(0));
    let sigOk = false;
    try {
      sigOk = edVerify(null, new Uint8Array(c.certificationRequestInfoRaw), ed25519PublicFromRaw(identityKey), new Uint8Array(c.signature));
    } catch { /* a malformed key or signature: not verified */ }
    if (!sigOk) return bad('bad_signature', 'the request signature does not verify with its own key');
    const name = commonName(info.subject);
    if (name === null || !isNodeName(name)) return bad('malformed', 'subject CN is missing or not a DNS label');
    const extAttr = info.attributes.filter((a) => a.type === OID_EXTENSION_REQUEST);
    if (extAttr.length !== 1 || extAttr[0]!.values.length !== 1) return bad('malformed', 'no single extension request');
    const exts = extensionMap(AsnConvert.parse(extAttr[0]!.values[0]!, Extensions));
    const sanExt = exts?.get(OID_SAN);
    if (!sanExt) return bad('malformed', 'no subjectAltName extension request');
    const uris: string[] = [];
    for (const g of AsnConvert.parse(sanExt.extnValue.buffer, SubjectAlternativeName)) {
      if (g.uniformResourceIdentifier !== undefined) uris.push(g.uniformResourceIdentifier);
    }
    const f = fieldsFromUris(uris);
    if (!f.ok) return bad('malformed', f.why);
    if (idToHex(nodeIdOfKey(f.fields.noiseKey)) !== f.fields.nodeId) {
      return bad('node_id_mismatch', 'the requested node id is not the hash of the Noise key');
    }
    return { ok: true, req: { name, nodeId: f.fields.nodeId, noiseKey: f.fields.noiseKey, identityKey, der: new Uint8Array(der) } };
  } catch (e) {
    return bad('malformed', `undecodable request field: ${(e as Error)?.message ?? 'error'}`.slice(0, 120));
  }
}
