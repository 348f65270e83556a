// Owns DHT placement geometry: the replica positions of a key (SHA-1 + i·2^160/R), which of the nodes a
// holder knows are closest to a position, and the ring interval a node covers. Pure: no state, no I/O.
import { type NodeId, RING } from '../base/nodeid.js';
import { ringDist, cwDist, addOffset, subOffset } from '../core/ring.js';
import { keyPosition } from './sha1.js';

export function replicaStep(replicas: number): bigint { return RING / BigInt(replicas); }

// holders see the same keys over and over (puts, renewals, transfers): remember recent hashes
const hashCache = new Map<string, NodeId>();
function cachedPosition(key: Uint8Array): NodeId {
  let name = '';
  for (let i = 0; i < key.length; i++) name += String.fromCharCode(key[i] as number);
  let h = hashCache.get(name);
  if (h === undefined) {
    h = keyPosition(key);
    if (hashCache.size >= 50_000) hashCache.clear();
    hashCache.set(name, h);
  }
  return h;
}

/** Ring position of replica `idx` of `key`. */
export function replicaPosition(key: Uint8Array, idx: number, replicas: number): NodeId {
  return addOffset(cachedPosition(key), BigInt(idx) * replicaStep(replicas));
}

export function replicaPositions(key: Uint8Array, replicas: number): NodeId[] {
  const h = cachedPosition(key), step = replicaStep(replicas);
  return Array.from({ length: replicas }, (_, i) => addOffset(h, BigInt(i) * step));
}

/**
 * What a node knows of the ring around itself: itself plus its nearest joined peers on each side
 * (nearest first). Placement decisions are made on this view only.
 */
export interface RingView { self: NodeId; left: readonly NodeId[]; right: readonly NodeId[] }

/** The `c` nodes of the view closest to `pos` (ties broken by the smaller id). */
export function closestOf(view: RingView, pos: NodeId, c: number): NodeId[] {
  const ids: NodeId[] = [], ds: bigint[] = [];
  const consider = (id: NodeId): void => {
    if (ids.includes(id)) return;
    const d = ringDist(id, pos);
    let k = ids.length;
    while (k > 0 && ((ds[k - 1] as bigint) > d || ((ds[k - 1] as bigint) === d && (ids[k - 1] as NodeId) > id))) k--;
    if (k >= c) return;
    ids.splice(k, 0, id); ds.splice(k, 0, d);
    if (ids.length > c) { ids.pop(); ds.pop(); }
  };
  consider(view.self);
  for (const id of view.left) consider(id);
  for (const id of view.right) consider(id);
  return ids;
}

export function covers(view: RingView, pos: NodeId, c: number): boolean {
  return closestOf(view, pos, c).includes(view.self);
}

/** Is x in the clockwise interval [from, to] (the whole ring when from === to + 1 wraps)? */
export function inCwInterval(x: NodeId, from: NodeId, to: NodeId): boolean {
  return cwDist(from, x) <= cwDist(from, to);
}

/**
 * The clockwise interval of positions for which self is among the `c` closest nodes of its view:
 * from the midpoint with the c-th left peer to the midpoint with the c-th right peer. With too few
 * peers it is the whole ring.
 */
export function coveredInterval(view: RingView, c: number): { from: NodeId; to: NodeId } {
  const l = view.left[c - 1], r = view.right[c - 1];
  if (l === undefined || r === undefined || l === r || view.left.includes(r)) {
    return { from: addOffset(view.self, 1n), to: view.self };
  }
  return {
    from: addOffset(l, cwDist(l, view.self) / 2n),
    to: subOffset(r, cwDist(view.self, r) / 2n),
  };
}
