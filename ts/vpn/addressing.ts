// Owns DHT-DHCP (paper §4): the DHT key layout of a virtual network and the claim of this node's
// address and name with atomic `create`, so two nodes never hold one address. Leases are renewed by
// the DHT itself (owners re-put at TTL/2). It must not touch the device or the data plane.
import { createHash } from 'node:crypto';
import { type Cidr, ipToInt, intToIp } from '../config/schema.js';
import { idToHex, idFromHex, type NodeId } from '../core/nodeid.js';
import { nodeIdOfKey } from '../pki/identity.js';
import type { OpResult } from '../dht/result.js';

/** What addressing needs from the DHT (AsyncDht has this shape). */
export interface Dht {
  create(key: Uint8Array, value: Uint8Array, ttlMs: number): Promise<OpResult>;
  put(key: Uint8Array, value: Uint8Array, ttlMs: number): Promise<OpResult>;
  get(key: Uint8Array): Promise<OpResult>;
  remove(key: Uint8Array, value: Uint8Array): Promise<OpResult>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** DHT keys of one virtual network `net`. */
export const dhtKeys = {
  /** address -> the node holding it (value: its 32-byte static key; the node id is the key's hash) */
  ip: (net: string, ip: string): Uint8Array => enc.encode(`ip:${net}:${ip}`),
  /** node -> its address (value: dotted quad), for restarts and reverse checks */
  host: (net: string, id: NodeId): Uint8Array => enc.encode(`host:${net}:${idToHex(id)}`),
  /** DNS name -> address (value: dotted quad) */
  name: (net: string, name: string): Uint8Array => enc.encode(`name:${net}:${name.toLowerCase()}`),
  /** announced subnets (router mode), many values: "cidr" owned by the router */
  routes: (net: string): Uint8Array => enc.encode(`routes:${net}`),
};

export const text = (b: Uint8Array): string => dec.decode(b);
export const bytes = (s: string): Uint8Array => enc.encode(s);

/** The network's service address (DHCP server, DNS, gateway for announced subnets): its first host. */
export function serviceAddress(subnet: Cidr): string {
  return intToIp(networkBase(subnet) + 1);
}

export function networkBase(subnet: Cidr): number {
  const mask = subnet.prefix === 0 ? 0 : (~0 << (32 - subnet.prefix)) >>> 0;
  return (ipToInt(subnet.address) & mask) >>> 0;
}

/** The i-th candidate address for a node: a hash of its id spread over the host range (never .0, .1 or broadcast). */
export function candidate(subnet: Cidr, id: NodeId, attempt: number): string {
  const hosts = 2 ** (32 - subnet.prefix) - 3;
  const h = createHash('sha256').update(idToHex(id)).update(String(attempt)).digest();
  return intToIp(networkBase(subnet) + 2 + (h.readUInt32BE(0) % hosts));
}

export interface ClaimOptions {
  net: string;
  subnet: Cidr;
  self: NodeId;
  /** our static public key: the value of the address record */
  key: Uint8Array;
  leaseMs: number;
  /** a fixed address (config network.address): claimed like any other, never replaced by another */
  fixed?: string;
  attempts?: number;
  progress?: (msg: string, detail: Record<string, unknown>) => void;
}

export class AddressError extends Error {
  constructor(readonly code: 'E_ADDRESS_TAKEN' | 'E_ADDRESS_EXHAUSTED' | 'E_DHT', message: string) { super(message); }
}

/** Is this DHT value ours (we own it and it is our key)? */
function heldBySelf(r: OpResult, self: NodeId, key: Uint8Array): boolean {
  return r.agreed.some((v) => v.owner === self && Buffer.from(v.value).equals(Buffer.from(key)));
}

/**
 * Claim an address: the fixed one, else the address this node held before (restarts keep it), else
 * hashed candidates until a `create` wins. Resolves to the address; the DHT renews the lease.
 */
export async function claimAddress(dht: Dht, o: ClaimOptions): Promise<string> {
  const value = o.key;
  const tryOne = async (ip: string): Promise<boolean> => {
    try {
      await dht.create(dhtKeys.ip(o.net, ip), value, o.leaseMs);
      return true;
    } catch (e) {
      const r = (e as { code?: string; result?: OpResult });
      if (r.code === 'exists' && r.result && heldBySelf(r.result, o.self, o.key)) return true;
      if (r.code === 'exists') return false;
      throw new AddressError('E_DHT', `DHT create for ${ip} failed: ${(e as Error).message}`);
    }
  };
  const record = async (ip: string): Promise<string> => {
    await dht.put(dhtKeys.host(o.net, o.self), bytes(ip), o.leaseMs).catch((e: Error) => o.progress?.('host record not stored yet', { err: e.message }));
    return ip;
  };
  if (o.fixed) {
    if (await tryOne(o.fixed)) return record(o.fixed);
    throw new AddressError('E_ADDRESS_TAKEN', `the configured address ${o.fixed} is held by another node in network ${o.net}`);
  }
  const before = await dht.get(dhtKeys.host(o.net, o.self)).then((r) => r.agreed.find((v) => v.owner === o.self), () => undefined);
  if (before) {
    const ip = text(before.value);
    if (await tryOne(ip)) { o.progress?.('address kept from before', { address: ip }); return record(ip); }
  }
  const n = o.attempts ?? 32;
  for (let i = 0; i < n; i++) {
    const ip = candidate(o.subnet, o.self, i);
    if (await tryOne(ip)) return record(ip);
    o.progress?.('address taken, trying another', { address: ip, attempt: i + 1 });
  }
  throw new AddressError('E_ADDRESS_EXHAUSTED', `no free address after ${n} tries in ${o.subnet.address}/${o.subnet.prefix}`);
}

/** Resolve an address to the node that holds it and its static key (majority-agreed, self-certifying), or null. */
export async function lookupAddress(dht: Dht, net: string, ip: string): Promise<{ node: NodeId; key: Uint8Array } | null> {
  const r = await dht.get(dhtKeys.ip(net, ip));
  const v = r.agreed.find((x) => x.value.length === 32 && nodeIdOfKey(x.value) === x.owner);
  return v ? { node: v.owner, key: v.value } : null;
}

/** The address a node registered for itself, or null. */
export async function lookupHost(dht: Dht, net: string, id: NodeId): Promise<string | null> {
  const r = await dht.get(dhtKeys.host(net, id));
  const v = r.agreed.find((x) => x.owner === id);
  return v ? text(v.value) : null;
}
