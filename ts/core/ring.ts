// Owns ring geometry on 160-bit ids: clockwise/counter-clockwise distance, ring distance, direction,
// the Symphony harmonic draw and the size estimate. It must not know about connections or messages.
import { type NodeId, RING, HALF_RING, ID_MASK } from '../base/nodeid.js';
import { type Rng } from './rng.js';

/** Distance going right (clockwise, increasing ids) from a to b. */
export function cwDist(a: NodeId, b: NodeId): bigint {
  const d = b - a;
  return d >= 0n ? d : d + RING;
}

/** Distance going left (counter-clockwise) from a to b. */
export function ccwDist(a: NodeId, b: NodeId): bigint {
  const d = a - b;
  return d >= 0n ? d : d + RING;
}

/** Shortest distance around the ring (at most 2^159). */
export function ringDist(a: NodeId, b: NodeId): bigint {
  const d = b >= a ? b - a : a - b;
  return d > HALF_RING ? RING - d : d;
}

export function addOffset(a: NodeId, off: bigint): NodeId {
  return (a + off) & ID_MASK;
}

export function subOffset(a: NodeId, off: bigint): NodeId {
  return (a - off + RING) & ID_MASK;
}

/** 2^e as a bigint for a real exponent e in [0, 160]. Keeps 52 bits of mantissa. */
export function pow2Big(e: number): bigint {
  if (e <= 0) return 1n;
  const ip = Math.floor(e);
  const mant = BigInt(Math.floor(2 ** (e - ip) * 2 ** 52)); // in [2^52, 2^53)
  return ip >= 52 ? mant << BigInt(ip - 52) : mant >> BigInt(52 - ip);
}

/**
 * Symphony's harmonic shortcut distance: space * n^(p-1), p ~ U[0,1), i.e. 2^(160 - (1-p)·log2 n).
 * Returns the target id, on a random side of `from`.
 */
export function symphonyTarget(from: NodeId, nEst: number, rng: Rng): NodeId {
  const p = rng.next();
  const n = Math.max(2, nEst);
  const dist = pow2Big(160 - (1 - p) * Math.log2(n));
  return rng.next() < 0.5 ? addOffset(from, dist) : subOffset(from, dist);
}

/** Number of shortcuts wanted for an estimated size (Brunet: ceil(0.5·log2 N) when N > 10). */
export function desiredShortcuts(nEst: number): number {
  return nEst > 10 ? Math.ceil(0.5 * Math.log2(nEst)) : 0;
}

/**
 * Size estimate from the near-neighbour span: the ring span from the farthest left near to the
 * farthest right near covers `gaps` node gaps, so N̂ = gaps · 2^160 / span. Bounded below by `floor`.
 */
export function estimateSize(spanLeft: bigint, spanRight: bigint, gaps: number, floor: number): number {
  const span = spanLeft + spanRight;
  if (gaps <= 0 || span === 0n) return floor;
  // ratio 2^160/span as a float via the top bits
  const est = (gaps * 2 ** 64) / Number(span >> 96n || 1n);
  return Math.max(floor, Number.isFinite(est) ? est : floor);
}
