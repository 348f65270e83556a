// lab-report.ts — owns the lab benchmark's result model and its files: lab-scale.json/.md and lab-fig6.json/.md.
// Must not run anything or touch the network.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Environment, LinkCounts, Summary } from './procstat.js';

export interface Attempt {
  attempt: number;
  /** from the start of RingLab.up */
  startMs: number;
  endMs: number;
  ok: boolean;
  pairs: { total: number; reachable: number };
  addressesAssigned: number;
  statusCrawl: { ok: boolean; consistentNodes: number; nodes: number; errors: string[] };
  liveCrawl: { ok: boolean; nodes?: number; consistentNodes?: number; walked?: number; unreachable?: number; elapsedMs?: number; error?: string };
  unreachableSample: string[];
}

export interface Reach {
  ok: boolean;
  /** end of the first check that fully passed, from the start of RingLab.up */
  firstFullPassMs: number | null;
  passStartMs: number | null;
  attempts: Attempt[];
}

export interface SeriesPoint { fromS: number; toS: number; meanBytesPerS: number | null; medianBytesPerS: number | null; maxBytesPerS: number | null; medianConnections: number | null }

export interface ScaleRun {
  nodes: number;
  lab: string;
  ok: boolean;
  error?: string;
  env: { before: Environment; after?: Environment };
  runtime?: Record<string, number>;
  /** addressesMs: from the start of RingLab.up until every node had an address */
  up?: { addressesMs: number; daemonsStartedMs: number };
  reach?: Reach;
  rssAfterReachMiB?: Summary | null;
  rssAfterIdleMiB?: Summary | null;
  idle?: {
    seconds: number; measuredSeconds: number | null;
    eth0BytesPerS: Summary | null; eth0RxBytesPerS: Summary | null; eth0TxBytesPerS: Summary | null; eth0PacketsPerS: Summary | null;
    daemonBytesPerS: Summary | null; controlMsgsPerS: Summary | null;
    connectionsStart: Summary | null; connectionsEnd: Summary | null; onDemandStart: Summary | null; onDemandEnd: Summary | null; sessionsEnd: Summary | null;
    statusErrors: string[];
    series: SeriesPoint[];
  };
  daemonsAliveAtEnd?: number;
  downMs?: number;
  totalMs?: number;
}

export interface ScaleReport { generatedAt: string; options: Record<string, unknown>; machine: Record<string, unknown>; runs: ScaleRun[]; totalMs?: number }

export interface Fig6Stage {
  k: number;
  /** peers first pinged at this k, and how many of them already had a session with the control node (near, shortcut or leaf links) */
  newPeers: string[];
  newPeersAlreadyLinked: number;
  linkWaitMs: number;
  linkedBeforeWindow: number;
  links: LinkCounts | null;
  linksAtWindowStart: LinkCounts | null;
  windowSeconds: number | null;
  eth0BytesPerS: number | null; eth0RxBytesPerS: number | null; eth0TxBytesPerS: number | null; eth0PacketsPerS: number | null;
  daemonBytesPerS: number | null;
  controlMsgsPerS: number | null;
  rssMiB: number | null;
  rssMaxInWindowMiB: number | null;
  pingReplies: number;
  pingRepliesExpected: number;
  peersWithoutReplies: string[];
}

export interface Fig6Report {
  generatedAt: string; options: Record<string, unknown>; machine: Record<string, unknown>; totalMs?: number;
  run: null | {
    nodes: number; lab: string; ok: boolean; error?: string; control: number;
    /** node indices in the order they are added as ping targets */
    targets?: number[];
    env: { before: Environment; after?: Environment };
    runtime?: Record<string, number>;
    up?: { addressesMs: number; daemonsStartedMs: number };
    reach?: Reach;
    stages: Fig6Stage[];
    downMs?: number; totalMs?: number;
  };
}

const f = (x: number | null | undefined, d = 0): string => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));
const s = (ms: number | null | undefined): string => (ms === null || ms === undefined ? '–' : (ms / 1000).toFixed(1));
const trio = (x: Summary | null | undefined, d = 1): string => (x ? `${f(x.median, d)} / ${f(x.p90, d)} / ${f(x.max, d)}` : '–');

function machineLine(m: Record<string, unknown>): string {
  const code = m.frozenSnapshot ? `a frozen copy of commit ${m.commit} (benches/lab/snapshot-run.sh)` : `commit ${m.commit}${m.sourcesChangedSinceCommit ? ' + uncommitted changes in ts/, crates/ or bindings/' : ''}`;
  return `${m.cpus} × ${m.cpuModel}, ${m.memGiB} GiB, Linux ${m.kernel}, Node ${m.node}, ${code}`;
}

function envLine(e: { before: Environment; after?: Environment }): string {
  const x = (v: Environment) => `${v.otherDaemons} other ringvpn daemons, ${v.otherLabNamespaces} other lab namespaces, load ${v.loadavg.join(' ')}`;
  return `before: ${x(e.before)}${e.after ? `; after: ${x(e.after)}` : ''}`;
}

const runtimeLine = (r?: Record<string, number>): string => (r ? Object.entries(r).map(([k, v]) => `${v} ${k}`).join(', ') : '–');

export function renderScale(r: ScaleReport): string {
  const L: string[] = [];
  L.push('# Lab scale: bring-up, reachability, RSS and idle bandwidth of real overlay daemons', '');
  L.push(`Generated ${r.generatedAt} by \`npm run bench:lab\`; ${machineLine(r.machine)}.`);
  L.push(`Every node is a \`ringvpn up\` daemon (overlay mode, TAP, address by DHCP from the DHT) in its own network namespace on one bridge (\`RingLab.up\`). `
    + `Reachability: each check pings ${r.options.sample} random other nodes from every node (all pairs up to 16 nodes) and needs the status crawl and a live crawl from node 0 (\`{cmd:'crawl'}\`) to be consistent; it is repeated until one check passes fully. `
    + 'Times are from the start of `RingLab.up`. Idle bandwidth is eth0 (the underlay: data, handshakes, probes, keepalives, with IP/UDP/Ethernet headers) rx + tx of each namespace, over the idle window, with no traffic from the benchmark.', '');
  L.push('| nodes | daemons started (s) | every node has an address (s) | first full reachability pass (s) | checks | RSS per daemon, median / p90 / max (MiB) | idle eth0 per node, median / max (B/s) | daemon-counted UDP per node, median (B/s) | control msgs per node, mean (/s) | connections per node, median (start → end of idle) | idle window (s) |');
  L.push('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const x of r.runs) {
    if (x.error && !x.up) { L.push(`| ${x.nodes} | – | failed | – | – | – | – | – | – | – | – |`); continue; }
    const pass = x.reach?.ok ? s(x.reach.firstFullPassMs) : `never (${x.reach?.attempts.length ?? 0} checks)`;
    L.push(`| ${x.nodes} | ${s(x.up?.daemonsStartedMs)} | ${s(x.up?.addressesMs)} | ${pass} | ${x.reach?.attempts.length ?? '–'} | ${trio(x.rssAfterIdleMiB)} | ${f(x.idle?.eth0BytesPerS?.median)} / ${f(x.idle?.eth0BytesPerS?.max)} | ${f(x.idle?.daemonBytesPerS?.median)} | ${f(x.idle?.controlMsgsPerS?.mean, 2)} | ${f(x.idle?.connectionsStart?.median)} → ${f(x.idle?.connectionsEnd?.median)} | ${f(x.idle?.measuredSeconds)} |`);
  }
  L.push('', 'RSS is VmRSS of each daemon process at the end of the idle window; right after the first full pass it was:', '');
  L.push('| nodes | RSS after reachability, median / p90 / max (MiB) | control plane | eth0 rx / tx per node, median (B/s) | eth0 packets per node, median (/s) | on-demand links per node, median (start → end) |');
  L.push('|---|---|---|---|---|---|');
  for (const x of r.runs) {
    if (!x.up) continue;
    L.push(`| ${x.nodes} | ${trio(x.rssAfterReachMiB)} | ${runtimeLine(x.runtime)} | ${f(x.idle?.eth0RxBytesPerS?.median)} / ${f(x.idle?.eth0TxBytesPerS?.median)} | ${f(x.idle?.eth0PacketsPerS?.median, 1)} | ${f(x.idle?.onDemandStart?.median)} → ${f(x.idle?.onDemandEnd?.median)} |`);
  }
  for (const x of r.runs) {
    if (!x.idle?.series.length) continue;
    L.push('', `Idle time series, ${x.nodes} nodes (eth0 rx + tx per node):`, '');
    L.push('| window (s) | mean (B/s) | median (B/s) | max (B/s) | connections, median |', '|---|---|---|---|---|');
    for (const p of x.idle.series) L.push(`| ${p.fromS}–${p.toS} | ${f(p.meanBytesPerS)} | ${f(p.medianBytesPerS)} | ${f(p.maxBytesPerS)} | ${f(p.medianConnections)} |`);
  }
  L.push('', 'Reachability checks (time from the start of `RingLab.up`):', '');
  L.push('| nodes | check | start–end (s) | pings answered | status crawl | live crawl from node 0 | result |', '|---|---|---|---|---|---|---|');
  for (const x of r.runs) for (const a of x.reach?.attempts ?? []) {
    const lc = a.liveCrawl;
    L.push(`| ${x.nodes} | ${a.attempt} | ${s(a.startMs)}–${s(a.endMs)} | ${a.pairs.reachable}/${a.pairs.total} | ${a.statusCrawl.consistentNodes}/${a.statusCrawl.nodes}${a.statusCrawl.ok ? '' : ' (not ok)'} | ${lc.error ? `error: ${lc.error}` : `${lc.consistentNodes}/${lc.nodes} consistent, walked ${lc.walked}${lc.ok ? '' : ' (not ok)'}`} | ${a.ok ? 'pass' : 'fail'} |`);
  }
  L.push('', 'Environment (other work on the machine shares its CPUs):', '');
  for (const x of r.runs) {
    L.push(`- ${x.nodes} nodes (lab ${x.lab}): ${envLine(x.env)}; run took ${s(x.totalMs)} s, teardown ${s(x.downMs)} s${x.daemonsAliveAtEnd !== undefined ? `; ${x.daemonsAliveAtEnd}/${x.nodes} daemons alive at the end` : ''}.`);
    if (x.error) L.push(`  - error: ${x.error.split('\n').slice(0, 12).join(' ⏎ ').replace(/\|/g, '\\|')}`);
  }
  if (r.totalMs) L.push('', `Total ${(r.totalMs / 60000).toFixed(1)} min.`);
  return L.join('\n') + '\n';
}

export function renderFig6(r: Fig6Report): string {
  const L: string[] = [];
  const x = r.run;
  L.push("# Lab: the paper's Figure 6 set-up — one control node talking to k peers", '');
  L.push(`Generated ${r.generatedAt} by \`npm run bench:lab\`; ${machineLine(r.machine)}.`);
  if (!x) return L.join('\n') + '\n';
  L.push(`A lab of ${x.nodes} overlay daemons (TAP, DHCP). The control node (node${x.control}) runs \`ping -i ${r.options.fig6Interval}\` to k peers' virtual addresses, added in ${r.options.fig6Seed === undefined ? 'index order' : `a seeded random order (seed ${r.options.fig6Seed})`}; pings to earlier peers keep running as k grows. `
    + `For each k: wait until the control node has a session with each of the k peers, settle ${r.options.fig6Settle} s, then measure for ${r.options.fig6Window} s the control node's eth0 bytes (rx + tx, underlay, headers included), the daemon's own UDP counters and overlay control messages, `
    + 'its VmRSS at the end of the window, and its links at the end of the window (connections = overlay links of any kind; on-demand = links kept for traffic; sessions = connections with a live session; data-only = peers routed without an overlay connection).', '');
  if (x.error) L.push(`**Failed:** ${x.error.split('\n').slice(0, 12).join(' ⏎ ')}`, '');
  L.push('| k | connections | on-demand | sessions | data-only peers | eth0 (B/s) | eth0 rx / tx (B/s) | daemon UDP (B/s) | control msgs (/s) | RSS (MiB) | ping replies in window | peers added / already linked | sessions before window |');
  L.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const g of x.stages) {
    const l = g.links;
    L.push(`| ${g.k}${g.k === x.nodes - 1 ? ' (all)' : ''} | ${l?.connections ?? '–'} | ${l?.onDemand ?? '–'} | ${l?.sessions ?? '–'} | ${l?.dataPeers ?? '–'} | ${f(g.eth0BytesPerS)} | ${f(g.eth0RxBytesPerS)} / ${f(g.eth0TxBytesPerS)} | ${f(g.daemonBytesPerS)} | ${f(g.controlMsgsPerS, 2)} | ${f(g.rssMiB, 1)} | ${g.pingReplies}/${g.pingRepliesExpected}${g.peersWithoutReplies.length ? ` (none from ${g.peersWithoutReplies.slice(0, 5).join(', ')}${g.peersWithoutReplies.length > 5 ? ', …' : ''})` : ''} | ${g.newPeers?.length ?? '–'} / ${g.newPeersAlreadyLinked ?? '–'} | ${g.linkedBeforeWindow}/${g.k} in ${s(g.linkWaitMs)} s |`);
  }
  L.push('');
  L.push(`Bring-up: every node had an address ${s(x.up?.addressesMs)} s after the start; the ring was consistent (status crawl of every node and live crawl from node 0; no pings, so that no on-demand link exists before k = 0) ${x.reach?.ok ? `at ${s(x.reach.firstFullPassMs)} s` : 'never'} (${x.reach?.attempts.length ?? 0} checks). Control plane: ${runtimeLine(x.runtime)}.`);
  L.push(`Environment: ${envLine(x.env)}. Run took ${s(x.totalMs)} s, teardown ${s(x.downMs)} s.`);
  return L.join('\n') + '\n';
}

export function writeScale(dir: string, r: ScaleReport): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'lab-scale.json'), JSON.stringify(r, null, 2) + '\n');
  writeFileSync(join(dir, 'lab-scale.md'), renderScale(r));
}

export function writeFig6(dir: string, r: Fig6Report): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'lab-fig6.json'), JSON.stringify(r, null, 2) + '\n');
  writeFileSync(join(dir, 'lab-fig6.md'), renderFig6(r));
}
