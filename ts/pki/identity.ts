// Owns what a ringvpn certificate names and how it is spelled: the node id of a Noise key, the
// `ringvpn:` SAN URIs, and the checks on names, groups, addresses and subnets.
// It must not parse or build certificates (cert.ts, ca.ts) and never throws on input.
import { createHash } from 'node:crypto';
import { isIP, isIPv4 } from 'node:net';
import type { NodeId } from '../core/nodeid.js';

export const NOISE_KEY_BYTES = 32;
export const URI_NODE = 'ringvpn:node:';
export const URI_NOISE = 'ringvpn:noise:';
export const URI_SUBNET = 'ringvpn:subnet:';
export const URI_GROUP = 'ringvpn:group:';

/** The node id (40 lower-case hex digits): the first 20 bytes of SHA-256 of the Noise static public key. */
export function nodeIdOfNoiseKey(noiseKey: Uint8Array): string {
  return createHash('sha256').update(noiseKey).digest().subarray(0, 20).toString('hex');
}

/** The same node id as a ring position (the overlay's NodeId). */
export function nodeIdOfKey(noiseKey: Uint8Array): NodeId {
  return BigInt('0x' + nodeIdOfNoiseKey(noiseKey));
}

/** Canonical node id text from hex text or a bigint; null if it is not 160 bits. */
export function normalizeNodeId(id: string | bigint): string | null {
  if (typeof id === 'bigint') return id >= 0n && id < 1n << 160n ? id.toString(16).padStart(40, '0') : null;
  return /^[0-9a-fA-F]{40}$/.test(id) ? id.toLowerCase() : null;
}

export function encodeNoiseKey(key: Uint8Array): string {
  return Buffer.from(key).toString('base64url');
}

export function decodeNoiseKey(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]{43}$/.test(text)) return null;
  const raw = new Uint8Array(Buffer.from(text, 'base64url'));
  return raw.length === NOISE_KEY_BYTES ? raw : null;
}

/** A node name: a DNS label (it becomes `<name>.<domain>`); it is the subject CN. */
export function isNodeName(s: string): boolean {
  return /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(s);
}

/** A group name: 1-64 of letters, digits, '.', '_' and '-', starting with a letter or digit. */
export function isGroupName(s: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(s);
}

export function isVirtualAddress(s: string): boolean {
  return isIPv4(s);
}

/** An IPv4 or IPv6 prefix like 10.1.0.0/16 or fd00::/64. */
export function isCidr(s: string): boolean {
  const parts = s.split('/');
  if (parts.length !== 2 || !/^\d{1,3}$/.test(parts[1]!)) return false;
  const v = isIP(parts[0]!), len = Number(parts[1]);
  return (v === 4 && len <= 32) || (v === 6 && len <= 128);
}

/** The identity fields a node certificate or request carries in its SAN URIs. */
export interface SanFields {
  nodeId: string;
  noiseKey: Uint8Array;
  subnets: string[];
  groups: string[];
}

/** The SAN URIs for these fields, in a fixed order (node, noise, subnets, groups). */
export function sanUris(f: SanFields): string[] {
  return [
    URI_NODE + f.nodeId,
    URI_NOISE + encodeNoiseKey(f.noiseKey),
    ...f.subnets.map((s) => URI_SUBNET + s),
    ...f.groups.map((g) => URI_GROUP + g),
  ];
}

/**
 * Reads the ringvpn fields back from SAN URIs. Exactly one node and one noise URI; any other
 * `ringvpn:` URI, a bad value or a duplicate is an error; URIs of other schemes are ignored.
 */
export function fieldsFromUris(uris: readonly string[]): { ok: true; fields: SanFields } | { ok: false; why: string } {
  let nodeId: string | null = null;
  let noiseKey: Uint8Array | null = null;
  const subnets: string[] = [], groups: string[] = [];
  for (const u of uris) {
    if (u.startsWith(URI_NODE)) {
      const v = u.slice(URI_NODE.length);
      if (nodeId !== null || !/^[0-9a-f]{40}$/.test(v)) return { ok: false, why: 'node id URI repeated or not 40 lower-case hex digits' };
      nodeId = v;
    } else if (u.startsWith(URI_NOISE)) {
      const k = decodeNoiseKey(u.slice(URI_NOISE.length));
      if (noiseKey !== null || !k) return { ok: false, why: 'noise key URI repeated or not 32 bytes of base64url' };
      noiseKey = k;
    } else if (u.startsWith(URI_SUBNET)) {
      const v = u.slice(URI_SUBNET.length);
      if (!isCidr(v) || subnets.includes(v)) return { ok: false, why: `bad or repeated subnet ${JSON.stringify(v.slice(0, 64))}` };
      subnets.push(v);
    } else if (u.startsWith(URI_GROUP)) {
      const v = u.slice(URI_GROUP.length);
      if (!isGroupName(v) || groups.includes(v)) return { ok: false, why: `bad or repeated group ${JSON.stringify(v.slice(0, 64))}` };
      groups.push(v);
    } else if (u.startsWith('ringvpn:')) {
      return { ok: false, why: `unknown ringvpn URI ${JSON.stringify(u.slice(0, 64))}` };
    }
  }
  if (nodeId === null || noiseKey === null) return { ok: false, why: 'missing the ringvpn:node or ringvpn:noise URI' };
  return { ok: true, fields: { nodeId, noiseKey, subnets, groups } };
}
