// Owns the connection table: one entry per linked peer, its kinds (why we keep it), what the peer
// says it needs, liveness timestamps, and the ring order of peers around us. It must not send anything.
import { type NodeId } from '../base/nodeid.js';
import { cwDist } from './ring.js';

/** Why a connection is kept. A bitmask: one link can be near and a shortcut at once. */
/** K_RELAY: the link carries relay links of ours (a relay hop), so the relay keeps it too. */
export const K_LEAF = 1, K_NEAR = 2, K_SHORTCUT = 4, K_ONDEMAND = 8, K_RELAY = 16;
export const KIND_NAMES: Record<number, string> = { [K_LEAF]: 'leaf', [K_NEAR]: 'near', [K_SHORTCUT]: 'shortcut', [K_ONDEMAND]: 'ondemand', [K_RELAY]: 'relay' };

export function kindNames(bits: number): string[] {
  const out: string[] = [];
  for (const k of [K_LEAF, K_NEAR, K_SHORTCUT, K_ONDEMAND, K_RELAY]) if (bits & k) out.push(KIND_NAMES[k] as string);
  return out;
}

export interface Conn {
  readonly id: NodeId;
  /** clockwise distance from us to the peer (fixed: both ids are) */
  readonly cw: bigint;
  endpoints: string[];
  /** virtual or real ms when the link came up */
  since: number;
  lastHeard: number;
  /** kinds this side keeps the link for (LEAF, SHORTCUT, ONDEMAND stored; NEAR computed) */
  local: number;
  /** kinds last announced to the peer in a STATUS */
  announced: number;
  /** what the peer says it needs the link for; -1 until its first STATUS */
  remoteNeeds: number;
  remoteJoined: boolean;
  pingInFlight: boolean;
  /** liveness pings this side sent on the link (retransmissions not counted) */
  pingsSent: number;
  lastStatusReply: number;
  /** the peer's last STATUS said it carries no new relay links (its relay load is at its limit) */
  remoteRelayFull: boolean;
  /** its data plane carries no more relay-link pairs (STATUS bit2) */
  remoteRelayRefuses: boolean;
  /** node ids in the peer's last neighbour list (STATUS): who it is linked to near itself */
  listed: ReadonlySet<NodeId>;
  /** the last answered liveness ping's round trip (ms, from its last try), null until one was answered */
  rttMs: number | null;
}

export interface RingNeighbours {
  left: Conn[];   // nearest first
  right: Conn[];  // nearest first
}

export class ConnectionTable {
  private readonly byId = new Map<NodeId, Conn>();
  /** sorted by clockwise distance from self: right neighbours first, left neighbours last */
  private readonly order: Conn[] = [];
  private nbCache = new Map<number, RingNeighbours>();
  /** bumped on every add and remove */
  version = 0;

  constructor(readonly self: NodeId) {}

  get size(): number { return this.byId.size; }
  get(id: NodeId): Conn | undefined { return this.byId.get(id); }
  has(id: NodeId): boolean { return this.byId.has(id); }
  values(): IterableIterator<Conn> { return this.byId.values(); }

  add(id: NodeId, endpoints: string[], now: number): Conn {
    const c: Conn = {
      id, cw: cwDist(this.self, id), endpoints, since: now, lastHeard: now, local: 0, announced: -1, remoteNeeds: -1,
      remoteJoined: false, pingInFlight: false, pingsSent: 0, lastStatusReply: -Infinity, remoteRelayFull: false, remoteRelayRefuses: false, listed: new Set(), rttMs: null,
    };
    this.byId.set(id, c);
    this.order.splice(this.lowerBound(c.cw), 0, c);
    this.nbCache.clear();
    this.version++;
    return c;
  }

  /**
   * Passive liveness: something arrived from the peer outside the overlay's own frames (a data-plane
   * packet counted by the driver), which proves the link alive as a control frame does. False if not linked.
   */
  heard(id: NodeId, now: number): boolean {
    const c = this.byId.get(id);
    if (!c) return false;
    if (now > c.lastHeard) c.lastHeard = now;
    return true;
  }

  remove(id: NodeId): Conn | undefined {
    const c = this.byId.get(id);
    if (!c) return undefined;
    this.byId.delete(id);
    const i = this.order.indexOf(c);
    if (i >= 0) this.order.splice(i, 1);
    this.nbCache.clear();
    this.version++;
    return c;
  }

  private lowerBound(d: bigint): number {
    let lo = 0, hi = this.order.length;
    while (lo < hi) { const m = (lo + hi) >> 1; if ((this.order[m] as Conn).cw < d) lo = m + 1; else hi = m; }
    return lo;
  }

  /** Connections sorted by clockwise distance from self (right neighbours first). Do not mutate. */
  ringOrder(): readonly Conn[] { return this.order; }

  /** k nearest on each side. In a tiny table the same peer may appear on both sides. Do not mutate. */
  neighbours(k: number): RingNeighbours {
    const hit = this.nbCache.get(k);
    if (hit) return hit;
    const o = this.order;
    const right = o.slice(0, Math.min(k, o.length));
    const left: Conn[] = [];
    for (let i = o.length - 1; i >= 0 && left.length < k; i--) left.push(o[i] as Conn);
    const r = { left, right };
    this.nbCache.set(k, r);
    return r;
  }

  /** Position of a peer: 1 = nearest on that side. Returns the smaller of its left and right rank. */
  rank(id: NodeId): number {
    const c = this.byId.get(id);
    if (!c) return Infinity;
    const i = this.order.indexOf(c);
    return Math.min(i + 1, this.order.length - i);
  }

  /** Would `id` be among the k nearest on its side if we linked to it? */
  wouldBeNear(id: NodeId, k: number): boolean {
    if (id === this.self || this.byId.has(id)) return false;
    const o = this.order;
    if (o.length < 2 * k) return true;
    const d = cwDist(this.self, id);
    const rk = (o[k - 1] as Conn).cw;          // k-th right
    const lk = (o[o.length - k] as Conn).cw;   // k-th left (as cw distance, larger = nearer on the left)
    return d < rk || d > lk;
  }
}
