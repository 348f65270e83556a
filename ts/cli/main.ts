// Owns the `ringvpn` command line: parses arguments and prints results and errors for people.
// It must not hold protocol logic; it calls config/, runtime/ and lab code.
import { Command, Option } from 'commander';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyPair, encodeKey } from '../config/keys.js';
import { loadConfig, defaultControlSocket } from '../config/schema.js';
import { RingvpnError, errors } from '../base/errors.js';
import { requestControl } from '../runtime/control.js';
import { createLogger } from '../runtime/log.js';
import { printStatus } from './status.js';
import { renderNetcheck, renderRingStatus, type RingStatus } from './ringstatus.js';
import { registerLab } from './lab.js';
import { registerConfig } from './config-cmd.js';
import { registerGroup } from './group-cmd.js';
import { repoRoot } from '../paths.js';
import type { PingReport } from '../runtime/ping.js';

const program = new Command();
const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
program.name('ringvpn').description('structured peer-to-peer VPN').version(version, '-V, --version', 'print the version').showHelpAfterError();
const say = (line: string): void => { process.stdout.write(line + '\n'); };

program.command('keygen')
  .description('generate a static X25519 key pair; prints JSON {privateKey, publicKey}')
  .option('-o, --out <file>', 'write the JSON to this file (mode 0600) instead of stdout')
  .action((opts: { out?: string }) => {
    const kp = generateKeyPair();
    const text = JSON.stringify({ privateKey: encodeKey(kp.privateKey), publicKey: encodeKey(kp.publicKey) }, null, 2) + '\n';
    if (opts.out) writeFileSync(opts.out, text, { mode: 0o600 });
    else process.stdout.write(text);
  });

program.command('up')
  .description('bring the VPN up and run in the foreground until SIGINT/SIGTERM')
  .requiredOption('-c, --config <file>', 'JSON config file')
  .addOption(new Option('--log-level <level>', 'override log.level').choices(['trace', 'debug', 'info', 'warn', 'error']))
  .action(async (opts: { config: string; logLevel?: string }) => {
    if (!hasNetAdmin()) {
      throw new RingvpnError('E_NOT_ROOT', 'ringvpn up creates a network device and needs CAP_NET_ADMIN: run it as root (sudo), or give it the capability (systemd: AmbientCapabilities=CAP_NET_ADMIN, see examples/systemd)');
    }
    const cfg = loadConfig(opts.config);
    const log = createLogger(opts.logLevel ?? cfg.log.level);
    // a SIGHUP while starting (systemctl reload right after start) must not kill the process: it is applied once up
    let started = false, hupWhileStarting = false;
    process.on('SIGHUP', () => {
      if (!started) { hupWhileStarting = true; log.info('SIGHUP while starting: the config is read again once the daemon is up'); return; }
      try { reload(); } catch { /* logged */ }
    });
    // loaded here, not at the top, so keygen, config and --version run without the native addon
    const { Daemon } = await import('../runtime/daemon.js');
    const stop = (sig: string): void => {
      log.info({ signal: sig }, 'stopping');
      void daemon.stop().then(() => process.exit(0));
    };
    // SIGHUP or `ringvpn reload`: read the config again and apply what can change while running (a bad file changes nothing)
    const reload = (): { applied: string[]; restartNeeded: string[] } => {
      try {
        return daemon.reload(loadConfig(opts.config));
      } catch (e) {
        log.error({ code: (e as { code?: string }).code, err: (e as Error).message }, 'reload refused: the config file is not valid; nothing changed');
        throw e;
      }
    };
    const daemon = await Daemon.create(cfg, log, { onStopRequest: () => stop('ringvpn down'), onReloadRequest: reload });
    await daemon.start();
    started = true;
    if (hupWhileStarting) { try { reload(); } catch { /* logged */ } }
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });

/** Whether this process holds CAP_NET_ADMIN (bit 12 of CapEff in /proc/self/status); root normally does. */
function hasNetAdmin(): boolean {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return (BigInt(`0x${m[1]}`) & (1n << 12n)) !== 0n;
  } catch { /* not Linux */ }
  return process.getuid?.() === 0;
}

/** A command that talks to a running daemon: where its control socket is, and --json. */
interface DaemonOpts { config?: string; socket?: string; device: string; json?: boolean }
function daemonCommand(name: string, description: string): Command {
  return program.command(name).description(description)
    .option('-c, --config <file>', 'find the control socket from this config')
    .option('-s, --socket <path>', 'control socket path')
    .option('-d, --device <name>', 'device name (socket /run/ringvpn/<name>.sock)', 'ringvpn0')
    .option('--json', 'print raw JSON');
}
const socketOf = (opts: DaemonOpts): string => opts.socket ?? (opts.config ? loadConfig(opts.config).controlSocket : defaultControlSocket(opts.device));

daemonCommand('status', 'show peers, sessions, endpoints, counters and drops of a running daemon')
  .action(async (opts: DaemonOpts) => {
    const path = socketOf(opts);
    const status = await requestControl(path, { cmd: 'status' });
    if (opts.json) process.stdout.write(JSON.stringify(status, null, 2) + '\n');
    else if ((status as { mode?: string }).mode === 'overlay') process.stdout.write(renderRingStatus(status as RingStatus));
    else printStatus(status as Parameters<typeof printStatus>[0]);
  });

daemonCommand('netcheck', 'what NAT this node is behind (from what peers report), its advertised endpoints, and which links are direct or relayed')
  .action(async (opts: DaemonOpts) => {
    const path = socketOf(opts);
    const status = await requestControl(path, { cmd: 'status' }) as RingStatus;
    if (status.mode !== 'overlay') throw errors.E_CONFIG('netcheck needs an overlay-mode daemon (a static mesh has no NAT traversal)');
    if (opts.json) process.stdout.write(JSON.stringify({ nat: status.nat, endpoints: status.endpoints, connections: status.connections.map((c) => ({ short: c.short, path: c.path, endpoint: c.endpoint, rttMs: c.rttMs })), relays: status.relays }, null, 2) + '\n');
    else process.stdout.write(renderNetcheck(status));
  });

daemonCommand('down', 'stop a running daemon (it undoes its OS changes) and wait until it is gone')
  .option('--timeout <s>', 'seconds to wait', '10')
  .action(async (opts: DaemonOpts & { timeout: string }) => {
    const path = socketOf(opts);
    if (!existsSync(path)) throw new RingvpnError('E_CONTROL_SOCKET', `no daemon at ${path} (nothing to stop)`);
    await requestControl(path, { cmd: 'stop' });
    const until = Date.now() + Number(opts.timeout) * 1000;
    while (existsSync(path) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    if (existsSync(path)) throw new RingvpnError('E_CONTROL_SOCKET', `the daemon at ${path} was asked to stop but is still there after ${opts.timeout} s`);
    say(`stopped (${path})`);
  });

daemonCommand('reload', 'make a running daemon read its config file again and apply what can change while it runs (as SIGHUP does)')
  .action(async (opts: DaemonOpts) => {
    const r = await requestControl(socketOf(opts), { cmd: 'reload' }) as { applied: string[]; restartNeeded: string[] };
    if (opts.json) { process.stdout.write(JSON.stringify(r, null, 2) + '\n'); return; }
    say(r.applied.length ? `applied: ${r.applied.join('; ')}` : 'nothing to apply (the running config is the file\'s)');
    if (r.restartNeeded.length) say(`needs a restart to change: ${r.restartNeeded.join(', ')}`);
  });

daemonCommand('ping', 'echo a member through the overlay: round trip, hops each way, and the path (direct, relay, overlay) as it changes')
  .argument('<target>', 'a member\'s name (node3 or node3.<domain>), virtual address, or node id (40 hex)')
  .option('-n, --count <n>', 'echoes, 0.5 s apart', '4')
  .action(async (target: string, opts: DaemonOpts & { count: string }) => {
    const count = Number(opts.count);
    if (!Number.isInteger(count) || count < 1 || count > 100) throw errors.E_CONFIG(`--count: expected 1..100, got ${JSON.stringify(opts.count)}`);
    const r = await requestControl(socketOf(opts), { cmd: 'echo', target, count }, 5_000 + count * 2_500) as PingReport;
    if (opts.json) { process.stdout.write(JSON.stringify(r, null, 2) + '\n'); return; }
    say(`PING ${r.target} (${r.address ?? 'no address'}, node ${r.nodeId.slice(0, 8)})`);
    r.echoes.forEach((e, i) => say(e ? `echo ${i + 1}: ${e.rttMs} ms, ${e.hopsThere} hop${e.hopsThere === 1 ? '' : 's'} there, ${e.hopsBack} back; path ${e.path}` : `echo ${i + 1}: no answer within 2 s`));
    const ok = r.echoes.filter((e) => e !== null).length;
    say(`${ok}/${r.echoes.length} answered; path now ${r.path}${r.linkUpMs !== null ? `, link up for ${(r.linkUpMs / 1000).toFixed(1)} s` : ''}`);
    if (!ok) process.exitCode = 1;
  });

daemonCommand('crawl', 'walk the live ring from this node (routed neighbour queries) and check its consistency')
  .option('--max <n>', 'stop after this many nodes', '4096')
  .action(async (opts: DaemonOpts & { max: string }) => {
    const path = socketOf(opts);
    const r = await requestControl(path, { cmd: 'crawl', max: Number(opts.max) }, 600_000) as {
      nodes: number; consistentNodes: number; walked: number; ok: boolean; unreachable: string[]; elapsedMs: number;
    };
    if (opts.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    else {
      process.stdout.write(`crawl: ${r.nodes} nodes walked in ${r.elapsedMs} ms; ${r.consistentNodes}/${r.nodes} consistent; walk visits ${r.walked}\n`);
      if (r.unreachable.length) process.stdout.write(`unreachable: ${r.unreachable.join(', ')}\n`);
      process.stdout.write(r.ok ? 'ring is consistent\n' : 'ring is NOT consistent\n');
    }
    if (!r.ok) process.exitCode = 1;
  });

program.command('demo')
  .description('a virtual LAN of overlay daemons in network namespaces: DHCP, all-pairs ping, crawl, DNS, a transfer, status, tear down (root)')
  .option('-n, --nodes <n>', 'number of nodes', '8')
  .option('--mib <n>', 'size of the TCP transfer', '100')
  .action(async (opts: { nodes: string; mib: string }) => {
    const { runDemo } = await import('./demo.js');
    await runDemo({ nodes: Math.max(3, Number(opts.nodes) || 8), mib: Math.max(1, Number(opts.mib) || 100) });
  });

program.command('sim')
  .description('run an overlay simulation scenario (join, routing, churn, figure5, scale); writes benches/results/')
  .argument('<scenario>', 'join | routing | churn | figure5 | scale')
  .option('-n, --nodes <n>', 'number of nodes', '1000')
  .option('--seed <s>', 'random seed (same seed, same result)', '1')
  .option('-o, --out <dir>', 'output directory', 'benches/results')
  .option('--trials <n>', 'figure5: trials per size')
  .option('--pairs <n>', 'routing: routed pairs per size')
  .option('--sizes <list>', 'routing/figure5: comma-separated sizes')
  .option('--rate <f>', 'churn: failures and joins per minute as a fraction of N')
  .option('--duration <s>', 'churn/scale: virtual seconds')
  .action(async (scenario: string, o: Record<string, string | undefined>) => {
    const { runSimCommand } = await import('../sim/cli.js');
    const num = (v: string | undefined, what: string): number | undefined => {
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new RingvpnError('E_CONFIG', `--${what}: expected a non-negative number, got ${JSON.stringify(v)}`);
      return n;
    };
    await runSimCommand(scenario, {
      nodes: num(o.nodes, 'nodes')!, seed: num(o.seed, 'seed')!, out: o.out!,
      trials: num(o.trials, 'trials'), pairs: num(o.pairs, 'pairs'), rate: num(o.rate, 'rate'),
      durationS: num(o.duration, 'duration'),
      sizes: o.sizes?.split(',').map((x) => num(x, 'sizes')!),
    });
  });

registerLab(program);
registerConfig(program, say);
registerGroup(program, say);
// the CA commands load the X.509 libraries: only when they (or the help) are asked for
const first = process.argv[2];
if (first === undefined || ['ca', 'cert', 'help', '--help', '-h', 'completion'].includes(first)) (await import('./pki.js')).registerPki(program);
program.command('completion')
  .description('print a shell completion script: source <(ringvpn completion bash)')
  .argument('<shell>', 'bash')
  .action(async (shell: string) => {
    if (shell !== 'bash') throw errors.E_CONFIG(`completion: only bash is supported, not ${JSON.stringify(shell)}`);
    process.stdout.write((await import('./completion.js')).bashCompletion(program));
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  const err = e as { code?: string; message?: string };
  const code = err.code ?? 'E_INTERNAL';
  process.stderr.write(`ringvpn: ${code}: ${err.message ?? String(e)}\n`);
  if (code === 'E_INTERNAL' && e instanceof Error && e.stack) process.stderr.write(e.stack + '\n');
  process.exit(code === 'E_NOT_ROOT' ? 77 : 1);
});
