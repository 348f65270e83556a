// punch-matrix.ts — the hole-punch matrix in the simulator: for every pair of NAT kinds (public, the four
// classic types, sequential symmetric), three public nodes and two members behind their own NATs join; the
// first member pings the second (a first contact: the on-demand link is made then); the path the link
// ends on (direct or relay) and the time from the first echo request to the direct link, or to the relay
// link, over several seeds. Deterministic; writes benches/results/punch-matrix.{json,md}.
// Usage: node --import tsx benches/sim/punch-matrix.ts [--seeds 5]
import { writeFileSync } from 'node:fs';
import { LatencyMatrix } from '../../ts/sim/network.js';
import { VpnHarness } from '../../ts/sim/vpn-harness.js';
import { canPunch, type NatSpec } from '../../ts/sim/nat-sites.js';
import type { NatKind } from '../../ts/sim/nat.js';

type Kind = 'public' | NatKind;
const KINDS: Kind[] = ['public', 'full-cone', 'address-restricted', 'port-restricted', 'symmetric', 'symmetric-sequential'];
const SEEDS = (() => { const i = process.argv.indexOf('--seeds'); return i > 0 ? Number(process.argv[i + 1]) : 5; })();
const RTT_MS = 40;
/** public nodes: a ring member has at least 3 peers, and a sequential NAT's ports are predicted from 3 reports */
const PUBLIC = 3;

interface Cell { path: Record<string, number>; msToPath: number[] }

/** Time from a member's start to its link with the other member reaching its final path (direct, or relay). */
function run(a: Kind, b: Kind, seed: number): { path: string; ms: number | null } {
  const spec = (k: Kind, site: number): NatSpec | null => (k === 'public' ? null : { site, kind: k });
  const A = PUBLIC, B = PUBLIC + 1;
  const nat = [...Array<null>(PUBLIC).fill(null), spec(a, 1), spec(b, 2)];
  const h = new VpnHarness({ capacity: B + 1, seed, matrix: LatencyMatrix.uniform(B + 1, RTT_MS), bootstrapCount: 1, nat: (i) => nat[i] ?? null });
  for (let i = 0; i <= A; i++) h.addNode(i * 200);
  h.run(15_000);
  const start = h.now;
  h.addNode(start);
  let at: number | null = null;
  const want = canPunch(nat[A] ?? null, nat[B] ?? null) ? 'direct' : 'relay';
  for (let t = start; t <= start + 60_000; t += 50) {
    h.run(t);
    const n1 = h.nodes[A]!, n2 = h.nodes[B];
    if (!n2) break;
    const p = n1.links.peerOf(n2.self), q = n2.links.peerOf(n1.self);
    const path = (x: typeof p): string => (!x?.established || !x.linked ? 'none' : x.endpoint ? 'direct' : x.relay !== null ? 'relay' : 'overlay');
    const pp = path(p), qq = path(q);
    if (pp === want && qq === want) { at = t - start; break; }
  }
  h.run(h.now + 30_000);
  const n1 = h.nodes[A]!, n2 = h.nodes[B]!;
  const p = n1.links.peerOf(n2.self);
  const final = !p?.established ? 'none' : p.endpoint ? 'direct' : p.relay !== null ? 'relay' : 'overlay';
  return { path: final, ms: final === want ? at : null };
}

const cells = new Map<string, Cell>();
for (const a of KINDS) for (const b of KINDS) {
  const c: Cell = { path: {}, msToPath: [] };
  for (let s = 1; s <= SEEDS; s++) {
    const r = run(a, b, s);
    c.path[r.path] = (c.path[r.path] ?? 0) + 1;
    if (r.ms !== null) c.msToPath.push(r.ms);
  }
  cells.set(`${a}|${b}`, c);
  process.stderr.write(`${a} x ${b}: ${JSON.stringify(c.path)} ${JSON.stringify(c.msToPath)}\n`);
}
const median = (xs: number[]): number | null => (xs.length ? [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]! : null);
const short: Record<Kind, string> = { 'public': 'public', 'full-cone': 'full cone', 'address-restricted': 'addr-restr.', 'port-restricted': 'port-restr.', 'symmetric': 'symmetric', 'symmetric-sequential': 'sym. sequential' };
const cellText = (c: Cell): string => {
  const paths = Object.entries(c.path).sort((x, y) => y[1] - x[1]).map(([k, v]) => (v === SEEDS ? k : `${k} ${v}/${SEEDS}`)).join(', ');
  const m = median(c.msToPath);
  return `${paths}${m === null ? '' : ` ${(m / 1000).toFixed(2)} s`}`;
};
const md = [
  '# Hole-punch matrix (simulator)',
  '',
  `\`node --import tsx benches/sim/punch-matrix.ts --seeds ${SEEDS}\`. ${PUBLIC} public nodes, member A behind the row's NAT, member B behind the column's (each its own site), ${RTT_MS} ms RTT between all hosts. B joins; the cell is the path A's link to B ends on after 60 s (direct or relay, with how many of ${SEEDS} seeds when not all) and the median time from B's start to both sides holding the expected path (direct where the classic table says a punch works, else relay; a sequential symmetric NAT punches a port-restricted one with port prediction).`,
  '',
  `| A \\\\ B | ${KINDS.map((k) => short[k]).join(' | ')} |`,
  `|---|${KINDS.map(() => '---').join('|')}|`,
  ...KINDS.map((a) => `| ${short[a]} | ${KINDS.map((b) => cellText(cells.get(`${a}|${b}`)!)).join(' | ')} |`),
  '',
].join('\n');
writeFileSync('benches/results/punch-matrix.md', md);
writeFileSync('benches/results/punch-matrix.json', JSON.stringify({ seeds: SEEDS, rttMs: RTT_MS, publicNodes: PUBLIC, cells: Object.fromEntries(cells) }, null, 2) + '\n');
process.stdout.write(md);
