// Benchmark (not a test): 10,000 simulated nodes join and run for 10 virtual minutes; wall time,
// events and heap per simulated node (after a full GC), crawl and 10,000 exact-mode messages at the end.
// Run once: npx tsx benches/sim/scale.ts [--nodes 10000] [--seed 1] [--duration 600]
import v8 from 'node:v8';
import vm from 'node:vm';
import { runScale } from '../../ts/sim/scenarios/scale.js';
import { scaleTable } from '../../ts/sim/cli.js';
import { LatencyMatrix } from '../../ts/sim/network.js';
import { progressBar, writeResults, machineNote } from '../../ts/sim/sim-report.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const args = process.argv.slice(2);
const arg = (n: string, d: number): number => { const i = args.indexOf(`--${n}`); return i >= 0 ? Number(args[i + 1]) : d; };
const nodes = arg('nodes', 10_000), seed = arg('seed', 1), duration = arg('duration', 600);

const matrix = LatencyMatrix.load();
const bar = progressBar(`scale ${nodes} nodes`, true);
const r = runScale({
  nodes, seed, virtualMs: duration * 1000, matrix, probes: 10_000,
  heapUsed: () => { gc(); return process.memoryUsage().heapUsed; },
  progress: (f) => bar(f),
});
bar(1);
const table = scaleTable(r);
const targets = `Targets: wall <= 120 s (${r.wallMs <= 120_000 ? 'met' : 'missed'}), heap <= 50 KB per node (${r.heapBytesPerNode <= 50 * 1024 ? 'met' : 'missed'}).`;
const md = `# Simulator scale: ${nodes} nodes, ${duration} virtual s (seed ${seed})\n\n${table}\n` +
  `Every node runs the full protocol (joins ${r.joinIntervalMs} ms apart from a 3-node bootstrap list, heartbeat 500 ms, pings, shortcuts, trimming). ` +
  `Heap per node = (heap after the run − heap before creating the nodes) / N, both after a full GC; it includes the event queue. ` +
  `${targets}\n\nLatency: PlanetLab-490 RTT matrix; beyond 490 nodes rows are sampled with replacement plus ±10 % per-pair jitter. ${machineNote()}\n`;
const files = writeResults('benches/results', `sim-scale-n${nodes}-s${seed}`, r, md);
process.stdout.write(`${table}${targets}\nwrote ${files.json}, ${files.md}\n`);
