// Owns WireGuard's cookie mechanism (paper §5.4.7) for our handshake: the cookie reply wire format
// (outer type 3), the responder's rotating secret and cookies bound to a source address, mac2, and
// the initiator's stored cookie. It must not hold peers, do Diffie-Hellman or read clocks: `now` and
// `random` come in, and hostile bytes give a typed result, never an exception.
//
// Cookie reply (type 3), 64 bytes:
//  0        1        2        3        4                8                         32
//  +--------+--------+--------+--------+----------------+-------------------------+----------------------+
//  | 3      | 0      | 0      | 0      | receiver u32LE | nonce (24, random)      | cookie 16 + tag 16   |
//  +--------+--------+--------+--------+----------------+-------------------------+----------------------+
// receiver = the sender index of the initiation it answers. The cookie is sealed with
// XChaCha20-Poly1305, key = BLAKE2s-256("cookie--" || responder's static public key), AAD = the mac1
// of the initiation it answers (so only the initiator that sent it can use the reply).
// cookie = HMAC-BLAKE2s(secret, source "ip:port")[..16]; the secret is 32 random bytes replaced every
// COOKIE_SECRET_MS (2 minutes); a cookie made with an older secret no longer verifies.
// mac2 = HMAC-BLAKE2s(cookie, every byte before mac2)[..16]; all zero without a cookie (frames.ts
// places it after mac1 in initiations and responses).
import { timingSafeEqual } from 'node:crypto';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { blake2s, hmacBlake2s, type Random } from './primitives.js';
import { FRAME_TYPE_COOKIE } from '../wire/frame-types.js';

export const MAC_LEN = 16;
export const COOKIE_LEN = 16;
export const COOKIE_NONCE_LEN = 24;
export const COOKIE_REPLY_LEN = 8 + COOKIE_NONCE_LEN + COOKIE_LEN + 16;
/** The responder's secret lives this long (WireGuard: 2 minutes). */
export const COOKIE_SECRET_MS = 120_000;
/** An initiator uses a received cookie this long (WireGuard's COOKIE_REFRESH_TIME less a margin). */
export const COOKIE_USE_MS = 120_000 - 5_000;

const COOKIE_LABEL = new TextEncoder().encode('cookie--');
const enc = new TextEncoder();

/** The key cookie replies *from* the holder of `staticPublic` are sealed with. */
export function cookieKey(staticPublic: Uint8Array): Uint8Array {
  return blake2s(COOKIE_LABEL, staticPublic);
}

export function mac(key: Uint8Array, covered: Uint8Array): Uint8Array {
  return hmacBlake2s(key, covered).subarray(0, MAC_LEN);
}

export type CookieReplyResult = { ok: true; receiver: number; nonce: Uint8Array; sealed: Uint8Array } | { ok: false; code: 'bad_cookie_reply' };

export function decodeCookieReply(bytes: Uint8Array): CookieReplyResult {
  if (bytes.length !== COOKIE_REPLY_LEN || bytes[0] !== FRAME_TYPE_COOKIE || bytes[1] !== 0 || bytes[2] !== 0 || bytes[3] !== 0) return { ok: false, code: 'bad_cookie_reply' };
  const receiver = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true);
  return { ok: true, receiver, nonce: bytes.slice(8, 8 + COOKIE_NONCE_LEN), sealed: bytes.slice(8 + COOKIE_NONCE_LEN) };
}

/**
 * The responder's side: decides whether an initiation proves it can receive at its source address
 * (a valid mac2), and makes the cookie reply that lets it prove so next time.
 */
export class CookieChecker {
  private secret: Uint8Array;
  private secretAt: number;
  private readonly sealKey: Uint8Array;

  constructor(ownStaticPublic: Uint8Array, private readonly random: Random, now: number) {
    this.sealKey = cookieKey(ownStaticPublic);
    this.secret = random(32);
    this.secretAt = now;
  }

  private current(now: number): Uint8Array {
    if (now - this.secretAt >= COOKIE_SECRET_MS || now < this.secretAt) {
      this.secret = this.random(32);
      this.secretAt = now;
    }
    return this.secret;
  }

  /** The cookie of `source` ("ip:port") under the current secret. */
  cookieFor(source: string, now: number): Uint8Array {
    return mac(this.current(now), enc.encode(source));
  }

  /** True when the message's trailing mac2 was made with the current cookie of `source`. */
  checkMac2(message: Uint8Array, source: string, now: number): boolean {
    if (message.length < MAC_LEN) return false;
    const split = message.length - MAC_LEN;
    const expect = mac(this.cookieFor(source, now), message.subarray(0, split));
    return timingSafeEqual(expect, message.subarray(split));
  }

  /** The cookie reply to an initiation from `source` (sender index, its mac1). */
  reply(sender: number, mac1: Uint8Array, source: string, now: number): Uint8Array {
    const out = new Uint8Array(COOKIE_REPLY_LEN);
    out[0] = FRAME_TYPE_COOKIE;
    new DataView(out.buffer).setUint32(4, sender >>> 0, true);
    const nonce = this.random(COOKIE_NONCE_LEN);
    out.set(nonce, 8);
    out.set(xchacha20poly1305(this.sealKey, nonce, mac1).encrypt(this.cookieFor(source, now)), 8 + COOKIE_NONCE_LEN);
    return out;
  }
}

/** The initiator's side for one peer: the cookie it last received and mac2 for the next message. */
export class CookieJar {
  private cookie: Uint8Array | null = null;
  private cookieAt = 0;
  private readonly openKey: Uint8Array;

  constructor(peerStaticPublic: Uint8Array) {
    this.openKey = cookieKey(peerStaticPublic);
  }

  /** Open a reply to the message whose mac1 was `mac1`; false when it does not authenticate. */
  accept(nonce: Uint8Array, sealed: Uint8Array, mac1: Uint8Array, now: number): boolean {
    let cookie: Uint8Array;
    try {
      cookie = xchacha20poly1305(this.openKey, nonce, mac1).decrypt(sealed);
    } catch {
      return false;
    }
    if (cookie.length !== COOKIE_LEN) return false;
    this.cookie = cookie;
    this.cookieAt = now;
    return true;
  }

  /** mac2 over `covered` (everything before mac2): zeros without a fresh cookie. */
  mac2(covered: Uint8Array, now: number): Uint8Array {
    if (!this.cookie || now - this.cookieAt >= COOKIE_USE_MS || now < this.cookieAt) return new Uint8Array(MAC_LEN);
    return mac(this.cookie, covered);
  }
}
