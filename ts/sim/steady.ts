// Owns the steady-state ring built directly (no joins): sorted random ids, 2 near links per side and
// ceil(0.5·log2 N) Symphony shortcuts per node drawn by core/ring.ts and snapped to the nearest node,
// links bidirectional (Brunet's Graph construction). It must not simulate time; routing uses core/routing.ts.
import { type NodeId } from '../base/nodeid.js';
import { ringDist, symphonyTarget, desiredShortcuts, estimateSize, cwDist, ccwDist } from '../core/ring.js';
import { greedyNextHop } from '../core/routing.js';
import { type Rng, randomId } from '../core/rng.js';

export interface StaticRing {
  ids: NodeId[];                // sorted ascending
  adj: Int32Array[];            // neighbour indices per node
  index: Map<NodeId, number>;
}

/** Index of the node nearest to `x` on the ring (ids sorted). */
export function nearestIndex(ids: readonly NodeId[], x: NodeId): number {
  let lo = 0, hi = ids.length;
  while (lo < hi) { const m = (lo + hi) >> 1; if ((ids[m] as NodeId) < x) lo = m + 1; else hi = m; }
  const a = lo % ids.length, b = (lo - 1 + ids.length) % ids.length;
  return ringDist(ids[a] as NodeId, x) <= ringDist(ids[b] as NodeId, x) ? a : b;
}

export interface StaticOptions {
  near?: number;
  /** shortcuts per node; default ceil(0.5·log2 N̂) with N̂ from the near span (as a live node would) */
  shortcuts?: number;
  /** use the true N instead of each node's estimate (Brunet's Graph simulator does) */
  trueN?: boolean;
}

export function buildStaticRing(n: number, rng: Rng, o: StaticOptions = {}): StaticRing {
  const near = o.near ?? 2;
  const set = new Set<NodeId>();
  while (set.size < n) set.add(randomId(rng));
  const ids = [...set].sort((a, b) => (a < b ? -1 : 1));
  const nb: Set<number>[] = ids.map(() => new Set<number>());
  const link = (a: number, b: number): void => { if (a !== b) { (nb[a] as Set<number>).add(b); (nb[b] as Set<number>).add(a); } };
  for (let i = 0; i < n; i++) for (let k = 1; k <= near && k < n; k++) link(i, (i + k) % n);
  for (let i = 0; i < n; i++) {
    const me = ids[i] as NodeId;
    const l = ids[(i - near + n) % n] as NodeId, r = ids[(i + near) % n] as NodeId;
    const nEst = o.trueN ? n : estimateSize(ccwDist(me, l), cwDist(me, r), 2 * near, 2 * near + 1);
    const want = o.shortcuts ?? desiredShortcuts(nEst);
    let made = 0;
    for (let tries = 0; made < want && tries < want * 8; tries++) {
      const j = nearestIndex(ids, symphonyTarget(me, nEst, rng));
      // a shortcut only counts if at least `near` nodes separate it from us on each side
      const gap = Math.min((j - i + n) % n, (i - j + n) % n);
      if (gap <= near || (nb[i] as Set<number>).has(j)) continue;
      link(i, j);
      made++;
    }
  }
  const index = new Map<NodeId, number>();
  ids.forEach((id, i) => index.set(id, i));
  return { ids, adj: nb.map((s) => Int32Array.from(s)), index };
}

/** Greedy route by ring distance with core/routing.ts; returns the node indices visited, or null. */
export function greedyPath(g: StaticRing, src: number, dst: number, maxHops = 255): number[] | null {
  const path = [src];
  const dest = g.ids[dst] as NodeId;
  let cur = src;
  while (cur !== dst) {
    if (path.length > maxHops) return null;
    const adj = g.adj[cur] as Int32Array;
    const cand: NodeId[] = new Array(adj.length);
    for (let k = 0; k < adj.length; k++) cand[k] = g.ids[adj[k] as number] as NodeId;
    const next = greedyNextHop(g.ids[cur] as NodeId, dest, cand);
    if (next === null) return null;
    cur = g.index.get(next) as number;
    path.push(cur);
  }
  return path;
}
