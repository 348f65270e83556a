// Owns what a ringvpn certificate names and how it is spelled: the `ringvpn:` SAN URIs (the node id of
// a Noise key is ts/base/nodeid.ts's nodeIdOfKey), and the checks on names, groups, addresses and subnets.
// It must not parse or build certificates (cert.ts, ca.ts) and never throws on input.
import { isCidr } from '../base/ip.js';

export const NOISE_KEY_BYTES = 32;
export const URI_NODE = 'ringvpn:node:';
export const URI_NOISE = 'ringvpn:noise:';
export const URI_SUBNET = 'ringvpn:subnet:';
export const URI_GROUP = 'ringvpn:group:';

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
