// Owns the virtual LAN of one node: its address and name in the DHT, the address -> node resolver
// (cached, negative answers briefly), announced subnets (router mode), and turning data-plane misses
// into routes (overlay hop first, on-demand link next). It must not parse packets (ts/vpn/service.ts
// answers DHCP and DNS) nor decide overlay topology.
import { type Cidr, cidrContains, parseCidr } from '../config/schema.js';
import { idShort, type NodeId } from '../core/nodeid.js';
import type { Logger } from '../runtime/log.js';
import { claimAddress, dhtKeys, lookupAddress, lookupHost, serviceAddress, bytes, text, type Dht } from './addressing.js';

const POSITIVE_MS = 60_000;
const NEGATIVE_MS = 5_000;
const ROUTES_REFRESH_MS = 30_000;
const CLAIM_RETRY_MS = 2_000;

export interface LanOptions {
  net: string;
  subnet: string;
  domain: string;
  name: string | null;
  fixed?: string;
  routes: string[];
  leaseMs: number;
  /** our static public key (the value of our address record) */
  key: Uint8Array;
}

/** What the LAN needs from the node it runs on. */
export interface LanHost {
  now(): number;
  readonly dht: Dht;
  readonly self: NodeId;
  /** overlay is joined (DHT operations reach their replicas) */
  joined(): boolean;
  /** install/replace a data route to a node (its address and subnets) with an overlay hop meanwhile */
  route(node: NodeId, allowed: string[], via: NodeId | null, key?: Uint8Array): void;
  unroute(node: NodeId): void;
  /** keep or make an on-demand link to the node */
  noteTraffic(node: NodeId): void;
  /** the overlay neighbour closest to the node (greedy next hop), null when directly linked or alone */
  nextHop(node: NodeId): NodeId | null;
  /** our address is known (or changed): tell the data plane and the DHCP server */
  addressReady(address: string, prefix: number): void;
  /** group PKI: what a node's certificate (proved in its handshake) allows it; undefined in an open network */
  certified?(node: NodeId): { address: string; subnets: string[] } | null;
  /** the announced subnets changed (the DHCP server hands them out as classless routes) */
  routesChanged?(routes: { cidr: string; gateway: string }[]): void;
}

interface Known { ip: string | null; key?: Uint8Array | undefined }
type Resolved = { node: NodeId; key: Uint8Array } | null;

export class VirtualLan {
  readonly subnet: Cidr;
  readonly service: string;
  address: string | null = null;
  readonly counters: Record<string, number> = {};
  private readonly cache = new Map<string, { r: Resolved; until: number }>();
  private readonly inflight = new Map<string, Promise<Resolved>>();
  private readonly known = new Map<NodeId, Known>();
  private announced: { cidr: Cidr; text: string; owner: NodeId }[] = [];
  private routesAt = 0;
  /** linked peers whose address we could not learn yet (their claim may still be running): retried */
  private readonly unlearned = new Map<NodeId, { tries: number; at: number }>();
  private claimAt = 0;
  private claiming = false;
  private stopped = false;

  constructor(private readonly o: LanOptions, private readonly h: LanHost, private readonly log: Logger) {
    this.subnet = parseCidr(o.subnet)!;
    this.service = serviceAddress(this.subnet);
  }

  private count(k: string): void { this.counters[k] = (this.counters[k] ?? 0) + 1; }

  stop(): void { this.stopped = true; }

  /** Heartbeat: claim the address once the overlay is joined, refresh announced subnets. */
  tick(): void {
    const now = this.h.now();
    if (!this.address && !this.claiming && this.h.joined() && now >= this.claimAt) void this.claim();
    if (this.address && now >= this.routesAt) { this.routesAt = now + ROUTES_REFRESH_MS; void this.refreshRoutes(); }
    for (const [ip, e] of this.cache) if (now >= e.until) this.cache.delete(ip);
    for (const [node, u] of this.unlearned) {
      if (now < u.at) continue;
      if (u.tries >= 12) { this.unlearned.delete(node); continue; }
      u.tries++; u.at = now + 5_000;
      this.learnPeer(node);
    }
  }

  private async claim(): Promise<void> {
    this.claiming = true;
    const t0 = this.h.now();
    try {
      const ip = await claimAddress(this.h.dht, {
        net: this.o.net, subnet: this.subnet, self: this.h.self, key: this.o.key, leaseMs: this.o.leaseMs, fixed: this.o.fixed,
        progress: (msg, d) => this.log.info(d, msg),
      });
      if (this.stopped) return;
      this.address = ip;
      this.log.info({ address: ip, ms: Math.round(this.h.now() - t0) }, 'address claimed in the DHT');
      this.h.addressReady(ip, this.subnet.prefix);
      if (this.o.name) {
        await this.h.dht.create(dhtKeys.name(this.o.net, this.o.name), bytes(ip), this.o.leaseMs).catch((e: Error & { code?: string }) =>
          this.log.warn({ name: this.o.name, code: e.code }, e.code === 'exists' ? 'DNS name is held by another node' : 'DNS name not registered'));
      }
      for (const r of this.o.routes) await this.h.dht.put(dhtKeys.routes(this.o.net), bytes(r), this.o.leaseMs).catch((e: Error) => this.log.warn({ route: r, err: e.message }, 'route not announced'));
      this.routesAt = 0;
    } catch (e) {
      const err = e as Error & { code?: string };
      this.log.warn({ code: err.code, err: err.message }, 'address claim failed; retrying');
      this.claimAt = this.h.now() + CLAIM_RETRY_MS;
      if (err.code === 'E_ADDRESS_TAKEN') this.claimAt = this.h.now() + 30_000;
    } finally {
      this.claiming = false;
    }
  }

  private async refreshRoutes(): Promise<void> {
    try {
      const r = await this.h.dht.get(dhtKeys.routes(this.o.net));
      const next: typeof this.announced = [];
      for (const v of r.values) {
        const c = parseCidr(text(v.value));
        if (!c || v.owner === this.h.self) continue;
        if (cidrContains(this.subnet, c.address)) { this.count('route_inside_subnet'); continue; }
        next.push({ cidr: c, text: text(v.value), owner: v.owner });
      }
      next.sort((a, b) => b.cidr.prefix - a.cidr.prefix);
      const changed = next.map((x) => x.text + x.owner).join() !== this.announced.map((x) => x.text + x.owner).join();
      this.announced = next;
      if (changed) this.h.routesChanged?.(this.dhcpRoutes());
      const owners = new Set(next.map((x) => x.owner));
      for (const owner of owners) this.install(owner);
    } catch (e) {
      this.log.debug({ err: (e as Error).message }, 'route refresh failed');
      this.routesAt = this.h.now() + 5_000;
    }
  }

  /** Every subnet announced by someone else, with its router. */
  routes(): { cidr: string; router: string }[] {
    return this.announced.map((a) => ({ cidr: a.text, router: idShort(a.owner) }));
  }

  /** Classless routes for the DHCP server: every announced subnet via the service address. */
  dhcpRoutes(): { cidr: string; gateway: string }[] {
    return this.announced.map((a) => ({ cidr: a.text, gateway: this.service }));
  }

  /** The data plane had a packet for `ip` and no route. */
  onMiss(ip: string): void {
    this.count('miss');
    if (ip === this.service || ip === this.address) return;
    if (!cidrContains(this.subnet, ip)) {
      const r = this.announced.find((a) => cidrContains(a.cidr, ip));
      if (r) { this.install(r.owner); this.h.noteTraffic(r.owner); } else this.count('miss_outside');
      return;
    }
    void this.resolve(ip).then((r) => {
      if (!r) { this.count('miss_unknown'); return; }
      const cert = this.h.certified?.(r.node);
      if (cert && cert.address !== ip) { this.count('cert_address_mismatch'); return; }
      this.learn(r.node, ip, r.key);
      this.h.noteTraffic(r.node);
    });
  }

  /** A linked peer sent from an address we have not learned: install it if the DHT agrees (open network). */
  onSourceUnknown(node: NodeId, ip: string): void {
    if (this.h.certified) { this.count('source_not_certified'); return; }
    void this.verify(node, ip).then((ok) => { if (!ok) this.count('source_refused'); });
  }

  /** A session with a node is up: in a private group its certificate says what it may use; else learn it from the DHT. */
  onSession(node: NodeId): void {
    if (this.h.certified) {
      const c = this.h.certified(node);
      if (!c) { this.count('session_without_certificate'); return; }
      const k = this.known.get(node);
      this.known.set(node, { ip: c.address, key: k?.key });
      this.install(node);
      return;
    }
    if (this.known.get(node)?.ip) { this.install(node); return; }
    if (!this.unlearned.has(node)) this.unlearned.set(node, { tries: 0, at: this.h.now() + 2_000 });
    this.learnPeer(node);
  }

  private learnPeer(node: NodeId): void {
    void lookupHost(this.h.dht, this.o.net, node).then((ip) => ip ? this.verify(node, ip) : false, () => false)
      .then((ok) => { if (ok) this.unlearned.delete(node); else this.count('peer_address_unknown'); });
  }

  /** Look up `ip` -> node and its key, cached (negative answers briefly). */
  resolve(ip: string): Promise<Resolved> {
    const now = this.h.now();
    const c = this.cache.get(ip);
    if (c && now < c.until) return Promise.resolve(c.r);
    const f = this.inflight.get(ip);
    if (f) return f;
    const p = lookupAddress(this.h.dht, this.o.net, ip)
      .catch(() => null)
      .then((r) => {
        this.inflight.delete(ip);
        this.cache.set(ip, { r, until: this.h.now() + (r ? POSITIVE_MS : NEGATIVE_MS) });
        this.count(r ? 'resolve_ok' : 'resolve_none');
        return r;
      });
    this.inflight.set(ip, p);
    return p;
  }

  /** Name -> address for DNS. */
  async lookupName(name: string): Promise<string | null> {
    if (this.o.name && name.toLowerCase() === this.o.name.toLowerCase()) return this.address;
    const r = await this.h.dht.get(dhtKeys.name(this.o.net, name)).catch(() => null);
    const v = r?.agreed[0];
    return v ? text(v.value) : null;
  }

  /** Address -> name for reverse DNS: only our own (names are keyed by name). */
  reverseName(ip: string): string | null {
    return ip === this.address && this.o.name ? this.o.name : null;
  }

  private async verify(node: NodeId, ip: string): Promise<boolean> {
    if (!cidrContains(this.subnet, ip)) {
      // outside the virtual LAN: only a subnet this node announced may carry its packets
      if (!this.announced.some((a) => a.owner === node && cidrContains(a.cidr, ip))) return false;
      this.install(node);
      return true;
    }
    const holder = await this.resolve(ip);
    if (holder?.node !== node) return false;
    this.learn(node, ip, holder.key);
    return true;
  }

  private learn(node: NodeId, ip: string, key?: Uint8Array): void {
    const k = this.known.get(node);
    if (k?.ip === ip) { if (key && !k.key) k.key = key; this.install(node); return; }
    // an address moved to another node: the old holder loses it
    for (const [other, o] of this.known) if (other !== node && o.ip === ip) { o.ip = null; this.install(other); }
    this.known.set(node, { ip, key: key ?? k?.key });
    this.install(node);
  }

  private install(node: NodeId): void {
    const k = this.known.get(node);
    const cert = this.h.certified?.(node);
    // in a private group a router's subnets count only when its certificate names them
    const subnets = this.announced.filter((a) => a.owner === node && (!this.h.certified || (cert?.subnets.includes(a.text) ?? false))).map((a) => a.text);
    const allowed = [...(k?.ip ? [`${k.ip}/32`] : []), ...subnets];
    if (!allowed.length) { this.h.unroute(node); this.known.delete(node); return; }
    this.h.route(node, allowed, this.h.nextHop(node), k?.key);
  }

  /** Forget a node (revoked). */
  forget(node: NodeId): void {
    this.known.delete(node);
    this.unlearned.delete(node);
    for (const [ip, c] of this.cache) if (c.r?.node === node) this.cache.delete(ip);
  }

  /** Refresh overlay hops of every data route (the ring changed). */
  rehop(): void {
    for (const node of this.known.keys()) this.install(node);
  }

  status(): Record<string, unknown> {
    return {
      address: this.address, subnet: `${this.subnet.address}/${this.subnet.prefix}`, service: this.service,
      name: this.o.name, domain: this.o.domain, routesAnnounced: this.o.routes, routes: this.routes(),
      known: [...this.known].map(([id, k]) => ({ nodeId: idShort(id), address: k.ip })),
      counters: this.counters,
    };
  }
}
