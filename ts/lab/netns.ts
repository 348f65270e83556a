// Owns Linux network namespaces, veth pairs between them, and the processes started inside them, for
// the tests, the demo, the lab and the benchmarks. Must not touch the root namespace's routes,
// addresses, links or firewall, nor kill processes it did not start.

import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { errors } from '../base/errors.js';
import { signalGroup } from './util.js';

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface ExecOptions {
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Resolve instead of reject when the command exits non-zero. */
  allowFail?: boolean;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** File receiving stdout+stderr; defaults to /dev/null. */
  logFile?: string;
  /** Pipe stdout and stderr to `child.stdout`/`child.stderr` instead of a file. */
  pipe?: boolean;
}

export interface NsProcess {
  pid: number;
  child: ChildProcess;
  logFile?: string;
  /** Exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
  hasExited(): boolean;
  /** Last `n` lines of the log file (empty without a log file). */
  tail(n?: number): string;
  /** SIGTERM, then SIGKILL after 2 s; or the given signal alone. Resolves when it has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const live = new Set<Netns>();
let closing = false;

/** Short random hex suffix for unique namespace and link names. */
export function randomSuffix(bytes = 3): string {
  return randomBytes(bytes).toString('hex');
}

function run(cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { timeout: opts.timeoutMs ?? 60_000, env: opts.env ?? process.env, cwd: opts.cwd, maxBuffer: 64 << 20, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: number | string; killed?: boolean }) | null;
        const code = e ? (typeof e.code === 'number' ? e.code : -1) : 0;
        const res = { stdout: String(stdout), stderr: String(stderr), code };
        if (e && !opts.allowFail) {
          const why = e.killed ? `timed out after ${opts.timeoutMs ?? 60_000} ms` : `exit ${e.code}`;
          reject(errors.E_NETNS(`${cmd} ${args.join(' ')}: ${why}: ${String(stderr).trim().slice(-500) || String(stdout).trim().slice(-500)}`));
        } else resolve(res);
      },
    );
  });
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export class Netns {
  private readonly procs = new Set<NsProcess>();
  private readonly cleanups: Array<() => void> = [];
  private destroyed = false;
  /** CPU list (taskset syntax, e.g. "0" or "0-1") applied to every later exec/spawn in this namespace; null = no pinning. */
  cpus: string | null = null;

  private constructor(readonly name: string) {}

  /** Create a namespace with `lo` up. The name must be unique (use randomSuffix()). */
  static async create(name: string): Promise<Netns> {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw errors.E_NETNS(`bad netns name ${name}`);
    if (closing) throw errors.E_NETNS('shutting down: no new namespaces');
    const ns = new Netns(name);
    live.add(ns); // registered first, so a signal during `ip netns add` still cleans it up
    try {
      await run('ip', ['netns', 'add', name]);
    } catch (e) {
      live.delete(ns);
      throw e;
    }
    if (ns.destroyed) {
      // destroyed (shutdown) while `ip netns add` was running
      execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
      throw errors.E_NETNS('shutting down: no new namespaces');
    }
    await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /**
   * A handle on an existing namespace made by an earlier process (e.g. `ringvpn lab up`). It is not
   * registered for this process's cleanup (destroyAll); destroy() still removes it when called.
   */
  static attach(name: string): Netns {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw errors.E_NETNS(`bad netns name ${name}`);
    return new Netns(name);
  }

  /** Run a command inside the namespace and collect its output. */
  exec(cmd: string, args: string[] = [], opts: ExecOptions = {}): Promise<ExecResult> {
    return run('ip', ['netns', 'exec', this.name, ...this.wrap(cmd, args)], opts);
  }

  /** Prefix with `taskset -c <cpus>` when pinned (taskset execs, so the PID is the command's). */
  private wrap(cmd: string, args: string[]): string[] {
    return this.cpus === null ? [cmd, ...args] : ['taskset', '-c', this.cpus, cmd, ...args];
  }

  /** `ip -n <ns> ...` helper. */
  ip(args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return run('ip', ['-n', this.name, ...args], opts);
  }

  /** Start a long-running process inside the namespace; it is killed by destroy(). */
  spawn(cmd: string, args: string[] = [], opts: SpawnOptions = {}): NsProcess {
    const fd = opts.pipe ? null : openSync(opts.logFile ?? '/dev/null', 'a');
    const child = spawn('ip', ['netns', 'exec', this.name, ...this.wrap(cmd, args)], {
      stdio: fd === null ? ['ignore', 'pipe', 'pipe'] : ['ignore', fd, fd],
      detached: true,
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    if (fd !== null) closeSync(fd);
    let done = false;
    const exited = new Promise<number | string>((resolve) => {
      child.on('exit', (code, sig) => {
        done = true;
        resolve(code ?? sig ?? -1);
      });
      child.on('error', (err) => {
        done = true;
        resolve(`spawn error: ${err.message}`);
      });
    });
    const p: NsProcess = {
      pid: child.pid ?? -1,
      child,
      logFile: opts.logFile,
      exited,
      hasExited: () => done,
      tail: (n = 15) => {
        if (!opts.logFile) return '';
        try {
          return readFileSync(opts.logFile, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
        } catch {
          return '';
        }
      },
      kill: async (signal?: NodeJS.Signals) => {
        if (done || p.pid < 0) return;
        signalGroup(p.pid, signal ?? 'SIGTERM');
        const t = setTimeout(() => signalGroup(p.pid, 'SIGKILL'), 2000);
        await exited;
        clearTimeout(t);
      },
    };
    this.procs.add(p);
    exited.then(() => this.procs.delete(p));
    return p;
  }

  /** Register extra cleanup (e.g. stale sockets on the shared filesystem) to run at destroy. */
  onDestroy(fn: () => void): void {
    this.cleanups.push(fn);
  }

  /** PIDs of every process currently inside the namespace. */
  pids(): number[] {
    try {
      return execFileSync('ip', ['netns', 'pids', this.name], { encoding: 'utf8' })
        .split(/\s+/)
        .filter(Boolean)
        .map(Number);
    } catch {
      return [];
    }
  }

  /** Kill our processes (gracefully, then SIGKILL), then anything left inside the namespace, then delete it. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    await Promise.all([...this.procs].map((p) => p.kill()));
    this.destroySync();
  }

  /** Synchronous variant for signal/exit handlers. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const p of this.procs) if (!p.hasExited()) signalGroup(p.pid, 'SIGTERM');
    if (this.procs.size) sleepSync(300);
    for (const p of this.procs) if (!p.hasExited()) signalGroup(p.pid, 'SIGKILL');
    // Anything still inside our own namespace was started by us (directly or by our daemons).
    for (const pid of this.pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    for (const fn of this.cleanups) {
      try {
        fn();
      } catch {
        /* best effort */
      }
    }
    try {
      execFileSync('ip', ['netns', 'del', this.name], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
    live.delete(this);
  }
}

/** Create a namespace (alias of Netns.create). */
export function create(name: string): Promise<Netns> {
  return Netns.create(name);
}

export interface VethOptions {
  /** Link names (max 15 chars, unique while both exist). */
  nameA: string;
  nameB: string;
  /** CIDR addresses, e.g. 10.0.0.1/24. */
  addrA: string;
  addrB: string;
  mtu?: number;
}

/** Create a veth pair directly inside namespaces a and b (never in the root namespace), address it and bring it up. */
export async function vethPair(a: Netns, b: Netns, o: VethOptions): Promise<void> {
  const mtu = String(o.mtu ?? 1500);
  await a.ip(['link', 'add', o.nameA, 'mtu', mtu, 'type', 'veth', 'peer', 'name', o.nameB, 'mtu', mtu, 'netns', b.name]);
  await a.ip(['addr', 'add', o.addrA, 'dev', o.nameA]);
  await b.ip(['addr', 'add', o.addrB, 'dev', o.nameB]);
  await a.ip(['link', 'set', o.nameA, 'up']);
  await b.ip(['link', 'set', o.nameB, 'up']);
}

/** Refuse new namespaces, then destroy every namespace created by this process without blocking the event loop. */
export async function destroyAll(): Promise<void> {
  closing = true;
  await Promise.all([...live].map((ns) => ns.destroy()));
}

/** Destroy every namespace created by this process (last resort for 'exit' handlers; blocks briefly). */
export function destroyAllSync(): void {
  closing = true;
  for (const ns of [...live]) ns.destroySync();
}

/** Whether namespaces can be made here; `why` explains a no in words a person can act on. */
export async function netnsSupport(): Promise<{ ok: true } | { ok: false; why: string }> {
  if (process.platform !== 'linux') return { ok: false, why: 'network namespaces need Linux' };
  if (process.getuid?.() !== 0) return { ok: false, why: 'network namespace tests need root (run as root, e.g. sudo npm test)' };
  try {
    await promisify(execFile)('ip', ['-V']);
  } catch {
    return { ok: false, why: 'the `ip` command (iproute2) is missing: apt-get install iproute2' };
  }
  return { ok: true };
}
