// Owns the simulator's mirror of the data plane's forwarding rule for others' RELAY frames (crates/dataplane
// relay.rs next_hop), pure over the engine's peers. It must not send, count or change a peer: MemoryEngine
// does that with the hop it returns.
import type { NodeId } from '../base/nodeid.js';
import { ringDist } from '../core/ring.js';
import { RELAY_DIRECT_FRESH_MS } from '../native/binding.js';

/** What the rule reads of a peer. */
export interface HopPeer { id: number; nodeId: NodeId | null; endpoint: string | null; hop: boolean; via: number | null; lastDirectRx: number }

/**
 * The next hop toward `dst` for a frame that came from peer `from`: the destination itself if usable (an
 * overlay link, or heard from directly within DIRECT_FRESH_MS: else its NAT mapping may be gone), else the
 * usable overlay link closest to it, if closer than us, else the destination's via hop (a relay link's
 * common neighbour), else (a dead end: the peers closer to dst are relay links) the usable overlay link
 * nearest to dst among those closer to it than the previous hop, which cannot loop. `usable`: the
 * peer's session to send on, or null.
 */
export function relayNextHop<P extends HopPeer, S>(own: NodeId, dst: NodeId, from: number, peers: ReadonlyMap<number, P>, usable: (p: P) => S | null, now: number): { p: P; s: S } | null {
  let best: { p: P; s: S } | null = null;
  let bestD = ringDist(own, dst);
  for (const p of peers.values()) {
    if (p.nodeId === null || !p.endpoint) continue;
    const s = usable(p);
    if (!s) continue;
    if (p.nodeId === dst) { if (p.hop || now - p.lastDirectRx < RELAY_DIRECT_FRESH_MS) return { p, s }; continue; }
    if (p.id === from || !p.hop) continue;
    const dd = ringDist(p.nodeId, dst);
    if (dd < bestD) { best = { p, s }; bestD = dd; }
  }
  if (best) return best;
  for (const p of peers.values()) {
    if (p.nodeId !== dst || p.via === null || p.via === from) continue;
    const v = peers.get(p.via);
    const s = v?.endpoint ? usable(v) : null;
    if (v && s) return { p: v, s };
    break;
  }
  const prev = peers.get(from)?.nodeId;
  if (prev === null || prev === undefined) return null;
  bestD = ringDist(prev, dst);
  for (const p of peers.values()) {
    if (p.nodeId === null || !p.endpoint || p.id === from || !p.hop) continue;
    const dd = ringDist(p.nodeId, dst);
    if (dd >= bestD) continue;
    const s = usable(p);
    if (s) { best = { p, s }; bestD = dd; }
  }
  return best;
}
