// Owns the live crawl (the paper's consistency check on a running network): walk the ring through
// right1 pointers, asking each node for its neighbours with a routed query, then check the views.
// It must not change overlay state: queries never create on-demand links.
import { type OverlayNode } from '../core/node.js';
import { crawl, type CrawlResult, type NeighbourView } from '../core/crawl.js';
import { idToHex, type NodeId } from '../core/nodeid.js';
import { encodeApp, type AppMsg } from '../wire/app.js';

const QUERY_TIMEOUT_MS = 1_000;
const QUERY_TRIES = 2;

export interface LiveCrawl extends CrawlResult {
  unreachable: string[];
  elapsedMs: number;
  /** the ring in walk order (hex ids) */
  ring: string[];
}

export class Crawler {
  private readonly pending = new Map<number, (v: NeighbourView) => void>();
  private nextReq = 1;

  constructor(private readonly node: OverlayNode, private readonly now: () => number, private readonly flush: () => void) {}

  /** A decoded app message was delivered to this node. Returns false when it is not a crawl message. */
  onDeliver(src: NodeId, m: AppMsg): boolean {
    if (m.app === 'neighbours-req') {
      this.node.send(this.now(), src, encodeApp({ app: 'neighbours-reply', reqId: m.reqId, view: this.node.ringNeighbours() }), { onDemand: false });
      this.flush();
    } else if (m.app === 'neighbours-reply') {
      const cb = this.pending.get(m.reqId);
      if (cb) { this.pending.delete(m.reqId); cb(m.view); }
    } else return false;
    return true;
  }

  private async query(id: NodeId): Promise<NeighbourView | null> {
    for (let t = 0; t < QUERY_TRIES; t++) {
      const reqId = this.nextReq++ >>> 0;
      const v = await new Promise<NeighbourView | null>((resolve) => {
        const timer = setTimeout(() => { this.pending.delete(reqId); resolve(null); }, QUERY_TIMEOUT_MS);
        this.pending.set(reqId, (view) => { clearTimeout(timer); resolve(view); });
        this.node.send(this.now(), id, encodeApp({ app: 'neighbours-req', reqId }), { onDemand: false });
        this.flush();
      });
      if (v) return v;
    }
    return null;
  }

  /** Walk right1 from this node until the walk returns (or maxNodes), then check consistency. */
  async crawl(maxNodes = 4096, progress?: (n: number) => void): Promise<LiveCrawl> {
    const t0 = this.now();
    const views = new Map<NodeId, NeighbourView>();
    const unreachable: string[] = [];
    const ring: string[] = [];
    let cur: NodeId | undefined = this.node.id;
    while (cur !== undefined && !views.has(cur) && views.size < maxNodes) {
      const v: NeighbourView | null = cur === this.node.id ? this.node.ringNeighbours() : await this.query(cur);
      if (!v) { unreachable.push(idToHex(cur)); break; }
      views.set(cur, v);
      ring.push(idToHex(cur));
      progress?.(views.size);
      cur = v.right1;
    }
    // the second neighbours of the walk's nodes are in the map already when the ring is whole
    return { ...crawl(views), unreachable, ring, elapsedMs: Math.round(this.now() - t0) };
  }
}
