// Owns the journal of OS changes a daemon makes outside its own device (a full tunnel's routing, a gateway's
// forwarding and NAT): each change is recorded in a state file before it is made, undone in reverse order on
// stop, and undone on the next start when the daemon was killed first. It must not decide what to change
// (tunnel-routes.ts, gateway-nat.ts do) or run commands itself (the caller's `run` does).
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { errors } from '../base/errors.js';

export type OsCommand = 'ip' | 'iptables' | 'sysctl';

/** Runs an OS command with these arguments; resolves with its exit code and output (never rejects on a non-zero exit). */
export type Run = (cmd: OsCommand, args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;

/** `Run` on this host: the command itself; a failure comes back as its exit code and stderr, never as a rejection. */
export const runOs: Run = (cmd, args) => new Promise((resolve) => {
  execFile(cmd, args, { timeout: 30_000 }, (err, stdout, stderr) => {
    const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
    resolve({ code, stdout: String(stdout), stderr: String(stderr) || (err ? err.message : '') });
  });
});

/** One change and the command that undoes it. */
export interface OsChange { cmd: OsCommand; args: string[]; undo: { cmd: OsCommand; args: string[] } }

/** The state file's content. */
export interface OsJournalState { what: string; changes: OsChange[] }

/** Stderr of an undo that finds its change already gone (the device went away with its routes, a kill between recording and applying). */
const GONE = /No such|not found|Cannot find|does a matching rule exist|Bad rule/i;

export class OsJournal {
  private state: OsJournalState | null = null;

  /** `what` names the changes in messages (e.g. "full tunnel"). */
  constructor(private readonly run: Run, private readonly stateFile: string, private readonly what: string) {}

  /** What a previous run left behind (killed before its undo): undone, the state file removed. Returns it, or null. */
  async recover(): Promise<OsJournalState | null> {
    if (!existsSync(this.stateFile)) return null;
    let left: OsJournalState;
    try {
      left = JSON.parse(readFileSync(this.stateFile, 'utf8')) as OsJournalState;
      if (!Array.isArray(left.changes)) throw new Error('no "changes" list');
    } catch (e) {
      throw errors.E_OS_STATE(`${this.what}: state file ${this.stateFile} is unreadable (${(e as Error).message}); undo its changes by hand, then remove it`);
    }
    await this.undoAll(left);
    return left;
  }

  /**
   * Undo what a previous run left, then make the changes `plan` gives (asked only now, so the old values it
   * reads are the host's own), in order, each recorded first; on a failure the ones made are undone and the
   * error names the command.
   */
  async apply(plan: (run: Run) => Promise<OsChange[]>): Promise<void> {
    await this.recover();
    const changes = await plan(this.run);
    const state: OsJournalState = { what: this.what, changes: [] };
    this.state = state;
    try {
      for (const c of changes) {
        // recorded first: a kill between the two leaves at most one undo that finds nothing
        state.changes.push(c);
        this.save(state);
        const r = await this.run(c.cmd, c.args);
        if (r.code !== 0) {
          state.changes.pop();
          this.save(state);
          throw errors.E_OS_STATE(`${this.what}: ${c.cmd} ${c.args.join(' ')}: ${r.stderr.trim() || `exit ${r.code}`}`);
        }
      }
    } catch (e) {
      await this.undo();
      throw e;
    }
  }

  /** Undo what `apply` made, in reverse order, and remove the state file. */
  async undo(): Promise<void> {
    const s = this.state;
    this.state = null;
    if (s) await this.undoAll(s);
  }

  private save(s: OsJournalState): void {
    writeFileSync(this.stateFile + '.tmp', JSON.stringify(s));
    renameSync(this.stateFile + '.tmp', this.stateFile);
  }

  private async undoAll(s: OsJournalState): Promise<void> {
    const failed: string[] = [];
    for (const c of [...s.changes].reverse()) {
      const r = await this.run(c.undo.cmd, c.undo.args);
      if (r.code !== 0 && !GONE.test(r.stderr)) failed.push(`${c.undo.cmd} ${c.undo.args.join(' ')}: ${r.stderr.trim()}`);
    }
    if (failed.length) throw errors.E_OS_STATE(`${this.what}: could not undo ${failed.length} change(s): ${failed.join('; ')}`);
    rmSync(this.stateFile, { force: true });
  }
}

/** A sysctl change that restores the value it found (read through `run`). */
export async function sysctlChange(run: Run, key: string, value: string): Promise<OsChange> {
  const old = await run('sysctl', ['-n', key]);
  if (old.code !== 0) throw errors.E_OS_STATE(`sysctl -n ${key}: ${old.stderr.trim()}`);
  return { cmd: 'sysctl', args: ['-qw', `${key}=${value}`], undo: { cmd: 'sysctl', args: ['-qw', `${key}=${old.stdout.trim()}`] } };
}
