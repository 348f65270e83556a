// Owns one node's replica store: values per (key, replica index) with owner, expiry and the limits
// (values per key, entries per owner). It must not route, send or decide placement; dht.ts does that.
import { type NodeId } from '../base/nodeid.js';
import { type DhtStatus, type DhtValue } from '../wire/overlay-codec.js';
import { contentHash, type ContentHash } from './digest.js';

/** `ch`: the content hash for repair digests, computed on first use (owner and value never change) */
export interface StoredValue { owner: NodeId; value: Uint8Array; expires: number; ch?: ContentHash }

export function contentOf(s: Slot, v: StoredValue): ContentHash {
  if (!v.ch) v.ch = contentHash(s.key, v.owner, v.value);
  return v.ch;
}
export interface Slot { key: Uint8Array; idx: number; pos: NodeId; values: StoredValue[] }

export interface StoreLimits { maxValuesPerKey: number; maxEntriesPerOwner: number }

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function hexOf(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += ((b[i] as number) < 16 ? '0' : '') + (b[i] as number).toString(16);
  return s;
}

export function slotName(key: Uint8Array, idx: number): string { return idx + ':' + hexOf(key); }

export class ReplicaStore {
  private readonly slots = new Map<string, Slot>();
  private readonly perOwner = new Map<NodeId, number>();
  expired = 0;
  /** no value expires before this (a lower bound; refreshed by a full scan) */
  private nextExpiry = Infinity;

  constructor(private readonly limits: StoreLimits) {}

  get size(): number { return this.slots.size; }
  all(): IterableIterator<Slot> { return this.slots.values(); }
  slot(key: Uint8Array, idx: number): Slot | undefined { return this.slots.get(slotName(key, idx)); }
  ownerCount(owner: NodeId): number { return this.perOwner.get(owner) ?? 0; }

  /** Append (or refresh) a value; with `create`, refuse when another live value is present. */
  put(now: number, key: Uint8Array, idx: number, pos: NodeId, owner: NodeId, value: Uint8Array, ttlMs: number, create: boolean): DhtStatus {
    const name = slotName(key, idx);
    let s = this.slots.get(name);
    if (s) this.expireSlot(now, name, s);
    s = this.slots.get(name);
    const expires = now + ttlMs;
    const same = s?.values.find((v) => v.owner === owner && bytesEqual(v.value, value));
    if (same) { same.expires = Math.max(same.expires, expires); return 'ok'; }
    if (create && s && s.values.length > 0) return 'exists';
    if (s && s.values.length >= this.limits.maxValuesPerKey) return 'too-many-values';
    if (this.ownerCount(owner) >= this.limits.maxEntriesPerOwner) return 'owner-quota';
    if (!s) { s = { key: key.slice(), idx, pos, values: [] }; this.slots.set(name, s); }
    s.values.push({ owner, value: value.slice(), expires });
    if (expires < this.nextExpiry) this.nextExpiry = expires;
    this.perOwner.set(owner, this.ownerCount(owner) + 1);
    return 'ok';
  }

  /** Live values with their remaining TTL. */
  get(now: number, key: Uint8Array, idx: number): DhtValue[] {
    const name = slotName(key, idx);
    const s = this.slots.get(name);
    if (!s) return [];
    this.expireSlot(now, name, s);
    return s.values.map((v) => ({ owner: v.owner, ttlMs: v.expires - now, value: v.value }));
  }

  remove(key: Uint8Array, idx: number, owner: NodeId, value: Uint8Array): DhtStatus {
    const name = slotName(key, idx);
    const s = this.slots.get(name);
    const i = s ? s.values.findIndex((v) => v.owner === owner && bytesEqual(v.value, value)) : -1;
    if (!s || i < 0) return 'not-found';
    s.values.splice(i, 1);
    this.decOwner(owner, 1);
    if (s.values.length === 0) this.slots.delete(name);
    return 'ok';
  }

  /** Drop a whole slot (handed over to a closer node). */
  drop(s: Slot): void {
    const name = slotName(s.key, s.idx);
    if (this.slots.get(name) !== s) return;
    this.slots.delete(name);
    for (const v of s.values) this.decOwner(v.owner, 1);
  }

  /** Forget everything (a holder that lost its store, e.g. restarted under the same id). */
  clear(): void { this.slots.clear(); this.perOwner.clear(); this.nextExpiry = Infinity; }

  /** Remove every value whose lease ran out. */
  expire(now: number): void {
    if (now < this.nextExpiry) return;
    let next = Infinity;
    for (const [name, s] of this.slots) {
      this.expireSlot(now, name, s);
      for (const v of s.values) if (v.expires < next) next = v.expires;
    }
    this.nextExpiry = next;
  }

  private expireSlot(now: number, name: string, s: Slot): void {
    let k = 0;
    for (const v of s.values) {
      if (v.expires > now) s.values[k++] = v;
      else { this.decOwner(v.owner, 1); this.expired++; }
    }
    s.values.length = k;
    if (k === 0) this.slots.delete(name);
  }

  private decOwner(owner: NodeId, n: number): void {
    const c = this.ownerCount(owner) - n;
    if (c <= 0) this.perOwner.delete(owner); else this.perOwner.set(owner, c);
  }
}
