// Owns the handshake wire format (outer frame types 1 and 2, FRAME_TYPE_HANDSHAKE_INIT/_RESP) and the
// mac1 check that runs before any DH. It must not hold state, do Diffie-Hellman, or throw on hostile
// bytes: decode returns a typed error. docs/interfaces.md specifies the whole handshake; cookie.ts owns
// the cookie reply (type 3) and what mac2 is made from.
//
// Initiation (type 1), 8 + noise + 32 bytes (148 without a certificate, as in WireGuard; the Noise
// payload is the 12-byte TAI64N timestamp followed by the initiator's certificate DER, if any):
//  0        1        2        3        4                8
//  +--------+--------+--------+--------+----------------+---------------------------------+-------+-------+
//  | 1      | realm tag (3 bytes) a      | sender u32LE   | noise msg 1 (IK: 32 e, 48 s,    | mac1  | mac2  |
//  |        | 0 0 0: the public overlay   |                |  12 + cert + 16 payload)        | 16    | 16    |
//  +--------+--------+--------+--------+----------------+---------------------------------+-------+-------+
// Response (type 2), 12 + noise + 32 bytes (92 without a certificate; the Noise payload is the
// responder's certificate DER, or empty):
//  0        1        2        3        4                8                12
//  +--------+--------+--------+--------+----------------+----------------+-------------------+-------+-------+
//  | 2      | 0      | 0      | 0      | sender u32LE   | receiver u32LE | noise msg 2 (IK:  | mac1  | mac2  |
//  |        |        |        |        |                |                |  32 e, cert + 16) | 16    | 16    |
//  +--------+--------+--------+--------+----------------+----------------+-------------------+-------+-------+
// Little-endian like WireGuard and the DATA header (crates/core/src/frame.rs). An initiation's bytes 1-3
// are the realm tag (a: the first 3 bytes of a private group's realm, ts/pki/realm.ts; 0 0 0 for the
// public overlay), covered by mac1: a daemon in several overlays dispatches on it before any DH. A
// response's bytes 1-3 must be zero (it is dispatched by its receiver index).
// sender = the index the sender wants to receive DATA on; receiver = the initiator's sender index.
// mac1 = HMAC-BLAKE2s(key, every byte before mac1) truncated to 16 bytes (HMAC, not WireGuard's keyed
// BLAKE2s), key = BLAKE2s-256("mac1----" || static public key of the message's recipient).
// mac2 = HMAC-BLAKE2s(cookie, every byte before mac2)[..16] with the cookie the recipient last gave
// us (cookie.ts), or 16 zero bytes; a responder under load answers an initiation without a valid
// mac2 with a cookie reply instead of doing any DH.
import { timingSafeEqual } from 'node:crypto';
import { blake2s, hmacBlake2s } from './noise.js';
import { FRAME_TYPE_HANDSHAKE_INIT, FRAME_TYPE_HANDSHAKE_RESP } from '../wire/frame-types.js';
import { errors } from '../base/errors.js';

export const MAC1_LEN = 16;
export const MAC2_LEN = 16;
/** mac1 and mac2 trail every initiation and response. */
export const MACS_LEN = MAC1_LEN + MAC2_LEN;
export const INITIATION_HEADER_LEN = 8;
export const RESPONSE_HEADER_LEN = 12;
/** Smallest Noise message we accept: an ephemeral key and one AEAD tag. */
export const MIN_NOISE_LEN = 32 + 16;
/** Largest Noise message we accept (the payload carries a certificate DER). */
export const MAX_NOISE_LEN = 1024;

export interface Initiation {
  kind: 'initiation';
  /** the realm tag, 24 bits (0: the public overlay) */
  realm: number;
  sender: number;
  noise: Uint8Array;
  mac1: Uint8Array;
  mac2: Uint8Array;
}

export interface Response {
  kind: 'response';
  sender: number;
  receiver: number;
  noise: Uint8Array;
  mac1: Uint8Array;
  mac2: Uint8Array;
}

export type HandshakeMessage = Initiation | Response;

export type DecodeErrorCode = 'too_short' | 'too_long' | 'unknown_type' | 'bad_reserved';
export type DecodeResult = { ok: true; value: HandshakeMessage } | { ok: false; code: DecodeErrorCode };

const MAC1_LABEL = new TextEncoder().encode('mac1----');

/** The mac1 key for messages sent *to* the holder of `staticPublic`. */
export function mac1Key(staticPublic: Uint8Array): Uint8Array {
  return blake2s(MAC1_LABEL, staticPublic);
}

export function computeMac1(key: Uint8Array, covered: Uint8Array): Uint8Array {
  return hmacBlake2s(key, covered).subarray(0, MAC1_LEN);
}

/** Cheap authenticity check on raw bytes (no DH): true when mac1 (before mac2) matches. */
export function checkMac1(key: Uint8Array, bytes: Uint8Array): boolean {
  if (bytes.length < MACS_LEN) return false;
  const split = bytes.length - MACS_LEN;
  const expect = computeMac1(key, bytes.subarray(0, split));
  return timingSafeEqual(expect, bytes.subarray(split, split + MAC1_LEN));
}

/** mac2 of a message, from everything before it (cookie.ts CookieJar.mac2); zeros when absent. */
export type Mac2Fn = (covered: Uint8Array) => Uint8Array;
const noMac2: Mac2Fn = () => new Uint8Array(MAC2_LEN);

function withMacs(key: Uint8Array, body: Uint8Array, mac2: Mac2Fn): Uint8Array {
  const out = new Uint8Array(body.length + MACS_LEN);
  out.set(body);
  out.set(computeMac1(key, body), body.length);
  out.set(mac2(out.subarray(0, body.length + MAC1_LEN)).subarray(0, MAC2_LEN), body.length + MAC1_LEN);
  return out;
}

function checkNoiseLen(noise: Uint8Array): void {
  if (noise.length < MIN_NOISE_LEN || noise.length > MAX_NOISE_LEN) {
    throw errors.E_ARGUMENT(`handshake: noise message of ${noise.length} bytes is outside ${MIN_NOISE_LEN}..${MAX_NOISE_LEN}`);
  }
}

/** Largest realm tag (24 bits). */
export const MAX_REALM_TAG = 0xff_ffff;

/** The realm tag of an initiation, read without decoding it (null: not an initiation, or too short). */
export function realmTagOf(bytes: Uint8Array): number | null {
  if (bytes.length < INITIATION_HEADER_LEN || bytes[0] !== FRAME_TYPE_HANDSHAKE_INIT) return null;
  return (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!;
}

/** `macKey` = mac1Key(responder's static public key); `realm`: the realm tag (default 0, the public overlay). */
export function encodeInitiation(m: { sender: number; noise: Uint8Array; realm?: number }, macKey: Uint8Array, mac2: Mac2Fn = noMac2): Uint8Array {
  checkNoiseLen(m.noise);
  const realm = m.realm ?? 0;
  if (!Number.isInteger(realm) || realm < 0 || realm > MAX_REALM_TAG) throw errors.E_ARGUMENT(`handshake: realm tag ${realm} is not a 24-bit integer`);
  const body = new Uint8Array(INITIATION_HEADER_LEN + m.noise.length);
  const dv = new DataView(body.buffer);
  body[0] = FRAME_TYPE_HANDSHAKE_INIT;
  body[1] = realm >> 16; body[2] = (realm >> 8) & 0xff; body[3] = realm & 0xff;
  dv.setUint32(4, m.sender >>> 0, true);
  body.set(m.noise, INITIATION_HEADER_LEN);
  return withMacs(macKey, body, mac2);
}

/** `macKey` = mac1Key(initiator's static public key). */
export function encodeResponse(m: { sender: number; receiver: number; noise: Uint8Array }, macKey: Uint8Array, mac2: Mac2Fn = noMac2): Uint8Array {
  checkNoiseLen(m.noise);
  const body = new Uint8Array(RESPONSE_HEADER_LEN + m.noise.length);
  const dv = new DataView(body.buffer);
  body[0] = FRAME_TYPE_HANDSHAKE_RESP;
  dv.setUint32(4, m.sender >>> 0, true);
  dv.setUint32(8, m.receiver >>> 0, true);
  body.set(m.noise, RESPONSE_HEADER_LEN);
  return withMacs(macKey, body, mac2);
}

/** Parses the framing only; the macs are returned, not checked (checkMac1, CookieChecker.checkMac2). */
export function decodeHandshake(bytes: Uint8Array): DecodeResult {
  if (bytes.length < 1) return { ok: false, code: 'too_short' };
  const type = bytes[0];
  if (type !== FRAME_TYPE_HANDSHAKE_INIT && type !== FRAME_TYPE_HANDSHAKE_RESP) return { ok: false, code: 'unknown_type' };
  const initiation = type === FRAME_TYPE_HANDSHAKE_INIT;
  const header = initiation ? INITIATION_HEADER_LEN : RESPONSE_HEADER_LEN;
  if (bytes.length < header + MIN_NOISE_LEN + MACS_LEN) return { ok: false, code: 'too_short' };
  if (bytes.length > header + MAX_NOISE_LEN + MACS_LEN) return { ok: false, code: 'too_long' };
  if (!initiation && (bytes[1] !== 0 || bytes[2] !== 0 || bytes[3] !== 0)) return { ok: false, code: 'bad_reserved' };
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const split = bytes.length - MACS_LEN;
  const noise = bytes.slice(header, split);
  const mac1 = bytes.slice(split, split + MAC1_LEN);
  const mac2 = bytes.slice(split + MAC1_LEN);
  const sender = dv.getUint32(4, true);
  if (initiation) return { ok: true, value: { kind: 'initiation', realm: realmTagOf(bytes)!, sender, noise, mac1, mac2 } };
  return { ok: true, value: { kind: 'response', sender, receiver: dv.getUint32(8, true), noise, mac1, mac2 } };
}
