// Owns the shape of a VPN node's status (what `ringvpn status` and the library's status() show):
// ring, connections by kind with their sessions, data peers, LAN, group, DHT, counters and drops.
// Pure: it reads the node and optional engine stats and must not change either.
import { idShort, idToHex } from '../base/nodeid.js';
import type { VpnNode } from './vpn-node.js';

interface EnginePeerLike { peerId: number }

export function nodeStatus(n: VpnNode, now: number, engine?: { peers: EnginePeerLike[] }): Record<string, unknown> {
  const enginePeers = new Map((engine?.peers ?? []).map((p) => [p.peerId, p]));
  const ov = n.overlay;
  const conns = ov?.connections() ?? [];
  const connected = new Set(conns.map((x) => x.id));
  const nb = ov?.ringNeighbours() ?? {};
  const h = (x?: bigint) => (x === undefined ? undefined : idToHex(x));
  const peers = [...n.links.peers.values()];
  return {
    mode: ov ? 'overlay' : 'mesh',
    nodeId: idToHex(n.self),
    uptimeMs: Math.round(now),
    ...(ov ? {
      endpoints: ov.endpoints, joined: ov.joined, sizeEstimate: Math.round(ov.sizeEstimate()),
      ring: { left1: h(nb.left1), left2: h(nb.left2), right1: h(nb.right1), right2: h(nb.right2) },
      connections: conns.map((x) => {
        const p = n.links.peerOf(x.id);
        const relay = p?.relay != null ? n.links.peers.get(p.relay)?.nodeId : undefined;
        // the path: direct (UDP to the endpoint), or a relay link through a common neighbour
        // (a private overlay's link may ride the public overlay's data plane: carried)
        const path = p?.endpoint ? 'direct' : relay !== undefined ? `relay via ${idShort(relay)}` : p?.carrier != null ? 'carried by the public overlay' : 'none';
        return { nodeId: idToHex(x.id), short: idShort(x.id), kinds: x.kinds, session: !!p?.established, endpoint: p?.endpoint ?? null, path, relay: relay === undefined ? null : idToHex(relay), rttMs: p?.rttMs ?? null, dataplane: p ? enginePeers.get(p.peerId) ?? null : null };
      }),
      nat: n.advertised.nat.summary(),
      relays: n.relays ? {
        policy: n.relays.o.policy, enabled: n.relays.o.enabled, ...n.relays.stats, usersOfThisRelay: n.relayUsers, maxUsers: n.relays.o.maxUsers, pairsCarried: n.relayPairs.pairs,
        links: n.relays.list().map((r) => ({ peer: idToHex(r.peer), relay: idToHex(r.relay), reserve: r.reserve, sinceMs: Math.round(r.sinceMs), setupMs: r.setupMs === null ? null : Math.round(r.setupMs) })),
      } : null,
    } : {}),
    dataPeers: peers.filter((p) => p.allowed.length && !connected.has(p.nodeId)).map((p) => ({
      nodeId: idToHex(p.nodeId), allowed: p.allowed, session: p.established, endpoint: p.endpoint, via: p.via, pinned: p.pinned,
      lastHandshakeAgoMs: p.lastHandshake === null ? null : Math.round(now - p.lastHandshake), handshakes: p.handshakes,
      dataplane: enginePeers.get(p.peerId) ?? null,
    })),
    lan: n.lan?.status() ?? null,
    gateways: n.gateways?.status() ?? null,
    tunnel: n.tunnel?.status() ?? null,
    pki: n.group?.status() ?? null,
    dht: n.dht ? {
      entries: n.dht.store.size, leases: n.dht.leaseCount, pending: n.dht.pendingOps, drops: n.dht.stats.drops,
      viewChanges: n.dht.stats.viewChanges, repairs: n.dht.stats.repairs, syncsSent: n.dht.stats.syncsSent,
      transfersSent: n.dht.stats.transfersSent, entriesSent: n.dht.stats.syncEntriesSent, entriesReceived: n.dht.stats.entriesReceived,
    } : null,
    overlay: ov ? { ...ov.stats, quotas: ov.quotas.status() } : null,
    node: n.counters.values,
  };
}
