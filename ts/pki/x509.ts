// Owns the PKI's contact with its libraries: loads @peculiar/x509 (with its reflect polyfill) on
// node's WebCrypto, the Ed25519 OIDs, PEM <-> DER, Ed25519 key conversions and the PKI error.
// It must not decide what a certificate means (cert.ts) and never hand-writes ASN.1.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import * as asn1js from 'asn1js';
import { AsnParser } from '@peculiar/asn1-schema';
import { createPrivateKey, createPublicKey, webcrypto, type KeyObject } from 'node:crypto';
import { errors, type RingvpnError } from '../base/errors.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);
export { x509 };

export const OID_ED25519 = '1.3.101.112';
export const ED25519: Algorithm = { name: 'Ed25519' };

/** The PKI's error: code E_PKI for every refusal of a CA operation or a bad PKI file (the message says which). */
export function pkiError(message: string, cause?: unknown): RingvpnError {
  return errors.E_PKI(message, { cause });
}

/** PEM input larger than this is refused (a CRL of thousands of entries is far smaller). */
const MAX_PEM_CHARS = 4 << 20;

/** Bytes that look like PEM text (start with optional whitespace then "-----BEGIN"). */
export function looksLikePem(data: Uint8Array | string): boolean {
  const head = typeof data === 'string' ? data.slice(0, 64) : Buffer.from(data.subarray(0, 64)).toString('latin1');
  return /^\s*-----BEGIN /.test(head);
}

/**
 * DER from PEM text (the first block) or raw DER. Returns null when `data` is PEM of another
 * label, bad base64 or too large; never throws, linear time. `labels` lists the accepted labels.
 */
export function toDer(data: Uint8Array | string, labels: readonly string[]): Uint8Array | null {
  if (typeof data !== 'string' && !looksLikePem(data)) return data;
  if (data.length > MAX_PEM_CHARS) return null;
  const text = typeof data === 'string' ? data : Buffer.from(data).toString('latin1');
  const begin = text.indexOf('-----BEGIN ');
  if (begin < 0) return null;
  const labelEnd = text.indexOf('-----', begin + 11);
  if (labelEnd < 0) return null;
  const label = text.slice(begin + 11, labelEnd);
  if (!labels.includes(label)) return null;
  const end = text.indexOf(`-----END ${label}-----`, labelEnd + 5);
  if (end < 0) return null;
  const body = text.slice(labelEnd + 5, end).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) return null;
  return new Uint8Array(Buffer.from(body, 'base64'));
}

export function toPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** The 32 raw bytes of an Ed25519 public KeyObject. */
export function rawEd25519Public(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: 'jwk' });
  return new Uint8Array(Buffer.from(jwk.x ?? '', 'base64url'));
}

/** An Ed25519 public KeyObject from its 32 raw bytes. */
export function ed25519PublicFromRaw(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

/** Reads a PKCS#8 PEM Ed25519 private key; throws E_PKI naming `what` if it is not one. */
export function ed25519PrivateFromPem(pem: string, what: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (e) {
    throw pkiError(`${what} is not a PEM private key: ${(e as Error).message}`, e);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw pkiError(`${what} is a ${key.asymmetricKeyType ?? 'unknown'} key; ringvpn uses Ed25519`);
  return key;
}

/** WebCrypto keys for @peculiar/x509's generators from a node Ed25519 private key. */
export async function cryptoKeysOf(priv: KeyObject): Promise<CryptoKeyPair> {
  const pkcs8 = priv.export({ format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(priv).export({ format: 'der', type: 'spki' });
  const subtle = webcrypto.subtle;
  const privateKey = await subtle.importKey('pkcs8', pkcs8, ED25519, false, ['sign']);
  const publicKey = await subtle.importKey('spki', spki, ED25519, true, ['verify']);
  return { privateKey, publicKey } as unknown as CryptoKeyPair;
}

/** Canonical serial text: lower-case hex of the unsigned value, no leading zero bytes ("00" for 0). */
export function serialHex(bytes: Uint8Array): string {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const hex = Buffer.from(bytes.subarray(i)).toString('hex');
  return hex === '' ? '00' : hex;
}

/** Parses user text for a serial ("0x1f", "1F", "01f") into canonical form; null if not hex or longer than 20 bytes. */
export function normalizeSerial(text: string): string | null {
  let t = text.trim().toLowerCase();
  if (t.startsWith('0x')) t = t.slice(2);
  if (!/^[0-9a-f]{1,40}$/.test(t)) return null;
  if (t.length % 2) t = '0' + t;
  return serialHex(new Uint8Array(Buffer.from(t, 'hex')));
}

/** Resource limits for untrusted DER: ringvpn certificates are < 1 KB, CRLs stay small. */
const BER_LIMITS = { maxDepth: 24, maxNodes: 20_000, maxContentLength: 1 << 20 };

/**
 * Decodes DER into an asn1-schema class; null on any error or trailing bytes. Never throws.
 * Keeps the raw sub-encodings the schema asks for (tbsCertificateRaw, tbsCertListRaw, ...).
 */
export function parseAsn<T>(der: Uint8Array, target: new () => T): T | null {
  try {
    const parsed = asn1js.fromBER(arrayBufferOf(der), BER_LIMITS);
    if (parsed.offset !== der.byteLength || parsed.result.error) return null;
    return AsnParser.fromASN(parsed.result, target, { berOptions: BER_LIMITS });
  } catch {
    return null;
  }
}

/** A fresh ArrayBuffer holding exactly these bytes (for APIs typed on ArrayBuffer). */
export function arrayBufferOf(u: Uint8Array): ArrayBuffer {
  return u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;
}
