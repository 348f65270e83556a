// Owns the punches of a private overlay's carried links (ts/node/realms.ts): a link whose frames ride the
// public data plane asks its far end for a simultaneous probe (PUNCH with our endpoints) when it comes up,
// then after 10 s, doubling to 8 min, until a probe proves a direct path (the link table then leaves the
// carrier). It must not probe or decide paths itself: the link table does, with the endpoints given.
import type { NodeId } from '../base/nodeid.js';
import type { Counters } from './io.js';

export interface PunchHost {
  /** carried links now: established, linked, on the public data plane */
  carried(): NodeId[];
  /** send a PUNCH with our endpoints toward the node through the private overlay */
  punch(node: NodeId): void;
  /** probe the node's endpoints (the link table: an answer moves the link off the carrier) */
  probe(node: NodeId, endpoints: readonly string[]): void;
}

const FIRST_MS = 10_000, MAX_MS = 480_000;
/** a PUNCH received within this of our last one to the node is not answered with another (no ping-pong) */
const ANSWERED_MS = 2_000;

export class CarriedPunch {
  private readonly due = new Map<NodeId, { at: number; every: number; sentAt: number }>();

  constructor(private readonly host: PunchHost, private readonly counters: Counters) {}

  tick(now: number): void {
    const live = new Set(this.host.carried());
    for (const id of this.due.keys()) if (!live.has(id)) this.due.delete(id);
    for (const id of live) {
      let d = this.due.get(id);
      // a new carried link punches at once: both ends probe while the public overlay's path is fresh
      if (!d) { d = { at: now, every: FIRST_MS, sentAt: -Infinity }; this.due.set(id, d); }
      if (now < d.at) continue;
      this.send(now, id, d);
      d.at = now + d.every;
      d.every = Math.min(2 * d.every, MAX_MS);
    }
  }

  /** The far end of a carried link asks for a punch: probe its endpoints, and ask it to probe ours unless we just did. */
  onPunch(now: number, src: NodeId, endpoints: readonly string[]): boolean {
    const d = this.due.get(src);
    if (!d) return false;
    this.counters.add('carried_punch_received');
    if (endpoints.length) this.host.probe(src, endpoints);
    if (now - d.sentAt >= ANSWERED_MS) this.send(now, src, d);
    return true;
  }

  private send(now: number, id: NodeId, d: { sentAt: number }): void {
    d.sentAt = now;
    this.counters.add('carried_punch_sent');
    this.host.punch(id);
  }
}
