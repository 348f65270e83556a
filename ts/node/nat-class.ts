// Owns this node's NAT classification from what peers report seeing (Brunet's way: no STUN server):
// the endpoints peers observed our packets come from, and what they say about the NAT in front of us.
// It must not send anything or decide links; status and `ringvpn netcheck` read it. It also predicts the
// next ports of a NAT that hands them out in sequence (Brunet's port predictor), for the node to advertise.

/**
 * public: peers see an endpoint we advertise ourselves; nat: one peer sees another endpoint (a NAT whose
 * mapping rule one report cannot tell); cone: several peers see one mapping; symmetric: the mapping
 * varies by destination (direct links need the other side to be reachable, else a relay).
 */
export type NatType = 'unknown' | 'public' | 'nat' | 'cone' | 'symmetric';

interface Observation { endpoint: string; by: string; at: number }

/** observations kept (the newest) */
const KEEP = 16;
/** ports predicted (after the highest one seen and in the gaps below it): with the configured endpoint
 * and the newest learned one they fill the 8 endpoints a CTM or relay SYNC carries (wire/overlay-codec.ts) */
export const PREDICT_PORTS = 6;
/** a NAT is taken as sequential when at least this many distinct ports of one address were seen ... */
const SEQ_MIN_PORTS = 3;
/** ... and the ports, sorted, are never more than this apart (random ports over ~64,000 almost never are) */
const SEQ_MAX_GAP = 64;

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

  /**
   * The endpoints a sequential symmetric NAT has most likely given, or will give, the mappings no peer has
   * reported: the ports after the highest one seen (mappings made since the last report), and the gaps
   * between the ports seen (mappings toward peers that never answered, such as a punch under way; the
   * highest first), taken in turn, PREDICT_PORTS in all. Ports are taken one by one: sparse reports cannot
   * tell a NAT that counts in steps of 2 from one whose other ports nobody reported, and steps of 1 cover
   * both. Empty unless the reports show one address with SEQ_MIN_PORTS or more ports, none more than
   * SEQ_MAX_GAP apart: a random-port NAT's ports cannot be predicted, and a cone NAT's one mapping needs none.
   */
  predicted(): string[] {
    const byHost = new Map<string, number[]>();
    for (const e of this.endpoints()) {
      const i = e.lastIndexOf(':'), port = Number(e.slice(i + 1));
      if (!Number.isInteger(port) || port < 1 || port > 65535) continue;
      const h = e.slice(0, i); let ps = byHost.get(h); if (!ps) byHost.set(h, ps = []); ps.push(port);
    }
    for (const [host, ports] of byHost) {
      if (ports.length < SEQ_MIN_PORTS) continue;
      ports.sort((a, b) => a - b);
      if (ports.some((p, k) => k > 0 && p - ports[k - 1]! > SEQ_MAX_GAP)) continue;
      const seen = new Set(ports), top = ports.at(-1)!, gaps: number[] = [], out: string[] = [];
      for (let p = top - 1; p > ports[0]! && gaps.length < PREDICT_PORTS; p--) if (!seen.has(p)) gaps.push(p);
      for (let k = 1, g = 0; out.length < PREDICT_PORTS && (top + k <= 65535 || g < gaps.length); k++) {
        if (top + k <= 65535) out.push(`${host}:${top + k}`);
        if (g < gaps.length && out.length < PREDICT_PORTS) out.push(`${host}:${gaps[g++]}`);
      }
      return out;
    }
    return [];
  }

  summary(): { type: NatType; endpoints: string[]; observers: number; predicted: string[] } {
    return { type: this.type(), endpoints: this.endpoints(), observers: this.seen.length, predicted: this.predicted() };
  }
}
