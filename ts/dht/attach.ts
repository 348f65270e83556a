// Owns the binding of the DHT and the range broadcast to an OverlayNode: DHT messages ride the node's
// routed envelope, BCAST its direct links, and both are ticked with the node. Sans-IO like the node:
// it must not do I/O or keep time; the node's driver delivers frames and ticks.
import { type OverlayNode } from '../core/node.js';
import { type NodeId } from '../base/nodeid.js';
import { BroadcastService, type BroadcastCallback, type BroadcastParams } from '../core/broadcast.js';
import { DhtCore, type DhtParams } from './dht.js';

export function attachDht(node: OverlayNode, params: Partial<DhtParams> = {}): DhtCore {
  const dht = new DhtCore({
    id: node.id, rng: node.rng,
    route: (now, dest, msg, mode) => node.routeInner(now, dest, msg, mode),
    peers: () => node.ringPeers(),
  }, params);
  node.attach({
    tick: (now) => dht.tick(now),
    routed: (now, m) => { dht.receive(now, m.src, m.hops, m.inner); return true; },
  });
  return dht;
}

/**
 * `usable`: whether a peer can carry a frame now (a VPN node: a session over a direct or relay link).
 * A sub-range handed to a peer that cannot carry it is lost for every node in it, so such peers are
 * left out of the plan (e.g. a member just revoked: cut off before its connection is closed).
 */
export function attachBroadcast(node: OverlayNode, onMessage: BroadcastCallback, params: Partial<BroadcastParams> = {}, usable?: (id: NodeId) => boolean): BroadcastService {
  const b = new BroadcastService({
    id: node.id,
    peers: () => (usable ? node.ringPeers().filter(usable) : node.ringPeers()),
    sendDirect: (to: NodeId, msg) => node.sendDirect(to, msg),
  }, onMessage, params);
  node.attach({ direct: (now, from, m) => b.receive(now, from, m) });
  return b;
}
