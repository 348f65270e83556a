// procstat.ts — owns what the lab benchmark reads from a running lab: daemon RSS from /proc, underlay (eth0)
// counters per namespace, the daemon status fields it uses, summaries (median, p90, ...) and the
// environment (other labs and daemons that share the machine). It must not start, stop or change anything.

import { readdirSync, readFileSync } from 'node:fs';
import type { Netns } from '../../ts/lab/netns.js';
import { mapLimit } from '../../ts/lab/util.js';
import type { RingLab } from '../../ts/lab/ringlab.js';

/** The parts of an overlay daemon's `status` reply (ts/runtime/overlay.ts) the benchmark reads. */
export interface DaemonStatus {
  nodeId: string;
  address: string | null;
  joined: boolean;
  sizeEstimate?: number;
  connections?: Array<{ nodeId: string; kinds: string[]; session: boolean; dataplane?: Record<string, unknown> | null }>;
  dataPeers?: Array<{ nodeId: string; session: boolean; via?: unknown; dataplane?: Record<string, unknown> | null }>;
  overlay?: { sent?: number; received?: number; forwarded?: number; delivered?: number };
  counters?: Record<string, number>;
}

export interface Eth0 { rxBytes: number; txBytes: number; rxPackets: number; txPackets: number; at: number }

/** Underlay counters of eth0 inside `ns` (everything the daemon sends and receives: data, handshakes, probes). */
export async function eth0(ns: Netns): Promise<Eth0> {
  const r = await ns.ip(['-s', '-j', 'link', 'show', 'dev', 'eth0'], { timeoutMs: 20_000 });
  const at = Date.now();
  const j = JSON.parse(r.stdout) as Array<{ stats64?: { rx: { bytes: number; packets: number }; tx: { bytes: number; packets: number } } }>;
  const s = j[0]?.stats64;
  if (!s) throw new Error(`${ns.name}: no stats64 for eth0`);
  return { rxBytes: s.rx.bytes, txBytes: s.tx.bytes, rxPackets: s.rx.packets, txPackets: s.tx.packets, at };
}

/** VmRSS of a process in KiB (null when it is gone). */
import { rssKiB } from '../../ts/lab/flood.js';
export { rssKiB };

/** Whether the daemon runs the compiled control plane (dist/) or TypeScript through tsx. */
export function daemonRuntime(pid: number | null): 'compiled' | 'tsx' | 'unknown' {
  if (pid === null) return 'unknown';
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (argv.some((a) => a.endsWith('dist/ts/cli/main.js'))) return 'compiled';
    if (argv.some((a) => a.endsWith('ts/cli/main.ts'))) return 'tsx';
  } catch { /* gone */ }
  return 'unknown';
}

export interface NodeSnap { i: number; eth0: Eth0 | null; status: DaemonStatus | null; statusAt: number; rssKiB: number | null; error?: string }

/** eth0 counters (and optionally status and RSS) of the listed nodes, 16 at a time; each reading carries its own time. */
export async function snapshot(lab: RingLab, idx: number[], o: { status?: boolean; rss?: boolean } = {}): Promise<NodeSnap[]> {
  return mapLimit(idx, 16, async (i) => {
    const n = lab.node(i);
    const snap: NodeSnap = { i, eth0: null, status: null, statusAt: 0, rssKiB: null };
    try { snap.eth0 = await eth0(n.ns); } catch (e) { snap.error = `eth0: ${(e as Error).message}`; }
    if (o.status) {
      try { snap.status = await lab.status(i, 10_000) as unknown as DaemonStatus; snap.statusAt = Date.now(); } catch (e) { snap.error = `${snap.error ?? ''} status: ${(e as Error).message}`.trim(); }
    }
    if (o.rss) snap.rssKiB = rssKiB(n.pid);
    return snap;
  });
}

export interface Rate { bytesPerS: number; rxBytesPerS: number; txBytesPerS: number; packetsPerS: number; seconds: number }

export function rate(a: Eth0, b: Eth0): Rate {
  const s = (b.at - a.at) / 1000;
  const rx = (b.rxBytes - a.rxBytes) / s, tx = (b.txBytes - a.txBytes) / s;
  return { bytesPerS: rx + tx, rxBytesPerS: rx, txBytesPerS: tx, packetsPerS: (b.rxPackets - a.rxPackets + b.txPackets - a.txPackets) / s, seconds: s };
}

/** Daemon-counted UDP bytes (rx + tx) and overlay control messages (sent + received) from a status reply. */
export function daemonCounters(s: DaemonStatus | null): { bytes: number; ctl: number } | null {
  if (!s) return null;
  const c = s.counters ?? {};
  return { bytes: Number(c.rxBytes ?? 0) + Number(c.txBytes ?? 0), ctl: Number(s.overlay?.sent ?? 0) + Number(s.overlay?.received ?? 0) };
}

export interface LinkCounts { connections: number; sessions: number; onDemand: number; shortcuts: number; near: number; dataPeers: number; dataSessions: number }

export function linkCounts(s: DaemonStatus | null): LinkCounts | null {
  if (!s) return null;
  const conns = s.connections ?? [], dp = s.dataPeers ?? [];
  const has = (k: string) => conns.filter((c) => c.kinds.includes(k)).length;
  return {
    connections: conns.length, sessions: conns.filter((c) => c.session).length,
    onDemand: has('ondemand'), shortcuts: has('shortcut'), near: has('near'),
    dataPeers: dp.length, dataSessions: dp.filter((p) => p.session).length,
  };
}

export interface Summary { n: number; min: number; median: number; p90: number; max: number; mean: number }

/** Nearest-rank quantiles over the finite values (null when there are none). */
export function summarize(xs: Array<number | null | undefined>): Summary | null {
  const v = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const q = (p: number): number => v[Math.min(v.length - 1, Math.max(0, Math.ceil(p * v.length) - 1))]!;
  return { n: v.length, min: v[0]!, median: q(0.5), p90: q(0.9), max: v[v.length - 1]!, mean: v.reduce((a, b) => a + b, 0) / v.length };
}

export interface Environment { at: string; otherLabNamespaces: number; otherDaemons: number; loadavg: number[] }

/** What else runs here: namespaces of other labs and ringvpn daemons that are not ours (they share the 2 cores). */
export async function environment(o: { pids?: Set<number>; labs?: string[] } = {}): Promise<Environment> {
  const ours = o.pids ?? new Set<number>();
  const mine = (ns: string): boolean => (o.labs ?? []).some((l) => ns.startsWith(`rvlab-${l}-`));
  const { loadavg } = await import('node:os');
  const { execFileSync } = await import('node:child_process');
  let nss: string[] = [];
  try { nss = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.trim().split(/\s+/)[0] ?? '').filter(Boolean); } catch { /* none */ }
  let daemons = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || ours.has(Number(d))) continue;
    try {
      const argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (argv.some((a) => /ts\/cli\/main\.(ts|js)$/.test(a)) && argv.includes('up')) daemons++;
    } catch { /* gone */ }
  }
  return { at: new Date().toISOString(), otherLabNamespaces: nss.filter((n) => n.startsWith('rvlab-') && !mine(n)).length, otherDaemons: daemons, loadavg: loadavg().map((x) => Math.round(x * 100) / 100) };
}
