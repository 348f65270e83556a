// Owns the NAT sites of a VpnHarness: which node sits behind which NAT box, their private and public
// endpoints, and the underlay path of a datagram through the boxes (sender's NAT, public network, receiver's NAT).
// It must not touch nodes or engines: it decides whether, where and when a datagram arrives; the harness delivers it.
import { forkRng, Xoshiro128, type Rng } from '../core/rng.js';
import { errors } from '../base/errors.js';
import { NatBox, type NatOptions } from './nat.js';
import type { NetworkModel } from './network.js';
import type { Datagram } from './memory-engine.js';

/** Node i is behind the NAT box of `site` (0-65535); nodes naming one site share its box (the first one's options). */
export interface NatSpec extends Omit<NatOptions, 'publicIp'> { site: number }

/** What the sites need from the harness. */
export interface SiteHost {
  readonly net: NetworkModel;
  /** the harness's random source (loss draws, as on the plain underlay) */
  readonly rng: Rng;
  now(): number;
  /** the node whose own endpoint this is (public, or private behind a NAT) */
  indexOf(endpoint: string): number | undefined;
  /** node `to` receives `d` from `from` at time `at` */
  deliver(at: number, to: number, from: string, d: Datagram): void;
  at(time: number, fn: () => void): void;
  drop(code: string, d?: Datagram, to?: string): void;
}

/** one-way delay between two hosts of one site (LAN and hairpin), ms */
export const LAN_ONE_WAY_MS = 0.5;
export const PRIVATE_PORT = 4500;

/** The public IP of a site's NAT box (sites above 255, as large simulations need, in 13.0.0.0/8). */
export function natPublicIp(site: number): string { return site < 256 ? `12.${site}.0.1` : `13.${site >> 8}.${site & 255}.1`; }
/** The private endpoint of node i behind the NAT of `site` (unique per node: above site 255 the port carries i's high bits). */
export function privateEndpointOf(site: number, i: number): string {
  return site < 256 ? `10.${site}.${(i >> 8) & 255}.${i & 255}:${PRIVATE_PORT}` : `100.${site >> 8}.${site & 255}.${i & 255}:${PRIVATE_PORT + (i >> 8)}`;
}

interface Site { box: NatBox; spec: NatSpec; members: number[] }

/**
 * Can two nodes behind these NATs (null: public) punch a direct path when both send at once? The classic
 * table (notes/nat.md §2.4): a public or full-cone side always; two cone-family sides; an
 * address-restricted side with a symmetric one (its filter admits the new port); not port-restricted or
 * symmetric with symmetric. Nodes of one site reach each other on their LAN. With port prediction
 * (NatClassifier.predicted: the node has seen 3 or more of its mappings) a sequential symmetric side punches a
 * port-restricted one too: the port-restricted side sends to the predicted ports first.
 */
export function canPunch(a: NatSpec | null, b: NatSpec | null): boolean {
  if (!a || !b || a.kind === 'full-cone' || b.kind === 'full-cone') return true;
  if (a.site === b.site) return true;
  const sym = (k: string): boolean => k.startsWith('symmetric');
  if (!sym(a.kind) && !sym(b.kind)) return true;
  if (sym(a.kind) && sym(b.kind)) return false;
  const [s, other] = sym(a.kind) ? [a.kind, b.kind] : [b.kind, a.kind];
  return other === 'address-restricted' || (s === 'symmetric-sequential' && other === 'port-restricted');
}

/**
 * The lab's `mixed` preset as NAT models, one entry per node (null: public): 2 public, 2 full-cone,
 * 2 port-restricted, 2 symmetric, 2 port-restricted sites firewalled from each other
 * (MIXED_FIREWALLED), 2 nodes behind one hairpinning NAT.
 */
export const MIXED_NATS: readonly (NatSpec | null)[] = [
  null, null,
  { site: 2, kind: 'full-cone' }, { site: 3, kind: 'full-cone' },
  { site: 4, kind: 'port-restricted' }, { site: 5, kind: 'port-restricted' },
  { site: 6, kind: 'symmetric' }, { site: 7, kind: 'symmetric' },
  { site: 8, kind: 'port-restricted' }, { site: 9, kind: 'port-restricted' },
  { site: 10, kind: 'port-restricted', hairpin: true }, { site: 10, kind: 'port-restricted', hairpin: true },
];
export const MIXED_FIREWALLED: readonly [number, number] = [8, 9];

export class NatSites {
  readonly sites = new Map<number, Site>();
  private readonly byPublicIp = new Map<string, { site: number; s: Site }>();
  /** node index -> site, -1 for a public node */
  private readonly siteOf: number[] = [];
  private readonly rng: Rng;

  constructor(private readonly specOf: (i: number) => NatSpec | null, seed: number, private readonly host: SiteHost) {
    // its own stream: boxes do not disturb the harness's draws (same seed, same keys as without NATs)
    this.rng = new Xoshiro128((seed ^ 0x4e415431) >>> 0);
  }

  /** Node i's private endpoint behind its NAT (what it binds and advertises); null for a public node. */
  privateEndpoint(i: number): string | null {
    const spec = this.specOf(i);
    if (!spec) return null;
    if (!Number.isInteger(spec.site) || spec.site < 0 || spec.site > 0xffff) throw errors.E_SIM(`NAT site must be 0-65535: ${spec.site}`);
    if (i > 0xffff) throw errors.E_SIM(`node ${i}: at most 65536 nodes behind NATs`);
    return privateEndpointOf(spec.site, i);
  }

  /** Place node i (called once, in index order, as the harness adds it); its private endpoint, null if public. */
  register(i: number): string | null {
    const spec = this.specOf(i);
    const ep = this.privateEndpoint(i);
    this.siteOf[i] = spec ? spec.site : -1;
    if (!spec) return null;
    let s = this.sites.get(spec.site);
    if (!s) {
      const { site, ...o } = spec;
      s = { box: new NatBox({ ...o, publicIp: natPublicIp(site) }, forkRng(this.rng)), spec, members: [] };
      this.sites.set(site, s);
      this.byPublicIp.set(natPublicIp(site), { site, s });
    } else if (s.spec.kind !== spec.kind) {
      throw errors.E_SIM(`NAT site ${spec.site}: node ${i} wants ${spec.kind}, the box is ${s.spec.kind}`);
    }
    s.members.push(i);
    return ep;
  }

  /** The site node i is behind, or null for a public node. */
  siteOfNode(i: number): number | null { const s = this.siteOf[i]; return s === undefined || s < 0 ? null : s; }
  box(site: number): NatBox | null { return this.sites.get(site)?.box ?? null; }

  /**
   * Node a sends `d` from its own endpoint `from` to `to`. A private destination is reached only from its
   * own site (the LAN). Otherwise the sender's NAT (if any) rewrites the source, the public network
   * carries it (latency, partitions, blocks, loss), and a NAT's public endpoint is translated on arrival:
   * the receiving box decides at arrival time, so packets crossing in flight punch holes as they would.
   */
  send(a: number, from: string, to: string, d: Datagram): void {
    const h = this.host, now = h.now();
    const sa = this.siteOf[a] ?? -1;
    const b0 = h.indexOf(to);
    if (b0 !== undefined && (this.siteOf[b0] ?? -1) >= 0) {
      if (this.siteOf[b0] !== sa) { h.drop('private_unreachable', d, to); return; }
      this.carry(a, b0, from, d, LAN_ONE_WAY_MS);
      return;
    }
    let src = from;
    if (sa >= 0) {
      const box = this.sites.get(sa)!.box;
      const pub = box.outbound(now, from, to);
      if (pub === null) { h.drop(`nat_${box.lastDrop}`, d, to); return; }
      src = pub;
    }
    const target = this.byPublicIp.get(hostOf(to));
    if (!target) {
      if (b0 === undefined) { h.drop('unknown_endpoint', d, to); return; }
      this.carry(a, b0, src, d, null);
      return;
    }
    // toward a NAT: latency and reachability to whom the port maps now (else the site's first host)
    const { site, s } = target;
    const guess = s.box.peek(to);
    const b = (guess !== null ? h.indexOf(guess) : undefined) ?? s.members[0]!;
    if (!h.net.reachable(a, b)) { h.drop('partition', d, to); return; }
    if (h.net.loss > 0 && h.rng.next() < h.net.loss) { h.drop('loss', d, to); return; }
    const delay = sa === site ? LAN_ONE_WAY_MS : h.net.oneWay(a, b);
    h.at(now + delay, () => {
      const priv = s.box.inbound(h.now(), to, src);
      if (priv === null) { h.drop(`nat_${s.box.lastDrop}`, d, to); return; }
      const c = h.indexOf(priv);
      if (c === undefined) { h.drop('unknown_endpoint', d, to); return; }
      if (c !== b && !h.net.reachable(a, c)) { h.drop('partition', d, to); return; }
      h.deliver(h.now(), c, src, d);
    });
  }

  /** Plain carriage from node a to node b, arriving from `src`: the one-way latency unless given. */
  private carry(a: number, b: number, src: string, d: Datagram, delay: number | null): void {
    const h = this.host;
    if (!h.net.reachable(a, b)) { h.drop('partition', d); return; }
    if (h.net.loss > 0 && h.rng.next() < h.net.loss) { h.drop('loss', d); return; }
    h.deliver(h.now() + (delay ?? h.net.oneWay(a, b)), b, src, d);
  }
}

function hostOf(endpoint: string): string {
  const i = endpoint.lastIndexOf(':');
  return i < 0 ? endpoint : endpoint.slice(0, i);
}
