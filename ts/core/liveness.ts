// Owns connection liveness: a connection silent for pingAfterMs gets a ping RPC; if all tries fail
// the connection is reported dead. It must not close links itself; the node does on the callback.
import { type ConnectionTable } from './connections.js';
import { type NodeId } from './nodeid.js';
import { type RpcManager } from './rpc.js';
import { encode } from '../wire/messages.js';

/**
 * Ping every connection silent for pingAfterMs. Returns the earliest time another connection can be
 * due (lastHeard only grows and new links start at now), so the caller may skip scans until then.
 */
export function checkLiveness(
  now: number, table: ConnectionTable, rpc: RpcManager, pingAfterMs: number,
  dead: (id: NodeId) => void,
): number {
  let next = now + pingAfterMs;
  for (const c of table.values()) {
    if (c.pingInFlight) continue;
    if (now - c.lastHeard < pingAfterMs) { const due = c.lastHeard + pingAfterMs; if (due < next) next = due; continue; }
    c.pingInFlight = true;
    rpc.call(now, c.id, (rpcId) => encode({ type: 'ping', rpcId }), (ok) => {
      c.pingInFlight = false;
      if (!ok && table.get(c.id) === c) dead(c.id);
    });
  }
  return next;
}
