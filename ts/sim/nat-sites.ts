// Owns the NAT sites of a VpnHarness: which node sits behind which NAT box, their private and public
// endpoints, and the underlay path of a datagram through the boxes (sender's NAT, public network, receiver's NAT).
// It must not touch nodes or engines: it decides whether, where and when a datagram arrives; the harness delivers it.
import { forkRng, Xoshiro128, type Rng } from '../core/rng.js';
import { errors } from '../base/errors.js';
import { NatBox, type NatOptions } from './nat.js';
import type { NetworkModel } from './network.js';
import type { Datagram } from './memory-engine.js';

/** Node i is behind the NAT box of `site` (0-255); nodes naming one site share its box (the first one's options). */
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
  drop(code: string): void;
}

/** one-way delay between two hosts of one site (LAN and hairpin), ms */
export const LAN_ONE_WAY_MS = 0.5;
export const PRIVATE_PORT = 4500;

/** The public IP of a site's NAT box. */
export function natPublicIp(site: number): string { return `12.${site}.0.1`; }
/** The private endpoint of node i behind the NAT of `site`. */
export function privateEndpointOf(site: number, i: number): string { return `10.${site}.${(i >> 8) & 255}.${i & 255}:${PRIVATE_PORT}`; }

interface Site { box: NatBox; spec: NatSpec; members: number[] }

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
    if (!Number.isInteger(spec.site) || spec.site < 0 || spec.site > 255) throw errors.E_SIM(`NAT site must be 0-255: ${spec.site}`);
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
      if (this.siteOf[b0] !== sa) { h.drop('private_unreachable'); return; }
      this.carry(a, b0, from, d, LAN_ONE_WAY_MS);
      return;
    }
    let src = from;
    if (sa >= 0) {
      const box = this.sites.get(sa)!.box;
      const pub = box.outbound(now, from, to);
      if (pub === null) { h.drop(`nat_${box.lastDrop}`); return; }
      src = pub;
    }
    const target = this.byPublicIp.get(hostOf(to));
    if (!target) {
      if (b0 === undefined) { h.drop('unknown_endpoint'); return; }
      this.carry(a, b0, src, d, null);
      return;
    }
    // toward a NAT: latency and reachability to whom the port maps now (else the site's first host)
    const { site, s } = target;
    const guess = s.box.peek(to);
    const b = (guess !== null ? h.indexOf(guess) : undefined) ?? s.members[0]!;
    if (!h.net.reachable(a, b)) { h.drop('partition'); return; }
    if (h.net.loss > 0 && h.rng.next() < h.net.loss) { h.drop('loss'); return; }
    const delay = sa === site ? LAN_ONE_WAY_MS : h.net.oneWay(a, b);
    h.at(now + delay, () => {
      const priv = s.box.inbound(h.now(), to, src);
      if (priv === null) { h.drop(`nat_${s.box.lastDrop}`); return; }
      const c = h.indexOf(priv);
      if (c === undefined) { h.drop('unknown_endpoint'); return; }
      if (c !== b && !h.net.reachable(a, c)) { h.drop('partition'); return; }
      h.deliver(h.now(), c, src, d);
    });
  }

  /** Plain carriage from node a to node b, arriving from `src`: the one-way latency unless given. */
  private carry(a: number, b: number, src: string, d: Datagram, delay: number | null): void {
    const h = this.host;
    if (!h.net.reachable(a, b)) { h.drop('partition'); return; }
    if (h.net.loss > 0 && h.rng.next() < h.net.loss) { h.drop('loss'); return; }
    h.deliver(h.now() + (delay ?? h.net.oneWay(a, b)), b, src, d);
  }
}

function hostOf(endpoint: string): string {
  const i = endpoint.lastIndexOf(':');
  return i < 0 ? endpoint : endpoint.slice(0, i);
}
