// tools.ts — owns the measurement tools: iperf3 / netperf servers and clients, their output parsing, the ping check, RSS and CPU sampling.
// Must not configure VPNs or namespaces (that is systems.ts / netns.ts) nor decide what to report (dataplane-report.ts).

import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Netns } from '../../ts/lab/netns.js';
import { rssKiB } from '../../ts/lab/flood.js';

export const IPERF_PORT = 5201;
export const NETPERF_PORT = 12865;

export interface IperfResult {
  bps: number; // receiver-side goodput
  senderBps: number;
  retransmits: number | null;
  cpuSenderPct: number | null; // iperf3 host (client) total CPU %
  cpuReceiverPct: number | null;
}

export interface StreamResult {
  bps: number;
}

export interface RRResult {
  tps: number;
  meanUs: number | null;
  p50Us: number | null;
  p99Us: number | null;
  stddevUs: number | null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Start iperf3 and netserver in the server namespace (killed when the namespace is destroyed). */
export async function startServers(server: Netns, logDir: string): Promise<void> {
  server.spawn('iperf3', ['-s', '-p', String(IPERF_PORT)], { logFile: join(logDir, 'iperf3-server.log') });
  server.spawn('netserver', ['-D', '-p', String(NETPERF_PORT)], { logFile: join(logDir, 'netserver.log') });
  await sleep(400);
}

/** Run `fn` up to `tries` times (servers may still be starting, tunnels may drop the first SYN). */
async function retry<T>(tries: number, fn: () => Promise<T>): Promise<T> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      return await fn();
    } catch (e) {
      last = e;
      await sleep(1000);
    }
  }
  throw last;
}

/** iperf3 TCP, one stream, client in `client` towards `host`. `midway` is called ~0.5 s before the end. */
export async function iperf3(client: Netns, host: string, seconds: number, midway?: () => void): Promise<IperfResult> {
  return retry(2, async () => {
    const timer = midway ? setTimeout(midway, Math.max(500, seconds * 1000 - 500)) : undefined;
    try {
      const r = await client.exec('iperf3', ['-c', host, '-p', String(IPERF_PORT), '-t', String(seconds), '-J', '--connect-timeout', '3000'], {
        timeoutMs: (seconds + 30) * 1000,
        allowFail: true,
      });
      let j: any;
      try {
        j = JSON.parse(r.stdout);
      } catch {
        throw new Error(`iperf3: unparsable output (exit ${r.code}): ${(r.stderr || r.stdout).trim().slice(-300)}`);
      }
      if (j.error) throw new Error(`iperf3: ${j.error}`);
      const recv = j.end?.sum_received?.bits_per_second;
      if (typeof recv !== 'number' || !(recv > 0)) throw new Error('iperf3: no sum_received in output');
      return {
        bps: recv,
        senderBps: j.end?.sum_sent?.bits_per_second ?? recv,
        retransmits: j.end?.sum_sent?.retransmits ?? null,
        cpuSenderPct: j.end?.cpu_utilization_percent?.host_total ?? null,
        cpuReceiverPct: j.end?.cpu_utilization_percent?.remote_total ?? null,
      };
    } finally {
      if (timer) clearTimeout(timer);
    }
  });
}

/** Parse netperf omni `-o` CSV output: a header line followed by a value line. */
export function parseNetperfCsv(out: string): Record<string, string> {
  const lines = out.trim().split('\n').map((l) => l.trim());
  // The header is the last-but-one line; earlier lines are the "MIGRATED ... TEST" banner.
  const values = lines[lines.length - 1] ?? '';
  const header = lines[lines.length - 2] ?? '';
  const h = header.split(',');
  const v = values.split(',');
  const rec: Record<string, string> = {};
  h.forEach((k, i) => (rec[k] = v[i] ?? ''));
  return rec;
}

const num = (s: string | undefined): number | null => {
  if (s === undefined || s === '') return null;
  const n = Number(s);
  return Number.isFinite(n) ? n : null;
};

/** netperf TCP_STREAM client→server, returns bits/s. */
export async function netperfStream(client: Netns, host: string, seconds: number): Promise<StreamResult> {
  return retry(2, async () => {
    const r = await client.exec(
      'netperf',
      ['-H', host, '-p', String(NETPERF_PORT), '-t', 'TCP_STREAM', '-l', String(seconds), '-f', 'm', '--', '-o', 'THROUGHPUT,THROUGHPUT_UNITS'],
      { timeoutMs: (seconds + 30) * 1000 },
    );
    const rec = parseNetperfCsv(r.stdout);
    const t = num(rec['Throughput']);
    if (t === null || !(t > 0)) throw new Error(`netperf TCP_STREAM: cannot parse: ${r.stdout.trim().slice(-200)}`);
    const units = rec['Throughput Units'] ?? '';
    if (!units.startsWith('10^6bits')) throw new Error(`netperf TCP_STREAM: unexpected units ${units}`);
    return { bps: t * 1e6 };
  });
}

/** netperf TCP_RR with `size`-byte request and response; transactions/s and latency (µs). */
export async function netperfRR(client: Netns, host: string, seconds: number, size: number): Promise<RRResult> {
  return retry(2, async () => {
    const r = await client.exec(
      'netperf',
      [
        '-H', host, '-p', String(NETPERF_PORT), '-t', 'TCP_RR', '-l', String(seconds), '--',
        '-r', `${size},${size}`,
        '-o', 'THROUGHPUT,MEAN_LATENCY,P50_LATENCY,P99_LATENCY,STDDEV_LATENCY',
      ],
      { timeoutMs: (seconds + 30) * 1000 },
    );
    const rec = parseNetperfCsv(r.stdout);
    const tps = num(rec['Throughput']);
    if (tps === null || !(tps > 0)) throw new Error(`netperf TCP_RR: cannot parse: ${r.stdout.trim().slice(-200)}`);
    return {
      tps,
      meanUs: num(rec['Mean Latency Microseconds']),
      p50Us: num(rec['50th Percentile Latency Microseconds']),
      p99Us: num(rec['99th Percentile Latency Microseconds']),
      stddevUs: num(rec['Stddev Latency Microseconds']),
    };
  });
}

/** Direct children map from /proc (pid -> child pids). */
function childrenMap(): Map<number, number[]> {
  const m = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const arr = m.get(ppid) ?? [];
      arr.push(Number(d));
      m.set(ppid, arr);
    } catch {
      /* raced with exit */
    }
  }
  return m;
}

/** The given processes plus all their descendants. */
function withDescendants(pids: number[]): number[] {
  const kids = childrenMap();
  const seen = new Set<number>();
  const stack = [...pids];
  while (stack.length) {
    const p = stack.pop()!;
    if (seen.has(p) || p <= 0) continue;
    seen.add(p);
    stack.push(...(kids.get(p) ?? []));
  }
  return [...seen];
}

/** Sum of VmRSS (kB) over the given processes and all their descendants. */
export function rssKb(pids: number[]): { kb: number; pids: number[] } {
  const seen = withDescendants(pids);
  let kb = 0;
  for (const p of seen) kb += rssKiB(p) ?? 0; // 0 when it is gone
  return { kb, pids: seen };
}

let clkTck = 0;
/** CPU seconds (user + system) used so far by the given processes and their descendants. */
export function cpuSeconds(pids: number[]): number {
  if (!clkTck) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  let ticks = 0;
  for (const p of withDescendants(pids)) {
    try {
      const st = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
      ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14, 15)
    } catch {
      /* gone */
    }
  }
  return ticks / clkTck;
}

/** Ping `host` from `ns` until `need` consecutive replies arrive or `timeoutMs` passes. */
export async function pingUntilUp(ns: Netns, host: string, timeoutMs = 20_000, need = 3): Promise<{ ok: boolean; rttMs: number | null; detail: string }> {
  const deadline = Date.now() + timeoutMs;
  let ok = 0;
  let last = '';
  let rtt: number | null = null;
  while (Date.now() < deadline) {
    const r = await ns.exec('busybox', ['ping', '-c', '1', '-W', '1', host], { allowFail: true, timeoutMs: 5000 });
    last = (r.stdout + r.stderr).trim();
    const m = /time=([\d.]+) ms/.exec(r.stdout);
    if (r.code === 0 && m) {
      rtt = Number(m[1]);
      if (++ok >= need) return { ok: true, rttMs: rtt, detail: '' };
      await sleep(100);
    } else {
      ok = 0;
      await sleep(300);
    }
  }
  return { ok: false, rttMs: rtt, detail: last.split('\n').slice(-2).join(' ') };
}

/** Versions of the tools and VPNs (first meaningful line of each). */
export async function toolVersions(): Promise<Record<string, string>> {
  const { execFile } = await import('node:child_process');
  const v = (cmd: string, args: string[]) =>
    new Promise<string>((resolve) =>
      execFile(cmd, args, { timeout: 5000 }, (err, out, errOut) => {
        const text = `${out}\n${errOut}`.split('\n').map((l) => l.trim()).filter(Boolean);
        if (err && !text.length) return resolve(`not available (${(err as NodeJS.ErrnoException).code ?? err.message})`);
        resolve(text.find((l) => /\d+\.\d+/.test(l) && !/warning/i.test(l)) ?? text[0] ?? '?');
      }),
    );
  const [iperf, netperf, openvpn, openssl, tinc, wggo, wg, busybox] = await Promise.all([
    v('iperf3', ['--version']),
    v('netperf', ['-V']),
    v('openvpn', ['--version']),
    v('openssl', ['version']),
    v('tincd', ['--version']),
    v('wireguard-go', ['--version']),
    v('wg', ['--version']),
    v('busybox', ['--help']),
  ]);
  return { node: process.version, iperf3: iperf, netperf, openvpn, openssl, tinc: tinc, 'wireguard-go': wggo, 'wireguard-tools': wg, busybox };
}
