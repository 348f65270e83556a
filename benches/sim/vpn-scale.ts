// Benchmark (not a test): whole VPN nodes in the simulator (the daemon's VpnNode over in-memory
// engines): N nodes join, random pings between virtual addresses (each pair twice), 10 % crash and
// the survivors heal, then an idle stretch; wall time, heap per node, ping outcomes by path.
// Run: npm run bench:vpn-sim -- [--nodes 1000] [--pings 10000] [--seed 1] [--idle 600]
import v8 from 'node:v8';
import vm from 'node:vm';
import { runVpnScale, type PingSummary } from '../../ts/sim/scenarios/vpn-scale.js';
import { LatencyMatrix } from '../../ts/sim/network.js';
import { machineNote, mdTable, writeResults } from '../../ts/sim/sim-report.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const args = process.argv.slice(2);
const arg = (n: string, d: number): number => { const i = args.indexOf(`--${n}`); return i >= 0 ? Number(args[i + 1]) : d; };
const nodes = arg('nodes', 1000), pings = arg('pings', 10_000), seed = arg('seed', 1), idle = arg('idle', 600);

let lastPhase = '';
const r = runVpnScale({
  nodes, seed, pings, idleMs: idle * 1000, matrix: LatencyMatrix.load(),
  heapUsed: () => { gc(); return process.memoryUsage().heapUsed; },
  progress: (phase, d) => {
    if (phase === lastPhase && phase !== 'joined' && phase !== 'healed' && Number(d.virtualS ?? 0) % 10 !== 0) return;
    lastPhase = phase;
    process.stderr.write(`${phase} ${JSON.stringify(d)}\n`);
  },
});
const row = (name: string, p: PingSummary): (string | number)[] => [name, `${p.answered}/${p.sent}`, `${p.firstAnswered}/${p.sent}`, Object.entries(p.how).map(([k, v]) => `${k} ${v}`).join(', '), p.medianMs ?? '-', p.p99Ms ?? '-'];
const table = mdTable(['pings (up to 3 echo requests, 1 s apart)', 'answered', 'first request answered', 'request/reply path', 'RTT median ms', 'RTT p99 ms'], [
  row('first to a new peer', r.first), row('same pair 20 s later (1 request)', r.second), row(`after ${r.killed} crashes, 60 s`, r.healed.pings),
]);
const md = `# Whole VPN nodes in the simulator: ${nodes} nodes (seed ${seed})\n\n` +
  `${r.addresses.assigned}/${nodes} addresses, ${r.addresses.distinct} distinct; crawl consistency after the joins ${r.joinConsistency}, ` +
  `after ${r.killed} crashes and 60 s ${r.healed.consistency}.\n\n${table}\n` +
  `Wall ${(r.wallMs / 1000).toFixed(1)} s for ${(r.virtualMs / 1000).toFixed(0)} virtual s (joins 20 ms apart, 60 s settle, ${pings} pairs over 50 s, crashes, ${idle} s idle); ` +
  `heap ${r.heapBytesPerNode === null ? '-' : (r.heapBytesPerNode / 1024).toFixed(1)} KB per live node after a full GC. Engine drops: ${JSON.stringify(r.engineDrops)}.\n\n` +
  `Every node runs the daemon's VpnNode (real Noise IK handshakes with X25519, DHT-DHCP, the LAN resolver) over ts/sim/memory-engine.ts; ` +
  `latencies from the PlanetLab-490 RTT matrix (rows resampled beyond 490 nodes). ${machineNote()}\n`;
const files = writeResults('benches/results', `sim-vpn-n${nodes}-s${seed}`, r, md);
process.stdout.write(`${md}\nwrote ${files.json}, ${files.md}\n`);
