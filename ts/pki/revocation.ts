// Owns the byte format of a revocation record: a compact CA-signed "serial S of node N is revoked
// since T", stored in the DHT and broadcast over the overlay. It must not decide what a revocation
// does to links, and its decoder never throws on hostile bytes.
//
//   0        1        2            2+n        22+n              30+n                 94+n
//   +--------+--------+-- ... -----+-- ... ---+-------- ... -----+-------- ... -------+
//   | ver=1  | n      | serial     | node id  | revokedAt        | Ed25519 signature  |
//   | u8     | u8 1-20| n bytes    | 20 bytes | u64 BE, ms epoch | 64 bytes           |
//   +--------+--------+-- ... -----+-- ... ---+-------- ... -----+-------- ... -------+
//   signature = Ed25519(CA key, every byte before it). Size 95..114 bytes.
//
// The signed bytes start with 0x01, never 0x30 (a DER SEQUENCE), so no record can pass for a
// certificate, CRL or CSR body the same CA key signs, or the other way round.
import { sign as edSign, type KeyObject } from 'node:crypto';
import type { TrustAnchor } from './anchor.js';
import { normalizeNodeId } from '../base/nodeid.js';
import { normalizeSerial } from './x509.js';
import { errors } from '../base/errors.js';

export const REVOCATION_VERSION = 1;
export const MAX_SERIAL_BYTES = 20;
export const REVOCATION_MAX_BYTES = 2 + MAX_SERIAL_BYTES + 20 + 8 + 64;
const SIG_BYTES = 64;

export interface Revocation {
  /** canonical hex serial (see normalizeSerial) */
  serial: string;
  /** 40 hex digits */
  nodeId: string;
  /** ms since the epoch */
  revokedAt: number;
}

export type RevocationCode = 'malformed' | 'unsupported_version' | 'bad_signature';
export type RevocationResult = ({ ok: true } & Revocation) | { ok: false; code: RevocationCode };

/** The signed part of a record (everything before the signature). Throws on invalid fields. */
export function encodeRevocation(r: Revocation): Uint8Array {
  const serial = normalizeSerial(r.serial);
  const nodeId = normalizeNodeId(r.nodeId);
  if (serial === null) throw errors.E_ARGUMENT(`revocation serial ${JSON.stringify(r.serial)} is not 1-20 bytes of hex`);
  if (nodeId === null) throw errors.E_ARGUMENT(`revocation node id ${JSON.stringify(r.nodeId)} is not 40 hex digits`);
  if (!Number.isSafeInteger(r.revokedAt) || r.revokedAt < 0) throw errors.E_ARGUMENT('revokedAt must be a non-negative integer (ms)');
  const s = Buffer.from(serial, 'hex');
  const out = new Uint8Array(2 + s.length + 20 + 8);
  const dv = new DataView(out.buffer);
  out[0] = REVOCATION_VERSION;
  out[1] = s.length;
  out.set(s, 2);
  out.set(Buffer.from(nodeId, 'hex'), 2 + s.length);
  dv.setBigUint64(2 + s.length + 20, BigInt(r.revokedAt));
  return out;
}

/** A complete record signed with the CA's Ed25519 private key. */
export function signRevocation(caKey: KeyObject, r: Revocation): Uint8Array {
  const body = encodeRevocation(r);
  const sig = edSign(null, body, caKey);
  const out = new Uint8Array(body.length + SIG_BYTES);
  out.set(body, 0);
  out.set(sig, body.length);
  return out;
}

/** Reads a record's fields without checking its signature. Never throws. */
export function decodeRevocation(bytes: Uint8Array): ({ ok: true; body: Uint8Array; signature: Uint8Array } & Revocation) | { ok: false; code: RevocationCode } {
  if (!(bytes instanceof Uint8Array) || bytes.length < 2) return { ok: false, code: 'malformed' };
  if (bytes[0] !== REVOCATION_VERSION) return { ok: false, code: 'unsupported_version' };
  const n = bytes[1]!;
  if (n < 1 || n > MAX_SERIAL_BYTES || bytes.length !== 2 + n + 20 + 8 + SIG_BYTES) return { ok: false, code: 'malformed' };
  const serialBytes = bytes.subarray(2, 2 + n);
  const serial = normalizeSerial(Buffer.from(serialBytes).toString('hex'));
  // one encoding per serial: no leading zero byte unless the value is 0
  if (serial === null || serial.length !== 2 * n) return { ok: false, code: 'malformed' };
  const nodeId = Buffer.from(bytes.subarray(2 + n, 22 + n)).toString('hex');
  const at = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(22 + n);
  if (at > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, code: 'malformed' };
  return {
    ok: true, serial, nodeId, revokedAt: Number(at),
    body: bytes.subarray(0, 30 + n), signature: bytes.subarray(30 + n),
  };
}

/** Decodes a record and checks the CA's signature on it. Never throws. */
export function verifyRevocation(bytes: Uint8Array, anchor: TrustAnchor): RevocationResult {
  const d = decodeRevocation(bytes);
  if (!d.ok) return d;
  if (!anchor.verifySignature(d.body, d.signature)) return { ok: false, code: 'bad_signature' };
  return { ok: true, serial: d.serial, nodeId: d.nodeId, revokedAt: d.revokedAt };
}
