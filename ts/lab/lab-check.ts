// Owns `lab check`: every node's status, the ring crawl over their pointers, pings between pairs (all
// ordered pairs of a small lab, else a sample) and each pinged pair's data path. It must not change the
// lab (no starts, stops or config edits); it reads the RingLab and pings from its namespaces.
import { Xoshiro128 } from '../core/rng.js';
import { type CrawlResult } from '../core/crawl.js';
import { DEVICE, firstPings, samplePairs } from './labstate.js';
import { arpCacheCap } from './labsys.js';
import { pairPaths, type PathSummary } from './lab-paths.js';
import { mapLimit, pingFirst } from './util.js';
import type { RingLab } from './ringlab.js';

export interface CheckOptions {
  sample?: number; seed?: number; concurrency?: number; allUpTo?: number;
  /** only these nodes (default: every node) */
  nodes?: number[];
  /** Echo requests per pair (default 6, 0.2 s apart: a first contact loses the first few); any reply counts. */
  count?: number;
  onProgress?: (line: string) => void;
}

export interface CheckResult {
  lab: string; nodes: number; ok: boolean; elapsedMs: number; seed: number;
  status: { answered: number; failed: Array<{ node: string; error: string }> };
  addresses: { assigned: number; missing: string[] };
  pairs: { total: number; reachable: number; unreachable: Array<{ from: string; to: string; vip: string | null; why: string }> };
  /** the very first echo request of each pair (to a peer maybe never contacted): answered, and its round trip */
  first: { answered: number; medianMs: number | null; maxMs: number | null; unanswered: Array<{ from: string; to: string }> };
  crawl: CrawlResult & { errors: string[] };
  /** each pinged pair's data path, read from the source's status after the pings */
  paths?: PathSummary;
}

/** Status, crawl and pings (all ordered pairs up to 16 nodes, else `sample` random targets per node). */
export async function checkLab(lab: RingLab, o: CheckOptions = {}): Promise<CheckResult> {
  const t0 = Date.now();
  const say = o.onProgress ?? (() => {});
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 31);
  const which = o.nodes ?? lab.state.nodes.map((_, i) => i);
  const size = which.length;
  const replies = await lab.statuses(16, which);
  const failed = replies.flatMap((r) => (r.status ? [] : [{ node: r.name, error: r.error ?? 'no answer' }]));
  say(`status: ${replies.length - failed.length}/${replies.length} nodes answered`);
  const cr = await lab.crawl(replies);
  const vips = replies.map((r) => r.status?.address ?? null);
  // a node that does not answer is still pinged at its last known address
  const targets = vips.map((v, k) => v ?? (replies[k]!.status ? null : lab.state.nodes[which[k]!]!.vip));
  // pairs index into `which`
  const pairs = samplePairs(size, o.sample ?? 4, new Xoshiro128(seed), o.allUpTo ?? 16);
  const cap = arpCacheCap();
  if (lab.state.mode === 'tap' && cap !== null && pairs.length > 0.75 * cap) {
    say(`note: ${pairs.length} pairs need as many ARP entries on ${DEVICE}; the kernel's ARP cache is shared by all namespaces and holds ${cap} (gc_thresh3), so some pings may fail with "No buffer space available"`);
  }
  let done = 0, good = 0;
  const every = Math.max(1, Math.ceil(pairs.length / 20));
  const results = await mapLimit(pairs, o.concurrency ?? 16, async (p) => {
    const from = which[p.from]!, to = which[p.to]!;
    const vip = targets[p.to] ?? null;
    let why = '';
    let firstMs: number | null = null;
    if (!vip) why = `${lab.state.nodes[to]!.name} has no address`;
    else {
      const r = await pingFirst(lab.node(from).ns, vip, o.count ?? 6, 3);
      firstMs = r.firstMs;
      if (r.received === 0) why = 'no reply';
    }
    if (!why) good++;
    if (++done % every === 0 || done === pairs.length) say(`[${done}/${pairs.length}] pings, ${good} answered`);
    return { from: lab.state.nodes[from]!.name, to: lab.state.nodes[to]!.name, vip, why, firstMs };
  });
  const unreachable = results.filter((r) => r.why).map(({ firstMs: _f, ...r }) => r);
  const after = await lab.statuses(16, which); // the paths the pings used
  const paths = pairPaths(pairs, after.map((r) => r.status), which.map((i) => lab.node(i).nodeId), after.map((r) => r.name), new Map(lab.state.nodes.map((s, i) => [lab.node(i).nodeId, s.name])));
  const first = firstPings(results);
  const missing = vips.flatMap((v, k) => (v ? [] : [lab.state.nodes[which[k]!]!.name]));
  const crawlOk = cr.ok && cr.nodes === size && cr.errors.length === 0;
  return {
    lab: lab.name, nodes: size, seed, elapsedMs: Date.now() - t0,
    ok: failed.length === 0 && missing.length === 0 && unreachable.length === 0 && first.unanswered.length === 0 && crawlOk,
    status: { answered: replies.length - failed.length, failed },
    addresses: { assigned: size - missing.length, missing },
    pairs: { total: pairs.length, reachable: pairs.length - unreachable.length, unreachable },
    first, crawl: cr, paths,
  };
}
