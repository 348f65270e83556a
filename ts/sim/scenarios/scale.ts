// Owns the scale run: N nodes join (every node runs the protocol) and the network runs for a fixed
// virtual time; reports wall time, events, memory per simulated node, crawl and delivery at the end.
// It must not skip protocol work to look faster.
import { Harness } from '../harness.js';
import { type LatencyMatrix } from '../network.js';
import { crawlNow, probeDelivery, type ProbeResult } from '../measure.js';

export interface ScaleOptions {
  nodes: number;
  seed: number;
  virtualMs: number;
  intervalMs?: number;
  probes?: number;
  matrix?: LatencyMatrix;
  /** returns heap bytes in use after a full GC if possible */
  heapUsed?: () => number;
  progress?: (f: number, now: number) => void;
}

export interface ScaleResult {
  nodes: number;
  seed: number;
  virtualMs: number;
  joinIntervalMs: number;
  wallMs: number;
  wallJoinMs: number;
  wallSteadyMs: number;
  events: number;
  eventsPerSec: number;
  heapBytesPerNode: number;
  rssMB: number;
  /** virtual ms after the last join when the crawl first was 100 % consistent (checked every 1 s); null if not by the end */
  consistentAfterLastJoinMs: number | null;
  consistentAtEnd: boolean;
  consistency: number;
  connectionsPerNode: number;
  probe: ProbeResult;
  simDrops: Record<string, number>;
  nodeDrops: Record<string, number>;
  resampledLatency: boolean;
}

export function runScale(o: ScaleOptions): ScaleResult {
  const heap = o.heapUsed ?? ((): number => process.memoryUsage().heapUsed);
  const before = heap();
  const t0 = performance.now();
  const interval = o.intervalMs ?? 20;
  const h = new Harness({ capacity: o.nodes, seed: o.seed, matrix: o.matrix });
  for (let i = 0; i < o.nodes; i++) h.addNode(i * interval);
  const lastJoin = (o.nodes - 1) * interval;
  const prog = (now: number): void => o.progress?.(now / o.virtualMs, now);
  h.run(Math.min(lastJoin, o.virtualMs), prog);
  let consistentAfter: number | null = null;
  while (h.now < o.virtualMs) {
    h.run(Math.min(o.virtualMs, h.now + 1000), prog);
    if (crawlNow(h).ok) { consistentAfter = h.now - lastJoin; break; }
  }
  const tJoin = performance.now();
  h.run(o.virtualMs, prog);
  const tEnd = performance.now();
  const after = heap();
  const c = crawlNow(h);
  let conns = 0;
  for (const n of h.nodes) if (n) conns += n.connectionCount();
  const probe = probeDelivery(h, o.probes ?? 10_000, 20_000);
  return {
    nodes: o.nodes, seed: o.seed, virtualMs: o.virtualMs, joinIntervalMs: interval,
    wallMs: tEnd - t0, wallJoinMs: tJoin - t0, wallSteadyMs: tEnd - tJoin,
    events: h.events, eventsPerSec: h.events / ((tEnd - t0) / 1000),
    heapBytesPerNode: (after - before) / o.nodes, rssMB: process.memoryUsage().rss / 2 ** 20,
    consistentAfterLastJoinMs: consistentAfter, consistentAtEnd: c.ok, consistency: c.consistency, connectionsPerNode: conns / o.nodes, probe,
    simDrops: h.simDrops, nodeDrops: h.nodeDrops(), resampledLatency: h.net.resampled,
  };
}
