// Owns the bounded recursive range broadcast (Brunet BroadcastSender): a node owning the ring range
// (self, end) hands each of its peers inside it the sub-range up to the next one, with an optional
// fan-out limit and duplicate suppression. Sans-IO: it must not route greedily, time or do I/O.
import { type NodeId, RING } from '../base/nodeid.js';
import { cwDist } from './ring.js';
import { type BcastMsg } from '../wire/overlay-codec.js';

export interface BroadcastParams {
  /** at most this many peers per node (0: all peers in range); the nearest right peer is always one */
  fanout: number;
  /** (origin, seq) pairs remembered for duplicate suppression */
  seenMax: number;
}
export const DEFAULT_BROADCAST_PARAMS: BroadcastParams = { fanout: 0, seenMax: 4096 };

export interface RangeHandoff { to: NodeId; end: NodeId }

/**
 * Split the range (self, end) among `peers` (clockwise order from self). `end === self` means the whole
 * ring. Peer i gets (peer_i .. peer_i+1); the last chosen peer gets (peer .. end).
 */
export function planRange(self: NodeId, end: NodeId, peers: readonly NodeId[], fanout = 0): RangeHandoff[] {
  const span = end === self ? RING : cwDist(self, end);
  const inside: NodeId[] = [];
  for (const p of peers) { const d = cwDist(self, p); if (d > 0n && d < span) inside.push(p); }
  inside.sort((a, b) => { const da = cwDist(self, a), db = cwDist(self, b); return da < db ? -1 : da > db ? 1 : 0; });
  let chosen = inside;
  if (fanout > 0 && inside.length > fanout) {
    chosen = [];
    for (let k = 0; k < fanout; k++) chosen.push(inside[Math.floor((k * inside.length) / fanout)] as NodeId);
  }
  return chosen.map((to, i) => ({ to, end: i + 1 < chosen.length ? (chosen[i + 1] as NodeId) : end }));
}

export type BroadcastCallback = (now: number, m: { origin: NodeId; seq: number; hops: number; payload: Uint8Array }) => void;

export interface BroadcastHost {
  readonly id: NodeId;
  /** joined peers in clockwise order from self */
  peers(): readonly NodeId[];
  /** send to a directly linked peer; false when not linked */
  sendDirect(to: NodeId, msg: BcastMsg): boolean;
}

export interface BroadcastStats { originated: number; received: number; forwarded: number; drops: Record<string, number> }

export class BroadcastService {
  readonly p: BroadcastParams;
  readonly stats: BroadcastStats = { originated: 0, received: 0, forwarded: 0, drops: {} };
  private readonly seen = new Set<string>();
  private readonly seenOrder: string[] = [];
  private seq = 0;

  constructor(private readonly host: BroadcastHost, private readonly onMessage: BroadcastCallback, params: Partial<BroadcastParams> = {}) {
    this.p = { ...DEFAULT_BROADCAST_PARAMS, ...params };
  }

  /** Broadcast `payload` to every node of the ring. Returns the sequence number used. */
  broadcast(_now: number, payload: Uint8Array): number {
    this.seq = (this.seq + 1) >>> 0;
    this.stats.originated++;
    this.remember(this.host.id, this.seq);
    this.forward({ type: 'bcast', origin: this.host.id, seq: this.seq, end: this.host.id, hops: 0, payload });
    return this.seq;
  }

  /** A BCAST arrived from a linked peer: deliver once, then hand on the sub-ranges. */
  receive(now: number, _from: NodeId, m: BcastMsg): boolean {
    if (!this.remember(m.origin, m.seq)) { this.drop('duplicate'); return true; }
    this.stats.received++;
    const hops = m.hops + 1;
    this.onMessage(now, { origin: m.origin, seq: m.seq, hops, payload: m.payload });
    // our own range ends where the sender said; a range that wrapped onto us is already covered
    if (m.end !== this.host.id) this.forward({ ...m, hops });
    return true;
  }

  private forward(m: BcastMsg): void {
    for (const h of planRange(this.host.id, m.end, this.host.peers(), this.p.fanout)) {
      if (this.host.sendDirect(h.to, { ...m, end: h.end })) this.stats.forwarded++;
      else this.drop('not-linked');
    }
  }

  private remember(origin: NodeId, seq: number): boolean {
    const k = origin.toString(36) + '/' + seq;
    if (this.seen.has(k)) return false;
    this.seen.add(k);
    this.seenOrder.push(k);
    if (this.seenOrder.length > this.p.seenMax) this.seen.delete(this.seenOrder.shift() as string);
    return true;
  }

  private drop(reason: string): void { this.stats.drops[reason] = (this.stats.drops[reason] ?? 0) + 1; }
}
