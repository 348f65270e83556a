// Owns the `ringvpn sim <scenario>` entry: runs one scenario, shows progress on stderr, prints a summary
// table and writes benches/results/sim-<scenario>-* (JSON, Markdown, SVG). It must not parse argv
// (the CLI does) and must not hold scenario logic (join.ts, routes.ts, churn.ts, figure5.ts, scale.ts do).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Xoshiro128 } from '../core/rng.js';
import { LatencyMatrix, DEFAULT_LATENCY_FILE } from './network.js';
import { buildJoined } from './scenarios/join.js';
import { routeStatic, routeJoined, type RouteRow } from './scenarios/routes.js';
import { runChurn } from './scenarios/churn.js';
import { figure5 } from './scenarios/figure5.js';
import { runScale } from './scenarios/scale.js';
import { lineChart } from './plot.js';
import { progressBar, mdTable, writeResults, machineNote } from './sim-report.js';
import { errors } from '../base/errors.js';

export const SCENARIOS = ['join', 'routing', 'churn', 'figure5', 'scale'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface SimOptions {
  nodes: number;
  seed: number;
  /** output directory, e.g. benches/results */
  out: string;
  /** figure5: trials per size (default 100); routing: pairs per size (default 10,000) */
  trials?: number;
  pairs?: number;
  /** routing: sizes (default 100, 1000, 10000, 100000); figure5: sizes (default 25…490) */
  sizes?: number[];
  /** routing: run full joins up to this N (default 1000); larger N use the directly built ring */
  joinedUpTo?: number;
  /** churn: failures (and joins) per minute as a fraction of N (default 0.05); duration in virtual s */
  rate?: number;
  durationS?: number;
  latencyFile?: string;
  quiet?: boolean;
}

export interface SimSummary { scenario: Scenario; files: { json: string; md: string; svg?: string }; table: string; data: unknown }

const LATENCY_NOTE = 'Latency: PlanetLab-490 all-pairs RTT (not the King data set used by the paper).';

export async function runSimCommand(scenario: string, opts: SimOptions): Promise<SimSummary> {
  if (!(SCENARIOS as readonly string[]).includes(scenario)) {
    throw errors.E_SIM_SCENARIO(`unknown scenario '${scenario}' (one of ${SCENARIOS.join(', ')})`);
  }
  const matrix = LatencyMatrix.load(opts.latencyFile ?? DEFAULT_LATENCY_FILE);
  const bar = progressBar(`sim ${scenario}`, opts.quiet ? false : undefined);
  const s = scenario as Scenario;
  let data: unknown, md: string, svg: string | undefined, table: string, base: string;
  const extra: { name: string; svg: string }[] = [];
  const resampleNote = (n: number): string => (n > matrix.n
    ? ` Beyond ${matrix.n} nodes, matrix rows are sampled with replacement and each pair gets ±10 % jitter (copies of one host: 1-10 ms).`
    : '');

  switch (s) {
    case 'join': {
      const { r } = buildJoined({ nodes: opts.nodes, seed: opts.seed, harness: { matrix }, progress: (f) => bar(f) });
      bar(1);
      base = `sim-join-n${opts.nodes}-s${opts.seed}`;
      table = mdTable(['nodes', 'join interval ms', 'last join s', '100 % consistent at s', 'conns/node', 'events', 'wall s'],
        [[r.nodes, r.intervalMs, r.lastJoinMs / 1000, r.consistentAtMs === null ? 'never' : r.consistentAtMs / 1000, r.connectionsPerNode, r.events, r.wallMs / 1000]]);
      md = `# Join: ${opts.nodes} nodes, seed ${opts.seed}\n\n${table}\nNode i starts at i·${r.intervalMs} ms with the first 3 nodes as bootstrap list; the crawl runs every virtual second.\n\n${LATENCY_NOTE}${resampleNote(opts.nodes)} ${machineNote()}\n`;
      svg = lineChart({
        title: `Join: ${opts.nodes} nodes, one every ${r.intervalMs} ms`, xLabel: 'virtual time (s)', yLabel: '%', yMin: 0, yMax: 100,
        series: [
          { name: 'crawl consistency', points: r.timeline.map((x) => [x.t, x.consistency * 100]) },
          { name: 'started (% of N)', points: r.timeline.map((x) => [x.t, (x.nodes / opts.nodes) * 100]), dashed: true },
        ],
        note: LATENCY_NOTE,
      });
      data = r;
      break;
    }
    case 'routing': {
      const sizes = opts.sizes ?? [100, 1000, 10_000, 100_000];
      const pairs = opts.pairs ?? 10_000;
      const joinedUpTo = opts.joinedUpTo ?? 1000;
      const rows: RouteRow[] = [];
      sizes.forEach((n, i) => {
        bar(i / sizes.length, `N=${n}`);
        rows.push(routeStatic(n, pairs, opts.seed, matrix));
        if (n <= joinedUpTo) rows.push(routeJoined(n, pairs, opts.seed, matrix, (f) => bar((i + f) / sizes.length, `N=${n} joins`)));
      });
      bar(1);
      base = `sim-routing-s${opts.seed}`;
      table = mdTable(['N', 'log2 N', 'ring', 'pairs', 'delivered', 'mean hops', 'p99 hops', 'mean path ms', 'p99 path ms', 'links/node', 'wall s'],
        rows.map((r) => [r.n, r.log2n, r.build, r.pairs, `${(r.success * 100).toFixed(2)} %`, r.meanHops, r.p99Hops, r.meanLatencyMs, r.p99LatencyMs, r.connsPerNode, r.wallMs / 1000]));
      md = `# Greedy routing: hops and path latency against N (seed ${opts.seed})\n\n${table}\n` +
        `"static": the steady-state ring built directly from sorted random ids (2 near per side, ceil(0.5·log2 N̂) Symphony shortcuts drawn by ts/core/ring.ts, N̂ from the near span), routed with ts/core/routing.ts. ` +
        `"joined": every node ran the join protocol in the simulator, 60 s of steady state, then ${pairs} exact-mode messages (on-demand links off, so only the ring and shortcuts route; links/node counted before the messages).\n\n${LATENCY_NOTE}${resampleNote(Math.max(...sizes))} ${machineNote()}\n`;
      const st = rows.filter((r) => r.build === 'static');
      const jo = rows.filter((r) => r.build === 'joined');
      svg = lineChart({
        title: 'Greedy routing hops vs log2 N', xLabel: 'log2 N', yLabel: 'hops',
        series: [
          { name: 'mean (static ring)', points: st.map((r) => [r.log2n, r.meanHops]) },
          { name: 'p99 (static ring)', points: st.map((r) => [r.log2n, r.p99Hops]), dashed: true },
          { name: 'mean (joined)', points: jo.map((r) => [r.log2n, r.meanHops]) },
          { name: 'log2 N', points: st.map((r) => [r.log2n, r.log2n]), dashed: true },
        ],
        note: 'ringvpn simulator: 2 near links per side, ceil(0.5·log2 N̂) Symphony shortcuts, greedy routing.',
      });
      extra.push({ name: `sim-routing-latency-s${opts.seed}.svg`, svg: lineChart({
        title: 'Greedy routing path latency vs log2 N', xLabel: 'log2 N', yLabel: 'one-way path latency (ms)', yMin: 0,
        series: [
          { name: 'mean (static ring)', points: st.map((r) => [r.log2n, r.meanLatencyMs]) },
          { name: 'p99 (static ring)', points: st.map((r) => [r.log2n, r.p99LatencyMs]), dashed: true },
          { name: 'mean (joined)', points: jo.map((r) => [r.log2n, r.meanLatencyMs]) },
        ],
        note: 'PlanetLab-490 RTT/2 per link; beyond 490 nodes rows resampled with ±10 % jitter.',
      }) });
      data = { seed: opts.seed, pairs, rows, resampledBeyond: matrix.n };
      break;
    }
    case 'churn': {
      const rate = opts.rate ?? 0.05;
      const r = runChurn({ nodes: opts.nodes, seed: opts.seed, ratePerMin: rate, durationMs: (opts.durationS ?? 600) * 1000, sampleMs: 10_000, probes: 200, matrix, progress: (f) => bar(f) });
      bar(1);
      base = `sim-churn-n${opts.nodes}-r${+(rate * 100).toFixed(2)}-s${opts.seed}`;
      table = mdTable(['nodes', 'rate / min', 'failures', 'joins', 'mean crawl consistency', 'samples 100 % consistent', 'mean delivery', 'min delivery', 'wall s'],
        [[r.nodes, `${(r.ratePerMin * 100).toFixed(1)} % of N`, r.failures, r.joins, `${(r.meanConsistency * 100).toFixed(2)} %`,
          `${r.samples.filter((x) => x.ok).length}/${r.samples.length}`, `${(r.meanDelivery * 100).toFixed(2)} %`,
          `${(Math.min(...r.samples.map((x) => x.delivery)) * 100).toFixed(1)} %`, r.wallMs / 1000]]);
      md = `# Churn: ${opts.nodes} nodes, seed ${opts.seed}\n\n${table}\nFailures and joins are Poisson processes at the same rate; the 3 bootstrap nodes never fail. Every 10 virtual s: crawl, then 200 exact-mode messages between random live pairs (5 s to arrive).\n\n${LATENCY_NOTE}${resampleNote(opts.nodes)} ${machineNote()}\n`;
      svg = lineChart({
        title: `Churn: ${opts.nodes} nodes, ${(rate * 100).toFixed(1)} % of N fail and join per minute`, xLabel: 'virtual time (s)', yLabel: '% ', yMin: 0, yMax: 100,
        series: [
          { name: 'crawl consistency', points: r.samples.map((x) => [x.t, x.consistency * 100]) },
          { name: 'delivery success', points: r.samples.map((x) => [x.t, x.delivery * 100]) },
        ],
        note: LATENCY_NOTE,
      });
      data = r;
      break;
    }
    case 'figure5': {
      const sizes = opts.sizes ?? [25, 50, 75, 100, 150, 200, 250, 300, 350, 400, 450, 490];
      const trials = opts.trials ?? 100;
      const rows = figure5(sizes, trials, matrix, new Xoshiro128(opts.seed), (f) => bar(f));
      bar(1);
      base = `sim-figure5-s${opts.seed}`;
      table = mdTable(['N', 'trials', 'pairs', 'dropped (relay < direct)', 'direct ms', 'two-hop relay ms', 'overlay ms', 'overlay hops', 'relay vs overlay: 1 - relay/overlay', 'overlay/relay - 1'],
        rows.map((r) => [r.n, r.trials, r.pairs, r.droppedTriangle, r.direct, r.twoHop, r.overlay, r.overlayHops, `${(r.reduction * 100).toFixed(1)} %`, `${(r.speedup * 100).toFixed(1)} %`]));
      const at = (n: number): string => { const r = rows.find((x) => x.n === n); return r ? `${(r.reduction * 100).toFixed(0)} % lower latency (overlay ${(r.speedup * 100).toFixed(0)} % slower)` : 'n/a'; };
      md = `# The paper's Figure 5 on PlanetLab-490 (seed ${opts.seed})\n\n${table}\n` +
        `Method (Brunet Graph, notes/brunet.md §2): N distinct random matrix rows; 2 near links per side and ceil(0.5·log2 N) Symphony shortcuts snapped to the nearest node, both ends count; every ordered pair not directly linked and with a direct RTT in (0, 500] ms; ` +
        `two-hop = min over both directions of (endpoint → its overlay neighbour with the lowest first-hop delay → other endpoint) — the clean variant, not Brunet's stale-neighbour quirk; pairs where the relay beats the direct path are dropped from all three means; overlay = sum of link delays along the greedy route. ` +
        `Delays are the matrix values (RTT ms) as Brunet reads King entries.\n\n` +
        `Paper (King data set, 1,740 hosts): about 54 % improvement at 100 nodes and 87 % at 200. Here: 100 nodes ${at(100)}; 200 nodes ${at(200)}. ` +
        `The paper does not say which ratio its "% increase" is, so both are given; absolute values differ because the data set differs (${LATENCY_NOTE}) ${machineNote()}\n`;
      svg = lineChart({
        title: 'Figure 5 reproduction: average latency (PlanetLab-490)', xLabel: 'network size N', yLabel: 'mean latency (ms, RTT matrix units)', yMin: 0,
        series: [
          { name: 'overlay routing', points: rows.map((r) => [r.n, r.overlay]) },
          { name: 'two-hop relay', points: rows.map((r) => [r.n, r.twoHop]) },
          { name: 'direct', points: rows.map((r) => [r.n, r.direct]) },
        ],
        note: `${trials} trials per N; paper used King (1,740 hosts), this uses PlanetLab-490.`,
      });
      data = { seed: opts.seed, trials, rows, dataset: 'PlanetLab-490 slice 1 (RTT ms)', paper: { at100: 0.54, at200: 0.87, dataset: 'King' } };
      break;
    }
    case 'scale': {
      const r = runScale({ nodes: opts.nodes, seed: opts.seed, virtualMs: (opts.durationS ?? 600) * 1000, matrix, progress: (f) => bar(f) });
      bar(1);
      base = `sim-scale-n${opts.nodes}-s${opts.seed}`;
      table = scaleTable(r);
      md = `# Scale: ${opts.nodes} nodes for ${(opts.durationS ?? 600)} virtual s (seed ${opts.seed})\n\n${table}\n${LATENCY_NOTE}${resampleNote(opts.nodes)} ${machineNote()}\n`;
      data = r;
      break;
    }
  }
  const files = writeResults(opts.out, base, data, md, svg);
  for (const e of extra) writeFileSync(join(opts.out, e.name), e.svg);
  if (!opts.quiet) process.stdout.write(`\n${table}\nwrote ${[files.json, files.md, files.svg].filter(Boolean).join(', ')}\n`);
  return { scenario: s, files, table, data };
}

export function scaleTable(r: ReturnType<typeof runScale>): string {
  return mdTable(['nodes', 'virtual s', 'last join at s', 'crawl 100 % after last join', 'wall s (joins + rest)', 'events', 'events/s', 'heap KB/node', 'RSS MB', 'crawl', 'links/node', 'delivered', 'mean hops', 'p99 hops'],
    [[r.nodes, r.virtualMs / 1000, ((r.nodes - 1) * r.joinIntervalMs) / 1000,
      r.consistentAfterLastJoinMs === null ? 'not reached' : `${(r.consistentAfterLastJoinMs / 1000).toFixed(0)} s`, `${(r.wallMs / 1000).toFixed(1)} (${(r.wallJoinMs / 1000).toFixed(1)} + ${(r.wallSteadyMs / 1000).toFixed(1)})`, r.events, Math.round(r.eventsPerSec),
      r.heapBytesPerNode / 1024, r.rssMB, r.consistentAtEnd ? '100 %' : `${(r.consistency * 100).toFixed(2)} %`, r.connectionsPerNode,
      `${r.probe.delivered}/${r.probe.sent}`, r.probe.meanHops, r.probe.p99Hops]]);
}
