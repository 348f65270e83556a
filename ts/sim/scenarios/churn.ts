// Owns the churn scenario: after a joined steady state, nodes fail and new nodes join as Poisson
// processes at a given rate; crawl consistency and delivery success are sampled over time.
// It must not touch node internals; the bootstrap nodes (first 3) are kept alive so joins can proceed.
import { buildJoined } from './join.js';
import { crawlNow, probeDelivery } from '../measure.js';
import { type LatencyMatrix } from '../network.js';
import { randInt } from '../../core/rng.js';

export interface ChurnOptions {
  nodes: number;
  seed: number;
  /** failures per minute as a fraction of N (the same rate of joins) */
  ratePerMin: number;
  durationMs: number;
  sampleMs: number;
  probes: number;
  matrix?: LatencyMatrix;
  progress?: (f: number) => void;
}

export interface ChurnSample { t: number; live: number; consistency: number; ok: boolean; delivery: number; meanHops: number }
export interface ChurnResult { nodes: number; seed: number; ratePerMin: number; failures: number; joins: number; samples: ChurnSample[]; meanDelivery: number; meanConsistency: number; wallMs: number }

export function runChurn(o: ChurnOptions): ChurnResult {
  const t0 = performance.now();
  const perMs = (o.ratePerMin * o.nodes) / 60_000;
  const expected = Math.ceil(perMs * o.durationMs * 1.5 + 50);
  const { h } = buildJoined({
    nodes: o.nodes, seed: o.seed, harness: { capacity: o.nodes + expected, matrix: o.matrix },
    progress: (f) => o.progress?.(f * 0.3),
  });
  h.run(h.now + 60_000);
  const start = h.now;
  let failures = 0, joins = 0;
  // schedule the two Poisson processes up front
  for (let t = start; perMs > 0;) {
    t += -Math.log(1 - h.rng.next()) / perMs;
    if (t >= start + o.durationMs) break;
    h.at(t, () => {
      const live = h.liveIndices().filter((i) => i >= 3);
      if (live.length) { h.crash(live[randInt(h.rng, live.length)] as number); failures++; }
    });
  }
  for (let t = start; perMs > 0;) {
    t += -Math.log(1 - h.rng.next()) / perMs;
    if (t >= start + o.durationMs) break;
    h.at(t, () => { if (h.count < h.o.capacity) { h.addNode(h.now); joins++; } });
  }
  const samples: ChurnSample[] = [];
  for (let t = start + o.sampleMs; t <= start + o.durationMs; t += o.sampleMs) {
    h.run(t - 5_000);
    const c = crawlNow(h);
    const p = probeDelivery(h, o.probes, 5_000);
    samples.push({ t: (t - start) / 1000, live: c.nodes, consistency: c.consistency, ok: c.ok, delivery: p.successRate, meanHops: p.meanHops });
    o.progress?.(0.3 + 0.7 * ((t - start) / o.durationMs));
  }
  const mean = (a: number[]): number => a.reduce((s, x) => s + x, 0) / Math.max(1, a.length);
  return {
    nodes: o.nodes, seed: o.seed, ratePerMin: o.ratePerMin, failures, joins, samples,
    meanDelivery: mean(samples.map((s) => s.delivery)), meanConsistency: mean(samples.map((s) => s.consistency)),
    wallMs: performance.now() - t0,
  };
}
