// Owns trust: the group CA's certificate as an anchor, and the synchronous check that a node
// certificate was issued by it, is in its window, is not revoked and names the key and id we expect.
// It must not do I/O beyond fromFile, nor anything async: it runs on the handshake path.
import { createHash, verify as edVerify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AsnConvert } from '@peculiar/asn1-schema';
import { BasicConstraints, Certificate, SubjectKeyIdentifier } from '@peculiar/asn1-x509';
import { commonName, dnText, extensionMap, isEd25519, OID_BASIC_CONSTRAINTS, OID_SKI, parseCertParts, type CertParts, type NodeCert } from './cert.js';
import { idToHex, nodeIdOfKey, normalizeNodeId } from '../base/nodeid.js';
import { ed25519PublicFromRaw, parseAsn, pkiError, toDer } from './x509.js';

export type VerifyCode =
  | 'malformed' | 'unknown_ca' | 'bad_signature' | 'expired' | 'not_yet_valid' | 'revoked'
  | 'key_mismatch' | 'wrong_node_id' | 'node_id_mismatch';

export interface VerifyOptions {
  /** the time to judge the validity window at, ms since the epoch */
  now: number;
  /** the Noise static key the peer used in the handshake: the certificate must carry it */
  noiseKey?: Uint8Array;
  /** the node id we meant to reach (hex or bigint) */
  nodeId?: string | bigint;
  isRevoked?: (serial: string, nodeId: string) => boolean;
}

export type VerifyResult = { ok: true; cert: NodeCert } | { ok: false; code: VerifyCode; why: string };

const CERT_LABELS = ['CERTIFICATE'];
const SIGNED_CACHE_SIZE = 1024;

/** The group CA, parsed once: its name, key (as a cached KeyObject) and key id. */
export class TrustAnchor {
  readonly name: string;
  readonly subject: string;
  /** subject key identifier (hex): node certificates name it as their authority key id */
  readonly keyId: string;
  readonly publicKey: KeyObject;
  readonly publicKeyRaw: Uint8Array;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly der: Uint8Array;
  /** SHA-256 of the CA certificate's DER, hex */
  readonly fingerprint: string;
  private readonly subjectDer: Buffer;
  /** certificates whose CA signature verified, by DER (parsing is most of a first verify's cost) */
  private readonly signedCache = new Map<string, CertParts>();

  /** Parses a CA certificate (PEM or DER); throws E_PKI saying what is wrong with it. */
  private readonly cacheSize: number;

  constructor(data: Uint8Array | string, source = 'CA certificate', opts: { cacheSize?: number } = {}) {
    this.cacheSize = opts.cacheSize ?? SIGNED_CACHE_SIZE;
    const der = toDer(data, CERT_LABELS);
    if (!der) throw pkiError(`${source} is not a PEM CERTIFICATE or DER certificate`);
    const c = parseAsn(der, Certificate);
    if (!c?.tbsCertificateRaw) throw pkiError(`${source} is not an X.509 certificate`);
    const t = c.tbsCertificate;
    const spki = t.subjectPublicKeyInfo;
    if (!isEd25519(c.signatureAlgorithm) || !isEd25519(spki.algorithm) || spki.subjectPublicKey.byteLength !== 32) {
      throw pkiError(`${source} is not an Ed25519 CA certificate (ringvpn CAs use Ed25519)`);
    }
    const exts = extensionMap(t.extensions);
    const bc = exts?.get(OID_BASIC_CONSTRAINTS);
    if (!exts || !bc || !AsnConvert.parse(bc.extnValue.buffer, BasicConstraints).cA) {
      throw pkiError(`${source} is not a CA certificate (basicConstraints CA is not set); is it a node certificate?`);
    }
    this.publicKeyRaw = new Uint8Array(spki.subjectPublicKey.slice(0));
    this.publicKey = ed25519PublicFromRaw(this.publicKeyRaw);
    this.subjectDer = Buffer.from(AsnConvert.serialize(t.subject));
    if (!this.subjectDer.equals(Buffer.from(AsnConvert.serialize(t.issuer)))
      || !edVerify(null, new Uint8Array(c.tbsCertificateRaw), this.publicKey, new Uint8Array(c.signatureValue))) {
      throw pkiError(`${source} is not self-signed by its own key`);
    }
    const ski = exts.get(OID_SKI);
    this.keyId = ski ? Buffer.from(AsnConvert.parse(ski.extnValue.buffer, SubjectKeyIdentifier).buffer).toString('hex') : caKeyId(this.publicKeyRaw);
    this.name = commonName(t.subject) ?? dnText(t.subject);
    this.subject = dnText(t.subject);
    this.notBefore = t.validity.notBefore.getTime().getTime();
    this.notAfter = t.validity.notAfter.getTime().getTime();
    this.der = new Uint8Array(der);
    this.fingerprint = createHash('sha256').update(der).digest('hex');
  }

  static fromFile(path: string): TrustAnchor {
    let data: Buffer;
    try {
      data = readFileSync(path);
    } catch (e) {
      throw pkiError(`cannot read CA certificate ${path}: ${(e as Error).message}`, e);
    }
    return new TrustAnchor(data, path);
  }

  /** True if a structure with this issuer name (DER) and authority key id was issued by this CA. */
  issued(issuerDer: Uint8Array, authorityKeyId: string | null): boolean {
    return this.subjectDer.equals(issuerDer) && (authorityKeyId === null || authorityKeyId === this.keyId);
  }

  /** Ed25519 signature by the CA key over `message`. Never throws. */
  verifySignature(message: Uint8Array, signature: Uint8Array): boolean {
    try {
      return signature.length === 64 && edVerify(null, message, this.publicKey, signature);
    } catch {
      return false;
    }
  }

  /**
   * Verifies a node certificate (DER) for admission. Synchronous, never throws. Checks, in order:
   * form, issuer, signature, window (the certificate's and the CA's), node id = hash of the Noise
   * key, revocation, the expected Noise key, the expected node id. Certificates whose signature
   * verified are remembered by their DER (up to `cacheSize`), so a repeat costs no parse or signature check.
   */
  verify(der: Uint8Array, opts: VerifyOptions): VerifyResult {
    if (!(der instanceof Uint8Array)) return { ok: false, code: 'malformed', why: 'not bytes' };
    const key = this.cacheSize > 0 ? Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('latin1') : '';
    let parts = this.cacheSize > 0 ? this.signedCache.get(key) : undefined;
    if (!parts) {
      const p = parseCertParts(der);
      if (!p.ok) return p;
      const { cert, tbs, signature, issuerDer } = p.parts;
      if (!this.issued(issuerDer, cert.issuerKeyId)) {
        return { ok: false, code: 'unknown_ca', why: `issued by "${cert.issuer}"${cert.issuerKeyId ? ` (key id ${cert.issuerKeyId.slice(0, 16)}…)` : ''}, not by this CA "${this.subject}" (key id ${this.keyId.slice(0, 16)}…)` };
      }
      if (!this.verifySignature(tbs, signature)) return { ok: false, code: 'bad_signature', why: 'the CA signature does not verify' };
      parts = p.parts;
      if (this.cacheSize > 0) {
        if (this.signedCache.size >= this.cacheSize) this.signedCache.delete(this.signedCache.keys().next().value!);
        this.signedCache.set(key, parts);
      }
    }
    const cert = parts.cert;
    const now = opts.now;
    if (!Number.isFinite(now)) return { ok: false, code: 'expired', why: 'no valid time to judge the window at (opts.now)' };
    if (now < cert.notBefore) return { ok: false, code: 'not_yet_valid', why: `valid from ${iso(cert.notBefore)}` };
    if (now > cert.notAfter) return { ok: false, code: 'expired', why: `expired at ${iso(cert.notAfter)}` };
    if (now < this.notBefore) return { ok: false, code: 'not_yet_valid', why: `the CA certificate is valid from ${iso(this.notBefore)}` };
    if (now > this.notAfter) return { ok: false, code: 'expired', why: `the CA certificate expired at ${iso(this.notAfter)}` };
    if (idToHex(nodeIdOfKey(cert.noiseKey)) !== cert.nodeId) {
      return { ok: false, code: 'node_id_mismatch', why: 'the node id is not the hash of the certified Noise key' };
    }
    if (opts.isRevoked?.(cert.serial, cert.nodeId)) return { ok: false, code: 'revoked', why: `serial ${cert.serial} is revoked` };
    if (opts.noiseKey && !Buffer.from(opts.noiseKey).equals(cert.noiseKey)) {
      return { ok: false, code: 'key_mismatch', why: 'the Noise static key differs from the certified one' };
    }
    if (opts.nodeId !== undefined && normalizeNodeId(opts.nodeId) !== cert.nodeId) {
      return { ok: false, code: 'wrong_node_id', why: `certificate is for node ${cert.nodeId}, not the one expected` };
    }
    return { ok: true, cert: copyCert(cert) };
  }
}

/** A copy whose byte fields and lists the caller may keep or change without touching the cache. */
function copyCert(c: NodeCert): NodeCert {
  return { ...c, noiseKey: c.noiseKey.slice(), identityKey: c.identityKey.slice(), subnets: [...c.subnets], groups: [...c.groups], der: c.der.slice() };
}

/** The key id ringvpn gives a CA key: SHA-1 of the raw public key (RFC 5280 4.2.1.2 method 1). */
export function caKeyId(rawPublic: Uint8Array): string {
  return createHash('sha1').update(rawPublic).digest('hex');
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
