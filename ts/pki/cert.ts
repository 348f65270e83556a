// Owns the meaning of a ringvpn node certificate: DER -> NodeCert (node id, Noise key, address,
// subnets, groups, window, serial) and the raw parts a verifier checks (tbs bytes, signature, issuer).
// It must not decide trust (anchor.ts does) and never throws on hostile bytes.
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  AuthorityKeyIdentifier, BasicConstraints, Certificate, SubjectAlternativeName,
  type Extension, type Name,
} from '@peculiar/asn1-x509';
import { fieldsFromUris, isNodeName } from './identity.js';
import { isIpv4 } from '../base/ip.js';
import { OID_ED25519, parseAsn, serialHex } from './x509.js';

/** A parsed node certificate. Times are ms since the epoch; byte fields are copies. */
export interface NodeCert {
  /** canonical lower-case hex, see serialHex */
  serial: string;
  /** 40 lower-case hex digits */
  nodeId: string;
  /** the Noise static X25519 public key (32 bytes) */
  noiseKey: Uint8Array;
  /** the node's Ed25519 identity key: the certificate's subject public key (32 bytes) */
  identityKey: Uint8Array;
  address: string;
  subnets: string[];
  groups: string[];
  name: string;
  notBefore: number;
  notAfter: number;
  /** issuer distinguished name as text, e.g. "CN=acme" */
  issuer: string;
  /** authority key identifier (hex) when the certificate carries one */
  issuerKeyId: string | null;
  der: Uint8Array;
}

export type ParseCode = 'malformed';
export type ParseResult = { ok: true; cert: NodeCert } | { ok: false; code: ParseCode; why: string };

/** What a verifier needs besides the fields: the signed bytes and who signed them. */
export interface CertParts {
  cert: NodeCert;
  tbs: Uint8Array;
  signature: Uint8Array;
  issuerDer: Uint8Array;
}

export const MAX_CERT_BYTES = 8192;

export const OID_SAN = '2.5.29.17';
export const OID_BASIC_CONSTRAINTS = '2.5.29.19';
export const OID_KEY_USAGE = '2.5.29.15';
export const OID_AKI = '2.5.29.35';
export const OID_SKI = '2.5.29.14';
export const OID_EKU = '2.5.29.37';
const KNOWN_EXTENSIONS = new Set([OID_SAN, OID_BASIC_CONSTRAINTS, OID_KEY_USAGE, OID_AKI, OID_SKI, OID_EKU]);

const OID_CN = '2.5.4.3';
const DN_SHORT: Record<string, string> = { [OID_CN]: 'CN', '2.5.4.10': 'O', '2.5.4.11': 'OU', '2.5.4.6': 'C', '2.5.4.7': 'L', '2.5.4.8': 'ST' };

/** Parses a node certificate (DER). Never throws. */
export function parseCertificate(der: Uint8Array): ParseResult {
  const r = parseCertParts(der);
  return r.ok ? { ok: true, cert: r.parts.cert } : r;
}

export function parseCertParts(der: Uint8Array): { ok: true; parts: CertParts } | { ok: false; code: ParseCode; why: string } {
  const bad = (why: string): { ok: false; code: ParseCode; why: string } => ({ ok: false, code: 'malformed', why });
  if (!(der instanceof Uint8Array) || der.length < 64 || der.length > MAX_CERT_BYTES) return bad('not a certificate of plausible size');
  const c = parseAsn(der, Certificate);
  if (!c || !c.tbsCertificateRaw) return bad('not a DER X.509 certificate');
  try {
    const t = c.tbsCertificate;
    if (t.version !== 2) return bad('not an X.509 v3 certificate');
    if (!isEd25519(c.signatureAlgorithm) || !isEd25519(t.signature)) return bad('not signed with Ed25519');
    const spki = t.subjectPublicKeyInfo;
    if (!isEd25519(spki.algorithm) || spki.subjectPublicKey.byteLength !== 32) return bad('subject key is not an Ed25519 key');
    const signature = new Uint8Array(c.signatureValue);
    if (signature.length !== 64) return bad('signature is not 64 bytes');
    const name = commonName(t.subject);
    if (name === null || !isNodeName(name)) return bad('subject CN is missing or not a DNS label');
    const exts = extensionMap(t.extensions);
    if (!exts) return bad('repeated or unknown critical extension');
    const bc = exts.get(OID_BASIC_CONSTRAINTS);
    if (bc && AsnConvert.parse(bc.extnValue.buffer, BasicConstraints).cA) return bad('a CA certificate, not a node certificate');
    const sanExt = exts.get(OID_SAN);
    if (!sanExt) return bad('no subjectAltName');
    const san = AsnConvert.parse(sanExt.extnValue.buffer, SubjectAlternativeName);
    const uris: string[] = [], ips: string[] = [];
    for (const g of san) {
      if (g.uniformResourceIdentifier !== undefined) uris.push(g.uniformResourceIdentifier);
      else if (g.iPAddress !== undefined) ips.push(g.iPAddress);
    }
    if (ips.length !== 1 || !isIpv4(ips[0]!)) return bad('subjectAltName must hold exactly one IPv4 address');
    const f = fieldsFromUris(uris);
    if (!f.ok) return bad(f.why);
    const akiExt = exts.get(OID_AKI);
    const akiId = akiExt ? AsnConvert.parse(akiExt.extnValue.buffer, AuthorityKeyIdentifier).keyIdentifier : undefined;
    const notBefore = t.validity.notBefore.getTime().getTime(), notAfter = t.validity.notAfter.getTime().getTime();
    if (!Number.isFinite(notBefore) || !Number.isFinite(notAfter)) return bad('bad validity time');
    const cert: NodeCert = {
      serial: serialHex(new Uint8Array(t.serialNumber)),
      nodeId: f.fields.nodeId,
      noiseKey: f.fields.noiseKey,
      identityKey: new Uint8Array(spki.subjectPublicKey.slice(0)),
      address: ips[0]!,
      subnets: f.fields.subnets,
      groups: f.fields.groups,
      name,
      notBefore,
      notAfter,
      issuer: dnText(t.issuer),
      issuerKeyId: akiId ? Buffer.from(akiId.buffer).toString('hex') : null,
      der: new Uint8Array(der),
    };
    return {
      ok: true,
      parts: { cert, tbs: new Uint8Array(c.tbsCertificateRaw), signature, issuerDer: new Uint8Array(AsnConvert.serialize(t.issuer)) },
    };
  } catch (e) {
    return bad(`undecodable field: ${(e as Error)?.message ?? 'error'}`.slice(0, 120));
  }
}

/** Ed25519 AlgorithmIdentifier: the OID with parameters absent (RFC 8410). */
export function isEd25519(alg: { algorithm: string; parameters?: ArrayBuffer | null }): boolean {
  return alg.algorithm === OID_ED25519 && (alg.parameters === undefined || alg.parameters === null);
}

/** Extensions by OID; null if one repeats or an unknown one is critical. */
export function extensionMap(list: readonly Extension[] | undefined): Map<string, Extension> | null {
  const m = new Map<string, Extension>();
  for (const e of list ?? []) {
    if (m.has(e.extnID)) return null;
    if (e.critical && !KNOWN_EXTENSIONS.has(e.extnID)) return null;
    m.set(e.extnID, e);
  }
  return m;
}

export function commonName(name: Name): string | null {
  let cn: string | null = null;
  for (const rdn of name) for (const atv of rdn) {
    if (atv.type !== OID_CN) continue;
    if (cn !== null) return null;
    cn = atv.value.toString();
  }
  return cn;
}

/** Distinguished name as "CN=x, O=y" (RDN order as encoded). */
export function dnText(name: Name): string {
  const parts: string[] = [];
  for (const rdn of name) for (const atv of rdn) parts.push(`${DN_SHORT[atv.type] ?? atv.type}=${atv.value.toString()}`);
  return parts.join(', ');
}
