// Owns the node's static X25519 key pair in its text form (base64 of the raw 32 bytes).
// It must not read files or decide where keys live; callers hand it strings and bytes.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { RingvpnError } from '../base/errors.js';

const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519 = Buffer.from('302a300506032b656e032100', 'hex');

export interface KeyPair {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

export function privateKeyObject(raw: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_X25519, raw]), format: 'der', type: 'pkcs8' });
}

export function publicFromPrivate(raw: Uint8Array): Uint8Array {
  const spki = createPublicKey(privateKeyObject(raw)).export({ format: 'der', type: 'spki' });
  return new Uint8Array(spki.subarray(SPKI_X25519.length));
}

export function generateKeyPair(): KeyPair {
  const { privateKey } = generateKeyPairSync('x25519');
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  const raw = new Uint8Array(der.subarray(PKCS8_X25519.length));
  return { privateKey: raw, publicKey: publicFromPrivate(raw) };
}

/** Decodes a base64 key of exactly 32 bytes; `what` names the key in the error. */
export function decodeKey(text: string, what: string): Uint8Array {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/]{43}=$/.test(trimmed)) {
    throw new RingvpnError('E_KEY', `${what}: expected 32 bytes in base64 (44 characters ending in '='), got ${JSON.stringify(trimmed.slice(0, 60))}`);
  }
  return new Uint8Array(Buffer.from(trimmed, 'base64'));
}

export function encodeKey(raw: Uint8Array): string {
  return Buffer.from(raw).toString('base64');
}
