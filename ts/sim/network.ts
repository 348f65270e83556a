// Owns the simulated underlay: per-pair latency from the PlanetLab-490 RTT matrix (rows sampled without
// replacement up to 490 nodes; beyond, with replacement plus per-pair jitter), loss and partitions.
// It must not know about overlay messages; the harness asks it for delays and reachability.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../paths.js';
import { type Rng, randInt, shuffle } from '../core/rng.js';
import { errors } from '../base/errors.js';

/** The PlanetLab-490 matrix ships in the repository (data/, MIT licence); RINGVPN_LATENCY_FILE overrides. */
export const DEFAULT_LATENCY_FILE = process.env.RINGVPN_LATENCY_FILE
  ?? join(repoRoot, 'data/planetlab-490/PlanetLabData_1');

export class LatencyMatrix {
  constructor(readonly n: number, readonly rtt: Float64Array) {}

  static load(path = DEFAULT_LATENCY_FILE): LatencyMatrix {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw errors.E_SIM_LATENCY_FILE(`cannot read the latency matrix ${path} (set RINGVPN_LATENCY_FILE): ${(e as Error).message}`, { cause: e });
    }
    const rows = text.trim().split('\n');
    const n = rows.length;
    const m = new Float64Array(n * n);
    rows.forEach((line, i) => {
      const cells = line.trim().split(/\s+/);
      if (cells.length !== n) throw errors.E_SIM_LATENCY_FILE(`latency matrix row ${i} has ${cells.length} entries, want ${n}`);
      cells.forEach((v, j) => { m[i * n + j] = Number(v); });
    });
    return new LatencyMatrix(n, m);
  }

  get(i: number, j: number): number { return this.rtt[i * this.n + j] as number; }

  /** A uniform-latency matrix for unit tests that must not depend on the data file. */
  static uniform(n: number, rttMs: number): LatencyMatrix {
    const m = new Float64Array(n * n).fill(rttMs);
    for (let i = 0; i < n; i++) m[i * n + i] = 0;
    return new LatencyMatrix(n, m);
  }
}

function mix(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35);
  h ^= h >>> 15; h = Math.imul(h, 0x2c1b3c6d); h ^= h >>> 12; h = Math.imul(h, 0x297a2d39); h ^= h >>> 15;
  return (h >>> 0) / 2 ** 32;
}

export interface NetworkOptions { loss?: number; jitter?: number }

export class NetworkModel {
  /** node index -> matrix row */
  readonly rows: Int32Array;
  /** true when more nodes than matrix rows: rows were sampled with replacement and jitter added */
  readonly resampled: boolean;
  loss: number;
  private readonly jitter: number;
  private group: Int32Array | null = null;
  private readonly blocked = new Set<number>();

  constructor(readonly matrix: LatencyMatrix, capacity: number, rng: Rng, o: NetworkOptions = {}) {
    this.loss = o.loss ?? 0;
    this.jitter = o.jitter ?? 0.1;
    this.rows = new Int32Array(capacity);
    this.resampled = capacity > matrix.n;
    if (!this.resampled) {
      const perm = shuffle(rng, Array.from({ length: matrix.n }, (_, i) => i));
      for (let i = 0; i < capacity; i++) this.rows[i] = perm[i] as number;
    } else {
      for (let i = 0; i < capacity; i++) this.rows[i] = randInt(rng, matrix.n);
    }
  }

  /** Round-trip time between two simulated nodes, ms. */
  rtt(a: number, b: number): number {
    if (a === b) return 0;
    const ra = this.rows[a] as number, rb = this.rows[b] as number;
    let base = this.matrix.get(ra, rb);
    if (!this.resampled) return Math.max(base, 0.05);
    const lo = a < b ? a : b, hi = a < b ? b : a;
    const h = mix(lo, hi);
    if (ra === rb) base = 1 + 9 * h;                       // two copies of one host: a nearby host
    return Math.max(0.05, base * (1 + this.jitter * (2 * h - 1)));
  }

  oneWay(a: number, b: number): number { return this.rtt(a, b) / 2; }

  /** Split nodes into groups; messages and links between groups fail. null heals. */
  partition(groupOf: Int32Array | null): void { this.group = groupOf; }

  /** Cut the underlay between two nodes in both directions (a firewall between them); unblock heals. */
  block(a: number, b: number): void { this.blocked.add(pairKey(a, b)); }
  unblock(a: number, b: number): void { this.blocked.delete(pairKey(a, b)); }

  reachable(a: number, b: number): boolean {
    const g = this.group;
    if (g !== null && g[a] !== g[b]) return false;
    return this.blocked.size === 0 || !this.blocked.has(pairKey(a, b));
  }
}

function pairKey(a: number, b: number): number { return a < b ? a * 0x100000 + b : b * 0x100000 + a; }
