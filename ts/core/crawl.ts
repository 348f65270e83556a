// Owns the ring consistency check (the paper's crawl): every node's first and second left and right
// neighbours must agree with theirs, and walking right1 from any node must visit every node once.
// Pure function over a map nodeId -> {left1,left2,right1,right2}; usable on simulated and real nodes.
import { type NodeId } from '../base/nodeid.js';

export interface NeighbourView { left1?: NodeId; left2?: NodeId; right1?: NodeId; right2?: NodeId }

export interface CrawlResult {
  nodes: number;
  /** nodes whose four neighbour pointers are all confirmed by the pointed-to nodes */
  consistentNodes: number;
  /** consistentNodes / nodes */
  consistency: number;
  /** nodes reached walking right1 from the smallest id until it loops */
  walked: number;
  /** true when consistency is 1 and the walk visits every node */
  ok: boolean;
}

export function crawl(view: ReadonlyMap<NodeId, NeighbourView>): CrawlResult {
  const n = view.size;
  let good = 0;
  for (const [id, v] of view) {
    const r1 = v.right1 !== undefined ? view.get(v.right1) : undefined;
    const r2 = v.right2 !== undefined ? view.get(v.right2) : undefined;
    const l1 = v.left1 !== undefined ? view.get(v.left1) : undefined;
    const l2 = v.left2 !== undefined ? view.get(v.left2) : undefined;
    if (n === 1) { good++; continue; }
    const small = n <= 2;
    if (r1?.left1 === id && l1?.right1 === id &&
        (small || (r2?.left2 === id && l2?.right2 === id && r1.right1 === v.right2 && l1.left1 === v.left2))) good++;
  }
  let walked = 0;
  if (n > 0) {
    let start: NodeId | undefined;
    for (const id of view.keys()) if (start === undefined || id < start) start = id;
    const seen = new Set<NodeId>();
    let cur: NodeId | undefined = start;
    while (cur !== undefined && !seen.has(cur) && view.has(cur)) { seen.add(cur); cur = view.get(cur)?.right1; }
    walked = seen.size;
  }
  const consistency = n === 0 ? 1 : good / n;
  return { nodes: n, consistentNodes: good, consistency, walked, ok: good === n && walked === n };
}

/** The neighbour view a correct ring of these ids would have (for tests and static graphs). */
export function idealView(ids: readonly NodeId[]): Map<NodeId, NeighbourView> {
  const s = [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const n = s.length;
  const m = new Map<NodeId, NeighbourView>();
  s.forEach((id, i) => m.set(id, {
    left1: s[(i - 1 + n) % n], left2: s[(i - 2 + 2 * n) % n], right1: s[(i + 1) % n], right2: s[(i + 2) % n],
  }));
  return m;
}
