// Owns the virtual LAN of one node: its address and name in the DHT, the address -> node resolver
// (cached, negative answers briefly), announced subnets (router mode), and turning data-plane misses
// into routes (overlay hop first, on-demand link next). Sans-IO: time comes with each call and DHT
// answers arrive as callbacks. It must not parse packets (DHCP and DNS live in ts/vpn) nor decide
// overlay topology.
import { type Cidr, cidrContains, parseCidr } from '../base/ip.js';
import { idShort, type NodeId } from '../base/nodeid.js';
import type { Logger } from '../base/log.js';
import { bytes, dhtKeys, serviceAddress, text } from '../vpn/addressing.js';
import { claimAddress, lookupAddress, lookupHost, type NodeDht } from './address-claim.js';
import type { Counters, Outbox } from './io.js';

const POSITIVE_MS = 60_000;
const NEGATIVE_MS = 5_000;
/** the routes record is re-read this often as a safety net: an announcement is broadcast (routesChanged) */
const ROUTES_REFRESH_MS = 300_000;
/** after a broadcast announcement, members read the record within this spread (by node id), not all at once */
const ROUTES_NUDGE_SPREAD_MS = 2_048;
/** a router's ROUTES broadcast is repeated this long after its first (a just-joined node's broadcast may miss members) */
const ANNOUNCE_AGAIN_MS = [5_000, 30_000];
const CLAIM_RETRY_MS = 2_000;
const TAKEN_RETRY_MS = 30_000;
const LEARN_RETRY_MS = 5_000;

export interface LanOptions {
  net: string;
  subnet: string;
  domain: string;
  name: string | null;
  fixed?: string | undefined;
  routes: string[];
  leaseMs: number;
  /** our static public key (the value of our address record) */
  key: Uint8Array;
  /** the OS takes the address by DHCP (false: the engine assigns it) */
  dhcp: boolean;
}

/** What the LAN asks of the node it runs on (the VpnNode implements it). */
export interface LanHost {
  readonly self: NodeId;
  joined(): boolean;
  /**
   * install/replace a data route to a node (its address and subnets) with an overlay hop meanwhile;
   * `initiate`: a packet waits for it, so start a handshake if there is no session (an idle route costs nothing)
   */
  route(node: NodeId, allowed: string[], via: NodeId | null, key: Uint8Array | undefined, initiate: boolean): void;
  unroute(node: NodeId): void;
  /** keep or make an on-demand link to the node */
  noteTraffic(node: NodeId): void;
  /** the overlay neighbour closest to the node (greedy next hop), null when directly linked or alone */
  nextHop(node: NodeId): NodeId | null;
  /** a private group: addresses and subnets come from certificates, not the DHT (and a lone DHT answer short of a majority is used: lookupAddress) */
  readonly privateGroup: boolean;
  /** group PKI: what a node's certificate (proved in its handshake) allows it */
  certified(node: NodeId): { address: string; subnets: string[] } | null;
  /** tell every member that our announced subnets changed (a ROUTES broadcast) */
  announceRoutes(): void;
}

interface Known { ip: string | null; key?: Uint8Array | undefined }
type Resolved = { node: NodeId; key: Uint8Array } | null;

export class LanResolver {
  readonly subnet: Cidr;
  readonly service: string;
  address: string | null = null;
  private t = 0;
  private readonly cache = new Map<string, { r: Resolved; until: number }>();
  private readonly inflight = new Map<string, ((r: Resolved) => void)[]>();
  private readonly known = new Map<NodeId, Known>();
  private announced: { cidr: Cidr; text: string; owner: NodeId }[] = [];
  private routesAt = 0;
  private routesBusy = false;
  private claimAt = 0;
  private claiming = false;
  /** when our ROUTES broadcast is repeated after the first one */
  private announceAgain: number[] = [];
  /** the subnets we announce (router mode): the config's, changed by a reload */
  private routesOwn: string[];

  constructor(private readonly o: LanOptions, private readonly h: LanHost, private readonly dht: NodeDht, private readonly out: Outbox, private readonly counters: Counters, private readonly log: Logger) {
    const subnet = parseCidr(o.subnet);
    if (!subnet) throw new TypeError(`bad subnet ${o.subnet}`);
    this.subnet = subnet;
    this.service = serviceAddress(this.subnet);
    this.routesOwn = [...o.routes];
  }

  at(now: number): this { this.t = now; return this; }
  private count(k: string): void { this.counters.add('lan_' + k); }

  /** Heartbeat: claim the address once the overlay is joined, refresh announced subnets, expire the cache. */
  tick(): void {
    const now = this.t;
    if (!this.address && !this.claiming && this.h.joined() && now >= this.claimAt) this.claim();
    if (this.address && !this.routesBusy && now >= this.routesAt) { this.routesAt = now + ROUTES_REFRESH_MS; this.refreshRoutes(); }
    for (const [ip, e] of this.cache) if (now >= e.until) this.cache.delete(ip);
    if (this.announceAgain.length && now >= this.announceAgain[0]!) { this.announceAgain.shift(); this.h.announceRoutes(); this.count('routes_announced_again'); }
  }

  private claim(): void {
    this.claiming = true;
    const t0 = this.t;
    claimAddress(this.dht, {
      net: this.o.net, subnet: this.subnet, self: this.h.self, key: this.o.key, leaseMs: this.o.leaseMs, fixed: this.o.fixed,
      progress: (msg, d) => this.log.info(d, msg),
    }, (r) => {
      this.claiming = false;
      if (!r.ok) {
        this.log.warn({ code: r.code, err: r.message }, 'address claim failed; retrying');
        this.count('claim_' + r.code);
        this.claimAt = this.t + (r.code === 'E_ADDRESS_TAKEN' ? TAKEN_RETRY_MS : CLAIM_RETRY_MS);
        if (r.code === 'E_ADDRESS_TAKEN') this.out.event({ type: 'error', code: r.code, message: r.message });
        return;
      }
      this.address = r.address;
      this.log.info({ address: r.address, ms: Math.round(this.t - t0) }, 'address claimed in the DHT');
      this.out.cmd({ cmd: 'setAddress', cidr: `${r.address}/${this.subnet.prefix}`, assign: !this.o.dhcp });
      this.out.event({ type: 'address', address: r.address, prefix: this.subnet.prefix });
      const name = this.o.name;
      if (name) {
        this.dht.create(dhtKeys.name(this.o.net, name), bytes(r.address), this.o.leaseMs, (x) => {
          if (!x.ok) this.log.warn({ name, code: x.code }, x.code === 'exists' ? 'DNS name is held by another node' : 'DNS name not registered');
        });
      }
      this.announce(this.routesOwn);
      this.routesAt = 0;
    });
  }

  /**
   * Change our entries in the DHT's routes record (`put` joins, `remove` leaves), then tell every member
   * once with a ROUTES broadcast, said twice more later (a node that just joined may not reach everyone
   * with its first). A failed removal still tells them: the entry lapses with its lease.
   */
  private announce(put: string[], remove: string[] = []): void {
    let pending = put.length + remove.length, changed = false;
    const done = (ok: boolean): void => {
      changed ||= ok;
      if (--pending > 0 || !changed) return;
      this.h.announceRoutes();
      this.announceAgain = ANNOUNCE_AGAIN_MS.map((d) => this.t + d);
    };
    const key = dhtKeys.routes(this.o.net);
    for (const route of put) {
      this.dht.put(key, bytes(route), this.o.leaseMs, (x) => {
        if (!x.ok) this.log.warn({ route, code: x.code }, 'route not announced');
        done(x.ok);
      });
    }
    for (const route of remove) {
      this.dht.remove(key, bytes(route), (x) => {
        if (!x.ok) this.log.warn({ route, code: x.code }, 'withdrawn route not removed from the DHT (it lapses with its lease)');
        done(true);
      });
    }
  }

  /**
   * The subnets we announce changed (a reload): withdrawn ones leave the DHT's routes record, new ones
   * join it, and every member is told. Before our address is claimed the claim announces the new list.
   */
  setRoutes(routes: string[]): { added: string[]; removed: string[] } {
    const old = this.routesOwn;
    const added = routes.filter((r) => !old.includes(r)), removed = old.filter((r) => !routes.includes(r));
    this.routesOwn = [...routes];
    if (!this.address || (!added.length && !removed.length)) return { added, removed };
    this.announce(added, removed);
    this.count('routes_changed');
    return { added, removed };
  }

  /** A member announced subnets (ROUTES broadcast): read the record soon, spread by our id. */
  routesChanged(): void {
    if (!this.address) return; // the claim reads the record anyway
    this.routesAt = Math.min(this.routesAt, this.t + Number(this.h.self % BigInt(ROUTES_NUDGE_SPREAD_MS)));
  }

  private refreshRoutes(): void {
    this.routesBusy = true;
    this.dht.get(dhtKeys.routes(this.o.net), (r) => {
      this.routesBusy = false;
      if (!r.ok) { this.routesAt = this.t + LEARN_RETRY_MS; return; }
      const next: typeof this.announced = [];
      for (const v of r.values) {
        const c = parseCidr(text(v.value));
        if (!c || v.owner === this.h.self) continue;
        if (cidrContains(this.subnet, c.address)) { this.count('route_inside_subnet'); continue; }
        next.push({ cidr: c, text: text(v.value), owner: v.owner });
      }
      next.sort((a, b) => b.cidr.prefix - a.cidr.prefix);
      const changed = next.map((x) => x.text + x.owner).join() !== this.announced.map((x) => x.text + x.owner).join();
      // a router that withdrew a subnet (or all of them) has its data route narrowed too
      const owners = new Set([...this.announced, ...next].map((x) => x.owner));
      this.announced = next;
      if (changed) this.out.event({ type: 'routes', routes: this.dhcpRoutes() });
      for (const owner of owners) this.install(owner);
    });
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
      if (r) { this.install(r.owner, true); this.h.noteTraffic(r.owner); } else this.count('miss_outside');
      return;
    }
    this.reach(ip);
  }

  /** Make a data route to the holder of `ip` (in the subnet) and start its session: a packet waits for it, or a gateway is wanted. */
  reach(ip: string): void {
    this.resolve(ip, (r) => {
      if (!r) { this.count('miss_unknown'); return; }
      const cert = this.h.privateGroup ? this.h.certified(r.node) : null;
      if (cert && cert.address !== ip) { this.count('cert_address_mismatch'); return; }
      this.learn(r.node, ip, r.key, true);
      this.h.noteTraffic(r.node);
    });
  }

  /** A linked peer sent from an address we have not learned: install it if the DHT agrees (open network). */
  onSourceUnknown(node: NodeId, ip: string): void {
    if (this.h.privateGroup) { this.count('source_not_certified'); return; }
    this.verify(node, ip, (ok) => { if (!ok) this.count('source_refused'); });
  }

  /**
   * A session with a node is up. In a private group its certificate says what it may use, so the route
   * exists at once. In an open network an overlay link costs no DHT traffic: its address is learned when
   * its first packet arrives (source_unknown; the engine holds that packet meanwhile) or when we send to
   * it (miss). A session made for data (end to end, not an overlay link) is learned at once, so the
   * route usually exists before the peer's first packet arrives.
   */
  onSession(node: NodeId, forData: boolean): void {
    if (this.h.privateGroup) {
      const c = this.h.certified(node);
      if (!c) { this.count('session_without_certificate'); return; }
      const k = this.known.get(node);
      this.known.set(node, { ip: c.address, key: k?.key });
      this.install(node);
      return;
    }
    if (this.known.get(node)?.ip) { this.install(node); return; }
    if (forData) this.learnPeer(node);
  }

  private learnPeer(node: NodeId): void {
    lookupHost(this.dht, this.o.net, node, (ip) => {
      if (!ip) { this.count('peer_address_unknown'); return; }
      this.verify(node, ip, (ok) => { if (!ok) this.count('peer_address_refused'); });
    });
  }

  /** Look up `ip` -> node and its key, cached (negative answers briefly); concurrent asks share one lookup. */
  resolve(ip: string, cb: (r: Resolved) => void): void {
    const c = this.cache.get(ip);
    if (c && this.t < c.until) { cb(c.r); return; }
    const waiting = this.inflight.get(ip);
    if (waiting) { waiting.push(cb); return; }
    this.inflight.set(ip, [cb]);
    lookupAddress(this.dht, this.o.net, ip, this.h.privateGroup, (r) => {
      const cbs = this.inflight.get(ip) ?? [];
      this.inflight.delete(ip);
      this.cache.set(ip, { r, until: this.t + (r ? POSITIVE_MS : NEGATIVE_MS) });
      this.count(r ? 'resolve_ok' : 'resolve_none');
      for (const f of cbs) f(r);
    });
  }

  /** Name -> address for DNS (our own name at once, others from the DHT). */
  lookupName(name: string, cb: (ip: string | null) => void): void {
    if (this.o.name && name.toLowerCase() === this.o.name.toLowerCase()) { cb(this.address); return; }
    this.dht.get(dhtKeys.name(this.o.net, name), (r) => {
      const v = r.ok ? r.agreed[0] : undefined;
      cb(v ? text(v.value) : null);
    });
  }

  /** Address -> name for reverse DNS: only our own (names are keyed by name). */
  reverseName(ip: string): string | null {
    return ip === this.address && this.o.name ? this.o.name : null;
  }

  private verify(node: NodeId, ip: string, cb: (ok: boolean) => void): void {
    if (!cidrContains(this.subnet, ip)) {
      // outside the virtual LAN: only a subnet this node announced may carry its packets
      if (!this.announced.some((a) => a.owner === node && cidrContains(a.cidr, ip))) { cb(false); return; }
      this.install(node);
      cb(true);
      return;
    }
    this.resolve(ip, (holder) => {
      if (holder?.node !== node) { cb(false); return; }
      this.learn(node, ip, holder.key);
      cb(true);
    });
  }

  private learn(node: NodeId, ip: string, key: Uint8Array | undefined, initiate = false): void {
    const k = this.known.get(node);
    if (k?.ip === ip) { if (key && !k.key) k.key = key; this.install(node, initiate); return; }
    // an address moved to another node: the old holder loses it
    for (const [other, o] of this.known) if (other !== node && o.ip === ip) { o.ip = null; this.install(other); }
    this.known.set(node, { ip, key: key ?? k?.key });
    this.install(node, initiate);
  }

  private install(node: NodeId, initiate = false): void {
    const k = this.known.get(node);
    const cert = this.h.privateGroup ? this.h.certified(node) : null;
    // in a private group a router's subnets count only when its certificate names them
    const subnets = this.announced.filter((a) => a.owner === node && (!this.h.privateGroup || (cert?.subnets.includes(a.text) ?? false))).map((a) => a.text);
    const allowed = [...(k?.ip ? [`${k.ip}/32`] : []), ...subnets];
    if (!allowed.length) { this.h.unroute(node); this.known.delete(node); return; }
    this.h.route(node, allowed, this.h.nextHop(node), k?.key, initiate);
  }

  /** Forget a node (revoked). */
  forget(node: NodeId): void {
    this.known.delete(node);
    for (const [ip, c] of this.cache) if (c.r?.node === node) this.cache.delete(ip);
  }

  /** Refresh overlay hops of every data route (the ring changed). */
  rehop(): void {
    for (const node of this.known.keys()) this.install(node);
  }

  /** A packet waits for a node without a session: refresh its route and hop and handshake; false if it has none. */
  rehopNode(node: NodeId): boolean {
    if (!this.known.has(node)) return false;
    this.install(node, true);
    return true;
  }

  /** The address a node holds: known here, or its host record in the DHT (null: none). */
  hostOf(node: NodeId, cb: (ip: string | null) => void): void {
    const k = this.known.get(node)?.ip;
    if (k) { cb(k); return; }
    if (node === this.h.self) { cb(this.address); return; }
    lookupHost(this.dht, this.o.net, node, cb);
  }

  /** The address a node is known to hold here (tests, status). */
  addressOf(node: NodeId): string | null { return this.known.get(node)?.ip ?? null; }

  status(): Record<string, unknown> {
    return {
      address: this.address, subnet: `${this.subnet.address}/${this.subnet.prefix}`, service: this.service,
      name: this.o.name, domain: this.o.domain, routesAnnounced: this.routesOwn, routes: this.routes(),
      known: [...this.known].map(([id, k]) => ({ nodeId: idShort(id), address: k.ip })),
    };
  }
}
