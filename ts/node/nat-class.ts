// Owns this node's NAT classification from what peers report seeing (Brunet's way: no STUN server):
// the endpoints peers observed our packets come from, and what they say about the NAT in front of us.
// It must not send anything or decide links; status and `ringvpn netcheck` read it. It also predicts the
// next ports of a NAT that hands them out in sequence (Brunet's port predictor), for the node to advertise.
import { parseEndpoint } from '../base/ip.js';

/**
 * public: peers see an endpoint we advertise ourselves; nat: one peer sees another endpoint (a NAT whose
 * mapping rule one report cannot tell); cone: several peers see one mapping; symmetric: the mapping
 * varies by destination (direct links need the other side to be reachable, else a relay).
 */
export type NatType = 'unknown' | 'public' | 'nat' | 'cone' | 'symmetric';

/** `contact`: the number of the first frame this node sent to `by` (a symmetric NAT's mapping for it), if known */
interface Observation { endpoint: string; by: string; at: number; contact?: number }

/** observations kept (the newest) */
const KEEP = 16;
/** destinations remembered for counting new ones (the oldest are forgotten first) */
const CONTACTS_KEEP = 2048;
/** ports predicted (after the highest one seen and in the gaps below it): with the configured endpoint
 * and the newest learned one they fill the 8 endpoints a CTM or relay SYNC carries (wire/overlay-codec.ts) */
export const PREDICT_PORTS = 6;
/** a NAT is taken as sequential when at least this many distinct ports of one address were seen ... */
const SEQ_MIN_PORTS = 3;
/** ... and the ports, sorted, are never more than this apart (random ports over ~64,000 almost never are) */
const SEQ_MAX_GAP = 64;

export class NatClassifier {
  private readonly seen: Observation[] = [];
  /** destinations in the order this node first sent to them, numbered */
  private readonly contacted = new Map<string, number>();
  private contacts = 0;

  /** `own`: the endpoints this node advertises from its configuration (a public address, if it has one). */
  constructor(private readonly own: readonly string[]) {}

  /**
   * This node sends a frame to `endpoint`; true when it is a new destination beyond our own network (a new
   * mapping on a symmetric NAT). Private, loopback and link-local destinations never cross the NAT.
   */
  sent(endpoint: string): boolean {
    if (this.contacted.has(endpoint) || !crossesNat(endpoint)) return false;
    this.contacted.set(endpoint, ++this.contacts);
    if (this.contacted.size > CONTACTS_KEEP) this.contacted.delete(this.contacted.keys().next().value as string);
    return true;
  }

  /** A peer at `by` says our packets come from `endpoint`. */
  observe(now: number, endpoint: string, by: string): void {
    const i = this.seen.findIndex((o) => o.by === by);
    if (i >= 0) this.seen.splice(i, 1);
    const contact = this.contacted.get(by);
    this.seen.push({ endpoint, by, at: now, ...(contact !== undefined ? { contact } : {}) });
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
   * The endpoints a sequential symmetric NAT will most likely give this node's next mappings, PREDICT_PORTS
   * in all. Empty unless the reports show one address with SEQ_MIN_PORTS or more ports, none more than
   * SEQ_MAX_GAP apart: a random-port NAT's ports cannot be predicted, and a cone NAT's one mapping needs none.
   * Counted when it can be: the newest reported mapping whose destination this node knows it opened, plus
   * one port per destination first sent to since (each took one), gives the next port: the ports from one
   * below it (a destination counted that never crossed the NAT) upward (other hosts' mappings), and the
   * ports of the newest destinations no peer has reported (a punch under way). Else Brunet's guess: the
   * ports after the highest one seen and the gaps below it, taken in turn (ports one by one: sparse reports
   * cannot tell a NAT that counts in steps of 2 from one whose other ports nobody reported, and steps of 1
   * cover both).
   */
  predicted(): string[] {
    const seq = this.sequential();
    if (!seq) return [];
    const { host, seen } = seq, out: string[] = [];
    const add = (p: number): void => { if (p >= 1 && p <= 65535 && !seen.has(p) && !out.includes(`${host}:${p}`)) out.push(`${host}:${p}`); };
    const anchor = this.anchor(host);
    if (anchor) {
      const next = anchor.port + (this.contacts - anchor.contact) + 1;
      for (let p = next - 1; p <= next + 2; p++) add(p);
      for (let c = this.contacts - 1; c > anchor.contact && out.length < PREDICT_PORTS; c--) add(anchor.port + (c - anchor.contact));
      for (let p = next + 3; out.length < PREDICT_PORTS && p <= 65535; p++) add(p);
      return out;
    }
    const ports = [...seen].sort((a, b) => a - b), top = ports.at(-1)!, gaps: number[] = [];
    for (let p = top - 1; p > ports[0]! && gaps.length < PREDICT_PORTS; p--) if (!seen.has(p)) gaps.push(p);
    for (let k = 1, g = 0; out.length < PREDICT_PORTS && (top + k <= 65535 || g < gaps.length); k++) {
      if (top + k <= 65535) add(top + k);
      if (g < gaps.length && out.length < PREDICT_PORTS) add(gaps[g++]!);
    }
    return out;
  }

  /**
   * The endpoints our mappings toward `peer` (its endpoints, probed in this order) will have, counted (see
   * predicted): a destination sent to before keeps its port, each new one takes the next. Empty unless the
   * NAT is sequential and a reported mapping anchors the count.
   */
  predictedToward(peer: readonly string[]): string[] {
    const seq = this.sequential();
    const anchor = seq && this.anchor(seq.host);
    if (!seq || !anchor) return [];
    const out: string[] = [];
    let next = this.contacts + 1;
    for (const e of peer) {
      if (!crossesNat(e)) continue;
      const port = anchor.port + ((this.contacted.get(e) ?? next++) - anchor.contact);
      const ep = `${seq.host}:${port}`;
      if (port >= 1 && port <= 65535 && !out.includes(ep)) out.push(ep);
    }
    return out;
  }

  /** The address of a NAT handing out ports in sequence, with the ports reported on it. */
  private sequential(): { host: string; seen: Set<number> } | null {
    const byHost = new Map<string, number[]>();
    for (const e of this.endpoints()) {
      const hp = hostPort(e);
      if (!hp) continue;
      let ps = byHost.get(hp.host); if (!ps) byHost.set(hp.host, ps = []); ps.push(hp.port);
    }
    for (const [host, ports] of byHost) {
      if (ports.length < SEQ_MIN_PORTS) continue;
      ports.sort((a, b) => a - b);
      if (ports.some((p, k) => k > 0 && p - ports[k - 1]! > SEQ_MAX_GAP)) continue;
      return { host, seen: new Set(ports) };
    }
    return null;
  }

  /** The newest report of a mapping on `host` whose destination's place in our sending order is known. */
  private anchor(host: string): { port: number; contact: number } | null {
    let best: { port: number; contact: number } | null = null;
    for (const o of this.seen) {
      const hp = o.contact === undefined ? null : hostPort(o.endpoint);
      if (hp?.host === host && (!best || o.contact! > best.contact)) best = { port: hp.port, contact: o.contact! };
    }
    return best;
  }

  summary(): { type: NatType; endpoints: string[]; observers: number; predicted: string[] } {
    return { type: this.type(), endpoints: this.endpoints(), observers: this.seen.length, predicted: this.predicted() };
  }
}

/** An endpoint's host text (as written, brackets included) and port 1-65535; null when malformed. */
function hostPort(e: string): { host: string; port: number } | null {
  const i = e.lastIndexOf(':'), port = Number(e.slice(i + 1));
  return i > 0 && Number.isInteger(port) && port >= 1 && port <= 65535 ? { host: e.slice(0, i), port } : null;
}

/** Whether a frame to `endpoint` leaves through the NAT: not to a private, loopback or link-local IPv4 address. */
function crossesNat(endpoint: string): boolean {
  const ep = parseEndpoint(endpoint);
  if (ep?.family !== 4) return true;
  const a = ep.address[0]!, b = ep.address[1]!;
  return !(a === 10 || a === 127 || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168) || (a === 169 && b === 254));
}
