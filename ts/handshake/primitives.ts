// Owns the primitives of Noise_*_25519_ChaChaPoly_BLAKE2s on node:crypto: X25519, BLAKE2s, HMAC, HKDF, AEAD.
// It must not keep state or throw on hostile keys or ciphertexts: failures come back as null.
import { createCipheriv, createDecipheriv, createHash, createHmac, createPrivateKey, createPublicKey, diffieHellman, type KeyObject } from 'node:crypto';

export const DHLEN = 32;
export const HASHLEN = 32;
export const TAGLEN = 16;

export type Random = (n: number) => Uint8Array;
/** X25519 between a raw private and a raw public key; null when the result is unusable (low-order point). */
export type DhFn = (privateKey: Uint8Array, publicKey: Uint8Array) => Uint8Array | null;

export interface KeyPair {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

// Building a KeyObject costs more than the DH itself: keep one per key array (a static key, an
// ephemeral used twice, a peer's key), released with the array. Key arrays are never mutated here.
// Keys are imported as JWK, which OpenSSL takes as raw bytes: the DER (PKCS#8 / SPKI) import runs
// OpenSSL 3's decoder, ~10x slower (a private key and its public half 600 µs against 57, a public
// key 100 µs against 10) and some hundred mallocs a key, which a flood of handshakes multiplies.
const privObjects = new WeakMap<Uint8Array, KeyObject>();
const pubObjects = new WeakMap<Uint8Array, KeyObject>();

function b64url(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');
}

function privateKeyObject(privateKey: Uint8Array): KeyObject {
  let k = privObjects.get(privateKey);
  // Node requires `x` to be a string but derives the public half from `d`.
  if (!k) { k = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b64url(privateKey), x: '' }, format: 'jwk' }); privObjects.set(privateKey, k); }
  return k;
}

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  let k = pubObjects.get(publicKey);
  if (!k) { k = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(publicKey) }, format: 'jwk' }); pubObjects.set(publicKey, k); }
  return k;
}

export function x25519PublicKey(privateKey: Uint8Array): Uint8Array {
  const priv = privateKeyObject(privateKey);
  const { x } = createPublicKey(priv).export({ format: 'jwk' });
  return new Uint8Array(Buffer.from(x ?? '', 'base64url'));
}

export const x25519: DhFn = (privateKey, publicKey) => {
  if (privateKey.length !== DHLEN || publicKey.length !== DHLEN) return null;
  try {
    return new Uint8Array(diffieHellman({ privateKey: privateKeyObject(privateKey), publicKey: publicKeyObject(publicKey) }));
  } catch {
    return null; // OpenSSL refuses an all-zero shared secret
  }
};

export function keyPairFromPrivate(privateKey: Uint8Array): KeyPair {
  const own = new Uint8Array(privateKey);
  return { privateKey: own, publicKey: x25519PublicKey(own) };
}

export function generateKeyPair(random: Random): KeyPair {
  return keyPairFromPrivate(random(DHLEN));
}

export function blake2s(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('blake2s256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

export function hmacBlake2s(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = createHmac('blake2s256', key);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** Noise HKDF (section 4.3) with HMAC-BLAKE2s; returns 2 or 3 outputs. */
export function hkdf(chainingKey: Uint8Array, ikm: Uint8Array, n: 2 | 3): Uint8Array[] {
  const tempKey = hmacBlake2s(chainingKey, ikm);
  const out1 = hmacBlake2s(tempKey, Uint8Array.of(1));
  const out2 = hmacBlake2s(tempKey, out1, Uint8Array.of(2));
  if (n === 2) return [out1, out2];
  return [out1, out2, hmacBlake2s(tempKey, out2, Uint8Array.of(3))];
}

/** ChaChaPoly nonce: 32 bits of zeros then the 64-bit counter little-endian. */
export function chachaNonce(n: bigint): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64LE(n, 4);
  return nonce;
}

export function aeadEncrypt(key: Uint8Array, n: bigint, ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const c = createCipheriv('chacha20-poly1305', key, chachaNonce(n), { authTagLength: TAGLEN });
  c.setAAD(ad, { plaintextLength: plaintext.length });
  const body = Buffer.concat([c.update(plaintext), c.final()]);
  return new Uint8Array(Buffer.concat([body, c.getAuthTag()]));
}

export function aeadDecrypt(key: Uint8Array, n: bigint, ad: Uint8Array, ciphertext: Uint8Array): Uint8Array | null {
  if (ciphertext.length < TAGLEN) return null;
  try {
    const d = createDecipheriv('chacha20-poly1305', key, chachaNonce(n), { authTagLength: TAGLEN });
    const bodyLen = ciphertext.length - TAGLEN;
    d.setAAD(ad, { plaintextLength: bodyLen });
    d.setAuthTag(ciphertext.subarray(bodyLen));
    return new Uint8Array(Buffer.concat([d.update(ciphertext.subarray(0, bodyLen)), d.final()]));
  } catch {
    return null;
  }
}
