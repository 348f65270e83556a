// Owns the 160-bit node id: its representation (bigint in [0, 2^160)), the node id of a static key,
// and its hex, byte and short forms. It must not know about rings, connections or I/O (ring math lives
// in ts/core/ring.ts); its one import is node:crypto's SHA-256 for nodeIdOfKey.
import { createHash } from 'node:crypto';

export type NodeId = bigint;

export const ID_BITS = 160;
export const ID_BYTES = 20;
export const RING: bigint = 1n << 160n;
export const HALF_RING: bigint = 1n << 159n;
export const ID_MASK: bigint = RING - 1n;

/** The node id of a Noise static public key: the first 160 bits of its SHA-256 (the one definition). */
export function nodeIdOfKey(staticKey: Uint8Array): NodeId {
  return idFromBytes(createHash('sha256').update(staticKey).digest());
}

/** Big-endian 20 bytes -> id. The caller guarantees at least 20 bytes from `off`. */
export function idFromBytes(b: Uint8Array, off = 0): NodeId {
  const w0 = u32at(b, off), w4 = u32at(b, off + 4), w8 = u32at(b, off + 8), w12 = u32at(b, off + 12), w16 = u32at(b, off + 16);
  // two 80-bit halves keep the BigInt work to a few operations
  const hi = BigInt(w0 * 65536 + (w4 >>> 16)) * 4294967296n + BigInt(((w4 & 0xffff) * 65536 + (w8 >>> 16)) >>> 0);
  const lo = BigInt((w8 & 0xffff) * 4294967296 + w12) * 4294967296n + BigInt(w16);
  return (hi << 80n) | lo;
}

export function idToBytes(id: NodeId, out: Uint8Array = new Uint8Array(ID_BYTES), off = 0): Uint8Array {
  // three chunks of at most 53 bits: 48 | 48 | 64 (as 32+32)
  const top = Number(id >> 112n);                          // 48 bits: bytes 0-5
  const mid = Number(BigInt.asUintN(48, id >> 64n));       // 48 bits: bytes 6-11
  const low = BigInt.asUintN(64, id);
  const l1 = Number(low >> 32n), l0 = Number(BigInt.asUintN(32, low));
  put48(out, off, top); put48(out, off + 6, mid);
  put32(out, off + 12, l1); put32(out, off + 16, l0);
  return out;
}

export function idToHex(id: NodeId): string {
  return id.toString(16).padStart(40, '0');
}

export function idFromHex(hex: string): NodeId | null {
  if (!/^[0-9a-fA-F]{40}$/.test(hex)) return null;
  return BigInt('0x' + hex);
}

/** Canonical node id text (40 lower-case hex digits) from hex text or a bigint; null if it is not 160 bits. */
export function normalizeNodeId(id: string | bigint): string | null {
  const n = typeof id === 'bigint' ? id : idFromHex(id);
  return n !== null && n >= 0n && n < RING ? idToHex(n) : null;
}

/** Short form for logs and tables: first 8 hex digits. */
export function idShort(id: NodeId): string {
  return idToHex(id).slice(0, 8);
}

/** Fraction of the ring as a float in [0,1): the 64-bit-prefix fast path (53 bits of precision). */
export function idToUnit(id: NodeId): number {
  return Number(id >> 96n) / 2 ** 64;
}

function put48(o: Uint8Array, at: number, v: number): void {
  const hi = Math.floor(v / 2 ** 32), lo = v >>> 0;
  o[at] = (hi >>> 8) & 0xff; o[at + 1] = hi & 0xff; put32(o, at + 2, lo);
}
function put32(o: Uint8Array, at: number, v: number): void {
  o[at] = (v >>> 24) & 0xff; o[at + 1] = (v >>> 16) & 0xff; o[at + 2] = (v >>> 8) & 0xff; o[at + 3] = v & 0xff;
}
function u32at(b: Uint8Array, k: number): number {
  return (((b[k] as number) << 24) | ((b[k + 1] as number) << 16) | ((b[k + 2] as number) << 8) | (b[k + 3] as number)) >>> 0;
}
