// Micro-benchmark: ring distance + comparison (the greedy routing inner loop) with 160-bit ids as
// bigint (what ts/core uses), five u32 limbs, and a 64-bit-prefix float fast path with bigint fallback.
// Run: npx tsx benches/sim/nodeid.ts   Writes benches/results/sim-nodeid.{json,md}.
import { Xoshiro128, randomId } from '../../ts/core/rng.js';
import { ringDist } from '../../ts/core/ring.js';
import { idToUnit, type NodeId } from '../../ts/base/nodeid.js';
import { mdTable, writeResults, machineNote } from '../../ts/sim/sim-report.js';

const N = 4096, CANDS = 18, ROUNDS = 400_000;
const rng = new Xoshiro128(42);
const ids: NodeId[] = Array.from({ length: N }, () => randomId(rng));
const picks = Array.from({ length: ROUNDS }, () => [Math.floor(rng.next() * N), Math.floor(rng.next() * (N - CANDS))] as const);

// --- bigint
function greedyBig(dest: NodeId, from: number): number {
  let best = -1; let bd = (1n << 160n);
  for (let k = 0; k < CANDS; k++) { const d = ringDist(ids[from + k] as NodeId, dest); if (d < bd) { bd = d; best = k; } }
  return best;
}
// --- five u32 limbs, most significant first, in one flat array
const limbs = new Uint32Array(N * 5);
ids.forEach((id, i) => { for (let j = 0; j < 5; j++) limbs[i * 5 + j] = Number((id >> BigInt(32 * (4 - j))) & 0xffffffffn); });
const tmp = new Uint32Array(5), bestL = new Uint32Array(5);
function distLimbs(a: number, b: number, out: Uint32Array): void {
  // out = a - b mod 2^160, then fold to the shorter way (if top bit set, negate)
  let borrow = 0;
  for (let j = 4; j >= 0; j--) {
    const x = (limbs[a * 5 + j] as number) - (limbs[b * 5 + j] as number) - borrow;
    out[j] = x >>> 0; borrow = x < 0 ? 1 : 0;
  }
  if ((out[0] as number) & 0x80000000) {
    let carry = 1;
    for (let j = 4; j >= 0; j--) { const x = (~(out[j] as number) >>> 0) + carry; out[j] = x >>> 0; carry = x > 0xffffffff ? 1 : 0; }
  }
}
function lessLimbs(a: Uint32Array, b: Uint32Array): boolean {
  for (let j = 0; j < 5; j++) { if ((a[j] as number) !== (b[j] as number)) return (a[j] as number) < (b[j] as number); }
  return false;
}
function greedyLimbs(dest: number, from: number): number {
  let best = -1; bestL.fill(0xffffffff);
  for (let k = 0; k < CANDS; k++) { distLimbs(from + k, dest, tmp); if (lessLimbs(tmp, bestL)) { bestL.set(tmp); best = k; } }
  return best;
}
// --- 64-bit prefix as a float in [0,1) (53 bits kept), exact bigint fallback when two distances tie
const unit = Float64Array.from(ids.map(idToUnit));
function greedyPrefix(dest: number, from: number): number {
  let best = -1, bd = 2, tie = false;
  const du = unit[dest] as number;
  for (let k = 0; k < CANDS; k++) {
    let d = Math.abs((unit[from + k] as number) - du); if (d > 0.5) d = 1 - d;
    if (d < bd) { bd = d; best = k; tie = false; } else if (d === bd) tie = true;
  }
  return tie ? greedyBig(ids[dest] as NodeId, from) : best;
}

function time(name: string, f: (dest: number, from: number) => number): { name: string; nsPerDist: number; check: number } {
  let check = 0;
  for (let w = 0; w < 2; w++) for (let i = 0; i < 20_000; i++) { const p = picks[i]!; check += f(p[0], p[1]); }
  check = 0;
  const t0 = performance.now();
  for (const [d, from] of picks) check += f(d, from);
  const ms = performance.now() - t0;
  return { name, nsPerDist: (ms * 1e6) / (ROUNDS * CANDS), check };
}

const rows = [
  time('bigint (ts/core)', (d, from) => greedyBig(ids[d] as NodeId, from)),
  time('5 x u32 limbs', greedyLimbs),
  time('64-bit prefix float + bigint tie fallback', greedyPrefix),
];
const agree = rows.every((r) => r.check === rows[0]!.check);
const table = mdTable(['representation', 'ns per distance+compare', 'relative to bigint', 'same choices'],
  rows.map((r) => [r.name, r.nsPerDist, `${(r.nsPerDist / rows[0]!.nsPerDist).toFixed(2)}x`, agree ? 'yes' : 'NO']));
const md = `# Node-id ring distance: bigint vs fixed width\n\n${ROUNDS} greedy next-hop choices over ${CANDS} candidates (the routing inner loop).\n\n${table}\n${machineNote()}\n`;
const files = writeResults('benches/results', 'sim-nodeid', { rounds: ROUNDS, candidates: CANDS, rows, agree }, md);
process.stdout.write(table + `wrote ${files.json}, ${files.md}\n`);
