// Benchmark (not a test): DHT put/get hop counts and latency against N on joined full-protocol rings,
// and range-broadcast hops / completion time / messages against N (joined rings, plus steady-state rings
// built from sorted ids up to 10,000+). Writes benches/results/dht-ops-s<seed>.* and dht-broadcast-s<seed>.*
// Run: npx tsx benches/sim/dht.ts [--sizes 100,250,500,1000,2000,5000] [--keys 1000] [--seed 1] [--steady 1000,10000,50000]
import { buildDhtNet, putMany, readAll } from '../../ts/sim/scenarios/dht-scenario.js';
import { broadcastSteady, broadcastJoined, type BroadcastResult } from '../../ts/sim/scenarios/dhtbroadcast.js';
import { LatencyMatrix } from '../../ts/sim/network.js';
import { lineChart } from '../../ts/sim/plot.js';
import { mdTable, writeResults, machineNote, progressBar } from '../../ts/sim/sim-report.js';

const args = process.argv.slice(2);
const opt = (n: string): string | undefined => { const i = args.indexOf(`--${n}`); return i >= 0 ? args[i + 1] : undefined; };
const sizes = (opt('sizes') ?? '100,250,500,1000,2000,5000').split(',').map(Number);
const steadySizes = (opt('steady') ?? '1000,10000,50000').split(',').map(Number);
const keys = Number(opt('keys') ?? 1000), seed = Number(opt('seed') ?? 1);
const matrix = LatencyMatrix.load();

interface OpsRow {
  nodes: number; keys: number; putOk: number; putHops: number; putMs: number; getOk: number; getAgreed: number;
  getHops: number; getMs: number; getP99Ms: number; disagreements: number; joinWallS: number; wallS: number;
}
const ops: OpsRow[] = [];
const bcast: BroadcastResult[] = [];
const bar = progressBar('dht bench', true);
let step = 0;
const steps = sizes.length + steadySizes.length;
for (const n of sizes) {
  const t0 = performance.now();
  const net = buildDhtNet({ nodes: n, seed, matrix });
  const joinWallS = (performance.now() - t0) / 1000;
  const p = putMany(net, keys, 3600_000, 1000);
  net.h.run(net.h.now + 5_000);
  const g = readAll(net, p.items, 1000);
  ops.push({
    nodes: n, keys, putOk: p.ok, putHops: p.meanHops, putMs: p.meanLatencyMs, getOk: g.ok, getAgreed: g.agreedRight,
    getHops: g.meanHops, getMs: g.meanLatencyMs, getP99Ms: g.p99LatencyMs, disagreements: g.disagreements, joinWallS,
    wallS: (performance.now() - t0) / 1000,
  });
  bcast.push(broadcastJoined({ nodes: n, seed, origins: 5, h: net.h }));
  bar(++step / steps, `N=${n}`);
}
for (const n of steadySizes) { bcast.push(broadcastSteady({ nodes: n, seed, origins: 5, matrix })); bar(++step / steps, `steady N=${n}`); }
bar(1);

const opsMd = `# DHT operations: hops and latency against N (seed ${seed})\n\n` + mdTable(
  ['N', 'log2 N', 'keys', 'puts ok', 'put hops', 'put ms', 'gets ok', 'majority right', 'get hops', 'get ms', 'get p99 ms', 'reads with disagreement'],
  ops.map((r) => [r.nodes, Math.log2(r.nodes), r.keys, r.putOk, r.putHops, r.putMs, r.getOk, r.getAgreed, r.getHops, r.getMs, r.getP99Ms, r.disagreements]),
) + `\nEvery node joined with the full overlay protocol and runs the DHT (8 replicas, majority 5, each position held by its 2 closest nodes). ` +
  `${keys} keys put from random nodes (1 h TTL), then each read from a random node. Hops = mean overlay hops of the requests to the replica positions that answered; ` +
  `latency = virtual ms from the call to the result (a put: 5 of 8 replicas stored; a get: 5 identical answers, or all 8). ` +
  `Latency: PlanetLab-490 RTT matrix (sampled with replacement and ±10 % jitter beyond 490 nodes). ${machineNote()}\n`;
const opsSvg = lineChart({
  title: 'DHT put / get against N', xLabel: 'nodes (log2)', yLabel: 'mean hops / latency (100 ms)',
  series: [
    { name: 'put hops', points: ops.map((r) => [Math.log2(r.nodes), r.putHops]) },
    { name: 'get hops', points: ops.map((r) => [Math.log2(r.nodes), r.getHops]) },
    { name: 'put latency (100 ms)', points: ops.map((r) => [Math.log2(r.nodes), r.putMs / 100]), dashed: true },
    { name: 'get latency (100 ms)', points: ops.map((r) => [Math.log2(r.nodes), r.getMs / 100]), dashed: true },
  ],
  note: `seed ${seed}; joined full-protocol rings; PlanetLab-490 latencies`,
});
const fo = writeResults('benches/results', `dht-ops-s${seed}`, { seed, keys, rows: ops }, opsMd, opsSvg);

const mean = (a: number[]): number => a.reduce((s, x) => s + x, 0) / Math.max(1, a.length);
const brows = bcast.map((b) => ({
  model: b.model, nodes: b.nodes, origins: b.runs.length, reached: Math.min(...b.runs.map((r) => r.reached / r.nodes)),
  messagesPerNode: mean(b.runs.map((r) => r.messages / r.nodes)), meanHops: mean(b.runs.map((r) => r.meanHops)),
  maxHops: Math.max(...b.runs.map((r) => r.maxHops)), timeMs: mean(b.runs.map((r) => r.timeMs)), maxTimeMs: Math.max(...b.runs.map((r) => r.timeMs)),
}));
const bMd = `# Range broadcast: coverage, messages, hops and completion time against N (seed ${seed})\n\n` + mdTable(
  ['model', 'N', 'origins', 'min reached', 'messages / N', 'mean hops', 'max hops', 'mean time ms', 'max time ms'],
  brows.map((r) => [r.model, r.nodes, r.origins, `${(r.reached * 100).toFixed(2)} %`, r.messagesPerNode, r.meanHops, r.maxHops, r.timeMs, r.maxTimeMs]),
) + `\n"joined": the DHT rings above (full protocol). "steady": the steady-state ring built directly from sorted random ids (ts/sim/steady.ts: 2 near per side, ceil(0.5·log2 N̂) shortcuts), no joins. ` +
  `Each origin broadcasts once over all its connections (no fan-out limit); every BCAST frame goes through the codec. Time = virtual ms until the last node received it. ${machineNote()}\n`;
const bSvg = lineChart({
  title: 'Range broadcast against N', xLabel: 'nodes (log2)', yLabel: 'hops / time (100 ms)',
  series: (['joined', 'steady'] as const).flatMap((m) => [
    { name: `${m} max hops`, points: brows.filter((r) => r.model === m).map((r) => [Math.log2(r.nodes), r.maxHops] as [number, number]) },
    { name: `${m} time (100 ms)`, points: brows.filter((r) => r.model === m).map((r) => [Math.log2(r.nodes), r.timeMs / 100] as [number, number]), dashed: true },
  ]),
  note: `seed ${seed}; mean over ${brows[0]?.origins ?? 0} origins; PlanetLab-490 latencies`,
});
const fb = writeResults('benches/results', `dht-broadcast-s${seed}`, { seed, rows: brows, runs: bcast }, bMd, bSvg);
process.stdout.write(opsMd + '\n' + bMd + `\nwrote ${fo.json}, ${fo.md}, ${fo.svg}, ${fb.json}, ${fb.md}, ${fb.svg}\n`);
