// Owns one simulated NAT box: its mapping table, filtering rule, public port allocation and idle expiry,
// as a deterministic sans-IO state machine (time and randomness are inputs; same inputs, same ports).
// It must not know about nodes, datagrams or the harness: it only rewrites "a.b.c.d:port" endpoints and counts its drops.
import { parseEndpoint } from '../base/ip.js';
import { randInt, type Rng } from '../core/rng.js';

/**
 * The classic NAT types in RFC 4787 terms (mapping / filtering):
 * - 'full-cone': endpoint-independent mapping (EIM) and filtering (EIF): once mapped, anyone may send in;
 * - 'address-restricted': EIM, address-dependent filtering: only hosts (any port) we sent to;
 * - 'port-restricted': EIM, address-and-port-dependent filtering: only the exact ip:port we sent to
 *   (Linux MASQUERADE, which also keeps the source port when it is free);
 * - 'symmetric': address-and-port-dependent mapping (one public port per destination ip:port, drawn at
 *   random, like MASQUERADE --random-fully), filtered to that destination;
 * - 'symmetric-sequential': the same with ports handed out in sequence (predictable; Brunet's port predictor's case).
 */
export type NatKind = 'full-cone' | 'address-restricted' | 'port-restricted' | 'symmetric' | 'symmetric-sequential';
export const NAT_KINDS: readonly NatKind[] = ['full-cone', 'address-restricted', 'port-restricted', 'symmetric', 'symmetric-sequential'];

export interface NatOptions {
  kind: NatKind;
  /** the box's public IPv4 address */
  publicIp: string;
  /**
   * Idle timeout of a mapping and of each filter permission, ms (default 30_000: Linux's unreplied
   * nf_conntrack_udp_timeout). Outbound traffic refreshes both.
   */
  timeoutMs?: number;
  /**
   * Inbound traffic that passes the filter refreshes its mapping and permission too, as Linux conntrack
   * does for an established flow (packets either way reset its timer). Default false: only outbound
   * traffic refreshes (RFC 4787 REQ-6's minimum, pion's vnet), so a peer that only listens loses its mapping.
   */
  inboundRefresh?: boolean;
  /** a host behind the box sending to the box's own public ip:port reaches the host mapped there (default false, as Linux without extra rules) */
  hairpin?: boolean;
  /** cone kinds: keep the private source port when it is free on the public side (default true, like MASQUERADE) */
  preservePort?: boolean;
  /** symmetric-sequential: the first public port handed out (default 49152); each new mapping takes the next free one */
  firstPort?: number;
}

/** Stable drop codes (the `drops` record's keys). */
export type NatDrop = 'no_mapping' | 'expired' | 'filtered' | 'hairpin_off' | 'not_mine' | 'bad_endpoint' | 'ports_exhausted';

/** One mapping: a private source (and, symmetric kinds, one destination) bound to a public port. */
export interface NatMapping {
  readonly privateSrc: string;
  readonly publicSrc: string;
  readonly port: number;
  /** symmetric kinds: the destination the mapping was made for; null for EIM kinds */
  readonly dst: string | null;
  /** last traffic that refreshed the mapping, ms */
  lastActive: number;
  /** filter key (remote ip for address-restricted, ip:port for port-restricted and symmetric) -> last refresh, ms */
  readonly permits: Map<string, number>;
}

const LOW_PORT = 1024, PORT_SPAN = 65536 - LOW_PORT;

export class NatBox {
  readonly kind: NatKind;
  readonly publicIp: string;
  readonly timeoutMs: number;
  readonly inboundRefresh: boolean;
  readonly hairpin: boolean;
  readonly drops: Record<string, number> = {};
  /** the reason of the last refused packet (set by outbound / inbound when they return null) */
  lastDrop: NatDrop | null = null;
  private readonly preservePort: boolean;
  private readonly firstPort: number;
  private nextSeq: number;
  private readonly byKey = new Map<string, NatMapping>();
  private readonly byPort = new Map<number, NatMapping>();
  private gcAt = 0;

  constructor(o: NatOptions, private readonly rng: Rng) {
    const ip = parseEndpoint(`${o.publicIp}:1`);
    if (!ip || ip.family !== 4) throw new Error(`NAT public address must be IPv4: ${o.publicIp}`);
    this.kind = o.kind;
    this.publicIp = o.publicIp;
    this.timeoutMs = o.timeoutMs ?? 30_000;
    this.inboundRefresh = o.inboundRefresh ?? false;
    this.hairpin = o.hairpin ?? false;
    this.preservePort = o.preservePort ?? true;
    this.firstPort = o.firstPort ?? 49152;
    if (!(this.firstPort >= LOW_PORT && this.firstPort <= 65535)) throw new Error(`NAT firstPort out of range: ${this.firstPort}`);
    this.nextSeq = this.firstPort;
  }

  private get symmetric(): boolean { return this.kind === 'symmetric' || this.kind === 'symmetric-sequential'; }

  /**
   * A packet from `privateSrc` (behind the box) to `dst` leaves: the public source endpoint it carries,
   * creating or refreshing its mapping and the permission for `dst`; null when refused (see lastDrop).
   */
  outbound(now: number, privateSrc: string, dst: string): string | null {
    this.lastDrop = null;
    const s = parseEndpoint(privateSrc), d = parseEndpoint(dst);
    if (!s || !d || d.family !== 4) return this.fail('bad_endpoint');
    if (d.host === this.publicIp && !this.hairpin) return this.fail('hairpin_off');
    if (now >= this.gcAt) this.gc(now);
    const key = this.symmetric ? `${privateSrc}>${dst}` : privateSrc;
    let m = this.byKey.get(key);
    if (m && !this.live(m, now)) m = undefined;
    if (!m) {
      const port = this.allocate(now, s.port);
      if (port === null) return this.fail('ports_exhausted');
      const old = this.byPort.get(port);
      if (old) this.forget(old);
      m = { privateSrc, publicSrc: `${this.publicIp}:${port}`, port, dst: this.symmetric ? dst : null, lastActive: now, permits: new Map() };
      this.byKey.set(key, m);
      this.byPort.set(port, m);
    }
    m.lastActive = now;
    const pk = this.filterKey(d.host, dst);
    if (pk !== null) m.permits.set(pk, now);
    return m.publicSrc;
  }

  /**
   * A packet from `src` arrives at `publicDst` (the box's ip:port): the private endpoint to deliver it
   * to, or null when refused: `no_mapping` (nothing there, or forgotten one timeout after expiry),
   * `expired` (idle past the timeout), `filtered` (the filter does not admit `src`), `not_mine`.
   */
  inbound(now: number, publicDst: string, src: string): string | null {
    this.lastDrop = null;
    const p = parseEndpoint(publicDst), s = parseEndpoint(src);
    if (!p || !s) return this.fail('bad_endpoint');
    if (p.host !== this.publicIp) return this.fail('not_mine');
    const m = this.byPort.get(p.port);
    if (!m) return this.fail('no_mapping');
    const idle = now - m.lastActive;
    if (idle >= 2 * this.timeoutMs) { this.forget(m); return this.fail('no_mapping'); }
    if (idle >= this.timeoutMs) return this.fail('expired');
    const pk = this.filterKey(s.host, src);
    if (pk !== null) {
      const t = m.permits.get(pk);
      if (t === undefined || now - t >= this.timeoutMs) return this.fail('filtered');
      if (this.inboundRefresh) m.permits.set(pk, now);
    }
    if (this.inboundRefresh) m.lastActive = now;
    return m.privateSrc;
  }

  /** Who the public endpoint maps to now, live or not, filter aside (the harness's latency guess); null if nothing. */
  peek(publicDst: string): string | null {
    const i = publicDst.lastIndexOf(':');
    if (i < 0 || publicDst.slice(0, i) !== this.publicIp) return null;
    return this.byPort.get(Number(publicDst.slice(i + 1)))?.privateSrc ?? null;
  }

  /** The live mappings (for tests and reports), by public port. */
  mappings(now: number): NatMapping[] {
    return [...this.byPort.values()].filter((m) => this.live(m, now)).sort((a, b) => a.port - b.port);
  }

  // ------------------------------------------------------------------ internals
  /** null: endpoint-independent filtering (nothing to check). */
  private filterKey(host: string, endpoint: string): string | null {
    switch (this.kind) {
      case 'full-cone': return null;
      case 'address-restricted': return host;
      default: return endpoint;
    }
  }

  private live(m: NatMapping, now: number): boolean { return now - m.lastActive < this.timeoutMs; }

  private free(port: number, now: number): boolean {
    const m = this.byPort.get(port);
    return m === undefined || !this.live(m, now);
  }

  private allocate(now: number, privatePort: number): number | null {
    if (this.kind === 'symmetric-sequential') {
      for (let k = 0; k < PORT_SPAN; k++) {
        const p = this.nextSeq;
        this.nextSeq = p >= 65535 ? this.firstPort : p + 1;
        if (this.free(p, now)) return p;
      }
      return null;
    }
    if (this.kind !== 'symmetric' && this.preservePort && this.free(privatePort, now)) return privatePort;
    for (let k = 0; k < 64; k++) {
      const p = LOW_PORT + randInt(this.rng, PORT_SPAN);
      if (this.free(p, now)) return p;
    }
    const start = randInt(this.rng, PORT_SPAN);
    for (let k = 0; k < PORT_SPAN; k++) {
      const p = LOW_PORT + ((start + k) % PORT_SPAN);
      if (this.free(p, now)) return p;
    }
    return null;
  }

  private forget(m: NatMapping): void {
    if (this.byPort.get(m.port) === m) this.byPort.delete(m.port);
    const key = m.dst === null ? m.privateSrc : `${m.privateSrc}>${m.dst}`;
    if (this.byKey.get(key) === m) this.byKey.delete(key);
  }

  /** Forget mappings idle for two timeouts (one past expiry), at most once per timeout. */
  private gc(now: number): void {
    this.gcAt = now + this.timeoutMs;
    for (const m of this.byPort.values()) if (now - m.lastActive >= 2 * this.timeoutMs) this.forget(m);
  }

  private fail(code: NatDrop): null {
    this.lastDrop = code;
    this.drops[code] = (this.drops[code] ?? 0) + 1;
    return null;
  }
}
