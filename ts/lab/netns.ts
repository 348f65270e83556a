// Owns Linux network namespaces for tests, the demo and benchmarks: unique names, a switch, cleanup.
// It must never change the root namespace's routes, addresses or firewall: every link is created
// directly inside the namespaces it joins, and traffic only flows between namespaces made here.
import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { RingvpnError } from '../config/errors.js';

const execFileP = promisify(execFile);

export interface ExecResult { stdout: string; stderr: string; code: number }

/** Whether namespaces can be made here; `why` explains a no in words a person can act on. */
export async function netnsSupport(): Promise<{ ok: true } | { ok: false; why: string }> {
  if (process.platform !== 'linux') return { ok: false, why: 'network namespaces need Linux' };
  if (process.getuid?.() !== 0) return { ok: false, why: 'network namespace tests need root (run as root, e.g. sudo npm test)' };
  try {
    await execFileP('ip', ['-V']);
  } catch {
    return { ok: false, why: 'the `ip` command (iproute2) is missing: apt-get install iproute2' };
  }
  return { ok: true };
}

export function uniqueTag(): string {
  return `${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
}

async function run(cmd: string, args: string[], check = true): Promise<ExecResult> {
  try {
    const { stdout, stderr } = await execFileP(cmd, args, { maxBuffer: 64 << 20 });
    return { stdout, stderr, code: 0 };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; code?: number | string };
    const r = { stdout: err.stdout ?? '', stderr: err.stderr ?? String(e), code: typeof err.code === 'number' ? err.code : 1 };
    if (check) throw new RingvpnError('E_LAB', `${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
    return r;
  }
}

export class Netns {
  private readonly children = new Set<ChildProcess>();
  private constructor(readonly name: string) {}

  static async create(name: string): Promise<Netns> {
    await run('ip', ['netns', 'add', name]);
    const ns = new Netns(name);
    await ns.exec(['ip', 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /** Runs a command inside the namespace; throws E_LAB on a non-zero exit unless check is false. */
  exec(argv: string[], check = true): Promise<ExecResult> {
    return run('ip', ['netns', 'exec', this.name, ...argv], check);
  }

  /** Starts a long-running process inside the namespace; destroy() kills whatever is still alive. */
  spawn(argv: string[], opts: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.name, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  async destroy(): Promise<void> {
    for (const c of this.children) c.kill('SIGKILL');
    // Processes started in the namespace by other means die with it only if we kill them: list and kill.
    const pids = await run('ip', ['netns', 'pids', this.name], false);
    for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
      try { process.kill(Number(pid), 'SIGKILL'); } catch { /* already gone */ }
    }
    await run('ip', ['netns', 'del', this.name], false);
  }
}

/** A veth pair between two namespaces with an address on each end. */
export async function link(a: Netns, aAddr: string, b: Netns, bAddr: string, opts: { mtu?: number; aIf?: string; bIf?: string } = {}): Promise<void> {
  const aIf = opts.aIf ?? 'eth0';
  const bIf = opts.bIf ?? 'eth0';
  const mtu = String(opts.mtu ?? 1500);
  await run('ip', ['-n', a.name, 'link', 'add', aIf, 'mtu', mtu, 'type', 'veth', 'peer', 'name', bIf, 'netns', b.name]);
  await b.exec(['ip', 'link', 'set', bIf, 'mtu', mtu]);
  await a.exec(['ip', 'addr', 'add', aAddr, 'dev', aIf]);
  await b.exec(['ip', 'addr', 'add', bAddr, 'dev', bIf]);
  await a.exec(['ip', 'link', 'set', aIf, 'up']);
  await b.exec(['ip', 'link', 'set', bIf, 'up']);
}

/** A switched LAN: one namespace holding a bridge, and one host namespace per address. */
export class Lan {
  private constructor(readonly tag: string, readonly hub: Netns, readonly hosts: Netns[], readonly addresses: string[]) {}

  /** `cidrs` like ['10.0.0.1/24', '10.0.0.2/24']; host i is named `${prefix}-${tag}-${i}`. */
  static async create(prefix: string, cidrs: string[], mtu = 1500): Promise<Lan> {
    const tag = uniqueTag();
    const made: Netns[] = [];
    try {
      const hub = await Netns.create(`${prefix}-${tag}-sw`);
      made.push(hub);
      await hub.exec(['ip', 'link', 'add', 'br0', 'type', 'bridge']);
      await hub.exec(['ip', 'link', 'set', 'br0', 'up']);
      const hosts: Netns[] = [];
      for (const [i, cidr] of cidrs.entries()) {
        const h = await Netns.create(`${prefix}-${tag}-${i}`);
        made.push(h);
        hosts.push(h);
        await run('ip', ['-n', h.name, 'link', 'add', 'eth0', 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', `p${i}`, 'netns', hub.name]);
        await hub.exec(['ip', 'link', 'set', `p${i}`, 'mtu', String(mtu), 'master', 'br0', 'up']);
        await h.exec(['ip', 'addr', 'add', cidr, 'dev', 'eth0']);
        await h.exec(['ip', 'link', 'set', 'eth0', 'up']);
      }
      return new Lan(tag, hub, hosts, cidrs.map((c) => c.split('/')[0]!));
    } catch (e) {
      for (const ns of made) await ns.destroy();
      throw e;
    }
  }

  host(i: number): Netns {
    const h = this.hosts[i];
    if (!h) throw new RingvpnError('E_LAB', `no host ${i}`);
    return h;
  }

  async destroy(): Promise<void> {
    for (const ns of [...this.hosts, this.hub]) await ns.destroy();
  }
}
