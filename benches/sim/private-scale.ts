// Benchmark (not a test): private overlays at the scale in the simulator (issue 17): N public
// nodes, groups of the given sizes beside them (real group CAs and certificates), join time per member,
// ring consistency, pings inside each group and the public DHT load of discovery, per group.
// Run: npm run bench:private-sim -- [--nodes 2000] [--groups 20] [--min 10] [--max 50] [--seed 1]
import { runPrivateScale } from '../../ts/sim/scenarios/private-scale.js';
import { LatencyMatrix } from '../../ts/sim/network.js';
import { machineNote, mdTable, writeResults } from '../../ts/sim/sim-report.js';

const args = process.argv.slice(2);
const arg = (n: string, d: number): number => { const i = args.indexOf(`--${n}`); return i >= 0 ? Number(args[i + 1]) : d; };
const nodes = arg('nodes', 2000), count = arg('groups', 20), min = arg('min', 10), max = arg('max', 50), seed = arg('seed', 1);
// sizes spread evenly from min to max
const sizes = Array.from({ length: count }, (_, k) => Math.round(min + (count === 1 ? 0 : (k * (max - min)) / (count - 1))));
const r = await runPrivateScale({
  nodes, groups: sizes, seed, matrix: LatencyMatrix.load(),
  progress: (phase, d) => process.stderr.write(`${phase} ${JSON.stringify(d)}\n`),
});
const rows = r.groups.map((g, k) => [k + 1, g.size, `${g.settled}/${g.size}`, g.joinMedianS ?? '-', g.joinMaxS ?? '-', g.consistency.toFixed(3), `${g.pings.answered}/${g.pings.sent}`,
  g.dhtGetsPerMember.toFixed(1), g.dhtPutsPerMember.toFixed(1), `${g.paths.direct} / ${g.paths.carried} / ${g.paths.relay}`]);
const table = mdTable(['group', 'members', 'ring neighbours right', 'join median s', 'join max s', 'crawl consistency', 'pings answered', 'public DHT gets per member', 'puts per member', 'links direct / carried / member relay'], rows);
const md = `# Private overlays in the simulator: ${nodes} public nodes, ${count} groups of ${min}-${max} (seed ${seed})\n\n` +
  `${r.members} members; every daemon starts with the public overlay (joins 20 ms apart), a member's group beside it over one engine ` +
  `(ts/node/realms.ts). Join time: from the member's start until its private ring has the true nearest member on each side.\n\n${table}\n` +
  `Wall ${(r.wallMs / 1000).toFixed(1)} s (certificates ${(r.certMs / 1000).toFixed(1)} s) for ${r.virtualS.toFixed(0)} virtual s; latencies from the PlanetLab-490 RTT matrix (rows resampled beyond 490 nodes). ${machineNote()}\n`;
const files = writeResults('benches/results', `sim-private-n${nodes}-g${count}-s${seed}`, r, md);
process.stdout.write(`${md}\nwrote ${files.json}, ${files.md}\n`);
