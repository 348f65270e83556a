// Owns the routing measurement: greedy hop counts and path latency against N. Large N use the
// steady-state ring built directly (steady.ts); small N can also run the full join protocol.
// It must not change routing; both paths call core/routing.ts.
import { Xoshiro128, randInt, forkRng } from '../../core/rng.js';
import { type LatencyMatrix, NetworkModel } from '../network.js';
import { buildStaticRing, greedyPath } from '../steady.js';
import { buildJoined } from './join.js';
import { probeDelivery, quantile } from '../measure.js';

export interface RouteRow {
  n: number;
  log2n: number;
  build: 'static' | 'joined';
  pairs: number;
  success: number;
  meanHops: number;
  p99Hops: number;
  meanLatencyMs: number;
  p99LatencyMs: number;
  connsPerNode: number;
  resampledLatency: boolean;
  wallMs: number;
}

export function routeStatic(n: number, pairs: number, seed: number, m: LatencyMatrix): RouteRow {
  const t0 = performance.now();
  const rng = new Xoshiro128(seed);
  const g = buildStaticRing(n, rng);
  const net = new NetworkModel(m, n, forkRng(rng));
  const hops: number[] = [], lat: number[] = [];
  let ok = 0;
  for (let k = 0; k < pairs; k++) {
    const a = randInt(rng, n);
    let b = randInt(rng, n);
    while (b === a) b = randInt(rng, n);
    const p = greedyPath(g, a, b);
    if (!p) continue;
    ok++;
    hops.push(p.length - 1);
    let l = 0;
    for (let i = 1; i < p.length; i++) l += net.oneWay(p[i - 1] as number, p[i] as number);
    lat.push(l);
  }
  hops.sort((x, y) => x - y); lat.sort((x, y) => x - y);
  const deg = g.adj.reduce((s, a) => s + a.length, 0) / n;
  return {
    n, log2n: Math.log2(n), build: 'static', pairs, success: ok / pairs,
    meanHops: hops.reduce((s, x) => s + x, 0) / hops.length, p99Hops: quantile(hops, 0.99),
    meanLatencyMs: lat.reduce((s, x) => s + x, 0) / lat.length, p99LatencyMs: quantile(lat, 0.99),
    connsPerNode: deg, resampledLatency: net.resampled, wallMs: performance.now() - t0,
  };
}

export function routeJoined(n: number, pairs: number, seed: number, m: LatencyMatrix, progress?: (f: number) => void): RouteRow {
  const t0 = performance.now();
  // structured links only: probes between the same pair both ways would otherwise make on-demand links
  const { h } = buildJoined({ nodes: n, seed, harness: { matrix: m, params: { onDemand: false } }, progress: (f) => progress?.(f * 0.8) });
  h.run(h.now + 60_000);
  let conns = 0;
  for (const x of h.nodes) if (x) conns += x.connectionCount();
  const p = probeDelivery(h, pairs, 20_000);
  progress?.(1);
  return {
    n, log2n: Math.log2(n), build: 'joined', pairs, success: p.successRate, meanHops: p.meanHops, p99Hops: p.p99Hops,
    meanLatencyMs: p.meanLatencyMs, p99LatencyMs: p.p99LatencyMs, connsPerNode: conns / n,
    resampledLatency: h.net.resampled, wallMs: performance.now() - t0,
  };
}
