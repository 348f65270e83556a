// soak.ts — owns the soak benchmark of issue 12: a lab of overlay daemons for a long window with ping
// traffic, churn (one daemon killed and restarted every minute, from a fixed churn set) and one hostile
// namespace flooding members with mixed junk; every daemon's RSS sampled every 10 s; the slope of each
// series after its first 5 minutes (a leak shows as a slope), the worst node, reachability and the crawl
// at the end. It must not leave anything behind: the lab comes down in `finally`, on signals too.
// Usage: tsx benches/attack/soak.ts [--nodes 32] [--minutes 30] [--churn-set 8] [--flood-rate 20000] [--partners 6] [--out benches/results] [--series FILE.json]

import { writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { RingLab } from '../../ts/lab/ringlab.js';
import { rssPartsKiB, startFlood } from '../../ts/lab/flood.js';
import { mapLimit, pingFirst, sleep } from '../../ts/lab/util.js';
import { summarize } from '../lab/procstat.js';
import { repoRoot } from '../../ts/paths.js';

const { values: a } = parseArgs({
  options: {
    nodes: { type: 'string', default: '32' }, minutes: { type: 'string', default: '30' },
    'churn-set': { type: 'string', default: '8' }, 'flood-rate': { type: 'string', default: '20000' }, partners: { type: 'string', default: '6' },
    out: { type: 'string', default: join(repoRoot, 'benches/results') }, series: { type: 'string' }, help: { type: 'boolean', default: false },
  },
});
if (a.help) { process.stdout.write('usage: tsx benches/attack/soak.ts [--nodes 32] [--minutes 30] [--churn-set 8] [--flood-rate 20000] [--partners 6] [--out DIR] [--series FILE.json]\n'); process.exit(0); }
const N = Number(a.nodes), MINUTES = Number(a.minutes), CHURN = Number(a['churn-set']), RATE = Number(a['flood-rate']), PARTNERS = Number(a.partners);
const SAMPLE_MS = 10_000, WARM_MS = 5 * 60_000;
const say = (s: string): void => { process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${s}\n`); };

/** One sample of one daemon: VmRSS (KiB) and, from its status, the V8 heap, external memory (KiB) and its links. */
interface Sample { t: number; rss: number | null; anon: number | null; file: number | null; heapUsed: number | null; heapTotal: number | null; external: number | null; native: number | null; connections: number | null; peers: number | null; dht: number | null }
type Metric = Exclude<keyof Sample, 't'>;
/** least-squares slope of (t ms, metric) per 10 minutes: MB for the memory metrics (KiB samples), counts otherwise */
function slope(xs: Sample[], m: Metric = 'rss'): number | null {
  const v = xs.flatMap((s) => (s[m] === null ? [] : [{ t: s.t, y: s[m]! }]));
  if (v.length < 30) return null; // at least 5 minutes of samples
  const mt = v.reduce((s, x) => s + x.t, 0) / v.length, my = v.reduce((s, x) => s + x.y, 0) / v.length;
  let num = 0, den = 0;
  for (const x of v) { num += (x.t - mt) * (x.y - my); den += (x.t - mt) ** 2; }
  const perTen = (num / den) * 600_000;
  return den === 0 ? null : m === 'connections' || m === 'peers' || m === 'dht' ? perTen : (perTen * 1024) / 1e6;
}
interface MemoryStatus { memory?: { heapUsedBytes?: number; heapTotalBytes?: number; externalBytes?: number }; connections?: unknown[]; dataPeers?: unknown[]; dht?: { entries?: number } | null }
/** `mem`: VmRSS and its anonymous and file-backed parts (KiB; file pages are code paged in, not a leak) */
function sample(t: number, mem: { rss: number | null; anon: number | null; file: number | null }, st: MemoryStatus | null): Sample {
  const kib = (b: number | undefined): number | null => (b === undefined ? null : b / 1024);
  const m = st?.memory;
  const heapTotal = kib(m?.heapTotalBytes), external = kib(m?.externalBytes);
  return {
    t, ...mem, heapUsed: kib(m?.heapUsedBytes), heapTotal, external,
    native: mem.rss !== null && heapTotal !== null && external !== null ? mem.rss - heapTotal - external : null,
    connections: st?.connections?.length ?? null, peers: st ? (st.connections?.length ?? 0) + (st.dataPeers?.length ?? 0) : null, dht: st?.dht?.entries ?? null,
  };
}

const labName = `soak${process.pid % 10000}`;
let lab: RingLab | null = null;
const stop = async (): Promise<void> => { if (lab) { const l = lab; lab = null; say('tearing the lab down'); await l.down().catch(() => undefined); } };
process.on('SIGINT', () => { void stop().then(() => process.exit(130)); });
process.on('SIGTERM', () => { void stop().then(() => process.exit(143)); });

try {
  say(`bringing up ${N} daemons (+1 hostile namespace)`);
  lab = await RingLab.up({ nodes: N + 1, reserve: 1, name: labName, onProgress: (l) => say(l) });
  const hostile = lab.node(N);
  const members = Array.from({ length: N }, (_, i) => i);
  const churnSet = members.slice(N - CHURN); // the last CHURN members take the churn; the rest keep one process
  const series = new Map<number, Sample[]>(members.map((i) => [i, []]));
  const restartedAt = new Map<number, number>();
  const t0 = Date.now();
  const end = t0 + MINUTES * 60_000;
  let pings = { sent: 0, answered: 0 };
  let flood: ReturnType<typeof startFlood> | null = null;
  let floodTarget = 0;
  const floodSent: number[] = [];
  let nextChurn = t0 + 60_000, nextFlood = t0, churns = 0, churnFailures = 0;
  while (Date.now() < end) {
    const now = Date.now();
    // the hostile node floods one member at a time, a new one every minute
    if (now >= nextFlood) {
      if (flood) floodSent.push((await flood.done.catch(() => ({ sent: 0 }))).sent);
      const target = lab.node(members[floodTarget++ % N]!);
      flood = startFlood(hostile.ns, { target: `${target.underlay}:${lab.config(target.index).listenPort ?? 51820}`, kind: 'mixed', seconds: 59, rate: RATE, pubkey: target.publicKey });
      flood.done.catch((e: Error) => say(`flood: ${e.message.split('\n')[0]}`)); // awaited a minute later; never an unhandled rejection
      nextFlood = now + 60_000;
    }
    if (now >= nextChurn) {
      const v = churnSet[churns++ % churnSet.length]!;
      say(`churn: restarting ${lab.node(v).name}`);
      try { await lab.restart(v, 90_000); restartedAt.set(v, Date.now()); } catch (e) { churnFailures++; say(`restart failed: ${(e as Error).message.split('\n')[0]}`); }
      nextChurn = now + 60_000;
    }
    const at = Date.now() - t0;
    const sts = await lab.statuses(16, members);
    members.forEach((i, k) => series.get(i)!.push(sample(at, rssPartsKiB(lab!.node(i).pid), sts[k]?.status as MemoryStatus | null)));
    // traffic: every member pings one other member (2 echo requests): the next of its PARTNERS fixed
    // partners (i+1 .. i+PARTNERS), so that its links reach their steady number in the first minute
    // and a slope after that is not links still being made; with --partners 0 a random member
    const vips = members.map((i) => lab!.node(i).vip);
    const round = Math.round(at / SAMPLE_MS);
    const r = await mapLimit(members, 16, async (i) => {
      const j = PARTNERS > 0 ? (i + 1 + (round % PARTNERS)) % N : (i + 1 + Math.floor(Math.random() * (N - 1))) % N;
      const vip = vips[j];
      return vip ? (await pingFirst(lab!.node(i).ns, vip, 2, 2)).received > 0 : false;
    });
    pings = { sent: pings.sent + r.length, answered: pings.answered + r.filter(Boolean).length };
    const worst = Math.max(...members.map((i) => series.get(i)!.at(-1)?.rss ?? 0));
    say(`${Math.round(at / 1000)} s: worst RSS ${(worst / 1024).toFixed(1)} MiB, pings ${pings.answered}/${pings.sent}, churns ${churns}`);
    await sleep(Math.max(0, SAMPLE_MS - (Date.now() - now)));
  }
  if (flood) floodSent.push((await flood.done.catch(() => ({ sent: 0 }))).sent);
  say('final check: reachability and crawl');
  const check = await lab.check({ nodes: members, sample: N - 1, allUpTo: N, onProgress: (l) => say(l) }); // every pair of members; the hostile namespace runs no daemon
  const rows = members.map((i) => {
    const from = (restartedAt.get(i) ?? t0) - t0 + WARM_MS;
    const s = series.get(i)!.filter((x) => x.t >= from);
    const all = series.get(i)!.map((x) => x.rss).filter((x): x is number => x !== null);
    const last = series.get(i)!.at(-1);
    return {
      node: lab!.node(i).name, churned: churnSet.includes(i), slopeMBper10min: slope(s), samples: s.length, lastMiB: (all.at(-1) ?? 0) / 1024, maxMiB: Math.max(...all) / 1024,
      // where a slope comes from: the V8 heap (used / reserved), external buffers, the rest (Rust, code, libc), and the links and DHT entries held
      slopes: { anon: slope(s, 'anon'), file: slope(s, 'file'), heapUsed: slope(s, 'heapUsed'), heapTotal: slope(s, 'heapTotal'), external: slope(s, 'external'), native: slope(s, 'native'), connections: slope(s, 'connections'), peers: slope(s, 'peers'), dht: slope(s, 'dht') },
      last: last ? { heapUsedMiB: (last.heapUsed ?? 0) / 1024, heapTotalMiB: (last.heapTotal ?? 0) / 1024, nativeMiB: (last.native ?? 0) / 1024, connections: last.connections, peers: last.peers, dht: last.dht } : null,
    };
  });
  const steady = rows.filter((r) => r.slopeMBper10min !== null);
  const worst = [...steady].sort((x, y) => (y.slopeMBper10min ?? 0) - (x.slopeMBper10min ?? 0))[0];
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot }).toString().trim();
  const report = {
    commit, date: new Date().toISOString(), nodes: N, minutes: MINUTES, churnSet: CHURN, churns, churnFailures, floodRate: RATE, partners: PARTNERS,
    floodSent: floodSent.reduce((x, y) => x + y, 0), pings,
    slope: summarize(steady.map((r) => r.slopeMBper10min)), worst,
    rssMiB: summarize(rows.map((r) => r.lastMiB)), maxRssMiB: Math.max(...rows.map((r) => r.maxMiB)),
    check: { ok: check.ok, pairs: check.pairs, crawl: { consistency: check.crawl.consistency, nodes: check.crawl.nodes } },
    rows,
  };
  if (a.series) writeFileSync(resolve(a.series), JSON.stringify(Object.fromEntries([...series].map(([i, xs]) => [lab!.node(i).name, xs]))) + '\n');
  const out = resolve(a.out!);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'attack-soak.json'), JSON.stringify(report, null, 2) + '\n');
  const f = (x: number | null | undefined, d = 2): string => (x === null || x === undefined ? '-' : x.toFixed(d));
  const md = [
    `# Soak: ${N} overlay daemons for ${MINUTES} min with traffic, churn and a hostile node (commit ${commit})`,
    '',
    `Every 10 s: each member pings ${PARTNERS > 0 ? `the next of its ${PARTNERS} fixed partners` : 'a random other member'} and every daemon's VmRSS and status are sampled. Every minute: one of the last ${CHURN} members is killed and restarted, and the hostile namespace floods the next member with \`ringvpn-flood --kind mixed\` at ${RATE} datagrams/s (junk and mac1-valid initiations, DATA frames, random bytes). Slopes are least squares over each daemon's samples from 5 minutes after its (re)start; a daemon restarted too late for 30 samples (5 minutes) has none.`,
    '',
    '| daemons with a slope | slope MB per 10 min, median / max | worst node | RSS at the end, median / max (MiB) | peak RSS (MiB) | pings answered | final pairs reachable | crawl consistency | churns (failed) | flood datagrams |',
    '|---|---|---|---|---|---|---|---|---|---|',
    `| ${steady.length} of ${N} | ${f(report.slope?.median)} / ${f(report.slope?.max)} | ${worst?.node ?? '-'} (${f(worst?.slopeMBper10min)}) | ${f(report.rssMiB?.median, 1)} / ${f(report.rssMiB?.max, 1)} | ${f(report.maxRssMiB, 1)} | ${pings.answered}/${pings.sent} | ${check.pairs.reachable}/${check.pairs.total} | ${f(check.crawl.consistency)} | ${churns} (${churnFailures}) | ${report.floodSent} |`,
    '',
    'Per node: the RSS slope and its parts (MB per 10 min: anonymous and file-backed RSS, V8 heap used and reserved, external buffers, native = RSS - heap reserved - external), the change in links and DHT entries per 10 min, and what it held at the end.',
    '',
    '| node | churned | RSS slope | anon | file | heap used | heap reserved | external | native | links /10 min | DHT /10 min | samples | RSS at end (MiB) | max RSS (MiB) | heap at end (MiB) | links at end |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.node} | ${r.churned ? 'yes' : ''} | ${f(r.slopeMBper10min)} | ${f(r.slopes.anon)} | ${f(r.slopes.file)} | ${f(r.slopes.heapUsed)} | ${f(r.slopes.heapTotal)} | ${f(r.slopes.external)} | ${f(r.slopes.native)} | ${f(r.slopes.peers, 1)} | ${f(r.slopes.dht, 1)} | ${r.samples} | ${f(r.lastMiB, 1)} | ${f(r.maxMiB, 1)} | ${f(r.last?.heapTotalMiB, 1)} | ${r.last?.peers ?? '-'} |`),
    '',
  ].join('\n');
  writeFileSync(join(out, 'attack-soak.md'), md);
  process.stdout.write(md);
} finally {
  await stop();
}
