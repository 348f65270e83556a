// Owns a full-tunnel client's OS routing (issue 14): the policy rules that send everything not marked by
// the engine's socket (its fwmark) through the device to the virtual gateway, while the engine's own UDP
// and local routes keep the main table (wg-quick's `not fwmark` + `suppress_prefixlength 0`), IPv6 blocked
// (an unreachable default) rather than leaked, no per-peer host routes. It records what it adds in a state
// file before adding it, undoes exactly that on stop, and on the next start after a SIGKILL. It must not
// choose the gateway, touch the firewall's tables or run `ip` itself (the caller's `run` does).
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { errors } from '../base/errors.js';

/** The engine socket's fwmark: distinct from Tailscale's 0x80000/0xff0000, wg-quick's 0xca6c and NetBird's 0x1bd00. */
export const TUNNEL_MARK = 0x5256;
/** The routing table holding the tunnel's default route (Tailscale uses 52, wg-quick 51820). */
export const TUNNEL_TABLE = 5256;
/** Rule priorities: the main-table rule at PRIORITY, the tunnel rule right after; below main's 32766, away from Tailscale's 52xx. */
export const TUNNEL_PRIORITY = 31050;

export interface TunnelRoutes {
  /** the device (rv0) */
  dev: string;
  /** the virtual gateway address on the device (the service address) */
  gateway: string;
  mark?: number;
  table?: number;
  priority?: number;
}

/** What was applied (the state file's content): enough to undo it with no other knowledge. */
export interface AppliedRoutes extends Required<TunnelRoutes> {
  /** `ip` argument lists that were applied, in order */
  applied: string[][];
  /** net.ipv4.conf.all.src_valid_mark before (restored on undo) */
  srcValidMark: string | null;
}

/** Runs `ip` with these arguments (or `sysctl` for the one sysctl); resolves with its exit code and stderr. */
export type Run = (cmd: 'ip' | 'sysctl', args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;

/** The `ip` commands that install a full tunnel, in order (pure). */
export function tunnelCommands(r: TunnelRoutes): string[][] {
  const mark = `0x${(r.mark ?? TUNNEL_MARK).toString(16)}`, table = String(r.table ?? TUNNEL_TABLE);
  const p = r.priority ?? TUNNEL_PRIORITY;
  const rules = (fam: string): string[][] => [
    // local and LAN routes of the main table still win; its default route does not
    [fam, 'rule', 'add', 'table', 'main', 'suppress_prefixlength', '0', 'priority', String(p)],
    // everything the engine did not mark: the tunnel's table
    [fam, 'rule', 'add', 'not', 'fwmark', mark, 'table', table, 'priority', String(p + 1)],
  ];
  return [
    ['-4', 'route', 'replace', 'default', 'via', r.gateway, 'dev', r.dev, 'table', table],
    ...rules('-4'),
    // IPv6 (the virtual network is IPv4): unreachable, never out of the underlay in clear
    ['-6', 'route', 'replace', 'unreachable', 'default', 'table', table],
    ...rules('-6'),
  ];
}

/** The command undoing one applied command (`add`/`replace` -> `del`). */
export function undoCommand(args: string[]): string[] {
  const i = args.findIndex((a) => a === 'add' || a === 'replace');
  return i < 0 ? args : [...args.slice(0, i), 'del', ...args.slice(i + 1)];
}

/** Applies and undoes a full tunnel's routing, through `run`, with its state in `stateFile`. */
export class TunnelRouting {
  private current: AppliedRoutes | null = null;

  constructor(private readonly run: Run, private readonly stateFile: string) {}

  /** A previous run's routing left behind (killed before its undo): undone, and the state file removed. Returns what was undone. */
  async recover(): Promise<AppliedRoutes | null> {
    if (!existsSync(this.stateFile)) return null;
    let left: AppliedRoutes;
    try {
      left = JSON.parse(readFileSync(this.stateFile, 'utf8')) as AppliedRoutes;
      if (!Array.isArray(left.applied)) throw new Error('no "applied" list');
    } catch (e) {
      throw errors.E_ROUTES(`full-tunnel state file ${this.stateFile} is unreadable (${(e as Error).message}); check \`ip rule\` and table ${TUNNEL_TABLE} by hand, then remove it`);
    }
    await this.undoAll(left);
    return left;
  }

  /** Install the routing for `r` (after recovering a previous run's). The state file is written before the first change. */
  async apply(r: TunnelRoutes): Promise<void> {
    await this.recover();
    const old = await this.run('sysctl', ['-n', 'net.ipv4.conf.all.src_valid_mark']);
    const state: AppliedRoutes = {
      dev: r.dev, gateway: r.gateway, mark: r.mark ?? TUNNEL_MARK, table: r.table ?? TUNNEL_TABLE, priority: r.priority ?? TUNNEL_PRIORITY,
      applied: [], srcValidMark: old.code === 0 ? old.stdout.trim() : null,
    };
    const save = (): void => { writeFileSync(this.stateFile + '.tmp', JSON.stringify(state)); renameSync(this.stateFile + '.tmp', this.stateFile); };
    save();
    this.current = state;
    try {
      // marked packets may arrive on an interface whose reverse path is another table (wg-quick does the same)
      const sv = await this.run('sysctl', ['-qw', 'net.ipv4.conf.all.src_valid_mark=1']);
      if (sv.code !== 0) throw errors.E_ROUTES(`sysctl net.ipv4.conf.all.src_valid_mark=1: ${sv.stderr.trim()}`);
      for (const args of tunnelCommands(r)) {
        // recorded first: a kill between the two leaves at most one `del` that finds nothing
        state.applied.push(args);
        save();
        const res = await this.run('ip', args);
        if (res.code !== 0) {
          state.applied.pop();
          save();
          throw errors.E_ROUTES(`ip ${args.join(' ')}: ${res.stderr.trim()}`);
        }
      }
    } catch (e) {
      await this.undo();
      throw e;
    }
  }

  /** Remove exactly what `apply` added, restore the sysctl, remove the state file. */
  async undo(): Promise<void> {
    const s = this.current;
    this.current = null;
    if (s) await this.undoAll(s);
  }

  private async undoAll(s: AppliedRoutes): Promise<void> {
    const failed: string[] = [];
    for (const args of [...s.applied].reverse()) {
      const res = await this.run('ip', undoCommand(args));
      // already gone (a kill between recording and applying, or the device went away with its routes)
      if (res.code !== 0 && !/No such|not found|Cannot find/i.test(res.stderr)) failed.push(`ip ${undoCommand(args).join(' ')}: ${res.stderr.trim()}`);
    }
    if (s.srcValidMark !== null) await this.run('sysctl', ['-qw', `net.ipv4.conf.all.src_valid_mark=${s.srcValidMark}`]);
    if (failed.length) throw errors.E_ROUTES(`full tunnel: could not undo ${failed.length} change(s): ${failed.join('; ')}`);
    rmSync(this.stateFile, { force: true });
  }
}
