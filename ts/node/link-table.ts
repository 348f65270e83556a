// Owns the node's links: node id <-> engine peer id <-> static key, probes that learn who answers at an
// endpoint, Noise IK handshakes (direct, or carried through the overlay) and the link results the
// overlay core waits for. Sans-IO: time comes with each call, randomness is injected, and every effect
// is an engine command in the outbox or a LinkEvent for the VpnNode (the peer records and their state
// changes are peer-table.ts's). It must not route, decide topology (ts/core does) or touch packets.
import { REKEY_ATTEMPT_TIME, type Action } from '../handshake/handshake.js';
import { decodeProbe, encodeProbeReply, encodeProbeRequest, isProbeFrame } from '../wire/probe.js';
import { ProbeWaits } from './probe-waits.js';
import { idShort, nodeIdOfKey, type NodeId } from '../base/nodeid.js';
import { FRAME_TYPE_HANDSHAKE_RESP } from '../wire/frame-types.js';
import type { LinkPeer } from './link-peer.js';
import { PeerTable, type Attempt } from './peer-table.js';

/** A handshake message that arrived through the overlay (not from a UDP endpoint). */
const OVERLAY = 'ovl:';

/** a response routed through the overlay is re-sent on a newly proven direct path this long after (REKEY_TIMEOUT) */
const RESPONSE_RESEND_MS = 5_000;
const LINK_TIMEOUT_MS = 12_000;
/** a link attempt without a direct answer this long is declared failed on the direct path (a relay is sought) */
export const DIRECT_SLOW_MS = 1_000;
/** a session is refused after REJECT_AFTER_TIME (180 s): a peer idle that long has none left */
const SESSION_LIFETIME_MS = 180_000;

/** a peer's STATUS adopts its link if it probed us from the session's endpoint this recently (adopt) */
const ADOPT_PROBE_MS = 10_000;
/** probe request sources remembered for that (a bound: they are anyone's to send) */
const PROBED_FROM_MAX = 256;

/** Peers a node keeps at most (links, data-only peers and admitted strangers); beyond it strangers are refused. */
export const MAX_PEERS = 4096;

export class LinkTable extends PeerTable {
  private readonly probes = new ProbeWaits();
  /** when probe requests last came from an endpoint (the newest PROBED_FROM_MAX, oldest first): see adopt */
  private readonly probedFrom = new Map<string, number>();
  /** node ids cut off for good (revoked): never linked or admitted again */
  private readonly banned = new Set<NodeId>();
  /** set by the driver while the process is over its memory budget: strangers are refused, links stay */
  overBudget = false;

  /** A configured peer (static mesh): its key, endpoint and routes come from the config. */
  pin(key: Uint8Array, endpoint: string | null, allowed: string[]): LinkPeer {
    const p = this.newPeer(nodeIdOfKey(key), key, endpoint);
    p.pinned = true;
    p.allowed = allowed;
    this.push(p);
    return p;
  }

  /**
   * The configured peers changed (a reload): new ones are pinned, gone ones forgotten (sessions and all),
   * and a kept one's endpoint and routes are updated without touching its sessions.
   */
  repin(peers: { key: Uint8Array; endpoint: string | null; allowed: string[] }[]): { added: number; removed: number; changed: number } {
    const want = new Map(peers.map((x) => [nodeIdOfKey(x.key), x]));
    const r = { added: 0, removed: 0, changed: 0 };
    for (const p of [...this.peers.values()]) if (p.pinned && !want.has(p.nodeId)) { this.forget(p); r.removed++; }
    for (const [id, x] of want) {
      const p = this.peerOf(id);
      if (!p?.pinned) { const q = this.pin(x.key, x.endpoint, x.allowed); r.added++; if (q.endpoint) this.needSessionOf(q); continue; }
      if (p.endpoint === x.endpoint && p.allowed.join() === x.allowed.join()) continue;
      p.endpoint = x.endpoint ?? p.endpoint;
      p.allowed = x.allowed;
      this.push(p);
      r.changed++;
    }
    return r;
  }

  private needSessionOf(p: LinkPeer): void { if (!this.handshaker.peerStatus(p.peerId)?.handshakeInProgress) this.initiate(p); }

  /** The overlay asks for a link to `to` (or to whoever answers at the endpoints when to is null). */
  link(to: NodeId | null, endpoints: string[], via?: NodeId): void {
    if (to === this.o.self) return;
    if (to !== null && this.banned.has(to)) { this.count('link_banned'); this.events.push({ ev: 'failed', to, endpoints }); return; }
    if (to !== null && this.o.carrier && this.carried(to, endpoints)) return;
    if (to !== null) {
      const p = this.peerOf(to);
      if (p?.established && (p.relay !== null || p.carrier !== null || (p.endpoint && this.fresh(p)))) { this.markLinked(p, endpoints); return; }
      this.attempts.set(to, this.attempt(to, endpoints, via));
      if (p?.established) {
        // a session made through the overlay: a probe answered at one of the endpoints proves the
        // direct path before the data plane switches to it
        // (or one whose direct endpoint went quiet: the known endpoint is probed with the advertised ones)
        const eps = p.endpoint && !endpoints.includes(p.endpoint) ? [p.endpoint, ...endpoints] : endpoints;
        if (!eps.length) { this.events.push({ ev: 'failed', to, endpoints }); return; }
        for (const ep of eps) this.sendProbe(ep, to, endpoints);
        return;
      }
      if (p?.key && !p.endpoint && endpoints.length && this.handshaker.peerStatus(p.peerId)?.handshakeInProgress) {
        // a handshake through the overlay is under way: an endpoint it retransmits to must be proven
        // first (a probe answer), or a firewalled path would take over its retransmissions
        for (const ep of endpoints) this.sendProbe(ep, to, endpoints);
        return;
      }
      // a known endpoint: handshake there; otherwise the endpoints are probed first (below), since
      // behind NATs most listed ones (private addresses, stale mappings) do not answer
      if (p?.key && p.endpoint) { this.initiate(p); return; }
    }
    if (!endpoints.length) { this.events.push({ ev: 'failed', to, endpoints }); return; }
    for (const ep of endpoints) this.sendProbe(ep, to, endpoints);
  }

  /**
   * A private overlay's link to a member whose key we know (its discovery record, or an earlier session):
   * the handshake goes at once, directly if the public overlay holds a fresh endpoint of the member, else
   * through the public overlay; the session then carries CONTROL over the public data plane (Carrier.path)
   * until a probe proves a direct path. False: no key, the usual probes decide.
   */
  private carried(to: NodeId, endpoints: string[]): boolean {
    const c = this.o.carrier!;
    let p = this.peerOf(to);
    const key = p?.key ?? c.keyOf(to);
    if (!key || nodeIdOfKey(key) !== to) return false;
    if (!p) p = this.newPeer(to, key, null);
    else if (!p.key) this.setKey(p, key);
    this.carry(p);
    if (p.established && (p.relay !== null || p.carrier !== null || p.endpoint)) { this.markLinked(p, endpoints); return true; }
    this.attempts.set(to, this.attempt(to, endpoints));
    this.count('link_carried');
    if (!this.handshaker.peerStatus(p.peerId)?.handshakeInProgress) this.initiate(p);
    for (const ep of endpoints) if (ep !== p.endpoint) this.sendProbe(ep, to, endpoints);
    return true;
  }

  /** A private overlay's peer without a path of its own takes the public overlay's: its fresh endpoint, else its next hop. */
  private carry(p: LinkPeer): void {
    const c = this.o.carrier;
    if (!c || p.relay !== null || p.pinned) return;
    const path = c.path(p.nodeId);
    if (p.endpoint === null && path.endpoint) { this.count('link_carrier_endpoint'); this.setEndpoint(p, path.endpoint); return; }
    const hop = p.endpoint === null ? path.hop : null;
    if (hop !== p.carrier) { p.carrier = hop; this.push(p); }
  }

  /**
   * The overlay closed its connection. A trimmed link's session stays while the data plane routes to
   * the peer; a dead one (ping timeout, remote close) loses its sessions, so a later link request
   * handshakes again instead of trusting a session to a node that is gone.
   */
  unlink(nodeId: NodeId, reason: string): void {
    const p = this.peerOf(nodeId);
    if (!p || p.pinned) return;
    if (reason === 'ping-timeout' && !p.allowed.length) { p.linked = false; this.forget(p); return; }
    this.setLinked(p, false);
    // A link closed by either side (trim, remote-close) keeps its sessions until they expire: the
    // other side may still send data on them, and forgetting them would drop that traffic as
    // unknown_index. tick() forgets the peer once its sessions are gone. Only a dead peer (ping
    // timeout) loses them at once.
    if (reason !== 'ping-timeout') return;
    this.resetSessions(p);
  }

  /**
   * Install or update a data route to a node (its address and subnets), with an overlay hop to use
   * meanwhile; `initiate`: a packet waits for it (a miss, or the engine's need_session).
   */
  route(nodeId: NodeId, allowed: string[], via: NodeId | null, key: Uint8Array | undefined, initiate: boolean): LinkPeer | null {
    if (this.banned.has(nodeId) || nodeId === this.o.self) return null;
    const p = this.peerOf(nodeId) ?? this.newPeer(nodeId, null, null);
    if (key && !p.key && nodeIdOfKey(key) === nodeId) this.setKey(p, key);
    const viaPeer = via === null ? null : (this.byNode.get(via) ?? null);
    if (p.allowed.join() !== allowed.join() || p.via !== viaPeer) {
      p.allowed = allowed;
      p.via = viaPeer;
      this.push(p);
    }
    // a packet waits and there is no session: handshake now, through the overlay when no endpoint is known, so the first
    // packets travel end to end through the overlay while a direct link is made
    if (initiate && !p.established && p.key && !this.handshaker.peerStatus(p.peerId)?.handshakeInProgress) this.initiate(p);
    return p;
  }

  /** Route the Internet (0.0.0.0/0) through this node's peer, or through nobody (the engine drops it as a miss). */
  setTunnel(nodeId: NodeId | null): void {
    const old = this.tunnel === null ? undefined : this.peerOf(this.tunnel);
    this.tunnel = nodeId;
    if (old) this.push(old);
    const p = nodeId === null ? undefined : this.peerOf(nodeId);
    if (p && p !== old) this.push(p);
  }

  /** Drop a data route (the address moved or expired). */
  unroute(nodeId: NodeId): void {
    const p = this.peerOf(nodeId);
    if (!p || p.pinned) return;
    p.allowed = [];
    if (!p.linked) this.forget(p); else this.push(p);
  }

  /**
   * A peer we hold a session with, but no link, sent an overlay STATUS (the first frame of a new link): it
   * linked to us over that session (a probe proved the path; no handshake told us), so the link is ours
   * too. Else its frames are dropped as not-connected until its liveness gives up on us. True if adopted.
   */
  adopt(nodeId: NodeId): boolean {
    const p = this.peerOf(nodeId);
    if (!p || p.linked || p.pinned || !p.established || this.banned.has(nodeId)) return false;
    // the path it linked over: its relay, or a direct endpoint it just probed us from (a session's old
    // endpoint alone may be a NAT mapping long gone, and the frame may have come through a relay)
    const probed = p.endpoint !== null && this.t - (this.probedFrom.get(p.endpoint) ?? -Infinity) < ADOPT_PROBE_MS;
    if (p.relay === null && p.carrier === null && !probed) { this.count('link_adopt_no_path'); return false; }
    this.count('link_adopted');
    this.markLinked(p, this.attempts.get(nodeId)?.endpoints ?? (p.endpoint ? [p.endpoint] : []));
    return true;
  }

  /** Cut a node off (revoked): sessions, data routes and the link go; it can never come back. */
  ban(nodeId: NodeId): boolean {
    this.banned.add(nodeId);
    const p = this.peerOf(nodeId);
    if (!p) return false;
    const wasLinked = p.linked;
    this.forget(p);
    if (wasLinked) this.events.push({ ev: 'down', nodeId });
    return true;
  }

  /** Whether a CONTROL message to the node would leave now (a session over a direct or relay link). */
  canCarry(nodeId: NodeId): boolean {
    const p = this.peerOf(nodeId);
    return !!p?.established && (!!p.endpoint || p.relay !== null || p.carrier !== null);
  }

  /** A CONTROL message for a linked peer; false (counted) when there is no session to carry it. */
  sendControl(nodeId: NodeId, bytes: Uint8Array): boolean {
    const p = this.peerOf(nodeId);
    if (!this.canCarry(nodeId) || !p) { this.count('control_no_session'); return false; }
    this.out.cmd({ cmd: 'sendControl', peerId: p.peerId, bytes });
    return true;
  }

  /** A handshake-class frame (types 1, 2, 3 and probes) from the data plane. */
  onFrame(data: Uint8Array, from: string): void {
    if (isProbeFrame(data)) { this.onProbe(data, from); return; }
    this.apply(this.handshaker.receive(data, this.wall(), from), from);
  }

  /** Whether this table sent the probe a reply with this token answers (a daemon with several overlays asks each). */
  awaitsProbe(token: number): boolean { return this.probes.has(token); }

  /** A handshake message carried through the overlay from `src`. */
  onOverlayFrame(data: Uint8Array, src: NodeId): void {
    if (this.banned.has(src)) { this.count('overlay_handshake_banned'); return; }
    this.apply(this.handshaker.receive(data, this.wall()), OVERLAY + idShort(src));
  }

  /** The data plane wants a session (traffic waiting, or an initiator's rekey is due). */
  needSession(peerId: number): boolean {
    const p = this.peers.get(peerId);
    // a relay link rekeys through its relay like any other (else its session lapses at REJECT_AFTER_TIME)
    if (p && !p.endpoint && p.relay === null) this.carry(p);
    if (!p?.key || (!p.endpoint && p.via === null && p.relay === null && p.carrier === null)) return false;
    if (this.handshaker.peerStatus(peerId)?.handshakeInProgress) return true;
    this.initiate(p);
    return true;
  }

  /** Engine endpoint roaming (authenticated by the data plane). */
  roamed(peerId: number, ep: string): void {
    const p = this.peers.get(peerId);
    if (!p) return;
    // an authenticated packet came straight from the peer: a relay link's direct path works (use it, so
    // that our own NAT keeps letting the peer in); otherwise the peer moved (the engine follows it)
    p.lastRx = this.t;
    if (p.relay !== null) this.setEndpoint(p, ep);
    else p.endpoint = ep;
    // a link under way to a peer we hold a session with: its authenticated packet proves this path, which
    // the probes to its advertised endpoints may never find (a symmetric NAT's mapping for us is not among them)
    const a = this.attempts.get(p.nodeId);
    if (a && p.established && !p.linked && p.endpoint === ep) { this.count('link_by_roam'); this.markLinked(p, a.endpoints); }
  }

  tick(): void {
    const now = this.t;
    const probes = this.probes.due(now);
    for (const w of probes.expired) if (w.to === null) this.events.push({ ev: 'failed', to: null, endpoints: [w.endpoint] });
    for (const r of probes.resend) this.send(r.endpoint, encodeProbeRequest(r.token, r.endpoint));
    for (const [id, a] of this.attempts) {
      if (a.to !== null && now >= a.slowAt) {
        a.slowAt = Infinity;
        this.events.push({ ev: 'direct-slow', nodeId: a.to, endpoints: a.endpoints, startedAt: a.deadline - LINK_TIMEOUT_MS, ...(a.via !== undefined ? { via: a.via } : {}) });
      }
      if (now < a.deadline) continue;
      this.attempts.delete(id);
      this.count('link_timeout');
      this.events.push({ ev: 'failed', to: a.to, endpoints: a.endpoints });
    }
    this.apply(this.handshaker.tick(this.wall()), null);
    // a private overlay's carried peers follow the public overlay's path to them as it changes
    if (this.o.carrier) for (const p of this.peers.values()) if (p.endpoint === null && p.relay === null) this.carry(p);
    // peers with no link, no route, no attempt under way and no live session are forgotten
    for (const p of this.peers.values()) {
      if (p.linked || p.pinned || p.allowed.length || p.relay !== null || this.attempts.has(p.nodeId)) continue;
      const st = this.handshaker.peerStatus(p.peerId);
      if (!st?.current && !st?.handshakeInProgress && (p.lastHandshake === null || now - p.lastHandshake > SESSION_LIFETIME_MS)) this.forget(p);
    }
  }

  // ---------------------------------------------------------------- relay links (decided by relay-links.ts)
  /** Linked peers reached directly: the candidates for carrying relay links. */
  directLinks(): LinkPeer[] {
    const out: LinkPeer[] = [];
    for (const p of this.peers.values()) if (p.linked && p.established && p.endpoint && p.relay === null) out.push(p);
    return out;
  }

  /**
   * Carry the link to `nodeId` (key: its static key, learned through the overlay) through `hop`, a
   * directly linked peer; null: stop relaying it. `initiate`: handshake through the overlay now if no
   * session exists (one side of the pair does, so the two handshakes do not cross).
   */
  setRelay(nodeId: NodeId, hop: NodeId | null, key: Uint8Array | null, initiate: boolean): LinkPeer | null {
    if (this.banned.has(nodeId) || nodeId === this.o.self) return null;
    if (key && nodeIdOfKey(key) !== nodeId) { this.count('relay_key_mismatch'); return null; }
    let p = this.peerOf(nodeId);
    if (!p) {
      if (!this.o.openAdmission) { this.count('relay_not_configured'); return null; }
      p = this.newPeer(nodeId, key, null);
    } else if (!p.key && key) this.setKey(p, key);
    const hopId = hop === null ? null : this.byNode.get(hop) ?? null;
    if (hop !== null && hopId === null) return null;
    if (p.relay === hopId) { if (hopId !== null) this.relayed(p, initiate); return p; }
    p.relay = hopId;
    if (hopId !== null) p.endpoint = null;
    this.push(p);
    if (hopId !== null) this.relayed(p, initiate);
    return p;
  }

  private relayed(p: LinkPeer, initiate: boolean): void {
    if (p.established) { if (!p.linked) this.markLinked(p, this.attempts.get(p.nodeId)?.endpoints ?? []); return; }
    if (initiate && p.key && !this.handshaker.peerStatus(p.peerId)?.handshakeInProgress) this.initiate(p);
  }

  /** Probe a relayed peer's endpoints again (a later punch): an answer moves the link off its relay. */
  probeDirect(nodeId: NodeId, endpoints: string[]): void {
    for (const ep of endpoints) this.sendProbe(ep, nodeId, endpoints);
  }

  // ---------------------------------------------------------------- probes
  private attempt(to: NodeId, endpoints: string[], via?: NodeId): Attempt {
    return { to, endpoints, deadline: this.t + LINK_TIMEOUT_MS, slowAt: this.t + DIRECT_SLOW_MS, ...(via !== undefined ? { via } : {}) };
  }

  private send(endpoint: string, bytes: Uint8Array): void { this.o.sentTo?.(endpoint); this.out.cmd({ cmd: 'sendFrame', endpoint, bytes }); }

  private sendProbe(endpoint: string, to: NodeId | null, endpoints: string[]): void {
    const token = this.probes.start(endpoint, to, endpoints, this.t, this.o.random);
    if (token !== null) this.send(endpoint, encodeProbeRequest(token, endpoint));
  }

  private onProbe(data: Uint8Array, from: string): void {
    const d = decodeProbe(data);
    if (!d.ok) { this.count('probe_' + d.code); return; }
    const m = d.value;
    if (m.kind === 'request') {
      this.send(from, encodeProbeReply(m.token, this.o.keys.publicKey, from));
      this.probedFrom.delete(from);
      this.probedFrom.set(from, this.t);
      if (this.probedFrom.size > PROBED_FROM_MAX) this.probedFrom.delete(this.probedFrom.keys().next().value!);
      if (m.target) this.events.push({ ev: 'observed', endpoint: m.target, by: from });
      return;
    }
    const w = this.probes.take(m.token, from);
    if (!w) { this.count('probe_unsolicited'); return; }
    if (m.observed) this.events.push({ ev: 'observed', endpoint: m.observed, by: from });
    const nodeId = nodeIdOfKey(m.staticKey);
    if (nodeId === this.o.self) { this.count('probe_self'); if (w.to === null) this.events.push({ ev: 'failed', to: null, endpoints: [from] }); return; }
    if (w.to !== null && nodeId !== w.to) { this.count('probe_wrong_id'); return; }
    if (this.banned.has(nodeId)) { this.count('probe_banned'); return; }
    let p = this.peerOf(nodeId);
    if (p) p.rttMs = this.t - w.sentAt;
    if (p?.established) {
      if (!p.endpoint || p.relay !== null) this.setEndpoint(p, from);
      if (from === p.endpoint) p.lastRx = this.t;
      // A session we answered through the overlay moments ago: the link's first CONTROL frames go
      // straight to the proven endpoint and would beat the routed response to the initiator (dropped
      // there as unknown_index), so the response goes that way first. A second copy is refused there.
      const r = p.overlayResponse;
      p.overlayResponse = null;
      if (r && this.t - r.at < RESPONSE_RESEND_MS) { this.count('handshake_response_direct'); this.send(from, r.bytes); }
      this.markLinked(p, w.endpoints);
      return;
    }
    if (!p) {
      if (!this.o.openAdmission) { this.count('probe_not_configured'); return; }
      if (this.strangerRefused()) return;
      p = this.newPeer(nodeId, m.staticKey, from);
    } else if (!p.key) this.setKey(p, m.staticKey);
    if (!p.endpoint || w.to === null) this.setEndpoint(p, from);
    if (p.endpoint === from) p.lastRx = this.t;
    if (!this.attempts.has(nodeId)) this.attempts.set(nodeId, this.attempt(nodeId, w.to === null ? [from] : w.endpoints));
    this.initiate(p);
  }

  /**
   * The one gate for a new peer we did not ask for (open admission, by handshake or by probe answer):
   * strangers must not grow the table without bound, nor any table while the process is over its
   * memory budget. Counts the refusal.
   */
  private strangerRefused(): boolean {
    if (this.peers.size >= (this.o.maxPeers ?? MAX_PEERS)) { this.count('admit_table_full'); return true; }
    if (this.overBudget) { this.count('admit_over_budget'); return true; }
    return false;
  }

  // ---------------------------------------------------------------- handshakes
  protected admit(rs: Uint8Array): number | null {
    const nodeId = nodeIdOfKey(rs);
    if (nodeId === this.o.self || this.banned.has(nodeId)) return null;
    const p = this.peerOf(nodeId);
    if (p) { p.key = new Uint8Array(rs); return p.peerId; } // a data-only peer: the handshaker adds the key
    if (this.strangerRefused()) return null;
    return this.newPeer(nodeId, null, null, new Uint8Array(rs)).peerId;
  }

  /**
   * Handshake directly when an endpoint is known, else through the overlay (see apply's 'send'). One
   * attempt at a time: restarting a pending one would let the peer complete both, and a third session
   * would push out of its window one we may still be sending on. The pending attempt is
   * retransmitted (to the endpoint known by then) by tick().
   */
  private initiate(p: LinkPeer): void {
    if (this.handshaker.peerStatus(p.peerId)?.handshakeInProgress) { this.count('handshake_already_pending'); return; }
    this.apply(this.handshaker.initiate(p.peerId, this.wall()), null);
  }

  private apply(actions: Action[], from: string | null): void {
    // Order on the wire: every handshake frame of the batch first, then what follows from it (links,
    // STATUS, packets the engine held), keepalives last. A responder's session is installed before its
    // response leaves, though: the initiator's keepalive may come back before the next command runs (this
    // thread preempted, the engine's receive thread not) and would be dropped as unknown_index, leaving
    // the session unconfirmed. The engine sends nothing on a responder's session before something
    // arrives on it (tables.rs `next`), so nothing it held can overtake the response.
    const keepalives: number[] = [];
    for (const a of actions) {
      if (a.kind === 'established' && !a.session.initiator && this.peers.has(a.peerId)) this.out.cmd({ cmd: 'setSession', peerId: a.peerId, keys: a.session });
    }
    const ordered = [...actions.filter((a) => a.kind === 'send'), ...actions.filter((a) => a.kind !== 'send')];
    for (const a of ordered) {
      if (a.kind === 'send') {
        const p = this.peers.get(a.peerId);
        const to = from ?? p?.endpoint ?? null;
        if (to && !to.startsWith(OVERLAY)) this.send(to, a.bytes);
        else if (p && !p.pinned) {
          this.count('handshake_via_overlay');
          // a relay link's handshake goes through its relay (linked to both ends; greedy routing may not reach a new node)
          const via = p.relay !== null ? this.peers.get(p.relay)?.nodeId : undefined;
          this.events.push({ ev: 'overlay-send', nodeId: p.nodeId, bytes: a.bytes, ...(via !== undefined ? { via } : {}) });
          if (a.bytes[0] === FRAME_TYPE_HANDSHAKE_RESP) p.overlayResponse = { bytes: a.bytes, at: this.t };
        }
        else this.count('handshake_no_endpoint');
      } else if (a.kind === 'reply') {
        // a cookie reply goes back where the initiation came from, never through the overlay
        if (from && !from.startsWith(OVERLAY)) { this.send(from, a.bytes); this.count('handshake_cookie_sent'); }
      } else if (a.kind === 'cookie') this.count('handshake_cookie_received');
      else if (a.kind === 'established') this.established(a, from, keepalives);
      else if (a.kind === 'retired') {
        this.out.cmd({ cmd: 'removeSession', localIndex: a.localIndex });
        const p = this.peers.get(a.peerId);
        if (p && !this.handshaker.peerStatus(p.peerId)?.current) p.established = false;
      }
      else if (a.kind === 'failed') {
        const p = this.peers.get(a.peerId);
        this.count('handshake_failed');
        // our initiations went unanswered, but the peer handshook us meanwhile (its session is the one in
        // use): it is alive, and the session stays (WireGuard keeps its keypair when retransmits give up)
        if (p?.established && p.lastHandshake !== null && this.t - p.lastHandshake < REKEY_ATTEMPT_TIME) this.count('handshake_failed_session_kept');
        else if (p) this.lost(p);
      } else if (a.kind === 'rejected') {
        this.count('handshake_' + a.code);
      }
    }
    for (const peerId of keepalives) this.out.cmd({ cmd: 'sendKeepalive', peerId });
  }

  private established(a: Extract<Action, { kind: 'established' }>, from: string | null, keepalives: number[]): void {
    const p = this.peers.get(a.peerId);
    if (!p) return;
    if (this.banned.has(p.nodeId)) { this.forget(p); return; }
    const direct = from !== null && !from.startsWith(OVERLAY);
    if (direct && from !== p.endpoint) this.setEndpoint(p, from);
    if (!direct && p.endpoint === null) this.carry(p);
    if (direct) p.lastRx = this.t;
    const s = a.session;
    // a responder's session was installed before the batch's frames left (apply); an initiator's now, after
    // its endpoint, so the packets the engine held go to where the response came from
    if (s.initiator) this.out.cmd({ cmd: 'setSession', peerId: p.peerId, keys: s });
    // The initiator confirms a fresh session with a keepalive at once (directly, or end to end
    // through the via hop): the engine sends a responder's data on a new session only once something
    // arrived on it (WireGuard's rule, tables.rs confirm), so relayed data cannot overtake a handshake
    // response routed through the overlay.
    if (s.initiator && (p.endpoint || p.relay !== null || p.via !== null || p.carrier !== null)) keepalives.push(p.peerId);
    for (const old of a.expiredLocalIndices) { this.count('session_pushed_out'); this.out.cmd({ cmd: 'removeSession', localIndex: old }); }
    const first = !p.established;
    p.established = true;
    p.lastHandshake = this.t;
    p.handshakes++;
    if (first) this.log.debug({ peer: idShort(p.nodeId), endpoint: p.endpoint, initiator: s.initiator }, 'session established');
    const att = this.attempts.get(p.nodeId);
    // a session that came through the overlay is not an overlay link until a link request finds it,
    // unless it is a relay link's (both sides agreed on the relay first)
    const path = p.endpoint !== null || p.relay !== null || p.carrier !== null;
    if (path && (att || p.pinned || (!p.linked && (direct || from === null || p.relay !== null)))) this.markLinked(p, att?.endpoints ?? (p.endpoint ? [p.endpoint] : []));
    this.events.push({ ev: 'session', nodeId: p.nodeId, initiator: s.initiator, direct });
  }

}
