// Owns request/reply bookkeeping for direct peer RPCs (ping): ids, retransmission after
// max(2 s, mean + 6σ RTT) (optionally capped), at most 5 tries, RTT statistics. It must not decide what a failure means.
import { type NodeId } from '../base/nodeid.js';

export interface RpcParams {
  minTimeoutMs: number;
  tries: number;
  /** cap on the retransmission timeout, so tries x cap bounds the time to notice a dead peer (default: none) */
  maxTimeoutMs?: number;
}

interface Pending {
  peer: NodeId;
  bytes: Uint8Array;
  firstSent: number;
  lastSent: number;
  tries: number;
  done: (ok: boolean, rttMs: number) => void;
}

export class RpcManager {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  // Welford running RTT statistics
  private n = 0; private mean = 0; private m2 = 0;

  constructor(private readonly p: RpcParams, private readonly transmit: (to: NodeId, bytes: Uint8Array) => void) {}

  get inFlight(): number { return this.pending.size; }

  timeoutMs(): number {
    const sd = this.n > 1 ? Math.sqrt(this.m2 / (this.n - 1)) : 0;
    return Math.min(this.p.maxTimeoutMs ?? Infinity, Math.max(this.p.minTimeoutMs, this.mean + 6 * sd));
  }

  call(now: number, peer: NodeId, build: (rpcId: number) => Uint8Array, done: Pending['done']): number {
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    const bytes = build(id);
    this.pending.set(id, { peer, bytes, firstSent: now, lastSent: now, tries: 1, done });
    this.transmit(peer, bytes);
    return id;
  }

  /** A reply arrived. Returns false for unknown ids or a reply from the wrong peer. */
  reply(now: number, from: NodeId, rpcId: number): boolean {
    const p = this.pending.get(rpcId);
    if (!p || p.peer !== from) return false;
    this.pending.delete(rpcId);
    const rtt = now - p.lastSent;
    if (p.tries === 1) this.sample(rtt); // Karn: no samples from retransmitted requests
    p.done(true, rtt);
    return true;
  }

  /** Retransmit or fail what is due. */
  tick(now: number): void {
    if (this.pending.size === 0) return;
    const to = this.timeoutMs();
    for (const [id, p] of this.pending) {
      if (now - p.lastSent < to) continue;
      if (p.tries >= this.p.tries) { this.pending.delete(id); p.done(false, now - p.firstSent); continue; }
      p.tries++; p.lastSent = now;
      this.transmit(p.peer, p.bytes);
    }
  }

  /** Drop every call to a peer that went away (no callback: the caller already knows). */
  forget(peer: NodeId): void {
    for (const [id, p] of this.pending) if (p.peer === peer) this.pending.delete(id);
  }

  private sample(x: number): void {
    this.n++;
    const d = x - this.mean;
    this.mean += d / this.n;
    this.m2 += d * (x - this.mean);
  }
}
