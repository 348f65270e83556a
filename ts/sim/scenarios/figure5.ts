// Owns the reproduction of the paper's Figure 5 with Brunet's Graph method (notes/brunet.md §2):
// mean latency of greedy overlay routing, the two-hop relay and the direct path for N = 25…490,
// 100 trials each, on PlanetLab-490 instead of King. It must not use the event simulator (static graphs).
import { type Rng, shuffle } from '../../core/rng.js';
import { idToUnit } from '../../base/nodeid.js';
import { type LatencyMatrix } from '../network.js';
import { buildStaticRing } from '../steady.js';
import { errors } from '../../base/errors.js';

export interface Fig5Row {
  n: number;
  trials: number;
  pairs: number;          // pairs counted over all trials
  droppedTriangle: number; // pairs dropped because the relay beat the direct path
  direct: number;         // mean ms
  twoHop: number;
  overlay: number;
  overlayHops: number;
  /** 1 - twoHop/overlay */
  reduction: number;
  /** overlay/twoHop - 1 */
  speedup: number;
}

/** One trial: N distinct matrix rows, a Brunet graph, every ordered pair not directly linked. */
function trial(n: number, m: LatencyMatrix, rng: Rng, acc: { pairs: number; tri: number; d: number; t: number; o: number; h: number }): void {
  const g = buildStaticRing(n, rng, { trueN: true });
  const rows = shuffle(rng, Array.from({ length: m.n }, (_, i) => i)).slice(0, n);
  const delay = (a: number, b: number): number => m.get(rows[a] as number, rows[b] as number);
  const pos = g.ids.map(idToUnit);
  const dist = (a: number, b: number): number => { const d = Math.abs((pos[a] as number) - (pos[b] as number)); return d > 0.5 ? 1 - d : d; };
  // each node's relay: its overlay neighbour with the smallest first-hop delay (the clean variant)
  const relay = new Int32Array(n);
  const linked: Set<number>[] = [];
  for (let a = 0; a < n; a++) {
    const adj = g.adj[a] as Int32Array;
    let best = -1, bd = Infinity;
    for (const x of adj) { const d = delay(a, x); if (d < bd) { bd = d; best = x; } }
    relay[a] = best;
    linked.push(new Set(adj));
  }
  // greedy next hop toward each destination, then path delay and hops by memoisation (paths only descend)
  const next = new Int32Array(n);
  const lat = new Float64Array(n);
  const hops = new Int32Array(n);
  const done = new Uint8Array(n);
  for (let dst = 0; dst < n; dst++) {
    for (let c = 0; c < n; c++) {
      if (c === dst) { next[c] = -1; continue; }
      const adj = g.adj[c] as Int32Array;
      let best = -1, bd = dist(c, dst);
      for (const x of adj) { const d = dist(x, dst); if (d < bd) { bd = d; best = x; } }
      next[c] = best;
    }
    done.fill(0);
    done[dst] = 1; lat[dst] = 0; hops[dst] = 0;
    const stack: number[] = [];
    for (let s = 0; s < n; s++) {
      let c = s;
      while (!done[c]) { stack.push(c); const nx = next[c] as number; if (nx < 0) break; c = nx; }
      while (stack.length) {
        const x = stack.pop() as number;
        const nx = next[x] as number;
        if (nx < 0 || !done[nx]) { lat[x] = NaN; hops[x] = -1; done[x] = 1; continue; }
        lat[x] = delay(x, nx) + (lat[nx] as number); hops[x] = (hops[nx] as number) + 1; done[x] = 1;
      }
    }
    for (let src = 0; src < n; src++) {
      if (src === dst || (linked[src] as Set<number>).has(dst)) continue;
      const direct = delay(src, dst);
      if (direct <= 0 || direct > 500) continue;
      const rs = relay[src] as number, rd = relay[dst] as number;
      const two = Math.min(delay(src, rs) + delay(rs, dst), delay(dst, rd) + delay(rd, src));
      if (two < direct) { acc.tri++; continue; }
      const ov = lat[src] as number;
      if (!Number.isFinite(ov)) continue;
      acc.pairs++; acc.d += direct; acc.t += two; acc.o += ov; acc.h += hops[src] as number;
    }
  }
}

export function figure5(sizes: readonly number[], trials: number, m: LatencyMatrix, rng: Rng, progress?: (f: number) => void): Fig5Row[] {
  const out: Fig5Row[] = [];
  const work = sizes.reduce((s, n) => s + n * n, 0) * trials;
  let doneWork = 0;
  for (const n of sizes) {
    if (n > m.n) throw errors.E_SIM(`N=${n} exceeds the ${m.n} rows of the latency matrix`);
    const acc = { pairs: 0, tri: 0, d: 0, t: 0, o: 0, h: 0 };
    for (let k = 0; k < trials; k++) { trial(n, m, rng, acc); doneWork += n * n; progress?.(doneWork / work); }
    const direct = acc.d / acc.pairs, twoHop = acc.t / acc.pairs, overlay = acc.o / acc.pairs;
    out.push({
      n, trials, pairs: acc.pairs, droppedTriangle: acc.tri, direct, twoHop, overlay, overlayHops: acc.h / acc.pairs,
      reduction: 1 - twoHop / overlay, speedup: overlay / twoHop - 1,
    });
  }
  return out;
}
