// Owns the operator's requests through the overlay that wait for an answer: the crawl's neighbour queries
// and `ringvpn ping`'s echoes (request ids, deadlines, matching answers to their asker). Sans-IO: time
// comes with each call. It must not send or route anything (the VpnNode does) nor keep an answer nobody asked for.
import type { NodeId } from '../base/nodeid.js';
import type { NeighbourSlots } from '../wire/app.js';
import type { EchoResult } from './io.js';

interface Pending { to: NodeId; deadline: number; sentAt: number; neighbours?: (v: NeighbourSlots | null) => void; echo?: (r: EchoResult | null) => void }

export class OperatorQueries {
  private readonly pending = new Map<number, Pending>();
  private next = 1;

  /** A neighbour query to `to`: its request id. */
  neighbours(now: number, to: NodeId, timeoutMs: number, cb: (v: NeighbourSlots | null) => void): number {
    return this.add({ to, deadline: now + timeoutMs, sentAt: now, neighbours: cb });
  }

  /** An echo to `to`: its request id. */
  echo(now: number, to: NodeId, timeoutMs: number, cb: (r: EchoResult | null) => void): number {
    return this.add({ to, deadline: now + timeoutMs, sentAt: now, echo: cb });
  }

  /** A NEIGHBOURS_REPLY; false when nobody asked for it. */
  neighboursReply(reqId: number, view: NeighbourSlots): boolean {
    const q = this.take(reqId, (p) => !!p.neighbours);
    q?.neighbours!(view);
    return !!q;
  }

  /** An ECHO_REPLY from `src` that took `hopsBack` hops (the request took `hopsThere`); false when nobody asked for it. */
  echoReply(now: number, reqId: number, src: NodeId, hopsThere: number, hopsBack: number): boolean {
    const q = this.take(reqId, (p) => !!p.echo && p.to === src);
    q?.echo!({ rttMs: now - q.sentAt, hopsThere, hopsBack });
    return !!q;
  }

  /** Requests past their deadline are answered null. */
  tick(now: number): void {
    for (const [id, q] of this.pending) {
      if (now < q.deadline) continue;
      this.pending.delete(id);
      q.neighbours?.(null);
      q.echo?.(null);
    }
  }

  private add(p: Pending): number {
    const id = this.next++ >>> 0;
    this.pending.set(id, p);
    return id;
  }

  private take(reqId: number, ok: (p: Pending) => boolean): Pending | null {
    const q = this.pending.get(reqId);
    if (!q || !ok(q)) return null;
    this.pending.delete(reqId);
    return q;
  }
}
