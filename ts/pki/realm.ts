// Owns the realm of a private group: the 16 bytes that name it in the public overlay (its DHT key,
// docs/private-overlays.md), hashed from the group CA's certificate. It must not read files or keys.
import { createHash } from 'node:crypto';

/** 16 bytes naming a group where public nodes cannot guess it from a name: a hash of its CA certificate. */
export function realmOf(caDer: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update('ringvpn private overlay v1\0').update(caDer).digest().subarray(0, 16));
}
