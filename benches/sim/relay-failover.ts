// Benchmark (not a test): how long a relayed pair is cut off when its relay crashes, in the simulator's
// `mixed` NAT topology (the lab preset as NAT models). For each seed and each pair that cannot punch, a
// ping every 200 ms runs through the relay, the relay crashes at a seed-dependent moment, and the gap is
// the time from the crash to the first ping after which none is lost. Reports how each end recovered
// (fail-over to a reserve, or the link lost and made again).
// Run: npm run bench:relay-failover -- [--seeds 6] [--write]
import { LatencyMatrix } from '../../ts/sim/network.js';
import { MIXED_FIREWALLED, MIXED_NATS } from '../../ts/sim/nat-sites.js';
import { VpnHarness, type PingRecord } from '../../ts/sim/vpn-harness.js';
import { mdTable, machineNote, writeResults } from '../../ts/sim/sim-report.js';
import { repoRoot } from '../../ts/paths.js';
import { join } from 'node:path';

const args = process.argv.slice(2);
const opt = (n: string, d: string): string => { const i = args.indexOf(`--${n}`); return i >= 0 ? args[i + 1]! : d; };
const seeds = Number(opt('seeds', '6'));

const MIXED = MIXED_NATS;
/** pairs that cannot punch: symmetric-symmetric, port-restricted-symmetric, the firewalled pair */
const PAIRS: [number, number][] = [[6, 7], [4, 6], [8, 9], [5, 7]];

interface Row { seed: number; a: number; b: number; relay: number; gapMs: number; lost: number; failovers: number; relaysLost: number }
const rows: Row[] = [];
for (let seed = 1; seed <= seeds; seed++) {
  for (const [a, b] of PAIRS) {
    const h = new VpnHarness({ capacity: MIXED.length, seed, matrix: LatencyMatrix.uniform(MIXED.length, 20), bootstrapCount: 2, nat: (i) => MIXED[i] ?? null });
    h.net.block(...MIXED_FIREWALLED);
    for (let i = 0; i < MIXED.length; i++) h.addNode(i * 200);
    h.run(40_000);
    h.pingAll();
    h.run(h.now + 20_000);
    const p = h.nodes[a]!.links.peerOf(h.nodes[b]!.self);
    if (!p?.established || p.endpoint || p.relay === null) { console.log(`seed ${seed} ${a}-${b}: not on a relay link, skipped`); continue; }
    const hopId = h.nodes[a]!.links.peers.get(p.relay)!.nodeId;
    const hop = h.nodes.findIndex((x) => x?.self === hopId);
    const recs: PingRecord[] = [];
    const start = h.now;
    for (let k = 0; k < 150; k++) h.at(start + k * 200, () => recs.push(h.ping(a, b, 1)));
    const killAt = start + 5_000 + (seed * 731) % 5_000;
    h.at(killAt, () => h.crash(hop));
    h.run(start + 40_000);
    const after = recs.filter((r) => r.sentAt >= killAt);
    const resumed = after.find((r) => r.repliedAt !== null && !after.some((q) => q.sentAt > r.sentAt && q.repliedAt === null));
    const sa = h.nodes[a]!.relays!.stats, sb = h.nodes[b]!.relays!.stats;
    const row: Row = { seed, a, b, relay: hop, gapMs: resumed ? Math.round(resumed.sentAt - killAt) : Infinity, lost: after.filter((r) => r.repliedAt === null).length, failovers: sa.failovers + sb.failovers, relaysLost: sa.lost + sb.lost };
    rows.push(row);
    console.log(`seed ${seed} ${a}-${b} through ${hop}: back after ${row.gapMs} ms (${row.lost} pings lost; fail-overs ${row.failovers}, relay links lost ${row.relaysLost})`);
  }
}
const gaps = rows.map((r) => r.gapMs).sort((x, y) => x - y);
const q = (f: number): number => gaps[Math.min(gaps.length - 1, Math.floor(f * gaps.length))]!;
const summary = { crashes: rows.length, medianMs: q(0.5), p90Ms: q(0.9), maxMs: gaps.at(-1)! };
console.log(`${summary.crashes} relay crashes: traffic back after median ${summary.medianMs} ms, p90 ${summary.p90Ms} ms, worst ${summary.maxMs} ms`);
if (args.includes('--write')) {
  const md = `# Relay crash under traffic, simulator \`mixed\` topology (${seeds} seeds)\n\n`
    + `${summary.crashes} crashes: traffic back after median ${summary.medianMs} ms, p90 ${summary.p90Ms} ms, worst ${summary.maxMs} ms (a ping every 200 ms; ${machineNote()}).\n\n`
    + mdTable(['seed', 'pair', 'relay', 'back after (ms)', 'pings lost', 'fail-overs (both ends)', 'relay links lost'], rows.map((r) => [r.seed, `${r.a}-${r.b}`, r.relay, r.gapMs, r.lost, r.failovers, r.relaysLost]));
  const w = writeResults(join(repoRoot, 'benches/results'), 'relay-failover', { summary, rows }, md);
  console.log(`wrote ${w.md}`);
}
