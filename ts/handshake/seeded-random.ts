// Owns a deterministic byte source for the handshake's tests: BLAKE2s(seed || counter), so every run
// of a test draws the same keys, indices and nonces. It must never feed a real node's keys.
import { blake2s } from './primitives.js';

export function seededRandom(seed: string): (n: number) => Uint8Array {
  let counter = 0;
  const s = new TextEncoder().encode(seed);
  return (n) => {
    const out = new Uint8Array(n);
    for (let off = 0; off < n; off += 32) {
      const c = new Uint8Array(4);
      new DataView(c.buffer).setUint32(0, counter++);
      out.set(blake2s(s, c).subarray(0, Math.min(32, n - off)), off);
    }
    return out;
  };
}
