// Owns DHT-DHCP's procedures as callbacks over the sans-IO DHT (paper §4): claiming this node's address
// with atomic `create` (the fixed one, else the one held before a restart, else hashed candidates) and
// resolving an address or a host record. It must not keep time or state beyond one procedure; the key
// layout and candidates live in ts/vpn/addressing.ts.
import type { NodeId } from '../base/nodeid.js';
import { nodeIdOfKey } from '../base/nodeid.js';
import type { Cidr } from '../base/ip.js';
import type { OpResult } from '../dht/result.js';
import { bytes, candidate, dhtKeys, text } from '../vpn/addressing.js';

/** The DHT as the node's procedures see it: the node supplies the time. */
export interface NodeDht {
  put(key: Uint8Array, value: Uint8Array, ttlMs: number, cb: (r: OpResult) => void): void;
  create(key: Uint8Array, value: Uint8Array, ttlMs: number, cb: (r: OpResult) => void): void;
  get(key: Uint8Array, cb: (r: OpResult) => void): void;
  /** remove our own value and stop renewing it */
  remove(key: Uint8Array, value: Uint8Array, cb: (r: OpResult) => void): void;
}

export interface ClaimOptions {
  net: string;
  subnet: Cidr;
  self: NodeId;
  /** our static public key: the value of the address record */
  key: Uint8Array;
  leaseMs: number;
  /** a fixed address (config network.address or the certificate's): never replaced by another */
  fixed?: string | undefined;
  attempts?: number;
  progress?: (msg: string, detail: Record<string, unknown>) => void;
}

export type ClaimResult = { ok: true; address: string } | { ok: false; code: 'E_ADDRESS_TAKEN' | 'E_ADDRESS_EXHAUSTED' | 'E_DHT'; message: string };

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Claim an address; `done` is called once. The DHT renews the lease (owners renew at max(TTL/2, TTL - 2 min)). */
export function claimAddress(dht: NodeDht, o: ClaimOptions, done: (r: ClaimResult) => void): void {
  const tryOne = (ip: string, next: (won: boolean) => void): void => {
    dht.create(dhtKeys.ip(o.net, ip), o.key, o.leaseMs, (r) => {
      if (r.ok) return next(true);
      if (r.code === 'exists') return next(r.agreed.some((v) => v.owner === o.self && sameBytes(v.value, o.key)));
      done({ ok: false, code: 'E_DHT', message: `DHT create for ${ip} failed: ${r.code} (${r.replies} replies)` });
    });
  };
  const record = (ip: string): void => {
    dht.put(dhtKeys.host(o.net, o.self), bytes(ip), o.leaseMs, (r) => {
      if (!r.ok) o.progress?.('host record not stored yet', { code: r.code });
    });
    done({ ok: true, address: ip });
  };
  if (o.fixed) {
    const fixed = o.fixed;
    tryOne(fixed, (won) => won ? record(fixed)
      : done({ ok: false, code: 'E_ADDRESS_TAKEN', message: `the configured address ${fixed} is held by another node in network ${o.net}` }));
    return;
  }
  const n = o.attempts ?? 32;
  const candidates = (i: number): void => {
    if (i >= n) { done({ ok: false, code: 'E_ADDRESS_EXHAUSTED', message: `no free address after ${n} tries in ${o.subnet.address}/${o.subnet.prefix}` }); return; }
    const ip = candidate(o.subnet, o.self, i);
    tryOne(ip, (won) => {
      if (won) return record(ip);
      o.progress?.('address taken, trying another', { address: ip, attempt: i + 1 });
      candidates(i + 1);
    });
  };
  dht.get(dhtKeys.host(o.net, o.self), (r) => {
    const before = r.ok ? r.agreed.find((v) => v.owner === o.self) : undefined;
    if (!before) return candidates(0);
    const ip = text(before.value);
    tryOne(ip, (won) => {
      if (!won) return candidates(0);
      o.progress?.('address kept from before', { address: ip });
      record(ip);
    });
  });
}

/**
 * Resolve an address to the node that holds it and its static key (majority-agreed, self-certifying). `lone`
 * (a private group, whose addresses are certified: the handshake proves the holder's certificate): when no
 * value has a majority but every replica that answered with one gave the same, that one is used. A record
 * put while the ring was still forming can sit on fewer replicas than a majority until the DHT's repair moves
 * it (seen at 2,000 nodes: a late member's address on 4 of 8 replicas a minute after it joined).
 */
export function lookupAddress(dht: NodeDht, net: string, ip: string, lone: boolean, cb: (r: { node: NodeId; key: Uint8Array } | null) => void): void {
  dht.get(dhtKeys.ip(net, ip), (r) => {
    const valid = (x: { owner: NodeId; value: Uint8Array }): boolean => x.value.length === 32 && nodeIdOfKey(x.value) === x.owner;
    let v = r.ok ? r.agreed.find(valid) : undefined;
    if (!v && lone && r.ok && r.values.length === 1 && valid(r.values[0]!)) v = r.values[0];
    cb(v ? { node: v.owner, key: v.value } : null);
  });
}

/** The address a node registered for itself, or null. */
export function lookupHost(dht: NodeDht, net: string, id: NodeId, cb: (ip: string | null) => void): void {
  dht.get(dhtKeys.host(net, id), (r) => {
    const v = r.ok ? r.agreed.find((x) => x.owner === id) : undefined;
    cb(v ? text(v.value) : null);
  });
}
