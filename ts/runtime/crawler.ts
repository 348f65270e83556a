// Owns the live crawl (the paper's consistency check on a running network): walk the ring through
// right1 pointers, asking each node for its neighbours with a routed query, then check the views.
// It must not change overlay state: the node's queries never create on-demand links.
import { crawl, type CrawlResult, type NeighbourView } from '../core/crawl.js';
import { idToHex, type NodeId } from '../base/nodeid.js';
import type { VpnNode } from '../node/vpn-node.js';

const QUERY_TRIES = 2;

export interface LiveCrawl extends CrawlResult {
  unreachable: string[];
  elapsedMs: number;
  /** the ring in walk order (hex ids) */
  ring: string[];
}

/** Walk right1 from this node until the walk returns (or maxNodes), then check consistency. */
export async function crawlRing(node: VpnNode, now: () => number, flush: () => void, maxNodes = 4096, progress?: (n: number) => void): Promise<LiveCrawl> {
  const query = async (id: NodeId): Promise<NeighbourView | null> => {
    for (let t = 0; t < QUERY_TRIES; t++) {
      const v = await new Promise<NeighbourView | null>((resolve) => { node.queryNeighbours(now(), id, resolve); flush(); });
      if (v) return v;
    }
    return null;
  };
  const t0 = now();
  const views = new Map<NodeId, NeighbourView>();
  const unreachable: string[] = [];
  const ring: string[] = [];
  let cur: NodeId | undefined = node.self;
  while (cur !== undefined && !views.has(cur) && views.size < maxNodes) {
    const v: NeighbourView | null = await query(cur);
    if (!v) { unreachable.push(idToHex(cur)); break; }
    views.set(cur, v);
    ring.push(idToHex(cur));
    progress?.(views.size);
    cur = v.right1;
  }
  // the second neighbours of the walk's nodes are in the map already when the ring is whole
  return { ...crawl(views), unreachable, ring, elapsedMs: Math.round(now() - t0) };
}
