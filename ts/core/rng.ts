// Owns the injected random source: a small seeded PRNG (xoshiro128**) and helpers (ids, ranges, shuffles).
// It must not read entropy from the environment; callers seed it. Same seed, same sequence.
import { type NodeId } from '../base/nodeid.js';

export interface Rng {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform 32-bit unsigned integer. */
  u32(): number;
}

export class Xoshiro128 implements Rng {
  private a: number; private b: number; private c: number; private d: number;
  constructor(seed: number) {
    // splitmix32 to spread the seed over the state
    let s = seed >>> 0;
    const sm = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = sm(); this.b = sm(); this.c = sm(); this.d = sm();
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }
  u32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a; this.d ^= this.b; this.b ^= this.c; this.a ^= this.d;
    this.c ^= t; this.d = rotl(this.d, 11);
    return r;
  }
  next(): number {
    return (this.u32() * 2 ** 21 + (this.u32() >>> 11)) / 2 ** 53;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Derive an independent stream from a parent (for per-node sources in a simulation). */
export function forkRng(parent: Rng): Rng {
  return new Xoshiro128(parent.u32() ^ Math.imul(parent.u32(), 0x9e3779b1));
}

export function randInt(rng: Rng, n: number): number {
  return Math.floor(rng.next() * n);
}

export function randomId(rng: Rng): NodeId {
  let x = 0n;
  for (let i = 0; i < 5; i++) x = (x << 32n) | BigInt(rng.u32());
  return x;
}

export function shuffle<T>(rng: Rng, a: T[]): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = randInt(rng, i + 1);
    const t = a[i] as T; a[i] = a[j] as T; a[j] = t;
  }
  return a;
}
