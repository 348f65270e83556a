// Owns a full-tunnel client's choice of gateway (issue 14; the paper's client picked one at random and
// pinged it every 15 s): it reads the DHT's gateway list, pings the candidates (RTT, liveness, and whether
// their policy admits us), uses the fastest, keeps the next one warm (a session and pings), and fails over
// when the one in use stops answering. Sans-IO: time comes with each call, effects go through its host. It
// must not touch the OS or the data plane (the link table routes the Internet through the node it names).
import { idShort, idToHex, type NodeId } from '../base/nodeid.js';
import type { Logger } from '../base/log.js';
import type { GatewayRecord } from './gateways.js';
import type { Counters } from './io.js';

/** The gateway in use and the warm one are pinged this often (every heartbeat). */
export const TUNNEL_PING_MS = 500;
/** Other candidates are pinged this often. */
export const IDLE_PING_MS = 5_000;
/** A gateway that answered nothing (no pong, no data) for this long after a ping is dead: fail over. */
export const DEAD_MS = 1_500;
/** The list is read this often while a gateway is in use, and this often while none is. */
export const LOOKUP_MS = 30_000;
export const LOOKUP_IDLE_MS = 3_000;
/** Candidates pinged at most (the list may be long; the first ones read are kept). */
export const MAX_CANDIDATES = 4;
/** An unanswered ping is forgotten after this long. */
const PING_FORGET_MS = 10_000;
/** Another gateway replaces a live one only when its RTT is below this share of the one in use (and 5 ms less). */
const SWITCH_RATIO = 0.5;

export interface TunnelHost {
  /** read the gateway list (null: the DHT did not answer) */
  lookup(cb: (g: GatewayRecord[] | null) => void): void;
  /** keep a data route (and a session) to the gateway's virtual address */
  reach(node: NodeId, address: string): void;
  /** send a GATEWAY_PING to the node */
  ping(node: NodeId, reqId: number): void;
  /** route the Internet through this node (null: through nobody; the engine drops it, counted) */
  use(node: NodeId | null): void;
  /** may this node carry our traffic (fullTunnel.gateways: its certificate's groups)? null: not known yet (no handshake) */
  trusted(node: NodeId): boolean | null;
}

interface Candidate {
  node: NodeId;
  address: string;
  rttMs: number | null;
  /** the last pong, or data received from it */
  heardAt: number | null;
  /** the first ping sent since it was last heard from (null: none unanswered) */
  unansweredSince: number | null;
  admitted: boolean | null;
  pingAt: number;
  /** still in the DHT's list at the last lookup */
  listed: boolean;
}

export interface TunnelStatus {
  inUse: { nodeId: string; address: string; rttMs: number | null; sinceMs: number } | null;
  warm: string | null;
  candidates: { nodeId: string; short: string; address: string; rttMs: number | null; admitted: boolean | null; trusted: boolean | null; alive: boolean }[];
  switches: number;
  /** the last failover: how long the dead gateway had been silent when it was replaced */
  lastFailover: { from: string; to: string | null; silentMs: number } | null;
  lookups: { ok: number; failed: number };
}

export class TunnelClient {
  private t = 0;
  private readonly cands = new Map<NodeId, Candidate>();
  private readonly pings = new Map<number, { node: NodeId; sentAt: number }>();
  private nextReq = 1;
  private lookupAt = 0;
  private looking = false;
  private inUse: NodeId | null = null;
  private since = 0;
  private switches = 0;
  private lastFailover: TunnelStatus['lastFailover'] = null;
  private readonly lookups = { ok: 0, failed: 0 };

  constructor(private readonly h: TunnelHost, private readonly counters: Counters, private readonly log: Logger) {}

  at(now: number): this { this.t = now; return this; }
  private count(k: string): void { this.counters.add('tunnel_' + k); }

  /** The gateway in use. */
  get gateway(): NodeId | null { return this.inUse; }

  /** Heartbeat: read the list when due, ping, judge liveness, choose. `joined`: the overlay can carry DHT requests. */
  tick(joined: boolean): void {
    const now = this.t;
    if (joined && !this.looking && now >= this.lookupAt) this.lookup();
    for (const [id, p] of this.pings) if (now - p.sentAt > PING_FORGET_MS) this.pings.delete(id);
    this.choose();
    const busy = new Set([this.inUse, this.warm()]);
    for (const c of this.cands.values()) {
      if (now < c.pingAt) continue;
      // with none in use every candidate is asked each heartbeat, except those whose policy refused us
      const fast = busy.has(c.node) || (this.inUse === null && c.admitted !== false);
      c.pingAt = now + (fast ? TUNNEL_PING_MS : IDLE_PING_MS);
      if (busy.has(c.node)) this.h.reach(c.node, c.address);
      const reqId = this.nextReq++ >>> 0;
      this.pings.set(reqId, { node: c.node, sentAt: now });
      if (c.unansweredSince === null) c.unansweredSince = now;
      this.h.ping(c.node, reqId);
      this.count('ping');
    }
  }

  /** A GATEWAY_PONG from `src`. */
  onPong(src: NodeId, reqId: number, admitted: boolean): void {
    const p = this.pings.get(reqId);
    const c = this.cands.get(src);
    if (!p || p.node !== src || !c) { this.count('pong_unexpected'); return; }
    this.pings.delete(reqId);
    const rtt = this.t - p.sentAt;
    c.rttMs = Math.round((c.rttMs === null ? rtt : c.rttMs * 0.75 + rtt * 0.25) * 10) / 10;
    c.heardAt = this.t;
    c.unansweredSince = null;
    if (c.admitted !== admitted) {
      c.admitted = admitted;
      if (!admitted) this.log.warn({ gateway: idShort(src), address: c.address }, 'a gateway\'s policy does not admit us');
    }
    this.choose();
  }

  /** Data from `node` arrived in the traffic window that began at `at` (liveness by traffic). */
  heard(node: NodeId, at: number): void {
    const c = this.cands.get(node);
    if (!c) return;
    if (c.heardAt === null || at > c.heardAt) c.heardAt = at;
    if (c.unansweredSince !== null && at >= c.unansweredSince) c.unansweredSince = null;
  }

  status(): TunnelStatus {
    const u = this.inUse === null ? null : this.cands.get(this.inUse) ?? null;
    const warm = this.warm();
    return {
      inUse: u ? { nodeId: idToHex(u.node), address: u.address, rttMs: u.rttMs, sinceMs: Math.round(this.t - this.since) } : null,
      warm: warm === null ? null : idToHex(warm),
      candidates: [...this.cands.values()].map((c) => ({ nodeId: idToHex(c.node), short: idShort(c.node), address: c.address, rttMs: c.rttMs, admitted: c.admitted, trusted: this.h.trusted(c.node), alive: this.alive(c) })),
      switches: this.switches, lastFailover: this.lastFailover, lookups: { ...this.lookups },
    };
  }

  // ---------------------------------------------------------------- internals
  private lookup(): void {
    this.looking = true;
    this.h.lookup((list) => {
      this.looking = false;
      this.lookupAt = this.t + (this.inUse === null ? LOOKUP_IDLE_MS : LOOKUP_MS);
      if (!list) { this.lookups.failed++; this.count('lookup_failed'); return; }
      this.lookups.ok++;
      const names = new Set(list.map((g) => g.node));
      for (const c of this.cands.values()) c.listed = names.has(c.node);
      // a gateway that left the list (its lease ran out) is dropped unless it is in use and alive
      for (const [id, c] of this.cands) if (!c.listed && !(id === this.inUse && this.alive(c))) this.cands.delete(id);
      for (const g of list) {
        const c = this.cands.get(g.node);
        if (c) { c.address = g.address; continue; }
        if (this.cands.size >= MAX_CANDIDATES) break;
        this.cands.set(g.node, { node: g.node, address: g.address, rttMs: null, heardAt: null, unansweredSince: null, admitted: null, pingAt: this.t, listed: true });
        this.h.reach(g.node, g.address);
        this.log.info({ gateway: idShort(g.node), address: g.address }, 'gateway candidate');
      }
      this.choose();
    });
  }

  private alive(c: Candidate): boolean {
    return c.heardAt !== null && (c.unansweredSince === null || this.t - c.unansweredSince < DEAD_MS);
  }

  private usable(c: Candidate): boolean { return c.admitted === true && c.rttMs !== null && this.alive(c) && this.h.trusted(c.node) === true; }

  /** The usable candidates, fastest first. */
  private ranked(): Candidate[] {
    return [...this.cands.values()].filter((c) => this.usable(c)).sort((a, b) => (a.rttMs! - b.rttMs!) || (a.node < b.node ? -1 : 1));
  }

  private warm(): NodeId | null {
    return this.ranked().find((c) => c.node !== this.inUse)?.node ?? null;
  }

  private choose(): void {
    const cur = this.inUse === null ? null : this.cands.get(this.inUse) ?? null;
    const best = this.ranked()[0] ?? null;
    if (cur && this.usable(cur)) {
      // a live gateway stays unless another is much faster (flows through it would break for little gain)
      if (!best || best === cur || best.rttMs! > cur.rttMs! * SWITCH_RATIO || cur.rttMs! - best.rttMs! < 5) return;
      this.count('switch_faster');
    } else if (cur) {
      this.count(!this.alive(cur) ? 'failover' : cur.admitted !== true ? 'switch_refused' : 'switch_untrusted');
      const silentMs = cur.heardAt === null ? 0 : Math.round(this.t - cur.heardAt);
      this.lastFailover = { from: idToHex(cur.node), to: best ? idToHex(best.node) : null, silentMs };
      this.log.warn({ gateway: idShort(cur.node), silentMs, next: best ? idShort(best.node) : null }, 'gateway in use stopped answering: failing over');
      if (!best) this.lookupAt = this.t; // nobody left: read the list again now
    } else if (!best) return;
    this.inUse = best?.node ?? null;
    this.since = this.t;
    this.switches++;
    if (best) {
      this.log.info({ gateway: idShort(best.node), address: best.address, rttMs: best.rttMs }, 'full tunnel through this gateway');
      this.h.reach(best.node, best.address);
    }
    this.h.use(this.inUse);
  }
}
