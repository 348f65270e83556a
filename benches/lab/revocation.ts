// revocation.ts — owns the revocation benchmark (issue 6): a certified lab (RingLab with pki), one victim
// node that every member holds a session with, and how long the members take to close those sessions
// once the victim's certificate is revoked, (a) published through a member (control socket: broadcast +
// DHT) and (b) by CRL polling alone (crl.pem rewritten, nothing published). Between runs the victim
// comes back with a fresh key and certificate (a revoked node id never links again). Progress on stderr;
// JSON and Markdown to benches/results/revocation.{json,md}; the lab is torn down on every path.
// Usage: tsx benches/lab/revocation.ts [--nodes 8] [--runs 3] [--crl-poll 5] [--poll-ms 50] [--out benches/results]

import { cpus, release, totalmem } from 'node:os';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { destroyAllSync } from '../../ts/lab/netns.js';
import { RingLab } from '../../ts/lab/ringlab.js';
import { ping, sleep } from '../../ts/lab/util.js';
import { repoRoot } from '../../ts/paths.js';
import { environment, summarize, type Environment, type Summary } from './procstat.js';

const HELP = `usage: tsx benches/lab/revocation.ts [options]   (root; builds a lab of overlay daemons in network namespaces)
  --nodes N       lab size, the victim included (default 8)
  --runs R        runs per method (default 3)
  --crl-poll S    pki.crlPollSeconds of every daemon (default 5)
  --poll-ms M     status polling interval while waiting for the sessions to close (default 50)
  --timeout S     give up on a run after S seconds (default 30)
  --out DIR       output directory (default benches/results): revocation.json, revocation.md
  -h, --help`;

const { values: opt } = parseArgs({
  options: {
    nodes: { type: 'string', default: '8' },
    runs: { type: 'string', default: '3' },
    'crl-poll': { type: 'string', default: '5' },
    'poll-ms': { type: 'string', default: '50' },
    timeout: { type: 'string', default: '30' },
    out: { type: 'string', default: 'benches/results' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help) { process.stdout.write(HELP + '\n'); process.exit(0); }
function num(name: keyof typeof opt, min: number): number {
  const v = Number(opt[name]);
  if (!Number.isInteger(v) || v < min) { process.stderr.write(`--${name}: expected an integer >= ${min}, got ${JSON.stringify(opt[name])}\n${HELP}\n`); process.exit(2); }
  return v;
}
const N = num('nodes', 3), RUNS = num('runs', 1), CRL_POLL = num('crl-poll', 1), POLL_MS = num('poll-ms', 10), TIMEOUT_MS = num('timeout', 5) * 1000;
const outDir = resolve(repoRoot, opt.out!);
if (process.getuid?.() !== 0) { process.stderr.write('benches/lab/revocation.ts builds network namespaces and needs root\n'); process.exit(77); }

const T0 = Date.now();
const log = (msg: string): void => {
  const el = (Date.now() - T0) / 1000;
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} +${Math.floor(el / 60)}m${String(Math.floor(el % 60)).padStart(2, '0')}s ${msg}\n`);
};

// ---- teardown on every path ----
let lab = null as RingLab | null;
let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (stopping) { destroyAllSync(); process.exit(130); }
    stopping = true;
    log(`${sig}: tearing the lab down (again to force)`);
    void (lab ? lab.down().catch(() => undefined) : Promise.resolve()).finally(() => process.exit(130));
  });
}
process.on('exit', () => destroyAllSync());

type Method = 'broadcast' | 'crl';
interface Run {
  method: Method; run: number; victim: string; victimAddress: string;
  /** members holding a session with the victim when it was revoked */
  members: number;
  /** ms from the revocation (record sent to the control socket / crl.pem rewritten) to each member's
   * "revoked node cut off" log line (the sessions are removed in the same call), same clock */
  perMember: Record<string, number | null>;
  firstMs: number | null; lastMs: number | null; meanMs: number | null;
  /** the same seen from outside: the first status poll that no longer lists a session with the victim */
  perMemberPolled: Record<string, number | null>;
  lastPolledMs: number | null;
  /** how each member learned (its log): control, broadcast, crl, dht */
  how: Record<string, string>;
  /** broadcast only: the control reply as the daemon sent it, and its latency. (Its `broadcastTo` is the
   * broadcast's sequence number, not a count of neighbours: overlay.ts returns BroadcastService.broadcast()'s value.) */
  publish?: { reply: Record<string, unknown>; storedInDht: boolean; replyMs: number };
  timedOut: boolean;
}

interface Peer { nodeId: string; session: boolean }
interface Status { connections: Peer[]; dataPeers: Peer[] }
const hasSession = (s: Status, id: string): boolean => [...s.connections, ...s.dataPeers].some((p) => p.nodeId === id && p.session);

async function sessionsWith(l: RingLab, members: number[], id: string): Promise<boolean[]> {
  return Promise.all(members.map(async (i) => hasSession(await l.status(i) as unknown as Status, id)));
}

/** The victim (re)joins with the given identity; every member pings it until each holds a session with it. */
async function prepareVictim(l: RingLab, v: number, members: number[], fresh: { address: string } | null): Promise<number> {
  if (fresh) {
    await l.kill(v);
    await l.enrol(v, { newKey: true, sign: { address: fresh.address } });
    await l.start(v);
    await l.waitForAddresses([v], 60_000);
  }
  const vip = (await l.status(v)).address!;
  const id = l.node(v).nodeId;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const have = await sessionsWith(l, members, id);
    const missing = members.filter((_, k) => !have[k]);
    if (!missing.length) return members.length;
    if (Date.now() > deadline) { log(`  ${missing.length} members have no session with the victim after 60 s: ${missing.map((i) => `node${i}`).join(', ')}`); return members.length - missing.length; }
    await Promise.all(missing.map((i) => ping(l.node(i).ns, vip, 3, 1)));
  }
}

/** Each member's "revoked node cut off" log line for `id`: when (ms since the epoch) and how it learned. */
function cutOffs(l: RingLab, members: number[], id: string): Map<number, { time: number; how: string }> {
  const out = new Map<number, { time: number; how: string }>();
  for (const i of members) {
    try {
      const line = readFileSync(l.node(i).log, 'utf8').split('\n').find((x) => x.includes('revoked node cut off') && x.includes(id));
      if (line) { const j = JSON.parse(line) as { time: number; how?: string }; out.set(i, { time: j.time, how: j.how ?? '?' }); }
    } catch { /* no log */ }
  }
  return out;
}

async function measure(l: RingLab, method: Method, run: number, v: number, members: number[]): Promise<Run> {
  const id = l.node(v).nodeId;
  const victimAddress = l.node(v).vip ?? '?';
  const had = await sessionsWith(l, members, id);
  const watched = members.filter((_, k) => had[k]);
  const closedAt = new Map<number, number>();
  let t0: number | null = null;
  let done = false;
  // poll from before the revocation, so no closing is missed; times count from t0
  const poller = (async () => {
    while (!done) {
      const at = Date.now();
      const ss = await Promise.all(watched.map((i) => l.status(i, 2000).then((s) => s as unknown as Status).catch(() => null)));
      ss.forEach((s, k) => { if (s && !hasSession(s, id) && !closedAt.has(watched[k]!)) closedAt.set(watched[k]!, Date.now()); });
      if (closedAt.size === watched.length) return;
      await sleep(Math.max(0, POLL_MS - (Date.now() - at)));
    }
  })();
  let publish: Run['publish'];
  if (method === 'broadcast') {
    const r = await l.revoke(v, { publishVia: members[0]! });
    t0 = r.sentAt!;
    const p = r.published as Record<string, unknown>;
    publish = { reply: p, storedInDht: p.storedInDht === true, replyMs: Date.now() - t0 };
  } else {
    await l.revoke(v);
    t0 = Date.now();
  }
  const deadline = t0 + TIMEOUT_MS;
  while (closedAt.size < watched.length && Date.now() < deadline) await sleep(20);
  done = true;
  await poller;
  await sleep(300); // the log lines are flushed asynchronously
  const cuts = cutOffs(l, members, id);
  const perMemberPolled = Object.fromEntries(watched.map((i) => {
    const c = closedAt.get(i);
    return [`node${i}`, c !== undefined ? Math.max(0, c - t0!) : null];
  }));
  const perMember = Object.fromEntries(watched.map((i) => {
    const c = cuts.get(i);
    return [`node${i}`, c !== undefined && closedAt.has(i) ? c.time - t0! : null];
  }));
  const xs = Object.values(perMember).filter((x): x is number => x !== null);
  const ps = Object.values(perMemberPolled).filter((x): x is number => x !== null);
  const complete = xs.length === watched.length && xs.length > 0;
  return {
    method, run, victim: `node${v} ${id.slice(0, 8)}`, victimAddress, members: watched.length, perMember,
    firstMs: xs.length ? Math.min(...xs) : null, lastMs: complete ? Math.max(...xs) : null,
    meanMs: xs.length ? Math.round(xs.reduce((a, b) => a + b, 0) / xs.length) : null,
    perMemberPolled, lastPolledMs: ps.length === watched.length && ps.length ? Math.max(...ps) : null,
    how: Object.fromEntries(members.map((i) => [`node${i}`, cuts.get(i)?.how ?? 'none'])),
    ...(publish ? { publish } : {}), timedOut: closedAt.size < watched.length,
  };
}

interface Report {
  benchmark: 'revocation'; at: string; command: string;
  machine: { cpus: number; model: string; memGiB: number; kernel: string; node: string };
  environment: { before: Environment; after: Environment | null };
  config: { nodes: number; runs: number; crlPollSeconds: number; pollMs: number; timeoutMs: number; tickMs: number };
  runs: Run[];
  summary: Record<Method, { last: Summary | null; mean: Summary | null; first: Summary | null; lastPolled: Summary | null; timedOut: number }>;
}

function markdown(r: Report): string {
  const ms = (x: number | null | undefined): string => (x === null || x === undefined ? '—' : x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x)} ms`);
  const s = r.summary;
  const lines = [
    '# Revocation: from revoking a certificate to the last member session with the node closed',
    '',
    `${r.config.nodes}-node certified lab (TAP + DHCP, one daemon per namespace on a bridge), ${r.config.runs} runs per method, status polled every ${r.config.pollMs} ms on every member that held a session with the victim; crlPollSeconds ${r.config.crlPollSeconds}. ${r.machine.cpus} CPUs (${r.machine.model}), load before ${r.environment.before.loadavg.join(' / ')}, other lab daemons on the machine: ${r.environment.before.otherDaemons}.`,
    '',
    `Command: \`${r.command}\` (${r.at})`,
    '',
    '| method | median time to the last member (min–max) | median mean over members | median first member | last member seen by status polling, median | runs timed out |',
    '|---|---|---|---|---|---|',
    `| (a) published through a member: control socket → broadcast (+ DHT) | **${ms(s.broadcast.last?.median)}** (${ms(s.broadcast.last?.min)}–${ms(s.broadcast.last?.max)}) | ${ms(s.broadcast.mean?.median)} | ${ms(s.broadcast.first?.median)} | ${ms(s.broadcast.lastPolled?.median)} | ${s.broadcast.timedOut} |`,
    `| (b) CRL polling alone (crl.pem rewritten, polled every ${r.config.crlPollSeconds} s) | **${ms(s.crl.last?.median)}** (${ms(s.crl.last?.min)}–${ms(s.crl.last?.max)}) | ${ms(s.crl.mean?.median)} | ${ms(s.crl.first?.median)} | ${ms(s.crl.lastPolled?.median)} | ${s.crl.timedOut} |`,
    '',
    '(a) counts from the moment the signed record is written to the member\'s control socket; (b) from the moment `revoke` has rewritten crl.pem. Each member\'s time is its own log line "revoked node cut off" (pino `time`, same clock; the member removes the sessions in that call); the status-polling column confirms it from outside (a member counts once its status no longer lists the victim with `session: true`; resolution: one polling round, about the polling interval). A CRL read happens on a daemon tick (500 ms) once crlPollSeconds have passed, so (b) is at most crlPollSeconds + 0.5 s and on average about half that.',
    '',
    '| run | method | victim | members | last | mean | per member, log (ms) | last by polling | how members learned | publish reply |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...r.runs.map((x) => `| ${x.run} | ${x.method} | ${x.victim} (${x.victimAddress}) | ${x.members} | ${ms(x.lastMs)}${x.timedOut ? ' (timed out)' : ''} | ${ms(x.meanMs)} | ${Object.entries(x.perMember).map(([k, v]) => `${k.replace('node', 'n')} ${v ?? '—'}`).join(', ')} | ${ms(x.lastPolledMs)} | ${Object.entries(countBy(Object.values(x.how))).map(([k, v]) => `${k} ×${v}`).join(', ')} | ${x.publish ? `${x.publish.replyMs} ms, stored in the DHT: ${x.publish.storedInDht ? 'yes' : 'no'}` : '—'} |`),
    '',
  ];
  return lines.join('\n');
}

function countBy(xs: string[]): Record<string, number> {
  const o: Record<string, number> = {};
  for (const x of xs) o[x] = (o[x] ?? 0) + 1;
  return o;
}

async function main(): Promise<void> {
  const before = await environment();
  log(`revocation benchmark: ${N} nodes, ${RUNS} runs per method, crlPollSeconds ${CRL_POLL}, polling every ${POLL_MS} ms; load ${before.loadavg.join(' ')}, ${before.otherDaemons} other daemons on the machine`);
  const name = 'rv' + randomBytes(3).toString('hex');
  lab = await RingLab.up({
    nodes: N, name, dir: `/tmp/ringvpn-lab-${name}`, pki: { crlPollSeconds: CRL_POLL },
    onProgress: (l) => { if (!/^\[\d+\/\d+\]/.test(l)) log(`[${name}] ${l}`); },
  });
  log(`lab ${name}: up in ${(lab.summary!.totalMs / 1000).toFixed(1)} s`);
  const v = N - 1;
  const members = Array.from({ length: N - 1 }, (_, i) => i);
  const runs: Run[] = [];
  const plan: Method[] = [];
  for (let r = 0; r < RUNS; r++) plan.push('broadcast', 'crl'); // interleaved, so drift in machine load hits both alike
  let k = 0;
  for (const method of plan) {
    if (stopping) break;
    const run = runs.filter((x) => x.method === method).length + 1;
    const fresh = k === 0 ? null : { address: `10.128.100.${k + 1}` };
    log(`${method} run ${run}: ${fresh ? `victim node${v} re-enrolled with a new key and ${fresh.address}` : `victim node${v}`}; waiting until every member holds a session with it`);
    const have = await prepareVictim(lab, v, members, fresh);
    log(`  ${have}/${members.length} members hold a session with the victim; revoking (${method === 'broadcast' ? 'record to node0\'s control socket' : 'crl.pem only'})`);
    const res = await measure(lab, method, run, v, members);
    runs.push(res);
    log(`  last member closed after ${res.lastMs ?? 'timeout'} ms (first ${res.firstMs} ms, mean ${res.meanMs} ms; by status polling ${res.lastPolledMs ?? '—'} ms); learned by ${JSON.stringify(countBy(Object.values(res.how)))}${res.publish ? `; publish reply after ${res.publish.replyMs} ms (stored in the DHT: ${res.publish.storedInDht})` : ''}`);
    k++;
  }
  const sum = (m: Method): Report['summary'][Method] => {
    const rs = runs.filter((x) => x.method === m);
    return {
      last: summarize(rs.map((x) => x.lastMs)), mean: summarize(rs.map((x) => x.meanMs)), first: summarize(rs.map((x) => x.firstMs)),
      lastPolled: summarize(rs.map((x) => x.lastPolledMs)), timedOut: rs.filter((x) => x.timedOut).length,
    };
  };
  const report: Report = {
    benchmark: 'revocation', at: new Date().toISOString(),
    command: `npm run bench:revocation -- --nodes ${N} --runs ${RUNS} --crl-poll ${CRL_POLL} --poll-ms ${POLL_MS}`,
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? '?', memGiB: Math.round(totalmem() / 2 ** 30), kernel: release(), node: process.version },
    environment: { before, after: await environment({ labs: [name] }) },
    config: { nodes: N, runs: RUNS, crlPollSeconds: CRL_POLL, pollMs: POLL_MS, timeoutMs: TIMEOUT_MS, tickMs: 500 },
    runs, summary: { broadcast: sum('broadcast'), crl: sum('crl') },
  };
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'revocation.json'), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(join(outDir, 'revocation.md'), markdown(report));
  log(`median time to the last member: broadcast ${report.summary.broadcast.last?.median ?? '—'} ms, CRL polling ${report.summary.crl.last?.median ?? '—'} ms`);
  log(`wrote ${join(outDir, 'revocation.json')} and revocation.md`);
}

try {
  await main();
} catch (e) {
  log(`failed: ${(e as Error).stack ?? String(e)}`);
  process.exitCode = 1;
} finally {
  if (lab) {
    log(`lab ${lab.name}: tearing down`);
    await lab.down().catch((e: Error) => log(`teardown failed: ${e.message}; run: bin/ringvpn lab down --name ${lab!.name} --dir ${lab!.state.dir}`));
  }
}
