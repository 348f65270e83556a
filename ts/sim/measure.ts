// Owns measurement on a running simulation: send application messages between random live pairs and
// collect delivery, hop counts and path latency (virtual send-to-deliver time); crawl the ring.
// It must not change the overlay beyond sending the probes it counts.
import { type Harness } from './harness.js';
import { crawl, type CrawlResult } from '../core/crawl.js';
import { randInt } from '../core/rng.js';

export interface ProbeResult {
  sent: number;
  delivered: number;
  misdelivered: number;
  successRate: number;
  meanHops: number;
  p99Hops: number;
  maxHops: number;
  meanLatencyMs: number;
  p99LatencyMs: number;
}

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

/** Send `pairs` exact-mode messages between random distinct live nodes, wait `waitMs`, report. */
export function probeDelivery(h: Harness, pairs: number, waitMs = 20_000): ProbeResult {
  const live = h.liveIndices();
  const expected = new Map<number, { dst: number; at: number }>();
  const hops: number[] = [];
  const lat: number[] = [];
  let misdelivered = 0;
  const prev = h.onDeliver;
  h.onDeliver = (at, o) => {
    if (o.payload.length !== 8) { prev?.(at, o); return; }
    const dv = new DataView(o.payload.buffer, o.payload.byteOffset, 8);
    if (dv.getUint32(0) !== 0x70726f62) { prev?.(at, o); return; } // "prob"
    const tag = dv.getUint32(4);
    const e = expected.get(tag);
    if (!e) return;
    if (e.dst !== at) { misdelivered++; return; }
    expected.delete(tag);
    hops.push(o.hops);
    lat.push(h.now - e.at);
  };
  for (let k = 0; k < pairs; k++) {
    const a = live[randInt(h.rng, live.length)] as number;
    let b = a;
    while (b === a && live.length > 1) b = live[randInt(h.rng, live.length)] as number;
    const p = new Uint8Array(8);
    const dv = new DataView(p.buffer);
    dv.setUint32(0, 0x70726f62); dv.setUint32(4, k);
    expected.set(k, { dst: b, at: h.now });
    h.send(a, b, p);
  }
  h.run(h.now + waitMs);
  h.onDeliver = prev;
  hops.sort((x, y) => x - y);
  lat.sort((x, y) => x - y);
  const mean = (a: number[]): number => (a.length ? a.reduce((s, x) => s + x, 0) / a.length : NaN);
  return {
    sent: pairs, delivered: hops.length, misdelivered, successRate: hops.length / pairs,
    meanHops: mean(hops), p99Hops: quantile(hops, 0.99), maxHops: hops[hops.length - 1] ?? NaN,
    meanLatencyMs: mean(lat), p99LatencyMs: quantile(lat, 0.99),
  };
}

export function crawlNow(h: Harness): CrawlResult {
  return crawl(h.view());
}

/** Run in steps of `stepMs` until the crawl is 100 % consistent or `limitMs` passes. Returns the time or null. */
export function runUntilConsistent(h: Harness, limitMs: number, stepMs = 1_000, progress?: (now: number) => void): number | null {
  const end = h.now + limitMs;
  while (h.now < end) {
    h.run(Math.min(end, h.now + stepMs));
    progress?.(h.now);
    if (crawlNow(h).ok) return h.now;
  }
  return null;
}
