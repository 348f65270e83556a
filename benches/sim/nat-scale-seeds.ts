// Benchmark (not a test): the NAT-mix scale scenario of ts/sim/vpn-nat-scale.test.ts (300 VPN nodes, 30 %
// public, 40 % cone, 30 % symmetric NATs) over several seeds, since one seed's few lost pairs say little:
// per seed and in total, the pairs never answered at first contact, 20 s later, after 10 % of the relays
// crash and after 10 % of the nodes crash, and the ring's consistency. One seed of 300 nodes takes about
// 2 min of wall time; --nodes 1000 (the issue's size, 5 pings per node) about 8 min.
// Run: node --import tsx benches/sim/nat-scale-seeds.ts [--seeds 1,2,3] [--nodes 300]
import { runVpnScale, type PingSummary } from '../../ts/sim/scenarios/vpn-scale.js';
import { natMix } from '../../ts/sim/scenarios/nat-mix.js';
import { machineNote, mdTable, writeResults } from '../../ts/sim/sim-report.js';

const args = process.argv.slice(2);
const i = args.indexOf('--seeds');
const seeds = (i >= 0 ? args[i + 1]! : '1,2,3').split(',').map(Number);
const j = args.indexOf('--nodes');
const nodes = j >= 0 ? Number(args[j + 1]) : 300;
if (!Number.isInteger(nodes) || nodes < 20) throw new Error(`--nodes: expected an integer of at least 20, got ${args[j + 1]}`);
const pings = 5 * nodes;

const lost = (p: PingSummary | undefined): string => (p ? `${p.sent - p.answered}/${p.sent}` : '-');
const rows: (string | number)[][] = [];
const data: unknown[] = [];
const sum = { first: 0, second: 0, relays: 0, crashes: 0, sent: 0 };
for (const seed of seeds) {
  const t0 = Date.now();
  process.stderr.write(`seed ${seed}: ${nodes} nodes...\n`);
  const r = runVpnScale({ nodes, seed, pings, tries: 3, nat: natMix() });
  const k = r.relayKill?.pairs;
  rows.push([seed, lost(r.first), lost(r.second), lost(k), lost(r.healed.pings), `${r.joinConsistency} / ${r.healed.consistency.toFixed(3)}`, r.natPaths?.punchable.relay ?? 0, Math.round((Date.now() - t0) / 1000)]);
  data.push({ seed, first: r.first, second: r.second, relayKill: r.relayKill, healed: r.healed, joinConsistency: r.joinConsistency, natPaths: r.natPaths });
  for (const [key, p] of [['first', r.first], ['second', r.second], ['relays', k], ['crashes', r.healed.pings]] as const) {
    if (!p) continue;
    sum[key] += p.sent - p.answered;
    sum.sent += p.sent;
  }
  process.stderr.write(`seed ${seed}: ${JSON.stringify(rows.at(-1))}\n`);
}
const table = mdTable(
  ['seed', 'lost at first contact', 'lost 20 s later', 'lost after relay crashes', 'lost after node crashes', 'ring consistency (joined / healed)', 'punchable pairs relayed', 'wall s'],
  rows,
);
const md = `# NAT mix at scale over seeds (simulator)\n\n\`node --import tsx benches/sim/nat-scale-seeds.ts --seeds ${seeds.join(',')}${nodes !== 300 ? ` --nodes ${nodes}` : ''}\` (${machineNote()}). ${nodes} VPN nodes (${pings} random pairs), 30 % public / 40 % cone / 30 % symmetric NATs, each NATed node on its own site; the scenario of \`ts/sim/vpn-nat-scale.test.ts\`. Pairs never answered (up to 3 echo requests, 1 s apart), per phase.\n\n${table}\n\nIn all: ${sum.first + sum.second + sum.relays + sum.crashes} of ${sum.sent} pings unanswered (first contact ${sum.first}, 20 s later ${sum.second}, after relay crashes ${sum.relays}, after node crashes ${sum.crashes}).\n`;
const w = writeResults('benches/results', nodes === 300 ? 'nat-scale-seeds' : `nat-scale-seeds-n${nodes}`, data, md);
process.stdout.write(md);
process.stderr.write(`wrote ${w.md}\n`);
