// run.ts — owns the attack benchmark of issue 12: a third namespace floods the victim of a two-member
// tunnel with junk handshake initiations (type 1, 148-548 random bytes, one source address, as a stranger
// would) at rising rates, for ringvpn, current wireguard-go and boringtun in turn. At each rate it reads
// the victim's RSS and CPU from /proc, the tunnel's ping RTT and loss, and the first-ping time of a peer
// that comes up during the flood (its handshake plus one round trip). Results: benches/results/attack.{json,md}.
// Usage: tsx benches/attack/run.ts [--rates 10000,50000,100000,200000,0] [--seconds 8] [--runs 3] [--only ringvpn,wireguard-go,boringtun]

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { MeshLab } from '../../ts/lab/mesh-lab.js';
import { Lan } from '../../ts/lab/bridge.js';
import { startFlood } from '../../ts/lab/flood.js';
import { cpuSeconds } from '../dataplane/tools.js';
import { pingFirst, sleep } from '../../ts/lab/util.js';
import type { Netns } from '../../ts/lab/netns.js';
import { daemonRuntime, rssKiB } from '../lab/procstat.js';
import { repoRoot } from '../../ts/paths.js';
import { configureWg, startWg, versionOf, wgNode, type WgImpl, type WgNode } from './peers.js';
import { timedHandshake } from '../../tests/net/rogue-run.js';

const { values: a } = parseArgs({
  options: {
    rates: { type: 'string', default: '10000,50000,100000,200000,0' }, seconds: { type: 'string', default: '8' },
    runs: { type: 'string', default: '3' }, only: { type: 'string', default: 'ringvpn,wireguard-go,boringtun' },
    out: { type: 'string', default: join(repoRoot, 'benches/results') }, help: { type: 'boolean', default: false },
  },
});
if (a.help) { process.stdout.write('usage: tsx benches/attack/run.ts [--rates 10000,50000,100000,200000,0 (0: as fast as possible)] [--seconds 8] [--runs 3] [--only ringvpn,wireguard-go,boringtun] [--out DIR]\n'); process.exit(0); }
const RATES = a.rates!.split(',').map(Number);
const SECONDS = Number(a.seconds);
const RUNS = Number(a.runs);
const SYSTEMS = a.only!.split(',') as Array<'ringvpn' | WgImpl>;
const say = (s: string): void => { process.stderr.write(`[attack ${new Date().toISOString().slice(11, 19)}] ${s}\n`); };

interface Step { system: string; run: number; rate: number; sentRate: number; rssMiB: number; rssPeakMiB: number; cpuPct: number; rttMs: number | null; pingLoss: number; handshakeMs: number | null }

/** What a system under test gives the driver. */
interface Victim {
  pid: () => number | null;
  a: Netns; attacker: Netns;
  victimInner: string; victimUnder: string;
  /** a fresh handshake with the victim during the flood, in ms (null: none) */
  handshake: () => Promise<number | null>;
  destroy: () => Promise<void>;
}

async function ringvpnVictim(): Promise<Victim> {
  const lab = await MeshLab.create(4, { prefix: 'rvat', mode: 'tun' });
  await lab.start(0); await lab.start(1);
  await lab.waitForSessions(0, 15000, ['node1']);
  // tsx costs ~30 MiB of RSS: a daemon started while dist/ was stale would not be the product
  const rt = daemonRuntime(lab.node(1).proc?.child.pid ?? null);
  if (rt !== 'compiled') { await lab.destroy(); throw new Error(`the victim runs ${rt} TypeScript, not the compiled control plane: run \`npm run build:ts\` and do not edit ts/ during the benchmark`); }
  return {
    pid: () => lab.node(1).proc?.child.pid ?? null,
    a: lab.node(0).ns, attacker: lab.node(2).ns,
    victimInner: '10.99.0.2', victimUnder: lab.node(1).underlay,
    // a daemon handshakes while it starts up: time a Handshaker driver with node3's key instead, from its
    // first initiation to its session (cookie replies included), with no process start-up in it
    handshake: async () => (await timedHandshake(lab.node(3).ns, lab.node(3).keys, { endpoint: `${lab.node(1).underlay}:51820`, publicKey: lab.node(1).keys.publicKey }, lab.dir)).establishedMs,
    destroy: () => lab.destroy(),
  };
}

async function wgVictim(impl: WgImpl, dir: string): Promise<Victim> {
  const lan = await Lan.create('rvaw', ['10.202.0.1/24', '10.202.0.2/24', '10.202.0.3/24', '10.202.0.4/24']);
  const sfx = Math.random().toString(36).slice(2, 6);
  const na = await wgNode(lan.host(0), `wa${sfx}`, '10.98.0.1', '10.202.0.1');
  const nb = await wgNode(lan.host(1), `wb${sfx}`, '10.98.0.2', '10.202.0.2');
  let nc: WgNode = await wgNode(lan.host(3), `wc${sfx}`, '10.98.0.4', '10.202.0.4');
  await startWg(impl, na, dir); await startWg(impl, nb, dir);
  await configureWg(na, [nb], dir);
  await configureWg(nb, [na, nc], dir);
  await pingFirst(na.ns, nb.inner, 3, 2);
  return {
    pid: () => nb.proc?.child.pid ?? null,
    a: na.ns, attacker: lan.host(2),
    victimInner: nb.inner, victimUnder: nb.underlay,
    // the late peer's daemon starts and is configured first; its first ping then waits for the handshake
    handshake: async () => {
      nc = { ...nc, proc: null };
      await startWg(impl, nc, dir); await configureWg(nc, [nb], dir);
      try { return (await pingFirst(nc.ns, nb.inner, 3, 3)).firstMs; } finally { await nc.proc?.kill(); nc.proc = null; }
    },
    destroy: async () => { for (const n of [na, nb, nc]) await n.proc?.kill().catch(() => undefined); await lan.destroy(); },
  };
}

async function step(system: string, run: number, v: Victim, rate: number): Promise<Step> {
  const pid = v.pid()!;
  const cpu0 = cpuSeconds([pid]), t0 = performance.now();
  const count = Math.round(SECONDS * 5);
  const pinger = v.a.exec('ping', ['-c', String(count), '-i', '0.2', '-W', '1', v.victimInner], { allowFail: true });
  const flood = startFlood(v.attacker, { target: `${v.victimUnder}:51820`, kind: 'junk-init', seconds: SECONDS, rate });
  let peak = 0;
  const sampler = (async () => { for (let i = 0; i < SECONDS; i++) { await sleep(1000); peak = Math.max(peak, rssKiB(pid) ?? 0); } })();
  await sleep(Math.min(3000, (SECONDS * 1000) / 3));
  let handshakeMs: number | null = null;
  try { handshakeMs = await v.handshake(); } catch (e) { say(`late peer: ${(e as Error).message.split('\n')[0]}`); }
  const sent = await flood.done;
  await sampler;
  const cpu1 = cpuSeconds([pid]), t1 = performance.now();
  const p = await pinger;
  const rtt = /= [\d.]+\/([\d.]+)\//.exec(p.stdout);
  const received = Number(/(\d+) received/.exec(p.stdout)?.[1] ?? 0);
  await sleep(1000);
  const rss = rssKiB(pid) ?? 0;
  const s: Step = {
    system, run, rate, sentRate: Math.round(sent.rate), rssMiB: rss / 1024, rssPeakMiB: Math.max(peak, rss) / 1024,
    cpuPct: ((cpu1 - cpu0) / ((t1 - t0) / 1000)) * 100, rttMs: rtt ? Number(rtt[1]) : null, pingLoss: 1 - received / count, handshakeMs,
  };
  say(`${system} run ${run} rate ${rate || 'max'}: sent ${s.sentRate}/s, RSS ${s.rssMiB.toFixed(1)} MiB (peak ${s.rssPeakMiB.toFixed(1)}), CPU ${s.cpuPct.toFixed(0)} %, RTT ${s.rttMs ?? '-'} ms, loss ${(s.pingLoss * 100).toFixed(0)} %, late peer's first ping ${handshakeMs ?? '-'} ms`);
  return s;
}

const median = (xs: Array<number | null>): number | null => {
  const v = xs.filter((x): x is number => x !== null && Number.isFinite(x)).sort((x, y) => x - y);
  return v.length ? v[Math.floor((v.length - 1) / 2)]! : null;
};

const dir = mkdtempSync(join(tmpdir(), 'ringvpn-attack-'));
const steps: Step[] = [];
const versions: Record<string, string> = {};
try {
  for (const s of SYSTEMS) if (s !== 'ringvpn') versions[s] = versionOf(s);
  for (let run = 1; run <= RUNS; run++) {
    for (const system of SYSTEMS) {
      say(`${system}: setting up (run ${run}/${RUNS})`);
      const v = system === 'ringvpn' ? await ringvpnVictim() : await wgVictim(system, dir);
      try {
        for (const rate of RATES) { steps.push(await step(system, run, v, rate)); await sleep(2000); }
      } finally { await v.destroy(); }
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot }).toString().trim();
const rows = SYSTEMS.flatMap((system) => RATES.map((rate) => {
  const xs = steps.filter((s) => s.system === system && s.rate === rate);
  return {
    system, rate, runs: xs.length, sentRate: median(xs.map((x) => x.sentRate)), rssMiB: median(xs.map((x) => x.rssMiB)), rssPeakMiB: median(xs.map((x) => x.rssPeakMiB)),
    cpuPct: median(xs.map((x) => x.cpuPct)), rttMs: median(xs.map((x) => x.rttMs)), pingLoss: median(xs.map((x) => x.pingLoss)), handshakeMs: median(xs.map((x) => x.handshakeMs)),
  };
}));
const out = resolve(a.out!);
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'attack.json'), JSON.stringify({ commit, date: new Date().toISOString(), seconds: SECONDS, runs: RUNS, versions, rows, steps }, null, 2) + '\n');
const f = (x: number | null, d = 1): string => (x === null ? '-' : x.toFixed(d));
const md = [
  `# Junk-initiation flood: victim cost at rising rates (commit ${commit}, medians of ${RUNS} runs)`,
  '',
  `One attacker namespace sends type-1 initiations of 148-548 random bytes from one address at the victim of a two-member tunnel for ${SECONDS} s per rate (\`ringvpn-flood --kind junk-init\`; "max" is as fast as one sender thread goes). Columns: the rate reached; the victim's VmRSS 1 s after the flood and its peak; the victim's CPU over the flood (100 % = one core); the tunnel's ping RTT and loss (5/s); a fresh handshake during the flood: for ringvpn a Handshaker driver with a member's key timed from its first initiation to its session (cookie round trips included); for the WireGuard implementations the first ping of a peer whose daemon was just started and configured (its handshake and one round trip). Peers: ${Object.entries(versions).map(([k, v]) => `${k} ${v}`).join(', ') || '-'} (built from current sources by benches/attack/peers.ts).`,
  '',
  '| system | rate asked | rate sent | RSS after / peak (MiB) | CPU % | tunnel RTT (ms) | ping loss | fresh handshake (ms) |',
  '|---|---|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.system} | ${r.rate || 'max'} | ${f(r.sentRate, 0)} | ${f(r.rssMiB)} / ${f(r.rssPeakMiB)} | ${f(r.cpuPct, 0)} | ${f(r.rttMs, 2)} | ${r.pingLoss === null ? '-' : `${(r.pingLoss * 100).toFixed(0)} %`} | ${f(r.handshakeMs, 0)} |`),
  '',
].join('\n');
writeFileSync(join(out, 'attack.md'), md);
process.stdout.write(md);
