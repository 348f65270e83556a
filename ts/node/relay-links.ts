// Owns relay links (paper §4.3, Brunet's tunnel edges): when a link the overlay wants gets no direct
// answer, the two ends swap their direct links through the overlay (RELAY_SYNC, with each link's age and
// RTT), each picks a common neighbour by the configured policy and sends the link through it, keeping the
// next few in reserve for fail-over; later punches (PUNCH) move the link back to a direct path. It must not
// forward packets (Rust does) or chain relays: a relay is always a direct link of both ends.
import { idShort, nodeIdOfKey, type NodeId } from '../base/nodeid.js';
import type { Logger } from '../base/log.js';
import { encodeApp, type AppMsg, type RelayCandidate, RELAY_MAX_CANDIDATES } from '../wire/app.js';
import type { Counters } from './io.js';
import type { LinkTable } from './link-table.js';

/** latency: the common neighbour with the lowest RTT through it; stability: the oldest links (both sides). */
export type RelayPolicy = 'latency' | 'stability';
export const RELAY_POLICIES: readonly RelayPolicy[] = ['latency', 'stability'];

export interface RelayOptions {
  /** make relay links at all (false: a pair without a direct path talks through overlay routing only) */
  enabled: boolean;
  policy: RelayPolicy;
  /** common neighbours kept in reserve for fail-over */
  reserve: number;
  /** first retry of a direct path after the relay link came up; doubled each time up to punchMaxMs */
  punchFirstMs: number;
  punchMaxMs: number;
  /** peers that may use this node as their relay hop at once (each end of a relayed pair counts); beyond it the node says it is full (no new relay links through it) */
  maxUsers: number;
  /** the data plane's hard limits as a relay (engine config): pairs carried at once, and Mbit/s per pair (0: none) */
  maxSessions: number;
  maxRateMbps: number;
}

export const DEFAULT_RELAY: RelayOptions = { enabled: true, policy: 'latency', reserve: 3, punchFirstMs: 10_000, punchMaxMs: 480_000, maxUsers: 64, maxSessions: 512, maxRateMbps: 0 };

/** What the relay logic needs from the node around it. */
export interface RelayHost {
  /** an app message to a node through the overlay (first through `via`, a node linked to it, when given) */
  send(to: NodeId, msg: AppMsg, via?: NodeId): void;
  /** keep (or stop keeping) the overlay link to a relay hop (K_RELAY) */
  keep(hop: NodeId, on: boolean): void;
  /** the overlay's measured RTT to a linked peer, if any */
  rtt(id: NodeId): number | null;
  /** our endpoints as we advertise them; to a peer at `peer`, as it should probe them (ports in sequence) */
  endpoints(peer?: readonly string[]): string[];
  /** the peer said it is full: new relay links go through others when they can (its STATUS) */
  full(id: NodeId): boolean;
  /** the peer's data plane carries no more relay-link pairs (its STATUS): no new relay link goes through it */
  refuses(id: NodeId): boolean;
  /** when the overlay last heard anything from a linked peer (null: not linked) */
  heardAt(id: NodeId): number | null;
}

interface Relayed {
  hop: NodeId; reserve: NodeId[]; endpoints: string[]; since: number; punchAt: number; punchEvery: number;
  /** when the link last moved to the relay it uses now */
  movedAt: number;
  /** from our direct attempt's start to the relay link carrying a session (null: the other side asked, or not up yet) */
  setupMs: number | null;
}

/** a relay sync to the same node is not repeated sooner than this (unless a new common neighbour appeared) */
const SYNC_SPACING_MS = 3_000;
/** with no common neighbour, links are made to this many of the other side's */
const OVERLAP_TRIES = 3;
/** a relay link whose session is not up by then is given up */
const SETUP_TIMEOUT_MS = 15_000;
/** a relay not heard from this long is taken for dead when the far end moves the link off it (agree) */
const SILENT_RELAY_MS = 2_000;
/** an unknown RTT counts as this much in the latency policy */
const RTT_UNKNOWN_MS = 1_000;

export class RelayLinks {
  /** relay links by the far end's node id */
  readonly links = new Map<NodeId, Relayed>();
  readonly stats = { syncsSent: 0, syncsReceived: 0, relaysUp: 0, failovers: 0, noOverlap: 0, overlapLinks: 0, replacedByDirect: 0, lost: 0, punches: 0, lastSetupMs: null as number | null };
  private readonly asked = new Map<NodeId, number>();
  /** when our direct attempt to a node started, for the set-up time */
  private readonly started = new Map<NodeId, number>();
  /** far end -> the other side's neighbours we are linking to (no common neighbour yet), and how to reach the far end */
  private readonly overlap = new Map<NodeId, { ids: Set<NodeId>; via: NodeId | undefined; at: number }>();
  /** far ends whose relay died with no reserve left: a new relay is sought at the next tick */
  private readonly resync = new Set<NodeId>();
  private t = 0;

  constructor(
    readonly o: RelayOptions, private readonly self: NodeId, private readonly key: Uint8Array,
    private readonly table: LinkTable, private readonly host: RelayHost, private readonly counters: Counters, private readonly log: Logger,
  ) {}

  at(now: number): this { this.t = now; return this; }

  /** A link attempt to `nodeId` got no direct answer: offer our direct links to it through the overlay. */
  wanted(nodeId: NodeId, startedAt: number, via?: NodeId, force = false): void {
    if (!this.o.enabled || this.links.has(nodeId)) return;
    if (!this.started.has(nodeId)) this.started.set(nodeId, startedAt);
    const last = this.asked.get(nodeId);
    if (!force && last !== undefined && this.t - last < SYNC_SPACING_MS) return;
    this.asked.set(nodeId, this.t);
    this.stats.syncsSent++;
    this.host.send(nodeId, this.sync(false), via);
  }

  /**
   * The other end's direct links (a request, or the reply to ours). Both ends must carry the link
   * through the same relay (the relay keeps its links to both only then), so the smaller node id's
   * choice binds: a sync marked `uses` names the sender's relay, the larger id follows it, the smaller
   * keeps its own and says so when the other end uses another.
   */
  onSync(src: NodeId, m: Extract<AppMsg, { app: 'relay-sync' }>): void {
    this.stats.syncsReceived++;
    if (!this.o.enabled) { this.counters.add('relay_disabled'); return; }
    if (nodeIdOfKey(m.key) !== src) { this.counters.add('relay_sync_bad_key'); return; }
    const prev = this.links.get(src);
    const ranked = this.agree(src, m, prev?.hop);
    const p = this.table.peerOf(src);
    const direct = !!(p?.linked && p.established && p.endpoint && p.relay === null);
    const hop = direct ? undefined : ranked[0];
    // the answer goes through a common neighbour (or one of the sender's links): a new node may not be
    // reachable by greedy routing yet
    if (!m.reply) { this.stats.syncsSent++; this.host.send(src, this.sync(true, hop), hop ?? m.candidates[0]?.id); }
    if (direct) { this.counters.add('relay_sync_direct'); return; }
    // the sender's own endpoints (its LAN candidates among them) may be new to us: probe them too, so a
    // direct path we did not know of replaces the relay at once
    if (m.endpoints.length) this.table.probeDirect(src, m.endpoints);
    if (hop === undefined) { this.stats.noOverlap++; this.counters.add('relay_no_overlap'); this.linkToTheirs(src, m.candidates, m.candidates[0]?.id); return; }
    // every common neighbour is full: a full one all the same (the pair keeps a path), and we link to
    // some of the other side's neighbours so that the next sync may find one with room; one whose data
    // plane refuses more pairs carries no new link: the pair stays on overlay routing meanwhile (a
    // link a relay already carries stays on it)
    if (this.host.full(hop) && prev?.hop !== hop) {
      this.counters.add('relay_all_full');
      this.linkToTheirs(src, m.candidates, hop);
    }
    if (this.host.refuses(hop) && prev?.hop !== hop) { this.counters.add('relay_all_refuse'); return; }
    this.overlap.delete(src);
    // one side handshakes (the smaller id), so the two ends do not cross handshakes through the overlay
    if (!this.table.setRelay(src, hop, m.key, this.self < src)) { this.counters.add('relay_refused'); return; }
    this.links.set(src, {
      hop, reserve: ranked.slice(1, 1 + this.o.reserve), endpoints: m.endpoints, since: prev?.since ?? this.t, movedAt: prev?.hop === hop ? prev.movedAt : this.t,
      punchAt: prev?.punchAt ?? this.t + this.o.punchFirstMs, punchEvery: prev?.punchEvery ?? this.o.punchFirstMs, setupMs: prev?.setupMs ?? null,
    });
    if (this.table.peerOf(src)?.established) this.up(src);
    this.host.keep(hop, true);
    if (prev && prev.hop !== hop) this.release(prev.hop);
    if (!prev) { this.stats.relaysUp++; this.log.debug({ peer: idShort(src), relay: idShort(hop), reserve: ranked.length - 1 }, 'relay link'); }
    // the deciding end tells the other which relay to use when its answer named another
    if (m.reply && this.self < src && !(m.uses && m.candidates[0]?.id === hop)) this.tell(src, hop);
  }

  /** A link came up: if it was made to create a common neighbour with a far end, sync with that end now. */
  linkedUp(id: NodeId): void {
    for (const [far, o] of this.overlap) {
      if (!o.ids.has(id)) continue;
      this.overlap.delete(far);
      this.wanted(far, this.t, o.via, true);
    }
  }

  /** A link attempt to `nodeId` failed: the next one starts the set-up clock again. */
  failed(nodeId: NodeId): void { this.started.delete(nodeId); }

  /** The link to `nodeId` came up (its session exists): a relay link's set-up time is taken now. */
  up(nodeId: NodeId): void {
    const r = this.links.get(nodeId);
    const t0 = this.started.get(nodeId);
    if (!r || t0 === undefined) return;
    this.started.delete(nodeId);
    if (r.setupMs === null) { r.setupMs = this.t - t0; this.stats.lastSetupMs = r.setupMs; }
  }

  /**
   * The far end of a relay link asks for a punch: probe its endpoints now (it probes ours). Its PUNCH
   * carries its current endpoints (a NAT's predicted next ports among them), which replace the ones
   * its sync gave.
   */
  onPunch(src: NodeId, endpoints: readonly string[] = []): void {
    const r = this.links.get(src);
    if (!r) { this.counters.add('punch_not_relayed'); return; }
    if (endpoints.length) r.endpoints = [...endpoints];
    this.table.probeDirect(src, r.endpoints);
  }

  /** The overlay link to `id` went down: if it was a relay, move its links to the reserve; if it was relayed, forget it. */
  down(id: NodeId): void {
    const own = this.links.get(id);
    if (own) { this.links.delete(id); this.table.setRelay(id, null, null, false); this.release(own.hop); }
    for (const [far, r] of this.links) {
      if (r.hop !== id) continue;
      if (this.toReserve(far, r, 'relay died: relay link moved to a reserve')) continue;
      this.links.delete(far);
      this.stats.lost++;
      this.table.relayLost(far);
      // no reserve left: the far end is most likely alive (its relay died), so a new relay is sought at
      // the next tick (once the overlay has dropped the dead link, which would carry the sync) rather
      // than when traffic or the ring next asks for the link (seconds of lost packets)
      this.resync.add(far);
    }
  }

  /**
   * The overlay's liveness ping to a relayed far end failed (it began at `since`). When its relay has
   * not been heard from since then either, the relay is the likelier culprit (it carries every frame of
   * the link, and its own ping may simply not be due yet): the link moves to a reserve relay and the
   * overlay pings again through it, instead of tearing the link down and setting it up again. Each
   * reserve is tried once, so a far end that is really gone is still declared dead. True when the link
   * stays (moved now, or moved by the far end's word while the ping was out).
   */
  pathFailed(far: NodeId, since: number): boolean {
    const r = this.links.get(far);
    if (!r) return false;
    // the link moved to another relay while the ping was out: the ping said nothing about the new path
    if (r.movedAt > since) { this.counters.add('relay_path_moved_meanwhile'); return true; }
    const heard = this.host.heardAt(r.hop);
    if (heard !== null && heard > since) return false;
    if (!this.toReserve(far, r, 'relay silent: relay link moved to a reserve')) return false;
    this.counters.add('relay_path_failover');
    return true;
  }

  /** A relayed peer answered directly: the link left its relay. */
  direct(nodeId: NodeId): void {
    const r = this.links.get(nodeId);
    if (!r) return;
    this.links.delete(nodeId);
    this.stats.replacedByDirect++;
    this.release(r.hop);
    this.log.info({ peer: idShort(nodeId) }, 'relay link replaced by a direct one');
  }

  tick(): void {
    const now = this.t;
    for (const far of this.resync) {
      this.resync.delete(far);
      if (this.links.has(far) || this.table.peerOf(far)?.linked) continue;
      this.counters.add('relay_resync');
      this.wanted(far, now, undefined, true);
    }
    for (const [id, at] of this.asked) if (now - at >= SYNC_SPACING_MS) this.asked.delete(id);
    for (const [id, at] of this.started) if (now - at >= 4 * SETUP_TIMEOUT_MS) this.started.delete(id);
    for (const [id, o] of this.overlap) if (now - o.at >= 4 * SETUP_TIMEOUT_MS) this.overlap.delete(id);
    for (const [far, r] of this.links) {
      if (!this.table.peerOf(far)?.established && now - r.since > SETUP_TIMEOUT_MS) {
        // the handshake through the overlay never completed: give the pair up (the overlay asks again)
        this.links.delete(far);
        this.counters.add('relay_setup_timeout');
        this.table.setRelay(far, null, null, false);
        this.release(r.hop);
        continue;
      }
      if (now < r.punchAt) continue;
      r.punchEvery = Math.min(2 * r.punchEvery, this.o.punchMaxMs);
      r.punchAt = now + r.punchEvery;
      if (!r.endpoints.length) continue;
      this.stats.punches++;
      this.host.send(far, { app: 'punch', endpoints: this.host.endpoints(r.endpoints) });
      this.table.probeDirect(far, r.endpoints);
    }
  }

  /** Relay links for status: far end, relay, reserve size, age. */
  list(): { peer: NodeId; relay: NodeId; reserve: number; sinceMs: number; setupMs: number | null }[] {
    return [...this.links].map(([peer, r]) => ({ peer, relay: r.hop, reserve: r.reserve.length, sinceMs: this.t - r.since, setupMs: r.setupMs }));
  }

  // ------------------------------------------------------------------ internals
  /** Move a relay link to its first reserve that is a direct link of ours, and tell the far end. */
  private toReserve(far: NodeId, r: Relayed, why: string): boolean {
    const direct = new Set(this.table.directLinks().map((p) => p.nodeId));
    const next = r.reserve.find((x) => direct.has(x));
    if (next === undefined || !this.table.setRelay(far, next, null, false)) return false;
    const old = r.hop;
    r.reserve = r.reserve.filter((x) => x !== next);
    r.hop = next;
    r.movedAt = this.t;
    this.stats.failovers++;
    this.release(old);
    this.host.keep(next, true);
    this.tell(far, next);
    this.log.info({ peer: idShort(far), relay: idShort(next) }, why);
    return true;
  }

  /** Our sync; `uses`: the relay we carry the link through, listed first. */
  private sync(reply: boolean, uses?: NodeId): AppMsg {
    let candidates = this.candidates();
    if (uses !== undefined) {
      const u = candidates.find((c) => c.id === uses) ?? { id: uses, ageS: 0, rttMs: null, endpoints: [] };
      candidates = [u, ...candidates.filter((c) => c !== u)].slice(0, RELAY_MAX_CANDIDATES);
    }
    return { app: 'relay-sync', reply, key: this.key, endpoints: this.host.endpoints(), candidates, ...(uses !== undefined ? { uses: true } : {}) };
  }

  /** Tell the far end which relay we carry its link through (a reply: it is not answered). */
  private tell(far: NodeId, hop: NodeId): void {
    this.stats.syncsSent++;
    this.host.send(far, this.sync(true, hop), hop);
  }

  /**
   * The common neighbours ranked, with the relay both ends agree on first: the one the smaller id
   * uses (what it said, or ours when we are the smaller), else the one we already use, else the one
   * the other side proposed, else the best by our policy.
   */
  private agree(src: NodeId, m: Extract<AppMsg, { app: 'relay-sync' }>, current: NodeId | undefined): NodeId[] {
    const ranked = this.rank(src, m.candidates);
    const usable = (x: NodeId | undefined): x is NodeId => x !== undefined && ranked.includes(x);
    const theirs = m.uses ? m.candidates[0]?.id : undefined;
    // the far end moved the link off our current relay (a fail-over) while we have not heard from that
    // relay lately either: it is likely dead, and keeping it would only bind the link to it until our
    // own liveness finds it dead too, so the far end's choice wins even when our id is the smaller
    const heard = current === undefined ? null : this.host.heardAt(current);
    const silent = current !== undefined && theirs !== undefined && theirs !== current && (heard === null || this.t - heard > SILENT_RELAY_MS);
    const order = this.self < src && !silent ? [current, theirs] : [theirs, current];
    const pick = order.find(usable);
    return pick === undefined ? ranked : [pick, ...ranked.filter((x) => x !== pick)];
  }

  /** Our direct links, best first by the policy (the list is capped). */
  private candidates(): RelayCandidate[] {
    const out = this.directLinks();
    // relays that say they are full go last (no new relay link is made through one: onSync)
    const full = (c: RelayCandidate): number => this.load(c.id);
    if (this.o.policy === 'stability') out.sort((a, b) => full(a) - full(b) || b.ageS - a.ageS);
    else out.sort((a, b) => full(a) - full(b) || (a.rttMs ?? RTT_UNKNOWN_MS) - (b.rttMs ?? RTT_UNKNOWN_MS));
    return out.slice(0, RELAY_MAX_CANDIDATES);
  }

  /** All our direct links as relay candidates, in no order. */
  private directLinks(): RelayCandidate[] {
    return this.table.directLinks().map((p) => ({
      id: p.nodeId, ageS: Math.floor((this.t - (p.linkedAt ?? this.t)) / 1000),
      rttMs: this.host.rtt(p.nodeId) ?? p.rttMs, endpoints: p.endpoint ? [p.endpoint] : [],
    }));
  }

  /**
   * Common neighbours: their candidates that are any of our direct links (not only the ones we offer:
   * two nodes with many links each may offer disjoint lists and share dozens), ranked by the policy over both
   * sides: latency by the RTT sum through the relay, stability by the younger of the two links (oldest
   * first; Brunet's SimpleRelayOverlap meant this and kept the youngest by mistake).
   */
  private rank(src: NodeId, theirs: readonly RelayCandidate[]): NodeId[] {
    const mine = new Map(this.directLinks().map((c) => [c.id, c] as const));
    const both: { id: NodeId; rtt: number; age: number; full: number }[] = [];
    for (const c of theirs) {
      const m = mine.get(c.id);
      if (!m || c.id === src || c.id === this.self) continue;
      both.push({ id: c.id, rtt: (m.rttMs ?? RTT_UNKNOWN_MS) + (c.rttMs ?? RTT_UNKNOWN_MS), age: Math.min(m.ageS, c.ageS), full: this.load(c.id) });
    }
    // relays at their limit last (a new link through one is not made; onSync)
    if (this.o.policy === 'stability') both.sort((a, b) => a.full - b.full || b.age - a.age || a.rtt - b.rtt);
    else both.sort((a, b) => a.full - b.full || a.rtt - b.rtt || b.age - a.age);
    return both.map((x) => x.id);
  }

  /**
   * No common neighbour (or only full ones): link to a few of the other side's neighbours (best first;
   * some may sit behind NATs we cannot reach), and sync again as soon as one of those links is up.
   */
  private linkToTheirs(src: NodeId, theirs: readonly RelayCandidate[], via: NodeId | undefined): void {
    if (this.overlap.has(src) && this.t - this.overlap.get(src)!.at < SETUP_TIMEOUT_MS) return;
    const ids = new Set<NodeId>();
    for (const c of theirs) {
      if (ids.size >= OVERLAP_TRIES) break;
      if (c.id === this.self || c.id === src || !c.endpoints.length || this.table.peerOf(c.id)?.linked) continue;
      ids.add(c.id);
      this.stats.overlapLinks++;
      this.table.link(c.id, c.endpoints);
    }
    if (ids.size) this.overlap.set(src, { ids, via, at: this.t });
  }

  /** 0: room, 1: full, 2: its data plane refuses more pairs (ranked in that order) */
  private load(id: NodeId): number { return this.host.refuses(id) ? 2 : this.host.full(id) ? 1 : 0; }

  private release(hop: NodeId): void {
    for (const r of this.links.values()) if (r.hop === hop) return;
    this.host.keep(hop, false);
  }
}
