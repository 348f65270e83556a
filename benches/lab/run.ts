// run.ts — owns the lab benchmark driver (issue 5): options, the scale runs (bring-up, reachability, RSS,
// idle bandwidth) and the paper's Figure 6 set-up (one control node pinging k peers), progress on stderr,
// and the teardown of every lab it starts (finally, SIGINT/SIGTERM, crashes). It must not format output
// (lab-report.ts) nor read /proc or counters itself (procstat.ts).
// Usage: tsx benches/lab/run.ts [--nodes 64,128] [--idle-seconds 600] [--fig6-nodes 33] [--fig6-window 120] [--skip-scale] [--skip-fig6]

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { randomSuffix, destroyAllSync, type NsProcess } from '../../ts/lab/netns.js';
import { untilAborted } from '../../ts/lab/util.js';
import { RingLab, type CheckResult } from '../../ts/lab/ringlab.js';
import { randInt, Xoshiro128 } from '../../ts/core/rng.js';
import { requestControl } from '../../ts/runtime/control.js';
import { repoRoot } from '../../ts/paths.js';
import {
  daemonCounters, daemonRuntime, environment, linkCounts, rate, rssKiB, snapshot, summarize,
  type DaemonStatus, type Environment, type LinkCounts, type NodeSnap, type Summary,
} from './procstat.js';
import { writeFig6, writeScale, type Attempt, type Fig6Report, type Fig6Stage, type Reach, type ScaleReport, type ScaleRun, type SeriesPoint } from './lab-report.js';

const HELP = `usage: tsx benches/lab/run.ts [options]   (root; builds labs of overlay daemons in network namespaces)
  --nodes 64,128         lab sizes of the scale runs (default 64,128)
  --idle-seconds S       idle window of each scale run (default 600)
  --series-seconds S     interval of the idle time series (default 60)
  --sample K             random ping targets per node in a reachability check (default 4; all pairs up to 16 nodes)
  --reach-timeout S      give up repeating the reachability check after S seconds (default 900)
  --batch B              daemons started together by RingLab.up (default 8)
  --address-timeout S    until every node has an address (default RingLab's: 60 + 1 per node)
  --fig6-nodes M         lab size of the Figure 6 run: one control node and M-1 peers (default 33)
  --fig6-window S        measurement window per k (default 120)
  --fig6-settle S        settling time after the links for k are up, before the window (default 30)
  --fig6-interval S      ping interval (default 15, as in the paper)
  --fig6-link-timeout S  wait at most S seconds for the control node's sessions with the k peers (default 90)
  --fig6-seed N          seed of the random order in which peers are added (default 1)
  --skip-scale           only the Figure 6 run
  --skip-fig6            only the scale runs
  --out DIR              output directory (default benches/results): lab-scale.json/.md, lab-fig6.json/.md
  -h, --help`;

const { values: opt } = parseArgs({
  options: {
    nodes: { type: 'string', default: '64,128' },
    'idle-seconds': { type: 'string', default: '600' },
    'series-seconds': { type: 'string', default: '60' },
    sample: { type: 'string', default: '4' },
    'reach-timeout': { type: 'string', default: '900' },
    batch: { type: 'string', default: '8' },
    'address-timeout': { type: 'string' },
    'fig6-nodes': { type: 'string', default: '33' },
    'fig6-window': { type: 'string', default: '120' },
    'fig6-settle': { type: 'string', default: '30' },
    'fig6-interval': { type: 'string', default: '15' },
    'fig6-link-timeout': { type: 'string', default: '90' },
    'fig6-seed': { type: 'string', default: '1' },
    'skip-scale': { type: 'boolean', default: false },
    'skip-fig6': { type: 'boolean', default: false },
    out: { type: 'string', default: 'benches/results' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (opt.help) { process.stdout.write(HELP + '\n'); process.exit(0); }

function num(name: keyof typeof opt, min: number): number {
  const v = Number(opt[name]);
  if (!Number.isFinite(v) || v < min) { process.stderr.write(`--${name}: expected a number >= ${min}, got ${JSON.stringify(opt[name])}\n${HELP}\n`); process.exit(2); }
  return v;
}
const sizes = opt.nodes!.split(',').map((s) => Number(s.trim()));
if (sizes.some((n) => !Number.isInteger(n) || n < 2 || n > 500)) { process.stderr.write(`--nodes: expected sizes 2-500, got ${opt.nodes}\n`); process.exit(2); }
const idleS = num('idle-seconds', 1), seriesS = num('series-seconds', 5), sample = num('sample', 1), reachTimeoutS = num('reach-timeout', 10);
const batch = num('batch', 1), addressTimeoutS = opt['address-timeout'] === undefined ? undefined : num('address-timeout', 1);
const fig6M = num('fig6-nodes', 2), fig6Window = num('fig6-window', 5), fig6Settle = num('fig6-settle', 0), fig6Interval = num('fig6-interval', 0.2), fig6LinkTimeout = num('fig6-link-timeout', 1), fig6Seed = num('fig6-seed', 0);
const outDir = resolve(repoRoot, opt.out!);
if (process.getuid?.() !== 0) { process.stderr.write('benches/lab/run.ts builds network namespaces and needs root\n'); process.exit(77); }

const T0 = Date.now();
const log = (msg: string): void => {
  const el = (Date.now() - T0) / 1000;
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} +${Math.floor(el / 60)}m${String(Math.floor(el % 60)).padStart(2, '0')}s ${msg}\n`);
};
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const MiB = (kib: number | null): number | null => (kib === null ? null : kib / 1024);

// ---- teardown on every path: finally, Ctrl-C / SIGTERM, crashes ----
const ac = new AbortController();
const signal = ac.signal;
const active = new Set<RingLab>();
const tmp = mkdtempSync(join(tmpdir(), 'ringvpn-benchlab-'));
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (signal.aborted) {
      log(`${sig} again: killing everything in our namespaces now (state directories may remain; ringvpn lab down --name <lab> removes them)`);
      destroyAllSync();
      process.exit(130);
    }
    log(`${sig}: stopping; the running lab is torn down before exit (press again to force)`);
    ac.abort();
  });
}
process.on('exit', () => { destroyAllSync(); rmSync(tmp, { recursive: true, force: true }); });

function asleep(ms: number): Promise<void> {
  return untilAborted(signal, new Promise<void>((r) => setTimeout(r, Math.max(0, ms))));
}
const guard = <T>(p: Promise<T>): Promise<T> => untilAborted(signal, p);

async function teardown(lab: RingLab): Promise<number> {
  const t = Date.now();
  log(`lab ${lab.name}: tearing down`);
  try {
    const rep = await lab.down();
    log(`lab ${lab.name}: stopped ${rep.daemonsStopped + rep.daemonsKilled} daemons (${rep.daemonsKilled} needed SIGKILL), removed ${rep.namespaces} namespaces in ${secs(Date.now() - t)}`);
  } catch (e) {
    log(`lab ${lab.name}: teardown failed: ${(e as Error).message}; run: bin/ringvpn lab down --name ${lab.name}`);
  }
  active.delete(lab);
  return Date.now() - t;
}

/** Progress from RingLab: pass through, but only every 16th of the per-node lines. */
function throttled(prefix: string): (line: string) => void {
  return (line) => {
    const m = /^\[(\d+)\/(\d+)\]/.exec(line);
    if (m && Number(m[1]) % 16 !== 0 && m[1] !== m[2]) return;
    log(`${prefix} ${line}`);
  };
}

async function bringUp(n: number, name: string): Promise<{ lab: RingLab; addressesMs: number; startMs: number }> {
  const t = Date.now();
  log(`lab ${name}: RingLab.up with ${n} nodes (TAP + DHCP, batches of ${batch})`);
  const lab = await RingLab.up({
    nodes: n, name, batch, onProgress: throttled(`[${name}]`), signal,
    addressTimeoutMs: addressTimeoutS === undefined ? undefined : addressTimeoutS * 1000,
  });
  active.add(lab);
  const s = lab.summary!;
  log(`lab ${name}: daemons up in ${secs(s.startMs)}, every node has an address ${secs(Date.now() - t)} after the start`);
  return { lab, addressesMs: Date.now() - t, startMs: s.startMs };
}

interface LiveCrawl { ok: boolean; nodes: number; consistentNodes: number; walked: number; unreachable: string[]; elapsedMs: number }

/**
 * Repeats the sampled check (pings + status crawl) and the live crawl from node 0 until both fully pass.
 * Without pings (pings: false) only the two crawls: the Figure 6 run must not make on-demand links before it starts.
 */
async function reachability(lab: RingLab, tStart: number, pings = true): Promise<Reach> {
  const n = lab.size;
  const attempts: Attempt[] = [];
  const deadline = Date.now() + reachTimeoutS * 1000;
  for (let a = 1; ; a++) {
    const t = Date.now();
    let live: LiveCrawl | null = null, liveError: string | undefined;
    try { live = await guard(requestControl(lab.node(0).socket, { cmd: 'crawl' }, 120_000) as Promise<LiveCrawl>); } catch (e) { if (signal.aborted) throw e; liveError = (e as Error).message; }
    const liveOk = !!live && live.ok && live.nodes === n && live.unreachable.length === 0;
    const r: CheckResult = pings
      ? await guard(lab.check({ sample, seed: 1000 + a, onProgress: (l) => { if (/pings/.test(l) && !/^\[(\d+)\/\1\]/.test(l)) return; log(`[${lab.name}] check ${a}: ${l}`); } }))
      : await crawlOnly(lab);
    const ok = r.ok && liveOk;
    const at: Attempt = {
      attempt: a, startMs: t - tStart, endMs: Date.now() - tStart, ok,
      pairs: { total: r.pairs.total, reachable: r.pairs.reachable }, addressesAssigned: r.addresses.assigned,
      statusCrawl: { ok: r.crawl.ok && r.crawl.errors.length === 0 && r.crawl.nodes === n, consistentNodes: r.crawl.consistentNodes, nodes: r.crawl.nodes, errors: r.crawl.errors.slice(0, 5) },
      liveCrawl: live ? { ok: liveOk, nodes: live.nodes, consistentNodes: live.consistentNodes, walked: live.walked, unreachable: live.unreachable.length, elapsedMs: live.elapsedMs } : { ok: false, error: liveError },
      unreachableSample: r.pairs.unreachable.slice(0, 5).map((u) => `${u.from}->${u.to} (${u.vip ?? '-'}): ${u.why}`),
    };
    attempts.push(at);
    log(`[${lab.name}] check ${a} (${secs(at.endMs - at.startMs)}): pings ${r.pairs.reachable}/${r.pairs.total}, status crawl ${at.statusCrawl.consistentNodes}/${at.statusCrawl.nodes}${at.statusCrawl.ok ? ' ok' : ' NOT ok'}, live crawl from node0 ${live ? `${live.consistentNodes}/${live.nodes} consistent, walked ${live.walked}${liveOk ? ' ok' : ' NOT ok'}` : `failed: ${liveError}`} -> ${ok ? 'FULL PASS' : 'not yet'}`);
    if (!ok) for (const u of at.unreachableSample) log(`    unreachable ${u}`);
    if (!ok) for (const e of at.statusCrawl.errors) log(`    crawl: ${e}`);
    if (ok) return { ok: true, firstFullPassMs: at.endMs, passStartMs: at.startMs, attempts };
    if (Date.now() > deadline) return { ok: false, firstFullPassMs: null, passStartMs: null, attempts };
    await asleep(2000);
  }
}

/** lab.check without pings: status of every node and the crawl over their ring pointers. */
async function crawlOnly(lab: RingLab): Promise<CheckResult> {
  const t = Date.now();
  const replies = await guard(lab.statuses());
  const cr = await lab.crawl(replies);
  const failed = replies.flatMap((r) => (r.status ? [] : [{ node: r.name, error: r.error ?? 'no answer' }]));
  const missing = replies.flatMap((r) => (r.status?.address ? [] : [r.name]));
  return {
    lab: lab.name, nodes: lab.size, seed: 0, elapsedMs: Date.now() - t,
    ok: !failed.length && !missing.length && cr.ok && cr.nodes === lab.size && !cr.errors.length,
    status: { answered: replies.length - failed.length, failed }, addresses: { assigned: lab.size - missing.length, missing },
    pairs: { total: 0, reachable: 0, unreachable: [] }, first: { answered: 0, medianMs: null, maxMs: null, unanswered: [] }, crawl: cr,
  };
}

function rssSummary(lab: RingLab): Summary | null {
  return summarize(Array.from({ length: lab.size }, (_, i) => MiB(rssKiB(lab.node(i).pid))));
}

function runtimes(lab: RingLab): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < lab.size; i++) { const r = daemonRuntime(lab.node(i).pid); out[r] = (out[r] ?? 0) + 1; }
  return out;
}

function ourPids(): Set<number> {
  const s = new Set<number>();
  for (const lab of active) for (let i = 0; i < lab.size; i++) { const p = lab.node(i).pid; if (p !== null) s.add(p); }
  return s;
}
const env = (): Promise<Environment> => environment({ pids: ourPids(), labs: [...active].map((l) => l.name) });

function seriesPoint(a: NodeSnap[], b: NodeSnap[], t0: number): SeriesPoint {
  const rates = a.map((x, k) => (x.eth0 && b[k]!.eth0 ? rate(x.eth0, b[k]!.eth0).bytesPerS : null));
  const conns = b.map((x) => linkCounts(x.status)?.connections ?? null);
  const s = summarize(rates);
  return {
    fromS: Math.round((Math.min(...a.map((x) => x.eth0?.at ?? Infinity)) - t0) / 1000), toS: Math.round((Math.max(...b.map((x) => x.eth0?.at ?? 0)) - t0) / 1000),
    meanBytesPerS: s?.mean ?? null, medianBytesPerS: s?.median ?? null, maxBytesPerS: s?.max ?? null, medianConnections: summarize(conns)?.median ?? null,
  };
}

async function scaleRun(n: number): Promise<ScaleRun> {
  const name = `bs${n}-${randomSuffix(2)}`;
  const run: ScaleRun = { nodes: n, lab: name, ok: false, env: { before: await env() } };
  const tStart = Date.now();
  let lab: RingLab | null = null;
  try {
    try {
      const up = await bringUp(n, name);
      lab = up.lab;
      run.up = { addressesMs: up.addressesMs, daemonsStartedMs: up.startMs };
    } catch (e) {
      if (signal.aborted) throw e;
      const x = e as Error & { code?: string };
      run.error = `RingLab.up failed after ${secs(Date.now() - tStart)}: ${x.code ?? ''} ${x.message}`.slice(0, 4000);
      log(`lab ${name}: ${run.error}`);
      return run;
    }
    run.runtime = runtimes(lab);
    run.reach = await reachability(lab, tStart);
    run.rssAfterReachMiB = rssSummary(lab);
    log(`lab ${name}: RSS after reachability median ${run.rssAfterReachMiB?.median.toFixed(1)} MiB, p90 ${run.rssAfterReachMiB?.p90.toFixed(1)}, max ${run.rssAfterReachMiB?.max.toFixed(1)}`);

    // ---- idle window: no traffic from us; eth0 of every namespace, status counters, connections ----
    const idx = Array.from({ length: n }, (_, i) => i);
    log(`lab ${name}: idle window of ${idleS} s starts (snapshot every ${seriesS} s)`);
    const w0 = Date.now();
    const s0 = await guard(snapshot(lab, idx, { status: true, rss: true }));
    const series: SeriesPoint[] = [];
    let prev = s0;
    for (let k = 1; ; k++) {
      const next = w0 + Math.min(k * seriesS, idleS) * 1000;
      await asleep(next - Date.now());
      const last = next >= w0 + idleS * 1000;
      const s = await guard(snapshot(lab, idx, { status: true, rss: last }));
      const p = seriesPoint(prev, s, w0);
      series.push(p);
      log(`lab ${name}: idle ${p.fromS}-${p.toS} s: mean ${p.meanBytesPerS?.toFixed(0)} B/s per node (median ${p.medianBytesPerS?.toFixed(0)}, max ${p.maxBytesPerS?.toFixed(0)}), median ${p.medianConnections} connections`);
      prev = s;
      if (last) break;
    }
    const s1 = prev;
    const rates = s0.map((a, k) => (a.eth0 && s1[k]!.eth0 ? rate(a.eth0, s1[k]!.eth0) : null));
    const dRate = s0.map((a, k) => {
      const x = daemonCounters(a.status), y = daemonCounters(s1[k]!.status);
      if (!x || !y) return null;
      const dt = (s1[k]!.statusAt - a.statusAt) / 1000;
      return { bytes: (y.bytes - x.bytes) / dt, ctl: (y.ctl - x.ctl) / dt };
    });
    const lc0 = s0.map((x) => linkCounts(x.status)), lc1 = s1.map((x) => linkCounts(x.status));
    const field = (arr: Array<LinkCounts | null>, f: keyof LinkCounts) => summarize(arr.map((c) => (c ? c[f] : null)));
    run.idle = {
      seconds: idleS, measuredSeconds: summarize(rates.map((r) => r?.seconds ?? null))?.median ?? null,
      eth0BytesPerS: summarize(rates.map((r) => r?.bytesPerS ?? null)),
      eth0RxBytesPerS: summarize(rates.map((r) => r?.rxBytesPerS ?? null)),
      eth0TxBytesPerS: summarize(rates.map((r) => r?.txBytesPerS ?? null)),
      eth0PacketsPerS: summarize(rates.map((r) => r?.packetsPerS ?? null)),
      daemonBytesPerS: summarize(dRate.map((r) => r?.bytes ?? null)),
      controlMsgsPerS: summarize(dRate.map((r) => r?.ctl ?? null)),
      connectionsStart: field(lc0, 'connections'), connectionsEnd: field(lc1, 'connections'),
      onDemandStart: field(lc0, 'onDemand'), onDemandEnd: field(lc1, 'onDemand'),
      sessionsEnd: field(lc1, 'sessions'),
      statusErrors: s1.filter((x) => x.error).map((x) => `node${x.i}: ${x.error}`).slice(0, 10),
      series,
    };
    run.rssAfterIdleMiB = summarize(s1.map((x) => MiB(x.rssKiB)));
    const alive = idx.filter((i) => lab!.alive(i)).length;
    run.daemonsAliveAtEnd = alive;
    run.ok = run.reach.ok && alive === n;
    const e = run.idle.eth0BytesPerS;
    log(`lab ${name}: idle eth0 per node median ${e?.median.toFixed(0)} B/s, max ${e?.max.toFixed(0)} B/s; control messages ${run.idle.controlMsgsPerS?.mean.toFixed(2)}/s per node; RSS median ${run.rssAfterIdleMiB?.median.toFixed(1)} MiB; ${alive}/${n} daemons alive`);
    run.env.after = await env();
  } finally {
    if (lab) run.downMs = await teardown(lab);
    run.totalMs = Date.now() - tStart;
  }
  return run;
}

// ---- Figure 6: one control node pinging k peers every 15 s ----

interface Pinger { target: number; proc: NsProcess; log: string }

function replies(p: Pinger): number {
  try { return (readFileSync(p.log, 'utf8').match(/ bytes from /g) ?? []).length; } catch { return 0; }
}

async function fig6Run(): Promise<NonNullable<Fig6Report['run']>> {
  const m = fig6M;
  const name = `bf6-${randomSuffix(2)}`;
  const run: NonNullable<Fig6Report['run']> = { nodes: m, lab: name, ok: false, control: m - 1, stages: [], env: { before: await env() } };
  const tStart = Date.now();
  let lab: RingLab | null = null;
  const pingers: Pinger[] = [];
  try {
    try {
      const up = await bringUp(m, name);
      lab = up.lab;
      run.up = { addressesMs: up.addressesMs, daemonsStartedMs: up.startMs };
    } catch (e) {
      if (signal.aborted) throw e;
      run.error = `RingLab.up failed after ${secs(Date.now() - tStart)}: ${(e as Error).message}`.slice(0, 4000);
      log(`lab ${name}: ${run.error}`);
      return run;
    }
    run.runtime = runtimes(lab);
    run.reach = await reachability(lab, tStart, false);
    if (!run.reach.ok) log(`lab ${name}: the ring never fully passed the check; measuring anyway (the report says so)`);
    const ctl = m - 1;
    const cns = lab.node(ctl).ns;
    // peers in a seeded random order: nodes 0-2 are everyone's bootstrap nodes, already linked to the control node
    const peers = Array.from({ length: m - 1 }, (_, i) => i);
    const rng = new Xoshiro128(fig6Seed);
    const targets = [...peers];
    for (let i = targets.length - 1; i > 0; i--) { const j = randInt(rng, i + 1); [targets[i], targets[j]] = [targets[j]!, targets[i]!]; }
    run.targets = targets;
    const sts = await Promise.all(peers.map(async (t) => await lab!.status(t, 10_000) as unknown as DaemonStatus));
    const ids = sts.map((x) => x.nodeId), vips = sts.map((x) => x.address);
    const sessionsOf = (st: DaemonStatus): Set<string> =>
      new Set([...(st.connections ?? []).filter((c) => c.session).map((c) => c.nodeId), ...(st.dataPeers ?? []).filter((p) => p.session).map((p) => p.nodeId)]);
    const ks: number[] = [0];
    for (let k = 1; k < m - 1; k *= 2) ks.push(k);
    ks.push(m - 1);
    log(`lab ${name}: control node${ctl}; k = ${ks.join(', ')} (pings every ${fig6Interval} s; settle ${fig6Settle} s; window ${fig6Window} s)`);
    for (const k of ks) {
      const ts = Date.now();
      const before = sessionsOf(await guard(lab.status(ctl, 10_000)) as unknown as DaemonStatus);
      const fresh = targets.slice(pingers.length, k);
      const freshLinked = fresh.filter((t) => before.has(ids[t]!)).length;
      while (pingers.length < k) {
        const t = targets[pingers.length]!;
        const vip = vips[t];
        if (!vip) throw new Error(`node${t} has no address`);
        const logf = join(tmp, `ping-${name}-${t}.log`);
        const proc = cns.spawn('stdbuf', ['-oL', 'ping', '-n', '-i', String(fig6Interval), '-W', '5', vip], { logFile: logf });
        pingers.push({ target: t, proc, log: logf });
      }
      // wait until the control node has a session with each of the k peers (direct or on-demand)
      const want = new Set(targets.slice(0, k).map((t) => ids[t]!));
      let linked = 0;
      for (;;) {
        const have = sessionsOf(await guard(lab.status(ctl, 10_000)) as unknown as DaemonStatus);
        linked = [...want].filter((id) => have.has(id)).length;
        if (linked === want.size || Date.now() - ts > fig6LinkTimeout * 1000) break;
        await asleep(1000);
      }
      const linkWaitMs = Date.now() - ts;
      log(`lab ${name}: k=${k}: ${fresh.length} more peers pinged (${fresh.map((t) => `node${t}`).join(' ')}), ${freshLinked} of them already had a session with the control node; sessions with ${linked}/${k} pinged peers after ${secs(linkWaitMs)}; settling ${fig6Settle} s`);
      await asleep(fig6Settle * 1000);
      const r0 = pingers.map(replies);
      const [a] = await guard(snapshot(lab, [ctl], { status: true, rss: true }));
      const rssSamples: number[] = [];
      const wEnd = Date.now() + fig6Window * 1000;
      while (Date.now() < wEnd - 1000) {
        await asleep(Math.min(10_000, wEnd - Date.now()));
        const r = rssKiB(lab.node(ctl).pid);
        if (r !== null) rssSamples.push(r / 1024);
      }
      const [b] = await guard(snapshot(lab, [ctl], { status: true, rss: true }));
      const r1 = pingers.map(replies);
      const er = a!.eth0 && b!.eth0 ? rate(a!.eth0, b!.eth0) : null;
      const x = daemonCounters(a!.status), y = daemonCounters(b!.status);
      const dt = (b!.statusAt - a!.statusAt) / 1000;
      const got = r1.reduce((s, v, i) => s + v - r0[i]!, 0);
      const stage: Fig6Stage = {
        k, newPeers: fresh.map((t) => `node${t}`), newPeersAlreadyLinked: freshLinked, linkWaitMs, linkedBeforeWindow: linked,
        links: linkCounts(b!.status), linksAtWindowStart: linkCounts(a!.status),
        windowSeconds: er?.seconds ?? null,
        eth0BytesPerS: er?.bytesPerS ?? null, eth0RxBytesPerS: er?.rxBytesPerS ?? null, eth0TxBytesPerS: er?.txBytesPerS ?? null, eth0PacketsPerS: er?.packetsPerS ?? null,
        daemonBytesPerS: x && y ? (y.bytes - x.bytes) / dt : null, controlMsgsPerS: x && y ? (y.ctl - x.ctl) / dt : null,
        rssMiB: MiB(b!.rssKiB), rssMaxInWindowMiB: rssSamples.length ? Math.max(...rssSamples, MiB(b!.rssKiB) ?? 0) : MiB(b!.rssKiB),
        pingReplies: got, pingRepliesExpected: Math.floor(fig6Window / fig6Interval) * k,
        peersWithoutReplies: pingers.filter((_, i) => r1[i]! === r0[i]!).map((p) => `node${p.target}`),
      };
      run.stages.push(stage);
      log(`lab ${name}: k=${k}: ${stage.links?.connections} connections (${stage.links?.onDemand} on-demand, ${stage.links?.sessions} with a session), ${stage.links?.dataPeers} data-only peers; eth0 ${stage.eth0BytesPerS?.toFixed(0)} B/s (rx ${stage.eth0RxBytesPerS?.toFixed(0)}, tx ${stage.eth0TxBytesPerS?.toFixed(0)}); ${stage.controlMsgsPerS?.toFixed(2)} control msgs/s; RSS ${stage.rssMiB?.toFixed(1)} MiB; ping replies ${got} (expected ~${stage.pingRepliesExpected})`);
    }
    run.ok = run.reach.ok && run.stages.every((s) => s.peersWithoutReplies.length === 0);
    run.env.after = await env();
  } finally {
    await Promise.all(pingers.map((p) => p.proc.kill('SIGINT').catch(() => undefined)));
    if (lab) run.downMs = await teardown(lab);
    run.totalMs = Date.now() - tStart;
  }
  return run;
}

function machine(): Record<string, unknown> {
  // snapshot-run.sh runs a frozen copy without .git and names the commit it copied
  const snapshot = process.env.RINGVPN_BENCH_COMMIT;
  let commit = snapshot?.slice(0, 10) ?? '';
  let dirty = false;
  if (!snapshot) {
    try { commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim(); } catch { /* no git */ }
    try { dirty = execFileSync('git', ['status', '--porcelain', 'ts', 'crates', 'bindings'], { cwd: repoRoot, encoding: 'utf8' }).trim() !== ''; } catch { /* no git */ }
  }
  return {
    cpus: cpus().length, cpuModel: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), kernel: release(), node: process.version,
    commit, sourcesChangedSinceCommit: dirty, frozenSnapshot: !!snapshot,
  };
}

async function main(): Promise<void> {
  const options = {
    nodes: sizes, idleSeconds: idleS, seriesSeconds: seriesS, sample, reachTimeoutS, batch, addressTimeoutS,
    fig6Nodes: fig6M, fig6Window, fig6Settle, fig6Interval, fig6LinkTimeout, fig6Seed, skipScale: opt['skip-scale'], skipFig6: opt['skip-fig6'],
  };
  log(`lab benchmark: ${JSON.stringify(options)}`);
  const e0 = await env();
  if (e0.otherDaemons || e0.otherLabNamespaces) log(`note: ${e0.otherDaemons} other ringvpn daemons and ${e0.otherLabNamespaces} other lab namespaces are running on this machine (load ${e0.loadavg.join(' ')}); they share the CPUs with this benchmark`);
  let failed = false;
  if (!opt['skip-scale']) {
    const report: ScaleReport = { generatedAt: new Date().toISOString(), options, machine: machine(), runs: [] };
    for (const n of sizes) {
      const r = await scaleRun(n);
      report.runs.push(r);
      report.totalMs = Date.now() - T0;
      writeScale(outDir, report);
      if (!r.ok) failed = true;
    }
    log(`wrote ${join(outDir, 'lab-scale.json')} and .md`);
  }
  if (!opt['skip-fig6']) {
    const report: Fig6Report = { generatedAt: new Date().toISOString(), options, machine: machine(), run: null };
    const run = await fig6Run();
    report.run = run;
    report.totalMs = Date.now() - T0;
    writeFig6(outDir, report);
    if (!run.ok) failed = true;
    log(`wrote ${join(outDir, 'lab-fig6.json')} and .md`);
  }
  log(`done in ${secs(Date.now() - T0)}${failed ? ' (with failures: see the reports)' : ''}`);
  process.exitCode = failed ? 1 : 0;
}

main().catch(async (e) => {
  const aborted = signal.aborted;
  log(aborted ? `interrupted: ${(e as Error).message}` : `failed: ${(e as Error).stack ?? e}`);
  for (const lab of [...active]) await teardown(lab);
  process.exit(aborted ? 130 : 1);
});
