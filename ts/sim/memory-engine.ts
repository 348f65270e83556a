// Owns an in-memory data plane with the native engine's behaviour for the simulator and unit tests:
// routes by allowed IPs (longest prefix), sessions by receiver index, end-to-end frames relayed through
// `via` hops and forwarded greedily by node id, first packets held until a route or session exists,
// per-peer data counters and drops by the Rust codes. It must not decide anything (the VpnNode does)
// or model crypto: frames are objects, sealing is implied by the session indices.
import { cidrContains, parseCidr, type Cidr } from '../base/ip.js';
import { idFromBytes, idToBytes, type NodeId } from '../base/nodeid.js';
import type { EngineCommand, NodeInput } from '../node/io.js';
import { RelayLimit, RELAY_MAX_SESSIONS_DEFAULT } from './relay-limit.js';
import { relayNextHop } from './relay-next-hop.js';
import {
  LIMIT_KEEPALIVE_TIMEOUT_MS, LIMIT_REKEY_TIMEOUT_MS,
  FRAME_HEADER_LEN, FRAME_TAG_LEN, FRAME_TYPE_CONTROL, FRAME_TYPE_COOKIE, FRAME_TYPE_DATA, FRAME_TYPE_HANDSHAKE_INIT, FRAME_TYPE_HANDSHAKE_RESP,
  FRAME_TYPE_PROBE, FRAME_TYPE_RELAY, PENDING_DESTINATIONS, PENDING_HOLD_MS, PENDING_PER_DESTINATION, RELAY_DEFAULT_TTL, RELAY_DIRECT_FRESH_MS,
} from '../native/binding.js';

/** An IP packet as the simulated OS sends it. */
export interface SimPacket { src: string; dst: string; id: number; reply: boolean; bytes: number }

/** What travels between engines on the simulated underlay. */
export type Datagram =
  | { t: 'raw'; bytes: Uint8Array }
  | { t: 'data'; idx: number; pkt: SimPacket }
  | { t: 'control'; idx: number; bytes: Uint8Array }
  | { t: 'keepalive'; idx: number }
  | { t: 'relay'; idx: number; dst: NodeId; src: NodeId; ttl: number; link?: boolean; inner: { idx: number; pkt: SimPacket | null; control?: Uint8Array } };

/** The underlay the engine sends on (the harness). */
export interface Underlay { send(from: string, to: string, d: Datagram): void }

interface Peer {
  id: number; endpoint: string | null; allowed: Cidr[]; allowedText: string[]; nodeId: NodeId | null; via: number | null;
  /** the session to send on; `next`: a responder's new one, sent on once something arrived on it (tables.rs) */
  current: number | null; next: number | null;
  /** may carry other peers' relayed frames as a greedy next hop (tables.rs PeerEntry.hop) */
  hop: boolean;
  /** a relay link: always through `via`, frames flagged as a relay link's (tables.rs relay_only) */
  relayOnly: boolean;
  /** a gateway's client: its packets may be for any destination (tables.rs gateway_client) */
  gatewayClient: boolean;
  txData: number; rxData: number; txRelayed: number; rxRelayed: number;
  /** WireGuard's timers: data sent and nothing heard since (ms), data heard and nothing sent since */
  unansweredSince: number | null; staleAsked: boolean; rxDataSince: number | null;
  /** when anything authenticated last came from the peer, and straight from its endpoint (tables.rs last_direct_rx_ms) */
  lastRx: number; lastDirectRx: number;
}
interface Session { localIndex: number; peerId: number; remoteIndex: number; initiator: boolean; at: number; rekeyAsked: boolean }
interface Held { pkt: SimPacket; until: number }

/** the native engine's hold queue (crates/dataplane/src/pending.rs), so both hold alike */
export const HOLD_PACKETS = PENDING_PER_DESTINATION;
export const HOLD_DESTINATIONS = PENDING_DESTINATIONS;
export const HOLD_MS = PENDING_HOLD_MS;
const EVENT_EVERY_MS = 1_000;
/** WireGuard's KEEPALIVE_TIMEOUT and KEEPALIVE_TIMEOUT + REKEY_TIMEOUT (crates/core/src/limits.rs) */
const KEEPALIVE_MS = LIMIT_KEEPALIVE_TIMEOUT_MS;
const STALE_AFTER_MS = LIMIT_KEEPALIVE_TIMEOUT_MS + LIMIT_REKEY_TIMEOUT_MS;
/** WireGuard's REKEY_AFTER_TIME: an initiator's session used past it asks for a rekey (once) */
const REKEY_AFTER_MS = 120_000;
/** crates/core/src/frame.rs MAX_FRAME_LEN: the largest datagram parsed */
const MAX_FRAME_LEN = 65_507;
const HANDSHAKE_TYPES = new Set([FRAME_TYPE_HANDSHAKE_INIT, FRAME_TYPE_HANDSHAKE_RESP, FRAME_TYPE_COOKIE, FRAME_TYPE_PROBE]);
const TRANSPORT_TYPES = new Set([FRAME_TYPE_DATA, FRAME_TYPE_CONTROL, FRAME_TYPE_RELAY]);

export class MemoryEngine {
  readonly peers = new Map<number, Peer>();
  readonly sessions = new Map<number, Session>();
  readonly events: NodeInput[] = [];
  readonly drops: Record<string, number> = {};
  /** the engine's counters (pending*: device packets held / released; rxPending*: inbound ones, rx_pending.rs) */
  readonly counters = { staleSessions: 0, keepalivesSent: 0, relayForwarded: 0, pendingHeld: 0, pendingReleased: 0, rxPendingHeld: 0, rxPendingReleased: 0, deviceWrites: 0 };
  address: string | null = null;
  /** packets written to this node's device (the harness answers pings) */
  onDevice: ((pkt: SimPacket, how: 'direct' | 'relayed') => void) | null = null;
  /** a packet from or for the device dropped here, with the reason code (tests and benchmarks trace pings) */
  onDrop: ((reason: string, pkt: SimPacket) => void) | null = null;
  private readonly heldByDst = new Map<string, Held[]>();
  /** authenticated packets from a peer whose source it is not (yet) allowed: its next setPeer decides them */
  private readonly heldFromPeer = new Map<number, (Held & { how: 'direct' | 'relayed' })[]>();
  private readonly eventAt = new Map<string, number>();
  private now = 0;

  private readonly relayLimit: RelayLimit;
  /** the destinations a peer's packet may have (null: any), as the engine config's `destinations` */
  private readonly destinations: Cidr[] | null;

  /**
   * `opts`: this node's limits as a relay for others' relay links (the engine config's relayMaxSessions /
   * relayRateBytes), and the destinations peers' packets may have (`destinations`; others: dst_not_allowed)
   */
  constructor(readonly endpoint: string, readonly nodeId: NodeId, private readonly net: Underlay, opts: { maxSessions?: number; rateBytes?: number; destinations?: string[] } = {}) {
    this.relayLimit = new RelayLimit(opts.maxSessions ?? RELAY_MAX_SESSIONS_DEFAULT, opts.rateBytes ?? 0);
    this.destinations = opts.destinations ? opts.destinations.map((d) => parseCidr(d)).filter((x): x is Cidr => x !== null) : null;
  }

  at(now: number): this { this.now = now; return this; }
  /** relay-link pairs this node carries for others (active within the last 60 s) */
  relayPairs(): number { return this.relayLimit.live(this.now); }
  private drop(k: string, pkt?: SimPacket | null): void { this.drops[k] = (this.drops[k] ?? 0) + 1; if (pkt) this.onDrop?.(k, pkt); }
  private rateLimited(key: string): boolean {
    const t = this.eventAt.get(key);
    if (t !== undefined && this.now < t) return true;
    this.eventAt.set(key, this.now + EVENT_EVERY_MS);
    return false;
  }

  // ---------------------------------------------------------------- commands
  apply(c: EngineCommand): void {
    switch (c.cmd) {
      case 'setPeer': {
        const allowed = c.allowed.map((a) => parseCidr(a)).filter((x): x is Cidr => x !== null);
        const old = this.peers.get(c.peerId);
        // as the daemon drives Rust (tables.rs set_peer_with): a null endpoint or node id keeps the current one (unless
        // forgetEndpoint), via is replaced
        this.peers.set(c.peerId, {
          id: c.peerId, endpoint: c.endpoint ?? (c.forgetEndpoint ? null : old?.endpoint ?? null), allowed, allowedText: c.allowed,
          nodeId: c.nodeId ? idFromBytes(c.nodeId) : old?.nodeId ?? null, via: c.via, hop: c.hop ?? old?.hop ?? true, relayOnly: c.relayOnly ?? old?.relayOnly ?? false,
          gatewayClient: c.gatewayClient ?? old?.gatewayClient ?? false,
          current: old?.current ?? null, next: old?.next ?? null, txData: old?.txData ?? 0, rxData: old?.rxData ?? 0, txRelayed: old?.txRelayed ?? 0, rxRelayed: old?.rxRelayed ?? 0,
          unansweredSince: old?.unansweredSince ?? null, staleAsked: old?.staleAsked ?? false, rxDataSince: old?.rxDataSince ?? null, lastRx: old?.lastRx ?? -Infinity, lastDirectRx: old?.lastDirectRx ?? -Infinity,
        });
        this.release();
        this.releaseInbound(c.peerId);
        return;
      }
      case 'removePeer':
        // its packets held for their source are dropped now rather than at expiry (engine.rs remove_peer)
        for (const _ of this.heldFromPeer.get(c.peerId) ?? []) this.drop('source_not_allowed');
        this.heldFromPeer.delete(c.peerId);
        this.peers.delete(c.peerId);
        for (const [i, s] of this.sessions) if (s.peerId === c.peerId) this.sessions.delete(i);
        return;
      case 'setSession': {
        const p = this.peers.get(c.peerId);
        if (!p) { this.drop('session_unknown_peer'); return; }
        this.sessions.set(c.keys.localIndex, { localIndex: c.keys.localIndex, peerId: c.peerId, remoteIndex: c.keys.remoteIndex, initiator: c.keys.initiator, at: this.now, rekeyAsked: false });
        if (c.keys.initiator) { p.current = c.keys.localIndex; p.next = null; } else p.next = c.keys.localIndex;
        this.eventAt.delete('ns:' + p.id); // tables.rs set_session resets the need_session limiter
        this.release();
        return;
      }
      case 'removeSession': {
        const s = this.sessions.get(c.localIndex);
        this.sessions.delete(c.localIndex);
        const p = s ? this.peers.get(s.peerId) : undefined;
        if (p && p.current === c.localIndex) p.current = null;
        if (p && p.next === c.localIndex) p.next = null;
        return;
      }
      case 'sendFrame': this.net.send(this.endpoint, c.endpoint, { t: 'raw', bytes: c.bytes }); return;
      case 'sendControl': case 'sendKeepalive': {
        const p = this.peers.get(c.peerId);
        const s = p ? (c.cmd === 'sendControl' ? this.controlSession(p) : this.usable(p)) : null;
        // no endpoint: end to end through the via hop, CONTROL too (a relay link; engine.rs send_sealed)
        const ep = p ? this.directEndpoint(p) : null;
        if (p && s && !ep) { if (!this.sendViaHop(p, s, c.cmd === 'sendControl' ? c.bytes : undefined)) this.drop('no_endpoint'); return; }
        if (!p || !ep || !s) { this.drop(p?.endpoint ? 'no_session' : 'no_endpoint'); return; }
        p.rxDataSince = null;
        this.net.send(this.endpoint, ep, c.cmd === 'sendControl' ? { t: 'control', idx: s.remoteIndex, bytes: c.bytes } : { t: 'keepalive', idx: s.remoteIndex });
        return;
      }
      case 'setAddress': this.address = c.cidr ? c.cidr.split('/')[0]! : null; return;
    }
  }

  // ---------------------------------------------------------------- device -> network
  /** The OS sends a packet into the device. */
  fromDevice(pkt: SimPacket): void {
    const p = this.lookup(pkt.dst);
    if (!p) {
      this.hold(pkt);
      if (!this.rateLimited('miss:' + pkt.dst)) this.events.push({ kind: 'miss', dst: pkt.dst });
      return;
    }
    this.sendTo(p, pkt, true);
  }

  /** Longest-prefix match; equal prefixes go to the lower peer id (tables.rs rebuild). */
  private lookup(ip: string): Peer | null {
    let best: Peer | null = null, bestLen = -1;
    for (const p of this.peers.values()) {
      for (const a of p.allowed) {
        if ((a.prefix > bestLen || (a.prefix === bestLen && p.id < best!.id)) && cidrContains(a, ip)) { best = p; bestLen = a.prefix; }
      }
    }
    return best;
  }

  /** The session to send on: the peer's current one (a responder's new one only once confirmed). */
  private usable(p: Peer): Session | null {
    const s = p.current !== null ? this.sessions.get(p.current) ?? null : null;
    if (s) this.keepFresh(s);
    return s;
  }

  /** CONTROL goes on the current session, or else a responder's unconfirmed one (tables.rs control_session); keepalives do not. */
  private controlSession(p: Peer): Session | null {
    return this.usable(p) ?? (p.next !== null ? this.sessions.get(p.next) ?? null : null);
  }

  /** A responder's new session waits for its first frame, for at most REKEY_TIMEOUT (tables.rs awaiting_confirmation). */
  private awaitingConfirmation(p: Peer): boolean {
    const n = p.next !== null ? this.sessions.get(p.next) : undefined;
    return n !== undefined && this.now - n.at < LIMIT_REKEY_TIMEOUT_MS;
  }

  /** A frame arrived on `s`: a peer's unconfirmed session becomes the one to send on (shared.rs confirm_next). */
  private confirm(p: Peer, s: Session): void {
    if (p.next !== s.localIndex) return;
    p.current = s.localIndex;
    p.next = null;
    this.release();
  }

  /** The Rust rule (shared.rs check_rekey): only this side's initiator sessions, once, when used late. */
  private keepFresh(s: Session): void {
    if (s.initiator && !s.rekeyAsked && this.now - s.at >= REKEY_AFTER_MS) {
      s.rekeyAsked = true;
      this.events.push({ kind: 'rekey', peerId: s.peerId, localIndex: s.localIndex });
    }
  }

  private sendTo(p: Peer, pkt: SimPacket, mayHold: boolean): boolean {
    const s = this.usable(p);
    if (!s) {
      if (mayHold) this.hold(pkt); else this.drop('no_session', pkt);
      if (!this.awaitingConfirmation(p) && !this.rateLimited('ns:' + p.id)) this.events.push({ kind: 'need_session', peerId: p.id });
      return false;
    }
    const ep = this.directEndpoint(p);
    if (ep) {
      p.txData++;
      this.sentData(p);
      this.net.send(this.endpoint, ep, { t: 'data', idx: s.remoteIndex, pkt });
      return true;
    }
    const hop = p.via !== null ? this.peers.get(p.via) : undefined;
    const hs = hop ? this.usable(hop) : null;
    if (!hop?.endpoint || !hs || p.nodeId === null) {
      // a session but no path (its via hop died): held while the control plane looks for a new hop (pipeline.rs route_out)
      if (mayHold) this.hold(pkt); else this.drop('no_endpoint', pkt);
      if (!this.rateLimited('ns:' + p.id)) this.events.push({ kind: 'need_session', peerId: p.id });
      return false;
    }
    p.txData++; p.txRelayed++;
    this.sentData(p);
    this.net.send(this.endpoint, hop.endpoint, { t: 'relay', idx: hs.remoteIndex, dst: p.nodeId, src: this.nodeId, ttl: RELAY_DEFAULT_TTL, ...(p.relayOnly ? { link: true } : {}), inner: { idx: s.remoteIndex, pkt } });
    return true;
  }

  /**
   * relay.rs direct_endpoint: where our own frames for p go, null for its via hop: always for a relay
   * link, and for a data-only peer not heard from directly for DIRECT_FRESH_MS whose via hop is usable (its NAT mapping may be gone).
   */
  private directEndpoint(p: Peer): string | null {
    if (p.relayOnly || !p.endpoint) return null;
    if (!p.hop && this.now - p.lastDirectRx >= RELAY_DIRECT_FRESH_MS) {
      const h = p.via !== null ? this.peers.get(p.via) : undefined;
      if (h?.endpoint && this.usable(h)) return null;
    }
    return p.endpoint;
  }

  /** relay.rs has_path: a direct endpoint, or a usable via hop (and both node ids). */
  private hasPath(p: Peer): boolean {
    if (this.directEndpoint(p)) return true;
    const hop = p.via !== null ? this.peers.get(p.via) : undefined;
    return !!hop?.endpoint && this.usable(hop) !== null && p.nodeId !== null;
  }

  /** An end-to-end keepalive, or a CONTROL message, through the via hop (a peer with no endpoint). */
  private sendViaHop(p: Peer, s: Session, control?: Uint8Array): boolean {
    const hop = p.via !== null ? this.peers.get(p.via) : undefined;
    const hs = hop ? this.usable(hop) : null;
    if (!hop?.endpoint || !hs || p.nodeId === null) return false;
    p.rxDataSince = null;
    this.net.send(this.endpoint, hop.endpoint, { t: 'relay', idx: hs.remoteIndex, dst: p.nodeId, src: this.nodeId, ttl: RELAY_DEFAULT_TTL, ...(p.relayOnly ? { link: true } : {}), inner: control ? { idx: s.remoteIndex, pkt: null, control } : { idx: s.remoteIndex, pkt: null } });
    return true;
  }

  private hold(pkt: SimPacket): void {
    let q = this.heldByDst.get(pkt.dst);
    if (!q) {
      if (this.heldByDst.size >= HOLD_DESTINATIONS) { this.drop('pending_overflow', pkt); return; }
      q = [];
      this.heldByDst.set(pkt.dst, q);
    }
    if (q.length >= HOLD_PACKETS) { this.drop('pending_overflow', pkt); return; }
    q.push({ pkt, until: this.now + HOLD_MS });
    this.counters.pendingHeld++;
  }

  /** Send what was held once its route and session exist (a route without one asks for it); expire the rest (pending.rs service). */
  private release(): void {
    for (const [dst, q] of this.heldByDst) {
      while (q.length && q[0]!.until <= this.now) this.drop('pending_expired', q.shift()!.pkt);
      const p = q.length ? this.lookup(dst) : null;
      if (p && this.usable(p) && !this.hasPath(p)) {
        // a session but no path: held until a new hop comes or they expire (pending.rs service)
        if (!this.rateLimited('ns:' + p.id)) this.events.push({ kind: 'need_session', peerId: p.id });
      } else if (p && this.usable(p)) {
        for (const h of q.splice(0)) if (this.sendTo(p, h.pkt, false)) this.counters.pendingReleased++;
      } else if (p && !this.awaitingConfirmation(p) && !this.rateLimited('ns:' + p.id)) {
        this.events.push({ kind: 'need_session', peerId: p.id });
      }
      if (!q.length) this.heldByDst.delete(dst);
    }
  }

  /** Timer path: expire held packets. */
  tick(now: number): void {
    this.now = now;
    if (this.heldByDst.size) this.release();
    for (const [id, q] of this.heldFromPeer) {
      while (q.length && q[0]!.until <= now) this.drop('source_not_allowed', q.shift()!.pkt);
      if (!q.length) this.heldFromPeer.delete(id);
    }
    for (const p of this.peers.values()) {
      // WireGuard: data sent and nothing heard for KEEPALIVE + REKEY_TIMEOUT: the session may be
      // gone at the other end; ask for a new handshake (once per episode)
      if (p.unansweredSince !== null && !p.staleAsked && now - p.unansweredSince >= STALE_AFTER_MS) {
        p.staleAsked = true;
        this.counters.staleSessions++;
        this.eventAt.delete('ns:' + p.id);
        if (!this.rateLimited('ns:' + p.id)) this.events.push({ kind: 'need_session', peerId: p.id });
      }
      // passive keepalive: data heard and nothing sent back for KEEPALIVE_TIMEOUT
      if (p.rxDataSince !== null && now - p.rxDataSince >= KEEPALIVE_MS) {
        p.rxDataSince = null;
        const sess = this.usable(p);
        const ep = this.directEndpoint(p);
        if (sess && ep) { this.counters.keepalivesSent++; this.net.send(this.endpoint, ep, { t: 'keepalive', idx: sess.remoteIndex }); }
        else if (sess && this.sendViaHop(p, sess)) this.counters.keepalivesSent++;
      }
    }
  }

  private sentData(p: Peer): void {
    p.rxDataSince = null;
    if (p.unansweredSince === null) p.unansweredSince = this.now;
  }

  private heard(p: Peer, data: boolean): void {
    p.lastRx = this.now;
    p.unansweredSince = null;
    p.staleAsked = false;
    if (data && p.rxDataSince === null) p.rxDataSince = this.now;
  }

  // ---------------------------------------------------------------- network -> device
  receive(from: string, d: Datagram): void {
    if (d.t === 'raw') { this.receiveRaw(from, d.bytes); return; }
    const s = this.sessions.get(d.idx);
    const p = s ? this.peers.get(s.peerId) : undefined;
    if (!s || !p) { this.drop('unknown_index', d.t === 'data' ? d.pkt : d.t === 'relay' ? d.inner.pkt : null); return; }
    this.confirm(p, s);
    this.keepFresh(s);
    this.heard(p, d.t === 'data');
    p.lastDirectRx = this.now;
    if (p.endpoint !== from) {
      p.endpoint = from;
      this.events.push({ kind: 'endpoint', peerId: p.id, from });
    }
    if (d.t === 'keepalive') return;
    if (d.t === 'control') { this.events.push({ kind: 'control', peerId: p.id, data: d.bytes }); return; }
    if (d.t === 'data') { this.deliver(p, d.pkt, 'direct'); return; }
    this.onRelay(p, d);
  }

  /**
   * Bytes on the wire (sendFrame): parsed as Rust's frame::parse does. Handshake types go up; a transport
   * frame is dropped by its receiver index (unknown_index), and one with a known index never opens here
   * (auth_failed): frames this engine seals travel as objects.
   */
  private receiveRaw(from: string, b: Uint8Array): void {
    const kind = b[0];
    if (kind === undefined) { this.drop('short_frame'); return; }
    if (HANDSHAKE_TYPES.has(kind)) { this.events.push({ kind: 'handshake', from, data: b }); return; }
    if (!TRANSPORT_TYPES.has(kind)) { this.drop('unknown_type'); return; }
    if (b.length < FRAME_HEADER_LEN + FRAME_TAG_LEN) { this.drop('short_frame'); return; }
    if (b.length > MAX_FRAME_LEN) { this.drop('oversize'); return; }
    if (b[1] || b[2] || b[3]) { this.drop('unknown_type'); return; }
    const idx = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(4, true);
    this.drop(this.sessions.has(idx) ? 'auth_failed' : 'unknown_index');
  }

  private onRelay(hop: Peer, d: Extract<Datagram, { t: 'relay' }>): void {
    if (d.dst === this.nodeId) {
      const s = this.sessions.get(d.inner.idx);
      const p = s ? this.peers.get(s.peerId) : undefined;
      if (!s || !p) { this.drop('unknown_index', d.inner.pkt); return; }
      if (p.nodeId !== d.src) { this.drop('relay_src_mismatch', d.inner.pkt); return; }
      this.confirm(p, s);
      this.keepFresh(s);
      this.heard(p, d.inner.pkt !== null);
      if (d.inner.control) { this.events.push({ kind: 'control', peerId: p.id, data: d.inner.control }); return; }
      if (d.inner.pkt === null) return; // an end-to-end keepalive
      p.rxRelayed++;
      this.deliver(p, d.inner.pkt, 'relayed');
      return;
    }
    if (d.ttl <= 0) { this.drop('relay_ttl', d.inner.pkt); return; }
    const next = relayNextHop(this.nodeId, d.dst, hop.id, this.peers, (p) => this.usable(p), this.now);
    if (!next) { this.drop('relay_no_route', d.inner.pkt); return; }
    // a relay link through us counts against this relay's limits (relay.rs inbound_relay, relay_limit.rs)
    if (d.link && hop.nodeId === d.src && next.p.nodeId === d.dst) {
      const v = this.relayLimit.admit(d.src, d.dst, relayedBytes(d), this.now);
      if (v !== 'pass') { this.drop(v === 'full' ? 'relay_full' : 'relay_rate', d.inner.pkt); return; }
    }
    this.counters.relayForwarded++;
    this.net.send(this.endpoint, next.p.endpoint!, { ...d, idx: next.s.remoteIndex, ttl: d.ttl - 1 });
  }

  /** Any setPeer of the peer is the control plane's answer (rx_pending.rs service): allowed now -> written, in order; else dropped. */
  /** A setPeer decides what was held for the peer: packets whose source it now allows are written in
   * order; the others stay held (the update may be for another reason: an endpoint, a via) until a
   * later setPeer allows them or they expire (rx_pending.rs). */
  private releaseInbound(peerId: number): void {
    const q = this.heldFromPeer.get(peerId);
    const p = this.peers.get(peerId);
    if (!q || !p) return;
    const keep = q.filter((h) => {
      if (h.until <= this.now) { this.drop('source_not_allowed', h.pkt); return false; }
      if (!p.allowed.some((a) => cidrContains(a, h.pkt.src))) return true;
      this.counters.rxPendingReleased++;
      p.rxData++;
      this.counters.deviceWrites++;
      this.onDevice?.(h.pkt, h.how);
      return false;
    });
    if (keep.length) this.heldFromPeer.set(peerId, keep); else this.heldFromPeer.delete(peerId);
  }

  private deliver(p: Peer, pkt: SimPacket, how: 'direct' | 'relayed'): void {
    // before the source check, so a held packet was checked too (pipeline.rs `serves`)
    if (this.destinations && !p.gatewayClient && !this.destinations.some((d) => cidrContains(d, pkt.dst))) { this.drop('dst_not_allowed', pkt); return; }
    if (!p.allowed.some((a) => cidrContains(a, pkt.src))) {
      // a static-mesh peer (no node id) has all its prefixes: dropped; an overlay peer's source is asked about and held
      if (p.nodeId === null) { this.drop('source_not_allowed', pkt); return; }
      if (!this.rateLimited('su:' + p.nodeId)) this.events.push({ kind: 'source_unknown', nodeId: idToBytes(p.nodeId), src: pkt.src });
      const q = this.heldFromPeer.get(p.id) ?? [];
      if (q.length < HOLD_PACKETS && (q.length || this.heldFromPeer.size < HOLD_DESTINATIONS)) {
        q.push({ pkt, until: this.now + HOLD_MS, how });
        this.heldFromPeer.set(p.id, q);
        this.counters.rxPendingHeld++;
      } else this.drop('source_not_allowed', pkt);
      return;
    }
    p.rxData++;
    this.counters.deviceWrites++;
    this.onDevice?.(pkt, how);
  }

  /** The per-peer data counters the driver samples for on-demand links. */
  traffic(): NodeInput {
    return {
      kind: 'traffic', peers: [...this.peers.values()].map((p) => ({ peerId: p.id, dataPackets: p.txData + p.rxData, rxDataPackets: p.rxData })),
      relay: { pairs: this.relayPairs(), max: this.relayLimit.max },
    };
  }

  stats(): { peers: { peerId: number; endpoint: string | null; allowed: string[]; txData: number; rxData: number; txRelayed: number; rxRelayed: number }[]; drops: Record<string, number> } {
    return {
      peers: [...this.peers.values()].map((p) => ({ peerId: p.id, endpoint: p.endpoint, allowed: p.allowedText, txData: p.txData, rxData: p.rxData, txRelayed: p.txRelayed, rxRelayed: p.rxRelayed })),
      drops: { ...this.drops },
    };
  }
}

/** the size a relayed datagram has in Rust's limit (relay header + inner frame): sim packets have no bytes, so a model */
function relayedBytes(d: Extract<Datagram, { t: 'relay' }>): number {
  return RELAY_HEADER_BYTES + FRAME_OVERHEAD + (d.inner.control?.length ?? (d.inner.pkt ? SIM_PACKET_BYTES : 0));
}
const RELAY_HEADER_BYTES = 44, FRAME_OVERHEAD = 32, SIM_PACKET_BYTES = 84;
