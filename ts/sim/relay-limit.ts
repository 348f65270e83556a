// Owns the simulator's model of the data plane's relay limits (crates/dataplane/src/relay_limit.rs): pairs
// carried at once and a byte rate per pair, for the in-memory engine. It must not see packets or time
// other than the `now` it is given.
import type { NodeId } from '../base/nodeid.js';

/** relay_limit.rs DEFAULT_RELAY_MAX_SESSIONS */
export const RELAY_MAX_SESSIONS_DEFAULT = 512;
const RELAY_IDLE_MS = 60_000;

/** relay_limit.rs: node-id pairs carried at once (idle ones give way) and a byte rate per pair (1 s of burst). */
export class RelayLimit {
  private readonly pairs = new Map<string, { last: number; tokens: number; refill: number }>();
  constructor(readonly max: number, private readonly rate: number) {}

  live(now: number): number { let n = 0; for (const x of this.pairs.values()) if (now - x.last < RELAY_IDLE_MS) n++; return n; }

  admit(a: NodeId, b: NodeId, len: number, now: number): 'pass' | 'full' | 'rate' {
    const key = a <= b ? `${a}:${b}` : `${b}:${a}`;
    let p = this.pairs.get(key);
    if (!p) {
      if (this.pairs.size >= this.max) for (const [k, x] of this.pairs) if (now - x.last >= RELAY_IDLE_MS) this.pairs.delete(k);
      if (this.pairs.size >= this.max) return 'full';
      this.pairs.set(key, p = { last: now, tokens: this.rate, refill: now });
    }
    p.last = now;
    if (this.rate === 0) return 'pass';
    const add = Math.floor(((now - p.refill) * this.rate) / 1000);
    if (add > 0) { p.tokens = Math.min(this.rate, p.tokens + add); p.refill = now; }
    if (p.tokens < len) return 'rate';
    p.tokens -= len;
    return 'pass';
  }
}
