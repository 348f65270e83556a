// Owns connection liveness, passive as in WireGuard: any frame heard from a peer proves the link alive
// (the node stamps lastHeard on every frame, a ping included); only a silent link gets a ping RPC, and if
// all tries fail the connection is reported dead. How long a link may stay silent depends on what it is
// for: a relay hop (it carries relay links) relayPingAfterMs, a near link (ring stability)
// nearPingAfterMs, any other link keepaliveMs (NAT mappings). One side
// of a link (the smaller id) pings; the other waits a grace longer, so that normally the first side's
// ping refreshes it and an idle link costs one ping + pong per interval. It must not close links itself;
// the node does on the callback (after asking its driver whether the path, not the peer, failed).
import { type ConnectionTable, type Conn, K_RELAY } from './connections.js';
import { type NodeId } from '../base/nodeid.js';
import { type RpcManager } from './rpc.js';
import { encode } from '../wire/overlay-codec.js';

export interface LivenessParams {
  nearPingAfterMs: number;
  keepaliveMs: number;
  pingGraceMs: number;
  relayPingAfterMs: number;
  /** links within this many positions per side are near (pinged at nearPingAfterMs) */
  pingNearPerSide: number;
}

/** Silence allowed on a link before this side pings it. */
export function silenceAllowed(self: NodeId, c: Conn, near: boolean, p: LivenessParams): number {
  // only the user of a relay hop watches it as one (the relay does not hold K_RELAY): no passive side
  if ((c.local & K_RELAY) !== 0) return Math.min(p.relayPingAfterMs, near ? p.nearPingAfterMs : p.keepaliveMs);
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
  dead: (id: NodeId, failedAt: number, pingedAt: number) => void,
): number {
  let next = now + Math.min(p.nearPingAfterMs, p.keepaliveMs);
  const nb = table.neighbours(p.pingNearPerSide);
  for (const c of table.values()) {
    const relay = (c.local & K_RELAY) !== 0;
    if (c.pingInFlight && !relay) continue;
    const allowed = silenceAllowed(table.self, c, nb.left.includes(c) || nb.right.includes(c), p);
    const due = c.lastHeard + allowed;
    if (!c.pingInFlight && now < due) { if (due < next) next = due; continue; }
    // a relay hop's ping out (or sent now) is answered soon: it may be due again one interval from now,
    // sooner than the next regular scan
    if (relay) next = Math.min(next, now + allowed);
    if (c.pingInFlight) continue;
    c.pingInFlight = true;
    c.pingsSent++;
    rpc.call(now, c.id, (rpcId) => encode({ type: 'ping', rpcId }), (ok, rttMs) => {
      c.pingInFlight = false;
      if (ok) c.rttMs = rttMs;
      // a failure's rttMs is the time since the first try: the callback runs later than this scan
      if (!ok && table.get(c.id) === c) dead(c.id, now + rttMs, now);
    });
  }
  return next;
}
