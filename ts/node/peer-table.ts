// Owns the link table's peer records and their state changes: engine peer ids, keys, endpoints, the
// linked flag and the engine commands (setPeer, removePeer) and LinkEvents each change raises. The
// protocol (probes, handshakes, relays, attempts' timing) is LinkTable's (link-table.ts), which extends
// this; it must not send frames or decide when a link is made.
import { Handshaker } from '../handshake/handshake.js';
import { idToBytes, idShort, type NodeId } from '../base/nodeid.js';
import type { Logger } from '../base/log.js';
import type { Counters, Outbox } from './io.js';
import type { LinkEvent, LinkPeer, LinkTableOptions } from './link-peer.js';

/** A link request under way: to whom (null: whoever answers at the endpoints), until when, and its overlay hop. */
export interface Attempt { to: NodeId | null; endpoints: string[]; deadline: number; slowAt: number; via?: NodeId }

/**
 * A direct endpoint not heard from for this long is not trusted for a new link: a NAT's mapping for it (or
 * its permission for us) may be gone (as the data plane's RELAY_DIRECT_FRESH_MS); the path is probed first.
 */
const DIRECT_FRESH_MS = 25_000;

export abstract class PeerTable {
  readonly handshaker: Handshaker;
  readonly peers = new Map<number, LinkPeer>();
  readonly byNode = new Map<NodeId, number>();
  readonly events: LinkEvent[] = [];
  protected readonly attempts = new Map<NodeId, Attempt>();
  private nextPeerId: number;
  protected t = 0;
  /** a full-tunnel client's gateway in use: its peer also carries the Internet (0.0.0.0/0) */
  protected tunnel: NodeId | null = null;

  constructor(protected readonly o: LinkTableOptions, protected readonly out: Outbox, protected readonly counters: Counters, protected readonly log: Logger) {
    const group = o.group;
    this.nextPeerId = (o.carrier?.peerIdBase ?? 0) + 1;
    this.handshaker = new Handshaker({
      staticPrivate: o.keys.privateKey, staticPublic: o.keys.publicKey, random: o.random,
      ...(o.carrier ? { realm: o.carrier.realm } : {}),
      ...(o.indexTaken ? { indexTaken: o.indexTaken } : {}),
      ...(o.openAdmission ? { admit: (rs: Uint8Array) => this.admit(rs) } : {}),
      ...(group ? {
        certificate: () => group.ownDer,
        verifyPeer: (c) => {
          const expected = c.weInitiated && c.peerId !== null ? this.peers.get(c.peerId)?.nodeId : undefined;
          return group.verify(c.staticPublic, c.certificate, expected);
        },
      } : {}),
    });
  }

  /** A stranger's static key completed a handshake's first message (open admission): its peer id, or null to refuse. */
  protected abstract admit(rs: Uint8Array): number | null;

  /** The time of the input being handled; every method below acts at this time. */
  at(now: number): this { this.t = now; return this; }
  protected wall(): number { return this.t + this.o.wallOffsetMs; }
  protected count(k: string): void { this.counters.add(k); }

  peerOf(nodeId: NodeId): LinkPeer | undefined {
    const id = this.byNode.get(nodeId);
    return id === undefined ? undefined : this.peers.get(id);
  }

  /** The relay link to `nodeId` is gone (its relay died and no other is left): the overlay loses the link. */
  relayLost(nodeId: NodeId): void {
    const p = this.peerOf(nodeId);
    if (!p || p.relay === null) return;
    p.relay = null;
    this.push(p);
    this.count('relay_lost');
    this.lost(p);
  }

  /** Whether the peer was heard from lately (its direct endpoint can be trusted without a probe). */
  protected fresh(p: LinkPeer): boolean { return p.lastRx !== null && this.t - p.lastRx < DIRECT_FRESH_MS; }

  protected markLinked(p: LinkPeer, endpoints: string[]): void {
    this.attempts.delete(p.nodeId);
    const was = !this.setLinked(p, true);
    if (p.pinned && was) return;
    this.events.push({ ev: 'up', nodeId: p.nodeId, endpoints: p.endpoint ? [p.endpoint, ...endpoints.filter((x) => x !== p.endpoint)] : endpoints });
  }

  /** The session is gone for good (handshake gave up): tell the overlay, keep data routes. */
  protected lost(p: LinkPeer): void {
    const wasLinked = this.setLinked(p, false);
    this.resetSessions(p);
    if (wasLinked) this.events.push({ ev: 'down', nodeId: p.nodeId });
  }

  protected resetSessions(p: LinkPeer): void {
    this.count('sessions_reset');
    p.established = false;
    for (const a of this.handshaker.removePeer(p.peerId)) if (a.kind === 'retired') this.out.cmd({ cmd: 'removeSession', localIndex: a.localIndex });
    if (p.key) this.handshaker.addPeer(p.peerId, p.key);
  }

  // ---------------------------------------------------------------- peer table
  protected newPeer(nodeId: NodeId, key: Uint8Array | null, endpoint: string | null, admittedKey?: Uint8Array): LinkPeer {
    const p: LinkPeer = {
      peerId: this.nextPeerId++, nodeId, key: admittedKey ?? null, endpoint, established: false, linked: false, pinned: false,
      allowed: [], via: null, relay: null, carrier: null, linkedAt: null, rttMs: null, lastHandshake: null, lastRx: null, handshakes: 0, overlayResponse: null, dataPackets: 0, rxDataPackets: 0,
    };
    this.peers.set(p.peerId, p);
    this.byNode.set(nodeId, p.peerId);
    if (key) this.setKey(p, key);
    this.push(p);
    return p;
  }

  protected setKey(p: LinkPeer, key: Uint8Array): void {
    p.key = new Uint8Array(key);
    this.handshaker.addPeer(p.peerId, p.key);
  }

  /** A direct path to the peer: a relay link leaves its relay (a direct path beats a relay). */
  protected setEndpoint(p: LinkPeer, ep: string): void {
    p.endpoint = ep;
    p.carrier = null;
    if (p.relay !== null) {
      const hop = p.relay;
      p.relay = null;
      this.count('relay_replaced_by_direct');
      this.events.push({ ev: 'direct', nodeId: p.nodeId, hop });
    }
    this.push(p);
  }

  /** The overlay holds a connection over the peer, or not; the data plane learns whether it is a relay hop. True if it changed. */
  protected setLinked(p: LinkPeer, linked: boolean): boolean {
    if (p.linked === linked) return false;
    p.linked = linked;
    p.linkedAt = linked ? this.t : null;
    this.push(p);
    return true;
  }

  protected push(p: LinkPeer): void {
    // only an overlay connection (kept alive by the overlay's liveness) may carry others' relayed
    // frames: a data-only peer that died would swallow them until its session lapses
    // a relay link's frames go through its relay; a relayed peer is never a greedy hop for others (Rust
    // forwards only to peers with an endpoint), so relays never chain
    // a relay link has no direct path: the data plane drops the endpoint it may still hold (else it
    // would send there), and the next packet that arrives directly tells us (roamed) that one works;
    // its frames are flagged as a relay link's (relayOnly), which the relay counts against its limits
    const forget = p.relay !== null && p.endpoint === null;
    const allowed = p.nodeId === this.tunnel && p.allowed.length ? [...p.allowed, '0.0.0.0/0'] : p.allowed;
    // a private overlay's peer is never a hop for others' relayed frames: the public overlay's links carry those;
    // its carrier (the public data plane's next hop, kept current) comes before a data route's private hop,
    // whose own forwarding may have no direct public path to the peer
    this.out.cmd({ cmd: 'setPeer', peerId: p.peerId, endpoint: p.endpoint, allowed, nodeId: idToBytes(p.nodeId), via: p.relay ?? p.carrier ?? p.via, hop: p.linked && !this.o.carrier, relayOnly: p.relay !== null, ...(this.o.gatewayClient ? { gatewayClient: this.o.gatewayClient(p.nodeId) } : {}), ...(forget ? { forgetEndpoint: true } : {}) });
  }

  protected forget(p: LinkPeer): void {
    this.count('peer_forgotten');
    for (const a of this.handshaker.removePeer(p.peerId)) if (a.kind === 'retired') this.out.cmd({ cmd: 'removeSession', localIndex: a.localIndex });
    this.peers.delete(p.peerId);
    this.byNode.delete(p.nodeId);
    // no peer may keep a path through it: a data route loses its next hop, a relay link its relay
    for (const q of this.peers.values()) {
      if (q.via === p.peerId) { q.via = null; this.push(q); }
      if (q.carrier === p.peerId) { q.carrier = null; this.push(q); }
      if (q.relay === p.peerId) { this.count('relay_hop_forgotten'); this.relayLost(q.nodeId); }
    }
    // an attempt under way fails now (the overlay would otherwise wait for a result that never comes)
    const a = this.attempts.get(p.nodeId);
    if (a && this.attempts.delete(p.nodeId)) this.events.push({ ev: 'failed', to: p.nodeId, endpoints: a.endpoints });
    this.out.cmd({ cmd: 'removePeer', peerId: p.peerId });
  }
}
