// Owns connection liveness, passive as in WireGuard: any frame heard from a peer proves the link alive
// (the node stamps lastHeard on every frame, a ping included); only a silent link gets a ping RPC, and if
// all tries fail the connection is reported dead. How long a link may stay silent depends on what it is
// for: a near link (ring stability) or a relay hop (it carries relay links) nearPingAfterMs, any other
// link keepaliveMs (NAT mappings). One side
// of a link (the smaller id) pings; the other waits a grace longer, so that normally the first side's
// ping refreshes it and an idle link costs one ping + pong per interval. It must not close links itself;
// the node does on the callback.
import { type ConnectionTable, type Conn, K_RELAY } from './connections.js';
import { type NodeId } from '../base/nodeid.js';
import { type RpcManager } from './rpc.js';
import { encode } from '../wire/overlay-codec.js';

export interface LivenessParams {
  nearPingAfterMs: number;
  keepaliveMs: number;
  pingGraceMs: number;
  /** links within this many positions per side are near (pinged at nearPingAfterMs) */
  pingNearPerSide: number;
}

/** Silence allowed on a link before this side pings it. */
export function silenceAllowed(self: NodeId, c: Conn, near: boolean, p: LivenessParams): number {
  const interval = near ? p.nearPingAfterMs : p.keepaliveMs;
  return self < c.id ? interval : interval + p.pingGraceMs;
}

/**
 * Ping every connection silent longer than it may be. Returns the time of the next scan: the earliest
 * due time (lastHeard only grows and new links start at now), but at least once per near interval,
 * since a link can become near when a nearer one goes away.
 */
export function checkLiveness(
  now: number, table: ConnectionTable, rpc: RpcManager, p: LivenessParams,
  dead: (id: NodeId) => void,
): number {
  let next = now + Math.min(p.nearPingAfterMs, p.keepaliveMs);
  const nb = table.neighbours(p.pingNearPerSide);
  for (const c of table.values()) {
    if (c.pingInFlight) continue;
    // a relay hop carries other links: watched like a near neighbour, so its relay links fail over fast
    const near = nb.left.includes(c) || nb.right.includes(c) || (c.local & K_RELAY) !== 0;
    const due = c.lastHeard + silenceAllowed(table.self, c, near, p);
    if (now < due) { if (due < next) next = due; continue; }
    c.pingInFlight = true;
    c.pingsSent++;
    rpc.call(now, c.id, (rpcId) => encode({ type: 'ping', rpcId }), (ok, rttMs) => {
      c.pingInFlight = false;
      if (ok) c.rttMs = rttMs;
      if (!ok && table.get(c.id) === c) dead(c.id);
    });
  }
  return next;
}
