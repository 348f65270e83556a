// Owns the repair digest of a replica store: the content hash of one stored entry and the salted 32-bit
// fingerprint a SYNC_DIGEST lists for it. Pure: no state, no I/O (the store caches content hashes).
//
//   content  = SHA-1( u8 len(key) ‖ key ‖ owner id [20] ‖ u16 len(value) ‖ value ), d0 d1 = its first two
//              big-endian u32 words (TTLs are not part of it: a renewal does not change the digest)
//   fp       = fmix32( fmix32(d0 XOR salt) XOR d1 XOR (((idx + 1) · 0x9E3779B1) mod 2^32) )
//   fmix32   = MurmurHash3's finalizer: h ^= h>>>16; h *= 0x85EBCA6B; h ^= h>>>13; h *= 0xC2B2AE35; h ^= h>>>16
//
// idx is the requester's replica index of the entry (the holder at another position subtracts the shift).
// A missing entry is overlooked when its fingerprint equals one listed (about n / 2^32 for n listed); a
// new salt every repair round makes such a collision last one round only.
import { type NodeId, ID_BYTES, idToBytes } from '../base/nodeid.js';
import { sha1 } from './sha1.js';

export type ContentHash = readonly [number, number];

export function contentHash(key: Uint8Array, owner: NodeId, value: Uint8Array): ContentHash {
  const b = new Uint8Array(1 + key.length + ID_BYTES + 2 + value.length);
  let i = 0;
  b[i++] = key.length & 0xff;
  b.set(key, i); i += key.length;
  idToBytes(owner, b, i); i += ID_BYTES;
  b[i++] = (value.length >>> 8) & 0xff; b[i++] = value.length & 0xff;
  b.set(value, i);
  const d = sha1(b);
  const w = (k: number): number => (((d[k] as number) << 24) | ((d[k + 1] as number) << 16) | ((d[k + 2] as number) << 8) | (d[k + 3] as number)) >>> 0;
  return [w(0), w(4)];
}

function fmix32(h: number): number {
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function fingerprint(c: ContentHash, idx: number, salt: number): number {
  return fmix32(fmix32((c[0] ^ salt) >>> 0) ^ c[1] ^ Math.imul(idx + 1, 0x9e3779b1));
}
