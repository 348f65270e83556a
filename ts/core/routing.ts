// Owns the greedy routing decision: given where a routed message is and the peers we could hand it to,
// deliver here, forward to one peer, or drop with a reason. Pure: it must not send, count or mutate.
import { type NodeId } from '../base/nodeid.js';
import { cwDist, ringDist } from './ring.js';
import { type RouteMode } from '../wire/overlay-codec.js';

export type RouteDecision =
  | { action: 'deliver' }
  | { action: 'forward'; to: NodeId }
  | { action: 'drop'; reason: 'ttl-expired' | 'no-route' };

export interface RouteInput {
  self: NodeId;
  mode: RouteMode;
  dir: 'left' | 'right';
  dest: NodeId;
  src: NodeId;
  ttl: number;
  hops: number;
  /** peers eligible as next hop (joined, linked) */
  candidates: Iterable<NodeId>;
  /** is `dest` directly linked (any kind)? */
  directlyLinked: (id: NodeId) => boolean;
  /** a linked peer (not `from`) whose last neighbour list named `dest`: the exact-mode hop when greedy routing stalls */
  listedBy?: (dest: NodeId) => NodeId | undefined;
  /** nearest peer on each side, for directional mode */
  left1?: NodeId;
  right1?: NodeId;
}

/** Greedy next hop: the candidate closest to dest by ring distance, if strictly closer than self. */
export function greedyNextHop(self: NodeId, dest: NodeId, candidates: Iterable<NodeId>, exclude?: NodeId): NodeId | null {
  let best: NodeId | null = null;
  let bestD = ringDist(self, dest);
  for (const c of candidates) {
    if (c === exclude) continue;
    const d = ringDist(c, dest);
    if (d < bestD) { bestD = d; best = c; }
  }
  return best;
}

/**
 * The same decision as greedyNextHop over peers given in clockwise order from self (as
 * OverlayNode.ringPeers() returns them), restricted to those `usable` accepts, in O(log n) plus the
 * unusable peers skipped: the closest peer to dest is dest's nearest usable neighbour on either side.
 */
export function greedyNextHopOrdered(self: NodeId, dest: NodeId, cw: readonly NodeId[], usable: (id: NodeId) => boolean): NodeId | null {
  const best = nearestUsableOrdered(self, dest, cw, usable);
  return best !== null && ringDist(best, dest) < ringDist(self, dest) ? best : null;
}

/**
 * The usable peer closest to dest by ring distance, closer than self or not (null: none usable), over
 * peers in clockwise order from self: dest's nearest usable neighbour on either side (ties: the
 * clockwise one). Where greedy forwarding over usable peers has no closer hop, it is the way out.
 */
export function nearestUsableOrdered(self: NodeId, dest: NodeId, cw: readonly NodeId[], usable: (id: NodeId) => boolean): NodeId | null {
  const n = cw.length;
  if (!n) return null;
  const target = cwDist(self, dest);
  let lo = 0, hi = n;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (cwDist(self, cw[mid]!) < target) lo = mid + 1; else hi = mid; }
  let best: NodeId | null = null;
  let bestD = 0n;
  for (let k = 0; k < n; k++) { const c = cw[(lo + k) % n]!; if (usable(c)) { best = c; bestD = ringDist(c, dest); break; } }
  for (let k = 1; k <= n; k++) { const c = cw[(lo - k + n) % n]!; if (usable(c)) { const d = ringDist(c, dest); if (best === null || d < bestD) best = c; break; } }
  return best;
}

export function decideRoute(r: RouteInput): RouteDecision {
  if (r.mode === 'directional') {
    const next = r.dir === 'left' ? r.left1 : r.right1;
    if (r.hops > 0 && (r.ttl === 0 || next === undefined || next === r.src)) return { action: 'deliver' };
    if (next === undefined || next === r.src) return { action: 'drop', reason: 'no-route' };
    return { action: 'forward', to: next };
  }
  if (r.dest === r.self) return { action: 'deliver' };
  if (r.ttl === 0) return r.mode === 'closest' ? { action: 'deliver' } : { action: 'drop', reason: 'ttl-expired' };
  if (r.mode === 'exact' && r.directlyLinked(r.dest)) return { action: 'forward', to: r.dest };
  const next = greedyNextHop(r.self, r.dest, r.candidates, r.mode === 'closest' ? r.src : undefined);
  if (next !== null) return { action: 'forward', to: next };
  if (r.mode === 'closest') return { action: 'deliver' };
  // no closer hop, but a neighbour of ours is linked to dest (two ring neighbours that cannot reach
  // each other directly, e.g. both behind symmetric NATs): one more hop through it
  const by = r.listedBy?.(r.dest);
  return by !== undefined ? { action: 'forward', to: by } : { action: 'drop', reason: 'no-route' };
}
