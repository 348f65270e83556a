// Owns the join scenario: N nodes join one after another from a bootstrap list; the result is the
// virtual time until the crawl is 100 % consistent. It must not shortcut joins (every node runs the protocol).
import { Harness, type HarnessOptions } from '../harness.js';
import { crawlNow, runUntilConsistent } from '../measure.js';

export interface JoinOptions {
  nodes: number;
  seed: number;
  /** virtual ms between successive joins */
  intervalMs?: number;
  /** give up this long after the last join */
  limitMs?: number;
  harness?: Partial<HarnessOptions>;
  progress?: (fraction: number, now: number) => void;
}

export interface JoinResult {
  nodes: number;
  seed: number;
  intervalMs: number;
  lastJoinMs: number;
  /** virtual ms (from the first join) when the crawl first became 100 % consistent; null if never */
  consistentAtMs: number | null;
  consistency: number;
  events: number;
  connectionsPerNode: number;
  wallMs: number;
  /** once per virtual second: nodes started so far, crawl consistency over them */
  timeline: { t: number; nodes: number; consistency: number }[];
}

export function buildJoined(o: JoinOptions): { h: Harness; r: JoinResult } {
  const t0 = performance.now();
  const interval = o.intervalMs ?? 20;
  const limit = o.limitMs ?? 120_000;
  const h = new Harness({ capacity: o.nodes, seed: o.seed, ...o.harness });
  for (let i = 0; i < o.nodes; i++) h.addNode(i * interval);
  const lastJoin = (o.nodes - 1) * interval;
  const total = lastJoin + limit;
  const prog = (now: number): void => o.progress?.(Math.min(1, now / total), now);
  const timeline: JoinResult['timeline'] = [];
  const sample = (): void => { const c = crawlNow(h); timeline.push({ t: h.now / 1000, nodes: c.nodes, consistency: c.consistency }); };
  for (let t = 1_000; t <= lastJoin + 1_000; t += 1_000) { h.run(t, prog); sample(); }
  const at = runUntilConsistent(h, limit, 1_000, (now) => { prog(now); sample(); });
  for (let k = 0; k < 10; k++) { h.run(h.now + 1_000); sample(); }
  let conns = 0;
  for (const n of h.nodes) if (n) conns += n.connectionCount();
  return {
    h,
    r: {
      nodes: o.nodes, seed: o.seed, intervalMs: interval, lastJoinMs: lastJoin, consistentAtMs: at,
      consistency: crawlNow(h).consistency, events: h.events, connectionsPerNode: conns / o.nodes,
      wallMs: performance.now() - t0, timeline,
    },
  };
}
