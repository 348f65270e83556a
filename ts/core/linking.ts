// Owns the connection overlords: leaf (bootstrap), join and near-neighbour repair, Symphony shortcuts,
// on-demand links, neighbour-list exchange and trimming of surplus links. It decides which links
// should exist; it must not route messages or touch bytes (the host does both).
import { type NodeId, RING } from '../base/nodeid.js';
import { cwDist, ccwDist, symphonyTarget, desiredShortcuts, estimateSize } from './ring.js';
import { type Rng, randInt } from './rng.js';
import { type Conn, type ConnectionTable, K_LEAF, K_NEAR, K_SHORTCUT, K_ONDEMAND } from './connections.js';
import { type Params } from './params.js';
import { type Neighbour, type RoutedMsg, type CtmMsg, type CtmReplyMsg, type StatusMsg } from '../wire/overlay-codec.js';

export interface LinkHost {
  readonly id: NodeId;
  readonly endpoints: string[];
  /** the endpoints to answer a CTM from a node at `peer` with */
  endpointsToward(peer: readonly string[]): string[];
  readonly params: Params;
  readonly rng: Rng;
  readonly table: ConnectionTable;
  readonly seed: boolean;
  joined: boolean;
  /** `via`: a node known to be linked to `to` (it listed it, or forwarded its CTM): a route to it when greedy routing has none */
  requestLink(now: number, to: NodeId | null, endpoints: string[], kinds: number, via?: NodeId): void;
  isLinkPending(to: NodeId): boolean;
  pendingLinkKinds(kind: number): number;
  closeConn(now: number, id: NodeId, reason: string): void;
  sendStatus(c: Conn, msg: StatusMsg): void;
  /** originate a routed connect-to-me; firstHop forces the first link (join through a leaf) */
  sendCtm(now: number, mode: RoutedMsg['mode'], dest: NodeId, dir: 'left' | 'right', ttl: number, ctm: CtmMsg, firstHop?: NodeId): void;
  replyCtm(now: number, to: NodeId, via: NodeId | undefined, reply: CtmReplyMsg): void;
  event(name: string, detail: Record<string, unknown>): void;
}

interface OnDemand { lastSent: number; lastRecv: number; ctmUntil: number }

export class Linker {
  private readonly bootstrap: string[];
  private readonly leafPending = new Map<string, number>(); // endpoint -> deadline
  private joinNextAt = 0;
  private repairNextAt = 0;
  private shortcutToken = 0;
  private shortcutUntil = 0;
  private nextToken = 1;
  private stabilizeAt = 0;
  private lastTop: Conn[] = [];
  private readonly onDemand = new Map<NodeId, OnDemand>();
  private readonly ctmTokens = new Map<number, { kind: number; until: number }>();
  private slowAt = 0;
  private rebootAt = -1;
  private rebootEp: string | null = null;
  private listCache: Neighbour[] | null = null;
  private listVersion = -1;
  nEstimate = 1;

  constructor(private readonly h: LinkHost, bootstrap: string[]) {
    this.bootstrap = bootstrap.filter((e) => !h.endpoints.includes(e));
  }

  // ------------------------------------------------------------------ heartbeat
  tick(now: number): void {
    const h = this.h;
    if (!h.seed && h.table.size === 0 && h.joined) { h.joined = false; h.event('left-ring', {}); }
    if (this.leafPending.size) for (const [ep, dl] of this.leafPending) if (now >= dl) this.leafPending.delete(ep);
    if (this.ctmTokens.size) for (const [t, v] of this.ctmTokens) if (now >= v.until) this.ctmTokens.delete(t);
    if (!h.joined) { this.leafTick(now); this.joinTick(now); return; }
    if (now >= this.stabilizeAt) this.stabilize(now);
    // the structured overlords need no faster pace than every 4th heartbeat (2 s by default)
    if (now < this.slowAt) return;
    this.slowAt = now + 4 * h.params.heartbeatMs;
    this.nearRepairTick(now);
    this.rebootstrapTick(now);
    if (h.params.shortcuts) this.shortcutTick(now);
    if (this.onDemand.size) this.onDemandTick(now);
    this.trimTick(now);
  }

  private leafTick(now: number): void {
    const h = this.h;
    if (this.bootstrap.length === 0) return;
    let have = this.leafPending.size;
    for (const c of h.table.values()) if (c.local & K_LEAF) have++;
    const want = Math.min(h.params.leafWanted, this.bootstrap.length);
    for (let tries = 0; have < want && tries < 4; tries++) {
      const ep = this.bootstrap[randInt(h.rng, this.bootstrap.length)] as string;
      if (this.leafPending.has(ep)) continue;
      let linked = false;
      for (const c of h.table.values()) if (c.endpoints.includes(ep)) { linked = true; break; }
      if (linked) continue;
      this.leafPending.set(ep, now + h.params.linkTimeoutMs);
      h.requestLink(now, null, [ep], K_LEAF);
      have++;
    }
  }

  /**
   * Ring merge after a partition heals: now and then (ring-wide about once per rebootstrapRingMs) a
   * joined node asks a bootstrap node to route a connect-to-me toward its own id. If the bootstrap
   * node sits in another ring, the reply and the link-back join the two rings at that point, and
   * neighbour-list exchange zips them together from there.
   */
  private rebootstrapTick(now: number): void {
    const h = this.h;
    if (this.bootstrap.length === 0) return;
    const spacing = (): number => Math.max(h.params.rebootstrapMinMs, this.nEstimate * h.params.rebootstrapRingMs) * (0.5 + h.rng.next());
    if (this.rebootAt < 0) { this.estimateN(); this.rebootAt = now + spacing(); return; }
    if (now < this.rebootAt) return;
    this.rebootAt = now + spacing();
    const ep = this.bootstrap[randInt(h.rng, this.bootstrap.length)] as string;
    for (const c of h.table.values()) {
      if (c.endpoints.includes(ep)) { this.originate(now, 'closest', h.id, 'right', h.params.defaultTtl, K_NEAR, c.id); return; }
    }
    if (this.leafPending.has(ep)) return;
    this.leafPending.set(ep, now + h.params.linkTimeoutMs);
    this.rebootEp = ep;
    h.requestLink(now, null, [ep], K_LEAF);
  }

  /** A leaf link came up; if it was a re-bootstrap probe, send the connect-to-me through it. */
  leafUp(now: number, c: Conn): void {
    if (this.h.joined && this.rebootEp !== null && c.endpoints.includes(this.rebootEp)) {
      this.rebootEp = null;
      this.originate(now, 'closest', this.h.id, 'right', this.h.params.defaultTtl, K_NEAR, c.id);
    }
  }

  /** Is a pending leaf link for one of these endpoints? Consumes the match. */
  takeLeafPending(endpoints: readonly string[]): boolean {
    for (const e of endpoints) if (this.leafPending.delete(e)) return true;
    return false;
  }

  leafFailed(endpoints: readonly string[]): void { for (const e of endpoints) this.leafPending.delete(e); }

  private joinTick(now: number): void {
    const h = this.h;
    if (h.table.size === 0 || now < this.joinNextAt) return;
    this.joinNextAt = now + h.params.joinRetryMs;
    const conns = [...h.table.values()];
    const leafs = conns.filter((c) => c.local & K_LEAF);
    const pool = leafs.length ? leafs : conns;
    const first = pool[randInt(h.rng, pool.length)] as Conn;
    this.originate(now, 'closest', h.id, 'right', h.params.defaultTtl, K_NEAR, first.id);
  }

  /** A near neighbour went away or a side is short: ask the ring for our neighbours again. */
  private nearRepairTick(now: number): void {
    const h = this.h;
    if (now < this.repairNextAt) return;
    const nb = h.table.neighbours(h.params.nearPerSide);
    const short = nb.left.length < h.params.nearPerSide || nb.right.length < h.params.nearPerSide;
    if (!short || h.table.size === 0) return;
    this.repairNow(now);
  }

  repairNow(now: number): void {
    const h = this.h;
    if (now < this.repairNextAt || !h.joined || h.table.size === 0) return;
    this.repairNextAt = now + h.params.repairMs;
    const nb = h.table.neighbours(h.params.nearPerSide);
    const pool = [...nb.left, ...nb.right].filter((c) => c.remoteJoined);
    const all = pool.length ? pool : [...h.table.values()];
    const first = all[randInt(h.rng, all.length)] as Conn;
    this.originate(now, 'closest', h.id, 'right', h.params.defaultTtl, K_NEAR, first.id);
    for (const side of ['left', 'right'] as const) {
      const c = nb[side][0];
      if (c && nb[side].length < h.params.nearPerSide) this.originate(now, 'directional', c.id, side, 2, K_NEAR);
    }
  }

  private originate(now: number, mode: RoutedMsg['mode'], dest: NodeId, dir: 'left' | 'right', ttl: number, kind: number, firstHop?: NodeId): number {
    const token = this.nextToken++;
    this.ctmTokens.set(token, { kind, until: now + this.h.params.ctmTimeoutMs });
    this.h.sendCtm(now, mode, dest, dir, ttl, { type: 'ctm', token, kind, endpoints: this.h.endpoints }, firstHop);
    return token;
  }

  estimateN(): number {
    const h = this.h;
    const nb = h.table.neighbours(h.params.nearPerSide);
    const l = nb.left[nb.left.length - 1], r = nb.right[nb.right.length - 1];
    if (!l || !r || l === r) return Math.max(1, h.table.size + 1);
    const est = estimateSize(ccwDist(h.id, l.id), cwDist(h.id, r.id), nb.left.length + nb.right.length, h.table.size + 1);
    this.nEstimate = est;
    return est;
  }

  private countedShortcuts(): Conn[] {
    const out: Conn[] = [];
    for (const c of this.h.table.values()) if ((c.local & K_SHORTCUT) && this.h.table.rank(c.id) > this.h.params.nearPerSide) out.push(c);
    return out;
  }

  private shortcutTick(now: number): void {
    const h = this.h;
    const n = this.estimateN();
    const want = desiredShortcuts(n);
    const have = this.countedShortcuts();
    const pending = h.pendingLinkKinds(K_SHORTCUT);
    if (have.length + pending < want) {
      if (now < this.shortcutUntil) return;
      const target = symphonyTarget(h.id, n, h.rng);
      this.shortcutToken = this.originate(now, 'closest', target, 'right', h.params.defaultTtl, K_SHORTCUT);
      this.shortcutUntil = now + h.params.ctmTimeoutMs;
    } else if (have.length > want + 1) {
      const c = have[randInt(h.rng, have.length)] as Conn;
      c.local &= ~K_SHORTCUT;
      this.afterChange(now);
    }
  }

  // ------------------------------------------------------------------ on-demand
  noteTraffic(now: number, peer: NodeId, sent: boolean): void {
    if (peer === this.h.id || !this.h.params.onDemand) return;
    let e = this.onDemand.get(peer);
    if (!e) {
      e = { lastSent: -Infinity, lastRecv: -Infinity, ctmUntil: 0 };
      this.onDemand.set(peer, e);
      this.slowAt = 0; // a new peer: its connect-to-me goes at the next heartbeat
    }
    if (sent) e.lastSent = now; else e.lastRecv = now;
  }

  private onDemandTick(now: number): void {
    const h = this.h;
    const idle = h.params.onDemandIdleMs;
    for (const [peer, e] of this.onDemand) {
      const c = h.table.get(peer);
      const active = now - e.lastSent < idle || now - e.lastRecv < idle;
      if (!active) {
        this.onDemand.delete(peer);
        if (c && (c.local & K_ONDEMAND)) { c.local &= ~K_ONDEMAND; this.afterChange(now); }
        continue;
      }
      const exchanged = now - e.lastSent < idle && now - e.lastRecv < idle;
      if (c) { if (!(c.local & K_ONDEMAND)) { c.local |= K_ONDEMAND; this.afterChange(now); } continue; }
      if (!exchanged || !h.joined || h.isLinkPending(peer) || now < e.ctmUntil) continue;
      e.ctmUntil = now + h.params.ctmTimeoutMs;
      this.originate(now, 'exact', peer, 'right', h.params.defaultTtl, K_ONDEMAND);
    }
  }

  // ------------------------------------------------------------------ connect-to-me
  /** A CTM was delivered here: answer through the overlay and link back at once (hole punch). */
  onCtm(now: number, m: RoutedMsg, ctm: CtmMsg): boolean {
    const h = this.h;
    if (m.src === h.id) return false;
    if (ctm.kind === K_ONDEMAND && m.dest !== h.id) return false;
    h.replyCtm(now, m.src, ctm.forwarder, {
      type: 'ctm-reply', token: ctm.token, kind: ctm.kind, endpoints: h.endpointsToward(ctm.endpoints), neighbours: this.neighbourList(),
    });
    if (!h.table.has(m.src) && !h.isLinkPending(m.src)) h.requestLink(now, m.src, ctm.endpoints, 0, ctm.forwarder);
    return true;
  }

  onCtmReply(now: number, m: RoutedMsg, r: CtmReplyMsg): boolean {
    const h = this.h;
    const responder = m.src;
    const known = this.ctmTokens.get(r.token);
    if (!known || known.kind !== r.kind) return false;
    if (r.kind !== K_NEAR) this.ctmTokens.delete(r.token);
    if (r.kind === K_NEAR) {
      if (!h.joined) { h.joined = true; h.event('joined', {}); this.afterChange(now, true); }
      this.considerNeighbours(now, r.neighbours, responder);
    }
    if (responder === h.id) return true;
    let want = 0;
    if (r.kind === K_SHORTCUT) {
      if (r.token === this.shortcutToken) this.shortcutUntil = 0;
      const c = h.table.get(responder);
      if (c) {
        if (!(c.local & K_SHORTCUT) && h.table.rank(responder) > h.params.nearPerSide) { c.local |= K_SHORTCUT; this.afterChange(now); }
        return true;
      }
      if (h.table.wouldBeNear(responder, h.params.nearPerSide)) want = 0; else want = K_SHORTCUT;
    } else if (r.kind === K_ONDEMAND) {
      want = K_ONDEMAND;
      const c = h.table.get(responder);
      if (c) { c.local |= K_ONDEMAND; this.afterChange(now); return true; }
    }
    if (!h.table.has(responder) && !h.isLinkPending(responder)) h.requestLink(now, responder, r.endpoints, want);
    return true;
  }

  // ------------------------------------------------------------------ neighbour lists
  neighbourList(): Neighbour[] {
    const t = this.h.table;
    if (this.listCache && this.listVersion === t.version) return this.listCache;
    const nb = t.neighbours(this.h.params.statusPerSide);
    const seen = new Set<NodeId>();
    const out: Neighbour[] = [];
    for (const c of [...nb.left, ...nb.right]) {
      if (seen.has(c.id)) continue;
      seen.add(c.id);
      out.push({ id: c.id, endpoints: c.endpoints });
    }
    this.listCache = out; this.listVersion = t.version;
    return out;
  }

  /** Link to any listed node that should be one of our near neighbours. */
  considerNeighbours(now: number, list: readonly Neighbour[], via?: NodeId): void {
    const h = this.h;
    for (const n of list) {
      if (n.id === h.id || h.table.has(n.id) || h.isLinkPending(n.id)) continue;
      if (h.table.wouldBeNear(n.id, h.params.nearPerSide)) h.requestLink(now, n.id, n.endpoints, 0, via === h.id ? undefined : via);
    }
  }

  onStatus(now: number, c: Conn, st: StatusMsg): void {
    const h = this.h;
    c.remoteNeeds = st.needs;
    const becameJoined = st.joined && !c.remoteJoined;
    c.remoteJoined = st.joined;
    // Before we join, neighbour lists come from random bootstrap peers: the join reply is authoritative.
    if (h.joined) this.considerNeighbours(now, st.neighbours, c.id);
    if (becameJoined) this.h.event('peer-joined', { peer: c.id });
    // Stabilisation: if we know a node the peer should have as a near neighbour, tell it.
    if (h.table.rank(c.id) <= h.params.nearPerSide && now - c.lastStatusReply >= h.params.repairMs) {
      const theirs = new Set<NodeId>(st.neighbours.map((n) => n.id));
      const mine = this.neighbourList();
      if (mine.some((n) => n.id !== c.id && !theirs.has(n.id) && nearIn(c.id, st.neighbours, n.id, h.params.nearPerSide))) {
        c.lastStatusReply = now;
        this.sendStatus(c);
      }
    }
  }

  private sendStatus(c: Conn): void {
    this.h.sendStatus(c, { type: 'status', joined: this.h.joined, needs: c.local, neighbours: this.neighbourList() });
    c.announced = c.local;
  }

  private stabilize(now: number): void {
    const h = this.h;
    this.stabilizeAt = now + h.params.stabilizeMs * (0.75 + 0.5 * h.rng.next());
    const nb = h.table.neighbours(1);
    for (const c of new Set([...nb.left, ...nb.right])) this.sendStatus(c);
  }

  /**
   * Recompute why we keep each link after the table changed, and tell peers whose reasons changed;
   * if our nearest neighbours changed, send them our new neighbour list.
   */
  afterChange(now: number, everyone = false): void {
    const h = this.h;
    const nb = h.table.neighbours(h.params.nearKeep);
    const near = new Set<Conn>([...nb.left, ...nb.right]);
    const leafWanted = !h.joined;
    for (const c of h.table.values()) {
      let k = c.local & ~K_NEAR;
      if (!leafWanted) k &= ~K_LEAF;
      if (near.has(c)) k |= K_NEAR;
      c.local = k;
    }
    const top = h.table.neighbours(h.params.nearPerSide);
    const topList = [...top.left, ...top.right];
    const prev = this.lastTop;
    let topChanged = prev.length !== topList.length;
    for (let i = 0; !topChanged && i < topList.length; i++) if (prev[i] !== topList[i]) topChanged = true;
    this.lastTop = topList;
    const topSet = new Set<Conn>(topList);
    for (const c of h.table.values()) {
      if (everyone || c.local !== c.announced || (topChanged && topSet.has(c))) this.sendStatus(c);
    }
    void now;
  }

  private trimTick(now: number): void {
    const h = this.h;
    const delay = h.params.trimDelayMs;
    let victims: NodeId[] | null = null;
    for (const c of h.table.values()) {
      if (c.local !== 0 || now - c.since < delay) continue;
      if (c.remoteNeeds === 0 || (c.remoteNeeds < 0 && now - c.since > 2 * delay)) (victims ??= []).push(c.id);
    }
    if (victims) for (const id of victims) h.closeConn(now, id, 'trim');
  }
}

/** Given a peer and its listed neighbours, would x be among its k nearest on x's side? */
function nearIn(peer: NodeId, list: readonly Neighbour[], x: NodeId, k: number): boolean {
  const dx = cwDist(peer, x);
  const right: bigint[] = [], left: bigint[] = [];
  for (const n of list) {
    if (n.id === peer) continue;
    const d = cwDist(peer, n.id);
    if (d <= RING / 2n) right.push(d); else left.push(d);
  }
  if (dx <= RING / 2n) {
    right.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return right.length < k || dx < (right[k - 1] as bigint);
  }
  left.sort((a, b) => (a > b ? -1 : a < b ? 1 : 0));
  return left.length < k || dx > (left[k - 1] as bigint);
}
