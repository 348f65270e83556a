// Owns one overlay node as a sans-IO state machine: inputs are (now, from, bytes), link results and
// heartbeat ticks; outputs are frames, link requests and events in `out`. It must not do I/O, read a
// clock or draw entropy (time and a seeded Rng are injected), and imports nothing from node:*.
import { type NodeId, idToHex } from '../base/nodeid.js';
import { type Rng } from './rng.js';
import { ConnectionTable, type Conn, kindNames, K_LEAF, K_NEAR } from './connections.js';
import { decideRoute } from './routing.js';
import { RpcManager } from './rpc.js';
import { checkLiveness } from './liveness.js';
import { Linker } from './linking.js';
import { DEFAULT_PARAMS, type Params, type NodeStats } from './params.js';
import { DEFAULT_QUOTAS, Quotas, type QuotaRules } from './quota.js';
import { encode, decode, patchForward, type RoutedMsg, type InnerMsg, type RouteMode, type StatusMsg, type CtmMsg, type CtmReplyMsg, type DhtMsg, type BcastMsg } from '../wire/overlay-codec.js';

export type Output =
  | { type: 'send'; to: NodeId; bytes: Uint8Array }
  | { type: 'link'; to: NodeId | null; endpoints: string[]; via?: NodeId }
  | { type: 'unlink'; to: NodeId; reason: string }
  | { type: 'deliver'; src: NodeId; payload: Uint8Array; hops: number; trace?: NodeId[] }
  | { type: 'event'; name: string; detail: Record<string, unknown> };

export interface NodeOptions {
  id: NodeId;
  endpoints: string[];
  rng: Rng;
  /** bootstrap endpoints; empty makes this node the seed of a new ring */
  bootstrap: string[];
  params?: Partial<Params>;
  /** emit 'event' outputs (connection changes, joins); off in large simulations */
  events?: boolean;
  /** per-member quotas (quota.ts DEFAULT_QUOTAS) */
  quotas?: Partial<QuotaRules>;
}

export interface SendOptions {
  mode?: RouteMode; trace?: boolean; ttl?: number;
  /** false: this traffic must not create an on-demand link (queries, crawls) */ onDemand?: boolean;
  /**
   * route through this node first (one linked to dest, when greedy routing may not reach dest), even
   * when we hold a connection to dest: a relay link's handshake must not ride on the session it replaces
   */
  via?: NodeId;
}

interface PendingLink { until: number; kinds: number }

/** A service riding on the node (DHT, broadcast): ticked with it and handed the messages meant for it. */
export interface NodeService {
  tick?(now: number): void;
  /** a routed DHT message was delivered here; return true if handled */
  routed?(now: number, m: RoutedMsg & { inner: DhtMsg }): boolean;
  /** a BCAST from a linked peer; return true if handled */
  direct?(now: number, from: NodeId, m: BcastMsg): boolean;
}

/** The routed envelope carries its inner message with a u16 length; this leaves room for headers. */
export const MAX_PAYLOAD = 65_000;

export class OverlayNode {
  readonly id: NodeId;
  readonly endpoints: string[];
  readonly params: Params;
  readonly rng: Rng;
  readonly table: ConnectionTable;
  readonly seed: boolean;
  joined: boolean;
  /** outputs since the last drain; the driver empties it */
  readonly out: Output[] = [];
  readonly stats: NodeStats = { sent: 0, received: 0, forwarded: 0, delivered: 0, drops: {} };
  /** what each member may make us do (CONTROL messages, connect-to-me, broadcasts, DHT puts) */
  readonly quotas: Quotas;
  private readonly rpc: RpcManager;
  private readonly linker: Linker;
  private readonly pending = new Map<NodeId, PendingLink>();
  /** trimmed links: frames still in flight from the peer are forwarded until the deadline, then unlinked */
  private readonly closing = new Map<NodeId, number>();
  private eligible: NodeId[] | null = null;
  private readonly emitEvents: boolean;
  private readonly services: NodeService[] = [];
  /** 0: room for relay links, 1: full (new ones go elsewhere if they can), 2: refuses (data plane at its limit) */
  private relayLevel: 0 | 1 | 2 = 0;
  private now = 0;
  /** no connection can be due for a ping before this (see checkLiveness) */
  private livenessAt = 0;
  /**
   * The driver's say on a link whose liveness ping failed (`since`: when the ping began): true when the
   * path was to blame and the driver moved the link to another one (a relay link to a reserve relay);
   * the link stays, and the next scan pings it at once over the new path.
   */
  pathFailed?: (now: number, id: NodeId, since: number) => boolean;
  /**
   * Set by the driver: the endpoints to answer a connect-to-me from a node at `peer` with (behind a NAT
   * that hands out ports in sequence, the ports our probes to it will come from); else `endpoints`.
   */
  endpointsToward?: (peer: readonly string[]) => string[];

  constructor(o: NodeOptions) {
    this.id = o.id;
    this.endpoints = o.endpoints;
    this.params = { ...DEFAULT_PARAMS, ...o.params };
    this.rng = o.rng;
    this.table = new ConnectionTable(o.id);
    this.seed = o.bootstrap.length === 0;
    this.joined = this.seed;
    this.emitEvents = o.events ?? true;
    this.quotas = new Quotas({ ...DEFAULT_QUOTAS, ...o.quotas });
    this.rpc = new RpcManager({ minTimeoutMs: this.params.rpcMinTimeoutMs, maxTimeoutMs: this.params.rpcMaxTimeoutMs, tries: this.params.rpcTries }, (to, b) => this.transmit(to, b));
    this.linker = new Linker(this.hostView(), o.bootstrap);
  }

  // ================================================================== inputs
  /** Heartbeat: the driver calls this every params.heartbeatMs. */
  tick(now: number): void {
    this.now = now;
    if (this.pending.size) for (const [id, p] of this.pending) if (now >= p.until) this.pending.delete(id);
    if (this.closing.size) {
      for (const [id, until] of this.closing) {
        if (now < until) continue;
        this.closing.delete(id);
        if (!this.table.has(id)) this.out.push({ type: 'unlink', to: id, reason: 'trim' });
      }
    }
    this.rpc.tick(now);
    if (now >= this.livenessAt) {
      this.livenessAt = checkLiveness(now, this.table, this.rpc, this.params, (id, at, since) => {
        if (this.pathFailed?.(at, id, since)) return;
        this.closeConn(at, id, 'ping-timeout');
      });
    }
    this.linker.tick(now);
    for (const s of this.services) s.tick?.(now);
  }

  /** A control frame arrived over the link with `from` (already authenticated by the link). */
  receive(now: number, from: NodeId, bytes: Uint8Array): void {
    this.now = now;
    const c = this.table.get(from);
    if (!c) {
      // a link we are closing: keep forwarding what the peer sent before it saw our CLOSE
      if (this.closing.has(from)) {
        const r = decode(bytes);
        if (r.ok && r.msg.type === 'routed') { this.stats.received++; this.onRouted(now, from, bytes, r.msg); return; }
      }
      this.drop('not-connected');
      // A liveness ping from a peer that believes in a connection we do not hold (our CLOSE was lost,
      // or only its side saw the link come up): answer CLOSE, or it would time out and take the link's
      // sessions down while we still route data through them. Only pings: they come after seconds of
      // silence, never in the race of a link coming up on both sides.
      const r = decode(bytes);
      if (r.ok && r.msg.type === 'ping') this.transmit(from, encode({ type: 'close', reason: 0 }));
      return;
    }
    c.lastHeard = now;
    this.stats.received++;
    // before decoding: a member flooding its link costs a map lookup per message
    if (!this.quotas.allow('control', from, now)) { this.drop('quota-control'); return; }
    const r = decode(bytes);
    if (!r.ok) { this.drop('decode-' + r.code); return; }
    const m = r.msg;
    switch (m.type) {
      case 'ping': this.transmit(from, encode({ type: 'pong', rpcId: m.rpcId })); return;
      case 'pong': if (!this.rpc.reply(now, from, m.rpcId)) this.drop('rpc-unknown'); return;
      case 'status': {
        const wasJoined = c.remoteJoined;
        c.listed = new Set(m.neighbours.map((x) => x.id));
        c.remoteRelayFull = m.relayFull === true;
        c.remoteRelayRefuses = m.relayRefuses === true;
        this.linker.onStatus(now, c, m);
        if (wasJoined !== c.remoteJoined) this.eligible = null;
        return;
      }
      case 'close': this.closeConn(now, from, 'remote-close', false); return;
      case 'routed': this.onRouted(now, from, bytes, m); return;
      case 'bcast':
        if (!this.quotas.allow('bcast', m.origin, now)) { this.drop('quota-bcast'); return; }
        if (!this.services.some((s) => s.direct?.(now, from, m))) this.drop('no-service');
        return;
      default: this.drop('unrouted-inner'); return;
    }
  }

  /** The driver completed a link (ours or the peer's). `endpoints` are the peer's. */
  linkUp(now: number, peer: NodeId, endpoints: string[]): void {
    this.now = now;
    if (peer === this.id) return;
    const p = this.pending.get(peer);
    this.pending.delete(peer);
    let kinds = p ? p.kinds : 0;
    const leaf = this.linker.takeLeafPending(endpoints);
    if (leaf) kinds |= K_LEAF;
    let c = this.table.get(peer);
    if (c) {
      c.local |= kinds; c.lastHeard = now;
      if (kinds) this.linker.afterChange(now);
      if (leaf) this.linker.leafUp(now, c);
      return;
    }
    c = this.table.add(peer, endpoints, now);
    c.local = kinds;
    this.eligible = null;
    if (this.emitEvents) this.event('connected', { peer: idToHex(peer), kinds: kindNames(kinds) });
    this.linker.afterChange(now);
    if (c.announced < 0) this.sendStatusTo(c, { type: 'status', joined: this.joined, needs: c.local, neighbours: this.linker.neighbourList() });
    if (leaf) this.linker.leafUp(now, c);
  }

  /** A link request failed (unreachable, refused, timed out). */
  linkFailed(now: number, to: NodeId | null, endpoints: string[]): void {
    this.now = now;
    if (to !== null) this.pending.delete(to);
    else this.linker.leafFailed(endpoints);
    this.drop('link-failed');
  }

  /** The driver lost the link (peer closed it, session expired). */
  linkDown(now: number, peer: NodeId): void {
    this.closing.delete(peer);
    this.closeConn(now, peer, 'link-down', false);
  }

  /** Route application data toward `dest` (exact mode by default). */
  send(now: number, dest: NodeId, payload: Uint8Array, o: SendOptions = {}): void {
    this.now = now;
    if (payload.length > MAX_PAYLOAD) { this.drop('payload-too-large'); return; }
    if (o.onDemand !== false) this.linker.noteTraffic(now, dest, true);
    this.originate(now, {
      type: 'routed', mode: o.mode ?? 'exact', dir: 'right', ttl: o.ttl ?? this.params.defaultTtl, hops: 0,
      src: this.id, dest, trace: o.trace ? [] : undefined, inner: { type: 'data', payload },
      ...(o.via !== undefined && o.via !== dest && o.via !== this.id ? { via: o.via } : {}),
    });
  }

  /**
   * The driver has traffic for `dest` outside the overlay (the data plane): keep or make an on-demand
   * link to it, as if the two had exchanged routed data now.
   */
  noteTraffic(now: number, dest: NodeId): void {
    this.now = now;
    this.linker.noteTraffic(now, dest, true);
    this.linker.noteTraffic(now, dest, false);
  }

  /**
   * The driver keeps (or stops keeping) the link to `peer` for a reason of its own (K_RELAY: a relay
   * hop): like the linker's kinds, it is announced to the peer and the link is not trimmed while set.
   */
  keep(now: number, peer: NodeId, kind: number, on: boolean): boolean {
    this.now = now;
    const c = this.table.get(peer);
    if (!c) return false;
    const k = on ? c.local | kind : c.local & ~kind;
    if (k !== c.local) { c.local = k; this.linker.afterChange(now); }
    return true;
  }

  /**
   * This node carries as many relay links as it should (1: the driver counts peers that keep their link
   * to us as a relay hop) or can (2: the data plane refuses more): say so in every STATUS from now on,
   * so that new relay links go elsewhere.
   */
  setRelayFull(now: number, level: 0 | 1 | 2): void {
    if (this.relayLevel === level) return;
    this.relayLevel = level;
    this.linker.afterChange(now, true);
  }

  /**
   * A linked peer whose last STATUS listed `dest` as its neighbour (so it is linked to dest), among those
   * `accept` takes: one hop toward a node no closer peer leads to (two ring neighbours without a direct path).
   */
  listedBy(dest: NodeId, accept: (id: NodeId) => boolean = () => true): NodeId | undefined {
    for (const c of this.table.values()) if (c.listed.has(dest) && accept(c.id)) return c.id;
    return undefined;
  }

  /** Connected peers with their kinds (for status). */
  connections(): { id: NodeId; kinds: string[]; remoteJoined: boolean }[] {
    const nb = this.table.neighbours(this.params.nearPerSide);
    const near = new Set([...nb.left, ...nb.right].map((c) => c.id));
    return this.table.ringOrder().map((c) => ({
      id: c.id, kinds: kindNames(c.local | Math.max(0, c.remoteNeeds) | (near.has(c.id) ? K_NEAR : 0)), remoteJoined: c.remoteJoined,
    }));
  }

  // ================================================================== services (DHT, broadcast)
  attach(s: NodeService): void { this.services.push(s); }

  /** Route a DHT message toward a node ('exact') or a ring position ('closest'). */
  routeInner(now: number, dest: NodeId, inner: DhtMsg, mode: 'exact' | 'closest'): void {
    this.now = now;
    this.originate(now, { type: 'routed', mode, dir: 'right', ttl: this.params.defaultTtl, hops: 0, src: this.id, dest, inner });
  }

  /** Send a BCAST to a directly linked peer. */
  sendDirect(to: NodeId, msg: BcastMsg): boolean {
    if (!this.table.has(to)) { this.drop('not-connected'); return false; }
    this.transmit(to, encode(msg));
    return true;
  }

  /** Joined peers in clockwise ring order from this node (the routing candidates). Do not mutate. */
  ringPeers(): readonly NodeId[] { return this.candidates(); }

  // ================================================================== introspection
  /** First and second neighbours on each side (for the crawl). */
  ringNeighbours(): { left1?: NodeId; left2?: NodeId; right1?: NodeId; right2?: NodeId } {
    const nb = this.table.neighbours(2);
    return { left1: nb.left[0]?.id, left2: nb.left[1]?.id, right1: nb.right[0]?.id, right2: nb.right[1]?.id };
  }
  connectionCount(): number { return this.table.size; }
  sizeEstimate(): number { return this.linker.estimateN(); }

  // ================================================================== routing
  private candidates(): NodeId[] {
    if (this.eligible) return this.eligible;
    const a: NodeId[] = [];
    for (const c of this.table.ringOrder()) if (c.remoteJoined) a.push(c.id);
    this.eligible = a;
    return a;
  }

  private originate(now: number, m: RoutedMsg, firstHop?: NodeId): void {
    if (m.trace) m.trace.push(this.id);
    if (firstHop !== undefined && this.table.has(firstHop)) { this.forward(m, null, firstHop); return; }
    this.routeStep(now, null, m);
  }

  private onRouted(now: number, from: NodeId, bytes: Uint8Array, m: RoutedMsg): void {
    let raw: Uint8Array | null = bytes;
    if (m.trace) { m.trace.push(this.id); raw = null; }
    // The first hop relays the reply: the source may not be in the ring yet (joining) or may be in
    // another ring (re-bootstrap after a partition), where greedy routing cannot reach it.
    if (m.inner.type === 'ctm' && m.inner.forwarder === undefined && from === m.src) {
      m.inner.forwarder = this.id; raw = null;
    }
    this.routeStep(now, raw, m, from);
  }

  private routeStep(now: number, raw: Uint8Array | null, m: RoutedMsg, from: NodeId | null = null): void {
    let dest = m.dest, mode = m.mode;
    if (m.via !== undefined) {
      if (m.via === this.id) { m.via = undefined; raw = null; } else { dest = m.via; mode = 'exact'; }
    }
    const nb = mode === 'directional' ? this.table.neighbours(1) : null;
    const d = decideRoute({
      self: this.id, mode, dir: m.dir, dest, src: m.src, ttl: m.ttl, hops: m.hops,
      candidates: this.candidates(), directlyLinked: (x) => this.table.has(x),
      listedBy: (x) => this.listedBy(x, (id) => id !== from),
      left1: nb?.left[0]?.id, right1: nb?.right[0]?.id,
    });
    if (d.action === 'deliver') { this.deliver(now, m); return; }
    if (d.action === 'drop') { this.drop(d.reason); return; }
    this.forward(m, raw, d.to);
  }

  private forward(m: RoutedMsg, raw: Uint8Array | null, to: NodeId): void {
    if (m.ttl === 0) { this.drop('ttl-expired'); return; }
    const bytes = (raw && patchForward(raw)) || encode({ ...m, ttl: m.ttl - 1, hops: Math.min(255, m.hops + 1) });
    if (m.src !== this.id) this.stats.forwarded++;
    this.transmit(to, bytes);
  }

  private deliver(now: number, m: RoutedMsg): void {
    const inner: InnerMsg = m.inner;
    switch (inner.type) {
      case 'data':
        if (m.mode === 'exact' && m.dest !== this.id) { this.drop('not-for-me'); return; }
        this.stats.delivered++;
        this.linker.noteTraffic(now, m.src, false);
        this.out.push({ type: 'deliver', src: m.src, payload: inner.payload, hops: m.hops, trace: m.trace });
        return;
      case 'ctm':
        if (m.src !== this.id && !this.quotas.allow('ctm', m.src, now)) { this.drop('quota-ctm'); return; }
        if (!this.linker.onCtm(now, m, inner)) this.drop('ctm-self');
        return;
      case 'ctm-reply': if (!this.linker.onCtmReply(now, m, inner)) this.drop('ctm-reply-unknown'); return;
      case 'dht':
        if (inner.op === 'put' && m.src !== this.id && !this.quotas.allow('dht-put', m.src, now)) { this.drop('quota-dht-put'); return; }
        if (!this.services.some((s) => s.routed?.(now, m as RoutedMsg & { inner: DhtMsg }))) this.drop('no-service'); return;
    }
  }

  // ================================================================== outputs
  private transmit(to: NodeId, bytes: Uint8Array): void {
    this.stats.sent++;
    this.out.push({ type: 'send', to, bytes });
  }

  private sendStatusTo(c: Conn, msg: StatusMsg): void {
    c.announced = msg.needs;
    if (this.relayLevel >= 1) msg.relayFull = true;
    if (this.relayLevel === 2) msg.relayRefuses = true;
    this.transmit(c.id, encode(msg));
  }

  private drop(reason: string): void {
    this.stats.drops[reason] = (this.stats.drops[reason] ?? 0) + 1;
  }

  private event(name: string, detail: Record<string, unknown>): void {
    if (this.emitEvents) this.out.push({ type: 'event', name, detail });
  }

  private requestLink(now: number, to: NodeId | null, endpoints: string[], kinds: number, via?: NodeId): void {
    if (to === this.id) return;
    if (to !== null) {
      const p = this.pending.get(to);
      if (p) { p.kinds |= kinds; return; }
      this.pending.set(to, { until: now + this.params.linkTimeoutMs, kinds });
    }
    this.out.push(via !== undefined ? { type: 'link', to, endpoints, via } : { type: 'link', to, endpoints });
  }

  private closeConn(now: number, id: NodeId, reason: string, notify = true): void {
    this.now = now;
    const rank = this.table.rank(id);
    const c = this.table.remove(id);
    if (!c) return;
    this.eligible = null;
    this.rpc.forget(id);
    if (notify) this.transmit(id, encode({ type: 'close', reason: 0 }));
    if (reason === 'trim') this.closing.set(id, now + this.params.closeGraceMs);
    else if (reason !== 'link-down') this.out.push({ type: 'unlink', to: id, reason });
    if (this.emitEvents) this.event('disconnected', { peer: idToHex(id), reason });
    this.linker.afterChange(now);
    if (rank <= this.params.nearPerSide && reason !== 'trim') this.linker.repairNow(now);
  }

  private hostView(): ConstructorParameters<typeof Linker>[0] {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    return {
      id: this.id, endpoints: this.endpoints, params: this.params, rng: this.rng, table: this.table, seed: this.seed,
      endpointsToward: (peer) => this.endpointsToward?.(peer) ?? this.endpoints,
      get joined() { return self.joined; },
      set joined(v: boolean) { if (self.joined !== v) { self.joined = v; self.eligible = null; } },
      requestLink: (now, to, eps, kinds, via) => this.requestLink(now, to, eps, kinds, via),
      isLinkPending: (to) => this.pending.has(to),
      pendingLinkKinds: (kind) => { let n = 0; for (const p of this.pending.values()) if (p.kinds & kind) n++; return n; },
      closeConn: (now, id, reason) => this.closeConn(now, id, reason),
      sendStatus: (c, msg) => this.sendStatusTo(c, msg),
      sendCtm: (now, mode, dest, dir, ttl, ctm: CtmMsg, firstHop) =>
        this.originate(now, { type: 'routed', mode, dir, ttl, hops: 0, src: this.id, dest, inner: ctm }, firstHop),
      replyCtm: (now, to, via, reply: CtmReplyMsg) =>
        this.originate(now, { type: 'routed', mode: 'exact', dir: 'right', ttl: this.params.defaultTtl, hops: 0, src: this.id, dest: to, via, inner: reply }),
      event: (name, detail) => this.event(name, detail),
    };
  }
}
