// Owns the simulator's NAT mix for scale runs (the 1,000-node population): 30 % public, 40 % behind
// cone NATs (full, address-restricted and port-restricted in equal parts), 30 % behind symmetric NATs,
// each NATed node on a site of its own; the first `publicFirst` nodes (bootstrap) are public. Pure.
import type { NatSpec } from '../nat-sites.js';
import type { NatKind } from '../nat.js';

const CONES: NatKind[] = ['full-cone', 'address-restricted', 'port-restricted'];

export function natMix(publicFirst = 3, shares = { public: 0.3, cone: 0.4 }): (i: number) => NatSpec | null {
  return (i) => {
    if (i < publicFirst) return null;
    const x = (Math.imul(i, 2654435761) >>> 0) / 2 ** 32;
    if (x < shares.public) return null;
    if (x < shares.public + shares.cone) return { site: i, kind: CONES[i % 3]! };
    return { site: i, kind: 'symmetric' };
  };
}
