// Owns `ringvpn lab up | check | down | status`: parses options and prints progress and results for
// people (or JSON). It must not build namespaces or start daemons itself; ts/lab/ringlab.ts does.
import { type Command, Option } from 'commander';
import { errors } from '../base/errors.js';
import type { CheckResult, DownReport } from '../lab/ringlab.js';
import { describePaths } from '../lab/lab-paths.js';

const out = (line: string): void => { process.stdout.write(line + '\n'); };
const err = (line: string): void => { process.stderr.write(line + '\n'); };

function int(v: string, what: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw errors.E_LAB_ARGS(`--${what}: expected an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** `ringvpn lab status | head` closes stdout early: end quietly instead of an EPIPE stack trace. */
function quietPipe(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0); else throw e; });
}

export function registerLab(program: Command): void {
  const lab = program.command('lab').description('a lab of N overlay daemons in network namespaces on one bridge (root)');

  lab.command('up')
    .description('build namespaces, start N daemons (detached) and wait until every node has an address')
    .option('-n, --nodes <n>', 'number of nodes (required without --topology)')
    .option('--topology <preset|file>', 'a NAT lab: public nodes and sites behind NAT routers (presets: ringvpn lab topology; docs/nat-lab.md)')
    .option('--name <name>', 'lab name (namespaces rvlab-<name>-*)', 'lab')
    .addOption(new Option('--mode <mode>', 'device mode').choices(['tap', 'tun']).default('tap'))
    .option('--static', 'fixed addresses 10.128.x.y in the configs instead of DHCP')
    .option('--pki', 'a private group: a CA in <dir>/ca and a certificate for every node (address 10.128.0.2, .3, ...)')
    .option('--crl-poll <s>', 'with --pki: seconds between CRL reads in every daemon', '60')
    .option('--dir <dir>', 'state directory (default /run/ringvpn-lab/<name>)')
    .option('--batch <n>', 'daemons started together', '8')
    .option('--batch-delay <ms>', 'pause between batches', '300')
    .option('--timeout <s>', 'seconds until every node must have an address (default 60 + 1 per node)')
    .addOption(new Option('--log-level <level>', 'daemon log level').choices(['trace', 'debug', 'info', 'warn', 'error']).default('info'))
    .option('--clean-on-failure', 'tear the lab down when bring-up fails (default: leave it for inspection)')
    .action(async (o: { nodes?: string; topology?: string; name: string; mode: 'tap' | 'tun'; static?: boolean; pki?: boolean; crlPoll: string; dir?: string; batch: string; batchDelay: string; timeout?: string; logLevel: string; cleanOnFailure?: boolean }) => {
      const { RingLab } = await import('../lab/ringlab.js');
      const ac = new AbortController();
      const onSig = (): void => { err('interrupted: stopping and removing the partial lab'); ac.abort(); };
      process.once('SIGINT', onSig);
      process.once('SIGTERM', onSig);
      try {
        if (o.nodes === undefined && o.topology === undefined) throw errors.E_LAB_ARGS('give --nodes N or --topology <preset|file>');
        const l = await RingLab.up({
          nodes: o.nodes === undefined ? undefined : int(o.nodes, 'nodes', 1), topology: o.topology, name: o.name, mode: o.mode, static: o.static, dir: o.dir, logLevel: o.logLevel,
          batch: int(o.batch, 'batch', 1), batchDelayMs: int(o.batchDelay, 'batch-delay', 0),
          addressTimeoutMs: o.timeout === undefined ? undefined : int(o.timeout, 'timeout', 1) * 1000,
          keepOnFailure: !o.cleanOnFailure, onProgress: out, signal: ac.signal,
          ...(o.pki ? { pki: { crlPollSeconds: int(o.crlPoll, 'crl-poll', 1) } } : {}),
        });
        const s = l.summary!;
        out(`lab ${l.name}: ${s.nodes} nodes; daemons up in ${secs(s.startMs)}, all addresses ${secs(s.addressMs)} later; ${secs(s.totalMs)} in all`);
        out(`state in ${l.state.dir}; next: ringvpn lab check --name ${l.name}`);
        if (l.pki) out(`CA in ${l.pki.caDir}; revoke node i with: ringvpn ca revoke --dir ${l.pki.caDir} --cert ${l.state.dir}/node<i>.crt --publish ${l.state.dir}/node0.sock`);
      } catch (e) {
        const x = e as Error & { code?: string };
        if (!ac.signal.aborted && !o.cleanOnFailure && !['E_LAB_EXISTS', 'E_LAB_ARGS', 'E_NOT_ROOT', 'E_LAB_TOPOLOGY'].includes(x.code ?? '')) {
          x.message += `\nthe lab is left in place for inspection (ringvpn lab status --name ${o.name}); remove it with: ringvpn lab down --name ${o.name}`;
        }
        throw e;
      } finally {
        process.removeListener('SIGINT', onSig);
        process.removeListener('SIGTERM', onSig);
      }
    });

  lab.command('check')
    .description('status and ring crawl of every node, then pings between nodes; exit 1 on any failure')
    .option('--name <name>', 'lab name', 'lab')
    .option('--dir <dir>', 'state directory')
    .option('--sample <k>', 'random ping targets per node when there are more than 16 nodes', '4')
    .option('--seed <s>', 'seed for the sample (default random; printed)')
    .option('--count <n>', 'echo requests per pair, 0.2 s apart (any reply counts)', '6')
    .option('--json', 'print the result as JSON')
    .action(async (o: { name: string; dir?: string; sample: string; seed?: string; count: string; json?: boolean }) => {
      quietPipe();
      const { RingLab } = await import('../lab/ringlab.js');
      const l = RingLab.open(o.name, o.dir);
      const r = await l.check({
        sample: int(o.sample, 'sample', 1), seed: o.seed === undefined ? undefined : int(o.seed, 'seed', 0), count: int(o.count, 'count', 1),
        onProgress: o.json ? err : out,
      });
      if (o.json) out(JSON.stringify(r, null, 2));
      else printCheck(r);
      if (!r.ok) process.exitCode = 1;
    });

  lab.command('topology')
    .description('list the NAT lab presets, or check a preset or topology file and show its sites (no root needed)')
    .argument('[preset|file]', 'a preset name or a JSON topology file')
    .option('--json', 'print the validated topology (defaults filled in) as JSON')
    .action(async (arg: string | undefined, o: { json?: boolean }) => {
      quietPipe();
      const { PRESETS, describePlan, loadTopology, planTopology } = await import('../lab/nat-topology.js');
      if (arg === undefined) {
        if (o.json) { out(JSON.stringify(PRESETS, null, 2)); return; }
        for (const [k, v] of Object.entries(PRESETS)) out(`${k.padEnd(9)} ${v.description ?? ''}`);
        out('use one with: ringvpn lab up --topology <preset>; the file format is in docs/nat-lab.md');
        return;
      }
      const t = loadTopology(arg);
      if (o.json) { out(JSON.stringify(t.topology, null, 2)); return; }
      const plan = planTopology(t.topology, 'lab', t.source);
      out(`${t.source}: ${plan.nodes.length} nodes, ${plan.routers.length} NAT routers${t.topology.description ? ` (${t.topology.description})` : ''}`);
      for (const line of describePlan(plan)) out(`  ${line}`);
    });

  lab.command('down')
    .description('stop every daemon (SIGTERM, SIGKILL after 3 s), remove the namespaces and the state')
    .option('--name <name>', 'lab name', 'lab')
    .option('--dir <dir>', 'state directory')
    .action(async (o: { name: string; dir?: string }) => {
      const { RingLab } = await import('../lab/ringlab.js');
      printDown(await RingLab.down(o.name, { dir: o.dir, onProgress: out }));
    });

  lab.command('status')
    .description('list labs, or with --name show each node: daemon, address, joined, connections')
    .option('--name <name>', 'lab name')
    .option('--dir <dir>', 'state directory')
    .option('--json', 'print JSON')
    .action(async (o: { name?: string; dir?: string; json?: boolean }) => {
      quietPipe();
      const { RingLab, listLabs, isDaemon } = await import('../lab/ringlab.js');
      if (o.name === undefined && o.dir === undefined) {
        const labs = listLabs().map((x) => ({
          name: x.name, dir: x.dir, nodes: x.state?.nodes.length ?? 0, error: x.error,
          running: (x.state?.nodes ?? []).filter((s) => s.pid !== null && isDaemon(s.pid, s.config)).length,
        }));
        if (o.json) { out(JSON.stringify(labs, null, 2)); return; }
        if (!labs.length) { out('no labs (start one with: ringvpn lab up --nodes N)'); return; }
        for (const x of labs) out(x.error ? `${x.name}  ${x.dir}  unreadable: ${x.error}` : `${x.name}  ${x.nodes} nodes, ${x.running} daemons running  ${x.dir}`);
        return;
      }
      const l = RingLab.open(o.name ?? 'lab', o.dir);
      const replies = await l.statuses();
      const topo = l.state.topology ?? null;
      const siteOf = (i: number): string | null => (topo ? topo.sites.find((x) => x.nodes.includes(i))?.name ?? 'internet' : null);
      const rows = replies.map((r, i) => ({
        node: r.name, ns: l.node(i).ns.name, underlay: l.node(i).underlay, site: siteOf(i), pid: l.node(i).pid, running: l.alive(i),
        nodeId: r.status?.nodeId ?? null, address: r.status?.address ?? null, joined: r.status?.joined ?? null,
        connections: r.status?.connections?.length ?? null, error: r.error,
      }));
      if (o.json) { out(JSON.stringify({ lab: l.name, mode: l.state.mode, static: l.state.static, dir: l.state.dir, topology: topo, nodes: rows }, null, 2)); return; }
      const addressing = l.state.static ? 'static addresses' : l.state.mode === 'tap' ? 'DHCP' : 'addresses from the daemons';
      out(`lab ${l.name}: ${rows.length} nodes, ${l.state.mode}, ${addressing}, state in ${l.state.dir}`);
      if (topo) out(`NAT topology ${topo.source}: ${topo.public} public nodes, ${topo.sites.map((x) => `${x.name} (${x.nat}${x.behind ? ` behind ${x.behind}` : ''}, ${x.wan})`).join(', ')}`);
      for (const r of rows) {
        const d = (r.running ? `pid ${r.pid}` : 'not running') + (r.site ? ` ${r.site}` : '');
        out(r.error !== undefined
          ? `${r.node.padEnd(8)} ${r.underlay.padEnd(13)} ${d.padEnd(topo ? 24 : 12)} no status: ${r.error}`
          : `${r.node.padEnd(8)} ${r.underlay.padEnd(13)} ${d.padEnd(topo ? 24 : 12)} ${(r.address ?? '-').padEnd(15)} ${r.joined ? 'joined' : 'joining'}  ${r.connections ?? 0} conns  id ${(r.nodeId ?? '').slice(0, 8)}`);
      }
    });
}

export function printCheck(r: CheckResult): void {
  out(`lab ${r.lab}: ${r.nodes} nodes checked in ${secs(r.elapsedMs)} (seed ${r.seed}): ${r.ok ? 'OK' : 'FAILED'}`);
  out(`  status     ${r.status.answered}/${r.nodes} answered`);
  for (const f of r.status.failed.slice(0, 20)) out(`             ${f.node}: ${f.error}`);
  out(`  addresses  ${r.addresses.assigned}/${r.nodes}${r.addresses.missing.length ? `; none on ${r.addresses.missing.slice(0, 20).join(', ')}` : ''}`);
  out(`  pings      ${r.pairs.reachable}/${r.pairs.total} pairs reachable`);
  const pathOf = (from: string, to: string): string => {
    const p = r.paths?.pairs.find((x) => x.from === from && x.to === to);
    return p ? `; path ${p.kind}${p.via ? ` via ${p.via}` : ''}` : '';
  };
  for (const u of r.pairs.unreachable.slice(0, 20)) out(`             ${u.from} -> ${u.to} (${u.vip ?? 'no address'}): ${u.why}${pathOf(u.from, u.to)}`);
  if (r.pairs.unreachable.length > 20) out(`             … and ${r.pairs.unreachable.length - 20} more`);
  const f = r.first;
  out(`  first ping ${f.answered}/${r.pairs.total} first echo requests answered${f.medianMs !== null ? `, first packet to first reply ${f.medianMs} ms median, ${f.maxMs} ms max` : ''}`);
  for (const u of f.unanswered.slice(0, 20)) out(`             ${u.from} -> ${u.to}: the first echo request got no reply`);
  if (r.paths) out(`  paths      ${describePaths(r.paths)} (from each source's status after the pings)`);
  const c = r.crawl;
  const ok = c.ok && c.nodes === r.nodes && c.errors.length === 0;
  out(`  crawl      ${ok ? 'consistent' : 'NOT consistent'}: ${c.consistentNodes}/${c.nodes} nodes confirmed by their neighbours, right1 walk visits ${c.walked}/${c.nodes}`);
  for (const e of c.errors.slice(0, 20)) out(`             ${e}`);
  if (c.errors.length > 20) out(`             … and ${c.errors.length - 20} more`);
}

function printDown(r: DownReport): void {
  for (const n of r.notes) out(`note: ${n}`);
  const daemons = r.daemonsStopped + r.daemonsKilled;
  if (!daemons && !r.namespaces && !r.dirRemoved) { out(`lab ${r.lab}: nothing to remove`); return; }
  out(`lab ${r.lab}: stopped ${daemons} daemons${r.daemonsKilled ? ` (${r.daemonsKilled} needed SIGKILL)` : ''}${r.notRunning ? `, ${r.notRunning} were not running` : ''}; removed ${r.namespaces} namespaces${r.dirRemoved ? ` and ${r.dirRemoved}` : ''}`);
}
