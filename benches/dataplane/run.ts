// run.ts — owns the benchmark driver: options, the interleaved run loop, progress on stderr, cleanup on exit/signals.
// Must not hold per-VPN configuration (systems.ts), tool parsing (tools.ts) or output formatting (dataplane-report.ts).
// Usage: tsx benches/dataplane/run.ts [--only raw,wireguard-go] [--seconds 10] [--runs 3] [--out benches/results]

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { create, destroyAll, destroyAllSync, randomSuffix, vethPair, type Netns } from '../../ts/lab/netns.js';
import { computeMedians, writeReport, type Report, type RunSample, type SystemResult } from './dataplane-report.js';
import { allSystems, type Pair, type Running, type System } from './systems.js';
import { cpuSeconds, iperf3, netperfRR, netperfStream, pingUntilUp, rssKb, startServers, toolVersions } from './tools.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const HELP = `usage: tsx benches/dataplane/run.ts [options]   (root; Linux network namespaces)
  --only a,b         systems to run (default all): raw, openvpn-aes, openvpn-chacha, wireguard-go, tinc,
                     ringvpn (TAP), ringvpn-tun, ringvpn-nooffload (TAP, device and UDP offloads off),
                     ringvpn-2t (TAP, a hot-path thread per direction), wireguard-go-current, boringtun
  --seconds N        duration of each tool run (default 10)
  --runs N           runs; systems are interleaved within each run, medians reported (default 3)
  --out DIR          output directory (default benches/results)
  --rr-size N        TCP_RR request/response size in bytes (default 64)
  --ringvpn-cmd CMD  command prefix for ringvpn (default "${repoRoot}/bin/ringvpn");
                     it is called as CMD keygen and CMD up --config FILE (cwd ${repoRoot})
  --max-background P before each measurement wait until other work uses at most P % of the machine's CPU (default 20)
  --wait-quiet S     ... but wait at most S seconds (default 30), then measure anyway (the report shows it)
  --pin MODE         CPU placement of everything started in the namespaces (VPN daemons and tools):
                     none (default): the scheduler decides; cross-CPU wake-ups cost ~5x in TCP_RR on this VM,
                       so TCP_RR is bimodal from run to run (look at the per-run table);
                     one: both sides on CPU 0 (most stable; hides any use of a second core);
                     split: side a on CPU 0, side b on CPU 1 (like two 1-core hosts; pays a cross-CPU wake-up per packet)
  --keep-tmp         keep the temp dir with configs and daemon logs
  -h, --help`;

const { values: opt } = parseArgs({
  options: {
    only: { type: 'string' },
    seconds: { type: 'string', default: '10' },
    runs: { type: 'string', default: '3' },
    out: { type: 'string', default: 'benches/results' },
    'rr-size': { type: 'string', default: '64' },
    'ringvpn-cmd': { type: 'string', default: join(repoRoot, 'bin/ringvpn') },
    'keep-tmp': { type: 'boolean', default: false },
    pin: { type: 'string', default: 'none' },
    'max-background': { type: 'string', default: '20' },
    'wait-quiet': { type: 'string', default: '30' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (opt.help) {
  process.stdout.write(HELP + '\n');
  process.exit(0);
}
const seconds = Number(opt.seconds);
const runs = Number(opt.runs);
const rrSize = Number(opt['rr-size']);
const maxBackground = Number(opt['max-background']);
const waitQuiet = Number(opt['wait-quiet']);
const pin = opt.pin!;
if (!['split', 'one', 'none'].includes(pin)) {
  process.stderr.write(`bad --pin ${pin}\n${HELP}\n`);
  process.exit(2);
}
if (pin === 'split' && cpus().length < 2) {
  process.stderr.write('--pin split needs 2 CPUs\n');
  process.exit(2);
}
if (!(seconds >= 1) || !(runs >= 1) || !(rrSize >= 1) || !(maxBackground >= 0) || !(waitQuiet >= 0)) {
  process.stderr.write(`bad numeric option\n${HELP}\n`);
  process.exit(2);
}
if (process.getuid?.() !== 0) {
  process.stderr.write('run.ts creates network namespaces and needs root\n');
  process.exit(77);
}

const log = (msg: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${msg}\n`);

// ---- temp dir + cleanup (exit, Ctrl-C, SIGTERM, crashes) ----
const tmp = mkdtempSync(join(tmpdir(), 'rvb-dataplane-'));
let cleaned = false;
function cleanup(): void {
  if (cleaned) return;
  cleaned = true;
  destroyAllSync();
  if (!opt['keep-tmp']) rmSync(tmp, { recursive: true, force: true });
  else process.stderr.write(`temp dir kept: ${tmp}\n`);
}
process.on('exit', cleanup);
let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: cleaning up`);
    // Asynchronous teardown: do not block the event loop (tsx's parent process waits for our signal acknowledgement over IPC).
    const hard = setTimeout(() => {
      cleanup();
      process.exit(1);
    }, 8000);
    destroyAll()
      .catch(() => {})
      .finally(() => {
        clearTimeout(hard);
        cleanup();
        process.exit(sig === 'SIGINT' ? 130 : 143);
      });
  });
}
process.on('uncaughtException', (e) => {
  log(`uncaught: ${e.stack ?? e}`);
  cleanup();
  process.exit(1);
});

// ---- systems ----
const every = allSystems({ tmpRoot: () => tmp, ringvpnCmd: opt['ringvpn-cmd']!, repoRoot });
let chosen: System[] = every;
if (opt.only) {
  const want = opt.only.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = want.filter((w) => !every.some((s) => s.id === w));
  if (unknown.length) {
    process.stderr.write(`unknown system(s): ${unknown.join(', ')}; known: ${every.map((s) => s.id).join(', ')}\n`);
    process.exit(2);
  }
  chosen = every.filter((s) => want.includes(s.id));
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '?';
  }
}

function machineInfo(): Record<string, unknown> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  return {
    kernel: release(),
    kernelFull: sh('uname', ['-a']),
    os: /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '?',
    cpuModel: /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1]?.trim() ?? '?',
    cpus: cpus().length,
    memMiB: Math.round(totalmem() / 2 ** 20),
    loadavgAtStart: loadavg(),
    rmemMax: sh('sysctl', ['-n', 'net.core.rmem_max']),
    wmemMax: sh('sysctl', ['-n', 'net.core.wmem_max']),
    gitHead: sh('git', ['-C', repoRoot, 'rev-parse', 'HEAD']),
  };
}

const withTimeout = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([p, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`${what}: timed out after ${ms / 1000} s`)), ms).unref())]);

const errMsg = (e: unknown) => (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').trim();

/** Whole-machine CPU busy % over `ms` (from /proc/stat), taken while none of our processes run. */
async function backgroundBusyPct(ms: number): Promise<number> {
  const read = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    const total = f.slice(0, 8).reduce((x, y) => x + y, 0); // user..steal; guest is already in user
    return { idle, total };
  };
  const a = read();
  await new Promise((r) => setTimeout(r, ms));
  const b = read();
  const dt = b.total - a.total;
  return dt > 0 ? 100 * (1 - (b.idle - a.idle) / dt) : 0;
}

/** One system, one run: fresh namespaces, start, ping check, the three tools, RSS; always torn down. */
async function measureOnce(sys: System, run: number, position: number): Promise<RunSample> {
  const tag = `[run ${run}/${runs}] [${position}/${chosen.length}] ${sys.id}`;
  const sample: RunSample = { run, position, startedAt: new Date().toISOString(), ok: false };
  // Other work on the shared box skews everything: wait (bounded) for a quiet moment, and record what we got.
  const quietUntil = Date.now() + waitQuiet * 1000;
  for (let i = 0; ; i++) {
    sample.backgroundBusyPct = await backgroundBusyPct(1000);
    if (sample.backgroundBusyPct <= maxBackground || Date.now() >= quietUntil) break;
    if (i % 10 === 0) {
      log(`${tag}: background CPU ${sample.backgroundBusyPct.toFixed(0)} % > ${maxBackground} %, waiting (up to ${Math.ceil((quietUntil - Date.now()) / 1000)} s)`);
    }
  }
  const load0 = loadavg()[0]!;
  const suffix = randomSuffix();
  const dir = join(tmp, `${sys.id}-r${run}-${suffix}`);
  mkdirSync(dir, { recursive: true });
  let a: Netns | undefined;
  let b: Netns | undefined;
  const errors: string[] = [];
  try {
    a = await create(`rvb-${suffix}-a`);
    b = await create(`rvb-${suffix}-b`);
    if (pin !== 'none') {
      a.cpus = '0';
      b.cpus = pin === 'split' ? '1' : '0';
    }
    await vethPair(a, b, { nameA: `rvb${suffix}a`, nameB: `rvb${suffix}b`, addrA: '10.0.0.1/24', addrB: '10.0.0.2/24', mtu: 1500 });
    const pair: Pair = { a, b, underA: '10.0.0.1', underB: '10.0.0.2', suffix, dir };
    log(`${tag}: starting (background CPU ${sample.backgroundBusyPct?.toFixed(0)} %)`);
    const r: Running = await withTimeout(sys.start(pair), 90_000, 'start');
    sample.notes = r.notes;
    const ping = await pingUntilUp(a, r.innerB, 20_000);
    if (!ping.ok) throw new Error(`tunnel carries no traffic: ping ${r.innerB} failed (${ping.detail})`);
    sample.pingRttMs = ping.rttMs;
    log(`${tag}: tunnel up (ping ${r.innerB} ${ping.rttMs} ms)`);
    await startServers(b, dir);
    const sampleRss = () => {
      sample.rssKbA = rssKb(r.procsA.map((p) => p.pid)).kb;
      sample.rssKbB = rssKb(r.procsB.map((p) => p.pid)).kb;
    };
    const dead = () => [...r.procsA, ...r.procsB].filter((p) => p.hasExited());
    const step = async (name: string, fn: () => Promise<string>) => {
      log(`${tag}: ${name} (${seconds} s)`);
      try {
        log(`${tag}: ${name} -> ${await fn()}`);
      } catch (e) {
        const d = dead();
        const why = d.length ? `; VPN process exited: ${d[0]!.tail(3).replace(/\s+/g, ' ')}` : '';
        errors.push(`${name}: ${errMsg(e)}${why}`);
        log(`${tag}: ${name} FAILED: ${errMsg(e)}${why}`);
      }
    };
    await step('iperf3 TCP', async () => {
      const vpnPids = [...r.procsA, ...r.procsB].map((p) => p.pid);
      const cpu0 = cpuSeconds(vpnPids);
      const t0 = performance.now();
      sample.iperf3 = await iperf3(a!, r.innerB, seconds, sampleRss);
      if (vpnPids.length) sample.vpnCpuCores = (cpuSeconds(vpnPids) - cpu0) / ((performance.now() - t0) / 1000);
      const rss = r.procsA.length
        ? `, RSS ${((sample.rssKbA! + sample.rssKbB!) / 2 / 1024).toFixed(1)} MiB/node, VPN CPU ${sample.vpnCpuCores?.toFixed(2)} cores`
        : '';
      return `${(sample.iperf3.bps / 1e9).toFixed(3)} Gbit/s (retr ${sample.iperf3.retransmits})${rss}`;
    });
    await step('netperf TCP_STREAM', async () => {
      sample.stream = await netperfStream(a!, r.innerB, seconds);
      return `${(sample.stream.bps / 1e9).toFixed(3)} Gbit/s`;
    });
    await step(`netperf TCP_RR ${rrSize}B`, async () => {
      sample.rr = await netperfRR(a!, r.innerB, seconds, rrSize);
      return `${sample.rr.tps.toFixed(0)} trans/s, mean ${sample.rr.meanUs} µs, p99 ${sample.rr.p99Us} µs`;
    });
    sample.ok = errors.length === 0;
  } catch (e) {
    errors.push(errMsg(e));
    log(`${tag}: FAILED: ${errMsg(e)}`);
  } finally {
    await a?.destroy();
    await b?.destroy();
  }
  sample.loadavg1 = [load0, loadavg()[0]!];
  sample.backgroundAfterPct = await backgroundBusyPct(1000);
  if (errors.length) sample.error = errors.join('; ');
  return sample;
}

async function main(): Promise<void> {
  log(`dataplane bench: ${chosen.map((s) => s.id).join(', ')}; ${runs} run(s) × ${seconds} s; temp ${tmp}`);
  const results: SystemResult[] = [];
  for (const s of chosen) {
    const why = await s.available();
    results.push({ id: s.id, label: s.label, available: why === null, unavailableReason: why ?? undefined, runs: [], median: computeMedians([]) });
    if (why) log(`${s.id}: not available: ${why}`);
  }
  const report: Report = {
    generatedAt: new Date().toISOString(),
    options: { seconds, runs, rrSize, pin, maxBackground, waitQuiet, only: opt.only ?? null, ringvpnCmd: opt['ringvpn-cmd'], underlay: 'veth MTU 1500, 10.0.0.1 <-> 10.0.0.2', innerMtu: 1420 },
    machine: machineInfo(),
    versions: await toolVersions(),
    systems: results,
  };
  const outDir = resolve(opt.out!);
  const runnable = chosen.filter((s) => results.find((r) => r.id === s.id)!.available);
  for (let run = 1; run <= runs; run++) {
    // Interleave: every system once per run, rotating the order so position effects spread evenly.
    const k = runnable.length ? (run - 1) % runnable.length : 0;
    const order = [...runnable.slice(k), ...runnable.slice(0, k)];
    for (const [i, sys] of order.entries()) {
      const res = results.find((r) => r.id === sys.id)!;
      const sample = await measureOnce(sys, run, i + 1);
      res.runs.push(sample);
      res.notes ??= sample.notes;
      res.median = computeMedians(res.runs);
      writeReport(outDir, report); // keep partial results if interrupted
    }
  }
  const files = writeReport(outDir, report);
  log(`wrote ${files.join(', ')}`);
  process.stdout.write(readFileSync(files[1]!, 'utf8'));
}

main()
  .then(() => {
    cleanup();
    process.exit(0);
  })
  .catch((e) => {
    log(`fatal: ${e instanceof Error ? e.stack : e}`);
    cleanup();
    process.exit(1);
  });
