// Owns a daemon's overlays over one engine (paper §4.4, docs/private-overlays.md): the public VpnNode and
// one private VpnNode per group, all the same node id and key. It splits the data plane's inputs among them
// (initiations by realm tag, responses and cookie replies by receiver index, probe answers by token, peer
// events by peer id range, misses by subnet), lends each group the public overlay (Carrier) and runs each
// group's discovery in the public DHT. Sans-IO like VpnNode; it must not decide links, routes or admission.
import { cidrContains, parseCidr, type Cidr } from '../base/ip.js';
import { errors } from '../base/errors.js';
import type { NodeId } from '../base/nodeid.js';
import type { Params } from '../core/params.js';
import { FRAME_TYPE_COOKIE, FRAME_TYPE_HANDSHAKE_INIT, FRAME_TYPE_HANDSHAKE_RESP, FRAME_TYPE_PROBE } from '../wire/frame-types.js';
import { decodeProbe } from '../wire/probe.js';
import { realmTagOf } from '../handshake/frames.js';
import type { NodeDht } from './address-claim.js';
import type { GroupPolicy } from './group.js';
import { DEFAULT_DISCOVERY, GroupDiscovery, type DiscoveryOptions } from './group-discovery.js';
import type { Carrier } from './link-peer.js';
import type { LanOptions } from './lan-resolver.js';
import { Counters, type EngineCommand, type NodeEvent, type NodeInput, type TrafficSample } from './io.js';
import { VpnNode, type VpnNodeOptions } from './vpn-node.js';

/** Engine peer ids of overlay k (0: public, k >= 1: the k-th group) lie in [k * SPAN, (k + 1) * SPAN). */
export const REALM_PEER_SPAN = 2 ** 24;
/** a daemon holds at most this many groups (peer ids stay below 2^31) */
export const MAX_GROUPS = 100;
/** a public endpoint of a member (linked, or heard from this recently) is the private overlay's path too (the shared socket) */
const CARRIER_FRESH_MS = 25_000;

export interface GroupRealmOptions {
  /** the group's realm (ts/pki/realm.ts: a hash of its CA certificate) */
  realm: Uint8Array;
  group: GroupPolicy;
  lan: Omit<LanOptions, 'key'>;
  params?: Partial<Params>;
  discovery?: Partial<DiscoveryOptions>;
}

/** An event of one overlay: realm 0 is the public one, k the k-th group. */
export type RealmEvent = NodeEvent & { realm: number };

export interface GroupRealm {
  /** 1-based, the engine peer id range and the event tag */
  readonly index: number;
  readonly tag: number;
  readonly realm: Uint8Array;
  readonly node: VpnNode;
  readonly discovery: GroupDiscovery;
  readonly subnet: Cidr;
}

/** The realm tag of a realm: its first three bytes (frames.ts). */
export function realmTag(realm: Uint8Array): number {
  return (realm[0]! << 16) | (realm[1]! << 8) | realm[2]!;
}

export class Realms {
  readonly public: VpnNode;
  readonly groups: GroupRealm[] = [];
  readonly counters = new Counters();
  private now = 0;

  constructor(pub: VpnNodeOptions, groups: GroupRealmOptions[]) {
    if (!pub.overlay) throw errors.E_CONFIG('private groups need the public overlay (an overlay section)');
    if (groups.length > MAX_GROUPS) throw errors.E_CONFIG(`at most ${MAX_GROUPS} groups per daemon`);
    const taken = (own: VpnNode | null) => (i: number): boolean => (own !== this.public && this.public?.links.handshaker.ownsIndex(i)) || this.groups.some((g) => g.node !== own && g.node.links.handshaker.ownsIndex(i));
    this.public = new VpnNode({ ...pub, indexTaken: (i) => taken(this.public)(i), realmFrame: (b, src) => this.realmFrame(b, src) });
    const seen = new Map<number, number>();
    groups.forEach((g, k) => {
      const tag = realmTag(g.realm);
      const subnet = parseCidr(g.lan.subnet);
      if (!subnet) throw errors.E_CONFIG(`group ${k + 1}: subnet ${g.lan.subnet} is not a CIDR`);
      if (tag === 0 || seen.has(tag)) throw errors.E_CONFIG(`group ${k + 1}: its realm tag ${tag.toString(16)} is ${tag === 0 ? 'the public overlay\'s' : `group ${seen.get(tag)}'s too`} (a new group CA gives another)`);
      seen.set(tag, k + 1);
      for (const o of this.groups) {
        if (cidrContains(o.subnet, g.lan.subnet.split('/')[0]!) || cidrContains(subnet, o.node.o.lan!.subnet.split('/')[0]!)) throw errors.E_CONFIG(`group ${k + 1}: subnet ${g.lan.subnet} overlaps group ${o.index}'s ${o.node.o.lan!.subnet} (the groups share one device)`);
      }
      const index = k + 1;
      let node: VpnNode | null = null;
      let discovery: GroupDiscovery | null = null;
      const carrier: Carrier = {
        realm: tag,
        peerIdBase: index * REALM_PEER_SPAN,
        keyOf: (id) => discovery?.keys.get(id) ?? this.public.links.peerOf(id)?.key ?? null,
        path: (id) => this.path(id),
        endpoints: () => this.public.advertised.toward([]),
        send: (id, bytes) => this.public.carryFrame(this.now, id, bytes),
      };
      node = new VpnNode({
        keys: pub.keys, random: pub.random, seed: (pub.seed + index * 0x9e3779b1) >>> 0, wallOffsetMs: pub.wallOffsetMs, log: pub.log,
        overlay: { bootstrap: [], endpoints: [...pub.overlay!.endpoints], params: { ...pub.overlay!.params, ...g.params } },
        lan: g.lan, group: g.group, carrier, indexTaken: (i) => taken(node)(i),
        // its DHT records (address, name) go where the group's ring will keep them: once discovery read the
        // members and the ring has its neighbours (or nobody else is there yet)
        ringReady: () => discovery !== null && discovery.ready(),
      });
      const own = node;
      const dht = this.publicDht(own.counters);
      const settled = (): boolean => { const n = own.overlay!.ringNeighbours(); return n.left1 !== undefined && n.right1 !== undefined; };
      discovery = new GroupDiscovery(g.realm, own.self, pub.keys.publicKey, {
        dht,
        joined: () => this.public.joined(),
        settled,
        linked: (m) => own.links.peerOf(m)?.linked ?? false,
        link: (m) => own.linkMember(this.now, m),
      }, own.counters, { ...DEFAULT_DISCOVERY, ...g.discovery });
      this.groups.push({ index, tag, realm: g.realm, node: own, discovery, subnet });
    });
  }

  // ================================================================== inputs (as VpnNode's)
  tick(now: number): void {
    this.now = now;
    // discovery first: its DHT requests leave with the public node's heartbeat
    for (const g of this.groups) g.discovery.at(now).tick();
    this.public.tick(now);
    for (const g of this.groups) g.node.tick(now);
  }

  handle(now: number, i: NodeInput): void {
    this.now = now;
    if (i.kind === 'traffic') { this.traffic(now, i.peers, i.relay); return; }
    const to = this.owner(i);
    if (to) to.handle(now, i);
  }

  /** Every overlay's engine commands, in order per overlay (their peers are disjoint). */
  pollCommands(): EngineCommand[] {
    const out = this.public.pollCommands();
    for (const g of this.groups) {
      // a group's address belongs to the device's OS (the driver adds it from the 'address' event); the
      // engine keeps the public overlay's
      for (const c of g.node.pollCommands()) if (c.cmd !== 'setAddress') out.push(c);
    }
    return out;
  }

  pollEvents(): RealmEvent[] {
    const out: RealmEvent[] = this.public.pollEvents().map((e) => ({ ...e, realm: 0 }));
    for (const g of this.groups) {
      for (const e of g.node.pollEvents()) {
        // the private ring lost a link: read the members again at the next tick (Brunet's DhtDiscovery on a lost neighbour)
        if (e.type === 'peer-down') g.discovery.soon();
        out.push({ ...e, realm: g.index });
      }
    }
    return out;
  }

  /** The overlay of realm index k (0: public). */
  overlayOf(k: number): VpnNode | null { return k === 0 ? this.public : this.groups[k - 1]?.node ?? null; }

  status(engine?: { peers: { peerId: number }[] }): Record<string, unknown> {
    const mine = (k: number) => engine ? { peers: engine.peers.filter((p) => Math.floor(p.peerId / REALM_PEER_SPAN) === k) } : undefined;
    return {
      ...this.public.status(mine(0)),
      realms: { counters: this.counters.values },
      groups: this.groups.map((g) => ({
        index: g.index, realm: Buffer.from(g.realm).toString('hex'), tag: g.tag.toString(16).padStart(6, '0'),
        discovery: g.discovery.status(), ...g.node.status(mine(g.index)),
      })),
    };
  }

  // ================================================================== dispatch
  private owner(i: Exclude<NodeInput, { kind: 'traffic' }>): VpnNode | null {
    switch (i.kind) {
      case 'handshake': return this.frameOwner(i.data);
      case 'control': case 'need_session': case 'rekey': case 'endpoint': return this.byPeer(i.peerId);
      case 'miss': return this.bySubnet(i.dst);
      case 'source_unknown': return this.bySubnet(i.src);
      case 'send_failed': return this.public;
    }
  }

  private byPeer(peerId: number): VpnNode | null {
    const k = Math.floor(peerId / REALM_PEER_SPAN);
    const n = this.overlayOf(k);
    if (!n) this.counters.add('realm_unknown_peer');
    return n;
  }

  private bySubnet(ip: string): VpnNode {
    for (const g of this.groups) if (cidrContains(g.subnet, ip)) return g.node;
    return this.public;
  }

  /** Who a handshake-class datagram is for: the realm tag of an initiation, the receiver index of a response or cookie reply, the token of a probe answer. */
  private frameOwner(b: Uint8Array): VpnNode | null {
    const type = b[0];
    if (type === FRAME_TYPE_HANDSHAKE_INIT) {
      const tag = realmTagOf(b);
      if (tag === null || tag === 0) return this.public;
      const g = this.groups.find((x) => x.tag === tag);
      if (!g) this.counters.add('realm_unknown_tag');
      return g?.node ?? null;
    }
    if (type === FRAME_TYPE_HANDSHAKE_RESP || type === FRAME_TYPE_COOKIE) {
      const off = type === FRAME_TYPE_HANDSHAKE_RESP ? 8 : 4;
      if (b.length < off + 4) return this.public;
      const receiver = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(off, true);
      return this.groups.find((g) => g.node.links.handshaker.ownsIndex(receiver))?.node ?? this.public;
    }
    if (type === FRAME_TYPE_PROBE) {
      const d = decodeProbe(b);
      if (d.ok && d.value.kind === 'reply') { const token = d.value.token; return this.groups.find((g) => g.node.links.awaitsProbe(token))?.node ?? this.public; }
    }
    return this.public;
  }

  /** A handshake frame the public overlay carried: a group's (true, handed over or dropped) or the public overlay's own. */
  private realmFrame(b: Uint8Array, src: NodeId): boolean {
    const owner = this.frameOwner(b);
    if (owner === this.public) return false;
    if (owner) owner.overlayFrame(this.now, b, src);
    return true;
  }

  private traffic(now: number, peers: TrafficSample[], relay?: { pairs: number; max: number }): void {
    const parts = new Map<number, TrafficSample[]>();
    for (const s of peers) {
      const k = Math.floor(s.peerId / REALM_PEER_SPAN);
      let l = parts.get(k);
      if (!l) parts.set(k, (l = []));
      l.push(s);
    }
    this.public.handle(now, { kind: 'traffic', peers: parts.get(0) ?? [], ...(relay ? { relay } : {}) });
    for (const g of this.groups) g.node.handle(now, { kind: 'traffic', peers: parts.get(g.index) ?? [] });
  }

  /** The public overlay's path to a node, lent to the groups (Carrier.path). */
  private path(id: NodeId): { endpoint: string | null; hop: number | null } {
    const pub = this.public;
    const p = pub.links.peerOf(id);
    if (p?.established && p.endpoint && p.relay === null && (p.linked || (p.lastRx !== null && this.now - p.lastRx < CARRIER_FRESH_MS))) return { endpoint: p.endpoint, hop: null };
    if (p?.established && p.relay !== null) return { endpoint: null, hop: p.relay };
    const hop = pub.nextHop(id);
    return { endpoint: null, hop: hop === null ? null : pub.links.peerOf(hop)?.peerId ?? null };
  }

  /** The public DHT as one group's discovery uses it (its operations counted in the group's counters). */
  private publicDht(c: Counters): NodeDht {
    const d = this.public.nodeDht(() => this.now)!;
    return { ...d, put: (k, v, ttl, cb) => { c.add('discovery_dht_put'); d.put(k, v, ttl, cb); }, get: (k, cb) => { c.add('discovery_dht_get'); d.get(k, cb); } };
  }
}
