// Owns how the members of a private group find each other through the public overlay's DHT (paper §4.4,
// Brunet's DhtDiscovery): each member keeps a leased record under its group's realm key, reads the
// records of the members nearest to it on the ring, and asks for links to those it is not linked with.
// It must not link, send or verify anyone itself (the host does; a record proves nothing: the group's
// certificates in the handshake do), nor read a clock: `at(now)` brings the time.
import { ID_BITS, RING, nodeIdOfKey, type NodeId } from '../base/nodeid.js';
import { cwDist } from '../core/ring.js';
import { dhtKeys } from '../vpn/addressing.js';
import type { NodeDht } from './address-claim.js';
import type { Counters } from './io.js';

export interface DiscoveryOptions {
  /** Records are spread over this many keys by the top bits of the member's node id (a power of 2, 1..256):
   * a DHT key holds at most 32 values, so a group holds up to 32 x buckets members. */
  buckets: number;
  /** lease of a member's record (Brunet: 3600 s), renewed by the DHT at about half of it */
  leaseMs: number;
  /** read the records this often until the private ring has both neighbours (Brunet: 10 s) ... */
  joinPollMs: number;
  /** ... and this often afterwards, to merge a group that formed in separate parts (Brunet: 300 s) */
  steadyPollMs: number;
  /** a failed put is tried again after this long */
  retryMs: number;
  /** link to the nearest unlinked members up to this many positions on each side (Brunet: 2) */
  reach: number;
}

export const DEFAULT_DISCOVERY: DiscoveryOptions = { buckets: 16, leaseMs: 3_600_000, joinPollMs: 10_000, steadyPollMs: 300_000, retryMs: 5_000, reach: 2 };

/** What discovery needs from the node that runs it. */
export interface DiscoveryHost {
  /** the public overlay's DHT */
  readonly dht: NodeDht;
  /** whether the public overlay can reach the DHT now (joined) */
  joined(): boolean;
  /** whether the private ring has its left and right neighbours: then reads slow to the steady rate */
  settled(): boolean;
  /** whether the private overlay holds a link with this member now */
  linked(member: NodeId): boolean;
  /** ask the private overlay for a link to this member (its public node id, and the static key its record gave) */
  link(member: NodeId, key: Uint8Array): void;
  /** the node id of a static key (default: nodeIdOfKey; tests with synthetic ids give their own) */
  idOfKey?(key: Uint8Array): NodeId;
}

/** The bucket of a member's record: the top log2(buckets) bits of its node id (consecutive on the ring). */
export function bucketOf(id: NodeId, buckets: number): number {
  return buckets <= 1 ? 0 : Number(id >> BigInt(ID_BITS - Math.log2(buckets)));
}

/** The DHT key of one bucket of a group's member records (ts/vpn/addressing.ts owns the layout). */
export function discoveryKey(realm: Uint8Array, bucket: number): Uint8Array {
  return dhtKeys.privateGroup(Buffer.from(realm).toString('hex'), bucket);
}

/** A member record's value: a version byte, then the member's static key (so another member can handshake
 * with it at once); the owner, a public node id, is the DHT's and must be the key's hash. */
const RECORD_VERSION = 1;
export const RECORD_LEN = 1 + 32;

export function encodeRecord(key: Uint8Array): Uint8Array {
  const v = new Uint8Array(RECORD_LEN);
  v[0] = RECORD_VERSION;
  v.set(key.subarray(0, 32), 1);
  return v;
}

/**
 * The members within `reach` positions of `self` on each side, in ring order, nearest first (self and
 * duplicates left out). Fewer when the group is small: each member once.
 */
export function nearestMembers(self: NodeId, members: Iterable<NodeId>, reach: number): NodeId[] {
  const cw = (a: NodeId): bigint => cwDist(self, a);
  const others = [...new Set(members)].filter((m) => m !== self).sort((a, b) => (cw(a) < cw(b) ? -1 : cw(a) > cw(b) ? 1 : 0));
  const out: NodeId[] = [];
  for (let i = 0; i < reach && out.length < others.length; i++) {
    for (const m of [others[i], others[others.length - 1 - i]]) if (m !== undefined && !out.includes(m)) out.push(m);
  }
  return out;
}

export interface DiscoveryStatus {
  realm: string; registered: boolean; lastPut: { at: number; ok: boolean } | null;
  lastRead: { at: number; members: number; buckets: number } | null; nextReadInMs: number; linksAsked: number;
}

export class GroupDiscovery {
  private t = 0;
  private putAt = 0;
  private putBusy = false;
  private lastPut: { at: number; ok: boolean } | null = null;
  private readAt = 0;
  private reading = false;
  private lastRead: { at: number; members: number; buckets: number } | null = null;
  private asked = 0;
  private wasReady = false;
  /** the members seen at the last read (public node ids) */
  members: NodeId[] = [];
  /** their static keys, from their records */
  readonly keys = new Map<NodeId, Uint8Array>();

  constructor(private readonly realm: Uint8Array, private readonly self: NodeId, private readonly key: Uint8Array, private readonly host: DiscoveryHost,
    private readonly counters: Counters, readonly o: DiscoveryOptions = DEFAULT_DISCOVERY) {
    if (!Number.isInteger(Math.log2(o.buckets)) || o.buckets < 1 || o.buckets > 256) throw new RangeError(`buckets must be a power of 2 in 1..256, not ${o.buckets}`);
  }

  at(now: number): this { this.t = now; return this; }

  /** Heartbeat: put our record when due; read the members near us when due, and ask for the links missing. */
  tick(): void {
    if (!this.host.joined()) return;
    if (!this.putBusy && this.t >= this.putAt) this.register();
    if (!this.reading && this.t >= this.readAt) this.read();
  }

  /**
   * Whether the private ring has formed enough for its DHT: the members were read at least once, and the ring
   * has its neighbours, or the read found nobody else (the first member). Stays true once reached.
   */
  ready(): boolean {
    if (this.wasReady) return true;
    this.wasReady = this.lastRead !== null && (this.members.length === 0 || this.host.settled());
    return this.wasReady;
  }

  /** Read again at the next tick (the private ring lost a neighbour, or an operator asked). */
  soon(): void { this.readAt = Math.min(this.readAt, this.t); }

  private register(): void {
    this.putBusy = true;
    this.host.dht.put(discoveryKey(this.realm, bucketOf(this.self, this.o.buckets)), encodeRecord(this.key), this.o.leaseMs, (r) => {
      this.putBusy = false;
      this.lastPut = { at: this.t, ok: r.ok };
      // the DHT renews its own lease: put again only well after it would have lapsed, or soon after a failure
      this.putAt = this.t + (r.ok ? this.o.leaseMs : this.o.retryMs);
      this.counters.add(r.ok ? 'discovery_put' : 'discovery_put_failed');
    });
  }

  /**
   * Our bucket first, then the buckets on either side outwards, until `reach` members are known on each side
   * (or every bucket was read): the nearest members by id live in the nearest buckets.
   */
  private read(): void {
    this.reading = true;
    const n = this.o.buckets, mine = bucketOf(this.self, n);
    const order = [mine];
    for (let d = 1; order.length < n; d++) {
      order.push((mine + d) % n);
      if (order.length < n) order.push((mine - d + n) % n);
    }
    const seen = new Set<NodeId>();
    let done = 0, failed = 0;
    const step = (): void => {
      const wave = order.slice(done, done === 0 ? 1 : done + 2);
      let left = wave.length;
      for (const b of wave) {
        this.host.dht.get(discoveryKey(this.realm, b), (r) => {
          if (r.ok) { for (const v of r.values) this.record(v.owner, v.value, seen); } else failed++;
          if (--left > 0) return;
          done += wave.length;
          if (done < n && !this.enough(seen, mine, done)) { step(); return; }
          this.finish(seen, done, failed);
        });
      }
    };
    step();
  }

  /** A record read: kept when it is ours in form and its key is its owner's (anyone may put junk under the key). */
  private record(owner: NodeId, value: Uint8Array, seen: Set<NodeId>): void {
    if (owner === this.self) return;
    const key = value.length === RECORD_LEN && value[0] === RECORD_VERSION ? value.slice(1) : null;
    if (!key || (this.host.idOfKey ?? nodeIdOfKey)(key) !== owner) { this.counters.add('discovery_bad_record'); return; }
    seen.add(owner);
    this.keys.set(owner, key);
  }

  /**
   * Are the `reach` nearest members on each side certainly among those seen? After `done` buckets read
   * outwards from ours, every member between the region's ends was seen; a seen member counts for a side
   * when it lies between us and that side's end of the region.
   */
  private enough(seen: Set<NodeId>, mine: number, done: number): boolean {
    const size = RING / BigInt(this.o.buckets);
    const right = Math.floor(done / 2), left = Math.floor((done - 1) / 2);
    const rightEnd = (BigInt(mine + right + 1) * size) % RING, leftStart = ((BigInt(mine - left) * size) % RING + RING) % RING;
    let r = 0, l = 0;
    for (const m of seen) {
      if (m === this.self) continue;
      if (cwDist(this.self, m) < cwDist(this.self, rightEnd) || rightEnd === leftStart) r++;
      if (cwDist(m, this.self) <= cwDist(leftStart, this.self) || rightEnd === leftStart) l++;
    }
    return r >= this.o.reach && l >= this.o.reach;
  }

  private finish(seen: Set<NodeId>, buckets: number, failed: number): void {
    this.reading = false;
    this.members = [...seen].filter((m) => m !== this.self);
    this.lastRead = { at: this.t, members: this.members.length, buckets };
    this.counters.add('discovery_read');
    if (failed) this.counters.add('discovery_read_failed', failed);
    for (const m of nearestMembers(this.self, this.members, this.o.reach)) {
      if (this.host.linked(m)) continue;
      this.asked++;
      this.counters.add('discovery_link');
      this.host.link(m, this.keys.get(m)!);
    }
    this.readAt = this.t + (this.host.settled() ? this.o.steadyPollMs : this.o.joinPollMs);
  }

  status(): DiscoveryStatus {
    return {
      realm: Buffer.from(this.realm).toString('hex'), registered: this.lastPut?.ok ?? false, lastPut: this.lastPut,
      lastRead: this.lastRead, nextReadInMs: Math.max(0, this.readAt - this.t), linksAsked: this.asked,
    };
  }
}
