// Owns this node's NAT classification from what peers report seeing (Brunet's way: no STUN server):
// the endpoints peers observed our packets come from, and what they say about the NAT in front of us.
// It must not send anything or decide links; status and `ringvpn netcheck` read it.

/**
 * public: peers see an endpoint we advertise ourselves; nat: one peer sees another endpoint (a NAT whose
 * mapping rule one report cannot tell); cone: several peers see one mapping; symmetric: the mapping
 * varies by destination (direct links need the other side to be reachable, else a relay).
 */
export type NatType = 'unknown' | 'public' | 'nat' | 'cone' | 'symmetric';

interface Observation { endpoint: string; by: string; at: number }

/** observations kept (the newest) */
const KEEP = 16;

export class NatClassifier {
  private readonly seen: Observation[] = [];

  /** `own`: the endpoints this node advertises from its configuration (a public address, if it has one). */
  constructor(private readonly own: readonly string[]) {}

  /** A peer at `by` says our packets come from `endpoint`. */
  observe(now: number, endpoint: string, by: string): void {
    const i = this.seen.findIndex((o) => o.by === by);
    if (i >= 0) this.seen.splice(i, 1);
    this.seen.push({ endpoint, by, at: now });
    if (this.seen.length > KEEP) this.seen.shift();
  }

  /** Distinct endpoints peers see, newest first. */
  endpoints(): string[] {
    const out: string[] = [];
    for (let i = this.seen.length - 1; i >= 0; i--) { const e = this.seen[i]!.endpoint; if (!out.includes(e)) out.push(e); }
    return out;
  }

  type(): NatType {
    if (!this.seen.length) return 'unknown';
    const eps = this.endpoints();
    if (eps.every((e) => this.own.includes(e))) return 'public';
    // two peers seeing different ports of one address: the NAT maps per destination
    const byHost = new Map<string, Set<string>>();
    for (const e of eps) { const h = e.slice(0, e.lastIndexOf(':')); let s = byHost.get(h); if (!s) byHost.set(h, s = new Set()); s.add(e); }
    for (const s of byHost.values()) if (s.size > 1) return 'symmetric';
    return this.seen.length >= 2 ? 'cone' : 'nat';
  }

  summary(): { type: NatType; endpoints: string[]; observers: number } {
    return { type: this.type(), endpoints: this.endpoints(), observers: this.seen.length };
  }
}
