// Owns the overlay's links on the real network: node id <-> engine peer id <-> static key, probes that
// learn who answers at an endpoint, Noise IK handshakes (open admission: a node id is the hash of its
// static key, so the handshake proves the id) and the link results the overlay core waits for.
// It must not route or decide topology (ts/core does), and never touches packets.
import { randomBytes } from 'node:crypto';
import { nodeIdOfKey } from '../pki/identity.js';
import { Handshaker, type HandshakeAction } from '../handshake/handshake.js';
import { decodeProbe, encodeProbeReply, encodeProbeRequest, FRAME_PROBE } from '../handshake/probe.js';
import { idFromBytes, idToBytes, idToHex, idShort, type NodeId } from '../core/nodeid.js';
import type { DataPlane } from './engine.js';
import type { Logger } from './log.js';
import type { Membership } from './membership.js';

/** A handshake frame that arrived through the overlay from this node (not from a UDP endpoint). */
const OVERLAY = 'ovl:';

/** A node id is the first 160 bits of SHA-256 of its static public key (self-certifying). */
export { nodeIdOfKey };

export interface LinkPeer {
  peerId: number;
  nodeId: NodeId;
  key: Uint8Array | null;
  endpoint: string | null;
  /** a session is installed in the data plane */
  established: boolean;
  /** the overlay core holds a connection over it */
  linked: boolean;
  /** data routes (virtual address, announced subnets) and the overlay hop used until a session exists */
  allowed: string[];
  via: number | null;
  lastHandshake: number | null;
  handshakes: number;
  /** CONTROL frames and keepalives sent and received (the engine's packet counters include them) */
  controlFrames: number;
}

export interface LinkEvents {
  up(nodeId: NodeId, endpoints: string[]): void;
  /** a session with the node is installed (direct or carried through the overlay) */
  session(nodeId: NodeId): void;
  /** carry a handshake message to a node through the overlay (no endpoint known yet) */
  overlaySend(nodeId: NodeId, bytes: Uint8Array): void;
  failed(to: NodeId | null, endpoints: string[]): void;
  down(nodeId: NodeId): void;
  /** a peer told us the endpoint it sees us at */
  observed(endpoint: string): void;
}

interface ProbeWait { endpoint: string; to: NodeId | null; endpoints: string[]; tries: number; sentAt: number }
interface Attempt { to: NodeId | null; endpoints: string[]; deadline: number }

const PROBE_RETRY_MS = 1_000;
const PROBE_TRIES = 5;
const LINK_TIMEOUT_MS = 12_000;

export class LinkManager {
  readonly handshaker: Handshaker;
  readonly peers = new Map<number, LinkPeer>();
  readonly byNode = new Map<NodeId, number>();
  readonly counters: Record<string, number> = {};
  private readonly probes = new Map<number, ProbeWait>();
  private readonly attempts = new Map<NodeId, Attempt>();
  private nextPeerId = 1;

  constructor(
    private readonly engine: () => DataPlane | undefined,
    readonly selfId: NodeId,
    private readonly keys: { privateKey: Uint8Array; publicKey: Uint8Array },
    private readonly now: () => number,
    private readonly events: LinkEvents,
    private readonly log: Logger,
    private readonly membership?: Membership,
  ) {
    this.handshaker = new Handshaker({
      staticPrivate: keys.privateKey, staticPublic: keys.publicKey,
      random: (n) => new Uint8Array(randomBytes(n)),
      admit: (rs) => this.admit(rs),
      ...(membership ? {
        certificate: () => membership.ownDer,
        verifyPeer: (c) => {
          const expected = c.weInitiated && c.peerId !== null ? this.peers.get(c.peerId)?.nodeId : undefined;
          const v = membership.verify(c.staticPublic, c.certificate, expected);
          return v.ok ? { ok: true } : { ok: false, code: v.code };
        },
      } : {}),
    });
  }

  /** Node ids cut off for good (revoked): never linked or admitted again. */
  private readonly banned = new Set<NodeId>();

  private count(k: string): void { this.counters[k] = (this.counters[k] ?? 0) + 1; }

  /** Send a raw frame; a socket error (no route, blackholed endpoint) is counted, never fatal. */
  private send(to: string, bytes: Uint8Array): void {
    try {
      this.engine()?.sendFrame(to, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } catch (e) {
      this.count('send_failed');
      this.log.debug({ to, err: (e as Error).message }, 'send failed');
    }
  }

  /** The overlay asks for a link to `to` (or to whoever answers at the endpoints when to is null). */
  link(to: NodeId | null, endpoints: string[]): void {
    if (to === this.selfId) return;
    if (to !== null && this.banned.has(to)) { this.count('link_banned'); this.events.failed(to, endpoints); return; }
    if (to !== null) {
      const p = this.peerOf(to);
      if (p?.established && p.endpoint) { this.markLinked(p, endpoints); return; }
      if (p?.established) {
        // a session made through the overlay: a probe answered at one of the endpoints proves the
        // direct path before the data plane switches to it
        this.attempts.set(to, { to, endpoints, deadline: this.now() + LINK_TIMEOUT_MS });
        if (!endpoints.length) { this.events.failed(to, endpoints); return; }
        for (const ep of endpoints) this.sendProbe(ep, to, endpoints);
        return;
      }
      this.attempts.set(to, { to, endpoints, deadline: this.now() + LINK_TIMEOUT_MS });
      if (p?.key && (p.endpoint || endpoints.length)) {
        if (!p.endpoint) this.setEndpoint(p, endpoints[0]!);
        this.initiate(p);
        return;
      }
    }
    if (!endpoints.length) { this.events.failed(to, endpoints); return; }
    for (const ep of endpoints) this.sendProbe(ep, to, endpoints);
  }

  /**
   * The overlay closed its connection. A trimmed link's session stays while the data plane routes to
   * the peer; a dead one (ping timeout, remote close) loses its sessions, so a later link request
   * handshakes again instead of trusting a session to a node that is gone.
   */
  unlink(nodeId: NodeId, reason = 'trim'): void {
    const p = this.peerOf(nodeId);
    if (!p) return;
    p.linked = false;
    if (!p.allowed.length) { this.forget(p); return; }
    if (reason !== 'trim') this.resetSessions(p);
  }

  private resetSessions(p: LinkPeer): void {
    p.established = false;
    for (const a of this.handshaker.removePeer(p.peerId)) if (a.kind === 'retired') this.engine()?.removeSession(a.localIndex);
    if (p.key) this.handshaker.addPeer(p.peerId, p.key);
  }

  /** Install or update a data route to a node (its address and subnets), with an overlay hop to use meanwhile. */
  route(nodeId: NodeId, allowed: string[], via: NodeId | null, key?: Uint8Array): LinkPeer | null {
    if (this.banned.has(nodeId)) return null;
    const p = this.peerOf(nodeId) ?? this.newPeer(nodeId, null, null);
    if (key && !p.key && nodeIdOfKey(key) === nodeId) this.setKey(p, key);
    p.allowed = allowed;
    p.via = via === null ? null : (this.byNode.get(via) ?? null);
    this.push(p);
    // no session yet: handshake now, through the overlay when no endpoint is known, so the first
    // packets can travel end to end through the overlay while a direct link is made
    if (!p.established && p.key && !this.handshaker.peerStatus(p.peerId)?.handshakeInProgress) this.initiate(p);
    return p;
  }

  /** Cut a node off (revoked): sessions, data routes and the link go; it can never come back. */
  ban(nodeId: NodeId): boolean {
    this.banned.add(nodeId);
    const p = this.peerOf(nodeId);
    if (!p) return false;
    const wasLinked = p.linked;
    this.forget(p);
    if (wasLinked) this.events.down(nodeId);
    return true;
  }

  isBanned(nodeId: NodeId): boolean { return this.banned.has(nodeId); }

  /** A handshake message carried through the overlay from `src`. */
  onOverlayFrame(data: Uint8Array, src: NodeId): void {
    if (this.banned.has(src)) { this.count('overlay_handshake_banned'); return; }
    this.apply(this.handshaker.receive(data, this.now()), OVERLAY + idToHex(src));
  }

  /** Drop a data route (the address moved or expired). */
  unroute(nodeId: NodeId): void {
    const p = this.peerOf(nodeId);
    if (!p) return;
    p.allowed = [];
    if (!p.linked) this.forget(p); else this.push(p);
  }

  peerOf(nodeId: NodeId): LinkPeer | undefined {
    const id = this.byNode.get(nodeId);
    return id === undefined ? undefined : this.peers.get(id);
  }

  sendControl(nodeId: NodeId, bytes: Uint8Array): boolean {
    const p = this.peerOf(nodeId);
    const e = this.engine();
    if (!p?.established || !p.endpoint || !e) { this.count('control_no_session'); return false; }
    try {
      e.sendControl(p.peerId, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      p.controlFrames++;
      return true;
    } catch (err) {
      this.count('control_send_failed');
      this.log.debug({ peer: idShort(nodeId), err: (err as Error).message }, 'control send failed');
      return false;
    }
  }

  /** A handshake-class frame (types 1, 2, 3 and probes) from the data plane. */
  onFrame(data: Uint8Array, from: string): void {
    if (data[0] === FRAME_PROBE) { this.onProbe(data, from); return; }
    this.apply(this.handshaker.receive(data, this.now()), from);
  }

  /** The data plane wants a session for a peer (traffic waiting or rekey due). */
  needSession(peerId: number): boolean {
    const p = this.peers.get(peerId);
    if (!p?.key || !p.endpoint) return false;
    this.initiate(p);
    return true;
  }

  tick(): void {
    const now = this.now();
    for (const [token, w] of this.probes) {
      if (now - w.sentAt < PROBE_RETRY_MS) continue;
      if (w.tries >= PROBE_TRIES) {
        this.probes.delete(token);
        if (w.to === null) this.events.failed(null, [w.endpoint]);
        continue;
      }
      w.tries++; w.sentAt = now;
      this.send(w.endpoint, encodeProbeRequest(token, w.endpoint));
    }
    for (const [id, a] of this.attempts) {
      if (now < a.deadline) continue;
      this.attempts.delete(id);
      this.count('link_timeout');
      this.events.failed(a.to, a.endpoints);
    }
    this.apply(this.handshaker.tick(now), null);
  }

  // ---------------------------------------------------------------- probes
  private sendProbe(endpoint: string, to: NodeId | null, endpoints: string[]): void {
    for (const w of this.probes.values()) if (w.endpoint === endpoint && w.to === to) return;
    const token = randomBytes(4).readUInt32LE(0);
    this.probes.set(token, { endpoint, to, endpoints, tries: 1, sentAt: this.now() });
    this.send(endpoint, encodeProbeRequest(token, endpoint));
  }

  private onProbe(data: Uint8Array, from: string): void {
    const d = decodeProbe(data);
    if (!d.ok) { this.count('probe_' + d.code); return; }
    const m = d.value;
    if (m.kind === 'request') {
      this.send(from, encodeProbeReply(m.token, this.keys.publicKey, from));
      if (m.target) this.events.observed(m.target);
      return;
    }
    const w = this.probes.get(m.token);
    if (!w || w.endpoint !== from) { this.count('probe_unsolicited'); return; }
    this.probes.delete(m.token);
    if (m.observed) this.events.observed(m.observed);
    const nodeId = nodeIdOfKey(m.staticKey);
    if (nodeId === this.selfId) { this.count('probe_self'); if (w.to === null) this.events.failed(null, [from]); return; }
    if (w.to !== null && nodeId !== w.to) { this.count('probe_wrong_id'); return; }
    let p = this.peerOf(nodeId);
    if (p?.established) {
      if (!p.endpoint) this.setEndpoint(p, from);
      this.markLinked(p, w.endpoints);
      return;
    }
    if (!p) p = this.newPeer(nodeId, m.staticKey, from);
    else if (!p.key) this.setKey(p, m.staticKey);
    if (!p.endpoint || w.to === null) this.setEndpoint(p, from);
    if (!this.attempts.has(nodeId)) this.attempts.set(nodeId, { to: nodeId, endpoints: w.to === null ? [from] : w.endpoints, deadline: this.now() + LINK_TIMEOUT_MS });
    this.initiate(p);
  }

  // ---------------------------------------------------------------- handshakes
  private admit(rs: Uint8Array): number | null {
    const nodeId = nodeIdOfKey(rs);
    if (nodeId === this.selfId || this.banned.has(nodeId)) return null;
    const p = this.peerOf(nodeId);
    if (p) { p.key = new Uint8Array(rs); return p.peerId; } // a data-only peer: the handshaker adds the key
    return this.newPeer(nodeId, null, null, new Uint8Array(rs)).peerId;
  }

  /** Handshake directly when an endpoint is known, else through the overlay (see apply's 'send'). */
  private initiate(p: LinkPeer): void {
    this.apply(this.handshaker.initiate(p.peerId, this.now()), null);
  }

  private apply(actions: HandshakeAction[], from: string | null): void {
    const e = this.engine();
    if (!e) return;
    for (const a of actions) {
      if (a.kind === 'send') {
        const p = this.peers.get(a.peerId);
        const to = from ?? p?.endpoint ?? null;
        if (to && !to.startsWith(OVERLAY)) this.send(to, a.bytes);
        else if (p) { this.count('handshake_via_overlay'); this.events.overlaySend(p.nodeId, a.bytes); }
      } else if (a.kind === 'established') {
        const p = this.peers.get(a.peerId);
        if (!p) continue;
        if (this.banned.has(p.nodeId)) { this.forget(p); continue; }
        const direct = from !== null && !from.startsWith(OVERLAY);
        if (direct && from !== p.endpoint) this.setEndpoint(p, from);
        const s = a.session;
        e.setSession(p.peerId, {
          localIndex: s.localIndex, remoteIndex: s.remoteIndex,
          sendKey: Buffer.from(s.sendKey), recvKey: Buffer.from(s.recvKey), initiator: s.initiator,
        });
        // a responder confirms the session by traffic; through the overlay the initiator's first data does
        if (!s.initiator && p.endpoint) { try { e.sendKeepalive(p.peerId); p.controlFrames++; } catch { this.count('keepalive_failed'); } }
        for (const old of a.expiredLocalIndices ?? []) e.removeSession(old);
        const first = !p.established;
        p.established = true;
        p.lastHandshake = this.now();
        p.handshakes++;
        if (first) this.log.debug({ peer: idShort(p.nodeId), endpoint: p.endpoint, initiator: s.initiator }, 'session established');
        const att = this.attempts.get(p.nodeId);
        // a session that came through the overlay is not an overlay link until a link request finds it
        if (p.endpoint && (att || (!p.linked && (direct || from === null)))) this.markLinked(p, att?.endpoints ?? (p.endpoint ? [p.endpoint] : []));
        this.events.session(p.nodeId);
      } else if (a.kind === 'retired') {
        e.removeSession(a.localIndex);
      } else if (a.kind === 'failed') {
        const p = this.peers.get(a.peerId);
        this.count('handshake_failed');
        if (p) this.lost(p);
      } else if (a.kind === 'rejected') {
        this.count('handshake_' + a.code);
      }
    }
  }

  private markLinked(p: LinkPeer, endpoints: string[]): void {
    this.attempts.delete(p.nodeId);
    p.linked = true;
    this.events.up(p.nodeId, p.endpoint ? [p.endpoint, ...endpoints.filter((x) => x !== p.endpoint)] : endpoints);
  }

  /** The session is gone for good (handshake gave up): tell the overlay, keep data routes. */
  private lost(p: LinkPeer): void {
    const wasLinked = p.linked;
    p.linked = false;
    this.resetSessions(p);
    if (wasLinked) this.events.down(p.nodeId);
  }

  // ---------------------------------------------------------------- peer table
  private newPeer(nodeId: NodeId, key: Uint8Array | null, endpoint: string | null, admittedKey?: Uint8Array): LinkPeer {
    const p: LinkPeer = {
      peerId: this.nextPeerId++, nodeId, key: admittedKey ?? null, endpoint, established: false, linked: false,
      allowed: [], via: null, lastHandshake: null, handshakes: 0, controlFrames: 0,
    };
    this.peers.set(p.peerId, p);
    this.byNode.set(nodeId, p.peerId);
    if (key) this.setKey(p, key);
    this.push(p);
    return p;
  }

  private setKey(p: LinkPeer, key: Uint8Array): void {
    p.key = new Uint8Array(key);
    this.handshaker.addPeer(p.peerId, p.key);
  }

  private setEndpoint(p: LinkPeer, ep: string): void {
    p.endpoint = ep;
    this.push(p);
  }

  /** Engine endpoint roaming (authenticated by the data plane). */
  roamed(peerId: number, ep: string): void {
    const p = this.peers.get(peerId);
    if (p) p.endpoint = ep;
  }

  private push(p: LinkPeer): void {
    this.engine()?.setPeer(p.peerId, p.endpoint, p.allowed, { nodeId: Buffer.from(idToBytes(p.nodeId)), via: p.via });
  }

  private forget(p: LinkPeer): void {
    for (const a of this.handshaker.removePeer(p.peerId)) if (a.kind === 'retired') this.engine()?.removeSession(a.localIndex);
    this.peers.delete(p.peerId);
    this.byNode.delete(p.nodeId);
    this.attempts.delete(p.nodeId);
    this.engine()?.removePeer(p.peerId);
  }
}
