// Owns DHT-DHCP's data (paper §4): the DHT key layout of a virtual network, the record values, the
// service address, the destinations a node serves and the hashed address candidates. The claim itself is ts/node/address-claim.ts.
// It must not touch the DHT, the device or the data plane.
import { createHash } from 'node:crypto';
import { type Cidr, formatIpv4, networkBase } from '../base/ip.js';
import { idToHex, type NodeId } from '../base/nodeid.js';

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
  /** gateways (issue 14), many values: the gateway's address owned by the gateway (ts/node/gateways.ts) */
  gateways: (net: string): Uint8Array => enc.encode(`gateways:${net}`),
  /** a private group's members, in the public overlay (ts/node/group-discovery.ts): one bucket of records, each owned by a member */
  privateGroup: (realmHex: string, bucket: number): Uint8Array => enc.encode(`private:${realmHex}:${bucket}`),
};

export const text = (b: Uint8Array): string => dec.decode(b);
export const bytes = (s: string): Uint8Array => enc.encode(s);

/** The network's service address (DHCP server, DNS, gateway for announced subnets): its first host. */
export function serviceAddress(subnet: Cidr): string {
  return formatIpv4(networkBase(subnet) + 1);
}

/**
 * What other members' packets may be for at this node's device (the data plane's `destinations`; the rest
 * count dst_not_allowed): the virtual subnet, the subnets this node routes, broadcast and multicast. Not its
 * host's LAN or the Internet: a member must not use another's IP forwarding (a gateway would add 0/0).
 */
export function servedDestinations(subnet: string, routes: readonly string[]): string[] {
  return [subnet, ...routes, '255.255.255.255/32', '224.0.0.0/4'];
}

/** The i-th candidate address for a node: a hash of its id spread over the host range (never .0, .1 or broadcast). */
export function candidate(subnet: Cidr, id: NodeId, attempt: number): string {
  const hosts = 2 ** (32 - subnet.prefix) - 3;
  const h = createHash('sha256').update(idToHex(id)).update(String(attempt)).digest();
  return formatIpv4(networkBase(subnet) + 2 + (h.readUInt32BE(0) % hosts));
}
